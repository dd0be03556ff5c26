"""Run a whole review: read the spec and data, fit everything, return one result object.

:func:`run_review` is numerics only; :func:`ipdmeta.run` (in :mod:`ipdmeta.report.run`)
adds writing the report. Stages are announced through an optional ``progress`` callback.
"""

from __future__ import annotations

import dataclasses
import platform
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ipdmeta._display import odds_ratio_text, result_html
from ipdmeta._parallel import BackgroundMap
from ipdmeta._threads import threads_for
from ipdmeta.analysis.confounders import ConfounderScreen, screen_confounders
from ipdmeta.analysis.grade import Certainty, grade_relief
from ipdmeta.analysis.heterogeneity import TwoStage, two_stage
from ipdmeta.analysis.models import (
    FittedModel,
    check_outcome,
    fit_model,
    model_variables,
    outcome_of,
)
from ipdmeta.analysis.responders import PooledResponders, pool_responders
from ipdmeta.analysis.risk_of_bias import HighRisk, high_risk_studies
from ipdmeta.analysis.robustness import (
    ContrastRobustness,
    assess_robustness,
    leave_one_study_out,
    with_bootstrap,
    with_leave_one_out,
)
from ipdmeta.analysis.robustness_binary import BOOTSTRAP_CHUNKS, bootstrap_replicates
from ipdmeta.analysis.spec import ReviewSpec, default_models, load_spec
from ipdmeta.analysis.subgroups import FactorSubgroups, factor_subgroups
from ipdmeta.data import OutcomeOptions, ReviewData, load_review, summarise
from ipdmeta.data.summary import DataSummary
from ipdmeta.errors import ModelSpecError, SpecError

__all__ = ["STAGES", "ReviewRun", "run_review"]

Progress = Callable[[str], None]

# The leave-one-study-out refits of a logistic model run in this many parts.
LEAVE_ONE_OUT_PARTS = 3

# The robustness refits start once the mixed models are fitted: they run in worker
# processes while this one does the two-stage meta-analysis, and that stage's time is the
# wait for them once the two-stage analysis is done.
STAGES = (
    "reading the data",
    "describing the data",
    "mixed models",
    "two-stage meta-analysis",
    "confounder screening and robustness refits",
)


