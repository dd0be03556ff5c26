"""Time ipdmeta.meta against metafor (R) and statsmodels in one run; print the table.

    .venv/bin/python benchmarks/bench_meta.py            # full run (metafor k = 3,000 takes ~1 min)
    .venv/bin/python benchmarks/bench_meta.py --quick    # smoke run, seconds

Single meta-analyses: REML (and DerSimonian-Laird / Paule-Mandel, the estimators
statsmodels' combine_effects has) at k = 13, 1,000, 3,000 and 100,000 studies; metafor
only up to 3,000 (its cost grows with k^3). Batch: 100,000 meta-analyses of k = 20 by
``random_effects_batch`` against a loop of metafor ``rma()`` and of statsmodels.

Every timing is the best of a few repeats of the same call on the same simulated data
(seeded), measured in the same run; metafor is timed inside R (``system.time``), so R's
start-up is not counted. metafor and statsmodels are optional: a missing one is reported
as "not available" and the rest still runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ipdmeta import meta

SEED = 20261124
TAU2 = 0.1


def simulate(k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """k studies with sampling variances U(0.01, 0.5) and true tau2 = 0.1."""
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.01, 0.5, k)
    yi = rng.normal(0.2, np.sqrt(vi + TAU2))
    return yi, vi


def best_time(fn: Callable[[], Any], budget: float = 1.0, max_repeats: int = 5) -> float:
    """Best wall time of repeated calls (at least one; stops after ``budget`` seconds)."""
    best = float("inf")
    spent = 0.0
    for _ in range(max_repeats):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best = min(best, dt)
        spent += dt
        if spent > budget:
            break
    return best


# ------------------------------------------------------------------------------ metafor
R_SCRIPT = r"""
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
tasks <- readLines(args[1])
out <- c()
for (line in tasks) {
  parts <- strsplit(line, "\t")[[1]]
  kind <- parts[1]; method <- parts[2]; path <- parts[3]; reps <- as.integer(parts[4])
  d <- read.csv(path)
  if (kind == "single") {
    # system.time() resolves 1 ms: time `reps` fits in a row and divide
    t <- system.time(for (r in seq_len(reps)) fit <- rma(d$yi, d$vi, method = method))
    per_fit <- t[["elapsed"]] / reps
    out <- c(out, sprintf("%s\t%s\t%d\t%.6f\t%.10g", kind, method, nrow(d), per_fit, fit$tau2))
  } else {
    m <- max(d$row)
    rows <- split(d, d$row)
    failed <- 0L
    # Fisher scoring fails to converge on some simulated data sets; count them, go on
    t <- system.time(for (s in rows) {
      fit <- try(rma(s$yi, s$vi, method = method), silent = TRUE)
      if (inherits(fit, "try-error")) failed <- failed + 1L
    })[["elapsed"]]
    out <- c(out, sprintf("%s\t%s\t%d\t%.6f\t%d", kind, method, m, t, failed))
  }
}
writeLines(out, args[2])
"""


def metafor_available() -> str | None:
    """The metafor version, or None when R or metafor is missing."""
    if shutil.which("Rscript") is None:
        return None
    try:
        out = subprocess.run(
            ["Rscript", "-e", 'cat(as.character(packageVersion("metafor")))'],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    except (subprocess.SubprocessError, OSError):
        return None
    return out.stdout.strip() or None


def run_metafor(tasks: list[tuple[str, str, Path, int]], timeout: float) -> list[list[str]]:
    """Run the timing tasks in one R process; each row: kind, method, k or m, seconds, x."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bench.R"
        script.write_text(R_SCRIPT)
        task_file = Path(tmp) / "tasks.tsv"
        task_file.write_text(
            "\n".join(f"{kind}\t{m}\t{p}\t{reps}" for kind, m, p, reps in tasks) + "\n"
        )
        result = Path(tmp) / "out.tsv"
        subprocess.run(
            ["Rscript", str(script), str(task_file), str(result)],
            check=True,
            timeout=timeout,
            capture_output=True,
        )
        return [line.split("\t") for line in result.read_text().splitlines()]


