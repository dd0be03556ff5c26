"""Type a raw table by its schema: map headers, parse cells, map category labels.

Every cell that cannot be used becomes a :class:`~ipdmeta.data.problems.Problem` naming
file, sheet, row, column and value; problems with the same value in the same column are
grouped into one, listing the rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ipdmeta.data.categories import CategoryMap, LabelMatch
from ipdmeta.data.cells import INVALID, identifier_text, is_missing_marker, parse_number
from ipdmeta.data.problems import Problem
from ipdmeta.data.readers import RawTable
from ipdmeta.data.schema import ColumnKind, ColumnSpec, TableSchema, normalise_header

__all__ = ["SOURCE_ROW", "TypedTable", "type_table"]

SOURCE_ROW = "source_row"  # the spreadsheet row each record came from, kept for tracing


@dataclass
class TypedTable:
    """A table with canonical column names and typed values, and what typing found."""

    name: str
    raw: RawTable
    frame: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)
    label_matches: list[tuple[LabelMatch, int]] = field(default_factory=list)
    header_of: dict[str, str] = field(default_factory=dict)  # canonical -> header as written

    def problem(self, message: str, column: str | None = None, **where: Any) -> Problem:
        header = self.header_of.get(column, column) if column else None
        return self.raw.problem(message, column=header, **where)

    def rows_where(self, mask: Any) -> tuple[int, ...]:
        return tuple(int(r) for r in self.frame.loc[mask, SOURCE_ROW])


def type_table(raw: RawTable, schema: TableSchema, categories: CategoryMap) -> TypedTable:
    """Type ``raw`` by ``schema``, collecting every problem."""
    table = TypedTable(schema.name, raw, pd.DataFrame(), list(raw.problems))
    columns = _map_headers(table, schema)
    frame: dict[str, Any] = {SOURCE_ROW: np.array(raw.row_numbers, dtype=int)}
    for canonical, header in columns.items():
        cells = raw.cells[header].tolist()
        spec = next((c for c in schema.columns if c.name == canonical), None)
        if spec is None:
            frame[canonical] = _type_extra(cells)
        elif spec.kind is ColumnKind.CATEGORY and canonical in categories.rules:
            frame[canonical] = _map_labels(table, canonical, cells, categories)
        elif spec.kind in (ColumnKind.NUMBER, ColumnKind.INTEGER):
            frame[canonical] = _type_numbers(table, spec, cells)
        else:
            frame[canonical] = _type_text(table, spec, cells)
    table.frame = pd.DataFrame(frame)
    _check_required_cells(table, schema)
    return table


def _map_headers(table: TypedTable, schema: TableSchema) -> dict[str, str]:
    """Canonical name -> header as written; reports clashes and missing required columns."""
    columns: dict[str, str] = {}
    unmatched: list[str] = []
    for header in table.raw.cells.columns:
        canonical = schema.canonical_name(header)
        if canonical is None:
            canonical = _extra_column_name(header)
            unmatched.append(header)
        if canonical in columns:
            table.problems.append(
                table.raw.problem(
                    f"the columns {columns[canonical]!r} and {header!r} both mean {canonical!r}",
                    rows=(1,),
                    column=header,
                    hint="Keep one of them",
                )
            )
            continue
        columns[canonical] = header
    table.header_of = dict(columns)
    for required in schema.required:
        if required not in columns:
            table.problems.append(_missing_column(table, schema.column(required), unmatched))
    return columns


def _extra_column_name(header: str) -> str:
    name = normalise_header(header) or "column"
    return f"x_{name}" if name[0].isdigit() else name


def _missing_column(table: TypedTable, spec: ColumnSpec, unmatched: list[str]) -> Problem:
    from rapidfuzz import fuzz, process

    candidates = {normalise_header(h): h for h in unmatched}
    hint = f"Add a column named {spec.name!r} ({spec.description})"
    found = process.extractOne(
        spec.name, list(candidates), scorer=fuzz.ratio, score_cutoff=70
    ) or process.extractOne(spec.name, list(candidates), scorer=fuzz.partial_ratio, score_cutoff=85)
    if found:
        hint = f"Did you mean {candidates[found[0]]!r}? Rename that header to {spec.name!r}"
    return table.raw.problem(
        f"the required column {spec.name!r} is missing",
        rows=(1,),
        expected=f"a header {spec.name!r}",
        hint=hint,
    )


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


def _type_numbers(table: TypedTable, spec: ColumnSpec, cells: list[Any]) -> Any:
    out = np.full(len(cells), np.nan)
    bad_rows: list[int] = []
    bad_values: list[Any] = []
    rows = table.raw.row_numbers
    for i, cell in enumerate(cells):
        number = parse_number(cell)
        if number is INVALID or (
            spec.kind is ColumnKind.INTEGER
            and isinstance(number, float)
            and not number.is_integer()
        ):
            bad_rows.append(rows[i])
            bad_values.append(cell)
        elif isinstance(number, float):
            out[i] = number
    kind = "a whole number" if spec.kind is ColumnKind.INTEGER else "a number"
    _group_problems(
        table,
        spec.name,
        bad_rows,
        bad_values,
        lambda v: f"not {kind}",
        f"{kind} ({spec.description}) or an empty cell",
    )
    _check_range(table, spec, out, cells)
    if spec.kind is ColumnKind.INTEGER:
        # A nullable integer column: a year is 1993, not 1993.0, and may still be empty.
        valid = ~np.isnan(out) & (out % 1 == 0)
        integers = pd.array(np.where(valid, out, 0).astype(np.int64), dtype="Int64")
        integers[~valid] = pd.NA
        return integers
    return out


def _check_range(table: TypedTable, spec: ColumnSpec, values: np.ndarray, cells: list[Any]) -> None:
    low = -np.inf if spec.minimum is None else spec.minimum
    high = np.inf if spec.maximum is None else spec.maximum
    outside = (values < low) | (values > high)
    if outside.any():
        rows = np.array(table.raw.row_numbers)[outside].tolist()
        _group_problems(
            table,
            spec.name,
            rows,
            [cells[i] for i in np.flatnonzero(outside)],
            lambda v: "value out of range",
            range_text(spec.minimum, spec.maximum),
        )


def range_text(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"a value from {low:g} to {high:g}"
    return f"a value of at least {low:g}" if low is not None else f"a value of at most {high:g}"


def _type_text(table: TypedTable, spec: ColumnSpec, cells: list[Any]) -> list[str | None]:
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


def _type_extra(cells: list[Any]) -> Any:
    """An extra column is numeric when every filled cell is a number, otherwise text."""
    numbers = [parse_number(c) for c in cells]
    if any(n is not None for n in numbers) and all(n is not INVALID for n in numbers):
        return np.array([np.nan if n is None else n for n in numbers], dtype=float)
    return [None if is_missing_marker(c) else str(c).strip() for c in cells]


def _check_required_cells(table: TypedTable, schema: TableSchema) -> None:
    for name in schema.required:
        if name not in table.frame.columns:
            continue
        header = table.header_of[name]
        empty = np.array([is_missing_marker(c) for c in table.raw.cells[header]], dtype=bool)
        if empty.any():
            table.problems.append(
                table.problem(
                    f"{name} is empty",
                    column=name,
                    rows=table.rows_where(empty),
                    expected=f"every row to have a {name}",
                )
            )
