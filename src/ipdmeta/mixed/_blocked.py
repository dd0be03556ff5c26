"""The Cholesky factor of lme4's random-effects system, by blocks (MixedModels.jl's way).

``M = Lambda' Z'Z Lambda + I`` is q x q. Every row belongs to one level of each grouping
factor, so the block of M that belongs to one random term is block-diagonal: one k x k
block per level. With the random effects ordered so that the term with the most random
effects comes first,

    M = [M11 M12]      L = [L11  0 ]      L11 = chol of each k x k block of M11,
        [M21 M22],         [L21 L22],     L21 = M21 L11^-T (as sparse as Z2'Z1),
                                          L22 = chol(M22 - L21 L21').

Only the Schur complement ``M22 - L21 L21'`` of the other terms is dense. A crossed design
of 3,000 x 1,100 levels then factors a 1,100 x 1,100 matrix rather than a 4,100 x 4,100
one, and a model with one random term (random slopes in 400 groups) none at all.

Order: ``perm`` lists the positions of the model's random effects as they are factored
(the big term's first); vectors handed in and out are in the model's order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from ipdmeta.errors import EstimationError
from ipdmeta.mixed._design import ReTerm, grouped_products


def term_factor(theta: np.ndarray, k: int) -> np.ndarray:
    """A term's k x k lower-triangular factor T from its theta (columns of the lower
    triangle, as lme4 orders them)."""
    T = np.zeros((k, k))
    pos = 0
    for j in range(k):
        for i in range(j, k):
            T[i, j] = theta[pos]
            pos += 1
    return T


@dataclass(frozen=True)
class BlockedFactor:
    """L at one theta: the big term's blocks, the sparse L21 and the dense L22."""

    L11: np.ndarray  # m1 x k1 x k1, lower
    L21: sp.csr_matrix  # q2 x q1
    L22: np.ndarray  # q2 x q2, lower
    perm: np.ndarray
    q1: int

    @property
    def logdet2(self) -> float:
        """log det(M) = 2 log det(L)."""
        d11 = np.log(np.diagonal(self.L11, axis1=1, axis2=2))
        return float(2.0 * (np.sum(d11) + np.sum(np.log(np.diag(self.L22)))))

    def _split(self, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        P = B[self.perm]
        return P[: self.q1], P[self.q1 :]

    def _join(self, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
        out = np.empty((top.shape[0] + bottom.shape[0], *top.shape[1:]))
        out[self.perm] = np.concatenate([top, bottom])
        return out

    def _blocks(self, B1: np.ndarray) -> np.ndarray:
        m, k = self.L11.shape[:2]
        return B1.reshape(m, k, -1)

    def _solve11(self, L: np.ndarray, B1: np.ndarray) -> np.ndarray:
        if L.shape[1] == 1:  # scalar blocks: a division
            return B1 / L[:, 0, :]
        return np.linalg.solve(L, self._blocks(B1)).reshape(B1.shape)

    def solve_lower(self, B: np.ndarray) -> np.ndarray:
        """L^-1 B for B with q rows (a vector or a matrix)."""
        vector = B.ndim == 1
        B = B[:, None] if vector else B
        B1, B2 = self._split(B)
        X1 = self._solve11(self.L11, B1)
        if self.L22.size:
            X2 = sla.solve_triangular(self.L22, B2 - self.L21 @ X1, lower=True, check_finite=False)
        else:
            X2 = B2
        out = self._join(X1, X2)
        return out[:, 0] if vector else out

    def solve_upper(self, C: np.ndarray) -> np.ndarray:
        """L'^-1 C for C with q rows (a vector or a matrix)."""
        vector = C.ndim == 1
        C = C[:, None] if vector else C
        C1, C2 = self._split(C)
        if self.L22.size:
            X2 = sla.solve_triangular(self.L22, C2, lower=True, trans="T", check_finite=False)
            C1 = C1 - self.L21.T @ X2
        else:
            X2 = C2
        X1 = self._solve11(np.swapaxes(self.L11, 1, 2), C1)
        out = self._join(X1, X2)
        return out[:, 0] if vector else out


def _cross_products(C: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """For C (r x c): a sparse P and the positions (i, j), i >= j, such that
    ``P @ w`` lists the entries (i, j) of ``C diag(w) C'`` that can be nonzero."""
    csc = C.tocsc()
    csc.sort_indices()
    rows_i, rows_j, cols, vals = [], [], [], []
    counts = np.diff(csc.indptr)
    # Columns with the same number of entries share one pattern of pairs: all at once.
    for size in np.unique(counts[counts > 0]):
        which = np.flatnonzero(counts == size)
        at = csc.indptr[which][:, None] + np.arange(size)[None, :]
        r, v = csc.indices[at], csc.data[at]
        ii, jj = np.tril_indices(int(size))
        rows_i.append(r[:, ii].ravel())
        rows_j.append(r[:, jj].ravel())
        vals.append((v[:, ii] * v[:, jj]).ravel())
        cols.append(np.repeat(which, ii.size))
    i = np.concatenate(rows_i) if rows_i else np.zeros(0, dtype=int)
    j = np.concatenate(rows_j) if rows_j else np.zeros(0, dtype=int)
    # Rows of a column are sorted, so i >= j holds; one pattern slot per distinct (i, j).
    key = i.astype(np.int64) * C.shape[0] + j
    slots, slot_of = np.unique(key, return_inverse=True)
    pairs = sp.csr_matrix(
        (
            np.concatenate(vals) if vals else np.zeros(0),
            (slot_of, np.concatenate(cols) if cols else np.zeros(0, dtype=int)),
        ),
        shape=(slots.size, C.shape[1]),
    )
    return pairs, (slots // C.shape[0]).astype(np.intp), (slots % C.shape[0]).astype(np.intp)


def _block_diagonal(blocks: np.ndarray) -> sp.csr_matrix:
    """The sparse block-diagonal matrix of an m x k x k array of blocks."""
    m, k = blocks.shape[:2]
    base = np.arange(m)[:, None, None] * k
    rows = np.broadcast_to(base + np.arange(k)[None, :, None], blocks.shape)
    cols = np.broadcast_to(base + np.arange(k)[None, None, :], blocks.shape)
    return sp.csr_matrix((blocks.ravel(), (rows.ravel(), cols.ravel())), shape=(m * k, m * k))


class BlockedSystem:
    """Z'Z kept by blocks for a set of random terms, factored at any theta."""

    def __init__(self, terms: tuple[ReTerm, ...], Z: sp.csc_matrix) -> None:
        sizes = [t.n_levels * t.k for t in terms]
        starts = np.concatenate([[0], np.cumsum(sizes)])
        self.big = int(np.argmax(sizes))
        self.terms = terms
        big = terms[self.big]
        self.k1, self.m1 = big.k, big.n_levels
        self.q1 = sizes[self.big]
        first = np.arange(starts[self.big], starts[self.big + 1])
        rest = np.concatenate(
            [np.arange(starts[i], starts[i + 1]) for i in range(len(terms)) if i != self.big]
            or [np.zeros(0, dtype=int)]
        ).astype(int)
        self.perm = np.concatenate([first, rest]).astype(int)
        # The big term's Z'Z blocks: for each level, the sum over its rows of z z'.
        self.G = grouped_products(big.codes, self.m1, big.values)
        Z1 = Z[:, first]
        Z2 = Z[:, rest]
        self.C21 = sp.csr_matrix(Z2.T @ Z1)
        self.C22 = np.asarray((Z2.T @ Z2).toarray())
        self.rest_terms = [i for i in range(len(terms)) if i != self.big]
        self.scalar = all(t.k == 1 for t in terms)
        # Where C21's stored values sit, for scaling them by the diagonal Lambdas.
        self._c21_rows = np.repeat(np.arange(self.C21.shape[0]), np.diff(self.C21.indptr))
        if self.scalar:
            self._pairs, self._pair_rows, self._pair_cols = _cross_products(self.C21)

    def _schur_scalar(self, lam2: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Lambda2 C22 Lambda2 + I - L21 L21' (lower triangle) when all terms are scalar:
        L21 L21' = Lambda2 C21 diag(weights) C21' Lambda2 is linear in the weights, so
        its entries are one sparse product (self._pairs, fixed at set-up) away."""
        S = self.C22 * np.outer(lam2, lam2)
        S[np.diag_indices_from(S)] += 1.0
        values = self._pairs @ weights
        S[self._pair_rows, self._pair_cols] -= (
            values * lam2[self._pair_rows] * lam2[self._pair_cols]
        )
        return S

    def _rest_lambda(self, theta_by_term: list[np.ndarray]) -> sp.csr_matrix:
        """Lambda of the other terms, block-diagonal, in their order."""
        blocks = []
        for i in self.rest_terms:
            t = self.terms[i]
            blocks.append(sp.kron(sp.identity(t.n_levels), term_factor(theta_by_term[i], t.k)))
        if not blocks:
            return sp.csr_matrix((0, 0))
        return sp.csr_matrix(sp.block_diag(blocks))

    def _factor_scalar(self, theta_by_term: list[np.ndarray]) -> BlockedFactor:
        """Every term one column: Lambda is diagonal, and so is L11."""
        t1 = float(theta_by_term[self.big][0])
        d11 = t1 * t1 * self.G[:, 0, 0] + 1.0
        l11 = np.sqrt(d11)
        lam2 = np.concatenate(
            [np.full(self.terms[i].n_levels, float(theta_by_term[i][0])) for i in self.rest_terms]
        )
        # L21 = Lambda2 C21 Lambda1 / l11 (column by column), in C21's sparsity.
        data = self.C21.data * lam2[self._c21_rows] * (t1 / l11[self.C21.indices])
        L21 = sp.csr_matrix((data, self.C21.indices, self.C21.indptr), shape=self.C21.shape)
        S = self._schur_scalar(lam2, t1 * t1 / d11)
        try:
            L22 = sla.cholesky(S, lower=True, check_finite=False)
        except np.linalg.LinAlgError as exc:
            raise EstimationError("the random-effects system is not positive definite") from exc
        return BlockedFactor(l11[:, None, None], L21, L22, self.perm, self.q1)

    def factor(self, theta_by_term: list[np.ndarray]) -> BlockedFactor:
        if self.scalar and self.C22.shape[0]:
            return self._factor_scalar(theta_by_term)
        T1 = term_factor(theta_by_term[self.big], self.k1)
        M11 = np.einsum("ba,jbc,cd->jad", T1, self.G, T1)
        M11[:, np.arange(self.k1), np.arange(self.k1)] += 1.0
        try:
            L11 = np.linalg.cholesky(M11)
        except np.linalg.LinAlgError as exc:
            raise EstimationError("the random-effects system is not positive definite") from exc
        q2 = self.C22.shape[0]
        if q2 == 0:
            return BlockedFactor(
                L11, sp.csr_matrix((0, self.q1)), np.zeros((0, 0)), self.perm, self.q1
            )
        lam2 = self._rest_lambda(theta_by_term)
        lam1 = sp.kron(sp.identity(self.m1), T1, format="csr")
        M21 = lam2.T @ self.C21 @ lam1
        # L21 = M21 L11^-T: L11^-T is block-diagonal, one inverse transposed per level.
        inv_t = np.swapaxes(np.linalg.inv(L11), 1, 2)
        L21 = sp.csr_matrix(M21 @ _block_diagonal(inv_t))
        half = np.asarray(lam2.T @ self.C22)  # Lambda2' C22, then (Lambda2' half')'
        S = np.array((lam2.T @ half.T).T)
        S[np.diag_indices_from(S)] += 1.0
        S -= (L21 @ L21.T).toarray()
        try:
            L22 = sla.cholesky(S, lower=True, check_finite=False)
        except np.linalg.LinAlgError as exc:
            raise EstimationError("the random-effects system is not positive definite") from exc
        return BlockedFactor(L11, L21, L22, self.perm, self.q1)


# Columns of L21 handled at once for diag(Lambda M^-1 Lambda'): q2 x chunk doubles (40 MB).
_CHUNK_CELLS = 5_000_000


def conditional_variances(system: BlockedSystem, theta_by_term: list[np.ndarray]) -> np.ndarray:
    """diag(Lambda M^-1 Lambda'), the random effects' conditional variances over sigma^2,
    in the model's order, without forming M^-1.

    With A_j = L11_j^-1 T1' and W = L22^-1 L21, the big term's level j contributes
    diag(A_j' (I + W_j' W_j) A_j); the other terms, diag(Lambda2 (L22 L22')^-1 Lambda2').
    """
    F = system.factor(theta_by_term)
    T1 = term_factor(theta_by_term[system.big], system.k1)
    m1, k1 = system.m1, system.k1
    A = np.linalg.solve(F.L11, np.broadcast_to(T1.T, (m1, k1, k1)))  # m1 x k1 x k1
    G = np.zeros((m1, k1, k1))
    q2 = F.L22.shape[0]
    if q2:
        step = max(1, _CHUNK_CELLS // (q2 * k1))
        L21 = F.L21.tocsc()
        for start in range(0, m1, step):
            stop = min(m1, start + step)
            block = L21[:, start * k1 : stop * k1].toarray()
            W = sla.solve_triangular(F.L22, block, lower=True, check_finite=False)
            W = W.reshape(q2, stop - start, k1)
            G[start:stop] = np.einsum("qmi,qmj->mij", W, W)
    G[:, np.arange(k1), np.arange(k1)] += 1.0
    big = np.einsum("mai,mab,mbi->mi", A, G, A).reshape(m1 * k1)
    rest = np.zeros(0)
    if q2:
        lam2 = system._rest_lambda(theta_by_term).toarray()
        Y = sla.solve_triangular(F.L22, lam2.T, lower=True, check_finite=False)
        rest = np.sum(Y * Y, axis=0)
    out = np.empty(system.q1 + q2)
    out[F.perm] = np.concatenate([big, rest])
    return out
