"""Turn a parsed formula and a data frame into the matrices a mixed model is fitted to."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg as sla

from ipdmeta.errors import DataError, ModelSpecError
from ipdmeta.mixed._formula import ParsedFormula, RandomTerm, effect_variables, is_expression

# R's qr() (LINPACK dqrdc2) treats a column as aliased when its norm after removing the
# earlier columns falls below 1e-7 of its original norm; lme4 drops such columns.
RANK_TOL = 1e-7

# Full rank is taken as proven when every pivot of the Cholesky factor of the scaled Gram
# matrix exceeds this (a relative residual norm of 1e-4, far above RANK_TOL).
SCREEN_PIVOT = 1e-4

_C_CALL = re.compile(r"^C\(\s*([A-Za-z_][A-Za-z0-9_.]*)")


@dataclass(frozen=True)
class FixedTerm:
    """One term of the fixed part: its label (variables joined by ':') and columns of X."""

    label: str
    variables: tuple[str, ...]
    columns: tuple[int, ...]


@dataclass(frozen=True)
class ReColumn:
    """Where one column of a random term comes from: the intercept (``variable`` None),
    a numeric variable, or one level of a factor (1 in its rows, 0 elsewhere)."""

    variable: str | None
    level: Any = None
    is_level: bool = False
    known: tuple[Any, ...] = ()  # a factor's levels in the fit, the first included
    # A function of variables (log(x), poly(x, 2)): formulaic's spec of it, as fitted (so
    # that scale() and poly() keep the fitted rows' mean, SD and basis), and the column.
    spec: Any = None
    index: int = 0

    def values(self, frame: pd.DataFrame | ColumnFrame, made: dict[int, np.ndarray]) -> np.ndarray:
        """The column for the rows of ``frame``; ``made`` keeps a function's matrix, so
        that poly(x, 2)'s two columns evaluate it once."""
        n = len(frame)
        if self.spec is not None:
            if id(self.spec) not in made:
                table = frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(frame.cols)
                matrix = self.spec.get_model_matrix(
                    table, na_action="ignore", context=FORMULA_FUNCTIONS
                )
                made[id(self.spec)] = np.asarray(matrix.to_numpy(dtype=float))
            return made[id(self.spec)][:, self.index]
        if self.variable is None:
            return np.ones(n)
        column = frame[self.variable]
        if not self.is_level:
            return np.asarray(column.to_numpy(dtype=float))
        return np.asarray((column == self.level).to_numpy(dtype=float, na_value=0.0))


@dataclass(frozen=True)
class ReTerm:
    """One random-effects term after expansion: grouping factor and effect columns."""

    group: str
    effects: tuple[str, ...]
    codes: np.ndarray  # level index of each row
    levels: tuple[str, ...]
    values: np.ndarray  # n x k model matrix of the term
    # How each column is made, for new data; by default the effects as numeric variables.
    sources: tuple[ReColumn, ...] = ()

    def columns_for(self, frame: pd.DataFrame | ColumnFrame) -> np.ndarray:
        """The term's n x k model matrix for other rows (``newdata``)."""
        sources = self.sources or tuple(
            ReColumn(None if e == "(Intercept)" else e) for e in self.effects
        )
        for source in sources:
            if source.is_level:
                column = frame[str(source.variable)]
                known = {str(v) for v in source.known}
                new = sorted({str(v) for v in column.dropna()} - known)
                if new:
                    raise ModelSpecError(
                        f"newdata has level(s) {', '.join(map(repr, new))} of "
                        f"{source.variable!r}, which has a random slope for {self.group!r} "
                        f"fitted on the levels {', '.join(map(repr, sorted(known)))}"
                    )
        made: dict[int, np.ndarray] = {}
        return np.column_stack([source.values(frame, made) for source in sources])

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def k(self) -> int:
        return len(self.effects)


class ColumnFrame:
    """The few DataFrame features the design code needs (``frame[v]``, ``len``) over a
    dict of Series: building a DataFrame costs more than the rest for small data."""

    def __init__(self, cols: dict[str, pd.Series], n: int) -> None:
        self.cols = cols
        self.n = n

    def __getitem__(self, key: str) -> pd.Series:
        return self.cols[key]

    def __len__(self) -> int:
        return self.n


