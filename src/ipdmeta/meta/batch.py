"""Many intercept-only meta-analyses at once, vectorised over rows (simulation, power)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from ipdmeta._display import RichDisplay, SummaryText
from ipdmeta.errors import ConvergenceError, DataError
from ipdmeta.meta._core import (
    _LL0_TOL,
    _NEWTON_DONE,
    DEFAULT_MAX_ITER,
    DEFAULT_TOL,
    estimate_tau2,
)
from ipdmeta.meta._options import Method, Test, parse_level, parse_method, parse_test

__all__ = ["BatchResult", "random_effects_batch"]


# eq=False: fields hold arrays, whose == is elementwise
@dataclass(frozen=True, eq=False, repr=False)
class BatchResult(RichDisplay):
    """Row-wise results of :func:`random_effects_batch`; every attribute has shape (m,).

    A row with too few studies for its model (k < 2 for a random-effects method, k < 1 for
    FE) or whose estimator did not converge holds NaN, with ``converged`` False for the
    latter, so that one bad replicate does not stop a simulation.
    """

    estimate: np.ndarray
    se: np.ndarray
    statistic: np.ndarray
    pvalue: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    pi_lower: np.ndarray
    pi_upper: np.ndarray
    tau2: np.ndarray
    I2: np.ndarray
    H2: np.ndarray
    Q: np.ndarray
    Q_df: np.ndarray
    Q_pvalue: np.ndarray
    k: np.ndarray
    df: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    method: Method
    test: Test
    level: float

    def __len__(self) -> int:
        return int(self.estimate.shape[0])

    def to_frame(self) -> pd.DataFrame:
        """One row per meta-analysis, one column per array attribute."""
        cols = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if isinstance(getattr(self, f.name), np.ndarray)
        }
        return pd.DataFrame(cols)

    def summary(self) -> SummaryText:
        """A short text description of the batch."""
        ok = int(np.sum(np.isfinite(self.estimate)))
        return SummaryText(
            f"{len(self)} meta-analyses ({self.method.value}, test {self.test.value}); "
            f"{ok} with a result, {int(np.sum(~self.converged))} not converged"
        )


def _as_matrix(a: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(a, dtype=float)  # no copy for float arrays: never written to
    except (TypeError, ValueError):
        raise DataError(f"{name} must be a numeric array of shape (m, k)") from None
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise DataError(f"{name} must have shape (m, k), got {arr.shape}")
    return arr


def _row_sums(a: np.ndarray) -> np.ndarray:
    return a.sum(axis=1)


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise inner products, without a temporary (m, k) array."""
    return np.einsum("ij,ij->i", a, b)


