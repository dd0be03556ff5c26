"""Every kind of bad input gives a clear message naming file, row, column and value,
exit code 2, no traceback, and leaves the user's files untouched."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from tests.conftest import digest, edit_sheet_xml, patients_csv

OK_1 = "S1,P1,TN,trigeminal nerve,50,F,VAS-10,8,2"
OK_2 = "S1,P2,DPS,none,60,M,VAS-10,7,5"
OK_3 = "S2,P1,central,thalamus,70,F,VAS-100,80,20"
STUDIES = "study_id,first_author,year,n_patients\nS1,Meyerson,1993,2\nS2,Nguyen,1997,1\n"


def _corrupt_xlsx() -> bytes:
    book = openpyxl.Workbook()
    book.active.append(["study_id", "patient_id", "diagnosis", "relief_pct"])
    buffer = io.BytesIO()
    book.save(buffer)
    data = bytearray(buffer.getvalue())
    return bytes(data[: len(data) // 2])  # a workbook cut off half-way, as a failed copy leaves it


def _xlsx_with_bad_sheet() -> bytes:
    # A valid zip whose sheet XML is damaged.
    book = openpyxl.Workbook()
    book.active.append(["study_id", "patient_id", "diagnosis", "relief_pct"])
    buffer = io.BytesIO()
    book.save(buffer)
    return edit_sheet_xml(buffer.getvalue(), lambda xml: xml[: len(xml) // 2])


def _two_unnamed_sheets() -> bytes:
    # Neither sheet is named for a table, nor has a patients table's headers.
    book = openpyxl.Workbook()
    book.active.title = "Sheet A"
    book.active.append(["code", "value"])
    book.active.append(["S1", 50])
    other = book.create_sheet("Sheet B")
    other.append(["x"])
    other.append([1])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# id -> (files to write, the fragments the message must contain[, extra validate options])
CASES: dict[str, tuple[Any, ...]] = {
    "missing-required-column-misspelt": (
        {
            "patients.csv": patients_csv(
                OK_1,
                header="study_id,patient_id,Dignosis,lesion_location,age,sex,pain_scale,pain_pre,pain_post",
            )
        },
        ["patients.csv", "row 1", "'diagnosis' is missing", "Did you mean 'Dignosis'"],
    ),
    "wrong-type-number": (
        {"patients.csv": patients_csv(OK_1, "S1,P2,DPS,none,forty,M,VAS-10,7,5")},
        ["patients.csv", "row 3", "column 'age'", "'forty'", "not a number"],
    ),
    "pain-score-outside-scale": (
        {"patients.csv": patients_csv(OK_1, "S1,P2,DPS,none,60,M,VAS-10,12,5")},
        ["row 3", "column 'pain_pre'", "'12'", "above the maximum of its scale VAS-10"],
    ),
    "negative-pain-score": (
        {"patients.csv": patients_csv(OK_1, "S1,P2,DPS,none,60,M,VAS-10,7,-1")},
        ["row 3", "column 'pain_post'", "'-1'", "out of range"],
    ),
    "relief-above-100": (
        {"patients.csv": "study_id,patient_id,diagnosis,relief_pct\nS1,P1,TN,40\nS1,P2,TN,140\n"},
        ["row 3", "column 'relief_pct'", "'140'", "at most 100"],
    ),
    "post-without-pre": (
        {"patients.csv": patients_csv(OK_1, "S1,P2,DPS,none,60,M,VAS-10,,5")},
        ["row 3", "column 'pain_pre'", "pain_post is given without pain_pre"],
    ),
    # Without --strict a patient with no outcome is excluded with a warning
    # (tests/data/test_extraction_sheets.py); --strict makes every warning a problem.
    "patient-without-outcome-strict": (
        {"patients.csv": patients_csv(OK_1, "S1,P2,DPS,none,60,M,VAS-10,7,")},
        ["row 3", "column 'relief_pct'", "has no outcome", "--strict"],
        ("--strict",),
    ),
    "no-outcome-columns": (
        {"patients.csv": "study_id,patient_id,diagnosis\nS1,P1,TN\n"},
        ["row 1", "no outcome columns", "pain_pre and pain_post, or relief_pct"],
    ),
    "duplicate-patient": (
        {"patients.csv": patients_csv(OK_1, OK_2, "S1,P1,TN,trigeminal nerve,55,F,VAS-10,9,1")},
        ["rows 2, 4", "column 'patient_id'", "study_id='S1', patient_id='P1' appears 2 times"],
    ),
    "study-not-in-studies-table": (
        {
            "patients.csv": patients_csv(OK_1, OK_2, OK_3, "S9,P1,TN,nerve,50,F,VAS-10,8,2"),
            "studies.csv": STUDIES,
        },
        ["patients.csv", "row 5", "column 'study_id'", "'S9'", "not in the studies table"],
    ),
    "unknown-category-label": (
        {
            "patients.csv": patients_csv(
                OK_1,
                "S1,P2,trigeminal neuralga,none,60,M,VAS-10,7,5",
                "S2,P1,trigeminal neuralga,thalamus,70,F,VAS-100,80,20",
            )
        },
        [
            "rows 3, 4",
            "column 'diagnosis'",
            "'trigeminal neuralga'",
            "unknown diagnosis label",
            "Closest category: 'TN'",
            "diagnosis,trigeminal neuralga,TN",
        ],
    ),
    "unknown-pain-scale": (
        {"patients.csv": patients_csv(OK_1, "S1,P2,DPS,none,60,M,VAS-5,3,1")},
        ["row 3", "column 'pain_scale'", "'VAS-5'", "VAS-10, VAS-100, NRS-10"],
    ),
    "pain-pre-zero": (
        {"patients.csv": patients_csv(OK_1, "S1,P2,DPS,none,60,M,VAS-10,0,0")},
        ["row 3", "column 'pain_pre'", "'0'", "% relief is undefined"],
    ),
    "empty-required-cell": (
        {"patients.csv": patients_csv(",P2,DPS,none,60,M,VAS-10,7,5", OK_1)},
        ["row 2", "column 'study_id'", "study_id is empty"],
    ),
    "age-out-of-range": (
        {"patients.csv": patients_csv(OK_1, "S1,P2,DPS,none,160,M,VAS-10,7,5")},
        ["row 3", "column 'age'", "'160'", "from 0 to 120"],
    ),
    "duplicate-header": (
        {"patients.csv": patients_csv(OK_1, header=PATIENT_HEADER_DUP)}
        if (
            PATIENT_HEADER_DUP
            := "study_id,patient_id,diagnosis,age,age,sex,pain_scale,pain_pre,pain_post"
        )
        else {},
        ["row 1", "the header 'age' appears twice (columns D and E)"],
    ),
    "ragged-row": (
        {"patients.csv": patients_csv(OK_1, OK_2 + ",surplus")},
        ["row 3", "'surplus'", "the row has 10 cells but the header has 9 columns"],
    ),
    "studies-year-not-integer": (
        {
            "patients.csv": patients_csv(OK_1, OK_2, OK_3),
            "studies.csv": "study_id,year\nS1,1993\nS2,199x\n",
        },
        ["studies.csv", "row 3", "column 'year'", "'199x'", "not a whole number"],
    ),
    "quality-unknown-study": (
        {
            "patients.csv": patients_csv(OK_1, OK_2, OK_3),
            "studies.csv": STUDIES,
            "quality.csv": "study_id,tool,item,judgement\nS1,JBI,Q1,yes\nS7,JBI,Q1,no\n",
        },
        ["quality.csv", "row 3", "column 'study_id'", "'S7'", "not in the studies table"],
    ),
    "quality-unknown-judgement": (
        {
            "patients.csv": patients_csv(OK_1, OK_2, OK_3),
            "quality.csv": "study_id,tool,item,judgement\nS1,JBI,Q1,yes\nS2,JBI,Q1,perhaps\n",
        },
        ["quality.csv", "row 3", "column 'judgement'", "'perhaps'", "unknown judgement label"],
    ),
    "empty-file": ({"patients.csv": ""}, ["patients.csv", "the file is empty"]),
    "blank-lines-only": ({"patients.csv": "\n\n  \n"}, ["patients.csv", "the file is empty"]),
    "header-only": (
        {"patients.csv": "study_id,patient_id,diagnosis,relief_pct\n"},
        ["patients.csv", "has a header row but no data rows"],
    ),
    "binary-garbage": (
        {"patients.csv": bytes(range(256)) * 8},
        ["patients.csv", "binary data"],
    ),
    "corrupt-xlsx": (
        {"patients.xlsx": _corrupt_xlsx()},
        ["patients.xlsx", "cannot be read as an Excel workbook"],
    ),
    "xlsx-damaged-sheet": (
        {"patients.xlsx": _xlsx_with_bad_sheet()},
        ["patients.xlsx", "cannot be read as an Excel workbook", "save it again as .xlsx"],
    ),
    "xlsx-sheets-unnamed": (
        {"review.xlsx": _two_unnamed_sheets()},
        ["review.xlsx", "Sheet A, Sheet B", "none is named 'patients' or has a patients"],
    ),
    "old-xls": (
        {"patients.xls": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)},
        ["old Excel 97-2003 (.xls)"],
    ),
    "corrupt-parquet": (
        {"patients.parquet": b"PAR1 this is not really parquet PAR1"},
        ["patients.parquet", "cannot be read as a Parquet file"],
    ),
    "unclosed-quote": (
        {"patients.csv": 'study_id,patient_id,diagnosis,relief_pct\nS1,P1,"TN,50\n'},
        ["patients.csv"],
    ),
    "two-headers-mean-the-same-column": (
        {
            "patients.csv": "study_id,patient_id,diagnosis,VAS pre,pain_pre,relief_pct\n"
            "S1,1,TN,8,8,50\n"
        },
        ["row 1", "the columns 'VAS pre' and 'pain_pre' both mean 'pain_pre'"],
    ),
    "duplicate-study-in-studies-table": (
        {
            "patients.csv": patients_csv(OK_1, OK_2, OK_3),
            "studies.csv": "study_id,year\nS1,1993\nS2,1997\nS1,1993\n",
        },
        ["studies.csv", "rows 2, 4", "study_id='S1' appears 2 times"],
    ),
    "two-patients-files": (
        {"patients.csv": patients_csv(OK_1), "patients.xlsx": _corrupt_xlsx()},
        ["several files could be the patients table (patients.csv, patients.xlsx)"],
    ),
    "no-patients-file-in-folder": ({"notes.txt.md": "hello"}, ["no patients file found"]),
}


def _expect_failure(run_cli, target: Path, fragments: list[str], options=()) -> str:
    result = run_cli("validate", target, *options)
    assert result.code == 2, result.out + result.err
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in result.err, f"{fragment!r} not in:\n{result.err}"
    return result.err


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_reported_precisely(case, tmp_path, run_cli):
    files, fragments, *options = CASES[case]
    for name, content in files.items():
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    before = {p: digest(p) for p in tmp_path.iterdir()}
    _expect_failure(run_cli, tmp_path, fragments, *options)
    assert {p: digest(p) for p in tmp_path.iterdir()} == before, "input files were modified"


def test_at_least_fifteen_kinds_of_bad_input():
    assert len(CASES) >= 15


def test_every_problem_is_reported_not_only_the_first(tmp_path, run_cli):
    (tmp_path / "patients.csv").write_text(
        patients_csv(
            "S1,P1,TN,nerve,forty,F,VAS-10,8,2",
            "S1,P2,DPS,none,60,M,VAS-10,12,5",
            "S1,P2,DPS,none,60,M,VAS-10,7,5",
        )
    )
    err = _expect_failure(run_cli, tmp_path, ["row 2", "'forty'", "row 3", "'12'", "rows 3, 4"])
    assert "3 problems to fix" in err


def test_missing_file_is_a_clear_error(tmp_path, run_cli):
    _expect_failure(run_cli, tmp_path / "nope.csv", ["nope.csv", "no such file"])


def test_debug_shows_the_traceback(tmp_path):
    from ipdmeta.cli import main
    from ipdmeta.errors import ReadError

    (tmp_path / "patients.csv").write_text("")
    with pytest.raises(ReadError):
        main(["--debug", "validate", str(tmp_path)])
