"""Simulated IPD meta-analysis data sets.

A design says how many studies and patients there are, how unequal the study sizes are,
how patients fall into categories, how categories and covariates shift the outcome, how
much studies differ (a random intercept per study) and how noisy patients are. The same
design and seed always give the same data. Used for the bundled example, for tests and
for power studies. Everything drawn here is simulated, never real patients.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ipdmeta.errors import IpdmetaError

__all__ = [
    "Categorical",
    "Covariate",
    "ReviewExtras",
    "SimulatedReview",
    "SimulationDesign",
    "design_from_toml",
    "simulate_ipd",
    "simulate_review",
]

_PROBABILITY_SLACK = 1e-9  # probabilities read from a file may not add to 1 exactly


@dataclass(frozen=True)
class Covariate:
    """A continuous patient covariate drawn from a normal distribution.

    ``slope`` is the change in the outcome per unit above ``mean``; ``lower``/``upper``
    clip the drawn values (age cannot be negative); ``decimals`` rounds them as a paper
    would report them.
    """

    mean: float
    sd: float
    slope: float = 0.0
    lower: float | None = None
    upper: float | None = None
    decimals: int | None = None


@dataclass(frozen=True)
class Categorical:
    """A categorical column whose level probabilities depend on another column's level.

    ``given`` names the column it depends on; ``probabilities`` maps each level of that
    column to a level -> probability table. Levels of ``given`` not listed use ``default``.
    """

    given: str
    probabilities: Mapping[str, Mapping[str, float]]
    default: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SimulationDesign:
    """What to simulate. See :func:`simulate_ipd`.

    Parameters
    ----------
    n_studies, n_patients
        Number of studies and the total number of patients (each study gets at least one).
    study_size_skew
        How unequal study sizes are: 0 gives equal sizes; larger values give a few large
        case series and many case reports, as in the published literature.
    categories
        Column -> level -> probability (independent of other columns), or a
        :class:`Categorical` for a column that depends on an earlier one.
    effects
        Column -> level -> shift of the outcome for patients in that level (levels not
        listed shift it by 0).
    intercept
        The mean outcome when every effect is 0 and covariates are at their means.
    between_study_sd, residual_sd
        SD of the random study intercept and of the patient-level error.
    covariates
        Name -> :class:`Covariate`.
    floor, ceiling
        Limits the outcome is clipped to (``None`` for no limit); % relief lies in [0, 100]
        when worsening is floored.
    missing
        Column -> share of its values set missing at random.
    """

    n_studies: int = 23
    n_patients: int = 140
    study_size_skew: float = 1.5
    categories: Mapping[str, Mapping[str, float] | Categorical] = field(default_factory=dict)
    effects: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    intercept: float = 60.0
    between_study_sd: float = 10.0
    residual_sd: float = 25.0
    covariates: Mapping[str, Covariate] = field(default_factory=dict)
    floor: float | None = 0.0
    ceiling: float | None = 100.0
    missing: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.n_studies < 1:
            raise IpdmetaError(f"n_studies must be at least 1, got {self.n_studies}")
        if self.n_patients < self.n_studies:
            raise IpdmetaError(
                f"n_patients ({self.n_patients}) must be at least n_studies "
                f"({self.n_studies}): every study has at least one patient"
            )
        if self.study_size_skew < 0:
            raise IpdmetaError(f"study_size_skew must be >= 0, got {self.study_size_skew}")
        if self.between_study_sd < 0 or self.residual_sd < 0:
            raise IpdmetaError("between_study_sd and residual_sd must be >= 0")
        for column, share in self.missing.items():
            if not 0 <= share < 1:
                raise IpdmetaError(f"missing share for {column!r} must be in [0, 1), got {share}")
        for column, spec in self.categories.items():
            tables = spec.probabilities.values() if isinstance(spec, Categorical) else [spec]
            for table in tables:
                _check_probabilities(column, table)
            if isinstance(spec, Categorical) and spec.given not in self.categories:
                raise IpdmetaError(f"category {column!r} depends on unknown column {spec.given!r}")


def _check_probabilities(column: str, table: Mapping[str, float]) -> None:
    values = np.array(list(table.values()), dtype=float)
    if values.size == 0 or (values < 0).any() or abs(values.sum() - 1) > 1e-6:
        raise IpdmetaError(
            f"probabilities for {column!r} must be non-negative and add to 1, got {dict(table)}"
        )


def _study_sizes(design: SimulationDesign, rng: np.random.Generator) -> np.ndarray:
    # Lognormal weights give a long right tail: many tiny studies, a few large series.
    weights = rng.lognormal(mean=0.0, sigma=design.study_size_skew, size=design.n_studies)
    extra = design.n_patients - design.n_studies
    shares = weights / weights.sum()
    sizes = 1 + np.floor(shares * extra).astype(int)
    # Hand out the patients lost to rounding to the largest remainders.
    remainder = design.n_patients - sizes.sum()
    order = np.argsort(-(shares * extra - np.floor(shares * extra)), kind="stable")
    sizes[order[:remainder]] += 1
    return sizes


def _draw_levels(table: Mapping[str, float], n: int, rng: np.random.Generator) -> np.ndarray:
    levels = list(table)
    p = np.array([table[level] for level in levels], dtype=float)
    p = p / p.sum()
    return np.array(levels, dtype=object)[rng.choice(len(levels), size=n, p=p)]


def simulate_ipd(design: SimulationDesign, seed: int) -> pd.DataFrame:
    """Draw one simulated IPD meta-analysis data set.

    Parameters
    ----------
    design
        What to simulate.
    seed
        Seed of the random generator: the same design and seed give the same data.

    Returns
    -------
    pandas.DataFrame
        One row per patient: ``study_id`` ("S01", ...), ``patient_id`` ("S01-P01", ...),
        one column per category, one per covariate, and ``relief_pct``.
    """
    rng = np.random.default_rng(seed)
    sizes = _study_sizes(design, rng)
    width = len(str(design.n_studies))
    study_labels = [f"S{i + 1:0{max(width, 2)}d}" for i in range(design.n_studies)]
    study_index = np.repeat(np.arange(design.n_studies), sizes)
    n = int(sizes.sum())
    patient_number = np.concatenate([np.arange(1, s + 1) for s in sizes])
    frame: dict[str, Any] = {
        "study_id": np.array(study_labels, dtype=object)[study_index],
        "patient_id": [
            f"{study_labels[s]}-P{p:02d}" for s, p in zip(study_index, patient_number, strict=True)
        ],
    }

    outcome = np.full(n, design.intercept, dtype=float)
    for column, spec in design.categories.items():
        if isinstance(spec, Categorical):
            values = np.empty(n, dtype=object)
            parent = frame[spec.given]
            for parent_level in pd.unique(parent):
                rows = np.flatnonzero(parent == parent_level)
                table = spec.probabilities.get(parent_level, spec.default)
                if not table:
                    raise IpdmetaError(
                        f"category {column!r} has no probabilities for "
                        f"{spec.given}={parent_level!r} and no default"
                    )
                values[rows] = _draw_levels(table, rows.size, rng)
        else:
            values = _draw_levels(spec, n, rng)
        frame[column] = values
        shifts = design.effects.get(column, {})
        outcome += np.array([shifts.get(v, 0.0) for v in values], dtype=float)

    for name, cov in design.covariates.items():
        x = rng.normal(cov.mean, cov.sd, size=n)
        if cov.lower is not None or cov.upper is not None:
            x = np.clip(x, cov.lower, cov.upper)
        if cov.decimals is not None:
            x = np.round(x, cov.decimals)
        frame[name] = x
        outcome += cov.slope * (x - cov.mean)

    outcome += rng.normal(0.0, design.between_study_sd, size=design.n_studies)[study_index]
    outcome += rng.normal(0.0, design.residual_sd, size=n)
    if design.floor is not None or design.ceiling is not None:
        outcome = np.clip(outcome, design.floor, design.ceiling)
    frame["relief_pct"] = outcome

    data = pd.DataFrame(frame)
    for column, share in design.missing.items():
        if column not in data.columns or column in ("study_id", "patient_id"):
            raise IpdmetaError(f"missing values requested for unknown column {column!r}")
        data.loc[rng.random(n) < share, column] = np.nan
    return data


# --- a whole simulated review: patients with pain scores, studies, quality appraisals ---

JBI_CASE_SERIES_ITEMS = (
    "Clear criteria for inclusion",
    "Condition measured in a standard, reliable way",
    "Valid methods used to identify the condition",
    "Consecutive inclusion of participants",
    "Complete inclusion of participants",
    "Clear reporting of participant demographics",
    "Clear reporting of clinical information",
    "Outcomes or follow-up results clearly reported",
    "Clear reporting of presenting site or clinic demographics",
    "Appropriate statistical analysis",
)


@dataclass(frozen=True)
class ReviewExtras:
    """How a simulated review is dressed up to look like an extraction spreadsheet.

    ``labels`` maps a category column and level to the raw labels papers use for it (one is
    drawn per study, so the category map has real work to do). ``share_relief_only`` is the
    share of studies that report only % relief, not pain scores.
    """

    labels: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    pain_scales: Mapping[str, float] = field(
        default_factory=lambda: {"VAS-10": 0.6, "VAS-100": 0.3, "NRS-10": 0.1}
    )
    share_relief_only: float = 0.15
    pain_pre_mean: float = 0.8  # as a share of the scale maximum
    first_year: int = 1993
    last_year: int = 2019


@dataclass(frozen=True)
class SimulatedReview:
    """The three tables of a simulated review."""

    patients: pd.DataFrame
    studies: pd.DataFrame
    quality: pd.DataFrame
    seed: int

    def write(self, folder: str | Path) -> list[Path]:
        """Write ``patients.csv``, ``studies.csv`` and ``quality.csv`` into ``folder``."""
        from ipdmeta.data.writers import write_csv

        tables = {"patients": self.patients, "studies": self.studies, "quality": self.quality}
        return [write_csv(table, Path(folder) / f"{name}.csv") for name, table in tables.items()]


_SCALE_MAX = {"VAS-10": 10.0, "VAS-100": 100.0, "NRS-10": 10.0}
_SCALE_DECIMALS = {"VAS-10": 1, "VAS-100": 0, "NRS-10": 0}


def simulate_review(
    design: SimulationDesign, extras: ReviewExtras | None = None, *, seed: int
) -> SimulatedReview:
    """Simulate a whole review: patients (with pain scores), studies and quality tables.

    The patients' % relief comes from :func:`simulate_ipd`; each study then reports it as
    pain before and after on one scale (rounded as a paper would), or only as % relief.
    """
    extras = extras or ReviewExtras()
    ipd = simulate_ipd(design, seed)
    rng = np.random.default_rng([seed, 1])
    studies = list(pd.unique(ipd["study_id"]))
    scale_of = dict(zip(studies, _draw_levels(extras.pain_scales, len(studies), rng), strict=True))
    relief_only = {s: rng.random() < extras.share_relief_only for s in studies}

    patients = ipd.copy()
    for column, level_labels in extras.labels.items():
        raw_of_study = {
            (s, level): rng.choice(list(options))
            for s in studies
            for level, options in level_labels.items()
        }
        patients[column] = [
            raw_of_study.get((s, v), v) if isinstance(v, str) else v
            for s, v in zip(patients["study_id"], patients[column], strict=True)
        ]

    scale = patients["study_id"].map(scale_of)
    top = scale.map(_SCALE_MAX).to_numpy(dtype=float)
    decimals = scale.map(_SCALE_DECIMALS).to_numpy(dtype=int)
    pre_share = np.clip(rng.normal(extras.pain_pre_mean, 0.1, size=len(patients)), 0.5, 1.0)
    pre = _round_each(pre_share * top, decimals)
    relief = patients["relief_pct"].to_numpy(dtype=float)
    post = np.where(np.isnan(relief), np.nan, _round_each(pre * (1 - relief / 100), decimals))
    post = np.clip(post, 0, top)
    only = patients["study_id"].map(relief_only).to_numpy(dtype=bool)
    patients.insert(patients.columns.get_loc("relief_pct"), "pain_scale", scale.where(~only))
    patients.insert(patients.columns.get_loc("relief_pct"), "pain_pre", np.where(only, np.nan, pre))
    patients.insert(
        patients.columns.get_loc("relief_pct"), "pain_post", np.where(only, np.nan, post)
    )
    # Studies giving pain scores leave % relief for the data layer to compute.
    patients["relief_pct"] = np.where(only, np.round(relief, 0), np.nan)

    years = np.sort(rng.integers(extras.first_year, extras.last_year + 1, size=len(studies)))
    counts = patients.groupby("study_id", sort=False).size()
    study_table = pd.DataFrame(
        {
            "study_id": studies,
            "first_author": [
                f"Simulated{chr(65 + i % 26)}{i // 26 or ''}" for i in range(len(studies))
            ],
            "year": years,
            "title": [f"Simulated case series {s}" for s in studies],
            "doi": "",
            "pmid": "",
            "design": ["case report" if counts[s] == 1 else "case series" for s in studies],
            "n_patients": [int(counts[s]) for s in studies],
        }
    )
    judgements = _draw_levels(
        {"yes": 0.6, "no": 0.2, "unclear": 0.15, "not applicable": 0.05},
        len(studies) * len(JBI_CASE_SERIES_ITEMS),
        rng,
    )
    quality = pd.DataFrame(
        {
            "study_id": np.repeat(studies, len(JBI_CASE_SERIES_ITEMS)),
            "tool": "JBI case series",
            "item": list(JBI_CASE_SERIES_ITEMS) * len(studies),
            "judgement": judgements,
            "note": "",
        }
    )
    return SimulatedReview(patients=patients, studies=study_table, quality=quality, seed=seed)


def _round_each(values: np.ndarray, decimals: np.ndarray) -> np.ndarray:
    scale = 10.0**decimals
    return np.round(values * scale) / scale


# --- reading a design from a TOML parameter file ---


def design_from_toml(path: str | Path) -> tuple[SimulationDesign, ReviewExtras, int]:
    """Read a simulation design, its review extras and the seed from a TOML file.

    The file has a top-level ``seed``, a ``[design]`` table with the
    :class:`SimulationDesign` fields (``[design.categories.<column>]`` level tables, a
    ``given`` key for a dependent column, ``[design.covariates.<name>]``) and an optional
    ``[review]`` table with the :class:`ReviewExtras` fields.
    """
    import tomllib

    path = Path(path)
    try:
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise IpdmetaError(f"{path}: cannot read the simulation design: {exc}") from exc
    try:
        seed = int(spec["seed"])
        raw = dict(spec["design"])
        categories: dict[str, Mapping[str, float] | Categorical] = {}
        for column, table in raw.pop("categories", {}).items():
            if "given" in table:
                table = dict(table)
                given = table.pop("given")
                default = table.pop("default", {})
                categories[column] = Categorical(given=given, probabilities=table, default=default)
            else:
                categories[column] = table
        covariates = {name: Covariate(**c) for name, c in raw.pop("covariates", {}).items()}
        design = SimulationDesign(categories=categories, covariates=covariates, **raw)
        review = dict(spec.get("review", {}))
        labels = {
            column: {level: tuple(options) for level, options in table.items()}
            for column, table in review.pop("labels", {}).items()
        }
        extras = ReviewExtras(labels=labels, **review)
    except (KeyError, TypeError, ValueError) as exc:
        raise IpdmetaError(f"{path}: invalid simulation design: {exc}") from exc
    return design, extras, seed
