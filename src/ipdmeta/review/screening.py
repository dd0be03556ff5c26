"""Screening: each reviewer's decisions, where two reviewers disagree, the outcome of each
record at each stage, and the agreement between reviewers.

A record's outcome at a stage: a resolution when there is one; else the reviewers' common
latest decision; a disagreement (a conflict) waits for a resolution. Full-text screening
takes the records included at title and abstract. Agreement is computed for the two
reviewers who decided most records in common, over those records: Cohen's kappa with its
95 % CI (the large-sample variance of Fleiss, Cohen and Everitt 1969) and Gwet's AC1, which
stays sensible when almost everything is excluded (kappa's paradox).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from itertools import combinations
from typing import Any

from ipdmeta.review.store import ReviewStore, StoreError

__all__ = [
    "DECISIONS",
    "STAGES",
    "Agreement",
    "agreement",
    "check_decision",
    "decide",
    "resolve",
    "stage_status",
]

STAGES = ("title_abstract", "full_text")
DECISIONS = ("include", "exclude", "maybe", "not_retrieved")


@dataclass(frozen=True)
class Agreement:
    """Two reviewers' agreement over the records both decided."""

    reviewers: tuple[str, str]
    n: int
    observed: float
    kappa: float
    kappa_ci: tuple[float, float]
    ac1: float


def agreement(pairs: list[tuple[str, str]], reviewers: tuple[str, str]) -> Agreement | None:
    """Cohen's kappa (with a 95 % CI) and Gwet's AC1 for decision pairs (a, b)."""
    n = len(pairs)
    if n == 0:
        return None
    categories = sorted({c for pair in pairs for c in pair})
    table = Counter(pairs)
    p = {(i, j): table[(i, j)] / n for i in categories for j in categories}
    row = {i: sum(p[(i, j)] for j in categories) for i in categories}
    col = {j: sum(p[(i, j)] for i in categories) for j in categories}
    observed = sum(p[(i, i)] for i in categories)
    expected = sum(row[i] * col[i] for i in categories)
    q = len(categories)
    if q == 1:  # every decision the same: agreement is perfect, chance agreement too
        return Agreement(reviewers, n, 1.0, float("nan"), (float("nan"), float("nan")), 1.0)
    kappa = (observed - expected) / (1.0 - expected) if expected < 1 else float("nan")
    term = (
        sum(p[(i, i)] * (1.0 - (row[i] + col[i]) * (1.0 - kappa)) ** 2 for i in categories)
        + (1.0 - kappa) ** 2
        * sum(p[(i, j)] * (col[i] + row[j]) ** 2 for i in categories for j in categories if i != j)
        - (kappa - expected * (1.0 - kappa)) ** 2
    )
    se = math.sqrt(max(term, 0.0) / (n * (1.0 - expected) ** 2))
    share = {c: (row[c] + col[c]) / 2.0 for c in categories}
    chance = sum(share[c] * (1.0 - share[c]) for c in categories) / (q - 1)
    ac1 = (observed - chance) / (1.0 - chance)
    return Agreement(reviewers, n, observed, kappa, (kappa - 1.96 * se, kappa + 1.96 * se), ac1)


def stage_outcomes(
    store: ReviewStore, stage: str, record: int | None = None
) -> dict[int, dict[str, Any]]:
    """record -> its reviewers' decisions, whether they conflict, and its outcome
    (include, exclude, maybe, not_retrieved, or None while a conflict waits); of one
    ``record`` only, when given (read for that record alone)."""
    decisions = store.latest_decisions(stage, record)
    resolutions = store.latest_resolutions(stage, record)
    out = {}
    for record, by_reviewer in decisions.items():
        kinds = {d["decision"] for d in by_reviewer.values()}
        conflict = len(kinds) > 1
        resolution = resolutions.get(record)
        if resolution is not None:
            outcome = resolution["decision"]
        elif conflict:
            outcome = None
        else:
            outcome = next(iter(kinds))
        out[record] = {"decisions": by_reviewer, "conflict": conflict, "outcome": outcome,
                       "resolution": resolution}  # fmt: skip
    return out


def included_studies(store: ReviewStore) -> set[str]:
    """The studies of the reports included at full text (by their ``review link``); a
    report not linked has no study id yet and is left out."""
    included = {r for r, o in stage_outcomes(store, "full_text").items()
                if o["outcome"] == "include"}  # fmt: skip
    return {study for record, study in store.study_of().items() if record in included}


def stage_status(store: ReviewStore, stage: str) -> dict[str, Any]:
    outcomes = stage_outcomes(store, stage)
    counts = Counter(o["outcome"] for o in outcomes.values())
    conflicts = [r for r, o in outcomes.items() if o["conflict"]]
    main = _main_pair(outcomes)
    found = None
    if main is not None:
        ids, names = main
        pairs = [
            (o["decisions"][ids[0]]["decision"], o["decisions"][ids[1]]["decision"])
            for o in outcomes.values()
            if ids[0] in o["decisions"] and ids[1] in o["decisions"]
        ]
        found = agreement(pairs, names)
    return {
        "screened": len(outcomes),
        "included": counts["include"],
        "excluded": counts["exclude"],
        "maybe": counts["maybe"],
        "not_retrieved": counts["not_retrieved"],
        "conflicts": len(conflicts),
        "unresolved": sum(1 for r in conflicts if outcomes[r]["resolution"] is None),
        "kappa": None if found is None or math.isnan(found.kappa) else found.kappa,
        "kappa_ci": None if found is None or math.isnan(found.kappa) else list(found.kappa_ci),
        "ac1": None if found is None else found.ac1,
        "agreement_reviewers": None if found is None else list(found.reviewers),
        "agreement_records": 0 if found is None else found.n,
    }


