"""Profile-likelihood intervals (``confint.merMod(method = "profile")``).

As lme4's ``profile.merMod``, the profile is of the ML deviance (a REML fit is refitted
by ML first), with the variance parameters on the scale of standard deviations and
correlations. For each parameter the signed root zeta(v) = sign(v - v_hat) *
sqrt(D(v) - D_min) is solved for zeta = -/+ z exactly (lme4 interpolates a spline through
a grid of profile points instead; the difference is within that interpolation error).

For a fixed effect, the deviance with beta_j held at b needs no refit of the other fixed
effects: the penalised residual sum of squares grows by (b - beta_j(theta))^2 /
[A^{-1}(theta)]_jj, so D(b) is a minimum over theta alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from scipy import special

from ipdmeta._brent import find_root
from ipdmeta.errors import EstimationError

if TYPE_CHECKING:
    from ipdmeta.mixed._model import LmmResult

# Root of zeta(v) = -/+ z located to this relative precision (the references are good to
# about 1e-3 relative: lme4's spline through its profile grid).
ROOT_RTOL = 1e-6
# Inner optimisations: relative change of the deviance (~1e3) at which to stop; the
# bounds need D(v) to ~1e-6 absolute, far looser than this.
INNER_FTOL = 1e-12
INNER_GTOL = 1e-7
# Restart value for a relative SD (theta) stuck on its bound in a profile's inner search.
OFF_BOUND = 0.2
# Points of the grid that locates the basin of a one-parameter inner minimisation.
GRID_1D = 28
# sigma is kept above this fraction of its estimate while profiling.
SIGMA_FLOOR = 1e-3
# Deviance returned where the random-effects system cannot be factorised.
LARGE = 1e10
# Bracket search: at most this many secant steps outward, each overshooting the predicted
# crossing by this factor so that the next point usually brackets it.
MAX_STEPS = 60
OVERSHOOT = 1.1


def _chol_psd(S: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of a positive semi-definite matrix (zero pivots allowed)."""
    k = S.shape[0]
    L = np.zeros((k, k))
    for j in range(k):
        d = S[j, j] - L[j, :j] @ L[j, :j]
        if d <= 0.0:
            continue
        L[j, j] = np.sqrt(d)
        for i in range(j + 1, k):
            L[i, j] = (S[i, j] - L[i, :j] @ L[j, :j]) / L[j, j]
    return L


def _min_1d(fun: Callable[[float], float], lower: float, scale: float) -> tuple[float, float]:
    """Global-then-local minimum of a function of one bounded parameter.

    The profiled deviance is even in a relative SD, so theta = 0 is always stationary and
    can be a local maximum with the minimum inside; a grid finds the basin first."""
    import scipy.optimize as sopt  # imported when a profile is asked for: a fit needs none

    grid = lower + scale * np.concatenate([[0.0], np.logspace(-3.0, 1.5, GRID_1D)])
    vals = np.array([fun(float(x)) for x in grid])
    i = int(np.argmin(vals))
    if i == 0:
        a, b = grid[0], grid[1]
    elif i == len(grid) - 1:
        a, b = grid[-2], grid[-1] * 4.0
    else:
        a, b = grid[i - 1], grid[i + 1]
    res = sopt.minimize_scalar(
        fun, bounds=(a, b), method="bounded", options={"xatol": 1e-10 * scale}
    )
    if res.fun < vals[i]:
        return float(res.x), float(res.fun)
    return float(grid[i]), float(vals[i])


