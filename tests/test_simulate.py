"""Simulated IPD meta-analysis data sets: shape, reproducibility, limits, missingness."""

from __future__ import annotations

import numpy as np
import pytest

from ipdmeta.errors import IpdmetaError
from ipdmeta.simulate import (
    Categorical,
    Covariate,
    SimulationDesign,
    design_from_toml,
    simulate_ipd,
    simulate_review,
)
from tests.conftest import EXAMPLE

DESIGN = SimulationDesign(
    n_studies=23,
    n_patients=140,
    categories={"diagnosis": {"TN": 0.5, "DPS": 0.5}, "sex": {"F": 0.6, "M": 0.4}},
    effects={"diagnosis": {"TN": 20.0}},
    covariates={"age": Covariate(mean=55.0, sd=12.0, slope=0.5)},
    missing={"age": 0.2},
)


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = simulate_ipd(DESIGN, 1), simulate_ipd(DESIGN, 1), simulate_ipd(DESIGN, 2)
    assert a.equals(b)
    assert not a.equals(c)


def test_sizes_and_columns():
    data = simulate_ipd(DESIGN, 3)
    sizes = data.groupby("study_id").size()
    assert len(data) == 140 and sizes.size == 23 and sizes.min() >= 1
    assert list(data.columns) == ["study_id", "patient_id", "diagnosis", "sex", "age", "relief_pct"]
    assert data["patient_id"].is_unique


def test_skew_controls_study_size_inequality():
    equal = simulate_ipd(SimulationDesign(n_studies=10, n_patients=100, study_size_skew=0), 1)
    assert set(equal.groupby("study_id").size()) == {10}
    skewed = simulate_ipd(SimulationDesign(n_studies=10, n_patients=100, study_size_skew=2), 1)
    assert skewed.groupby("study_id").size().max() > 20


def test_floor_ceiling_and_effects():
    design = SimulationDesign(
        n_studies=200,
        n_patients=20000,
        categories={"diagnosis": {"TN": 0.5, "DPS": 0.5}},
        effects={"diagnosis": {"TN": 20.0}},
        between_study_sd=0.0,
        residual_sd=5.0,
        floor=None,
        ceiling=None,
    )
    data = simulate_ipd(design, 4)
    means = data.groupby("diagnosis")["relief_pct"].mean()
    # 10,000 patients per level with SD 5: the mean difference is within 0.5 of 20.
    assert abs(means["TN"] - means["DPS"] - 20.0) < 0.5
    clipped = simulate_ipd(SimulationDesign(intercept=90, residual_sd=40), 4)["relief_pct"]
    assert clipped.min() >= 0 and clipped.max() <= 100


def test_missing_share():
    data = simulate_ipd(
        SimulationDesign(n_patients=5000, n_studies=50, missing={"relief_pct": 0.3}), 5
    )
    assert 0.27 < data["relief_pct"].isna().mean() < 0.33


def test_dependent_category():
    design = SimulationDesign(
        categories={
            "diagnosis": {"central": 0.5, "DPS": 0.5},
            "lesion": Categorical(
                given="diagnosis",
                probabilities={"central": {"supranuclear": 1.0}, "DPS": {"no_lesion": 1.0}},
            ),
        }
    )
    data = simulate_ipd(design, 6)
    assert (data.loc[data["diagnosis"] == "central", "lesion"] == "supranuclear").all()
    assert (data.loc[data["diagnosis"] == "DPS", "lesion"] == "no_lesion").all()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_studies": 0},
        {"n_studies": 10, "n_patients": 5},
        {"study_size_skew": -1},
        {"categories": {"x": {"a": 0.5, "b": 0.6}}},
        {"missing": {"age": 1.5}},
        {"categories": {"y": Categorical(given="nope", probabilities={})}},
    ],
)
def test_bad_designs_are_refused(kwargs):
    with pytest.raises(IpdmetaError):
        SimulationDesign(**kwargs)


def test_example_review_is_reproducible_from_its_parameter_file(tmp_path):
    design, extras, seed = design_from_toml(EXAMPLE / "simulation.toml")
    review = simulate_review(design, extras, seed=seed)
    for path in review.write(tmp_path):
        committed = EXAMPLE / path.name
        assert path.read_bytes() == committed.read_bytes(), f"{path.name} differs from the example"


def test_review_tables_are_consistent():
    design, extras, seed = design_from_toml(EXAMPLE / "simulation.toml")
    review = simulate_review(design, extras, seed=seed)
    patients, studies = review.patients, review.studies
    assert set(patients["study_id"]) == set(studies["study_id"])
    assert studies["n_patients"].sum() == len(patients) == 140
    has_scores = patients["pain_pre"].notna()
    # every patient has pain scores or a reported relief, never both, never neither
    assert (has_scores ^ patients["relief_pct"].notna()).all()
    top = patients.loc[has_scores, "pain_scale"].map({"VAS-10": 10, "VAS-100": 100, "NRS-10": 10})
    assert (patients.loc[has_scores, "pain_pre"] <= top).all()
    assert np.isin(review.quality["judgement"], ["yes", "no", "unclear", "not applicable"]).all()
