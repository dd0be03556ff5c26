"""Small-study effects: Egger's regression test and trim-and-fill."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from ipdmeta._display import RichDisplay, SummaryText
from ipdmeta.errors import EstimationError, ModelSpecError
from ipdmeta.meta._core import fit_model
from ipdmeta.meta._options import Method, Test
from ipdmeta.meta.univariate import MetaResult, result_from_fit

__all__ = ["EggerResult", "TrimFillResult", "egger_test", "trim_and_fill"]


class EggerModel(StrEnum):
    """Model of Egger's test: a meta-regression (``rma``) or weighted least squares (``lm``)."""

    RMA = "rma"
    LM = "lm"


# eq=False: fields hold arrays, whose == is elementwise
@dataclass(frozen=True, eq=False, repr=False)
class EggerResult(RichDisplay):
    """Egger's regression test for funnel-plot asymmetry (metafor's ``regtest()``).

    ``statistic``/``pvalue`` test the coefficient of the standard error; ``df`` is k - 2
    for a t test (NaN for z). ``limit_estimate`` is the intercept, the estimate for a
    study of infinite precision, with its confidence interval.
    """

    statistic: float
    pvalue: float
    df: float
    slope: float
    slope_se: float
    limit_estimate: float
    limit_ci_lower: float
    limit_ci_upper: float
    model: EggerModel
    predictor: str
    parent: MetaResult = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """One row with the test and the limit estimate."""
        return pd.DataFrame(
            [
                {
                    "statistic": self.statistic,
                    "df": self.df,
                    "pvalue": self.pvalue,
                    "slope": self.slope,
                    "slope_se": self.slope_se,
                    "limit_estimate": self.limit_estimate,
                    "limit_ci_lower": self.limit_ci_lower,
                    "limit_ci_upper": self.limit_ci_upper,
                    "model": self.model.value,
                    "predictor": self.predictor,
                }
            ]
        )

    def summary(self) -> SummaryText:
        """The test as text."""
        stat = "z" if math.isnan(self.df) else f"t({self.df:g})"
        return SummaryText(
            f"Regression test for funnel plot asymmetry (model {self.model.value}, "
            f"predictor {self.predictor}): {stat} = {self.statistic:.4f}, "
            f"p = {self.pvalue:.4g}\n"
            f"Limit estimate (as sei -> 0): {self.limit_estimate:.4f} "
            f"[{self.limit_ci_lower:.4f}, {self.limit_ci_upper:.4f}]"
        )

    def _display_title(self) -> str:
        return (
            f"Egger's regression test for funnel-plot asymmetry (model {self.model.value}), "
            f"k = {self.parent.k}"
        )


def egger_test(res: MetaResult, model: EggerModel | str = "rma") -> EggerResult:
    """Egger's regression test, as ``metafor::regtest(res)`` (predictor ``"sei"``).

    With ``model="rma"`` (metafor's default) the standard error enters the parent's
    model as a moderator (same tau2 method and test); with ``model="lm"`` it is the
    classical weighted regression with a multiplicative dispersion (Egger et al. 1997).
    """
    try:
        mdl = EggerModel(model)
    except ValueError:
        raise ModelSpecError(f"unknown model {model!r}; expected 'rma' or 'lm'") from None
    k = res.k
    if k < 3:
        raise EstimationError(f"Egger's test needs at least 3 studies, got k = {k}")
    sei = np.sqrt(res.vi)
    X = np.column_stack([np.ones(k), sei])
    if mdl is EggerModel.RMA:
        fit = fit_model(
            X,
            res.yi,
            res.vi,
            res.method,
            res.test,
            res.level,
            tau2=res.tau2 if res.tau2_fixed else None,
            tol=res.tol,
            max_iter=res.max_iter,
        )
        return EggerResult(
            statistic=float(fit.statistic[1]),
            pvalue=float(fit.pvalue[1]),
            df=fit.df,
            slope=float(fit.beta[1]),
            slope_se=float(fit.se[1]),
            limit_estimate=float(fit.beta[0]),
            limit_ci_lower=float(fit.ci_lower[0]),
            limit_ci_upper=float(fit.ci_upper[0]),
            model=mdl,
            predictor="sei",
            parent=res,
        )
    w = 1.0 / res.vi
    sw = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(X * sw[:, None], res.yi * sw, rcond=None)
    resid = res.yi - X @ coef
    dfr = k - 2
    sigma2 = float(np.sum(w * resid**2)) / dfr
    cov = sigma2 * np.linalg.inv(X.T @ (X * w[:, None]))
    se = np.sqrt(np.diag(cov))
    t = coef / se
    crit = float(-special.stdtrit(dfr, (1 - res.level) / 2))
    return EggerResult(
        statistic=float(t[1]),
        pvalue=float(2 * special.stdtr(dfr, -abs(t[1]))),
        df=float(dfr),
        slope=float(coef[1]),
        slope_se=float(se[1]),
        limit_estimate=float(coef[0]),
        limit_ci_lower=float(coef[0] - crit * se[0]),
        limit_ci_upper=float(coef[0] + crit * se[0]),
        model=mdl,
        predictor="sei",
        parent=res,
    )


