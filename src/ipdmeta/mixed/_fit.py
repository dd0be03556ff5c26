"""lme4's profiled (RE)ML deviance in the relative covariance factor theta, and its optimum.

Notation follows Bates, Maechler, Bolker and Walker (2015), J Stat Softw 67(1): the
random effects are b = Lambda(theta) u with u ~ N(0, sigma^2 I); L L' = Lambda'Z'Z Lambda + I;
RX'RX = X'X - RZX'RZX is the Schur complement; pwrss is the penalised residual sum of squares.

Two implementations share one interface:

- :class:`ScalarTermModel` for one random term with one column, such as ``(1 | study)``.
  It works from per-group sufficient statistics, so one deviance evaluation costs
  O(groups x p^2), and it optimises in tau = theta^2 by root-finding on the exact gradient,
  vectorised over many responses at once (the parametric bootstrap).
- :class:`GeneralModel` for every other random-effects structure: dense cross-products
  Z'Z, Z'X built through scipy.sparse, a dense Cholesky of the q x q system and a bounded
  quasi-Newton search with central-difference gradients.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from ipdmeta._brent import find_root
from ipdmeta.errors import ConvergenceError, EstimationError
from ipdmeta.mixed._blocked import BlockedSystem, conditional_variances, term_factor
from ipdmeta.mixed._design import Design, ReTerm

LOG_2PI = float(np.log(2.0 * np.pi))

# Root-finding on the gradient in tau stops when the bracket is this small relative to tau
# (theta to ~5e-11): far below the 1e-5 agreement asked of the estimates.
TAU_RTOL = 1e-10
# Starting grid in tau = theta^2 (relative variance) for the fast path: 1e-4 to 1e4.
TAU_GRID = np.logspace(-4.0, 4.0, 9)
# Deviance reported where the system cannot be factorised (far from any optimum).
OUT_OF_DOMAIN = 1e15
# General path: L-BFGS-B stops at this relative change of the deviance or this gradient
# norm; theta then agrees with lme4's own optimum (itself good to ~1e-6) well within 1e-5.
OPT_FTOL = 1e-13
OPT_GTOL = 1e-8
# Newton polish of the general path's optimum: at most this many steps, for at most this
# many free coordinates, with this relative difference step; coordinates below
# POLISH_ZERO are left on their bound.
# The step is relative to max(|theta|, 0.1): the deviance carries rounding noise of about
# 1e-13 of its value, which a second difference divides by h^2, so smaller steps (1e-4
# of a theta of 0.17) gave Hessians with a spurious negative eigenvalue and stopped the
# polish short of lme4's optimum; the gradient is taken with four points (error h^4).
POLISH_STEPS = 3
POLISH_MAX_DIM = 8
POLISH_STEP = 1e-3
POLISH_ZERO = 1e-6
# From this many random effects on, the general path factors its system by blocks (the
# largest term's diagonal blocks, then a dense Schur complement of the others); below,
# one dense Cholesky is as fast.
BLOCKED_MIN_Q = 300
# Central-difference step (relative) for the general path's gradient.
GRAD_STEP = 1e-6


@dataclass(frozen=True)
class PLSState:
    """Solution of the penalised least-squares problem at one theta."""

    theta: np.ndarray
    beta: np.ndarray
    A: np.ndarray  # RX'RX = sigma^2 * inverse of Var(beta)
    pwrss: float
    ldL2: float
    ldRX2: float
    b: np.ndarray  # conditional modes of the random effects (Lambda u), length q

    def deviance(self, n: int, p: int, reml: bool) -> float:
        if reml:
            d = n - p
            return self.ldL2 + self.ldRX2 + d * (1.0 + np.log(2.0 * np.pi * self.pwrss / d))
        return self.ldL2 + n * (1.0 + np.log(2.0 * np.pi * self.pwrss / n))

    def sigma(self, n: int, p: int, reml: bool) -> float:
        return float(np.sqrt(self.pwrss / (n - p if reml else n)))


def _chol_logdet(A: np.ndarray) -> tuple[np.ndarray, float]:
    try:
        c = sla.cholesky(A, lower=False, check_finite=False)
    except np.linalg.LinAlgError as exc:
        raise EstimationError(
            "the fixed-effects cross-product is not positive definite at this variance; "
            "the fixed effects may be (nearly) aliased with the grouping factor"
        ) from exc
    return c, float(2.0 * np.sum(np.log(np.diag(c))))


class ScalarTermModel:
    """Profiled deviance for one random term with one column (fast path)."""

    # Sum of the log prior weights (0 without weights): lme4's deviance subtracts it, and
    # so does ldL2 here, so that every deviance made from a solve counts it.
    log_weights = 0.0

    def __init__(
        self, X: np.ndarray, y: np.ndarray, term: ReTerm, xtx: np.ndarray | None = None
    ) -> None:
        self.X = X
        self.n, self.p = X.shape
        self.term = term
        z = term.values[:, 0]
        m = term.n_levels
        self.m = m
        codes = term.codes
        self._codes = codes
        self._z = z
        # Sparse indicator scaled by z, G[i, obs] = z_obs if obs is in group i, built in
        # compressed-column form directly (one entry per observation: no sorting).
        self._G = sp.csc_matrix((z, codes, np.arange(self.n + 1)), shape=(m, self.n))
        self.zz = np.bincount(codes, weights=z * z, minlength=m)
        self.S = np.asarray(self._G @ X)
        self.XtX = X.T @ X if xtx is None else xtx
        self.lower = np.zeros(1)
        self.n_theta = 1
        self.set_response(y)

    def set_response(self, y: np.ndarray) -> None:
        self.y = y
        self.Xty = self.X.T @ y
        self.yty = float(y @ y)
        self.zy = np.bincount(self._codes, weights=self._z * y, minlength=self.m)

    # -- batched quantities over responses (columns of Y) ---------------------------------
    def _batch_stats(self, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.X.T @ Y, np.einsum("ij,ij->j", Y, Y), np.asarray(self._G @ Y)

    def _batch_solve(
        self, tau: np.ndarray, Xty: np.ndarray, yty: np.ndarray, zy: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For each column b: A_b, beta_b, pwrss_b, d_b and r_b (tau has one entry per column)."""
        d = 1.0 + tau[None, :] * self.zz[:, None]  # m x B
        w = tau[None, :] / d
        WS = w.T[:, :, None] * self.S[None, :, :]  # B x m x p
        A = self.XtX[None, :, :] - np.swapaxes(WS, 1, 2) @ self.S
        rhs = Xty.T - np.einsum("bmp,mb->bp", WS, zy)
        beta = np.linalg.solve(A, rhs[:, :, None])[:, :, 0]
        c = yty - np.einsum("mb,mb->b", w, zy * zy)
        pwrss = c - np.einsum("bp,bp->b", rhs, beta)
        r = zy - self.S @ beta.T  # m x B
        return A, beta, pwrss, d, r

    def _batch_deviance_gradient(
        self, tau: np.ndarray, Xty: np.ndarray, yty: np.ndarray, zy: np.ndarray, reml: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Profiled deviance and its derivative in tau for each column."""
        A, _, pwrss, d, r = self._batch_solve(tau, Xty, yty, zy)
        n, p = self.n, self.p
        dof = (n - p) if reml else n
        ldL2 = np.sum(np.log(d), axis=0)
        dev = ldL2 + dof * (1.0 + np.log(2.0 * np.pi * pwrss / dof))
        dw = 1.0 / (d * d)
        # d pwrss / d tau = -sum_i dw_i r_i^2 and d ldL2 / d tau = sum_i zz_i / d_i
        g = self.zz @ (1.0 / d) - np.einsum("mb,mb->b", dw, r * r) * dof / pwrss
        if reml:
            c = np.linalg.cholesky(A)
            dev = dev + 2.0 * np.sum(np.log(np.diagonal(c, axis1=1, axis2=2)), axis=1)
            # d log|A| / d tau = -sum_i dw_i s_i' A^{-1} s_i
            Ainv = np.linalg.inv(A)
            quad = np.sum((self.S @ Ainv) * self.S[None, :, :], axis=2)  # B x m
            g = g - np.einsum("mb,bm->b", dw, quad)
        return dev, g

    def _gradient_one(
        self, tau: float, Xty: np.ndarray, yty: float, zy: np.ndarray, reml: bool
    ) -> float:
        """d deviance / d tau for one response: _batch_deviance_gradient without the batch
        axis (fewer, cheaper numpy calls inside the root-finder)."""
        d = 1.0 + tau * self.zz
        w = tau / d
        WS = self.S * w[:, None]
        A = self.XtX - self.S.T @ WS
        rhs = Xty - WS.T @ zy
        Ainv = np.linalg.inv(A)
        beta = Ainv @ rhs
        pwrss = yty - float(w @ (zy * zy)) - float(rhs @ beta)
        r = zy - self.S @ beta
        dw = 1.0 / (d * d)
        dof = (self.n - self.p) if reml else self.n
        g = float(self.zz @ (1.0 / d)) - float(dw @ (r * r)) * dof / pwrss
        if reml:
            g -= float(dw @ np.einsum("mp,mp->m", self.S @ Ainv, self.S))
        return g

    def optimise_batch(self, Y: np.ndarray, reml: bool) -> np.ndarray:
        """theta at the (RE)ML optimum for every column of Y.

        The profiled deviance in tau = theta^2 need not be convex (it can rise from 0
        before falling to an interior minimum), so a grid of tau values locates the best
        basin first; bracketed root-finding on the exact derivative then polishes it.
        """
        Xty, yty, zy = self._batch_stats(Y)
        B = Y.shape[1]

        def dev_grad(t: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return self._batch_deviance_gradient(t, Xty[:, idx], yty[idx], zy[:, idx], reml)

        all_idx = np.arange(B)
        grid = np.concatenate([[0.0], TAU_GRID])
        K = grid.size
        dflat, gflat = dev_grad(np.repeat(grid, B), np.tile(all_idx, K))
        devs = dflat.reshape(K, B)
        grads = gflat.reshape(K, B)
        kbest = np.argmin(devs, axis=0)
        tau = np.zeros(B)
        lo = np.zeros(B)
        hi = np.zeros(B)
        glo = np.zeros(B)
        ghi = np.zeros(B)
        active = np.zeros(B, dtype=bool)
        for b in range(B):
            k = int(kbest[b])
            gk = grads[k, b]
            if k == 0 and gk >= 0.0:
                continue  # minimum on the boundary theta = 0
            if gk < 0.0:
                if k == K - 1:
                    lo[b], hi[b] = grid[k], grid[k] * 4.0
                    glo[b], ghi[b] = gk, np.nan
                else:
                    lo[b], hi[b] = grid[k], grid[k + 1]
                    glo[b], ghi[b] = gk, grads[k + 1, b]
            else:
                lo[b], hi[b] = grid[k - 1], grid[k]
                glo[b], ghi[b] = grads[k - 1, b], gk
            active[b] = True
        act = all_idx[active]
        if act.size == 0:
            return tau
        lo, hi, glo, ghi = lo[act], hi[act], glo[act], ghi[act]
        # The best grid point was the last one: move the upper end out until the slope turns.
        for _ in range(200):
            up = ~(ghi > 0.0)
            if not up.any():
                break
            if np.isfinite(ghi[up]).any():
                grow = up & np.isfinite(ghi)
                lo[grow], glo[grow] = hi[grow], ghi[grow]
                hi[grow] *= 4.0
            _, ghi[up] = dev_grad(hi[up], act[up])
        else:
            raise ConvergenceError("the between-group variance grows without bound")
        if act.size == 1 and glo[0] < 0.0 < ghi[0]:
            # One response (the fit itself): Brent's method on the scalar derivative.
            Xty1, yty1, zy1 = Xty[:, 0], float(yty[0]), zy[:, 0]

            def g1(t: float) -> float:
                return self._gradient_one(t, Xty1, yty1, zy1, reml)

            tau[act[0]] = find_root(g1, lo[0], hi[0], xtol=1e-300, rtol=TAU_RTOL)
            return np.sqrt(tau)
        # Illinois variant of regula falsi: keeps the bracket and converges superlinearly.
        side = np.zeros(act.size, dtype=int)
        for _ in range(200):
            width = hi - lo
            todo = width > TAU_RTOL * np.maximum(hi, 1e-300)
            if not todo.any():
                break
            denom = ghi - glo
            safe = np.where(denom != 0.0, denom, 1.0)
            x = np.where(denom != 0.0, hi - ghi * width / safe, 0.5 * (lo + hi))
            stuck = (x <= lo) | (x >= hi) | ~np.isfinite(x)
            x = np.where(stuck, 0.5 * (lo + hi), x)
            gx = np.zeros(act.size)
            _, gx[todo] = dev_grad(x[todo], act[todo])
            exact = todo & (gx == 0.0)
            lo[exact] = hi[exact] = x[exact]
            pos = todo & (gx > 0.0)
            neg = todo & (gx < 0.0)
            hi[pos], ghi[pos] = x[pos], gx[pos]
            glo[pos & (side == 1)] *= 0.5
            lo[neg], glo[neg] = x[neg], gx[neg]
            ghi[neg & (side == -1)] *= 0.5
            side = np.where(pos, 1, np.where(neg, -1, side))
        tau[act] = 0.5 * (lo + hi)
        return np.sqrt(tau)

    def optimise(self, reml: bool) -> np.ndarray:
        theta = self.optimise_batch(self.y[:, None], reml)
        t = np.array([theta[0]])
        if t[0] > 0.0:
            d_opt = self.solve(t).deviance(self.n, self.p, reml)
            d_zero = self.solve(np.zeros(1)).deviance(self.n, self.p, reml)
            if d_zero < d_opt:
                t = np.zeros(1)
        return t

    def varpar_derivatives(
        self, theta: float, sigma: float, reml: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact Hessian of the (RE)ML deviance in (theta, sigma) and the Jacobian of
        Var(beta) = sigma^2 A^{-1}, from the per-group statistics (lmerTest takes both
        numerically; the two agree to the accuracy of its Richardson extrapolation).

        With w_i = theta^2 / (1 + theta^2 z_i'z_i): A' = -sum w_i' s_i s_i',
        pwrss' = -sum w_i' r_i^2 (r_i = z_i'y_i - s_i'beta) and
        beta' = -A^{-1} sum w_i' s_i r_i."""
        t2 = theta * theta
        d = 1.0 + t2 * self.zz
        w = t2 / d
        w1 = 2.0 * theta / d**2
        w2 = (2.0 - 6.0 * t2 * self.zz) / d**3
        S = self.S
        A = self.XtX - (S.T * w) @ S
        rhs = self.Xty - S.T @ (w * self.zy)
        Ainv = np.linalg.inv(A)
        beta = Ainv @ rhs
        pwrss = self.yty - float(w @ (self.zy * self.zy)) - float(rhs @ beta)
        r = self.zy - S @ beta
        A1 = -(S.T * w1) @ S
        A2 = -(S.T * w2) @ S
        beta1 = -Ainv @ (S.T @ (w1 * r))
        r1 = -S @ beta1
        pw1 = -float(w1 @ (r * r))
        pw2 = -float(w2 @ (r * r)) - 2.0 * float(w1 @ (r * r1))
        ld2 = float(np.sum(2.0 * self.zz * (1.0 - t2 * self.zz) / d**2))
        if reml:
            AiA1 = Ainv @ A1
            ld2 += float(np.trace(Ainv @ A2) - np.sum(AiA1 * AiA1.T))
        s2 = sigma * sigma
        dof = (self.n - self.p) if reml else self.n
        H = np.array(
            [
                [ld2 + pw2 / s2, -2.0 * pw1 / sigma**3],
                [-2.0 * pw1 / sigma**3, 6.0 * pwrss / s2**2 - 2.0 * dof / s2],
            ]
        )
        jac = np.stack([-s2 * Ainv @ A1 @ Ainv, 2.0 * sigma * Ainv], axis=-1)
        return H, jac

    def solve(self, theta: np.ndarray) -> PLSState:
        th = float(theta[0])
        tau = th * th
        d = 1.0 + tau * self.zz
        w = tau / d
        A = self.XtX - self.S.T @ (w[:, None] * self.S)
        rhs = self.Xty - self.S.T @ (w * self.zy)
        RX, ldRX2 = _chol_logdet(A)
        beta = sla.cho_solve((RX, False), rhs, check_finite=False)
        pwrss = self.yty - float(w @ (self.zy * self.zy)) - float(rhs @ beta)
        b = tau * (self.zy - self.S @ beta) / d
        return PLSState(
            theta=np.array([th]),
            beta=beta,
            A=A,
            pwrss=pwrss,
            ldL2=float(np.sum(np.log(d))) - self.log_weights,
            ldRX2=ldRX2,
            b=b,
        )

    # -- pieces the Kenward-Roger code needs -----------------------------------------------
    def cross(self) -> tuple[np.ndarray, np.ndarray]:
        return np.diag(self.zz), self.S

    def lambda_matrix(self, theta: np.ndarray) -> np.ndarray:
        return np.eye(self.m) * float(theta[0])

    def z_matrix(self) -> sp.csr_matrix:
        return sp.csr_matrix(self._G.T)


class GeneralModel:
    """Profiled deviance for any combination of random terms (dense q x q Cholesky)."""

    log_weights = 0.0  # as ScalarTermModel's

    def __init__(
        self, X: np.ndarray, y: np.ndarray, terms: tuple[ReTerm, ...], xtx: np.ndarray | None = None
    ) -> None:
        self.X = X
        self.n, self.p = X.shape
        self.terms = terms
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        vals: list[np.ndarray] = []
        lam_r: list[np.ndarray] = []
        lam_c: list[np.ndarray] = []
        lam_i: list[np.ndarray] = []
        lower: list[float] = []
        offset = 0
        toff = 0
        obs = np.arange(self.n)
        for t in terms:
            k, m = t.k, t.n_levels
            for c in range(k):
                rows.append(obs)
                cols.append(offset + t.codes * k + c)
                vals.append(t.values[:, c])
            # theta for this term: lower triangle of the k x k factor, column by column.
            idx: dict[tuple[int, int], int] = {}
            for j in range(k):
                for i in range(j, k):
                    idx[(i, j)] = toff + len(idx)
                    lower.append(0.0 if i == j else -np.inf)
            for (i, j), th in idx.items():
                lam_r.append(offset + np.arange(m) * k + i)
                lam_c.append(offset + np.arange(m) * k + j)
                lam_i.append(np.full(m, th))
            offset += m * k
            toff += len(idx)
        self.q = offset
        self.n_theta = toff
        self.lower = np.array(lower)
        Z = sp.csc_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(self.n, self.q),
        )
        self.Z = Z
        self._lam_r = np.concatenate(lam_r)
        self._lam_c = np.concatenate(lam_c)
        self._lam_i = np.concatenate(lam_i)
        self._all_scalar = all(t.k == 1 for t in terms)
        self._theta_sizes = np.cumsum([t.k * (t.k + 1) // 2 for t in terms])[:-1]
        self._blocked = BlockedSystem(terms, Z) if self.q >= BLOCKED_MIN_Q else None
        self.ZtX = np.asarray(Z.T @ X)
        self.XtX = X.T @ X if xtx is None else xtx
        self.set_response(y)

    @cached_property
    def ZtZ(self) -> np.ndarray:
        """Z'Z, dense (q x q): the small systems' factor, Kenward-Roger and the
        conditional variances of the random effects use it."""
        return np.asarray((self.Z.T @ self.Z).toarray())

    def set_response(self, y: np.ndarray) -> None:
        self.y = y
        self.Xty = self.X.T @ y
        self.yty = float(y @ y)
        self.Zty = np.asarray(self.Z.T @ y)

    def lambda_matrix(self, theta: np.ndarray) -> np.ndarray:
        lam = np.zeros((self.q, self.q))
        lam[self._lam_r, self._lam_c] = theta[self._lam_i]
        return lam

    def _blocks(self, theta: np.ndarray) -> list[tuple[int, int, int, np.ndarray]]:
        """(offset, levels, k, T) for each term: Lambda is block-diagonal, I_m (x) T."""
        out = []
        offset = 0
        pos = 0
        for t in self.terms:
            k, m = t.k, t.n_levels
            size = k * (k + 1) // 2
            out.append((offset, m, k, term_factor(theta[pos : pos + size], k)))
            pos += size
            offset += m * k
        return out

    def _scales(self, theta: np.ndarray) -> np.ndarray | None:
        # With one column per term Lambda is diagonal: its diagonal, else None.
        if not self._all_scalar:
            return None
        return np.asarray(theta[self._lam_i])

    def _lam_left(self, B: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """Lambda' B for B with q rows."""
        sc = self._scales(theta)
        if sc is not None:
            return sc[:, None] * B if B.ndim == 2 else sc * B
        out = np.empty_like(B)
        for o, m, k, T in self._blocks(theta):
            blk = B[o : o + m * k].reshape((m, k, *B.shape[1:]))
            out[o : o + m * k] = np.einsum("ji,mj...->mi...", T, blk).reshape((m * k, *B.shape[1:]))
        return out

    def _lam_right(self, A: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """A Lambda for A with q columns."""
        sc = self._scales(theta)
        if sc is not None:
            return A * sc[None, :]
        out = np.empty_like(A)
        r = A.shape[0]
        for o, m, k, T in self._blocks(theta):
            blk = A[:, o : o + m * k].reshape(r, m, k)
            out[:, o : o + m * k] = np.einsum("rmj,ji->rmi", blk, T).reshape(r, m * k)
        return out

    def _factor(
        self, theta: np.ndarray
    ) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray], float]:
        """Solves with L and L', and log det(L L'), for L L' = Lambda'Z'Z Lambda + I."""
        if self._blocked is not None:
            F = self._blocked.factor(np.split(theta, self._theta_sizes))
            return F.solve_lower, F.solve_upper, F.logdet2
        M = self._lam_left(self._lam_right(self.ZtZ, theta), theta)
        M[np.diag_indices_from(M)] += 1.0
        try:
            L = sla.cholesky(M, lower=True, check_finite=False)
        except np.linalg.LinAlgError as exc:
            raise EstimationError("the random-effects system is not positive definite") from exc

        def lower(B: np.ndarray) -> np.ndarray:
            return np.asarray(sla.solve_triangular(L, B, lower=True, check_finite=False))

        def upper(C: np.ndarray) -> np.ndarray:
            return np.asarray(sla.solve_triangular(L, C, lower=True, trans="T", check_finite=False))

        return lower, upper, float(2.0 * np.sum(np.log(np.diag(L))))

    def solve(self, theta: np.ndarray) -> PLSState:
        theta = np.asarray(theta, dtype=float)
        solve_lower, solve_upper, ldL2 = self._factor(theta)
        lzx = self._lam_left(self.ZtX, theta)
        lzy = self._lam_left(self.Zty, theta)
        RZX = solve_lower(lzx)
        cu = solve_lower(lzy)
        A = self.XtX - RZX.T @ RZX
        rhs = self.Xty - RZX.T @ cu
        RX, ldRX2 = _chol_logdet(A)
        beta = sla.cho_solve((RX, False), rhs, check_finite=False)
        pwrss = self.yty - float(cu @ cu) - float(rhs @ beta)
        u = solve_upper(cu - RZX @ beta)
        # b = Lambda u: apply Lambda (not its transpose) through (u' Lambda')' = (Lambda u).
        b = (
            self._lam_right(u[None, :], theta.copy())[0]
            if self._all_scalar
            else self._lam_u(u, theta)
        )
        return PLSState(
            theta=theta.copy(),
            beta=beta,
            A=A,
            pwrss=pwrss,
            ldL2=ldL2 - self.log_weights,
            ldRX2=ldRX2,
            b=b,
        )

    def _lam_u(self, u: np.ndarray, theta: np.ndarray) -> np.ndarray:
        out = np.empty_like(u)
        for o, m, k, T in self._blocks(theta):
            out[o : o + m * k] = (u[o : o + m * k].reshape(m, k) @ T.T).reshape(m * k)
        return out

    def _objective(self, theta: np.ndarray, reml: bool) -> float:
        try:
            return self.solve(theta).deviance(self.n, self.p, reml)
        except EstimationError:
            # Far out (huge theta) the Schur complement loses positive definiteness to
            # rounding; a large finite value makes the line search step back.
            return OUT_OF_DOMAIN

    def _gradient(self, theta: np.ndarray, reml: bool) -> np.ndarray:
        g = np.zeros_like(theta)
        for i in range(theta.size):
            h = GRAD_STEP * max(abs(theta[i]), 1e-2)
            up, dn = theta.copy(), theta.copy()
            up[i] += h
            dn[i] -= h
            if self.lower[i] == 0.0 and dn[i] < 0.0:
                # The deviance is even in a diagonal element of a one-column term and
                # nearly so otherwise; a one-sided difference keeps us in the domain.
                dn[i] = theta[i]
                g[i] = (self._objective(up, reml) - self._objective(dn, reml)) / (up[i] - dn[i])
                continue
            g[i] = (self._objective(up, reml) - self._objective(dn, reml)) / (2.0 * h)
        return g

    def _scaled_start(self) -> np.ndarray:
        """theta with each diagonal element 1 / (root mean square of its column): every
        random effect starts with the spread of a random intercept of relative SD 1, where
        lme4's start (all 1) gives a slope of age (values near 55) 55 times that."""
        sizes = np.asarray(self.Z.multiply(self.Z).sum(axis=0)).ravel()
        start = np.where(self.lower == 0.0, 1.0, 0.0)
        pos = offset = 0
        for t in self.terms:
            k, m = t.k, t.n_levels
            squares = sizes[offset : offset + m * k].reshape(m, k).sum(axis=0)
            rms = np.sqrt(squares / self.n)
            for j in range(k):
                if rms[j] > 0:
                    start[pos] = 1.0 / rms[j]
                pos += k - j
            offset += m * k
        return start

    def _minimise_from(self, x0: np.ndarray, reml: bool) -> np.ndarray:
        import scipy.optimize as sopt  # here: the random-intercept path does without it

        bounds = [(lo if np.isfinite(lo) else None, None) for lo in self.lower]
        best = x0
        # A second L-BFGS-B run from the first one's end catches an early stop; the Newton
        # polish does that better where it applies (few parameters), so it is skipped then.
        runs = 1 if self.n_theta <= POLISH_MAX_DIM else 2
        for _ in range(runs):
            res = sopt.minimize(
                self._objective,
                best,
                args=(reml,),
                jac=self._gradient,
                method="L-BFGS-B",
                bounds=bounds,
                options={"ftol": OPT_FTOL, "gtol": OPT_GTOL, "maxiter": 2000},
            )
            if not np.all(np.isfinite(res.x)):
                raise ConvergenceError(f"the variance optimisation failed: {res.message}")
            moved = np.max(np.abs(res.x - best)) if best is not x0 else np.inf
            best = res.x
            if moved < 1e-10:
                break
        return np.asarray(np.where((self.lower == 0.0) & (best < 0.0), 0.0, best))

    def optimise(self, reml: bool) -> np.ndarray:
        """The (RE)ML optimum, searched from :meth:`_scaled_start`. The criterion can have
        several local minima when terms nearly stand in for each other (a random slope of
        age, nearly constant, and a random intercept): one term's variance then ends at 0.
        So, with few parameters, an end on that boundary is compared with the end of a
        search from lme4's start (all 1), and the lower one kept."""
        scaled = self._scaled_start()
        best = self._minimise_from(scaled, reml)
        lme4_start = np.where(self.lower == 0.0, 1.0, 0.0)
        on_boundary = np.any((self.lower == 0.0) & (best <= POLISH_ZERO))
        if (self.n_theta <= POLISH_MAX_DIM and on_boundary
                and not np.allclose(scaled, lme4_start)):  # fmt: skip
            other = self._minimise_from(lme4_start, reml)
            if self._objective(other, reml) < self._objective(best, reml):
                best = other
        return self._polish(best, reml)

    def _polish(self, theta: np.ndarray, reml: bool) -> np.ndarray:
        """Newton steps with a central-difference Hessian on the coordinates off their
        bounds: the quasi-Newton search stalls on flat surfaces (nested terms) short of
        the precision asked of the estimates."""
        free = np.flatnonzero((self.lower != 0.0) | (theta > POLISH_ZERO))
        if free.size == 0 or free.size > POLISH_MAX_DIM:
            return theta
        f = self._objective
        best, f_best = theta.copy(), f(theta, reml)
        for _ in range(POLISH_STEPS):
            h = POLISH_STEP * np.maximum(np.abs(best[free]), 0.1)
            k = free.size
            g = np.zeros(k)
            H = np.zeros((k, k))
            f0 = f_best
            fp, fm = np.zeros(k), np.zeros(k)
            for a in range(k):
                e = np.zeros_like(best)
                e[free[a]] = h[a]
                fp[a], fm[a] = f(best + e, reml), f(best - e, reml)
                fp2, fm2 = f(best + 2 * e, reml), f(best - 2 * e, reml)
                g[a] = (8 * (fp[a] - fm[a]) - (fp2 - fm2)) / (12 * h[a])
                H[a, a] = (fp[a] - 2 * f0 + fm[a]) / h[a] ** 2
            for a in range(k):
                for c in range(a):
                    e = np.zeros_like(best)
                    e[free[a]], e[free[c]] = h[a], h[c]
                    fpp, fmm = f(best + e, reml), f(best - e, reml)
                    H[a, c] = H[c, a] = (
                        fpp - 2 * f0 + fmm - H[a, a] * h[a] ** 2 - H[c, c] * h[c] ** 2
                    ) / (2 * h[a] * h[c])
            try:
                step = -np.linalg.solve(H, g)
            except np.linalg.LinAlgError:
                break
            if not np.all(np.isfinite(step)) or np.any(np.linalg.eigvalsh(H) <= 0):
                break
            cand = best.copy()
            cand[free] += step
            cand = np.where((self.lower == 0.0) & (cand < 0.0), 0.0, cand)
            f_cand = f(cand, reml)
            if not f_cand < f_best:
                break
            best, f_best = cand, f_cand
            if np.max(np.abs(step) / np.maximum(np.abs(best[free]), 0.1)) < 1e-8:
                break  # the next step would be rounding noise
        return best

    def conditional_variances(self, theta: np.ndarray) -> np.ndarray:
        """diag(Lambda M^-1 Lambda'): Var(b | y) / sigma^2, as lme4's condVar."""
        theta = np.asarray(theta, dtype=float)
        if self._blocked is not None:
            return conditional_variances(self._blocked, np.split(theta, self._theta_sizes))
        lam = self.lambda_matrix(theta)
        M = lam.T @ self.ZtZ @ lam + np.eye(lam.shape[0])
        return np.asarray(np.diag(lam @ np.linalg.solve(M, lam.T)))

    def cross(self) -> tuple[np.ndarray, np.ndarray]:
        return self.ZtZ, self.ZtX

    def z_matrix(self) -> sp.csc_matrix:
        return self.Z


def make_model(
    X: np.ndarray, y: np.ndarray, terms: tuple[ReTerm, ...], xtx: np.ndarray | None = None
) -> ScalarTermModel | GeneralModel:
    """The fast path for one single-column random term, the general path otherwise."""
    if len(terms) == 1 and terms[0].k == 1:
        return ScalarTermModel(X, y, terms[0], xtx)
    return GeneralModel(X, y, terms, xtx)


def model_for(design: Design, y: np.ndarray | None = None) -> ScalarTermModel | GeneralModel:
    """The model of a design, its prior weights applied: with weights w, the residual
    variance of row i is sigma^2 / w_i, which is the unweighted model of the rows scaled
    by sqrt(w) (X, y and Z alike), its deviance less sum(log w), as lme4's. An offset is
    taken from the response: the model of y - offset has the same estimates. ``y``: another
    response on the design's rows (a bootstrap's), unscaled and without the offset."""
    if y is not None:
        response = y
    elif design.offset is not None:
        response = design.y - design.offset
    else:
        response = design.y
    if design.weights is None:
        model = make_model(design.X, response, design.random, design.xtx)
        if design.pooled is not None:  # pseudo-rows: count the patients they stand for
            model.n = design.pooled.n_rows
            model.log_weights = design.pooled.log_weights
        return model
    root = np.sqrt(design.weights)
    terms = tuple(dataclasses.replace(t, values=t.values * root[:, None]) for t in design.random)
    model = make_model(design.X * root[:, None], response * root, terms)
    model.log_weights = float(np.sum(np.log(design.weights)))
    return model