class _Profiler:
    def __init__(self, fit: LmmResult) -> None:
        self.fit = fit.refit(False)
        self.model = self.fit.model
        self.n = self.fit.nobs
        self.p = self.fit.design.X.shape[1]
        self.terms = self.fit.design.random
        self.psi_hat = np.concatenate([self.fit.sd_parameters(), [self.fit.sigma]])
        self.dmin = self.fit._dev
        # Which psi entries are SDs (>= 0), correlations (in [-1, 1]) and sigma (> 0).
        kinds: list[str] = []
        for t in self.terms:
            for j in range(t.k):
                kinds.append("sd")
                kinds.extend("cor" for _ in range(j + 1, t.k))
        kinds.append("sigma")
        self.kinds = kinds

    # psi = (per term: sd_1, cor_21, cor_31, ..., sd_2, cor_32, ...; then sigma) -> theta
    def theta_of(self, psi: np.ndarray) -> np.ndarray:
        sigma = psi[-1]
        out: list[float] = []
        pos = 0
        for t in self.terms:
            k = t.k
            size = k * (k + 1) // 2
            block = psi[pos : pos + size]
            pos += size
            sd = np.zeros(k)
            R = np.eye(k)
            q = 0
            for j in range(k):
                sd[j] = block[q]
                q += 1
                for i in range(j + 1, k):
                    R[i, j] = R[j, i] = block[q]
                    q += 1
            L = _chol_psd(np.outer(sd, sd) * R) / sigma
            for j in range(k):
                for i in range(j, k):
                    out.append(float(L[i, j]))
        return np.array(out)

    def deviance_psi(self, psi: np.ndarray) -> float:
        try:
            st = self.model.solve(self.theta_of(psi))
        except EstimationError:
            # Far outside the region of interest (a numerically singular system): a large
            # finite value keeps the bounded quasi-Newton search going.
            return self.dmin + LARGE
        s2 = psi[-1] ** 2
        return float(st.ldL2 + st.pwrss / s2 + self.n * np.log(2.0 * np.pi * s2))

    def _bounds(self, idx: list[int]) -> list[tuple[float | None, float | None]]:
        out: list[tuple[float | None, float | None]] = []
        for i in idx:
            kind = self.kinds[i]
            out.append(
                (0.0, None)
                if kind == "sd"
                else (-1.0, 1.0)
                if kind == "cor"
                else (SIGMA_FLOOR * self.psi_hat[-1], None)
            )
        return out

    def variance_profile(self, k: int) -> Callable[[float], float]:
        import scipy.optimize as sopt

        free = [i for i in range(len(self.psi_hat)) if i != k]
        start = {"x": self.psi_hat[free].copy()}
        bounds = self._bounds(free)
        zero_sd = np.array([self.kinds[i] == "sd" for i in free], dtype=bool)
        sd_restart = 0.5 * self.psi_hat[-1]  # half the residual SD

        def dev(v: float) -> float:
            def f(x: np.ndarray) -> float:
                psi = np.empty(len(self.psi_hat))
                psi[free] = x
                psi[k] = v
                return self.deviance_psi(psi)

            if not free:
                return f(np.zeros(0))
            if len(free) == 1:
                lo = bounds[0][0] if bounds[0][0] is not None else 0.0
                x, fx = _min_1d(lambda u: f(np.array([u])), float(lo), float(self.psi_hat[-1]))
                start["x"] = np.array([x])
                return fx
            starts = [start["x"]]
            if np.any(zero_sd & (start["x"] <= 0.0)):
                # An SD on 0 is a stationary point of the even deviance: also try it away.
                starts.append(np.where(zero_sd & (start["x"] <= 0.0), sd_restart, start["x"]))
            best_x, best_f = start["x"], np.inf
            for x0 in starts:
                res = sopt.minimize(
                    f,
                    x0,
                    method="L-BFGS-B",
                    bounds=bounds,
                    options={"ftol": INNER_FTOL, "gtol": INNER_GTOL, "maxiter": 500},
                )
                if res.fun < best_f:
                    best_x, best_f = res.x, float(res.fun)
            start["x"] = best_x
            return best_f

        return dev

    def fixed_profile(self, j: int) -> Callable[[float], float]:
        import scipy.optimize as sopt

        model = self.model
        n = self.n
        lower = model.lower
        bounds = [(0.0 if lo == 0.0 else None, None) for lo in lower]
        start = {"x": self.fit.theta.copy()}

        def f(theta: np.ndarray, b: float) -> float:
            st = model.solve(theta)
            ainv_jj = float(np.linalg.inv(st.A)[j, j])
            pw = st.pwrss + (b - st.beta[j]) ** 2 / ainv_jj
            return float(st.ldL2 + n * (1.0 + np.log(2.0 * np.pi * pw / n)))

        # The deviance is even in a diagonal theta, so a search started on theta = 0 never
        # leaves it: also start from lme4's initial value (1 on the diagonal).
        lme4_start = np.where(lower == 0.0, 1.0, 0.0)

        def dev(b: float) -> float:
            if lower.size == 1 and lower[0] == 0.0:
                x, fx = _min_1d(lambda u: f(np.array([u]), b), 0.0, 1.0)
                start["x"] = np.array([x])
                return fx

            def run(x0: np.ndarray) -> tuple[np.ndarray, float]:
                res = sopt.minimize(
                    f,
                    x0,
                    args=(b,),
                    method="L-BFGS-B",
                    bounds=bounds,
                    options={"ftol": INNER_FTOL, "gtol": INNER_GTOL, "maxiter": 500},
                )
                return np.asarray(res.x), float(res.fun)

            best_x, best_f = start["x"], f(start["x"], b)
            for x0 in (start["x"], self.fit.theta, lme4_start):
                xr, fr = run(x0)
                if fr < best_f:
                    best_x, best_f = xr, fr
            # A diagonal theta that ends on 0 may sit on a stationary point of the even
            # deviance rather than a minimum: restart with it moved off the bound.
            stuck = (lower == 0.0) & (best_x <= 0.0)
            if stuck.any():
                xr, fr = run(np.where(stuck, OFF_BOUND, best_x))
                if fr < best_f:
                    best_x, best_f = xr, fr
            start["x"] = best_x
            return best_f

        return dev


