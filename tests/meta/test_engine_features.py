"""Meta-regression, subgroups, diagnostics, bias, permutation, effect sizes and plots."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ipdmeta import errors as meta_errors
from ipdmeta import meta
from tests.published_data import BCG_ABLAT, BCG_VI, BCG_YI

RTOL_SELF = 1e-8  # engine against itself (see test_engine_core)

DATA = pd.DataFrame(
    {
        "yi": [-0.89, -1.59, -1.35, -1.44, -0.22, -0.79, -1.62, 0.01, -0.47, -1.37, -0.34, 0.45],
        "vi": [0.33, 0.19, 0.42, 0.02, 0.05, 0.007, 0.22, 0.004, 0.06, 0.07, 0.012, 0.53],
        "lat": [44.0, 55, 42, 52, 13, 44, 19, 13, 27, 42, 18, 33],
        "alloc": ["r", "r", "r", "r", "a", "a", "r", "r", "s", "s", "s", "s"],
    }
)


def test_meta_regression_formula_equals_dataframe() -> None:
    a = meta.meta_regression("yi", "vi", "~ lat + alloc", data=DATA)
    b = meta.meta_regression(DATA.yi, DATA.vi, DATA[["lat", "alloc"]])
    assert list(a.coefficients.index) == ["Intercept", "lat", "alloc[T.r]", "alloc[T.s]"]
    np.testing.assert_allclose(a.coefficients.to_numpy(), b.coefficients.to_numpy(), rtol=1e-12)
    assert a.QM_df == 3 and a.tested == ("lat", "alloc[T.r]", "alloc[T.s]")
    assert 0 <= a.R2 <= 100
    frame = a.to_frame()
    assert list(frame.columns) == [
        "estimate",
        "se",
        "statistic",
        "df",
        "pvalue",
        "ci_lower",
        "ci_upper",
    ]
    assert "Test of moderators" in a.summary()


def test_meta_regression_knha_gives_f_test_and_t_df() -> None:
    r = meta.meta_regression("yi", "vi", "~ lat", data=DATA, test="knha")
    assert r.QM_df == 1 and r.QM_df2 == DATA.shape[0] - 2
    assert (r.coefficients["df"] == DATA.shape[0] - 2).all()
    # with one moderator the F statistic is the square of its t statistic
    assert pytest.approx(r.coefficients.loc["lat", "statistic"] ** 2, rel=RTOL_SELF) == r.QM


def test_meta_regression_intercept_only_matches_random_effects() -> None:
    r = meta.meta_regression(DATA.yi, DATA.vi, np.ones((12, 1)), intercept=False)
    s = meta.random_effects(DATA.yi, DATA.vi)
    assert r.coefficients["estimate"].iloc[0] == pytest.approx(s.estimate, rel=RTOL_SELF)
    assert r.tau2 == pytest.approx(s.tau2, rel=RTOL_SELF)
    assert math.isnan(r.R2)


def test_meta_regression_predict_and_btt() -> None:
    r = meta.meta_regression("yi", "vi", "~ lat + alloc", data=DATA, btt=["lat"])
    assert r.tested == ("lat",)
    assert pytest.approx(r.coefficients.loc["lat", "statistic"] ** 2, rel=RTOL_SELF) == r.QM
    pred = r.predict()
    assert pred.shape == (12, 6)
    assert (pred["pi_lower"] <= pred["ci_lower"]).all()
    one = r.predict([[1.0, 30.0, 0.0, 0.0]])
    assert one.shape[0] == 1


def test_meta_regression_fe_r2_is_adjusted_r2() -> None:
    r = meta.meta_regression("yi", "vi", "~ lat", data=DATA, method="FE")
    assert 0 <= r.R2 <= 100
    assert r.tau2 == 0


@pytest.mark.parametrize("common", [False, True])
def test_subgroups(common: bool) -> None:
    sg = meta.subgroups(DATA.yi, DATA.vi, DATA.alloc, common_tau2=common)
    frame = sg.to_frame()
    assert list(frame["group"]) == ["a", "r", "s"]
    assert sg.Q_between_df == 2
    assert 0 <= sg.Q_between_pvalue <= 1
    for g in sg.groups:
        keep = DATA.alloc == g
        sub = meta.random_effects(DATA.yi[keep], DATA.vi[keep])
        assert sg.results[g].estimate == pytest.approx(sub.estimate, rel=RTOL_SELF)
    if common:
        assert sg.tau2 == sg.common.tau2
        assert sg.Q_between == sg.common.QM
    else:
        assert math.isnan(sg.tau2)
        est = frame["estimate"].to_numpy()
        w = 1 / frame["se"].to_numpy() ** 2
        q = np.sum(w * (est - np.sum(w * est) / np.sum(w)) ** 2)
        assert sg.Q_between == pytest.approx(q, rel=RTOL_SELF)
    assert "Test for subgroup differences" in sg.summary()


def test_subgroup_with_one_study_is_fitted_with_tau2_zero() -> None:
    groups = ["a"] + ["b"] * 11
    sg = meta.subgroups(DATA.yi, DATA.vi, groups)
    assert sg.results["a"].k == 1
    assert sg.results["a"].tau2 == 0.0
    assert sg.results["a"].estimate == pytest.approx(DATA.yi[0])


def test_leave_one_out_refits_without_each_study() -> None:
    res = meta.random_effects(DATA.yi, DATA.vi, method="PM", test="knha")
    l1o = meta.leave_one_out(res)
    table = l1o.to_frame()
    assert table.shape[0] == 12
    for i in (0, 5, 11):
        keep = np.arange(12) != i
        sub = meta.random_effects(DATA.yi[keep], DATA.vi[keep], method="PM", test="knha")
        assert table["estimate"][i] == pytest.approx(sub.estimate, rel=RTOL_SELF)
        assert table["tau2"][i] == pytest.approx(sub.tau2, rel=RTOL_SELF, abs=1e-14)
    assert l1o.estimate.shape == (12,)
    assert "Leave-one-out" in l1o.summary()


def test_leave_one_out_with_two_studies_fits_the_single_one() -> None:
    res = meta.random_effects(DATA.yi[:2], DATA.vi[:2])
    table = meta.leave_one_out(res).to_frame()
    assert table["estimate"].tolist() == pytest.approx([DATA.yi[1], DATA.yi[0]])
    assert table["tau2"].tolist() == [0.0, 0.0]


def test_influence_diagnostics() -> None:
    res = meta.random_effects(DATA.yi, DATA.vi)
    inf = meta.influence(res)
    t = inf.to_frame()
    assert t["hat"].sum() == pytest.approx(1.0)
    assert t["weight"].sum() == pytest.approx(100.0)
    # Cook's distance of the intercept-only model is dfbetas^2 scaled by variance ratios
    assert (t["cooks_distance"] >= 0).all()
    assert t["influential"].dtype == bool
    l1o = meta.leave_one_out(res).to_frame()
    np.testing.assert_allclose(t["tau2_deleted"], l1o["tau2"], rtol=1e-12)
    np.testing.assert_allclose(t["QE_deleted"], l1o["Q"], rtol=1e-12)
    assert "Influence diagnostics" in inf.summary()


def test_egger_test_models() -> None:
    res = meta.random_effects(DATA.yi, DATA.vi)
    rma = meta.egger_test(res)
    lm = meta.egger_test(res, model="lm")
    assert rma.model == "rma" and lm.model == "lm"
    assert math.isnan(rma.df) and lm.df == 10
    assert 0 <= rma.pvalue <= 1 and 0 <= lm.pvalue <= 1
    assert rma.limit_ci_lower < rma.limit_estimate < rma.limit_ci_upper
    # the slope of the lm model is a weighted least-squares slope of yi on sqrt(vi)
    sei = np.sqrt(DATA.vi.to_numpy())
    w = 1 / DATA.vi.to_numpy()
    X = np.column_stack([np.ones(12), sei])
    coef = np.linalg.solve(X.T @ (X * w[:, None]), X.T @ (w * DATA.yi.to_numpy()))
    assert lm.slope == pytest.approx(coef[1], rel=RTOL_SELF)
    assert "funnel plot asymmetry" in rma.summary()
    assert rma.to_frame().shape[0] == 1


def test_trim_and_fill() -> None:
    res = meta.random_effects(DATA.yi, DATA.vi)
    tf = meta.trim_and_fill(res)
    assert tf.k0 == len(tf.filled_yi) == len(tf.filled_vi)
    assert tf.k == res.k + tf.k0
    assert tf.filled is tf.result
    assert tf.side in ("left", "right")
    r0 = meta.trim_and_fill(res, estimator="R0", side="left")
    assert r0.estimator == "R0" and r0.side == "left"
    assert "Trim-and-fill" in tf.summary()
    assert "k0" in tf.to_frame().columns


def test_trim_and_fill_symmetric_data_imputes_nothing() -> None:
    # metafor 3.8: trimfill(rma(yi, vi)) gives k0 = 0, side "left"
    yi = np.array([-0.35, -0.1, 0.0, 0.12, 0.3, 0.5])
    vi = np.array([0.05, 0.02, 0.01, 0.02, 0.05, 0.03])
    res = meta.random_effects(yi, vi)
    tf = meta.trim_and_fill(res)
    assert tf.k0 == 0
    assert tf.result is res


def test_permutation_test_exact_and_approximate() -> None:
    res = meta.random_effects(DATA.yi[:6], DATA.vi[:6])
    exact = meta.permutation_test(res, n=100)
    assert exact.exact and exact.n_permutations == 64
    # every sign pattern and its mirror image give the same |z|: p is a multiple of 2/64
    assert (exact.pvalue[0] * 32) == pytest.approx(round(exact.pvalue[0] * 32))
    full = meta.random_effects(DATA.yi, DATA.vi)
    a = meta.permutation_test(full, n=200, seed=5)
    b = meta.permutation_test(full, n=200, seed=5)
    assert not a.exact and a.n_permutations == 200
    assert a.pvalue[0] == b.pvalue[0] and a.pvalue[0] >= 1 / 200
    assert "Permutation test" in a.summary()
    assert a.to_frame().shape == (1, 2)


def test_permutation_test_meta_regression() -> None:
    r = meta.meta_regression("yi", "vi", "~ lat", data=DATA.iloc[:5])
    out = meta.permutation_test(r, n=1000)
    assert out.exact and out.n_permutations == 120
    assert out.pvalue.shape == (2,)
    assert 0 < out.QM_pvalue <= 1


def test_escalc_measures() -> None:
    es = meta.escalc("PLO", xi=[0, 5, 10], ni=[10, 10, 10])
    # escalc adds 1/2 to both cells of a study with a zero cell
    assert es.yi[0] == pytest.approx(math.log(0.5 / 10.5))
    assert es.vi[0] == pytest.approx(1 / 0.5 + 1 / 10.5)
    assert es.yi[1] == pytest.approx(0.0)
    pr = meta.escalc("PR", xi=[3, 5], ni=[10, 10])
    assert pr.yi.tolist() == pytest.approx([0.3, 0.5])
    assert pr.vi.tolist() == pytest.approx([0.021, 0.025])
    pft = meta.escalc("PFT", xi=[0, 3, 10], ni=[10, 10, 10])
    assert pft.vi.tolist() == pytest.approx([1 / 42] * 3)
    assert pft.yi_back.tolist() == pytest.approx([0.0, 0.3, 1.0], abs=1e-12)
    mn = meta.escalc("MN", mi=[50.0, 60.0], sdi=[10.0, 20.0], ni=[4, 16])
    assert mn.vi.tolist() == pytest.approx([25.0, 25.0])
    assert set(mn.to_frame().columns) == {"yi", "vi", "ni", "yi_back"}
    back = meta.back_transform("PLO", [0.0])
    assert back.tolist() == pytest.approx([0.5])


def test_escalc_back_transform_of_pooled_result() -> None:
    es = meta.escalc("PFT", xi=[2, 5, 9, 1], ni=[20, 25, 30, 15])
    res = meta.random_effects(es.yi, es.vi)
    back = es.back_transform_result(res)
    assert 0 < back["ci_lower"] < back["estimate"] < back["ci_upper"] < 1


def test_study_summaries_of_ipd() -> None:
    ipd = pd.DataFrame(
        {
            "study": ["A", "A", "A", "B", "C", "C", "D", "D", "D"],
            "relief": [50.0, 70.0, 90.0, 80.0, 40.0, 40.0, 20.0, np.nan, 60.0],
        }
    )
    s = meta.study_summaries(ipd)
    assert s.studies == ("A", "D")
    assert s.yi.tolist() == pytest.approx([70.0, 40.0])
    assert s.vi.tolist() == pytest.approx([400.0 / 3, 800.0 / 2])
    reasons = dict(zip(s.excluded["study"], s.excluded["reason"], strict=True))
    assert set(reasons) == {"B", "C"}
    assert "one patient" in reasons["B"]
    assert "same outcome" in reasons["C"]
    frame = s.to_frame()
    assert frame["included"].tolist().count(False) == 2
    assert "excluded" in s.summary()
    res = s.random_effects(method="DL")
    assert res.k == 2 and res.labels == ("A", "D")


def test_plots_return_axes() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = meta.random_effects(DATA.yi, DATA.vi)
    ax = res.forest_plot()
    assert ax is not None
    _, ax2 = plt.subplots()
    assert res.forest_plot(ax=ax2, labels=[f"s{i}" for i in range(12)]) is ax2
    assert meta.funnel_plot(res, ax=ax2) is ax2
    assert res.funnel_plot() is not None
    plt.close("all")


def test_meta_regression_heterogeneity_ci_matches_metafor_confint() -> None:
    # BCG trials (log risk ratios, the 13 studies of metafor's dat.bcg) with absolute
    # latitude; metafor 3.8: confint(rma(yi, vi, mods = ~ ablat, method = "DL"),
    # level = 90, control = list(tol = 1e-12)) gives tau^2 in [0.0268851264014,
    # 0.614975304059] and I^2 in [43.2436190227140, 94.573538712852].
    yi, vi = BCG_YI, BCG_VI
    ablat = pd.DataFrame({"ablat": BCG_ABLAT})
    r = meta.meta_regression(yi, vi, ablat, method="DL")
    ci = r.heterogeneity_ci(0.9)
    assert ci.tau2_lower == pytest.approx(0.0268851264014, rel=1e-6)
    assert ci.tau2_upper == pytest.approx(0.614975304059, rel=1e-6)
    assert ci.I2_lower == pytest.approx(43.2436190227140, rel=1e-6)
    assert ci.I2_upper == pytest.approx(94.573538712852, rel=1e-6)
    fixed = meta.meta_regression(yi, vi, ablat, tau2=0.05)
    with pytest.raises(meta_errors.EstimationError, match="fixed"):
        fixed.heterogeneity_ci()


def test_contour_enhanced_funnel_shades_each_significance_region() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = meta.random_effects(DATA.yi, DATA.vi)
    ax = res.funnel_plot(contours=(0.99, 0.90, 0.95), refline=0.0)  # any order
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [
        "p \u2265 0.1",
        "0.05 \u2264 p < 0.1",
        "0.01 \u2264 p < 0.05",
        "p < 0.01",
    ]
    # The background and one wedge per level; the innermost wedge (p >= 0.10) is white
    # and spans refline +- 1.645 SE at the bottom of the funnel.
    fills = ax.collections[:4]  # drawn first, before the studies' points
    inner = fills[3].get_paths()[0].vertices
    se_max = float(np.sqrt(DATA.vi).max()) * 1.05
    assert np.isclose(inner[:, 0].max(), 1.6448536 * se_max, rtol=1e-6)
    assert tuple(fills[3].get_facecolor()[0][:3]) == (1.0, 1.0, 1.0)
    lo, hi = ax.get_xlim()
    assert lo <= min(DATA.yi) and hi >= max(DATA.yi)
    with pytest.raises(meta_errors.ModelSpecError, match="between 0 and 1"):
        res.funnel_plot(contours=(95,))
    plt.close("all")


def test_moderator_values_give_the_matrix_formulaic_gives() -> None:
    """Numeric moderators, or one text or categorical one, are coded without formulaic
    (whose import was 0.15 s of a run): column for column, name for name, the matrix
    formulaic makes, with and without the intercept, unused categories kept."""
    import formulaic

    from ipdmeta.meta.regression import _simple_design, design_matrix

    rng = np.random.default_rng(0)
    k = 9
    frames = [
        pd.DataFrame({"x": rng.normal(size=k), "year": rng.integers(1990, 2020, k)}),
        pd.DataFrame({"flag": rng.choice([True, False], k), "x": rng.normal(size=k)}),
        pd.DataFrame({"g": rng.choice(["b", "a", "C", "d e"], k)}),
        pd.DataFrame(
            {"group": pd.Categorical(rng.choice(["TN", "AD"], k), categories=["TN", "AD", "x"])}
        ),
    ]
    for frame in frames:
        for intercept in (True, False):
            terms = " + ".join(f"`{c}`" for c in frame.columns)
            made = formulaic.model_matrix(
                f"~ {terms}" if intercept else f"~ 0 + {terms}", frame, na_action="raise"
            )
            expected = pd.DataFrame(
                np.asarray(made, dtype=float), columns=[str(c) for c in made.columns]
            )
            assert _simple_design(frame, intercept) is not None
            pd.testing.assert_frame_equal(design_matrix(frame, None, k, intercept), expected)
    # Two text moderators, or names formulaic would quote: formulaic builds them.
    assert _simple_design(pd.DataFrame({"a": ["x", "y"], "b": ["u", "v"]}), True) is None
    assert _simple_design(pd.DataFrame({"my var": [1.0, 2.0]}), True) is None
    with pytest.raises(meta_errors.DataError, match="infinite"):
        design_matrix(pd.DataFrame({"x": [1.0, np.inf, 2.0]}), None, 3)
