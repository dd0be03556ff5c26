"""Side-by-side timing of the logistic mixed model: ipdmeta's ``mixed.glmm`` vs lme4's glmer.

Model: ``responder ~ diagnosis + age + (1 | study_id)``, binomial (logit), a random
intercept per study, fitted by maximum likelihood with the Laplace approximation (glmer's
default, nAGQ = 1) and with adaptive Gauss-Hermite quadrature on 7 nodes (nAGQ = 7; glmer
allows it here since the model has one scalar random effect).

    .venv/bin/python benchmarks/bench_glmm.py              # n = 140, 10,000, 100,000
    .venv/bin/python benchmarks/bench_glmm.py --quick      # n = 140 and 10,000, fewer repeats
    .venv/bin/python benchmarks/bench_glmm.py --max-n 10000  # skip the sizes above 10,000
    .venv/bin/python benchmarks/bench_glmm.py --slow-peers   # all peers at n = 100,000 too

Peers, each timed from the DataFrame to the fitted model:
- ipdmeta: ``mixed.glmm(formula, data)`` and ``mixed.glmm(formula, data, nagq=7)``;
- lme4 via Rscript (if R is installed): ``glmer(formula, data, family = binomial)`` with
  glmer's default control, and again with a tight control (bobyqa, rhoend = 1e-10,
  tolPwrss = 1e-10; one timed fit per size, not in --quick); timed inside R with
  proc.time() around the glmer call alone, so R's start-up, loading lme4 and reading the
  data (a CSV written here) are not counted. The "Rscript wall" column is the other
  view: from launching Rscript to the end of its first (cold) Laplace fit, start-up,
  library(lme4) and read.csv included;
- statsmodels (if installed): ``BinomialBayesMixedGLM(...).fit_vb()``, for reference
  only: variational Bayes (a posterior approximation with its own priors), a different
  estimator from the maximum likelihood of the other two.

statsmodels and glmer's tight control run up to n = 10,000 only unless --slow-peers is
given (at n = 100,000 they take about 7 and 6 minutes on a 2-CPU machine).

The medians of several repeats are shown, after one untimed warm-up call per tool (at
n = 100,000 a single timed fit and no warm-up); the Python tools take turns within each
repeat so that load changes on a shared machine hit all. BLAS runs single-threaded
(OPENBLAS_NUM_THREADS=1 unless already set) for the Python tools; R uses its own BLAS.
Agreement with glmer is shown per size as the largest relative difference in the fixed
effects, max |b_ipdmeta - b_glmer| / |b_glmer|, and the difference in deviance
(-2 log L; negative: ipdmeta found the higher likelihood).
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
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _common import available, fmt  # noqa: E402

FORMULA = "responder ~ diagnosis + age + (1 | study_id)"
SIZES = ((140, 23), (10_000, 200), (100_000, 1_000))
METHODS = (("Laplace", 1), ("nAGQ=7", 7))
DIAGNOSES = {"depression": 0.0, "anxiety": 0.3, "ptsd": -0.4, "ocd": 0.6}  # log odds ratios
STUDY_SD = 0.8
# statsmodels' fit_vb (431 s) and glmer's tight control (about 3 min per method) at
# n = 100,000 on a 2-CPU machine: run above this size only with --slow-peers.
SLOW_PEERS_MAX_N = 10_000


def make_data(n: int, n_studies: int, seed: int = 20201) -> pd.DataFrame:
    """Simulated IPD: skewed study sizes (many small studies), a 0/1 response, a
    4-level diagnosis, age, and a random intercept per study with SD 0.8 (log odds)."""
    rng = np.random.default_rng(seed)
    weights = rng.pareto(1.5, n_studies) + 0.2
    weights /= weights.sum()
    study = np.concatenate([np.arange(n_studies), rng.choice(n_studies, n - n_studies, p=weights)])
    u = rng.normal(0.0, STUDY_SD, n_studies)
    dx = rng.integers(0, len(DIAGNOSES), n)
    age = rng.normal(45.0, 13.0, n)
    eta = -0.3 + u[study] + np.array(list(DIAGNOSES.values()))[dx] - 0.01 * (age - 45.0)
    responder = (rng.random(n) < 1.0 / (1.0 + np.exp(-eta))).astype(int)
    labels = np.array([f"S{i:04d}" for i in range(n_studies)], dtype=object)
    return pd.DataFrame(
        {
            "responder": responder,
            "diagnosis": np.array(list(DIAGNOSES), dtype=object)[dx],
            "age": age,
            "study_id": labels[study],
        }
    )


@dataclass
class Timing:
    seconds: float | None = None  # median of the repeats that succeeded
    failed: str | None = None  # the exception's name, if a call raised
    result: Any = None
    times: list[float] = field(default_factory=list)


def timed_interleaved(
    fns: dict[str, Callable[[], object]], repeats: int, warm_up: bool = True
) -> dict[str, Timing]:
    """Median seconds per tool; the tools take turns within each repeat so that a change
    of load on a shared machine hits them alike. One untimed warm-up call each, if
    ``warm_up``. A tool whose call raises is timed to the failure and not called again."""
    out = {name: Timing() for name in fns}
    for _ in range(repeats + (1 if warm_up else 0)):
        for name, fn in fns.items():
            timing = out[name]
            if timing.failed:
                continue
            t0 = time.perf_counter()
            try:
                timing.result = fn()
            except Exception as exc:
                timing.failed = type(exc).__name__
                timing.seconds = time.perf_counter() - t0
                print(f"  ({name}: failed after {fmt(timing.seconds)}: {exc})", file=sys.stderr)
                continue
            timing.times.append(time.perf_counter() - t0)
    for timing in out.values():
        kept = timing.times[1:] if warm_up and len(timing.times) > 1 else timing.times
        if not timing.failed and kept:
            timing.seconds = statistics.median(kept)
    return out


def run_ipdmeta(data: pd.DataFrame, nagq: int) -> object:
    from ipdmeta import mixed

    return mixed.glmm(FORMULA, data, nagq=nagq)


def run_statsmodels(data: pd.DataFrame) -> object:
    """Fixed part by patsy, the study indicators as a sparse matrix (a dense one would
    be n x studies)."""
    import patsy
    from scipy import sparse
    from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM

    y, X = patsy.dmatrices("responder ~ diagnosis + age", data, return_type="dataframe")
    codes, levels = pd.factorize(data["study_id"], sort=True)
    Z = sparse.csr_matrix(
        (np.ones(codes.size), (np.arange(codes.size), codes)), shape=(codes.size, levels.size)
    )
    model = BinomialBayesMixedGLM(
        y.to_numpy().ravel(),
        X.to_numpy(),
        Z,
        np.zeros(levels.size, dtype=int),
        vcp_p=1.0,
        fe_p=2.0,
        fep_names=list(X.columns),
        vcp_names=["study_id"],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit_vb()


R_SCRIPT = r"""
suppressMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
d$diagnosis <- factor(d$diagnosis); d$study_id <- factor(d$study_id)
reps <- as.integer(args[2]); warm <- args[3] == "1"; tight <- args[4] == "1"
f <- responder ~ diagnosis + age + (1 | study_id)
controls <- list(default = glmerControl())
if (tight) controls$tight <- glmerControl(
  optimizer = "bobyqa", optCtrl = list(rhoend = 1e-10, maxfun = 1e5), tolPwrss = 1e-10)
