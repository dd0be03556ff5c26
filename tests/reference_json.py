"""Reading the JSON the R reference scripts write (tests/reference/json_writer.R and
metafor_reference.R): non-finite numbers are the strings "Inf", "-Inf" and "NaN", NA is
null."""

from __future__ import annotations

import math
from typing import Any


def decode(x: Any) -> Any:
    """``x`` with the non-finite strings turned back into floats, recursively."""
    if isinstance(x, dict):
        return {k: decode(v) for k, v in x.items()}
    if isinstance(x, list):
        return [decode(v) for v in x]
    if x == "Inf":
        return math.inf
    if x == "-Inf":
        return -math.inf
    if x == "NaN":
        return math.nan
    return x
