"""Many refits of one GLMM at once: the refits of a parametric bootstrap.

The refits share everything but the response (X, groups, trials, offset), and each is
the minimisation of the Laplace deviance over ``(theta, beta)`` that
:func:`~ipdmeta.mixed._glmm_fit.fit_glmm` does for one response. Here they run side by
side, as arrays with one row per refit: the conditional modes of every refit's groups
take one Newton iteration on a refits x groups array, the deviance and its exact
gradient a few array operations, and each refit moves by its own quasi-Newton (BFGS)
step, started at the fit simulated from with the inverse of its Hessian. A refit stops
on its own criterion while the others go on.

One refit at a time, most of a refit's time was the overhead of small array operations
and of the optimiser's calls: the example's 200 refits (7-node quadrature) took 5.1 s
that way and take 0.8 s here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ipdmeta.mixed._glmm_fit import _RUNAWAY, GlmmProblem, glmm_hessian

__all__ = ["gradients_at", "refit_batch"]

_MODE_TOL = 1e-12  # as fit_glmm's modes: each group's Newton step below this
_MODE_ITERATIONS = 100
_ITERATIONS = 200  # quasi-Newton steps at most
# A refit has converged when its quasi-Newton step moves no parameter by more than this
# (relative to the parameter, when it is above 1): well inside the digits a percentile
# interval shows, and past the stopping rule of L-BFGS-B (ftol 1e-8) used before.
_STEP_TOL = 1e-7
_HALVINGS = 40
# Where refits start whose start has a smaller SD (the SD on the link scale).
_SINGULAR_START = 0.1  # backtracking of a step that does not lower the deviance
# Refits are processed this many response values at a time (refits x rows), so that a
# bootstrap of a large data set does not hold every refit's arrays at once.
_CELLS_PER_BATCH = 2_000_000


@dataclass(frozen=True)
class _Batch:
    """The refits' responses, and what the deviance needs of the shared design."""

    problem: GlmmProblem
    Y: np.ndarray  # refits x rows
    constant: np.ndarray  # refits: the sum of the rows' normalising constants
    # For m rows of values, each value's cell in an m x groups array of sums, by m.
    cells: dict[int, np.ndarray] = field(default_factory=dict)

    def take(self, refits: np.ndarray) -> _Batch:
        return _Batch(self.problem, self.Y[refits], self.constant[refits], self.cells)

    def sum_by_group(self, values: np.ndarray) -> np.ndarray:
        """``values`` (..., rows) summed over each group's rows: (..., groups). One
        bincount: a product with the rows x groups indicator took twice as long."""
        q = self.problem.q
        m = values.size // values.shape[-1]
        cells = self.cells.get(m)
        if cells is None:
            cells = (self.problem.groups[None, :] + q * np.arange(m)[:, None]).ravel()
            self.cells[m] = cells
        sums = np.bincount(cells, weights=values.ravel(), minlength=m * q)
        return sums.reshape(*values.shape[:-1], q)


