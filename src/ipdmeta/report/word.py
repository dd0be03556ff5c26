"""``report.docx``: the methods paragraph, every table as an editable Word table, and the
figures with captions, for an author to paste from or edit.

Numbers are written as the HTML report shows them (p-values to 3 decimals, other
decimals to 2); tables.xlsx and results.json keep full precision.
"""

from __future__ import annotations

import html
import io
import re
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ipdmeta.data.writers import write_bytes
from ipdmeta.report.html import fmt, pvalue
from ipdmeta.report.rounding import is_pvalue_column

__all__ = [
    "figure_caption",
    "finish_report_docx",
    "start_report_docx",
    "table_title",
    "write_checklist_docx",
]

# Tables of the report by name; a model's tables are "<model>_<kind>".
_TITLES = {
    "studies": "Included studies",
    "searches": "Searches: sources, dates, query strings and records found",
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
    "funnel": (
        "Contour-enhanced funnel plot of study mean relief against its standard error "
        "(shading: each study's own p against no relief)"
    ),
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


def start_report_docx(
    *,
    title: str,
    authors: Sequence[str],
    methods: str,
    findings: str,
    references: Sequence[str],
    tables: Mapping[str, pd.DataFrame],
    models: Sequence[str],
) -> Any:
    """The document up to its figures: title, methods, results and every table.

    It is built while the figures are drawn; :func:`finish_report_docx` adds them.
    Tables too wide for a portrait page (more than 8 columns) are set on landscape pages.
    """
    from docx import Document

    document = Document()
    style = _style_ids(document)
    _styled(document, title, style["Title"])
    if authors:
        document.add_paragraph(", ".join(authors))
    _styled(document, "Methods", style["Heading 1"])
    document.add_paragraph(_xml_text(methods))
    _styled(document, "Results", style["Heading 1"])
    document.add_paragraph(_xml_text(findings))
    if references:
        _styled(document, "References", style["Heading 1"])
        for entry in references:
            document.add_paragraph(entry)
    _styled(document, "Tables", style["Heading 1"])
    number = 0
    for name, frame in tables.items():
        if name in _LEFT_OUT or frame.empty:
            continue
        number += 1
        _set_orientation(document, landscape=len(frame.columns) > _PORTRAIT_COLUMNS)
        caption = _styled(
            document, f"Table {number}. {table_title(name, models)}", style["Caption"]
        )
        caption.paragraph_format.keep_with_next = True
        _add_table(document, frame, style["Light Grid Accent 1"])
    return document


def finish_report_docx(
    document: Any,
    path: str | Path,
    figures: Mapping[str, tuple[bytes, float]],
    figure_captions: Mapping[str, str],
) -> Path:
    """Add the figures, by name (PNG bytes and width in inches), with captions, and write
    the file atomically.

    A figure keeps its width up to the text width, and is shrunk to leave room for its
    caption on the page when it is taller than the text area.
    """
    from docx.shared import Emu, Inches

    _set_orientation(document, landscape=False)
    section = document.sections[-1]
    text_width = section.page_width - section.left_margin - section.right_margin
    text_height = section.page_height - section.top_margin - section.bottom_margin
    tallest = text_height - Inches(_CAPTION_ROOM_INCHES)
    style = _style_ids(document)
    _styled(document, "Figures", style["Heading 1"])
    for number, (name, (png, width)) in enumerate(figures.items(), start=1):
        picture = document.add_picture(io.BytesIO(png), width=min(Inches(width), text_width))
        if picture.height > tallest:
            picture.width = Emu(int(picture.width * tallest / picture.height))
            picture.height = Emu(tallest)
        for side in ("distT", "distB", "distL", "distR"):  # LibreOffice reads none as 1/8 in
            picture._inline.set(side, "0")
        document.paragraphs[-1].paragraph_format.keep_with_next = True  # with its caption
        caption = figure_captions.get(name, name.replace("_", " "))
        _styled(document, f"Figure {number}. {caption}", style["Caption"])
    return _save(document, path)


def write_checklist_docx(path: str | Path, checklist: pd.DataFrame, title: str) -> Path:
    """The PRISMA 2020 checklist as a Word document for the authors to complete: where the
    report covers each item, and an empty column for where the manuscript does."""
    from docx import Document

    document = Document()
    style = _style_ids(document)
    _styled(document, "PRISMA 2020 checklist", style["Title"])
    document.add_paragraph(_xml_text(title))
    document.add_paragraph(
        "Item wording: Page MJ et al. The PRISMA 2020 statement: an updated guideline for "
        "reporting systematic reviews. BMJ. 2021;372:n71. The third column says where the "
        "ipdmeta report covers an item; fill in the last with the manuscript's page or "
        "section for every item before submission."
    )
    table = checklist.rename(
        columns={"item": "Item", "section": "Section", "topic": "Topic",
                 "where": "Covered by the ipdmeta report"}
    )[["Section", "Item", "Topic", "Covered by the ipdmeta report"]]  # fmt: skip
    table = table.assign(**{"Location in the manuscript": ""})
    _add_table(document, table, style["Light Grid Accent 1"])
    return _save(document, path)


def _save(document: Any, path: str | Path) -> Path:
    """Write the document atomically, its images stored as they are.

    python-docx deflates every part of the package, PNGs included, though deflate gains
    nothing on them: a third of the time report.docx took to write. The parts are
    written here as python-docx's own package writer does, through its steps, with the
    images stored; where those steps are not found (another python-docx), it saves the
    document itself.
    """
    buffer = io.BytesIO()
    if not _save_package(document.part.package, buffer):
        document.save(buffer)
    return write_bytes(path, buffer.getvalue())


_WRITER_STEPS = ("_write_content_types_stream", "_write_pkg_rels", "_write_parts")


def _save_package(package: Any, file: io.BytesIO) -> bool:
    """Write the package into ``file``; False, with nothing written, where python-docx's
    writer has other steps than these."""
    from docx.opc.pkgwriter import PackageWriter

    if not all(hasattr(PackageWriter, step) for step in _WRITER_STEPS):
        return False
    parts = package.parts
    for part in parts:
        part.before_marshal()
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        writer: Any = _StoredImages(archive)  # the interface of its PhysPkgWriter
        PackageWriter._write_content_types_stream(writer, parts)
        PackageWriter._write_pkg_rels(writer, package.rels)
        PackageWriter._write_parts(writer, parts)
    return True


class _StoredImages:
    """python-docx's physical package writer, but for images: stored, not deflated."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self._archive = archive

    def write(self, pack_uri: Any, blob: bytes) -> None:
        stored = pack_uri.ext.lower() in ("png", "jpeg", "jpg", "gif")
        kind = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
        self._archive.writestr(pack_uri.membername, blob, compress_type=kind)


def _set_orientation(document: Any, *, landscape: bool) -> None:
    """Continue on a new page turned as asked, unless the last page already is."""
    from docx.enum.section import WD_ORIENT, WD_SECTION

    orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    last = document.sections[-1]
    if last.orientation == orientation:
        return
    section = document.add_section(WD_SECTION.NEW_PAGE)
    width, height = last.page_width, last.page_height
    section.orientation = orientation
    section.page_width, section.page_height = height, width


def _style_ids(document: Any) -> dict[str, str]:
    """The ids of the styles the report uses, looked up once. python-docx looks a style
    up by name with two scans of every style (about 3 ms), each time one is set: the
    report's ~90 captions, headings and tables took 0.3 s that way."""
    names = ("Title", "Heading 1", "Caption", "Light Grid Accent 1")
    return {name: document.styles[name].style_id for name in names}


def _styled(document: Any, text: str, style_id: str) -> Any:
    """A new paragraph of ``text`` in the style ``style_id``."""
    paragraph = document.add_paragraph(text)
    paragraph._p.style = style_id
    return paragraph


def _add_table(document: Any, frame: pd.DataFrame, style_id: str) -> None:
    """An editable Word table of ``frame``, numbers as the report shows them.

    Headers are written with spaces for underscores. Each column gets a share of the text
    width by the length of its longest word or number (at least 4 characters) and its
    cell padding, so that
    words are not broken inside a narrow column. The rows are written as one piece of
    XML: python-docx's cell by cell API costs about a second for the report's tables.
    The header row repeats on every page.
    """
    from docx.oxml import parse_xml
    from docx.shared import Emu

    section = document.sections[-1]
    text_width = section.page_width - section.left_margin - section.right_margin
    columns = [str(c) for c in frame.columns]
    pcolumns = [is_pvalue_column(c) for c in columns]
    body = [
        [pvalue(v) if is_p else fmt(v, 2) for v, is_p in zip(values, pcolumns, strict=True)]
        for values in frame.itertuples(index=False, name=None)
    ]
    header = [c.replace("_", " ") for c in columns]
    widths = [Emu(w) for w in _column_widths(header, body, int(text_width))]
    table = document.add_table(rows=0, cols=len(columns))
    table._tbl.tblStyle_val = style_id
    for column, width in zip(table._tbl.tblGrid.gridCol_lst, widths, strict=True):
        column.w = width
    twips = [w.twips for w in widths]
    rows = [_row_xml(header, twips, header=True)]
    rows += [_row_xml(texts, twips, header=False) for texts in body]
    parsed = parse_xml(f"<w:tbl {_W_NAMESPACE}>{''.join(rows)}</w:tbl>")
    for row in list(parsed):
        table._tbl.append(row)


_W_NAMESPACE = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
_PORTRAIT_COLUMNS = 8  # more columns than this break words in two on a portrait page
_CAPTION_ROOM_INCHES = 0.75
_CELL_PADDING_CHARACTERS = 3  # the left and right cell margins, in 9 pt characters
_EMU_PER_CHARACTER = 80_000  # a 9 pt character as LibreOffice sets it, about 0.09 in
_TABLE_FONT_HALF_POINTS = 18  # 9 pt: tables of a manuscript are set smaller than its text
# Characters XML 1.0 forbids; a cell copied from Excel can hold them.
_NOT_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _NOT_IN_XML.sub("", text)


def _escaped(text: str) -> str:
    """Text for an XML element: &, < and > escaped, characters XML forbids left out."""
    return html.escape(_xml_text(text), quote=False)


def _column_widths(header: Sequence[str], body: Sequence[Sequence[str]], total: int) -> list[int]:
    """Each column first gets room for its longest word (so that no word is broken when
    the page allows), then a share of what is left by the length of its texts."""
    texts = [[name, *(row[j] for row in body)] for j, name in enumerate(header)]
    longest = [max(len(w) for t in column for w in t.split() or [""]) for column in texts]
    floor = [_EMU_PER_CHARACTER * (max(n, 3) + _CELL_PADDING_CHARACTERS) for n in longest]
    if sum(floor) >= total:  # too many columns for the page: words must break
        return [int(total * f / sum(floor)) for f in floor]
    length = [max(len(t) for t in column) for column in texts]
    spare = total - sum(floor)
    return [int(f + spare * n / sum(length)) for f, n in zip(floor, length, strict=True)]


def _row_xml(texts: Sequence[str], widths: Sequence[int], *, header: bool) -> str:
    run = f'<w:rPr><w:sz w:val="{_TABLE_FONT_HALF_POINTS}"/></w:rPr>'
    cells = "".join(
        f'<w:tc><w:tcPr><w:tcW w:type="dxa" w:w="{width}"/></w:tcPr><w:p><w:r>{run}'
        f'<w:t xml:space="preserve">{_escaped(text)}</w:t></w:r></w:p></w:tc>'
        for text, width in zip(texts, widths, strict=True)
    )
    properties = "<w:trPr><w:tblHeader/></w:trPr>" if header else ""
    return f"<w:tr>{properties}{cells}</w:tr>"
