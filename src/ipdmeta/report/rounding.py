"""Numbers of the report's tables rounded as the report shows them, for the CSV files.

The HTML report, report.docx and tables.xlsx show estimates to 2 decimals and p-values to
3; the CSVs keep those digits, and never fewer than 2 significant ones, so a small
variance (0.0042) or a small p-value (0.000012) is not written as 0. results.json and
the cells of tables.xlsx keep full precision.
"""

from __future__ import annotations

import math

import pandas as pd

__all__ = ["ESTIMATE_DECIMALS", "PVALUE_DECIMALS", "is_pvalue_column", "rounded_as_shown"]

ESTIMATE_DECIMALS = 2
PVALUE_DECIMALS = 3
_SIGNIFICANT = 2


def is_pvalue_column(name: str) -> bool:
    """Whether the report shows the column ``name`` as p-values."""
    return name.startswith("pvalue") or name in ("p", "lowest p", "highest p")


def rounded_as_shown(frame: pd.DataFrame, decimals: int = ESTIMATE_DECIMALS) -> pd.DataFrame:
    """A copy of ``frame`` with every float column rounded as described above;
    ``decimals`` for estimates (3 for proportions the report shows as percentages to 1)."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if not pd.api.types.is_float_dtype(values):
            continue
        places = PVALUE_DECIMALS if is_pvalue_column(str(column)) else decimals
        out[column] = [_round(v, places) for v in values.tolist()]
    return out


def _round(value: float, decimals: int) -> float:
    if not math.isfinite(value) or value == 0.0:
        return value
    magnitude = math.floor(math.log10(abs(value)))
    return round(value, max(decimals, _SIGNIFICANT - 1 - magnitude))
