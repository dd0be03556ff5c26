"""Time the main job: ``ipdmeta run`` on the bundled example review, end to end.

    .venv/bin/python benchmarks/bench_run.py              # 5 runs
    .venv/bin/python benchmarks/bench_run.py --repeats 2  # quicker

Each run is a fresh process (``ipdmeta run examples/imcs-cnop --out <tmp> --quiet``), so
the figures include interpreter start-up and imports, as a reviewer at a terminal sees
them. Wall-clock and CPU seconds (user + system of the child) are shown; the issue's goal
is under 5 s. No peer does this job in one command, so there is no peer column.
"""

from __future__ import annotations

import argparse
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


def one_run(out: Path) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "ipdmeta", "run", str(EXAMPLE), "--out", str(out), "--quiet"],
        check=True,
        env=os.environ,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    walls, cpus = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            wall, cpu = one_run(Path(tmp) / f"out{i}")
            walls.append(wall)
            cpus.append(cpu)
    print(f"ipdmeta run examples/imcs-cnop ({args.repeats} runs, fresh process each)")
    print(f"{'':14}{'median':>10}{'min':>10}{'max':>10}")
    for name, values in (("wall seconds", walls), ("CPU seconds", cpus)):
        print(f"{name:14}{statistics.median(values):10.2f}{min(values):10.2f}{max(values):10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
