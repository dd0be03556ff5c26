"""GRADE for pain relief: each domain from the analysis, overridable with a reason."""

from __future__ import annotations

import dataclasses

import pytest

from ipdmeta.analysis.grade import grade_relief
from ipdmeta.analysis.pipeline import run_review
from ipdmeta.analysis.risk_of_bias import high_risk_studies
from ipdmeta.analysis.spec import GradeSpec
from tests.conftest import EXAMPLE


@pytest.fixture(scope="module")
def example_run():
    return run_review(EXAMPLE)


def _grade(run, spec: GradeSpec):
    high_risk = high_risk_studies(run.data.quality, run.spec.sensitivity)
    return grade_relief(run.two_stage, run.data.studies, run.analysis_data, high_risk, spec)


def _judgements(certainty) -> dict[str, str]:
    return dict(zip(certainty.domains["domain"], certainty.domains["judgement"], strict=True))


def test_the_example_is_judged_from_its_analysis(example_run):
    certainty = example_run.grade
    two = example_run.two_stage.result
    assert certainty.start == "very low"  # case series
    judged = _judgements(certainty)
    assert judged["inconsistency"] == ("serious" if two.I2 >= 75 else "not serious")
    width = two.ci_upper - two.ci_lower
    assert judged["imprecision"] == ("serious" if width > 20 else "not serious")
    assert certainty.certainty == "very low"


def test_a_judgement_set_in_review_toml_wins_and_shows_its_reason(example_run):
    spec = GradeSpec(start="high", inconsistency="not serious", inconsistency_reason="I say so")
    certainty = _grade(example_run, spec)
    row = certainty.domains.set_index("domain").loc["inconsistency"]
    assert row["judgement"] == "not serious" and row["reason"] == "I say so"
    assert row["source"] == "review.toml"
    steps = sum(certainty.domains["judgement"].map({"serious": 1, "very serious": 2}).fillna(0))
    assert certainty.certainty == ["high", "moderate", "low", "very low"][min(int(steps), 3)]


def test_the_levels_never_go_below_very_low(example_run):
    spec = dataclasses.replace(GradeSpec(), start="low", risk_of_bias="very serious")
    assert _grade(example_run, spec).certainty == "very low"
