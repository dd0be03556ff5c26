"""Type a raw table by its schema: map headers, read cells, map category labels.

Every cell that cannot be used becomes a :class:`~ipdmeta.data.problems.Problem` naming
file, sheet, row, column and value; problems with the same value in the same column are
grouped into one, listing the rows. Every cell read as something other than a plain
number (a unit in the cell or the header, a percent-formatted cell, a number stored as
text, a formula) is reported once per column, so that no value becomes a different number
without a word.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from ipdmeta.data.categories import CategoryMap, LabelMatch
from ipdmeta.data.cells import identifier_text, is_missing_marker
from ipdmeta.data.headers import HeaderMatcher
from ipdmeta.data.problems import Problem, Severity
from ipdmeta.data.quantities import Quantity, read_cell
from ipdmeta.data.readers import CellKind, RawTable
from ipdmeta.data.schema import ColumnKind, ColumnSpec, TableSchema, normalise_header

__all__ = ["SOURCE_ROW", "TypedTable", "type_table"]

SOURCE_ROW = "source_row"  # the spreadsheet row each record came from, kept for tracing

# A column where at least this many different values, and at least half of the filled
# cells, cannot be read holds something else than its header says: one problem, not one
# per value.
_CASCADE_VALUES = 5


@dataclass
class TypedTable:
    """A table with canonical column names and typed values, and what typing found.

    ``stated_scales`` holds, per score column, the scale maximum each cell stated itself
    ("7/10": 10; NaN where none).
    """

    name: str
    raw: RawTable
    frame: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)
    label_matches: list[tuple[LabelMatch, int]] = field(default_factory=list)
    header_of: dict[str, str] = field(default_factory=dict)  # canonical -> header as written
    units: dict[str, str | None] = field(default_factory=dict)  # canonical -> header's unit
    stated_scales: dict[str, np.ndarray] = field(default_factory=dict)
    decimal_comma: bool = False  # the file writes decimals with a comma ("61,5")

    def problem(self, message: str, column: str | None = None, **where: Any) -> Problem:
        header = self.header_of.get(column, column) if column else None
        return self.raw.problem(message, column=header, **where)

    def rows_where(self, mask: Any) -> tuple[int, ...]:
        return tuple(int(r) for r in self.frame.loc[mask, SOURCE_ROW])


def type_table(
    raw: RawTable,
    schema: TableSchema,
    categories: CategoryMap,
    matcher: HeaderMatcher | None = None,
) -> TypedTable:
    """Type ``raw`` by ``schema``, collecting every problem."""
    table = TypedTable(schema.name, raw, pd.DataFrame(), list(raw.problems))
    table.decimal_comma = _uses_decimal_comma(raw)
    columns = _map_headers(table, schema, matcher or HeaderMatcher(schema))
    frame: dict[str, Any] = {SOURCE_ROW: np.array(raw.row_numbers, dtype=int)}
    for canonical, header in columns.items():
        cells = raw.cells[header].tolist()
        spec = next((c for c in schema.columns if c.name == canonical), None)
        if spec is None:
            frame[canonical] = _type_extra(table, header, cells)
            continue
        _report_dates(table, spec, header, cells)
        if spec.kind is ColumnKind.CATEGORY and canonical in categories.rules:
            frame[canonical] = _map_labels(table, canonical, cells, categories)
        elif spec.kind in (ColumnKind.NUMBER, ColumnKind.INTEGER):
            frame[canonical] = _type_numbers(table, spec, header, cells)
        else:
            frame[canonical] = _type_text(spec, cells)
    table.frame = pd.DataFrame(frame)
    _check_required_cells(table, schema)
    return table


# --- headers ---


# When two headers could mean the same column, the one matched more surely is read as it:
# the review's own alias, then the column's name or a listed alias, then the header's words.
_SURENESS = {"review.toml alias": 3, "name": 2, "alias": 2, "words": 1}


def _map_headers(table: TypedTable, schema: TableSchema, matcher: HeaderMatcher) -> dict[str, str]:
    """Canonical name -> header as written; reports what was recognised and what was not."""
    header_row = table.raw.header_row
    found = {header: matcher.match(header) for header in table.raw.cells.columns}
    contenders: dict[str, list[str]] = defaultdict(list)
    for header, match in found.items():
        if match is not None:
            contenders[match.canonical].append(header)
    for canonical, headers in contenders.items():
        if len(headers) < 2:
            continue
        sureness = {h: _SURENESS[found[h].how] for h in headers}  # type: ignore[union-attr]
        best = max(sureness.values())
        surest = [h for h in headers if sureness[h] == best]
        if len(surest) > 1:
            table.problems.append(
                table.raw.problem(
                    f"the columns {surest[0]!r} and {surest[1]!r} both mean {canonical!r}",
                    rows=(header_row,),
                    column=surest[1],
                    hint="Keep one of them, or rename the other (review.toml [data.aliases] "
                    "can say which header is which)",
                )
            )
        others = [h for h in headers if h != surest[0]]
        for header in others:
            found[header] = None  # kept as an extra column
        if len(surest) == 1:
            table.problems.append(
                table.raw.problem(
                    f"{', '.join(repr(h) for h in others)} could also mean {canonical}; "
                    f"{surest[0]!r} is read as {canonical}, the other kept as it is",
                    rows=(header_row,),
                    severity=Severity.NOTE,
                )
            )
    columns: dict[str, str] = {}
    unmatched: list[str] = []
    renamed: list[str] = []
    for header, match in found.items():
        if match is None:
            canonical = _extra_column_name(header)
            unmatched.append(header)
        else:
            canonical = match.canonical
            if match.how != "name" or normalise_header(header) != canonical:
                renamed.append(f"{header!r} as {canonical}")
        if canonical in columns:  # an extra column named as another header reads
            canonical = f"{canonical}_{normalise_header(header)}"
        columns[canonical] = header
        table.units[canonical] = match.unit if match else None
    table.header_of = dict(columns)
    if renamed:
        table.problems.append(
            table.raw.problem(
                "headers read as: " + ", ".join(renamed),
                severity=Severity.NOTE,
                hint="If a header was read as the wrong column, rename it or set "
                "review.toml [data.aliases]",
            )
        )
    missing = [name for name in schema.required if name not in columns]
    for required in missing:
        table.problems.append(_missing_column(table, schema.column(required), unmatched))
    for header in unmatched:
        suggestion = matcher.suggest(header)
        if suggestion and suggestion not in columns and suggestion not in missing:
            table.problems.append(
                table.raw.problem(
                    f"the header is not one ipdmeta knows; did you mean {suggestion!r}?",
                    rows=(header_row,),
                    column=header,
                    severity=Severity.WARNING,
                    hint=f"Rename the header to {suggestion!r} (or add it to review.toml "
                    f'[data.aliases] {suggestion} = ["{header}"]); until then it is kept as '
                    "an extra column",
                )
            )
    return columns


def _extra_column_name(header: str) -> str:
    name = normalise_header(header) or "column"
    return f"x_{name}" if name[0].isdigit() else name


def _missing_column(table: TypedTable, spec: ColumnSpec, unmatched: list[str]) -> Problem:
    from rapidfuzz import fuzz, process

    candidates = {normalise_header(h): h for h in unmatched}
    hint = f"Add a column named {spec.name!r} ({spec.description})"
    if table.name == "quality" and spec.name in ("item", "judgement"):
        hint = (
            "A quality table is either long (columns study_id, item, judgement: one row per "
            "study and item) or wide (a study_id column and one column per checklist item, "
            "e.g. Q1 ... Q10, answered yes, no, unclear or not applicable)"
        )
    found = process.extractOne(
        spec.name, list(candidates), scorer=fuzz.ratio, score_cutoff=70
    ) or process.extractOne(spec.name, list(candidates), scorer=fuzz.partial_ratio, score_cutoff=85)
    if found:
        hint = f"Did you mean {candidates[found[0]]!r}? Rename that header to {spec.name!r}"
    headers = ", ".join(repr(h) for h in table.raw.cells.columns[:12])
    return table.raw.problem(
        f"the required column {spec.name!r} is missing (headers found: {headers})",
        rows=(table.raw.header_row,),
        expected=f"a header {spec.name!r}",
        hint=hint,
    )


# --- cells ---


def _group_problems(
    table: TypedTable,
    column: str,
    rows: list[int],
    values: list[Any],
    message: Callable[[Any], str],
    expected: str,
    hint: str | None = None,
) -> None:
    by_value: dict[str, list[int]] = defaultdict(list)
    first: dict[str, Any] = {}
    for row, value in zip(rows, values, strict=True):
        key = str(value)
        by_value[key].append(row)
        first.setdefault(key, value)
    for key, value_rows in by_value.items():
        table.problems.append(
            table.problem(
                message(first[key]),
                column=column,
                rows=tuple(value_rows),
                value=first[key],
                expected=expected,
                hint=hint,
            )
        )


def _type_numbers(table: TypedTable, spec: ColumnSpec, header: str, cells: list[Any]) -> Any:
    out = np.full(len(cells), np.nan)
    scales = np.full(len(cells), np.nan)
    rows = table.raw.row_numbers
    kinds = table.raw.kinds_of(header)
    bad: list[tuple[int, Any, str]] = []
    rules: dict[str, list[tuple[int, str | None]]] = defaultdict(list)
    by_kind: dict[CellKind, list[tuple[int, Any]]] = defaultdict(list)
    whole = spec.kind is ColumnKind.INTEGER
    for i, cell in enumerate(cells):
        if kinds[i] is CellKind.EXCEL_ERROR:
            bad.append((rows[i], cell, "Excel shows an error here: the formula behind it failed"))
            continue
        if table.decimal_comma and isinstance(cell, str) and _DOT_THOUSANDS.fullmatch(cell.strip()):
            bad.append((rows[i], cell, _dot_thousands_reason(cell.strip())))
            continue
        reading = read_cell(cell, spec.quantity, table.units.get(spec.name))
        if reading.error is not None:
            bad.append((rows[i], cell, reading.error))
            continue
        if reading.value is None:
            continue
        if reading.unit:
            bad.append((rows[i], cell, f"text after the number ({reading.unit!r})"))
            continue
        if whole and not float(reading.value).is_integer():
            bad.append((rows[i], cell, "not a whole number"))
            continue
        out[i] = reading.value
        if reading.scale is not None:
            scales[i] = reading.scale
        if reading.rule:
            rules[reading.rule].append((rows[i], reading.example))
        kind = kinds[i]
        if kind is not None and not (kind is CellKind.TEXT and reading.rule):
            by_kind[kind].append((rows[i], cell))
    if spec.quantity == Quantity.SCORE:
        table.stated_scales[spec.name] = scales
    _report_unreadable(table, spec, bad, sum(c is not None for c in cells))
    _report_rules(table, spec.name, rules)
    _report_kinds(table, spec, by_kind)
    _check_range(table, spec, out, cells)
    if whole:
        # A nullable integer column: a year is 1993, not 1993.0, and may still be empty.
        valid = ~np.isnan(out)
        integers = pd.array(np.where(valid, out, 0).astype(np.int64), dtype="Int64")
        integers[~valid] = pd.NA
        return integers
    return out


_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")
_DOT_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:\.\d{3})+")


def _uses_decimal_comma(raw: RawTable) -> bool:
    """Whether the file writes decimals with a comma, as European spreadsheets save CSV."""
    return any(
        isinstance(cell, str) and _DECIMAL_COMMA.fullmatch(cell.strip())
        for column in raw.cells.columns
        for cell in raw.cells[column]
    )


def _dot_thousands_reason(text: str) -> str:
    whole = int(text.replace(".", ""))
    decimal = f"{float(text):g}".replace(".", ",")
    return (
        f"in a file that writes decimals with a comma (61,5), {text!r} could be {whole} (a "
        f"point between thousands) or {decimal}: write {whole}, or {decimal} with the comma"
    )


def _report_unreadable(
    table: TypedTable, spec: ColumnSpec, bad: list[tuple[int, Any, str]], n_filled: int
) -> None:
    if not bad:
        return
    kind = "a whole number" if spec.kind is ColumnKind.INTEGER else "a number"
    expected = f"{kind} ({spec.description}) or an empty cell"
    distinct = {str(v) for _, v, _ in bad}
    if len(distinct) >= _CASCADE_VALUES and 2 * len(bad) >= n_filled:
        shown = ", ".join(repr(v) for v in list(dict.fromkeys(distinct))[:4])
        table.problems.append(
            table.problem(
                f"{len(bad)} of {n_filled} cells cannot be read as numbers (e.g. {shown})",
                column=spec.name,
                rows=tuple(r for r, _, _ in bad),
                expected=expected,
                hint="Check that the column under this header holds what the header says",
            )
        )
        return
    by_reason: dict[str, list[tuple[int, Any]]] = defaultdict(list)
    for row, value, reason in bad:
        message = reason if reason.startswith("not ") else f"not {kind}: {reason}"
        by_reason[message].append((row, value))
    for reason, cells in by_reason.items():
        _group_problems(
            table,
            spec.name,
            [r for r, _ in cells],
            [v for _, v in cells],
            partial(_same_message, reason),
            expected,
        )


def _same_message(message: str, value: Any) -> str:
    return message


def _report_rules(
    table: TypedTable, column: str, rules: dict[str, list[tuple[int, str | None]]]
) -> None:
    for rule, cells in rules.items():
        examples = list(dict.fromkeys(e for _, e in cells if e))[:3]
        table.problems.append(
            table.problem(
                f"{len(cells)} cell{'s' if len(cells) != 1 else ''} read with {rule}"
                + (f" (e.g. {'; '.join(examples)})" if examples else ""),
                column=column,
                rows=tuple(r for r, _ in cells),
                severity=Severity.NOTE,
            )
        )


def _report_kinds(
    table: TypedTable, spec: ColumnSpec, by_kind: dict[CellKind, list[tuple[int, Any]]]
) -> None:
    percent = by_kind.get(CellKind.PERCENT, [])
    if percent:
        example = percent[0][1]
        is_percent = spec.quantity == Quantity.PERCENT
        table.problems.append(
            table.problem(
                f"{len(percent)} cell{'s' if len(percent) != 1 else ''} formatted as percent in "
                f"Excel read as the percent shown (a cell showing {example:g} % is {example:g})",
                column=spec.name,
                rows=tuple(r for r, _ in percent),
                severity=Severity.NOTE if is_percent else Severity.WARNING,
                hint=None if is_percent else f"{spec.name} is not a percentage: check the cells",
            )
        )
    for kind, what in _KIND_NOTES.items():
        cells = by_kind.get(kind, [])
        if cells:
            table.problems.append(
                table.problem(
                    what.format(n=len(cells), s="s" if len(cells) != 1 else ""),
                    column=spec.name,
                    rows=tuple(r for r, _ in cells),
                    severity=Severity.NOTE,
                )
            )


_KIND_NOTES = {
    CellKind.TEXT: "{n} number{s} stored as text in the workbook read as numbers",
    CellKind.FORMULA: "{n} formula{s}: read as the value Excel last calculated",
}


def _report_dates(table: TypedTable, spec: ColumnSpec, header: str, cells: list[Any]) -> None:
    """A date in a text, id or category column: Excel turned what was typed into a date."""
    if spec.kind in (ColumnKind.NUMBER, ColumnKind.INTEGER):
        return  # read_cell reports dates in number columns
    kinds = table.raw.kinds_of(header)
    rows = [table.raw.row_numbers[i] for i, k in enumerate(kinds) if k is CellKind.DATE]
    if rows:
        first = cells[kinds.index(CellKind.DATE)]
        table.problems.append(
            table.problem(
                "Excel shows this cell as a date, so what was typed is lost",
                column=spec.name,
                rows=tuple(rows),
                value=str(first),
                expected=f"{spec.description} as text",
                hint="Format the column as Text and type the value again",
            )
        )


def _check_range(table: TypedTable, spec: ColumnSpec, values: np.ndarray, cells: list[Any]) -> None:
    low = -np.inf if spec.minimum is None else spec.minimum
    high = np.inf if spec.maximum is None else spec.maximum
    outside = (values < low) | (values > high)
    if outside.any():
        rows = np.array(table.raw.row_numbers)[outside].tolist()
        kinds = table.raw.kinds_of(table.header_of.get(spec.name, spec.name))
        percent = any(kinds[i] is CellKind.PERCENT for i in np.flatnonzero(outside))
        _group_problems(
            table,
            spec.name,
            rows,
            [cells[i] for i in np.flatnonzero(outside)],
            lambda v: "value out of range",
            range_text(spec.minimum, spec.maximum),
            "The cell is formatted as percent, so Excel shows the number times 100: type the "
            "percent with its sign (84 %), or remove the percent format"
            if percent
            else None,
        )


def range_text(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"a value from {low:g} to {high:g}"
    return f"a value of at least {low:g}" if low is not None else f"a value of at most {high:g}"


def _type_text(spec: ColumnSpec, cells: list[Any]) -> list[str | None]:
    if spec.kind is ColumnKind.ID:
        return [identifier_text(c) for c in cells]
    return [None if is_missing_marker(c) else str(c).strip() for c in cells]


def _map_labels(
    table: TypedTable, column: str, cells: list[Any], categories: CategoryMap
) -> list[str | None]:
    out: list[str | None] = []
    seen: dict[str, tuple[LabelMatch, list[int]]] = {}
    for cell, row in zip(cells, table.raw.row_numbers, strict=True):
        # "not reported" may be a category of its own, so the map is asked before the
        # missing markers are.
        text = None if cell is None else identifier_text(cell) or str(cell).strip()
        if not text or text.lower() == "nan":
            out.append(None)
            continue
        match = categories.match(column, text)
        if match.category is None and is_missing_marker(text):
            out.append(None)
            continue
        out.append(match.category)
        seen.setdefault(text, (match, []))[1].append(row)
    for text, (match, rows) in seen.items():
        table.label_matches.append((match, len(rows)))
        if match.category is None:
            known = ", ".join(categories.categories(column))
            hint = f"Known categories: {known}"
            if match.suggestion:
                hint = (
                    f"Closest category: {match.suggestion!r}. If that is what it means, add the "
                    f"line '{column},{text},{match.suggestion}' to categories.csv (the review's "
                    f"category map, columns column,label,category). {hint}"
                )
            else:
                hint += (
                    f". Map it in categories.csv (the review's category map): "
                    f"'{column},{text},<category>'"
                )
            table.problems.append(
                table.problem(
                    f"unknown {column} label",
                    column=column,
                    rows=tuple(rows),
                    value=text,
                    expected=f"a {column} label the category map knows",
                    hint=hint,
                )
            )
    return out


def _type_extra(table: TypedTable, header: str, cells: list[Any]) -> Any:
    """An extra column is numeric when every filled cell reads as a number with the same
    unit (or none); otherwise text, reported when most of it is numbers."""
    readings = [read_cell(c) for c in cells]
    filled = [r for r in readings if not r.missing]
    units = {r.unit for r in filled if r.error is None}
    numeric = filled and all(r.error is None for r in filled) and len(units) == 1
    if numeric:
        unit = next(iter(units))
        if unit:
            rows = [table.raw.row_numbers[i] for i, r in enumerate(readings) if not r.missing]
            table.problems.append(
                table.raw.problem(
                    f"the unit {unit!r} written in the cells was set aside; the numbers were kept",
                    column=header,
                    rows=tuple(rows),
                    severity=Severity.NOTE,
                )
            )
        return np.array([np.nan if r.value is None else r.value for r in readings], dtype=float)
    numbers = [r for r in filled if r.error is None]
    if filled and 2 * len(numbers) > len(filled):
        odd = [
            (table.raw.row_numbers[i], cells[i])
            for i, r in enumerate(readings)
            if not r.missing and (r.error is not None or r.unit != max(units, key=str))
        ]
        table.problems.append(
            table.raw.problem(
                "most cells are numbers but some are not, so the column is read as text "
                "(a model would treat it as categories)",
                column=header,
                rows=tuple(r for r, _ in odd),
                value=odd[0][1] if odd else None,
                severity=Severity.WARNING,
                hint="Make every cell a number (or empty) if the column is a quantity",
            )
        )
    return [None if is_missing_marker(c) else str(c).strip() for c in cells]


def _check_required_cells(table: TypedTable, schema: TableSchema) -> None:
    for name in schema.required:
        if name not in table.frame.columns:
            continue
        header = table.header_of[name]
        empty = np.array([is_missing_marker(c) for c in table.raw.cells[header]], dtype=bool)
        if schema.column(name).kind is ColumnKind.CATEGORY:
            # "N/A" is a missing marker but, for a quality judgement, a category.
            empty &= table.frame[name].isna().to_numpy()
        if empty.any():
            table.problems.append(
                table.problem(
                    f"{name} is empty",
                    column=name,
                    rows=table.rows_where(empty),
                    expected=f"every row to have a {name}",
                )
            )