@dataclass(frozen=True)
class PooledFromBlocks:
    """What pseudo-rows do not carry of the pooled rows they stand for."""

    n_rows: int  # the patients
    grid: Design  # synthetic rows with the same columns, for type III contrasts
    offset_mean: float | None  # the offset's mean over the patients (marginal means add it)
    log_weights: float  # the sum of the log prior weights (the deviance takes it off)


@dataclass(frozen=True)
class Design:
    response: str
    y: np.ndarray
    X: np.ndarray
    x_names: tuple[str, ...]
    terms: tuple[FixedTerm, ...]
    has_intercept: bool
    random: tuple[ReTerm, ...]
    aliased: tuple[str, ...]
    n_dropped: int
    columns: ColumnFrame
    model_spec: Any
    kinds: dict[str, str] = field(default_factory=dict)
    levels: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    keep: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    xtx: np.ndarray | None = None
    # The kept columns as the model spec names them (formulaic's I(x ** 2), poly(x, 2)[1]),
    # where ``x_names`` uses R's (I(x^2), poly(x, 2)1); empty when they are the same.
    spec_names: tuple[str, ...] = ()
    # Prior weights of the rows used (lmer's weights=), None without.
    weights: np.ndarray | None = None
    # The formula's offset(...) expressions and their sum on the rows used (None without).
    offsets: tuple[str, ...] = ()
    offset_variables: tuple[str, ...] = ()
    offset: np.ndarray | None = None
    # A fit from per-study summaries (mixed.lmm_from_blocks): X, y and the random terms'
    # values are then pseudo-rows with the pooled rows' cross-products. None for rows.
    pooled: PooledFromBlocks | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_obs(self) -> int:
        """The number of observations the model is fitted to."""
        return self.pooled.n_rows if self.pooled is not None else int(self.y.size)

    def spec_columns(self, names: list[str]) -> list[int]:
        """Where the kept columns are among ``names``, the model spec's column names."""
        return [names.index(c) for c in (self.spec_names or self.x_names)]

    @property
    def frame(self) -> pd.DataFrame:
        """The rows used, restricted to the model's variables (factors as categoricals)."""
        if "frame" not in self._cache:
            self._cache["frame"] = pd.DataFrame(dict(self.columns.cols), copy=False)
        out: pd.DataFrame = self._cache["frame"]
        return out


# Functions formulaic does not define itself (it knows log, exp, I, poly, scale, center).
FORMULA_FUNCTIONS = {"sqrt": np.sqrt, "log2": np.log2, "log10": np.log10, "abs": np.abs}


def _check_finite(matrix: Any, terms: str, rows: np.ndarray, label: str | None = None) -> None:
    """A function of a variable that gives no number (log of 0 or less, sqrt of a negative)
    is named with the data rows where it happens, not fitted around. ``terms``: the fixed
    part or the random effect the matrix was made from; ``label``: what to call a column
    that is not finite (its R name by default)."""
    values = np.asarray(matrix.to_numpy(dtype=float))
    if values.shape[0] != len(rows):
        raise ModelSpecError(f"the terms {terms!r} lost rows; check the formula")
    bad = ~np.isfinite(values)
    if not bad.any():
        return
    column = label or str(matrix.columns[int(np.flatnonzero(bad.any(axis=0))[0])])
    where = np.flatnonzero(bad.any(axis=1))
    shown = ", ".join(str(int(r)) for r in rows[where[:6]])
    more = f" and {len(where) - 6} more" if len(where) > 6 else ""
    raise ModelSpecError(
        f"{r_column_name(column)} is not a finite number in {len(where)} row"
        f"{'s' if len(where) != 1 else ''} of the data (rows {shown}{more}, counted from 0): "
        "a log of zero or less, a square root of a negative, ...; change the formula or "
        "those values"
    )


_POLY_COLUMN = re.compile(r"^(poly\(.*\))\[(\d+)\]$")


def r_column_name(name: str) -> str:
    """formulaic's column name as R names it: ``I(x ** 2)`` -> ``I(x^2)``,
    ``poly(x, 2)[1]`` -> ``poly(x, 2)1``; every other name unchanged."""
    name = name.replace(" ** ", "^")
    return _POLY_COLUMN.sub(r"\1\2", name)