fit <- function(nagq, ctl) {
  msgs <- character(0)
  m <- withCallingHandlers(
    glmer(f, d, family = binomial, nAGQ = nagq, control = ctl),
    warning = function(w) { msgs <<- c(msgs, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(w) { msgs <<- c(msgs, conditionMessage(w)); invokeRestart("muffleMessage") })
  attr(m, "msgs") <- c(msgs, m@optinfo$conv$lme4$messages)
  m
}
first <- TRUE
for (nagq in c(1L, 7L)) for (cn in names(controls)) {
  # The tight control: one timed fit, after the default's have warmed glmer up.
  n_fits <- if (cn == "tight") 1L else reps + warm
  times <- numeric(0)
  for (i in seq_len(n_fits)) {
    t0 <- proc.time()[["elapsed"]]
    m <- fit(nagq, controls[[cn]])
    times <- c(times, proc.time()[["elapsed"]] - t0)
    if (first) { cat("COLD\n"); flush(stdout()); first <- FALSE }
  }
  if (warm && cn == "default" && length(times) > 1) times <- times[-1]
  cat(sprintf("RES %d %s %.6f %.10f %.10f %s\n", nagq, cn, median(times),
              -2 * as.numeric(logLik(m)), getME(m, "theta")[[1]],
              paste(sprintf("%.12g", fixef(m)), collapse = " ")))
  for (msg in unique(attr(m, "msgs")))
    cat(sprintf("MSG %d %s %s\n", nagq, cn, gsub("\n", " ", msg)))
  flush(stdout())
}
"""


@dataclass
class RFit:
    seconds: float
    deviance: float
    theta: float
    beta: np.ndarray
    messages: list[str] = field(default_factory=list)


def run_r(
    data: pd.DataFrame, repeats: int, warm_up: bool, tight: bool
) -> tuple[dict[tuple[int, str], RFit], float | None]:
    """glmer's fits keyed by (nAGQ, control), and the Rscript wall time from launch to
    the end of the first (cold) fit."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return {}, None
    fits: dict[tuple[int, str], RFit] = {}
    cold = None
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "data.csv"
        script = Path(tmp) / "bench.R"
        data.to_csv(csv, index=False)
        script.write_text(R_SCRIPT, encoding="utf-8")
        cmd = [rscript, str(script), str(csv), str(repeats), str(int(warm_up)), str(int(tight))]
        t0 = time.perf_counter()
        with subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as proc:
            assert proc.stdout is not None and proc.stderr is not None
            for line in proc.stdout:
                word, *rest = line.split()
                if word == "COLD":
                    cold = time.perf_counter() - t0
                elif word == "RES":
                    nagq, control, secs, dev, theta, *beta = rest
                    fits[int(nagq), control] = RFit(
                        float(secs), float(dev), float(theta), np.array(beta, dtype=float)
                    )
                elif word == "MSG":
                    fits[int(rest[0]), rest[1]].messages.append(" ".join(rest[2:]))
            err = proc.stderr.read()
        if proc.returncode != 0:
            print(f"(R failed: {err.strip()[:300]})", file=sys.stderr)
    return fits, cold


def rel_diff(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.max(np.abs(ours - theirs) / np.abs(theirs)))


def cell(t: Timing | None) -> str:
    if t is None:
        return "n/a"
    if t.failed:
        return f"FAIL {fmt(t.seconds)}"
    return fmt(t.seconds)


def machine() -> str:
    cores = os.cpu_count() or 0
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cores} logical CPUs{f' ({model})' if model else ''}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="n = 140 and 10,000 only, fewer repeats")
    ap.add_argument("--no-r", action="store_true", help="skip lme4 even if Rscript is present")
    ap.add_argument(
        "--no-tight", action="store_true", help="skip glmer with the tight control (slow)"
    )
    ap.add_argument(
        "--max-n", type=int, default=100_000, help="skip the sizes with more patients than this"
    )
    ap.add_argument(
        "--slow-peers",
        action="store_true",
        help=f"also run statsmodels and glmer's tight control above n = {SLOW_PEERS_MAX_N:,} "
        "(about 13 more minutes at n = 100,000)",
    )
    args = ap.parse_args(argv)

    sizes = [(n, k) for n, k in (SIZES[:2] if args.quick else SIZES) if n <= args.max_n]
    skipped = [n for n, _k in SIZES if n > args.max_n]
    has_sm = available("statsmodels")
    print("ipdmeta.mixed.glmm benchmark: responder ~ diagnosis (4 levels) + age + (1 | study_id),")
    print("binomial (logit), ML; time to fit, median of repeats; glmer timed inside R")
    print(
        f"(proc.time around glmer only). Machine: {machine()}; BLAS threads for Python: "
        f"{os.environ.get('OPENBLAS_NUM_THREADS')}\n"
    )
    rows: list[tuple[str, ...]] = []
    notes: list[str] = []
    r_messages: dict[str, list[str]] = {}  # glmer's warning -> the fits that gave it
    goal: str | None = None
    for n, k in sizes:
        print(f"  n = {n:,} ...", file=sys.stderr, flush=True)
        data = make_data(n, k)
        big = n > 10_000
        slow_ok = not big or args.slow_peers
        reps = 1 if big else (3 if args.quick else (9 if n <= 140 else 5))
        fns: dict[str, Callable[[], object]] = {
            label: (lambda d=data, q=q: run_ipdmeta(d, q)) for label, q in METHODS
        }
        if has_sm and slow_ok:
            fns["statsmodels"] = lambda d=data: run_statsmodels(d)
        t_py = timed_interleaved(fns, reps, warm_up=not big)
        tight = not (args.no_tight or args.quick) and slow_ok
        r_fits, r_cold = ({}, None) if args.no_r else run_r(data, reps, not big, tight)
        for label, q in METHODS:
            ours = t_py[label]
            r_def, r_tight = r_fits.get((q, "default")), r_fits.get((q, "tight"))
            ratio = d_def = d_tight = dev_def = dev_tight = "n/a"
            if ours.seconds and r_def and not ours.failed:
                ratio = f"{r_def.seconds / ours.seconds:,.1f}x"
            if ours.result is not None and not ours.failed:
                fit = ours.result
                beta = fit.coef.to_numpy()
                for control, r in (("default", r_def), ("tight", r_tight)):
                    if r is None:
                        continue
                    rel = np.abs(beta - r.beta) / np.abs(r.beta)
                    theta_diff = abs(fit.theta - r.theta) / r.theta
                    notes.append(
                        f"n = {n:,}, {label} vs glmer {control}: largest rel dβ for "
                        f"{fit.coef.index[int(np.argmax(rel))]}; rel d theta (study SD) "
                        f"{theta_diff:.1e}"
                    )
                if r_def:
                    d_def = f"{rel_diff(beta, r_def.beta):.1e}"
                    dev_def = f"{fit.deviance - r_def.deviance:+.1e}"
                if r_tight:
                    d_tight = f"{rel_diff(beta, r_tight.beta):.1e}"
                    dev_tight = f"{fit.deviance - r_tight.deviance:+.1e}"
            sm = t_py.get("statsmodels")
            sm_cell = cell(sm) if sm else ("n/a" if not has_sm else "not run")
            tight_cell = (
                fmt(r_tight.seconds)
                if r_tight
                else "n/a"
                if args.no_r
                else "skipped"
                if args.quick or args.no_tight
                else "not run"
            )
            rows.append(
                (
                    f"{n:>9,} ({k:>4})" if q == 1 else "",
                    label,
                    cell(ours),
                    fmt(r_def.seconds) if r_def else "n/a",
                    tight_cell,
                    fmt(r_cold) if q == 1 else "",
                    sm_cell if q == 1 else "",
                    ratio,
                    d_def,
                    d_tight,
                    dev_def,
                    dev_tight,
                )
            )
            for control, r in (("default", r_def), ("tight", r_tight)):
                for msg in r.messages if r else []:
                    r_messages.setdefault(msg[:150], []).append(f"{n:,} {label} {control}")
            if ours.failed:
                notes.append(f"n = {n:,}, ipdmeta {label}: {ours.failed} after {fmt(ours.seconds)}")
            if n == 100_000 and q == 1:
                if ours.failed:
                    goal = f"[NOT met] ipdmeta's fit failed ({ours.failed})"
                elif ratio != "n/a":
                    ok = r_def is not None and r_def.seconds >= 5.0 * (ours.seconds or 0.0)
                    goal = f"[{'met' if ok else 'NOT met'}] Laplace: glmer/ipdmeta = {ratio}"

    header = (
        "n (studies)",
        "method",
        "ipdmeta",
        "glmer",
        "glmer tight",
        "Rscript wall",
        "statsmodels VB",
        "glmer/ipdmeta",
        "rel dβ def",
        "rel dβ tight",
        "d dev def",
        "d dev tight",
    )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = " | ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))
    print(line)
    print("-" * len(line))
    for r in rows:
        print(" | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))
    print(
        "\nipdmeta: mixed.glmm(..., nagq=1 or 7). glmer: lme4 glmer(..., family = binomial, "
        "nAGQ = 1 or 7)\nwith its default control (glmerControl()); 'glmer tight': bobyqa, "
        "rhoend = 1e-10, tolPwrss = 1e-10\n(one fit). Rscript wall: Rscript launch to the end "
        "of its first, cold Laplace fit (start-up,\nlibrary(lme4), read.csv included). "
        "statsmodels VB: BinomialBayesMixedGLM.fit_vb(), variational\nBayes (its own "
        "priors), a different estimator from the maximum likelihood of the others: timing\n"
        "for reference only. glmer/ipdmeta: glmer (default control) time over ipdmeta's. "
        "rel dβ: max over\nthe fixed effects of |b_ipdmeta - b_glmer| / |b_glmer|, vs glmer "
        "with the default / tight control.\nd dev: ipdmeta's -2 log L minus glmer's "
        "(default / tight control); negative: ipdmeta's likelihood\nis higher. FAIL: the fit "
        "raised, after the time shown. 'not run': above n = "
        f"{SLOW_PEERS_MAX_N:,}\nwithout --slow-peers; 'skipped': --quick or --no-tight."
    )
    if skipped:
        print(f"Skipped (--max-n {args.max_n:,}): n = {', '.join(f'{n:,}' for n in skipped)}")
    notes += [f"glmer warned: {msg} (n = {'; '.join(fits)})" for msg, fits in r_messages.items()]
    if notes:
        print("\nNotes:")
        for note in notes:
            print(f"  {note}")

    print("\nGoal (issue): ipdmeta at least 5x faster than glmer at n = 100,000 in 1,000 studies")
    print(f"  {goal or '[not measured] n = 100,000 skipped or R unavailable'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