def _wmean_q(w: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum of weights, residuals from the weighted mean and Q = sum w e^2 per row."""
    sw = _row_sums(w)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = _dot(w, y) / sw
    e = y - mu[:, None]
    return sw, e, _dot(w * e, e)


def random_effects_batch(
    Y: Any,
    V: Any,
    method: Method | str = "REML",
    test: Test | str = "z",
    level: float = 0.95,
    *,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
) -> BatchResult:
    """Fit one intercept-only meta-analysis per row of ``Y``/``V``, vectorised.

    Row ``i`` gives the same numbers as ``random_effects(Y[i], V[i], method, test, level)``
    on its present studies (a NaN in ``Y`` marks an absent study; ``V`` may hold NaN
    there too), hence as ``metafor::rma()`` on each row.

    Parameters
    ----------
    Y, V
        Effect sizes and sampling variances, arrays of shape (m, k).
    method, test, level, tol, max_iter
        As :func:`ipdmeta.meta.random_effects`.

    Returns
    -------
    BatchResult
        Arrays of shape (m,): ``estimate, se, statistic, pvalue, ci_lower, ci_upper,
        pi_lower, pi_upper, tau2, I2, H2, Q, Q_df, Q_pvalue, k, df, converged``.
    """
    y = _as_matrix(Y, "Y")
    v = _as_matrix(V, "V")
    if y.shape != v.shape:
        raise DataError(f"Y and V have different shapes {y.shape} and {v.shape}")
    meth = parse_method(method)
    tst = parse_test(test)
    lev = parse_level(level)
    present = ~np.isnan(y)
    if np.isinf(y).any():
        raise DataError("Y has infinite values; use NaN to mark an absent study")
    with np.errstate(invalid="ignore"):
        bad_v = present & ~((v > 0.0) & (v < np.inf))  # NaN fails both comparisons
    if bad_v.any():
        vb = v[bad_v]
        if np.isnan(vb).any() or np.isinf(vb).any():
            raise DataError(
                "V is NaN or infinite where Y holds a study; give its sampling variance"
            )
        raise DataError("V must be > 0 (sampling variances) for every present study")
    mask = present.astype(float)
    y0 = np.where(present, y, 0.0)
    v_inf = np.where(present, v, np.inf)  # weight 1 / (inf + tau2) = 0 for absent studies
    vsum = np.sum(v, axis=1, where=present)
    k = mask.sum(axis=1)
    m = y.shape[0]
    min_k = 1 if meth is Method.FE else 2
    ok = k >= min_k
    if tst is Test.KNHA:
        ok &= k >= 2
    with np.errstate(invalid="ignore", divide="ignore"):
        w0 = 1.0 / v_inf
        sw0, _, qe = _wmean_q(w0, y0)
        trp0 = sw0 - _dot(w0, w0) / sw0
        tau2, iters, conv = _tau2_batch(meth, y0, v_inf, vsum, w0, qe, trp0, mask, k, tol, max_iter)
        tau2 = np.where(ok, tau2, np.nan)
        w = v_inf + tau2[:, None]
        np.reciprocal(w, out=w)
        sw, e, q_gen = _wmean_q(w, y0)
        est = (y0[:, 0] - e[:, 0]) if y0.shape[1] else np.full(m, np.nan)
        var = 1.0 / sw
        df = np.where(tst is Test.KNHA, k - 1.0, np.nan)
        if tst is Test.KNHA:
            s2w = np.where(q_gen <= np.finfo(float).eps, 0.0, q_gen / (k - 1.0))
            var = s2w * var
        se = np.sqrt(var)
        stat = est / se
        alpha = 1.0 - lev
        if tst is Test.KNHA:
            # scipy.special's ufuncs are the same functions as scipy.stats', several
            # times faster on arrays: t.isf(a, df) = -stdtrit(df, a), t.sf(x) = stdtr(df, -x)
            crit = -special.stdtrit(df, alpha / 2.0)
            pval = 2.0 * special.stdtr(df, -np.abs(stat))
        else:
            crit = np.full(m, float(special.ndtri(1.0 - alpha / 2.0)))
            pval = 2.0 * special.ndtr(-np.abs(stat))
        half_pi = crit * np.sqrt(var + tau2)
        qe = np.maximum(qe, 0.0)
        qdf = k - 1.0
        qp = np.where(qdf > 0, special.chdtrc(np.maximum(qdf, 1.0), qe), 1.0)
        vt = qdf / trp0
        if meth is Method.FE:
            i2 = np.where(qe > 0, np.maximum(0.0, 100.0 * (qe - qdf) / qe), 0.0)
            h2 = qe / qdf
        else:
            i2 = 100.0 * tau2 / (vt + tau2)
            h2 = tau2 / vt + 1.0
        single = qdf <= 0
        qe = np.where(single, 0.0, qe)
        i2 = np.where(single, 0.0, i2)
        h2 = np.where(single, 1.0, h2)
    bad = ~ok | ~conv

    def out(a: np.ndarray) -> np.ndarray:
        return np.where(bad, np.nan, a)

    return BatchResult(
        estimate=out(est),
        se=out(se),
        statistic=out(stat),
        pvalue=out(pval),
        ci_lower=out(est - crit * se),
        ci_upper=out(est + crit * se),
        pi_lower=out(est - half_pi),
        pi_upper=out(est + half_pi),
        tau2=out(tau2),
        I2=out(i2),
        H2=out(h2),
        Q=out(qe),
        Q_df=np.where(qdf >= 0, qdf, np.nan).astype(float),
        Q_pvalue=out(qp),
        k=k.astype(int),
        df=df,
        converged=conv,
        iterations=iters,
        method=meth,
        test=tst,
        level=lev,
    )


def _tau2_batch(
    meth: Method,
    y: np.ndarray,
    v_inf: np.ndarray,
    vsum: np.ndarray,
    w0: np.ndarray,
    q0: np.ndarray,
    trp0: np.ndarray,
    mask: np.ndarray,
    k: np.ndarray,
    tol: float,
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """tau2 per row, iterations and convergence flags.

    ``w0 = 1 / vi`` (0 for absent studies), ``q0`` Cochran's Q and ``trp0`` tr(P) at
    tau2 = 0; with an intercept the centring of y changes none of them.
    """
    m = y.shape[0]
    iters = np.zeros(m, dtype=int)
    conv = np.ones(m, dtype=bool)
    if meth is Method.FE:
        return np.zeros(m), iters, conv
    # estimators see centred outcomes, as metafor (irrelevant with an intercept)
    ybar = _row_sums(y) / k
    yc = (y - ybar[:, None]) * mask
    if meth is Method.HE:
        rss = _dot(yc, yc)
        trpv = vsum * (1.0 - 1.0 / k)
        return np.maximum((rss - trpv) / (k - 1.0), 0.0), iters, conv
    if meth is Method.SJ:
        t0 = _dot(yc, yc) / k
        _, _, q = _wmean_q(1.0 / (v_inf + t0[:, None]), yc)
        return np.maximum(t0 * q / (k - 1.0), 0.0), iters, conv
    if meth is Method.HS:
        return np.maximum((q0 - k) / _row_sums(w0), 0.0), iters, conv
    dl = np.maximum((q0 - (k - 1.0)) / trp0, 0.0)
    if meth is Method.DL:
        return dl, iters, conv
    tau2, iters, conv = _solve_batch(meth, yc, v_inf, w0, k, dl, tol, max_iter)
    if meth in (Method.ML, Method.REML):
        tau2 = _ll0check(meth, yc, v_inf, w0, q0, tau2)
        # rows at the boundary whose likelihood may have an interior maximum (a positive
        # DL or HE value), and rows whose likelihood may have two interior maxima: rare,
        # so solved one by one exactly as random_effects() does, which searches every
        # maximum (the interior one can lie left of both values)
        at0 = np.flatnonzero(tau2 == 0.0)
        yc0 = yc[at0]
        he = np.zeros(m)
        he[at0] = np.maximum(
            (_dot(yc0, yc0) - vsum[at0] * (1.0 - 1.0 / k[at0])) / (k[at0] - 1.0), 0.0
        )
        at0 = at0[(dl[at0] > 0.0) | (he[at0] > 0.0)]
        converged = np.where(conv, tau2, np.nan)  # an unconverged row stays flagged
        at0 = np.union1d(at0, _two_maxima(meth, yc, v_inf, k, converged))
        for i in at0:
            pr = mask[i] > 0
            try:
                est = estimate_tau2(
                    np.ones((int(pr.sum()), 1)),
                    y[i, pr],
                    v_inf[i, pr],
                    meth,
                    tol=tol,
                    max_iter=max_iter,
                )
            except ConvergenceError:
                conv[i] = False
                continue
            tau2[i] = est.tau2
    return tau2, iters, conv


def _equation_batch(
    meth: Method, y: np.ndarray, v_inf: np.ndarray, k: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row-wise S, dS/dtau2 and information, as ``_core._equation`` for X = 1."""
    w = v_inf + t[:, None]
    np.reciprocal(w, out=w)
    sw = _row_sums(w)
    e = y - (_dot(w, y) / sw)[:, None]
    z = w * e
    ypp = _dot(z, z)
    if meth in (Method.PM, Method.EB):
        return _dot(z, e) - (k - 1.0), -ypp, ypp
    wz = w * z
    ypppy = _dot(wz, z) - _row_sums(wz) ** 2 / sw
    w2 = w * w
    sw2 = _row_sums(w2)
    if meth is Method.ML:
        return ypp - sw, sw2 - 2.0 * ypppy, sw2
    trpp = sw2 - 2.0 * _dot(w2, w) / sw + (sw2 / sw) ** 2
    return ypp - (sw - sw2 / sw), trpp - 2.0 * ypppy, trpp


def _solve_batch(
    meth: Method,
    y: np.ndarray,
    v_inf: np.ndarray,
    w0: np.ndarray,
    k: np.ndarray,
    start: np.ndarray,
    tol: float,
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Safeguarded Newton iteration of ``_core._solve_tau2``, on the still-active rows."""
    m = y.shape[0]
    iters = np.ones(m, dtype=int)
    conv = np.zeros(m, dtype=bool)
    tau2 = np.where(np.isfinite(start), np.maximum(start, 0.0), np.nan)
    scale = k / _row_sums(w0)
    valid = np.isfinite(tau2)
    conv[~valid] = True  # rows with too few studies: nothing to solve
    s0, _, _ = _equation_batch(meth, y, v_inf, k, np.zeros(m))
    boundary = valid & ~(s0 > 0.0)
    tau2[boundary] = 0.0
    conv[boundary] = True
    idx = np.flatnonzero(valid & ~boundary)
    # working copies of the unconverged rows, compressed as rows converge
    ya, va, ka, sa = y[idx], v_inf[idx], k[idx], scale[idx]
    ta = tau2[idx]
    la = np.zeros(idx.size)
    ha = np.full(idx.size, np.inf)
    live = np.ones(idx.size, dtype=bool)
    for it in range(1, max_iter + 1):
        if not live.any():
            break
        if live.mean() < 0.6:
            ya, va, ka, sa, ta, la, ha = (a[live] for a in (ya, va, ka, sa, ta, la, ha))
            idx = idx[live]
            live = np.ones(idx.size, dtype=bool)
        s, ds, info = _equation_batch(meth, ya, va, ka, ta)
        la = np.where(s > 0.0, np.maximum(la, ta), la)
        ha = np.where(s < 0.0, np.minimum(ha, ta), ha)
        newton = ds < 0.0
        step = np.where(newton, -s / np.where(newton, ds, -1.0), s / info)
        new = ta + step
        outside = ~((la < new) & (new < ha)) | ~np.isfinite(new)
        fallback = np.where(np.isfinite(ha), 0.5 * (la + ha), 2.0 * np.maximum(ta, sa))
        new = np.where(outside, fallback, new)
        new = np.where(s == 0.0, ta, new)
        change = np.abs(new - ta)
        done = (
            (change <= tol * (new + sa))
            | ((ha - la) <= tol * (la + sa))
            | (newton & ~outside & (change <= _NEWTON_DONE * (new + sa)))
        )
        ta = np.where(live, new, ta)
        out = idx[live]
        tau2[out] = ta[live]
        iters[out] = it
        conv[idx[live & done]] = True
        live &= ~done
    return tau2, iters, conv


# Where each row's score is checked for a second maximum: fractions of the row's t_max
# (beyond which the score is negative, as in _core._likelihood_maxima), 8 per decade as
# there, down to 1e-5 of it.
_GRID = np.geomspace(1e-5, 1.0, 41)


def _two_maxima(
    meth: Method, y: np.ndarray, v_inf: np.ndarray, k: np.ndarray, tau2: np.ndarray
) -> np.ndarray:
    """Rows whose likelihood may have more than one interior maximum: the score changes
    sign from + to - more than once on a grid of tau2 values. Newton from the DL value
    finds one of them; such rows are solved as random_effects() solves them."""
    rows = np.flatnonzero(np.isfinite(tau2))
    if rows.size == 0:
        return rows
    ya, va, ka = y[rows], v_inf[rows], k[rows]
    present = np.isfinite(va)
    rss = _dot(ya, ya)  # y is centred
    c = ka - 1.0 if meth is Method.REML else ka
    vmax = np.max(np.where(present, va, 0.0), axis=1)
    t_max = (rss + np.sqrt(rss * rss + 4.0 * c * rss * vmax)) / (2.0 * c)
    drops = np.zeros(rows.size, dtype=int)
    before = _score_positive(meth, ya, va, np.zeros(rows.size))
    for fraction in _GRID:
        now = _score_positive(meth, ya, va, fraction * t_max)
        drops += before & ~now
        before = now
    return rows[drops > 1]


def _score_positive(meth: Method, y: np.ndarray, v_inf: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Whether each row's score (as _equation_batch's S, without its other parts) is > 0."""
    w = 1.0 / (v_inf + t[:, None])
    sw = _row_sums(w)
    e = y - (_dot(w, y) / sw)[:, None]
    we = w * e
    s = _dot(we, we) - sw
    if meth is Method.REML:
        s += _dot(w, w) / sw
    return s > 0.0


def _ll0check(
    meth: Method,
    y: np.ndarray,
    v_inf: np.ndarray,
    w0: np.ndarray,
    q0: np.ndarray,
    tau2: np.ndarray,
) -> np.ndarray:
    """metafor's ll0check: tau2 = 0 where the likelihood there beats the root found."""
    pos = np.flatnonzero(np.isfinite(tau2) & (tau2 > 0))
    if pos.size == 0:
        return tau2
    t = tau2[pos]
    w = v_inf[pos] + t[:, None]
    np.reciprocal(w, out=w)
    sw, _, q = _wmean_q(w, y[pos])
    # ll(t) - ll(0) without the constants; log(v + t) - log(v) = log1p(t / v)
    diff = -0.5 * _row_sums(np.log1p(t[:, None] * w0[pos])) - 0.5 * (q - q0[pos])
    if meth is Method.REML:
        diff -= 0.5 * np.log(sw / _row_sums(w0[pos]))
    out = tau2.copy()
    out[pos[-diff > _LL0_TOL]] = 0.0
    return out
