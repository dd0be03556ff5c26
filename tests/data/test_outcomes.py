"""% relief from pain scores or as reported, worsening, responders, pain_pre = 0, scales."""

from __future__ import annotations

import numpy as np
import pytest

from ipdmeta.data import OutcomeOptions, load_review
from ipdmeta.errors import ValidationError

HEADER = "study_id,patient_id,diagnosis,pain_scale,pain_pre,pain_post,relief_pct"


def _load(tmp_path, *rows, **options):
    (tmp_path / "patients.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    return load_review(tmp_path, outcome=OutcomeOptions(**options))


def test_relief_is_computed_on_each_scale(tmp_path):
    review = _load(tmp_path, "S1,1,TN,VAS-10,8,2,", "S1,2,TN,VAS-100,80,60,", "S2,1,TN,NRS-10,5,5,")
    assert list(review.patients["relief_pct"]) == pytest.approx([75.0, 25.0, 0.0])
    assert set(review.patients["relief_source"]) == {"computed"}


def test_reported_relief_used_when_scores_missing(tmp_path):
    review = _load(tmp_path, "S1,1,TN,,,,70", "S1,2,TN,VAS-10,8,4,")
    assert list(review.patients["relief_pct"]) == [70.0, 50.0]
    assert list(review.patients["relief_source"]) == ["reported", "computed"]


def test_disagreement_is_reported_and_computed_value_used(tmp_path):
    review = _load(tmp_path, "S1,1,TN,VAS-10,8,2,60", "S1,2,TN,VAS-10,8,4,50.4")
    assert list(review.patients["relief_pct"]) == [75.0, 50.0]
    warnings = [w for w in review.warnings if "differs" in w.message]
    assert len(warnings) == 1  # 50.4 vs 50.0 is within the 1-point rounding tolerance
    assert warnings[0].rows == (2,) and "75.0 %" in warnings[0].message


def test_worsening_kept_by_default_and_floored_on_request(tmp_path):
    rows = ("S1,1,TN,VAS-10,4,6,", "S1,2,TN,VAS-10,8,2,")
    assert list(_load(tmp_path, *rows).patients["relief_pct"]) == [-50.0, 75.0]
    floored = _load(tmp_path, *rows, worsening="floor").patients["relief_pct"]
    assert list(floored) == [0.0, 75.0]


def test_responder_flags_at_thresholds(tmp_path):
    review = _load(
        tmp_path,
        "S1,1,TN,VAS-10,10,7,",
        "S1,2,TN,VAS-10,10,6,",
        "S1,3,TN,VAS-10,10,5,",
        responder_thresholds=(30, 40, 50),
    )
    patients = review.patients
    assert list(patients["responder_30"]) == [True, True, True]
    assert list(patients["responder_40"]) == [False, True, True]
    assert list(patients["responder_50"]) == [False, False, True]


def test_pain_pre_zero_with_reported_relief_uses_it(tmp_path):
    review = _load(tmp_path, "S1,1,TN,VAS-10,0,0,0", "S1,2,TN,VAS-10,8,4,")
    assert review.patients["relief_pct"].iloc[0] == 0.0
    assert any("pain_pre is 0" in w.message for w in review.warnings)


def test_pain_pre_zero_without_relief_is_an_error(tmp_path):
    with pytest.raises(ValidationError, match=r"row 2, column 'pain_pre'.*undefined"):
        _load(tmp_path, "S1,1,TN,VAS-10,0,0,", "S1,2,TN,VAS-10,8,4,")


def test_missing_scale_is_inferred_per_study_and_reported(tmp_path):
    review = _load(tmp_path, "S1,1,TN,,80,20,", "S1,2,TN,,9,3,", "S2,1,TN,,8,2,")
    assert list(review.patients["pain_scale"]) == ["VAS-100", "VAS-100", "VAS-10"]
    assert list(review.patients["relief_pct"]) == pytest.approx([75.0, 100 * 6 / 9, 75.0])
    inferred = [w for w in review.warnings if "taken as" in w.message]
    assert len(inferred) == 2


def test_default_scale_option(tmp_path):
    review = _load(tmp_path, "S1,1,TN,,8,2,", default_scale="NRS-10")
    assert review.patients["pain_scale"].iloc[0] == "NRS-10"


def test_bad_option_values_are_refused():
    with pytest.raises(ValueError):
        OutcomeOptions(worsening="clip")
    with pytest.raises(ValueError):
        OutcomeOptions(default_scale="VAS-5")


def test_relief_missing_is_nan_not_zero(tmp_path):
    review = _load(tmp_path, "S1,1,TN,,,,55")
    assert not np.isnan(review.patients["relief_pct"].iloc[0])
