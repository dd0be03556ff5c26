"""The analysis specification, ``review.toml``: what to analyse and how.

Every key is documented in :data:`KEYS` (and in ``docs/review-toml.md``). An unknown key
or a bad value raises :class:`~ipdmeta.errors.SpecError` naming the key, its line and,
for a misspelt key, the closest valid one. Formulas are kept as text and parsed by the
model code; nothing in the file is ever evaluated as Python.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ipdmeta.errors import SpecError

__all__ = [
    "KEYS",
    "SPEC_FILE",
    "ConfounderSpec",
    "DataSpec",
    "GradeSpec",
    "HeterogeneitySpec",
    "InferenceSpec",
    "ModelSpec",
    "OutcomeSpec",
    "PrismaSpec",
    "ReportSpec",
    "ReviewSpec",
    "SensitivitySpec",
    "load_spec",
    "parse_spec",
]

SPEC_FILE = "review.toml"
# Tables whose keys are the data's columns: the reference level of a factor, and the
# words a column is called by in the report ([labels] pain_duration_years = "pain duration").
COLUMN_TABLES = {
    "reference": ('diagnosis = "TN"', "the level, as text"),
    "labels": ('lesion_location = "cause of pain"', "the words, as text"),
}

DDF_CHOICES = ("satterthwaite", "kenward-roger", "residual", "asymptotic")
ADJUST_CHOICES = ("none", "holm", "bonferroni", "tukey", "fdr")
TAU2_CHOICES = ("FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")


@dataclass(frozen=True)
class DataSpec:
    # None: found in the folder as `ipdmeta validate` finds it; "" (studies, quality): none.
    patients: str | None = None
    studies: str | None = None
    quality: str | None = None
    category_maps: tuple[str, ...] = ()  # () means categories.csv when the folder has one
    vocabularies: tuple[str, ...] = ("general", "cnop")
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class OutcomeSpec:
    worsening: str = "keep"
    responder_thresholds: tuple[float, ...] = (30.0, 40.0, 50.0)
    agreement_tolerance: float = 1.0
    default_scale: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    formula: str
    factor: str
    headline: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class ConfounderSpec:
    candidates: tuple[str, ...] = ()
    model: str = "primary"
    multivariable_p: float = 0.2


@dataclass(frozen=True)
class InferenceSpec:
    ddf: str = "satterthwaite"
    adjust: str = "none"
    also_adjust: tuple[str, ...] = ("holm",)
    alpha: float = 0.05
    level: float = 0.95
    reml: bool = True
    # Models of a 0/1 outcome: adaptive Gauss-Hermite nodes (1 = the Laplace approximation).
    # Studies of 2-12 patients are where Laplace is poorest; rma.glmm's default is 7.
    nagq: int = 7


@dataclass(frozen=True)
class HeterogeneitySpec:
    method: str = "REML"
    test: str = "z"
    min_patients_per_study: int = 2


@dataclass(frozen=True)
class SensitivitySpec:
    ddf: tuple[str, ...] = ("satterthwaite", "kenward-roger", "asymptotic")
    adjust: tuple[str, ...] = ("none", "holm", "tukey")
    leave_one_study_out: bool = True
    worsening: tuple[str, ...] = ("keep", "floor")
    # A study is at high risk of bias below this share of "yes" (0 turns the rule off) or
    # with "no" to any of these items; the robustness panel refits without those studies.
    high_risk_yes_below: float = 0.5
    high_risk_items: tuple[str, ...] = ()
    # Parametric bootstrap refits for a 0/1 outcome's headline odds ratios (0: none).
    bootstrap: int = 200


@dataclass(frozen=True)
class PrismaSpec:
    """Counts for the PRISMA 2020 flow diagram (until the screening workflow gives them)."""

    records_identified: Mapping[str, int] = field(default_factory=dict)
    duplicates_removed: int | None = None
    records_removed_automation: int | None = None
    records_removed_other: int | None = None
    records_screened: int | None = None
    records_excluded: int | None = None
    reports_sought: int | None = None
    reports_not_retrieved: int | None = None
    reports_assessed: int | None = None
    reports_excluded: Mapping[str, int] = field(default_factory=dict)
    studies_included: int | None = None
    patients_included: int | None = None

    @property
    def given(self) -> bool:
        return bool(self.records_identified) or self.studies_included is not None


GRADE_DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision",
                 "publication_bias")  # fmt: skip
GRADE_JUDGEMENTS = ("not serious", "serious", "very serious")
GRADE_LEVELS = ("high", "moderate", "low", "very low")


@dataclass(frozen=True)
class GradeSpec:
    """Certainty of evidence (GRADE): the starting level, the imprecision threshold, and
    any domain judged by the review instead of from the analysis (with the reason)."""

    start: str | None = None  # None: from the studies' designs (case series: very low)
    imprecision_width: float = 20.0  # a CI wider than this (percentage points) is imprecise
    risk_of_bias: str | None = None
    risk_of_bias_reason: str = ""
    inconsistency: str | None = None
    inconsistency_reason: str = ""
    indirectness: str | None = None
    indirectness_reason: str = ""
    imprecision: str | None = None
    imprecision_reason: str = ""
    publication_bias: str | None = None
    publication_bias_reason: str = ""


@dataclass(frozen=True)
class ReportSpec:
    title: str = "IPD meta-analysis"
    authors: tuple[str, ...] = ()
    figure_formats: tuple[str, ...] = ("svg", "png")


@dataclass(frozen=True)
class ReviewSpec:
    """A whole ``review.toml``, with defaults for what it leaves out."""

    folder: Path
    data: DataSpec = field(default_factory=DataSpec)
    outcome: OutcomeSpec = field(default_factory=OutcomeSpec)
    models: tuple[ModelSpec, ...] = ()
    confounders: ConfounderSpec = field(default_factory=ConfounderSpec)
    inference: InferenceSpec = field(default_factory=InferenceSpec)
    heterogeneity: HeterogeneitySpec = field(default_factory=HeterogeneitySpec)
    sensitivity: SensitivitySpec = field(default_factory=SensitivitySpec)
    prisma: PrismaSpec = field(default_factory=PrismaSpec)
    report: ReportSpec = field(default_factory=ReportSpec)
    grade: GradeSpec = field(default_factory=GradeSpec)
    source: Path | None = None
    # Column -> the level its comparisons are made against ([reference] diagnosis = "TN").
    reference: Mapping[str, str] = field(default_factory=dict)
    # Column -> the words the report calls it by ([labels] lesion_location = "cause").
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def factors(self) -> tuple[str, ...]:
        """The models' factors, each once, in the models' order (two models can compare
        the levels of one factor: relief and responding by diagnosis)."""
        return tuple(dict.fromkeys(m.factor for m in self.models))

    def model(self, name: str) -> ModelSpec:
        for model in self.models:
            if model.name == name:
                return model
        raise SpecError(
            f"no model named {name!r}; models: {', '.join(m.name for m in self.models)}"
        )


# --- the documented keys: table -> key -> (checker, description) ---

Checker = Callable[[Any], Any]


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected non-empty text")
    return value


def _optional_text(value: Any) -> str:
    if value in ("", False):
        return ""  # asked for none, unlike an absent key (None: look in the folder)
    return _text(value)


def _texts(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ValueError("expected a list of text")
    return tuple(_text(v) for v in value)


def _number(low: float | None = None, high: float | None = None) -> Checker:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("expected a number")
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"expected a number from {low} to {high}")
        return float(value)

    return check


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("expected a whole number >= 0")
    return value


def _whole(low: int, high: int) -> Checker:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"expected a whole number from {low} to {high}")
        return value

    return check


def _numbers(value: Any) -> tuple[float, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError("expected a list of numbers")
    return tuple(_number(0, 100)(v) for v in value)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def _choice(*choices: str) -> Checker:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return str(value)

    return check


def _choices(*choices: str) -> Checker:
    def check(value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise ValueError(f"expected a list from {', '.join(choices)}")
        return tuple(_choice(*choices)(v) for v in value)

    return check


def _counts_by_name(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        raise ValueError("expected a table of counts, e.g. { PubMed = 120, Embase = 95 }")
    return {str(k): _count(v) for k, v in value.items()}


def _aliases(value: Any) -> dict[str, tuple[str, ...]]:
    from ipdmeta.data.schema import SCHEMAS

    if not isinstance(value, dict):
        raise ValueError('expected a table, e.g. { pain_pre = ["NRS T0", "Pain before"] }')
    known = sorted({name for schema in SCHEMAS.values() for name in schema.names})
    out = {}
    for key, headers in value.items():
        if key not in known:
            raise ValueError(f"{key!r} is not a canonical column; columns: {', '.join(known)}")
        out[key] = _texts(headers)
    return out


def _optional_scale(value: Any) -> str | None:
    return None if value in ("", None) else _choice("VAS-10", "VAS-100", "NRS-10")(value)


KEYS: dict[str, dict[str, tuple[Checker, str]]] = {
    "data": {
        "patients": (
            _text,
            "the patients file (one row per patient), relative to the folder; by default "
            "patients.csv (.xlsx, .parquet) or the folder's single workbook",
        ),
        "studies": (
            _optional_text,
            'the studies file; by default studies.csv (.xlsx, .parquet) if present; "" for none',
        ),
        "quality": (
            _optional_text,
            "the quality-appraisal file; by default quality.csv (.xlsx, .parquet) if present; "
            '"" for none',
        ),
        "category_maps": (
            _texts,
            "category map CSV files (column,label,category); by default categories.csv if present",
        ),
        "vocabularies": (_choices("general", "cnop"), "built-in vocabularies to start from"),
        "aliases": (
            _aliases,
            'the review\'s own headers for canonical columns, e.g. { pain_pre = ["NRS T0"] }',
        ),
    },
    "outcome": {
        "worsening": (_choice("keep", "floor"), "keep negative relief, or floor it at 0"),
        "responder_thresholds": (_numbers, "relief (%) thresholds for responder flags"),
        "agreement_tolerance": (
            _number(0, 100),
            "percentage points a reported relief may differ from the computed one",
        ),
        "default_scale": (_optional_scale, "scale for rows with scores but no pain_scale"),
    },
    "models": {
        "name": (_text, "the model's name (primary, secondary, ...)"),
        "formula": (_text, "lme4 formula, e.g. relief_pct ~ diagnosis + (1 | study_id)"),
        "factor": (_text, "the factor whose levels are compared (marginal means, contrasts)"),
        "headline": (_texts, 'contrasts shown in the robustness panel, e.g. "TN - DPS"'),
        "description": (_text, "one line saying what the model asks"),
    },
    "confounders": {
        "candidates": (_texts, "columns screened one at a time as confounders"),
        "model": (_text, "the model the candidates are added to"),
        "multivariable_p": (
            _number(0, 1),
            "candidates with p below this enter the multivariable model",
        ),
    },
    "inference": {
        "ddf": (_choice(*DDF_CHOICES), "degrees of freedom for t and F tests"),
        "adjust": (_choice(*ADJUST_CHOICES), "multiplicity adjustment of pairwise contrasts"),
        "also_adjust": (_choices(*ADJUST_CHOICES), "adjustments shown beside the main one"),
        "alpha": (_number(0, 1), "significance level for the verdicts"),
        "level": (_number(0, 1), "confidence level of intervals"),
        "reml": (_flag, "fit by REML (true) or ML (false)"),
        "nagq": (
            _whole(1, 25),
            "quadrature nodes for models of a 0/1 outcome (1: Laplace approximation)",
        ),
    },
    "heterogeneity": {
        "method": (_choice(*TAU2_CHOICES), "tau2 estimator of the two-stage meta-analysis"),
        "test": (_choice("z", "knha"), "z or Knapp-Hartung test for the pooled mean"),
        "min_patients_per_study": (_count, "studies with fewer patients are left out"),
    },
    "sensitivity": {
        "ddf": (_choices(*DDF_CHOICES), "df methods compared in the robustness panel"),
        "adjust": (_choices(*ADJUST_CHOICES), "adjustments compared in the robustness panel"),
        "leave_one_study_out": (_flag, "refit without each study in turn"),
        "worsening": (_choices("keep", "floor"), "worsening handlings compared"),
        "high_risk_yes_below": (
            _number(0, 1),
            "a study is at high risk of bias below this share of applicable items answered "
            "yes (0: off)",
        ),
        "high_risk_items": (
            _texts,
            "checklist items whose 'no' puts a study at high risk of bias",
        ),
        "bootstrap": (
            _whole(0, 100_000),
            "parametric bootstrap refits for the odds ratios of a 0/1 outcome (0: none)",
        ),
    },
    "prisma": {
        "records_identified": (_counts_by_name, "records found per database or register"),
        "duplicates_removed": (_count, "duplicate records removed"),
        "records_removed_automation": (
            _count,
            "records marked as ineligible by automation tools (left unscreened by a "
            "relevance ranking's stopping rule)",
        ),
        "records_removed_other": (_count, "records removed for other reasons"),
        "records_screened": (_count, "records screened (title/abstract)"),
        "records_excluded": (_count, "records excluded at screening"),
        "reports_sought": (_count, "reports sought for retrieval"),
        "reports_not_retrieved": (_count, "reports not retrieved"),
        "reports_assessed": (_count, "reports assessed for eligibility"),
        "reports_excluded": (_counts_by_name, "reports excluded, by reason"),
        "studies_included": (_count, "studies included in the review"),
        "patients_included": (_count, "patients included"),
    },
    "grade": {
        "start": (
            _choice(*GRADE_LEVELS),
            "the certainty the evidence starts from (default: "
            "from the designs; case series start very low)",
        ),
        "imprecision_width": (
            _number(0, 200),
            "a 95% CI wider than this many percentage points is judged imprecise",
        ),
        **{
            key: entry
            for domain in GRADE_DOMAINS
            for key, entry in (
                (
                    domain,
                    (
                        _choice(*GRADE_JUDGEMENTS),
                        f"your judgement of {domain.replace('_', ' ')}, instead of the one "
                        "made from the analysis",
                    ),
                ),
                (
                    f"{domain}_reason",
                    (_text, f"why, shown in the table beside {domain.replace('_', ' ')}"),
                ),
            )
        },
    },
    "report": {
        "title": (_text, "the report's title"),
        "authors": (_texts, "the review's authors"),
        "figure_formats": (_choices("svg", "png"), "figure files written"),
    },
}

_SECTIONS = {
    "data": DataSpec,
    "outcome": OutcomeSpec,
    "confounders": ConfounderSpec,
    "inference": InferenceSpec,
    "heterogeneity": HeterogeneitySpec,
    "sensitivity": SensitivitySpec,
    "prisma": PrismaSpec,
    "report": ReportSpec,
    "grade": GradeSpec,
}


def load_spec(folder: str | Path) -> ReviewSpec:
    """Read ``review.toml`` from a review folder; a folder without one gets the defaults.

    The defaults analyse ``relief_pct ~ diagnosis + (1 | study_id)`` (primary) and, when
    the data have ``lesion_location``, ``relief_pct ~ lesion_location + (1 | study_id)``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SpecError(f"{folder}: not a folder; expected a review folder")
    path = folder / SPEC_FILE
    if not path.is_file():
        return ReviewSpec(folder=folder, models=default_models())
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read the file: {exc}") from exc
    return parse_spec(text, folder=folder, source=path)