def _variable_of(expr: str) -> str:
    m = _C_CALL.match(expr)
    return m.group(1) if m else expr


def r_sorted(values: Any) -> list[Any]:
    """Levels in sorted order: numbers numerically, text by code point (as formulaic and
    R's sort(method = "radix"); R's default collation may order mixed case differently)."""
    vals = list(values)
    if all(isinstance(v, int | float | np.integer | np.floating | bool | np.bool_) for v in vals):
        return sorted(vals)
    return sorted(vals, key=str)


def _is_factor(series: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))


def aliased_columns(
    X: np.ndarray, tol: float = RANK_TOL, xtx: np.ndarray | None = None
) -> list[int]:
    """Indices of columns that are (numerically) linear combinations of earlier ones.

    A column is aliased when its norm after projecting out the earlier columns is below
    ``tol`` times its own norm (R's qr(), which lme4 uses to drop columns).
    """
    p = X.shape[1]
    gram = X.T @ X if xtx is None else xtx
    norms = np.sqrt(np.diag(gram))
    if np.all(norms > 0):
        # Screen: a Cholesky of the scaled Gram matrix with every pivot well above the
        # threshold proves full rank without a QR of the n x p matrix.
        G = gram / np.outer(norms, norms)
        try:
            c = np.linalg.cholesky(G)
            if np.min(np.abs(np.diag(c))) > SCREEN_PIVOT:
                return []
        except np.linalg.LinAlgError:
            pass
    R = sla.qr(X, mode="r", pivoting=False, check_finite=False)[0]
    dropped: list[int] = []
    kept: list[int] = []
    for j in range(p):
        if norms[j] == 0.0:
            dropped.append(j)
            continue
        # Residual of column j after the kept earlier columns (R's dqrdc2 criterion).
        if kept:
            Rk = R[: j + 1, kept]
            coef, *_ = np.linalg.lstsq(Rk, R[: j + 1, j], rcond=None)
            r = float(np.linalg.norm(R[: j + 1, j] - Rk @ coef))
        else:
            r = norms[j]
        if r < tol * norms[j]:
            dropped.append(j)
        else:
            kept.append(j)
    return dropped


def _check_frame(data: object) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if len(data) == 0:
        raise DataError("data has no rows")
    return data


def _as_categorical(series: pd.Series) -> pd.Categorical:
    if pd.api.types.is_string_dtype(series.dtype):
        try:
            # Hashing the column itself (Arrow-backed strings stay in Arrow) is much
            # faster than going through Python objects.
            codes, uniques = pd.factorize(series, sort=True)
            return pd.Categorical.from_codes(codes, categories=list(uniques))
        except TypeError:
            pass
    return pd.Categorical(series, categories=r_sorted(series.unique()))


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def _simple_terms(fixed: str, kinds: dict[str, str], frame: ColumnFrame) -> list[str] | None:
    """The variables of a fixed part that is only ``a + b + ...`` (main effects with an
    intercept, no C(), no interactions, no bool columns); None otherwise."""
    parts = [p.strip() for p in fixed.split("+")]
    out: list[str] = []
    for p in parts:
        if p == "1":
            continue
        if not _IDENT.match(p) or p not in kinds or p in out:
            return None
        if pd.api.types.is_bool_dtype(frame[p]):
            return None
        out.append(p)
    return out


