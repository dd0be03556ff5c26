"""Table 1, the included studies, as papers print it."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

import pandas as pd

from ipdmeta.analysis.pipeline import ReviewRun

__all__ = ["included_studies"]

# Study-level columns of the studies table, in the order Table 1 shows them; a column the
# studies table does not have is left out (country is an extra column a review may add).
STUDY_COLUMNS = ("study_id", "first_author", "year", "country", "design", "n_patients")


def included_studies(run: ReviewRun) -> pd.DataFrame:
    """One row per study: the paper, the patients extracted and analysed, their diagnoses,
    electrode position and follow-up, mean relief and the quality appraisal in brief."""
    patients = run.data.patients
    grouped = patients.groupby("study_id", sort=False)
    table = pd.DataFrame({"n_analysed": grouped.size()})
    excluded = run.data.excluded.groupby("study_id").size()
    table["n_extracted"] = table["n_analysed"].add(excluded, fill_value=0).astype(int)
    # Each study's values as plain lists, summarised in Python: pandas' grouped apply of
    # these functions took most of the report's tables' time (0.1 s of a run).
    studies = patients["study_id"]
    for column, shown in (("diagnosis", "diagnoses"), ("electrode_position", "electrode")):
        if column in patients:
            table[shown] = _by_study(studies, patients[column], _counts, table.index)
    if "followup_months" in patients:
        months = patients["followup_months"]
        table["followup_months"] = _by_study(studies, months, _median_range, table.index)
    table["mean_relief"] = grouped["relief_pct"].mean()
    quality = run.data.quality
    if quality is not None:
        table["quality"] = _by_study(quality["study_id"], quality["judgement"], _appraisal)
    table = table.reset_index()
    studies = run.data.studies
    if studies is None:
        return table
    first = [c for c in STUDY_COLUMNS if c in studies]
    return studies[first].merge(table, on="study_id", how="left")


def _by_study(
    studies: pd.Series, values: pd.Series, summary: Any, index: pd.Index | None = None
) -> pd.Series:
    """``summary`` of each study's values (a list, missing values left out)."""
    lists: dict[Any, list[Any]] = {}
    for study, value in zip(studies.tolist(), values.tolist(), strict=True):
        kept = lists.setdefault(study, [])
        if not pd.isna(value):  # None, NaN, NaT and pandas' NA alike
            kept.append(value)
    out = pd.Series({study: summary(kept) for study, kept in lists.items()})
    return out if index is None else out.reindex(index)


def _counts(values: list[Any]) -> str:
    """'TN 3, DPS 1': each category with its count, most frequent first (ties in the
    order the categories first appear)."""
    counts = Counter(values)
    ordered = sorted(counts.items(), key=lambda item: -item[1])
    return ", ".join(f"{level} {n}" for level, n in ordered)


def _median_range(values: list[float]) -> str:
    if not values:
        return "not reported"
    if len(values) == 1:
        return f"{values[0]:g}"
    return f"{statistics.median(values):g} ({min(values):g} to {max(values):g})"


def _appraisal(judgements: list[str]) -> str:
    """'7/9 yes': items judged yes of those that apply."""
    applicable = [j for j in judgements if j != "not applicable"]
    return f"{sum(j == 'yes' for j in applicable)}/{len(applicable)} yes"
