"""Extraction workbooks as clinicians type them: every way a value could become a
different number is either read as the number meant or reported (file, sheet, row,
column, value). Each workbook is built here with openpyxl."""

from __future__ import annotations

import datetime as dt
import math
import re
import tempfile
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipdmeta.data import Severity, load_review
from ipdmeta.data.cells import MISSING_MARKERS
from ipdmeta.errors import ValidationError
from tests.conftest import edit_sheet_xml

HEADER = ["study_id", "patient_id", "diagnosis", "pain_scale", "pain_pre", "pain_post"]
ROWS = [
    ["S1", "P1", "TN", "VAS-10", 8, 2],
    ["S1", "P2", "DPS", "VAS-10", 7, 5],
    ["S2", "P1", "TN", "VAS-100", 80, 20],
]


def workbook(
    path: Path,
    rows: list[list[Any]],
    *,
    sheet: str = "patients",
    formats: dict[str, str] | None = None,
    merges: tuple[str, ...] = (),
    hidden_rows: tuple[int, ...] = (),
    others: dict[str, list[list[Any]]] | None = None,
) -> Path:
    """Write ``rows`` (row 1 first) to a workbook; ``formats`` maps cells to number formats."""
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = sheet
    for row in rows:
        ws.append(row)
    for cell, number_format in (formats or {}).items():
        ws[cell].number_format = number_format
    for cells in merges:
        ws.merge_cells(cells)
    for number in hidden_rows:
        ws.row_dimensions[number].hidden = True
    for name, other_rows in (others or {}).items():
        other = book.create_sheet(name)
        for row in other_rows:
            other.append(row)
    book.save(path)
    return path


def notes(review, severity=Severity.NOTE) -> list[str]:
    found = review.notes if severity is Severity.NOTE else review.warnings
    return [str(p) for p in found]


def problems(path: Path, **options: Any) -> list[str]:
    with pytest.raises(ValidationError) as raised:
        load_review(path, **options)
    return [str(p) for p in raised.value.problems if p.severity is Severity.ERROR]


# --- 1. Excel as Excel shows it ---


def test_percent_formatted_relief_is_the_percent_shown(tmp_path):
    rows = [["study_id", "patient_id", "diagnosis", "relief_pct"]]
    rows += [["S1", "P1", "TN", 0.84], ["S1", "P2", "TN", 0.845], ["S2", "P1", "DPS", 0.5]]
    formats = {"D2": "0%", "D3": "0.0%", "D4": "0%"}
    review = load_review(workbook(tmp_path / "patients.xlsx", rows, formats=formats))
    # 0.845 * 100 is 84.49999999999999 in binary; Excel shows 84.5, which is what was typed.
    assert list(review.patients["relief_pct"]) == [84.0, 84.5, 50.0]
    (note,) = [n for n in notes(review) if "formatted as percent" in n]
    assert "rows 2, 3, 4" in note and "column 'relief_pct'" in note
    assert "a cell showing 84 % is 84" in note


def test_a_literal_percent_sign_in_the_format_does_not_scale(tmp_path):
    rows = [["study_id", "patient_id", "diagnosis", "relief_pct"], ["S1", "P1", "TN", 84]]
    review = load_review(workbook(tmp_path / "p.xlsx", rows, formats={"D2": '0"%"'}))
    assert list(review.patients["relief_pct"]) == [84.0]


def test_relief_typed_as_fractions_without_percent_format_is_flagged(tmp_path):
    (tmp_path / "patients.csv").write_text(
        "study_id,patient_id,diagnosis,relief_pct\nS1,P1,TN,0.84\nS1,P2,TN,0.6\n"
        "S2,P1,TN,70\nS2,P2,DPS,55\n"
    )
    review = load_review(tmp_path)
    flagged = [w for w in notes(review, Severity.WARNING) if "between 0 and 1" in w]
    assert flagged and "rows 2, 3" in flagged[0]


def test_a_date_in_a_score_column_is_reported_never_read(tmp_path):
    rows = [HEADER, ROWS[0], ["S1", "P2", "DPS", "VAS-10", dt.datetime(2026, 10, 7), 5]]
    found = problems(workbook(tmp_path / "patients.xlsx", rows))
    (message,) = [p for p in found if "date" in p]
    assert "row 3" in message and "column 'pain_pre'" in message
    assert "7 Oct 2026" in message and "7/10" in message


