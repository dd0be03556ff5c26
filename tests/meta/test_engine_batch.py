"""random_effects_batch gives, row by row, what random_effects gives on that row."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipdmeta import meta

METHODS = ["FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM"]
ATTRS = [
    "estimate",
    "se",
    "statistic",
    "pvalue",
    "ci_lower",
    "ci_upper",
    "pi_lower",
    "pi_upper",
    "tau2",
    "I2",
    "H2",
    "Q",
    "Q_pvalue",
]
# The batch and the single fit run the same equations to the same tolerance (1e-10
# relative on tau2); they differ only in the order of floating-point sums.
RTOL_SAME = 1e-8
# Absolute slack for quantities that are 0 in one and a rounding residue in the other.
ATOL_SAME = 1e-12


def _data(seed: int, m: int = 60, k: int = 9) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    V = rng.uniform(0.005, 0.6, (m, k))
    tau2 = rng.choice([0.0, 0.02, 0.2, 1.0], (m, 1))
    Y = rng.normal(0.3, np.sqrt(V + tau2))
    Y[::5, :3] = np.nan  # absent studies
    Y[1, 1:] = np.nan  # one study only
    Y[2, 2:] = np.nan  # two studies
    return Y, V


def _assert_row_equal(batch: meta.BatchResult, i: int, res: meta.MetaResult) -> None:
    for attr in ATTRS:
        got = float(getattr(batch, attr)[i])
        want = float(getattr(res, attr))
        assert got == pytest.approx(want, rel=RTOL_SAME, abs=ATOL_SAME), (i, attr)
    assert batch.k[i] == res.k


@pytest.mark.parametrize("test", ["z", "knha"])
@pytest.mark.parametrize("method", METHODS)
def test_batch_equals_loop(method: str, test: str) -> None:
    Y, V = _data(11)
    batch = meta.random_effects_batch(Y, V, method=method, test=test)
    assert len(batch) == Y.shape[0]
    for i in range(Y.shape[0]):
        present = ~np.isnan(Y[i])
        if present.sum() < (1 if method == "FE" and test == "z" else 2):
            assert math.isnan(batch.estimate[i])
            continue
        res = meta.random_effects(Y[i, present], V[i, present], method=method, test=test)
        _assert_row_equal(batch, i, res)
    assert batch.converged.all()


def test_batch_rows_with_too_few_studies_are_nan() -> None:
    Y = np.array([[0.1, np.nan, np.nan], [np.nan] * 3, [0.1, 0.2, 0.4]])
    V = np.full((3, 3), 0.1)
    out = meta.random_effects_batch(Y, V)
    assert np.isnan(out.estimate[:2]).all()
    assert np.isfinite(out.estimate[2])
    assert list(out.k) == [1, 0, 3]
    fe = meta.random_effects_batch(Y, V, method="FE")
    assert fe.estimate[0] == pytest.approx(0.1)


def test_batch_accepts_one_row_and_reports_as_frame() -> None:
    out = meta.random_effects_batch([0.1, 0.3, 0.2], [0.01, 0.02, 0.03], method="DL")
    frame = out.to_frame()
    assert frame.shape[0] == 1
    assert {"estimate", "tau2", "converged"} <= set(frame.columns)
    assert "1 meta-analyses" in out.summary()


def test_batch_non_convergence_is_flagged_not_raised() -> None:
    Y, V = _data(3, m=10)
    out = meta.random_effects_batch(Y, V, method="REML", max_iter=1, tol=1e-300)
    assert not out.converged.all()
    assert np.isnan(out.estimate[~out.converged]).all()


def test_batch_level_and_knha_df() -> None:
    Y, V = _data(5, m=8)
    out = meta.random_effects_batch(Y, V, test="knha", level=0.9)
    assert np.all((out.df == out.k - 1) | (out.k < 2))
    assert out.level == pytest.approx(0.9)


@settings(max_examples=25, deadline=None)
@given(
    data=st.lists(
        st.tuples(
            st.floats(-3, 3, allow_nan=False),
            st.floats(1e-3, 2.0, allow_nan=False),
        ),
        min_size=2,
        max_size=12,
    ),
    method=st.sampled_from(METHODS),
)
def test_batch_equals_single_fit_property(data: list[tuple[float, float]], method: str) -> None:
    yi = np.array([d[0] for d in data])
    vi = np.array([d[1] for d in data])
    res = meta.random_effects(yi, vi, method=method)
    out = meta.random_effects_batch(yi[None, :], vi[None, :], method=method)
    for attr in ("estimate", "se", "tau2", "I2", "Q"):
        assert float(getattr(out, attr)[0]) == pytest.approx(
            float(getattr(res, attr)), rel=1e-7, abs=1e-10
        ), attr


# Two likelihoods with two interior maxima, found by random search: Newton from the DL
# value stops at the lower one. random_effects searches every maximum, and so must the batch.
TWO_MAXIMA = [
    (
        "ML",
        [0.0, 1.0573190884211723, 1.358601159755482, 1.0, -1.0, 1.0, 2.8855220570036755, 3.0,
         1.0, -2.633605963306146, 3.0],
        [1.3674840858427555, 0.001, 0.001, 1.789939571183287, 1.3859645909144622, 1.0,
         1.5185872579369213, 0.5, 0.6699334605737296, 1.435346856533976, 1.34768347618642],
    ),
    (
        "REML",
        [-1.4859635287432116, 3.0, 0.0, 2.8635128018712583, 2.0, 3.0],
        [1.5849595646477248, 0.01, 1.4050661673330185, 0.001, 1.2925082646241535, 0.001],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("method", "yi", "vi"), TWO_MAXIMA)
def test_batch_finds_the_higher_of_two_interior_maxima(method: str, yi: list, vi: list) -> None:
    one = meta.random_effects(np.array(yi), np.array(vi), method=method)
    batch = meta.random_effects_batch(np.array([yi]), np.array([vi]), method=method)
    assert batch.tau2[0] == pytest.approx(one.tau2, rel=1e-8)
    assert one.tau2 > 0.5  # the higher maximum, far from the lower one near 0
