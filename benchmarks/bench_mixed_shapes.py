"""The general mixed-model path beside lme4 + lmerTest, on the shapes of issue 13.

    .venv/bin/python benchmarks/bench_mixed_shapes.py           # every shape
    .venv/bin/python benchmarks/bench_mixed_shapes.py --quick   # smaller versions

Shapes (simulated, seeds fixed; written to CSV so R fits the very same rows):
- crossed: 100,000 rows, two crossed grouping factors of 3,000 and 1,100 levels (the
  size of lme4's InstEval), ``y ~ service + x + (1 | s) + (1 | d)``;
- slopes: 20,000 rows in 400 groups, correlated random slopes, ``y ~ x + (1 + x | g)``;
- nested: 200 groups with 7 subgroups each, 10 rows per subgroup (14,000 rows, 1,600
  random effects), the variance-components model ``y ~ 1 + (1 | a/b)``.

Each tool is timed for the fit alone (``mixed.lmm``; ``lme4::lmer``) and from the data
frame to the fixed-effects table with Satterthwaite df (``mixed.lmm(...)`` then
``fixed_effects(ddf="satterthwaite")``; ``summary(lmerTest::lmer(...))``), inside R with
proc.time, so R's start-up and reading the CSV are not counted. BLAS runs
single-threaded for both (OPENBLAS_NUM_THREADS=1). One run each, after a warm-up on a
small version of the shape: the full shapes take seconds, so the spread between runs
(a few per cent) is far below the ratios shown; the quick ones are too short for that.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _common import fmt  # noqa: E402


def crossed(scale: float, seed: int = 1) -> pd.DataFrame:
    n, a, b = int(100_000 * scale), int(3_000 * scale), int(1_100 * scale)
    rng = np.random.default_rng(seed)
    s, d = rng.integers(0, a, n), rng.integers(0, b, n)
    service = rng.choice(np.array(["A", "B", "C", "D"]), n)
    x = rng.normal(size=n)
    y = (
        3.0
        + 0.3 * (service == "B")
        + 0.2 * x
        + rng.normal(0, 0.5, a)[s]
        + rng.normal(0, 0.4, b)[d]
        + rng.normal(size=n)
    )
    return pd.DataFrame(
        {"y": y, "service": service, "x": x, "s": [f"s{i}" for i in s], "d": [f"d{i}" for i in d]}
    )


def slopes(scale: float, seed: int = 2) -> pd.DataFrame:
    n, groups = int(20_000 * scale), max(20, int(400 * scale))
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, n)
    x = rng.normal(size=n)
    effects = rng.multivariate_normal([0.0, 0.0], [[1.0, 0.3], [0.3, 0.5]], size=groups)
    y = 1.0 + 0.5 * x + effects[g, 0] + effects[g, 1] * x + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g]})


def nested(scale: float, seed: int = 3) -> pd.DataFrame:
    groups = max(20, int(200 * scale))
    rng = np.random.default_rng(seed)
    a = np.repeat(np.arange(groups), 70)
    b = np.tile(np.repeat(np.arange(7), 10), groups)
    y = (
        rng.normal(0, 1.0, groups)[a]
        + rng.normal(0, 0.6, (groups, 7))[a, b]
        + rng.normal(size=a.size)
    )
    return pd.DataFrame({"y": y, "a": [f"a{i}" for i in a], "b": [f"b{i}" for i in b]})


SHAPES: dict[str, tuple[Callable[[float], pd.DataFrame], str, list[str]]] = {
    "crossed": (crossed, "y ~ service + x + (1 | s) + (1 | d)", ["service", "s", "d"]),
    "slopes": (slopes, "y ~ x + (1 + x | g)", ["g"]),
    "nested": (nested, "y ~ 1 + (1 | a/b)", ["a", "b"]),
}

R_SCRIPT = r"""
suppressMessages(library(lmerTest))
args <- commandArgs(trailingOnly = TRUE)
f <- as.formula(args[2])
read <- function(path) {
  d <- read.csv(path)
  for (v in strsplit(args[3], ",")[[1]]) d[[v]] <- factor(d[[v]])
  d
}
invisible(summary(lmer(f, read(args[4]))))  # warm-up on the small version
d <- read(args[1])
t0 <- proc.time()[["elapsed"]]
m <- lme4::lmer(f, d)
t1 <- proc.time()[["elapsed"]]
s <- summary(lmer(f, d))
t2 <- proc.time()[["elapsed"]]
cat(sprintf("%.6f %.6f\n", t1 - t0, t2 - t1))
"""


def run_ipdmeta(formula: str, data: pd.DataFrame) -> tuple[float, float]:
    """Seconds for the fit alone, and for the fit and its Satterthwaite table."""
    from ipdmeta import mixed

    t0 = time.perf_counter()
    fit = mixed.lmm(formula, data)
    t1 = time.perf_counter()
    fit.fixed_effects(ddf="satterthwaite")
    return t1 - t0, time.perf_counter() - t0


def run_r(
    formula: str, data: pd.DataFrame, small: pd.DataFrame, factors: list[str]
) -> tuple[float, float]:
    """lme4::lmer alone, and lmerTest::lmer + summary (its own fit with the derivatives
    that Satterthwaite's df need)."""
    nan = float("nan")
    rscript = shutil.which("Rscript")
    if rscript is None:
        return nan, nan
    with tempfile.TemporaryDirectory() as tmp:
        big_csv, small_csv, script = (Path(tmp) / n for n in ("big.csv", "small.csv", "b.R"))
        data.to_csv(big_csv, index=False)
        small.to_csv(small_csv, index=False)
        script.write_text(R_SCRIPT, encoding="utf-8")
        out = subprocess.run(
            [rscript, str(script), str(big_csv), formula, ",".join(factors), str(small_csv)],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            print(f"(R failed: {out.stderr.strip()[:300]})", file=sys.stderr)
            return nan, nan
        fit, with_table = (float(x) for x in out.stdout.strip().splitlines()[-1].split())
        return fit, with_table


def _r(seconds: float) -> str:
    return fmt(seconds if seconds == seconds else None)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a tenth of each shape")
    ap.add_argument("--no-r", action="store_true", help="skip lme4 even if Rscript is present")
    ap.add_argument("--shape", choices=list(SHAPES), action="append", help="only these shapes")
    args = ap.parse_args(argv)
    scale = 0.1 if args.quick else 1.0
    print("General path: fit + Satterthwaite fixed-effects table, ipdmeta vs lme4 + lmerTest")
    print(f"BLAS threads: {os.environ.get('OPENBLAS_NUM_THREADS')}; one timed run each\n")
    header = (
        f"{'shape':>8} | {'rows':>8} | {'ipdmeta fit':>11} | {'lme4 fit':>10} | "
        f"{'ipdmeta + df':>12} | {'lmerTest + df':>13} | ratio (with df)"
    )
    print(header)
    print("-" * len(header))
    for name in args.shape or list(SHAPES):
        make, formula, factors = SHAPES[name]
        data, small = make(scale), make(0.05)
        run_ipdmeta(formula, small)  # warm-up: imports and first calls
        fit_ip, all_ip = run_ipdmeta(formula, data)
        nan = float("nan")
        fit_r, all_r = (nan, nan) if args.no_r else run_r(formula, data, small, factors)
        ratio = f"{all_r / all_ip:.1f}x faster" if all_r == all_r else "n/a"
        print(
            f"{name:>8} | {len(data):>8,} | {fmt(fit_ip):>11} | {_r(fit_r):>10} | "
            f"{fmt(all_ip):>12} | {_r(all_r):>13} | {ratio}"
        )
    print("\nGoal (issue 13): each at least 2x faster than lme4 + lmerTest.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
