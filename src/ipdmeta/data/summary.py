"""What is in a review's data: counts, categories, the outcome's distribution."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from ipdmeta._display import ResultDisplay
from ipdmeta.data.load import ReviewData
from ipdmeta.data.outcomes import responder_column

__all__ = ["DataSummary", "summarise"]

CATEGORY_COLUMNS = ("diagnosis", "lesion_location", "sex")


@dataclass(frozen=True, repr=False)
class DataSummary(ResultDisplay):
    """Counts and outcome summary of a review's patients.

    ``responders`` has one row per threshold: ``threshold, n, n_responders, proportion,
    ci_lower, ci_upper`` (Wilson score interval, as R's ``prop.test(correct = FALSE)``).
    """

    n_studies: int
    n_patients: int
    patients_per_study: pd.Series
    categories: dict[str, pd.Series]
    relief: dict[str, float]
    responders: pd.DataFrame
    n_warnings: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_studies": self.n_studies,
            "n_patients": self.n_patients,
            "patients_per_study": {
                "median": float(self.patients_per_study.median()),
                "min": int(self.patients_per_study.min()),
                "max": int(self.patients_per_study.max()),
                "studies_with_one_patient": int((self.patients_per_study == 1).sum()),
            },
            "categories": {
                k: {str(i): int(v) for i, v in s.items()} for k, s in self.categories.items()
            },
            "relief_pct": self.relief,
            "responders": self.responders.to_dict(orient="records"),
        }

    def text(self) -> str:
        per = self.patients_per_study
        lines = [
            f"{self.n_studies} studies, {self.n_patients} patients "
            f"(per study: median {per.median():g}, range {per.min()}-{per.max()}; "
            f"{int((per == 1).sum())} with a single patient)",
        ]
        for column, counts in self.categories.items():
            shown = ", ".join(f"{level} {n}" for level, n in counts.items())
            lines.append(f"{column}: {shown}")
        r = self.relief
        lines.append(
            f"relief (%): n {r['n']:.0f}, median {r['median']:.1f}, IQR {r['q1']:.1f} to "
            f"{r['q3']:.1f}, range {r['min']:.1f} to {r['max']:.1f}, mean {r['mean']:.1f}"
        )
        for row in self.responders.itertuples():
            lines.append(
                f"responders (relief >= {row.threshold:g} %): {row.n_responders}/{row.n} "
                f"({100 * row.proportion:.1f} %, 95% CI {100 * row.ci_lower:.1f} to "
                f"{100 * row.ci_upper:.1f})"
            )
        return "\n".join(lines)

    def _display_title(self) -> str:
        return (
            f"{self.n_studies} studies, {self.n_patients} patients, {self.n_warnings} data warnings"
        )

    def _display_tables(self) -> list[tuple[str | None, pd.DataFrame]]:
        tables: list[tuple[str | None, pd.DataFrame]] = [
            ("% pain relief", pd.DataFrame([self.relief])),
            ("Responders", self.responders),
        ]
        for column, counts in self.categories.items():
            tables.append((f"Patients by {column}", counts.rename("patients").to_frame()))
        return tables


def summarise(review: ReviewData) -> DataSummary:
    """Summarise a loaded review (see :class:`DataSummary`)."""
    patients = review.patients
    per_study = patients.groupby("study_id", sort=True).size()
    categories = {
        column: patients[column].fillna("(missing)").value_counts()
        for column in CATEGORY_COLUMNS
        if column in patients
    }
    relief = patients["relief_pct"].dropna().to_numpy(float)
    q1, median, q3 = np.percentile(relief, [25, 50, 75]) if relief.size else (np.nan,) * 3
    rows = []
    for threshold in review.outcome.responder_thresholds:
        flags = patients[responder_column(threshold)].dropna()
        n, k = len(flags), int(flags.sum())
        low, high = wilson_interval(k, n)
        rows.append(
            {
                "threshold": float(threshold),
                "n": n,
                "n_responders": k,
                "proportion": k / n if n else np.nan,
                "ci_lower": low,
                "ci_upper": high,
            }
        )
    return DataSummary(
        n_studies=int(per_study.size),
        n_patients=len(patients),
        patients_per_study=per_study,
        categories=categories,
        relief={
            "n": float(relief.size),
            "median": float(median),
            "q1": float(q1),
            "q3": float(q3),
            "min": float(relief.min()) if relief.size else np.nan,
            "max": float(relief.max()) if relief.size else np.nan,
            "mean": float(relief.mean()) if relief.size else np.nan,
        },
        responders=pd.DataFrame(rows),
        n_warnings=len(review.warnings),
    )


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials."""
    if n == 0:
        return (np.nan, np.nan)
    z = special.ndtri(0.5 + level / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (float(centre - half), float(centre + half))
