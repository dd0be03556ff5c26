"""offset(...) in lmm and glmm formulas: what it changes, what it leaves alone, and every
way of writing one wrongly. Agreement with lme4 is in the ipd-offset and
sleepstudy-offset-slopes reference cases and glmm's counts-offset-in-formula."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipdmeta import mixed
from ipdmeta.errors import ModelSpecError


@pytest.fixture(scope="module")
def trial() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n_studies, per = 12, 15
    study = np.repeat([f"S{i:02d}" for i in range(n_studies)], per)
    baseline = rng.normal(60, 10, study.size)
    arm = rng.choice(["control", "stimulation"], study.size)
    effect = np.repeat(rng.normal(0, 4, n_studies), per)
    post = baseline - 12 * (arm == "stimulation") + effect + rng.normal(0, 6, study.size)
    return pd.DataFrame({"study": study, "arm": arm, "baseline": baseline, "post": post})


def test_an_offset_is_the_model_of_the_response_less_the_offset(trial: pd.DataFrame) -> None:
    with_offset = mixed.lmm("post ~ arm + offset(baseline) + (1 | study)", trial)
    change = trial.assign(change=trial["post"] - trial["baseline"])
    of_change = mixed.lmm("change ~ arm + (1 | study)", change)
    np.testing.assert_allclose(with_offset.coef, of_change.coef, rtol=1e-10)
    np.testing.assert_allclose(with_offset.theta, of_change.theta, rtol=1e-8)
    assert with_offset.sigma == pytest.approx(of_change.sigma, rel=1e-10)
    # Fitted values are on the scale of the outcome written, offset included.
    np.testing.assert_allclose(
        with_offset.fitted(), of_change.fitted() + trial["baseline"], rtol=1e-10
    )
    np.testing.assert_allclose(with_offset.residuals(), of_change.residuals(), atol=1e-8)
    np.testing.assert_allclose(
        with_offset.predict(trial.iloc[:5]), with_offset.fitted()[:5], rtol=1e-12
    )
    # Marginal means add the mean offset; contrasts do not see it.
    shift = trial["baseline"].mean()
    np.testing.assert_allclose(
        with_offset.emmeans("arm")["emmean"], of_change.emmeans("arm")["emmean"] + shift
    )
    np.testing.assert_allclose(
        with_offset.pairwise("arm")["estimate"], of_change.pairwise("arm")["estimate"]
    )


def test_offsets_add_up_and_may_be_functions(trial: pd.DataFrame) -> None:
    two = mixed.lmm("post ~ arm + offset(baseline) + offset(log(baseline)) + (1 | study)", trial)
    one = mixed.lmm("post ~ arm + offset(baseline + log(baseline)) + (1 | study)", trial)
    np.testing.assert_allclose(two.coef, one.coef, rtol=1e-12)
    half = mixed.lmm("post ~ arm + offset(baseline^2 / 100) + (1 | study)", trial)
    direct = trial.assign(y=trial["post"] - trial["baseline"] ** 2 / 100)
    np.testing.assert_allclose(
        half.coef, mixed.lmm("y ~ arm + (1 | study)", direct).coef, rtol=1e-10
    )


def test_missing_offset_values_drop_rows_and_new_data_predict_nan(trial: pd.DataFrame) -> None:
    holes = trial.copy()
    holes.loc[[3, 40], "baseline"] = np.nan
    m = mixed.lmm("post ~ arm + offset(baseline) + (1 | study)", holes)
    assert m.nobs == len(trial) - 2 and m.design.n_dropped == 2
    predicted = m.predict(holes.iloc[:5])
    assert np.isnan(predicted[3]) and np.isfinite(predicted[[0, 1, 2, 4]]).all()
    with pytest.raises(ModelSpecError, match=r"newdata lacks the column.*baseline"):
        m.predict(trial.drop(columns="baseline"))


def test_bootstrap_and_slopes_with_an_offset(trial: pd.DataFrame) -> None:
    m = mixed.lmm("post ~ arm + offset(baseline) + (1 | study)", trial)
    boot = m.bootstrap(40, seed=3).replicates
    # The refits are of the same model: their coefficients scatter around the fit's.
    assert abs(boot.iloc[:, 1].mean() - m.coef.iloc[1]) < 4 * m.fixed_effects()["se"].iloc[1]
    slopes = mixed.lmm("post ~ arm + offset(baseline) + (1 + baseline | study)", trial)
    assert np.isfinite(slopes.coef).all()


def test_glmm_formula_offset_adds_to_the_argument() -> None:
    rng = np.random.default_rng(2)
    site = np.repeat([f"s{i}" for i in range(15)], 10)
    years = rng.uniform(0.5, 4, site.size)
    events = rng.poisson(0.8 * years * np.exp(np.repeat(rng.normal(0, 0.3, 15), 10)))
    data = pd.DataFrame({"site": site, "years": years, "events": events})
    in_formula = mixed.glmm("events ~ 1 + offset(log(years)) + (1 | site)", data, family="poisson")
    as_argument = mixed.glmm(
        "events ~ 1 + (1 | site)", data, family="poisson", offset=np.log(years)
    )
    np.testing.assert_allclose(in_formula.coef, as_argument.coef, rtol=1e-8)
    both = mixed.glmm(
        "events ~ 1 + offset(log(years)) + (1 | site)", data, family="poisson",
        offset=np.full(site.size, np.log(2.0)),
    )  # fmt: skip
    assert both.coef.iloc[0] == pytest.approx(in_formula.coef.iloc[0] - np.log(2.0), abs=1e-6)
    new = data.iloc[:3].assign(years=[1.0, 2.0, 4.0])
    rates = in_formula.predict(new, include_random=False)
    np.testing.assert_allclose(rates / rates[0], [1.0, 2.0, 4.0], rtol=1e-10)


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("post ~ arm * offset(baseline) + (1 | study)", "is a term of its own"),
        ("post ~ arm + offset(poly(baseline, 2)) + (1 | study)", "uses poly"),
        ("post ~ arm + offset(scale(baseline)) + (1 | study)", "uses scale"),
        ("post ~ arm + offset(baseline, 2) + (1 | study)", "takes one argument"),
        ("post ~ arm + offset(arm) + (1 | study)", "'arm' is read inside offset"),
        ("post ~ arm + offset(log(baseline - 60)) + (1 | study)",
         r"offset\(log\(baseline - 60\)\) is not a finite number in \d+ rows"),
        ("post ~ arm + offset(frobnicate(baseline)) + (1 | study)", "calls frobnicate"),
        ("post ~ arm + offset() + (1 | study)", "names no variable"),
        ("post ~ arm + offset(weight) + (1 | study)", "unknown variable 'weight'"),
    ],
)  # fmt: skip
def test_offsets_written_wrongly_are_named(trial: pd.DataFrame, formula: str, message: str) -> None:
    with pytest.raises(ModelSpecError, match=message):
        mixed.lmm(formula, trial)