def default_models() -> tuple[ModelSpec, ...]:
    return (
        ModelSpec(
            name="primary",
            formula="relief_pct ~ diagnosis + (1 | study_id)",
            factor="diagnosis",
            description="% relief by diagnosis, random intercept per study",
        ),
        ModelSpec(
            name="secondary",
            formula="relief_pct ~ lesion_location + (1 | study_id)",
            factor="lesion_location",
            description="% relief by lesion location, random intercept per study",
        ),
    )


def parse_spec(text: str, *, folder: Path, source: Path | None = None) -> ReviewSpec:
    """Parse and check the text of a ``review.toml``."""
    where = str(source or SPEC_FILE)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{where}: not valid TOML: {exc}") from exc
    locate = _Locator(text, where)
    sections: dict[str, Any] = {}
    for section, value in raw.items():
        if section in COLUMN_TABLES:
            sections[section] = _column_table(locate, section, value)
            continue
        if section not in KEYS:
            raise locate.unknown(section, None, [*KEYS, *COLUMN_TABLES])
        if section == "models":
            if not isinstance(value, list):
                raise SpecError(
                    f"{locate.at('models', None)}: models are given as [[models]] tables"
                )
            sections["models"] = tuple(_model(locate, i, entry) for i, entry in enumerate(value))
            continue
        if not isinstance(value, dict):
            raise SpecError(f"{locate.at(section, None)}: {section!r} must be a [{section}] table")
        checked = {key: _check(locate, section, key, v) for key, v in value.items()}
        sections[section] = _SECTIONS[section](**checked)
    spec = ReviewSpec(folder=folder, source=source, **sections)
    if not spec.models:
        spec = ReviewSpec(**{**spec.__dict__, "models": default_models()})
    _check_references(spec, locate)
    return spec


