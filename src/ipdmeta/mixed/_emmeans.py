"""Estimated marginal means over emmeans' default reference grid, and their contrasts."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from ipdmeta.errors import ModelSpecError
from ipdmeta.mixed._design import FORMULA_FUNCTIONS, Design, SimpleEncoder
from ipdmeta.mixed._tukey import studentized_range_sf


def reference_rows(design: Design, factor: str) -> tuple[list[str], np.ndarray]:
    """Level labels and the rows L (levels x kept columns of X) of the marginal means.

    The grid crosses every level of every factor in the fixed part with each numeric
    covariate at its mean over the rows used; the mean for a level averages the grid with
    equal weights (emmeans' default).
    """
    kinds = design.kinds
    if factor not in kinds:
        raise ModelSpecError(
            f"{factor!r} is not a variable of the fixed part; choose one of "
            f"{', '.join(k for k, v in kinds.items() if v == 'factor')}"
        )
    if kinds[factor] != "factor":
        raise ModelSpecError(f"{factor!r} is numeric; marginal means need a factor")
    frame = design.frame
    axes: dict[str, list[object]] = {}
    for v, kind in kinds.items():
        if kind == "factor":
            lv = design.levels.get(v)
            axes[v] = list(lv) if lv is not None else sorted(frame[v].unique().tolist())
        else:
            axes[v] = [float(frame[v].to_numpy(dtype=float).mean())]
    key = _grid_key(design, factor, axes)
    cached = None if key is None else _REFERENCE_ROWS.get(key)
    if cached is None:
        cached = _reference_rows(design, factor, axes)
        if key is not None:
            if len(_REFERENCE_ROWS) >= _CACHED_GRIDS:
                _REFERENCE_ROWS.clear()
            _REFERENCE_ROWS[key] = cached
    levels, L = cached
    return list(levels), L.copy()


# Rows of marginal means already made, by what they depend on: the robustness refits of
# a model (one per left-out study) and the confounder screen ask for the same grid many
# times, and making one through the formula took 6-8 ms.
_REFERENCE_ROWS: dict[tuple[object, ...], tuple[list[str], np.ndarray]] = {}
_CACHED_GRIDS = 256


def _grid_key(
    design: Design, factor: str, axes: dict[str, list[object]]
) -> tuple[object, ...] | None:
    """What the rows depend on: the terms, the columns kept, each variable's grid values
    and its type in the data (a factor's categories and their order). None for a formula
    with functions of variables (scale(x), poly(x, 2)), whose encoding holds values
    learnt from the data that the key would not show: those rows are made each time."""
    spec = design.model_spec
    if not isinstance(spec, SimpleEncoder):
        return None
    frame = design.frame
    variables = []
    for v, values in axes.items():
        dtype = frame[v].dtype
        categories = (
            tuple(map(repr, dtype.categories)) if isinstance(dtype, pd.CategoricalDtype) else ()
        )
        variables.append((v, str(dtype), categories, tuple(map(repr, values))))
    terms = (tuple(spec.column_names), repr(sorted(spec.levels.items())), spec.intercept)
    return (terms, design.response, factor, tuple(design.x_names), tuple(variables))


def _reference_rows(
    design: Design, factor: str, axes: dict[str, list[object]]
) -> tuple[list[str], np.ndarray]:
    kinds, frame = design.kinds, design.frame
    names = list(axes)
    grid = pd.DataFrame(list(itertools.product(*axes.values())), columns=names)
    for v in names:
        if kinds[v] == "factor":
            # Keep the data's dtype so the encoder sees the same categories.
            src = frame[v]
            if isinstance(src.dtype, pd.CategoricalDtype):
                grid[v] = pd.Categorical(grid[v], categories=src.cat.categories)
            else:
                grid[v] = grid[v].astype(src.dtype)
    grid[design.response] = 0.0
    Xg = design.model_spec.get_model_matrix(grid, context=FORMULA_FUNCTIONS)
    cols = [str(c) for c in Xg.columns]
    Xg = np.asarray(Xg.to_numpy(dtype=float))
    idx = design.spec_columns(cols)
    Xg = Xg[:, idx]
    levels = axes[factor]
    L = np.vstack([Xg[(grid[factor] == lv).to_numpy()].mean(axis=0) for lv in levels])
    return [str(lv) for lv in levels], L


def reference_offset(design: Design) -> float:
    """The formula's offset on the reference grid: its mean over the rows used, as
    emmeans puts it (a predictor ``.offset.`` held at its mean: the mean of log(t) for an
    offset(log(t))); 0 without an offset. It cancels in contrasts."""
    if design.pooled is not None:  # a fit from per-study blocks
        return design.pooled.offset_mean or 0.0
    return 0.0 if design.offset is None else float(np.mean(design.offset))


def pairwise_rows(levels: list[str], L: np.ndarray) -> tuple[list[str], np.ndarray]:
    """All differences "A - B" for A before B in level order (emmeans' pairs())."""
    names, rows = [], []
    for i in range(len(levels)):
        for j in range(i + 1, len(levels)):
            names.append(f"{levels[i]} - {levels[j]}")
            rows.append(L[i] - L[j])
    return names, np.vstack(rows) if rows else np.zeros((0, L.shape[1]))


def adjust_pvalues(
    p: np.ndarray,
    method: str,
    t: np.ndarray | None = None,
    df: np.ndarray | None = None,
    n_means: int = 0,
) -> np.ndarray:
    """Multiplicity adjustment as R's p.adjust (holm, bonferroni, fdr) or emmeans' tukey."""
    p = np.asarray(p, dtype=float)
    m = p.size
    if m == 0 or method == "none":
        return p
    if method == "bonferroni":
        return np.minimum(1.0, p * m)
    if method == "holm":
        o = np.argsort(p, kind="stable")
        adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[o]))
        out = np.empty(m)
        out[o] = adj
        return out
    if method == "fdr":
        o = np.argsort(p, kind="stable")[::-1]
        i = np.arange(m, 0, -1)
        adj = np.minimum(1.0, np.minimum.accumulate(m / i * p[o]))
        out = np.empty(m)
        out[o] = adj
        return out
    if method == "tukey":
        if t is None or df is None:
            raise ValueError("tukey needs t and df")
        qv = np.sqrt(2.0) * np.abs(t)
        out = np.array([studentized_range_sf(q, n_means, d) for q, d in zip(qv, df, strict=True)])
        return np.minimum(1.0, out)
    raise ModelSpecError(f"unknown adjustment {method!r}")