@dataclass(frozen=True)
class ReviewRun:
    """Everything one run of a review computed; its parts are the library's own results.

    Attributes
    ----------
    spec, data, summary
        The analysis spec, the loaded data and its summary.
    analysis_data
        The data the models saw (one row per patient, the columns the models use).
    two_stage
        The two-stage meta-analysis of study mean relief.
    subgroups
        Model factor -> the two-stage subgroup analysis of study means by its levels.
    models
        Model name -> :class:`~ipdmeta.analysis.models.FittedModel`.
    confounders
        The confounder screen, or None when the spec lists no candidates.
    robustness
        One panel per headline contrast.
    grade
        The certainty of the evidence for pain relief (GRADE), or None without a
        two-stage analysis.
    pooled_responders
        The responder proportion at each threshold pooled over studies by the
        binomial-normal (random-intercept logistic) model.
    software, seconds
        Versions used, and the time each stage took.
    overrides
        review.toml ``[outcome]`` keys set otherwise for this run: key -> (review.toml's
        value, the value used).
    prisma_source, prisma_notes
        Where the PRISMA counts come from: the review store (``review.sqlite``) when the
        folder has one, else review.toml's ``[prisma]``; and where the two disagree.
    screening
        With a store: its sources (with search dates), duplicates, reviewers and each
        stage's agreement, for the methods paragraph.
    output
        The report folder, when the run wrote one (:func:`ipdmeta.run`).
    """

    spec: ReviewSpec
    data: ReviewData
    summary: DataSummary
    analysis_data: pd.DataFrame
    two_stage: TwoStage
    subgroups: dict[str, FactorSubgroups]
    models: dict[str, FittedModel]
    confounders: ConfounderScreen | None
    robustness: list[ContrastRobustness]
    grade: Certainty | None
    pooled_responders: PooledResponders
    software: dict[str, str]
    seconds: dict[str, float] = field(default_factory=dict)
    output: Path | None = None
    overrides: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    prisma_source: str = "review.toml"  # or "review store" when the folder has one
    prisma_notes: tuple[str, ...] = ()
    screening: dict[str, Any] | None = None  # the store's search and screening summary

    @property
    def primary(self) -> FittedModel:
        """The first model of relief (a linear one); the first model if all are of 0/1
        outcomes."""
        linear = [m for m in self.models.values() if not m.binary]
        return linear[0] if linear else next(iter(self.models.values()))

    @property
    def icc(self) -> float:
        """Between-study share of variance of the primary model."""
        return float(self.primary.fit.icc)

    def headlines(self) -> str:
        """The run's headline results as a few lines of text (``summary`` is the data's)."""
        r = self.summary.relief
        relief = f"{r['median']:.1f} % (IQR {r['q1']:.1f} to {r['q3']:.1f})"
        lines = [
            f"{self.summary.n_studies} studies, {self.summary.n_patients} patients; "
            f"median relief {relief}",
        ]
        responders = self._responder_headline()
        if responders:
            lines.append(responders)
        two = self.two_stage.result
        lines.append(
            "Heterogeneity: "
            + (
                f"I2 = {two.I2:.1f} % (two-stage, {two.k} studies)"
                if two is not None
                else f"no two-stage estimate ({self.two_stage.note})"
            )
            + f"; ICC = {self.icc:.3f} (one-stage, {self.primary.spec.name} model)"
        )
        for panel in self.robustness:
            main = panel.table.iloc[0]
            p = "p < 0.001" if main["pvalue"] < 0.001 else f"p = {main['pvalue']:.3f}"
            value = (
                f"odds ratio {odds_ratio_text(main['estimate'])}"
                if panel.effect == "odds ratio"
                else f"{main['estimate']:.1f}"
            )
            lines.append(f"{panel.model}: {panel.contrast} = {value} ({p}); {panel.verdict()}")
        if self.output is not None:
            lines.append(f"Report: {self.output / 'report.html'}")
        return "\n".join(lines)

    def _responder_headline(self) -> str:
        """The highest threshold's responders: over all patients, and pooled over studies."""
        counted = self.summary.responders
        if not len(counted):
            return ""
        top = counted.iloc[-1]
        text = (
            f"Responders (relief >= {top['threshold']:g} %): {100 * top['proportion']:.1f} % of "
            "patients"
        )
        pooled = self.pooled_responders.table
        row = pooled[pooled["threshold"] == top["threshold"]]
        if len(row) and not row["note"].iloc[0]:
            r = row.iloc[0]
            level = 100 * self.pooled_responders.level
            text += (
                f"; pooled over studies {100 * r['pooled']:.1f} % ({level:g}% CI "
                f"{100 * r['ci_lower']:.1f} to {100 * r['ci_upper']:.1f}; prediction interval "
                f"{100 * r['pi_lower']:.1f} to {100 * r['pi_upper']:.1f})"
            )
        return text

    def __repr__(self) -> str:
        # The default would print every table of the run.
        return f"<ReviewRun of {self.spec.folder}>\n{self.headlines()}"

    def _repr_html_(self) -> str:
        tables = [
            (f"Fixed effects, {name} model", m.fixed_effects) for name, m in self.models.items()
        ]
        return result_html(
            f"Review run of {self.spec.folder}", tables, self.headlines().splitlines()
        )


def run_review(
    path: str | Path,
    progress: Progress | None = None,
    *,
    outcome: Mapping[str, Any] | None = None,
    strict: bool = False,
) -> ReviewRun:
    """Analyse the review in folder ``path`` as its ``review.toml`` says.

    ``outcome`` overrides keys of review.toml's ``[outcome]`` (``{"worsening": "floor",
    "responder_thresholds": (50,)}``), as ``ipdmeta run --worsening --thresholds`` do; the
    run records them in ``overrides``. ``strict`` turns data warnings into errors.
    """
    fitted = fit_review(path, progress, outcome=outcome, strict=strict)
    jobs = robustness_jobs(fitted)
    with BackgroundMap(call, list(jobs.values())) as running:
        analysed = analyse_two_stage(fitted, progress)
        results = running.results()
    return with_robustness(analysed, dict(zip(jobs, results, strict=True)))