def _bound(
    dev: Callable[[float], float],
    dmin: float,
    v_hat: float,
    step: float,
    direction: int,
    z: float,
    lo_limit: float | None,
    hi_limit: float | None,
) -> float:
    """The value where zeta crosses direction * z: secant steps (zeta is nearly linear in
    the parameter) until the crossing is bracketed, then Brent's method."""

    def zeta(v: float) -> float:
        d = max(dev(v) - dmin, 0.0)
        return float(np.sign(v - v_hat) * np.sqrt(d))

    def clip(v: float) -> float:
        if lo_limit is not None and v <= lo_limit:
            return lo_limit
        if hi_limit is not None and v >= hi_limit:
            return hi_limit
        return v

    target = direction * z
    prev, z_prev = v_hat, 0.0
    v = clip(v_hat + direction * step)
    for _ in range(MAX_STEPS):
        if v == prev:
            break
        zv = zeta(v)
        if direction * zv >= z:
            a, b = (prev, v) if prev < v else (v, prev)
            xtol = ROOT_RTOL * max(abs(v_hat), abs(step))
            return float(find_root(lambda x: zeta(x) - target, a, b, xtol=xtol, rtol=1e-10))
        at_limit = v in (lo_limit, hi_limit)
        if at_limit:
            # lme4 reports the boundary for an SD whose profile stays below the cutoff.
            return v if v == lo_limit == 0.0 else float("nan")
        # Secant extrapolation to the target, overshooting a little to bracket it, and
        # growing at most fourfold per step.
        slope = (zv - z_prev) / (v - prev)
        width = abs(v - prev)
        if direction * slope > 0:
            jump = (target - zv) / slope * OVERSHOOT
            jump = float(np.clip(abs(jump), 0.1 * width, 4.0 * width))
        else:
            jump = 2.0 * width
        prev, z_prev = v, zv
        v = clip(v + direction * jump)
    raise EstimationError("the profile did not reach the confidence limit")


def profile_intervals(fit: LmmResult, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper limits in confint's row order: variance parameters, sigma, beta."""
    prof = _Profiler(fit)
    z = float(special.ndtri(0.5 + level / 2.0))
    lows: list[float] = []
    highs: list[float] = []
    for k, kind in enumerate(prof.kinds):
        v_hat = float(prof.psi_hat[k])
        dev = prof.variance_profile(k)
        if kind == "cor":
            step, lo_lim, hi_lim = 0.1, -1.0, 1.0
        else:
            scale = v_hat if v_hat > 0 else prof.fit.sigma
            step, lo_lim, hi_lim = 0.1 * scale, 0.0, None
        if kind == "sd" and v_hat <= 0.0:
            lows.append(0.0)
        else:
            lows.append(_bound(dev, prof.dmin, v_hat, step, -1, z, lo_lim, hi_lim))
        dev = prof.variance_profile(k)
        highs.append(_bound(dev, prof.dmin, v_hat, step, 1, z, lo_lim, hi_lim))
    se = np.sqrt(np.diag(prof.fit._vcov()))
    for j in range(prof.p):
        b_hat = float(prof.fit.state.beta[j])
        for direction, out in ((-1, lows), (1, highs)):
            dev = prof.fixed_profile(j)
            out.append(_bound(dev, prof.dmin, b_hat, 0.5 * z * se[j], direction, z, None, None))
    return np.array(lows), np.array(highs)