def _column_table(locate: _Locator, section: str, value: Any) -> dict[str, str]:
    """A table of column = text (``[reference]``, ``[labels]``), every value non-empty."""
    example, expected = COLUMN_TABLES[section]
    if not isinstance(value, dict):
        raise SpecError(
            f"{locate.at(section, None)}: {section} is a table of column = text, "
            f"e.g. [{section}] {example}"
        )
    out = {}
    for column, text in value.items():
        if not isinstance(text, str) or not text.strip():
            raise SpecError(
                f"{locate.at(section, column)}: bad value {text!r} for {section}.{column}: "
                f"expected {expected}"
            )
        out[str(column)] = text
    return out


def _check(locate: _Locator, section: str, key: str, value: Any, index: int | None = None) -> Any:
    if key not in KEYS[section]:
        raise locate.unknown(key, section, list(KEYS[section]), index)
    checker, description = KEYS[section][key]
    try:
        return checker(value)
    except ValueError as exc:
        raise SpecError(
            f"{locate.at(section, key, index)}: bad value {value!r} for {section}.{key} "
            f"({description}): {exc}"
        ) from None


def _model(locate: _Locator, index: int, entry: Any) -> ModelSpec:
    if not isinstance(entry, dict):
        raise SpecError(f"{locate.at('models', None, index)}: each [[models]] must be a table")
    checked = {key: _check(locate, "models", key, v, index) for key, v in entry.items()}
    for required in ("name", "formula", "factor"):
        if required not in checked:
            raise SpecError(
                f"{locate.at('models', None, index)}: the model needs a {required!r} "
                f"({KEYS['models'][required][1]})"
            )
    return ModelSpec(**checked)


