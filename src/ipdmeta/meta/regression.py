"""Meta-regression: study estimates on study-level moderators (mixed-effects model)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from ipdmeta._display import RichDisplay, SummaryText
from ipdmeta.errors import DataError, EstimationError, ModelSpecError
from ipdmeta.meta._checks import (
    NaAction,
    as_float_vector,
    check_zero_vi,
    parse_na_action,
    prepare_studies,
)
from ipdmeta.meta._core import DEFAULT_MAX_ITER, DEFAULT_TOL, CoreFit, fit_model
from ipdmeta.meta._options import Method, Test, parse_level, parse_method, parse_test
from ipdmeta.meta.univariate import HeterogeneityCI, heterogeneity_interval, omitted_notes

__all__ = ["MetaRegressionResult", "design_matrix", "meta_regression"]

_INTERCEPT = "Intercept"


# eq=False: fields hold arrays, whose == is elementwise
@dataclass(frozen=True, eq=False, repr=False)
class MetaRegressionResult(RichDisplay):
    """The result of :func:`meta_regression`, as metafor's ``rma(yi, vi, mods=)``.

    ``coefficients`` has columns ``estimate, se, statistic, df, pvalue, ci_lower,
    ci_upper`` (one row per term). ``QM`` is the omnibus Wald chi-square test of the
    moderators (``QM_df`` df) or, under Knapp-Hartung, the F statistic with
    (``QM_df``, ``QM_df2``) df. ``QE`` tests residual heterogeneity. ``tau2``, ``I2`` and
    ``H2`` are residual; ``R2`` is the pseudo R-squared (percent of tau2 accounted for).
    ``omitted`` names the studies left out for missing values (``na_action="omit"``).
    """

    coefficients: pd.DataFrame
    vcov: pd.DataFrame
    tau2: float
    I2: float
    H2: float
    R2: float
    QM: float
    QM_df: int
    QM_df2: float
    QM_pvalue: float
    QE: float
    QE_df: int
    QE_pvalue: float
    k: int
    p: int
    method: Method
    test: Test
    level: float
    tested: tuple[str, ...]
    X: pd.DataFrame = field(repr=False)
    yi: np.ndarray = field(repr=False)
    vi: np.ndarray = field(repr=False)
    iterations: int = field(default=0, repr=False)
    vt: float = field(default=math.nan, repr=False)
    tau2_fixed: bool = field(default=False, repr=False)
    omitted: tuple[str, ...] = field(default=(), repr=False)

    @property
    def tau(self) -> float:
        """Square root of the residual tau2."""
        return math.sqrt(self.tau2)

    def to_frame(self) -> pd.DataFrame:
        """The coefficient table (a copy), indexed by term."""
        return self.coefficients.copy()

    def heterogeneity_ci(self, level: float | None = None) -> HeterogeneityCI:
        """Q-profile confidence intervals for the residual tau2, tau, I2 and H2.

        Agrees with ``confint(rma(yi, vi, mods=...))``.
        """
        lev = self.level if level is None else parse_level(level)
        return heterogeneity_interval(self.X.to_numpy(), self, lev, fixed=self.tau2_fixed)

    def predict(self, newmods: Any = None) -> pd.DataFrame:
        """Fitted values for rows of the model matrix (default: the studies), as ``predict()``.

        ``newmods`` is an array or DataFrame with one column per coefficient (including
        the intercept column). Columns: ``estimate, se, ci_lower, ci_upper, pi_lower,
        pi_upper``.
        """
        from ipdmeta.meta._core import critical_value

        Xn = self.X.to_numpy() if newmods is None else np.atleast_2d(np.asarray(newmods, float))
        if Xn.shape[1] != self.p:
            raise ModelSpecError(f"newmods needs {self.p} columns (one per coefficient)")
        b = self.coefficients["estimate"].to_numpy()
        vb = self.vcov.to_numpy()
        pred = Xn @ b
        se = np.sqrt(np.einsum("ij,jk,ik->i", Xn, vb, Xn))
        df = self.QE_df if self.test is Test.KNHA else math.nan
        crit = critical_value(self.test, self.level, df)
        half = crit * np.sqrt(se**2 + self.tau2)
        return pd.DataFrame(
            {
                "estimate": pred,
                "se": se,
                "ci_lower": pred - crit * se,
                "ci_upper": pred + crit * se,
                "pi_lower": pred - half,
                "pi_upper": pred + half,
            }
        )

    def summary(self) -> SummaryText:
        """A text summary in the spirit of metafor's ``print.rma``."""
        lines = [
            f"Mixed-effects meta-regression (k = {self.k}; tau2 estimator: {self.method.value})",
            "",
            *self._display_notes(),
            "",
            self.coefficients.to_string(float_format=lambda x: f"{x:.4f}"),
        ]
        return SummaryText("\n".join(lines))

    def _display_title(self) -> str:
        test = ", Knapp-Hartung test" if self.test is Test.KNHA else ""
        return f"Mixed-effects meta-regression ({self.method.value}){test}, k = {self.k}"

    def _display_notes(self) -> list[str]:
        """Heterogeneity and the tests of moderators and of residual heterogeneity."""
        qe_line = (
            "Test for residual heterogeneity: not available (a sampling variance is 0)"
            if math.isnan(self.QE)
            else f"Test for residual heterogeneity: QE({self.QE_df}) = {self.QE:.4f}, "
            f"p = {self.QE_pvalue:.4g}"
        )
        lines = [
            f"residual tau2: {self.tau2:.4f}   I2: {self.I2:.2f}%   H2: {self.H2:.2f}"
            + ("" if math.isnan(self.R2) else f"   R2: {self.R2:.2f}%"),
            qe_line,
        ]
        if self.test is Test.KNHA:
            lines.append(
                f"Test of moderators ({', '.join(self.tested)}): "
                f"F({self.QM_df}, {self.QM_df2:g}) = {self.QM:.4f}, p = {self.QM_pvalue:.4g}"
            )
        else:
            lines.append(
                f"Test of moderators ({', '.join(self.tested)}): "
                f"QM({self.QM_df}) = {self.QM:.4f}, p = {self.QM_pvalue:.4g}"
            )
        return lines + omitted_notes(self.omitted)


