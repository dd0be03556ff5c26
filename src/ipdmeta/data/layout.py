"""From a grid of cells to a table: find the header, the records and what is not a record.

Extraction sheets are laid out for people: a title above the header, a header over two
rows ("VAS" merged over "pre" and "post"), a study's name written once over merged cells
or once above blank cells, blank rows between studies, "Mean" or "Total" rows under a
block, a footnote at the bottom, hidden rows. :func:`table_from_grid` reads such a sheet
as the reviewer means it and reports each thing it did once (a note), so that nothing is
read differently from what the sheet shows without saying so.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ipdmeta.data.problems import Problem, Severity
from ipdmeta.data.readers import CellKind, Grid, GridRow, RawTable, column_letter
from ipdmeta.data.schema import normalise_header
from ipdmeta.errors import ReadError

__all__ = ["Header", "find_header", "table_from_grid"]

Recognise = Callable[[str], str | None]  # header as written -> canonical column or None

_HEADER_SEARCH_ROWS = 30  # a header further down than this is not a header
# A row is a summary when a cell of its id columns (or its first cell) starts or ends
# with one of these words ("Mean", "Mean (SD)", "Series mean", "Total (n=12)", "Pooled"),
# starts with "All" or "Whole" ("All (n=2)", "Whole series"), shows x-bar or counts
# ("n = 12"). "SD", "Min", "Max", "Range" are also initials and surnames ("Min 2012"):
# they count only as the whole cell, and not in a row that names a diagnosis.
_SUMMARY_LEADS = {"mean", "means", "average", "avg", "median", "total", "totals", "overall",
                  "pooled", "summary"}  # fmt: skip
_SUMMARY_ENDS = {"mean", "means", "average", "median", "total", "totals"}
_SUMMARY_SHORT = {"sd", "std", "iqr", "range", "min", "max", "sum"}
_SUMMARY_FIRST_WORDS = {"all", "whole", "entire"}
_SUMMARY_SIGNS = re.compile(r"x\u0304|x\u0305|^\s*n\s*=", re.I)
_NOTE_START = re.compile(r"^(\*|†|‡|#|note|nb|n\.b\.|source|footnote|abbreviations?)\b", re.I)
_NOTE_MIN_LENGTH = 25  # a lone text cell this long is a sentence, not a patient's record


@dataclass(frozen=True)
class Header:
    """Where a grid's header is: its rows (indices into ``grid.rows``) and its names."""

    first: int
    last: int
    names: list[str]
    recognised: int  # how many distinct canonical columns the names stand for


def find_header(grid: Grid, recognise: Recognise) -> Header:
    """The header row, or two rows ("VAS" over "pre" and "post"), that best names columns.

    Among the first non-blank rows, the one whose cells name the most canonical columns;
    two rows read together when the upper one groups columns (a cell merged across them,
    or in a CSV a label followed by empty cells) and that names at least as many. Ties
    go to the earlier row. Without any recognised name, the first non-blank row.
    """
    filled = _merge_filler(grid)
    recognise = functools.cache(recognise)  # data rows repeat values: "TN", "yes", "1"
    candidates = [i for i, row in enumerate(grid.rows) if not row.blank][:_HEADER_SEARCH_ROWS]
    if not candidates:
        raise ReadError(f"{grid.where}: the sheet is empty")
    best: tuple[tuple[int, int, int], Header] | None = None
    for order, i in enumerate(candidates):
        single = [_text(c) for c in filled(i)]
        options = [(0, Header(i, i, single, _score(single, recognise)))]
        if i + 1 < len(grid.rows) and not grid.rows[i + 1].blank:
            names, grouped = _two_row_names(grid, i, filled)
            if grouped:
                options.append((1, Header(i, i + 1, names, _score(names, recognise))))
        for bonus, header in options:
            key = (header.recognised, bonus, -order)
            if best is None or key > best[0]:
                best = (key, header)
    if best is None:  # unreachable: there is at least one candidate
        raise ReadError(f"{grid.where}: no header row found")
    return best[1]