@dataclass(frozen=True)
class FittedReview:
    """A review read, described and fitted by its mixed models: what the robustness refits
    (:func:`robustness_jobs`) need, and what :func:`analyse_two_stage` completes into a
    run. :func:`run_review` starts the refits in worker processes and does the two-stage
    meta-analysis meanwhile; ``ipdmeta run`` draws some of the report's figures as well."""

    spec: ReviewSpec
    data: ReviewData
    summary: DataSummary
    analysis_data: pd.DataFrame
    relief_kept: pd.Series  # relief before worsening is floored (the robustness panel's)
    models: dict[str, FittedModel]
    high_risk: HighRisk | None
    overrides: dict[str, tuple[Any, Any]]
    prisma_source: str
    prisma_notes: tuple[str, ...]
    screening: dict[str, Any] | None
    seconds: dict[str, float]
    fitted_at: float  # time.perf_counter() when the mixed models were done


@dataclass(frozen=True)
class AnalysedReview:
    """A review analysed but for its robustness panels and confounder screen: the run so
    far, and what :func:`with_robustness` needs besides."""

    run: ReviewRun
    started: float  # time.perf_counter() when the wait for the robustness jobs began


def fit_review(
    path: str | Path,
    progress: Progress | None = None,
    *,
    outcome: Mapping[str, Any] | None = None,
    strict: bool = False,
) -> FittedReview:
    """The first stages of :func:`run_review`, which takes the same arguments: read the
    data, describe them, fit the mixed models."""
    folder = Path(path)
    spec = load_spec(folder)
    overrides = _overrides(spec, outcome or {})
    if overrides:
        spec = dataclasses.replace(
            spec,
            outcome=dataclasses.replace(spec.outcome, **{k: v for k, (_, v) in overrides.items()}),
        )
    say = progress or (lambda stage: None)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = now - clock
        clock = now

    say(STAGES[0])
    data = _load(spec, strict)
    spec, prisma_source, prisma_notes, screening = _prisma_from_store(spec, data)
    if screening is not None and "quality" in screening:
        # The appraisal's consensus in the store stands for a quality table.
        data = dataclasses.replace(data, quality=screening.pop("quality"))
    if spec.models == default_models():  # no [[models]]: the defaults the data allow
        spec = _defaults_for(spec, data)
    lap(STAGES[0])
    say(STAGES[1])
    summary = summarise(data)
    analysis_data, relief_kept = _analysis_data(spec, data)
    lap(STAGES[1])

    say(STAGES[2])
    for m in spec.models:
        check_outcome(m, analysis_data, where=data.sources.get("patients"))
    with threads_for(len(analysis_data)):  # a small data set's fits: one BLAS thread
        models = {m.name: fit_model(m, analysis_data, spec.inference) for m in spec.models}
    screened = models.get(spec.confounders.model)
    if spec.confounders.candidates and screened is not None and screened.binary:
        raise SpecError(
            f"{spec.source or 'review.toml'}: [confounders] model = "
            f"{spec.confounders.model!r} has a 0/1 outcome; the confounder screen runs on a "
            "model of % relief. Name a relief model there"
        )
    high_risk = high_risk_studies(data.quality, spec.sensitivity)
    lap(STAGES[2])
    return FittedReview(
        spec=spec,
        data=data,
        summary=summary,
        analysis_data=analysis_data,
        relief_kept=relief_kept,
        models=models,
        high_risk=high_risk,
        overrides=overrides,
        prisma_source=prisma_source,
        prisma_notes=prisma_notes,
        screening=screening,
        seconds=seconds,
        fitted_at=time.perf_counter(),
    )


