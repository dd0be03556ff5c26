"""Bad input to the meta-analysis engine raises an IpdmetaError that names the problem."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipdmeta import meta
from ipdmeta.errors import (
    ConvergenceError,
    DataError,
    EstimationError,
    IpdmetaError,
    ModelSpecError,
)

YI = [0.1, 0.3, -0.2, 0.5]
VI = [0.04, 0.02, 0.05, 0.03]


@pytest.mark.parametrize(
    ("yi", "vi", "needle"),
    [
        ([0.1, np.nan, 0.2], [0.1, 0.1, 0.1], "missing values in data: Study 2 (yi)"),
        ([0.1, 0.2, 0.3], [0.1, np.inf, 0.1], "vi has 1 missing or infinite"),
        ([0.1, np.inf, 0.3], [0.1, 0.1, 0.1], "infinite"),
        ([0.1, 0.2, 0.3], [0.1, -0.1, 0.1], "vi must be >= 0"),
        ([0.1, 0.2, 0.3], [0.1, -0.5, 0.1], "position 1"),
        ([0.1, 0.2, 0.3], [0.1, 0.1], "unequal lengths (3 and 2)"),
        ([], [], "empty"),
        (["a", "b"], [0.1, 0.1], "yi must be numeric"),
        ([0.1, 0.2], [0.1, "x"], "vi must be numeric"),
        ("0.1 0.2", [0.1, 0.1], "string"),
        ([[0.1, 0.2]], [[0.1, 0.1]], "one-dimensional"),
        ([True, False], [0.1, 0.1], "yi must be numeric"),
    ],
)
def test_bad_values_raise_data_error(yi: object, vi: object, needle: str) -> None:
    # missing values are omitted with a warning by default (tests/meta/test_edge_cases.py)
    with pytest.raises(DataError) as info:
        meta.random_effects(yi, vi, na_action="fail")
    assert needle in str(info.value)


def test_data_error_is_an_ipdmeta_error() -> None:
    with pytest.raises(IpdmetaError):
        meta.random_effects([0.1, np.nan], [0.1, 0.1], na_action="fail")


@pytest.mark.parametrize("method", ["DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM"])
def test_random_effects_needs_two_studies(method: str) -> None:
    with pytest.raises(EstimationError, match="at least 2 studies, got k = 1"):
        meta.random_effects([0.3], [0.02], method=method)


def test_common_effect_with_one_study_is_defined() -> None:
    res = meta.random_effects([0.3], [0.04], method="FE")
    assert res.estimate == pytest.approx(0.3)
    assert res.se == pytest.approx(0.2)
    assert (res.Q, res.Q_df, res.Q_pvalue, res.I2, res.H2) == (0.0, 0, 1.0, 0.0, 1.0)


def test_knapp_hartung_needs_two_studies() -> None:
    with pytest.raises(EstimationError, match="Knapp-Hartung"):
        meta.random_effects([0.3], [0.02], method="FE", test="knha")


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"method": "XYZ"}, "unknown method 'XYZ'"),
        ({"method": 3}, "unknown method"),
        ({"test": "wald"}, "unknown test 'wald'"),
        ({"level": 0}, "level must lie between 0 and 1"),
        ({"level": 1.5e2}, "level must lie between"),
        ({"level": "high"}, "level must be a number"),
    ],
)
def test_bad_options_raise_model_spec_error(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(ModelSpecError) as info:
        meta.random_effects(YI, VI, **kwargs)  # type: ignore[arg-type]
    assert needle in str(info.value)


def test_bad_fixed_tau2() -> None:
    with pytest.raises(EstimationError, match="tau2 must be a finite number >= 0"):
        meta.random_effects(YI, VI, tau2=-1.0)


def test_bad_labels_length() -> None:
    with pytest.raises(EstimationError, match="labels has 2 entries for 4 studies"):
        meta.random_effects(YI, VI, labels=["a", "b"])


@pytest.mark.parametrize("method", ["ML", "REML", "EB", "PM"])
def test_non_convergence_says_so(method: str) -> None:
    yi = [0.9, -0.4, 0.7, -0.8, 0.2, 1.3]
    vi = [0.02, 0.03, 0.01, 0.05, 0.02, 0.04]
    with pytest.raises(ConvergenceError, match=f"{method} estimator of tau2 did not converge"):
        meta.random_effects(yi, vi, method=method, max_iter=1, tol=1e-300)


def test_batch_bad_input() -> None:
    with pytest.raises(DataError, match="different shapes"):
        meta.random_effects_batch(np.zeros((2, 3)), np.ones((2, 4)))
    with pytest.raises(DataError, match="V must be > 0"):
        meta.random_effects_batch(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(DataError, match="V is NaN or infinite where Y holds a study"):
        meta.random_effects_batch(np.zeros((1, 3)), np.array([[1.0, np.nan, 1.0]]))
    with pytest.raises(DataError, match="Y has infinite values"):
        meta.random_effects_batch(np.array([[np.inf, 1.0]]), np.ones((1, 2)))
    with pytest.raises(DataError, match=r"shape \(m, k\)"):
        meta.random_effects_batch(np.zeros((2, 2, 2)), np.ones((2, 2, 2)))


def test_meta_regression_bad_input() -> None:
    data = pd.DataFrame({"yi": YI, "vi": VI, "x": [1.0, 2.0, 3.0, 4.0], "c": [1.0] * 4})
    with pytest.raises(ModelSpecError, match="not of full rank"):
        meta.meta_regression("yi", "vi", "~ x + c", data=data)
    with pytest.raises(ModelSpecError, match="needs data="):
        meta.meta_regression(YI, VI, "~ x")
    with pytest.raises(ModelSpecError, match="cannot build the moderators"):
        meta.meta_regression("yi", "vi", "~ nosuch", data=data)
    with pytest.raises(DataError, match="column 'nope'"):
        meta.meta_regression("nope", "vi", "~ x", data=data)
    with pytest.raises(DataError, match="3 rows for 4 studies"):
        meta.meta_regression(YI, VI, pd.DataFrame({"x": [1.0, 2.0, 3.0]}))
    with pytest.raises(DataError, match=r"missing values in data: Study 2 \(x\)"):
        meta.meta_regression(YI, VI, pd.DataFrame({"x": [1.0, np.nan, 3.0, 4.0]}), na_action="fail")
    with pytest.raises(EstimationError, match="needs more studies than coefficients"):
        meta.meta_regression(YI[:2], VI[:2], pd.DataFrame({"x": [1.0, 2.0]}))
    with pytest.raises(ModelSpecError, match="unknown term 'z'"):
        meta.meta_regression("yi", "vi", "~ x", data=data, btt=["z"])


def test_subgroups_bad_input() -> None:
    with pytest.raises(DataError, match="groups has 3 entries for 4 studies"):
        meta.subgroups(YI, VI, ["a", "b", "a"])
    with pytest.raises(EstimationError, match="at least 2 groups"):
        meta.subgroups(YI, VI, ["a"] * 4)


def test_escalc_bad_input() -> None:
    with pytest.raises(ModelSpecError, match="unknown measure 'XYZ'"):
        meta.escalc("XYZ", xi=[1], ni=[2])
    with pytest.raises(ModelSpecError, match="measure OR does not use ni, xi"):
        meta.escalc("OR", xi=[1], ni=[2])
    with pytest.raises(ModelSpecError, match="needs xi"):
        meta.escalc("PR", ni=[10])
    with pytest.raises(ModelSpecError, match="needs mi"):
        meta.escalc("MN", mi=[1.0], ni=[3])
    with pytest.raises(DataError, match="xi is larger than ni for study 2"):
        meta.escalc("PLO", xi=[1, 12], ni=[10, 10])
    with pytest.raises(DataError, match="negative event counts"):
        meta.escalc("PR", xi=[-1, 2], ni=[10, 10])
    with pytest.raises(DataError, match="sample sizes <= 0"):
        meta.escalc("PFT", xi=[0, 2], ni=[0, 10])
    with pytest.raises(DataError, match="unequal lengths"):
        meta.escalc("PR", xi=[1, 2], ni=[10])
    with pytest.raises(DataError, match="negative standard deviations"):
        meta.escalc("MN", mi=[1.0, 2.0], sdi=[-1.0, 1.0], ni=[3, 4])
    with pytest.raises(ModelSpecError, match="needs the sample sizes"):
        meta.back_transform("PFT", [0.5])


def test_study_summaries_bad_input() -> None:
    data = pd.DataFrame({"study": ["a", "a"], "relief": ["50", "x"]})
    with pytest.raises(DataError, match="non-numeric value 'x'"):
        meta.study_summaries(data)
    with pytest.raises(DataError, match="column 'paper' not found"):
        meta.study_summaries(data, study="paper")


def test_permutation_and_bias_bad_input() -> None:
    res = meta.random_effects(YI, VI)
    with pytest.raises(ModelSpecError, match="at least 2 permutations"):
        meta.permutation_test(res, n=1)
    with pytest.raises(ModelSpecError, match="needs a result"):
        meta.permutation_test("not a result", n=10)  # type: ignore[arg-type]
    with pytest.raises(EstimationError, match="at least 3 studies"):
        meta.egger_test(meta.random_effects(YI[:2], VI[:2]))
    with pytest.raises(ModelSpecError, match="unknown model"):
        meta.egger_test(res, model="glm")
    with pytest.raises(ModelSpecError, match="unknown estimator"):
        meta.trim_and_fill(res, estimator="Q9")
    with pytest.raises(ModelSpecError, match="side must be"):
        meta.trim_and_fill(res, side="up")