def _score(names: list[str], recognise: Recognise) -> int:
    return len({c for c in (recognise(n) for n in names if n) if c})


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _merge_filler(grid: Grid) -> Callable[[int], list[Any]]:
    """Row index -> cells with every merged range's value copied into the whole range.

    Used for header rows only: there a group label belongs to every column under it.
    """
    by_number = {row.number: i for i, row in enumerate(grid.rows)}
    covering: dict[tuple[int, int], tuple[int, int]] = {}
    for top, left, bottom, right in grid.merges:
        for r in range(top, bottom + 1):
            for c in range(left, right + 1):
                covering[(r, c)] = (top, left)

    def cells(i: int) -> list[Any]:
        row = grid.rows[i]
        width = max(len(row.cells), max((c for (r, c) in covering if r == row.number), default=0))
        out = (list(row.cells) + [None] * width)[:width]
        for c in range(1, width + 1):
            origin = covering.get((row.number, c))
            if origin and origin != (row.number, c) and origin[0] in by_number:
                source = grid.rows[by_number[origin[0]]].cells
                out[c - 1] = source[origin[1] - 1] if origin[1] - 1 < len(source) else None
        return out

    return cells


def _two_row_names(
    grid: Grid, i: int, filled: Callable[[int], list[Any]]
) -> tuple[list[str], bool]:
    """The names of rows i and i+1 read as one header, and whether row i groups columns."""
    top = [_text(c) for c in filled(i)]
    bottom = [_text(c) for c in filled(i + 1)]
    width = max(len(top), len(bottom))
    top += [""] * (width - len(top))
    bottom += [""] * (width - len(bottom))
    number = grid.rows[i].number
    if len({t for t in top if t}) < 2:
        return [], False  # one label above the header, however wide, is a title
    grouped = any(t == number and b == number and right > left for t, left, b, right in grid.merges)
    # A CSV keeps only the first cell of a merged group: "VAS,," over "pre,post".
    for c in range(1, width):
        if (
            not top[c]
            and bottom[c]
            and top[c - 1]
            and bottom[c - 1]
            and top[c - 1] != bottom[c - 1]
        ):
            top[c] = top[c - 1]
            grouped = True
    names = []
    for upper, lower in zip(top, bottom, strict=True):
        parts = [p for p in dict.fromkeys((upper, lower)) if p]
        names.append(" ".join(parts))
    return names, grouped


def table_from_grid(
    grid: Grid,
    recognise: Recognise,
    *,
    study_column: str | None,
    is_label: Callable[[str], bool] = lambda text: False,
) -> RawTable:
    """Read a grid as a table: header found, non-records left out, each step reported.

    ``study_column`` is the canonical column that identifies a block of records (the
    patients table's ``study_id``): written once per block, it is filled down.
    """
    header = find_header(grid, recognise)
    problems = list(grid.problems)
    notes = _Notes(grid)
    first_row = next(i for i, row in enumerate(grid.rows) if not row.blank)
    header_rows = (
        f"row {grid.rows[header.first].number}"
        if header.last == header.first
        else f"rows {grid.rows[header.first].number} and {grid.rows[header.last].number}"
    )
    if header.last > header.first:
        joined = [repr(n) for n in header.names if " " in n][:4]
        notes.add(
            f"the header spans {header_rows}; their names were joined ({', '.join(joined)})",
            rows=(grid.rows[header.first].number, grid.rows[header.last].number),
        )
    if header.first > first_row:
        above = [r for r in grid.rows[first_row : header.first] if not r.blank]
        sample = next((_text(c) for c in above[0].cells if _text(c)), "")
        notes.add(
            f"the header is {header_rows}; "
            + (
                "the row above it (a title or notes) was"
                if len(above) == 1
                else f"the {len(above)} rows above it (a title or notes) were"
            )
            + " not read",
            rows=tuple(r.number for r in above),
            value=sample,
        )

    names = list(header.names)
    while names and not names[-1]:
        names.pop()
    if not names:
        raise ReadError(
            f"{grid.where}: the header row (row {grid.rows[header.last].number}) is empty"
        )
    body = _body_rows(grid, header.last + 1)
    header_row = grid.rows[header.last].number
    keep = _columns_to_keep(grid, names, body, header_row, problems, notes)
    study_index = next(
        (c for c in keep if study_column and recognise(names[c]) == study_column), None
    )
    canonical = {c: recognise(names[c]) for c in keep}
    layout = _Layout(
        names=names,
        keep=keep,
        study_index=study_index,
        id_columns=[c for c in keep if canonical[c] in ("study_id", "patient_id")],
        label_index=next((c for c in keep if canonical[c] == "diagnosis"), None),
        is_label=is_label,
    )
    records = _records(grid, body, layout, problems, notes)
    if not records:
        shown = ", ".join(repr(names[c]) for c in keep[:6])
        raise ReadError(
            f"{grid.where}: has a header row but no data rows; expected one row per record "
            f"below the header ({shown})"
        )
    headers = _unique_headers(grid, header_row, names, keep, problems)
    cells = pd.DataFrame([r[1] for r in records], columns=headers, dtype=object)
    kinds = pd.DataFrame([r[2] for r in records], columns=headers, dtype=object)
    return RawTable(
        grid.file,
        grid.sheet,
        cells,
        [r[0] for r in records],
        problems + notes.problems,
        kinds,
        header_row,
    )


