"""The screening queue of the web app: the records a reviewer has still to decide at a
stage, most relevant first, with nothing of any other reviewer's decisions.

The catalogue of records, the duplicates, the records eligible at each stage and their
order are built once per change of the store (its change counter), not once per request;
a request walks the ordered list past the reviewer's own decisions. The relevance order
is retrained in a separate process (so it never holds the server's interpreter) after
``RERANK_EVERY`` new decisions, at most once every ``RERANK_SECONDS``; until it is ready
the previous order (or import order) is used, so a request never waits for it.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ipdmeta.review.screening import stage_outcomes
from ipdmeta.web.state import AppState

__all__ = ["QUEUE_FIELDS", "RERANK_EVERY", "RERANK_SECONDS", "Ranking", "queue", "warm"]

RERANK_EVERY = 10
RERANK_SECONDS = 5.0
IN_PROCESS_BELOW = 1_000  # records: below this a retrain takes milliseconds
QUEUE_FIELDS = ("id", "title", "abstract", "authors", "year", "journal", "doi")


def _rank_in_worker(folder: str) -> list[int]:
    """The unique records in relevance order (in the ranking process)."""
    from ipdmeta.review import open_store
    from ipdmeta.review.ranking import rank_records

    with open_store(Path(folder), check=False) as store:
        duplicates = store.duplicate_of()
        ids = [r for r in store.record_ids() if r not in duplicates]
        return rank_records(store, ids)


def _run_into(future: Future[list[int]], folder: str) -> None:
    try:
        future.set_result(_rank_in_worker(folder))
    except BaseException as exc:  # handed to the waiting side, which retries later
        future.set_exception(exc)


@dataclass
class Ranking:
    order: dict[int, int] = field(default_factory=dict)  # record -> place
    version: int = 0  # bumped with each new order
    decisions_at: int = -1
    started: float = float("-inf")
    running: Future[list[int]] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    pool: ProcessPoolExecutor | None = None

    def refresh(self, state: AppState, decisions: int, records: int, wait: bool = False) -> None:
        """Retrain when ``decisions`` (the store's last decision id) has moved on by
        RERANK_EVERY since the last training, and the last one started RERANK_SECONDS
        ago: in a thread for a small review (``records``), in the ranking process for a
        large one; waited for only when ``wait``."""
        with self.lock:
            due = self.decisions_at < 0 or (
                decisions - self.decisions_at >= RERANK_EVERY
                and time.monotonic() - self.started >= RERANK_SECONDS
            )
            if not due or self.running is not None:
                return
            self.started = time.monotonic()
            self.decisions_at = decisions
            running = None
            if records >= IN_PROCESS_BELOW:
                try:
                    if self.pool is None:
                        context = multiprocessing.get_context("spawn")
                        self.pool = ProcessPoolExecutor(max_workers=1, mp_context=context)
                    running = self.pool.submit(_rank_in_worker, str(state.folder))
                except (RuntimeError, OSError):
                    # No process can be started (a script without a __main__ guard, a
                    # sandbox): the ranking runs in a thread instead.
                    running = None
            if running is None:
                running = Future()
                threading.Thread(
                    target=_run_into,
                    args=(running, str(state.folder)),
                    name="ipdmeta-ranking",
                    daemon=True,
                ).start()
            self.running = running
        # Outside the lock: a future already done calls back at once, and the callback
        # takes the lock.
        running.add_done_callback(self._done)
        if wait:
            running.result()

    def _done(self, future: Future[list[int]]) -> None:
        with self.lock:
            self.running = None
            if future.exception() is None:
                self.order = {r: place for place, r in enumerate(future.result())}
                self.version += 1
            else:
                self.decisions_at = -1  # try again on the next request

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)


def _catalogue(state: AppState, key: tuple[int, ...]) -> dict[int, dict[str, Any]]:
    store = state.store

    def build() -> dict[int, dict[str, Any]]:
        duplicates = store.duplicate_of()
        return {
            r["id"]: {k: r[k] for k in QUEUE_FIELDS}
            for r in store.records()
            if r["id"] not in duplicates
        }

    return state.cached("catalogue", key[:2], build)


def _with_set(order: list[int]) -> tuple[list[int], frozenset[int]]:
    return order, frozenset(order)


def _ordered(state: AppState, ranking: Ranking, stage: str) -> tuple[list[int], frozenset[int]]:
    """The records screened at ``stage``, in the order they are offered: at title and
    abstract every unique record, by relevance; at full text those included at title
    and abstract, in import order."""
    store = state.store
    key = store.change_counter()
    catalogue = _catalogue(state, key)
    if stage == "title_abstract":
        order, version = ranking.order, ranking.version
        end = len(order)
        return state.cached(
            "title_abstract_order",
            (key[:2], version),
            lambda: _with_set(sorted(catalogue, key=lambda r: (order.get(r, end), r))),
        )

    def build() -> tuple[list[int], frozenset[int]]:
        ta = stage_outcomes(store, "title_abstract")
        return _with_set(sorted(r for r in catalogue if ta.get(r, {}).get("outcome") == "include"))

    return state.cached("full_text_order", key, build)


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
    store = state.store
    catalogue = _catalogue(state, store.change_counter())
    if stage == "title_abstract":
        ranking.refresh(state, store.change_counter()[2], len(catalogue))
    offered = _ordered(state, ranking, stage)
    mine = store.decided_by(reviewer, stage)
    ordered, eligible = offered
    left = len(eligible) - len(mine & eligible)
    picked: list[int] = []
    if first is not None and first in eligible and first not in mine:
        picked.append(first)
    later: list[int] = []
    for record in ordered:
        if len(picked) >= limit:
            break
        if record in mine or record == first:
            continue
        if record in skipped:
            if len(later) < limit:
                later.append(record)
        else:
            picked.append(record)
    picked += later[: max(0, limit - len(picked))]
    return [catalogue[r] for r in picked[:limit]], left


def warm(state: AppState, ranking: Ranking) -> None:
    """Read the catalogue and start the first ranking when the app starts, so that the
    first reviewer to sign in gets records in relevance order, not import order."""
    counter = state.store.change_counter()
    ranking.refresh(state, counter[2], len(_catalogue(state, counter)))
