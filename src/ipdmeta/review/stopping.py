"""When to stop screening titles and abstracts ranked by relevance: a rule the team sets
(stop once a reviewer has excluded N records in a row) and a check of the records left
(a random sample of them screened after stopping), both reported in the methods.

The rule is an aid, never applied by itself: `review screen` says when a reviewer reaches
it; the records nobody screened stay counted as not yet screened.
"""

from __future__ import annotations

import math
import random
from typing import Any

from ipdmeta.review.screening import stage_outcomes
from ipdmeta.review.store import ReviewStore, StoreError

__all__ = ["check_sample", "draw_check_sample", "excluded_in_a_row", "stopping_status"]

RULE = "stop_after_excluded_in_a_row"
SAMPLE = "check_sample"


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
    duplicates = store.duplicate_of()
    decided = set(stage_outcomes(store, "title_abstract"))
    left = [r["id"] for r in store.records() if r["id"] not in duplicates and r["id"] not in
            decided]  # fmt: skip
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


def stopping_status(store: ReviewStore) -> dict[str, Any]:
    rule = store.setting(RULE)
    runs = {r["name"]: excluded_in_a_row(store, r["id"]) for r in store.reviewers()}
    sample = store.setting(SAMPLE)
    out: dict[str, Any] = {"rule_excluded_in_a_row": rule, "excluded_in_a_row": runs,
                           "reached": bool(rule) and any(n >= rule for n in runs.values()),
                           "check_sample": None}  # fmt: skip
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