def test_a_date_in_a_patient_id_is_reported(tmp_path):
    rows = [HEADER, ROWS[0], ["S1", dt.datetime(2026, 2, 1), "DPS", "VAS-10", 7, 5]]
    found = problems(workbook(tmp_path / "patients.xlsx", rows))
    assert any("column 'patient_id'" in p and "as a date" in p for p in found)


def test_numbers_stored_as_text_are_read_and_reported(tmp_path):
    rows = [HEADER, ROWS[0], ["S1", "P2", "DPS", "VAS-10", "7", "5"], ROWS[2]]
    review = load_review(workbook(tmp_path / "patients.xlsx", rows))
    assert list(review.patients["pain_pre"]) == [8.0, 7.0, 80.0]
    assert any("stored as text" in n and "row 3" in n for n in notes(review))


def _with_cached_values(path: Path, values: dict[str, str]) -> None:
    """Store a formula's value as Excel does when it saves (openpyxl writes none)."""

    def store(xml: str) -> str:
        for formula, value in values.items():
            # openpyxl writes the empty value as <v /> or <v></v>, with or without lxml.
            empty = (
                re.escape(f"<f>{formula}</f>") + r"<v\s*/>|" + re.escape(f"<f>{formula}</f><v></v>")
            )
            xml = re.sub(empty, f"<f>{formula}</f><v>{value}</v>", xml)
        return xml

    path.write_bytes(edit_sheet_xml(path.read_bytes(), store))


def test_formulas_are_read_as_their_calculated_values(tmp_path):
    rows = [[*HEADER, "relief_pct"], ROWS[0] + ["=(E2-F2)/E2*100"], ROWS[2] + [None]]
    path = workbook(tmp_path / "patients.xlsx", rows)
    _with_cached_values(path, {"(E2-F2)/E2*100": "75"})
    review = load_review(path)
    assert review.patients["relief_reported"].iloc[0] == 75.0
    assert any("formula" in n and "row 2" in n for n in notes(review))


def test_formulas_without_a_calculated_value_are_an_error(tmp_path):
    rows = [[*HEADER, "relief_pct"], ROWS[0] + ["=(E2-F2)/E2*100"], ROWS[2] + [None]]
    found = problems(workbook(tmp_path / "patients.xlsx", rows))
    assert any("formulas without a calculated value" in p and "G2" in p for p in found)


# --- 2. plausibility (the checks themselves are in test_plausibility.py) ---


def test_a_score_on_the_wrong_scale_is_flagged_with_its_cell(tmp_path):
    rows = "\n".join(
        ["study_id,patient_id,diagnosis,pain_scale,pain_pre,pain_post"]
        + [
            f"S1,P{i},TN,VAS-100,{pre},{post}"
            for i, (pre, post) in enumerate([(80, 20), (70, 30), (90, 10), (8.5, 25)], start=1)
        ]
    )
    (tmp_path / "patients.csv").write_text(rows + "\n")
    review = load_review(tmp_path)
    flagged = [w for w in notes(review, Severity.WARNING) if "row 5" in w and "8.5" in w]
    assert flagged and "column 'pain_pre'" in flagged[0]
    with pytest.raises(ValidationError, match="--strict"):
        load_review(tmp_path, strict=True)


# --- 3. one reading of a folder ---


def _review_workbook(path: Path, patients_sheet: str) -> Path:
    patients = [
        [f"S{s}", f"P{p}", "TN" if (s + p) % 2 else "DPS", "VAS-10", 8, 1 + (3 * s + p) % 6]
        for s in range(1, 5)
        for p in range(1, 4)
    ]
    studies = [["study_id", "first_author", "year", "n_patients"]]
    studies += [[f"S{s}", f"Author{s}", 1990 + s, 3] for s in range(1, 5)]
    quality = [["study_id", "item", "judgement"]] + [[f"S{s}", "Q1", "yes"] for s in range(1, 5)]
    return workbook(
        path,
        [HEADER, *patients],
        sheet=patients_sheet,
        others={"Included studies": studies, "Quality": quality, "Legend": [["Q1 = criteria"]]},
    )


