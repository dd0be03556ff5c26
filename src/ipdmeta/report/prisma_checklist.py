"""The PRISMA 2020 checklist: for each of its 27 items, where the report covers it, or
that the manuscript has to.

Items are named by their topic (Page et al., BMJ 2021;372:n71); the wording of each item
is the checklist's own, which authors complete from the published checklist.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from ipdmeta.analysis.pipeline import ReviewRun

__all__ = ["ITEMS", "prisma_checklist"]

MANUSCRIPT = "to be reported in the manuscript"
Where = Callable[[ReviewRun], str | None]


def _always(where: str) -> Where:
    return lambda run: where


def _flow(run: ReviewRun) -> str | None:
    return "report: Study selection (PRISMA 2020 flow diagram)" if run.spec.prisma.given else None


def _quality(run: ReviewRun) -> str | None:
    return "report: Quality appraisal" if run.data.quality is not None else None


def _selection(run: ReviewRun) -> str | None:
    if run.screening is None:
        return None
    return "report: Methods paragraph (screening by two reviewers, their agreement)"


def _search(run: ReviewRun) -> str | None:
    """Item 7 asks for the full search strategies: covered when every search in the store
    was imported with its query string."""
    imports = (run.screening or {}).get("imports") or []
    if imports and all(i["query"] for i in imports):
        return "report: Study selection, Searches (query strings)"
    return None


def _sources(run: ReviewRun) -> str | None:
    if (run.screening or {}).get("imports"):
        return "report: Study selection, Searches (sources and dates)"
    return _flow(run)


def _grade(run: ReviewRun) -> str | None:
    return "report: Certainty of the evidence (GRADE)" if run.grade is not None else None


def _small_study(run: ReviewRun) -> str | None:
    return "report: Small-study effects" if run.two_stage.result is not None else None


# (item, section, topic, where the report covers it)
ITEMS: tuple[tuple[str, str, str, Where | None], ...] = (
    ("1", "Title", "Title", None),
    ("2", "Abstract", "Abstract", None),
    ("3", "Introduction", "Rationale", None),
    ("4", "Introduction", "Objectives", None),
    ("5", "Methods", "Eligibility criteria", None),
    ("6", "Methods", "Information sources", _sources),
    ("7", "Methods", "Search strategy", _search),
    ("8", "Methods", "Selection process", _selection),
    (
        "9",
        "Methods",
        "Data collection process",
        _always("report: Data notes (how the data were read)"),
    ),
    ("10a", "Methods", "Data items: outcomes", _always("report: Methods paragraph")),
    (
        "10b",
        "Methods",
        "Data items: other variables",
        _always("report: Methods paragraph; Data notes (category mapping)"),
    ),
    ("11", "Methods", "Study risk of bias assessment", _quality),
    ("12", "Methods", "Effect measures", _always("report: Methods paragraph")),
    (
        "13a",
        "Methods",
        "Synthesis methods: eligibility for each synthesis",
        _always("report: Heterogeneity (studies left out and why)"),
    ),
    ("13b", "Methods", "Synthesis methods: data preparation", _always("report: Methods paragraph")),
    (
        "13c",
        "Methods",
        "Synthesis methods: tabulation and display",
        _always("report: Included studies; figures"),
    ),
    (
        "13d",
        "Methods",
        "Synthesis methods: methods and software",
        _always("report: Methods paragraph"),
    ),
    (
        "13e",
        "Methods",
        "Synthesis methods: heterogeneity",
        _always("report: Heterogeneity; Subgroups of studies; models"),
    ),
    (
        "13f",
        "Methods",
        "Synthesis methods: sensitivity analyses",
        _always("report: Robustness of the headline findings"),
    ),
    ("14", "Methods", "Reporting bias assessment", _small_study),
    ("15", "Methods", "Certainty assessment", _grade),
    ("16a", "Results", "Study selection: flow", _flow),
    ("16b", "Results", "Study selection: excluded studies", None),
    ("17", "Results", "Study characteristics", _always("report: Included studies")),
    ("18", "Results", "Risk of bias in studies", _quality),
    (
        "19",
        "Results",
        "Results of individual studies",
        _always("report: Heterogeneity (forest plot); tables.xlsx"),
    ),
    (
        "20a",
        "Results",
        "Results of syntheses: characteristics and risk of bias",
        _always("report: Descriptive statistics"),
    ),
    (
        "20b",
        "Results",
        "Results of syntheses: statistical syntheses",
        _always("report: Heterogeneity; Model sections; Results paragraph"),
    ),
    (
        "20c",
        "Results",
        "Results of syntheses: heterogeneity",
        _always("report: Subgroups of studies; Confounder screening"),
    ),
    (
        "20d",
        "Results",
        "Results of syntheses: sensitivity analyses",
        _always("report: Robustness of the headline findings"),
    ),
    ("21", "Results", "Reporting biases", _small_study),
    ("22", "Results", "Certainty of evidence", _grade),
    ("23a", "Discussion", "Interpretation", None),
    ("23b", "Discussion", "Limitations of the evidence", None),
    ("23c", "Discussion", "Limitations of the review processes", None),
    ("23d", "Discussion", "Implications", None),
    ("24a", "Other information", "Registration", None),
    ("24b", "Other information", "Protocol", None),
    ("24c", "Other information", "Amendments to the protocol", None),
    ("25", "Other information", "Support", None),
    ("26", "Other information", "Competing interests", None),
    (
        "27",
        "Other information",
        "Availability of data, code and other materials",
        _always("report folder: results.json, tables/, analysis_data.csv, review.toml"),
    ),
)


def prisma_checklist(run: ReviewRun) -> pd.DataFrame:
    """``item, section, topic, where``: where the report covers each checklist item."""
    rows = []
    for item, section, topic, where in ITEMS:
        covered = where(run) if where is not None else None
        rows.append(
            {"item": item, "section": section, "topic": topic, "where": covered or MANUSCRIPT}
        )
    return pd.DataFrame(rows)
