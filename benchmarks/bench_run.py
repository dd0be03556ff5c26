"""Time the main job: ``ipdmeta run`` on the bundled example review, end to end.

    .venv/bin/python benchmarks/bench_run.py              # 5 runs
    .venv/bin/python benchmarks/bench_run.py --repeats 2  # quicker

Each run is a fresh process (``ipdmeta run examples/imcs-cnop --out <tmp> --quiet``), so
the figures include interpreter start-up and imports, as a reviewer at a terminal sees
them. Wall-clock and CPU seconds (user + system of the child and its workers) are shown,
then where the wall-clock time goes: the interpreter's start, the imports ``ipdmeta run``
needs before its first stage (each timed in a fresh process of its own), each analysis
stage (as results.json records it), and the rest: the report's figures, tables, Word and
Excel files. The issues' goals are under 5 s (issue 9) and under 2 s (issue 13). No peer
does this job in one command, so there is no peer column.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "imcs-cnop"
# What `ipdmeta run` imports before its first stage.
RUN_IMPORTS = "import ipdmeta.cli, ipdmeta.report.build, ipdmeta.analysis.pipeline"


def _timed(command: list[str]) -> tuple[float, float]:
    """Wall-clock and CPU seconds of a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, env=os.environ)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def one_run(out: Path) -> tuple[float, float, dict[str, float]]:
    wall, cpu = _timed(
        [sys.executable, "-m", "ipdmeta", "run", str(EXAMPLE), "--out", str(out), "--quiet"]
    )
    stages = json.loads((out / "results.json").read_text())["seconds"]
    return wall, cpu, stages


# The robustness refits start in worker processes once the mixed models are fitted; the
# two-stage analysis runs beside them, and the robustness stage is the wait after it.
_STAGE_LABELS = {
    "two-stage meta-analysis": "two-stage meta-analysis (the robustness refits running)",
    "confounder screening and robustness refits": "robustness refits left, and 14 figures",
}


def _row(name: str, values: list[float]) -> str:
    return f"{name:66}{statistics.median(values):10.2f}{min(values):10.2f}{max(values):10.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    # ipdmeta's own modules as bytecode, as after a user's first run; an environment with
    # PYTHONDONTWRITEBYTECODE would otherwise compile them in every run (about 0.2 s).
    compileall.compile_dir(ROOT / "src" / "ipdmeta", quiet=1)
    walls, cpus, interpreter, imports = [], [], [], []
    stages: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            interpreter.append(_timed([sys.executable, "-c", "pass"])[0])
            imports.append(_timed([sys.executable, "-c", RUN_IMPORTS])[0] - interpreter[-1])
            wall, cpu, seconds = one_run(Path(tmp) / f"out{i}")
            walls.append(wall)
            cpus.append(cpu)
            for stage, value in seconds.items():
                stages.setdefault(stage, []).append(value)
    rest = [
        wall - start - imported - sum(values[i] for values in stages.values())
        for i, (wall, start, imported) in enumerate(zip(walls, interpreter, imports, strict=True))
    ]
    print(f"ipdmeta run examples/imcs-cnop ({args.repeats} runs, fresh process each)")
    print(f"{'':66}{'median':>10}{'min':>10}{'max':>10}")
    print(_row("wall seconds", walls))
    print(_row("CPU seconds (all processes)", cpus))
    print("where the wall-clock seconds go:")
    print(_row("  interpreter start", interpreter))
    print(_row("  imports before the first stage", imports))
    for stage, values in stages.items():
        print(_row(f"  {_STAGE_LABELS.get(stage, stage)}", values))
    print(_row("  the report: tables, Word, Excel, the other figures", rest))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
