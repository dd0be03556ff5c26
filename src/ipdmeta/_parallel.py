"""Run independent pieces of work on every core, where the platform allows it.

``ipdmeta run`` has a few stages made of independent parts: the robustness refits of each
model, the confounder screen, the report's figures. Where processes can be forked (Linux),
:class:`BackgroundMap` shares them out among worker processes. The workers are forked
after the work is set up, so they inherit the function and its inputs; only the results
travel back (pickled). Further work for the same workers (``BackgroundMap.more``: the
report's files, once the refits are done) is pickled to them. Elsewhere, or with a single
core, the parts run in turn, in this process, when the results are asked for.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

# The work of the map being started; a forked worker reads it from its copy of memory.
_WORK: tuple[Callable[[Any], Any], Sequence[Any]] | None = None


def _one_blas_thread() -> None:
    """The workers already use every core; BLAS threads on top would fight for them."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def _call(index: int) -> Any:
    if _WORK is None:  # only a worker forked by BackgroundMap has work
        raise RuntimeError("no parallel work was set up in this process")
    function, items = _WORK
    return function(items[index])


def _apply(work: tuple[Callable[[Any], Any], Any]) -> Any:
    function, item = work
    return function(item)


class BackgroundMap(Generic[Item, Result]):
    """``function(item)`` for every item, started at once in worker processes.

    Use as a context manager; ``results()`` waits and returns them in the items' order
    (``results(n)`` the first n only). Leaving the block stops the workers: ask for every
    result before it ends.
    """

    def __init__(self, function: Callable[[Item], Result], items: Sequence[Item]):
        global _WORK
        self._function = function
        self._items = list(items)
        self._pool: Any = None
        self._pending: Any = None
        self._done: list[Result] = []
        self._single: Any = None  # the BLAS thread limit held while workers run
        workers = min(len(self._items), usable_cores())
        # Fork only on Linux: macOS offers it, but system frameworks are not fork-safe.
        if workers > 1 and sys.platform.startswith("linux"):
            _WORK = (function, self._items)
            # This process too keeps to one BLAS thread while the workers run: NumPy's
            # BLAS threads spin after each product, and here they took cores from the
            # workers (15 % of ipdmeta run's CPU time on the example).
            from ipdmeta._threads import single_threaded

            self._single = single_threaded()
            self._single.__enter__()
            try:
                self._pool = multiprocessing.get_context("fork").Pool(
                    workers, initializer=_one_blas_thread
                )
                self._pending = self._pool.imap(_call, range(len(self._items)), chunksize=1)
            except BaseException:
                self.__exit__()
                raise
            finally:
                _WORK = None  # the workers have their copy; the parent needs none

    def results(self, first: int | None = None) -> list[Result]:
        """The results, in the items' order: all of them, or the ``first`` ones (the
        others go on being made)."""
        wanted = len(self._items) if first is None else min(first, len(self._items))
        while len(self._done) < wanted:
            if self._pending is None:
                self._done.append(self._function(self._items[len(self._done)]))
            else:
                self._done.append(next(self._pending))
        return self._done[:wanted]

    def more(self, function: Callable[[Any], Any], items: Sequence[Any]) -> BackgroundMap[Any, Any]:
        """``function(item)`` for more items, started at once in the same workers: a fork
        of new ones would copy this process's memory again. Unlike the first work, which
        the workers inherited when forked, ``function`` and the items are pickled to
        reach them. The results come from the map returned; the workers stop when this
        map's block ends, so ask for them within it."""
        other: BackgroundMap[Any, Any] = BackgroundMap(function, [])
        other._items = list(items)
        if self._pool is not None:
            work = [(function, item) for item in other._items]
            other._pending = self._pool.imap(_apply, work, chunksize=1)
        return other

    def __enter__(self) -> BackgroundMap[Item, Result]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
        if self._single is not None:
            self._single.__exit__(None, None, None)
            self._single = None


def parallel_map(function: Callable[[Item], Result], items: Sequence[Item]) -> list[Result]:
    """``[function(item) for item in items]``, in worker processes where possible."""
    with BackgroundMap(function, items) as work:
        return work.results()


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