def _check_references(spec: ReviewSpec, locate: _Locator) -> None:
    names = [m.name for m in spec.models]
    duplicated = {n for n in names if names.count(n) > 1}
    if duplicated:
        raise SpecError(f"{locate.where}: two models are named {sorted(duplicated)[0]!r}")
    if spec.confounders.candidates and spec.confounders.model not in names:
        raise SpecError(
            f"{locate.at('confounders', 'model')}: confounders.model names "
            f"{spec.confounders.model!r}, which is not a model; models: {', '.join(names)}"
        )


class _Locator:
    """Finds the line of a key in the TOML text, for messages (tomllib gives no lines)."""

    def __init__(self, text: str, where: str) -> None:
        self.lines = text.splitlines()
        self.where = where

    def line_of(self, section: str, key: str | None, index: int | None = None) -> int | None:
        header = re.compile(rf"^\s*\[\[?\s*{re.escape(section)}\s*\]\]?\s*(#.*)?$")
        starts = [i for i, line in enumerate(self.lines) if header.match(line)]
        if index is not None and index < len(starts):
            starts = [starts[index]]
        if key is None:
            return starts[0] + 1 if starts else None
        assignment = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
        for start in starts or [-1]:
            for i in range(start + 1, len(self.lines)):
                if re.match(r"^\s*\[", self.lines[i]):
                    break
                if assignment.match(self.lines[i]):
                    return i + 1
        return None

    def at(self, section: str, key: str | None, index: int | None = None) -> str:
        line = self.line_of(section, key, index)
        return f"{self.where}, line {line}" if line else self.where

    def unknown(
        self, key: str, section: str | None, valid: list[str], index: int | None = None
    ) -> SpecError:
        from rapidfuzz import fuzz, process

        if section is None:
            line = self.line_of(key, None)
            place = f"{self.where}, line {line}" if line else self.where
            what = f"unknown table [{key}]"
        else:
            place = self.at(section, key, index)
            what = f"unknown key {key!r} in [{section}]"
        found = process.extractOne(key, valid, scorer=fuzz.ratio, score_cutoff=60)
        hint = f"; did you mean {found[0]!r}?" if found else ""
        return SpecError(f"{place}: {what}{hint} Valid: {', '.join(valid)}")
