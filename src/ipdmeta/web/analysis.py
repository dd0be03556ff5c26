"""The analysis button: ``ipdmeta run`` on the review folder in its own process, its
progress read stage by stage from what it prints, and the new report put in place of the
old one only when it is complete (the previous report stays readable until then).

The run writes into a fresh folder beside the review's ``out/``; when it succeeds the two
are swapped by renames, so a reader never sees half a report. One run at a time.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["OUT", "AnalysisRunner"]

OUT = "out"
_STAGE = re.compile(r"\[(\d+)/(\d+)\]\s+(.+?)\s*$")


@dataclass
class AnalysisRunner:
    folder: Path
    state: str = "idle"  # idle, running, done, failed
    stage: str = ""
    done_stages: int = 0
    total_stages: int = 0
    started: float | None = None
    finished: float | None = None
    message: str = ""
    by: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    process: subprocess.Popen[str] | None = None

    def status(self) -> dict[str, Any]:
        with self.lock:
            elapsed = None
            if self.started is not None:
                elapsed = (self.finished or time.monotonic()) - self.started
            return {
                "state": self.state,
                "stage": self.stage,
                "done_stages": self.done_stages,
                "total_stages": self.total_stages,
                "elapsed_seconds": elapsed,
                "message": self.message,
                "by": self.by,
                "report": (self.folder / OUT / "report.html").is_file(),
            }

    def start(self, who: str) -> bool:
        """Start a run; False when one is already running."""
        from ipdmeta.report.build import STAGE_COUNT

        with self.lock:
            if self.state == "running":
                return False
            self.state, self.stage, self.message, self.by = "running", "starting", "", who
            self.done_stages, self.total_stages = 0, STAGE_COUNT
            self.started, self.finished = time.monotonic(), None
        threading.Thread(target=self._run, name="ipdmeta-analysis", daemon=True).start()
        return True

    def _run(self) -> None:
        fresh = self.folder / f".{OUT}-new"
        shutil.rmtree(fresh, ignore_errors=True)
        last_error = ""
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "ipdmeta", "run", str(self.folder), "--out", str(fresh)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                errors="replace",
            )
            self.process = process
            for line in process.stderr or []:
                found = _STAGE.search(line)
                if found:
                    with self.lock:
                        self.done_stages = int(found.group(1)) - 1
                        self.stage = found.group(3)
                elif line.startswith("ipdmeta: "):
                    last_error = line.strip()
            code = process.wait()
        except OSError as exc:
            code, last_error = -1, f"the analysis could not start ({exc})"
        if code == 0:
            self._swap_in(fresh)
        else:
            shutil.rmtree(fresh, ignore_errors=True)
        with self.lock:
            self.finished = time.monotonic()
            if code == 0:
                self.state, self.stage = "done", "done"
                self.done_stages = self.total_stages
            else:
                self.state = "failed"
                self.message = last_error.removeprefix("ipdmeta: error: ") or (
                    f"the analysis stopped (exit code {code})"
                )

    def _swap_in(self, fresh: Path) -> None:
        out = self.folder / OUT
        old = self.folder / f".{OUT}-old"
        shutil.rmtree(old, ignore_errors=True)
        if out.exists():
            out.rename(old)
        fresh.rename(out)
        shutil.rmtree(old, ignore_errors=True)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