# eq=False: fields hold arrays, whose == is elementwise
@dataclass(frozen=True, eq=False, repr=False)
class TrimFillResult(RichDisplay):
    """Trim-and-fill (Duval & Tweedie 2000), as metafor's ``trimfill()``.

    ``k0`` studies are imputed on ``side`` ("left" or "right"); ``filled_yi`` and
    ``filled_vi`` are the imputed studies and ``result`` the meta-analysis of the observed
    plus imputed studies. The attributes of ``result`` (``estimate``, ``se``, ``tau2``,
    ``k``, ...) are also available directly on this object.
    """

    k0: int
    se_k0: float
    side: str
    estimator: str
    filled_yi: np.ndarray
    filled_vi: np.ndarray
    result: MetaResult
    parent: MetaResult = field(repr=False)

    @property
    def filled(self) -> MetaResult:
        """The meta-analysis of the observed plus imputed studies (same as ``result``)."""
        return self.result

    def __getattr__(self, name: str) -> Any:
        result = self.__dict__.get("result")
        if result is not None and not name.startswith("_"):
            return getattr(result, name)
        raise AttributeError(name)

    def to_frame(self) -> pd.DataFrame:
        """The pooled result on the filled data, with ``k0`` and ``side`` added."""
        frame = self.result.to_frame()
        frame["k0"] = self.k0
        frame["side"] = self.side
        return frame

    def summary(self) -> SummaryText:
        """Text: the number of imputed studies and the pooled result on the filled data."""
        return SummaryText(self._display_title() + "\n\n" + self.result.summary())

    def _display_title(self) -> str:
        return f"Trim-and-fill ({self.estimator}): {self.k0} studies imputed on the {self.side}"

    def _display_notes(self) -> list[str]:
        return [f"Pooled on the filled data: {self.result._display_title()}"]


# Residuals below this many times the largest |yi| are rounding noise (a few ulps of the
# pooled estimate), counted as exactly 0.
_RESID_ZERO = 64 * np.finfo(float).eps


def _fit_estimate(method: Method, yi: np.ndarray, vi: np.ndarray, X: np.ndarray) -> np.ndarray:
    k = yi.shape[0]
    m = method if k >= X.shape[1] + 1 else Method.FE
    return fit_model(X, yi, vi, m, Test.Z, 0.95).beta


