"""IPD beyond memory: mixed.lmm on Parquet files through Dask, beside the in-memory path
and statsmodels, for 10^6, 10^7 (and, asked for, 10^8) patients in 10,000 studies.

    .venv/bin/python benchmarks/bench_scale.py                  # 10^5, 10^6 and 10^7 rows
    .venv/bin/python benchmarks/bench_scale.py --rows 1e6,1e7,1e8
    .venv/bin/python benchmarks/bench_scale.py --quick          # 10^5 rows, no statsmodels

The data are simulated (seed fixed) into Parquet files of a million rows each, in a
temporary folder; the model is ``y ~ arm + age + sex + (1 | study)``. Each tool runs in a
fresh process, started from the same files: ipdmeta's Dask path (``mixed.lmm(formula,
"folder/*.parquet")``, its own LocalCluster of one worker per core), ipdmeta in memory
(pandas reads every file, then ``mixed.lmm``), and statsmodels' MixedLM where it can run
in reasonable time (up to 10^5 rows: 94 s there). Seconds are wall-clock from the start of the fit's
process (imports, reading and the cluster's start-up included) to its end; peak memory
is the largest sum of the resident memory of that process and all its children (the
Dask workers), sampled every 50 ms. One run each: the runs take tens of seconds.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
from _common import available, fmt

FORMULA = "y ~ arm + age + sex + (1 | study)"
STUDIES = 10_000
FILE_ROWS = 1_000_000
# The in-memory path holds the data and its model matrices: above this it is not run.
IN_MEMORY_MAX = 20_000_000
STATSMODELS_MAX = 100_000

FIT = {
    "ipdmeta, Dask": (
        "from ipdmeta import mixed\n"
        "m = mixed.lmm({formula!r}, {pattern!r})\n"
    ),
    "ipdmeta, in memory": (
        "import pandas as pd\nfrom ipdmeta import mixed\n"
        "m = mixed.lmm({formula!r}, pd.read_parquet({folder!r}))\n"
    ),
    "statsmodels MixedLM": (
        "import pandas as pd, statsmodels.formula.api as smf\n"
        "d = pd.read_parquet({folder!r})\n"
        "m = smf.mixedlm('y ~ arm + age + sex', d, groups=d['study']).fit(reml=True)\n"
    ),
}  # fmt: skip


def simulate(folder: Path, rows: int, seed: int = 2026) -> None:
    """``rows`` patients in STUDIES studies, written a million rows per file."""
    rng = np.random.default_rng(seed)
    study_effect = rng.normal(0, 4, STUDIES)
    for start in range(0, rows, FILE_ROWS):
        n = min(FILE_ROWS, rows - start)
        study = rng.integers(0, STUDIES, n)
        arm = rng.random(n) < 0.5
        age = rng.normal(55, 12, n)
        sex = rng.random(n) < 0.55
        y = 40 + 8 * arm + 0.2 * (age - 55) - 2 * sex + study_effect[study] + rng.normal(0, 15, n)
        pd.DataFrame({
            "study": pd.Series(study).map("s{:05d}".format),
            "arm": np.where(arm, "active", "control"),
            "age": age,
            "sex": np.where(sex, "F", "M"),
            "y": y,
        }).to_parquet(folder / f"part{start // FILE_ROWS:04d}.parquet", index=False)  # fmt: skip


def timed(code: str) -> tuple[float, float, str]:
    """Seconds and peak memory (GB, the process and its children) of ``python -c code``."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
    watched = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            tree = [watched, *watched.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    error = proc.stderr.read() if proc.returncode and proc.stderr else ""
    return seconds, peak / 1e9, error.strip().splitlines()[-1] if error else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1e5,1e6,1e7", help="comma-separated sizes")
    parser.add_argument("--quick", action="store_true", help="10^5 rows, no statsmodels")
    args = parser.parse_args(argv)
    sizes = [100_000] if args.quick else [int(float(x)) for x in args.rows.split(",")]
    results = []
    for rows in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            simulate(folder, rows)
            for name, template in FIT.items():
                if name == "ipdmeta, in memory" and rows > IN_MEMORY_MAX:
                    continue
                if name == "statsmodels MixedLM" and (
                    rows > STATSMODELS_MAX or args.quick or not available("statsmodels")
                ):
                    continue
                code = template.format(formula=FORMULA, pattern=str(folder / "*.parquet"),
                                       folder=str(folder))  # fmt: skip
                seconds, peak, error = timed(code)
                results.append((rows, name, seconds, peak, error))
                line = {"rows": rows, "tool": name, "seconds": round(seconds, 2),
                        "peak_gb": round(peak, 2), "error": error}  # fmt: skip
                print(json.dumps(line), flush=True)
    print(f"\n{FORMULA}, {STUDIES:,} studies; one run each on this machine")
    print(f"{'rows':>13} | {'tool':<22} | {'seconds':>10} | {'rows / s':>12} | {'peak memory':>11}")
    print("-" * 82)
    for rows, name, seconds, peak, error in results:
        rate = f"{rows / seconds:,.0f}" if not error else "failed"
        print(f"{rows:>13,} | {name:<22} | {fmt(seconds):>10} | {rate:>12} | {peak:>8.2f} GB"
              + (f"  ({error[:60]})" if error else ""))  # fmt: skip
    print("\nGoal (issue 14): 10^8 rows with peak memory under 4 GB on this 2-core machine.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