class _Notes:
    """Notes about how a sheet was read, one per kind of thing done."""

    def __init__(self, grid: Grid) -> None:
        self.grid = grid
        self.problems: list[Problem] = []

    def add(self, message: str, severity: Severity = Severity.NOTE, **where: Any) -> None:
        self.problems.append(self.grid.problem(message, severity=severity, **where))


def _body_rows(grid: Grid, start: int) -> list[GridRow]:
    """The rows below the header, with single-column merged ranges filled down."""
    rows = [GridRow(r.number, list(r.cells), list(r.kinds), r.hidden) for r in grid.rows[start:]]
    by_number = {row.number: row for row in rows}
    for top, left, bottom, right in grid.merges:
        if left != right or bottom == top or top not in by_number:
            continue  # a merge across columns (a note over the sheet's width) is not a value
        source = by_number[top]
        value = source.cells[left - 1] if left - 1 < len(source.cells) else None
        if value is None:
            continue
        for number in range(top + 1, bottom + 1):
            row = by_number.get(number)
            if row is None:
                continue
            width = max(len(row.cells), left)
            row.cells += [None] * (width - len(row.cells))
            row.kinds += [None] * (width - len(row.kinds))
            row.cells[left - 1] = value
            row.kinds[left - 1] = CellKind.MERGED
    return rows


def _columns_to_keep(
    grid: Grid,
    names: list[str],
    body: list[GridRow],
    header_row: int,
    problems: list[Problem],
    notes: _Notes,
) -> list[int]:
    keep = []
    hidden_named = []
    for c, name in enumerate(names):
        has_data = any(c < len(r.cells) and r.cells[c] is not None for r in body)
        if c in grid.hidden_columns:
            if name or has_data:
                hidden_named.append(f"{column_letter(c)} ({name or 'no header'})")
            continue
        if not has_data and (not name or (c > 0 and name == names[c - 1])):
            continue  # an empty spacer column, or one under a header merged across it
        if not name:
            problems.append(
                grid.problem(
                    f"column {column_letter(c)} has no header",
                    rows=(header_row,),
                    column=column_letter(c),
                    hint="Give it a header, or delete the column if it holds nothing to analyse",
                )
            )
            names[c] = f"column_{column_letter(c)}"
        keep.append(c)
    if hidden_named:
        notes.add(
            f"hidden column{'s' if len(hidden_named) > 1 else ''} not read: "
            + ", ".join(hidden_named),
            severity=Severity.WARNING,
            hint="Unhide the column (select the columns around it, right-click, Unhide) if it "
            "holds data to analyse",
        )
    return keep


@dataclass(frozen=True)
class _Layout:
    """The columns that decide which rows are records."""

    names: list[str]
    keep: list[int]
    study_index: int | None  # the column written once per block (patients' study_id)
    id_columns: list[int]  # study and patient ids, where a summary row says "Mean"
    label_index: int | None  # the diagnosis: a row naming one is a patient
    is_label: Callable[[str], bool]  # a category label ("Atypical facial pain")

    def repeats_header(self, cells: list[Any]) -> bool:
        """A copy of the header row further down (a long sheet printed in parts)."""
        same = sum(
            1
            for c in self.keep
            if c < len(cells) and _text(cells[c]) and _text(cells[c]) == self.names[c]
        )
        return same >= 2 and 2 * same >= len(self.keep)

    def is_subheading(self, text: Any) -> bool:
        """A heading in the study column that groups patients within a study."""
        label = _text(text)
        return label.endswith(":") or self.is_label(label.rstrip(": "))