class SimpleEncoder:
    """Treatment-coded main effects, named and ordered exactly as formulaic would:
    ``Intercept``, then per variable ``v`` (numeric) or ``v[T.level]`` (factor).

    Without the intercept (``intercept=False``, formulaic's ``0 + ...``), the first factor
    is coded in full, ``v[level]`` for every level, as formulaic codes it."""

    def __init__(
        self, variables: list[str], levels: dict[str, tuple[Any, ...]], intercept: bool = True
    ) -> None:
        self.variables = variables
        self.levels = levels
        self.intercept = intercept
        names = ["Intercept"] if intercept else []
        self.structure: list[tuple[tuple[str, ...], list[int]]] = [((), [0])] if intercept else []
        # The level each factor's first column stands for (1: the first is the reference).
        self._first: dict[str, int] = {}
        for v in variables:
            start = len(names)
            if v in levels:
                full = not intercept and not self._first
                self._first[v] = 0 if full else 1
                pattern = "{v}[{lv}]" if full else "{v}[T.{lv}]"
                names += [pattern.format(v=v, lv=lv) for lv in levels[v][self._first[v] :]]
            else:
                names.append(v)
            self.structure.append(((v,), list(range(start, len(names)))))
        self.column_names = tuple(names)

    def matrix(self, frame: pd.DataFrame | ColumnFrame) -> np.ndarray:
        n = len(frame)
        # Filled row by row as its transpose: contiguous writes; X itself is Fortran-ordered.
        Xt = np.empty((len(self.column_names), n))
        X = Xt.T
        if self.intercept:
            X[:, 0] = 1.0
        terms = self.structure[1:] if self.intercept else self.structure
        for (vars_, cols), v in zip(terms, self.variables, strict=True):
            if v in self.levels:
                lv = self.levels[v]
                col = frame[v]
                if isinstance(col.dtype, pd.CategoricalDtype) and tuple(col.cat.categories) == lv:
                    codes = col.cat.codes.to_numpy()
                else:
                    codes = pd.Index(list(lv)).get_indexer(np.asarray(col, dtype=object))
                    unseen = (codes < 0) & np.asarray(pd.notna(col))
                    if np.any(unseen):
                        bad = sorted({str(x) for x in np.asarray(col)[unseen]})
                        raise ModelSpecError(
                            f"{v} has level(s) {', '.join(bad)} that the model was not fitted to"
                        )
                Xt[cols, :] = codes[None, :] == np.arange(self._first[v], len(lv))[:, None]
            else:
                X[:, cols[0]] = frame[v].to_numpy(dtype=float)
            del vars_
        return X

    def get_model_matrix(self, frame: pd.DataFrame, **_: Any) -> pd.DataFrame:
        return pd.DataFrame(self.matrix(frame), columns=list(self.column_names))


def check_variables(names: Any, columns: Any) -> None:
    """Refuse a formula that names a variable the data do not have, listing the columns."""
    missing = [v for v in names if v not in columns]
    if missing:
        cols = ", ".join(map(str, list(columns)[:30]))
        raise ModelSpecError(
            f"unknown variable{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} "
            f"in the formula; the data has the columns: {cols}"
        )


def marked_factors(fixed: str) -> set[str]:
    """The variables a fixed part makes factors with C(x), whatever their values."""
    return set(re.findall(r"C\(\s*([A-Za-z_][A-Za-z0-9_.]*)", fixed))


