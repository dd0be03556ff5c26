"""Permutation tests of the model coefficients (Follmann & Proschan 1999; metafor permutest)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ipdmeta._display import RichDisplay, SummaryText
from ipdmeta.errors import EstimationError, ModelSpecError
from ipdmeta.meta._core import fit_model
from ipdmeta.meta.batch import random_effects_batch
from ipdmeta.meta.regression import MetaRegressionResult, qm_test
from ipdmeta.meta.univariate import MetaResult

__all__ = ["PermutationResult", "permutation_test"]

# metafor counts a permuted statistic as at least as extreme as the observed one when it is
# within this distance (comptol = sqrt(.Machine$double.eps)), so that ties by symmetry count.
_COMPTOL = math.sqrt(np.finfo(float).eps)


# eq=False: fields hold arrays, whose == is elementwise
@dataclass(frozen=True, eq=False, repr=False)
class PermutationResult(RichDisplay):
    """Permutation p-values of each coefficient and of the omnibus test.

    ``exact`` is True when every distinct permutation (all 2^k sign flips for an
    intercept-only model, all distinct row orders of the moderators for a
    meta-regression) was used; then the p-values do not depend on the seed.
    """

    terms: tuple[str, ...]
    statistic: np.ndarray
    pvalue: np.ndarray
    QM: float
    QM_pvalue: float
    exact: bool
    n_permutations: int
    seed: int | None
    parent: MetaResult | MetaRegressionResult = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """One row per coefficient: ``statistic, pvalue`` (permutation p-value)."""
        return pd.DataFrame(
            {"statistic": self.statistic, "pvalue": self.pvalue},
            index=pd.Index(list(self.terms), name="term"),
        )

    def summary(self) -> SummaryText:
        """The permutation p-values as text."""
        head = self._display_title()
        body = self.to_frame().to_string(float_format=lambda x: f"{x:.4f}")
        return SummaryText(f"{head}\n{body}\n{self._display_notes()[0]}")

    def _display_title(self) -> str:
        kind = "exact" if self.exact else "approximate"
        return f"Permutation test ({kind}, {self.n_permutations} permutations)"

    def _display_notes(self) -> list[str]:
        return [f"omnibus: QM = {self.QM:.4f}, p = {self.QM_pvalue:.4f}"]


# The permutation p-value is the share of permutations (the observed one among them) whose
# statistic is at least as extreme as the observed one. Only a failed fit (NaN) is left out,
# as metafor's na.rm: an infinite statistic (se = 0, e.g. Knapp-Hartung with identical
# effects) is a valid one, and at least as extreme as an infinite observed statistic. So the
# observed permutation always counts and the p-value is never 0.


def _pvalues(stat_perm: np.ndarray, stat: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        hits = np.abs(stat_perm) >= np.abs(stat)[None, :] - _COMPTOL
    valid = ~np.isnan(stat_perm)
    n_valid = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(n_valid > 0, (hits & valid).sum(axis=0) / n_valid, np.nan)
    return np.where(np.isnan(stat), np.nan, np.minimum(p, 1.0))


def _qm_pvalue(qm_perm: np.ndarray, qm: float) -> float:
    valid = ~np.isnan(qm_perm)
    if math.isnan(qm) or not valid.any():
        return math.nan
    return float(np.sum(qm_perm[valid] >= qm - _COMPTOL) / int(valid.sum()))


def permutation_test(
    res: MetaResult | MetaRegressionResult, n: int = 1000, seed: int | None = None
) -> PermutationResult:
    """Permutation test of the coefficients, as ``metafor::permutest(res, iter=n)``.

    For an intercept-only model the signs of the effect sizes are flipped; for a
    meta-regression the rows of the moderators are permuted. When the number of distinct
    permutations is at most ``n`` all of them are used (an exact test, as metafor);
    otherwise ``n`` random ones drawn with ``numpy.random.default_rng(seed)``, the first
    being the observed data (so an approximate p-value is never 0).
    """
    n = int(n)
    if n < 2:
        raise ModelSpecError(f"n must be at least 2 permutations, got {n}")
    if isinstance(res, MetaResult):
        return _sign_flips(res, n, seed)
    if isinstance(res, MetaRegressionResult):
        return _row_permutations(res, n, seed)
    raise ModelSpecError("permutation_test needs a result of random_effects or meta_regression")


def _sign_flips(res: MetaResult, n: int, seed: int | None) -> PermutationResult:
    k = res.k
    exact = k < 63 and 2**k <= n
    if exact:
        # rows of all sign patterns, the first row all +1 (the observed data)
        grid = np.array(list(itertools.product((1.0, -1.0), repeat=k)))[:, ::-1]
    else:
        rng = np.random.default_rng(seed)
        grid = rng.choice(np.array([-1.0, 1.0]), size=(n, k))
        grid[0] = 1.0
    Y = grid * res.yi[None, :]
    V = np.broadcast_to(res.vi, Y.shape)
    if res.tau2_fixed or bool(np.any(res.vi == 0.0)):
        # one fit at a time: a fixed tau2, or vi = 0 (which the batch refuses)
        stat = np.full(Y.shape[0], np.nan)
        fixed = res.tau2 if res.tau2_fixed else None
        for i, y in enumerate(Y):
            try:
                f = fit_model(
                    np.ones((k, 1)),
                    y,
                    res.vi,
                    res.method,
                    res.test,
                    res.level,
                    tau2=fixed,
                    tol=res.tol,
                    max_iter=res.max_iter,
                )
            except EstimationError:
                continue  # as metafor: a permutation that cannot be fitted is left out
            stat[i] = f.statistic[0]
    else:
        batch = random_effects_batch(
            Y,
            V,
            method=res.method,
            test=res.test,
            level=res.level,
            tol=res.tol,
            max_iter=res.max_iter,
        )
        stat = batch.statistic
    observed = np.array([res.statistic])
    pval = _pvalues(stat[:, None], observed)
    qm_perm = stat**2
    return PermutationResult(
        terms=("intercept",),
        statistic=observed,
        pvalue=pval,
        QM=float(res.statistic**2),
        QM_pvalue=_qm_pvalue(qm_perm, float(res.statistic**2)),
        exact=exact,
        n_permutations=int(Y.shape[0]),
        seed=None if exact else seed,
        parent=res,
    )


def _distinct_permutations(labels: list[int]) -> Iterator[tuple[int, ...]]:
    """All distinct orderings of a multiset, in lexicographic order."""
    items = sorted(labels)
    yield tuple(items)
    n = len(items)
    while True:
        i = n - 2
        while i >= 0 and items[i] >= items[i + 1]:
            i -= 1
        if i < 0:
            return
        j = n - 1
        while items[j] <= items[i]:
            j -= 1
        items[i], items[j] = items[j], items[i]
        items[i + 1 :] = reversed(items[i + 1 :])
        yield tuple(items)


def _n_distinct(counts: list[int]) -> float:
    total = math.lgamma(sum(counts) + 1) - sum(math.lgamma(c + 1) for c in counts)
    return math.exp(total)


def _row_permutations(res: MetaRegressionResult, n: int, seed: int | None) -> PermutationResult:
    X = res.X.to_numpy()
    k, p = X.shape
    _, inverse, counts = np.unique(X, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    n_exact = _n_distinct([int(c) for c in counts])
    exact = n_exact <= n + 0.5
    # each row index of the permuted design: the rows of each distinct X value in turn
    rows_of = {g: list(np.flatnonzero(inverse == g)) for g in range(len(counts))}
    if exact:
        orders = []
        for perm in _distinct_permutations([int(g) for g in inverse]):
            pools = {g: iter(r) for g, r in rows_of.items()}
            orders.append([next(pools[g]) for g in perm])
        idx = np.array(orders)
    else:
        rng = np.random.default_rng(seed)
        idx = np.array([rng.permutation(k) for _ in range(n)])
        idx[0] = np.arange(k)
    names = list(res.X.columns)
    tested = [names.index(t) for t in res.tested]
    fixed = res.tau2 if res.tau2_fixed else None  # as metafor: a fixed tau2 stays fixed
    stat_perm = np.full((idx.shape[0], p), np.nan)
    qm_perm = np.full(idx.shape[0], np.nan)
    for r, order in enumerate(idx):
        try:
            f = fit_model(X[order], res.yi, res.vi, res.method, res.test, res.level, tau2=fixed)
        except EstimationError:
            continue
        stat_perm[r] = f.statistic
        qm_perm[r] = qm_test(f, tested)[0]
    observed = res.coefficients["statistic"].to_numpy()
    return PermutationResult(
        terms=tuple(names),
        statistic=observed,
        pvalue=_pvalues(stat_perm, observed),
        QM=res.QM,
        QM_pvalue=_qm_pvalue(qm_perm, res.QM),
        exact=exact,
        n_permutations=int(idx.shape[0]),
        seed=None if exact else seed,
        parent=res,
    )
