"""Side-by-side timing of the parametric bootstrap of a logistic mixed model: ipdmeta's
``GlmmResult.bootstrap`` vs lme4's ``bootMer``.

Model and data as benchmarks/bench_glmm.py: ``responder ~ diagnosis + age + (1 |
study_id)``, binomial (logit), simulated IPD with many small studies; fitted with the
Laplace approximation (nAGQ = 1) and with 7-node adaptive quadrature (nAGQ = 7). Each tool
simulates new random intercepts and responses from its own fit and refits the model to
each simulated response.

    .venv/bin/python benchmarks/bench_glmm_bootstrap.py             # 200 refits, n = 140, 2,000
    .venv/bin/python benchmarks/bench_glmm_bootstrap.py --quick     # 100 refits, n = 140

Peers, each timed from the fitted model to the refits' fixed effects:
- ipdmeta: ``fit.bootstrap(refits, seed=1)`` (all refits side by side, each to its own
  optimum), the median of 3 timed calls after one untimed;
- lme4 via Rscript (if R is installed): ``bootMer(fit, fixef, nsim = refits, seed = 1)``,
  timed inside R with proc.time() around bootMer alone: with glmer's default control,
  whose refits each also compute the numerical Hessian and check convergence with it
  (``calc.derivs = TRUE``), and with ``glmerControl(calc.derivs = FALSE)``, which skips
  that (the estimates are the same; a user who knows it bootstraps this way).

The two draw different random numbers, so their refits agree only to Monte Carlo error:
the table shows the SD over the refits of the age coefficient from each, which should be
close (an estimate of the same standard error).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from _common import fmt  # noqa: E402
from bench_glmm import FORMULA, make_data  # noqa: E402

SIZES = ((140, 23), (2_000, 100))

R_SCRIPT = r"""
suppressMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
refits <- as.integer(args[2])
out <- list()
for (nagq in c(1L, 7L)) {
  for (derivs in c(TRUE, FALSE)) {
    m <- glmer(responder ~ diagnosis + age + (1 | study_id), data = d, family = binomial,
               nAGQ = nagq, control = glmerControl(calc.derivs = derivs))
    t0 <- proc.time()[["elapsed"]]
    b <- suppressWarnings(bootMer(m, fixef, nsim = refits, seed = 1))
    seconds <- proc.time()[["elapsed"]] - t0
    age <- b$t[, "age"]
    out[[paste0("nagq", nagq, if (derivs) "" else "_nod")]] <- list(
      seconds = seconds, sd_age = sd(age, na.rm = TRUE), failed = sum(is.na(age)))
  }
}
# JSON by hand: jsonlite is not among Debian's r-cran packages this project installs.
cat(paste0("{", paste(sprintf('"%s": {"seconds": %.6f, "sd_age": %.8g, "failed": %d}',
    names(out), sapply(out, `[[`, "seconds"), sapply(out, `[[`, "sd_age"),
    sapply(out, `[[`, "failed")), collapse = ", "), "}"))
"""


def time_ipdmeta(data, nagq: int, refits: int) -> tuple[float, float, int]:
    from ipdmeta import mixed

    fit = mixed.glmm(FORMULA, data, nagq=nagq)
    fit.bootstrap(10, seed=0)  # untimed: imports and caches
    times, boot = [], None
    for _ in range(3):
        t0 = time.perf_counter()
        boot = fit.bootstrap(refits, seed=1)
        times.append(time.perf_counter() - t0)
    assert boot is not None
    age = boot.replicates["age"].to_numpy()
    return statistics.median(times), float(np.nanstd(age, ddof=1)), int(np.isnan(age).sum())


def time_lme4(data, refits: int) -> dict[str, dict[str, float]] | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "data.csv"
        data.to_csv(csv, index=False)
        script = Path(tmp) / "boot.R"
        script.write_text(R_SCRIPT)
        done = subprocess.run(
            ["Rscript", str(script), str(csv), str(refits)], capture_output=True, text=True
        )
    if done.returncode != 0:
        print(f"  (lme4 failed: {done.stderr.strip().splitlines()[-1:]})")
        return None
    result: dict[str, dict[str, float]] = json.loads(done.stdout)
    return result


def _cell(peer: dict[str, float] | None, seconds: float, width: int) -> str:
    """lme4's time and its ratio to ipdmeta's."""
    if peer is None:
        return f"{'n/a':>{width}} {'n/a':>7}"
    return f"{fmt(peer['seconds']):>{width}} {peer['seconds'] / seconds:6.1f}x"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 refits at n = 140 only")
    parser.add_argument("--refits", type=int, default=None)
    args = parser.parse_args(argv)
    refits = args.refits or (100 if args.quick else 200)
    sizes = SIZES[:1] if args.quick else SIZES
    print(f"Parametric bootstrap of {FORMULA} (binomial), {refits} refits")
    header = (
        f"{'n':>7} {'method':>8} | {'ipdmeta':>10} {'lme4':>10} {'ratio':>7} "
        f"{'lme4 no derivs':>15} {'ratio':>7} | {'SD(age) ipdmeta':>16} {'lme4':>10} | "
        f"{'failed':>10}"
    )
    print(header)
    print("-" * len(header))
    for n, studies in sizes:
        data = make_data(n, studies)
        r = time_lme4(data, refits)
        for label, nagq in (("Laplace", 1), ("nAGQ=7", 7)):
            seconds, sd_age, failed = time_ipdmeta(data, nagq, refits)
            peer = r[f"nagq{nagq}"] if r else None
            light = r[f"nagq{nagq}_nod"] if r else None
            print(
                f"{n:>7,} {label:>8} | {fmt(seconds):>10} {_cell(peer, seconds, 10)} "
                f"{_cell(light, seconds, 15)} | {sd_age:>16.5f} "
                f"{peer['sd_age'] if peer else float('nan'):>10.5f} | "
                f"{failed:>3} / {int(peer['failed']) if peer else 0:>3}"
            )
    print(
        "ratio: lme4's time over ipdmeta's. lme4 no derivs: glmerControl(calc.derivs = FALSE)."
        "\nfailed: refits without an estimate, ipdmeta / lme4 (default control)."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
