"""Small-sample inference for linear combinations of the fixed effects.

- Satterthwaite as lmerTest 3.1 (Kuznetsova, Brockhoff and Christensen 2017): the variance
  parameters are (theta, sigma); their covariance is twice the (pseudo-)inverse of the
  Hessian of the (RE)ML deviance, and Var(beta) is differentiated with respect to them.
- Kenward-Roger as pbkrtest 0.5 (Halekoh and Hojsgaard 2014): the variance parameters are
  the entries of each random term's covariance matrix and the residual variance; the
  adjusted covariance and the denominator df. Everything is computed from the q x q and
  q x p cross-products with Woodbury identities, never an n x n matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from ipdmeta.errors import EstimationError
from ipdmeta.mixed import _numderiv
from ipdmeta.mixed._blocked import term_factor
from ipdmeta.mixed._design import grouped_products
from ipdmeta.mixed._fit import GeneralModel, ScalarTermModel

# lmerTest drops Hessian eigenvalues below this when inverting (as_lmerModLT's tol).
HESS_TOL = 1e-8
# lmerTest's contestMD keeps eigen-directions of L V L' above eps * largest eigenvalue.
EIG_EPS = float(np.sqrt(np.finfo(float).eps))
# pbkrtest inverts the information matrix with a generalised inverse below this.
KR_COND_TOL = 1e-10
# Kenward-Roger on the general path holds several dense q x q matrices: refused, with a
# message, above this much memory rather than exhausting the machine's 24 GB.
KR_MAX_BYTES = 4e9

Model = ScalarTermModel | GeneralModel


@dataclass(frozen=True)
class SatterthwaiteParts:
    """Covariance of (theta, sigma) and the derivatives of Var(beta) with respect to them."""

    vcov_varpar: np.ndarray
    jac: np.ndarray  # p x p x (n_theta + 1)
    hessian: np.ndarray


def satterthwaite_parts(
    model: Model, theta: np.ndarray, sigma: float, reml: bool
) -> SatterthwaiteParts:
    """lmerTest's vcov_varpar (2 x pseudo-inverse of the deviance Hessian in theta and
    sigma, eigenvalues below HESS_TOL dropped) and the Jacobian of Var(beta)."""
    if isinstance(model, ScalarTermModel):
        H, jac = model.varpar_derivatives(float(theta[0]), sigma, reml)
    else:
        H, jac = _numeric_varpar_derivatives(model, theta, sigma, reml)
    evals, evecs = np.linalg.eigh(H)
    pos = evals > HESS_TOL
    h_inv = (evecs[:, pos] / evals[pos]) @ evecs[:, pos].T
    return SatterthwaiteParts(vcov_varpar=2.0 * h_inv, jac=jac, hessian=H)


def _numeric_varpar_derivatives(
    model: GeneralModel, theta: np.ndarray, sigma: float, reml: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The Hessian and Jacobian as lmerTest takes them: numDeriv's Richardson scheme."""
    n, p = model.n, model.p
    nt = theta.size
    x0 = np.concatenate([theta, [sigma]])

    def dev_many(points: np.ndarray) -> np.ndarray:
        # lmerTest's devfun_vp: the (RE)ML deviance at theta and sigma.
        out = np.empty(len(points))
        for i, pt in enumerate(points):
            st = model.solve(pt[:nt])
            s2 = pt[nt] ** 2
            dev = st.ldL2 + st.pwrss / s2 + n * np.log(2.0 * np.pi * s2)
            if reml:
                dev += st.ldRX2 - p * np.log(2.0 * np.pi * s2)
            out[i] = dev
        return out

    def covbeta_many(points: np.ndarray) -> np.ndarray:
        return np.array([pt[nt] ** 2 * np.linalg.inv(model.solve(pt[:nt]).A) for pt in points])

    return _numderiv.hessian(dev_many, x0), _numderiv.jacobian(covbeta_many, x0)


def satterthwaite_df(L: np.ndarray, vcov_beta: np.ndarray, parts: SatterthwaiteParts) -> float:
    """Satterthwaite df for one contrast L (lmerTest's contest1D)."""
    var_con = float(L @ vcov_beta @ L)
    grad = np.einsum("i,ijk,j->k", L, parts.jac, L)
    denom = float(grad @ parts.vcov_varpar @ grad)
    return 2.0 * var_con**2 / denom if denom > 0 else np.inf


