"""Leave-one-out analysis and outlier/influence diagnostics (Viechtbauer & Cheung 2010)."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from ipdmeta._display import RichDisplay, SummaryText
from ipdmeta.errors import EstimationError
from ipdmeta.meta._core import CoreFit, fit_model
from ipdmeta.meta._options import Method, Test
from ipdmeta.meta.univariate import MetaResult

__all__ = ["InfluenceResult", "LeaveOneOutResult", "influence", "leave_one_out"]


def refit(parent: MetaResult, yi: np.ndarray, vi: np.ndarray) -> CoreFit:
    """Refit ``parent``'s model to other data, with its method, test, level and tolerance.

    With one study left, metafor fits it with tau2 = 0 and the z test (its "k = 1" case:
    Knapp-Hartung would have k - 1 = 0 df); so do we.
    """
    k = yi.shape[0]
    fixed = parent.tau2 if parent.tau2_fixed else None
    test = parent.test
    if k == 1:
        test = Test.Z
        if parent.method is not Method.FE:
            fixed = 0.0
    return fit_model(
        np.ones((k, 1)),
        yi,
        vi,
        parent.method,
        test,
        parent.level,
        tau2=fixed,
        tol=parent.tol,
        max_iter=parent.max_iter,
    )


def _warn_single_study_z(parent: MetaResult, what: str) -> None:
    """With k = 2 every refit has one study, for which Knapp-Hartung is undefined."""
    if parent.k == 2 and parent.test is Test.KNHA:
        warnings.warn(
            f"{what}: each fit without one of the 2 studies has a single study, for which "
            "the Knapp-Hartung test is undefined (k - 1 = 0 df); those fits use the z test, "
            "as metafor does",
            UserWarning,
            stacklevel=3,
        )


class _PerStudyTable(RichDisplay):
    """A result whose ``table`` has one row per study; its columns read as arrays
    (``res.estimate``, ``res.tau2``, ...)."""

    table: pd.DataFrame

    def __getattr__(self, name: str) -> np.ndarray:
        table = self.__dict__.get("table")
        if table is not None and name in table.columns:
            return table[name].to_numpy()
        raise AttributeError(name)

    def to_frame(self) -> pd.DataFrame:
        """The table (a copy)."""
        return self.table.copy()


# eq=False: fields hold arrays, whose == is elementwise
@dataclass(frozen=True, eq=False)
class LeaveOneOutResult(_PerStudyTable):
    """The pooled result with each study left out in turn (metafor's ``leave1out()``).

    ``table`` has one row per omitted study (in data order): ``label, estimate, se,
    statistic, pvalue, ci_lower, ci_upper, Q, Q_pvalue, tau2, I2, H2``.
    """

    table: pd.DataFrame
    parent: MetaResult = field(repr=False)

    def summary(self) -> SummaryText:
        """The table as text."""
        return SummaryText(
            "Leave-one-out analysis\n"
            + self.table.to_string(index=False, float_format=lambda x: f"{x:.4f}")
        )

    def _display_title(self) -> str:
        return f"Leave-one-out analysis, k = {self.parent.k}"


def leave_one_out(res: MetaResult) -> LeaveOneOutResult:
    """Refit the model k times, each time without one study.

    Agrees with ``metafor::leave1out()``. A refit that fails leaves a row of NaN.
    """
    k = res.k
    if k < 2:
        raise EstimationError("leave-one-out needs at least 2 studies")
    _warn_single_study_z(res, "leave-one-out")
    cols = [
        "estimate",
        "se",
        "statistic",
        "pvalue",
        "ci_lower",
        "ci_upper",
        "Q",
        "Q_pvalue",
        "tau2",
        "I2",
        "H2",
    ]
    out = np.full((k, len(cols)), np.nan)
    for i in range(k):
        keep = np.arange(k) != i
        try:
            f = refit(res, res.yi[keep], res.vi[keep])
        except EstimationError:
            continue
        out[i] = [
            f.beta[0],
            f.se[0],
            f.statistic[0],
            f.pvalue[0],
            f.ci_lower[0],
            f.ci_upper[0],
            f.QE,
            f.QE_pvalue,
            f.tau2,
            f.I2,
            f.H2,
        ]
    table = pd.DataFrame(out, columns=cols)
    table.insert(0, "label", list(res.labels))
    return LeaveOneOutResult(table=table, parent=res)


# eq=False: fields hold arrays, whose == is elementwise
@dataclass(frozen=True, eq=False)
class InfluenceResult(_PerStudyTable):
    """Case-deletion diagnostics of every study (metafor's ``influence()``).

    ``table`` columns: ``label, rstudent, dffits, cooks_distance, cov_ratio, tau2_deleted,
    QE_deleted, hat, weight, dfbetas, influential``. ``hat`` is a fraction, ``weight``
    a percentage; ``influential`` marks a study that exceeds any of metafor's cut-offs.
    """

    table: pd.DataFrame
    parent: MetaResult = field(repr=False)

    def summary(self) -> SummaryText:
        """The table as text, influential studies marked with ``*``."""
        t = self.table.copy()
        t["influential"] = np.where(t["influential"], "*", "")
        return SummaryText(
            "Influence diagnostics\n" + t.to_string(index=False, float_format=lambda x: f"{x:.4f}")
        )

    def _display_title(self) -> str:
        n = int(np.sum(self.table["influential"]))
        return f"Influence diagnostics, k = {self.parent.k} ({n} influential)"


def influence(res: MetaResult) -> InfluenceResult:
    """Outlier and influence diagnostics by deleting each study in turn.

    Agrees with ``metafor::influence()`` (``rstudent``, ``dffits``, ``cook.d``,
    ``cov.r``, ``tau2.del``, ``QE.del``, ``hat``, ``weight``, ``dfbs`` and the ``inf``
    flag) for the intercept-only model.
    """
    k = res.k
    if k < 2:
        raise EstimationError("influence diagnostics need at least 2 studies")
    _warn_single_study_z(res, "influence diagnostics")
    p = 1
    yi, vi, tau2 = res.yi, res.vi, res.tau2
    w = 1.0 / (vi + tau2)
    hat = w / w.sum()
    hat = np.where(hat > 1 - 10 * np.finfo(float).eps, 1.0, hat)
    weight = 100.0 * hat
    vb_full = res.se**2
    beta = res.estimate
    names = [
        "rstudent",
        "dffits",
        "cooks_distance",
        "cov_ratio",
        "tau2_deleted",
        "QE_deleted",
        "dfbetas",
    ]
    vals = {n: np.full(k, np.nan) for n in names}
    for i in range(k):
        keep = np.arange(k) != i
        try:
            f = refit(res, yi[keep], vi[keep])
        except EstimationError:
            continue
        t2d = f.tau2
        bd = float(f.beta[0])
        vbd = float(f.vb[0, 0])  # includes the Knapp-Hartung factor s2w
        s2w = f.s2w
        resid = yi[i] - bd
        if abs(resid) < 100 * np.finfo(float).eps:
            resid = 0.0
        # numpy scalars: a zero variance (s2w = 0 when the other studies agree exactly
        # under Knapp-Hartung) gives inf or NaN, not ZeroDivisionError
        diff = np.float64(beta - bd)
        with np.errstate(divide="ignore", invalid="ignore"):
            vals["rstudent"][i] = resid / np.sqrt(np.float64(vi[i] * s2w + vbd + t2d * s2w))
            vals["dffits"][i] = diff / np.sqrt(np.float64(s2w * hat[i] * (t2d + vi[i])))
            vb_del = 1.0 / np.sum(1.0 / (vi + t2d))  # all k studies at the deleted tau2
            vals["dfbetas"][i] = diff / np.sqrt(np.float64(s2w * vb_del))
            vals["cooks_distance"][i] = diff**2 / np.float64(vb_full)
            vals["cov_ratio"][i] = vbd / np.float64(vb_full)
        vals["tau2_deleted"][i] = t2d
        vals["QE_deleted"][i] = f.QE
    with np.errstate(invalid="ignore"):
        infl = (
            (np.abs(vals["dffits"]) > 3.0 * math.sqrt(p / (k - p)))
            | (special.chdtr(p, vals["cooks_distance"]) > 0.5)
            | (hat > 3.0 * p / k)
            | (np.abs(vals["dfbetas"]) > 1.0)
        )
    table = pd.DataFrame(
        {
            "label": list(res.labels),
            "rstudent": vals["rstudent"],
            "dffits": vals["dffits"],
            "cooks_distance": vals["cooks_distance"],
            "cov_ratio": vals["cov_ratio"],
            "tau2_deleted": vals["tau2_deleted"],
            "QE_deleted": vals["QE_deleted"],
            "hat": hat,
            "weight": weight,
            "dfbetas": vals["dfbetas"],
            "influential": infl,
        }
    )
    return InfluenceResult(table=table, parent=res)
