"""A quality appraisal kept wide (one row per study, a column per checklist item) is read
as the long quality table, and every problem points at the wide cell to fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest

from ipdmeta.data import QUALITY, CategoryMap, Severity, load_review
from ipdmeta.data.headers import HeaderMatcher
from ipdmeta.data.quality_layout import long_quality_table
from ipdmeta.data.readers import RawTable
from ipdmeta.errors import ValidationError

PATIENTS = [
    ["study_id", "patient_id", "diagnosis", "pain_scale", "pain_pre", "pain_post"],
    ["S1", "P1", "TN", "VAS-10", 8, 2],
    ["S2", "P1", "TN", "VAS-10", 7, 3],
    ["S3", "P1", "DPS", "VAS-10", 6, 5],
]
HEADER = ["Study", "Tool", "Appraiser", "Q1", "Q2", "Q3", "Q4", "Total score", "Overall", "Notes"]
WIDE = [
    HEADER,
    ["S1", "JBI", "AB", "Y", "N", "U", "not applicable", 1, "Low", "small series"],
    ["S2", "JBI", "AB", "Yes", "No", "Unclear", "N/A", 2, "High", None],
    ["S3", "JBI", "CD", "y", "?", "N", "n", 1, "Some concerns", None],
]
LONG = [
    ("S1", "Q1", "yes"),
    ("S1", "Q2", "no"),
    ("S1", "Q3", "unclear"),
    ("S1", "Q4", "not applicable"),
    ("S2", "Q1", "yes"),
    ("S2", "Q2", "no"),
    ("S2", "Q3", "unclear"),
    ("S2", "Q4", "not applicable"),
    ("S3", "Q1", "yes"),
    ("S3", "Q2", "unclear"),
    ("S3", "Q3", "no"),
    ("S3", "Q4", "no"),
]
NOT_ITEMS = (
    "columns 'Appraiser', 'Total score', 'Overall' are not checklist items and were not read "
    "as judgements"
)
# Labels that are also ipdmeta's generic missing markers: judgements here, never empty.
MARKER_LABELS = {"N/A", "NA", "n.a.", "?"}


def _csv(rows: list[list[Any]]) -> str:
    return "".join(",".join("" if c is None else str(c) for c in row) + "\n" for row in rows)


def _workbook(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def _folder(tmp_path: Path, quality: list[list[Any]], kind: str = "csv") -> Path:
    """A review folder as reviewers make it: patients.csv beside quality.csv/.xlsx, or one
    workbook with a Patients and a Quality sheet."""
    if kind == "workbook":
        _workbook(tmp_path / "review.xlsx", {"Patients": PATIENTS, "Quality": quality})
        return tmp_path
    (tmp_path / "patients.csv").write_text(_csv(PATIENTS), encoding="utf-8")
    if kind == "xlsx":
        _workbook(tmp_path / "quality.xlsx", {"Quality": quality})
    else:
        (tmp_path / "quality.csv").write_text(_csv(quality), encoding="utf-8")
    return tmp_path


def _triples(quality: pd.DataFrame) -> list[tuple[str, str, str]]:
    return list(quality[["study_id", "item", "judgement"]].itertuples(index=False, name=None))


def _problems(folder: Path) -> list[Any]:
    with pytest.raises(ValidationError) as caught:
        load_review(folder)
    return caught.value.problems


def _errors(folder: Path) -> list[Any]:
    return [p for p in _problems(folder) if p.severity is Severity.ERROR]


def _quality_warnings(review: Any) -> list[str]:
    return [w.message for w in review.warnings if "quality" in f"{w.file} {w.sheet}".lower()]


def _raw(rows: list[list[Any]]) -> RawTable:
    """A quality table as the reader hands it over: header row 1, records from row 2."""
    header, *body = rows
    cells = pd.DataFrame(body, columns=header, dtype=object)
    return RawTable("quality.csv", None, cells, list(range(2, len(body) + 2)))


# --- the wide layout is read as the long one ---


@pytest.mark.parametrize("kind", ["workbook", "csv", "xlsx"])
def test_wide_sheet_becomes_the_long_quality_table(tmp_path, kind):
    review = load_review(_folder(tmp_path, WIDE, kind))
    quality = review.quality
    assert _triples(quality) == LONG
    assert list(quality["source_row"]) == [2] * 4 + [3] * 4 + [4] * 4
    assert set(quality["tool"]) == {"JBI"}
    assert list(quality["note"][:4]) == ["small series"] * 4
    assert quality["note"][4:].isna().all()
    assert NOT_ITEMS in _quality_warnings(review)


def test_workbook_sheet_is_named_in_sources_and_labels_are_in_the_label_map(tmp_path):
    review = load_review(_folder(tmp_path, WIDE, "workbook"))
    assert review.sources["quality"].endswith("review.xlsx [sheet Quality]")
    labels = review.label_map[review.label_map["table"] == "quality"]
    mapped = dict(zip(labels["raw_label"], labels["category"], strict=True))
    assert mapped["Y"] == mapped["y"] == mapped["Yes"] == "yes"
    assert mapped["U"] == mapped["?"] == mapped["Unclear"] == "unclear"
    assert mapped["not applicable"] == mapped["N/A"] == "not applicable"
    assert int(labels.loc[labels["raw_label"] == "Y", "n_rows"].iloc[0]) == 1


@pytest.mark.parametrize("label", ["not applicable", "Not Applicable", "N/A", "NA", "n.a."])
def test_not_applicable_labels_are_read_as_not_applicable(tmp_path, label):
    wide = [["study_id", "Q1", "Q2"], ["S1", "Y", label], ["S2", label, "N"]]
    review = load_review(_folder(tmp_path, wide))
    assert list(review.quality["judgement"]) == ["yes", "not applicable", "not applicable", "no"]


@pytest.mark.parametrize("label", sorted(MARKER_LABELS | {"not applicable", "Y", "U"}))
def test_labels_that_are_also_missing_markers_are_judgements_not_empty_cells(label):
    raw = _raw([["study_id", "Q1", "Q2"], ["S1", "Y", label], ["S2", None, "N"]])
    long = long_quality_table(raw, CategoryMap.from_vocabularies())
    assert long.cells.values.tolist() == [
        ["S1", "Q1", "Y"],
        ["S1", "Q2", label],
        ["S2", "Q2", "N"],
    ]
    assert long.row_numbers == [2, 2, 3]
    assert [p.message for p in long.problems if p.severity is not Severity.NOTE] == [
        "empty judgement cells, read as not judged and left out: row 3 ('Q1')"
    ]


def test_a_study_answering_n_to_the_first_item_is_read(tmp_path):
    wide = [["study_id", "Q1", "Q2"], ["S1", "Y", "Y"], ["S2", "N", "Y"]]
    review = load_review(_folder(tmp_path, wide))
    assert _triples(review.quality)[2:] == [("S2", "Q1", "no"), ("S2", "Q2", "yes")]


def test_a_title_above_the_header_does_not_rename_the_items(tmp_path):
    wide = [["JBI Critical Appraisal Checklist for Case Series"], ["Study", "Q1", "Q2"]]
    wide += [["S1", "Y", "N"], ["S2", "U", "Y"]]
    review = load_review(_folder(tmp_path, wide, "workbook"))
    assert _triples(review.quality)[:2] == [("S1", "Q1", "yes"), ("S1", "Q2", "no")]


def test_question_text_headers_name_the_items(tmp_path):
    wide = [
        [
            "Author, year",
            "Study",
            "Were there clear criteria for inclusion?",
            "Was the condition measured in a standard,\nreliable way?",
            "Consecutive inclusion",
        ],
        ["Meyerson 1993", "S1", "Yes", "Unclear", "No"],
        ["Nguyen 1997", "S2", "No", "Yes", "Yes"],
    ]
    review = load_review(_folder(tmp_path, wide, "workbook"))
    items = list(dict.fromkeys(review.quality["item"]))
    assert items == [
        "Were there clear criteria for inclusion?",
        "Was the condition measured in a standard, reliable way?",
        "Consecutive inclusion",  # no "?", but its cells are judgements
    ]
    assert "column 'Author, year' is not a checklist item and was not read as judgements" in (
        _quality_warnings(review)
    )


def test_ihe_item_names_without_question_marks_are_items(tmp_path):
    # "Study objective ..." is an item, not the study column; one odd answer ("Partial")
    # among two studies does not hide the item, it is reported until the map knows it.
    wide = [
        ["Study", "Study objective clearly stated", "Prospective design",
         "Conclusions supported by results", "Score (/18)"],
        ["S1", "Yes", "No", "Partial", 12],
        ["S2", "Yes", "Yes", "Yes", 15],
    ]  # fmt: skip
    folder = _folder(tmp_path, wide, "workbook")
    (problem,) = _errors(folder)
    assert (problem.rows, problem.column, problem.value) == (
        (2,),
        "Conclusions supported by results",
        "Partial",
    )
    (folder / "categories.csv").write_text(
        "column,label,category\njudgement,partial,unclear\n", encoding="utf-8"
    )
    review = load_review(folder)
    assert list(dict.fromkeys(review.quality["item"])) == wide[0][1:4]
    assert review.quality["judgement"].tolist()[:3] == ["yes", "no", "unclear"]
    assert "column 'Score (/18)' is not a checklist item and was not read as judgements" in (
        _quality_warnings(review)
    )


def test_the_category_map_decides_what_a_judgement_is(tmp_path):
    # Answers coded 1/0 and "partly" are judgements once the review's map says so.
    wide = [["study_id", "Q1", "Q2", "Q3"], ["S1", 1, 0, "partly"], ["S2", 0, 1, 1]]
    folder = _folder(tmp_path, wide, "workbook")
    (folder / "categories.csv").write_text(
        "column,label,category\njudgement,1,yes\njudgement,0,no\njudgement,partly,unclear\n",
        encoding="utf-8",
    )
    review = load_review(folder)
    assert list(review.quality["judgement"]) == ["yes", "no", "unclear", "no", "yes", "yes"]


def test_a_long_table_is_returned_unchanged(tmp_path):
    raw = _raw([["study_id", "tool", "item", "judgement"], ["S1", "JBI", "Q1", "yes"]])
    assert long_quality_table(raw, CategoryMap.from_vocabularies()) is raw
    long = [["study_id", "tool", "item", "judgement"], ["S1", "JBI", "Q1", "Y"]]
    long += [["S1", "JBI", "Q2", "no"], ["S2", "JBI", "Q1", "unclear"]]
    review = load_review(_folder(tmp_path, long))
    assert _triples(review.quality) == [
        ("S1", "Q1", "yes"),
        ("S1", "Q2", "no"),
        ("S2", "Q1", "unclear"),
    ]
    assert list(review.quality["source_row"]) == [2, 3, 4]
    assert _quality_warnings(review) == []


def test_review_aliases_name_the_study_column():
    raw = _raw([["Ref.", "Q1", "Q2"], ["S1", "Y", "N"], ["S2", "U", "Y"]])
    matcher = HeaderMatcher(QUALITY, {"study_id": ["Ref."]})
    long = long_quality_table(raw, CategoryMap.from_vocabularies(), matcher)
    assert list(long.cells.columns) == ["Ref.", "item", "judgement"]
    assert long.cells["Ref."].tolist() == ["S1", "S1", "S2", "S2"]


def test_a_long_table_with_a_misnamed_item_column_is_left_to_typing():
    raw = _raw([["study_id", "Domain", "Judgement"], ["S1", "D1", "low"], ["S1", "D2", "high"]])
    assert long_quality_table(raw, CategoryMap.from_vocabularies()) is raw


def test_kinds_follow_the_cells():
    raw = _raw([["study_id", "Q1", "Q2"], ["S1", "Y", "N"], ["S2", "U", "Y"]])
    raw.kinds = pd.DataFrame(
        [[None, None, "formula"], [None, None, None]], columns=raw.cells.columns, dtype=object
    )
    long = long_quality_table(raw, CategoryMap.from_vocabularies())
    assert long.kinds is not None
    assert long.kinds["judgement"].tolist() == [None, "formula", None, None]
    assert list(long.kinds.columns) == list(long.cells.columns)


# --- problems point at the wide cell ---


def test_unknown_labels_name_row_column_and_value(tmp_path):
    wide = [
        ["study_id", "Q1", "Q2", "Q3"],
        ["S1", "Y", "yess", "N"],
        ["S2", "Y", "N", "perhaps"],
        ["S3", "U", "N", "perhaps"],
    ]
    folder = _folder(tmp_path, wide)
    problems = _problems(folder)
    where = str(folder / "quality.csv")
    texts = [str(p) for p in problems]
    assert (
        f"{where}, rows 3, 4, column 'Q3': unknown judgement label (value 'perhaps'); expected "
        "yes, no, unclear or not applicable. Correct the answer, or map it in categories.csv "
        "(the review's category map, columns column,label,category): 'judgement,perhaps,"
        "<category>'"
    ) in texts
    assert (
        f"{where}, row 2, column 'Q2': unknown judgement label (value 'yess'); expected yes, no, "
        "unclear or not applicable. Closest category: 'yes'. If that is what it means, add the "
        "line 'judgement,yess,yes' to categories.csv (the review's category map, columns "
        "column,label,category)"
    ) in texts
    # Reported once, at the wide cell: typing does not see the unknown labels again.
    assert [p.column for p in problems if p.severity is Severity.ERROR] == ["Q2", "Q3"]


def test_unknown_label_in_a_workbook_names_the_sheet(tmp_path):
    wide = [["Study", "Q1", "Q2", "Q3"], ["S1", "Y", "N", "perhaps"], ["S2", "Y", "N", "Y"]]
    (problem,) = _errors(_folder(tmp_path, wide, "workbook"))
    assert problem.location == f"{tmp_path / 'review.xlsx'} [sheet Quality], row 2, column 'Q3'"
    assert (problem.value, problem.message) == ("perhaps", "unknown judgement label")
    assert problem.expected == "yes, no, unclear or not applicable"


def test_empty_cells_are_reported_once_and_left_out(tmp_path):
    wide = [
        ["study_id", "Q1", "Q2", "Q3", "Q4"],
        ["S1", "Y", None, "not applicable", None],
        ["S2", None, None, None, None],
        ["S3", "U", "Y", "N", None],
    ]
    review = load_review(_folder(tmp_path, wide))
    (empty,) = [w for w in review.warnings if "empty" in w.message]
    assert empty.severity is Severity.WARNING
    assert empty.rows == (2, 3, 4)
    assert str(empty) == (
        f"{tmp_path / 'quality.csv'}, rows 2, 3, 4: empty judgement cells, read as not judged "
        "and left out: column 'Q4' (every row), row 2 ('Q2'), row 3 (every item). Write N/A "
        "where an item does not apply to the study, and 'unclear' where the paper does not say"
    )
    assert _triples(review.quality) == [
        ("S1", "Q1", "yes"),
        ("S1", "Q3", "not applicable"),
        ("S3", "Q1", "unclear"),
        ("S3", "Q2", "yes"),
        ("S3", "Q3", "no"),
    ]


def test_non_item_columns_are_reported_with_the_reason(tmp_path):
    wide = [
        ["study_id", "Appraiser", "Q1", "Q2", "JBI score", "Risk of bias", "Year"],
        ["S1", "AB", "Y", "N", 1, "Low", 1993],
        ["S2", "CD", "N", "N", 0, "High", 1997],
    ]
    review = load_review(_folder(tmp_path, wide))
    assert set(review.quality["item"]) == {"Q1", "Q2"}
    (warning,) = [w for w in review.warnings if "not checklist items" in w.message]
    assert warning.severity is Severity.WARNING
    assert warning.message == (
        "columns 'Appraiser', 'JBI score', 'Risk of bias', 'Year' are not checklist items and "
        "were not read as judgements"
    )
    assert warning.hint == (
        "Not items: 'Appraiser', 'Year' (about the study or the appraisal); 'JBI score' "
        "(numbers); 'Risk of bias' (summaries). A column is read as an item when its header is "
        "numbered like Q1, Item 1 or D1, or is a question ending in '?', or when at least half "
        "of its cells are yes, no, unclear or not applicable; rename a header if it is an item"
    )


def test_a_total_row_below_the_studies_is_not_a_study():
    raw = _raw(
        [
            ["study_id", "Q1", "Q2"],
            ["S1", "Y", "N"],
            ["S2", "Y", "Y"],
            ["Key 2004", "Y", "N"],  # named like a legend row, but answered: a study
            ["Total (yes)", 3, 1],
            ["Legend: Y = yes, N = no", None, None],
        ]
    )
    long = long_quality_table(raw, CategoryMap.from_vocabularies())
    assert long.cells["study_id"].tolist() == ["S1", "S1", "S2", "S2", "Key 2004", "Key 2004"]
    (footer,) = [p for p in long.problems if p.severity is not Severity.NOTE]
    assert str(footer) == (
        "quality.csv, rows 5, 6: 'Total (yes)', 'Legend: Y = yes, N = no' are not studies but "
        "total or note rows, and were not read. Delete the row if it is not needed; if it is a "
        "study, give it another name"
    )
    assert footer.severity is Severity.WARNING


def test_a_study_on_two_rows_is_an_error(tmp_path):
    wide = [["Study", "Q1", "Q2"], ["S1", "Y", "N"], ["S2", "Y", "Y"], ["S1", "U", "N"]]
    (problem,) = _errors(_folder(tmp_path, wide))
    assert str(problem) == (
        f"{tmp_path / 'quality.csv'}, rows 2, 4, column 'Study': the study is appraised on 2 "
        "rows (value 'S1'); expected one row per study in a quality table with a column per "
        "checklist item. Keep one row per study (the appraisers' consensus). If the table is in "
        "the long layout (one row per study and item), name its columns study_id, item and "
        "judgement"
    )


def test_a_wide_table_without_a_study_column_asks_for_one(tmp_path):
    wide = [["Author", "Q1", "Q2"], ["Meyerson", "Y", "N"], ["Nguyen", "Y", "Y"]]
    problems = _problems(_folder(tmp_path, wide))
    assert str(problems[0]) == (
        f"{tmp_path / 'quality.csv'}: the quality table has a column per checklist item ('Q1', "
        "'Q2') but no column naming the study; expected a study_id column naming the appraised "
        "study on each row. Rename the column that names the study (is it 'Author'?) to "
        "'study_id'; the item and judgement columns are then made from the item columns"
    )
    assert any(p.message.startswith("the required column 'study_id' is missing") for p in problems)


def test_a_table_in_neither_layout_says_so(tmp_path):
    wide = [["study_id", "Grade A", "Grade B"], ["S1", "good", "poor"], ["S2", "fair", "good"]]
    problems = _problems(_folder(tmp_path, wide))
    layout = problems[0]
    assert layout.message == (
        "the quality table is in neither layout ipdmeta reads: no column holds checklist answers"
    )
    assert layout.expected == (
        "the long layout (columns study_id, item and judgement: one row per study and item) or "
        "the wide layout (a study_id column and one column per checklist item, answered yes, no, "
        "unclear or not applicable)"
    )
    assert any(p.message.startswith("the required column 'item' is missing") for p in problems)
