"""Edge cases of ipdmeta.meta against R's metafor 3.8.1.

Expected values come from ``tests/reference/metafor_edge/*.json``, written by
``Rscript tests/reference/metafor_edge_cases.R`` (R is needed only to regenerate them;
``tests/reference/README.md`` describes every file). Each edge case was first written here
as a failing test, then fixed:

- missing values: a study with a missing yi, vi or moderator is dropped with a warning
  naming it (``na_action="omit"``, metafor's ``na.omit``) or refused (``"fail"``);
- ``vi = 0``: fitted by HE, SJ, ML, REML and EB (Q, I2, H2 are NaN), refused by FE, DL,
  HS and PM;
- ML with two maxima of the likelihood: the global one (metafor can stop at tau2 = 0);
- k = 2 under Knapp-Hartung: the one-study refits of leave-one-out and influence use z;
- a permutation test with an infinite observed statistic: p is never 0;
- trim-and-fill with all yi equal: nothing is imputed.

Agreement is checked at rtol 1e-6, the tolerance of ``test_agreement_metafor.py``; where
ipdmeta departs from metafor on purpose the test says why.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ipdmeta import meta
from ipdmeta.errors import DataError, EstimationError, ModelSpecError

REF_DIR = Path(__file__).resolve().parents[1] / "reference" / "metafor_edge"
RTOL = 1e-6  # as test_agreement_metafor.py
ATOL_AT_ZERO = 1e-10  # where metafor gives an exact 0 (as test_agreement_metafor.py)


def _decode(x: Any) -> Any:
    # the R writer gives non-finite numbers as strings
    if isinstance(x, dict):
        return {k: _decode(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_decode(v) for v in x]
    if isinstance(x, str):
        return {"Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}.get(x, x)
    return x


def _load(name: str) -> dict[str, Any]:
    return _decode(json.loads((REF_DIR / name).read_text(encoding="utf-8")))


MISSING = _load("missing_values.json")
ZERO_VI = _load("zero_vi.json")
ML_GLOBAL = _load("ml_global.json")
KNHA_K2 = _load("knha_k2.json")
PERMUTEST = _load("permutest_inf.json")
TRIMFILL = _load("trimfill_equal.json")


def _params(ref: dict[str, Any]) -> list[Any]:
    return [pytest.param(case, id=case["id"]) for case in ref["cases"]]


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


class Agreement:
    """Collects every disagreement of one case, to show them all at once."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def scalar(self, name: str, actual: Any, expected: Any) -> None:
        a = None if actual is None else float(actual)
        if _missing(expected):
            if not _missing(a):
                self.problems.append(f"{name}: got {a!r}, expected NA/NaN")
            return
        e = float(expected)
        if a is None or math.isnan(a):
            self.problems.append(f"{name}: got {a!r}, expected {e!r}")
        elif math.isinf(e):
            if a != e:
                self.problems.append(f"{name}: got {a!r}, expected {e!r}")
        elif abs(a - e) > (ATOL_AT_ZERO if e == 0.0 else RTOL * abs(e)):
            self.problems.append(
                f"{name}: got {a!r}, expected {e!r} (rel {abs(a - e) / abs(e):.1e})"
            )

    def vector(self, name: str, actual: Any, expected: list[Any]) -> None:
        act = np.atleast_1d(np.asarray(actual, dtype=float))
        if act.size != len(expected):
            self.problems.append(f"{name}: got {act.size} values, expected {len(expected)}")
            return
        for i, (a, e) in enumerate(zip(act, expected, strict=True)):
            self.scalar(f"{name}[{i}]", a, e)

    def check(self) -> None:
        if self.problems:
            pytest.fail(
                f"{len(self.problems)} disagreement(s) with metafor:\n  "
                + "\n  ".join(self.problems),
                pytrace=False,
            )


RE_FIELDS = ["estimate", "se", "statistic", "pvalue", "ci_lower", "ci_upper", "pi_lower",
             "pi_upper", "tau2", "I2", "H2", "Q", "Q_pvalue", "k"]  # fmt: skip
COEF_COLUMNS = ["estimate", "se", "statistic", "pvalue", "ci_lower", "ci_upper"]
MR_FIELDS = ["tau2", "I2", "H2", "R2", "QM", "QM_pvalue", "QE", "QE_pvalue", "k"]


def _compare_re(rep: Agreement, res: meta.MetaResult, case: dict[str, Any]) -> None:
    for name in RE_FIELDS:
        rep.scalar(name, getattr(res, name), case[name])
    rep.scalar("Q_df", res.Q_df, case["Q_df"])