def design_matrix(
    moderators: Any, data: pd.DataFrame | None, k: int, intercept: bool = True
) -> pd.DataFrame:
    """Build the model matrix from a formula, a DataFrame, a Series or an array.

    A formula (``"~ ablat + year"``) is expanded by formulaic on ``data`` and keeps its
    own intercept rule (``- 1`` or ``0 +`` drops it). For a DataFrame, Series or array an
    intercept column is added unless ``intercept=False``; text and categorical columns are
    dummy-coded against their first level (sorted), as R's treatment contrasts.
    """
    if isinstance(moderators, str):
        if data is None:
            raise ModelSpecError("a moderator formula needs data=; pass the study table")
        formula = moderators.strip()
        if not formula.startswith("~"):
            formula = "~ " + formula
        frame = data
    else:
        found = _moderator_frame(moderators)
        if found is None:
            raise ModelSpecError("moderators must be a formula, DataFrame or 2-d array")
        frame = found
        terms = " + ".join(f"`{c}`" for c in frame.columns)
        formula = f"~ {terms}" if intercept else f"~ 0 + {terms}"
    if len(frame) != k:
        raise DataError(f"the moderators have {len(frame)} rows for {k} studies")
    if not isinstance(moderators, str):
        for col in frame.columns:
            miss = pd.isna(frame[col]).to_numpy()
            if miss.any():
                raise DataError(
                    f"moderator {col!r} has missing or infinite values "
                    f"(first at row {int(np.flatnonzero(miss)[0])}); supply them or drop the study"
                )
    X = None if isinstance(moderators, str) else _simple_design(frame, intercept)
    if X is None:
        import formulaic

        try:
            mm = formulaic.model_matrix(formula, frame.reset_index(drop=True), na_action="raise")
        except Exception as exc:
            if "null values" in str(exc):
                raise DataError(
                    f"the moderators in {formula!r} have missing values: {exc}"
                ) from None
            raise ModelSpecError(f"cannot build the moderators from {formula!r}: {exc}") from None
        X = pd.DataFrame(np.asarray(mm, dtype=float), columns=[str(c) for c in mm.columns])
    if X.shape[0] != k:
        raise DataError(f"the moderators give {X.shape[0]} rows for {k} studies")
    if not np.isfinite(X.to_numpy()).all():
        raise DataError("the moderators have missing or infinite values")
    return X


