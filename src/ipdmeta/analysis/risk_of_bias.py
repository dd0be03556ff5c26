"""Which studies the review judges at high risk of bias, by the rule in review.toml.

A study is at high risk when fewer than ``high_risk_yes_below`` of its applicable
checklist items are answered yes (default one half, a common cut-off for the JBI
checklists), or when any item listed in ``high_risk_items`` is answered no. Items judged
not applicable are left out of the share.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ipdmeta.analysis.spec import SensitivitySpec

__all__ = ["HighRisk", "high_risk_studies"]


@dataclass(frozen=True)
class HighRisk:
    """The studies at high risk of bias, why each is, and the rule in words."""

    studies: tuple[str, ...]
    reasons: dict[str, str]
    rule: str


def high_risk_studies(quality: pd.DataFrame | None, spec: SensitivitySpec) -> HighRisk | None:
    """The high-risk studies under ``spec``'s rule, or None without an appraisal or rule."""
    if quality is None or quality.empty:
        return None
    below, items = spec.high_risk_yes_below, spec.high_risk_items
    if below <= 0 and not items:
        return None
    parts = []
    if below > 0:
        parts.append(f"fewer than {100 * below:g} % of the applicable items answered yes")
    if items:
        parts.append(f"'no' to {', '.join(repr(i) for i in items)}")
    # Counted for all studies at once: a loop over studies' rows took 0.1-0.2 s.
    judgement = quality["judgement"]
    counts = pd.DataFrame(
        {
            "study": quality["study_id"],
            "applicable": judgement != "not applicable",
            "yes": judgement == "yes",
            "refused": quality["item"].isin(items) & (judgement == "no"),
        }
    )
    grouped = counts.groupby("study", sort=False)
    applicable = grouped["applicable"].sum()
    yes = grouped["yes"].sum()  # a "yes" is always applicable
    refused = quality.loc[counts["refused"].to_numpy()].groupby("study_id", sort=False)["item"]
    refused_items = {study: set(values) for study, values in refused}
    reasons: dict[str, str] = {}
    for study in applicable.index:
        n = int(applicable[study])
        share = yes[study] / n if n else 1.0
        failed = [i for i in items if i in refused_items.get(study, set())]
        why = []
        if below > 0 and share < below:
            why.append(f"{100 * share:.0f} % yes")
        if failed:
            why.append("no to " + ", ".join(failed))
        if why:
            reasons[str(study)] = "; ".join(why)
    return HighRisk(tuple(reasons), reasons, " or ".join(parts))
