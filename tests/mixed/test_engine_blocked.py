"""The general path's blocked factorisation (the largest term's diagonal blocks, then a
dense Schur complement) against its dense Cholesky: the same numbers for every random-
effects structure. Small systems take the dense path in use, so the R agreement tests
reach the blocked one only through the larger cases; here both are forced."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipdmeta import mixed
from ipdmeta.mixed import _blocked, _fit
from ipdmeta.mixed._design import build_design
from ipdmeta.mixed._formula import parse_formula

# Two factorisations of one positive definite system: they differ by rounding only
# (seen: below 2e-14 relative).
RTOL_ALGEBRA = 1e-10
# Two fits whose deviances differ by rounding reach one optimum; the optimiser's stopping
# point moves the estimates by far less than the R agreement tolerance (1e-5).
RTOL_FIT = 1e-6

FORMULAS = [
    "y ~ x + (1 | g1) + (1 | g2)",  # crossed
    "y ~ x + (1 | g2) + (1 | g1)",  # the big term second
    "y ~ x + (1 | g1/g2)",  # nested: one term per level of nesting
    "y ~ x + (1 + x | g1)",  # one vector-valued term: no Schur complement
    "y ~ x + (1 + x | g1) + (1 | g2)",
    "y ~ x + (0 + f | g1) + (x || g2)",  # a factor slope and an uncorrelated pair
]


def _simulate(n: int, levels1: int, levels2: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "g1": rng.integers(0, levels1, n).astype(str),
            "g2": rng.integers(0, levels2, n).astype(str),
            "x": rng.normal(size=n),
            "f": rng.choice(list("abc"), n),
        }
    )
    g1 = frame["g1"].astype(int).to_numpy()
    g2 = frame["g2"].astype(int).to_numpy()
    frame["y"] = (
        frame["x"]
        + rng.normal(0, 0.8, levels1)[g1]
        + rng.normal(0, 0.5, levels2)[g2]
        + rng.normal(0, 0.3, levels1)[g1] * frame["x"]
        + rng.normal(size=n)
    )
    return frame


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return _simulate(2400, 120, 40)


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    """Small enough for the dense path to fit in well under a second."""
    return _simulate(600, 40, 8)


def _models(formula: str, data: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> tuple:
    design = build_design(parse_formula(formula), data)
    monkeypatch.setattr(_fit, "BLOCKED_MIN_Q", 0)
    blocked = _fit.GeneralModel(design.X, design.y, design.random)
    monkeypatch.setattr(_fit, "BLOCKED_MIN_Q", 10**9)
    dense = _fit.GeneralModel(design.X, design.y, design.random)
    assert blocked._blocked is not None and dense._blocked is None
    return blocked, dense


@pytest.mark.parametrize("formula", FORMULAS)
def test_blocked_solve_equals_dense(
    formula: str, data: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked, dense = _models(formula, data, monkeypatch)
    rng = np.random.default_rng(1)
    for _ in range(3):
        # Diagonal elements positive, off-diagonal ones of either sign; one near 0.
        theta = rng.uniform(0.05, 1.5, blocked.n_theta) * np.where(
            blocked.lower == 0.0, 1.0, rng.choice([-0.4, 0.4], blocked.n_theta)
        )
        a, b = blocked.solve(theta), dense.solve(theta)
        for name in ("ldL2", "ldRX2", "pwrss"):
            assert getattr(a, name) == pytest.approx(getattr(b, name), rel=RTOL_ALGEBRA), name
        np.testing.assert_allclose(a.beta, b.beta, rtol=RTOL_ALGEBRA)
        np.testing.assert_allclose(a.A, b.A, rtol=RTOL_ALGEBRA)
        np.testing.assert_allclose(a.b, b.b, rtol=RTOL_ALGEBRA, atol=1e-12)


@pytest.mark.parametrize("formula", FORMULAS)
def test_blocked_conditional_variances_equal_dense(
    formula: str, data: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The random effects' conditional variances (ranef SEs) without M^-1."""
    blocked, dense = _models(formula, data, monkeypatch)
    theta = np.random.default_rng(3).uniform(0.1, 1.2, blocked.n_theta)
    want = dense.conditional_variances(theta)
    np.testing.assert_allclose(blocked.conditional_variances(theta), want, rtol=RTOL_ALGEBRA)
    # In chunks of a few levels, as a large model takes them.
    monkeypatch.setattr(_blocked, "_CHUNK_CELLS", 50)
    np.testing.assert_allclose(blocked.conditional_variances(theta), want, rtol=RTOL_ALGEBRA)


@pytest.mark.parametrize("formula", [FORMULAS[0], FORMULAS[2], FORMULAS[4]])
def test_blocked_fit_equals_dense_fit(
    formula: str, small: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_fit, "BLOCKED_MIN_Q", 0)
    blocked = mixed.lmm(formula, small)
    monkeypatch.setattr(_fit, "BLOCKED_MIN_Q", 10**9)
    dense = mixed.lmm(formula, small)
    assert blocked.loglik == pytest.approx(dense.loglik, rel=1e-12)
    a, b = blocked.fixed_effects(), dense.fixed_effects()
    for column in ("estimate", "se", "df"):
        np.testing.assert_allclose(a[column], b[column], rtol=RTOL_FIT)
    np.testing.assert_allclose(
        blocked.variance_components["variance"],
        dense.variance_components["variance"],
        rtol=RTOL_FIT,
    )
