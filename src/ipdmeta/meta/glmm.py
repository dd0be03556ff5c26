"""Pooling proportions and odds ratios with generalized linear mixed models, as metafor's
``rma.glmm``.

``measure="PLO"``: each study's events ``xi`` out of ``ni`` are binomial with its own log
odds, and the log odds are normal around the pooled one with variance tau2 (the
binomial-normal model, a random intercept per study). ``measure="OR"``: each group's
events are binomial, each study has its own fixed log odds, and the log odds ratio is
normal around the pooled one (``model = "UM.FS"``; the random effect is coded +1/2 and
-1/2 for the two groups, as metafor codes it). Both are fitted by maximum likelihood with
adaptive Gauss-Hermite quadrature (7 nodes, rma.glmm's default) by
:func:`ipdmeta.mixed.glmm`. Unlike pooling escalc's logits, they need no continuity
correction for studies with 0 or all events.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from ipdmeta._display import RichDisplay, SummaryText
from ipdmeta.errors import DataError, ModelSpecError
from ipdmeta.meta.effect_sizes import escalc

__all__ = ["GlmmMetaResult", "random_effects_glmm"]


@dataclass(frozen=True, eq=False, repr=False)
class GlmmMetaResult(RichDisplay):
    """The pooled log odds and its spread; ``to_frame(transform=True)`` gives
    proportions."""

    measure: str
    k: int
    estimate: float
    se: float
    zval: float
    pvalue: float
    ci_lower: float
    ci_upper: float
    pi_lower: float
    pi_upper: float
    tau2: float
    I2: float
    H2: float
    QE_LRT: float
    QE_LRT_pvalue: float
    QE_Wld: float
    QE_Wld_pvalue: float
    QE_df: int
    loglik: float
    nagq: int
    level: float
    labels: tuple[str, ...]
    dropped: tuple[str, ...] = ()  # trials left out: no events, or only, in both groups

    @property
    def tau(self) -> float:
        return float(np.sqrt(self.tau2))

    @property
    def _back(self) -> Callable[[float], float]:
        """To proportions (PLO) or odds ratios (OR)."""
        return special.expit if self.measure == "PLO" else np.exp

    @property
    def _scale(self) -> tuple[str, str]:
        return ("log odds", "proportion") if self.measure == "PLO" else ("log odds ratio",
                                                                          "odds ratio")  # fmt: skip

    def to_frame(self, transform: bool = False) -> pd.DataFrame:
        """The pooled estimate; ``transform=True`` back-transforms the estimate and its
        intervals to proportions (metafor's ``predict(res, transf = transf.ilogit)``)."""
        names = ["estimate", "ci_lower", "ci_upper", "pi_lower", "pi_upper"]
        values = [getattr(self, n) for n in names]
        if transform:
            values = [float(self._back(v)) for v in values]
        row: dict[str, Any] = dict(zip(names, values, strict=True))
        if not transform:
            row.update(se=self.se, zval=self.zval, pvalue=self.pvalue)
        row.update(tau2=self.tau2, I2=self.I2, H2=self.H2, k=self.k)
        return pd.DataFrame([row])

    def summary(self) -> SummaryText:
        """Text like metafor's print of an rma.glmm fit."""
        back = self.to_frame(transform=True).iloc[0]
        lines = [
            self._display_title(),
            "",
            f"tau^2 {self.tau2:.4f} (tau {self.tau:.4f}), I^2 {self.I2:.2f} %, H^2 {self.H2:.4f}",
            *self._display_notes(),
            "",
            f"{self._scale[0]} {self.estimate:.4f} (se {self.se:.4f}, z {self.zval:.4f}, "
            f"p {self.pvalue:.4g}), {100 * self.level:g} % CI {self.ci_lower:.4f} to "
            f"{self.ci_upper:.4f}",
            f"{self._scale[1]} {back['estimate']:.4f}, CI {back['ci_lower']:.4f} to "
            f"{back['ci_upper']:.4f}, prediction interval {back['pi_lower']:.4f} to "
            f"{back['pi_upper']:.4f}",
        ]
        return SummaryText("\n".join(lines))

    def _display_title(self) -> str:
        model = (
            "binomial-normal"
            if self.measure == "PLO"
            else "unconditional, fixed study effects (UM.FS)"
        )
        return (
            f"Random-effects model, {model} (ML, nAGQ = {self.nagq}), k = {self.k}: "
            f"pooled {self._scale[1]} {self._back(self.estimate):.4f}"
        )

    def _display_notes(self) -> list[str]:
        notes = []
        if np.isfinite(self.QE_Wld):
            notes.append(
                f"Test for heterogeneity: Wald({self.QE_df}) = {self.QE_Wld:.4f}, "
                f"p = {self.QE_Wld_pvalue:.4g}"
            )
        notes.append(
            f"Test for heterogeneity: LRT({self.QE_df}) = {self.QE_LRT:.4f}, "
            f"p = {self.QE_LRT_pvalue:.4g}"
        )
        if self.dropped:
            notes.append(
                "Left out (no events, or only events, in both groups): " + ", ".join(self.dropped)
            )
        return notes

    def _display_tables(self) -> list[tuple[str | None, pd.DataFrame]]:
        return [
            (self._scale[0].capitalize(), self.to_frame()),
            (f"{self._scale[1].capitalize()} (back-transformed)", self.to_frame(transform=True)),
        ]


def random_effects_glmm(
    measure: str = "PLO",
    *,
    xi: Any = None,
    ni: Any = None,
    ai: Any = None,
    bi: Any = None,
    ci: Any = None,
    di: Any = None,
    n1i: Any = None,
    n2i: Any = None,
    level: float = 0.95,
    nagq: int = 7,
    labels: Sequence[str] | None = None,
    drop00: bool = True,
) -> GlmmMetaResult:
    """Pool proportions or odds ratios with a generalized linear mixed model, as
    ``metafor::rma.glmm``.

    ``measure="PLO"`` (``xi`` events of ``ni``): the binomial-normal model, each study's log
    odds normal around the pooled one. ``measure="OR"`` (``ai`` events of ``n1i`` in the
    first group, ``ci`` of ``n2i`` in the second; or ``bi``, ``di`` non-events instead of
    the totals): the unconditional model with fixed study effects (``model = "UM.FS"``),
    a fixed log odds per study and a log odds ratio normal around the pooled one, the
    groups coded +1/2 and -1/2 in the random effect as metafor codes them. A trial with no
    events, or only events, in both groups says nothing about the odds ratio and is left
    out with a warning (``drop00``, as metafor).

    Returns
    -------
    GlmmMetaResult
        The pooled log odds (or log odds ratio) with Wald z-test, CI and prediction
        interval, tau2, I2 and H2 (from the typical within-study variance of escalc's
        estimates, as metafor), and the Wald and likelihood-ratio tests of heterogeneity
        (study-specific values against one common value). The Wald test is NaN when a
        study has a zero cell, where the saturated model's estimates are infinite.
    """
    counts: _SingleGroup | _TwoGroups
    if measure == "PLO":
        counts = _single_group(xi, ni, labels)
    elif measure == "OR":
        counts = _two_groups(ai, bi, ci, di, n1i, n2i, labels, drop00)
    else:
        raise ModelSpecError(
            f"random_effects_glmm fits measure 'PLO' (single proportions) or 'OR' (two "
            f"groups); got {measure!r}"
        )
    if len(counts.names) < 2:
        left = (
            "remain after leaving out trials with no events in either group"
            if counts.dropped
            else "given"
        )
        raise ModelSpecError(f"pooling needs at least 2 studies; {len(counts.names)} {left}")
    fit = counts.fit(nagq)
    table = fit.fixed_effects(level)
    estimate, se = float(table["estimate"].iloc[0]), float(table["se"].iloc[0])
    z = float(special.ndtri(0.5 + level / 2.0))
    tau2 = fit.theta**2
    spread = z * np.sqrt(se * se + tau2)
    typical = _typical_variance(counts.escalc().vi)
    lrt, df = counts.heterogeneity_lrt()
    wald = counts.heterogeneity_wald()
    zval = estimate / se
    return GlmmMetaResult(
        measure=measure,
        k=len(counts.names),
        estimate=estimate,
        se=se,
        zval=zval,
        pvalue=float(2.0 * special.ndtr(-abs(zval))),
        ci_lower=estimate - z * se,
        ci_upper=estimate + z * se,
        pi_lower=estimate - spread,
        pi_upper=estimate + spread,
        tau2=tau2,
        I2=100.0 * tau2 / (tau2 + typical),
        H2=(tau2 + typical) / typical,
        QE_LRT=lrt,
        QE_LRT_pvalue=float(special.chdtrc(df, lrt)),
        QE_Wld=wald,
        QE_Wld_pvalue=float(special.chdtrc(df, wald)) if np.isfinite(wald) else float("nan"),
        QE_df=df,
        loglik=fit.loglik,
        nagq=nagq,
        level=level,
        labels=counts.names,
        dropped=counts.dropped,
    )


def _vector(name: str, values: Any) -> np.ndarray:
    if values is None:
        raise ModelSpecError(f"{name} is required")
    return np.asarray(values, dtype=float).reshape(-1)


def _names(labels: Sequence[str] | None, k: int) -> tuple[str, ...]:
    names = tuple(labels) if labels is not None else tuple(str(i + 1) for i in range(k))
    if len(names) != k:
        raise ModelSpecError(f"labels has {len(names)} entries for {k} studies")
    return names


def _check_counts(names: tuple[str, ...], events: np.ndarray, totals: np.ndarray,
                  what: str) -> None:  # fmt: skip
    bad = np.flatnonzero(
        ~np.isfinite(events) | ~np.isfinite(totals) | (events < 0) | (totals < 1)
        | (events > totals) | (events != np.round(events)) | (totals != np.round(totals))
    )  # fmt: skip
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"study {names[i]}: {what} = {events[i]:g} of {totals[i]:g} is not a whole count "
            "of events between 0 and the group's size"
        )


