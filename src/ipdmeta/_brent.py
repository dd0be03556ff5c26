"""Brent's method for a root of a function of one variable, bracketed by a sign change.

The variance searches of the mixed models and the Q-profile interval of the two-stage
analysis need only this from scipy.optimize, whose import (about 0.1 s: it loads its
linear-programming and global-optimisation modules too) was a twentieth of ``ipdmeta
run`` on the example. The algorithm is Brent's (Algorithms for Minimization without
Derivatives, 1973, chapter 4): inverse quadratic interpolation or the secant step where
they stay inside the bracket and shrink it fast enough, bisection otherwise. It stops as
scipy's ``brentq`` does, when the bracket is narrower than ``xtol + rtol * |x|``.
"""

from __future__ import annotations

from collections.abc import Callable

from ipdmeta.errors import ConvergenceError

__all__ = ["find_root"]

_EPS = 2.220446049250313e-16


def find_root(
    f: Callable[[float], float],
    a: float,
    b: float,
    *,
    xtol: float = 2e-12,
    rtol: float = 4 * _EPS,
    maxiter: int = 100,
) -> float:
    """A root of ``f`` in [a, b], where f(a) and f(b) differ in sign, to within
    ``xtol + rtol * |root|``. ValueError when they do not differ; ConvergenceError
    after ``maxiter`` evaluations without reaching the tolerance."""
    fa, fb = float(f(a)), float(f(b))
    if fa == 0.0:
        return float(a)
    if fb == 0.0:
        return float(b)
    if (fa > 0.0) == (fb > 0.0):
        raise ValueError(f"f({a}) = {fa} and f({b}) = {fb} have the same sign: no bracket")
    a, b = float(a), float(b)
    # b is the best estimate; the root lies between b and c; a is the previous b.
    c, fc = a, fa
    d = e = b - a
    for _ in range(maxiter):
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol = 0.5 * (xtol + rtol * abs(b))
        half = 0.5 * (c - b)
        if abs(half) <= tol or fb == 0.0:
            return b
        if abs(e) >= tol and abs(fa) > abs(fb):
            s = fb / fa
            if a == c:  # two points: the secant step
                p, q = 2.0 * half * s, 1.0 - s
            else:  # three: inverse quadratic interpolation
                qa, r = fa / fc, fb / fc
                p = s * (2.0 * half * qa * (qa - r) - (b - a) * (r - 1.0))
                q = (qa - 1.0) * (r - 1.0) * (s - 1.0)
            if p > 0.0:
                q = -q
            else:
                p = -p
            # Take the interpolated step only if it falls well inside the bracket and
            # shrinks faster than bisection would have two steps ago.
            if 2.0 * p < min(3.0 * half * q - abs(tol * q), abs(e * q)):
                e, d = d, p / q
            else:
                d = e = half
        else:
            d = e = half
        a, fa = b, fb
        b += d if abs(d) > tol else (tol if half > 0.0 else -tol)
        fb = float(f(b))
        if (fb > 0.0) == (fc > 0.0):
            c, fc = a, fa
            d = e = b - a
    raise ConvergenceError(f"no root to the tolerance after {maxiter} steps of Brent's method")
