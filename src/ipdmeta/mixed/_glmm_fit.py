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
first by L-BFGS-B from the fit without random effects, with the exact gradient, then by
Newton steps on the Hessian (central differences of the exact gradient), which converge
past any stopping rule and give the Hessian that the covariance of ``beta`` is taken
from (lme4's ``vcov``, ``use.hessian = TRUE``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from scipy import sparse, special

from ipdmeta.errors import ConvergenceError

__all__ = ["Family", "GlmmFit", "GlmmProblem", "fit_glmm", "glm_fit", "glmm_hessian"]

_MODE_TOL = 1e-12  # Newton on each group's mode: |step| below this
_MODE_ITERATIONS = 100
_NEWTON_ITERATIONS = 50
_QUADRATIC_STEP = 1e-7  # a whole Newton step below this (relative) ends the polish
# Up to this many cells (8 MB), the group indicator is a dense matrix.
_DENSE_INDICATOR_CELLS = 1_000_000
# A coefficient this large on the link scale (odds of e^10 = 22,000) is running off to
# infinity under separation, not converging to a finite value.
_RUNAWAY = 10.0
# A fit that ends with theta on its bound checks the deviance's slope this far inside.
_BOUNDARY_PROBE = 1e-3


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

    def weight_derivative(self, eta: np.ndarray, trials: np.ndarray) -> np.ndarray:
        """d weight / d eta."""
        if self.name == "binomial":
            p = special.expit(eta)
            return np.asarray(trials * p * (1.0 - p) * (1.0 - 2.0 * p))
        return np.exp(eta)

    def loglik(self, y: np.ndarray, eta: np.ndarray, trials: np.ndarray) -> np.ndarray:
        """Each row's log-likelihood without its normalising constant (which does not
        depend on the parameters; see :meth:`constant`)."""
        if self.name == "binomial":
            return np.asarray(y * eta - trials * np.logaddexp(0.0, eta))
        return np.asarray(y * eta - np.exp(eta))

    def constant(self, y: np.ndarray, trials: np.ndarray) -> np.ndarray:
        """Each row's normalising constant: log C(trials, y), or -log y!."""
        if self.name == "binomial":
            return _log_choose(trials, y)
        return np.asarray(-special.gammaln(y + 1.0))

    def inverse_link(self, eta: np.ndarray) -> np.ndarray:
        return np.asarray(special.expit(eta) if self.name == "binomial" else np.exp(eta))

    def inverse_link_derivative(self, eta: np.ndarray) -> np.ndarray:
        if self.name == "binomial":
            p = special.expit(eta)
            return np.asarray(p * (1.0 - p))
        return np.exp(eta)


def _log_sum_exp(terms: np.ndarray) -> np.ndarray:
    """log(sum(exp(terms), axis=0)) without overflow: scipy's logsumexp does the same with
    checks that cost more than the sum on a fit's small arrays."""
    top = terms.max(axis=0)
    return top + np.log(np.exp(terms - top).sum(axis=0))


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
    # The random effect's value in each row: None for a random intercept (1 in every
    # row), or a numeric column for a random slope without intercept, (0 + x | group).
    slope: np.ndarray | None = None
    # The last modes found, by parameters: the deviance and its gradient at one point
    # share them, and the next point's search starts from them.
    _modes: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def sum_by_group(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(self.groups, weights=values, minlength=self.q)

    @cached_property
    def _z(self) -> np.ndarray:
        return np.ones(self.groups.size) if self.slope is None else self.slope

    def spread(self, u: np.ndarray) -> np.ndarray:
        """Each row's random effect for group effects ``u`` (q, or K x q)."""
        rows = u[..., self.groups]
        return rows if self.slope is None else rows * self.slope

    @cached_property
    def _group_constant(self) -> np.ndarray:
        """Each group's sum of the rows' normalising constants, computed once."""
        return self.sum_by_group(self.family.constant(self.y, self.trials))

    @cached_property
    def _indicator(self) -> sparse.csr_matrix | np.ndarray:
        """q x n: row i sums the rows of group i. Dense while small: a sparse product's
        overhead (about 20 us) was most of a small fit's group sums."""
        n = self.groups.size
        if self.q * n <= _DENSE_INDICATOR_CELLS:
            dense = np.zeros((self.q, n))
            dense[self.groups, np.arange(n)] = 1.0
            return dense
        return sparse.csr_matrix((np.ones(n), (self.groups, np.arange(n))), shape=(self.q, n))

    def sum_rows_by_group(self, values: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        """q x p: for each group, the sum over its rows of ``values * matrix``."""
        return np.asarray(self._indicator @ (values[:, None] * matrix))

    def modes(self, theta: float, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each group's conditional mode of u, and the curvature there (theta^2 W + 1)."""
        key = np.concatenate([[theta], beta]).tobytes()
        if self._modes.get("key") == key:
            return self._modes["u"], self._modes["c"]
        fixed = self.offset + self.X @ beta
        u = np.array(self._modes.get("u", np.zeros(self.q)))
        objective = self._group_objective(fixed, theta, u)
        for _ in range(_MODE_ITERATIONS):
            eta = fixed + theta * self.spread(u)
            residual = self.y - self.family.mean(eta, self.trials)
            step = (theta * self.sum_by_group(self._z * residual) - u) / self._curvature(eta, theta)
            u, objective = self._damped(fixed, theta, u, objective, step)
            if np.max(np.abs(step)) < _MODE_TOL:
                break
        else:
            raise ConvergenceError("the conditional modes of the random effects did not converge")
        eta = fixed + theta * self.spread(u)
        curvature = self._curvature(eta, theta)
        self._modes.update(key=key, u=u, c=curvature)
        return u, curvature

    def _curvature(self, eta: np.ndarray, theta: float) -> np.ndarray:
        """Minus the second derivative of each group's objective in u: theta^2 W + 1, W the
        group's sum of z^2 w."""
        w = self.family.weight(eta, self.trials)
        return theta * theta * self.sum_by_group(self._z**2 * w) + 1.0

    def _group_objective(self, fixed: np.ndarray, theta: float, u: np.ndarray) -> np.ndarray:
        eta = fixed + theta * self.spread(u)
        return self.sum_by_group(self.family.loglik(self.y, eta, self.trials)) - 0.5 * u * u

    def _damped(
        self,
        fixed: np.ndarray,
        theta: float,
        u: np.ndarray,
        objective: np.ndarray,
        step: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """u + step and its objective, the step halved for any group whose objective
        would fall (each group's objective is concave, so near the mode a full Newton
        step is taken and checked once)."""
        for _ in range(30):
            new = u + step
            new_objective = self._group_objective(fixed, theta, new)
            # Rounding of objectives near 0 (a group whose patients all responded) is not
            # a fall: the slack is relative to the objective's size or 1.
            worse = new_objective < objective - 1e-12 * np.maximum(np.abs(objective), 1.0)
            if not worse.any():
                break
            step = np.where(worse, step / 2.0, step)
        return new, new_objective

    def deviance(self, theta: float, beta: np.ndarray) -> float:
        """-2 log L by the Laplace approximation or adaptive Gauss-Hermite quadrature."""
        theta = abs(theta)  # the deviance is even in theta
        u, curvature = self.modes(theta, beta)
        fixed = self.offset + self.X @ beta
        if self.nagq == 1:
            eta = fixed + theta * self.spread(u)
            loglik = self.sum_by_group(self.family.loglik(self.y, eta, self.trials))
            loglik = loglik + self._group_constant
            return float(np.sum(-2.0 * loglik + u * u + np.log(curvature)))
        scale = np.sqrt(2.0 / curvature)  # sqrt(2) times the sd of u at the mode
        terms = self._node_terms(fixed, theta, u, scale)[0]
        log_l = (
            _log_sum_exp(terms) + self._group_constant + np.log(scale) - 0.5 * np.log(2.0 * np.pi)
        )
        return float(-2.0 * np.sum(log_l))

    @cached_property
    def _rule(self) -> tuple[np.ndarray, np.ndarray]:
        """Gauss-Hermite nodes and weights (for the integral of f(z) exp(-z^2))."""
        nodes, weights = np.polynomial.hermite.hermgauss(self.nagq)
        return nodes, weights

    def _group_sums(self, values: np.ndarray) -> np.ndarray:
        """K x q: each row of the K x n ``values`` summed by group."""
        return np.asarray(self._indicator @ values.T).T

    def _node_terms(
        self, fixed: np.ndarray, theta: float, u: np.ndarray, scale: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """At every quadrature node at once (rows k): each group's log integrand at
        ``u + scale * z_k`` (without the normalising constants, which shift every node
        alike), the nodes and the linear predictor there."""
        z, w = self._rule
        uk = u[None, :] + scale[None, :] * z[:, None]
        eta = fixed[None, :] + theta * self.spread(uk)
        loglik = self._group_sums(self.family.loglik(self.y, eta, self.trials))
        terms = (np.log(w) + z * z)[:, None] + loglik - 0.5 * uk * uk
        return terms, uk, eta

    def gradient(self, theta: float, beta: np.ndarray) -> np.ndarray:
        return self.deviance_and_gradient(theta, beta)[1]

    def deviance_and_gradient(self, theta: float, beta: np.ndarray) -> tuple[float, np.ndarray]:
        """The deviance and d deviance / d (theta, beta), exactly, in one pass (the
        quadrature terms of the one are the weights of the other).

        The modes u depend on the parameters; at the mode the derivative of each group's
        objective in u is 0, and du/dp comes from differentiating that equation
        (implicit function theorem). The curvature c = theta^2 W + 1 depends on the
        parameters directly and through u; quadrature nodes move with u and c^(-1/2).
        """
        sign = -1.0 if theta < 0 else 1.0  # the deviance is even in theta
        theta = abs(theta)
        family, X = self.family, self.X
        u, c = self.modes(theta, beta)
        fixed = self.offset + X @ beta
        z_row = self._z
        eta = fixed + theta * self.spread(u)
        w = family.weight(eta, self.trials)
        dw = family.weight_derivative(eta, self.trials)
        r = self.y - family.mean(eta, self.trials)
        # With a random slope each row's terms carry its z (z = 1 for an intercept).
        W = self.sum_by_group(z_row**2 * w)
        du_db = -theta * self.sum_rows_by_group(z_row * w, X) / c[:, None]
        du_dt = (self.sum_by_group(z_row * r) - theta * W * u) / c
        Dw = self.sum_by_group(z_row**3 * dw)
        dW_db = self.sum_rows_by_group(z_row**2 * dw, X) + theta * Dw[:, None] * du_db
        dW_dt = Dw * (u + theta * du_dt)
        dc_db = theta * theta * dW_db
        dc_dt = 2.0 * theta * W + theta * theta * dW_dt
        if self.nagq == 1:
            # The terms through du vanish: the objective's derivative in u is 0 there.
            grad_b = -2.0 * (X.T @ r) + np.sum(dc_db / c[:, None], axis=0)
            grad_t = -2.0 * np.sum(self.sum_by_group(z_row * r) * u) + np.sum(dc_dt / c)
            loglik = self.sum_by_group(family.loglik(self.y, eta, self.trials))
            deviance = np.sum(-2.0 * (loglik + self._group_constant) + u * u + np.log(c))
            return float(deviance), np.concatenate([[sign * grad_t], grad_b])
        scale = np.sqrt(2.0 / c)
        dscale_db = -0.5 * (scale / c)[:, None] * dc_db  # d sqrt(2/c) = -sqrt(2/c) dc / 2c
        dscale_dt = -0.5 * scale / c * dc_dt
        z = self._rule[0]
        terms, uk, eta_k = self._node_terms(fixed, theta, u, scale)
        r_k = self.y - family.mean(eta_k, self.trials)  # K x n
        R_k = self._group_sums(r_k * z_row)
        slope = theta * R_k - uk  # d a_k / d u_k
        n, p = X.shape
        # For each node and group, the sum over the group's rows of r_k * X: one sparse
        # product over an n x (K p) matrix.
        weighted = (r_k.T[:, :, None] * X[:, None, :]).reshape(n, self.nagq * p)
        rows = np.asarray(self._indicator @ weighted).reshape(self.q, self.nagq, p)
        da_db = rows.transpose(1, 0, 2) + slope[:, :, None] * (
            du_db[None, :, :] + z[:, None, None] * dscale_db[None, :, :]
        )
        da_dt = R_k * uk + slope * (du_dt[None, :] + z[:, None] * dscale_dt[None, :])
        total = _log_sum_exp(terms)
        share = np.exp(terms - total)  # nagq x q, sums to 1
        grad_b = -2.0 * np.einsum("kq,kqp->p", share, da_db) + np.sum(dc_db / c[:, None], axis=0)
        grad_t = -2.0 * np.sum(share * da_dt) + np.sum(dc_dt / c)
        log_l = total + self._group_constant + np.log(scale) - 0.5 * np.log(2.0 * np.pi)
        return float(-2.0 * np.sum(log_l)), np.concatenate([[sign * grad_t], grad_b])


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


def glm_fit(problem: GlmmProblem) -> np.ndarray:
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


def _gradient(problem: GlmmProblem, params: np.ndarray) -> np.ndarray:
    return problem.gradient(float(params[0]), params[1:])


def glmm_hessian(problem: GlmmProblem, params: np.ndarray) -> np.ndarray:
    """Central differences of the exact gradient, made symmetric. The 2k gradients are
    evaluated side by side (``gradients_at``); one at a time where that fails."""
    from ipdmeta.mixed._glmm_batch import gradients_at

    k = params.size
    h = 1e-4 * np.maximum(np.abs(params), 0.1)
    steps = np.diag(h)
    gradients = gradients_at(problem, np.concatenate([params + steps, params - steps]))
    if gradients is None:  # a point's modes did not converge there: say where, one by one
        gradients = np.array(
            [_gradient(problem, point) for point in [*(params + steps), *(params - steps)]]
        )
    hessian = (gradients[:k] - gradients[k:]).T / (2.0 * h)
    return (hessian + hessian.T) / 2.0


@dataclass(frozen=True)
class _Found:
    """Where a search ended: its parameters and the deviance there (as scipy's result)."""

    x: np.ndarray
    fun: float


def _quasi_newton(problem: GlmmProblem, start: np.ndarray, hessian: np.ndarray) -> _Found | None:
    """BFGS steps from ``start``, the inverse of ``hessian`` as the first curvature: with
    the exact curvature to begin with they need fewer gradients than L-BFGS-B starting
    from the identity (about 16 from a nearby fit's estimates). None where they fail. An
    SD below lme4's isSingular tolerance comes back as 0, for fit_glmm's check of the
    boundary."""
    from ipdmeta.mixed._glmm_batch import refit_batch

    found = refit_batch(problem, problem.y[None, :], start, hessian)[0]
    if not np.all(np.isfinite(found)):
        return None
    return _Found(found, problem.deviance(float(found[0]), found[1:]))


def fit_glmm(
    problem: GlmmProblem,
    diverging: bool = False,
    start: np.ndarray | None = None,
    polish: bool = True,
    start_hessian: np.ndarray | None = None,
) -> GlmmFit:
    """Minimise the deviance. ``diverging``: an estimate may run off to infinity
    (separation), so the fit stops where the Newton steps stop lowering the deviance
    instead of failing. ``start``: (theta, beta) to start from (a bootstrap refit starts
    at the fit it simulates from) instead of the fit without random effects.
    ``polish=False`` stops after L-BFGS-B, without the Newton steps and the Hessian: a
    bootstrap replicate needs only estimates, and to the digits a percentile shows.
    ``start_hessian``: the Hessian of the fit ``start`` comes from (a refit to other
    rows). Polished fits start with quasi-Newton steps from ``start``, whose first
    curvature is ``start_hessian`` or the Hessian at ``start``; L-BFGS-B searches where
    those fail and where an estimate may run off to infinity (``diverging``); Newton steps
    follow. A fit that ends at SD 0 searches on from just inside the bound where the
    deviance falls there.
    """
    if start is None:
        start = np.concatenate([[1.0], glm_fit(problem)])
    start = np.asarray(start, dtype=float)
    bounds = [(0.0, None)] + [(None, None)] * (start.size - 1)
    options = {
        "maxiter": 2000,
        "ftol": 1e-10 if polish else 1e-8,
        "gtol": 1e-6 if polish else 1e-5,
    }

    def search(start: np.ndarray) -> Any:
        # Near the optimum, Newton steps below take over: they converge much faster.
        # Unpolished (a bootstrap replicate), the estimates need 4-5 digits, not 8.
        from scipy import optimize  # here: most fits need only the quasi-Newton steps

        return optimize.minimize(
            lambda p: problem.deviance_and_gradient(float(p[0]), p[1:]),
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options=options,
        )

    def minimise(start: np.ndarray, hessian: np.ndarray | None = None) -> Any:
        # Under separation the deviance only approaches its infimum, and where a search
        # stops decides the likelihood-ratio tests: L-BFGS-B, as the tests were made with.
        if polish and not diverging:
            curvature = glmm_hessian(problem, start) if hessian is None else hessian
            found = _quasi_newton(problem, start, curvature)
            if found is not None:
                return found
        return search(start)

    first = minimise(start, start_hessian)
    if first.x[0] < 1e-4:
        # The deviance is even in theta, so its slope in theta is 0 at theta = 0 whatever
        # the curvature: a search that reaches the bound stops there even where the
        # deviance falls as theta grows. Where it does, search on from just inside.
        inside = np.concatenate([[_BOUNDARY_PROBE], first.x[1:]])
        if problem.gradient(_BOUNDARY_PROBE, first.x[1:])[0] < 0:
            again = minimise(inside)
            if again.fun < first.fun:
                first = again
    params = np.asarray(first.x, dtype=float)
    singular = params[0] < 1e-4  # lme4's isSingular tolerance on theta
    if singular:
        params[0] = 0.0
    if not polish:
        return GlmmFit(
            theta=float(params[0]),
            beta=params[1:].copy(),
            deviance=float(first.fun),
            hessian=np.full((params.size, params.size), np.nan),
            modes=np.full(problem.q, np.nan),
            curvature=np.full(problem.q, np.nan),
            singular=bool(singular),
            iterations=0,
        )
    # Newton steps on the free parameters (beta alone when theta is at its bound).
    free = np.arange(1 if singular else 0, params.size)
    iterations = 0
    hessian = None  # the last one, kept when the step it gave was negligible
    for _ in range(_NEWTON_ITERATIONS):
        iterations += 1
        full = glmm_hessian(problem, params)
        current, gradient = problem.deviance_and_gradient(float(params[0]), params[1:])
        g, H = gradient[free], full[np.ix_(free, free)]
        step = np.zeros_like(params)
        taken = 0.0  # the share of the step taken
        try:
            step[free] = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            if diverging:
                break
            raise ConvergenceError("the fit did not converge: its Hessian is singular") from None
        if np.all(np.linalg.eigvalsh(H) > 0):
            t = 1.0
            # Relative: the deviance of 100,000 rows is ~1e5, its rounding noise ~1e-9.
            slack = 1e-12 * max(1.0, abs(current))
            while _objective(problem, params - t * step) > current + slack and t > 1e-6:
                t /= 2.0
            params = params - t * step
            taken = t
            # Under separation the deviance falls towards its infimum ever more slowly
            # (by exp(-beta)) while beta grows without end: stop once a step gains nothing
            # the deviance can resolve.
            if (
                diverging
                and np.max(np.abs(params[1:])) > _RUNAWAY
                and current - _objective(problem, params) < 1e-9 * max(1.0, current)
            ):
                break
        relative = np.max(np.abs(step) / np.maximum(np.abs(params), 1.0))
        if relative < 1e-10 or (relative < _QUADRATIC_STEP and taken == 1.0):
            # A step this small leaves the Hessian as it was (to about the step, relative).
            # A whole Newton step below 1e-7 ends about its square from the optimum, as
            # Newton's method converges quadratically: far inside 1e-10, without another
            # Hessian (each is 2 (1 + p) gradients).
            hessian = full if params[0] >= 0 else None
            break
    else:
        if not diverging:
            raise ConvergenceError(
                "the fit did not converge: Newton steps on (theta, beta) kept moving"
            )
    params[0] = abs(params[0])
    if hessian is None:
        hessian = glmm_hessian(problem, params)
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
