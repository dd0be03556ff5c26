"""Turning single cells into typed values: numbers, identifiers, missing markers."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

import numpy as np

__all__ = ["INVALID", "MISSING_MARKERS", "identifier_text", "is_missing_marker", "parse_number"]

# What extraction sheets write for "not reported".
MISSING_MARKERS = frozenset(
    {"", "na", "n/a", "n.a.", "nan", "nr", "n.r.", "not reported", "-", "–", "—", ".", "?",
     "missing", "none reported"}
)  # fmt: skip

INVALID = object()  # parse_number's answer for a cell that is not a number

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")


def is_missing_marker(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().casefold() in MISSING_MARKERS


def parse_number(value: Any) -> float | object | None:
    """A cell as a float, None when missing, or INVALID when it is not a number.

    Accepts a decimal comma (``"12,5"``, as semicolon-separated files from European
    spreadsheets write it) and a trailing percent sign.
    """
    if is_missing_marker(value):
        return None
    if isinstance(value, bool | dt.date | dt.time | dt.timedelta):
        return INVALID
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
        return INVALID if math.isinf(number) else number
    text = str(value).strip()
    if text.endswith("%"):
        text = text[:-1].strip()
    if _DECIMAL_COMMA.match(text):
        text = text.replace(",", ".")
    if not _NUMBER.match(text):
        return INVALID
    return float(text)


def identifier_text(value: Any) -> str | None:
    """A cell as an identifier string; workbooks store ``7`` as ``7.0``, which becomes "7"."""
    if is_missing_marker(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()
