"""A mixed-model fit beside a busy process: ipdmeta.mixed with its BLAS threads matched to
the problem (one thread below 20,000 rows), and the same code with the library's default
threads, as it ran before. Fit, Satterthwaite fixed effects and type III anova; best of 3.

    .venv/bin/python benchmarks/bench_threads.py

The busy process is another Python multiplying 400 x 400 matrices in a loop (numpy, its
own BLAS threads), as a second analysis or a browser would keep a core busy. lme4 is not
run here: R's reference BLAS is single-threaded, so it has nothing to fight over.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time

import numpy as np
import pandas as pd

import ipdmeta._threads as threads
from ipdmeta import mixed
from ipdmeta.mixed import _model

BUSY = "import numpy as n\na = n.random.rand(400, 400)\nwhile True:\n    a @ a\n"


def _data(n: int, groups: int) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    g = rng.integers(0, groups, n)
    frame = pd.DataFrame({"g": g.astype(str), "x": rng.normal(size=n),
                          "f": rng.choice(list("abcde"), n)})  # fmt: skip
    frame["y"] = frame.x + rng.normal(size=n) + rng.normal(size=groups)[g]
    return frame


def _seconds(formula: str, data: pd.DataFrame) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        fit = mixed.lmm(formula, data)
        fit.fixed_effects()
        fit.anova()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    print(__doc__.split("\n\n")[0].replace("\n", " "))
    cases = [("y ~ f + x + (1 | g)", _data(2_000, 40)), ("y ~ f + x + (x | g)", _data(5_000, 100))]
    header = f"{'model':<22} | {'rows':>6} | {'threads':<16} | {'quiet':>9} | {'busy':>9}"
    print(header)
    print("-" * len(header))
    limited = threads.threads_for
    for label, chooser in (("matched", limited), ("library default", None)):
        replacement = chooser or (lambda n: contextlib.nullcontext())
        threads.threads_for = _model.threads_for = replacement  # type: ignore[assignment]
        for formula, data in cases:
            quiet = _seconds(formula, data)
            busy = subprocess.Popen([sys.executable, "-c", BUSY])
            time.sleep(0.5)
            try:
                loud = _seconds(formula, data)
            finally:
                busy.kill()
                busy.wait()
            print(f"{formula:<22} | {len(data):>6,} | {label:<16} | {quiet * 1e3:>6.0f} ms | "
                  f"{loud * 1e3:>6.0f} ms")  # fmt: skip
    threads.threads_for = _model.threads_for = limited  # type: ignore[assignment]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
