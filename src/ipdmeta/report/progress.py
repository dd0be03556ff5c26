"""Saying which stage of a run is under way, in a terminal or a notebook.

``ipdmeta run`` and :func:`ipdmeta.run` both report progress this way: one line per stage
with the time elapsed, written to standard error with rich (which renders in Jupyter as
well as in terminals), so a run of several seconds is never silent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

__all__ = ["StageReporter"]


class StageReporter:
    """A ``progress`` callback: ``reporter(stage)`` prints "  1.2 s  [3/6] stage".

    Parameters
    ----------
    total
        How many stages the run has.
    console
        A rich Console; by default one writing to standard error.
    """

    def __init__(self, total: int, console: Any | None = None) -> None:
        if console is None:
            from rich.console import Console

            console = Console(stderr=True, highlight=False)
        self.console = console
        self.total = total
        self.count = 0
        self.started = time.perf_counter()

    def __call__(self, stage: str) -> None:
        self.count += 1
        self._say(f"[{self.count}/{self.total}] {stage}")

    def done(self) -> None:
        self._say("done")

    def _say(self, text: str) -> None:
        elapsed = time.perf_counter() - self.started
        self.console.print(f"[dim]{elapsed:5.1f} s[/dim]  {text}")


Progress = Callable[[str], None]
