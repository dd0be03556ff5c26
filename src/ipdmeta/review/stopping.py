"""When to stop screening titles and abstracts ranked by relevance: a rule the team sets
(stop once a reviewer has excluded N records in a row) and a check of the records left
(a random sample of them screened after stopping), both reported in the methods.

The rule is an aid, never applied by itself: `review screen` says when a reviewer reaches
it, and the records nobody screened stay counted as not yet screened until the team says
it has stopped (``ipdmeta review stopping DIR --stop``). From then on, the records nobody
has decided at title and abstract (the check sample apart) are the ones PRISMA 2020 calls
"marked as ineligible by automation tools": the ranking put them last and nobody read
them. A record decided after the stop is screened like any other; ``--resume`` takes the
stop back. Both are appended, never overwritten.
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

from ipdmeta.review.screening import stage_outcomes
from ipdmeta.review.store import ReviewStore, StoreError

__all__ = [
    "check_sample",
    "draw_check_sample",
    "excluded_in_a_row",
    "record_stop",
    "stopped",
    "stopping_status",
    "unscreened_after_stop",
]

RULE = "stop_after_excluded_in_a_row"
SAMPLE = "check_sample"
STOPPED = "title_abstract_stopped"


def excluded_in_a_row(store: ReviewStore, reviewer: int) -> int:
    """The reviewer's latest run of exclusions at title and abstract."""
    run = 0
    for decision in reversed(store.decision_history(reviewer, "title_abstract")):
        if decision != "exclude":
            break
        run += 1
    return run


def draw_check_sample(store: ReviewStore, percent: float, seed: int) -> list[int]:
    """A random ``percent`` % (at least one) of the unique records nobody has decided at
    title and abstract, stored as the review's check sample."""
    if not 0 < percent <= 100:
        raise StoreError(f"the check sample is a percentage above 0 and up to 100; got {percent}")
    left = _left_unscreened(store)
    if not left:
        raise StoreError("every record has been screened: there is nothing left to sample")
    size = max(1, math.ceil(len(left) * percent / 100))
    sample = sorted(random.Random(seed).sample(left, size))
    store.set_setting(SAMPLE, {"records": sample, "percent": percent, "seed": seed,
                               "left": len(left)})  # fmt: skip
    return sample


def check_sample(store: ReviewStore) -> list[int]:
    found = store.setting(SAMPLE)
    return list(found["records"]) if found else []


def _left_unscreened(store: ReviewStore, databases_only: bool = False) -> list[int]:
    """The unique records nobody has decided at title and abstract (of databases and
    registers only: the branch of the diagram that has an automation box)."""
    duplicates = store.duplicate_of()
    decided = set(stage_outcomes(store, "title_abstract"))
    other = {i["id"] for i in store.imports() if i["kind"] == "other"}
    return [r["id"] for r in store.records() if r["id"] not in duplicates and r["id"] not in
            decided and not (databases_only and r["import_id"] in other)]  # fmt: skip


def record_stop(store: ReviewStore, *, stop: bool, reason: str | None) -> dict[str, Any]:
    """Records that the team stopped screening titles and abstracts (or resumed it)."""
    current = stopped(store)
    if stop and current:
        raise StoreError(f"screening already stopped on {current['time'][:10]}")
    if not stop and not current:
        raise StoreError("screening has not been stopped: there is nothing to resume")
    value: dict[str, Any] = {"stopped": stop, "reason": reason}
    if stop:
        left = _left_unscreened(store)
        if not left:
            raise StoreError("every record has been screened: there is nothing to stop")
        value["left"] = len(left)
        value["screened"] = len(stage_outcomes(store, "title_abstract"))
    store.set_setting(STOPPED, value)
    return value


def stopped(store: ReviewStore) -> dict[str, Any] | None:
    """The standing stop of title-and-abstract screening, with its time; None when
    screening goes on."""
    row = store.connection.execute(
        "SELECT value, created FROM settings WHERE key = ? ORDER BY id DESC LIMIT 1",
        (STOPPED,),
    ).fetchone()
    if row is None:
        return None
    value = json.loads(row[0])
    return {**value, "time": row[1]} if value.get("stopped") else None


def unscreened_after_stop(store: ReviewStore, undecided: set[int]) -> set[int]:
    """Of the ``undecided`` records, those the stop leaves to the automation tool (the
    check sample, drawn to be read, stays with the people)."""
    if stopped(store) is None:
        return set()
    return undecided - set(check_sample(store))


def stopping_status(store: ReviewStore) -> dict[str, Any]:
    rule = store.setting(RULE)
    runs = {r["name"]: excluded_in_a_row(store, r["id"]) for r in store.reviewers()}
    sample = store.setting(SAMPLE)
    out: dict[str, Any] = {"rule_excluded_in_a_row": rule, "excluded_in_a_row": runs,
                           "reached": bool(rule) and any(n >= rule for n in runs.values()),
                           "check_sample": None, "stopped": stopped(store)}  # fmt: skip
    if out["stopped"]:
        left = set(_left_unscreened(store, databases_only=True))
        out["stopped"]["excluded_automatic"] = len(unscreened_after_stop(store, left))
    if sample:
        outcomes = stage_outcomes(store, "title_abstract")
        ids = sample["records"]
        settled = ("include", "exclude")
        screened = [r for r in ids if outcomes.get(r, {}).get("outcome") in settled]
        out["check_sample"] = {
            "size": len(ids), "percent": sample["percent"], "seed": sample["seed"],
            "of_records_left": sample["left"], "screened": len(screened),
            "included": sum(outcomes[r]["outcome"] == "include" for r in screened),
        }  # fmt: skip
    return out