@dataclass(frozen=True)
class _SingleGroup:
    """Events ``x`` of ``n`` per study (measure PLO)."""

    x: np.ndarray
    n: np.ndarray
    names: tuple[str, ...]
    dropped: tuple[str, ...] = ()

    def fit(self, nagq: int) -> Any:
        from ipdmeta import mixed

        data = pd.DataFrame({"events": self.x, "trials": self.n, "study": list(self.names)})
        return mixed.glmm("events ~ 1 + (1 | study)", data, trials="trials", nagq=nagq)

    def escalc(self) -> Any:
        return escalc("PLO", xi=self.x, ni=self.n)

    def heterogeneity_lrt(self) -> tuple[float, int]:
        """2 (log L of study-specific proportions - log L of one common proportion)."""
        own = _binomial_loglik(self.x, self.n, self.x / self.n)
        common = _binomial_loglik(self.x, self.n, np.full(self.x.size, self.x.sum() / self.n.sum()))
        return max(0.0, 2.0 * (own - common)), int(self.x.size - 1)

    def heterogeneity_wald(self) -> float:
        """The saturated model's Wald test that every study's log odds is the same: with
        the study logits' ML variances, Cochran's Q of the raw logits."""
        if np.any((self.x == 0) | (self.x == self.n)):
            return float("nan")
        y = special.logit(self.x / self.n)
        return _cochran_q(y, 1.0 / self.x + 1.0 / (self.n - self.x))


