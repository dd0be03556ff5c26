"""Read CSV, XLSX and Parquet files into grids of cells, as a spreadsheet shows them.

A reader only turns bytes into cells; finding the header, the tables and the patients in
a grid is :mod:`ipdmeta.data.layout`'s job, typing the cells :mod:`ipdmeta.data.typing`'s.
A workbook cell is read as Excel shows it: a percent-formatted 0.84 is the 84 (%) the
user sees, a formula is its value as Excel last calculated it, and each such cell is
marked (:class:`CellKind`) so that what was done can be reported. Anything that keeps a
file from being read (missing, empty, binary, corrupt) raises
:class:`~ipdmeta.errors.ReadError` naming the file and what to do. Files are only ever
opened for reading.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import pandas as pd

from ipdmeta.data.problems import Problem, Severity
from ipdmeta.errors import ReadError

__all__ = ["CellKind", "Grid", "GridRow", "RawTable", "column_letter", "read_grids"]

CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
PARQUET_SUFFIXES = {".parquet", ".pq"}

_MAX_CONTROL_SHARE = 0.001  # real text has essentially no control characters
_SNIFF_BYTES = 1 << 16
# Excel displays at most 15 significant digits; 0.845 * 100 is 84.49999999999999 in
# binary floating point but Excel shows 84.5, which is the number the user typed.
_EXCEL_DIGITS = 15


class CellKind(StrEnum):
    """How a workbook cell's value was obtained, when it is not a plain typed value."""

    PERCENT = "percent"  # a number formatted as percent: read as the percent shown
    DATE = "date"  # a number Excel shows as a date or time
    FORMULA = "formula"  # a formula: its value as Excel last calculated it
    TEXT = "text"  # a text cell in a workbook (a number stored as text, if it reads as one)
    MERGED = "merged"  # filled from a merged range above it (layout's, reported once)
    EXCEL_ERROR = "excel error"  # a formula's error value as Excel saved it (#DIV/0!, #N/A)


@dataclass
class GridRow:
    """One spreadsheet row: its number as the spreadsheet shows it, cells, cell kinds."""

    number: int
    cells: list[Any]
    kinds: list[CellKind | None]
    hidden: bool = False

    @property
    def blank(self) -> bool:
        return all(c is None or (isinstance(c, str) and not c.strip()) for c in self.cells)


@dataclass
class Grid:
    """A sheet (or a CSV/Parquet file) as rows of cells, before any header is found.

    ``merges`` are Excel's merged ranges as (first row, first column, last row, last
    column), 1-based; only the first cell of a range holds its value. ``hidden_columns``
    are 0-based column indices hidden in Excel.
    """

    file: str
    sheet: str | None
    rows: list[GridRow]
    merges: list[tuple[int, int, int, int]] = field(default_factory=list)
    hidden_columns: frozenset[int] = frozenset()
    problems: list[Problem] = field(default_factory=list)

    @property
    def where(self) -> str:
        return self.file + (f" [sheet {self.sheet}]" if self.sheet else "")

    def problem(self, message: str, **where: Any) -> Problem:
        return Problem(file=self.file, sheet=self.sheet, message=message, **where)


@dataclass
class RawTable:
    """A table's cells as read, under their headers as written, before typing.

    ``cells`` has the headers as columns and object cells (strings from a CSV, typed values
    from a workbook or Parquet); ``row_numbers`` gives each row's number as the
    spreadsheet shows it; ``kinds`` (same shape as ``cells``, or None) marks how workbook
    cells were read (:class:`CellKind`). ``problems`` holds what reading and layout
    noticed but could read past.
    """

    file: str
    sheet: str | None
    cells: pd.DataFrame
    row_numbers: list[int]
    problems: list[Problem] = field(default_factory=list)
    kinds: pd.DataFrame | None = None
    header_row: int = 1  # the spreadsheet row of the header (its last row, if two)

    def problem(self, message: str, **where: Any) -> Problem:
        return Problem(file=self.file, sheet=self.sheet, message=message, **where)

    def kinds_of(self, header: str) -> list[CellKind | None]:
        if self.kinds is None or header not in self.kinds:
            return [None] * len(self.cells)
        return list(self.kinds[header])