def _simple_design(frame: pd.DataFrame, intercept: bool) -> pd.DataFrame | None:
    """The matrix formulaic makes of numeric columns, or of one text or categorical column
    (its levels sorted, or the categories in their order, unused ones kept), made by the
    mixed models' encoder of simple terms: importing formulaic took 0.15 s of ``ipdmeta
    run``, whose subgroup analyses need only this. None for anything else, which formulaic
    builds."""
    from ipdmeta.mixed._design import SimpleEncoder

    names = [str(c) for c in frame.columns]
    if not names or not all(n.isidentifier() for n in names):
        return None
    levels: dict[str, tuple[Any, ...]] = {}
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c])
               for c in frame.columns]  # fmt: skip
    if not all(numeric):
        if len(names) != 1:
            return None
        values = frame.iloc[:, 0]
        if isinstance(values.dtype, pd.CategoricalDtype):
            levels[names[0]] = tuple(values.cat.categories)
        elif all(isinstance(x, str) for x in values):
            levels[names[0]] = tuple(sorted(set(values)))  # by code point, as formulaic
        else:
            return None
    encoder = SimpleEncoder(names, levels, intercept=intercept)
    return encoder.get_model_matrix(frame.set_axis(names, axis=1))


def _moderator_frame(moderators: Any) -> pd.DataFrame | None:
    """Moderators given as values (not a formula) as a DataFrame, as design_matrix reads them."""
    if isinstance(moderators, pd.Series):
        return moderators.to_frame(name=moderators.name or "x1")
    if isinstance(moderators, pd.DataFrame):
        return moderators
    arr = np.asarray(moderators)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        return None  # design_matrix says what is wrong
    frame = pd.DataFrame(arr, columns=[f"x{i + 1}" for i in range(arr.shape[1])])
    if arr.dtype.kind == "O":
        # numbers with a None are of object dtype: give them back as floats (None -> NaN)
        for col in frame.columns:
            with contextlib.suppress(TypeError, ValueError):  # text: a categorical moderator
                frame[col] = pd.to_numeric(frame[col])
    return frame


def _moderators_missing(
    moderators: Any, data: pd.DataFrame | None, k: int
) -> dict[str, np.ndarray]:
    """Missing-value masks of the moderators that have any, by name (metafor drops those
    studies). For a formula: the columns of ``data`` it uses."""
    if isinstance(moderators, str):
        import formulaic

        if data is None or len(data) != k:
            return {}  # design_matrix raises
        formula = moderators.strip()
        try:
            used = formulaic.Formula(formula if formula.startswith("~") else "~ " + formula)
            names = sorted(str(v) for v in used.required_variables)
        except Exception:
            return {}  # design_matrix reports the bad formula
        frame = data[[c for c in names if c in data.columns]]
    else:
        found = _moderator_frame(moderators)
        if found is None or len(found) != k:
            return {}
        frame = found
    out = {}
    for col in frame.columns:
        miss = np.asarray(pd.isna(frame[col]), dtype=bool)
        if miss.any():
            out[str(col)] = miss
    return out