def trim_and_fill(
    res: MetaResult, estimator: str = "L0", side: str | None = None, max_iter: int = 100
) -> TrimFillResult:
    """Trim-and-fill with the L0 or R0 estimator, as ``metafor::trimfill(res)``.

    The side is chosen as metafor does (the sign of the slope of yi on sqrt(vi)); the
    imputed studies mirror the most extreme ones about the trimmed estimate. As metafor,
    the analysis of the filled data uses the parent's tau2 method with the z test and a
    95 % level.
    """
    est_name = estimator.upper()
    if est_name not in {"L0", "R0"}:
        raise ModelSpecError(f"unknown estimator {estimator!r}; expected 'L0' or 'R0'")
    k = res.k
    if k < 3:
        raise EstimationError(f"trim-and-fill needs at least 3 studies, got k = {k}")
    yi_all, vi_all = res.yi, res.vi
    if side is None:
        X = np.column_stack([np.ones(k), np.sqrt(vi_all)])
        side = "right" if _fit_estimate(res.method, yi_all, vi_all, X)[1] < 0 else "left"
    elif side not in {"left", "right"}:
        raise ModelSpecError(f"side must be 'left' or 'right', got {side!r}")
    yi = -yi_all if side == "right" else yi_all.copy()
    order = np.argsort(yi, kind="stable")
    yi = yi[order]
    vi = vi_all[order]
    k0 = 0
    k0_prev = -1
    se_k0 = math.nan
    beta = math.nan
    yi_c = yi
    it = 0
    while k0 != k0_prev:
        k0_prev = k0
        it += 1
        if it > max_iter:
            raise EstimationError(f"trim-and-fill did not converge in {max_iter} iterations")
        n = k - k0
        beta = float(_fit_estimate(res.method, yi[:n], vi[:n], np.ones((n, 1)))[0])
        yi_c = yi - beta
        # A residual within rounding of 0 is 0: with all yi equal the pooled estimate can
        # land an ulp off them, which would make every residual positive (or negative) and
        # impute studies into a perfectly symmetric funnel. metafor 3.8 has that problem
        # (its L0 then does not converge and its R0 stops with an error).
        yi_c = np.where(np.abs(yi_c) <= _RESID_ZERO * float(np.max(np.abs(yi))), 0.0, yi_c)
        ranks = np.empty(k)
        ranks[np.argsort(np.abs(yi_c), kind="stable")] = np.arange(1, k + 1)
        signed = np.sign(yi_c) * ranks
        if est_name == "R0":
            # R0 + 1 is the run of positive ranks at the top: it ends below the highest
            # rank that is not positive (a zero residual is not, so it ends the run)
            not_pos = ranks[signed <= 0]
            k0_raw = (k - (np.max(not_pos) if not_pos.size else 0.0)) - 1
            se_k0 = math.sqrt(2 * max(0.0, k0_raw) + 2)
        else:
            sr = float(np.sum(signed[signed > 0]))
            k0_raw = (4 * sr - k * (k + 1)) / (2 * k - 1)
            var_sr = (
                k * (k + 1) * (2 * k + 1)
                + 10 * k0_raw**3
                + 27 * k0_raw**2
                + 17 * k0_raw
                - 18 * k * k0_raw**2
                - 18 * k * k0_raw
                + 6 * k**2 * k0_raw
            ) / 24
            se_k0 = 4 * math.sqrt(max(var_sr, 0.0)) / (2 * k - 1)
        k0 = max(0, _round_half_even(k0_raw))
        se_k0 = max(0.0, se_k0)
    if k0 > 0:
        # mirror the k0 most extreme studies about the trimmed estimate
        mirrored = -(yi_c[k - k0 :] - beta)
        filled_yi = -mirrored if side == "right" else mirrored
        filled_vi = vi[k - k0 :]
        y_new = np.concatenate([yi_all, filled_yi])
        v_new = np.concatenate([vi_all, filled_vi])
        fit = fit_model(np.ones((k + k0, 1)), y_new, v_new, res.method, Test.Z, 0.95)
        labels = res.labels + tuple(f"Filled {j + 1}" for j in range(k0))
        result = result_from_fit(fit, labels, res.tol, res.max_iter)
    else:
        filled_yi = np.empty(0)
        filled_vi = np.empty(0)
        result = res
    return TrimFillResult(
        k0=int(k0),
        se_k0=float(se_k0),
        side=side,
        estimator=est_name,
        filled_yi=filled_yi,
        filled_vi=filled_vi,
        result=result,
        parent=res,
    )


def _round_half_even(x: float) -> int:
    # R's round() rounds halves to even, as Python's round()
    return round(x)
