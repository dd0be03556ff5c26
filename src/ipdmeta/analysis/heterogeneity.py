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

from ipdmeta.analysis.spec import HeterogeneitySpec
from ipdmeta.errors import IpdmetaError

__all__ = ["TwoStage", "two_stage"]


EGGER_MIN_STUDIES = 10


@dataclass(frozen=True)
class TwoStage:
    """The two-stage meta-analysis of study mean relief.

    ``result`` is the :class:`ipdmeta.meta.MetaResult`, or None with ``note`` saying why
    (fewer than 2 eligible studies). ``studies`` lists every study with ``included`` and
    the reason for leaving one out.
    """

    result: Any
    studies: pd.DataFrame
    note: str
    egger: Any = None  # ipdmeta.meta.EggerResult, with 3 or more studies

    @property
    def few_for_egger(self) -> bool:
        """Fewer studies than the 10 below which a funnel plot and Egger's test are too
        weak to judge small-study effects (Sterne et al., BMJ 2011)."""
        return self.k < EGGER_MIN_STUDIES

    @property
    def k(self) -> int:
        return 0 if self.result is None else int(self.result.k)


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
    return TwoStage(result, studies, note, egger)