@pytest.mark.parametrize(
    ("name", "sheet"),
    [("patients.xlsx", "Patients"), ("extraction.xlsx", "Extraction"), ("data.xlsx", "Sheet1")],
)
def test_validate_run_and_python_read_a_folder_the_same_way(tmp_path, run_cli, name, sheet):
    import json

    from ipdmeta.analysis.pipeline import run_review

    _review_workbook(tmp_path / name, sheet)
    (tmp_path / f"~${name}").write_bytes(b"\x0bDr. Example" + b" " * 150)  # Excel's lock file
    (tmp_path / f".~lock.{name}#").write_text("Dr. Example,host,01.12.2026 10:00;")
    api = load_review(tmp_path)
    run = run_review(tmp_path).data
    cli = run_cli("validate", tmp_path, "--json")
    assert cli.code == 0, cli.err
    payload = json.loads(cli.out)
    assert set(api.sources) == {"patients", "studies", "quality"}
    assert api.sources == run.sources
    for table in ("patients", "studies", "quality"):
        assert getattr(api, table).equals(getattr(run, table)), table
    assert [str(w) for w in api.warnings] == [str(w) for w in run.warnings]
    assert [str(n) for n in api.notes] == [str(n) for n in run.notes]
    assert [w["message"] for w in payload["warnings"]] == [w.message for w in api.warnings]
    assert [n["message"] for n in payload["notes"]] == [n.message for n in api.notes]
    assert payload["summary"]["n_patients"] == 12
    assert any("'Legend'" in n and "not read" in n for n in notes(api))


def test_a_table_both_in_the_workbook_and_in_its_own_file_is_an_error(tmp_path, run_cli):
    _review_workbook(tmp_path / "patients.xlsx", "Patients")
    (tmp_path / "studies.csv").write_text("study_id\nS1\nS2\n")
    result = run_cli("validate", tmp_path)
    assert result.code == 2
    assert "two studies tables" in result.err and "studies.csv" in result.err


def test_temporary_files_are_ignored(tmp_path):
    workbook(tmp_path / "patients.xlsx", [HEADER, *ROWS])
    (tmp_path / "~$patients.xlsx").write_bytes(b"\x0bDr. Example")
    (tmp_path / "patients.xlsx.tmp").write_bytes(b"partial")
    (tmp_path / "A1B2C3.tmp").write_bytes(b"partial")
    assert len(load_review(tmp_path).patients) == 3


# --- 4. headers people write ---


def test_a_title_row_above_the_header_is_one_note_not_a_cascade(tmp_path):
    lines = ["Extraction sheet MCS for CNOP (AB; checked CD),,,,,", ",,,,,"]
    lines += [",".join(HEADER)] + [",".join(str(c) for c in row) for row in ROWS]
    (tmp_path / "patients.csv").write_text("\n".join(lines) + "\n")
    review = load_review(tmp_path)
    assert list(review.patients["source_row"]) == [4, 5, 6]
    (note,) = [n for n in notes(review) if "header is row 3" in n]
    assert "row 1" in note and "Extraction sheet MCS" in note


def test_clinical_headers_are_recognised_and_listed(tmp_path):
    header = "Study,Pt,Dx,Scale,VAS pre-op,VAS post (last FU),% improvement,FU (months),Age (yrs)"
    (tmp_path / "patients.csv").write_text(
        header + "\nS1,1,TN,VAS-10,8,2,,12,45\nS1,2,DPS,VAS-10,7,5,,24,50\nS2,1,TN,,,,60,6,61\n"
    )
    review = load_review(tmp_path)
    patients = review.patients
    assert list(patients["pain_pre"].iloc[:2]) == [8.0, 7.0]
    assert list(patients["relief_pct"].round(6)) == [75.0, round(200 / 7, 6), 60.0]
    assert patients["followup_months"].dtype == float
    assert list(patients["age"]) == [45.0, 50.0, 61.0]
    (note,) = [n for n in notes(review) if n.split(": ", 1)[1].startswith("headers read as")]
    for fragment in (
        "'VAS pre-op' as pain_pre",
        "'% improvement' as relief_pct",
        "'Dx' as diagnosis",
        "'FU (months)' as followup_months",
        "'Pt' as patient_id",
    ):
        assert fragment in note


