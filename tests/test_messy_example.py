"""The messy example: the clean example's patients typed as a clinician would.

``examples/imcs-cnop/messy/`` holds one workbook with merged cells, a two-row header, units
inside cells, percent-formatted relief, missing markers, summary and footnote rows, a wide
quality appraisal, and Excel's lock file beside it. Read carefully, it is the same data as
``examples/imcs-cnop/``, so its analysis must equal the clean one exactly.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import openpyxl
import pandas as pd
import pytest

from ipdmeta.analysis.pipeline import run_review
from tests.conftest import EXAMPLE

MESSY = EXAMPLE / "messy"
GENERATED = ("extraction.xlsx", "~$extraction.xlsx", "categories.csv", "review.toml")
COMPARED_COLUMNS = [
    "relief_pct",
    "diagnosis",
    "lesion_location",
    "age",
    "sex",
    "followup_months",
    "pain_duration_years",
    "side",
    "electrode_position",
    "preop_test",
]


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_messy", MESSY / "make_messy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def workbook_content(path: Path) -> dict[str, Any]:
    """What a reader of the workbook sees: sheets, cell values, number formats, merged
    ranges, hidden rows and columns, and the document's dates (not the zip's bytes)."""
    book = openpyxl.load_workbook(path)
    content: dict[str, Any] = {
        "sheets": book.sheetnames,
        "created": book.properties.created,
        "modified": book.properties.modified,
    }
    for sheet in book.worksheets:
        content[sheet.title] = {
            "state": sheet.sheet_state,
            "cells": {
                cell.coordinate: (cell.value, cell.number_format)
                for row in sheet.iter_rows()
                for cell in row
                if cell.value is not None or cell.number_format != "General"
            },
            "merged": sorted(str(r) for r in sheet.merged_cells.ranges),
            "hidden_rows": sorted(k for k, d in sheet.row_dimensions.items() if d.hidden),
            "hidden_columns": sorted(k for k, d in sheet.column_dimensions.items() if d.hidden),
        }
    return content


# --- The committed files are what the generator writes ------------------------------------


def test_generator_reproduces_the_committed_files(tmp_path):
    load_generator().build(tmp_path)
    assert workbook_content(tmp_path / "extraction.xlsx") == workbook_content(
        MESSY / "extraction.xlsx"
    )
    for name in GENERATED[1:]:
        assert (tmp_path / name).read_bytes() == (MESSY / name).read_bytes(), name


def test_nothing_is_hidden():
    # Hidden rows and sheets are, by design, not analysed: the messy data hide nothing.
    content = workbook_content(MESSY / "extraction.xlsx")
    for name in content["sheets"]:
        sheet = content[name]
        assert sheet["state"] == "visible", name
        assert sheet["hidden_rows"] == [] and sheet["hidden_columns"] == [], name


def test_the_messy_features_are_there():
    book = openpyxl.load_workbook(MESSY / "extraction.xlsx")
    assert book.sheetnames == ["Extraction", "Included studies", "JBI appraisal", "Legend"]
    sheet = book["Extraction"]
    merged = {str(r) for r in sheet.merged_cells.ranges}
    assert {"A3:A4", "M3:N3", "A5:A15"} <= merged
    assert (sheet["M3"].value, sheet["M4"].value, sheet["N4"].value) == (
        "VAS",
        "pre-op",
        "post (last FU)",
    )
    percent = [c for row in sheet.iter_rows() for c in row if c.number_format.endswith("%")]
    assert {c.value for c in percent} >= {0.46, 0.72, 0.74}
    lock = (MESSY / "~$extraction.xlsx").read_bytes()
    assert len(lock) == 165 and lock.startswith(b"\x0bDr. Example")


# --- The analysis is the same -------------------------------------------------------------


@pytest.fixture(scope="module")
def clean_run():
    return run_review(EXAMPLE)


@pytest.fixture(scope="module")
def messy_run():
    # Excel's lock file sits beside the workbook, as when the reviewer has it open: the
    # run must ignore it.
    assert (MESSY / "~$extraction.xlsx").is_file()
    return run_review(MESSY)


def assert_same_table(messy: pd.DataFrame, clean: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        messy.reset_index(drop=True), clean.reset_index(drop=True), check_exact=True
    )


@pytest.mark.parametrize("model", ["primary", "secondary"])
def test_same_models(messy_run, clean_run, model):
    messy, clean = messy_run.models[model], clean_run.models[model]
    columns = ["term", "estimate", "se", "df", "pvalue"]
    assert_same_table(messy.fixed_effects[columns], clean.fixed_effects[columns])
    assert_same_table(messy.fixed_effects, clean.fixed_effects)
    assert_same_table(messy.anova, clean.anova)
    assert_same_table(messy.emmeans, clean.emmeans)
    assert list(messy.pairwise) == list(clean.pairwise)
    for adjust, table in clean.pairwise.items():
        assert_same_table(messy.pairwise[adjust], table)


def test_same_two_stage_meta_analysis(messy_run, clean_run):
    messy, clean = messy_run.two_stage.result, clean_run.two_stage.result
    assert clean is not None and messy is not None
    assert (messy.k, messy.I2, messy.tau2, messy.estimate) == (
        clean.k,
        clean.I2,
        clean.tau2,
        clean.estimate,
    )


def test_same_summary(messy_run, clean_run):
    messy, clean = messy_run.summary, clean_run.summary
    assert (messy.n_studies, messy.n_patients) == (clean.n_studies, clean.n_patients) == (23, 140)
    assert messy.relief["median"] == clean.relief["median"]
    assert messy.relief == clean.relief


def test_same_studies(messy_run, clean_run):
    columns = ["study_id", "first_author", "year", "title", "design", "n_patients"]
    assert_same_table(messy_run.data.studies[columns], clean_run.data.studies[columns])


def test_same_quality_appraisal(messy_run, clean_run):
    """The wide "JBI appraisal" sheet read long: each study's judgements in item order, the
    items named as the sheet names them (Q1 ... Q10) or by the legend's text."""

    def judgements(quality: pd.DataFrame) -> dict[str, list[str]]:
        return {study: list(rows["judgement"]) for study, rows in quality.groupby("study_id")}

    messy, clean = messy_run.data.quality, clean_run.data.quality
    assert judgements(messy) == judgements(clean)
    items = list(dict.fromkeys(messy["item"]))
    assert items in (list(dict.fromkeys(clean["item"])), [f"Q{n}" for n in range(1, 11)])


def test_same_analysis_data(messy_run, clean_run):
    """Patient by patient: matched by study and order within the study (the messy sheet
    numbers patients 1, 2, ... where the clean table has S01-P01, ...)."""

    def keyed(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.assign(order=frame.groupby("study_id").cumcount())
        return frame.set_index(["study_id", "order"]).sort_index()[COMPARED_COLUMNS]

    messy, clean = keyed(messy_run.analysis_data), keyed(clean_run.analysis_data)
    assert len(messy) == len(clean) == 140
    pd.testing.assert_frame_equal(messy, clean, check_exact=True)
    # Same order of rows too, so that every fit sees the data in the same order.
    assert list(messy_run.analysis_data["study_id"]) == list(clean_run.analysis_data["study_id"])
