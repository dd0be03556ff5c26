"""The numerical core: tau2 estimators and the weighted least-squares fit of ``rma.uni``.

Everything here works for a model matrix ``X`` of shape (k, p) with p small, and never
forms a k x k matrix: every trace and quadratic form of the projection
``P = W - W X (X'WX)^-1 X'W`` is written through p x p matrices and vectors of length k.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from ipdmeta.errors import ConvergenceError, EstimationError, ModelSpecError
from ipdmeta.meta._checks import ZERO_VI_METHODS
from ipdmeta.meta._options import Method, Test

__all__ = ["CoreFit", "estimate_tau2", "fit_model", "qe_statistic"]

# Default convergence tolerance of the iterative estimators (ML, REML, EB, PM): iteration
# stops when a step changes tau2 by less than TOL * (tau2 + vt), vt being the typical
# within-study variance, so the criterion does not depend on the scale of the data.
# metafor's default (threshold = 1e-5, absolute) stops far earlier; 1e-10 leaves an error
# in tau2 well below the 1e-6 relative tolerance of the agreement tests.
DEFAULT_TOL = 1e-10
DEFAULT_MAX_ITER = 1000

# A Newton step smaller than this (relative to tau2 + vt) ends the iteration: Newton
# converges quadratically, so the error left after such a step is of order its square.
_NEWTON_DONE = 1e-8

# Log-likelihood difference below which tau2 = 0 does not beat an interior maximum
# (metafor's ll0check uses its convergence tolerance the same way).
_LL0_TOL = 1e-10

# metafor refuses a model matrix whose cross-product has an eigenvalue below this.
_EVTOL = 1e-7


# eq=False: fields hold arrays, whose == is elementwise
@dataclass(frozen=True, eq=False)
class WLS:
    """Weighted least-squares pieces for weights ``w`` (length k) and matrix ``X`` (k, p)."""

    w: np.ndarray
    A: np.ndarray  # (X'WX)^-1
    beta: np.ndarray
    resid: np.ndarray

    @property
    def rss(self) -> float:
        return float(np.sum(self.w * self.resid**2))


def wls(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> WLS:
    """Fit y = X b by weighted least squares without forming k x k matrices.

    Uses the QR decomposition of sqrt(W) X (as metafor), which keeps full accuracy for
    badly scaled moderators such as calendar years.
    """
    if X.shape[1] == 1 and np.all(X == 1.0):
        sw = float(np.sum(w))
        mu = float(np.dot(w, y)) / sw
        return WLS(w=w, A=np.array([[1.0 / sw]]), beta=np.array([mu]), resid=y - mu)
    root = np.sqrt(w)
    q, r = np.linalg.qr(X * root[:, None])
    diag = np.abs(np.diag(r))
    if not np.all(np.isfinite(r)) or diag.min() <= 1e-12 * max(diag.max(), 1e-300):
        raise ModelSpecError(
            "the model matrix is not of full rank (a moderator is constant or a linear "
            "combination of others); drop the redundant moderator"
        )
    rinv = np.linalg.inv(r)
    beta = rinv @ (q.T @ (root * y))
    return WLS(w=w, A=rinv @ rinv.T, beta=beta, resid=y - X @ beta)


def trace_P(X: np.ndarray, w: np.ndarray, A: np.ndarray) -> float:
    """tr(P) = sum(w) - tr(A X'W^2 X)."""
    Xw2 = X * (w**2)[:, None]
    return float(np.sum(w) - np.sum(A * (X.T @ Xw2)))


def trace_PP(X: np.ndarray, w: np.ndarray, A: np.ndarray) -> float:
    """tr(PP) = tr(W^2) - 2 tr(A X'W^3 X) + tr(A X'W^2 X A X'W^2 X)."""
    B2 = X.T @ (X * (w**2)[:, None])
    B3 = X.T @ (X * (w**3)[:, None])
    AB2 = A @ B2
    return float(np.sum(w**2) - 2.0 * np.sum(A * B3) + np.sum(AB2 * AB2.T))


def qe_statistic(X: np.ndarray, y: np.ndarray, vi: np.ndarray, tau2: float = 0.0) -> float:
    """Generalised Q: y'P y with weights 1 / (vi + tau2)."""
    return wls(X, y, 1.0 / (vi + tau2)).rss


def check_design(X: np.ndarray) -> None:
    """Raise :class:`ModelSpecError` when X'X is (numerically) singular, as metafor does."""
    ev = np.linalg.eigvalsh(X.T @ X)
    if ev.size and ev.min() <= _EVTOL:
        raise ModelSpecError(
            "the model matrix is not of full rank (a moderator is constant or a linear "
            "combination of others); drop the redundant moderator"
        )


@dataclass(frozen=True)
class Tau2Estimate:
    tau2: float
    iterations: int
    tau2_0: float = math.nan  # SJ's starting value


def _typical_v(vi: np.ndarray) -> float:
    return float(1.0 / np.mean(1.0 / vi))


def _he(X: np.ndarray, y: np.ndarray, vi: np.ndarray) -> float:
    k, p = X.shape
    ols = wls(X, y, np.ones(k))
    tr_pv = float(np.sum(vi) - np.sum(ols.A * (X.T @ (X * vi[:, None]))))
    return (ols.rss - tr_pv) / (k - p)


def _equation(
    X: np.ndarray | None, y: np.ndarray, vi: np.ndarray, tau2: float, method: Method
) -> tuple[float, float, float]:
    """Estimating equation S(tau2) of ML, REML (twice the score) or PM/EB (Q - (k - p)).

    Returns S, its derivative dS/dtau2 and the expected information (Fisher scoring's
    step is S / information). S is positive left of the root and negative right of it.
    ``X = None`` stands for the intercept-only model (a faster path, same formulas).
    """
    if X is None:
        return _equation_intercept(y, vi, tau2, method)
    k, p = X.shape
    w = 1.0 / (vi + tau2)
    fit = wls(X, y, w)
    z = w * fit.resid  # P y
    ypp = float(np.sum(z * z))
    if method in (Method.PM, Method.EB):
        return fit.rss - (k - p), -ypp, ypp
    xwz = X.T @ (w * z)
    ypppy = float(np.sum(w * z * z) - xwz @ fit.A @ xwz)
    if method is Method.ML:
        info = float(np.sum(w**2))
        return ypp - float(np.sum(w)), info - 2.0 * ypppy, info
    info = trace_PP(X, w, fit.A)
    return ypp - trace_P(X, w, fit.A), info - 2.0 * ypppy, info


def _equation_intercept(
    y: np.ndarray, vi: np.ndarray, tau2: float, method: Method
) -> tuple[float, float, float]:
    w = 1.0 / (vi + tau2)
    sw = float(w.sum())
    e = y - float(w @ y) / sw
    z = w * e
    ypp = float(z @ z)
    if method in (Method.PM, Method.EB):
        return float(z @ e) - (y.shape[0] - 1), -ypp, ypp
    wz = w * z
    ypppy = float(wz @ z) - float(wz.sum()) ** 2 / sw
    sw2 = float(w @ w)
    if method is Method.ML:
        return ypp - sw, sw2 - 2.0 * ypppy, sw2
    trpp = sw2 - 2.0 * float((w * w) @ w) / sw + (sw2 / sw) ** 2
    return ypp - (sw - sw2 / sw), trpp - 2.0 * ypppy, trpp


def _solve_tau2(
    X: np.ndarray | None,
    y: np.ndarray,
    vi: np.ndarray,
    method: Method,
    starts: tuple[float, ...],
    tol: float,
    max_iter: int,
) -> Tau2Estimate:
    """The estimate of tau2 as a root of its estimating equation on [0, inf).

    PM and EB solve Q(tau2) = k - p, whose left side decreases: one root, or 0. The
    (restricted) likelihood of ML and REML can have more than one maximum, one of them
    at 0; :func:`_likelihood_maxima` finds them all and the highest is the estimate.
    With a study of ``vi = 0`` the equations are solved on (0, inf), tau2 = 0 being no
    fit at all (that study's weight is infinite).
    """
    if method in (Method.ML, Method.REML):
        return _likelihood_maxima(X, y, vi, method, tol, max_iter, starts)
    lo = _zero_vi_floor(vi)
    s0, _, _ = _equation(X, y, vi, lo, method)
    if s0 > 0.0:
        return _newton(X, y, vi, method, max(starts[0], lo), lo, tol, max_iter)
    return Tau2Estimate(0.0, 1)  # Q(tau2) is decreasing: its root is below 0


def _zero_vi_floor(vi: np.ndarray) -> float:
    """Where the search for tau2 starts: 0, or just above it when some vi is 0.

    With vi = 0 the equations are undefined at tau2 = 0; 1e-10 of the typical
    positive sampling variance is far below any estimate that can be told from 0, yet
    their sign there is the sign of their limit at 0.
    """
    return 1e-10 * _scale(vi) if bool(np.any(vi == 0.0)) else 0.0


def _scale(vi: np.ndarray) -> float:
    """The typical within-study variance, over the positive vi (1 when none is)."""
    pos = vi[vi > 0.0]
    return _typical_v(pos) if pos.size else 1.0


# The grid on which _likelihood_maxima looks for sign changes of the score: points per
# decade, its smallest positive tau2 relative to the typical within-study variance (a
# maximum between 0 and there would differ from 0 by nothing anyone could see), and the
# number of values of the grid x k evaluated at once (memory for k = 100,000).
_GRID_PER_DECADE = 8
_GRID_FLOOR = 1e-4
_GRID_BLOCK = 1 << 20


def _likelihood_maxima(
    X: np.ndarray | None,
    y: np.ndarray,
    vi: np.ndarray,
    method: Method,
    tol: float,
    max_iter: int,
    hints: tuple[float, ...] = (),
) -> Tau2Estimate:
    """The global maximum over tau2 >= 0 of the ML or REML log-likelihood.

    Every maximum right of 0 is a root where the score S (twice the derivative of the
    log-likelihood) changes sign from + to -, and none lies beyond ``t_max``, where S < 0
    is proved: with ``w = 1 / (vi + tau2)``, ``y'PPy <= max(w)^2 RSS`` (RSS the
    unweighted residual sum of squares) while ``sum(w) >= k / (max(vi) + tau2)`` (ML) and
    ``tr(P) >= (k - p) / (max(vi) + tau2)`` (REML), so ``S < 0`` once
    ``c tau2^2 - RSS tau2 - RSS max(vi) > 0``, c = k or k - p. A log-spaced grid on
    [0, t_max] brackets the sign changes, each is solved by safeguarded Newton, and 0 is
    a candidate when S(0) <= 0. metafor's Fisher scoring from the HE value finds one
    maximum only; its ``ll0check`` then compares it with 0, so where it reaches the
    global maximum the two agree. As metafor's check, 0 wins only by more than _LL0_TOL.
    Newton starts from a ``hints`` value (DL) inside the bracket, else from its middle.
    """
    k = y.shape[0]
    reml = method is Method.REML
    if X is None:
        basis = None
        p = 1
        rss = float(np.sum((y - y.mean()) ** 2))
    else:
        p = X.shape[1]
        basis, _ = np.linalg.qr(X)  # same column space as X: P and S do not change
        rss = max(0.0, float(y @ y - np.sum((basis.T @ y) ** 2)))
    c = float(k - p if reml else k)
    vmax = float(vi.max())
    t_max = (rss + math.sqrt(rss * rss + 4.0 * c * rss * vmax)) / (2.0 * c)
    floor = _zero_vi_floor(vi)
    if not t_max > floor:
        return Tau2Estimate(0.0, 1)
    t_lo = max(floor, _GRID_FLOOR * min(_scale(vi), t_max))
    n = int(min(120, max(8, math.ceil(_GRID_PER_DECADE * math.log10(t_max / t_lo)))))
    grid = np.empty(n + 1)
    grid[0] = floor  # 0, or just above it when some vi is 0
    grid[1:] = np.exp(np.linspace(math.log(t_lo), math.log(t_max), n))
    score = _score_grid(basis, y, vi, grid, reml)
    ll0: float | None = None
    if floor == 0.0 and not score[0] > 0.0:
        ll0 = _log_lik(X, y, vi, 0.0, reml)
    best: Tau2Estimate | None = None
    ll_best = -math.inf
    iterations = 1
    brackets = [
        (float(grid[i]), float(grid[i + 1]))
        for i in np.flatnonzero((score[:-1] > 0.0) & ~(score[1:] > 0.0))
    ]
    if score[-1] > 0.0:  # rounding at t_max: the root is just beyond it
        brackets.append((float(grid[-1]), math.inf))
    for lo, hi in brackets:
        inside = [h for h in hints if lo < h < hi]
        start = inside[0] if inside else 0.5 * (lo + hi) if math.isfinite(hi) else lo
        cand = _newton(X, y, vi, method, start, lo, tol, max_iter, hi=hi)
        iterations += cand.iterations
        ll = _log_lik(X, y, vi, cand.tau2, reml)
        if ll > ll_best:
            best, ll_best = cand, ll
    if best is None or (ll0 is not None and ll0 - ll_best > _LL0_TOL):
        return Tau2Estimate(0.0, iterations)
    return Tau2Estimate(best.tau2, iterations)


def _score_grid(
    basis: np.ndarray | None, y: np.ndarray, vi: np.ndarray, ts: np.ndarray, reml: bool
) -> np.ndarray:
    """S(tau2) of ML or REML at every tau2 in ``ts``, vectorised over blocks of ``ts``.

    ``basis`` is an orthonormal basis of the columns of X (from its QR decomposition),
    which keeps the p x p systems well conditioned whatever the scale of the moderators;
    None for the intercept-only model. Accurate enough to bracket the roots, which
    :func:`_newton` then solves to full precision.
    """
    out = np.empty(ts.shape[0])
    step = max(1, _GRID_BLOCK // max(1, y.shape[0]))
    for start in range(0, ts.shape[0], step):
        t = ts[start : start + step]
        w = 1.0 / (vi[None, :] + t[:, None])
        sw = np.sum(w, axis=1)
        if basis is None:
            mu = (w @ y) / sw
            z = w * (y[None, :] - mu[:, None])
            ypp = np.sum(z * z, axis=1)
            tr_p = sw - np.sum(w * w, axis=1) / sw if reml else sw
        else:
            m = np.einsum("ka,tk,kb->tab", basis, w, basis)
            rhs = (w * y[None, :]) @ basis
            beta = np.linalg.solve(m, rhs[..., None])[..., 0]
            z = w * (y[None, :] - beta @ basis.T)
            ypp = np.sum(z * z, axis=1)
            if reml:
                m2 = np.einsum("ka,tk,kb->tab", basis, w * w, basis)
                tr_p = sw - np.einsum("tab,tba->t", np.linalg.inv(m), m2)
            else:
                tr_p = sw
        out[start : start + step] = ypp - tr_p
    return out


def _newton(
    X: np.ndarray | None,
    y: np.ndarray,
    vi: np.ndarray,
    method: Method,
    start: float,
    lo: float,
    tol: float,
    max_iter: int,
    hi: float = math.inf,
) -> Tau2Estimate:
    """Safeguarded Newton iteration for the root in (lo, hi) (S(lo) > 0, S(hi) <= 0).

    metafor uses Fisher scoring (PM: uniroot). Scoring is slow near the root and can cycle
    without converging; we take Newton steps where the equation is decreasing (a scoring
    step elsewhere), keep a bracket [lo, hi] around the root and bisect when a step
    leaves it, so the iteration always converges.
    """
    scale = _scale(vi)
    t = min(max(lo, start), hi)
    for it in range(1, max_iter + 1):
        s, ds, info = _equation(X, y, vi, t, method)
        if s > 0.0:
            lo = max(lo, t)
        elif s < 0.0:
            hi = min(hi, t)
        else:
            return Tau2Estimate(t, it)
        newton = ds < 0.0
        new = t + (-s / ds if newton else s / info)
        if not (lo < new < hi) or not math.isfinite(new):
            newton = False
            new = 0.5 * (lo + hi) if math.isfinite(hi) else 2.0 * max(t, scale)
        change = abs(new - t)
        if (
            change <= tol * (new + scale)
            or (hi - lo) <= tol * (lo + scale)
            or (newton and change <= _NEWTON_DONE * (new + scale))
        ):
            return Tau2Estimate(new, it)
        t = new
    raise ConvergenceError(
        f"the {method.value} estimator of tau2 did not converge in {max_iter} iterations "
        f"(last tau2 = {t:.6g}); raise max_iter or try another method"
    )


def _log_lik(X: np.ndarray | None, y: np.ndarray, vi: np.ndarray, tau2: float, reml: bool) -> float:
    """(Restricted) log-likelihood up to the constant that does not depend on tau2."""
    w = 1.0 / (vi + tau2)
    if X is None:
        sw = float(w.sum())
        e = y - float(w @ y) / sw
        ll = -0.5 * float(np.log(vi + tau2).sum()) - 0.5 * float((w * e) @ e)
        return ll - 0.5 * math.log(sw) if reml else ll
    fit = wls(X, y, w)
    ll = -0.5 * np.sum(np.log(vi + tau2)) - 0.5 * fit.rss
    if reml:
        ll -= 0.5 * np.linalg.slogdet(X.T @ (X * w[:, None]))[1]
    return float(ll)


def estimate_tau2(
    X: np.ndarray,
    y: np.ndarray,
    vi: np.ndarray,
    method: Method,
    *,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
) -> Tau2Estimate:
    """Estimate tau2 for the model y = X b + u + e as ``metafor::rma.uni(method=)``.

    As metafor, the estimators see the centred outcomes (this matters only for a model
    without an intercept) and the result is truncated at 0.
    """
    k, p = X.shape
    yc = y - y.mean()
    if method is Method.FE:
        return Tau2Estimate(0.0, 0)
    zero_vi = bool(np.any(vi == 0.0))
    if zero_vi and method not in ZERO_VI_METHODS:
        raise EstimationError(
            f"the {method.value} estimator of tau2 cannot be used when a sampling variance "
            "is 0 (it weights each study by 1 / vi); use HE, SJ, ML, REML or EB"
        )
    if method is Method.HS:
        w = 1.0 / vi
        t = (wls(X, yc, w).rss - k) / np.sum(w)
        return Tau2Estimate(max(0.0, float(t)), 0)
    if method is Method.HE:
        return Tau2Estimate(max(0.0, _he(X, yc, vi)), 0)
    if method is Method.DL:
        w = 1.0 / vi
        fit = wls(X, yc, w)
        t = (fit.rss - (k - p)) / trace_P(X, w, fit.A)
        return Tau2Estimate(max(0.0, float(t)), 0)
    if method is Method.SJ:
        t0 = float(np.mean(yc**2))
        fit = wls(X, yc, 1.0 / (vi + t0))
        return Tau2Estimate(max(0.0, t0 * fit.rss / (k - p)), 0, t0)
    Xf = None if p == 1 and bool(np.all(X == 1.0)) else X
    # start from DL, close to the root and cheap (HE when 1 / vi is undefined)
    if zero_vi:
        start = max(0.0, _he(X, yc, vi))
    else:
        w0 = 1.0 / vi
        fit0 = wls(X, yc, w0)
        start = max(0.0, (fit0.rss - (k - p)) / trace_P(X, w0, fit0.A))
    return _solve_tau2(Xf, yc, vi, method, (start,), tol, max_iter)


# eq=False: fields hold arrays, whose == is elementwise
@dataclass(frozen=True, eq=False)
class CoreFit:
    """Everything ``rma.uni`` computes for one model, as plain numbers and arrays."""

    X: np.ndarray
    yi: np.ndarray
    vi: np.ndarray
    method: Method
    test: Test
    level: float
    tau2: float
    beta: np.ndarray
    vb: np.ndarray
    se: np.ndarray
    statistic: np.ndarray
    pvalue: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    df: float  # residual df k - p under knha, NaN under z
    crit: float
    s2w: float
    QE: float
    QE_df: int
    QE_pvalue: float
    I2: float
    H2: float
    vt: float
    iterations: int

    @property
    def k(self) -> int:
        return int(self.X.shape[0])

    @property
    def p(self) -> int:
        return int(self.X.shape[1])

    @property
    def weights(self) -> np.ndarray:
        return 1.0 / (self.vi + self.tau2)


# scipy.special's distribution functions are the ones scipy.stats calls, without its
# per-call overhead: t.isf(a, df) = -stdtrit(df, a), t.sf(x, df) = stdtr(df, -x),
# chi2.sf(x, df) = chdtrc(df, x).


def critical_value(test: Test, level: float, df: float) -> float:
    alpha = 1.0 - level
    if test is Test.KNHA:
        return float(-special.stdtrit(df, alpha / 2.0)) if df > 0 else math.nan
    return float(special.ndtri(1.0 - alpha / 2.0))


def two_sided_p(stat: np.ndarray, test: Test, df: float) -> np.ndarray:
    a = np.abs(stat)
    if test is Test.KNHA:
        return 2.0 * special.stdtr(df, -a) if df > 0 else np.full_like(a, np.nan)
    return 2.0 * special.ndtr(-a)


def fit_model(
    X: np.ndarray,
    yi: np.ndarray,
    vi: np.ndarray,
    method: Method,
    test: Test,
    level: float,
    *,
    tau2: float | None = None,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
) -> CoreFit:
    """Fit the (mixed-effects) meta-regression model as ``metafor::rma.uni``.

    ``tau2`` fixes the between-study variance instead of estimating it.
    """
    k, p = X.shape
    if method is not Method.FE and tau2 is None and k < p + 1:
        raise EstimationError(
            f"random-effects method {method.value} needs more studies than coefficients "
            f"(k = {k}, coefficients = {p}); use method='FE' or add studies"
        )
    if k < p:
        raise EstimationError(f"too few studies (k = {k}) for {p} coefficients")
    if p > 1:
        check_design(X)
    iterations = 0
    if method is Method.FE:
        t2 = 0.0
    elif tau2 is not None:
        t2 = float(tau2)
    else:
        est = estimate_tau2(X, yi, vi, method, tol=tol, max_iter=max_iter)
        t2, iterations = est.tau2, est.iterations
    zero_vi = np.flatnonzero(vi == 0.0)
    if zero_vi.size and t2 == 0.0:
        how = (
            "the common-effect (FE) model has tau2 = 0"
            if method is Method.FE
            else "tau2 is fixed at 0"
            if tau2 is not None
            else f"the {method.value} estimate of tau2 is 0"
        )
        n = zero_vi.size
        raise EstimationError(
            f"{how}, and {n} stud{'y has' if n == 1 else 'ies have'} vi = 0: with no "
            "variance at all a study gets infinite weight, and the model cannot be fitted"
        )
    w = 1.0 / (vi + t2)
    fit = wls(X, yi, w)
    vb = fit.A
    s2w = 1.0
    df = math.nan
    if test is Test.KNHA:
        rss = fit.rss
        s2w = 0.0 if rss <= np.finfo(float).eps else rss / (k - p) if k > p else math.nan
        vb = s2w * vb
        df = float(k - p)
    se = np.sqrt(np.diag(vb))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = fit.beta / se
    crit = critical_value(test, level, df)
    pval = two_sided_p(stat, test, df)
    if zero_vi.size:
        # as metafor: Q, I2 and H2 weight by 1 / vi and are undefined with vi = 0
        qe, qe_p, i2, h2, vt = math.nan, math.nan, math.nan, math.nan, math.nan
    elif k > p:
        w0 = 1.0 / vi
        fit0 = wls(X, yi - yi.mean(), w0)
        qe = max(0.0, fit0.rss)
        qe_p = float(special.chdtrc(k - p, qe))
        vt = (k - p) / trace_P(X, w0, fit0.A)
        if method is Method.FE:
            i2 = max(0.0, 100.0 * (qe - (k - p)) / qe) if qe > 0 else 0.0
            h2 = qe / (k - p)
        else:
            i2 = 100.0 * t2 / (vt + t2)
            h2 = t2 / vt + 1.0
    else:
        qe, qe_p, i2, h2, vt = 0.0, 1.0, 0.0, 1.0, 0.0
    return CoreFit(
        X=X,
        yi=yi,
        vi=vi,
        method=method,
        test=test,
        level=level,
        tau2=t2,
        beta=fit.beta,
        vb=vb,
        se=se,
        statistic=stat,
        pvalue=pval,
        ci_lower=fit.beta - crit * se,
        ci_upper=fit.beta + crit * se,
        df=df,
        crit=crit,
        s2w=s2w,
        QE=qe,
        QE_df=k - p,
        QE_pvalue=qe_p,
        I2=i2,
        H2=h2,
        vt=vt,
        iterations=iterations,
    )