def _modes(
    batch: _Batch,
    fixed: np.ndarray,
    theta: np.ndarray,
    u: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Each refit's conditional modes (refits x groups), from ``u``, and which refits'
    modes converged. ``theta`` is >= 0 here. Newton's method on each group's objective,
    as GlmmProblem.modes; a refit leaves the iteration once its modes have converged,
    so that one slow refit does not make every other one iterate with it."""
    p, family = batch.problem, batch.problem.family
    z = p._z
    u = u.copy()
    converged = np.zeros(u.shape[0], dtype=bool)
    active = np.arange(u.shape[0])
    Y, fx, t = batch.Y, fixed, theta[:, None]

    def objective(rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        eta = fx[rows] + t[rows] * p.spread(values)
        loglik = family.loglik(Y[rows], eta, p.trials)
        return batch.sum_by_group(loglik) - 0.5 * values * values

    current = objective(active, u)
    for _ in range(_MODE_ITERATIONS):
        eta = fx[active] + t[active] * p.spread(u[active])
        residual = Y[active] - family.mean(eta, p.trials)
        weight = family.weight(eta, p.trials)
        curvature = t[active] ** 2 * batch.sum_by_group(z * z * weight) + 1.0
        step = (t[active] * batch.sum_by_group(z * residual) - u[active]) / curvature
        new = u[active] + step
        new_objective = objective(active, new)
        for _ in range(30):  # halve the step of any group whose objective would fall
            # Rounding of objectives near 0 (a group whose patients all responded) is not
            # a fall: the slack is relative to the objective's size or 1.
            slack = 1e-12 * np.maximum(np.abs(current), 1.0)
            worse = new_objective < current - slack
            again = np.flatnonzero(worse.any(axis=1))
            if again.size == 0:
                break
            step[again] = np.where(worse[again], step[again] / 2.0, step[again])
            new[again] = u[active[again]] + step[again]
            new_objective[again] = objective(active[again], new[again])
        u[active], current = new, new_objective
        done = np.max(np.abs(step), axis=1) < _MODE_TOL
        converged[active[done]] = True
        active, current = active[~done], current[~done]
        if active.size == 0:
            break
    return u, converged


# A trial point far from the optimum can overflow; its deviance is then not finite, which
# the line search and the callers check, so numpy's warnings would only alarm the user.
@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def _deviance_and_gradient(
    batch: _Batch, params: np.ndarray, u: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The deviance of each refit at ``params`` (refits x (1 + p): theta, beta), its
    gradient, the modes found from ``u`` and whether they converged.

    The formulas of GlmmProblem.deviance_and_gradient, with every sum over groups of row
    terms times X (the derivatives in beta of the modes, the curvature and the nodes)
    gathered into one weight per row, so that the gradient in beta is one product with X.
    """
    p, family, X = batch.problem, batch.problem.family, batch.problem.X
    sign = np.where(params[:, 0] < 0, -1.0, 1.0)  # the deviance is even in theta
    theta = np.abs(params[:, 0])
    fixed = p.offset + params[:, 1:] @ X.T
    u, ok = _modes(batch, fixed, theta, u)
    z, groups = p._z, p.groups
    t = theta[:, None]
    eta = fixed + t * p.spread(u)
    w = family.weight(eta, p.trials)
    dw = family.weight_derivative(eta, p.trials)
    r = batch.Y - family.mean(eta, p.trials)
    W = batch.sum_by_group(z * z * w)
    Dw = batch.sum_by_group(z**3 * dw)
    R = batch.sum_by_group(z * r)
    c = t * t * W + 1.0
    du_dt = (R - t * W * u) / c
    dc_dt = 2.0 * t * W + t * t * Dw * (u + t * du_dt)
    # d c_g / d beta = sum over the group's rows of X_i e_i.
    e = t * t * (z * z * dw - t * t * Dw[:, groups] * z * w / c[:, groups])
    if p.nagq == 1:
        # The terms through du vanish: the objective's derivative in u is 0 there.
        grad_b = (-2.0 * r + e / c[:, groups]) @ X
        grad_t = -2.0 * np.sum(R * u, axis=1) + np.sum(dc_dt / c, axis=1)
        loglik = np.sum(family.loglik(batch.Y, eta, p.trials), axis=1)
        deviance = -2.0 * (loglik + batch.constant) + np.sum(u * u + np.log(c), axis=1)
        return deviance, np.column_stack([sign * grad_t, grad_b]), u, ok
    nodes, weights = p._rule  # K nodes
    scale = np.sqrt(2.0 / c)
    uk = u[:, None, :] + scale[:, None, :] * nodes[None, :, None]  # refits x K x groups
    eta_k = fixed[:, None, :] + t[:, :, None] * p.spread(uk)  # refits x K x rows
    loglik_k = batch.sum_by_group(family.loglik(batch.Y[:, None, :], eta_k, p.trials))
    terms = (np.log(weights) + nodes * nodes)[None, :, None] + loglik_k - 0.5 * uk * uk
    top = terms.max(axis=1, keepdims=True)
    total = top[:, 0, :] + np.log(np.exp(terms - top).sum(axis=1))  # refits x groups
    share = np.exp(terms - total[:, None, :])  # sums to 1 over the nodes
    r_k = batch.Y[:, None, :] - family.mean(eta_k, p.trials)
    R_k = batch.sum_by_group(r_k * z)
    slope = t[:, :, None] * R_k - uk  # d (log integrand) / d u at each node
    A = np.sum(share * slope, axis=1)  # refits x groups
    C = np.sum(share * slope * nodes[None, :, None], axis=1)
    # Each row's share-weighted residual over the nodes of its group.
    v = np.sum(share[:, :, groups] * r_k, axis=1)
    cg, scale_g = c[:, groups], scale[:, groups]
    grad_b = (
        -2.0 * v + 2.0 * t * z * w * A[:, groups] / cg + (C[:, groups] * scale_g + 1.0) * e / cg
    ) @ X
    dscale_dt = -0.5 * scale / c * dc_dt
    grad_t = (
        -2.0 * np.sum(share * R_k * uk, axis=(1, 2))
        - 2.0 * np.sum(A * du_dt + C * dscale_dt, axis=1)
        + np.sum(dc_dt / c, axis=1)
    )
    log_l = total + np.log(scale) - 0.5 * np.log(2.0 * np.pi)
    deviance = -2.0 * (np.sum(log_l, axis=1) + batch.constant)
    return deviance, np.column_stack([sign * grad_t, grad_b]), u, ok


def gradients_at(problem: GlmmProblem, points: np.ndarray) -> np.ndarray | None:
    """The gradient of ``problem``'s deviance at each row of ``points`` ((theta, beta)
    per row), all in one evaluation: a Hessian's central differences need 2 (1 + p) of
    them, which one at a time took most of a fit's time. The modes start from the last
    ones ``problem`` found. None where any point's modes did not converge."""
    B = points.shape[0]
    constant = np.full(B, float(np.sum(problem._group_constant)))
    batch = _Batch(problem, np.tile(problem.y, (B, 1)), constant)
    last = problem._modes.get("u")
    u = np.zeros((B, problem.q)) if last is None else np.tile(last, (B, 1))
    _, g, _, ok = _deviance_and_gradient(batch, points, u)
    return g if bool(np.all(ok)) and np.all(np.isfinite(g)) else None


def refit_batch(
    problem: GlmmProblem,
    Y: np.ndarray,
    start: np.ndarray,
    hessian: np.ndarray,
    fixed: int | None = None,
) -> np.ndarray:
    """(theta, beta) of the fit to each row of ``Y`` (refits x rows), by the Laplace
    approximation or quadrature as ``problem.nagq`` says: refits x (1 + p), a row of NaN
    for a refit that did not converge. Each refit starts at ``start`` with ``hessian``
    (of the deviance there) as its first curvature; below SD 0.1, at SD 0.1.
    ``fixed``: the index of a parameter held at its value in ``start`` (a profile).

    As fit_glmm with ``diverging=True``, a refit whose estimate runs off to infinity
    (separation in the simulated responses) stops where its steps stop lowering the
    deviance, and keeps the large value it reached."""
    if start[0] < _SINGULAR_START and fixed != 0:
        # The deviance is even in theta, so its slope in theta is 0 at theta = 0: a refit
        # started there would never leave it. Refits of a singular fit start at a small
        # positive SD instead, with the curvature there.
        start = np.concatenate([[_SINGULAR_START], start[1:]])
        hessian = glmm_hessian(problem, start)
    per_batch = max(1, _CELLS_PER_BATCH // max(1, problem.y.size * problem.nagq))
    parts = [
        _refit(problem, Y[i : i + per_batch], start, hessian, fixed)
        for i in range(0, Y.shape[0], per_batch)
    ]
    return np.concatenate(parts) if parts else np.empty((0, start.size))


def _first_inverse(hessian: np.ndarray, k: int, fixed: int | None) -> np.ndarray:
    """The inverse of the start's Hessian, its eigenvalues kept positive (at a variance
    on its bound the Hessian in theta can be 0). With a ``fixed`` parameter, the inverse
    of the others' block, and 0 in its row and column: no step moves it, and BFGS
    updates by such steps keep those zeros."""
    free = np.arange(k) if fixed is None else np.delete(np.arange(k), fixed)
    out = np.zeros((k, k))
    if hessian.shape != (k, k) or not np.all(np.isfinite(hessian)):
        out[free, free] = 1.0
        return out
    block = hessian[np.ix_(free, free)]
    values, vectors = np.linalg.eigh((block + block.T) / 2.0)
    floor = max(float(np.max(np.abs(values))), 1.0) * 1e-6
    values = np.maximum(values, floor)
    out[np.ix_(free, free)] = (vectors / values) @ vectors.T
    return out


def _refit(
    problem: GlmmProblem,
    Y: np.ndarray,
    start: np.ndarray,
    hessian: np.ndarray,
    fixed: int | None,
) -> np.ndarray:
    B, k = Y.shape[0], start.size
    constant = problem.family.constant(Y, problem.trials).sum(axis=1)
    batch = _Batch(problem, Y, constant)
    params = np.tile(start, (B, 1))
    inverse = np.tile(_first_inverse(hessian, k, fixed), (B, 1, 1))
    f, g, u, ok = _deviance_and_gradient(batch, params, np.zeros((B, problem.q)))
    failed = ~ok | ~np.isfinite(f)
    done = failed.copy()
    for _ in range(_ITERATIONS):
        active = np.flatnonzero(~done)
        if active.size == 0:
            break
        step = -np.einsum("bij,bj->bi", inverse[active], g[active])
        scale = np.maximum(np.abs(params[active]), 1.0)
        small = np.max(np.abs(step) / scale, axis=1) < _STEP_TOL
        done[active[small]] = True
        active, step = active[~small], step[~small]
        if active.size == 0:
            break
        found = _line_search(
            batch.take(active), params[active], f[active], g[active], u[active], step
        )
        # A step that lowers the deviance by nothing even when halved: the deviance is at
        # its minimum to its rounding, so the refit has converged.
        done[active[~found.moved]] = True
        keep = found.moved
        idx = active[keep]
        s = step[keep] * found.t[keep, None]
        new_params = params[idx] + s
        gained = f[idx] - found.f[keep]
        # Under separation the deviance falls ever more slowly while beta grows without
        # end: such a refit stops once a step gains nothing the deviance can resolve.
        diverging = (np.max(np.abs(new_params[:, 1:]), axis=1) > _RUNAWAY) & (
            gained < 1e-9 * np.maximum(1.0, np.abs(f[idx]))
        )
        inverse[idx] = _bfgs_update(inverse[idx], s, found.g[keep] - g[idx])
        params[idx], f[idx] = new_params, found.f[keep]
        g[idx], u[idx] = found.g[keep], found.u[keep]
        done[idx[diverging]] = True
    failed |= ~done  # out of iterations
    if fixed != 0:
        params[:, 0] = np.abs(params[:, 0])
        params[params[:, 0] < 1e-4, 0] = 0.0  # lme4's isSingular tolerance on theta
    params[failed] = np.nan
    return params


@dataclass
class _Step:
    """Where each refit's line search ended: the step length ``t`` taken, whether the
    deviance fell (``moved``), and the deviance, gradient and modes there."""

    t: np.ndarray
    moved: np.ndarray
    f: np.ndarray
    g: np.ndarray
    u: np.ndarray


def _line_search(
    batch: _Batch,
    params: np.ndarray,
    f: np.ndarray,
    g: np.ndarray,
    u: np.ndarray,
    step: np.ndarray,
) -> _Step:
    """Backtracking along each refit's step until the deviance falls enough (Armijo)."""
    n = params.shape[0]
    out = _Step(np.ones(n), np.zeros(n, dtype=bool), f.copy(), g.copy(), u.copy())
    slope = np.sum(g * step, axis=1)
    trying = np.arange(n)
    for _ in range(_HALVINGS):
        t = out.t[trying]
        f_new, g_new, u_new, ok = _deviance_and_gradient(
            batch.take(trying), params[trying] + t[:, None] * step[trying], u[trying]
        )
        bad = ~ok | ~np.isfinite(f_new) | ~np.all(np.isfinite(g_new), axis=1)
        slack = 1e-12 * np.maximum(1.0, np.abs(f[trying]))
        enough = ~bad & (f_new <= f[trying] + 1e-4 * t * slope[trying] + slack)
        accepted = trying[enough]
        out.moved[accepted] = True
        out.f[accepted], out.g[accepted], out.u[accepted] = (
            f_new[enough],
            g_new[enough],
            u_new[enough],
        )
        trying = trying[~enough]
        if trying.size == 0:
            break
        out.t[trying] /= 2.0
    return out


def _bfgs_update(inverse: np.ndarray, s: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The BFGS update of each inverse Hessian approximation by step ``s`` and gradient
    change ``y``; skipped where the curvature y's is not positive."""
    sy = np.sum(s * y, axis=1)
    fine = sy > 1e-12 * np.linalg.norm(s, axis=1) * np.linalg.norm(y, axis=1)
    if not fine.any():
        return inverse
    out = inverse.copy()
    H, s, y, rho = inverse[fine], s[fine], y[fine], 1.0 / sy[fine]
    k = s.shape[1]
    left = np.eye(k)[None] - rho[:, None, None] * s[:, :, None] * y[:, None, :]
    out[fine] = (
        left @ H @ left.transpose(0, 2, 1) + rho[:, None, None] * s[:, :, None] * s[:, None, :]
    )
    return out
