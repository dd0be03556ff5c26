"""The studentized range's upper tail (Tukey-adjusted p-values) against R's ptukey, which
emmeans calls, and against scipy's independent integration of the same distribution.

R's values are written by tests/reference/ptukey_reference.R into
tests/reference/tukey/ptukey.json."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from ipdmeta.mixed._emmeans import adjust_pvalues
from ipdmeta.mixed._tukey import studentized_range_sf

REFERENCE = Path(__file__).parents[1] / "reference" / "tukey" / "ptukey.json"

# R's ptukey (Copenhaver and Holland's 16-point Gauss-Legendre) differs from both scipy's
# adaptive quadrature and ours, which agree to 1e-11, by up to 1.1e-4 at 2.5 df with a
# large q; from 5 df on, by at most 6e-6. The p-value tolerance of the emmeans agreement
# tests (1e-5) applies there; below 5 df, R's own error is allowed.
ATOL_R = 1e-5
ATOL_R_SMALL_DF = 2e-4
# Two integrations of one smooth integral: ours is geometrically convergent and agrees
# with scipy's to 1e-11 on this grid; 1e-9 leaves room for scipy's stopping rule.
ATOL_SCIPY = 1e-9


def _reference() -> dict:
    return json.loads(REFERENCE.read_text())


def _number(value: object) -> float:
    return math.nan if value is None else float(value)  # type: ignore[arg-type]


def test_reference_grid_is_complete() -> None:
    ref = _reference()
    grid = ref["grid"]
    expected = {
        (float(q), float(_number(df)), int(k))
        for k, df, q in itertools.product(grid["k"], grid["df"], grid["q"])
    }
    values = ref["values"]
    got = {
        (float(q), _number(df), int(k))
        for q, df, k in zip(values["q"], values["df"], values["k"], strict=True)
    }
    assert got == expected
    assert len(values["sf"]) == len(expected)
    assert {2, 3, 4, 6, 10, 20} <= set(grid["k"])
    assert math.inf in {_number(d) for d in grid["df"]}  # the asymptotic case
    assert max(_number(d) for d in grid["df"] if _number(d) < math.inf) > 25000


def test_agrees_with_r_ptukey() -> None:
    values = _reference()["values"]
    checked = 0
    for q, df, k, sf in zip(values["q"], values["df"], values["k"], values["sf"], strict=True):
        df, sf = _number(df), _number(sf)
        if math.isnan(sf):  # R gives NaN below 2 df
            assert df < 2
            continue
        got = studentized_range_sf(q, int(k), df)
        atol = ATOL_R_SMALL_DF if df < 5 else ATOL_R
        assert abs(got - sf) <= atol, (q, k, df, got, sf)
        checked += 1
    assert checked >= 500


@pytest.mark.parametrize("k", [2, 3, 5, 8, 20])
def test_agrees_with_scipy(k: int) -> None:
    for df in (0.5, 1.0, 2.5, 7.3, 40.0, 1000.0, 20000.0):
        for q in (0.001, 0.2, 1.0, 2.5, 4.0, 6.0, 9.0, 20.0):
            want = stats.studentized_range.sf(q, k, df)
            assert studentized_range_sf(q, k, df) == pytest.approx(want, abs=ATOL_SCIPY)
    for q in (0.5, 3.0, 6.0):  # df = inf: the range of standard normal values
        want = stats.studentized_range.sf(q, k, np.inf)
        assert studentized_range_sf(q, k, math.inf) == pytest.approx(want, abs=ATOL_SCIPY)


def test_edges() -> None:
    assert studentized_range_sf(0.0, 3, 10.0) == 1.0
    assert studentized_range_sf(-1.0, 3, 10.0) == 1.0
    assert math.isnan(studentized_range_sf(math.nan, 3, 10.0))
    assert math.isnan(studentized_range_sf(2.0, 1, 10.0))
    assert math.isnan(studentized_range_sf(2.0, 3, 0.0))
    assert studentized_range_sf(200.0, 3, 10.0) < 1e-12
    # Above 25,000 df, R's formula for infinite df, as emmeans' p-values are.
    assert studentized_range_sf(3.0, 4, 30000.0) == studentized_range_sf(3.0, 4, math.inf)
    # Decreasing in q, for every df.
    for df in (2.0, 10.0, math.inf):
        tail = [studentized_range_sf(q, 5, df) for q in np.linspace(0.1, 8.0, 40)]
        assert all(a >= b for a, b in itertools.pairwise(tail))


def test_tukey_adjustment_uses_it() -> None:
    t = np.array([0.4, 2.1, 3.3])
    df = np.array([12.0, 30.5, math.inf])
    got = adjust_pvalues(np.zeros(3), "tukey", t=t, df=df, n_means=3)
    want = [stats.studentized_range.sf(math.sqrt(2) * x, 3, d) for x, d in zip(t, df, strict=True)]
    np.testing.assert_allclose(got, want, atol=ATOL_SCIPY)
