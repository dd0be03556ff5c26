"""Confidence intervals of a GLMM fit as ``lme4::confint.merMod``: Wald, profile
likelihood and parametric bootstrap.

The profile of one parameter fixes it and minimises the deviance over the others; its
signed square root ``zeta`` is found where it crosses the normal quantile by root
finding (lme4 interpolates a spline through a grid of profile points instead, which the
reference suite makes fine enough to agree with the root).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import special

from ipdmeta._brent import find_root
from ipdmeta.errors import ConvergenceError, ModelSpecError
from ipdmeta.mixed._glmm_batch import refit_batch
from ipdmeta.mixed._glmm_fit import GlmmProblem

if TYPE_CHECKING:
    from ipdmeta.mixed._glmm_model import GlmmResult

__all__ = [
    "bootstrap_replicates",
    "parameter_indices",
    "parameter_names",
    "profile_intervals",
    "profile_pvalue",
    "wald_intervals",
]

_MAX_EXPANSIONS = 40  # brackets grow by half a Wald width at a time


def parameter_names(fit: GlmmResult) -> list[str]:
    """lme4's names: the random intercept's SD, then the fixed effects."""
    return [f"sd_{fit.effect}|{fit.group}", *fit.design.x_names]


def _estimates(fit: GlmmResult) -> np.ndarray:
    return np.concatenate([[fit.theta], fit.coef.to_numpy()])


def wald_intervals(fit: GlmmResult, level: float) -> pd.DataFrame:
    """Fixed effects: estimate -/+ z se; the SD has no Wald interval (NaN), as lme4."""
    z = float(special.ndtri(0.5 + level / 2.0))
    est = _estimates(fit)
    se = np.concatenate([[np.nan], np.sqrt(np.diag(fit._vcov()))])
    return _frame(fit, est, est - z * se, est + z * se)


def profile_intervals(
    fit: GlmmResult, level: float, terms: Sequence[str] | None = None
) -> pd.DataFrame:
    """Profile-likelihood intervals of every parameter, or of those named in ``terms``."""
    names = parameter_names(fit)
    indices = parameter_indices(fit, terms)
    optimum = _estimates(fit)
    z = float(special.ndtri(0.5 + level / 2.0))
    wald_se = np.concatenate([[max(fit.theta, 0.1)], np.sqrt(np.diag(fit._vcov()))])
    lower = np.full(optimum.size, np.nan)
    upper = np.full(optimum.size, np.nan)
    for index in indices:

        def zeta(value: float, index: int = index) -> float:
            return _zeta(fit, optimum, index, value)

        for direction, out in ((-1.0, lower), (1.0, upper)):
            target = direction * z
            step = 0.5 * z * wald_se[index]
            near = optimum[index]
            for _ in range(_MAX_EXPANSIONS):
                far = near + direction * step
                if index == 0 and far <= 0.0:  # the SD's profile can end at its bound
                    far = 0.0
                    if direction * (zeta(far) - target) < 0:
                        out[index] = 0.0
                        break
                if direction * (zeta(far) - target) >= 0:

                    def crossing(v: float, t: float = target) -> float:
                        return zeta(v) - t

                    out[index] = find_root(
                        crossing, min(near, far), max(near, far), xtol=1e-10, rtol=1e-10
                    )
                    break
                near = far
            else:
                raise ConvergenceError(
                    f"the profile of {names[index]} does not reach the {100 * level:g} % limit"
                )
    return _frame(fit, optimum, lower, upper).iloc[indices].reset_index(drop=True)


def profile_pvalue(fit: GlmmResult, term: str) -> float:
    """The likelihood-ratio test of a fixed effect being 0, the other parameters profiled:
    the p-value whose inversion is the profile interval."""
    (index,) = parameter_indices(fit, [term])
    if index == 0:
        raise ModelSpecError("the profile test is for a fixed effect, not the random SD")
    statistic = _zeta(fit, _estimates(fit), index, 0.0)
    return float(2.0 * special.ndtr(-abs(statistic)))


def _zeta(fit: GlmmResult, optimum: np.ndarray, index: int, value: float) -> float:
    """The signed square root of the deviance increase with parameter ``index`` fixed."""
    # Under separation (fit.notes) the batched steps' conditional modes can fail slowly
    # at the huge estimates: L-BFGS-B, which says so at once.
    hessian = None if fit.notes else fit._fit.hessian
    deviance = _profiled_deviance(fit.problem, optimum, hessian, index, value)
    return float(np.sign(value - optimum[index]) * np.sqrt(max(deviance - fit.deviance, 0.0)))


def parameter_indices(fit: GlmmResult, terms: Sequence[str] | None) -> list[int]:
    names = parameter_names(fit)
    if terms is None:
        return list(range(len(names)))
    unknown = [t for t in terms if t not in names]
    if unknown:
        raise ModelSpecError(
            f"no parameter {', '.join(map(repr, unknown))}; parameters: {', '.join(names)}"
        )
    return [names.index(t) for t in terms]


def _profiled_deviance(
    problem: GlmmProblem,
    optimum: np.ndarray,
    hessian: np.ndarray | None,
    index: int,
    value: float,
) -> float:
    """The deviance minimised over every parameter but ``index``, which is ``value``:
    quasi-Newton steps from the optimum, whose ``hessian`` is their first curvature;
    L-BFGS-B where they fail, or without a Hessian."""
    if hessian is not None:
        start = optimum.copy()
        start[index] = value
        found = refit_batch(problem, problem.y[None, :], start, hessian, fixed=index)[0]
        if np.all(np.isfinite(found)):
            return problem.deviance(float(found[0]), found[1:])
    from scipy import optimize

    free = np.array([i for i in range(optimum.size) if i != index])

    def full(params: np.ndarray) -> np.ndarray:
        out = optimum.copy()
        out[free] = params
        out[index] = value
        return out

    def objective(params: np.ndarray) -> tuple[float, np.ndarray]:
        p = full(params)
        deviance, gradient = problem.deviance_and_gradient(p[0], p[1:])  # one pass for both
        return deviance, gradient[free]

    bounds = [(0.0, None) if i == 0 else (None, None) for i in free]
    result = optimize.minimize(
        objective,
        optimum[free],
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-10},
    )
    return float(result.fun)


def bootstrap_replicates(fit: GlmmResult, n: int, seed: int | None) -> pd.DataFrame:
    """Refits to responses simulated from the fit (``bootMer``): new random intercepts
    drawn for every group, then each response from its binomial or Poisson law."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ModelSpecError(f"n must be a whole number of refits, 1 or more; got {n!r}")
    problem = fit.problem
    rng = np.random.default_rng(seed)
    fixed = problem.offset + problem.X @ fit.coef.to_numpy()
    Y = np.empty((n, problem.y.size))
    for i in range(n):
        b = rng.normal(0.0, fit.theta, problem.q)
        eta = fixed + problem.spread(b)
        if problem.family.name == "binomial":
            Y[i] = rng.binomial(problem.trials.astype(np.int64), special.expit(eta))
        else:
            Y[i] = rng.poisson(np.exp(eta))
    rows = refit_batch(problem, Y, _estimates(fit), fit._fit.hessian)  # every refit at once
    return pd.DataFrame(rows, columns=parameter_names(fit))


def _frame(fit: GlmmResult, est: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {"term": parameter_names(fit), "estimate": est, "ci_lower": lo, "ci_upper": hi}
    )