def _rows(values: Any, keep: np.ndarray) -> Any:
    """The rows ``keep`` of a DataFrame, Series or array (positionally)."""
    if isinstance(values, (pd.DataFrame, pd.Series)):
        return values.iloc[np.flatnonzero(keep)]
    arr = np.asarray(values)
    return arr[keep] if arr.ndim >= 1 and arr.shape[0] == keep.shape[0] else values


def _study_labels(yi: Any, n: int) -> tuple[str, ...] | None:
    if isinstance(yi, pd.Series) and not isinstance(yi.index, pd.RangeIndex) and len(yi) == n:
        return tuple(str(x) for x in yi.index)
    return None


def _column(values: Any, data: pd.DataFrame | None, name: str) -> Any:
    if isinstance(values, str) and data is not None:
        if values not in data.columns:
            raise DataError(f"column {values!r} ({name}) not found in data")
        return data[values]
    return values


def _has_intercept(X: np.ndarray) -> bool:
    return bool(np.any(np.all(X == 1.0, axis=0)))


def _r2(fit: CoreFit, tol: float, max_iter: int) -> float:
    """Pseudo R2 as metafor: the proportional reduction of tau2 (or adjusted R2 for FE)."""
    X, y, v = fit.X, fit.yi, fit.vi
    k, p = X.shape
    if fit.method is Method.FE:
        if np.var(y) == 0.0:
            return 0.0
        w = 1.0 / v
        mu = np.sum(w * y) / np.sum(w)
        rss = float(np.sum(w * (y - X @ fit.beta) ** 2))
        fitted = X @ fit.beta
        mss = float(np.sum(w * (fitted - mu) ** 2))
        r2 = mss / (mss + rss)
        adj = 1.0 - (1.0 - r2) * (k - 1) / (k - p)
        return max(0.0, 100.0 * adj)
    try:
        fit0 = fit_model(
            np.ones((k, 1)), y, v, fit.method, fit.test, fit.level, tol=tol, max_iter=max_iter
        )
    except EstimationError:
        return math.nan
    if fit0.tau2 == 0.0:
        return 0.0
    return max(0.0, 100.0 * (fit0.tau2 - fit.tau2) / fit0.tau2)


def qm_test(fit: CoreFit, btt: Sequence[int]) -> tuple[float, int, float, float]:
    """Omnibus Wald test of the coefficients ``btt``: (QM or F, df1, df2, p-value)."""
    idx = list(btt)
    b = fit.beta[idx]
    try:
        qm = float(b @ np.linalg.solve(fit.vb[np.ix_(idx, idx)], b))
    except np.linalg.LinAlgError:
        return math.nan, len(idx), math.nan, math.nan
    m = len(idx)
    if fit.test is Test.KNHA:
        df2 = float(fit.k - fit.p)
        f = qm / m
        return f, m, df2, float(special.fdtrc(m, df2, f)) if df2 > 0 else math.nan
    return qm, m, math.nan, float(special.chdtrc(m, qm))


def _btt_indices(btt: Any, names: list[str], has_int: bool, p: int) -> list[int]:
    if btt is None:
        if has_int and p > 1:
            return [i for i, n in enumerate(names) if n != _INTERCEPT and not _is_int_name(n)]
        return list(range(p))
    items = [btt] if isinstance(btt, (str, int)) else list(btt)
    out = []
    for item in items:
        if isinstance(item, str):
            if item not in names:
                raise ModelSpecError(f"unknown term {item!r} in btt; terms are {names}")
            out.append(names.index(item))
        else:
            i = int(item)
            if not 0 <= i < p:
                raise ModelSpecError(f"btt index {i} out of range 0..{p - 1}")
            out.append(i)
    return sorted(set(out))


def _is_int_name(name: str) -> bool:
    return name.lower() in {"intercept", "intrcpt", "(intercept)"}


