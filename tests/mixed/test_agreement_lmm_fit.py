"""Variance components, fit statistics, random effects, predictions, confidence intervals
and likelihood-ratio tests of ``ipdmeta.mixed`` against lme4 (``VarCorr``, ``logLik``,
``AIC``, ``BIC``, ``REMLcrit``, ``ngrps``, ``isSingular``, ``ranef``, ``predict``,
``confint``, ``anova(m0, m1)``)."""

from __future__ import annotations

import math

import ipdmeta_mixed_reference as ref
import numpy as np
import pandas as pd
import pytest


def _sigma(case: str) -> float:
    return float(ref.load_case(case)["fit"]["sigma"])


@pytest.mark.parametrize("case", ref.named(ref.CASES, "variance-components"))
def test_variance_components(case: str) -> None:
    expected = ref.table(ref.load_case(case)["variance_components"]["variance"])
    expected["key"] = [
        "Residual" if g == "Residual" else f"{ref.map_group(g)}|{ref.map_name(n)}"
        for g, n in zip(expected["group"], expected["name"], strict=True)
    ]
    vc = ref.fitted(case).variance_components
    assert isinstance(vc, pd.DataFrame), "variance_components is not a DataFrame"
    vc = vc.assign(
        key=[
            "Residual" if g == "Residual" else f"{g}|{n}"
            for g, n in zip(vc["group"], vc["name"], strict=True)
        ]
    )
    got = ref.align(vc, expected, "key", case)
    sigma = _sigma(case)
    # A component on the boundary is compared in absolute terms (see SINGULAR_THETA_TOL).
    sd_atol = ref.SINGULAR_THETA_TOL * sigma
    ref.assert_close(got["sd"], expected["sd"], rtol=ref.RTOL_EST, atol=sd_atol, what=f"{case} sd")
    ref.assert_close(
        got["variance"],
        expected["variance"],
        rtol=ref.RTOL_EST,
        atol=sd_atol**2,
        what=f"{case} variance",
    )


@pytest.mark.parametrize(("case", "stat"), ref.param_list(ref.criterion_grid()))
def test_criterion(case: str, stat: str) -> None:
    expected = ref.load_case(case)["fit"][stat]
    got = getattr(ref.fitted(case), stat)
    ref.assert_close(got, expected, rtol=ref.RTOL_CRITERION, what=f"{case} {stat}")


@pytest.mark.parametrize("case", ref.named(ref.CASES, "counts"))
def test_counts_and_singularity(case: str) -> None:
    fit = ref.load_case(case)["fit"]
    m = ref.fitted(case)
    assert int(m.nobs) == int(fit["nobs"]), f"{case}: nobs {m.nobs} != {fit['nobs']}"
    expected = {ref.map_group(g): int(n) for g, n in fit["ngroups"].items()}
    got = ref.engine_ngroups(m)
    if list(got) == ["<single>"]:
        assert len(expected) == 1, f"{case}: ngroups is an int but R has {expected}"
        got = {next(iter(expected)): got["<single>"]}
    assert got == expected, f"{case}: ngroups {got} != {expected}"
    assert bool(m.is_singular) is bool(fit["is_singular"]), f"{case}: is_singular"


@pytest.mark.parametrize("case", ref.named(ref.icc_grid(), "icc"))
def test_icc(case: str) -> None:
    expected = ref.load_case(case)["fit"]["icc"]
    ref.assert_close(
        ref.fitted(case).icc,
        expected,
        rtol=ref.RTOL_EST,
        atol=ref.SINGULAR_THETA_TOL**2,
        what=f"{case} icc",
    )


