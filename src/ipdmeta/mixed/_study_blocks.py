"""Per-study sufficient statistics of a linear mixed model, and the exact fit from them.

When every random term is grouped by the study, the rows of study i enter the (RE)ML
criterion only through its size n_i and the cross-products G_i = W_i'W_i of
W_i = [Z_i X_i y_i] (the random-effect columns, the fixed-effect columns and the
outcome). Those are the *blocks*: a study's G_i is (K + p + 1) x (K + p + 1) whatever its
number of patients.

The fit from blocks reuses the engine that fits rows. Each G_i is written as R_i'R_i
(R_i has at most K + p + 1 rows; see :func:`pseudo_rows`), and the engine is handed the
rows R_i of every study with the true number of patients: every quantity it computes (Z'Z,
Z'X, X'X, Z'y, X'y, y'y and n) is then that of the pooled rows, so the fit, its
Satterthwaite and Kenward-Roger inference, F-tests, marginal means and profile intervals
are the pooled fit's. What needs a patient's row (fitted values, residuals, the parametric
bootstrap) is refused. An offset is taken off the outcome before the blocks are made (its
sum kept for marginal means); prior weights scale the rows by their square roots (the sum
of their logs kept for the deviance), as a fit to the rows does.

The columns must be the same at every site, so they are not taken from the data: a
*skeleton* design is built on synthetic rows from the formula and the factors' levels
(given, or read from the data), and its model specification makes every site's columns.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from ipdmeta.errors import ModelSpecError
from ipdmeta.mixed._design import (
    ColumnFrame,
    Design,
    FixedTerm,
    PooledFromBlocks,
    ReTerm,
    _is_factor,
    aliased_columns,
    build_design,
    check_variables,
    grouped_products,
    marked_factors,
    new_model_matrix,
    offset_values,
    prior_weights,
    r_column_name,
    r_sorted,
)
from ipdmeta.mixed._formula import ParsedFormula, parse_formula

# Functions whose result depends on every row fitted (a mean, an SD, an orthogonal basis):
# no site has those rows.
_STATEFUL = re.compile(r"\b(poly|scale|center)\s*\(")
# Synthetic rows of the skeleton design: enough for its checks (more rows than random
# effects and fixed effects), few enough to cost nothing.
_SKELETON_MIN_ROWS = 64
_SKELETON_MAX_CELLS = 20_000
_SKELETON_STUDIES = 3
# The column that carries each row's prior weight through the dropping of incomplete rows.
WEIGHT = "__ipdmeta_weight__"
# An eigenvalue of a study's scaled cross-product matrix below this (relative to the
# largest) is rounding: the study has fewer rows than columns, or collinear columns.
_RANK_RTOL = 1e-13


@dataclass(frozen=True)
class StudyBlocks:
    """The per-study sufficient statistics of one model.

    ``gram[i]`` is W'W for the rows of study ``studies[i]``, W = [Z X y] with the columns
    named by ``z_names``, ``x_names`` and the outcome; ``n[i]`` its rows; ``sums[i]`` the
    sums of the fixed part's numeric variables (``numeric``), which marginal means hold at
    their pooled mean. ``levels``: every factor's levels, in the order the columns use.
    """

    formula: str
    study: str
    studies: tuple[str, ...]
    n: np.ndarray
    gram: np.ndarray
    z_names: tuple[str, ...]
    x_names: tuple[str, ...]
    levels: dict[str, tuple[str, ...]]
    numeric: tuple[str, ...]
    sums: np.ndarray
    n_dropped: int = 0
    # Per study: the sum of the offset (offset(...) in the formula; the outcome in the
    # blocks has it taken off) and of the log prior weights (the rows in the blocks are
    # scaled by the square roots of the weights). Zeros without either.
    offset_sums: np.ndarray | None = None
    log_weights: np.ndarray | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def per_study(self, name: str) -> np.ndarray:
        """``offset_sums`` or ``log_weights``, zeros where the summaries have none."""
        values = getattr(self, name)
        return np.zeros(len(self.studies)) if values is None else np.asarray(values, dtype=float)

    @property
    def n_patients(self) -> int:
        return int(self.n.sum())

    def _check_same_model(self, other: StudyBlocks) -> None:
        for name in ("formula", "study", "z_names", "x_names", "levels", "numeric"):
            if getattr(other, name) != getattr(self, name):
                raise ModelSpecError(
                    f"the summaries do not describe the same model: their {name} differ "
                    f"({getattr(self, name)!r} and {getattr(other, name)!r})"
                )

    def combine(self, *others: StudyBlocks) -> StudyBlocks:
        """These studies and those of ``others`` (other sites), which must summarise the
        same model with the same columns; a study may appear only once."""
        parts = [self, *others]
        for other in others:
            self._check_same_model(other)
        studies = [s for part in parts for s in part.studies]
        repeated = sorted({s for s in studies if studies.count(s) > 1})
        if repeated:
            raise ModelSpecError(
                f"the study {repeated[0]!r} is in more than one summary"
                + (f" (and {len(repeated) - 1} more)" if len(repeated) > 1 else "")
                + "; each study's patients must be summarised once"
            )
        out = self
        for other in others:
            out = out.add(other)
        return out

    def add(self, other: StudyBlocks) -> StudyBlocks:
        """The blocks of the rows of both (a study's patients may be split between
        ``self`` and ``other``: their blocks are summed); studies in sorted order."""
        self._check_same_model(other)
        studies = study_order(set(self.studies) | set(other.studies))
        at = {s: i for i, s in enumerate(studies)}
        n = np.zeros(len(studies), dtype=np.int64)
        gram = np.zeros((len(studies), *self.gram.shape[1:]))
        sums = np.zeros((len(studies), self.sums.shape[1]))
        offsets = np.zeros(len(studies))
        logs = np.zeros(len(studies))
        for part in (self, other):
            rows = np.array([at[s] for s in part.studies], dtype=np.intp)
            np.add.at(n, rows, part.n)
            np.add.at(gram, rows, part.gram)
            np.add.at(sums, rows, part.sums)
            np.add.at(offsets, rows, part.per_study("offset_sums"))
            np.add.at(logs, rows, part.per_study("log_weights"))
        return replace(self, studies=tuple(studies), n=n, gram=gram, sums=sums,
                       n_dropped=self.n_dropped + other.n_dropped, offset_sums=offsets,
                       log_weights=logs, _cache={})  # fmt: skip


def study_order(labels: Any) -> list[str]:
    """Study labels in the order a fit to rows gives its groups: as numbers when every
    label is one (studies numbered 1, 2, ..., 10), else as text."""
    labels = [str(label) for label in labels]
    try:
        return sorted(labels, key=float)
    except ValueError:
        return sorted(labels)


# ---------------------------------------------------------------------------------------
# The model's columns, made the same everywhere


def check_formula(parsed: ParsedFormula, formula: str) -> str:
    """The study variable of a formula a fit from blocks can take; a clear refusal else."""
    groups = {term.group for term in parsed.random}
    if len(groups) != 1 or len(next(iter(groups))) != 1:
        raise ModelSpecError(
            f"{formula!r}: a fit from per-study summaries needs every random term grouped "
            "by one factor, the study, as in (1 | study_id) or (1 + age | study_id); "
            "crossed or nested terms need rows that cross studies"
        )
    text = " ".join([parsed.fixed, *(e for t in parsed.random for e in t.effects)])
    if _STATEFUL.search(text):
        raise ModelSpecError(
            f"{formula!r}: poly(), scale() and center() take their basis, mean and SD from "
            "all the rows fitted, which no site holds; write the transformation out, such "
            "as I(age - 60) or I((age - 60)^2)"
        )
    return next(iter(groups))[0]


def _predictors(parsed: ParsedFormula, study: str) -> list[str]:
    """Every variable of the model but the outcome and the study."""
    names = [v for v in parsed.variables if v not in (parsed.response, study)]
    return list(dict.fromkeys(names))


def data_levels(parsed: ParsedFormula, data: pd.DataFrame, study: str) -> dict[str, tuple]:
    """The levels of every factor of the model in the rows with a value for every
    variable, in the order a fit to those rows uses (a Categorical's own, else sorted)."""
    used = [v for v in parsed.variables if v in data.columns]
    complete = data[used].dropna()
    out: dict[str, tuple] = {}
    marked = marked_factors(parsed.fixed)
    for v in _predictors(parsed, study):
        if v not in complete.columns or not (_is_factor(complete[v]) or v in marked):
            continue
        series = complete[v]
        if isinstance(series.dtype, pd.CategoricalDtype):
            present = set(series.unique())
            out[v] = tuple(str(c) for c in series.cat.categories if c in present)
        else:
            out[v] = tuple(str(x) for x in r_sorted(series.unique()))
    return out


def skeleton_design(
    parsed: ParsedFormula, levels: dict[str, tuple], centres: dict[str, float], study: str
) -> Design:
    """The model's design on synthetic rows: every combination of the fixed part's factor
    levels, numeric variables near ``centres`` (so that log() and sqrt() of them are
    defined where the data's are). Its columns, names and specification are the model's."""
    fixed_factors = [v for v in parsed.fixed_variables if v in levels]
    cells = list(itertools.product(*(levels[v] for v in fixed_factors))) or [()]
    if len(cells) > _SKELETON_MAX_CELLS:
        raise ModelSpecError(
            f"the fixed part crosses {len(cells):,} combinations of factor levels; a fit "
            f"from per-study summaries takes up to {_SKELETON_MAX_CELLS:,}"
        )
    rows = max(_SKELETON_MIN_ROWS, 2 * len(cells))
    rng = np.random.default_rng(20261202)  # fixed: the skeleton is the same everywhere
    frame: dict[str, Any] = {}
    for j, v in enumerate(fixed_factors):
        values = [cells[i % len(cells)][j] for i in range(rows)]
        frame[v] = pd.Categorical(values, categories=list(levels[v]))
    for v in _predictors(parsed, study):
        if v in frame:
            continue
        if v in levels:  # a factor only in a random slope: its levels in turn
            values = [levels[v][i % len(levels[v])] for i in range(rows)]
            frame[v] = pd.Categorical(values, categories=list(levels[v]))
        else:
            centre = float(centres.get(v, 1.0))
            spread = 0.05 * abs(centre) if centre else 1.0
            frame[v] = centre + spread * rng.uniform(-1.0, 1.0, rows)
    frame[study] = [f"study{i % _SKELETON_STUDIES}" for i in range(rows)]
    frame[parsed.response] = rng.normal(size=rows)
    return build_design(parsed, pd.DataFrame(frame))


def model_rows(
    parsed: ParsedFormula,
    data: pd.DataFrame,
    levels: dict[str, tuple],
    study: str,
    weights: np.ndarray | None = None,
) -> tuple[pd.DataFrame, int]:
    """The rows with every model variable (and a weight, if given: one per row of
    ``data``, in the column WEIGHT), factors coded with ``levels``; the number dropped.
    A value outside a factor's levels is refused by name."""
    check_variables(parsed.variables, data.columns)
    frame = data[list(parsed.variables)]
    if weights is not None:
        frame = frame.assign(**{WEIGHT: weights})
    frame = frame.dropna()
    dropped = len(data) - len(frame)
    frame = frame.reset_index(drop=True)
    for v, lv in levels.items():
        text = frame[v].astype(str)
        unknown = sorted(set(pd.unique(text)) - set(lv))  # not set(text): it walks every row
        if unknown:
            raise ModelSpecError(
                f"{v!r} has the value(s) {', '.join(map(repr, unknown[:5]))}, which are not "
                f"among the levels the model was planned with ({', '.join(map(repr, lv))})"
            )
        frame[v] = pd.Categorical(text, categories=list(lv))
    for v in [*_predictors(parsed, study), parsed.response]:
        if v not in levels and not pd.api.types.is_numeric_dtype(frame[v]):
            shown = ", ".join(repr(x) for x in pd.unique(frame[v])[:3])
            raise ModelSpecError(
                f"{v!r} holds text ({shown}), and the model has no levels for it, so it must "
                "be numbers (a decimal comma or a unit typed in a cell makes a column text)"
            )
    return frame, dropped


def study_blocks(
    formula: str,
    data: pd.DataFrame,
    levels: dict[str, tuple] | None = None,
    weights: Any = None,
    check_rows: Callable[[pd.DataFrame], None] | None = None,
) -> StudyBlocks:
    """Summarise ``data`` into per-study blocks for ``formula``.

    ``levels``: each factor's levels in the order the model uses (a federated plan's);
    without them, those of ``data``. ``weights``: prior weights as ``lmm`` takes them (a
    column or one number per row, each above 0). Rows missing a model variable or a
    weight are dropped and counted, as a fit to the rows would. ``check_rows`` is called
    with the rows the model uses before anything is summarised (a federated site's
    disclosure rules), and may raise.
    """
    if not isinstance(data, pd.DataFrame):
        raise ModelSpecError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    parsed = parse_formula(formula)
    study = check_formula(parsed, formula)
    if levels is None:
        levels = data_levels(parsed, data, study)
    levels = {v: tuple(str(x) for x in lv) for v, lv in levels.items()}
    w = None if weights is None else prior_weights(weights, data)
    frame, dropped = model_rows(parsed, data, levels, study, w)
    if not len(frame):
        raise ModelSpecError("no row has a value for every variable in the formula")
    if check_rows is not None:
        check_rows(frame)
    numeric = tuple(v for v in parsed.fixed_variables if v not in levels)
    centres = {v: float(frame[v].astype(float).mean()) for v in _predictors(parsed, study)
               if v not in levels}  # fmt: skip
    skeleton = skeleton_design(parsed, levels, centres, study)
    X, _ = new_model_matrix(skeleton, frame)
    Z = np.column_stack([term.columns_for(frame) for term in skeleton.random])
    y = frame[parsed.response].to_numpy(dtype=float)
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(Z)) and np.all(np.isfinite(y))):
        raise ModelSpecError(
            f"{formula!r} gives a value that is not a finite number in these data (a log of "
            "zero or less, a square root of a negative, ...)"
        )
    labels, seen = pd.factorize(frame[study].astype(str))
    studies = study_order(seen)
    rank = {label: i for i, label in enumerate(studies)}
    codes = np.array([rank[label] for label in seen], dtype=np.intp)[labels]
    m = len(studies)
    offset_sums = log_weights = None
    if parsed.offsets:  # the model of y - offset; emmeans need the offset's mean
        offset = offset_values(parsed.offsets, frame, np.arange(len(frame)))
        y = y - offset
        offset_sums = np.bincount(codes, offset, minlength=m)
    W = np.column_stack([Z, X, y])
    if w is not None:  # the rows scaled by sqrt(w), as lmm fits weights
        row_weights = frame[WEIGHT].to_numpy(dtype=float)
        W *= np.sqrt(row_weights)[:, None]
        log_weights = np.bincount(codes, np.log(row_weights), minlength=m)
    gram = grouped_products(codes, m, W)
    values = frame[list(numeric)].to_numpy(dtype=float) if numeric else np.empty((len(frame), 0))
    sums = grouped_products(codes, m, values, np.ones((len(frame), 1)))[:, :, 0]
    return StudyBlocks(
        formula=formula,
        study=study,
        studies=tuple(str(s) for s in studies),
        n=np.bincount(codes, minlength=m).astype(np.int64),
        gram=gram,
        z_names=tuple(name for term in skeleton.random for name in term.effects),
        x_names=skeleton.x_names,
        levels=levels,
        numeric=numeric,
        sums=sums,
        n_dropped=int(dropped),
        offset_sums=offset_sums,
        log_weights=log_weights,
    )


