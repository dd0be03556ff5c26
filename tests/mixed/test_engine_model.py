"""Behaviour of ``ipdmeta.mixed.lmm`` beyond the R references: bad input, missing values,
aliasing, singular fits, small categories, shapes, the fast path against the general one,
bootstrap reproducibility. (The public names are pinned in tests/test_public_api.py.)"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from ipdmeta import mixed
from ipdmeta.errors import DataError, IpdmetaError, ModelSpecError
from ipdmeta.mixed._design import build_design
from ipdmeta.mixed._fit import GeneralModel, ScalarTermModel
from ipdmeta.mixed._formula import parse_formula

# Two fits of the same model by different code paths agree to this (both optimise to
# ~1e-13 in theta; the general path's finite-difference gradient limits it).
RTOL_PATHS = 1e-6


def ipd(seed: int = 1, n: int = 140, k: int = 23, sd_study: float = 10.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    study = np.concatenate([np.arange(k), rng.integers(0, k, n - k)])
    dx = rng.choice(np.array(["AD", "DPS", "PHN", "TN", "TNP"]), n)
    age = rng.normal(55, 12, n).round()
    sex = rng.choice(np.array(["F", "M"]), n)
    u = rng.normal(0, sd_study, k)
    y = 60 + u[study] + 10 * (dx == "TN") - 0.1 * age + rng.normal(0, 20, n)
    return pd.DataFrame(
        {
            "relief": y,
            "diagnosis": dx.astype(object),
            "age": age,
            "sex": sex.astype(object),
            "study_id": np.array([f"S{i:02d}" for i in study], dtype=object),
        }
    )


FORMULA = "relief ~ diagnosis + age + sex + (1 | study_id)"


@pytest.fixture(scope="module")
def fit() -> mixed.LmmResult:
    return mixed.lmm(FORMULA, ipd())


# ------------------------------------------------------------------------- bad input
def test_unknown_variable_names_it() -> None:
    with pytest.raises(ModelSpecError, match="'diagnosys'"):
        mixed.lmm("relief ~ diagnosys + (1 | study_id)", ipd())


def test_single_group() -> None:
    d = ipd().assign(study_id="S01")
    with pytest.raises(ModelSpecError, match="single level"):
        mixed.lmm(FORMULA, d)


def test_constant_outcome() -> None:
    d = ipd().assign(relief=50.0)
    with pytest.raises(ModelSpecError, match="constant"):
        mixed.lmm(FORMULA, d)


def test_text_outcome() -> None:
    with pytest.raises(ModelSpecError, match="numeric"):
        mixed.lmm("sex ~ age + (1 | study_id)", ipd())


def test_not_a_dataframe() -> None:
    with pytest.raises(DataError):
        mixed.lmm(FORMULA, {"relief": [1, 2]})  # type: ignore[arg-type]


def test_one_group_per_row_is_refused() -> None:
    d = ipd().assign(row=lambda x: np.arange(len(x)).astype(str))
    with pytest.raises(ModelSpecError, match="not identifiable"):
        mixed.lmm("relief ~ age + (1 | row)", d)


def test_bad_options(fit: mixed.LmmResult) -> None:
    with pytest.raises(ModelSpecError, match="ddf"):
        fit.fixed_effects(ddf="containment")
    with pytest.raises(ModelSpecError, match="adjust"):
        fit.pairwise("diagnosis", adjust="scheffe")
    with pytest.raises(ModelSpecError, match="type"):
        fit.anova(type=4)
    with pytest.raises(ModelSpecError, match="numeric"):
        fit.emmeans("age")
    with pytest.raises(ModelSpecError):
        fit.emmeans("nothing")
    with pytest.raises(IpdmetaError):
        fit.bootstrap(0)


def test_options_accept_enums_and_strings(fit: mixed.LmmResult) -> None:
    a = fit.fixed_effects(ddf=mixed.DDF.KENWARD_ROGER)
    b = fit.fixed_effects(ddf="Kenward-Roger")
    pd.testing.assert_frame_equal(a, b)


def test_kenward_roger_needs_reml() -> None:
    m = mixed.lmm(FORMULA, ipd(), reml=False)
    with pytest.raises(ModelSpecError, match="REML"):
        m.fixed_effects(ddf="kenward-roger")


# ------------------------------------------------------------------------- data handling
def test_missing_rows_dropped_and_counted() -> None:
    d = ipd()
    d.loc[[3, 10, 11], "age"] = np.nan
    d.loc[20, "diagnosis"] = None
    m = mixed.lmm(FORMULA, d)
    assert m.nobs == len(d) - 4
    assert m.n_dropped == 4
    assert "4 rows with missing values dropped" in m.summary()


def test_aliased_column_dropped_and_named() -> None:
    d = ipd().assign(age_months=lambda x: x["age"] * 12.0)
    m = mixed.lmm("relief ~ diagnosis + age + age_months + (1 | study_id)", d)
    assert m.aliased == ("age_months",)
    assert "age_months" not in set(m.fixed_effects()["term"])
    anova = m.anova(type=3).set_index("term")
    assert np.isnan(anova.loc["age_months", "F"])
    assert np.isfinite(anova.loc["age", "F"])


def test_reference_level_from_treatment() -> None:
    m = mixed.lmm('relief ~ C(diagnosis, Treatment("TN")) + (1 | study_id)', ipd())
    terms = list(m.fixed_effects()["term"])
    assert terms[0] == "Intercept"
    assert not any(t.endswith("[T.TN]") for t in terms)
    assert m.anova()["term"].tolist() == ["diagnosis"]
    assert m.emmeans("diagnosis")["level"].iloc[0] == "TN"


def test_term_names_follow_formulaic(fit: mixed.LmmResult) -> None:
    assert list(fit.fixed_effects()["term"]) == [
        "Intercept",
        "diagnosis[T.DPS]",
        "diagnosis[T.PHN]",
        "diagnosis[T.TN]",
        "diagnosis[T.TNP]",
        "age",
        "sex[T.M]",
    ]
    anova = fit.anova(type=3)
    assert anova["term"].tolist() == ["diagnosis", "age", "sex"]
    assert anova["num_df"].tolist() == [4, 1, 1]


# ------------------------------------------------------------------------- edge cases
def test_singular_fit_is_a_result() -> None:
    # Seed 3 without a between-study effect gives theta = 0 (checked: is_singular below).
    m = mixed.lmm(FORMULA, ipd(seed=3, sd_study=0.0))
    assert m.is_singular
    assert m.theta[0] == 0.0
    vc = m.variance_components.set_index("group")
    assert vc.loc["study_id", "variance"] == 0.0
    assert m.icc == 0.0
    fe = m.fixed_effects()
    assert np.all(np.isfinite(fe["df"]))
    assert "Singular fit" in m.summary()


def test_category_with_one_patient() -> None:
    d = ipd()
    d.loc[d["diagnosis"] == "AD", "diagnosis"] = "PHN"
    d.loc[0, "diagnosis"] = "AD"
    m = mixed.lmm(FORMULA, d)
    em = m.emmeans("diagnosis").set_index("level")
    assert np.isfinite(em.loc["AD", "se"])
    assert em.loc["AD", "se"] > em["se"].drop("AD").max()
    pw = m.pairwise("diagnosis", adjust="holm")
    assert len(pw) == 10
    assert np.all((pw["pvalue"] >= 0) & (pw["pvalue"] <= 1))


# ------------------------------------------------------------------------- shapes
def test_ranef_and_predict_shapes(fit: mixed.LmmResult) -> None:
    re = fit.ranef()
    assert list(re.columns) == ["group", "level", "name", "estimate", "se"]
    assert len(re) == 23
    assert set(re["name"]) == {"Intercept"}
    d = ipd()
    assert fit.predict().shape == (fit.nobs,)
    p_all = fit.predict(d.head(7))
    p_fix = fit.predict(d.head(7), include_random=False)
    assert p_all.shape == p_fix.shape == (7,)
    new_level = d.head(2).assign(study_id="new study")
    np.testing.assert_allclose(fit.predict(new_level), fit.predict(new_level, include_random=False))


def test_fitted_values_are_fixed_plus_random(fit: mixed.LmmResult) -> None:
    d = ipd()
    re = fit.ranef().set_index("level")["estimate"]
    fixed = fit.predict(d, include_random=False)
    np.testing.assert_allclose(fit.predict(d), fixed + re.loc[d["study_id"]].to_numpy())


def test_fitted_and_residuals(fit: mixed.LmmResult) -> None:
    d = ipd()
    np.testing.assert_allclose(fit.fitted(), fit.predict(d))
    np.testing.assert_allclose(fit.residuals(), d["relief"].to_numpy() - fit.fitted())
    # The conditional modes solve (Z'Z + lambda I) b = Z'(y - X beta) with
    # lambda = sigma^2 / tau^2, so each study's residuals sum to lambda times its mode.
    tau2 = fit.variance_components.set_index("group").loc["study_id", "variance"]
    lam = fit.sigma**2 / tau2
    by_study = pd.Series(fit.residuals()).groupby(d["study_id"].to_numpy()).sum()
    modes = fit.ranef().set_index("level")["estimate"]
    np.testing.assert_allclose(by_study.loc[modes.index], lam * modes, rtol=1e-6, atol=1e-8)


def test_tables_have_identifier_columns(fit: mixed.LmmResult) -> None:
    assert list(fit.fixed_effects().columns) == [
        "term",
        "estimate",
        "se",
        "df",
        "t",
        "pvalue",
        "ci_lower",
        "ci_upper",
    ]
    assert list(fit.anova().columns) == [
        "term",
        "sum_sq",
        "mean_sq",
        "num_df",
        "den_df",
        "F",
        "pvalue",
    ]
    assert list(fit.emmeans("diagnosis").columns) == [
        "level",
        "emmean",
        "se",
        "df",
        "ci_lower",
        "ci_upper",
    ]
    assert list(fit.pairwise("diagnosis").columns) == [
        "contrast",
        "estimate",
        "se",
        "df",
        "t",
        "pvalue",
    ]
    vc = fit.variance_components
    assert list(vc.columns) == ["group", "name", "variance", "sd"]
    assert vc["group"].iloc[-1] == "Residual"


def test_pairwise_adjustments_are_ordered(fit: mixed.LmmResult) -> None:
    raw = fit.pairwise("diagnosis", adjust="none")["pvalue"].to_numpy()
    for adjust in ("holm", "bonferroni", "tukey", "fdr"):
        adj = fit.pairwise("diagnosis", adjust=adjust)["pvalue"].to_numpy()
        assert np.all(adj >= raw - 1e-12), adjust
    bonf = fit.pairwise("diagnosis", adjust="bonferroni")["pvalue"].to_numpy()
    assert np.all(fit.pairwise("diagnosis", adjust="holm")["pvalue"].to_numpy() <= bonf + 1e-12)


def test_ddf_choices(fit: mixed.LmmResult) -> None:
    z = fit.fixed_effects(ddf="asymptotic")
    assert np.all(np.isinf(z["df"]))
    r = fit.fixed_effects(ddf="residual")
    assert np.all(r["df"] == fit.nobs - len(r))
    s = fit.fixed_effects()
    np.testing.assert_allclose(s["estimate"], z["estimate"])


# ------------------------------------------------------------------------- paths agree
def test_fast_path_matches_general_path() -> None:
    d = ipd(seed=5)
    design = build_design(parse_formula(FORMULA), d)
    fast = ScalarTermModel(design.X, design.y, design.random[0])
    general = GeneralModel(design.X, design.y, design.random)
    for reml in (True, False):
        t_fast = fast.optimise(reml)
        t_gen = general.optimise(reml)
        np.testing.assert_allclose(t_fast, t_gen, rtol=RTOL_PATHS)
        s_fast, s_gen = fast.solve(t_fast), general.solve(t_fast)
        np.testing.assert_allclose(s_fast.beta, s_gen.beta, rtol=1e-10)
        assert s_fast.deviance(fast.n, fast.p, reml) == pytest.approx(
            s_gen.deviance(fast.n, fast.p, reml), rel=1e-12
        )


def test_lrt_refits_with_ml() -> None:
    d = ipd()
    m0 = mixed.lmm("relief ~ age + sex + (1 | study_id)", d)
    m1 = mixed.lmm(FORMULA, d)
    out = mixed.lrt(m0, m1)
    ml0 = mixed.lmm("relief ~ age + sex + (1 | study_id)", d, reml=False)
    ml1 = mixed.lmm(FORMULA, d, reml=False)
    assert out["chisq"].iloc[-1] == pytest.approx(2 * (ml1.loglik - ml0.loglik), rel=1e-9)
    assert out["df"].iloc[-1] == 4


# ------------------------------------------------------------------------- bootstrap
def test_bootstrap_reproducible_by_seed(fit: mixed.LmmResult) -> None:
    a = fit.bootstrap(50, seed=7).replicates
    b = fit.bootstrap(50, seed=7).replicates
    c = fit.bootstrap(50, seed=8).replicates
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    assert list(a.columns)[-2:] == ["sd_Intercept|study_id", "sigma"]


def test_bootstrap_fast_path_matches_refits(fit: mixed.LmmResult) -> None:
    # The vectorised refits equal one-by-one refits of the simulated responses.
    from ipdmeta.mixed._bootstrap import simulate_responses

    boot = fit.bootstrap(5, seed=3).replicates
    Y = simulate_responses(fit, 5, np.random.default_rng(3))
    for i in range(5):
        d = ipd().assign(relief=Y[i])
        m = mixed.lmm(FORMULA, d)
        np.testing.assert_allclose(boot.iloc[i, : len(m.coef)], m.coef.to_numpy(), rtol=1e-8)
        assert boot["sigma"].iloc[i] == pytest.approx(m.sigma, rel=1e-8)


def test_confint_wald_and_bootstrap(fit: mixed.LmmResult) -> None:
    w = fit.confint(method="wald").set_index("term")
    assert np.isnan(w.loc["sigma", "ci_lower"])
    assert w.loc["age", "ci_lower"] < fit.coef["age"] < w.loc["age", "ci_upper"]
    b = fit.confint(method="bootstrap", n=100, seed=1).set_index("term")
    assert b.loc["sigma", "ci_lower"] < fit.sigma < b.loc["sigma", "ci_upper"]


# ------------------------------------------------------------------------- display, API
def test_summary_and_html(fit: mixed.LmmResult) -> None:
    text = fit.summary()
    assert "REML" in text and "diagnosis[T.TN]" in text and "Residual" in text
    html = fit._repr_html_()
    assert "<table" in html


def test_result_is_immutable(fit: mixed.LmmResult) -> None:
    with pytest.raises(AttributeError):
        fit.reml = False  # type: ignore[misc]


def test_import_does_not_load_matplotlib() -> None:
    code = "import sys, ipdmeta.mixed; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_inference_fast_path_matches_general_path() -> None:
    # Kenward-Roger and Satterthwaite from the per-group formulas equal the general
    # (q x q) computation at the same parameters.
    from ipdmeta.mixed import _inference

    d = ipd(seed=6)
    design = build_design(parse_formula(FORMULA), d)
    fast = ScalarTermModel(design.X, design.y, design.random[0])
    general = GeneralModel(design.X, design.y, design.random)
    theta = fast.optimise(True)
    st = fast.solve(theta)
    sigma = st.sigma(fast.n, fast.p, True)
    V = sigma**2 * np.linalg.inv(st.A)
    kr_f = _inference.kenward_roger_parts(fast, theta, sigma, V)
    kr_g = _inference.kenward_roger_parts(general, theta, sigma, V)
    np.testing.assert_allclose(kr_f.vcov_adj, kr_g.vcov_adj, rtol=1e-9)
    np.testing.assert_allclose(kr_f.W, kr_g.W, rtol=1e-9)
    s_f = _inference.satterthwaite_parts(fast, theta, sigma, True)
    s_g = _inference.satterthwaite_parts(general, theta, sigma, True)
    np.testing.assert_allclose(s_f.vcov_varpar, s_g.vcov_varpar, rtol=1e-6)
    np.testing.assert_allclose(s_f.jac, s_g.jac, rtol=1e-6, atol=1e-12)


def test_categorical_input_keeps_its_order_and_drops_unused_levels() -> None:
    d = ipd()
    order = ["TNP", "TN", "PHN", "DPS", "AD", "never seen"]
    d["diagnosis"] = pd.Categorical(d["diagnosis"], categories=order)
    m = mixed.lmm(FORMULA, d)
    assert m.emmeans("diagnosis")["level"].tolist() == order[:-1]
    assert m.fixed_effects()["term"].iloc[1] == "diagnosis[T.TN]"
    assert m.aliased == ()


def test_predict_missing_predictor_gives_nan(fit: mixed.LmmResult) -> None:
    nd = ipd().head(3).copy()
    nd.loc[0, "age"] = np.nan
    nd.loc[1, "diagnosis"] = None
    p = fit.predict(nd)
    assert np.isnan(p[0]) and np.isnan(p[1]) and np.isfinite(p[2])
    with pytest.raises(ModelSpecError, match="XX"):
        fit.predict(nd.assign(diagnosis="XX"))


def test_two_studies_fit() -> None:
    d = ipd()
    m = mixed.lmm(FORMULA, d[d["study_id"].isin(["S00", "S01"])])
    assert m.ngroups == {"study_id": 2}
    assert np.all(np.isfinite(m.fixed_effects(ddf="kenward-roger")["df"]))


def test_marginal_means_rows_are_reused_only_where_they_are_the_same() -> None:
    """reference_rows keeps the rows it made (a model's refits ask for the same grid many
    times); a refit with another covariate mean or other levels gets rows of its own, and
    a formula with scale() (whose encoding learns from the data) is made each time."""
    from ipdmeta.mixed import _emmeans

    rng = np.random.default_rng(4)
    n = 60
    data = pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "arm": rng.choice(["a", "b", "c"], n),
            "age": rng.normal(50, 10, n),
            "g": rng.choice([f"s{i}" for i in range(8)], n),
        }
    )
    _emmeans._REFERENCE_ROWS.clear()
    first = mixed.lmm("y ~ arm + age + (1 | g)", data).emmeans("arm")
    assert len(_emmeans._REFERENCE_ROWS) == 1
    again = mixed.lmm("y ~ arm + age + (1 | g)", data).emmeans("arm")
    assert len(_emmeans._REFERENCE_ROWS) == 1
    pd.testing.assert_frame_equal(first, again)
    # Fewer rows: another mean age, so other rows (checked against a fresh cache).
    subset = data.iloc[5:]
    cached = mixed.lmm("y ~ arm + age + (1 | g)", subset).emmeans("arm")
    assert len(_emmeans._REFERENCE_ROWS) == 2
    _emmeans._REFERENCE_ROWS.clear()
    fresh = mixed.lmm("y ~ arm + age + (1 | g)", subset).emmeans("arm")
    pd.testing.assert_frame_equal(cached, fresh)
    # Without level "c": other levels, other rows.
    two = data[data["arm"] != "c"]
    assert list(mixed.lmm("y ~ arm + age + (1 | g)", two).emmeans("arm")["level"]) == ["a", "b"]
    assert len(_emmeans._REFERENCE_ROWS) == 2
    mixed.lmm("y ~ arm + scale(age) + (1 | g)", data).emmeans("arm")
    assert len(_emmeans._REFERENCE_ROWS) == 2  # not kept
