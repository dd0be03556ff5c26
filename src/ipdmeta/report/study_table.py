"""Table 1, the included studies, as papers print it."""

from __future__ import annotations

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
    for column, shown in (("diagnosis", "diagnoses"), ("electrode_position", "electrode")):
        if column in patients:
            table[shown] = grouped[column].agg(_counts)
    if "followup_months" in patients:
        table["followup_months"] = grouped["followup_months"].agg(_median_range)
    table["mean_relief"] = grouped["relief_pct"].mean()
    quality = run.data.quality
    if quality is not None:
        table["quality"] = quality.groupby("study_id")["judgement"].agg(_appraisal)
    table = table.reset_index()
    studies = run.data.studies
    if studies is None:
        return table
    first = [c for c in STUDY_COLUMNS if c in studies]
    return studies[first].merge(table, on="study_id", how="left")


def _counts(values: pd.Series) -> str:
    """'TN 3, DPS 1': each category with its count, most frequent first."""
    counts = values.dropna().value_counts()
    return ", ".join(f"{level} {n}" for level, n in counts.items())


def _median_range(values: pd.Series) -> str:
    known = values.dropna()
    if known.empty:
        return "not reported"
    if len(known) == 1:
        return f"{known.iloc[0]:g}"
    return f"{known.median():g} ({known.min():g} to {known.max():g})"


def _appraisal(judgements: pd.Series) -> str:
    """'7/9 yes': items judged yes of those that apply."""
    applicable = judgements[judgements != "not applicable"].dropna()
    return f"{int((applicable == 'yes').sum())}/{len(applicable)} yes"