def _main_pair(outcomes: dict[int, dict[str, Any]]) -> tuple[tuple[int, int],
                                                               tuple[str, str]] | None:  # fmt: skip
    together: Counter[tuple[int, int]] = Counter()
    names: dict[int, str] = {}
    for o in outcomes.values():
        for reviewer, d in o["decisions"].items():
            names[reviewer] = d["reviewer"]
        for a, b in combinations(sorted(o["decisions"]), 2):
            together[(a, b)] += 1
    if not together:
        return None
    (a, b), _ = max(together.items(), key=lambda item: (item[1], -item[0][0], -item[0][1]))
    return (a, b), (names[a], names[b])


class ScreeningState:
    """What the checks of a decision read from the store: which record a record
    duplicates and, for full text, its title-and-abstract outcome. One decision reads
    them for its record alone; a batch (``ScreeningState.of``, an imported sheet) reads
    each map once, for every row."""

    def __init__(self, store: ReviewStore, batch: bool = False) -> None:
        self._store = store
        self._batch = batch

    @classmethod
    def of(cls, store: ReviewStore) -> ScreeningState:
        return cls(store, batch=True)

    @cached_property
    def _duplicates(self) -> dict[int, int]:
        return self._store.duplicate_of()

    @cached_property
    def _title_abstract(self) -> dict[int, dict[str, Any]]:
        return stage_outcomes(self._store, "title_abstract")

    def head(self, record: int) -> int | None:
        """The record ``record`` duplicates, or None."""
        if self._batch:
            return self._duplicates.get(record)
        return self._store.duplicate_head(record)

    def title_abstract_outcome(self, record: int) -> str | None:
        found = (self._title_abstract if self._batch else
                 stage_outcomes(self._store, "title_abstract", record))  # fmt: skip
        return found.get(record, {}).get("outcome")


def _check_record(store: ReviewStore, record: int, head: int | None) -> None:
    if not store.record_exists(record):
        raise StoreError(f"there is no record {record} (ipdmeta review records lists them)")
    if head is not None:
        raise StoreError(f"record {record} is a duplicate of record {head}: screen {head}")


def _check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise StoreError(f"stage must be one of {', '.join(STAGES)}; got {stage!r}")


def _check_reason(stage: str, decision: str, reason: str | None) -> None:
    if stage == "full_text" and decision == "exclude" and not (reason and reason.strip()):
        raise StoreError("a full-text exclusion needs its reason (--reason), which PRISMA reports")


def check_decision(
    store: ReviewStore,
    reviewer: str,
    stage: str,
    record: int,
    decision: str,
    reason: str | None = None,
    state: ScreeningState | None = None,
) -> tuple[int, int, str, str, str | None]:
    """The row :func:`decide` would store, after every check (nothing is written).
    ``state``: the store's screening state, when it was read once for many decisions."""
    _check_stage(stage)
    if decision not in DECISIONS:
        raise StoreError(f"decision must be one of {', '.join(DECISIONS)}; got {decision!r}")
    person = store.reviewer_id(reviewer)
    state = state or ScreeningState(store)
    _check_record(store, record, state.head(record))
    if stage == "title_abstract" and decision == "not_retrieved":
        raise StoreError("not_retrieved is a full-text decision: the report could not be found")
    if stage == "full_text":
        outcome = state.title_abstract_outcome(record)
        if outcome != "include":
            found = "not screened" if outcome is None else f"'{outcome}'"
            raise StoreError(
                f"record {record} is not included at title and abstract ({found}); full-text "
                "screening takes the records included there"
            )
    _check_reason(stage, decision, reason)
    return record, person, stage, decision, (reason or "").strip() or None


def decide(
    store: ReviewStore,
    reviewer: str,
    stage: str,
    record: int,
    decision: str,
    reason: str | None = None,
) -> None:
    """One reviewer's decision on one record at one stage (a changed mind is a new row)."""
    store.add_decisions([check_decision(store, reviewer, stage, record, decision, reason)])


def resolve(
    store: ReviewStore,
    stage: str,
    record: int,
    decision: str,
    reason: str | None = None,
    reviewer: str | None = None,
) -> None:
    """Settle a conflict: the record's outcome at ``stage`` becomes ``decision``."""
    _check_stage(stage)
    if decision not in ("include", "exclude"):
        raise StoreError(f"a resolution includes or excludes; got {decision!r}")
    person = store.reviewer_id(reviewer) if reviewer else None
    _check_record(store, record, store.duplicate_head(record))
    state = stage_outcomes(store, stage, record).get(record)
    if state is None or not state["conflict"]:
        raise StoreError(f"record {record} has no conflict to resolve at {stage}")
    _check_reason(stage, decision, reason)
    store.add_resolution(record, stage, decision, (reason or "").strip() or None, person)
