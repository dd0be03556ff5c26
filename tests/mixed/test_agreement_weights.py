"""Prior weights (lmer's ``weights =``) against lme4, lmerTest and pbkrtest: R's values are
written by tests/reference/weights_reference.R into tests/reference/weights/. Also the
checks of bad weights."""

from __future__ import annotations

import json
import math
from pathlib import Path

import ipdmeta_mixed_reference as ref
import numpy as np
import pandas as pd
import pytest

from ipdmeta import mixed
from ipdmeta.errors import ModelSpecError

REFERENCE = Path(__file__).parents[1] / "reference" / "weights" / "sleepstudy-weighted.json"
FORMULA = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads(REFERENCE.read_text())


@pytest.fixture(scope="module")
def data(reference: dict) -> pd.DataFrame:
    return pd.DataFrame(reference["data"])


@pytest.fixture(scope="module", params=["reml", "ml"])
def fitted(request: pytest.FixtureRequest, data: pd.DataFrame, reference: dict) -> tuple:
    fit = mixed.lmm(FORMULA, data, reml=request.param == "reml", weights="w")
    return fit, reference["fits"][request.param]


def test_reference_is_complete(reference: dict) -> None:
    assert reference["weights"] == "w"
    assert set(reference["fits"]) == {"reml", "ml"}
    for name, block in reference["fits"].items():
        keys = {"loglik", "criterion", "theta", "sigma", "variance_components", "satterthwaite"}
        assert keys <= set(block), name
        assert ("kenward_roger" in block) is (name == "reml")
    assert {"chisq", "df", "pvalue"} <= set(reference["lrt"])


def test_criterion_and_parameters(fitted: tuple) -> None:
    fit, want = fitted
    criterion = fit.reml_criterion if fit.reml else fit.deviance
    assert criterion == pytest.approx(want["criterion"], rel=ref.RTOL_CRITERION)
    assert fit.loglik == pytest.approx(want["loglik"], rel=ref.RTOL_CRITERION)
    np.testing.assert_allclose(fit.theta, want["theta"], rtol=ref.RTOL_EST)
    assert fit.sigma == pytest.approx(want["sigma"], rel=ref.RTOL_EST)
    variances = fit.variance_components["variance"].to_numpy()
    r_vc = want["variance_components"]
    r_var = [v for v, n2 in zip(r_vc["vcov"], r_vc["name2"], strict=True) if n2 is None]
    np.testing.assert_allclose(variances, r_var, rtol=ref.RTOL_EST)


def test_fixed_effects(fitted: tuple) -> None:
    """Satterthwaite for both fits; Kenward-Roger for the REML fit (the completeness test
    checks that it is there)."""
    fit, want = fitted
    for ddf in ("satterthwaite", "kenward-roger"):
        key = ddf.replace("-", "_")
        if key not in want:
            continue
        expected = ref.table(want[key])
        got = fit.fixed_effects(ddf=ddf)
        for column in ("estimate", "se"):
            ref.assert_close(
                got[column], expected[column], rtol=ref.RTOL_EST, what=f"{ddf} {column}"
            )
        ref.assert_close(got["df"], expected["df"], rtol=ref.RTOL_DF, what=f"{ddf} df")
        ref.assert_close(got["pvalue"], expected["pvalue"], rtol=0, atol=ref.ATOL_P, what=ddf)


def test_likelihood_ratio_test(data: pd.DataFrame, reference: dict) -> None:
    want = reference["lrt"]
    m0 = mixed.lmm(want["null"], data, reml=False, weights="w")
    m1 = mixed.lmm(FORMULA, data, reml=False, weights="w")
    got = mixed.lrt(m0, m1).iloc[1]
    assert got["chisq"] == pytest.approx(want["chisq"], rel=ref.RTOL_LRT, abs=1e-6)
    assert got["df"] == want["df"]


def test_unit_weights_are_no_weights(data: pd.DataFrame) -> None:
    plain = mixed.lmm(FORMULA, data)
    ones = mixed.lmm(FORMULA, data, weights=np.ones(len(data)))
    assert ones.loglik == pytest.approx(plain.loglik, rel=1e-12)
    np.testing.assert_allclose(ones.theta, plain.theta, rtol=1e-8)


def test_weighted_bootstrap_draws_rows_with_their_own_variance(data: pd.DataFrame) -> None:
    """Refits of responses simulated with residual SD sigma / sqrt(w): their sigma is the
    fit's on average (a bootstrap that ignored the weights would be off by their spread)."""
    fit = mixed.lmm("Reaction ~ Days + (1 | Subject)", data, weights="w")
    boot = fit.bootstrap(200, seed=4)
    assert boot.replicates["sigma"].mean() == pytest.approx(fit.sigma, rel=0.03)


def test_missing_weight_drops_its_row(data: pd.DataFrame) -> None:
    holes = data.assign(w=data["w"].where(data.index % 10 != 0))
    fit = mixed.lmm(FORMULA, holes, weights="w")
    assert fit.n_dropped == math.ceil(len(data) / 10)
    assert fit.nobs == len(data) - fit.n_dropped


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ("nothing", "unknown column"),
        (np.ones(5), "has 5 values for 180 rows"),
        ("Subject", "weights must be numbers; the column 'Subject' holds"),
        ("zero", r"weights must be above 0: 1 row \(row 3, counted from 0\) has 0 or less"),
        ("infinite", "weights has infinite values"),
    ],
)
def test_bad_weights_are_refused(data: pd.DataFrame, weights: object, message: str) -> None:
    bad = data.assign(
        zero=np.where(data.index == 3, 0.0, 1.0),
        infinite=np.where(data.index == 7, np.inf, 1.0),
    )
    with pytest.raises(ModelSpecError, match=message):
        mixed.lmm(FORMULA, bad, weights=weights)
