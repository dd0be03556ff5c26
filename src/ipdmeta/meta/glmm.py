"""Pooling single proportions with the binomial-normal model, as metafor's
``rma.glmm(measure = "PLO")``.

Each study's events ``xi`` out of ``ni`` are binomial with its own log odds, and the log
odds are normal around the pooled one with variance tau2: a logistic mixed model with a
random intercept per study, fitted by maximum likelihood with adaptive Gauss-Hermite
quadrature (7 nodes, rma.glmm's default) by :func:`ipdmeta.mixed.glmm`. Unlike pooling
escalc's logits, it needs no continuity correction for studies with 0 or all events.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    QE_df: int
    loglik: float
    nagq: int
    level: float
    labels: tuple[str, ...]

    @property
    def tau(self) -> float:
        return float(np.sqrt(self.tau2))

    def to_frame(self, transform: bool = False) -> pd.DataFrame:
        """The pooled estimate; ``transform=True`` back-transforms the estimate and its
        intervals to proportions (metafor's ``predict(res, transf = transf.ilogit)``)."""
        names = ["estimate", "ci_lower", "ci_upper", "pi_lower", "pi_upper"]
        values = [getattr(self, n) for n in names]
        if transform:
            values = [float(special.expit(v)) for v in values]
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
            f"log odds {self.estimate:.4f} (se {self.se:.4f}, z {self.zval:.4f}, "
            f"p {self.pvalue:.4g}), {100 * self.level:g} % CI {self.ci_lower:.4f} to "
            f"{self.ci_upper:.4f}",
            f"proportion {back['estimate']:.4f}, CI {back['ci_lower']:.4f} to "
            f"{back['ci_upper']:.4f}, prediction interval {back['pi_lower']:.4f} to "
            f"{back['pi_upper']:.4f}",
        ]
        return SummaryText("\n".join(lines))

    def _display_title(self) -> str:
        return (
            f"Random-effects model, binomial-normal (ML, nAGQ = {self.nagq}), k = {self.k}: "
            f"pooled proportion {special.expit(self.estimate):.4f}"
        )

    def _display_notes(self) -> list[str]:
        return [
            f"Test for heterogeneity: LRT({self.QE_df}) = {self.QE_LRT:.4f}, "
            f"p = {self.QE_LRT_pvalue:.4g}"
        ]

    def _display_tables(self) -> list[tuple[str | None, pd.DataFrame]]:
        return [
            ("Log odds", self.to_frame()),
            ("Proportion (back-transformed)", self.to_frame(transform=True)),
        ]


def random_effects_glmm(
    measure: str = "PLO",
    *,
    xi: Any,
    ni: Any,
    level: float = 0.95,
    nagq: int = 7,
    labels: Sequence[str] | None = None,
) -> GlmmMetaResult:
    """Pool single-group proportions with the binomial-normal model
    (``rma.glmm(measure = "PLO", xi, ni)``).

    Returns
    -------
    GlmmMetaResult
        The pooled log odds with Wald z-test, CI and prediction interval, tau2, I2 and H2
        (from the typical within-study variance of escalc's logits, as metafor), and the
        likelihood-ratio test of heterogeneity (study-specific proportions against one
        common proportion).
    """
    from ipdmeta import mixed

    if measure != "PLO":
        raise ModelSpecError(
            f"random_effects_glmm fits measure 'PLO' (single proportions); got {measure!r}. "
            "Two-group odds ratios ('OR') are not supported yet"
        )
    x = np.asarray(xi, dtype=float).reshape(-1)
    n = np.asarray(ni, dtype=float).reshape(-1)
    if x.size != n.size:
        raise ModelSpecError(f"xi has {x.size} values and ni {n.size}")
    if x.size < 2:
        raise ModelSpecError("pooling needs at least 2 studies")
    names = tuple(labels) if labels is not None else tuple(str(i + 1) for i in range(x.size))
    if len(names) != x.size:
        raise ModelSpecError(f"labels has {len(names)} entries for {x.size} studies")
    bad = np.flatnonzero(~np.isfinite(x) | ~np.isfinite(n) | (x < 0) | (n < 1) | (x > n))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"study {names[i]}: xi = {x[i]:g} of ni = {n[i]:g} is not a count of events "
            "between 0 and ni"
        )
    data = pd.DataFrame({"events": x, "trials": n, "study": list(names)})
    fit = mixed.glmm("events ~ 1 + (1 | study)", data, trials="trials", nagq=nagq)
    table = fit.fixed_effects(level)
    estimate, se = float(table["estimate"].iloc[0]), float(table["se"].iloc[0])
    z = float(special.ndtri(0.5 + level / 2.0))
    tau2 = fit.theta**2
    spread = z * np.sqrt(se * se + tau2)
    typical = _typical_variance(escalc("PLO", xi=x, ni=n).vi)
    lrt, df = _heterogeneity_lrt(x, n)
    zval = estimate / se
    return GlmmMetaResult(
        measure="PLO",
        k=int(x.size),
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
        QE_df=df,
        loglik=fit.loglik,
        nagq=nagq,
        level=level,
        labels=names,
    )


def _typical_variance(vi: np.ndarray) -> float:
    """Higgins and Thompson's typical within-study variance."""
    w = 1.0 / np.asarray(vi, dtype=float)
    k = w.size
    return float((k - 1) * w.sum() / (w.sum() ** 2 - np.sum(w * w)))


def _heterogeneity_lrt(x: np.ndarray, n: np.ndarray) -> tuple[float, int]:
    """2 (log L of study-specific proportions - log L of one common proportion)."""

    def loglik(p: np.ndarray) -> float:
        return float(np.sum(special.xlogy(x, p) + special.xlog1py(n - x, -p)))

    own = loglik(x / n)
    common = loglik(np.full(x.size, x.sum() / n.sum()))
    return max(0.0, 2.0 * (own - common)), int(x.size - 1)