def _fstat_ddf(nu: np.ndarray) -> float:
    # lmerTest's get_Fstat_ddf
    if nu.size == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < 1e-8):
        return float(np.mean(nu))
    if np.any(nu <= 2):
        return 2.0
    E = float(np.sum(nu / (nu - 2.0)))
    return 2.0 * E / (E - nu.size)


def satterthwaite_ftest(
    L: np.ndarray, beta: np.ndarray, vcov_beta: np.ndarray, parts: SatterthwaiteParts
) -> tuple[float, int, float]:
    """F value, numerator df and denominator df for L beta = 0 (lmerTest's contestMD)."""
    if L.shape[0] == 1:
        var = float(L[0] @ vcov_beta @ L[0])
        t = float(L[0] @ beta) / np.sqrt(var)
        return t * t, 1, satterthwaite_df(L[0], vcov_beta, parts)
    VL = L @ vcov_beta @ L.T
    d, P = np.linalg.eigh(VL)
    d, P = d[::-1], P[:, ::-1]
    tol = max(EIG_EPS * d[0], 0.0)
    q = int(np.sum(d > tol))
    if q == 0:
        return np.nan, 0, np.nan
    PtL = (P.T @ L)[:q]
    if q == 1:
        var = float(PtL[0] @ vcov_beta @ PtL[0])
        t = float(PtL[0] @ beta) / np.sqrt(var)
        return t * t, 1, satterthwaite_df(PtL[0], vcov_beta, parts)
    t2 = (PtL @ beta) ** 2 / d[:q]
    F = float(np.sum(t2) / q)
    nu = np.array(
        [
            2.0
            * d[m] ** 2
            / float(
                np.einsum("i,ijk,j->k", PtL[m], parts.jac, PtL[m])
                @ parts.vcov_varpar
                @ np.einsum("i,ijk,j->k", PtL[m], parts.jac, PtL[m])
            )
            for m in range(q)
        ]
    )
    return F, q, _fstat_ddf(nu)


# ---------------------------------------------------------------------------------------
# Kenward-Roger


@dataclass(frozen=True)
class KenwardRogerParts:
    """pbkrtest's vcovAdj: adjusted covariance PhiA, the P matrices and W."""

    vcov_adj: np.ndarray
    P: tuple[np.ndarray, ...]
    W: np.ndarray


def _param_patterns(model: GeneralModel) -> list[np.ndarray]:
    """For each variance parameter of the random terms, the q x q pattern E_r such that
    G_r = Z E_r Z' (pbkrtest's order: each term's covariance, lower triangle by column)."""
    out = []
    offset = 0
    for t in model.terms:
        k, m = t.k, t.n_levels
        for j in range(k):
            for i in range(j, k):
                e = np.zeros((k, k))
                e[i, j] = e[j, i] = 1.0
                E = np.zeros((model.q, model.q))
                E[offset : offset + m * k, offset : offset + m * k] = np.kron(np.eye(m), e)
                out.append(E)
        offset += m * k
    return out


