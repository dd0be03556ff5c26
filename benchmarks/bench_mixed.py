"""Side-by-side timing of the one-stage mixed model: ipdmeta vs its peers.

Model (issue 4): a random intercept per study, a 6-level factor and three covariates,
REML, including Satterthwaite inference for all fixed effects where the tool has it.

    .venv/bin/python benchmarks/bench_mixed.py            # n = 140, 10,000, 100,000
    .venv/bin/python benchmarks/bench_mixed.py --quick    # n = 140 and 10,000, fewer repeats

Peers, each timed from the DataFrame to the fixed-effects table:
- ipdmeta: ``mixed.lmm(...)`` then ``fixed_effects(ddf="satterthwaite")``;
- statsmodels MixedLM: ``smf.mixedlm(...).fit(reml=True)`` then ``summary()`` (z-tests:
  it has no Satterthwaite df);
- mixedlm (PyPI, Rust core): ``mixedlm.lmer(...)`` then ``satterthwaite_df(...)``;
- lme4 + lmerTest via Rscript (if R is installed): ``lmerTest::lmer`` then ``summary()``,
  timed inside R with proc.time() so R's start-up and data loading are not counted.

The medians of several repeats are shown, after one untimed warm-up call per tool; the
Python tools take turns within each repeat, so load changes on a shared machine hit all. BLAS
runs single-threaded (OPENBLAS_NUM_THREADS=1 unless already set) for every Python tool:
on a small shared machine threaded BLAS mostly adds overhead for these matrix sizes.
Also timed: ipdmeta's parametric bootstrap (1,000 refits at n = 140).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _common import available, fmt  # noqa: E402

FORMULA = "y ~ dx + x1 + x2 + x3 + (1 | study)"
FIXED = "y ~ dx + x1 + x2 + x3"
SIZES = ((140, 23), (10_000, 200), (100_000, 1_000))
# Issue 4's table (measured on this machine type), shown beside the live numbers.
ISSUE_MS = {140: (68, 59, 10), 10_000: (391, 600, 15), 100_000: (5700, 3800, 189)}


def make_data(n: int, n_studies: int, seed: int = 20201) -> pd.DataFrame:
    """Simulated IPD: skewed study sizes (many small studies), 6 diagnoses, 3 covariates."""
    rng = np.random.default_rng(seed)
    weights = rng.pareto(1.5, n_studies) + 0.2
    weights /= weights.sum()
    study = np.concatenate([np.arange(n_studies), rng.choice(n_studies, n - n_studies, p=weights)])
    u = rng.normal(0.0, 10.0, n_studies)
    dx = rng.choice(np.array(["AD", "DPS", "PHN", "TN", "TNP", "central"]), n)
    x1 = rng.normal(55.0, 12.0, n)
    x2 = rng.normal(0.0, 1.0, n)
    x3 = rng.uniform(0.0, 10.0, n)
    y = 60 + u[study] + 10.0 * (dx == "TN") + 0.1 * x1 + 2.0 * x2 - x3 + rng.normal(0, 20, n)
    labels = np.array([f"S{i:04d}" for i in range(n_studies)], dtype=object)
    return pd.DataFrame(
        {"y": y, "dx": dx.astype(object), "x1": x1, "x2": x2, "x3": x3, "study": labels[study]}
    )


def timed_interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds per tool; the tools take turns within each repeat so that a change
    of load on a shared machine hits them alike. One untimed warm-up call each."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def run_ipdmeta(data: pd.DataFrame) -> object:
    from ipdmeta import mixed

    return mixed.lmm(FORMULA, data, reml=True).fixed_effects(ddf="satterthwaite")


def run_statsmodels(data: pd.DataFrame) -> object:
    import statsmodels.formula.api as smf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = smf.mixedlm(FIXED, data, groups=data["study"]).fit(reml=True)
        return fit.summary()


def run_mixedlm(data: pd.DataFrame) -> object:
    import mixedlm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = mixedlm.lmer(FORMULA, data, REML=True)
        return mixedlm.satterthwaite_df(fit)


R_SCRIPT = r"""
suppressMessages(library(lmerTest))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
d$dx <- factor(d$dx); d$study <- factor(d$study)
reps <- as.integer(args[2])
f <- y ~ dx + x1 + x2 + x3 + (1 | study)
invisible(summary(lmer(f, d, REML = TRUE)))  # warm-up
times <- numeric(reps)
for (i in seq_len(reps)) {
  t0 <- proc.time()[["elapsed"]]
  s <- summary(lmer(f, d, REML = TRUE))
  times[i] <- proc.time()[["elapsed"]] - t0
}
cat(sprintf("%.6f\n", median(times)))
"""


def run_r(data: pd.DataFrame, repeats: int) -> float | None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "data.csv"
        script = Path(tmp) / "bench.R"
        data.to_csv(csv, index=False)
        script.write_text(R_SCRIPT, encoding="utf-8")
        out = subprocess.run(
            [rscript, str(script), str(csv), str(repeats)],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            print(f"(R failed: {out.stderr.strip()[:200]})", file=sys.stderr)
            return None
        return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="n = 140 and 10,000 only, fewer repeats")
    ap.add_argument("--no-r", action="store_true", help="skip lme4 even if Rscript is present")
    args = ap.parse_args(argv)

    sizes = SIZES[:2] if args.quick else SIZES
    has_sm = available("statsmodels")
    has_mx = available("mixedlm")
    print("ipdmeta.mixed benchmark: y ~ 6-level factor + 3 covariates + (1 | study), REML,")
    print("fit + fixed-effects table (Satterthwaite df where available); median of repeats;")
    print(
        f"BLAS threads: {os.environ.get('OPENBLAS_NUM_THREADS')}; lme4 timed inside R "
        "(proc.time around lmer + summary; R start-up not counted)\n"
    )
    header = (
        f"{'n (studies)':>16} | {'ipdmeta':>10} | {'lme4+lmerTest':>13} | "
        f"{'statsmodels':>11} | {'mixedlm':>10} | {'vs mixedlm':>10} | fastest"
    )
    print(header)
    print("-" * len(header))
    rows = []
    for n, k in sizes:
        data = make_data(n, k)
        reps = (9 if n <= 10_000 else 5) if not args.quick else 3
        fns: dict[str, Callable[[], object]] = {"ipdmeta": lambda d=data: run_ipdmeta(d)}
        if has_mx:
            fns["mixedlm"] = lambda d=data: run_mixedlm(d)
        if has_sm and n <= 10_000:
            fns["statsmodels"] = lambda d=data: run_statsmodels(d)
        t = timed_interleaved(fns, reps)
        if has_sm and n > 10_000:
            # statsmodels takes seconds here: fewer repeats, on its own.
            t.update(timed_interleaved({"statsmodels": lambda d=data: run_statsmodels(d)}, 2))
        t_ip, t_mx, t_sm = t["ipdmeta"], t.get("mixedlm"), t.get("statsmodels")
        t_r = None if args.no_r else run_r(data, 3 if n > 10_000 else reps)
        peers = {"lme4": t_r, "statsmodels": t_sm, "mixedlm": t_mx}
        best_peer = min((x for x in peers.values() if x is not None), default=None)
        fastest = "ipdmeta" if best_peer is None or t_ip < best_peer else "a peer"
        ratio = f"{t_mx / t_ip:,.1f}x" if t_mx else "n/a"
        print(
            f"{n:>9,} ({k:>4}) | {fmt(t_ip):>10} | {fmt(t_r):>13} | {fmt(t_sm):>11} | "
            f"{fmt(t_mx):>10} | {ratio:>10} | {fastest}"
        )
        rows.append((n, t_ip, t_r, t_sm, t_mx))

    print("\nIssue 4's table for the peers on this machine type (ms): lme4, statsmodels, mixedlm")
    for n, _k in sizes:
        a, b, c = ISSUE_MS[n]
        print(f"  n = {n:>7,}: {a:>6,} {b:>6,} {c:>6,}")

    from ipdmeta import mixed

    fit = mixed.lmm(FORMULA, make_data(140, 23), reml=True)
    fit.bootstrap(10, seed=0)
    t0 = time.perf_counter()
    fit.bootstrap(1000, seed=1)
    t_boot = time.perf_counter() - t0
    print(f"\nParametric bootstrap, 1,000 refits at n = 140: {fmt(t_boot)} (goal: under 2 s)")

    goals = []
    for n, t_ip, t_r, t_sm, t_mx in rows:
        peers = [t for t in (t_r, t_sm, t_mx) if t is not None]
        goals.append((f"fastest at n = {n:,}", all(t_ip < t for t in peers)))
        if n == 100_000 and t_mx is not None:
            goals.append(("5x faster than mixedlm at n = 100,000", t_mx / t_ip >= 5.0))
    goals.append(("1,000 bootstrap refits under 2 s", t_boot < 2.0))
    print("\nGoals:")
    for name, ok in goals:
        print(f"  [{'met' if ok else 'NOT met'}] {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
