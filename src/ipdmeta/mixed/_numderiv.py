"""Central differences refined by Richardson extrapolation.

lmerTest takes the Hessian of the deviance and the Jacobian of Var(beta) numerically
(numDeriv, Richardson's method); doing the same here, with the same step rules, gives the
same Satterthwaite degrees of freedom, including at a boundary (theta = 0).

Every evaluation point is known before any value is needed, so the functions take a
vectorised ``fun_many(points) -> values`` and evaluate all points in one call; the fast
path of a random-intercept model answers such a call in one batch.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# numDeriv's defaults: h = D * |x| + EPS where |x| is (numerically) zero, then halved
# R - 1 times; jacobian() uses D = 1e-4 and hessian() (genD) starts from D = 0.1.
D_JAC = 1e-4
D_HESS = 0.1
EPS = 1e-4
ZERO_TOL = float(np.sqrt(np.finfo(float).eps / 7e-7))
R = 4
V = 2.0

FunMany = Callable[[np.ndarray], np.ndarray]


def _steps(x: np.ndarray, d: float) -> np.ndarray:
    return d * np.abs(x) + EPS * (np.abs(x) < ZERO_TOL)


def _richardson(estimates: list[np.ndarray]) -> np.ndarray:
    # Estimates at h, h/V, h/V^2, ...; the error terms are even powers of h.
    table = [np.asarray(e, dtype=float) for e in estimates]
    for m in range(1, len(table)):
        f = 4.0**m
        table = [(f * table[k + 1] - table[k]) / (f - 1.0) for k in range(len(table) - 1)]
    return table[0]


def jacobian(fun_many: FunMany, x: np.ndarray) -> np.ndarray:
    """d fun / d x: array of shape fun(x).shape + (len(x),) (numDeriv's jacobian)."""
    x = np.asarray(x, dtype=float)
    k = x.size
    h0 = _steps(x, D_JAC)
    pts = []
    for i in range(k):
        for r in range(R):
            h = h0[i] / V**r
            up, dn = x.copy(), x.copy()
            up[i] += h
            dn[i] -= h
            pts += [up, dn]
    vals = np.asarray(fun_many(np.array(pts)))
    cols = []
    pos = 0
    for i in range(k):
        ests = []
        for r in range(R):
            h = h0[i] / V**r
            ests.append((vals[pos] - vals[pos + 1]) / (2.0 * h))
            pos += 2
        cols.append(_richardson(ests))
    return np.stack(cols, axis=-1)


def hessian(fun_many: FunMany, x: np.ndarray) -> np.ndarray:
    """Second derivatives of a scalar function by numDeriv's genD scheme: diagonal terms
    first, off-diagonal terms from f(x + h_i + h_j) and f(x - h_i - h_j) less the diagonal."""
    x = np.asarray(x, dtype=float)
    k = x.size
    h0 = _steps(x, D_HESS)
    pts = [x.copy()]
    for i in range(k):
        for r in range(R):
            h = h0[i] / V**r
            up, dn = x.copy(), x.copy()
            up[i] += h
            dn[i] -= h
            pts += [up, dn]
    for i in range(k):
        for j in range(i):
            for r in range(R):
                hi, hj = h0[i] / V**r, h0[j] / V**r
                up, dn = x.copy(), x.copy()
                up[i] += hi
                up[j] += hj
                dn[i] -= hi
                dn[j] -= hj
                pts += [up, dn]
    vals = np.asarray(fun_many(np.array(pts)), dtype=float)
    f0 = vals[0]
    H = np.zeros((k, k))
    pos = 1
    for i in range(k):
        ests = []
        for r in range(R):
            h = h0[i] / V**r
            ests.append(np.array((vals[pos] - 2.0 * f0 + vals[pos + 1]) / (h * h)))
            pos += 2
        H[i, i] = float(_richardson(ests))
    for i in range(k):
        for j in range(i):
            ests = []
            for r in range(R):
                hi, hj = h0[i] / V**r, h0[j] / V**r
                num = vals[pos] - 2.0 * f0 + vals[pos + 1] - H[i, i] * hi**2 - H[j, j] * hj**2
                ests.append(np.array(num / (2.0 * hi * hj)))
                pos += 2
            H[i, j] = H[j, i] = float(_richardson(ests))
    return H