# ------------------------------------------------------------------------------ statsmodels
def statsmodels_combine() -> Callable[..., Any] | None:
    try:
        from statsmodels.stats.meta_analysis import combine_effects
    except ImportError:
        return None
    return combine_effects


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    parser.add_argument("--no-r", action="store_true", help="skip metafor even if R is present")
    args = parser.parse_args(argv)

    sizes = [13, 1_000] if args.quick else [13, 1_000, 3_000, 100_000]
    r_max_k = 1_000 if args.quick else 3_000
    batch_m = 10_000 if args.quick else 100_000
    loop_m = 50 if args.quick else 300
    batch_k = 20

    mf_version = None if args.no_r else metafor_available()
    combine = statsmodels_combine()
    rows: list[dict[str, Any]] = []

    with tempfile.TemporaryDirectory() as tmp:
        r_tasks: list[tuple[str, str, Path, int]] = []
        data = {}
        for i, k in enumerate(sizes):
            yi, vi = simulate(k, SEED + i)
            data[k] = (yi, vi)
            path = Path(tmp) / f"single_{k}.csv"
            np.savetxt(path, np.column_stack([yi, vi]), delimiter=",", header="yi,vi", comments="")
            if mf_version and k <= r_max_k:
                reps = 100 if k < 100 else (2 if k <= 1_000 else 1)
                r_tasks.append(("single", "REML", path, reps))
                r_tasks.append(("single", "DL", path, reps))
        rng = np.random.default_rng(SEED)
        V = rng.uniform(0.01, 0.5, (batch_m, batch_k))
        Y = rng.normal(0.2, np.sqrt(V + TAU2))
        loop_path = Path(tmp) / "loop.csv"
        rows_idx = np.repeat(np.arange(1, loop_m + 1), batch_k)
        np.savetxt(
            loop_path,
            np.column_stack([rows_idx, Y[:loop_m].ravel(), V[:loop_m].ravel()]),
            delimiter=",",
            header="row,yi,vi",
            comments="",
        )
        if mf_version:
            r_tasks.append(("loop", "REML", loop_path, 1))

        # ---- ipdmeta and statsmodels, single analyses
        for k in sizes:
            yi, vi = data[k]
            for method in ("REML", "DL", "PM"):
                t = best_time(lambda y=yi, v=vi, m=method: meta.random_effects(y, v, method=m))
                rows.append({"tool": "ipdmeta", "method": method, "k": k, "seconds": t})
            if combine is not None:
                for method, sm_name in (("DL", "chi2"), ("PM", "iterated")):
                    t = best_time(
                        lambda y=yi, v=vi, n=sm_name: combine(y, v, method_re=n, use_t=False)
                    )
                    rows.append({"tool": "statsmodels", "method": method, "k": k, "seconds": t})

        # ---- batch
        t_batch = best_time(lambda: meta.random_effects_batch(Y, V, method="REML"), budget=3.0)
        batch_rate = batch_m / t_batch
        t_loop_ip = best_time(
            lambda: [meta.random_effects(Y[i], V[i]) for i in range(loop_m)], max_repeats=2
        )
        loop_rates = {"ipdmeta loop": loop_m / t_loop_ip}
        if combine is not None:
            t_sm = best_time(
                lambda: [combine(Y[i], V[i], method_re="iterated") for i in range(loop_m)],
                max_repeats=2,
            )
            loop_rates["statsmodels loop (PM)"] = loop_m / t_sm

        # ---- metafor
        metafor_failures = -1
        r_note = (
            "not available (R or metafor missing)" if not mf_version else f"metafor {mf_version}"
        )
        if args.no_r:
            r_note = "skipped (--no-r)"
        if mf_version and r_tasks:
            try:
                for kind, method, n, secs, extra in run_metafor(r_tasks, timeout=1800):
                    if kind == "single":
                        rows.append(
                            {
                                "tool": "metafor",
                                "method": method,
                                "k": int(n),
                                "seconds": float(secs),
                            }
                        )
                    else:
                        loop_rates["metafor loop"] = int(n) / float(secs)
                        metafor_failures = int(extra)
            except subprocess.CalledProcessError as exc:
                tail = (exc.stderr or b"").decode(errors="replace").strip().splitlines()[-3:]
                r_note = f"metafor failed: {' / '.join(tail)}"
            except (subprocess.SubprocessError, OSError) as exc:
                r_note = f"metafor failed: {exc}"

    if metafor_failures >= 0:
        r_note += (
            f"; in the loop of {loop_m} REML fits metafor stopped with an error "
            f"on {metafor_failures}"
        )
    batch_conv = meta.random_effects_batch(Y[:loop_m], V[:loop_m]).converged
    r_note += f"; ipdmeta converged on {int(batch_conv.sum())} of {loop_m}"
    print_table(rows, batch_m, batch_k, batch_rate, loop_rates, r_note)
    return 0


def _fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:8.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:8.1f} ms"
    return f"{seconds:8.2f} s "


def print_table(
    rows: list[dict[str, Any]],
    batch_m: int,
    batch_k: int,
    batch_rate: float,
    loop_rates: dict[str, float],
    r_note: str,
) -> None:
    print(
        f"ipdmeta.meta benchmark  (python {sys.version.split()[0]}, numpy {np.__version__}; "
        f"reference: {r_note})"
    )
    print()
    print("Single meta-analysis, wall time (best of repeats)")
    ks = sorted({r["k"] for r in rows})
    header = f"{'tool':<12} {'method':<6} " + " ".join(f"{'k=' + format(k, ','):>12}" for k in ks)
    print(header)
    print("-" * len(header))
    keys = sorted({(r["tool"], r["method"]) for r in rows}, key=lambda x: (x[1], x[0]))
    lookup = {(r["tool"], r["method"], r["k"]): r["seconds"] for r in rows}
    for tool, method in keys:
        cells = []
        for k in ks:
            t = lookup.get((tool, method, k))
            cells.append(f"{_fmt(t):>12}" if t is not None else f"{'-':>12}")
        print(f"{tool:<12} {method:<6} " + " ".join(cells))
    print()
    print("Speed-up of ipdmeta over metafor (same method, same k)")
    for (tool, method, k), t in sorted(lookup.items()):
        if tool == "metafor" and ("ipdmeta", method, k) in lookup:
            print(f"  {method:<5} k={k:>7,}: {t / lookup[('ipdmeta', method, k)]:10,.0f} x")
    print()
    print(f"Batch: REML meta-analyses of k = {batch_k} per second")
    print(f"  ipdmeta random_effects_batch ({batch_m:,} at once): {batch_rate:12,.0f} /s")
    for name, rate in loop_rates.items():
        print(f"  {name:<41}: {rate:12,.0f} /s")
    big = lookup.get(("ipdmeta", "REML", 100_000))
    print()
    print("Goals (issue 3)")
    if big is not None:
        verdict = "met" if big < 1.0 else "NOT met"
        print(f"  REML at k = 100,000 under 1 s: {_fmt(big).strip()} -> {verdict}")
    verdict = "met" if batch_rate > 100_000 else "NOT met"
    print(
        f"  batch over 100,000 REML analyses (k = 20) per second: {batch_rate:,.0f}/s -> {verdict}"
    )
    print(json.dumps({"rows": rows, "batch_rate": batch_rate, "loop_rates": loop_rates}))


if __name__ == "__main__":
    raise SystemExit(main())
