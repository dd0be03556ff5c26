"""Reading CSV (comma, semicolon, tab; UTF-8 with or without BOM; Latin-1), XLSX and
Parquet into the same typed tables, with spreadsheet row numbers."""

from __future__ import annotations

import openpyxl
import pandas as pd
import pytest

from ipdmeta.data import Severity, load_review
from ipdmeta.errors import ValidationError

ROWS = [
    ["S1", "P1", "trigeminal neuralgia", "50", "8", "2"],
    ["S1", "P2", "atypical facial pain", "61,5", "7", "5"],
    ["S2", "P1", "Wallenberg", "70", "8", "4"],
]
HEADER = ["study_id", "patient_id", "diagnosis", "age", "pain_pre", "pain_post"]


def _csv(delimiter: str) -> str:
    lines = [delimiter.join(HEADER)] + [delimiter.join(r) for r in ROWS]
    return "\n".join(lines) + "\n"


def _check(review):
    patients = review.patients
    assert list(patients["diagnosis"]) == ["TN", "DPS", "central"]
    assert list(patients["relief_pct"]) == pytest.approx([75.0, 100 * 2 / 7, 50.0])
    assert list(patients["source_row"]) == [2, 3, 4]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"], ids=["comma", "semicolon", "tab"])
def test_csv_delimiters(tmp_path, delimiter):
    text = _csv(delimiter)
    if delimiter == ",":
        text = text.replace("61,5", '"61,5"')
    path = tmp_path / "patients.csv"
    path.write_text(text, encoding="utf-8")
    review = load_review(tmp_path, outcome=None)
    _check(review)
    assert review.patients["age"].iloc[1] == 61.5  # decimal comma accepted


def test_utf8_bom_is_read(tmp_path):
    (tmp_path / "patients.csv").write_bytes("\ufeff".encode() + _csv(";").encode())
    _check(load_review(tmp_path))


def test_latin1_is_detected_and_reported(tmp_path):
    text = _csv(";").replace("S2;P1", "Müller 2005;P1")
    (tmp_path / "patients.csv").write_bytes(text.encode("latin-1"))
    review = load_review(tmp_path)
    assert "Müller 2005" in set(review.patients["study_id"])
    notice = [w for w in review.warnings if "not UTF-8" in w.message]
    assert notice and notice[0].severity is Severity.WARNING
    assert "Windows-1252" in notice[0].message


def test_blank_lines_keep_spreadsheet_row_numbers(tmp_path):
    text = _csv(",").replace('"61,5"', "61").replace("61,5", "61")
    lines = text.splitlines()
    lines.insert(2, "")  # a blank line between the first and second patient
    (tmp_path / "patients.csv").write_text("\n".join(lines) + "\n")
    review = load_review(tmp_path)
    assert list(review.patients["source_row"]) == [2, 4, 5]


def test_header_aliases_are_recognised(tmp_path):
    (tmp_path / "patients.csv").write_text(
        "Study,Patient,Dx,Age (years),VAS pre,VAS post,Stim frequency (Hz)\n"
        "S1,1,TN,50,8,2,40\nS1,2,DPS,60,6,3,50\n"
    )
    review = load_review(tmp_path)
    assert {"study_id", "patient_id", "diagnosis", "age", "pain_pre", "pain_post"} <= set(
        review.patients.columns
    )
    # an extra column is kept, typed and named as an identifier
    assert review.patients["stim_frequency_hz"].dtype == float


def test_extra_text_column_is_kept(tmp_path):
    (tmp_path / "patients.csv").write_text(
        "study_id,patient_id,diagnosis,relief_pct,surgeon\nS1,1,TN,50,A\nS1,2,TN,60,B\n"
    )
    assert list(load_review(tmp_path).patients["surgeon"]) == ["A", "B"]


def _workbook(path, sheets):
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)


def test_xlsx_one_sheet_per_table(tmp_path):
    patients = [HEADER] + [[r[0], r[1], r[2], 50, 8, 2] for r in ROWS]
    studies = [["study_id", "year"], ["S1", 1993], ["S2", 2001.0]]
    _workbook(
        tmp_path / "review.xlsx",
        {"Patients": patients, "Studies": studies, "Notes": [["free text"]]},
    )
    review = load_review(tmp_path)
    assert len(review.patients) == 3
    assert list(review.studies["year"]) == [1993, 2001]
    assert str(review.studies["year"].dtype) == "Int64"  # 2001.0 in a workbook is the year 2001
    assert "sheet Patients" in review.sources["patients"]


def test_integer_column_may_be_empty(tmp_path):
    (tmp_path / "patients.csv").write_text(
        "study_id,patient_id,diagnosis,relief_pct\nS1,1,TN,50\nS2,1,TN,40\n"
    )
    (tmp_path / "studies.csv").write_text("study_id,year,n_patients\nS1,1993,\nS2,,1\n")
    review = load_review(tmp_path)
    assert str(review.studies["year"].dtype) == "Int64"
    assert review.studies["year"].iloc[0] == 1993
    assert review.studies["year"].isna().iloc[1]
    assert review.studies["n_patients"].isna().iloc[0]


def test_xlsx_single_sheet_is_the_patients_table(tmp_path):
    _workbook(tmp_path / "extraction.xlsx", {"Sheet1": [HEADER, ["S1", 7.0, "TN", 50, 8, 2]]})
    review = load_review(tmp_path / "extraction.xlsx")
    assert review.patients["patient_id"].iloc[0] == "7"  # 7.0 in a workbook is the id "7"


def test_xlsx_problem_names_the_sheet(tmp_path):
    _workbook(tmp_path / "review.xlsx", {"patients": [HEADER, ["S1", "P1", "TN", "old", 8, 2]]})
    with pytest.raises(ValidationError) as caught:
        load_review(tmp_path)
    assert "[sheet patients], row 2, column 'age'" in str(caught.value)


def test_parquet(tmp_path):
    frame = pd.DataFrame(ROWS, columns=HEADER)
    frame["age"] = [50.0, 61.5, None]
    frame.to_parquet(tmp_path / "patients.parquet")
    review = load_review(tmp_path)
    _check(review)
    assert review.patients["age"].isna().iloc[2]


def test_patients_table_alone_is_valid(tmp_path):
    path = tmp_path / "my_ipd.csv"
    path.write_text(_csv(";"))
    review = load_review(path)
    assert review.studies is None and review.quality is None
    _check(review)
