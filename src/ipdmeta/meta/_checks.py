"""Validation of study-level input: where data enters the engine."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ipdmeta.errors import DataError

__all__ = ["as_float_vector", "check_yi_vi"]


def as_float_vector(values: Any, name: str) -> np.ndarray:
    """Return ``values`` as a 1-d float array, or raise :class:`DataError` naming ``name``."""
    if isinstance(values, (str, bytes)):
        raise DataError(f"{name} must be a sequence of numbers, got the string {values!r}")
    if isinstance(values, (pd.Series, pd.Index)):
        values = values.to_numpy()
    arr = np.asarray(values)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise DataError(f"{name} must be one-dimensional, got an array of shape {arr.shape}")
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
        try:
            if arr.dtype.kind == "b":
                raise TypeError
            out = arr.astype(float)
        except (TypeError, ValueError):
            bad = _first_non_numeric(arr)
            raise DataError(
                f"{name} must be numeric; element {bad[0]} is {bad[1]!r} "
                "(convert the column to numbers first)"
            ) from None
        return out
    return arr.astype(float, copy=True)


def _first_non_numeric(arr: np.ndarray) -> tuple[int, object]:
    for i, v in enumerate(arr.tolist()):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            return i, v
    return 0, arr.tolist()[0] if arr.size else None


def _check_finite(arr: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = np.flatnonzero(bad)
        shown = ", ".join(str(int(i)) for i in idx[:5])
        more = "" if idx.size <= 5 else f" and {idx.size - 5} more"
        kind = "NaN" if np.isnan(arr[idx[0]]) else "infinite"
        raise DataError(
            f"{name} has {idx.size} missing or infinite value(s) (first is {kind}) at "
            f"position(s) {shown}{more}; remove those studies or supply the values"
        )


def check_yi_vi(yi: Any, vi: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate effect sizes ``yi`` and sampling variances ``vi``.

    Raises :class:`DataError` for non-numeric, NaN or infinite values, unequal lengths,
    no studies, and ``vi <= 0``.
    """
    y = as_float_vector(yi, "yi")
    v = as_float_vector(vi, "vi")
    if y.shape[0] != v.shape[0]:
        raise DataError(
            f"yi and vi have unequal lengths ({y.shape[0]} and {v.shape[0]}); "
            "give one sampling variance per effect size"
        )
    if y.shape[0] == 0:
        raise DataError("yi and vi are empty; at least one study is needed")
    _check_finite(y, "yi")
    _check_finite(v, "vi")
    nonpos = v <= 0
    if nonpos.any():
        i = int(np.flatnonzero(nonpos)[0])
        raise DataError(
            f"vi must be > 0 (sampling variances); {int(nonpos.sum())} value(s) are <= 0, "
            f"first at position {i} (vi = {v[i]!r})"
        )
    return y, v
