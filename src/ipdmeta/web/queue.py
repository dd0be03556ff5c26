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

import contextlib
import multiprocessing
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ipdmeta.review.screening import stage_outcomes
from ipdmeta.web.state import AppState

__all__ = ["QUEUE_FIELDS", "RERANK_EVERY", "RERANK_SECONDS", "Ranking", "queue", "warm"]

RERANK_EVERY = 10
RERANK_SECONDS = 5.0
IN_PROCESS_BELOW = 1_000  # records: below this a retrain takes milliseconds
QUEUE_FIELDS = ("id", "title", "abstract", "authors", "year", "journal", "doi")


def _rank(folder: str) -> list[int]:
    """The unique records in relevance order."""
    from ipdmeta.review import open_store
    from ipdmeta.review.ranking import rank_records

    with open_store(Path(folder), check=False) as store:
        duplicates = store.duplicate_of()
        ids = [r for r in store.record_ids() if r not in duplicates]
        return rank_records(store, ids)


def _ranking_worker(connection: Connection) -> None:
    """The ranking process: a folder in, its order out, until the app says stop (None)
    or goes away (the pipe closes, also when the app is killed)."""
    while True:
        try:
            folder = connection.recv()
        except (EOFError, OSError):
            return
        if folder is None:
            return
        try:
            connection.send(("ok", _rank(folder)))
        except Exception as exc:  # the app retries later; the worker goes on
            connection.send(("failed", repr(exc)))


class RankingProcess:
    """One process that ranks, started on first use (a daemon: it ends with the app, and
    by itself when the app is killed); the app's threads take turns through a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: Any = None
        self._connection: Connection | None = None

    def rank(self, folder: str) -> list[int]:
        with self._lock:
            if self._process is None or not self._process.is_alive():
                context = multiprocessing.get_context("spawn")
                ours, theirs = context.Pipe()
                process = context.Process(target=_ranking_worker, args=(theirs,),
                                          name="ipdmeta-ranking", daemon=True)  # fmt: skip
                process.start()  # RuntimeError/OSError: the caller ranks in a thread
                theirs.close()
                self._process, self._connection = process, ours
            connection = self._connection
            if connection is None:
                raise RuntimeError("the ranking process has no pipe")
            connection.send(folder)
            status, value = connection.recv()
        if status != "ok":
            raise RuntimeError(f"ranking failed: {value}")
        return list(value)

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                with contextlib.suppress(OSError):
                    self._connection.send(None)
                self._connection.close()
            if self._process is not None:
                self._process.join(timeout=5)
                if self._process.is_alive():
                    self._process.terminate()
            self._process = self._connection = None


def _run_into(future: Future[list[int]], rank: Callable[[str], list[int]], folder: str) -> None:
    try:
        future.set_result(rank(folder))
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
    process: RankingProcess = field(default_factory=RankingProcess)

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
            running: Future[list[int]] = Future()
            rank = self._in_process if records >= IN_PROCESS_BELOW else _rank
            threading.Thread(target=_run_into, args=(running, rank, str(state.folder)),
                             name="ipdmeta-ranking", daemon=True).start()  # fmt: skip
            self.running = running
        # Outside the lock: a future already done calls back at once, and the callback
        # takes the lock.
        running.add_done_callback(self._done)
        if wait:
            running.result()

    def _in_process(self, folder: str) -> list[int]:
        try:
            return self.process.rank(folder)
        except (RuntimeError, OSError):
            # No process can be started (a script without a __main__ guard, a sandbox):
            # the ranking runs in this thread instead.
            return _rank(folder)

    def _done(self, future: Future[list[int]]) -> None:
        with self.lock:
            self.running = None
            if future.exception() is None:
                self.order = {r: place for place, r in enumerate(future.result())}
                self.version += 1
            else:
                self.decisions_at = -1  # try again on the next request

    def close(self) -> None:
        self.process.close()


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
