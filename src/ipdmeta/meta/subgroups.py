"""Subgroup analysis: pooled estimates per group and the test for subgroup differences."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from ipdmeta._display import RichDisplay, SummaryText
from ipdmeta.errors import DataError, EstimationError
from ipdmeta.meta._checks import check_yi_vi
from ipdmeta.meta._core import DEFAULT_MAX_ITER, DEFAULT_TOL, fit_model
from ipdmeta.meta._options import Method, Test, parse_level, parse_method, parse_test
from ipdmeta.meta.regression import MetaRegressionResult, meta_regression
from ipdmeta.meta.univariate import MetaResult, result_from_fit

__all__ = ["CommonTau2", "SubgroupResult", "Tau2Model", "subgroups"]


class Tau2Model(StrEnum):
    """Between-study variance across subgroups: one per group, or one shared."""

    SEPARATE = "separate"
    COMMON = "common"


# eq=False: fields hold arrays, whose == is elementwise
@dataclass(frozen=True, eq=False)
class CommonTau2:
    """Subgroups under one shared tau2: ``rma(mods = ~ factor(group))``.

    ``QM`` tests equal group means (F with (``QM_df``, ``QM_df2``) df under Knapp-Hartung);
    ``estimates`` holds each group's estimate (the no-intercept parametrisation).
    """

    tau2: float
    I2: float
    QM: float
    QM_df: int
    QM_df2: float
    QM_pvalue: float
    QE: float
    QE_df: int
    QE_pvalue: float
    estimates: pd.DataFrame
    model: MetaRegressionResult = field(repr=False)


# eq=False: fields hold arrays, whose == is elementwise
@dataclass(frozen=True, eq=False, repr=False)
class SubgroupResult(RichDisplay):
    """Per-group meta-analyses and the test for subgroup differences.

    ``results`` maps each group (sorted) to its own random-effects fit (separate tau2).
    ``Q_between`` (on ``Q_between_df`` df) is the test for subgroup differences of the
    chosen ``tau2_model``: with separate tau2 the heterogeneity Q of a common-effect
    meta-analysis of the group estimates; with a common tau2 the moderator test QM (an F
    statistic under Knapp-Hartung). Both models are always fitted: see ``common``.
    """

    groups: tuple[str, ...]
    results: dict[str, MetaResult]
    Q_between: float
    Q_between_df: int
    Q_between_pvalue: float
    tau2_model: Tau2Model
    separate_Q_between: float
    separate_Q_between_pvalue: float
    common: CommonTau2
    method: Method
    test: Test
    level: float

    @property
    def tau2(self) -> float:
        """The common tau2 (``common_tau2=True``); NaN for separate tau2 (see ``results``)."""
        return self.common.tau2 if self.tau2_model is Tau2Model.COMMON else math.nan

    def to_frame(self) -> pd.DataFrame:
        """One row per group: ``group, k, estimate, se, statistic, pvalue, ci_lower,
        ci_upper, tau2, I2, Q, Q_pvalue`` (separate fits, or the common-tau2 estimates with
        the common tau2 and I2)."""
        if self.tau2_model is Tau2Model.COMMON:
            est = self.common.estimates.copy()
            est.insert(0, "k", [self.results[g].k for g in self.groups])
            est["tau2"] = self.common.tau2
            est["I2"] = self.common.I2
            est.index = pd.Index(list(self.groups), name="group")
            return est.reset_index()
        rows = []
        for g in self.groups:
            r = self.results[g]
            rows.append(
                {
                    "group": g,
                    "k": r.k,
                    "estimate": r.estimate,
                    "se": r.se,
                    "statistic": r.statistic,
                    "pvalue": r.pvalue,
                    "ci_lower": r.ci_lower,
                    "ci_upper": r.ci_upper,
                    "tau2": r.tau2,
                    "I2": r.I2,
                    "Q": r.Q,
                    "Q_pvalue": r.Q_pvalue,
                }
            )
        return pd.DataFrame(rows)

    def summary(self) -> SummaryText:
        """The per-group table and the test for subgroup differences."""
        body = self.to_frame().to_string(index=False, float_format=lambda x: f"{x:.4f}")
        return SummaryText(
            f"Subgroup analysis ({self.tau2_model.value} tau2, {self.method.value})\n{body}\n"
            + self._display_notes()[0]
        )

    def _display_title(self) -> str:
        return (
            f"Subgroup analysis ({self.tau2_model.value} tau2, {self.method.value}), "
            f"{len(self.groups)} groups"
        )

    def _display_notes(self) -> list[str]:
        name = "F" if self.tau2_model is Tau2Model.COMMON and self.test is Test.KNHA else "Q"
        return [
            f"Test for subgroup differences: {name}({self.Q_between_df}) = "
            f"{self.Q_between:.4f}, p = {self.Q_between_pvalue:.4g}"
        ]


def subgroups(
    yi: Any,
    vi: Any,
    groups: Sequence[Any],
    method: Method | str = "REML",
    test: Test | str = "z",
    level: float = 0.95,
    *,
    common_tau2: bool = False,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
) -> SubgroupResult:
    """Meta-analyse each subgroup and test whether the subgroups differ.

    Agrees with metafor: separate tau2 is ``rma()`` per group followed by
    ``rma(estimates, sei=se, method="FE")`` over the group estimates (its Q is the test
    for subgroup differences); common tau2 is ``rma(mods = ~ factor(group))`` (its QM)
    with the group estimates from ``mods = ~ factor(group) - 1``. A group with one study
    is fitted with tau2 = 0, as metafor does. ``common_tau2`` chooses which of the two
    models ``to_frame()``, ``tau2`` and ``Q_between`` report; both are always fitted.
    """
    y, v = check_yi_vi(yi, vi)
    g = [str(x) for x in (groups.tolist() if hasattr(groups, "tolist") else list(groups))]
    if len(g) != y.shape[0]:
        raise DataError(f"groups has {len(g)} entries for {y.shape[0]} studies")
    m = parse_method(method)
    t = parse_test(test)
    lev = parse_level(level)
    model = Tau2Model.COMMON if common_tau2 else Tau2Model.SEPARATE
    labels = sorted(set(g))
    if len(labels) < 2:
        raise EstimationError("subgroup analysis needs at least 2 groups")
    garr = np.array(g)
    results: dict[str, MetaResult] = {}
    for lab in labels:
        keep = garr == lab
        kk = int(keep.sum())
        fixed = 0.0 if kk == 1 and m is not Method.FE else None
        fit = fit_model(
            np.ones((kk, 1)), y[keep], v[keep], m, t, lev, tau2=fixed, tol=tol, max_iter=max_iter
        )
        names = tuple(f"Study {i + 1}" for i in np.flatnonzero(keep))
        results[lab] = result_from_fit(fit, names, tol, max_iter, fixed is not None)
    est = np.array([results[lab].estimate for lab in labels])
    se = np.array([results[lab].se for lab in labels])
    if np.all(np.isfinite(se)) and np.all(se > 0):
        between = fit_model(np.ones((len(labels), 1)), est, se**2, Method.FE, Test.Z, lev)
        q_sep, q_sep_p = between.QE, between.QE_pvalue
    else:
        q_sep, q_sep_p = math.nan, math.nan
    frame = pd.DataFrame({"group": pd.Categorical(g, categories=labels)})
    common_fit = meta_regression(y, v, frame, m, t, lev, tol=tol, max_iter=max_iter)
    cell = meta_regression(y, v, frame, m, t, lev, intercept=False, tol=tol, max_iter=max_iter)
    common = CommonTau2(
        tau2=common_fit.tau2,
        I2=common_fit.I2,
        QM=common_fit.QM,
        QM_df=common_fit.QM_df,
        QM_df2=common_fit.QM_df2,
        QM_pvalue=common_fit.QM_pvalue,
        QE=common_fit.QE,
        QE_df=common_fit.QE_df,
        QE_pvalue=common_fit.QE_pvalue,
        estimates=cell.coefficients.set_axis(labels, axis=0),
        model=common_fit,
    )
    if model is Tau2Model.SEPARATE:
        qb, qb_p = q_sep, q_sep_p
    else:
        qb, qb_p = common.QM, common.QM_pvalue
    return SubgroupResult(
        groups=tuple(labels),
        results=results,
        Q_between=qb,
        Q_between_df=len(labels) - 1,
        Q_between_pvalue=qb_p,
        tau2_model=model,
        separate_Q_between=q_sep,
        separate_Q_between_pvalue=q_sep_p,
        common=common,
        method=m,
        test=t,
        level=lev,
    )
