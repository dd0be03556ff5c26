"""The IPD data layer: read, check, type and explain a review's extraction tables."""

from ipdmeta.data.categories import BUILTIN_VOCABULARIES, CategoryMap, normalise_label
from ipdmeta.data.load import ReviewData, find_review_files, load_review
from ipdmeta.data.outcomes import OutcomeOptions, Worsening, responder_column
from ipdmeta.data.problems import Problem, Severity
from ipdmeta.data.schema import PATIENTS, QUALITY, STUDIES
from ipdmeta.data.summary import DataSummary, summarise

__all__ = [
    "BUILTIN_VOCABULARIES",
    "PATIENTS",
    "QUALITY",
    "STUDIES",
    "CategoryMap",
    "DataSummary",
    "OutcomeOptions",
    "Problem",
    "ReviewData",
    "Severity",
    "Worsening",
    "find_review_files",
    "load_review",
    "normalise_label",
    "responder_column",
    "summarise",
]