def _records(
    grid: Grid,
    body: list[GridRow],
    layout: _Layout,
    problems: list[Problem],
    notes: _Notes,
) -> list[tuple[int, list[Any], list[Any]]]:
    """(row number, cells, kinds) of every record row; other rows are reported."""
    names, keep, study_index = layout.names, layout.keep, layout.study_index
    width = len(names)
    records: list[tuple[int, list[Any], list[Any]]] = []
    skipped: dict[str, list[int]] = defaultdict(list)
    examples: dict[str, str] = {}
    merged: dict[int, list[int]] = defaultdict(list)
    filled: list[int] = []
    headings: list[int] = []
    subheadings: list[int] = []
    current_study: Any = None
    study_repeats = 0
    for row in body:
        if row.blank:
            current_study = None  # a blank row ends a block
            continue
        if row.hidden:
            skipped["hidden"].append(row.number)
            continue
        cells = (row.cells + [None] * width)[: max(width, len(row.cells))]
        kinds = (row.kinds + [None] * width)[: max(width, len(row.kinds))]
        filled_cells = [(c, v) for c, v in enumerate(cells) if v is not None and c in keep]
        if not filled_cells:
            current_study = None
            continue
        reason = _not_a_record(cells, filled_cells, layout)
        if reason == "heading" and not _followed_by_block(body, row, study_index):
            reason = "note" if len(str(filled_cells[0][1])) >= _NOTE_MIN_LENGTH else None
        if reason == "heading" and study_index is not None:
            if current_study is not None and layout.is_subheading(cells[study_index]):
                subheadings.append(row.number)  # "Atypical facial pain:" within a study
            else:
                current_study = cells[study_index]
                headings.append(row.number)
            continue
        if reason:
            skipped[reason].append(row.number)
            examples.setdefault(reason, _text(filled_cells[0][1]))
            continue
        extra = [v for v in cells[width:] if v is not None]
        if extra:
            problems.append(
                grid.problem(
                    f"the row has {width + len(cells[width:])} cells but the header has "
                    f"{width} columns",
                    rows=(row.number,),
                    value=extra[0],
                    expected="no cells to the right of the last header",
                    hint="Add a header for the extra column or delete the stray cells",
                )
            )
        for c in keep:
            if kinds[c] is CellKind.MERGED:
                merged[c].append(row.number)
                kinds[c] = None
        if study_index is not None:
            if _is_ditto(cells[study_index]) and current_study is not None:
                cells[study_index] = None  # a ditto mark: the same study as the row above
            if cells[study_index] is None and current_study is not None:
                cells[study_index] = current_study
                filled.append(row.number)
            elif cells[study_index] is not None:
                if cells[study_index] == current_study and study_index not in merged:
                    study_repeats += 1
                current_study = cells[study_index]
        records.append((row.number, [cells[c] for c in keep], [kinds[c] for c in keep]))
    _report_skipped(notes, skipped, examples)
    for c, rows in merged.items():
        notes.add(
            "written once over merged cells; the value was filled into each row of the merge",
            column=names[c],
            rows=tuple(rows),
        )
    if headings:
        notes.add(
            "rows holding only a study name were read as the heading of the rows below them",
            column=names[study_index] if study_index is not None else None,
            rows=tuple(headings),
        )
    if subheadings:
        notes.add(
            "rows holding only a label (a diagnosis, or text ending in ':') were read as "
            "sub-headings within the study above, not as studies",
            column=names[study_index] if study_index is not None else None,
            rows=tuple(subheadings),
        )
    if filled and study_index is not None:
        # Written once per study is a layout; a few blanks among repeated names may be slips.
        mixed = study_repeats > len(filled)
        notes.add(
            "empty (or a ditto mark); filled with the study of the row above"
            + (" (most rows name their study: check these rows)" if mixed else ""),
            severity=Severity.WARNING if mixed else Severity.NOTE,
            column=names[study_index],
            rows=tuple(filled),
        )
    return records


