"""Problems found in a data file, each pointing at the cell a reviewer has to fix."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pandas as pd

__all__ = ["Problem", "Severity", "format_rows", "format_value"]


class Severity(StrEnum):
    """An error stops the analysis; a warning is reported and the data are still used
    (``--strict`` makes warnings errors); a note says how something was read (a header
    found below a title, units converted, merged cells filled) and changes no number."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True)
class Problem:
    """One problem: where it is (file, sheet, rows, column, value) and what was expected.

    ``rows`` are numbered as a spreadsheet shows them: the header is row 1.
    """

    file: str
    message: str
    severity: Severity = Severity.ERROR
    sheet: str | None = None
    rows: tuple[int, ...] = ()
    column: str | None = None
    value: Any = None
    expected: str | None = None
    hint: str | None = None

    @property
    def location(self) -> str:
        parts = [self.file + (f" [sheet {self.sheet}]" if self.sheet else "")]
        if self.rows:
            parts.append(format_rows(self.rows))
        if self.column:
            parts.append(f"column {self.column!r}")
        return ", ".join(parts)

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}"
        if self.value is not None:
            text += f" (value {format_value(self.value)})"
        if self.expected:
            text += f"; expected {self.expected}"
        if self.hint:
            text += f". {self.hint}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": str(self.severity),
            "file": self.file,
            "sheet": self.sheet,
            "rows": list(self.rows),
            "column": self.column,
            "value": None if self.value is None else format_value(self.value),
            "message": self.message,
            "expected": self.expected,
            "hint": self.hint,
        }


def format_rows(rows: tuple[int, ...], limit: int = 12) -> str:
    shown = ", ".join(str(r) for r in rows[:limit])
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def format_value(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "empty"
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        value = value.date()  # a date Excel made of what was typed: the time adds nothing
    text = f"{value:g}" if isinstance(value, float) else str(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return repr(text)
