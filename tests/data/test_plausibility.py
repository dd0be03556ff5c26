"""Plausibility warnings: values that read fine but are probably wrong, through load_review."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from ipdmeta.data import OutcomeOptions, Severity, load_review
from ipdmeta.errors import ValidationError
from ipdmeta.simulate import design_from_toml, simulate_review

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "imcs-cnop"
SCORES = "study_id,patient_id,diagnosis,pain_scale,pain_pre,pain_post"
PEOPLE = "study_id,patient_id,diagnosis,age,sex,pain_scale,pain_pre,pain_post"

# A fragment of every message this module writes, to show that ordinary data raise none.
FRAGMENTS = {
    "scale": "probably a 0-10 score",
    "doubled": "pain more than doubled",
    "fraction": "probably fractions typed for percentages",
    "young": "below 1 year",
    "old": "above 100 years",
    "zero follow-up": "not a follow-up result",
    "long follow-up": "more than 30 years",
    "duration": "longer than the patient's age",
    "years": "probably years typed as months",
    "months": "probably months typed as years",
    "twice": "reported twice",
}


def _load(tmp_path, header, *rows, **options):
    (tmp_path / "patients.csv").write_text("\n".join([header, *rows]) + "\n")
    return load_review(tmp_path, outcome=OutcomeOptions(**options))


def _warned(review, fragment):
    return [w for w in review.warnings if w.severity is Severity.WARNING and fragment in w.message]


def _only(review, fragment):
    found = _warned(review, fragment)
    assert len(found) == 1, [str(w) for w in review.warnings]
    return found[0]


def _none_of_ours(review, kinds=tuple(FRAGMENTS)):
    ours = [str(w) for w in review.warnings for k in kinds if FRAGMENTS[k] in w.message]
    assert ours == []


# --- a score on the wrong scale ---


def test_pre_score_far_below_its_study_is_taken_for_a_0_10_score(tmp_path):
    review = _load(
        tmp_path,
        SCORES,
        "S1,1,TN,VAS-100,60,20",
        "S1,2,TN,VAS-100,90,30",
        "S1,3,TN,VAS-100,75,25",
        "S1,4,TN,VAS-100,8.5,25",
    )
    warning = _only(review, "probably a 0-10 score")
    assert warning.message == (
        "pain_pre 8.5 is far below the study's other pain_pre scores on VAS-100 (60 to 90): "
        "probably a 0-10 score; relief is -194.1 % as typed, 70.6 % if it is 85"
    )
    assert "patients.csv, row 5, column 'pain_pre'" in str(warning)
    assert "(value '8.5')" in str(warning) and "multiply the score by 10" in str(warning)
    # The -194 % relief is explained by this warning; no second one for the same row.
    _none_of_ours(review, ("doubled",))


def test_pre_score_below_its_own_post_score_in_a_case_report(tmp_path):
    review = _load(tmp_path, SCORES, "S1,1,TN,VAS-10,8,2", "S2,1,TN,VAS-100,8.5,25")
    warning = _only(review, "probably a 0-10 score")
    assert warning.message == (
        "pain_pre 8.5 on VAS-100 is 10 or less and below pain_post 25: probably a 0-10 "
        "score; relief is -194.1 % as typed, 70.6 % if it is 85"
    )
    assert warning.rows == (3,) and warning.column == "pain_pre"


def test_a_row_typed_wholly_on_0_10_says_relief_may_be_unchanged(tmp_path):
    review = _load(
        tmp_path,
        SCORES,
        "S1,1,TN,VAS-100,60,20",
        "S1,2,TN,VAS-100,90,30",
        "S1,3,TN,VAS-100,8,2",
    )
    warning = _only(review, "probably a 0-10 score")
    assert warning.message.endswith(
        "relief is 75.0 % as typed, the same if pain_post is on 0-10 too, "
        "97.5 % if only pain_pre is"
    )
    assert warning.rows == (4,)


def test_low_scores_without_evidence_of_another_scale_are_not_flagged(tmp_path):
    review = _load(
        tmp_path,
        SCORES,
        "S1,1,TN,VAS-100,8,2",  # a case report: nothing to compare with, relief the same
        "S2,1,TN,VAS-10,3,2",  # 3 on a 0-10 scale is a low score, not a wrong one
        "S3,1,TN,VAS-100,9,5",  # one other patient is too few to call the study's level
        "S3,2,TN,VAS-100,80,10",
    )
    _none_of_ours(review, ("scale",))


def test_post_score_with_decimals_among_whole_millimetres(tmp_path):
    review = _load(
        tmp_path,
        SCORES,
        "S1,1,TN,VAS-100,80,20",
        "S1,2,TN,VAS-100,70,30",
        "S1,3,TN,VAS-100,90,10",
        "S1,4,TN,VAS-100,75,0",  # 0 is 0 on either scale: it does not count against
        "S1,5,TN,VAS-100,80,2.4",
    )
    warning = _only(review, "probably a 0-10 score")
    assert warning.message == (
        "pain_post 2.4 has a decimal fraction while the study's other VAS-100 scores are "
        "whole numbers from 10 to 90: probably a 0-10 score; relief is 97.0 % as typed, "
        "70.0 % if it is 24"
    )
    assert "row 6, column 'pain_post'" in str(warning) and "(value '2.4')" in str(warning)


@pytest.mark.parametrize(
    "rows",
    [
        # A whole number cannot be told from a good outcome: 5 mm is a fine result.
        ("S1,1,TN,VAS-100,80,20", "S1,2,TN,VAS-100,70,30", "S1,3,TN,VAS-100,80,5"),
        # The study writes decimals elsewhere: 2.4 mm is one of its values.
        ("S1,1,TN,VAS-100,72.5,20", "S1,2,TN,VAS-100,70,30", "S1,3,TN,VAS-100,80,2.4"),
        # Too few other scores to know how the study writes them.
        ("S1,1,TN,VAS-100,80,20", "S1,2,TN,VAS-100,80,2.4"),
    ],
    ids=["whole-number", "study-uses-decimals", "too-few-scores"],
)
def test_small_post_scores_that_may_be_real_are_not_flagged(tmp_path, rows):
    _none_of_ours(_load(tmp_path, SCORES, *rows), ("scale",))


# --- relief ---


def test_relief_below_minus_100_is_flagged_with_the_scores(tmp_path):
    rows = ("S1,1,TN,VAS-10,3,8", "S1,2,TN,VAS-10,4,8", "S1,3,TN,VAS-10,8,2")
    for worsening in ("keep", "floor"):  # flooring worsening at 0 must not hide it
        warning = _only(_load(tmp_path, SCORES, *rows, worsening=worsening), "doubled")
        assert (
            warning.message
            == "pain more than doubled: relief is -166.7 % (pain_pre 3, pain_post 8)"
        )
        assert "patients.csv, row 2, column 'pain_post'" in str(warning)
        assert "(value '8')" in str(warning)  # row 3 at exactly -100 % is not flagged


def test_reported_relief_below_minus_100_is_flagged(tmp_path):
    review = _load(tmp_path, SCORES + ",relief_pct", "S1,1,TN,,,,-150", "S1,2,TN,,,,60")
    warning = _only(review, "doubled")
    assert warning.message == "pain more than doubled: the reported relief is -150 %"
    assert "row 2, column 'relief_pct'" in str(warning) and "(value '-150')" in str(warning)


def test_relief_typed_as_fractions_in_one_study(tmp_path):
    review = _load(
        tmp_path,
        "study_id,patient_id,diagnosis,relief_pct",
        "S1,1,TN,0.84",
        "S1,2,TN,0.5",
        "S2,1,TN,70",
        "S2,2,TN,60",
    )
    warning = _only(review, "fractions")
    assert warning.message == (
        "every reported relief_pct of study S1 lies between 0 and 1 (0.5 to 0.84) while other "
        "studies report percentages: probably fractions typed for percentages (0.84 for 84 %)"
    )
    assert "rows 2, 3, column 'relief_pct'" in str(warning)
    assert "(value '0.84, 0.5')" in str(warning)
    assert "format the cells as percent" in str(warning)


def test_relief_typed_as_fractions_everywhere_is_one_warning(tmp_path):
    review = _load(
        tmp_path,
        "study_id,patient_id,diagnosis,relief_pct",
        "S1,1,TN,0.84",
        "S1,2,TN,0.5",
        "S2,1,TN,0.9",
    )
    warning = _only(review, "fractions")
    assert warning.message == (
        "every reported relief_pct (studies S1, S2) lies between 0 and 1 (0.5 to 0.9): "
        "probably fractions typed for percentages (0.84 for 84 %)"
    )
    assert warning.rows == (2, 3, 4)


def test_a_worsened_patient_does_not_hide_fractions(tmp_path):
    review = _load(
        tmp_path, "study_id,patient_id,diagnosis,relief_pct", "S1,1,TN,0.8", "S1,2,TN,-0.2"
    )
    warning = _only(review, "fractions")
    assert "lies between -1 and 1 (-0.2 to 0.8)" in warning.message and warning.rows == (2, 3)


# --- ages, follow-up, pain duration ---


def test_ages_out_of_the_plausible_range(tmp_path):
    review = _load(
        tmp_path,
        PEOPLE,
        "S1,1,TN,0,F,VAS-10,8,2",
        "S1,2,TN,104,F,VAS-10,8,2",
        "S1,3,TN,55,F,VAS-10,8,2",
        "S1,4,TN,0,M,VAS-10,7,2",
    )
    young = _only(review, "below 1 year")
    assert young.message == "age 0 is below 1 year: a patient who rates pain is older"
    assert "rows 2, 5, column 'age'" in str(young) and "(value '0')" in str(young)
    assert "0 is often typed for 'not reported'" in str(young)
    old = _only(review, "above 100 years")
    assert old.message == "age 104 is above 100 years"
    assert "row 3, column 'age'" in str(old) and "(value '104')" in str(old)


def test_an_age_already_in_error_gets_no_second_message(tmp_path):
    with pytest.raises(ValidationError) as caught:
        _load(tmp_path, PEOPLE, "S1,1,TN,130,F,VAS-10,8,2")
    messages = [str(p) for p in caught.value.problems]
    assert any("column 'age'" in m and "out of range" in m for m in messages)
    assert not any("above 100 years" in m for m in messages)


def test_follow_up_of_zero_or_beyond_30_years(tmp_path):
    review = _load(
        tmp_path,
        SCORES + ",followup_months",
        "S1,1,TN,VAS-10,8,2,0",
        "S1,2,TN,VAS-10,8,2,400",
        "S1,3,TN,VAS-10,8,2,24",
    )
    zero = _only(review, "not a follow-up result")
    assert zero.message == ("followup_months is 0: relief at 0 months is not a follow-up result")
    assert "row 2, column 'followup_months'" in str(zero) and "(value '0')" in str(zero)
    long = _only(review, "more than 30 years")
    assert long.message == "followup_months 400 is more than 30 years"
    assert "row 3, column 'followup_months'" in str(long) and "(value '400')" in str(long)


def test_pain_longer_than_the_patients_life(tmp_path):
    review = _load(
        tmp_path,
        "study_id,patient_id,diagnosis,age,pain_duration_years,relief_pct",
        "S1,1,TN,30,36,50",
        "S1,2,TN,30,30.5,50",  # an age of 30 may be 30.9 years
    )
    warning = _only(review, "longer than the patient's age")
    assert warning.message == "pain_duration_years 36 is longer than the patient's age 30"
    assert "row 2, column 'pain_duration_years'" in str(warning)
    assert "(value '36')" in str(warning)


def test_follow_up_in_years_typed_under_months(tmp_path):
    review = _load(
        tmp_path,
        SCORES + ",followup_months",
        "S1,1,TN,VAS-10,8,2,2",
        "S1,2,TN,VAS-10,8,2,3",
        "S1,3,TN,VAS-10,8,2,1.5",
        "S2,1,TN,VAS-10,8,2,24",
        "S2,2,TN,VAS-10,8,2,36",
        "S2,3,TN,VAS-10,8,2,48",
        "S3,1,TN,VAS-10,8,2,12",
        "S3,2,TN,VAS-10,8,2,60",
        "S4,1,TN,VAS-10,8,2,3",  # a case report followed for 3 months is fine
        "S4,2,TN,VAS-10,8,2,3",
        "S4,3,TN,VAS-10,8,2,3",  # and so is one protocol time point for every patient
    )
    warning = _only(review, "years typed as months")
    assert warning.message == (
        "every followup_months of study S1 is 5 or less while the other studies' median is "
        "18 months: probably years typed as months"
    )
    assert "rows 2, 3, 4, column 'followup_months'" in str(warning)
    assert "(value '2, 3, 1.5')" in str(warning)


def test_pain_duration_in_months_typed_under_years(tmp_path):
    review = _load(
        tmp_path,
        "study_id,patient_id,diagnosis,age,pain_duration_years,relief_pct",
        "S1,1,TN,70,36,50",
        "S1,2,TN,70,60,50",
        "S1,3,TN,70,48,50",
        "S2,1,TN,70,5,50",
        "S2,2,TN,70,7,50",
        "S2,3,TN,70,3,50",
        "S3,1,TN,70,8,50",
        "S3,2,TN,70,4,50",
    )
    warning = _only(review, "months typed as years")
    assert warning.message == (
        "the median pain_duration_years of study S1 is 48, 10 times the other studies' "
        "median of 5 years: probably months typed as years"
    )
    assert "rows 2, 3, 4, column 'pain_duration_years'" in str(warning)
    assert "(value '36, 60, 48')" in str(warning)


# --- the same patients in two studies ---

COHORT = (
    "S1,1,TN,54,F,VAS-10,7.5,2",
    "S1,2,AD,61,M,VAS-10,8.1,3.3",
    "S1,3,PHN,70,F,VAS-10,6,4",
)


def test_a_cohort_reported_in_two_papers(tmp_path):
    review = _load(
        tmp_path,
        PEOPLE,
        *COHORT,
        "S2,1,TN,54,F,VAS-10,7.5,2",
        "S2,2,AD,61,M,VAS-10,8.1,3.3",
        "S3,1,TN,48,F,VAS-10,7.5,2",  # another age: another patient
    )
    warning = _only(review, "reported twice")
    assert warning.message == (
        "study S1 (rows 2, 3) and study S2 (rows 5, 6) have 2 patients with the same age, "
        "sex, diagnosis, pain_pre and pain_post: probably the same cohort reported twice, "
        "for example in a follow-up report"
    )
    assert "rows 2, 3, 5, 6, column 'study_id'" in str(warning)
    assert "(value 'S1, S2')" in str(warning)


def test_one_patient_matching_on_five_fields_is_enough(tmp_path):
    review = _load(
        tmp_path, PEOPLE, *COHORT, "S2,7,TN,54,F,VAS-10,7.5,2", "S2,8,TN,40,M,VAS-10,9,1"
    )
    warning = _only(review, "reported twice")
    assert warning.message.startswith(
        "study S1 (row 2) and study S2 (row 5) have a patient with the same age, sex, "
        "diagnosis, pain_pre and pain_post: probably the same patient reported twice"
    )


def test_relief_stands_in_for_scores_but_four_fields_are_not_enough(tmp_path):
    header = "study_id,patient_id,diagnosis,age,sex,side,relief_pct"
    four = _load(tmp_path, header, "S1,1,TN,54,F,,70", "S2,1,TN,54,F,,70")
    _none_of_ours(four, ("twice",))
    five = _load(tmp_path, header, "S1,1,TN,54,F,left,70", "S2,1,TN,54,F,left,70")
    assert "the same age, sex, diagnosis, side and relief_pct" in _only(five, "twice").message


def test_a_field_that_differs_rules_a_match_out(tmp_path):
    header = PEOPLE + ",side"
    rows = ("S1,1,TN,54,F,VAS-10,7.5,2,left", "S2,1,TN,54,F,VAS-10,7.5,2,right")
    _none_of_ours(_load(tmp_path, header, *rows), ("twice",))


def test_a_duplicate_marked_excluded_is_not_flagged(tmp_path):
    header = PEOPLE + ",excluded,exclusion_reason"
    rows = ("S1,1,TN,54,F,VAS-10,7.5,2,,", "S2,1,TN,54,F,VAS-10,7.5,2,yes,same patient as S1")
    _none_of_ours(_load(tmp_path, header, *rows), ("twice",))


# --- ordinary data raise none of these warnings ---


def test_the_example_review_raises_none():
    _none_of_ours(load_review(EXAMPLE))


def test_a_large_review_with_coarse_scores_has_no_chance_duplicates(tmp_path):
    # 1000 simulated patients in 80 papers, a third scored on whole-number NRS: patients of
    # different papers share age, sex, diagnosis and both scores by chance.
    design, extras, _ = design_from_toml(EXAMPLE / "simulation.toml")
    design = dataclasses.replace(design, n_patients=1000, n_studies=80)
    scales = {"VAS-10": 0.45, "VAS-100": 0.25, "NRS-10": 0.3}
    simulate_review(design, dataclasses.replace(extras, pain_scales=scales), seed=0).write(tmp_path)
    shutil.copy(EXAMPLE / "categories.csv", tmp_path)
    review = load_review(tmp_path)
    _none_of_ours(review, ("twice", "scale", "fraction", "years", "months"))


def test_one_fraction_among_a_study_s_percentages_is_flagged(tmp_path):
    (tmp_path / "patients.csv").write_text(
        "study_id,patient_id,diagnosis,relief_pct\nS1,1,TN,50\nS1,2,TN,0.84\nS1,3,TN,70\n"
    )
    warnings = [str(w) for w in load_review(tmp_path).warnings]
    (found,) = [w for w in warnings if "below 1 %" in w]
    assert "row 3" in found and "column 'relief_pct'" in found and "0.84 for 84 %" in found
