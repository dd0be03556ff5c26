"""Fits from per-study summaries (mixed.study_blocks, mixed.lmm_from_blocks) against the
same model fitted to the pooled rows.

Tolerance: at the same theta the two give the same numbers to ~1e-11 (tested below), so
what remains is where two independent searches stop in theta (~1e-8 relative). A
coefficient moves by a small fraction of its SE with that, not of its own value (which
can be near 0), so estimates are compared at rtol 1e-6 of max(|value|, SE); every other
number at rtol 1e-6 of its own size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ipdmeta import mixed
from ipdmeta.data.load import load_review
from ipdmeta.errors import ModelSpecError

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "reference" / "mixed" / "data"
RTOL = 1e-6


def _example() -> pd.DataFrame:
    return load_review(ROOT / "examples" / "imcs-cnop").patients


def _reference(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / f"{name}.csv")


CASES = {
    "example-primary": (_example, "relief_pct ~ diagnosis + (1 | study_id)"),
    "example-covariates": (_example,
                           "relief_pct ~ diagnosis + lesion_location + age + sex + (1 | study_id)"),
    "review-interaction": (lambda: _reference("ipd_review"),
                           "relief_pct ~ diagnosis * sex + log(age) + (1 | study_id)"),
    "correlated-slopes": (lambda: _reference("ipd_review"),
                          "relief_pct ~ diagnosis + sex + age + (1 + age | study_id)"),
    "uncorrelated-slopes": (lambda: _reference("ipd_review"),
                            "relief_pct ~ diagnosis + age + (1 + age || study_id)"),
    "factor-slopes": (lambda: _reference("ipd_review"),
                      "relief_pct ~ diagnosis + sex + (1 + sex | study_id)"),
    "boundary": (lambda: _reference("ipd_singular"),
                 "relief_pct ~ diagnosis + age + sex + (1 | study_id)"),
    "boundary-slope": (lambda: _reference("ipd_review"),
                       "relief_pct ~ diagnosis + (1 | study_id) + (0 + age | study_id)"),
}  # fmt: skip


@pytest.fixture(scope="module", params=list(CASES))
def pair(request: pytest.FixtureRequest) -> tuple[str, mixed.LmmResult, mixed.LmmResult]:
    load, formula = CASES[request.param]
    data = load()
    return (
        request.param,
        mixed.lmm(formula, data),
        mixed.lmm_from_blocks(mixed.study_blocks(formula, data)),
    )


def _close(a: object, b: object, scale: object = None) -> None:
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    size = np.abs(b) if scale is None else np.maximum(np.abs(b), np.asarray(scale, dtype=float))
    assert np.all(np.abs(a - b) <= RTOL * size + 1e-12), (a, b)


def test_the_same_theta_gives_the_same_solution(pair) -> None:
    _, rows, blocks = pair
    a, b = rows.model.solve(rows.theta), blocks.model.solve(rows.theta)
    np.testing.assert_allclose(b.beta, a.beta, rtol=1e-9, atol=1e-11)
    assert b.pwrss == pytest.approx(a.pwrss, rel=1e-11)
    assert b.ldL2 == pytest.approx(a.ldL2, rel=1e-11, abs=1e-11)
    assert b.ldRX2 == pytest.approx(a.ldRX2, rel=1e-11)


def test_fit(pair) -> None:
    _, rows, blocks = pair
    assert blocks.nobs == rows.nobs and blocks.n_dropped == rows.n_dropped
    assert blocks.ngroups == rows.ngroups
    assert list(blocks.coef.index) == list(rows.coef.index)
    table = rows.fixed_effects()
    _close(blocks.coef, rows.coef, scale=table["se"])
    _close(blocks.theta, rows.theta, scale=np.full(rows.theta.size, 1e-3))
    _close(blocks.sigma, rows.sigma)
    _close(blocks.reml_criterion, rows.reml_criterion)
    _close(blocks.variance_components["variance"], rows.variance_components["variance"],
           scale=np.full(len(rows.variance_components), 1e-3 * rows.sigma**2))  # fmt: skip
    assert blocks.is_singular is rows.is_singular


@pytest.mark.parametrize("ddf", ["satterthwaite", "kenward-roger"])
def test_fixed_effects_and_f_tests(pair, ddf: str) -> None:
    _, rows, blocks = pair
    a, b = rows.fixed_effects(ddf=ddf), blocks.fixed_effects(ddf=ddf)
    _close(b["se"], a["se"])
    _close(b["df"], a["df"])
    _close(b["pvalue"], a["pvalue"], scale=np.full(len(a), 1e-3))
    for kind in (1, 2, 3):
        fa, fb = rows.anova(kind, ddf=ddf), blocks.anova(kind, ddf=ddf)
        assert list(fb["term"]) == list(fa["term"])
        _close(fb["F"], fa["F"])
        _close(fb["den_df"], fa["den_df"])


def test_marginal_means_contrasts_and_random_effects(pair) -> None:
    _, rows, blocks = pair
    ea, eb = rows.emmeans("diagnosis"), blocks.emmeans("diagnosis")
    assert list(eb["level"]) == list(ea["level"])
    _close(eb["emmean"], ea["emmean"], scale=ea["se"])
    _close(eb["se"], ea["se"])
    _close(eb["df"], ea["df"])
    pa, pb = rows.pairwise("diagnosis", adjust="holm"), blocks.pairwise("diagnosis", adjust="holm")
    _close(pb["estimate"], pa["estimate"], scale=pa["se"])
    _close(pb["pvalue"], pa["pvalue"], scale=np.full(len(pa), 1e-3))
    ra, rb = rows.ranef(), blocks.ranef()
    assert list(rb["level"]) == list(ra["level"])
    _close(rb["estimate"], ra["estimate"], scale=np.maximum(ra["se"], 1e-3))
    _close(rb["se"], ra["se"], scale=np.full(len(ra), 1e-3 * rows.sigma))


def test_predictions_for_new_patients(pair) -> None:
    _, rows, blocks = pair
    new = rows.design.frame.iloc[:8]
    for include_random in (True, False):
        a = rows.predict(new, include_random=include_random)
        _close(blocks.predict(new, include_random=include_random), a,
               scale=np.full(a.size, 1e-3 * rows.sigma))  # fmt: skip


@pytest.mark.parametrize(
    ("formula", "weights"),
    [
        ("relief_pct ~ diagnosis + sex + offset(log(age)) + (1 | study_id)", None),
        ("relief_pct ~ diagnosis + age + (1 + age | study_id)", "w"),
        ("relief_pct ~ diagnosis + offset(age / 10) + (1 | study_id)", "w"),
    ],
)
def test_offsets_and_weights_from_blocks(formula: str, weights: str | None) -> None:
    data = _reference("ipd_review")
    data["w"] = np.linspace(0.5, 2.0, len(data))
    rows = mixed.lmm(formula, data, weights=weights)
    blocks = mixed.lmm_from_blocks(mixed.study_blocks(formula, data, weights=weights))
    table = rows.fixed_effects()
    _close(blocks.coef, rows.coef, scale=table["se"])
    _close(blocks.fixed_effects()["df"], table["df"])
    _close(blocks.loglik, rows.loglik)
    _close(blocks.variance_components["variance"], rows.variance_components["variance"],
           scale=np.full(len(rows.variance_components), 1e-3 * rows.sigma**2))  # fmt: skip
    ea, eb = rows.emmeans("diagnosis"), blocks.emmeans("diagnosis")
    _close(eb["emmean"], ea["emmean"], scale=ea["se"])
    new = rows.design.frame.iloc[:5]
    _close(blocks.predict(new, include_random=False), rows.predict(new, include_random=False),
           scale=np.full(5, 1e-3 * rows.sigma))  # fmt: skip


def test_ml_fit_and_likelihood_ratio_test() -> None:
    data = _reference("ipd_review")
    full, reduced = (
        "relief_pct ~ diagnosis + age + (1 + age | study_id)",
        "relief_pct ~ age + (1 + age | study_id)",
    )
    rows = mixed.lrt(mixed.lmm(reduced, data), mixed.lmm(full, data))
    blocks = mixed.lrt(
        mixed.lmm_from_blocks(mixed.study_blocks(reduced, data)),
        mixed.lmm_from_blocks(mixed.study_blocks(full, data)),
    )
    _close(blocks["loglik"], rows["loglik"])
    _close(blocks["chisq"].iloc[1], rows["chisq"].iloc[1])
    ml = mixed.lmm_from_blocks(mixed.study_blocks(full, data), reml=False)
    _close(ml.loglik, mixed.lmm(full, data, reml=False).loglik)


def test_profile_intervals_from_blocks() -> None:
    data = _example()
    formula = "relief_pct ~ diagnosis + (1 | study_id)"
    a = mixed.lmm(formula, data).confint("profile")
    b = mixed.lmm_from_blocks(mixed.study_blocks(formula, data)).confint("profile")
    _close(b["ci_lower"], a["ci_lower"], scale=np.full(len(a), 1e-2))
    _close(b["ci_upper"], a["ci_upper"], scale=np.full(len(a), 1e-2))


def test_sites_summarised_apart_combine_to_the_pooled_blocks() -> None:
    data = _example()
    formula = "relief_pct ~ diagnosis + age + (1 + age | study_id)"
    levels = mixed.study_blocks(formula, data).levels
    studies = sorted(data["study_id"].unique())
    sites = [data[data["study_id"].isin(studies[i::4])] for i in range(4)]
    parts = [mixed.study_blocks(formula, site, levels=levels) for site in sites]
    combined = parts[0].combine(*parts[1:])
    pooled = mixed.study_blocks(formula, data)
    order = [combined.studies.index(s) for s in pooled.studies]
    np.testing.assert_allclose(combined.gram[order], pooled.gram, rtol=1e-13, atol=1e-9)
    assert list(combined.n[order]) == list(pooled.n)
    fit = mixed.lmm_from_blocks(combined)
    _close(fit.coef, mixed.lmm(formula, data).coef, scale=fit.fixed_effects()["se"])


def test_the_work_of_a_fit_does_not_grow_with_patients() -> None:
    rng = np.random.default_rng(5)
    study = np.repeat([f"S{i:02d}" for i in range(30)], 400)
    x = rng.normal(size=study.size)
    y = 2 + x + np.repeat(rng.normal(size=30), 400) + rng.normal(size=study.size)
    data = pd.DataFrame({"study": study, "x": x, "y": y})
    blocks = mixed.study_blocks("y ~ x + (1 + x | study)", data)
    fit = mixed.lmm_from_blocks(blocks)
    # Each study becomes at most K + p + 1 = 5 rows, whatever its 400 patients.
    assert blocks.gram.shape == (30, 5, 5)
    assert fit.design.y.size <= 30 * 5 and fit.nobs == 12_000
    _close(fit.coef, mixed.lmm("y ~ x + (1 + x | study)", data).coef,
           scale=fit.fixed_effects()["se"])  # fmt: skip


def test_what_needs_rows_is_refused_by_name() -> None:
    data = _example()
    fit = mixed.lmm_from_blocks(mixed.study_blocks("relief_pct ~ diagnosis + (1 | study_id)", data))
    for call, what in ((fit.fitted, "fitted values"), (fit.residuals, "residuals"),
                       (lambda: fit.bootstrap(5), "parametric bootstrap")):  # fmt: skip
        with pytest.raises(ModelSpecError, match=f"per-study summaries.*{what}"):
            call()


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("relief_pct ~ diagnosis + (1 | study_id) + (1 | sex)", "grouped by one factor"),
        ("relief_pct ~ diagnosis + (1 | study_id/sex)", "grouped by one factor"),
        ("relief_pct ~ poly(age, 2) + (1 | study_id)", r"poly\(\), scale\(\) and center\(\)"),
        ("relief_pct ~ scale(age) + (1 | study_id)", "write the transformation out"),
        ("relief_pct ~ diagnosis + (1 | nowhere)", "unknown variable 'nowhere'"),
    ],
)
def test_formulas_a_blocks_fit_cannot_take(formula: str, message: str) -> None:
    with pytest.raises(ModelSpecError, match=message):
        mixed.study_blocks(formula, _example())


def test_summaries_that_do_not_belong_together_are_refused() -> None:
    data = _example()
    formula = "relief_pct ~ diagnosis + (1 | study_id)"
    one = mixed.study_blocks(formula, data[data["study_id"] <= "S05"])
    with pytest.raises(ModelSpecError, match="in more than one summary"):
        one.combine(one)
    other = mixed.study_blocks("relief_pct ~ sex + (1 | study_id)", data[data["study_id"] > "S05"])
    with pytest.raises(ModelSpecError, match="do not describe the same model"):
        one.combine(other)
    with pytest.raises(ModelSpecError, match="not among the levels"):
        mixed.study_blocks(formula, data, levels={"diagnosis": ("TN", "AD")})
    single = mixed.study_blocks(formula, data[data["study_id"] == "S01"])
    with pytest.raises(ModelSpecError, match="at least two studies"):
        mixed.lmm_from_blocks(single)
    with pytest.raises(ModelSpecError, match="takes the StudyBlocks"):
        mixed.lmm_from_blocks(data)  # type: ignore[arg-type]


def test_numbered_studies_keep_the_order_of_a_fit_to_rows() -> None:
    data = _example()
    data["study_num"] = data["study_id"].str[1:].astype(int)  # 1, 2, ..., 23: not "1", "10"
    formula = "relief_pct ~ diagnosis + (1 | study_num)"
    rows = mixed.lmm(formula, data)
    levels = mixed.study_blocks(formula, data).levels
    even = data["study_num"] % 2 == 0
    halves = [mixed.study_blocks(formula, half, levels=levels)
              for half in (data[even], data[~even])]  # fmt: skip
    blocks = mixed.lmm_from_blocks(halves[0].combine(halves[1]))
    assert list(blocks.ranef()["level"]) == list(rows.ranef()["level"])
    _close(blocks.ranef()["estimate"], rows.ranef()["estimate"],
           scale=np.maximum(rows.ranef()["se"], 1e-3))  # fmt: skip
