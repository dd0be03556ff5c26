"""The numerics of a generalized linear mixed model with one random intercept per group.

For a binomial (logit link) or Poisson (log link) response and the linear predictor
``eta = offset + X beta + theta * u[group]``, ``u ~ N(0, 1)``, the marginal likelihood of
each group is an integral over its ``u``. As lme4's ``glmer``, it is approximated at the
conditional mode of ``u`` (found by Newton's method, group by group): by the Laplace
approximation (``nagq = 1``) or by adaptive Gauss-Hermite quadrature with ``nagq`` nodes
centred at the mode and scaled by the curvature there. The objective is the deviance,
-2 log L, with the response's own normalising constants (the binomial coefficient,
``log y!``), so that it equals lme4's ``-2 * logLik``.

The deviance is minimised over ``(theta, beta)`` jointly, as glmer's second stage does:
first by L-BFGS-B from the fit without random effects, then by Newton steps on a central
finite-difference Hessian, which converge past any stopping rule and give the Hessian
that the covariance of ``beta`` is taken from (lme4's ``vcov``, ``use.hessian = TRUE``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from ipdmeta.errors import ConvergenceError

__all__ = ["Family", "GlmmFit", "GlmmProblem", "fit_glmm"]

_MODE_TOL = 1e-12  # Newton on each group's mode: |step| below this
_MODE_ITERATIONS = 100
_NEWTON_ITERATIONS = 50


@dataclass(frozen=True)
class Family:
    """A response distribution with its canonical link."""

    name: str  # "binomial" or "poisson"

    @property
    def link(self) -> str:
        return "logit" if self.name == "binomial" else "log"

    def mean(self, eta: np.ndarray, trials: np.ndarray) -> np.ndarray:
        """The expected response (count of successes, or events)."""
        if self.name == "binomial":
            return np.asarray(trials * special.expit(eta))
        return np.exp(eta)

    def weight(self, eta: np.ndarray, trials: np.ndarray) -> np.ndarray:
        """The variance of the response, which for a canonical link is d mean / d eta."""
        if self.name == "binomial":
            p = special.expit(eta)
            return np.asarray(trials * p * (1.0 - p))
        return np.exp(eta)

    def loglik(self, y: np.ndarray, eta: np.ndarray, trials: np.ndarray) -> np.ndarray:
        """Each row's log-likelihood, normalising constant included."""
        if self.name == "binomial":
            return np.asarray(y * eta - trials * np.logaddexp(0.0, eta) + _log_choose(trials, y))
        return np.asarray(y * eta - np.exp(eta) - special.gammaln(y + 1.0))

    def inverse_link(self, eta: np.ndarray) -> np.ndarray:
        return np.asarray(special.expit(eta) if self.name == "binomial" else np.exp(eta))

    def inverse_link_derivative(self, eta: np.ndarray) -> np.ndarray:
        if self.name == "binomial":
            p = special.expit(eta)
            return np.asarray(p * (1.0 - p))
        return np.exp(eta)


def _log_choose(n: np.ndarray, k: np.ndarray) -> np.ndarray:
    return np.asarray(
        special.gammaln(n + 1.0) - special.gammaln(k + 1.0) - special.gammaln(n - k + 1.0)
    )


