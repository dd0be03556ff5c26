"""Screening in the terminal, one record at a time (``ipdmeta review screen``).

The reviewer sees only records they have not decided (never another reviewer's decision),
most likely inclusions first (the relevance ranking, retrained every ten decisions), the
review's inclusion terms highlighted in green and exclusion terms in red, a running count
and the exclusions in a row (a stopping aid). Keys: ``i`` include, ``e`` exclude (then a
reason from the review's list, by number, or typed), ``m`` maybe, ``n`` not retrieved
(full text), ``s`` skip to later, ``u`` undo the last decision, ``q`` quit. Each decision
is stored at once, so quitting (or a crash) loses nothing decided. Input is read line by
line, so a session can be scripted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from ipdmeta.review.ranking import rank_records
from ipdmeta.review.screening import decide, stage_outcomes
from ipdmeta.review.stopping import RULE, check_sample, excluded_in_a_row
from ipdmeta.review.store import ReviewStore, StoreError

__all__ = ["screen"]

PROMPT = "[i]nclude [e]xclude [m]aybe {extra}[s]kip [u]ndo [q]uit > "


RERANK_EVERY = 10  # decisions between retrainings of the relevance ranking


def _queue(
    store: ReviewStore, reviewer_id: int, stage: str, catalogue: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The records of ``catalogue`` this reviewer has still to decide at ``stage``, in
    import order (the catalogue is read once per session: reading 100,000 records takes
    seconds, the decisions a few milliseconds)."""
    duplicates = store.duplicate_of()
    records = [r for r in catalogue if r["id"] not in duplicates]
    if stage == "full_text":
        ta = stage_outcomes(store, "title_abstract")
        records = [r for r in records if ta.get(r["id"], {}).get("outcome") == "include"]
    mine = store.latest_decisions(stage)
    return [r for r in records if reviewer_id not in mine.get(r["id"], {})]


def _highlighted(text: str, keywords: dict[str, list[str]]) -> Text:
    shown = Text(text)
    for kind, style in (("include", "bold green"), ("exclude", "bold red")):
        for term in keywords[kind]:
            shown.highlight_regex(re.compile(re.escape(term), re.IGNORECASE), style)
    return shown


def screen(
    store: ReviewStore,
    reviewer: str,
    stage: str,
    read: Callable[[str], str] | None = None,
    out: TextIO | None = None,
    sample_only: bool = False,
) -> dict[str, int]:
    """Run a screening session; returns the decisions made by kind. ``sample_only``: only
    the review's check sample (``review check-sample``)."""
    reviewer_id = store.reviewer_id(reviewer)
    console = Console(file=out, highlight=False, soft_wrap=True)
    # The prompt's [i]nclude and [e]xclude would be rich markup (italic, ...): escaped.
    ask = read or (lambda prompt: console.input(escape(prompt)))
    keywords = store.keywords()
    reasons = store.reasons(stage)
    made = {"include": 0, "exclude": 0, "maybe": 0, "not_retrieved": 0, "undone": 0}
    skipped: set[int] = set()
    back: int | None = None  # after an undo, the record whose decision was withdrawn
    extra = "[n]ot retrieved " if stage == "full_text" else ""
    ranked: dict[int, int] = {}  # record -> place in the relevance order
    since_rank = RERANK_EVERY
    in_a_row = excluded_in_a_row(store, reviewer_id)  # the stopping aid, across sessions
    rule = store.setting(RULE)
    told = False
    sample = set(check_sample(store)) if sample_only else None
    if sample_only and not sample:
        raise StoreError("no check sample has been drawn (ipdmeta review check-sample)")
    catalogue = store.records()
    while True:
        queue = [r for r in _queue(store, reviewer_id, stage, catalogue)
                 if r["id"] not in skipped]  # fmt: skip
        if sample is not None:
            queue = [r for r in queue if r["id"] in sample]
        if since_rank >= RERANK_EVERY and stage == "title_abstract" and queue:
            order = rank_records(store, [r["id"] for r in queue])
            ranked = {record: place for place, record in enumerate(order)}
            since_rank = 0
        queue.sort(key=lambda r: (r["id"] != back, ranked.get(r["id"], len(ranked)), r["id"]))
        if not queue:
            queue = [r for r in _queue(store, reviewer_id, stage, catalogue)  # skipped ones
                     if sample is None or r["id"] in sample]  # fmt: skip
            skipped.clear()
        if not queue:
            console.print(f"Nothing left for {escape(reviewer)} to screen at {stage}.")
            return made
        record = queue[0]
        decided = sum(made[k] for k in ("include", "exclude", "maybe", "not_retrieved"))
        console.rule(
            f"{escape(reviewer)}, {stage}: {len(queue)} left, {decided} decided, "
            f"{in_a_row} excluded in a row; record {record['id']}"
        )
        console.print(_highlighted(record["title"] or "(no title)", keywords), style="bold")
        byline = ", ".join(record["authors"][:3]) + (" et al." if len(record["authors"]) > 3
                                                      else "")  # fmt: skip
        console.print(Text(f"{byline} ({record['year'] or 'n.d.'}) {record['journal'] or ''}"))
        if record["abstract"]:
            console.print(_highlighted(record["abstract"], keywords))
        try:
            answer = ask(PROMPT.format(extra=extra)).strip().lower()
        except EOFError:
            return made
        if answer in ("q", "quit"):
            return made
        if answer in ("s", "skip"):
            skipped.add(record["id"])
            continue
        if answer in ("u", "undo"):
            undone = store.withdraw_last(reviewer_id, stage)
            if undone is None:
                console.print("Nothing to undo.")
            else:
                made["undone"] += 1
                back = undone["record_id"]
                skipped.discard(back)
                console.print(f"Withdrawn: record {undone['record_id']} {undone['decision']}.")
            continue
        decision = {"i": "include", "e": "exclude", "m": "maybe", "n": "not_retrieved"}.get(
            answer[:1]
        )
        if decision is None or (decision == "not_retrieved" and stage != "full_text"):
            console.print(f"Not a choice: {escape(answer)!r}.")
            continue
        reason = None
        if decision == "exclude":
            for number, text in enumerate(reasons, start=1):
                console.print(f"  {number}. {escape(text)}")
            typed = ask("reason (number or text) > ").strip()
            reason = reasons[int(typed) - 1] if typed.isdigit() and 0 < int(typed) <= len(
                reasons) else typed or None  # fmt: skip
        try:
            decide(store, reviewer, stage, record["id"], decision, reason)
        except StoreError as exc:
            console.print(f"Not stored: {escape(str(exc))}")
            continue
        made[decision] += 1
        since_rank += 1
        in_a_row = in_a_row + 1 if decision == "exclude" else 0
        if rule and in_a_row >= rule and not told and stage == "title_abstract":
            told = True
            console.print(
                f"The review's stopping rule is reached: {in_a_row} records excluded in a row "
                f"(the rule: {rule}). Stop here with q, or go on; a check sample of the "
                "records left can be drawn with `ipdmeta review check-sample`."
            )
