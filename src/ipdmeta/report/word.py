"""``report.docx``: the methods paragraph, every table as an editable Word table, and the
figures with captions, for an author to paste from or edit.

Numbers are written as the HTML report shows them (p-values to 3 decimals, other
decimals to 2); tables.xlsx and results.json keep full precision.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ipdmeta.data.writers import write_bytes
from ipdmeta.report.html import fmt, pvalue

__all__ = ["figure_caption", "table_title", "write_report_docx"]

# Tables of the report by name; a model's tables are "<model>_<kind>".
_TITLES = {
    "studies": "Included studies",
    "responders": "Responders at each relief threshold (95% Wilson intervals)",
    "two_stage_studies": "Studies in the two-stage meta-analysis",
    "category_map": "How the papers' labels were mapped to categories",
    "pooled_mean_sensitivity": "Pooled mean relief and heterogeneity under other choices",
    "small_study_effects": "Egger's regression test for small-study effects",
    "confounder_screen": "Confounder screen",
    "grade": "Certainty of the evidence (GRADE) for pain relief",
    "prisma_checklist": "PRISMA 2020 checklist: where each item is reported",
    "quality": "Quality appraisal",
}
_MODEL_TABLES = {
    "fixed_effects": "fixed effects",
    "anova": "type III tests",
    "emmeans": "estimated marginal means",
    "pairwise": "pairwise contrasts",
    "variance_components": "variance components",
}
# Too long for a manuscript's tables; they are in tables.xlsx and tables/*.csv.
_LEFT_OUT = {"analysis_data", "quality"}


def table_title(name: str, models: Sequence[str]) -> str:
    """A caption's words for the table called ``name`` in the report."""
    if name in _TITLES:
        return _TITLES[name]
    for model in models:
        for kind, words in _MODEL_TABLES.items():
            if name == f"{model}_{kind}":
                return f"{words[0].upper()}{words[1:]}, {model} model"
    if name.startswith("robustness_"):
        _, index, model = name.split("_", 2)
        return f"Robustness of headline contrast {int(index) + 1}, {model} model"
    for prefix, words in (("relief_by_", "Relief by "), ("subgroups_", "Studies pooled by ")):
        if name.startswith(prefix):
            return words + name[len(prefix) :].replace("_", " ")
    return name.replace("_", " ").capitalize()


_FIGURES = {
    "prisma": "PRISMA 2020 flow diagram",
    "quality": "Quality appraisal of the included studies",
    "forest": "Forest plot of study mean relief (two-stage meta-analysis)",
    "funnel": "Funnel plot of study mean relief against its standard error",
}
_MODEL_FIGURES = {"emmeans": "Estimated marginal means", "diagnostics": "Model diagnostics"}


def figure_caption(name: str, models: Sequence[str]) -> str:
    """A caption's words for the figure called ``name`` in the report."""
    if name in _FIGURES:
        return _FIGURES[name]
    for model in models:
        for kind, words in _MODEL_FIGURES.items():
            if name == f"{kind}_{model}":
                return f"{words}, {model} model"
    if name.startswith("robustness_"):
        return f"Robustness of headline contrast {int(name.split('_')[1]) + 1}: p under each choice"
    return table_title(name, models)


def write_report_docx(
    path: str | Path,
    *,
    title: str,
    authors: Sequence[str],
    methods: str,
    findings: str,
    tables: Mapping[str, pd.DataFrame],
    models: Sequence[str],
    figures: Mapping[str, Path],
    figure_captions: Mapping[str, str],
) -> Path:
    """Write the Word document atomically; ``figures`` maps names to PNG files."""
    from docx import Document
    from docx.shared import Inches

    document = Document()
    document.add_heading(title, level=0)
    if authors:
        document.add_paragraph(", ".join(authors))
    document.add_heading("Methods", level=1)
    document.add_paragraph(methods)
    document.add_heading("Results", level=1)
    document.add_paragraph(findings)
    document.add_heading("Tables", level=1)
    number = 0
    for name, frame in tables.items():
        if name in _LEFT_OUT or frame.empty:
            continue
        number += 1
        document.add_paragraph(f"Table {number}. {table_title(name, models)}", style="Caption")
        _add_table(document, frame)
    document.add_heading("Figures", level=1)
    for number, (name, png) in enumerate(figures.items(), start=1):
        document.add_picture(str(png), width=Inches(6.0))
        caption = figure_captions.get(name, name.replace("_", " "))
        document.add_paragraph(f"Figure {number}. {caption}", style="Caption")
    buffer = io.BytesIO()
    document.save(buffer)
    return write_bytes(path, buffer.getvalue())


def _add_table(document: Any, frame: pd.DataFrame) -> None:
    table = document.add_table(rows=1, cols=len(frame.columns))
    table.style = "Light Grid Accent 1"
    for cell, column in zip(table.rows[0].cells, frame.columns, strict=True):
        cell.text = str(column)
    for row in frame.itertuples(index=False, name=None):
        cells = table.add_row().cells
        for cell, column, value in zip(cells, frame.columns, row, strict=True):
            cell.text = pvalue(value) if str(column).startswith("pvalue") else fmt(value, 2)
