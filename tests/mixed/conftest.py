"""Shared machinery for the agreement tests of ``ipdmeta.mixed`` against lme4 and friends.

The expected values live in ``tests/reference/mixed/<case>.json``, written by
``tests/reference/lme4_reference.R``. They carry R's names; this module is the ONE place
where R's names become ipdmeta's (``map_term``, ``map_group``, ``map_confint_term``) and
where the engine's results are read (``engine_*`` helpers), so that a change of naming on
either side is made here only.

Test modules import it as ``ipdmeta_mixed_reference`` (registered below): a plain
``import conftest`` would be ambiguous with other test folders' conftest files.
"""

from __future__ import annotations

import functools
import json
import math
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

sys.modules.setdefault("ipdmeta_mixed_reference", sys.modules[__name__])

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference" / "mixed"

# --------------------------------------------------------------------------- tolerances
# Estimates, standard errors, t/F statistics, emmeans and predictions: the rtol.
# The R optimum itself is reproducible to about 1e-6 relative (bobyqa and nloptwrap agree
# to <= 1.3e-6 on every case; the JSON records the check), so 1e-5 leaves room for a
# different optimiser path but not for a different answer.
RTOL_EST = 1e-5
# Denominator degrees of freedom: the rtol. lmerTest's Satterthwaite df rest on a
# numerical Hessian (numDeriv, Richardson extrapolation), good to about 1e-6 relative.
RTOL_DF = 1e-4
# p-values: the absolute tolerance.
ATOL_P = 1e-5
# Log-likelihood, AIC, BIC, REML criterion: the criterion is stationary at the optimum, so
# parameter errors of RTOL_EST move it by O(RTOL_EST^2); 1e-7 relative is still generous.
RTOL_CRITERION = 1e-7
# A variance parameter on the boundary: lme4's isSingular treats a relative standard
# deviation theta below 1e-4 as zero, so an SD within 1e-4 * sigma of R's counts as equal.
SINGULAR_THETA_TOL = 1e-4
# Profile intervals: lme4 interpolates a spline through the profile on a grid. The
# references use a grid 10 times finer than lme4's default and record, per bound, how far
# it moved from the default grid. A bound is a reference only if that move is at most
# PROFILE_STABLE_GRID and lme4 gave no warning about that parameter's profile
# (non-monotonic profile, bad spline fit); the others are listed in the completeness test.
# With a move of <= 1e-4 the fine grid's own interpolation error is far below it, so an
# exact root of the same profile agrees with the reference to RTOL_PROFILE.
PROFILE_STABLE_GRID = 1e-4
RTOL_PROFILE = 1e-4
# Models with a single random intercept also carry an exact profile (roots of zeta solved
# to 1e-10 by uniroot, the other parameters minimised by grid + optimize; see the R
# script). All its bounds are references, at the estimates' rtol. It agreed with lme4's
# fine-grid spline to <= 1.4e-6 wherever lme4's profile was stable.
RTOL_PROFILE_EXACT = RTOL_EST
# Likelihood-ratio statistic: a difference of two log-likelihoods, each good to
# RTOL_CRITERION, so an absolute error of RTOL_CRITERION * |loglik| is allowed as well.
RTOL_LRT = 1e-5

# --------------------------------------------------------------------------- the grid
# Every case the R script writes. The completeness test fails if one goes missing.
CASES = (
    "sleepstudy-slopes",
    "sleepstudy-uncorrelated",
    "sleepstudy-intercept-ml",
    "penicillin-crossed",
    "pastes-nested",
    "ipd-review",
    "ipd-singular",
    "ipd-single-patient",
    "ipd-crossed",
    "ipd-interaction",
    "ipd-aliased",
    "ipd-nested",
    "ipd-transforms",
    "sleepstudy-poly",
    "ipd-scaled",
    "machines-factor-slopes",
    "machines-intercept-slopes",
    "sleepstudy-random-functions",
    "ipd-offset",
    "sleepstudy-offset-slopes",
    "ipd-slope-or-intercept",
)
FIXEF_DDF = ("satterthwaite", "kenward-roger", "asymptotic", "residual")
ANOVA_TYPES = (1, 2, 3)
ANOVA_DDF = ("satterthwaite", "kenward-roger")
EMMEANS_DDF = ("kenward-roger", "satterthwaite", "asymptotic")
ADJUST = ("none", "holm", "bonferroni", "tukey", "fdr")
CONFINT_METHODS = ("wald", "profile")