def _compare_mr(rep: Agreement, res: meta.MetaRegressionResult, case: dict[str, Any]) -> None:
    coef = res.to_frame()
    for col in COEF_COLUMNS:
        rep.vector(col, coef[col].to_numpy(), case[col])
    for name in MR_FIELDS:
        rep.scalar(name, getattr(res, name), case[name])
    rep.scalar("QM_df", res.QM_df, case["QM_df"])


def _fit_quietly(fn: Any, *args: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return fn(*args, **kwargs)


# ============================================================================ 5a. missing values
NA_DATA = MISSING["data"]
NA_LABELS = NA_DATA["labels"]
NOT_NA = MISSING["cases"][0]["not_na"]


def test_missing_values_reference_is_what_metafor_warns() -> None:
    # metafor drops the studies with the warning text below; ipdmeta's warning names them
    assert MISSING["cases"][0]["warnings"] == ["Studies with NAs omitted from model fitting."]
    assert MISSING["na_fail"]["random_effects"] == "Missing values in data."


@pytest.mark.parametrize("case", _params(MISSING))
def test_missing_values_agree_with_metafor(case: dict[str, Any]) -> None:
    omitted = [lab for lab, keep in zip(NA_LABELS, case["not_na"], strict=True) if not keep]
    with pytest.warns(UserWarning, match="omitted from model fitting") as caught:
        if case["model"] == "random_effects":
            res = meta.random_effects(
                NA_DATA["yi"], NA_DATA["vi"], case["method"], case["test"], labels=NA_LABELS
            )
        else:
            mods = pd.DataFrame({"ablat": NA_DATA["ablat"]}, dtype=float)
            res = meta.meta_regression(
                NA_DATA["yi"], NA_DATA["vi"], mods, case["method"], case["test"]
            )
    message = str(caught[0].message)
    rep = Agreement()
    if case["model"] == "random_effects":
        _compare_re(rep, res, case)
        assert res.omitted == tuple(omitted)
        assert res.labels == tuple(
            lab for lab, keep in zip(NA_LABELS, case["not_na"], strict=True) if keep
        )
        for lab in omitted:
            assert lab in message
    else:
        _compare_mr(rep, res, case)
        # unlabelled: the studies are named by their position, 1-based
        named = [f"Study {i + 1}" for i, keep in enumerate(case["not_na"]) if not keep]
        assert res.omitted == tuple(named)
        assert "Study 3 (yi)" in message and "Study 7 (vi)" in message
        assert "Study 10 (ablat)" in message
    rep.check()


def test_missing_moderator_in_a_formula_is_omitted() -> None:
    data = pd.DataFrame({"yi": NA_DATA["yi"], "vi": NA_DATA["vi"], "ablat": NA_DATA["ablat"]})
    case = next(c for c in MISSING["cases"] if c["id"] == "mr-REML-z")
    with pytest.warns(UserWarning, match=r"Study 10 \(ablat\)"):
        res = meta.meta_regression("yi", "vi", "~ ablat", data=data)
    rep = Agreement()
    _compare_mr(rep, res, case)
    rep.check()


@pytest.mark.parametrize("ref", MISSING["leave1out"], ids=lambda r: r["id"])
def test_leave_one_out_after_omission_agrees(ref: dict[str, Any]) -> None:
    res = _fit_quietly(
        meta.random_effects, NA_DATA["yi"], NA_DATA["vi"], ref["method"], ref["test"]
    )
    table = meta.leave_one_out(res).to_frame()
    rep = Agreement()
    for col in ("estimate", "se", "tau2", "Q"):
        rep.vector(col, table[col].to_numpy(), ref[col])
    rep.check()
    assert list(table["label"]) == [f"Study {i + 1}" for i, keep in enumerate(NOT_NA) if keep]


@pytest.mark.parametrize("na_action", ["fail", "na.fail"])
def test_na_action_fail_refuses_and_names_the_studies(na_action: str) -> None:
    with pytest.raises(DataError, match="missing values in data") as info:
        meta.random_effects(NA_DATA["yi"], NA_DATA["vi"], labels=NA_LABELS, na_action=na_action)
    assert f"{NA_LABELS[2]} (yi)" in str(info.value)
    assert f"{NA_LABELS[6]} (vi)" in str(info.value)
    mods = pd.DataFrame({"ablat": NA_DATA["ablat"]}, dtype=float)
    with pytest.raises(DataError, match=r"Study 10 \(ablat\)"):
        meta.meta_regression(NA_DATA["yi"], NA_DATA["vi"], mods, na_action=na_action)


def test_na_action_is_checked() -> None:
    with pytest.raises(ModelSpecError, match="na_action"):
        meta.random_effects([0.1, 0.2], [0.1, 0.1], na_action="drop")


def test_missing_value_kinds() -> None:
    # None, NaN and pandas' NA (nullable dtype) are all missing; the index names the study
    yi = pd.Series([0.1, pd.NA, 0.3, 0.5], index=["a", "b", "c", "d"], dtype="Float64")
    with pytest.warns(UserWarning, match=r"b \(yi\), c \(vi\)"):
        res = meta.random_effects(yi, [0.02, 0.03, None, 0.04])
    assert res.k == 2 and res.omitted == ("b", "c") and res.labels == ("a", "d")
    assert "2 studies with missing values omitted: b, c" in res.summary()


def test_no_missing_values_no_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = meta.random_effects([0.1, 0.2, 0.4], [0.01, 0.02, 0.03])
    assert res.omitted == () and res.labels == ("Study 1", "Study 2", "Study 3")


def test_infinite_values_and_everything_missing_are_errors() -> None:
    with pytest.raises(DataError, match="infinite"):
        meta.random_effects([0.1, np.inf, 0.3], [0.1, 0.1, 0.1])
    with pytest.raises(DataError, match="nothing to fit"):
        meta.random_effects([np.nan, np.nan], [0.1, 0.1])
    with pytest.raises(EstimationError, match="at least 2 studies"):
        _fit_quietly(meta.random_effects, [0.1, np.nan], [0.1, 0.1])


# ==================================================================================== 5b. vi = 0
Z_DATA = ZERO_VI["data"]


def _zero_vi_fit(case: dict[str, Any]) -> Any:
    vi = Z_DATA["vi_two"] if case["data"] == "two" else Z_DATA["vi_one"]
    if case["data"] == "mods":
        mods = pd.DataFrame({"ablat": Z_DATA["ablat"]})
        return meta.meta_regression(Z_DATA["yi"], vi, mods, case["method"], case["test"])
    return meta.random_effects(
        Z_DATA["yi"], vi, case["method"], case["test"], labels=Z_DATA["labels"]
    )


@pytest.mark.parametrize("case", _params(ZERO_VI))
def test_zero_vi_agrees_with_metafor(case: dict[str, Any]) -> None:
    if case["error"] is not None:
        # metafor: "<method> estimator cannot be used when there are non-positive sampling
        # variances", or for FE "Division by zero when computing the inverse variance weights"
        with pytest.raises(EstimationError, match="sampling variance is 0") as info:
            _zero_vi_fit(case)
        if case["data"] != "mods":
            assert Z_DATA["labels"][2] in str(info.value)  # the study is named
        return
    res = _zero_vi_fit(case)
    rep = Agreement()
    if case["data"] == "mods":
        _compare_mr(rep, res, case)
    else:
        _compare_re(rep, res, case)
    rep.check()
    # as metafor's NA: Q, I2 and H2 weight by 1 / vi
    assert math.isnan(res.I2) and math.isnan(res.H2)


def test_zero_vi_has_no_q_profile_interval() -> None:
    assert ZERO_VI["confint_error"].startswith("Cannot compute CI for tau^2")
    res = meta.random_effects(Z_DATA["yi"], Z_DATA["vi_one"])
    with pytest.raises(EstimationError, match="sampling variance is 0"):
        res.heterogeneity_ci()
    assert "not available (a sampling variance is 0)" in res.summary()


def test_zero_vi_with_tau2_at_zero_cannot_be_fitted() -> None:
    # One study with vi = 0: the ML likelihood grows without bound as tau2 -> 0, so its
    # maximum is tau2 = 0, where that study's weight is infinite. metafor's Fisher scoring
    # halves its step towards 0 and stops at about 1e-13 (estimate = that study's yi, se
    # about 1e-7), which is no fit either; ipdmeta says so.
    yi, vi = [0.1, 0.3, -0.2, 0.5], [0.04, 0.0, 0.05, 0.03]
    with pytest.raises(EstimationError, match="estimate of tau2 is 0"):
        meta.random_effects(yi, vi, method="ML")
    with pytest.raises(EstimationError, match="tau2 is fixed at 0"):
        meta.random_effects(yi, vi, tau2=0.0)
    fixed = meta.random_effects(yi, vi, method="DL", tau2=0.05)  # no estimator involved
    assert fixed.tau2 == 0.05 and math.isnan(fixed.Q)
    with pytest.raises(DataError, match="vi must be >= 0"):
        meta.random_effects(yi, [0.04, -0.01, 0.05, 0.03])


@pytest.mark.parametrize("ref", ZERO_VI["diagnostics"], ids=lambda r: r["id"])
def test_zero_vi_diagnostics_agree_with_metafor(ref: dict[str, Any]) -> None:
    res = meta.random_effects(Z_DATA["yi"], Z_DATA["vi_one"], ref["method"], ref["test"])
    l1o = meta.leave_one_out(res).to_frame()
    inf = meta.influence(res).to_frame()
    eg = meta.egger_test(res)
    rep = Agreement()
    for col, expected in ref["leave1out"].items():
        rep.vector(f"leave1out.{col}", l1o[col].to_numpy(), expected)
    for col, expected in ref["influence"].items():
        rep.vector(f"influence.{col}", inf[col].to_numpy(), expected)
    for name, expected in ref["regtest"].items():
        rep.scalar(f"regtest.{name}", getattr(eg, name), expected)
    rep.check()
    perm = meta.permutation_test(res, n=200, seed=1)  # one fit at a time: the batch needs vi > 0
    assert 0.0 < float(perm.pvalue[0]) <= 1.0


# ========================================================================= 6a. ML global maximum
@pytest.mark.parametrize("case", _params(ML_GLOBAL))
def test_ml_finds_the_global_maximum(case: dict[str, Any]) -> None:
    data = ML_GLOBAL["data"][case["data"]]
    glob, prof = case["global"], case["profile"]
    # the reference: metafor's own fit started at the global maximum, which the profile
    # log-likelihood over a grid of fixed tau2 confirms
    assert glob["loglik"] >= prof["loglik_at_0"]
    assert glob["tau2"] == pytest.approx(prof["tau2"], rel=1e-6)
    if case["data"] == "bimodal":
        res = meta.random_effects(data["yi"], data["vi"], "ML", case["test"])
        rep = Agreement()
        for name in [*COEF_COLUMNS, "tau2"]:
            expected = glob[name][0] if isinstance(glob[name], list) else glob[name]
            rep.scalar(name, getattr(res, name), expected)
        rep.check()
        return
    mod = data["sei"] if case["data"] == "li2007_sei" else data["x"]
    res = meta.meta_regression(data["yi"], data["vi"], mod, "ML", case["test"])
    rep = Agreement()
    _compare_mr(rep, res, glob)
    rep.check()


def test_ml_regtest_li2007_uses_the_global_maximum() -> None:
    # Egger's test with ML on li2007 is the meta-regression on sei: metafor's regtest()
    # stops at tau2 = 0 (its "default" fit), a local maximum of the likelihood 0.0077
    # below the interior one. ipdmeta reports the global maximum: test_agreement_metafor's
    # regtest references for li2007-ML hold metafor's local one.
    data = ML_GLOBAL["data"]["li2007_sei"]
    for case in (c for c in ML_GLOBAL["cases"] if c["data"] == "li2007_sei"):
        assert case["default"]["tau2"] == 0.0
        assert case["default"]["loglik"] < case["global"]["loglik"] - 0.007
        res = meta.random_effects(data["yi"], data["vi"], "ML", case["test"])
        eg = meta.egger_test(res)
        rep = Agreement()
        rep.scalar("statistic", eg.statistic, case["global"]["statistic"][1])
        rep.scalar("pvalue", eg.pvalue, case["global"]["pvalue"][1])
        rep.scalar("limit_estimate", eg.limit_estimate, case["global"]["estimate"][0])
        rep.check()


# ====================================================================== 6b. k = 2, Knapp-Hartung
K2 = KNHA_K2["data"]
L1O_COLUMNS = ["estimate", "se", "statistic", "pvalue", "ci_lower", "ci_upper", "Q",
               "Q_pvalue", "tau2", "I2", "H2"]  # fmt: skip
INF_COLUMNS = ["rstudent", "dffits", "cooks_distance", "cov_ratio", "tau2_deleted",
               "QE_deleted", "hat", "weight", "dfbetas"]  # fmt: skip


@pytest.mark.parametrize("case", _params(KNHA_K2))
def test_knha_k2_refits_use_z(case: dict[str, Any]) -> None:
    res = meta.random_effects(K2["yi"], K2["vi"], case["method"], "knha", labels=K2["labels"])
    with pytest.warns(UserWarning, match="Knapp-Hartung test is undefined"):
        l1o = meta.leave_one_out(res).to_frame()
    with pytest.warns(UserWarning, match="Knapp-Hartung test is undefined"):
        inf = meta.influence(res).to_frame()
    rep = Agreement()
    for col in L1O_COLUMNS:
        rep.vector(f"leave1out.{col}", l1o[col].to_numpy(), case["leave1out"][col])
    for col in INF_COLUMNS:
        rep.vector(f"influence.{col}", inf[col].to_numpy(), case["influence"][col])
    rep.check()
    assert list(inf["influential"]) == case["influence"]["influential"]


def test_knha_k2_warning_is_metafors_k1_rule() -> None:
    assert KNHA_K2["k1_warnings"] == ['Setting argument test="z" since k=1.']
    res = meta.random_effects(K2["yi"], K2["vi"], "REML", "z")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to switch under z
        meta.leave_one_out(res)
        meta.influence(res)


def test_influence_with_zero_variance_gives_nan_not_zero_division() -> None:
    # identical effects under Knapp-Hartung: s2w = 0 in every refit (metafor's influence()
    # stops with a Cholesky error here)
    res = meta.random_effects([0.5] * 5, [0.01, 0.04, 0.02, 0.09, 0.05], test="knha")
    table = meta.influence(res).to_frame()
    assert table["rstudent"].isna().all() and np.isfinite(table["hat"]).all()


# ====================================================================== 6c. permutation p-values
P_DATA = PERMUTEST["data"]


@pytest.mark.parametrize("case", _params(PERMUTEST))
def test_permutation_p_is_never_zero(case: dict[str, Any]) -> None:
    data = P_DATA[case["data"]]
    if case["data"] == "identical":
        res = meta.random_effects(data["yi"], data["vi"], case["method"], case["test"])
    else:
        res = meta.meta_regression(data["yi"], data["vi"], data["x"], case["method"], case["test"])
    perm = meta.permutation_test(res, n=1000)
    assert perm.exact and perm.n_permutations == case["iterations"]
    rep = Agreement()
    rep.vector("statistic", perm.statistic, case["statistic"])
    rep.vector("pvalue", perm.pvalue, case["pvalue"])
    if case["QM_pvalue"] is not None and not math.isnan(case["QM_pvalue"]):
        rep.scalar("QM_pvalue", perm.QM_pvalue, case["QM_pvalue"])
    elif case["data"] == "identical":
        # metafor's QM is NA when se = 0 (it cannot invert the variance), so its QM p-value
        # is NaN; ipdmeta's QM of an intercept-only model is the statistic squared (Inf),
        # and its permutation p-value that of the statistic, as under z
        assert math.isinf(perm.QM) and perm.QM > 0
        rep.scalar("QM_pvalue", perm.QM_pvalue, case["pvalue"][0])
    else:
        assert math.isnan(perm.QM_pvalue)  # QM NaN, as metafor's NA
    rep.check()
    assert np.all(np.asarray(perm.pvalue) > 0.0)


def test_approximate_permutation_p_with_infinite_statistic() -> None:
    # not exact (2^12 > 500): the first permutation is the observed data, so p >= 1/500
    res = meta.random_effects([0.5] * 12, np.linspace(0.01, 0.1, 12), test="knha")
    assert res.statistic == math.inf
    perm = meta.permutation_test(res, n=500, seed=3)
    assert not perm.exact and float(perm.pvalue[0]) >= 1 / 500


# =================================================================== 6d. trim-and-fill, equal yi
@pytest.mark.parametrize("case", _params(TRIMFILL))
def test_trim_and_fill_imputes_nothing_when_all_yi_are_equal(case: dict[str, Any]) -> None:
    vi = TRIMFILL["data"]["vi"]
    yi = [case["value"]] * len(vi)
    res = meta.random_effects(yi, vi, case["method"])
    rep = Agreement()
    _compare_re(rep, res, case)
    rep.check()
    tf = meta.trim_and_fill(res, estimator=case["estimator"])
    assert tf.k0 == 0 and tf.filled_yi.size == 0 and tf.filled is res
    # metafor 3.8.1: L0 does not converge or imputes 5 studies; R0 stops with an error
    assert case["trimfill_error"] is not None or case["trimfill_k0"] > 0


@pytest.mark.parametrize("estimator", ["L0", "R0"])
def test_trim_and_fill_exact_zero_residuals_are_not_positive(estimator: str) -> None:
    # yi all 0: every residual is exactly 0; R0 used to count them as a run of positive
    # ranks and impute k - 1 studies
    res = meta.random_effects([0.0] * 6, [0.02, 0.05, 0.01, 0.08, 0.03, 0.04])
    assert meta.trim_and_fill(res, estimator=estimator).k0 == 0
