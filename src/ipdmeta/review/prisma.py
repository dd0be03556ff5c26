"""PRISMA 2020 flow-diagram counts computed from the store's recorded decisions, with the
variable names of the PRISMA2020 R package (Haddaway et al. 2022).

Databases and registers (imports of kind ``database`` or ``register``) form the left
branch; other methods (kind ``other``) the right one, split into PRISMA2020's website,
organisation and citation-search boxes by the words in each source's name ("Google
Scholar", "NICE website"; "... organisation", "... society"; anything else, such as
"citation search" or "hand search", is a citation search). Reports linked to one study
(``ipdmeta review link``: a preprint and its article, an abstract and its paper, a
follow-up of a cohort) count as one study; a report not linked is a study of its own.
Records not yet decided (or waiting for a conflict's resolution, or marked maybe) are
counted in ``records_pending`` and ``reports_pending``: the identities below hold with
them, and when screening is complete they are 0. Once the team has stopped screening
ranked records (``ipdmeta review stopping DIR --stop``), the database and register records
nobody decided at title and abstract are ``excluded_automatic`` (PRISMA's "marked as
ineligible by automation tools") instead of pending.

    records_screened = database_results + register_results - duplicates
                       - excluded_automatic - excluded_other
    records_screened = records_excluded + dbr_sought_reports + records_pending
    dbr_assessed = dbr_sought_reports - dbr_notretrieved_reports - reports_pending
    new_reports = dbr_assessed - sum(dbr_excluded) + other_assessed - sum(other_excluded)
    new_studies = the distinct studies of those reports
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ipdmeta.review.screening import stage_outcomes
from ipdmeta.review.stopping import unscreened_after_stop
from ipdmeta.review.store import ReviewStore

__all__ = ["prisma_counts", "prisma_spec_fields"]


def _reason(state: dict[str, Any]) -> str:
    resolution = state.get("resolution")
    if resolution and resolution.get("reason"):
        return str(resolution["reason"])
    reasons = [d["reason"] for _, d in sorted(state["decisions"].items()) if d["reason"]]
    return reasons[0] if reasons else "reason not given"


def _branch(
    ids: set[int], ta: dict[int, dict[str, Any]], ft: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    ta_outcome = {r: ta[r]["outcome"] if r in ta else None for r in ids}
    excluded = sum(1 for o in ta_outcome.values() if o == "exclude")
    sought = {r for r, o in ta_outcome.items() if o == "include"}
    ft_outcome = {r: ft[r]["outcome"] if r in ft else None for r in sought}
    not_retrieved = sum(1 for o in ft_outcome.values() if o == "not_retrieved")
    assessed = {r for r, o in ft_outcome.items() if o in ("include", "exclude")}
    reasons = Counter(_reason(ft[r]) for r in assessed if ft_outcome[r] == "exclude")
    included = sorted(r for r in assessed if ft_outcome[r] == "include")
    return {
        "screened": len(ids),
        "excluded": excluded,
        "pending": len(ids) - excluded - len(sought),
        "sought": len(sought),
        "not_retrieved": not_retrieved,
        "reports_pending": len(sought) - not_retrieved - len(assessed),
        "assessed": len(assessed),
        "reports_excluded": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        "included": included,
    }


def _other_methods(sources: Counter[str]) -> dict[str, int]:
    """PRISMA2020's three other-method boxes, by the words in each source's name: a
    website, an organisation, or (anything else) citation searching and hand searching."""
    out = {"website_results": 0, "organisation_results": 0, "citations_results": 0}
    for name, n in sources.items():
        lowered = name.lower()
        if any(w in lowered for w in ("website", "web site", "google", "internet")):
            out["website_results"] += n
        elif any(w in lowered for w in ("organisation", "organization", "society", "agency")):
            out["organisation_results"] += n
        else:
            out["citations_results"] += n
    return out


def prisma_counts(store: ReviewStore) -> dict[str, Any]:
    """Every box of the PRISMA 2020 diagram for a new review, from the store."""
    imports = store.imports()
    kinds = {i["id"]: i["kind"] for i in imports}
    sources = {i["id"]: i["source"] for i in imports}
    records = store.records()
    duplicates = store.duplicate_of()
    by_kind: dict[str, Counter[str]] = {"database": Counter(), "register": Counter(),
                                        "other": Counter()}  # fmt: skip
    unique: dict[str, set[int]] = {"main": set(), "other": set()}
    removed = Counter[str]()
    for record in records:
        kind = kinds[record["import_id"]]
        by_kind[kind][sources[record["import_id"]]] += 1
        branch = "other" if kind == "other" else "main"
        if record["id"] in duplicates:
            removed[branch] += 1
        else:
            unique[branch].add(record["id"])
    ta = stage_outcomes(store, "title_abstract")
    ft = stage_outcomes(store, "full_text")
    automatic = unscreened_after_stop(store, unique["main"] - set(ta))
    main = _branch(unique["main"] - automatic, ta, ft)
    other = _branch(unique["other"], ta, ft)
    branches = _other_methods(by_kind["other"])
    reports = main["included"] + other["included"]
    study_of = store.study_of()
    new_reports = len(reports)
    new_studies = len({study_of.get(r, f"record {r}") for r in reports})
    return {
        "database_results": sum(by_kind["database"].values()),
        "database_specific_results": dict(by_kind["database"]),
        "register_results": sum(by_kind["register"].values()),
        "register_specific_results": dict(by_kind["register"]),
        "duplicates": removed["main"],
        "excluded_automatic": len(automatic),
        "excluded_other": 0,
        "records_screened": main["screened"],
        "records_excluded": main["excluded"],
        "records_pending": main["pending"],
        "dbr_sought_reports": main["sought"],
        "dbr_notretrieved_reports": main["not_retrieved"],
        "dbr_assessed": main["assessed"],
        "dbr_excluded": main["reports_excluded"],
        "reports_pending": main["reports_pending"],
        "other_results": sum(by_kind["other"].values()),
        "other_specific_results": dict(by_kind["other"]),
        **branches,
        "other_duplicates": removed["other"],
        "other_sought_reports": other["sought"],
        "other_notretrieved_reports": other["not_retrieved"],
        "other_assessed": other["assessed"],
        "other_excluded": other["reports_excluded"],
        "other_pending": other["pending"] + other["reports_pending"],
        "new_studies": new_studies,
        "new_reports": new_reports,
        "total_studies": new_studies,
        "total_reports": new_reports,
    }


def prisma_spec_fields(counts: dict[str, Any]) -> dict[str, Any]:
    """The store's counts in review.toml's ``[prisma]`` keys (what the report draws)."""
    identified = {**counts["database_specific_results"], **counts["register_specific_results"]}
    return {
        "records_identified": identified,
        "duplicates_removed": counts["duplicates"],
        "records_removed_automation": counts["excluded_automatic"] or None,
        "records_removed_other": counts["excluded_other"] or None,
        "records_screened": counts["records_screened"],
        "records_excluded": counts["records_excluded"],
        "reports_sought": counts["dbr_sought_reports"],
        "reports_not_retrieved": counts["dbr_notretrieved_reports"],
        "reports_assessed": counts["dbr_assessed"],
        "reports_excluded": counts["dbr_excluded"],
        "studies_included": counts["new_studies"],
    }
