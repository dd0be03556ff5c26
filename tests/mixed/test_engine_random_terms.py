"""Random terms beyond variables, past the R references (machines-factor-slopes,
machines-intercept-slopes, sleepstudy-random-functions): factor slopes ``(1 + f | g)``,
``(0 + f | g)`` and ``(f || g)`` (the parameterisations are one model, ``||`` expands as
lme4's does), functions of variables (``(1 + log(x) | g)``), predictions, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipdmeta import mixed
from ipdmeta.errors import ModelSpecError

# Two fits of one model by different parameterisations reach the same optimum of the
# REML criterion (here to 1e-9 relative). The criterion is flat to second order there, so
# the variance parameters, and the SEs that follow from them, are good to about the
# square root of that: the estimates' tolerance of the R agreement tests (RTOL_EST) is
# the one that applies. Seen: SEs 4e-6 apart.
RTOL_SAME_MODEL = 1e-5


@pytest.fixture(scope="module")
def workers() -> pd.DataFrame:
    """12 workers, each on 3 machines 3 times; worker-by-machine effects correlated."""
    rng = np.random.default_rng(2024)
    cov = np.array([[16.0, 10.0, 4.0], [10.0, 40.0, 12.0], [4.0, 12.0, 20.0]])
    effects = rng.multivariate_normal(np.zeros(3), cov, size=12)
    rows = []
    for w in range(12):
        for m, machine in enumerate("ABC"):
            for _ in range(3):
                score = 50 + 6 * m + effects[w, m] + rng.normal(0, 1.0)
                rows.append({"worker": f"w{w:02d}", "machine": machine, "score": score})
    return pd.DataFrame(rows)


def test_three_parameterisations_are_one_model(workers: pd.DataFrame) -> None:
    per_level = mixed.lmm("score ~ machine + (0 + machine | worker)", workers)
    contrasts = mixed.lmm("score ~ machine + (1 + machine | worker)", workers)
    assert per_level.loglik == pytest.approx(contrasts.loglik, rel=1e-9)
    a, b = per_level.fixed_effects(), contrasts.fixed_effects()
    np.testing.assert_allclose(a["estimate"], b["estimate"], rtol=RTOL_SAME_MODEL)
    np.testing.assert_allclose(a["se"], b["se"], rtol=RTOL_SAME_MODEL)
    assert list(per_level.variance_components["name"]) == [
        "machineA",
        "machineB",
        "machineC",
        "",
    ]
    assert list(contrasts.variance_components["name"]) == ["Intercept", "machineB", "machineC", ""]
    # The intercept's variance is machine A's; B's is A's + B's contrast's + 2 cov.
    va = per_level.variance_components.set_index("name")["variance"]
    vc = contrasts.variance_components.set_index("name")["variance"]
    cov = contrasts.correlations.set_index(["name1", "name2"])["covariance"]
    assert va["machineA"] == pytest.approx(vc["Intercept"], rel=RTOL_SAME_MODEL)
    implied_b = vc["Intercept"] + vc["machineB"] + 2 * cov[("Intercept", "machineB")]
    assert va["machineB"] == pytest.approx(implied_b, rel=RTOL_SAME_MODEL)


def test_double_bar_expands_as_lme4(workers: pd.DataFrame) -> None:
    """lme4 reads (f || g) as (1 | g) + (0 + f | g): the factor's own columns stay
    correlated (lme4's documented caveat for factors)."""
    double = mixed.lmm("score ~ machine + (machine || worker)", workers)
    spelled = mixed.lmm("score ~ machine + (1 | worker) + (0 + machine | worker)", workers)
    assert double.loglik == spelled.loglik
    pd.testing.assert_frame_equal(double.variance_components, spelled.variance_components)
    assert len(double.correlations) == 3  # among machineA, machineB, machineC


def test_factor_only_in_the_random_part(workers: pd.DataFrame) -> None:
    fit = mixed.lmm("score ~ 1 + (0 + machine | worker)", workers)
    assert list(fit.variance_components["name"])[:3] == ["machineA", "machineB", "machineC"]


def test_categorical_column_keeps_its_level_order(workers: pd.DataFrame) -> None:
    data = workers.assign(machine=pd.Categorical(workers["machine"], categories=["C", "A", "B"]))
    fit = mixed.lmm("score ~ 1 + (1 + machine | worker)", data)
    assert list(fit.variance_components["name"]) == ["Intercept", "machineA", "machineB", ""]


def test_predictions_for_new_rows_use_the_factor_columns(workers: pd.DataFrame) -> None:
    fit = mixed.lmm("score ~ machine + (1 + machine | worker)", workers)
    np.testing.assert_allclose(fit.predict(workers), fit.fitted(), rtol=1e-12)
    # A level the fit never saw: the fixed part names it; with the factor only in the
    # random part, the random term does.
    unseen = workers.head(2).assign(machine="D")
    with pytest.raises(ModelSpecError, match="machine has level"):
        fit.predict(unseen)
    random_only = mixed.lmm("score ~ 1 + (1 + machine | worker)", workers)
    with pytest.raises(ModelSpecError, match=r"'D' of 'machine'.*random slope"):
        random_only.predict(unseen)


def test_a_factor_with_one_level_has_no_slope(workers: pd.DataFrame) -> None:
    one = workers[workers["machine"] == "A"]
    with pytest.raises(ModelSpecError, match="single level"):
        mixed.lmm("score ~ 1 + (1 + machine | worker)", one)


@pytest.fixture(scope="module")
def growth() -> pd.DataFrame:
    """30 subjects measured on days 0-9, with subject-specific curvature."""
    rng = np.random.default_rng(11)
    subject = np.repeat(np.arange(30), 10)
    day = np.tile(np.arange(10.0), 30)
    a, b = rng.normal(0, 20, 30), rng.normal(0, 6, 30)
    y = 250 + 10 * day + a[subject] + b[subject] * np.log(day + 1) + rng.normal(0, 8, 300)
    return pd.DataFrame({"y": y, "day": day, "subject": [f"s{i}" for i in subject]})


def test_functions_of_variables_in_random_terms(growth: pd.DataFrame) -> None:
    fit = mixed.lmm("y ~ day + (1 + log(day + 1) | subject)", growth)
    assert list(fit.variance_components["name"]) == ["Intercept", "log(day + 1)", ""]
    # The same column made by hand is the same model.
    by_hand = mixed.lmm(
        "y ~ day + (1 + lday | subject)", growth.assign(lday=np.log(growth["day"] + 1))
    )
    assert fit.loglik == pytest.approx(by_hand.loglik, rel=1e-12)
    poly = mixed.lmm("y ~ day + (poly(day, 2) | subject)", growth)
    assert list(poly.variance_components["name"])[:3] == [
        "Intercept",
        "poly(day, 2)1",
        "poly(day, 2)2",
    ]


def test_stateful_functions_keep_the_fitted_rows_scale(growth: pd.DataFrame) -> None:
    fit = mixed.lmm("y ~ day + (1 + scale(day) | subject)", growth)
    np.testing.assert_allclose(fit.predict(growth), fit.fitted(), rtol=1e-10)
    # Two rows alone: scale() of them would differ; the fit's mean and SD are kept.
    two = growth.iloc[[0, 9]]
    np.testing.assert_allclose(fit.predict(two), fit.fitted()[[0, 9]], rtol=1e-10)


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("y ~ day + (1 + foo(day) | subject)", r"calls foo\(...\)"),
        ("y ~ day + (1 - log(day + 1) | subject)", "cannot remove 'log"),
        ("y ~ day + (1 + log(day) | subject)", r"log\(day\) is not a finite number in 30 rows"),
        ("y ~ day + (1 + log(subject) | subject)", "'subject' is read inside a function"),
    ],
)
def test_bad_functions_in_random_terms(growth: pd.DataFrame, formula: str, message: str) -> None:
    with pytest.raises(ModelSpecError, match=message):
        mixed.lmm(formula, growth)
