"""Traps found by trying the readers as a new user would: each once read a value as a
different number, or dropped patients, without a word."""

from __future__ import annotations

import zipfile

import pytest

from ipdmeta.data import Severity, load_review
from ipdmeta.data.headers import HeaderMatcher
from ipdmeta.data.schema import PATIENTS
from ipdmeta.errors import ReadError, ValidationError
from tests.conftest import edit_sheet_xml
from tests.data.test_extraction_sheets import HEADER, ROWS, workbook


def _messages(review, severity: Severity) -> list[str]:
    return [str(p) for p in (review.warnings if severity is Severity.WARNING else review.notes)]


@pytest.mark.parametrize(
    "summary", ["All (n=2)", "All", "Group mean", "Series mean", "Whole series", "x̄", "n = 2"]
)
def test_summary_rows_in_their_many_spellings_are_not_patients(tmp_path, summary):
    rows = [HEADER, *ROWS[:2], [None, summary, None, None, 7.5, 3.5], ROWS[2]]
    review = load_review(workbook(tmp_path / "patients.xlsx", rows))
    assert list(review.patients["source_row"]) == [2, 3, 5]
    assert any("summary rows" in n and "row 4" in n for n in _messages(review, Severity.NOTE))


def test_a_pooled_row_in_the_study_column_is_not_a_study(tmp_path):
    rows = [HEADER, *ROWS, ["Pooled", None, None, None, 40, 10]]
    review = load_review(workbook(tmp_path / "patients.xlsx", rows))
    assert set(review.patients["study_id"]) == {"S1", "S2"}


@pytest.mark.parametrize(
    ("header", "canonical"),
    [
        ("Age at FU", "age"),
        ("Age at follow-up", "age"),
        ("Duration of stimulation (months)", None),
        ("Relief duration", None),
        ("Pain before surgery (yrs)", "pain_duration_years"),
        ("Outcome at last follow-up (%)", "relief_pct"),
        ("Months after surgery", "followup_months"),
        ("Initial diagnosis", "diagnosis"),
        ("Prior treatments", None),
        ("Baseline medication", None),
        ("Post-op complications", None),
        ("VAS post 12 mo", "pain_post"),
        ("Pain (VAS) 12 months", "pain_post"),
        ("NRS follow-up", "pain_post"),
        ("Stimulation frequency (Hz)", None),
    ],
)
def test_headers_that_once_went_to_the_wrong_column(header, canonical):
    found = HeaderMatcher(PATIENTS).match(header)
    assert (found.canonical if found else None) == canonical


def test_a_time_point_in_a_score_header_is_not_the_scores_unit(tmp_path):
    (tmp_path / "patients.csv").write_text(
        "study_id,patient_id,diagnosis,pain_scale,VAS baseline,VAS 12 mo\n"
        "S1,1,TN,VAS-10,8,2\nS1,2,TN,VAS-10,6,3\n"
    )
    assert list(load_review(tmp_path).patients["relief_pct"]) == [75.0, 50.0]


def test_the_review_s_own_alias_wins_over_a_header_s_words(tmp_path):
    (tmp_path / "patients.csv").write_text(
        "study_id,patient_id,diagnosis,VAS vor OP,Post-op VAS mean,VAS nach OP\n"
        "S1,1,TN,8,99,2\nS1,2,TN,6,99,3\n"
    )
    (tmp_path / "review.toml").write_text(
        '[data]\naliases = { pain_pre = ["VAS vor OP"], pain_post = ["VAS nach OP"] }\n'
        '[outcome]\ndefault_scale = "VAS-10"\n'
    )
    review = load_review(tmp_path)
    assert list(review.patients["relief_pct"]) == [75.0, 50.0]
    assert any("could also mean pain_post" in n for n in _messages(review, Severity.NOTE))


def test_a_file_with_decimal_commas_does_not_read_a_thousands_point_as_a_decimal(tmp_path):
    (tmp_path / "patients.csv").write_text(
        "study_id;patient_id;diagnosis;relief_pct;FU (days)\nS1;1;TN;61,5;1.095\nS1;2;TN;50;12\n"
    )
    with pytest.raises(ValidationError) as raised:
        load_review(tmp_path)
    (problem,) = raised.value.problems
    assert "row 2" in str(problem) and "1095" in str(problem) and "'1.095'" in str(problem)


def test_one_study_written_several_ways_is_flagged_and_ditto_marks_are_the_study_above(tmp_path):
    (tmp_path / "patients.csv").write_text(
        "study_id,patient_id,diagnosis,relief_pct\n"
        "Smith 2005,1,TN,50\n\u3003,2,TN,60\nsmith  2005,3,TN,70\nSmith et al. 2005,4,TN,40\n"
        "Jones 2010,1,TN,30\nJones 2010,2,TN,35\n"
    )
    review = load_review(tmp_path)
    assert list(review.patients["study_id"][:2]) == ["Smith 2005", "Smith 2005"]
    (warning,) = [w for w in _messages(review, Severity.WARNING) if "differ only" in w]
    assert "'Smith 2005', 'smith  2005', 'Smith et al. 2005'" in warning
    assert "rows 2, 3, 4, 5" in warning