def analyse_two_stage(fitted: FittedReview, progress: Progress | None = None) -> AnalysedReview:
    """The two-stage meta-analysis and what follows from it (subgroups, GRADE): the run
    but for the robustness jobs, which run meanwhile."""
    say = progress or (lambda stage: None)
    spec, data, analysis_data = fitted.spec, fitted.data, fitted.analysis_data
    say(STAGES[3])
    meta_analysis = two_stage(analysis_data, spec.heterogeneity, spec.inference.level)
    subgroups = {
        factor: factor_subgroups(analysis_data, factor, spec.heterogeneity, spec.inference.level)
        for factor in spec.factors
    }
    run = ReviewRun(
        spec=spec,
        data=data,
        summary=fitted.summary,
        analysis_data=analysis_data,
        two_stage=meta_analysis,
        subgroups=subgroups,
        models=fitted.models,
        confounders=None,
        robustness=[],
        grade=grade_relief(
            meta_analysis, data.studies, analysis_data, fitted.high_risk, spec.grade
        ),
        pooled_responders=pool_responders(
            data.patients, spec.outcome.responder_thresholds, spec.inference.level
        ),
        software=software_versions(),
        seconds={**fitted.seconds, STAGES[3]: time.perf_counter() - fitted.fitted_at},
        overrides=fitted.overrides,
        prisma_source=fitted.prisma_source,
        prisma_notes=fitted.prisma_notes,
        screening=fitted.screening,
    )
    say(STAGES[4])
    return AnalysedReview(run, time.perf_counter())


def robustness_jobs(fitted: FittedReview) -> dict[Any, Callable[[], Any]]:
    """The robustness stage's independent parts, by key, for :func:`with_robustness`.

    The confounder screen and each model's robustness refits are independent: they run
    side by side where there are cores for it. A logistic model's bootstrap is most of
    its panel's work: its chunks are jobs of their own, and their row joins the panel
    afterwards. Longest first, so that no core is left with a long job at the end: the
    logistic panels, their bootstrap chunks, the linear panels, then the short jobs.
    """
    spec, models, analysis_data = fitted.spec, fitted.models, fitted.analysis_data
    relief_kept, high_risk = fitted.relief_kept, fitted.high_risk
    n_boot = spec.sensitivity.bootstrap
    ordered = sorted(models.values(), key=lambda m: not m.binary)
    # A logistic model's leave-one-study-out refits are the other long part of its panel:
    # they too run in parts of their own, and their row joins the panel afterwards.
    apart = dataclasses.replace(spec.sensitivity, bootstrap=0, leave_one_study_out=False)
    jobs: dict[Any, Callable[[], Any]] = {
        ("panels", model.spec.name): partial(
            assess_robustness,
            model,
            analysis_data,
            relief_kept,
            spec.inference,
            apart,
            spec.outcome.worsening,
            high_risk,
            spec.outcome.responder_thresholds,
        )
        for model in ordered
        if model.binary
    }
    studies = pd.unique(analysis_data["study_id"])
    for model in ordered:
        if model.binary and spec.sensitivity.leave_one_study_out:
            for part, these in enumerate(np.array_split(studies, LEAVE_ONE_OUT_PARTS)):
                jobs[("leave one out", model.spec.name, part)] = partial(
                    leave_one_study_out, model, analysis_data, spec.inference, list(these)
                )
    for model in ordered:
        if model.binary and n_boot:
            for contrast in model.spec.headline:
                for chunk in range(BOOTSTRAP_CHUNKS):
                    jobs[("bootstrap", model.spec.name, contrast, chunk)] = partial(
                        bootstrap_replicates, model, analysis_data, contrast, n_boot, chunk
                    )
    for model in ordered:
        if not model.binary:
            jobs[("panels", model.spec.name)] = partial(
                assess_robustness,
                model,
                analysis_data,
                relief_kept,
                spec.inference,
                spec.sensitivity,
                spec.outcome.worsening,
                high_risk,
            )
    if spec.confounders.candidates:
        jobs["confounders"] = partial(
            screen_confounders,
            models[spec.confounders.model],
            analysis_data,
            spec.confounders,
            spec.inference,
        )
    return jobs