def test_a_header_in_years_is_converted_to_months(tmp_path):
    (tmp_path / "patients.csv").write_text(
        "study_id,patient_id,diagnosis,relief_pct,Follow-up (years)\nS1,1,TN,50,2\nS1,2,TN,60,1.5\n"
    )
    review = load_review(tmp_path)
    assert list(review.patients["followup_months"]) == [24.0, 18.0]
    assert any("column 'Follow-up (years)'" in n for n in notes(review))


def test_a_two_row_header_with_a_merged_group_cell(tmp_path):
    rows = [
        ["Study", "Pt", "Dx", "Scale", "VAS", None],
        [None, None, None, None, "pre", "post"],
        *ROWS,
    ]
    merges = ("A1:A2", "B1:B2", "C1:C2", "D1:D2", "E1:F1")
    review = load_review(workbook(tmp_path / "patients.xlsx", rows, merges=merges))
    assert list(review.patients["pain_post"]) == [2.0, 5.0, 20.0]
    assert any("'VAS pre'" in n and "spans rows 1 and 2" in n for n in notes(review))


def test_a_two_row_header_saved_as_csv(tmp_path):
    (tmp_path / "patients.csv").write_text(
        "study_id,patient_id,diagnosis,pain_scale,VAS,\n,,,,pre,post\n"
        + "\n".join(",".join(str(c) for c in row) for row in ROWS)
        + "\n"
    )
    assert list(load_review(tmp_path).patients["pain_pre"]) == [8.0, 7.0, 80.0]


def test_a_misspelt_header_gets_the_exact_rename(tmp_path):
    (tmp_path / "patients.csv").write_text(
        "study_id,patient_id,diagnosis,relief_pct,Folowup months\nS1,1,TN,50,12\n"
    )
    review = load_review(tmp_path)
    (warning,) = [w for w in notes(review, Severity.WARNING) if "did you mean" in w]
    assert "column 'Folowup months'" in warning and "'followup_months'" in warning


def test_review_toml_aliases_name_the_review_s_own_headers(tmp_path):
    (tmp_path / "patients.csv").write_text(
        "study_id,patient_id,diagnosis,NRS T0,NRS T1\nS1,1,TN,8,2\nS1,2,TN,6,3\n"
    )
    (tmp_path / "review.toml").write_text(
        '[data]\naliases = { pain_pre = ["NRS T0"], pain_post = ["NRS T1"] }\n'
        '[outcome]\ndefault_scale = "NRS-10"\n'
    )
    assert list(load_review(tmp_path).patients["relief_pct"]) == [75.0, 50.0]


def test_a_column_of_the_wrong_thing_is_one_problem(tmp_path):
    rows = [f"S1,{i},TN,{word},8,2" for i, word in enumerate("abcdefgh", start=1)]
    (tmp_path / "patients.csv").write_text(
        "study_id,patient_id,diagnosis,age,pain_pre,pain_post\n" + "\n".join(rows) + "\n"
    )
    (problem,) = problems(tmp_path)
    assert "8 of 8 cells cannot be read as numbers" in problem and "column 'age'" in problem


# --- 5. units in cells ---


def test_units_in_cells_are_read_and_reported_once_per_column(tmp_path):
    (tmp_path / "patients.csv").write_text(
        "study_id,patient_id,diagnosis,relief_pct,age,followup_months,pain_duration_years\n"
        "S1,1,TN,50,45y,18 mo,2 yrs\nS1,2,TN,60,45 years,2 yrs,6 mo\nS1,3,TN,70,50,6 wk,1.5 y\n"
    )
    review = load_review(tmp_path)
    patients = review.patients
    assert list(patients["age"]) == [45.0, 45.0, 50.0]
    assert list(patients["followup_months"].iloc[:2]) == [18.0, 24.0]
    assert patients["followup_months"].iloc[2] == pytest.approx(6 * 7 / (365.25 / 12), rel=1e-12)
    assert list(patients["pain_duration_years"]) == [2.0, 0.5, 1.5]
    age_notes = [n for n in notes(review) if "column 'age'" in n]
    assert len(age_notes) == 1 and "rows 2, 3" in age_notes[0]