def test_a_second_sheet_of_patients_is_a_warning_not_a_silent_loss(tmp_path):
    jones = [HEADER, ["S9", "P1", "TN", "VAS-10", 9, 1]]
    path = workbook(
        tmp_path / "r.xlsx", [HEADER, *ROWS], sheet="Smith 2005", others={"Jones": jones}
    )
    review = load_review(path)
    (warning,) = [w for w in _messages(review, Severity.WARNING) if "also looks like" in w]
    assert "'Jones'" in warning and "not analysed" in warning


def test_a_hidden_sheet_is_reported_whatever_sheet_comes_first(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    book.active.title = "Notes"
    book.active.append(["Extraction by AB, checked by CD"])
    patients = book.create_sheet("Patients")
    for row in [HEADER, *ROWS]:
        patients.append(row)
    hidden = book.create_sheet("old")
    hidden.append(HEADER)
    hidden.sheet_state = "hidden"
    book.save(tmp_path / "patients.xlsx")
    warnings = _messages(load_review(tmp_path), Severity.WARNING)
    assert any("hidden sheet 'old' not read" in w for w in warnings)


def test_a_reason_column_is_the_exclusion_reason(tmp_path):
    (tmp_path / "patients.csv").write_text(
        "study_id,patient_id,diagnosis,relief_pct,Excluded,Reason\n"
        "S1,1,TN,50,,\nS1,2,TN,60,yes,reported again in Jones 2010\nS1,3,TN,70,,\n"
    )
    excluded = load_review(tmp_path).excluded
    assert list(excluded["exclusion_reason"]) == ["reported again in Jones 2010"]


def test_a_long_quality_table_with_the_study_written_once(tmp_path):
    (tmp_path / "patients.csv").write_text(
        "study_id,patient_id,diagnosis,relief_pct\nS1,1,TN,50\nS2,1,TN,60\n"
    )
    (tmp_path / "quality.csv").write_text(
        "study_id,item,judgement\nS1,Q1,yes\n,Q2,no\nS2,Q1,unclear\n,Q2,N/A\n"
    )
    quality = load_review(tmp_path).quality
    assert list(quality["study_id"]) == ["S1", "S1", "S2", "S2"]
    assert list(quality["judgement"]) == ["yes", "no", "unclear", "not applicable"]


@pytest.mark.parametrize("name", ["patients.ods", "patients.numbers"])
def test_other_spreadsheet_formats_get_a_save_as_message(tmp_path, name):
    with zipfile.ZipFile(tmp_path / name, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
    with pytest.raises(ReadError, match=r"save it as an Excel workbook \(\.xlsx\)"):
        load_review(tmp_path)


def test_an_excel_error_value_is_reported_as_such(tmp_path):
    path = workbook(tmp_path / "patients.xlsx", [[*HEADER, "relief_pct"], [*ROWS[0], None]])
    # What Excel saves for a failed formula: the formula and its cached error value.
    failed = '<c r="F2" t="e"><f>1/0</f><v>#DIV/0!</v></c>'
    typed = '<c r="F2" t="n"><v>2</v></c>'
    path.write_bytes(edit_sheet_xml(path.read_bytes(), lambda xml: xml.replace(typed, failed)))
    with pytest.raises(ValidationError) as raised:
        load_review(path)
    assert any(
        "Excel shows an error" in str(p) and "row 2" in str(p) for p in raised.value.problems
    )


def test_a_whole_number_in_a_percent_cell_says_why_it_is_out_of_range(tmp_path):
    rows = [["study_id", "patient_id", "diagnosis", "relief_pct"], ["S1", "P1", "TN", 84]]
    with pytest.raises(ValidationError) as raised:
        load_review(workbook(tmp_path / "patients.xlsx", rows, formats={"D2": "0%"}))
    (problem,) = raised.value.problems
    assert "'8400'" in str(problem) and "formatted as percent" in str(problem)


def test_an_unknown_scale_label_is_not_also_called_empty(tmp_path):
    (tmp_path / "patients.csv").write_text(
        "study_id,patient_id,diagnosis,pain_scale,pain_pre,pain_post\nS1,1,TN,VAS-7,8,2\n"
    )
    with pytest.raises(ValidationError) as raised:
        load_review(tmp_path)
    messages = [str(p) for p in raised.value.problems]
    assert any("unknown pain_scale label" in m or "unknown pain scale" in m for m in messages)
    assert not any("pain_scale is empty" in m for m in messages)


def test_a_question_mark_in_the_excluded_column_is_said_to_mean_included(tmp_path):
    (tmp_path / "patients.csv").write_text(
        "study_id,patient_id,diagnosis,relief_pct,excluded\nS1,1,TN,50,\nS1,2,TN,60,?\n"
    )
    review = load_review(tmp_path)
    assert len(review.patients) == 2
    (warning,) = [w for w in _messages(review, Severity.WARNING) if "read as included" in w]
    assert "row 3" in warning and "'?'" in warning


# --- round two ---


def test_surnames_and_initials_that_are_summary_words_are_patients(tmp_path):
    rows = [
        HEADER,
        ["Smith 2010", "P1", "TN", "VAS-10", 8, 2],
        [None, "P2", "DPS", "VAS-10", 7, 5],
        [],
        ["Min 2012"],  # a surname, written once above its patients
        [None, "SD", "TN", "VAS-10", 9, 3],  # a patient's initials
        [None, "Max", "central", "VAS-10", 6, 1],
        ["Range 2015", "1", "TN", "VAS-10", 8, 4],
    ]
    review = load_review(workbook(tmp_path / "patients.xlsx", rows))
    assert list(review.patients["study_id"]) == [
        "Smith 2010", "Smith 2010", "Min 2012", "Min 2012", "Range 2015"
    ]  # fmt: skip
    assert list(review.patients["patient_id"][2:4]) == ["SD", "Max"]


def test_a_diagnosis_sub_heading_is_not_a_study(tmp_path):
    rows = [
        HEADER,
        ["Smith 2010"],
        [None, "P1", "TN", "VAS-10", 8, 2],
        ["Atypical facial pain:"],
        [None, "P2", "DPS", "VAS-10", 7, 5],
        [None, "P3", "DPS", "VAS-10", 6, 3],
        [],
        ["Jones 2012"],
        [None, "P1", "TN", "VAS-10", 9, 1],
    ]
    review = load_review(workbook(tmp_path / "patients.xlsx", rows))
    assert list(review.patients["study_id"]) == ["Smith 2010"] * 3 + ["Jones 2012"]
    assert any("sub-headings" in n and "row 4" in n for n in _messages(review, Severity.NOTE))


def test_an_alias_naming_a_header_with_a_unit_keeps_the_unit(tmp_path):
    (tmp_path / "patients.csv").write_text(
        "study_id,patient_id,diagnosis,relief_pct,Stimulation period (years),Pain hx (months)\n"
        "S1,1,TN,50,2,18\n"
    )
    (tmp_path / "review.toml").write_text(
        '[data]\naliases = { followup_months = ["Stimulation period (years)"], '
        'pain_duration_years = ["Pain hx (months)"] }\n'
    )
    patients = load_review(tmp_path).patients
    assert list(patients["followup_months"]) == [24.0]
    assert list(patients["pain_duration_years"]) == [1.5]


@pytest.mark.parametrize(
    ("header", "canonical"),
    [
        ("Time since onset (y)", "pain_duration_years"),
        ("Medication reduction (%)", None),
        ("Improvement in QoL (%)", None),
        ("Pain relief at 12 months (%)", "relief_pct"),
        ("Relief (VAS points)", None),
        ("Prior surgery", None),
        ("Side effects", None),
        ("Post-stroke", None),
        ("Source of pain", None),
        ("Pain-free interval (months)", None),
        ("Recurrence after (months)", None),
        ("Âge", "age"),
        ("Pre-op", "pain_pre"),
        ("Post-op", "pain_post"),
    ],
)
def test_more_headers_that_went_to_the_wrong_column(header, canonical):
    found = HeaderMatcher(PATIENTS).match(header)
    assert (found.canonical if found else None) == canonical


def test_a_header_merged_over_an_empty_column_and_a_repeated_header_row(tmp_path):
    rows = [[*HEADER, "Comments", None], *ROWS[:2], HEADER, ROWS[2]]
    review = load_review(workbook(tmp_path / "patients.xlsx", rows, merges=("G1:H1",)))
    assert list(review.patients["source_row"]) == [2, 3, 5]
    assert any(
        "repeating the header" in n and "row 4" in n for n in _messages(review, Severity.NOTE)
    )


def test_a_scale_clash_quotes_what_was_typed(tmp_path):
    (tmp_path / "patients.csv").write_text(
        "study_id,patient_id,diagnosis,pain_scale,pain_pre,pain_post\nS1,1,TN,VAS-100,8/10,20\n"
    )
    with pytest.raises(ValidationError) as raised:
        load_review(tmp_path)
    assert any("'8/10'" in str(p) and "out of 10" in str(p) for p in raised.value.problems)


def test_run_without_models_runs_the_default_models_the_data_allow(small_review):
    import pandas as pd

    from ipdmeta.analysis.pipeline import run_review

    patients = pd.read_csv(small_review / "patients.csv")
    patients.drop(columns=["lesion_location"], errors="ignore").to_csv(
        small_review / "patients.csv", index=False
    )
    (small_review / "review.toml").write_text('[report]\ntitle = "no models given"\n')
    assert list(run_review(small_review).models) == ["primary"]