@dataclass(frozen=True)
class _TwoGroups:
    """Events ``a`` of ``n1`` and ``c`` of ``n2`` per study (measure OR)."""

    a: np.ndarray
    n1: np.ndarray
    c: np.ndarray
    n2: np.ndarray
    names: tuple[str, ...]
    dropped: tuple[str, ...] = ()

    def _rows(self) -> pd.DataFrame:
        k = len(self.names)
        return pd.DataFrame(
            {
                "events": np.column_stack([self.a, self.c]).reshape(-1),
                "trials": np.column_stack([self.n1, self.n2]).reshape(-1),
                "group1": np.tile([1.0, 0.0], k),
                "group12": np.tile([0.5, -0.5], k),
                "study": np.repeat(list(self.names), 2),
            }
        )

    def fit(self, nagq: int) -> Any:
        from ipdmeta import mixed

        return mixed.glmm(
            "events ~ 0 + group1 + study + (0 + group12 | study)",
            self._rows(),
            trials="trials",
            nagq=nagq,
        )

    def escalc(self) -> Any:
        return escalc("OR", ai=self.a, n1i=self.n1, ci=self.c, n2i=self.n2)

    def heterogeneity_lrt(self) -> tuple[float, int]:
        """2 (log L of a log odds ratio per study - log L of one common log odds ratio),
        both with a fixed log odds per study (the saturated and common-effect glms)."""
        from ipdmeta.mixed._glmm_fit import Family, GlmmProblem, glm_fit

        rows = self._rows()
        k = len(self.names)
        x = np.column_stack([rows["group1"], np.kron(np.eye(k), np.ones((2, 1)))])
        y, n = rows["events"].to_numpy(), rows["trials"].to_numpy()
        problem = GlmmProblem(Family("binomial"), y, n, np.zeros(y.size), x,
                              np.zeros(y.size, dtype=np.intp), 1, 1)  # fmt: skip
        beta = glm_fit(problem)
        common = _binomial_loglik(y, n, special.expit(x @ beta))
        own = _binomial_loglik(y, n, y / n)
        return max(0.0, 2.0 * (own - common)), k - 1

    def heterogeneity_wald(self) -> float:
        """The saturated model's Wald test that every study's log odds ratio is the same:
        Cochran's Q of the raw log odds ratios with their ML (Woolf) variances."""
        cells = np.column_stack([self.a, self.n1 - self.a, self.c, self.n2 - self.c])
        if np.any(cells == 0):
            return float("nan")
        y = np.log(cells[:, 0] * cells[:, 3] / (cells[:, 1] * cells[:, 2]))
        return _cochran_q(y, np.sum(1.0 / cells, axis=1))