def with_robustness(analysed: AnalysedReview, done: Mapping[Any, Any]) -> ReviewRun:
    """The run with the results of :func:`robustness_jobs` (``done``, by key) in it."""
    run = analysed.run
    spec, models = run.spec, run.models
    robustness = []
    for model in models.values():  # the panels in the models' order
        for panel in done[("panels", model.spec.name)]:
            chunks = [
                done[("bootstrap", model.spec.name, panel.contrast, chunk)]
                for chunk in range(BOOTSTRAP_CHUNKS)
                if ("bootstrap", model.spec.name, panel.contrast, chunk) in done
            ]
            if chunks:
                panel = with_bootstrap(panel, np.concatenate(chunks), spec.inference.level)
            parts = [
                done[("leave one out", model.spec.name, part)][panel.contrast]
                for part in range(LEAVE_ONE_OUT_PARTS)
                if ("leave one out", model.spec.name, part) in done
            ]
            if parts:
                panel = with_leave_one_out(panel, pd.concat(parts, ignore_index=True))
            robustness.append(panel)
    seconds = {**run.seconds, STAGES[4]: time.perf_counter() - analysed.started}
    return dataclasses.replace(
        run, confounders=done.get("confounders"), robustness=robustness, seconds=seconds
    )


def _overrides(spec: ReviewSpec, outcome: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Key -> (review.toml's value, the value set instead), for the keys that change."""
    known = {f.name for f in dataclasses.fields(spec.outcome)}
    out = {}
    for key, value in outcome.items():
        if key not in known:
            raise SpecError(f"unknown outcome option {key!r}; options: {', '.join(sorted(known))}")
        if key == "responder_thresholds":
            value = tuple(float(v) for v in value)
        before = getattr(spec.outcome, key)
        if value != before:
            out[key] = (before, value)
    return out


def _prisma_from_store(
    spec: ReviewSpec, data: ReviewData
) -> tuple[ReviewSpec, str, tuple[str, ...], dict[str, Any] | None]:
    """The PRISMA counts from the review store when the folder has one (typed counts in
    review.toml remain for reviews screened elsewhere); where both exist and disagree, the
    store's are used and each difference is named."""
    from ipdmeta.review.store import STORE_NAME

    if not (spec.folder / STORE_NAME).is_file():
        return spec, "review.toml", (), None
    from ipdmeta.analysis.spec import PrismaSpec
    from ipdmeta.review import open_store
    from ipdmeta.review.appraisal import consensus_table
    from ipdmeta.review.prisma import prisma_counts, prisma_spec_fields
    from ipdmeta.review.screening import STAGES, stage_status
    from ipdmeta.review.stopping import stopping_status

    with open_store(spec.folder) as store:
        counts = prisma_counts(store)
        appraised = consensus_table(store)
        screening = {
            "imports": store.imports(),
            "duplicates": counts["duplicates"] + counts["other_duplicates"],
            "reviewers": len(store.reviewers()),
            "stages": {stage: stage_status(store, stage) for stage in STAGES},
            "stopping": stopping_status(store),
        }
    fields = prisma_spec_fields(counts)
    typed = spec.prisma
    notes = []
    if typed.given:
        for key, value in fields.items():
            before = getattr(typed, key)
            if before not in (None, {}, 0 if value is None else None) and before != value:
                notes.append(
                    f"PRISMA {key}: review.toml says {before}, the review store {value}; the "
                    "report uses the store's"
                )
    if counts["records_pending"] or counts["reports_pending"]:
        notes.append(
            f"PRISMA: screening is not finished ({counts['records_pending']} records and "
            f"{counts['reports_pending']} reports wait for a decision)"
        )
    patients = typed.patients_included
    prisma = PrismaSpec(**fields, patients_included=patients)
    if appraised is not None:
        screening["quality"] = appraised
    return dataclasses.replace(spec, prisma=prisma), "review store", tuple(notes), screening


def call(job: Callable[[], Any]) -> Any:
    """``job()``: what a BackgroundMap of robustness jobs calls for each."""
    return job()


def _load(spec: ReviewSpec, strict: bool) -> ReviewData:
    # Worsening is always kept at loading, so the robustness panel can floor it itself.
    outcome = dataclasses.replace(OutcomeOptions.from_spec(spec.outcome), worsening="keep")
    return load_review(spec.folder, spec=spec, outcome=outcome, strict=strict)


def _defaults_for(spec: ReviewSpec, data: ReviewData) -> ReviewSpec:
    """Without [[models]], run the default models the data have the columns for."""
    columns = set(data.patients.columns)
    models = tuple(m for m in spec.models if set(model_variables(m.formula)) <= columns)
    return dataclasses.replace(spec, models=models)


def _analysis_data(spec: ReviewSpec, data: ReviewData) -> tuple[pd.DataFrame, pd.Series]:
    """The columns the models use, with relief as the spec defines it."""
    patients = data.patients
    wanted = ["study_id", "patient_id", "source_row", "relief_pct"]
    known = ", ".join(c for c in patients.columns if c != "source_row")
    for model in spec.models:
        for name in model_variables(model.formula):
            if name not in patients.columns:
                raise ModelSpecError(
                    f"model {model.name!r}: the formula {model.formula!r} uses {name!r}, "
                    f"which is not a column of the patients table; columns: {known}"
                )
            wanted.append(name)
    for name in spec.confounders.candidates:
        if name not in patients.columns:
            # A named confounder silently left out would be a different analysis.
            raise SpecError(
                f"{spec.source or 'review.toml'}: confounders.candidates names {name!r}, which "
                f"is not a column of the patients table; columns: {known}"
            )
        wanted.append(name)
    if any(outcome_of(m.formula).startswith("responder_") for m in spec.models):
        # A responder model's robustness panel refits at each threshold.
        wanted += [c for c in patients.columns if c.startswith("responder_")]
    frame = patients[list(dict.fromkeys(wanted))].copy()
    _check_numbers_in_text(frame, data)
    for column, level in spec.reference.items():
        frame[column] = _with_reference(spec, frame, patients, column, level)
    kept = frame["relief_pct"].copy()
    if spec.outcome.worsening == "floor":
        frame["relief_pct"] = kept.clip(lower=0)
    return frame.reset_index(drop=True), kept.reset_index(drop=True)


def _with_reference(
    spec: ReviewSpec, frame: pd.DataFrame, patients: pd.DataFrame, column: str, level: str
) -> pd.Categorical:
    """The column as a factor whose first level is ``level``, as R's relevel() makes it."""
    where = f"{spec.source or 'review.toml'}: [reference] {column} = {level!r}"
    if column not in patients.columns:
        known = ", ".join(c for c in patients.columns if c != "source_row")
        raise SpecError(f"{where}, but {column!r} is not a column of the patients table; {known}")
    if column not in frame.columns:
        raise SpecError(f"{where}, but no model or confounder uses {column!r}")
    if pd.api.types.is_numeric_dtype(frame[column]):
        raise SpecError(f"{where}, but {column} is a number, not a factor with levels")
    levels = sorted(str(v) for v in frame[column].dropna().unique())
    if level not in levels:
        raise SpecError(
            f"{where}, but {column} has no level {level!r}; levels: {', '.join(levels)}"
        )
    values = frame[column].map(lambda v: None if pd.isna(v) else str(v))
    return pd.Categorical(values, categories=[level, *(v for v in levels if v != level)])


def _check_numbers_in_text(frame: pd.DataFrame, data: ReviewData) -> None:
    """A column a model uses that is mostly numbers but read as text would silently enter
    the model as a factor with a level per value: that is an error naming the cells."""
    from ipdmeta.data.quantities import read_cell

    for column in frame.columns:
        if pd.api.types.is_numeric_dtype(frame[column]) or column in ("study_id", "patient_id"):
            continue
        values = frame[column].dropna()
        readings = [read_cell(v) for v in values]
        numbers = [r for r in readings if r.error is None and r.value is not None]
        if values.empty or 2 * len(numbers) <= len(values):
            continue
        odd = [
            (int(frame.loc[i, "source_row"]), v)
            for (i, v), r in zip(values.items(), readings, strict=True)
            if r.error is not None or r.unit
        ]
        cells = ", ".join(f"row {row} {value!r}" for row, value in odd[:8])
        raise ModelSpecError(
            f"{data.sources.get('patients', 'the patients table')}: the column {column!r} is "
            f"used by the analysis as a number, but some cells are not numbers ({cells}); so it "
            "would enter the model as categories. Make every cell a number or empty"
        )


def software_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("ipdmeta", "numpy", "scipy", "pandas", "skia-python"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions
