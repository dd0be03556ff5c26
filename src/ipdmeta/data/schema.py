"""The tables ipdmeta reads: their canonical columns, types, aliases and limits."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "PATIENTS",
    "QUALITY",
    "STUDIES",
    "ColumnKind",
    "ColumnSpec",
    "TableSchema",
    "normalise_header",
]


class ColumnKind(StrEnum):
    """How a column's cells are typed."""

    ID = "identifier"
    TEXT = "text"
    CATEGORY = "category"
    NUMBER = "number"
    INTEGER = "integer"


@dataclass(frozen=True)
class ColumnSpec:
    """One documented column: its name, kind, accepted aliases and valid range."""

    name: str
    kind: ColumnKind
    description: str
    aliases: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    quantity: str = "number"  # how cells are read: a cells.Quantity (units, scores, percent)


@dataclass(frozen=True)
class TableSchema:
    """A table's documented columns and which are required."""

    name: str
    columns: tuple[ColumnSpec, ...]
    required: tuple[str, ...]

    def column(self, name: str) -> ColumnSpec:
        return next(c for c in self.columns if c.name == name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def canonical_name(self, header: str) -> str | None:
        """The documented name a header stands for, or None if it is an extra column."""
        key = normalise_header(header)
        for column in self.columns:
            if key == column.name or key in column.aliases:
                return column.name
        return None


def normalise_header(header: str) -> str:
    """Lower-case a header and turn spaces, hyphens and brackets into underscores.

    ``"Pain pre (VAS)"`` becomes ``"pain_pre_vas"``; ``"Relief %"`` becomes ``"relief_pct"``.
    """
    # Accents are dropped ("Âge" is "age"), as a reviewer typing the header would read it.
    text = unicodedata.normalize("NFKD", str(header))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.strip().lower().replace("%", " pct ")
    text = re.sub(r"[^0-9a-z]+", "_", text)
    return text.strip("_")


PATIENTS = TableSchema(
    name="patients",
    columns=(
        ColumnSpec(
            "study_id",
            ColumnKind.ID,
            "the paper the patient comes from",
            (
                "study",
                "paper",
                "paper_id",
                "study_label",
                "reference",
                "ref",
                "author",
                "first_author",
                "author_year",
                "study_author_year",
                "source",
                "citation",
            ),
        ),
        ColumnSpec(
            "patient_id",
            ColumnKind.ID,
            "the patient's label within the paper",
            (
                "patient",
                "pt",
                "pt_id",
                "case",
                "case_id",
                "case_no",
                "patient_no",
                "subject",
                "pt_no",
                "no",
                "patient_id_no",
                "case_number",
                "patient_number",
                "id",
            ),
        ),
        ColumnSpec(
            "diagnosis", ColumnKind.CATEGORY, "the disorder", ("dx", "disorder", "diagnoses")
        ),
        ColumnSpec(
            "lesion_location",
            ColumnKind.CATEGORY,
            "where the lesion causing the pain lies",
            ("lesion", "location", "cause", "lesion_site", "aetiology", "etiology"),
        ),
        ColumnSpec("age", ColumnKind.NUMBER, "age in years", ("age_years",), 0, 120, "age"),
        ColumnSpec("sex", ColumnKind.CATEGORY, "sex", ("gender",)),
        ColumnSpec("side", ColumnKind.CATEGORY, "side of the pain", ("pain_side", "laterality")),
        ColumnSpec(
            "pain_scale",
            ColumnKind.CATEGORY,
            "the scale of pain_pre and pain_post: VAS-10, VAS-100 or NRS-10",
            ("scale",),
        ),
        ColumnSpec(
            "pain_pre",
            ColumnKind.NUMBER,
            "pain before stimulation on pain_scale",
            (
                "vas_pre",
                "pre_vas",
                "pre",
                "baseline",
                "baseline_pain",
                "pain_before",
                "vas_preop",
                "nrs_pre",
                "pre_nrs",
                "vas_baseline",
                "nrs_baseline",
                "pain_pre_op",
                "preop_vas",
                "pre_op",
                "preop",
                "preoperative",
                "before",
            ),
            0,
            None,
            "score",
        ),
        ColumnSpec(
            "pain_post",
            ColumnKind.NUMBER,
            "pain at last follow-up on pain_scale",
            (
                "vas_post",
                "post_vas",
                "post",
                "pain_after",
                "followup_pain",
                "vas_postop",
                "nrs_post",
                "post_nrs",
                "vas_fu",
                "vas_last_fu",
                "nrs_last_fu",
                "vas_after",
                "post_op",
                "postop",
                "postoperative",
                "after",
            ),
            0,
            None,
            "score",
        ),
        ColumnSpec(
            "relief_pct",
            ColumnKind.NUMBER,
            "percentage pain relief as reported (negative = worse)",
            (
                "relief",
                "pain_relief",
                "pain_relief_pct",
                "relief_percent",
                "pct_relief",
                "pct_improvement",
                "improvement_pct",
                "pct_reduction",
                "reduction_pct",
                "pct_pain_relief",
                "pct_vas_reduction",
                "vas_reduction_pct",
                "pct_pain_reduction",
            ),
            None,
            100,
            "percent",
        ),
        ColumnSpec(
            "pain_duration_years",
            ColumnKind.NUMBER,
            "years of pain before implantation",
            (
                "pain_duration",
                "duration",
                "duration_years",
                "duration_of_pain",
                "disease_duration",
                "pain_duration_y",
                "duration_y",
            ),
            0,
            100,
            "duration",
        ),
        ColumnSpec(
            "followup_months",
            ColumnKind.NUMBER,
            "months of follow-up",
            (
                "followup",
                "follow_up",
                "follow_up_months",
                "fu_months",
                "fu",
                "last_fu",
                "last_follow_up",
                "follow_up_duration",
                "fu_mo",
                "followup_mo",
            ),
            0,
            600,
            "followup",
        ),
        ColumnSpec(
            "electrode_position",
            ColumnKind.CATEGORY,
            "epidural or subdural",
            ("electrode", "position", "electrode_placement"),
        ),
        ColumnSpec(
            "preop_test",
            ColumnKind.CATEGORY,
            "result of a pre-operative test such as rTMS",
            ("preoperative_test", "pre_op_test", "rtms", "rtms_test"),
        ),
        ColumnSpec(
            "excluded",
            ColumnKind.CATEGORY,
            "yes to keep the patient in the table but out of the analysis",
            ("exclude", "excluded_from_analysis", "exclusion"),
        ),
        ColumnSpec(
            "exclusion_reason",
            ColumnKind.TEXT,
            "why the patient is excluded",
            (
                "reason_excluded",
                "reason_for_exclusion",
                "excluded_because",
                "exclusion_reasons",
                "reason",
                "why_excluded",
            ),
        ),
    ),
    required=("study_id", "patient_id", "diagnosis"),
)

STUDIES = TableSchema(
    name="studies",
    columns=(
        ColumnSpec("study_id", ColumnKind.ID, "the paper's label", ("study", "paper", "paper_id")),
        ColumnSpec("first_author", ColumnKind.TEXT, "first author", ("author", "authors")),
        ColumnSpec("year", ColumnKind.INTEGER, "publication year", ("pub_year",), 1900, 2100),
        ColumnSpec("title", ColumnKind.TEXT, "title"),
        ColumnSpec("doi", ColumnKind.TEXT, "DOI"),
        ColumnSpec("pmid", ColumnKind.TEXT, "PubMed ID", ("pubmed_id",)),
        ColumnSpec("design", ColumnKind.TEXT, "study design", ("study_design",)),
        ColumnSpec(
            "n_patients",
            ColumnKind.INTEGER,
            "patients included",
            ("n", "patients", "n_pts", "no_of_patients", "number_of_patients", "sample_size"),
            1,
            None,
        ),
    ),
    required=("study_id",),
)

QUALITY = TableSchema(
    name="quality",
    columns=(
        ColumnSpec("study_id", ColumnKind.ID, "the paper appraised", ("study", "paper")),
        ColumnSpec("tool", ColumnKind.TEXT, "the appraisal tool", ("checklist",)),
        ColumnSpec("item", ColumnKind.TEXT, "the checklist item", ("question", "criterion")),
        ColumnSpec(
            "judgement",
            ColumnKind.CATEGORY,
            "yes, no, unclear or not applicable",
            ("judgment", "answer", "rating"),
        ),
        ColumnSpec("note", ColumnKind.TEXT, "the appraiser's note", ("notes", "comment")),
    ),
    required=("study_id", "item", "judgement"),
)

SCHEMAS = {schema.name: schema for schema in (PATIENTS, STUDIES, QUALITY)}
