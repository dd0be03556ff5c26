"""Run every benchmark in turn and print their tables (``make bench``).

    .venv/bin/python benchmarks/run_all.py           # full sizes; about 45 minutes with R
    .venv/bin/python benchmarks/run_all.py --quick   # small sizes, about 2 minutes

lme4's bootMer, in bench_glmm_bootstrap.py, takes about 30 of the 45 minutes.

R's columns appear when ``Rscript`` with metafor, lme4 and lmerTest is on the PATH.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, about a minute")
    args = parser.parse_args(argv)
    runs = [
        ["bench_meta.py", *(["--quick"] if args.quick else [])],
        ["bench_mixed.py", *(["--quick"] if args.quick else [])],
        ["bench_mixed_shapes.py", *(["--quick"] if args.quick else [])],
        ["bench_glmm.py", *(["--quick"] if args.quick else [])],
        ["bench_glmm_bootstrap.py", *(["--quick"] if args.quick else [])],
        ["bench_run.py", *(["--repeats", "2"] if args.quick else [])],
        ["bench_review.py", *(["--quick"] if args.quick else [])],
        ["bench_web.py", *(["--quick"] if args.quick else [])],
        ["bench_threads.py"],
        ["bench_scale.py", *(["--quick"] if args.quick else [])],
    ]
    failed = 0
    for script, *options in runs:
        print(f"\n=== {script} {' '.join(options)}".rstrip(), flush=True)
        failed += subprocess.run([sys.executable, str(HERE / script), *options]).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
