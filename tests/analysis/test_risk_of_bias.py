"""The review's rule for studies at high risk of bias, and the robustness refit without them."""

from __future__ import annotations

import pandas as pd

from ipdmeta.analysis.pipeline import run_review
from ipdmeta.analysis.risk_of_bias import high_risk_studies
from ipdmeta.analysis.spec import SensitivitySpec
from tests.conftest import EXAMPLE

QUALITY = pd.DataFrame(
    {
        "study_id": ["S1"] * 4 + ["S2"] * 4 + ["S3"] * 4,
        "item": ["Q1", "Q2", "Q3", "Q4"] * 3,
        "judgement": ["yes", "no", "no", "not applicable",  # 1 of 3 applicable: 33 %
                      "yes", "yes", "no", "yes",  # 75 %, but 'no' to Q3
                      "yes", "yes", "unclear", "yes"],  # 75 %
    }
)  # fmt: skip


def test_share_of_yes_and_named_items():
    found = high_risk_studies(QUALITY, SensitivitySpec())
    assert found is not None and found.studies == ("S1",)
    assert found.reasons["S1"] == "33 % yes"
    named = high_risk_studies(QUALITY, SensitivitySpec(high_risk_items=("Q3",)))
    assert named is not None and named.studies == ("S1", "S2")
    assert "'no' to 'Q3'" in named.rule


def test_the_rule_can_be_turned_off_and_needs_an_appraisal():
    assert high_risk_studies(QUALITY, SensitivitySpec(high_risk_yes_below=0)) is None
    assert high_risk_studies(None, SensitivitySpec()) is None


def test_the_robustness_panel_refits_without_the_high_risk_studies():
    run = run_review(EXAMPLE)
    quality = run.data.quality
    expected = high_risk_studies(quality, run.spec.sensitivity)
    panel = run.robustness[0]
    row = panel.table[panel.table["group"] == "risk of bias"].iloc[0]
    assert f"({len(expected.studies)})" in row["choice"]
    assert all(study in row["note"] for study in expected.studies)
    from ipdmeta import mixed
    from ipdmeta.analysis.models import contrast_summary

    kept = run.analysis_data[~run.analysis_data["study_id"].isin(expected.studies)]
    refit = mixed.lmm(run.primary.spec.formula, kept).pairwise("diagnosis")
    assert row["estimate"] == contrast_summary(refit, panel.contrast)["estimate"]


def test_the_robustness_panel_refits_without_single_patient_reports():
    run = run_review(EXAMPLE)
    sizes = run.analysis_data.groupby("study_id").size()
    single = sorted(sizes[sizes == 1].index)
    row = run.robustness[0].table.query("group == 'case reports'").iloc[0]
    assert row["choice"] == f"without single-patient reports ({len(single)})"
    assert row["note"] == f"left out: {', '.join(single)}"