def _kr_general_pieces(
    model: GeneralModel, theta: np.ndarray, sigma: float
) -> tuple[list[np.ndarray], dict[tuple[int, int], np.ndarray], np.ndarray]:
    """P, Q and the trace matrix of pbkrtest's vcovAdj from the q x q and q x p
    cross-products: Sigma = sigma^2 (I + H H'), H = Z Lambda, Sigma^{-1} = T / sigma^2
    with T = I - H S H', S = (H'H + I)^{-1}, and T^k = T^{k-1} - H S^k H'."""
    n_params = sum(t.k * (t.k + 1) // 2 for t in model.terms)
    needed = (n_params + 12) * model.q**2 * 8  # the patterns and a dozen q x q products
    if needed > KR_MAX_BYTES:
        raise EstimationError(
            f"Kenward-Roger for this model forms q x q matrices (q = {model.q:,} random "
            f"effects), about {needed / 1e9:.0f} GB; use ddf='satterthwaite', which needs none"
        )
    ZtZ, ZtX = model.cross()
    XtX = model.XtX
    n = model.n
    lam = model.lambda_matrix(theta)
    s2 = sigma * sigma
    K = lam.T @ ZtZ @ lam
    S = np.linalg.inv(K + np.eye(K.shape[0]))
    S2 = S @ S
    S3 = S2 @ S
    hx = lam.T @ ZtX
    hz = lam.T @ ZtZ

    def powers(a_b: np.ndarray, ha: np.ndarray, hb: np.ndarray) -> list[np.ndarray]:
        t1 = a_b - ha.T @ S @ hb
        t2 = t1 - ha.T @ S2 @ hb
        t3 = t2 - ha.T @ S3 @ hb
        return [t1, t2, t3]

    xTx = powers(XtX, hx, hx)
    zTx = powers(ZtX, hz, hx)
    zTz = powers(ZtZ, hz, hz)
    trT = n - float(np.sum(S * K))
    trT2 = trT - float(np.sum(S2 * K))
    ZiX = zTx[0] / s2  # Z' Sigma^{-1} X
    ZiZ = zTz[0] / s2
    Z2X = zTx[1] / s2**2  # Z' Sigma^{-2} X
    Z2Z = zTz[1] / s2**2
    X2X = xTx[1] / s2**2
    X3X = xTx[2] / s2**3

    Es = _param_patterns(model)
    g = len(Es) + 1
    P: list[np.ndarray] = [-(ZiX.T @ E @ ZiX) for E in Es]
    P.append(-X2X)
    Q: dict[tuple[int, int], np.ndarray] = {}
    Kt = np.zeros((g, g))
    EZ = [E @ ZiZ for E in Es]
    for r in range(len(Es)):
        for c in range(r, len(Es)):
            Q[(r, c)] = ZiX.T @ EZ[r] @ Es[c] @ ZiX
            Kt[r, c] = Kt[c, r] = float(np.sum(EZ[r] * EZ[c].T))
        Q[(r, g - 1)] = ZiX.T @ Es[r] @ Z2X
        Kt[r, g - 1] = Kt[g - 1, r] = float(np.sum(Es[r] * Z2Z))
    Q[(g - 1, g - 1)] = X3X
    Kt[g - 1, g - 1] = trT2 / s2**2
    return P, Q, Kt


def _shared_grouping(model: GeneralModel) -> bool:
    """Whether every random term has the same grouping factor (random effects of one
    level interact only with that level's): Z'Z is then block-diagonal by level."""
    first = model.terms[0]
    return all(t.group == first.group and np.array_equal(t.codes, first.codes)
               for t in model.terms[1:])  # fmt: skip


def _kr_level_pieces(
    model: GeneralModel, theta: np.ndarray, sigma: float
) -> tuple[list[np.ndarray], dict[tuple[int, int], np.ndarray], np.ndarray]:
    """:func:`_kr_general_pieces` when every term shares one grouping factor: each level's
    K x K block (K random effects per level) stands for the q x q matrices, which are
    block-diagonal, so the cost and memory grow with the number of levels, not its
    square. Same formulas, block by block."""
    terms = model.terms
    codes = terms[0].codes
    m = terms[0].n_levels
    V = np.column_stack([t.values for t in terms])  # n x K, the level's columns
    X = model.X
    K = V.shape[1]
    C = grouped_products(codes, m, V)  # each level's Z'Z block
    ZX = grouped_products(codes, m, V, X)
    lam = np.zeros((K, K))
    patterns: list[np.ndarray] = []
    pos = start = 0
    for t in terms:
        size = t.k * (t.k + 1) // 2
        T = term_factor(theta[pos : pos + size], t.k)
        lam[start : start + t.k, start : start + t.k] = T
        for j in range(t.k):
            for i in range(j, t.k):
                e = np.zeros((K, K))
                e[start + i, start + j] = e[start + j, start + i] = 1.0
                patterns.append(e)
        pos += size
        start += t.k
    s2 = sigma * sigma
    Kb = np.einsum("ba,jbc,cd->jad", lam, C, lam)  # Lambda' C_j Lambda
    S = np.linalg.inv(Kb + np.eye(K))
    S2 = S @ S
    S3 = S2 @ S
    hx = np.einsum("ba,jbc->jac", lam, ZX)  # Lambda' Z_j'X_j
    hz = np.einsum("ba,jbc->jac", lam, C)  # Lambda' C_j

    def quad(a: np.ndarray, Sk: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.einsum("jka,jkl,jlb->jab", a, Sk, b)

    xtx1 = model.XtX - quad(hx, S, hx).sum(axis=0)
    xtx2 = xtx1 - quad(hx, S2, hx).sum(axis=0)
    xtx3 = xtx2 - quad(hx, S3, hx).sum(axis=0)
    ztx1 = ZX - quad(hz, S, hx)
    ztx2 = ztx1 - quad(hz, S2, hx)
    ztz1 = C - quad(hz, S, hz)
    ztz2 = ztz1 - quad(hz, S2, hz)
    trT = model.n - float(np.sum(S * Kb))
    trT2 = trT - float(np.sum(S2 * Kb))
    ZiX, ZiZ = ztx1 / s2, ztz1 / s2
    Z2X, Z2Z = ztx2 / s2**2, ztz2 / s2**2
    g = len(patterns) + 1
    P: list[np.ndarray] = [-np.einsum("jka,kl,jlb->ab", ZiX, e, ZiX) for e in patterns]
    P.append(-xtx2 / s2**2)
    Q: dict[tuple[int, int], np.ndarray] = {}
    Kt = np.zeros((g, g))
    EZ = [np.einsum("kl,jlm->jkm", e, ZiZ) for e in patterns]
    for r in range(len(patterns)):
        for c in range(r, len(patterns)):
            Q[(r, c)] = np.einsum("jka,jkl,lm,jmb->ab", ZiX, EZ[r], patterns[c], ZiX)
            Kt[r, c] = Kt[c, r] = float(np.einsum("jab,jba->", EZ[r], EZ[c]))
        Q[(r, g - 1)] = np.einsum("jka,kl,jlb->ab", ZiX, patterns[r], Z2X)
        Kt[r, g - 1] = Kt[g - 1, r] = float(np.einsum("ab,jab->", patterns[r], Z2Z))
    Q[(g - 1, g - 1)] = xtx3 / s2**3
    Kt[g - 1, g - 1] = trT2 / s2**2
    return P, Q, Kt


def _kr_scalar_pieces(
    model: ScalarTermModel, theta: np.ndarray, sigma: float
) -> tuple[list[np.ndarray], dict[tuple[int, int], np.ndarray], np.ndarray]:
    """P, Q and the trace matrix for one single-column random term: every q x q matrix is
    diagonal, so all is O(groups x p^2). With s = 1 / (1 + theta^2 z'z) per group,
    Z'T^k X = S s^k, Z'T^k Z = diag(z'z s^k) and X'T^k X = X'X - theta^2 sum_j S' s^j S."""
    th2 = float(theta[0]) ** 2
    s2 = sigma * sigma
    zz, Sg = model.zz, model.S
    sv = 1.0 / (1.0 + th2 * zz)
    xtx = model.XtX
    x1 = xtx - th2 * (Sg.T * sv) @ Sg
    x2 = x1 - th2 * (Sg.T * sv**2) @ Sg
    x3 = x2 - th2 * (Sg.T * sv**3) @ Sg
    trT = model.n - float(np.sum(th2 * zz * sv))
    trT2 = trT - float(np.sum(th2 * zz * sv**2))
    ZiX = Sg * (sv / s2)[:, None]
    zi_z = zz * sv / s2  # diagonal of Z' Sigma^{-1} Z
    Z2X = Sg * (sv**2 / s2**2)[:, None]
    z2_z = zz * sv**2 / s2**2
    P = [-(ZiX.T @ ZiX), -x2 / s2**2]
    Q = {
        (0, 0): (ZiX.T * zi_z) @ ZiX,
        (0, 1): ZiX.T @ Z2X,
        (1, 1): x3 / s2**3,
    }
    Kt = np.array([[np.sum(zi_z**2), np.sum(z2_z)], [np.sum(z2_z), trT2 / s2**2]])
    return P, Q, Kt


def kenward_roger_parts(
    model: Model, theta: np.ndarray, sigma: float, vcov_beta: np.ndarray
) -> KenwardRogerParts:
    if isinstance(model, ScalarTermModel):
        P, Q, Kt = _kr_scalar_pieces(model, theta, sigma)
        g = 2
    elif _shared_grouping(model):
        P, Q, Kt = _kr_level_pieces(model, theta, sigma)
        g = len(P)
    else:
        P, Q, Kt = _kr_general_pieces(model, theta, sigma)
        g = len(P)
    Phi = vcov_beta
    IE2 = np.zeros((g, g))
    for i in range(g):
        PhiPi = Phi @ P[i]
        for j in range(i, g):
            IE2[i, j] = IE2[j, i] = (
                Kt[i, j]
                - 2.0 * float(np.sum(Phi * Q[(i, j)]))
                + float(np.sum(PhiPi * (P[j] @ Phi)))
            )
    condi = float(np.min(np.abs(np.linalg.eigvalsh(IE2))))
    W = 2.0 * (np.linalg.inv(IE2) if condi > KR_COND_TOL else np.linalg.pinv(IE2))
    W = 0.5 * (W + W.T)
    U = np.zeros_like(Phi)
    for i in range(g - 1):
        for j in range(i + 1, g):
            U += W[i, j] * (Q[(i, j)] - P[i] @ Phi @ P[j])
    U = U + U.T
    for i in range(g):
        U += W[i, i] * (Q[(i, i)] - P[i] @ Phi @ P[i])
    PhiA = Phi + 2.0 * Phi @ U @ Phi
    return KenwardRogerParts(vcov_adj=PhiA, P=tuple(P), W=W)


def _div_zero(x: float, y: float, tol: float = 1e-14) -> float:
    return 1.0 if abs(x) < tol and abs(y) < tol else x / y


def kr_adjust(
    L: np.ndarray, Phi: np.ndarray, parts: KenwardRogerParts, q: int | None = None
) -> tuple[float, float]:
    """Denominator df and F scaling for L beta = 0 (pbkrtest's Lb_ddf / .KR_adjust)."""
    L = np.atleast_2d(L)
    if q is None:
        q = L.shape[0]
    Theta = L.T @ np.linalg.solve(L @ Phi @ L.T, L)
    TP = Theta @ Phi
    us = [TP @ Pi @ Phi for Pi in parts.P]
    A1 = A2 = 0.0
    g = len(us)
    for i in range(g):
        for j in range(i, g):
            e = 1.0 if i == j else 2.0
            A1 += e * parts.W[i, j] * float(np.trace(us[i])) * float(np.trace(us[j]))
            A2 += e * parts.W[i, j] * float(np.sum(us[i] * us[j].T))
    B = (A1 + 6.0 * A2) / (2.0 * q)
    gg = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
    c1 = gg / (3 * q + 2 * (1 - gg))
    c2 = (q - gg) / (3 * q + 2 * (1 - gg))
    c3 = (q + 2 - gg) / (3 * q + 2 * (1 - gg))
    V0 = 1 + c1 * B
    V1 = 1 - c2 * B
    V2 = 1 - c3 * B
    if abs(V0) < 1e-10:
        V0 = 0.0
    rho = (1.0 / q) * _div_zero(1 - A2 / q, V1) ** 2 * V0 / V2
    df2 = 4 + (q + 2) / (q * rho - 1)
    scale = 1.0 if abs(df2 - 2) < 1e-2 else df2 * (1 - A2 / q) / (df2 - 2)
    return float(df2), float(scale)


def kr_ftest(
    L: np.ndarray, beta: np.ndarray, Phi: np.ndarray, parts: KenwardRogerParts
) -> tuple[float, float, int, float]:
    """Scaled F, unscaled F, numerator df and denominator df (pbkrtest's KRmodcomp)."""
    q = int(np.linalg.matrix_rank(L))
    ddf, scale = kr_adjust(L, Phi, parts, q=q)
    Lb = L @ beta
    wald = float(Lb @ np.linalg.solve(L @ parts.vcov_adj @ L.T, Lb))
    Fu = wald / q
    return scale * Fu, Fu, q, ddf


def t_pvalue(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Two-sided p-value of t on df degrees of freedom (normal where df is infinite)."""
    t = np.abs(np.asarray(t, dtype=float))
    df = np.asarray(df, dtype=float)
    fin = np.isfinite(df)
    tail = np.where(fin, special.stdtr(np.where(fin, df, 1.0), -t), special.ndtr(-t))
    return np.asarray(2.0 * tail)


def t_quantile(level: float, df: np.ndarray) -> np.ndarray:
    """The (1 + level) / 2 quantile of t on df degrees of freedom (normal if infinite)."""
    df = np.asarray(df, dtype=float)
    p = 0.5 + level / 2.0
    fin = np.isfinite(df)
    return np.asarray(np.where(fin, special.stdtrit(np.where(fin, df, 1.0), p), special.ndtri(p)))
