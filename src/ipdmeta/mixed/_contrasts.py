"""Hypothesis matrices for type I, II and III tests, as lmerTest 3.1 builds them."""

from __future__ import annotations

import numpy as np

from ipdmeta.mixed._design import Design, FixedTerm

# lmerTest's doolittle() zeroes entries (and pivots) below this absolute size.
DOOLITTLE_EPS = 1e-6
# lmerTest drops hypothesis rows whose absolute sum is at most this.
ROW_TOL = 1e-8
# R's zapsmall() with options(digits = 7), which lmerTest applies to type III contrasts.
ZAP_DIGITS = 7


def doolittle_l(x: np.ndarray) -> np.ndarray:
    """Unit lower-triangular factor of an LU decomposition without pivoting."""
    n = x.shape[0]
    L = np.eye(n)
    U = np.zeros((n, n))
    for i in range(n):
        U[i, :] = x[i, :] - L[i, :i] @ U[:i, :]
        if i + 1 < n:
            col = x[i + 1 :, i] - L[i + 1 :, :i] @ U[:i, i]
            L[i + 1 :, i] = 0.0 if abs(U[i, i]) < DOOLITTLE_EPS else col / U[i, i]
    L[np.abs(L) < DOOLITTLE_EPS] = 0.0
    return L


def zapsmall(x: np.ndarray, digits: int = ZAP_DIGITS) -> np.ndarray:
    mx = float(np.max(np.abs(x))) if x.size else 0.0
    d = max(0, digits - int(np.ceil(np.log10(mx)))) if mx > 0 else digits
    return np.round(x, d)


def _col_terms(design: Design) -> list[str]:
    labels = ["(Intercept)"] * design.X.shape[1]
    for t in design.terms:
        for c in t.columns:
            labels[c] = t.label
    return labels


def containment(design: Design) -> dict[str, list[str]]:
    """For each term, the terms that contain it (same numeric variables, more factors). A
    function of variables (log(x), poly(x, 2)) counts as a numeric variable."""
    kinds = design.kinds
    out: dict[str, list[str]] = {}
    for a in design.terms:
        va = set(a.variables)
        na = {v for v in va if kinds.get(v, "numeric") == "numeric"}
        out[a.label] = []
        for b in design.terms:
            vb = set(b.variables)
            nb = {v for v in vb if kinds.get(v, "numeric") == "numeric"}
            if va <= vb and vb - va and na == nb:
                out[a.label].append(b.label)
    return out


def type1(design: Design) -> dict[str, np.ndarray]:
    X = design.X
    p = X.shape[1]
    L = np.ones((1, 1)) if p == 1 else doolittle_l(X.T @ X).T
    return {t.label: L[list(t.columns), :] for t in design.terms}


def _marginal(design: Design) -> dict[str, np.ndarray]:
    eye = np.eye(design.X.shape[1])
    return {t.label: eye[list(t.columns), :] for t in design.terms}


def type2(design: Design) -> dict[str, np.ndarray]:
    if design.X.shape[1] <= 1 or len(design.terms) <= 1:
        return type1(design)
    contained = containment(design)
    X = design.X
    p = X.shape[1]
    col_terms = _col_terms(design)
    by_label = {t.label: t for t in design.terms}
    out: dict[str, np.ndarray] = {}
    marginal = _marginal(design)
    for t in design.terms:
        if not contained[t.label]:
            out[t.label] = marginal[t.label]
            continue
        cols_term = list(t.columns)
        for c in contained[t.label]:
            cols_term += list(by_label[c].columns)
        rest = [j for j in range(p) if j not in set(cols_term)]
        order = rest + cols_term
        Xn = X[:, order]
        Lc = doolittle_l(Xn.T @ Xn).T
        rows = [k for k, j in enumerate(order) if col_terms[j] == t.label]
        Lrows = np.zeros((len(rows), p))
        Lrows[:, order] = Lc[rows, :]
        out[t.label] = Lrows
    return out


def _full_dummies(design: Design, term: FixedTerm) -> np.ndarray:
    """The columns of model.matrix(~ 0 + term): every cell of its factors times its numerics."""
    frame = design.frame
    block = np.ones((len(frame), 1))
    for v in term.variables:
        if design.kinds.get(v) == "factor":
            levels = design.levels.get(v)
            values = frame[v].to_numpy()
            if levels is None:
                levels = tuple(sorted(set(values)))
            d = np.column_stack([(values == lv).astype(float) for lv in levels])
        elif v in frame:
            d = frame[v].to_numpy(dtype=float)[:, None]
        else:  # a function of variables (log(x), poly(x, 2)): its own columns
            d = _expression_columns(design, v)
        block = (block[:, :, None] * d[:, None, :]).reshape(len(frame), -1)
    return block


def _expression_columns(design: Design, expression: str) -> np.ndarray:
    """The columns of ``expression`` (one factor of a term, such as ``poly(x, 2)``) over
    the rows fitted: stateful transforms see the same rows, so the same state."""
    key = f"expression:{expression}"
    if key not in design._cache:
        from formulaic import model_matrix

        from ipdmeta.mixed._design import FORMULA_FUNCTIONS

        matrix = model_matrix(f"0 + {expression}", design.frame, na_action="raise",
                              context=FORMULA_FUNCTIONS)  # fmt: skip
        design._cache[key] = np.asarray(matrix.to_numpy(dtype=float))
    columns: np.ndarray = design._cache[key]
    return columns


def type3(design: Design) -> dict[str, np.ndarray]:
    if design.X.shape[1] <= 1 or len(design.terms) <= 1:
        return type1(design)
    if design.pooled is not None:
        # Pseudo-rows (a fit from per-study blocks) have no factor levels to make full
        # dummies from. What follows maps the full dummies onto X's columns, which does
        # not depend on the rows as long as they span X: the grid's rows do.
        return type3(design.pooled.grid)
    X = design.X
    blocks = [np.ones((X.shape[0], 1))] if design.has_intercept else []
    blocks += [_full_dummies(design, t) for t in design.terms]
    rdX = np.column_stack(blocks)
    L = zapsmall((np.linalg.pinv(X) @ rdX).T)  # rows: rdX columns; columns: X columns
    contained = containment(design)
    by_label = {t.label: t for t in design.terms}
    for t in sorted(design.terms, key=lambda t: len(t.variables), reverse=True):
        cont = contained[t.label]
        if cont:
            xc = L[:, [c for lab in cont for c in by_label[lab].columns]]
            yc = L[:, list(t.columns)]
            coef, *_ = np.linalg.lstsq(xc, yc, rcond=None)
            L[:, list(t.columns)] = zapsmall(yc - xc @ coef)
    # The rows of L that belong to X's own columns (treatment coding: identical columns).
    rows = []
    for j in range(X.shape[1]):
        diff = np.max(np.abs(rdX - X[:, [j]]), axis=0)
        rows.append(int(np.argmin(diff)))
    Lx = L[rows, :]
    out = {}
    for t in design.terms:
        Lt = Lx[:, list(t.columns)].T
        out[t.label] = Lt[np.sum(np.abs(Lt), axis=1) > ROW_TOL]
    return out