@pytest.mark.parametrize(
    ("typed", "fragment"),
    [("8-9", "range"), ("> 50%", "inequality"), ("mid-40s", "approx"), ("1,000", "1000")],
)
def test_ambiguous_text_is_reported_precisely(tmp_path, typed, fragment):
    (tmp_path / "patients.csv").write_text(
        f'study_id,patient_id,diagnosis,relief_pct\nS1,1,TN,50\nS1,2,TN,"{typed}"\n'
    )
    (problem,) = problems(tmp_path)
    assert "row 3" in problem and "column 'relief_pct'" in problem and fragment in problem


def test_scores_typed_with_their_scale(tmp_path):
    (tmp_path / "patients.csv").write_text(
        "study_id,patient_id,diagnosis,pain_pre,pain_post\n"
        "S1,1,TN,7/10,VAS 2\nS2,1,TN,95 mm,40 mm\n"
    )
    review = load_review(tmp_path)
    assert list(review.patients["pain_scale"]) == ["VAS-10", "VAS-100"]
    assert list(review.patients["relief_pct"].round(6)) == [round(500 / 7, 6), round(5500 / 95, 6)]


def test_a_model_never_takes_a_numeric_column_with_text_as_a_factor(tmp_path):
    from ipdmeta.analysis.pipeline import run_review
    from ipdmeta.errors import ModelSpecError

    lines = ["study_id,patient_id,diagnosis,relief_pct,stim_hz"]
    lines += [f"S{i % 4},{i},{'TN' if i % 2 else 'DPS'},{40 + i},{40 + i}" for i in range(16)]
    lines[5] = lines[5].rsplit(",", 1)[0] + ",forty"
    (tmp_path / "patients.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "review.toml").write_text(
        '[[models]]\nname = "primary"\nfactor = "diagnosis"\n'
        'formula = "relief_pct ~ diagnosis + stim_hz + (1 | study_id)"\n'
    )
    with pytest.raises(ModelSpecError, match=r"'stim_hz'.*row 6 'forty'"):
        run_review(tmp_path)


# --- 6. merged cells, blank lines, summary rows, hidden parts ---


def test_study_written_once_over_merged_cells_blank_rows_and_a_mean_row(tmp_path):
    rows = [
        HEADER,
        ["S1", "P1", "TN", "VAS-10", 8, 2],
        [None, "P2", "DPS", "VAS-10", 7, 5],
        [None, "Mean", None, None, 7.5, 3.5],
        [],
        ["S2", "P1", "TN", "VAS-100", 80, 20],
        [None, "P2", "TN", "VAS-100", 60, 30],
        [],
        ["* scores read from figure 2"],
    ]
    review = load_review(workbook(tmp_path / "patients.xlsx", rows, merges=("A2:A3",)))
    patients = review.patients
    assert list(patients["study_id"]) == ["S1", "S1", "S2", "S2"]
    assert list(patients["source_row"]) == [2, 3, 6, 7]
    found = notes(review)
    assert any("merged cells" in n and "row 3" in n for n in found)
    assert any("summary rows" in n and "row 4" in n and "'Mean'" in n for n in found)
    assert any("footnote" in n and "row 9" in n for n in found)
    assert any("filled with the study of the row above" in n and "row 7" in n for n in found)


def test_hidden_rows_and_sheets_are_reported_not_analysed(tmp_path):
    rows = [HEADER, *ROWS, ["S2", "P2", "TN", "VAS-100", 90, 10]]
    path = workbook(tmp_path / "patients.xlsx", rows, hidden_rows=(5,))
    book = openpyxl.load_workbook(path)
    hidden = book.create_sheet("old version")
    hidden.append(HEADER)
    hidden.sheet_state = "hidden"
    book.save(path)
    review = load_review(path)
    assert list(review.patients["source_row"]) == [2, 3, 4]
    warnings = notes(review, Severity.WARNING)
    assert any("hidden rows were not read" in w and "row 5" in w for w in warnings)
    assert any("hidden sheet 'old version' not read" in w for w in warnings)


# --- 8. excluded patients ---


