"""Read CSV, XLSX and Parquet files into raw tables, with spreadsheet row numbers.

A reader only turns bytes into cells; typing and checking the cells is validation's job.
Anything that keeps a file from being read as a table (missing, empty, binary, corrupt,
header only) raises :class:`~ipdmeta.errors.ReadError` naming the file and what to do.
Files are only ever opened for reading.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ipdmeta.data.problems import Problem, Severity
from ipdmeta.data.schema import normalise_header
from ipdmeta.errors import ReadError

__all__ = ["RawTable", "read_tables"]

CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
PARQUET_SUFFIXES = {".parquet", ".pq"}

# Sheet names (normalised) that hold each table in a workbook.
SHEET_NAMES = {
    "patients": ("patients", "patient", "ipd", "patient_data", "data", "extraction"),
    "studies": ("studies", "study", "papers", "included_studies", "included"),
    "quality": ("quality", "quality_appraisal", "appraisal", "risk_of_bias", "critical_appraisal"),
}

_MAX_CONTROL_SHARE = 0.001  # real text has essentially no control characters
_SNIFF_BYTES = 1 << 16


@dataclass
class RawTable:
    """Cells as read, before typing.

    ``cells`` has the original headers as columns and object cells (strings from a CSV,
    typed values from a workbook or Parquet); ``row_numbers`` gives each row's number as a
    spreadsheet shows it (header = row 1). ``problems`` holds what the reader noticed but
    could read past (a Latin-1 file, a ragged row).
    """

    file: str
    sheet: str | None
    cells: pd.DataFrame
    row_numbers: list[int]
    problems: list[Problem] = field(default_factory=list)

    def problem(self, message: str, **where: Any) -> Problem:
        return Problem(file=self.file, sheet=self.sheet, message=message, **where)


def read_tables(path: str | Path) -> dict[str, RawTable]:
    """Read a data file into raw tables keyed by table name.

    A CSV or Parquet file is one table, named after the file (``studies.csv`` is the
    studies table; any other name is the patients table). A workbook gives one table per
    recognised sheet, or its only sheet as the patients table.
    """
    path = Path(path)
    if not path.exists():
        raise ReadError(f"{path}: no such file")
    if path.is_dir():
        raise ReadError(f"{path}: is a folder, expected a data file")
    suffix = path.suffix.lower()
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
        return {table_name_for_file(path): _read_parquet(path)}
    return {table_name_for_file(path): _read_csv(path)}


def table_name_for_file(path: Path) -> str:
    stem = normalise_header(path.stem)
    for table, names in SHEET_NAMES.items():
        if table != "patients" and stem in names:
            return table
    return "patients"


def _read_bytes(path: Path, limit: int | None = None) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read() if limit is None else handle.read(limit)
    except OSError as exc:
        raise ReadError(f"{path}: cannot open the file: {exc.strerror or exc}") from exc


# --- CSV ---


def _decode(path: Path, data: bytes) -> tuple[str, Problem | None]:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), None
        except UnicodeDecodeError as exc:
            raise ReadError(f"{path}: starts like UTF-16 text but cannot be decoded") from exc
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        position = exc.start
    # Spreadsheet programs on Windows save CSV as Windows-1252; Latin-1 decodes any byte.
    try:
        text, encoding = data.decode("cp1252"), "Windows-1252 (Latin-1)"
    except UnicodeDecodeError:
        text, encoding = data.decode("latin-1"), "Latin-1"
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


def _sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _read_csv(path: Path) -> RawTable:
    text, notice = _decode(path, _read_bytes(path))
    _check_is_text(path, text)
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = _sniff_delimiter(first_line)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records: list[tuple[int, list[str]]] = []
    try:
        while True:
            start = reader.line_num + 1
            try:
                record = next(reader)
            except StopIteration:
                break
            if any(cell.strip() for cell in record):
                records.append((start, [cell.strip() for cell in record]))
    except csv.Error as exc:
        raise ReadError(
            f"{path}: line {reader.line_num}: not valid CSV ({exc}); "
            "check for an unclosed quotation mark"
        ) from exc
    if not records:
        raise ReadError(f"{path}: the file is empty; expected a header row and one row per record")
    table = _table_from_rows(path, None, records)
    if notice is not None:
        table.problems.insert(0, notice)
    return table


def _table_from_rows(
    path: Path, sheet: str | None, records: list[tuple[int, list[Any]]]
) -> RawTable:
    """Build a RawTable from (row number, cells) records, the first being the header."""
    where = f"{path}" + (f" [sheet {sheet}]" if sheet else "")
    header_row, header = records[0]
    header = [("" if h is None else str(h).strip()) for h in header]
    while header and not header[-1]:
        header.pop()
    if not header:
        raise ReadError(f"{where}: the header row (row {header_row}) is empty")
    body = records[1:]
    if not body:
        raise ReadError(
            f"{where}: has a header row but no data rows; expected one row per record below "
            f"the header ({', '.join(repr(h) for h in header[:6])})"
        )
    problems: list[Problem] = []
    names = _unique_headers(path, sheet, header_row, header, problems)
    width = len(names)
    rows: list[list[Any]] = []
    row_numbers: list[int] = []
    for number, cells in body:
        cells = list(cells)
        extra = [c for c in cells[width:] if c not in (None, "")]
        if extra:
            problems.append(
                Problem(
                    file=str(path),
                    sheet=sheet,
                    rows=(number,),
                    message=f"the row has {len(cells)} cells but the header has {width} columns",
                    value=extra[0],
                    expected="no cells to the right of the last header",
                    hint="Add a header for the extra column or delete the stray cells",
                )
            )
        cells = (cells + [None] * width)[:width]
        rows.append([None if c == "" else c for c in cells])
        row_numbers.append(number)
    cells_frame = pd.DataFrame(rows, columns=names, dtype=object)
    return RawTable(str(path), sheet, cells_frame, row_numbers, problems)


def _unique_headers(
    path: Path, sheet: str | None, header_row: int, header: list[str], problems: list[Problem]
) -> list[str]:
    names: list[str] = []
    seen: dict[str, int] = {}
    for index, name in enumerate(header):
        letter = _column_letter(index)
        if not name:
            problems.append(
                Problem(
                    file=str(path),
                    sheet=sheet,
                    rows=(header_row,),
                    column=letter,
                    message=f"column {letter} has no header",
                    hint="Give it a header, or delete the column if it is empty",
                )
            )
            name = f"column_{letter}"
        key = normalise_header(name)
        if key in seen:
            problems.append(
                Problem(
                    file=str(path),
                    sheet=sheet,
                    rows=(header_row,),
                    column=name,
                    message=(
                        f"the header {name!r} appears twice (columns "
                        f"{_column_letter(seen[key])} and {letter})"
                    ),
                    hint="Rename or delete one of them",
                )
            )
            name = f"{name}_{letter}"
        seen.setdefault(key, index)
        names.append(name)
    return names


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


# --- XLSX ---


def _read_workbook(path: Path) -> dict[str, RawTable]:
    import openpyxl  # imported here: only workbook users pay for it

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged zip or XML
        raise ReadError(
            f"{path}: cannot be read as an Excel workbook (.xlsx): "
            f"{type(exc).__name__}: {exc}. Open it in a spreadsheet program and save it "
            "again as .xlsx, or export each sheet as CSV"
        ) from exc
    try:
        sheets = {
            name: _sheet_records(book[name])
            for name in book.sheetnames
            if _is_worksheet(book, name)
        }
    except Exception as exc:  # a damaged sheet part fails only when read
        raise ReadError(
            f"{path}: a sheet of the workbook is damaged and cannot be read "
            f"({type(exc).__name__}: {exc}); save the workbook again as .xlsx"
        ) from exc
    finally:
        book.close()
    filled = {name: records for name, records in sheets.items() if records}
    if not filled:
        raise ReadError(f"{path}: every sheet of the workbook is empty")
    chosen: dict[str, str] = {}
    for table, names in SHEET_NAMES.items():
        for sheet in filled:
            if normalise_header(sheet) in names and table not in chosen:
                chosen[table] = sheet
    if "patients" not in chosen:
        if len(filled) == 1:
            chosen = {"patients": next(iter(filled))}
        else:
            raise ReadError(
                f"{path}: the workbook has several sheets ({', '.join(filled)}) and none is "
                "named 'patients'; rename the sheet with one row per patient to 'patients' "
                "(and the others 'studies' and 'quality')"
            )
    return {table: _table_from_rows(path, sheet, filled[sheet]) for table, sheet in chosen.items()}


def _is_worksheet(book: Any, name: str) -> bool:
    return hasattr(book[name], "iter_rows")


def _sheet_records(sheet: Any) -> list[tuple[int, list[Any]]]:
    records = []
    for number, values in enumerate(sheet.iter_rows(min_row=1, values_only=True), start=1):
        cells = [v.strip() if isinstance(v, str) else v for v in values]
        if any(c not in (None, "") for c in cells):
            records.append((number, cells))
    return records


# --- Parquet ---


def _read_parquet(path: Path) -> RawTable:
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
    records: list[tuple[int, list[Any]]] = [(1, [str(c) for c in frame.columns])]
    records += [
        (i + 2, [None if _is_missing(v) else v for v in row])
        for i, row in enumerate(frame.astype(object).itertuples(index=False, name=None))
    ]
    return _table_from_rows(path, None, records)


def _is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
