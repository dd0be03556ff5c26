"""Kenward-Roger by levels: when every random term has the same grouping factor, the
q x q matrices of pbkrtest's formulas are block-diagonal, and the pieces are computed
level by level. They must equal the dense computation (which the reference suite checks
against pbkrtest) to rounding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipdmeta import mixed
from ipdmeta.mixed import _inference


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    rng = np.random.default_rng(21)
    g = np.repeat(np.arange(25), 12)
    x = rng.normal(size=g.size)
    f = rng.choice(["a", "b", "c"], g.size)
    u = rng.normal(0, [1.0, 0.5], (25, 2))
    y = 2 + x + (f == "b") + u[g, 0] + u[g, 1] * x + rng.normal(size=g.size)
    w = rng.uniform(0.5, 2.0, g.size)
    return pd.DataFrame({"y": y, "x": x, "f": f, "g": [f"g{i:02d}" for i in g], "w": w})


@pytest.mark.parametrize(
    ("formula", "weights"),
    [
        ("y ~ x + f + (1 + x | g)", None),
        ("y ~ x + (1 | g) + (0 + x | g)", None),
        ("y ~ x + f + (1 + f | g)", None),
        ("y ~ x + (1 + x | g)", "w"),
    ],
)
def test_by_levels_equals_the_dense_pieces(data, formula, weights) -> None:
    fit = mixed.lmm(formula, data, weights=weights)
    model, theta, sigma = fit.model, fit.theta, fit.sigma
    assert _inference._shared_grouping(model)
    P1, Q1, K1 = _inference._kr_level_pieces(model, theta, sigma)
    P2, Q2, K2 = _inference._kr_general_pieces(model, theta, sigma)
    scale = max(np.max(np.abs(P)) for P in P2)
    for a, b in zip(P1, P2, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12 * scale)
    assert Q1.keys() == Q2.keys()
    for key in Q2:
        np.testing.assert_allclose(Q1[key], Q2[key], rtol=1e-9,
                                   atol=1e-12 * np.max(np.abs(Q2[key])))  # fmt: skip
    np.testing.assert_allclose(K1, K2, rtol=1e-9)


def test_crossed_terms_keep_the_dense_pieces(data) -> None:
    crossed = mixed.lmm("y ~ x + (1 | g) + (1 | f)", data)
    assert not _inference._shared_grouping(crossed.model)
    assert np.isfinite(crossed.fixed_effects(ddf="kenward-roger")["df"]).all()