@dataclass(frozen=True)
class GlmmProblem:
    """What is fitted: response, trials, offset, fixed-effects matrix and group codes."""

    family: Family
    y: np.ndarray
    trials: np.ndarray
    offset: np.ndarray
    X: np.ndarray
    groups: np.ndarray  # group index of each row, 0..q-1
    q: int
    nagq: int

    def sum_by_group(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(self.groups, weights=values, minlength=self.q)

    def modes(self, theta: float, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each group's conditional mode of u, and the curvature there (theta^2 W + 1)."""
        fixed = self.offset + self.X @ beta
        u = np.zeros(self.q)
        for _ in range(_MODE_ITERATIONS):
            eta = fixed + theta * u[self.groups]
            residual = self.y - self.family.mean(eta, self.trials)
            gradient = theta * self.sum_by_group(residual) - u
            curvature = (
                theta * theta * self.sum_by_group(self.family.weight(eta, self.trials)) + 1.0
            )
            step = gradient / curvature
            u = self._damped(fixed, theta, u, step)
            if np.max(np.abs(step)) < _MODE_TOL:
                break
        else:
            raise ConvergenceError("the conditional modes of the random effects did not converge")
        eta = fixed + theta * u[self.groups]
        return u, self._curvature(eta, theta)

    def _curvature(self, eta: np.ndarray, theta: float) -> np.ndarray:
        """Minus the second derivative of each group's objective in u: theta^2 W + 1."""
        return theta * theta * self.sum_by_group(self.family.weight(eta, self.trials)) + 1.0

    def _group_objective(self, fixed: np.ndarray, theta: float, u: np.ndarray) -> np.ndarray:
        eta = fixed + theta * u[self.groups]
        return self.sum_by_group(self.family.loglik(self.y, eta, self.trials)) - 0.5 * u * u

    def _damped(
        self, fixed: np.ndarray, theta: float, u: np.ndarray, step: np.ndarray
    ) -> np.ndarray:
        """u + step, halved for any group whose objective would fall (each group's
        objective is concave, so a full Newton step is taken near the mode)."""
        before = self._group_objective(fixed, theta, u)
        new = u + step
        for _ in range(30):
            worse = self._group_objective(fixed, theta, new) < before - 1e-12 * np.abs(before)
            if not worse.any():
                break
            step = np.where(worse, step / 2.0, step)
            new = u + step
        return new

    def deviance(self, theta: float, beta: np.ndarray) -> float:
        """-2 log L by the Laplace approximation or adaptive Gauss-Hermite quadrature."""
        theta = abs(theta)  # the deviance is even in theta
        u, curvature = self.modes(theta, beta)
        fixed = self.offset + self.X @ beta
        if self.nagq == 1:
            eta = fixed + theta * u[self.groups]
            loglik = self.sum_by_group(self.family.loglik(self.y, eta, self.trials))
            return float(np.sum(-2.0 * loglik + u * u + np.log(curvature)))
        nodes, weights = np.polynomial.hermite.hermgauss(self.nagq)
        scale = np.sqrt(2.0 / curvature)  # sqrt(2) times the sd of u at the mode
        terms = np.empty((self.nagq, self.q))
        for k, (z, w) in enumerate(zip(nodes, weights, strict=True)):
            uk = u + scale * z
            eta = fixed + theta * uk[self.groups]
            loglik = self.sum_by_group(self.family.loglik(self.y, eta, self.trials))
            terms[k] = np.log(w) + z * z + loglik - 0.5 * uk * uk
        log_l = special.logsumexp(terms, axis=0) + np.log(scale) - 0.5 * np.log(2.0 * np.pi)
        return float(-2.0 * np.sum(log_l))


@dataclass(frozen=True)
class GlmmFit:
    theta: float
    beta: np.ndarray
    deviance: float
    hessian: np.ndarray  # of the deviance in (theta, beta)
    modes: np.ndarray  # conditional modes of u
    curvature: np.ndarray  # theta^2 W + 1 at the modes
    singular: bool
    iterations: int


def _glm_start(problem: GlmmProblem) -> np.ndarray:
    """beta of the model without random effects (iteratively reweighted least squares)."""
    family, X = problem.family, problem.X
    beta = np.zeros(X.shape[1])
    for _ in range(100):
        eta = problem.offset + X @ beta
        w = family.weight(eta, problem.trials) + 1e-10
        z = eta - problem.offset + (problem.y - family.mean(eta, problem.trials)) / w
        new = np.linalg.lstsq(X * np.sqrt(w)[:, None], z * np.sqrt(w), rcond=None)[0]
        if np.max(np.abs(new - beta)) < 1e-10:
            return np.asarray(new)
        beta = new
    return beta


def _objective(problem: GlmmProblem, params: np.ndarray) -> float:
    return problem.deviance(float(params[0]), params[1:])


def _steps(params: np.ndarray) -> np.ndarray:
    return 1e-4 * np.maximum(np.abs(params), 0.1)


def _gradient_hessian(problem: GlmmProblem, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Central finite differences of the deviance."""
    k = params.size
    h = _steps(params)
    f0 = _objective(problem, params)
    gradient = np.empty(k)
    hessian = np.empty((k, k))
    plus = np.empty(k)
    minus = np.empty(k)
    for i in range(k):
        e = np.zeros(k)
        e[i] = h[i]
        plus[i] = _objective(problem, params + e)
        minus[i] = _objective(problem, params - e)
        gradient[i] = (plus[i] - minus[i]) / (2.0 * h[i])
        hessian[i, i] = (plus[i] - 2.0 * f0 + minus[i]) / (h[i] * h[i])
    for i in range(k):
        for j in range(i + 1, k):
            ei = np.zeros(k)
            ej = np.zeros(k)
            ei[i], ej[j] = h[i], h[j]
            fpp = _objective(problem, params + ei + ej)
            fmm = _objective(problem, params - ei - ej)
            # f(x+ei+ej) + f(x-ei-ej) - f(x+ei) - f(x-ei) - f(x+ej) - f(x-ej) + 2 f(x)
            hessian[i, j] = hessian[j, i] = (
                fpp + fmm - plus[i] - minus[i] - plus[j] - minus[j] + 2.0 * f0
            ) / (2.0 * h[i] * h[j])
    return gradient, hessian


def fit_glmm(problem: GlmmProblem, diverging: bool = False) -> GlmmFit:
    """Minimise the deviance. ``diverging``: an estimate is known to run off to infinity
    (separation), so the fit stops where the Newton steps stop helping instead of failing.
    """
    from scipy import optimize

    beta0 = _glm_start(problem)
    start = np.concatenate([[1.0], beta0])
    bounds = [(0.0, None)] + [(None, None)] * beta0.size
    first = optimize.minimize(
        lambda p: _objective(problem, p),
        start,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9},
    )
    params = np.asarray(first.x, dtype=float)
    singular = params[0] < 1e-4  # lme4's isSingular tolerance on theta
    if singular:
        params[0] = 0.0
    # Newton steps on the free parameters (beta alone when theta is at its bound).
    free = np.arange(1 if singular else 0, params.size)
    iterations = 0
    for _ in range(_NEWTON_ITERATIONS):
        iterations += 1
        gradient, hessian = _gradient_hessian(problem, params)
        g, H = gradient[free], hessian[np.ix_(free, free)]
        step = np.zeros_like(params)
        try:
            step[free] = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            if diverging:
                break
            raise ConvergenceError("the fit did not converge: its Hessian is singular") from None
        if np.all(np.linalg.eigvalsh(H) > 0):
            current = _objective(problem, params)
            t = 1.0
            while _objective(problem, params - t * step) > current + 1e-12 and t > 1e-6:
                t /= 2.0
            params = params - t * step
        if np.max(np.abs(step) / np.maximum(np.abs(params), 1.0)) < 1e-10:
            break
    else:
        if not diverging:
            raise ConvergenceError(
                "the fit did not converge: Newton steps on (theta, beta) kept moving"
            )
    params[0] = abs(params[0])
    _, hessian = _gradient_hessian(problem, params)
    u, curvature = problem.modes(float(params[0]), params[1:])
    return GlmmFit(
        theta=float(params[0]),
        beta=params[1:].copy(),
        deviance=_objective(problem, params),
        hessian=hessian,
        modes=u,
        curvature=curvature,
        singular=bool(singular),
        iterations=iterations,
    )