def test_excluded_patients_stay_in_the_table_but_out_of_the_analysis(tmp_path):
    (tmp_path / "patients.csv").write_text(
        "study_id,patient_id,diagnosis,relief_pct,excluded,exclusion_reason\n"
        "S1,1,TN,50,,\nS1,2,TN,60,yes,same patient as Nguyen 1997 case 3\nS1,3,??,,x,\n"
        "S2,1,DPS,,,\nS2,2,DPS,40,,\n"
    )
    review = load_review(tmp_path)
    assert list(review.patients["source_row"]) == [2, 6]
    excluded = review.excluded.set_index("source_row")["exclusion_reason"].to_dict()
    assert excluded == {
        3: "same patient as Nguyen 1997 case 3",
        4: "not given",
        5: "no outcome reported",
    }
    warnings = notes(review, Severity.WARNING)
    assert any("has no outcome" in w and "row 5" in w for w in warnings)
    assert any("without a reason" in w and "row 4" in w for w in warnings)
    # the unknown label '??' of an excluded patient is not checked further
    assert not any("'??'" in w for w in warnings)


def test_no_patient_left_is_an_error(tmp_path):
    (tmp_path / "patients.csv").write_text(
        "study_id,patient_id,diagnosis,relief_pct\nS1,1,TN,\nS1,2,TN,\n"
    )
    assert any("every patient is excluded" in p for p in problems(tmp_path))


# --- 9 and 10: run's options and the files it writes ---


def test_run_takes_validate_s_outcome_options_and_says_so(run_cli, small_review, tmp_path):
    import json

    out = tmp_path / "report"
    result = run_cli(
        "run", small_review, "--out", out, "--worsening", "floor", "--thresholds", "35,60"
    )
    assert result.code == 0, result.err
    assert "worsening: floor (from the command line; review.toml says keep)" in result.out
    assert "responder_thresholds: 35,60" in result.out
    saved = json.loads((out / "results.json").read_text())
    assert saved["overrides"]["worsening"] == {"review_toml": "keep", "used": "floor"}
    assert min(r["relief_pct"] for r in _csv_rows(out / "tables" / "analysis_data.csv")) >= 0


def _csv_rows(path: Path) -> list[dict[str, float]]:
    import csv

    with path.open() as handle:
        return [{"relief_pct": float(r["relief_pct"])} for r in csv.DictReader(handle)]


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_output_follows_the_umask(small_review, tmp_path, umask):
    import os

    from ipdmeta.report.build import run

    previous = os.umask(umask)
    try:
        out = tmp_path / f"out-{umask:o}"
        run(small_review, out)
    finally:
        os.umask(previous)
    assert (out.stat().st_mode & 0o777) == 0o777 & ~umask
    for path in [out / "results.json", out / "report.html", out / "tables" / "studies.csv"]:
        assert (path.stat().st_mode & 0o777) == 0o666 & ~umask, path


# --- the property: no cell becomes a different number without a word ---

_PLAIN = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_UNITS = ["", " y", " yrs", " mo", " months", " wk", "%", " %", " mm", "/10"]
_COLUMNS = {"age": "Age", "followup_months": "FU (months)", "relief_pct": "% relief"}


@st.composite
def _cells(draw: Any) -> tuple[Any, str | None]:
    """A cell as people type it: a number (maybe percent-formatted) or text."""
    number = draw(
        st.one_of(
            st.integers(-5, 130).map(float),
            st.floats(-5, 130, allow_nan=False).map(lambda x: round(x, draw(st.integers(0, 3)))),
        )
    )
    form = draw(st.sampled_from(["number", "percent", "text", "text+unit", "missing", "odd"]))
    if form == "number":
        return number, None
    if form == "percent":
        return number / 100, "0.0%"
    if form == "text":
        return f"{number:g}", None
    if form == "text+unit":
        return f"{number:g}{draw(st.sampled_from(_UNITS))}", None
    if form == "missing":
        return draw(st.sampled_from(["NR", "n/a", "-", "?", None])), None
    return draw(st.sampled_from(["8-9", "> 50%", "~45", "1,000", "forty", "45?", "mid-40s"])), None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_cells(), _cells(), _cells()), min_size=2, max_size=6))