def build_design(
    parsed: ParsedFormula,
    data: pd.DataFrame,
    residual_variance: bool = True,
    weights: np.ndarray | None = None,
) -> Design:
    """Build X, y and the random-effects terms; drop incomplete rows as R's na.omit.

    ``residual_variance``: the model has a residual variance (lmer), so it needs more
    observations than random effects; a binomial or Poisson model (glmer) does not.
    ``weights``: prior weights, one per row of ``data`` (see :func:`prior_weights`); a
    row without one is dropped as a row missing a variable is.
    """
    data = _check_frame(data)
    check_variables(parsed.variables, data.columns)
    used = list(parsed.variables)
    # Column by column (cheaper than whole-frame pandas operations on small data).
    series = {v: data[v] for v in used}
    complete = np.ones(len(data), dtype=bool) if weights is None else ~np.isnan(weights)
    for sv in series.values():
        if isinstance(sv.dtype, np.dtype) and sv.dtype.kind == "f":
            complete &= ~np.isnan(sv.to_numpy())
        else:
            complete &= sv.notna().to_numpy()
    n_dropped = int(len(data) - complete.sum())
    keep = np.flatnonzero(complete)
    if n_dropped:
        series = {v: sv[complete] for v, sv in series.items()}
    if not isinstance(data.index, pd.RangeIndex) or n_dropped or data.index.start != 0:
        series = {v: sv.reset_index(drop=True) for v, sv in series.items()}
    if not keep.size:
        raise ModelSpecError("no row has a value for every variable in the formula")

    y_series = series[parsed.response]
    if not pd.api.types.is_numeric_dtype(y_series) or pd.api.types.is_bool_dtype(y_series):
        raise ModelSpecError(
            f"the outcome {parsed.response!r} must be numeric, got {y_series.dtype}"
        )
    y = y_series.to_numpy(dtype=float)
    if not np.all(np.isfinite(y)):
        raise ModelSpecError(f"the outcome {parsed.response!r} has infinite values")
    if np.ptp(y) == 0.0:
        raise ModelSpecError(
            f"the outcome {parsed.response!r} is constant ({y[0]:g}) in all {len(y)} rows used; "
            "a mixed model needs variation to estimate"
        )

    kinds: dict[str, str] = {}
    for v in parsed.fixed_variables:
        kinds[v] = "factor" if _is_factor(series[v]) else "numeric"
    # formulaic would treat strings as categories anyway; C(x) marks numbers as factors.
    for v in marked_factors(parsed.fixed):
        kinds[v] = "factor"
    for v in parsed.transformed:
        if kinds.get(v) == "factor":
            raise ModelSpecError(
                f"{v!r} is read inside a function in {parsed.fixed!r}, but it is a factor "
                f"({series[v].dtype}); log(), I(), poly(), scale() and the others take "
                "numeric variables"
            )
    for v in parsed.offset_variables:
        if _is_factor(series[v]) or kinds.get(v) == "factor":
            raise ModelSpecError(
                f"{v!r} is read inside offset(...), but it is not numeric ({series[v].dtype}); "
                "an offset is a number for each row"
            )
        if not np.all(np.isfinite(series[v].to_numpy(dtype=float))):
            raise ModelSpecError(f"the variable {v!r} has infinite values")
    for v, kind in kinds.items():
        if kind == "numeric" and not np.all(np.isfinite(series[v].to_numpy(dtype=float))):
            raise ModelSpecError(f"the variable {v!r} has infinite values")
        if kind == "factor" and not isinstance(series[v].dtype, pd.CategoricalDtype):
            series[v] = pd.Series(_as_categorical(series[v]), name=v)
        elif kind == "factor":
            # As R's model.frame(drop.unused.levels = TRUE): no level without rows.
            series[v] = series[v].cat.remove_unused_categories()
    frame = ColumnFrame(series, len(keep))

    simple = _simple_terms(parsed.fixed, kinds, frame)
    levels: dict[str, tuple[Any, ...]] = {}
    structure: list[tuple[tuple[str, ...], list[int]]] = []
    spec: Any
    if simple is not None:
        spec = SimpleEncoder(
            simple, {v: tuple(frame[v].cat.categories) for v in simple if kinds[v] == "factor"}
        )
        X_all = spec.matrix(frame)
        names_all = list(spec.column_names)
        levels = dict(spec.levels)
        structure = spec.structure
    else:
        from formulaic import model_matrix

        try:
            with np.errstate(invalid="ignore", divide="ignore"):  # named by _check_finite
                mm = model_matrix(parsed.fixed, pd.DataFrame(frame.cols), na_action="ignore",
                                  context=FORMULA_FUNCTIONS)  # fmt: skip
        except Exception as exc:  # formulaic raises many types; the user needs one message
            raise ModelSpecError(f"cannot build the fixed effects {parsed.fixed!r}: {exc}") from exc
        _check_finite(mm, parsed.fixed, keep)
        spec = mm.model_spec
        X_all = np.asarray(mm.to_numpy(dtype=float))
        names_all = [str(c) for c in mm.columns]
        if X_all.shape[0] != len(frame):
            raise ModelSpecError("the fixed-effects design lost rows; check the formula")
        for expr, (kind, state) in spec.encoder_state.items():
            if str(kind).endswith("CATEGORICAL"):
                var = _variable_of(expr)
                cstate = state.get("contrasts")
                lv = list(state.get("categories", []))
                base = getattr(getattr(cstate, "contrasts", None), "base", None)
                if base is not None and base in lv and not str(base).startswith("UNSET"):
                    # The reference level leads, as R's relevel() would put it.
                    lv = [base] + [x for x in lv if x != base]
                levels[var] = tuple(lv)
                kinds[var] = "factor"
        for st in spec.structure:
            st_cols = [spec.column_names.index(c) for c in st.columns]
            st_vars = tuple(dict.fromkeys(_variable_of(str(f.expr)) for f in st.term.factors))
            structure.append((st_vars, st_cols))

    xtx_all = X_all.T @ X_all
    drop = aliased_columns(X_all, xtx=xtx_all)
    aliased = tuple(r_column_name(names_all[j]) for j in drop)
    keep_cols = [j for j in range(X_all.shape[1]) if j not in set(drop)]
    new_index = {old: new for new, old in enumerate(keep_cols)}
    X = X_all if not drop else np.asfortranarray(X_all[:, keep_cols])
    xtx = xtx_all if not drop else xtx_all[np.ix_(keep_cols, keep_cols)]
    spec_names = tuple(names_all[j] for j in keep_cols)
    x_names = tuple(r_column_name(c) for c in spec_names)

    terms: list[FixedTerm] = []
    has_intercept = False
    for term_vars, term_cols in structure:
        if not term_vars or term_vars == ("1",):
            has_intercept = True
            continue
        kept = tuple(new_index[c] for c in term_cols if c in new_index)
        terms.append(FixedTerm(":".join(r_column_name(v) for v in term_vars), term_vars, kept))

    random = tuple(_build_random(t, frame) for t in parsed.random)
    random = _lme4_order(random)
    n = len(y)
    for t in random:
        if t.n_levels < 2:
            raise ModelSpecError(
                f"the grouping factor {t.group!r} has a single level ({t.levels[0]!r}) in the "
                f"{n} rows used; a random effect needs at least two groups"
            )
        if residual_variance and t.n_levels * t.k >= n:
            raise ModelSpecError(
                f"the random term for {t.group!r} has {t.n_levels * t.k} random effects for "
                f"{n} observations; the model is not identifiable"
            )
    if X.shape[1] >= n:
        raise ModelSpecError(f"{X.shape[1]} fixed effects for {n} observations is too many")
    return Design(
        response=parsed.response,
        y=y,
        X=X,
        x_names=x_names,
        terms=tuple(terms),
        has_intercept=has_intercept,
        random=random,
        aliased=aliased,
        n_dropped=n_dropped,
        columns=frame,
        model_spec=spec,
        kinds=kinds,
        levels=levels,
        keep=keep,
        xtx=xtx,
        spec_names=spec_names if spec_names != x_names else (),
        weights=None if weights is None else np.asarray(weights, dtype=float)[keep],
        offsets=parsed.offsets,
        offset_variables=parsed.offset_variables,
        offset=offset_values(parsed.offsets, frame, keep) if parsed.offsets else None,
    )


