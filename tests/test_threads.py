"""BLAS threads matched to the problem: a small mixed-model fit and its inference run with
one BLAS thread (restored after), also while another process keeps the cores busy; a
large problem keeps the library's default. No timing is asserted: the thread counts are."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_info

from ipdmeta import mixed
from ipdmeta._threads import SMALL_ROWS, threads_for

BUSY = "import numpy as n\na = n.random.rand(400, 400)\nwhile True:\n    a @ a\n"


def _blas_threads() -> set[int]:
    return {int(p["num_threads"]) for p in threadpool_info() if p["user_api"] == "blas"}


def _data(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    g = rng.integers(0, 15, n)
    frame = pd.DataFrame({"g": g.astype(str), "x": rng.normal(size=n),
                          "f": rng.choice(["a", "b", "c"], n)})  # fmt: skip
    frame["y"] = frame.x + rng.normal(size=n) + rng.normal(size=15)[g]
    return frame


@pytest.fixture
def seen(monkeypatch):
    """Records the BLAS thread counts inside the fit and inside the inference."""
    from ipdmeta.mixed import _model

    found: dict[str, set[int]] = {}
    model_for, vcov = _model.model_for, _model.LmmResult._vcov

    def recording_model_for(*args, **kwargs):
        found["fit"] = _blas_threads()
        return model_for(*args, **kwargs)

    def recording_vcov(self):
        found.setdefault("inference", _blas_threads())
        return vcov(self)

    monkeypatch.setattr(_model, "model_for", recording_model_for)
    monkeypatch.setattr(_model.LmmResult, "_vcov", recording_vcov)
    return found


def test_a_small_fit_and_its_inference_use_one_blas_thread(seen):
    if not _blas_threads():
        pytest.skip("no BLAS library that threadpoolctl can see")
    before = _blas_threads()
    fit = mixed.lmm("y ~ f + x + (1 | g)", _data())
    fit.fixed_effects(ddf="kenward-roger")
    assert seen["fit"] == {1} and seen["inference"] == {1}
    assert _blas_threads() == before  # restored after


def test_beside_a_busy_process_the_numbers_are_the_same(seen):
    if not _blas_threads():
        pytest.skip("no BLAS library that threadpoolctl can see")
    quiet = mixed.lmm("y ~ f + x + (1 | g)", _data()).fixed_effects()
    busy = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        loud = mixed.lmm("y ~ f + x + (1 | g)", _data()).anova()
        table = mixed.lmm("y ~ f + x + (1 | g)", _data()).fixed_effects()
    finally:
        busy.kill()
        busy.wait()
    assert seen["fit"] == {1}
    assert len(loud) == 2
    pd.testing.assert_frame_equal(quiet, table)


def test_a_large_problem_keeps_the_librarys_threads():
    if not _blas_threads():
        pytest.skip("no BLAS library that threadpoolctl can see")
    before = _blas_threads()
    with threads_for(SMALL_ROWS):
        assert _blas_threads() == before
    with threads_for(SMALL_ROWS - 1):
        assert _blas_threads() == {1}