# --------------------------------------------------------------------------- loading
_NON_FINITE = {"Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}


def _number(value: Any) -> Any:
    # The R script writes non-finite numbers as strings and NA as null.
    if value is None:
        return math.nan
    return _NON_FINITE.get(value, value) if isinstance(value, str) else value


def table(columns: Mapping[str, list[Any]]) -> pd.DataFrame:
    """A JSON column table as a DataFrame; numeric columns become float with inf/nan."""
    out = {}
    for name, values in columns.items():
        values = [_number(v) for v in values]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            out[name] = np.asarray(values, dtype=float)
        else:
            out[name] = values
    return pd.DataFrame(out)


@functools.cache
def load_case(case: str) -> dict[str, Any]:
    """The parsed JSON of one reference case."""
    with open(REFERENCE_DIR / f"{case}.json", encoding="utf-8") as fh:
        return json.load(fh)


def case_data(case: str) -> pd.DataFrame:
    """The data R fitted: numeric columns float (NaN for NA), factors as plain strings."""
    ref = load_case(case)
    frame = {}
    for name, values in ref["data"].items():
        if name in ref["factor_levels"] or any(isinstance(v, str) for v in values):
            frame[name] = pd.Series(values, dtype=object)
        else:
            frame[name] = pd.Series([math.nan if v is None else v for v in values], dtype=float)
    return pd.DataFrame(frame)


def available_cases() -> list[str]:
    return sorted(p.stem for p in REFERENCE_DIR.glob("*.json"))


# --------------------------------------------------------------------------- R -> ipdmeta
def map_term(r_name: str, factor_levels: Mapping[str, list[str]]) -> str:
    """lme4's coefficient name -> formulaic's: ``(Intercept)`` -> ``Intercept``,
    ``diagnosisTN`` -> ``diagnosis[T.TN]``, ``diagnosisTN:sexM`` ->
    ``diagnosis[T.TN]:sex[T.M]``; numeric terms keep their name (``Days``)."""
    if r_name == "(Intercept)":
        return "Intercept"
    return ":".join(_map_part(part, factor_levels) for part in r_name.split(":"))


def _map_part(r_name: str, factor_levels: Mapping[str, list[str]]) -> str:
    for factor, levels in factor_levels.items():
        if r_name.startswith(factor) and r_name[len(factor) :] in levels[1:]:
            return f"{factor}[T.{r_name[len(factor) :]}]"
    return r_name


def map_name(r_name: str) -> str:
    """A random-effect term name: ``(Intercept)`` -> ``Intercept``, others unchanged."""
    return "Intercept" if r_name == "(Intercept)" else r_name


def map_group(r_group: str) -> str:
    """A grouping factor's name. lme4 names the second block of ``(Days || Subject)``
    ``Subject.1``; ipdmeta calls both ``Subject``. Nested ``(1 | a/b)`` keeps lme4's
    ``b:a`` for the inner level."""
    return re.sub(r"\.\d+$", "", r_group)


def map_confint_term(r_name: str, factor_levels: Mapping[str, list[str]]) -> str:
    """confint row names (lme4's ``oldNames = FALSE``): fixed effects as :func:`map_term`;
    ``sd_(Intercept)|Subject`` -> ``sd_Intercept|Subject``,
    ``cor_Days.(Intercept)|Subject`` -> ``cor_Days.Intercept|Subject``, ``sigma``."""
    if r_name.startswith(("sd_", "cor_")):
        return r_name.replace("(Intercept)", "Intercept")
    return map_term(r_name, factor_levels)


# --------------------------------------------------------------------------- the engine
@functools.cache
def fitted(case: str) -> Any:
    """The ipdmeta fit of a case (cached: each model is fitted once per test session)."""
    from ipdmeta import mixed

    ref = load_case(case)
    return mixed.lmm(ref["formula"], case_data(case), reml=ref["reml"])


@functools.cache
def fitted_lrt(case: str) -> Any:
    from ipdmeta import mixed

    spec = load_case(case)["lrt"]
    data = case_data(case)
    m0 = mixed.lmm(spec["m0"], data, reml=False)
    m1 = mixed.lmm(spec["m1"], data, reml=False)
    return m0, m1, mixed.lrt(m0, m1)


def engine_ngroups(model: Any) -> dict[str, int]:
    """``m.ngroups`` as a mapping group -> count (an int is accepted for one grouping)."""
    ng = model.ngroups
    if isinstance(ng, Mapping):
        return {str(k): int(v) for k, v in ng.items()}
    if isinstance(ng, pd.Series):
        return {str(k): int(v) for k, v in ng.items()}
    return {"<single>": int(ng)}


def engine_lrt(result: Any) -> dict[str, float]:
    """``mixed.lrt(m0, m1)`` read as chisq, df, pvalue: attributes of a result object, or
    the last row of a DataFrame with those columns."""
    if isinstance(result, pd.DataFrame):
        row = result.iloc[-1]
        return {k: float(row[k]) for k in ("chisq", "df", "pvalue")}
    return {k: float(getattr(result, k)) for k in ("chisq", "df", "pvalue")}


# --------------------------------------------------------------------------- comparing
def assert_close(actual: Any, expected: Any, *, rtol: float, atol: float = 0.0, what: str) -> None:
    actual = np.atleast_1d(np.asarray(actual, dtype=float))
    expected = np.atleast_1d(np.asarray(expected, dtype=float))
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    both_inf = np.isinf(actual) & np.isinf(expected) & (np.sign(actual) == np.sign(expected))
    ok = both_inf | np.isclose(actual, expected, rtol=rtol, atol=atol)
    if not ok.all():
        bad = np.flatnonzero(~ok)
        rows = ", ".join(f"[{i}] got {actual[i]!r} want {expected[i]!r}" for i in bad[:6])
        raise AssertionError(
            f"{what}: {bad.size} of {ok.size} differ (rtol={rtol}, atol={atol}): {rows}"
        )


def align(got: pd.DataFrame, want: pd.DataFrame, key: str, what: str) -> pd.DataFrame:
    """``got`` reordered to ``want``'s rows by ``key``; the key sets must be equal."""
    assert key in got.columns, f"{what}: result has no column {key!r}: {list(got.columns)}"
    got_keys = [str(k) for k in got[key]]
    want_keys = [str(k) for k in want[key]]
    assert sorted(got_keys) == sorted(want_keys), f"{what}: {key} {got_keys} != {want_keys}"
    return got.assign(**{key: got_keys}).set_index(key).loc[want_keys].reset_index()


def drop_aliased(got: pd.DataFrame, case: str, value: str) -> pd.DataFrame:
    """Rows for columns lme4 dropped as aliased (rank-deficient X) are absent from R's
    tables; ipdmeta may list them with a missing ``value``, which is accepted here."""
    ref = load_case(case)
    aliased = {map_term(a, ref["factor_levels"]) for a in ref["aliased"]}
    drop = got["term"].astype(str).isin(aliased) & got[value].isna()
    return got[~drop]


def ci_slack(df: np.ndarray, se: np.ndarray, level: float = 0.95) -> np.ndarray:
    """How much a CI bound may move when df is off by RTOL_DF (through the t quantile)."""
    df = np.asarray(df, dtype=float)
    p = 0.5 + level / 2
    q = np.where(np.isinf(df), stats.norm.ppf(p), stats.t.ppf(p, df))
    q_low = np.where(np.isinf(df), q, stats.t.ppf(p, df * (1 - RTOL_DF)))
    return np.abs(q_low - q) * np.asarray(se, dtype=float)


def assert_ci_close(got: pd.DataFrame, want: pd.DataFrame, what: str) -> None:
    slack = ci_slack(want["df"].to_numpy(), want["se"].to_numpy())
    for col in ("ci_lower", "ci_upper"):
        g = got[col].to_numpy(dtype=float)
        w = want[col].to_numpy(dtype=float)
        ok = np.abs(g - w) <= RTOL_EST * np.abs(w) + slack + RTOL_EST * want["se"].to_numpy()
        assert ok.all(), f"{what} {col}: got {g[~ok]} want {w[~ok]}"


def named(cases: Any, section: str) -> Any:
    """One parameter per case, with ids such as ``ipd-review-ranef``."""
    return [pytest.param(c, id=f"{c}-{section}") for c in cases]


def param_list(rows: list[tuple[Any, ...]]) -> Any:
    """pytest parameters with readable ids, e.g. ``sleepstudy-slopes-fixef-satterthwaite``."""
    return [pytest.param(*r, id="-".join(str(p) for p in r)) for r in rows]


# --------------------------------------------------------------------------- the grids
# Built from the JSON; the completeness test compares their sizes with what the issue asks.
def fixef_grid() -> list[tuple[str, str, str]]:
    return [
        (case, "fixef", ddf)
        for case in CASES
        for ddf in FIXEF_DDF
        if ddf in load_case(case)["fixef"]
    ]


def anova_grid() -> list[tuple[str, str, int, str]]:
    rows = []
    for case in CASES:
        anova = load_case(case)["anova"]
        if anova is None:  # an intercept-only model has no terms to test
            continue
        rows += [
            (case, "anova", kind, ddf)
            for kind in ANOVA_TYPES
            for ddf in ANOVA_DDF
            if ddf in anova[str(kind)]
        ]
    return rows


def emmeans_grid() -> list[tuple[str, str, str, str]]:
    return [
        (case, spec, "emmeans", ddf)
        for case in CASES
        for spec, by_ddf in load_case(case)["emmeans"].items()
        for ddf in EMMEANS_DDF
        if ddf in by_ddf
    ]


def pairwise_grid() -> list[tuple[str, str, str, str, str]]:
    return [
        (case, spec, "pairwise", ddf, adjust)
        for case, spec, _, ddf in emmeans_grid()
        for adjust in ADJUST
        if adjust in load_case(case)["emmeans"][spec][ddf]["pairwise"]
    ]


CRITERIA = ("loglik", "aic", "bic", "reml_criterion")


def criterion_grid() -> list[tuple[str, str]]:
    return [
        (case, stat)
        for case in CASES
        for stat in CRITERIA
        if load_case(case)["fit"].get(stat) is not None
    ]


def icc_grid() -> list[str]:
    return [c for c in CASES if load_case(c)["fit"].get("icc") is not None]


def confint_grid() -> list[tuple[str, str, str]]:
    return [
        (case, "confint", method)
        for case in CASES
        for method in CONFINT_METHODS
        if load_case(case)["confint"].get(method) is not None
    ]


def predict_grid() -> list[tuple[str, str, str]]:
    return [(c, "predict", r) for c in CASES for r in ("with-random", "fixed-only")]


def lrt_grid() -> list[tuple[str, str]]:
    return [(c, "lrt") for c in CASES if load_case(c).get("lrt") is not None]


def profile_reference(case: str) -> tuple[pd.DataFrame, list[str], float]:
    """The profile-interval rows usable as a reference (R names), the names excluded, and
    the rtol: the exact profile where the R script computed one, else the bounds of lme4's
    spline profile that were stable (see PROFILE_STABLE_GRID)."""
    ci = load_case(case)["confint"]
    if ci.get("profile_exact") is not None:
        return table(ci["profile_exact"]), [], RTOL_PROFILE_EXACT
    rows = table(ci["profile"])
    warned = " | ".join(ci["profile_warnings"])
    keep = [
        float(diff) <= PROFILE_STABLE_GRID
        and f"profile for {term}" not in warned
        and f"spline fit for {term}" not in warned
        for term, diff in zip(rows["term"], rows["grid_rel_diff"], strict=True)
    ]
    mask = np.array(keep, dtype=bool)
    return rows[mask].reset_index(drop=True), list(rows["term"][~mask]), RTOL_PROFILE
