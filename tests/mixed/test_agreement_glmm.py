"""mixed.glmm agrees with lme4 1.1-31's glmer (bobyqa, rhoend 1e-12, tolPwrss 1e-12) and
emmeans 1.8.4 on published (lme4's cbpp) and simulated data, Laplace and quadrature.

Expected values: tests/reference/glmm/*.json, written by tests/reference/glmer_reference.R.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ipdmeta import mixed

REFERENCE = Path(__file__).parents[1] / "reference" / "glmm"

# How each case is called in ipdmeta, written down independently of the JSON; the R
# formula is there to check the case is the one meant.
CASES: dict[str, dict[str, Any]] = {
    "cbpp-laplace": dict(
        r_formula="cbind(incidence, size - incidence) ~ period + (1 | herd)",
        formula="incidence ~ period + (1 | herd)", reduced="incidence ~ 1 + (1 | herd)",
        trials="size", successes="incidence", nagq=1, factor="period",
    ),
    "cbpp-agq9": dict(
        r_formula="cbind(incidence, size - incidence) ~ period + (1 | herd)",
        formula="incidence ~ period + (1 | herd)", reduced="incidence ~ 1 + (1 | herd)",
        trials="size", successes="incidence", nagq=9, factor="period",
    ),
    "responders-laplace": dict(
        r_formula="responder ~ diagnosis + age + (1 | study_id)",
        formula="responder ~ diagnosis + age + (1 | study_id)",
        reduced="responder ~ age + (1 | study_id)", nagq=1, factor="diagnosis",
    ),
    "responders-agq7": dict(
        r_formula="responder ~ diagnosis + age + (1 | study_id)",
        formula="responder ~ diagnosis + age + (1 | study_id)",
        reduced="responder ~ age + (1 | study_id)", nagq=7, factor="diagnosis",
    ),
    "responders-transforms": dict(
        r_formula="responder ~ diagnosis + poly(age, 2) + (1 | study_id)",
        formula="responder ~ diagnosis + poly(age, 2) + (1 | study_id)",
        reduced="responder ~ poly(age, 2) + (1 | study_id)", nagq=1, factor="diagnosis",
    ),
    "counts-offset": dict(
        r_formula="events ~ treated + offset(log(years)) + (1 | site)",
        formula="events ~ treated + (1 | site)", reduced="events ~ 1 + (1 | site)",
        family="poisson", log_offset="years", nagq=1, factor=None,
    ),
    # The same reference, the offset written in the formula as R's is.
    "counts-offset-in-formula": dict(
        file="counts-offset",
        r_formula="events ~ treated + offset(log(years)) + (1 | site)",
        formula="events ~ treated + offset(log(years)) + (1 | site)",
        reduced="events ~ 1 + offset(log(years)) + (1 | site)",
        family="poisson", nagq=1, factor=None,
    ),
}  # fmt: skip

# The tolerance for estimates and SEs. Both fits are converged far past it (the
# optima differ by under 1e-5 relative); what remains is the finite-difference Hessian
# each side takes the SEs from (lme4's step is 1e-4).
RTOL = 1e-4
# A p-value moves by about z * dz for a change dz in z: with |z| up to 4 and z within
# RTOL, small p-values agree to about 4 * 4 * RTOL relative.
P_RTOL = 2e-3


def _load(case: str) -> dict[str, Any]:
    file = CASES[case].get("file", case) if case in CASES else case
    return json.loads((REFERENCE / f"{file}.json").read_text())


@pytest.fixture(scope="module", params=list(CASES))
def fitted(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any], Any, Any]:
    case = request.param
    ref = _load(case)
    spec = CASES[case]
    assert ref["formula"] == spec["r_formula"] and ref["nagq"] == spec["nagq"]
    data = pd.DataFrame(ref["data"])
    kwargs: dict[str, Any] = {"family": spec.get("family", "binomial"), "nagq": spec["nagq"]}
    if "trials" in spec:
        kwargs["trials"] = spec["trials"]
    if "log_offset" in spec:
        kwargs["offset"] = np.log(data[spec["log_offset"]])
    full = mixed.glmm(spec["formula"], data, **kwargs)
    reduced = mixed.glmm(spec["reduced"], data, **kwargs)
    return case, ref, full, reduced


def _close(actual: Any, expected: Any, rtol: float = RTOL) -> None:
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float),
                               rtol=rtol, atol=0)  # fmt: skip


def _saturated_deviance(case: str, ref: dict[str, Any]) -> float:
    """-2 log L of the saturated model: lme4 1.1-31 leaves it out of logLik when
    nAGQ > 1 (its issue #161, fixed after 1.1-31), so its AGQ deviance is lower by this."""
    if ref["nagq"] == 1:
        return 0.0
    spec = CASES[case]
    if "trials" not in spec:  # 0/1 outcomes: the saturated likelihood is 1
        return 0.0
    data = pd.DataFrame(ref["data"])
    y, n = data[spec["successes"]], data[spec["trials"]]
    return float(-2.0 * stats.binom.logpmf(y, n, y / n).sum())


def test_fit(fitted: tuple[str, dict[str, Any], Any, Any]) -> None:
    case, ref, m, _ = fitted
    fit = ref["fit"]
    _close(m.theta, fit["theta"][0])
    _close(m.variance_components["variance"], fit["variance"])
    _close(m.deviance, fit["deviance"] + _saturated_deviance(case, ref), rtol=1e-8)
    _close(m.aic - m.deviance, fit["aic"] - fit["deviance"], rtol=1e-12)
    assert m.npar == fit["npar"] and m.nobs == fit["nobs"] and m.df_resid == fit["df_resid"]
    assert m.is_singular is fit["is_singular"]


def test_fixed_effects(fitted: tuple[str, dict[str, Any], Any, Any]) -> None:
    _, ref, m, _ = fitted
    table = m.fixed_effects()
    expected = ref["fixef"]
    assert len(table) == len(expected["term"])
    for ours, theirs in (("estimate", "estimate"), ("se", "se"), ("z", "z"),
                         ("ci_lower", "ci_lower"), ("ci_upper", "ci_upper")):  # fmt: skip
        _close(table[ours], expected[theirs])
    _close(table["pvalue"], expected["pvalue"], rtol=P_RTOL)
    expected_vcov = np.asarray(ref["vcov"], dtype=float).reshape(m.vcov.shape, order="F")
    # Each entry on the scale of its two SEs (an off-diagonal entry near 0 has no
    # relative precision of its own): a product of two SEs, so twice their tolerance.
    scale = np.sqrt(np.outer(np.diag(expected_vcov), np.diag(expected_vcov)))
    assert np.max(np.abs(m.vcov.to_numpy() - expected_vcov) / scale) < 2 * RTOL


def test_random_effects_and_predictions(fitted: tuple[str, dict[str, Any], Any, Any]) -> None:
    _, ref, m, _ = fitted
    ranef = m.ranef()
    assert list(ranef["level"]) == ref["ranef"]["level"]
    # Modes near 0 carry the relative error of their neighbours: compare on their scale.
    scale = float(np.max(np.abs(ref["ranef"]["estimate"])))
    np.testing.assert_allclose(ranef["estimate"], ref["ranef"]["estimate"], atol=RTOL * scale)
    _close(ranef["se"], ref["ranef"]["se"])
    _close(m.fitted(), ref["fitted"])
    link = np.asarray(ref["predict_link_fixed"])
    offset = m.problem.offset  # R's predict(re.form = NA) includes the offset
    np.testing.assert_allclose(
        m.predict(type="link", include_random=False), link, atol=RTOL * np.max(np.abs(link))
    )
    assert np.all(np.isfinite(offset))


def test_residuals(fitted: tuple[str, dict[str, Any], Any, Any]) -> None:
    _, ref, m, _ = fitted
    for kind in ("deviance", "pearson", "response"):
        expected = np.asarray(ref[f"residuals_{kind}"], dtype=float)
        # Residuals near 0 carry the fitted values' relative error: compare on their scale.
        np.testing.assert_allclose(
            m.residuals(kind), expected, atol=RTOL * np.max(np.abs(expected)), rtol=0
        )


def test_likelihood_ratio_test_of_each_coefficient(
    fitted: tuple[str, dict[str, Any], Any, Any],
) -> None:
    """profile_pvalue(term) against glmer refitted without that column of X (anova)."""
    _, ref, m, _ = fitted
    expected = ref["drop_one_lrt"]
    terms = list(m.design.x_names[1:])
    assert len(expected["term"]) == len(terms)
    for term, chisq in zip(terms, expected["chisq"], strict=True):
        # p = P(chi2_1 > chisq): compared through the statistic, which both fits give to
        # their deviances' precision (1e-8 relative on a deviance of 100-1000).
        p = m.profile_pvalue(term)
        statistic = float(stats.chi2.isf(p, 1))
        np.testing.assert_allclose(statistic, chisq, rtol=1e-5, atol=1e-6)


def test_likelihood_ratio_test(fitted: tuple[str, dict[str, Any], Any, Any]) -> None:
    _, ref, m, reduced = fitted
    table = mixed.lrt(reduced, m)
    _close(table["chisq"].iloc[1], ref["lrt"]["chisq"], rtol=1e-6)
    assert table["df"].iloc[1] == ref["lrt"]["df"]
    _close(table["pvalue"].iloc[1], ref["lrt"]["pvalue"], rtol=1e-5)


def test_marginal_means_and_odds_ratios(fitted: tuple[str, dict[str, Any], Any, Any]) -> None:
    case, ref, m, _ = fitted
    factor = CASES[case]["factor"]
    if factor is None:
        assert ref["emmeans"] is None
        return
    emm = m.emmeans(factor)
    expected = ref["emmeans"]
    assert list(emm["level"]) == expected["level"]
    for ours, theirs in (("estimate", "prob"), ("se", "se"), ("ci_lower", "ci_lower"),
                         ("ci_upper", "ci_upper"), ("emmean_link", "emmean_link"),
                         ("se_link", "se_link")):  # fmt: skip
        _close(emm[ours], expected[theirs])
    for adjust, pairs in ref["pairwise"].items():
        table = m.pairwise(factor, adjust=adjust)
        # emmeans prefixes numeric-looking levels with the factor's name ("period1")
        names = [c.replace(factor, "") for c in pairs["contrast"]]
        assert list(table["contrast"]) == names
        _close(table["ratio"], pairs["odds_ratio"])
        _close(table["se"], pairs["se"])
        _close(table["z"], pairs["z"])
        _close(table["pvalue"], pairs["pvalue"], rtol=P_RTOL)


def test_every_reference_case_is_tested() -> None:
    written = sorted(p.stem for p in REFERENCE.glob("*.json"))
    # responders-pooled is the review's pooled proportion: tests/analysis/test_responders.py
    files = {spec.get("file", case) for case, spec in CASES.items()}
    assert written == sorted([*files, "responders-pooled"])
    for case in CASES:
        ref = _load(case)
        assert ref["source"]["lme4"] == "1.1.31"
        assert ref["source"]["control"]["optCtrl"]["rhoend"] == 1e-12
        assert ref["optimizer_messages"] == []
        for key in ("fit", "fixef", "vcov", "ranef", "fitted", "predict_link_fixed", "lrt",
                    "residuals_deviance", "residuals_pearson", "residuals_response",
                    "drop_one_lrt"):  # fmt: skip
            assert ref[key] is not None, (case, key)
        if CASES[case]["factor"] is not None:
            assert sorted(ref["pairwise"]) == ["holm", "none", "tukey"]


# Profile intervals: ipdmeta finds the root of the profile's signed square root; R
# interpolates a spline through a fine grid of profile points (tests/reference/
# glmer_reference.R), whose bounds lie within about 2e-5 of the root.
PROFILE_RTOL = 1e-4


# lme4's fine-grid profile of the six-parameter responder models takes R over ten
# minutes, so they have no profile reference.
PROFILED = {"cbpp-laplace", "cbpp-agq9", "counts-offset", "counts-offset-in-formula"}


def test_profile_intervals(fitted: tuple[str, dict[str, Any], Any, Any]) -> None:
    case, ref, m, _ = fitted
    if case not in PROFILED:
        assert ref["profile"] is None
        return
    expected = ref["profile"]
    if "error" in expected:
        pytest.fail(f"R could not profile {case}: {expected['error']}")
    table = m.confint("profile")
    assert len(table) == len(expected["term"])
    _close(table["ci_lower"], expected["ci_lower"], rtol=PROFILE_RTOL)
    _close(table["ci_upper"], expected["ci_upper"], rtol=PROFILE_RTOL)
    wald = m.confint("wald")
    assert np.isnan(wald["ci_lower"].iloc[0])  # no Wald interval for the SD, as lme4
    np.testing.assert_allclose(wald["ci_lower"].iloc[1:], ref["fixef"]["ci_lower"], rtol=RTOL)
