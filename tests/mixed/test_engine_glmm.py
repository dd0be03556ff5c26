"""mixed.glmm as a user meets it: the inputs people pass, what it refuses and how, and the
properties a fit must have whatever R says."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, special

from ipdmeta import mixed
from ipdmeta.errors import ModelSpecError


def _responders(seed: int = 5, sd_study: float = 0.8, studies: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(3, 10, studies)
    study = np.repeat([f"S{i:02d}" for i in range(studies)], sizes)
    n = study.size
    diagnosis = rng.choice(["DPS", "TN", "PHN"], n)
    age = rng.normal(58, 10, n).round()
    effect = pd.Series(diagnosis).map({"DPS": -0.5, "TN": 1.0, "PHN": 0.0}).to_numpy()
    study_effect = rng.normal(0, sd_study, studies)[np.unique(study, return_inverse=True)[1]]
    y = rng.random(n) < special.expit(0.3 + effect + study_effect)
    return pd.DataFrame({"responder": y, "diagnosis": diagnosis, "age": age, "study_id": study})


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return _responders()


@pytest.fixture(scope="module")
def fit(data: pd.DataFrame) -> mixed.GlmmResult:
    return mixed.glmm("responder ~ diagnosis + age + (1 | study_id)", data)


def test_a_boolean_outcome_is_read_as_0_and_1(data: pd.DataFrame, fit: mixed.GlmmResult) -> None:
    as_numbers = data.assign(responder=data["responder"].astype(int))
    other = mixed.glmm("responder ~ diagnosis + age + (1 | study_id)", as_numbers)
    np.testing.assert_allclose(other.coef, fit.coef, rtol=1e-10)


def test_rows_missing_a_variable_are_dropped(data: pd.DataFrame, fit: mixed.GlmmResult) -> None:
    holed = data.astype({"age": float}).copy()
    holed.loc[[0, 5], "age"] = np.nan
    m = mixed.glmm("responder ~ diagnosis + age + (1 | study_id)", holed)
    assert m.nobs == fit.nobs - 2


def test_trials_and_offset_by_column_name_or_values() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {"site": np.repeat([f"s{i}" for i in range(12)], 4), "x": rng.normal(size=48),
         "n": rng.integers(5, 20, 48), "years": rng.uniform(0.5, 3, 48)}
    )  # fmt: skip
    frame["k"] = rng.binomial(frame["n"], 0.3)
    by_name = mixed.glmm("k ~ x + (1 | site)", frame, trials="n")
    by_values = mixed.glmm("k ~ x + (1 | site)", frame, trials=frame["n"].to_numpy())
    np.testing.assert_allclose(by_name.coef, by_values.coef, rtol=1e-10)
    holed = frame.astype({"n": float})
    holed.loc[3, "n"] = np.nan  # a row without its trials is dropped, as a missing predictor
    assert mixed.glmm("k ~ x + (1 | site)", holed, trials="n").nobs == 47
    with pytest.raises(ModelSpecError, match="trials must be numbers"):
        mixed.glmm("k ~ x + (1 | site)", frame.assign(n="many"), trials="n")
    frame["events"] = rng.poisson(frame["years"] * 0.8)
    frame["log_years"] = np.log(frame["years"])
    rates = mixed.glmm("events ~ x + (1 | site)", frame, family="poisson", offset="log_years")
    same = mixed.glmm(
        "events ~ x + (1 | site)", frame, family="poisson", offset=np.log(frame["years"])
    )
    np.testing.assert_allclose(rates.coef, same.coef, rtol=1e-10)
    # The offset is an exposure: a rate per year near 0.8 once it is accounted for
    assert abs(np.exp(rates.coef["Intercept"]) - 0.8) < 0.3


def test_without_a_study_effect_the_fit_is_singular_and_is_the_plain_logistic_fit() -> None:
    data = _responders(seed=3, sd_study=0.0, studies=30)
    m = mixed.glmm("responder ~ diagnosis + (1 | study_id)", data)
    if not m.is_singular:
        pytest.skip("this sample happens to show between-study variation")
    assert m.theta == 0.0 and m.variance_components["variance"].iloc[0] == 0.0
    X = m.design.X
    y = m.problem.y

    def minus_loglik(beta: np.ndarray) -> float:
        eta = X @ beta
        return float(-np.sum(y * eta - np.logaddexp(0.0, eta)))

    glm = optimize.minimize(minus_loglik, np.zeros(X.shape[1]), method="BFGS", tol=1e-12)
    np.testing.assert_allclose(m.coef, glm.x, atol=1e-5)
    assert "boundary (singular) fit" in m.summary()


def test_the_wald_test_of_a_one_column_term_is_its_z_squared(fit: mixed.GlmmResult) -> None:
    table = fit.anova().set_index("term")
    z = fit.fixed_effects().set_index("term")["z"]
    assert table.loc["age", "df"] == 1
    np.testing.assert_allclose(table.loc["age", "chisq"], z["age"] ** 2, rtol=1e-12)
    assert table.loc["diagnosis", "df"] == 2


def test_marginal_probabilities_and_odds_ratios_hang_together(fit: mixed.GlmmResult) -> None:
    emm = fit.emmeans("diagnosis").set_index("level")
    pairs = fit.pairwise("diagnosis", adjust="none").set_index("contrast")
    odds = emm["estimate"] / (1 - emm["estimate"])
    np.testing.assert_allclose(pairs.loc["DPS / TN", "ratio"], odds["DPS"] / odds["TN"], rtol=1e-10)
    assert ((emm["ci_lower"] < emm["estimate"]) & (emm["estimate"] < emm["ci_upper"])).all()
    holm = fit.pairwise("diagnosis", adjust="holm")["pvalue"]
    assert (holm.to_numpy() >= pairs["pvalue"].to_numpy() - 1e-15).all()


def test_predictions_for_new_patients(fit: mixed.GlmmResult, data: pd.DataFrame) -> None:
    new = pd.DataFrame(
        {"diagnosis": ["TN", "TN"], "age": [60.0, 60.0], "study_id": ["S00", "unseen"]}
    )
    with_study = fit.predict(new, type="link")
    without = fit.predict(new, type="link", include_random=False)
    b = fit.ranef().set_index("level")["estimate"]
    np.testing.assert_allclose(with_study[0] - without[0], b["S00"], rtol=1e-12)
    assert with_study[1] == without[1]  # an unseen study gets no random effect
    np.testing.assert_allclose(fit.predict(new), special.expit(with_study), rtol=1e-12)
    np.testing.assert_allclose(fit.fitted(), fit.predict(data), rtol=1e-12)


def test_separation_is_reported_in_words() -> None:
    data = _responders(seed=9)
    data.loc[data["diagnosis"] == "TN", "responder"] = True
    m = mixed.glmm("responder ~ diagnosis + (1 | study_id)", data)
    assert any("separation: all of the" in n and "diagnosis = TN" in n for n in m.notes)
    assert "separation" in m.summary() and "separation" in m._repr_html_()


def test_shows_itself(fit: mixed.GlmmResult) -> None:
    text = str(fit.summary())
    assert text.startswith("Generalized linear mixed model fit by maximum likelihood (Laplace")
    assert "Family: binomial (logit)" in text and "diagnosis[T.TN]" in text
    html = fit._repr_html_()
    assert html.startswith('<div class="ipdmeta-result">') and html.count("<table") == 2
    assert repr(fit).startswith("<GlmmResult: Generalized linear mixed model (binomial")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"family": "gamma"}, "family must be one of binomial, poisson"),
        ({"nagq": 0}, "nagq must be a whole number from 1 to 25"),
        ({"nagq": 26}, "nagq must be a whole number from 1 to 25"),
        ({"nagq": 1.5}, "nagq must be a whole number"),
        ({"nagq": True}, "nagq must be a whole number"),
        ({"family": "poisson", "trials": "age"}, "trials are for a binomial outcome"),
        ({"trials": "no_such_column"}, "unknown column(s) 'no_such_column'"),
        ({"offset": [1.0, 2.0]}, "offset has 2 values"),
    ],
)
def test_bad_arguments_are_refused_with_the_reason(
    data: pd.DataFrame, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ModelSpecError) as caught:
        mixed.glmm("responder ~ diagnosis + (1 | study_id)", data, **kwargs)  # type: ignore[arg-type]
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("responder ~ age + (1 + age | study_id)", "glmm fits one scalar random effect"),
        ("responder ~ age + (1 | study_id) + (1 | diagnosis)", "glmm fits one scalar random"),
        ("responder ~ age + (1 | study_id/diagnosis)", "glmm fits one scalar random effect"),
        (
            "responder ~ age + (0 + diagnosis | study_id)",
            "(diagnosis | study_id) needs a numeric column; diagnosis is a factor",
        ),
        ("responder ~ nothing + (1 | study_id)", "unknown variable 'nothing'"),
    ],
)
def test_unsupported_or_wrong_formulas_are_refused(
    data: pd.DataFrame, formula: str, message: str
) -> None:
    with pytest.raises(ModelSpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        mixed.glmm(formula, data)


def test_an_outcome_typed_as_words_is_refused_with_the_way_to_map_it(data: pd.DataFrame) -> None:
    typed = data.assign(responder=np.where(data["responder"], "yes", "no"))
    typed.loc[0, "responder"] = "NR"
    with pytest.raises(ModelSpecError, match=r"holds text \('NR', 'yes', 'no'\)") as caught:
        mixed.glmm("responder ~ diagnosis + (1 | study_id)", typed)
    assert ".map({'yes': 1, 'no': 0})" in str(caught.value)


def test_impossible_outcomes_are_refused(data: pd.DataFrame) -> None:
    counts = data.assign(k=np.where(data["responder"], 7, 2), n=5)
    with pytest.raises(ModelSpecError, match="successes cannot exceed trials"):
        mixed.glmm("k ~ diagnosis + (1 | study_id)", counts, trials="n")
    with pytest.raises(ModelSpecError, match="must be whole numbers 0 or more"):
        halves = counts.assign(k=np.where(data["responder"], 1.5, 1.0))
        mixed.glmm("k ~ diagnosis + (1 | study_id)", halves, trials="n")
    with pytest.raises(ModelSpecError, match="trials must be whole numbers of 1 or more"):
        none = counts.assign(k=data["responder"].astype(int), n=0)
        mixed.glmm("k ~ diagnosis + (1 | study_id)", none, trials="n")


def test_lrt_compares_like_with_like(data: pd.DataFrame, fit: mixed.GlmmResult) -> None:
    linear = mixed.lmm("age ~ diagnosis + (1 | study_id)", data)
    with pytest.raises(ModelSpecError, match=r"two results of mixed\.lmm"):
        mixed.lrt(linear, fit)
    smaller = mixed.glmm("responder ~ age + (1 | study_id)", data)
    table = mixed.lrt(fit, smaller)
    assert list(table["model"]) == ["m1", "m0"]  # fewer parameters first
    np.testing.assert_allclose(table["chisq"].iloc[1], 2 * (fit.loglik - smaller.loglik))


def test_parametric_bootstrap_is_reproducible_and_gives_percentile_intervals(
    data: pd.DataFrame,
) -> None:
    small = mixed.glmm("responder ~ age + (1 | study_id)", data)  # 3 parameters: quick refits
    boot = small.bootstrap(n=12, seed=4)
    again = small.bootstrap(n=3, seed=4)  # the same draws, refit by refit
    pd.testing.assert_frame_equal(boot.replicates.iloc[:3], again.replicates)
    assert list(boot.replicates.columns) == ["sd_(Intercept)|study_id", "Intercept", "age"]
    assert boot.replicates.notna().all().all()
    table = small.confint("bootstrap", n=12, seed=4).set_index("term")
    expected = boot.percentile().set_index("term")
    pd.testing.assert_frame_equal(table[["ci_lower", "ci_upper"]], expected)
    with pytest.raises(ModelSpecError, match="n must be a whole number of refits"):
        small.bootstrap(n=0)
    with pytest.raises(ModelSpecError, match="confint method"):
        small.confint("jackknife")


@pytest.mark.parametrize("nagq", [1, 7])
def test_a_random_slope_of_ones_is_the_random_intercept(data: pd.DataFrame, nagq: int) -> None:
    """(0 + one | g) with one = 1 in every row is (1 | g) written another way."""
    intercept = mixed.glmm("responder ~ diagnosis + (1 | study_id)", data, nagq=nagq)
    slope = mixed.glmm(
        "responder ~ diagnosis + (0 + one | study_id)", data.assign(one=1.0), nagq=nagq
    )
    np.testing.assert_allclose(slope.coef, intercept.coef, rtol=1e-8)
    np.testing.assert_allclose(slope.theta, intercept.theta, rtol=1e-7)
    np.testing.assert_allclose(slope.deviance, intercept.deviance, rtol=1e-12)
    assert slope.variance_components["name"].iloc[0] == "one"
    assert intercept.variance_components["name"].iloc[0] == "(Intercept)"


def test_a_scaled_slope_scales_its_sd_and_nothing_else(data: pd.DataFrame) -> None:
    """The random effect theta * x * u is the same with x doubled and theta halved, as
    metafor's +-1/2 and 0/1 codings of a group are the same model."""
    coded = data.assign(arm=np.where(data["age"] > 58, 0.5, -0.5))
    half = mixed.glmm("responder ~ diagnosis + (0 + arm | study_id)", coded, nagq=7)
    whole = mixed.glmm(
        "responder ~ diagnosis + (0 + arm | study_id)", coded.assign(arm=2 * coded["arm"]), nagq=7
    )
    np.testing.assert_allclose(whole.theta, half.theta / 2, rtol=1e-6)
    np.testing.assert_allclose(whole.deviance, half.deviance, rtol=1e-10)
    np.testing.assert_allclose(whole.coef, half.coef, rtol=1e-6)
    names = list(half.confint("wald")["term"])
    assert names[0] == "sd_arm|study_id"
    # In-sample predictions through newdata use each row's slope value.
    np.testing.assert_allclose(half.predict(coded), half.fitted(), rtol=1e-10)
    assert len(half.bootstrap(3, seed=1).replicates) == 3
