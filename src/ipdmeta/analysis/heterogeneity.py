"""Heterogeneity between studies, both ways and named.

Two-stage: each study's mean % relief and its sampling variance, pooled by a
random-effects meta-analysis (I2, tau2, prediction interval), over studies with enough
patients. One-stage: the between-study share of variance (ICC) of the primary mixed
model. They answer different questions and are reported side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from ipdmeta._display import ResultDisplay
from ipdmeta.analysis.spec import HeterogeneitySpec
from ipdmeta.errors import IpdmetaError

__all__ = ["TwoStage", "sensitivity", "two_stage"]


EGGER_MIN_STUDIES = 10


@dataclass(frozen=True, repr=False)
class TwoStage(ResultDisplay):
    """The two-stage meta-analysis of study mean relief.

    ``result`` is the :class:`ipdmeta.meta.MetaResult`, or None with ``note`` saying why
    (fewer than 2 eligible studies). ``studies`` lists every study with ``included`` and
    the reason for leaving one out.
    """

    result: Any
    studies: pd.DataFrame
    note: str
    egger: Any = None  # ipdmeta.meta.EggerResult, with 3 or more studies
    # The pooled mean and heterogeneity under other reasonable choices (sensitivity()).
    sensitivity: pd.DataFrame | None = None

    @property
    def few_for_egger(self) -> bool:
        """Fewer studies than the 10 below which a funnel plot and Egger's test are too
        weak to judge small-study effects (Sterne et al., BMJ 2011)."""
        return self.k < EGGER_MIN_STUDIES

    @property
    def k(self) -> int:
        return 0 if self.result is None else int(self.result.k)

    def _display_title(self) -> str:
        r = self.result
        if r is None:
            return f"Two-stage meta-analysis: not run ({self.note})"
        return (
            f"Two-stage meta-analysis of study means: {r.k} studies, pooled "
            f"{r.estimate:.1f} (95% CI {r.ci_lower:.1f} to {r.ci_upper:.1f}), "
            f"I2 = {r.I2:.1f} %"
        )

    def _display_tables(self) -> list[tuple[str | None, pd.DataFrame]]:
        tables: list[tuple[str | None, pd.DataFrame]] = [("Studies", self.studies)]
        if self.egger is not None:
            tables.append(("Egger's regression test", self.egger.to_frame()))
        if self.sensitivity is not None:
            tables.append(("Pooled mean under other choices", self.sensitivity))
        return tables


def two_stage(patients: pd.DataFrame, spec: HeterogeneitySpec, level: float) -> TwoStage:
    from ipdmeta import meta

    counts = patients.groupby("study_id")["relief_pct"].count()
    small = counts[counts < spec.min_patients_per_study].index
    eligible = patients[~patients["study_id"].isin(small)]
    summaries = meta.study_summaries(eligible, study="study_id", outcome="relief_pct")
    studies = summaries.to_frame()
    left_out = pd.DataFrame(
        {
            "study": list(small),
            "n": [int(counts[s]) for s in small],
            "included": False,
            "reason": f"fewer than {spec.min_patients_per_study} patients",
        }
    )
    studies = pd.concat([studies, left_out], ignore_index=True)
    k = len(summaries.table)
    if k < 2:
        note = (
            f"only {k} stud{'y has' if k == 1 else 'ies have'} at least "
            f"{spec.min_patients_per_study} patients with varying outcomes; a two-stage "
            "meta-analysis needs 2 or more, so none was run"
        )
        return TwoStage(None, studies, note)
    try:
        result = summaries.random_effects(method=spec.method, test=spec.test, level=level)
    except IpdmetaError as exc:
        return TwoStage(None, studies, f"the two-stage meta-analysis failed: {exc}")
    note = ""
    if k < 3:
        note = (
            f"only {k} studies are eligible: tau2, I2 and the prediction interval are very "
            "imprecise"
        )
    # Egger's regression needs a residual degree of freedom beyond slope and intercept.
    egger = meta.egger_test(result) if k >= 3 else None
    n_main = int(studies.loc[studies["included"].astype(bool), "n"].sum())
    table = sensitivity(patients, spec, level, result, n_main)
    return TwoStage(result, studies, note, egger, table)


SENSITIVITY_COLUMNS = ["analysis", "k", "n", "estimate", "ci_lower", "ci_upper", "measure",
                       "heterogeneity"]  # fmt: skip


def sensitivity(
    patients: pd.DataFrame, spec: HeterogeneitySpec, level: float, main: Any, n_main: int
) -> pd.DataFrame:
    """The pooled mean relief and its heterogeneity, two-stage and one-stage.

    A case series of 2 or 3 patients can have a sampling variance near 0, which makes
    I2 large: pooling the within-study variance across studies (each study's variance
    is the pooled one divided by its size) shows how much of I2 that is. The one-stage
    random-intercept model gives the same mean from the patients directly, with the ICC,
    with and without the single-patient reports.
    """
    rows = [_meta_row("two-stage, each study's own variance (main)", main, n_main)]
    pooled = _pooled_variance_meta(patients, spec, level)
    if pooled is not None:
        n_all = int(patients["relief_pct"].notna().sum())
        rows.append(
            _meta_row("two-stage, within-study variance pooled across studies", pooled, n_all)
        )
    sizes = patients.groupby("study_id")["relief_pct"].transform("count")
    rows.append(_one_stage_row("one-stage, all studies", patients, level))
    if (sizes == 1).any() and (sizes > 1).sum() > 0:
        rows.append(
            _one_stage_row("one-stage, without single-patient reports", patients[sizes > 1], level)
        )
    return pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)


def _meta_row(label: str, result: Any, n: int) -> dict[str, Any]:
    return {
        "analysis": label,
        "k": int(result.k),
        "n": n,
        "estimate": result.estimate,
        "ci_lower": result.ci_lower,
        "ci_upper": result.ci_upper,
        "measure": "I2 (%)",
        "heterogeneity": result.I2,
    }


def _pooled_variance_meta(patients: pd.DataFrame, spec: HeterogeneitySpec, level: float) -> Any:
    from ipdmeta import meta

    per = patients.dropna(subset=["relief_pct"]).groupby("study_id")["relief_pct"]
    stats = pd.DataFrame({"mean": per.mean(), "var": per.var(ddof=1), "n": per.count()})
    spread = stats[stats["n"] >= 2]
    if len(stats) < 2 or spread.empty or (spread["n"] - 1).sum() == 0:
        return None
    pooled = float(((spread["n"] - 1) * spread["var"]).sum() / (spread["n"] - 1).sum())
    if not pooled > 0:
        return None
    try:
        return meta.random_effects(
            stats["mean"].to_numpy(float),
            pooled / stats["n"].to_numpy(float),
            method=spec.method,
            test=spec.test,
            level=level,
            labels=[str(s) for s in stats.index],
        )
    except IpdmetaError:
        return None


def _one_stage_row(label: str, patients: pd.DataFrame, level: float) -> dict[str, Any]:
    from ipdmeta import mixed

    data = patients.dropna(subset=["relief_pct"])
    fit = mixed.lmm("relief_pct ~ 1 + (1 | study_id)", data[["relief_pct", "study_id"]])
    mean = fit.fixed_effects(level=level).iloc[0]
    return {
        "analysis": label,
        "k": int(data["study_id"].nunique()),
        "n": len(data),
        "estimate": mean["estimate"],
        "ci_lower": mean["ci_lower"],
        "ci_upper": mean["ci_upper"],
        "measure": "ICC",
        "heterogeneity": float(fit.icc),
    }