@pytest.mark.parametrize("case", ref.named(ref.CASES, "ranef"))
def test_ranef(case: str) -> None:
    expected = ref.table(ref.load_case(case)["ranef"])
    expected["key"] = [
        f"{ref.map_group(g)}|{lv}|{ref.map_name(n)}"
        for g, lv, n in zip(expected["group"], expected["level"], expected["name"], strict=True)
    ]
    re = ref.fitted(case).ranef()
    assert isinstance(re, pd.DataFrame), "ranef() is not a DataFrame"
    re = re.assign(
        key=[f"{g}|{lv}|{n}" for g, lv, n in zip(re["group"], re["level"], re["name"], strict=True)]
    )
    got = ref.align(re, expected, "key", case)
    # Conditional modes near zero are compared on the residual SD's scale.
    atol = ref.RTOL_EST * _sigma(case)
    for col in ("estimate", "se"):
        ref.assert_close(
            got[col], expected[col], rtol=ref.RTOL_EST, atol=atol, what=f"{case} ranef {col}"
        )


@pytest.mark.parametrize(
    ("case", "section", "random"),
    ref.param_list(ref.predict_grid()),
)
def test_predict(case: str, section: str, random: str) -> None:
    spec = ref.load_case(case)["predict"]
    newdata = ref.table(spec["newdata"])
    for col in ref.load_case(case)["factor_levels"]:
        if col in newdata:
            newdata[col] = newdata[col].astype(object)
    include = random == "with-random"
    key = "with_random" if include else "fixed_only"
    got = ref.fitted(case).predict(newdata, include_random=include)
    ref.assert_close(
        np.asarray(got, dtype=float), spec[key], rtol=ref.RTOL_EST, what=f"{case} predict {key}"
    )


def _confint_params(method: str) -> object:
    return ref.param_list([row for row in ref.confint_grid() if row[2] == method])


@pytest.mark.parametrize(("case", "section", "method"), _confint_params("wald"))
def test_confint_wald(case: str, section: str, method: str) -> None:
    _check_confint(case, method)


# ipdmeta solves for each profile bound exactly; that costs seconds per model.
@pytest.mark.slow
@pytest.mark.parametrize(("case", "section", "method"), _confint_params("profile"))
def test_confint_profile(case: str, section: str, method: str) -> None:
    _check_confint(case, method)


def _check_confint(case: str, method: str) -> None:
    reference = ref.load_case(case)
    if method == "profile":
        expected, _, rtol = ref.profile_reference(case)
    else:
        expected, rtol = ref.table(reference["confint"][method]), ref.RTOL_EST
    levels = reference["factor_levels"]
    expected["term"] = [ref.map_confint_term(t, levels) for t in expected["term"]]
    got = ref.fitted(case).confint(method=method)
    assert isinstance(got, pd.DataFrame), "confint() is not a DataFrame"
    # Wald intervals exist for fixed effects only (lme4 gives NA for variance parameters);
    # profile bounds lme4 could not pin down are not references (profile_reference).
    got = got[got["term"].astype(str).isin(set(expected["term"]))]
    got = ref.align(got, expected, "term", case)
    atol = ref.SINGULAR_THETA_TOL * _sigma(case)  # an SD's lower bound at 0
    for col in ("ci_lower", "ci_upper"):
        ref.assert_close(
            got[col], expected[col], rtol=rtol, atol=atol, what=f"{case} {method} {col}"
        )


@pytest.mark.parametrize(("case", "section"), ref.param_list(ref.lrt_grid()))
def test_lrt(case: str, section: str) -> None:
    spec = ref.load_case(case)["lrt"]
    m0, m1, result = ref.fitted_lrt(case)
    ref.assert_close(m0.loglik, spec["m0_loglik"], rtol=ref.RTOL_CRITERION, what=f"{case} m0")
    ref.assert_close(m1.loglik, spec["m1_loglik"], rtol=ref.RTOL_CRITERION, what=f"{case} m1")
    got = ref.engine_lrt(result)
    # chisq is a difference of two log-likelihoods: their error adds in absolute terms.
    atol = 2 * ref.RTOL_CRITERION * max(abs(spec["m0_loglik"]), abs(spec["m1_loglik"]))
    ref.assert_close(
        got["chisq"], spec["chisq"], rtol=ref.RTOL_LRT, atol=atol, what=f"{case} chisq"
    )
    assert math.isclose(got["df"], spec["df"]), f"{case}: lrt df {got['df']} != {spec['df']}"
    ref.assert_close(got["pvalue"], spec["pvalue"], rtol=0, atol=ref.ATOL_P, what=f"{case} p")
