"""Q-profile confidence interval for tau2 (Viechtbauer 2007), as metafor's ``confint()``."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from ipdmeta._brent import find_root
from ipdmeta.meta._core import qe_statistic

__all__ = ["QProfile", "q_profile"]


@dataclass(frozen=True)
class QProfile:
    lower: float
    upper: float
    lower_sign: str  # "<" or ">" when the bound sits at the end of the search interval
    upper_sign: str
    tau2_max: float


def q_profile(
    X: np.ndarray, yi: np.ndarray, vi: np.ndarray, tau2_hat: float, level: float, vt: float
) -> QProfile:
    """Bounds of the Q-profile interval for tau2.

    The bounds solve Q(tau2) = chi2 quantiles with k - p df, searched on [0, t_max].
    metafor's default ``t_max = max(100, 10 * tau2_hat)`` can cut the upper bound off
    (it then prints "> 100"); we start there and widen the interval tenfold until it
    holds the bound, so the bound is always the root (a bound below 0 is reported as 0).
    """
    k, p = X.shape
    alpha = 1.0 - level
    crit_u = float(special.chdtri(k - p, alpha / 2.0))
    crit_l = float(2.0 * special.gammaincinv((k - p) / 2.0, alpha / 2.0))
    t_min = 0.0
    t_max = max(100.0, 10.0 * tau2_hat)
    q_min = qe_statistic(X, yi, vi, t_min)
    q_max = qe_statistic(X, yi, vi, t_max)
    # Q(tau2) -> 0 as tau2 grows; widen until the search interval holds both bounds
    widen = 0
    while q_max > crit_l and widen < 30:
        t_max *= 10.0
        q_max = qe_statistic(X, yi, vi, t_max)
        widen += 1
    # Q(tau2) is smooth and decreasing; Brent's method to near machine precision on the tau2 scale
    xtol = 1e-14 * max(vt, 1e-300)

    def solve(target: float) -> float:
        return float(
            find_root(
                lambda t: qe_statistic(X, yi, vi, t) - target,
                t_min,
                t_max,
                xtol=xtol,
                rtol=4 * np.finfo(float).eps,
                maxiter=1000,
            )
        )

    lower = upper = math.nan
    lower_sign = upper_sign = ""
    if q_min < crit_l:
        lower = upper = t_min
        lower_sign = upper_sign = "<"
    elif q_max > crit_l:
        upper, upper_sign = t_max, ">"
    else:
        upper = solve(crit_l)
    if q_max > crit_u:
        lower = upper = t_max
        lower_sign = upper_sign = ">"
    elif q_min < crit_u:
        lower = t_min
    else:
        lower = solve(crit_u)
    return QProfile(lower, upper, lower_sign, upper_sign, t_max)
