"""Single cells as identifiers, and the markers extraction sheets write for "missing".

Numbers are read by :func:`ipdmeta.data.quantities.read_cell`.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["MISSING_MARKERS", "identifier_text", "is_missing_marker"]

# What extraction sheets write for "not reported".
MISSING_MARKERS = frozenset(
    {"", "na", "n/a", "n.a.", "nan", "nr", "n.r.", "not reported", "-", "–", "—", ".", "?",
     "missing", "none reported"}
)  # fmt: skip


def is_missing_marker(value: Any) -> bool:
    """Whether a cell is empty, NaN or one of `MISSING_MARKERS` (case and spaces ignored)."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().casefold() in MISSING_MARKERS


def identifier_text(value: Any) -> str | None:
    """A cell as an identifier string; workbooks store ``7`` as ``7.0``, which becomes "7"."""
    if is_missing_marker(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()