def test_no_cell_becomes_a_different_number_without_a_word(rows):
    with tempfile.TemporaryDirectory() as folder:
        header = ["study_id", "patient_id", "diagnosis", *_COLUMNS.values()]
        data = [[f"S{i % 2}", f"P{i}", "TN", *(c for c, _ in row)] for i, row in enumerate(rows)]
        formats = {
            f"{'DEF'[j]}{i + 2}": fmt
            for i, row in enumerate(rows)
            for j, (_, fmt) in enumerate(row)
            if fmt
        }
        path = workbook(Path(folder) / "patients.xlsx", [header, *data], formats=formats)
        try:
            review = load_review(path)
        except ValidationError as error:
            reported = error.problems
            values = None
        else:
            reported = [*review.warnings, *review.notes]
            values = review.patients.set_index("source_row")
        said = {(r, p.column) for p in reported for r in p.rows}
        for i, row in enumerate(rows):
            number = i + 2
            for (cell, fmt), (column, header_text) in zip(row, _COLUMNS.items(), strict=True):
                if (number, header_text) in said or (number, None) in said:
                    continue  # reported: the reader said what it did, or refused the cell
                if values is None or number not in values.index:
                    continue  # the whole file was refused, or the patient excluded with a word
                typed = _as_typed(cell, fmt)
                read = values.loc[number, "relief_reported" if column == "relief_pct" else column]
                if typed is None:
                    assert pd.isna(read), (number, column, cell)
                else:
                    assert read == typed, (number, column, cell, fmt, read)


def _as_typed(cell: Any, fmt: str | None) -> float | None:
    """The number a cell shows when it is read with no rule at all, or None when empty."""
    if cell is None or (isinstance(cell, str) and cell.strip().casefold() in MISSING_MARKERS):
        return None
    if fmt:
        return float(f"{cell * 100:.15g}")
    if isinstance(cell, float | int):
        return float(cell)
    if _PLAIN.match(cell):
        return float(cell)
    return math.nan  # text no rule-free reading gives: must have been reported


def test_a_confounder_under_a_clinical_header_is_a_number_and_a_missing_one_an_error(
    small_review,
):
    from ipdmeta.analysis.pipeline import run_review
    from ipdmeta.errors import SpecError

    patients = pd.read_csv(small_review / "patients.csv")
    patients["FU"] = [6 + (i * 7) % 30 for i in range(len(patients))]  # 22+ distinct values
    patients.to_csv(small_review / "patients.csv", index=False)
    spec = small_review / "review.toml"
    spec.write_text(
        spec.read_text().replace('candidates = ["age"]', 'candidates = ["followup_months"]')
    )
    run = run_review(small_review)
    assert run.analysis_data["followup_months"].dtype == float
    assert "followup_months" in set(run.confounders.table["candidate"])
    spec.write_text(spec.read_text().replace('"followup_months"', '"follow_up_time"'))
    with pytest.raises(SpecError, match="'follow_up_time', which is not a column"):
        run_review(small_review)


@pytest.mark.parametrize(
    ("header", "typed", "months"),
    [("Years of follow-up", "2", 24.0), ("Months of follow-up", "18", 18.0),
     ("FU years", "1.5", 18.0), ("Follow up in months", "6", 6.0)],
)  # fmt: skip
def test_a_unit_named_anywhere_in_the_header_is_used(tmp_path, header, typed, months):
    (tmp_path / "patients.csv").write_text(
        f"study_id,patient_id,diagnosis,relief_pct,{header}\nS1,1,TN,50,{typed}\n"
    )
    assert list(load_review(tmp_path).patients["followup_months"]) == [months]


def test_a_stimulation_parameter_is_not_the_pre_operative_test(tmp_path):
    (tmp_path / "patients.csv").write_text(
        "study_id,patient_id,diagnosis,relief_pct,Stimulation frequency (Hz)\nS1,1,TN,50,130\n"
    )
    patients = load_review(tmp_path).patients
    assert "preop_test" not in patients and list(patients["stimulation_frequency_hz"]) == [130.0]


def test_run_strict_stops_on_a_warning(small_review, run_cli, tmp_path):
    patients = pd.read_csv(small_review / "patients.csv")
    patients.loc[0, "age"] = 104  # above 100: a warning
    patients.to_csv(small_review / "patients.csv", index=False)
    assert run_cli("run", small_review, "--out", tmp_path / "a", "--quiet").code == 0
    result = run_cli("run", small_review, "--out", tmp_path / "b", "--strict")
    assert result.code == 2 and "--strict" in result.err and "age 104" in result.err
    assert not (tmp_path / "b").exists()