def read_grids(path: str | Path) -> list[Grid]:
    """Read a data file into grids: one per visible sheet of a workbook, else one."""
    path = Path(path)
    if not path.exists():
        raise ReadError(f"{path}: no such file")
    if path.is_dir():
        raise ReadError(f"{path}: is a folder, expected a data file")
    suffix = path.suffix.lower()
    if suffix in (".ods", ".numbers"):
        kind = "OpenDocument (LibreOffice)" if suffix == ".ods" else "Apple Numbers"
        raise ReadError(
            f"{path}: an {kind} spreadsheet, which ipdmeta does not read; save it as an Excel "
            "workbook (.xlsx) or as CSV"
        )
    head = _read_bytes(path, _SNIFF_BYTES)
    if not head.strip():
        raise ReadError(f"{path}: the file is empty; expected a header row and one row per record")
    if suffix in EXCEL_SUFFIXES or (suffix not in PARQUET_SUFFIXES and head[:4] == b"PK\x03\x04"):
        return _read_workbook(path)
    if head[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise ReadError(
            f"{path}: this is an old Excel 97-2003 (.xls) workbook, which ipdmeta does not read; "
            "open it and save it as .xlsx or CSV"
        )
    if suffix in PARQUET_SUFFIXES or head[:4] == b"PAR1":
        return [_read_parquet(path)]
    return [_read_csv(path)]


def _read_bytes(path: Path, limit: int | None = None) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read() if limit is None else handle.read(limit)
    except OSError as exc:
        raise ReadError(f"{path}: cannot open the file: {exc.strerror or exc}") from exc


def column_letter(index: int) -> str:
    """The spreadsheet letter of a 0-based column index (0 -> A, 26 -> AA)."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


# --- CSV ---


def decode_bytes(path: Path, data: bytes) -> tuple[str, str]:
    """A text file's bytes as text, and the encoding they were read as: UTF-16 when it
    starts with its byte-order mark (Excel's "Unicode text"), UTF-8 (with or without a
    byte-order mark), else Windows-1252, which Windows programs write, else Latin-1, which
    decodes any byte."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "UTF-16"
        except UnicodeDecodeError as exc:
            raise ReadError(f"{path}: starts like UTF-16 text but cannot be decoded") from exc
    try:
        return data.decode("utf-8-sig"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "Windows-1252 (Latin-1)"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "Latin-1"


def _decode(path: Path, data: bytes) -> tuple[str, Problem | None]:
    text, encoding = decode_bytes(path, data)
    if encoding in ("UTF-8", "UTF-16"):
        return text, None
    try:
        data.decode("utf-8-sig")
        position = 0
    except UnicodeDecodeError as exc:
        position = exc.start
    notice = Problem(
        file=str(path),
        severity=Severity.WARNING,
        message=(
            f"the file is not UTF-8 (first non-UTF-8 byte at offset {position}); "
            f"it was read as {encoding}"
        ),
        hint="Check accented names; save the file as 'CSV UTF-8' to silence this",
    )
    return text, notice


def _check_is_text(path: Path, text: str) -> None:
    sample = text[:_SNIFF_BYTES]
    if "\x00" in sample:
        raise ReadError(
            f"{path}: contains binary data (NUL bytes), not text; expected a CSV file. "
            "If this is a workbook, give it the .xlsx extension"
        )
    control = sum(
        1 for ch in sample if ch not in "\t\n\r\f" and unicodedata.category(ch) in ("Cc", "Cs")
    )
    if control > _MAX_CONTROL_SHARE * len(sample):
        raise ReadError(
            f"{path}: does not look like a text table ({control} control characters in the "
            "first part of the file); expected a CSV file with a header row"
        )


def _sniff_delimiter(lines: list[str]) -> str:
    # The delimiter that splits the most of the first lines into the same number of cells;
    # a title line above the header has none, so several lines are looked at.
    best, best_score = ",", 0
    for delimiter in (",", ";", "\t"):
        counts = [line.count(delimiter) for line in lines]
        score = max((counts.count(c) * c for c in set(counts) if c), default=0)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _read_csv(path: Path) -> Grid:
    text, notice = _decode(path, _read_bytes(path))
    _check_is_text(path, text)
    first_lines = [line for line in text.splitlines() if line.strip()][:20]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(first_lines))
    rows: list[GridRow] = []
    try:
        while True:
            start = reader.line_num + 1
            try:
                record = next(reader)
            except StopIteration:
                break
            cells: list[Any] = [cell.strip() or None for cell in record]
            rows.append(GridRow(start, cells, [None] * len(cells)))
    except csv.Error as exc:
        raise ReadError(
            f"{path}: line {reader.line_num}: not valid CSV ({exc}); "
            "check for an unclosed quotation mark"
        ) from exc
    if all(row.blank for row in rows):
        raise ReadError(f"{path}: the file is empty; expected a header row and one row per record")
    grid = Grid(str(path), None, rows)
    if notice is not None:
        grid.problems.append(notice)
    return grid


# --- XLSX ---


def _read_workbook(path: Path) -> list[Grid]:
    import openpyxl  # imported here: only workbook users pay for it

    try:
        values = openpyxl.load_workbook(path, data_only=True)
        # Which cells are formulas shows only in a second reading; most extraction sheets
        # have none, and then the second reading is skipped.
        formulas = openpyxl.load_workbook(path, data_only=False) if _has_formulas(path) else None
    except Exception as exc:  # openpyxl raises many types for a damaged zip or XML
        raise ReadError(
            f"{path}: cannot be read as an Excel workbook (.xlsx): "
            f"{type(exc).__name__}: {exc}. Open it in a spreadsheet program and save it "
            "again as .xlsx, or export each sheet as CSV"
        ) from exc
    grids: list[Grid] = []
    hidden: list[str] = []
    for name in values.sheetnames:
        sheet = values[name]
        if not hasattr(sheet, "iter_rows"):  # a chart sheet
            continue
        if sheet.sheet_state != "visible":
            if sheet.max_row > 1 or sheet.max_column > 1 or sheet.cell(1, 1).value is not None:
                hidden.append(name)
            continue
        try:
            grids.append(_sheet_grid(path, sheet, formulas[name] if formulas else None))
        except ReadError:
            raise
        except Exception as exc:  # a damaged sheet part fails only when read
            raise ReadError(
                f"{path}: the sheet {name!r} of the workbook is damaged and cannot be read "
                f"({type(exc).__name__}: {exc}); save the workbook again as .xlsx"
            ) from exc
    filled = [g for g in grids if not all(row.blank for row in g.rows)]
    if not filled:
        raise ReadError(f"{path}: every visible sheet of the workbook is empty")
    if hidden:
        listed = ", ".join(repr(h) for h in hidden)
        filled[0].problems.append(
            Problem(
                file=str(path),
                severity=Severity.WARNING,
                message=f"hidden sheet{'s' if len(hidden) > 1 else ''} {listed} not read",
                hint="Unhide a sheet (right-click a sheet tab, Unhide) if it holds data to analyse",
            )
        )
    return filled


def _has_formulas(path: Path) -> bool:
    """Whether any worksheet of the workbook holds a formula (an ``<f>`` element)."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        return any(
            re.search(rb"<f[ >/]", archive.read(name))
            for name in archive.namelist()
            if name.startswith("xl/worksheets/") and name.endswith(".xml")
        )


def shows_percent(number_format: str) -> bool:
    """Whether an Excel number format multiplies by 100 and shows a percent sign.

    A ``%`` inside quotes or after a backslash is literal text and does not scale.
    """
    return "%" in re.sub(r'"[^"]*"|\\.', "", number_format or "")


def _sheet_grid(path: Path, sheet: Any, formula_sheet: Any | None) -> Grid:
    grid = Grid(str(path), sheet.title, [])
    hidden_rows = {n for n, d in sheet.row_dimensions.items() if d.hidden}
    hidden_columns: set[int] = set()
    for dimension in sheet.column_dimensions.values():
        if dimension.hidden and dimension.min:
            hidden_columns.update(range(dimension.min - 1, (dimension.max or dimension.min)))
    grid.hidden_columns = frozenset(hidden_columns)
    grid.merges = [(r.min_row, r.min_col, r.max_row, r.max_col) for r in sheet.merged_cells.ranges]
    uncalculated: list[tuple[int, str]] = []
    for row in sheet.iter_rows():
        number = row[0].row
        cells: list[Any] = []
        kinds: list[CellKind | None] = []
        for cell in row:
            value, kind = _cell_value(cell)
            source = formula_sheet.cell(number, cell.column) if formula_sheet else None
            if source is not None and source.data_type == "f":
                if value is None:
                    uncalculated.append((number, column_letter(cell.column - 1)))
                shown = (CellKind.PERCENT, CellKind.DATE, CellKind.EXCEL_ERROR)
                kind = kind if kind in shown else CellKind.FORMULA
            cells.append(value)
            kinds.append(kind)
        while cells and cells[-1] is None:
            cells.pop()
            kinds.pop()
        grid.rows.append(GridRow(number, cells, kinds, hidden=number in hidden_rows))
    if uncalculated:
        grid.problems.append(
            grid.problem(
                "formulas without a calculated value (the workbook was written by a program "
                "and never opened and saved in Excel)",
                rows=tuple(dict.fromkeys(r for r, _ in uncalculated)),
                value=", ".join(f"{c}{r}" for r, c in uncalculated[:6]),
                hint="Open the workbook in Excel or LibreOffice and save it, so that each "
                "formula's value is stored",
            )
        )
    return grid


def _cell_value(cell: Any) -> tuple[Any, CellKind | None]:
    value = cell.value
    if value is None:
        return None, None
    if cell.data_type == "e":
        return value, CellKind.EXCEL_ERROR
    if isinstance(value, str):
        text = value.strip()
        return (text or None), (CellKind.TEXT if text else None)
    if isinstance(value, dt.datetime | dt.date | dt.time | dt.timedelta):
        return value, CellKind.DATE
    if isinstance(value, bool):
        return value, None
    if isinstance(value, int | float) and shows_percent(cell.number_format):
        return float(f"{value * 100:.{_EXCEL_DIGITS}g}"), CellKind.PERCENT
    return value, None


# --- Parquet ---


def _read_parquet(path: Path) -> Grid:
    import pyarrow.parquet as pq

    try:
        frame = pq.read_table(path).to_pandas()
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError and others on bad files
        raise ReadError(
            f"{path}: cannot be read as a Parquet file: {type(exc).__name__}: {exc}"
        ) from exc
    if frame.columns.empty:
        raise ReadError(f"{path}: the Parquet file has no columns")
    if frame.empty:
        raise ReadError(f"{path}: the Parquet file has columns but no rows")
    width = len(frame.columns)
    rows = [GridRow(1, [str(c) for c in frame.columns], [None] * width)]
    rows += [
        GridRow(i + 2, [None if _is_missing(v) else v for v in row], [None] * width)
        for i, row in enumerate(frame.astype(object).itertuples(index=False, name=None))
    ]
    return Grid(str(path), None, rows)


def _is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
