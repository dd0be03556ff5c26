"""The upper tail of the studentized range distribution, for Tukey-adjusted p-values.

For ``k`` means and ``df`` degrees of freedom,

    P(Q > q) = integral over s of f(s) R(q s),

where ``R(w)`` is the probability that the range of ``k`` standard normal values is at
least ``w``, and ``f`` is the density of ``s = sqrt(chi2_df / df)``. With
``a = Phi(z)``, ``b = Phi(z - w)`` and ``m = k - 1``,

    R(w) = k * integral over z of phi(z) (a^m - (a - b)^m),
    R'(w) = -k m * integral over z of phi(z) phi(z - w) (a - b)^(m - 1),

and the difference is formed as ``-a^m expm1(m log1p(-b/a))``, so that a small tail
keeps its digits. ``R`` is tabulated once for each ``k`` with its derivative and read by
cubic Hermite interpolation; the outer integral is taken in ``t = log s``, where its
integrand is smooth at ``s = 0`` for any ``df``. Both integrands are analytic and decay at
least like a Gaussian, so the trapezoidal rule converges geometrically.

As R's ptukey (which emmeans calls), a df above 25,000 is taken as infinite: the
difference is below 1e-4, and the p-values then equal emmeans'. Below 2 df, where R's
ptukey gives NaN, the values here are still the integral's.

scipy.stats.studentized_range gives the same values (within 1e-9, tested) by adaptive
quadrature at several milliseconds per value, and needs scipy.stats imported; a run's
Tukey adjustments called it for every contrast of every refit. R's ptukey is less exact
at small df (1e-4 from both at 2.5 df and q = 15), which the tests allow for.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
from scipy import special

__all__ = ["studentized_range_sf"]

# Inner grid: phi(z) < 1e-18 outside [-9, 9].
_Z_STEP = 0.1
_Z = np.arange(-9.0, 9.0 + _Z_STEP / 2, _Z_STEP)
_PHI = np.exp(-0.5 * _Z**2) / math.sqrt(2.0 * math.pi)
_A = special.ndtr(_Z)
# R is tabulated on [0, 13]: beyond, R(w) < k^2 Phi(-13 / sqrt 2) < 1e-17 for k <= 20.
_W_STEP = 0.01
_W = np.arange(0.0, 13.0 + _W_STEP / 2, _W_STEP)
# R's ptukey uses the df = inf formula above this.
_DF_LARGE = 25000.0
# The outer integrand is dropped where its log falls this far below its peak (e^-75).
_LOG_CUT = 75.0


@cache
def _range_table(k: int) -> tuple[np.ndarray, np.ndarray]:
    """R and R' on the grid _W, for k means."""
    m = k - 1
    b = special.ndtr(_Z[None, :] - _W[:, None])
    ratio = np.minimum(b / _A[None, :], 1.0)
    with np.errstate(divide="ignore"):
        tail = -np.expm1(m * np.log1p(-ratio))
    r = k * _Z_STEP * np.sum(_PHI * _A**m * tail, axis=1)
    density = np.exp(-0.5 * (_Z[None, :] - _W[:, None]) ** 2) / math.sqrt(2.0 * math.pi)
    spread = np.maximum(_A[None, :] - b, 0.0) ** (m - 1) if m > 1 else 1.0
    dr = -k * m * _Z_STEP * np.sum(_PHI * density * spread, axis=1)
    return np.clip(r, 0.0, 1.0), dr


def _range_sf(w: np.ndarray, k: int) -> np.ndarray:
    """R(w) for each w >= 0, by cubic Hermite interpolation of the table."""
    r, dr = _range_table(k)
    i = np.minimum((w / _W_STEP).astype(int), _W.size - 2)
    x = w / _W_STEP - i
    h00 = (1 + 2 * x) * (1 - x) ** 2
    h10 = x * (1 - x) ** 2
    h01 = x * x * (3 - 2 * x)
    h11 = x * x * (x - 1)
    value = h00 * r[i] + h10 * _W_STEP * dr[i] + h01 * r[i + 1] + h11 * _W_STEP * dr[i + 1]
    return np.where(w > _W[-1], 0.0, np.clip(value, 0.0, 1.0))


def _outer_grid(df: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes s and the density of t = log s there times the step, for ``df`` finite."""
    half = 0.5 * df
    log_c = half * math.log(df) - special.gammaln(half) - (half - 1.0) * math.log(2.0)
    # log g(t) = log_c + df t - df e^(2t) / 2: it peaks at t = 0, about df t^2 below
    # the peak near it, and falls by df |t| on the left and by df e^(2t) / 2 on the right.
    sd = 1.0 / math.sqrt(2.0 * df)
    step = min(0.1, sd / 2.0)
    reach = math.sqrt(_LOG_CUT / df)
    lower = -(_LOG_CUT / df + reach)
    upper = 0.5 * math.log1p(2.0 * _LOG_CUT / df) + reach
    t = np.arange(lower, upper + step, step)
    log_g = log_c + df * t - half * np.exp(2.0 * t)
    keep = log_g > log_c - half - _LOG_CUT
    return np.exp(t[keep]), np.exp(log_g[keep]) * step


def studentized_range_sf(q: float, k: int, df: float) -> float:
    """P(Q > q) for the studentized range of ``k`` means with ``df`` degrees of freedom
    (``df = inf``: the range of normal values, as emmeans' asymptotic tests use)."""
    if k < 2 or not df > 0 or math.isnan(q):
        return math.nan
    if q <= 0:
        return 1.0
    if df > _DF_LARGE:
        return float(_range_sf(np.array([q]), k)[0])
    s, weight = _outer_grid(df)
    value = float(np.sum(weight * _range_sf(q * s, k)))
    return min(1.0, max(0.0, value))