# ---------------------------------------------------------------------------------------
# The fit from blocks


def pseudo_rows(gram: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows R (stacked over studies) with R_i'R_i = gram[i], and each row's study.

    Each matrix is scaled to unit diagonal before its eigendecomposition, so that columns
    of very different sizes (counts, ages squared, the outcome) keep their own relative
    precision; eigenvalues that are rounding (a study with fewer rows than columns) are
    left out, so a study has at most rank(G_i) rows."""
    diag = np.diagonal(gram, axis1=1, axis2=2)
    scale = np.where(diag > 0, np.sqrt(np.maximum(diag, 0.0)), 1.0)  # m x d
    vals, vecs = np.linalg.eigh(gram / (scale[:, :, None] * scale[:, None, :]))  # all at once
    rows = np.sqrt(np.maximum(vals, 0.0))[:, :, None] * np.swapaxes(vecs, 1, 2) * scale[:, None, :]
    rows[np.broadcast_to((diag == 0)[:, None, :], rows.shape)] = 0.0  # an absent level: 0
    keep = vals > _RANK_RTOL * np.maximum(vals[:, -1:], 1e-300)  # m x d
    return rows[keep], np.nonzero(keep)[0].astype(np.intp)


def _keep_columns(design: Design, keep: list[int], X: np.ndarray) -> Design:
    """``design`` with only the fixed-effect columns ``keep`` (aliased ones dropped)."""
    index = {old: new for new, old in enumerate(keep)}
    terms = tuple(
        FixedTerm(t.label, t.variables, tuple(index[c] for c in t.columns if c in index))
        for t in design.terms
    )
    dropped = [j for j in range(len(design.x_names)) if j not in index]
    spec = design.spec_names or design.x_names
    return replace(
        design,
        X=np.asfortranarray(X[:, keep]),
        x_names=tuple(design.x_names[j] for j in keep),
        spec_names=tuple(spec[j] for j in keep) if design.spec_names else (),
        terms=terms,
        aliased=design.aliased + tuple(r_column_name(design.x_names[j]) for j in dropped),
        xtx=None,
        _cache={},
    )


def blocks_design(blocks: StudyBlocks) -> Design:
    """The design of the pooled model from its blocks (pseudo-rows, the patients' count)."""
    parsed = parse_formula(blocks.formula)
    study = check_formula(parsed, blocks.formula)
    if blocks.study != study:
        raise ModelSpecError(f"the summaries group by {blocks.study!r}, the formula by {study!r}")
    total = blocks.n_patients
    means = blocks.sums.sum(axis=0) / max(total, 1)
    centres = dict(zip(blocks.numeric, means, strict=True))
    skeleton = skeleton_design(parsed, dict(blocks.levels), centres, study)
    z_names = tuple(name for term in skeleton.random for name in term.effects)
    if skeleton.x_names != blocks.x_names or z_names != blocks.z_names:
        raise ModelSpecError(
            "the summaries' columns are not the ones this version of ipdmeta makes for "
            f"{blocks.formula!r}; summarise the data again with it"
        )
    if len(blocks.studies) < 2:
        raise ModelSpecError("a random effect needs at least two studies; the summaries hold one")
    R, codes = pseudo_rows(blocks.gram)
    K, p = len(z_names), len(blocks.x_names)
    X_all = R[:, K : K + p]
    drop = set(aliased_columns(X_all))
    keep = [j for j in range(p) if j not in drop]
    grid = _keep_columns(skeleton, keep, skeleton.X) if drop else skeleton
    random: list[ReTerm] = []
    start = 0
    for term in skeleton.random:
        values = np.ascontiguousarray(R[:, start : start + term.k])
        random.append(replace(term, codes=codes, levels=blocks.studies, values=values))
        start += term.k
    # Marginal means hold numeric variables at their pooled mean and use the factors'
    # levels: a one-row frame carries both.
    columns: dict[str, pd.Series] = {v: pd.Series([float(m)], name=v) for v, m in centres.items()}
    for v, lv in blocks.levels.items():
        columns[v] = pd.Series(pd.Categorical([lv[0]], categories=list(lv)), name=v)
    design = replace(
        _keep_columns(skeleton, keep, X_all),
        y=np.ascontiguousarray(R[:, -1]),
        random=tuple(random),
        n_dropped=blocks.n_dropped,
        columns=ColumnFrame(columns, 1),
        keep=np.zeros(0, dtype=int),
        offset=None,  # already taken off the outcome in the blocks
        pooled=PooledFromBlocks(
            n_rows=total,
            grid=grid,
            offset_mean=(float(blocks.per_study("offset_sums").sum() / total)
                         if parsed.offsets else None),
            log_weights=float(blocks.per_study("log_weights").sum()),
        ),
    )  # fmt: skip
    for term in design.random:
        if term.n_levels * term.k >= total:
            raise ModelSpecError(
                f"the random term for {term.group!r} has {term.n_levels * term.k} random "
                f"effects for {total} patients; the model is not identifiable"
            )
    if design.X.shape[1] >= total:
        raise ModelSpecError(f"{design.X.shape[1]} fixed effects for {total} patients is too many")
    return design
