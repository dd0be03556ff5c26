"""The screening queue of the web app: the records a reviewer has still to decide at a
stage, most relevant first, with nothing of any other reviewer's decisions.

The catalogue of records, the duplicates and the records eligible at each stage are read
once per change of the store (its change counter), not once per request. The relevance
order is retrained in a background thread every ``RERANK_EVERY`` decisions; until it is
ready the previous order (or import order) is used, so a request never waits for it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from ipdmeta.review.ranking import rank_records
from ipdmeta.review.screening import stage_outcomes
from ipdmeta.web.state import AppState

__all__ = ["QUEUE_FIELDS", "RERANK_EVERY", "Ranking", "queue"]

RERANK_EVERY = 10
QUEUE_FIELDS = ("id", "title", "abstract", "authors", "year", "journal", "doi")


@dataclass
class Ranking:
    order: dict[int, int] = field(default_factory=dict)  # record -> place
    decisions_at: int = -1
    running: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def refresh(self, state: AppState, decisions: int, wait: bool = False) -> None:
        """Retrain when ``decisions`` (the store's last decision id) has moved on by
        RERANK_EVERY since the last training; in the background unless ``wait``."""
        with self.lock:
            stale = self.decisions_at < 0 or decisions - self.decisions_at >= RERANK_EVERY
            if not stale or self.running:
                return
            self.running = True

        def work() -> None:
            try:
                store = state.store
                ids = sorted(_eligible(state, "title_abstract"))
                order = rank_records(store, ids)
                with self.lock:
                    self.order = {r: place for place, r in enumerate(order)}
                    self.decisions_at = decisions
            finally:
                with self.lock:
                    self.running = False

        if wait:
            work()
        else:
            threading.Thread(target=work, name="ipdmeta-ranking", daemon=True).start()


def _catalogue(state: AppState) -> dict[int, dict[str, Any]]:
    store = state.store
    key = store.change_counter()[:2]

    def build() -> dict[int, dict[str, Any]]:
        duplicates = store.duplicate_of()
        return {
            r["id"]: {k: r[k] for k in QUEUE_FIELDS}
            for r in store.records(with_fields=False)
            if r["id"] not in duplicates
        }

    return state.cached("catalogue", key, build)


def _eligible(state: AppState, stage: str) -> set[int]:
    """The unique records screened at ``stage``: all of them at title and abstract; at
    full text, those included at title and abstract."""
    catalogue = _catalogue(state)
    if stage == "title_abstract":
        return set(catalogue)
    store = state.store
    key = store.change_counter()

    def build() -> set[int]:
        ta = stage_outcomes(store, "title_abstract")
        return {r for r in catalogue if ta.get(r, {}).get("outcome") == "include"}

    return state.cached("full_text_eligible", key, build)


def queue(
    state: AppState,
    ranking: Ranking,
    reviewer: int,
    stage: str,
    limit: int,
    first: int | None = None,
    skipped: frozenset[int] = frozenset(),
) -> tuple[list[dict[str, Any]], int]:
    """Up to ``limit`` records for ``reviewer`` at ``stage``, and how many there are in
    all. ``first``: a record to put first (the one an undo brought back); ``skipped``:
    records put last (skipped for later)."""
    catalogue = _catalogue(state)
    store = state.store
    mine = store.decided_by(reviewer, stage)
    left = [r for r in _eligible(state, stage) if r not in mine]
    if stage == "title_abstract":
        ranking.refresh(state, store.change_counter()[2])
    order = ranking.order if stage == "title_abstract" else {}
    end = len(order)
    left.sort(key=lambda r: (r != first, r in skipped, order.get(r, end), r))
    return [catalogue[r] for r in left[:limit]], len(left)
