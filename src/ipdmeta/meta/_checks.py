"""Validation of study-level input: where data enters the engine."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from ipdmeta.errors import DataError, EstimationError, ModelSpecError
from ipdmeta.meta._options import Method

__all__ = [
    "NaAction",
    "Studies",
    "as_float_vector",
    "check_yi_vi",
    "check_zero_vi",
    "parse_na_action",
    "prepare_studies",
]

NaAction = Literal["omit", "fail"]

# Estimators that metafor (and so ipdmeta) can fit when a sampling variance is 0: their
# estimating equations never divide by vi alone. The others weight by 1 / vi.
ZERO_VI_METHODS = (Method.HE, Method.SJ, Method.ML, Method.REML, Method.EB)


def as_float_vector(values: Any, name: str, *, missing_ok: bool = False) -> np.ndarray:
    """Return ``values`` as a 1-d float array, or raise :class:`DataError` naming ``name``.

    With ``missing_ok`` a missing value (None, ``pd.NA``, ``NaT``) becomes NaN instead of
    being refused as non-numeric.
    """
    if isinstance(values, (str, bytes)):
        raise DataError(f"{name} must be a sequence of numbers, got the string {values!r}")
    if isinstance(values, (pd.Series, pd.Index)):
        values = values.to_numpy()
    arr = np.asarray(values)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise DataError(f"{name} must be one-dimensional, got an array of shape {arr.shape}")
    if missing_ok and arr.dtype.kind == "O":
        missing = np.asarray(pd.isna(arr), dtype=bool)
        if missing.any():
            arr = arr.copy()
            arr[missing] = np.nan
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


def parse_na_action(na_action: str) -> NaAction:
    """``"omit"`` or ``"fail"`` (R's ``"na.omit"``/``"na.fail"`` are read the same)."""
    key = na_action.strip().lower() if isinstance(na_action, str) else None
    if key in {"omit", "na.omit"}:
        return "omit"
    if key in {"fail", "na.fail"}:
        return "fail"
    raise ModelSpecError(f"unknown na_action {na_action!r}; expected 'omit' or 'fail'")


def study_names(idx: Sequence[int] | np.ndarray, labels: Sequence[str] | None) -> str:
    """The studies at positions ``idx`` by label ("Study 3" when unlabelled), at most 10."""
    idx = [int(i) for i in idx]
    names = [labels[i] if labels is not None else f"Study {i + 1}" for i in idx[:10]]
    more = f" and {len(idx) - 10} more" if len(idx) > 10 else ""
    return ", ".join(names) + more


# eq=False: fields hold arrays, whose == is elementwise
@dataclass(frozen=True, eq=False)
class Studies:
    """The studies a model is fitted to, after missing values were handled.

    ``keep`` marks the given rows that are fitted; ``omitted`` names the others.
    """

    yi: np.ndarray
    vi: np.ndarray
    keep: np.ndarray
    omitted: tuple[str, ...]

    @property
    def any_omitted(self) -> bool:
        return bool(self.omitted)


def prepare_studies(
    yi: Any,
    vi: Any,
    *,
    na_action: NaAction = "omit",
    labels: Sequence[str] | None = None,
    missing: Mapping[str, np.ndarray] | None = None,
    stacklevel: int = 3,
) -> Studies:
    """Validate ``yi`` and ``vi`` and handle studies with missing values as metafor.

    A study whose yi, vi or any moderator (``missing`` maps a moderator's name to its
    missing-value mask) is NaN/None is dropped with a warning naming it
    (``na_action="omit"``, metafor's ``na.omit``) or refused (``"fail"``). Infinite values,
    ``vi < 0`` and no studies left are a :class:`DataError`. ``vi = 0`` passes; whether
    the estimator can use it is :func:`check_zero_vi`'s question.
    """
    y = as_float_vector(yi, "yi", missing_ok=True)
    v = as_float_vector(vi, "vi", missing_ok=True)
    if y.shape[0] != v.shape[0]:
        raise DataError(
            f"yi and vi have unequal lengths ({y.shape[0]} and {v.shape[0]}); "
            "give one sampling variance per effect size"
        )
    k = y.shape[0]
    if k == 0:
        raise DataError("yi and vi are empty; at least one study is needed")
    # infinite values are errors, not missing values (R's is.na(Inf) is FALSE)
    _check_finite(np.where(np.isnan(y), 0.0, y), "yi")
    _check_finite(np.where(np.isnan(v), 0.0, v), "vi")
    reasons: dict[str, np.ndarray] = {"yi": np.isnan(y), "vi": np.isnan(v)}
    for name, mask in (missing or {}).items():
        reasons[name] = np.asarray(mask, dtype=bool)
    drop = np.zeros(k, dtype=bool)
    for mask in reasons.values():
        drop |= mask
    negative = (v < 0) & ~drop
    if negative.any():
        i = int(np.flatnonzero(negative)[0])
        raise DataError(
            f"vi must be >= 0 (sampling variances); {int(negative.sum())} value(s) are < 0, "
            f"first at position {i} (vi = {v[i]!r})"
        )
    omitted: tuple[str, ...] = ()
    if drop.any():
        idx = np.flatnonzero(drop)
        parts = []
        for i in idx[:10]:
            why = ", ".join(name for name, mask in reasons.items() if mask[i])
            parts.append(f"{study_names([i], labels)} ({why})")
        listed = ", ".join(parts) + (f" and {idx.size - 10} more" if idx.size > 10 else "")
        if na_action == "fail":
            raise DataError(
                f"missing values in data: {listed}; supply the values or drop those "
                "studies (na_action='omit' drops them with a warning)"
            )
        if drop.all():
            raise DataError(f"every study has a missing value ({listed}); nothing to fit")
        warnings.warn(
            f"Studies with missing values omitted from model fitting: {listed}",
            UserWarning,
            stacklevel=stacklevel,
        )
        omitted = tuple(labels[i] if labels is not None else f"Study {i + 1}" for i in idx.tolist())
    keep = ~drop
    return Studies(yi=y[keep], vi=v[keep], keep=keep, omitted=omitted)


def check_zero_vi(
    vi: np.ndarray, method: Method, labels: Sequence[str] | None, tau2: float | None = None
) -> None:
    """Refuse ``vi = 0`` where the model weights a study by 1 / vi.

    HE, SJ, ML, REML and EB can be fitted (as metafor); FE, DL, HS and PM, or a tau2
    fixed at 0, would give the study infinite weight. A tau2 fixed above 0 is fine.
    """
    zero = np.flatnonzero(vi == 0)
    if zero.size == 0:
        return
    names = study_names(zero, labels)
    if tau2 is not None:
        if tau2 > 0:
            return
        raise EstimationError(
            f"tau2 is fixed at 0 but {names} ha{'s' if zero.size == 1 else 've'} vi = 0: "
            "a study with no sampling variance and no between-study variance gets infinite "
            "weight; fix tau2 above 0 or check those sampling variances"
        )
    if method in ZERO_VI_METHODS:
        return
    what = (
        "the common-effect (FE) model"
        if method is Method.FE
        else f"the {method.value} estimator of tau2"
    )
    raise EstimationError(
        f"{what} cannot be used when a sampling variance is 0 ({names} "
        f"ha{'s' if zero.size == 1 else 've'} vi = 0): it weights each study by 1 / vi. "
        "Use method 'HE', 'SJ', 'ML', 'REML' or 'EB', or check those sampling variances"
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