def _single_group(xi: Any, ni: Any, labels: Sequence[str] | None) -> _SingleGroup:
    x, n = _vector("xi", xi), _vector("ni", ni)
    if x.size != n.size:
        raise ModelSpecError(f"xi has {x.size} values and ni {n.size}")
    names = _names(labels, x.size)
    _check_counts(names, x, n, "xi")
    return _SingleGroup(x, n, names)


def _two_groups(
    ai: Any, bi: Any, ci: Any, di: Any, n1i: Any, n2i: Any,
    labels: Sequence[str] | None, drop00: bool,
) -> _TwoGroups:  # fmt: skip
    a, c = _vector("ai", ai), _vector("ci", ci)
    n1 = _vector("n1i", n1i) if n1i is not None else a + _vector("bi (or n1i)", bi)
    n2 = _vector("n2i", n2i) if n2i is not None else c + _vector("di (or n2i)", di)
    sizes = {a.size, c.size, n1.size, n2.size}
    if len(sizes) != 1:
        raise ModelSpecError(
            f"ai, ci and the group sizes must have one value per study; got {sorted(sizes)}"
        )
    names = _names(labels, a.size)
    _check_counts(names, a, n1, "ai")
    _check_counts(names, c, n2, "ci")
    uninformative = ((a == 0) & (c == 0)) | ((a == n1) & (c == n2))
    dropped: tuple[str, ...] = ()
    if drop00 and uninformative.any():
        dropped = tuple(n for n, u in zip(names, uninformative, strict=True) if u)
        warnings.warn(
            f"{len(dropped)} {'study has' if len(dropped) == 1 else 'studies have'} no events, "
            f"or only events, in both groups and {'is' if len(dropped) == 1 else 'are'} left "
            f"out of the model: {', '.join(dropped)}",
            UserWarning,
            stacklevel=3,
        )
        keep = ~uninformative
        a, c, n1, n2 = a[keep], c[keep], n1[keep], n2[keep]
        names = tuple(n for n, k in zip(names, keep, strict=True) if k)
    return _TwoGroups(a, n1, c, n2, names, dropped)


def _binomial_loglik(x: np.ndarray, n: np.ndarray, p: np.ndarray) -> float:
    return float(np.sum(special.xlogy(x, p) + special.xlog1py(n - x, -p)))


def _cochran_q(y: np.ndarray, v: np.ndarray) -> float:
    w = 1.0 / v
    mean = np.sum(w * y) / np.sum(w)
    return float(np.sum(w * (y - mean) ** 2))


def _typical_variance(vi: np.ndarray) -> float:
    """Higgins and Thompson's typical within-study variance."""
    w = 1.0 / np.asarray(vi, dtype=float)
    k = w.size
    return float((k - 1) * w.sum() / (w.sum() ** 2 - np.sum(w * w)))