def offset_values(
    offsets: tuple[str, ...], frame: pd.DataFrame | ColumnFrame, rows: np.ndarray | None = None
) -> np.ndarray:
    """The sum of the ``offset(...)`` expressions on each row of ``frame``. ``rows``: the
    data's row numbers, to name those where an expression is not a number (a fit's rows);
    without them a row without a value gives NaN, as predict() with na.pass."""
    from formulaic import model_matrix

    data = pd.DataFrame(dict(frame.cols) if isinstance(frame, ColumnFrame) else frame)
    total = np.zeros(len(data))
    for expr in offsets:
        try:
            with np.errstate(invalid="ignore", divide="ignore"):  # named by _check_finite
                mm = model_matrix(f"0 + I({expr})", data, na_action="ignore",
                                  context=FORMULA_FUNCTIONS)  # fmt: skip
        except Exception as exc:  # formulaic raises many types; the user needs one message
            raise ModelSpecError(f"cannot evaluate offset({expr}): {exc}") from exc
        label = f"offset({r_column_name(expr)})"
        if rows is not None:
            _check_finite(mm, label, rows, label)
        total += np.asarray(mm.to_numpy(dtype=float)).reshape(-1)
    return total


def per_row(values: Any, frame: pd.DataFrame, name: str, where: str) -> np.ndarray:
    """Weights, trials or an offset for each row of ``frame``: a column of it, or values.

    A missing value (NaN) is kept, so that its row is dropped as a missing predictor's
    would be; text and infinite values are refused.
    """
    if isinstance(values, str):
        if values not in frame.columns:
            raise ModelSpecError(f"unknown column(s) {values!r} for {name}")
        raw: Any = frame[values]
    else:
        raw = values
    if isinstance(raw, pd.Series):
        # Text that reads as numbers ("308") is refused too: a column of labels is not
        # a column of numbers.
        if not pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_bool_dtype(raw):
            sample = ", ".join(repr(v) for v in pd.unique(raw.dropna())[:3])
            raise ModelSpecError(
                f"{name} must be numbers; the column {raw.name!r} holds {raw.dtype} values "
                f"({sample}): a decimal comma or a unit typed in a cell makes a column text"
            )
        raw = raw.to_numpy(dtype=float, na_value=np.nan)
    try:
        out = np.asarray(raw, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise ModelSpecError(f"{name} must be numbers") from None
    if out.size != len(frame):
        raise ModelSpecError(f"{name} has {out.size} values for {len(frame)} rows of {where}")
    if np.any(np.isinf(out)):
        raise ModelSpecError(f"{name} has infinite values in {where}")
    return out


def prior_weights(values: Any, frame: pd.DataFrame) -> np.ndarray:
    """lmer's ``weights``: a column name or one number per row, each above 0 (NaN drops
    its row)."""
    out = per_row(values, _check_frame(frame), "weights", "the data")
    bad = np.flatnonzero(out <= 0)
    if bad.size:
        shown = ", ".join(str(int(r)) for r in bad[:6])
        more = f" and {bad.size - 6} more" if bad.size > 6 else ""
        one = bad.size == 1
        raise ModelSpecError(
            f"weights must be above 0: {bad.size} row{'' if one else 's'} "
            f"(row{'' if one else 's'} {shown}{more}, counted from 0) "
            f"{'has' if one else 'have'} 0 or less; drop {'it' if one else 'those rows'} instead"
        )
    return out


def group_codes(
    frame: pd.DataFrame | ColumnFrame, group: tuple[str, ...]
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Level index of each row and the sorted level labels of a (possibly interacted)
    grouping factor; an interaction's labels are ``a:b``."""
    first = frame[group[0]]
    if len(group) == 1:
        try:
            codes, uniques = pd.factorize(first, sort=True)
            return np.asarray(codes, dtype=np.intp), tuple(str(u) for u in uniques)
        except TypeError:
            pass
    labels = first.astype(str)
    for g in group[1:]:
        labels = labels + ":" + frame[g].astype(str)
    codes, uniques = pd.factorize(labels, sort=True)
    return np.asarray(codes, dtype=np.intp), tuple(str(u) for u in uniques)


def grouped_products(
    codes: np.ndarray, m: int, A: np.ndarray, B: np.ndarray | None = None
) -> np.ndarray:
    """A_g'B_g for each of the m groups (A_g: the rows of A in group g), as an m x a x b
    array: one bincount over the rows per entry. Without B, A_g'A_g (symmetric)."""
    other = A if B is None else B
    out = np.empty((m, A.shape[1], other.shape[1]))
    for a in range(A.shape[1]):
        for b in range(a if B is None else 0, other.shape[1]):
            out[:, a, b] = np.bincount(codes, A[:, a] * other[:, b], minlength=m)
            if B is None:
                out[:, b, a] = out[:, a, b]
    return out


def _build_random(term: RandomTerm, frame: ColumnFrame) -> ReTerm:
    codes, levels = group_codes(frame, term.group)
    sources: list[ReColumn] = []
    names: list[str] = []
    made: dict[int, np.ndarray] = {}  # the functions' matrices, made once
    # As R's model.matrix: with an intercept every factor is coded by treatment contrasts
    # (a column per level but the first); without one, the first factor has a column for
    # every level, as (0 + f | g) asks.
    full = "(Intercept)" not in term.effects
    for e in term.effects:
        if e == "(Intercept)":
            sources.append(ReColumn(None))
            names.append(e)
            continue
        if is_expression(e):
            for name, source in _expression_columns(e, term, frame, made):
                sources.append(source)
                names.append(name)
            continue
        s = frame[e]
        if not _is_factor(s):
            sources.append(ReColumn(e))
            names.append(e)
            continue
        present = _factor_levels(s)
        coded = present if full else present[1:]
        full = False
        if not coded:
            raise ModelSpecError(
                f"the factor {e!r} in the random term for {term.group_name!r} has a single "
                f"level ({present[0]!r}) in the rows used, so it has no random slope"
            )
        for level in coded:
            sources.append(ReColumn(e, level, is_level=True, known=tuple(present)))
            names.append(f"{e}{level}")
    values = np.column_stack([source.values(frame, made) for source in sources])
    return ReTerm(term.group_name, tuple(names), codes, levels, values, tuple(sources))


def _expression_columns(
    effect: str, term: RandomTerm, frame: ColumnFrame, made: dict[int, np.ndarray]
) -> list[tuple[str, ReColumn]]:
    """The columns of a function of variables in a random term, named as R names them
    (``log(x + 1)``, ``poly(x, 2)1``), evaluated as the fixed part's are; the matrix is
    kept in ``made`` for the term's values."""
    from formulaic import model_matrix

    for v in effect_variables(effect):
        if _is_factor(frame[v]):
            raise ModelSpecError(
                f"{v!r} is read inside a function in the random term ({effect} | "
                f"{term.group_name}), but it is a factor; log(), I(), poly(), scale() and the "
                "others take numeric variables"
            )
    text = "0 + " + effect.replace("^", " ** ")
    try:
        with np.errstate(invalid="ignore", divide="ignore"):  # named by _check_finite
            matrix = model_matrix(
                text, pd.DataFrame(frame.cols), na_action="ignore", context=FORMULA_FUNCTIONS
            )
    except Exception as exc:  # formulaic raises many types; the user needs one message
        raise ModelSpecError(f"cannot build the random effect {effect!r}: {exc}") from exc
    _check_finite(matrix, effect, np.arange(len(frame)))
    made[id(matrix.model_spec)] = np.asarray(matrix.to_numpy(dtype=float))
    return [
        (r_column_name(str(column)), ReColumn(None, spec=matrix.model_spec, index=j))
        for j, column in enumerate(matrix.columns)
    ]


def _factor_levels(series: pd.Series) -> list[Any]:
    """A factor's levels that have rows, in its order (R's, for text: sorted)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        present = set(series.dropna().unique())
        return [c for c in series.cat.categories if c in present]
    return r_sorted(series.dropna().unique())


def _lme4_order(terms: tuple[ReTerm, ...]) -> tuple[ReTerm, ...]:
    # lme4's mkReTrms puts terms in decreasing order of their number of levels, but only
    # when some later term has more levels than an earlier one (rev(order(nl))).
    nl = np.array([t.n_levels for t in terms])
    if len(nl) > 1 and np.any(np.diff(nl) > 0):
        order = np.argsort(nl, kind="stable")[::-1]
        return tuple(terms[i] for i in order)
    return terms


def new_model_matrix(design: Design, newdata: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """X for ``newdata`` with the fit's columns (rows missing a predictor are NaN, as
    predict() with na.pass), and the frame it was made from."""
    if not isinstance(newdata, pd.DataFrame):
        raise ModelSpecError("newdata must be a pandas DataFrame")
    missing = [v for v in (*design.kinds, *design.offset_variables) if v not in newdata.columns]
    if missing:
        raise ModelSpecError(f"newdata lacks the column(s) {', '.join(missing)}")
    frame = newdata.copy()
    if design.response not in frame.columns:
        frame[design.response] = 0.0
    Xn = design.model_spec.get_model_matrix(frame, na_action="ignore", context=FORMULA_FUNCTIONS)
    cols = [str(c) for c in Xn.columns]
    X = np.asarray(Xn.to_numpy(dtype=float))[:, design.spec_columns(cols)]
    incomplete = np.zeros(len(frame), dtype=bool)
    for v in design.kinds:
        incomplete |= np.asarray(pd.isna(frame[v]))
    X[incomplete] = np.nan
    return X, frame