def meta_regression(
    yi: Any,
    vi: Any,
    moderators: Any,
    method: Method | str = "REML",
    test: Test | str = "z",
    level: float = 0.95,
    *,
    data: pd.DataFrame | None = None,
    intercept: bool = True,
    btt: Any = None,
    tau2: float | None = None,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
    na_action: NaAction | str = "omit",
) -> MetaRegressionResult:
    """Fit a (mixed-effects) meta-regression, as ``metafor::rma(yi, vi, mods=, ...)``.

    Parameters
    ----------
    yi, vi
        Effect sizes and sampling variances, or column names of ``data``.
    moderators
        A formula such as ``"~ ablat + year"`` (with ``data``), or a DataFrame, Series or
        array of moderator values (an intercept is added unless ``intercept=False``).
    method, test, level
        As :func:`ipdmeta.meta.random_effects`; under ``"knha"`` coefficients get t tests
        with k - p df and the omnibus test is an F test.
    btt
        Coefficients in the omnibus test (names or 0-based positions); default all but
        the intercept.
    tau2
        Fix the residual tau2 instead of estimating it.
    na_action
        ``"omit"`` (default, metafor's ``na.omit``): a study with a missing yi, vi or
        moderator is left out with a warning naming it, and listed in ``omitted``.
        ``"fail"``: raise :class:`DataError` instead. ``vi = 0`` is handled as in
        :func:`ipdmeta.meta.random_effects`.

    Returns
    -------
    MetaRegressionResult
        Coefficient table ``estimate, se, statistic, df, pvalue, ci_lower, ci_upper``,
        residual ``tau2``, ``I2``, ``H2``, pseudo ``R2``, ``QM`` and ``QE`` tests.
    """
    m = parse_method(method)
    t = parse_test(test)
    lev = parse_level(level)
    action = parse_na_action(na_action)
    yi_given, vi_given = _column(yi, data, "yi"), _column(vi, data, "vi")
    n = as_float_vector(yi_given, "yi", missing_ok=True).shape[0]
    studies = prepare_studies(
        yi_given,
        vi_given,
        na_action=action,
        labels=_study_labels(yi_given, n),
        missing=_moderators_missing(moderators, data, n),
    )
    y, v = studies.yi, studies.vi
    k = y.shape[0]
    if studies.any_omitted:
        if isinstance(moderators, str):
            data = None if data is None else _rows(data, studies.keep)
        else:
            moderators = _rows(moderators, studies.keep)
    Xdf = design_matrix(moderators, data, k, intercept=intercept)
    names = list(Xdf.columns)
    X = Xdf.to_numpy()
    check_zero_vi(v, m, None, tau2)
    fit = fit_model(X, y, v, m, t, lev, tau2=tau2, tol=tol, max_iter=max_iter)
    has_int = _has_intercept(X)
    idx = _btt_indices(btt, names, has_int, X.shape[1])
    qm, qm_df, qm_df2, qm_p = qm_test(fit, idx)
    r2 = _r2(fit, tol, max_iter) if has_int and X.shape[1] > 1 and tau2 is None else math.nan
    coef = pd.DataFrame(
        {
            "estimate": fit.beta,
            "se": fit.se,
            "statistic": fit.statistic,
            "df": fit.df,
            "pvalue": fit.pvalue,
            "ci_lower": fit.ci_lower,
            "ci_upper": fit.ci_upper,
        },
        index=pd.Index(names, name="term"),
    )
    return MetaRegressionResult(
        coefficients=coef,
        vcov=pd.DataFrame(fit.vb, index=names, columns=names),
        tau2=fit.tau2,
        I2=fit.I2,
        H2=fit.H2,
        R2=r2,
        QM=qm,
        QM_df=qm_df,
        QM_df2=qm_df2,
        QM_pvalue=qm_p,
        QE=fit.QE,
        QE_df=fit.QE_df,
        QE_pvalue=fit.QE_pvalue,
        k=k,
        p=X.shape[1],
        method=m,
        test=t,
        level=lev,
        tested=tuple(names[i] for i in idx),
        X=Xdf,
        yi=y,
        vi=v,
        iterations=fit.iterations,
        vt=fit.vt,
        tau2_fixed=tau2 is not None,
        omitted=studies.omitted,
    )
