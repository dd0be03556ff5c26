"""Two-stage subgroups: study means within each level of a factor, pooled per level.

A patient-level factor such as diagnosis splits a study's patients: each study and level
with enough patients is one "cell" (its mean relief and sampling variance, as the
two-stage analysis computes them), and the cells of each level are pooled in their own
random-effects meta-analysis, with metafor's test for subgroup differences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from ipdmeta._display import ResultDisplay
from ipdmeta.analysis.spec import HeterogeneitySpec
from ipdmeta.errors import IpdmetaError

__all__ = ["FactorSubgroups", "factor_subgroups"]


@dataclass(frozen=True, repr=False)
class FactorSubgroups(ResultDisplay):
    """The subgroup analysis of one factor.

    ``cells`` has one row per study and level pooled: ``study_id, level, n, mean, yi,
    vi``; ``result`` is the :class:`ipdmeta.meta.SubgroupResult`, or None with ``note``
    saying why (fewer than 2 levels with cells).
    """

    factor: str
    cells: pd.DataFrame
    result: Any
    note: str = ""

    def _display_title(self) -> str:
        if self.result is None:
            return f"Subgroups of studies by {self.factor}: not run ({self.note})"
        p = self.result.Q_between_pvalue
        return f"Subgroups of studies by {self.factor}: test for differences p = {p:.3g}"

    def _display_tables(self) -> list[tuple[str | None, pd.DataFrame]]:
        tables: list[tuple[str | None, pd.DataFrame]] = []
        if self.result is not None:
            tables.append(("Pooled by subgroup", self.result.to_frame()))
        tables.append(("Studies in each subgroup", self.cells))
        return tables


def factor_subgroups(
    patients: pd.DataFrame, factor: str, spec: HeterogeneitySpec, level: float
) -> FactorSubgroups:
    from ipdmeta import meta

    data = patients.dropna(subset=[factor, "relief_pct"])
    cells = pd.DataFrame(
        {
            "cell": data["study_id"].astype(str) + " | " + data[factor].astype(str),
            "relief_pct": data["relief_pct"],
        }
    )
    sizes = cells.groupby("cell")["relief_pct"].transform("count")
    eligible = cells[sizes >= spec.min_patients_per_study]
    empty = pd.DataFrame(columns=["study_id", "level", "n", "mean", "yi", "vi"])
    if eligible.empty:
        return FactorSubgroups(factor, empty, None, _too_few(factor, spec))
    summaries = meta.study_summaries(eligible, study="cell", outcome="relief_pct").table
    split = summaries["study"].astype(str).str.split(" | ", n=1, regex=False)
    table = pd.DataFrame(
        {
            "study_id": split.str[0],
            "level": split.str[1],
            "n": summaries["n"],
            "mean": summaries["mean"],
            "yi": summaries["yi"],
            "vi": summaries["vi"],
        }
    )
    if table["level"].nunique() < 2:
        return FactorSubgroups(factor, table, None, _too_few(factor, spec))
    try:
        result = meta.subgroups(
            table["yi"], table["vi"], table["level"], method=spec.method, test=spec.test,
            level=level,
        )  # fmt: skip
    except IpdmetaError as exc:
        return FactorSubgroups(factor, table, None, f"the subgroup analysis failed: {exc}")
    return FactorSubgroups(factor, table.sort_values(["level", "study_id"]), result)


def _too_few(factor: str, spec: HeterogeneitySpec) -> str:
    return (
        f"fewer than 2 levels of {factor.replace('_', ' ')} have a study with at least "
        f"{spec.min_patients_per_study} patients of that level (with varying relief), so "
        "studies cannot be pooled by level"
    )
