"""Random-effects (and common-effect) meta-analysis of k study estimates."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from ipdmeta._display import RichDisplay, SummaryText
from ipdmeta.errors import EstimationError
from ipdmeta.meta._checks import (
    NaAction,
    as_float_vector,
    check_zero_vi,
    parse_na_action,
    prepare_studies,
)
from ipdmeta.meta._core import DEFAULT_MAX_ITER, DEFAULT_TOL, CoreFit, fit_model
from ipdmeta.meta._options import Method, Test, parse_level, parse_method, parse_test
from ipdmeta.meta._qprofile import q_profile

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["HeterogeneityCI", "MetaResult", "random_effects"]


@dataclass(frozen=True, repr=False)
class HeterogeneityCI(RichDisplay):
    """Q-profile confidence intervals for tau2, tau, I2 (%) and H2, as metafor ``confint()``.

    ``tau2_upper_sign`` is ``">"`` when the upper bound lies beyond the searched interval
    (then the bound is the end of that interval, as metafor prints it).
    """

    level: float
    tau2: float
    tau2_lower: float
    tau2_upper: float
    tau: float
    tau_lower: float
    tau_upper: float
    I2: float
    I2_lower: float
    I2_upper: float
    H2: float
    H2_lower: float
    H2_upper: float
    tau2_lower_sign: str = ""
    tau2_upper_sign: str = ""

    def to_frame(self) -> pd.DataFrame:
        """One row per parameter (tau2, tau, I2, H2): ``estimate, ci_lower, ci_upper``."""
        rows = {
            "tau2": (self.tau2, self.tau2_lower, self.tau2_upper),
            "tau": (self.tau, self.tau_lower, self.tau_upper),
            "I2": (self.I2, self.I2_lower, self.I2_upper),
            "H2": (self.H2, self.H2_lower, self.H2_upper),
        }
        frame = pd.DataFrame.from_dict(
            rows, orient="index", columns=["estimate", "ci_lower", "ci_upper"]
        )
        frame.index.name = "parameter"
        return frame

    def summary(self) -> SummaryText:
        """The interval table as text."""
        pct = 100 * self.level
        lines = [f"Heterogeneity, {pct:g}% Q-profile confidence intervals:"]
        for name, (est, lo, hi) in self.to_frame().iterrows():
            lines.append(f"  {name!s:<6} {est:12.4f}  [{lo:.4f}, {hi:.4f}]")
        return SummaryText("\n".join(lines))

    def _display_title(self) -> str:
        return f"Heterogeneity: {100 * self.level:g}% Q-profile confidence intervals"


# eq=False: fields hold arrays, whose == is elementwise
@dataclass(frozen=True, eq=False, repr=False)
class MetaResult(RichDisplay):
    """The result of :func:`random_effects`: metafor's ``rma()`` with ``predict()``.

    Float attributes follow metafor: ``statistic`` is the z (or t under Knapp-Hartung)
    value, ``I2`` is in percent, ``Q`` is Cochran's heterogeneity statistic with ``Q_df``
    degrees of freedom, ``pi_lower``/``pi_upper`` is the prediction interval of
    ``predict()`` (equal to the confidence interval for the common-effect model).
    ``omitted`` names the studies left out for missing values (``na_action="omit"``).
    With a sampling variance of 0, ``Q``, ``Q_pvalue``, ``I2`` and ``H2`` are NaN (as
    metafor's NA): they weight each study by 1 / vi.
    """

    estimate: float
    se: float
    statistic: float
    pvalue: float
    ci_lower: float
    ci_upper: float
    pi_lower: float
    pi_upper: float
    tau2: float
    I2: float
    H2: float
    Q: float
    Q_df: int
    Q_pvalue: float
    k: int
    df: float
    method: Method
    test: Test
    level: float
    yi: np.ndarray = field(repr=False)
    vi: np.ndarray = field(repr=False)
    given_labels: tuple[str, ...] | None = field(repr=False)
    iterations: int = field(default=0, repr=False)
    vt: float = field(default=math.nan, repr=False)
    tol: float = field(default=DEFAULT_TOL, repr=False)
    max_iter: int = field(default=DEFAULT_MAX_ITER, repr=False)
    tau2_fixed: bool = field(default=False, repr=False)
    omitted: tuple[str, ...] = field(default=(), repr=False)

    @property
    def tau(self) -> float:
        """Square root of tau2."""
        return math.sqrt(self.tau2)

    @property
    def labels(self) -> tuple[str, ...]:
        """Study labels: those given, else "Study 1", "Study 2", ... (made on demand)."""
        if self.given_labels is not None:
            return self.given_labels
        return tuple(f"Study {i + 1}" for i in range(self.k))

    @property
    def weights(self) -> np.ndarray:
        """Percentage weight of each study in the pooled estimate (``weights()``)."""
        w = 1.0 / (self.vi + self.tau2)
        return 100.0 * w / w.sum()

    def heterogeneity_ci(self, level: float | None = None) -> HeterogeneityCI:
        """Q-profile confidence intervals for tau2, tau, I2 and H2.

        Agrees with ``confint(rma(...))`` (type "QP"). Raises :class:`EstimationError` for
        the common-effect model, which has no between-study variance.
        """
        lev = self.level if level is None else parse_level(level)
        return heterogeneity_interval(np.ones((self.k, 1)), self, lev, fixed=self.tau2_fixed)

    def studies(self) -> pd.DataFrame:
        """One row per study: ``label, yi, vi, se, ci_lower, ci_upper, weight``."""
        from ipdmeta.meta._core import critical_value

        crit = critical_value(Test.Z, self.level, math.nan)
        se = np.sqrt(self.vi)
        return pd.DataFrame(
            {
                "label": list(self.labels),
                "yi": self.yi,
                "vi": self.vi,
                "se": se,
                "ci_lower": self.yi - crit * se,
                "ci_upper": self.yi + crit * se,
                "weight": self.weights,
            }
        )

    def to_frame(self) -> pd.DataFrame:
        """The pooled result as a one-row DataFrame with identifier column names."""
        row = {
            "estimate": self.estimate,
            "se": self.se,
            "statistic": self.statistic,
            "df": self.df,
            "pvalue": self.pvalue,
            "ci_lower": self.ci_lower,
            "ci_upper": self.ci_upper,
            "pi_lower": self.pi_lower,
            "pi_upper": self.pi_upper,
            "tau2": self.tau2,
            "tau": self.tau,
            "I2": self.I2,
            "H2": self.H2,
            "Q": self.Q,
            "Q_df": self.Q_df,
            "Q_pvalue": self.Q_pvalue,
            "k": self.k,
            "method": self.method.value,
            "test": self.test.value,
            "level": self.level,
        }
        return pd.DataFrame([row])

    def summary(self) -> SummaryText:
        """A text summary in the spirit of metafor's ``print.rma``."""
        name = "Common-effect model" if self.method is Method.FE else "Random-effects model"
        stat = "t" if self.test is Test.KNHA else "z"
        pct = f"{100 * self.level:g}%"
        lines = [f"{name} (k = {self.k}; tau2 estimator: {self.method.value})", ""]
        if self.method is not Method.FE:
            lines.append(f"tau2 (between-study variance): {self.tau2:.4f}")
            lines.append(f"tau (square root of tau2):     {self.tau:.4f}")
        lines.append(f"I2 (share of total variability due to heterogeneity): {self.I2:.2f}%")
        lines.append(f"H2 (total variability / sampling variability):        {self.H2:.2f}")
        lines.append("")
        if math.isnan(self.Q):
            lines.append(self._heterogeneity_line())
        else:
            lines.append(
                f"Test for heterogeneity: Q({self.Q_df}) = {self.Q:.4f}, "
                f"p {'<' if self.Q_pvalue < 1e-4 else '='} {_fmt_p(self.Q_pvalue).lstrip('<')}"
            )
        lines += [f"Note: {note}" for note in self._omitted_notes()]
        lines.append("")
        df_txt = f"({self.df:g})" if self.test is Test.KNHA else ""
        lines.append(f"estimate      se  {stat}{df_txt}    pvalue    {pct} CI")
        lines.append(
            f"{self.estimate:8.4f} {self.se:7.4f} {self.statistic:7.4f} {_fmt_p(self.pvalue):>9}"
            f"  [{self.ci_lower:.4f}, {self.ci_upper:.4f}]"
        )
        if self.method is not Method.FE:
            lines.append(f"{pct} prediction interval: [{self.pi_lower:.4f}, {self.pi_upper:.4f}]")
        return SummaryText("\n".join(lines))

    def _display_title(self) -> str:
        if self.method is Method.FE:
            name = "Common-effect meta-analysis"
        else:
            name = f"Random-effects meta-analysis ({self.method.value})"
        test = ", Knapp-Hartung test" if self.test is Test.KNHA else ""
        return f"{name}{test}, k = {self.k}"

    def _heterogeneity_line(self) -> str:
        if math.isnan(self.Q):
            return "Test for heterogeneity: not available (a sampling variance is 0)"
        p = "< 0.0001" if self.Q_pvalue < 1e-4 else f"= {self.Q_pvalue:.4f}"
        return f"Test for heterogeneity: Q({self.Q_df}) = {self.Q:.4f}, p {p}"

    def _omitted_notes(self) -> list[str]:
        return omitted_notes(self.omitted)

    def _display_notes(self) -> list[str]:
        return [self._heterogeneity_line(), *self._omitted_notes()]

    def _display_tables(self) -> list[tuple[str | None, pd.DataFrame]]:
        # Two narrow tables rather than to_frame()'s 20 columns, which overflow a notebook.
        frame = self.to_frame()
        estimate = ["estimate", "se", "statistic", "pvalue", "ci_lower", "ci_upper", "level"]
        if frame["df"].notna().all():
            estimate.insert(3, "df")
        spread = ["k", "tau2", "tau", "I2", "H2", "Q", "Q_df", "Q_pvalue", "pi_lower", "pi_upper"]
        return [
            ("Pooled estimate", frame[estimate]),
            ("Heterogeneity", frame[spread]),
            ("Studies", self.studies()),
        ]

    def forest_plot(self, ax: Axes | None = None, labels: Sequence[str] | None = None) -> Axes:
        """Draw a forest plot (studies, pooled diamond and prediction interval); return ``ax``."""
        from ipdmeta.meta.plots import forest_plot

        return forest_plot(self, ax=ax, labels=labels)

    def funnel_plot(
        self,
        ax: Axes | None = None,
        contours: Sequence[float] | None = None,
        refline: float = 0.0,
    ) -> Axes:
        """Draw a funnel plot (estimate against standard error), contour-enhanced when
        ``contours`` gives levels such as ``(0.90, 0.95, 0.99)``; return ``ax``."""
        from ipdmeta.meta.plots import funnel_plot

        return funnel_plot(self, ax=ax, contours=contours, refline=refline)


class _HasHeterogeneity(Protocol):
    @property
    def yi(self) -> np.ndarray: ...
    @property
    def vi(self) -> np.ndarray: ...
    @property
    def tau2(self) -> float: ...
    @property
    def I2(self) -> float: ...
    @property
    def H2(self) -> float: ...
    @property
    def vt(self) -> float: ...
    @property
    def method(self) -> Method: ...


def heterogeneity_interval(
    X: np.ndarray, res: _HasHeterogeneity, level: float, fixed: bool = False
) -> HeterogeneityCI:
    """Q-profile intervals of a fitted model with design ``X`` (``confint.rma.uni``)."""
    if res.method is Method.FE:
        raise EstimationError(
            "the common-effect (FE) model has no between-study variance; "
            "fit a random-effects method to get a confidence interval for tau2"
        )
    if fixed:
        raise EstimationError("tau2 was fixed, not estimated: it has no confidence interval")
    if np.any(res.vi == 0.0):
        raise EstimationError(
            "the Q-profile interval needs Q(0), which weights each study by 1 / vi: it "
            "cannot be computed when a sampling variance is 0 (as metafor's confint())"
        )
    qp = q_profile(X, res.yi, res.vi, res.tau2, level, res.vt)
    vt = res.vt

    def i2(t: float) -> float:
        return 100.0 * t / (vt + t)

    def h2(t: float) -> float:
        return t / vt + 1.0

    return HeterogeneityCI(
        level=level,
        tau2=res.tau2,
        tau2_lower=qp.lower,
        tau2_upper=qp.upper,
        tau=math.sqrt(res.tau2),
        tau_lower=math.sqrt(qp.lower),
        tau_upper=math.sqrt(qp.upper),
        I2=res.I2,
        I2_lower=i2(qp.lower),
        I2_upper=i2(qp.upper),
        H2=res.H2,
        H2_lower=h2(qp.lower),
        H2_upper=h2(qp.upper),
        tau2_lower_sign=qp.lower_sign,
        tau2_upper_sign=qp.upper_sign,
    )


def omitted_notes(omitted: tuple[str, ...]) -> list[str]:
    """One note naming the studies left out for missing values (none when none were)."""
    if not omitted:
        return []
    n = len(omitted)
    shown = ", ".join(omitted[:10]) + (f" and {n - 10} more" if n > 10 else "")
    return [f"{n} stud{'y' if n == 1 else 'ies'} with missing values omitted: {shown}"]


def _fmt_p(p: float) -> str:
    if not math.isfinite(p):
        return "NA"
    return "<.0001" if p < 1e-4 else f"{p:.4f}"


def _labels(yi: Any, labels: Sequence[str] | None, k: int) -> tuple[str, ...] | None:
    if labels is not None:
        out = tuple(str(x) for x in labels)
        if len(out) != k:
            raise EstimationError(f"labels has {len(out)} entries for {k} studies")
        return out
    if isinstance(yi, pd.Series) and not isinstance(yi.index, pd.RangeIndex):
        return tuple(str(x) for x in yi.index)
    return None


def result_from_fit(
    fit: CoreFit,
    labels: tuple[str, ...] | None,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
    tau2_fixed: bool = False,
    omitted: tuple[str, ...] = (),
) -> MetaResult:
    """Wrap an intercept-only :class:`CoreFit` in a :class:`MetaResult`."""
    est = float(fit.beta[0])
    se = float(fit.se[0])
    half = fit.crit * math.sqrt(se**2 + fit.tau2)
    return MetaResult(
        estimate=est,
        se=se,
        statistic=float(fit.statistic[0]),
        pvalue=float(fit.pvalue[0]),
        ci_lower=float(fit.ci_lower[0]),
        ci_upper=float(fit.ci_upper[0]),
        pi_lower=est - half,
        pi_upper=est + half,
        tau2=fit.tau2,
        I2=fit.I2,
        H2=fit.H2,
        Q=fit.QE,
        Q_df=fit.QE_df,
        Q_pvalue=fit.QE_pvalue,
        k=fit.k,
        df=fit.df,
        method=fit.method,
        test=fit.test,
        level=fit.level,
        yi=fit.yi,
        vi=fit.vi,
        given_labels=labels,
        iterations=fit.iterations,
        vt=fit.vt,
        tol=tol,
        max_iter=max_iter,
        tau2_fixed=tau2_fixed,
        omitted=omitted,
    )


def random_effects(
    yi: Any,
    vi: Any,
    method: Method | str = "REML",
    test: Test | str = "z",
    level: float = 0.95,
    *,
    labels: Sequence[str] | None = None,
    tau2: float | None = None,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
    na_action: NaAction | str = "omit",
) -> MetaResult:
    """Pool k study estimates with a random-effects (or common-effect) model.

    Agrees with ``metafor::rma(yi, vi, method=, test=, level=)`` and ``predict()``.

    Parameters
    ----------
    yi, vi
        Effect sizes and their sampling variances (``vi >= 0``), one per study. A
        sampling variance of 0 is accepted by the estimators that can fit it (HE, SJ,
        ML, REML, EB; then Q, I2 and H2 are NaN), refused by the others.
    method
        tau2 estimator: ``"FE"`` (common effect; metafor's ``"EE"``), ``"DL"``, ``"HE"``,
        ``"HS"``, ``"SJ"``, ``"ML"``, ``"REML"``, ``"EB"`` or ``"PM"``.
    test
        ``"z"`` (normal) or ``"knha"`` (Knapp-Hartung: t with k - 1 df and scaled variance).
    level
        Confidence level of the intervals, 0.95 by default (95 is read as 95 %).
    labels
        Study labels (default: the index of a pandas Series ``yi``, else "Study i").
    tau2
        Fix tau2 at this value instead of estimating it.
    tol, max_iter
        Convergence tolerance (relative to tau2 + the typical within-study variance) and
        iteration limit of the ML, REML and EB estimators; PM is solved by Brent's method.
    na_action
        ``"omit"`` (default, metafor's ``na.omit``): a study with a missing (NaN/None) yi
        or vi is left out with a warning naming it, and listed in ``omitted``.
        ``"fail"``: raise :class:`DataError` instead.

    Returns
    -------
    MetaResult
        ``estimate, se, statistic, pvalue, ci_lower, ci_upper, pi_lower, pi_upper, tau2,
        I2, H2, Q, Q_df, Q_pvalue, k``; ``heterogeneity_ci()`` as ``confint()``.

    Raises
    ------
    DataError
        For infinite or non-numeric values, unequal lengths, ``vi < 0``, or missing
        values with ``na_action="fail"``.
    EstimationError
        For fewer than 2 studies with a random-effects method; for ``vi = 0`` with FE,
        DL, HS or PM, or with a tau2 estimated (or fixed) at 0.
    ConvergenceError
        When an iterative estimator does not converge.
    """
    m = parse_method(method)
    t = parse_test(test)
    lev = parse_level(level)
    action = parse_na_action(na_action)
    n_given = as_float_vector(yi, "yi", missing_ok=True).shape[0]
    given = _labels(yi, labels, n_given)
    studies = prepare_studies(yi, vi, na_action=action, labels=given)
    y, v = studies.yi, studies.vi
    k = y.shape[0]
    if studies.any_omitted:
        full = given or tuple(f"Study {i + 1}" for i in range(n_given))
        given = tuple(lab for lab, kept in zip(full, studies.keep, strict=True) if kept)
    if m is not Method.FE and k < 2:
        raise EstimationError(
            f"a random-effects model ({m.value}) needs at least 2 studies, got k = {k}"
        )
    if t is Test.KNHA and k < 2:
        raise EstimationError("the Knapp-Hartung test needs at least 2 studies (df = k - 1)")
    if tau2 is not None and not (math.isfinite(tau2) and tau2 >= 0):
        raise EstimationError(f"tau2 must be a finite number >= 0, got {tau2!r}")
    check_zero_vi(v, m, given, tau2)
    fit = fit_model(np.ones((k, 1)), y, v, m, t, lev, tau2=tau2, tol=tol, max_iter=max_iter)
    return result_from_fit(fit, given, tol, max_iter, tau2 is not None, studies.omitted)
