"""Saying which stage of a run is under way, in a terminal or a notebook.

``ipdmeta run`` and :func:`ipdmeta.run` both report progress this way:

- in a Jupyter notebook, one progress bar that updates in place, with the stage and the
  time elapsed (plain text for viewers that show no HTML);
- in a terminal, one line per stage with the time elapsed, and a progress bar under them
  while the run lasts (rich);
- written to a file or a pipe (a log, CI), the lines alone.
"""

from __future__ import annotations

import html
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["StageReporter"]


class StageReporter:
    """A ``progress`` callback: ``reporter(stage)`` says "  1.2 s  [3/6] stage".

    Call :meth:`done` at the end, or :meth:`close` when the run stops early, so that a
    terminal's bar is taken down.

    Parameters
    ----------
    total
        How many stages the run has.
    console
        A rich Console to write to; by default one writing to standard error. In a
        notebook (and no console given) the progress is a display that updates in place.
    """

    def __init__(self, total: int, console: Any | None = None) -> None:
        self.total = total
        self.count = 0
        self.started = time.perf_counter()
        self._view: _View
        if console is None and _in_notebook():
            self._view = _NotebookBar()
            return
        if console is None:
            from rich.console import Console

            console = Console(stderr=True, highlight=False)
        self._view = _TerminalBar(console) if console.is_terminal else _Lines(console)

    def __call__(self, stage: str) -> None:
        self.count += 1
        self._view.stage(self.count, self.total, stage, self._elapsed())

    def done(self) -> None:
        self._view.done(self._elapsed())

    def close(self) -> None:
        """Stop showing progress without saying done (the run failed)."""
        self._view.close()

    def _elapsed(self) -> float:
        return time.perf_counter() - self.started


class _View:
    def stage(self, count: int, total: int, stage: str, elapsed: float) -> None:
        raise NotImplementedError

    def done(self, elapsed: float) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


def _line(elapsed: float, text: str) -> str:
    return f"[dim]{elapsed:5.1f} s[/dim]  {text}"


class _Lines(_View):
    def __init__(self, console: Any) -> None:
        self.console = console

    def stage(self, count: int, total: int, stage: str, elapsed: float) -> None:
        self.console.print(_line(elapsed, f"[{count}/{total}] {stage}"))

    def done(self, elapsed: float) -> None:
        self.console.print(_line(elapsed, "done"))


class _TerminalBar(_Lines):
    """The lines, and under them a bar that is taken down at the end."""

    def __init__(self, console: Any) -> None:
        super().__init__(console)
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task: Any = None

    def stage(self, count: int, total: int, stage: str, elapsed: float) -> None:
        if self.task is None:
            self.bar.start()
            self.task = self.bar.add_task(stage, total=total)
        self.bar.update(self.task, completed=count - 1, description=stage)
        self.bar.console.print(_line(elapsed, f"[{count}/{total}] {stage}"))

    def done(self, elapsed: float) -> None:
        self.close()
        super().done(elapsed)

    def close(self) -> None:
        if self.task is not None:
            self.bar.stop()
            self.task = None


class _NotebookBar(_View):
    """One output that updates in place: an HTML progress bar, or a line of text."""

    def __init__(self) -> None:
        self.display_id: str | None = None

    def stage(self, count: int, total: int, stage: str, elapsed: float) -> None:
        self._show(count - 1, total, f"[{count}/{total}] {stage}", elapsed)

    def done(self, elapsed: float) -> None:
        self._show(1, 1, "done", elapsed)

    def _show(self, completed: int, total: int, text: str, elapsed: float) -> None:
        from IPython.display import display, update_display

        bundle = {
            "text/plain": f"{elapsed:5.1f} s  {text}",
            "text/html": (
                f'<div class="ipdmeta-progress"><progress value="{completed}" max="{total}" '
                f'style="width: 16em; vertical-align: middle"></progress> '
                f"<code>{elapsed:.1f} s</code> {html.escape(text)}</div>"
            ),
        }
        if self.display_id is None:
            handle = display(bundle, raw=True, display_id=True)
            self.display_id = handle.display_id if handle is not None else ""
        else:
            update_display(bundle, raw=True, display_id=self.display_id)


def _in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (whose front end can show HTML)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


Progress = Callable[[str], None]
