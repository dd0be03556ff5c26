"""Behaviour of random_effects and its result: edge cases, definitions, result object."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ipdmeta import meta
from ipdmeta.errors import EstimationError
from ipdmeta.meta._core import qe_statistic
from tests.published_data import BCG_VI, BCG_YI

# Internal consistency checks (not against R): the engine solves its equations to about
# 1e-10 relative (DEFAULT_TOL); 1e-8 leaves room for the arithmetic around it.
RTOL_SELF = 1e-8

METHODS = ["FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM"]


def test_bcg_reml_matches_published_metafor_output() -> None:
    # metafor's documented example: rma(yi, vi, data = dat.bcg) prints
    # tau^2 = 0.3132, I^2 = 92.22%, estimate -0.7145 (se 0.1798).
    res = meta.random_effects(BCG_YI, BCG_VI)
    assert res.tau2 == pytest.approx(0.3132, abs=5e-5)
    assert pytest.approx(92.22, abs=5e-3) == res.I2
    assert res.estimate == pytest.approx(-0.7145, abs=5e-5)
    assert res.se == pytest.approx(0.1798, abs=5e-5)


@pytest.mark.parametrize("method", METHODS)
def test_common_effect_and_random_effects_definitions(method: str) -> None:
    res = meta.random_effects(BCG_YI, BCG_VI, method=method)
    w = 1.0 / (BCG_VI + res.tau2)
    assert res.estimate == pytest.approx(np.sum(w * BCG_YI) / np.sum(w), rel=RTOL_SELF)
    assert res.se == pytest.approx(math.sqrt(1.0 / np.sum(w)), rel=RTOL_SELF)
    z = stats.norm.ppf(0.975)
    assert res.ci_lower == pytest.approx(res.estimate - z * res.se, rel=RTOL_SELF)
    half = z * math.sqrt(res.se**2 + res.tau2)
    assert res.pi_upper == pytest.approx(res.estimate + half, rel=RTOL_SELF)
    assert res.Q_df == res.k - 1 == 12
    assert res.Q_pvalue == pytest.approx(stats.chi2.sf(res.Q, 12), rel=RTOL_SELF)


def test_fe_prediction_interval_equals_confidence_interval() -> None:
    res = meta.random_effects(BCG_YI, BCG_VI, method="EE")
    assert res.method is meta.Method.FE
    assert (res.pi_lower, res.pi_upper) == (res.ci_lower, res.ci_upper)
    assert res.tau2 == 0.0
    assert pytest.approx(100 * (res.Q - 12) / res.Q, rel=RTOL_SELF) == res.I2


@pytest.mark.parametrize("method", ["ML", "REML", "EB", "PM"])
def test_iterative_estimators_solve_their_equations(method: str) -> None:
    res = meta.random_effects(BCG_YI, BCG_VI, method=method)
    w = 1.0 / (BCG_VI + res.tau2)
    e = BCG_YI - res.estimate
    if method in ("EB", "PM"):
        lhs, rhs = np.sum(w * e**2), res.k - 1.0
    elif method == "ML":
        lhs, rhs = np.sum((w * e) ** 2), np.sum(w)
    else:
        lhs, rhs = np.sum((w * e) ** 2), np.sum(w) - np.sum(w**2) / np.sum(w)
    assert lhs == pytest.approx(rhs, rel=RTOL_SELF)


def test_knapp_hartung() -> None:
    res = meta.random_effects(BCG_YI, BCG_VI, test="knha")
    plain = meta.random_effects(BCG_YI, BCG_VI)
    w = 1.0 / (BCG_VI + res.tau2)
    s2w = np.sum(w * (BCG_YI - res.estimate) ** 2) / 12
    assert res.se == pytest.approx(plain.se * math.sqrt(s2w), rel=RTOL_SELF)
    assert res.df == 12
    assert res.pvalue == pytest.approx(2 * stats.t.sf(abs(res.statistic), 12), rel=RTOL_SELF)
    assert math.isnan(plain.df)


@pytest.mark.parametrize("method", METHODS)
def test_homogeneous_studies_put_tau2_at_zero(method: str) -> None:
    yi = [0.10, 0.18, 0.05, 0.14, 0.02, 0.21]
    vi = [0.020, 0.030, 0.025, 0.040, 0.015, 0.050]
    res = meta.random_effects(yi, vi, method=method)
    if method != "SJ":  # Sidik-Jonkman is positive by construction
        assert res.tau2 == 0.0
        assert res.I2 == 0.0
        # H2 is 1 at tau2 = 0, except for FE where metafor defines it as Q / (k - 1)
        assert (res.Q / 5 if method == "FE" else 1.0) == res.H2
    fe = meta.random_effects(yi, vi, method="FE")
    if res.tau2 == 0.0:
        assert res.estimate == pytest.approx(fe.estimate, rel=1e-12)


def test_identical_effects() -> None:
    res = meta.random_effects([0.5] * 5, [0.01, 0.04, 0.02, 0.09, 0.05], test="knha")
    assert res.estimate == pytest.approx(0.5)
    assert pytest.approx(0.0, abs=1e-20) == res.Q
    assert res.tau2 == 0.0
    # the Knapp-Hartung scale factor is 0, so the interval collapses (as metafor)
    assert res.se == 0.0
    assert res.ci_lower == res.ci_upper == pytest.approx(0.5)


def test_two_studies() -> None:
    res = meta.random_effects(BCG_YI[3:5], BCG_VI[3:5], test="knha")
    assert res.k == 2
    assert res.df == 1
    assert res.tau2 > 0


def test_level_as_fraction_or_percent() -> None:
    a = meta.random_effects(BCG_YI, BCG_VI, level=0.9)
    b = meta.random_effects(BCG_YI, BCG_VI, level=90)
    assert a.level == b.level == pytest.approx(0.9)
    assert a.ci_lower == b.ci_lower
    wide = meta.random_effects(BCG_YI, BCG_VI, level=0.99)
    assert wide.ci_lower < a.ci_lower


def test_fixed_tau2() -> None:
    res = meta.random_effects(BCG_YI, BCG_VI, tau2=0.1)
    assert res.tau2 == 0.1
    assert res.tau2_fixed
    l1o = meta.leave_one_out(res)
    assert np.all(l1o.table["tau2"] == 0.1)


def test_heterogeneity_ci_bounds_solve_the_q_profile() -> None:
    res = meta.random_effects(BCG_YI, BCG_VI)
    ci = res.heterogeneity_ci()
    X = np.ones((13, 1))
    assert qe_statistic(X, BCG_YI, BCG_VI, ci.tau2_lower) == pytest.approx(
        stats.chi2.isf(0.025, 12), rel=RTOL_SELF
    )
    assert qe_statistic(X, BCG_YI, BCG_VI, ci.tau2_upper) == pytest.approx(
        stats.chi2.ppf(0.025, 12), rel=RTOL_SELF
    )
    assert ci.tau_lower == pytest.approx(math.sqrt(ci.tau2_lower))
    assert ci.I2_lower < res.I2 < ci.I2_upper
    frame = ci.to_frame()
    assert list(frame.index) == ["tau2", "tau", "I2", "H2"]
    assert list(frame.columns) == ["estimate", "ci_lower", "ci_upper"]
    assert "Q-profile" in ci.summary()


def test_heterogeneity_ci_upper_bound_beyond_metafor_default_interval() -> None:
    # two very different studies: the upper bound lies far above metafor's default 100
    res = meta.random_effects([-10.0, 10.0], [0.1, 0.1])
    ci = res.heterogeneity_ci()
    X = np.ones((2, 1))
    assert ci.tau2_upper > 100
    assert qe_statistic(X, res.yi, res.vi, ci.tau2_upper) == pytest.approx(
        stats.chi2.ppf(0.025, 1), rel=RTOL_SELF
    )


def test_heterogeneity_ci_with_q_below_both_quantiles_is_zero() -> None:
    res = meta.random_effects([0.5] * 4, [0.1, 0.2, 0.3, 0.4])
    ci = res.heterogeneity_ci()
    assert ci.tau2_lower == ci.tau2_upper == 0.0


def test_heterogeneity_ci_for_fe_raises() -> None:
    res = meta.random_effects(BCG_YI, BCG_VI, method="FE")
    with pytest.raises(EstimationError, match="no between-study variance"):
        res.heterogeneity_ci()


def test_result_is_immutable_and_tidy() -> None:
    res = meta.random_effects(pd.Series(BCG_YI, index=[f"trial {i}" for i in range(13)]), BCG_VI)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.estimate = 0.0  # type: ignore[misc]
    frame = res.to_frame()
    assert frame.shape[0] == 1
    assert all(c.isidentifier() for c in frame.columns)
    for col in ("estimate", "se", "df", "pvalue", "ci_lower", "ci_upper", "pi_lower", "tau2"):
        assert col in frame.columns
    assert res.labels[0] == "trial 0"
    studies = res.studies()
    assert studies["weight"].sum() == pytest.approx(100.0)
    text = res.summary()
    assert "Random-effects model (k = 13" in text and "prediction interval" in text
    assert isinstance(res.tau, float)


def test_method_and_test_enums_accept_strings() -> None:
    a = meta.random_effects(BCG_YI, BCG_VI, method=meta.Method.PM, test=meta.Test.KNHA)
    b = meta.random_effects(BCG_YI, BCG_VI, method="pm", test="knha")
    assert a.estimate == b.estimate
    assert a.method == "PM" and a.test == "knha"


def test_vi_spanning_orders_of_magnitude() -> None:
    yi = [0.31, -0.12, 0.48, 0.05, 0.92, -0.40, 0.27, 1.35]
    vi = [1e-4, 4e-4, 2e-3, 1e-2, 5e-2, 0.2, 0.5, 1.0]
    for method in METHODS:
        res = meta.random_effects(yi, vi, method=method)
        assert math.isfinite(res.estimate) and res.tau2 >= 0


def test_scale_invariance() -> None:
    # multiplying the effects by c multiplies tau2 by c^2 and leaves I2 and z alone
    c = 1e-3
    for method in ["REML", "ML", "PM", "DL"]:
        a = meta.random_effects(BCG_YI, BCG_VI, method=method)
        b = meta.random_effects(BCG_YI * c, BCG_VI * c**2, method=method)
        assert b.tau2 == pytest.approx(a.tau2 * c**2, rel=1e-8)
        assert b.statistic == pytest.approx(a.statistic, rel=1e-8)
        assert pytest.approx(a.I2, rel=1e-8) == b.I2


def test_large_k_runs_without_k_by_k_matrices() -> None:
    rng = np.random.default_rng(7)
    k = 200_000
    vi = rng.uniform(0.01, 0.5, k)
    yi = rng.normal(0.2, np.sqrt(vi + 0.1))
    res = meta.random_effects(yi, vi)
    assert res.tau2 == pytest.approx(0.1, rel=0.05)


def test_import_does_not_load_matplotlib() -> None:
    code = "import sys, ipdmeta.meta; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_reml_converges_where_fisher_scoring_cycles() -> None:
    # Simulated data (not from a study) on which metafor 3.8's rma() stops with "Fisher
    # scoring algorithm did not converge"; with control = list(stepadj = 0.5,
    # threshold = 1e-13) metafor reaches tau2 = 0.0441263256556477, mu = 0.205586994804907.
    yi = [
        1.0575374239794786,
        -0.20236694097840685,
        0.6145556989482346,
        -0.1490485865706273,
        0.4196842898317615,
        0.8129255190407718,
        0.2766855046918464,
        -0.13270176064905076,
        0.7627257151110509,
        0.42360741193575663,
        -0.066847821185131,
        0.31405010936883765,
    ]
    vi = [
        0.448410772476125,
        0.21713128440326426,
        0.2988560104211836,
        0.022000431971747968,
        0.3399953447049401,
        0.460353423620573,
        0.4151444114827933,
        0.4439049306878739,
        0.33357413645505646,
        0.130320610949157,
        0.3865733294591646,
        0.11372062387768014,
    ]
    res = meta.random_effects(yi, vi, method="REML")
    assert res.tau2 == pytest.approx(0.0441263256556477, rel=1e-6)
    assert res.estimate == pytest.approx(0.205586994804907, rel=1e-6)
    batch = meta.random_effects_batch(np.array([yi]), np.array([vi]))
    assert batch.tau2[0] == pytest.approx(res.tau2, rel=1e-9)