def _not_a_record(
    cells: list[Any], filled_cells: list[tuple[int, Any]], layout: _Layout
) -> str | None:
    # A summary row says so in an id column or its first cell; a later cell saying "N" is
    # an answer ("no"), not a count.
    labelled = layout.label_index is not None and cells[layout.label_index] is not None
    if _summary_word(cells, [*layout.id_columns, filled_cells[0][0]], labelled):
        return "summary"
    if layout.repeats_header(cells):
        return "header"
    if len(filled_cells) == 1:
        c, value = filled_cells[0]
        if isinstance(value, str) and _NOTE_START.match(value):
            return "note"
        if c == layout.study_index:
            return "heading"
        if isinstance(value, str) and len(value) >= _NOTE_MIN_LENGTH:
            return "note"
    return None


_DITTO = {'"', "''", "\u201d", "\u201c", "\u3003", "do", "do.", "id.", "ditto", "idem"}


def _is_ditto(value: Any) -> bool:
    return isinstance(value, str) and value.strip().casefold() in _DITTO


def _summary_word(cells: list[Any], columns: list[int], labelled: bool) -> str | None:
    """The cell of ``columns`` that says the row is a summary ("Mean", "Total: 12").

    ``labelled``: the row names a diagnosis, so a short word there is initials or a name.
    """
    for c in dict.fromkeys(columns):
        value = cells[c] if c < len(cells) else None
        if not isinstance(value, str):
            continue
        words = [w for w in normalise_header(value).split("_") if w] or [""]
        if (
            words[0] in _SUMMARY_LEADS
            or words[-1] in _SUMMARY_ENDS
            or (words[0] in _SUMMARY_FIRST_WORDS and len(words) <= 3)
            or (len(words) == 1 and words[0] in _SUMMARY_SHORT and not labelled)
            or _SUMMARY_SIGNS.search(value)
        ):
            return value
    return None


def _followed_by_block(body: list[GridRow], row: GridRow, study_index: int | None) -> bool:
    """Whether the row after ``row`` is a record without a study (a heading's block)."""
    if study_index is None:
        return False
    position = body.index(row)
    following = body[position + 1] if position + 1 < len(body) else None
    if following is None or following.blank:
        return False
    cells = following.cells
    return (study_index >= len(cells) or cells[study_index] is None) and sum(
        c is not None for c in cells
    ) > 1


# Why rows were not read as records: (note, severity, hint), in the order reported.
_SKIPPED = {
    "summary": ("summary rows (Mean, Total, ...) were not read as records", Severity.NOTE, None),
    "header": ("rows repeating the header were not read as records", Severity.NOTE, None),
    "note": ("rows holding only a note or footnote were not read as records", Severity.NOTE, None),
    "hidden": (
        "hidden rows were not read",
        Severity.WARNING,
        "Unhide them (select the rows around them, right-click, Unhide) if they hold records "
        "to analyse",
    ),
}


def _report_skipped(notes: _Notes, skipped: dict[str, list[int]], examples: dict[str, str]) -> None:
    for reason, (message, severity, hint) in _SKIPPED.items():
        if skipped.get(reason):
            notes.add(
                message,
                severity=severity,
                rows=tuple(skipped[reason]),
                value=examples.get(reason),
                hint=hint,
            )


def _unique_headers(
    grid: Grid, header_row: int, header: list[str], keep: list[int], problems: list[Problem]
) -> list[str]:
    names: list[str] = []
    seen: dict[str, int] = {}
    for index in keep:
        name = header[index]
        key = normalise_header(name)
        if key in seen:
            problems.append(
                grid.problem(
                    f"the header {name!r} appears twice (columns {column_letter(seen[key])} "
                    f"and {column_letter(index)})",
                    rows=(header_row,),
                    column=name,
                    hint="Rename or delete one of them",
                )
            )
            name = f"{name}_{column_letter(index)}"
        seen.setdefault(key, index)
        names.append(name)
    return names
