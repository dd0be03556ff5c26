"""Linear mixed models on data larger than memory: Parquet files or a Dask DataFrame.

Two passes over the data, partition by partition, on a Dask cluster:

1. the factors' levels in the rows with every model variable (and how many rows lack one);
2. each partition's per-study blocks (:func:`ipdmeta.mixed.study_blocks` with those
   levels), summed study by study in a tree.

The blocks of all the data then fit in memory (a few numbers per study), and the fit from
them is the fit on the pooled rows (:func:`ipdmeta.mixed.lmm_from_blocks`). No partition
is held longer than it takes to summarise it.

The cluster: ``scheduler=None`` starts a ``dask.distributed`` LocalCluster on this machine
(one single-threaded worker per core) for the fit and closes it after; an address
(``"tcp://host:8786"``) uses a cluster that is running, as dask-jobqueue starts on SLURM or
PBS; ``"synchronous"`` runs in this process (no cluster; for debugging).
"""

from __future__ import annotations

import glob
import logging
import re
import sys
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from ipdmeta._parallel import usable_cores
from ipdmeta.errors import DataError, ModelSpecError
from ipdmeta.mixed._design import check_variables, marked_factors, r_sorted
from ipdmeta.mixed._formula import parse_formula
from ipdmeta.mixed._study_blocks import StudyBlocks, check_formula, study_blocks

Progress = Callable[[str], None]


def _frame(data: object) -> Any:
    import dask.dataframe as dd

    if not isinstance(data, str | Path):
        return data
    text = str(data)
    files = sorted(glob.glob(text)) if any(c in text for c in "*?[") else [text]
    if not files or not all(Path(f).exists() for f in files):
        raise DataError(f"no Parquet file at {text!r}")
    try:
        return dd.read_parquet(files if len(files) > 1 else files[0])
    except Exception as exc:  # pyarrow and dask raise many types for unreadable files
        raise DataError(f"{text}: cannot be read as Parquet ({exc})") from None


@contextmanager
def _cluster(scheduler: str | None) -> Any:
    """A client for the scheduler asked for (None: a LocalCluster for this fit)."""
    if scheduler == "synchronous":
        import dask

        with dask.config.set(scheduler="synchronous"):
            yield None
        return
    from distributed import Client, LocalCluster

    if scheduler is None:
        import dask

        workers = usable_cores()
        # Workers forked from this process, not spawned: a spawned worker re-runs the
        # user's script, which breaks any script without an ``if __name__ == "__main__"``.
        method = "fork" if sys.platform.startswith("linux") else "spawn"
        with (
            dask.config.set({"distributed.worker.multiprocessing-method": method}),
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                host="127.0.0.1",
                silence_logs=logging.ERROR,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    if not re.match(r"^(tcp|tls|inproc|ws|wss)://", scheduler):
        raise ModelSpecError(
            f"scheduler must be an address such as tcp://host:8786, or 'synchronous'; "
            f"got {scheduler!r}"
        )
    try:
        client = Client(scheduler, timeout="10s")
    except OSError as exc:
        raise DataError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    with client:
        yield client


def _levels(
    frame: Any, formula: str, weights: str | None, say: Progress
) -> tuple[dict[str, tuple], int, Any]:
    """Pass 1: each factor's levels in the complete rows, and the rows lacking a value
    (or a weight)."""
    import dask

    parsed = parse_formula(formula)
    study = check_formula(parsed, formula)
    used = [*parsed.variables, *([weights] if weights and weights not in parsed.variables else [])]
    check_variables(used, frame.columns)
    frame = frame[used]
    complete = frame.dropna()
    marked = marked_factors(parsed.fixed)

    def is_factor(v: str) -> bool:
        dtype = frame[v].dtype
        numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        return v in marked or not numeric

    factors = [v for v in parsed.variables if v not in (parsed.response, study) and is_factor(v)]
    say("pass 1 of 2: factor levels")
    # Each partition's distinct values, joined here: no shuffle between workers.
    distinct = [complete[v].map_partitions(pd.Series.drop_duplicates) for v in factors]
    found = dask.compute(len(frame), len(complete), *distinct)
    total, kept = int(found[0]), int(found[1])
    levels = {
        v: tuple(str(x) for x in r_sorted(pd.unique(pd.Series(values)).tolist()))
        for v, values in zip(factors, found[2:], strict=True)
    }
    return levels, total - kept, complete


def _partition_blocks(
    formula: str, levels: dict[str, tuple], weights: str | None, part: pd.DataFrame
) -> Any:
    if not len(part):
        return None
    return study_blocks(formula, part, levels=levels, weights=weights)


def _add(a: StudyBlocks | None, b: StudyBlocks | None) -> StudyBlocks | None:
    if a is None:
        return b
    if b is None:
        return a
    return a.add(b)


def _say_on_stderr(message: str) -> None:
    print(f"ipdmeta: {message}", file=sys.stderr, flush=True)


def dask_blocks(
    formula: str,
    data: object,
    scheduler: str | None = None,
    progress: bool | Progress = False,
    weights: str | None = None,
) -> StudyBlocks:
    """The per-study blocks of ``formula`` over Parquet files or a Dask DataFrame.

    ``progress``: True prints each pass and the partitions done on stderr; a callable is
    called with those messages instead. ``weights``: the column of prior weights."""
    if weights is not None and not isinstance(weights, str):
        raise ModelSpecError("for Parquet or Dask data, weights are given as a column name")
    import dask

    say: Progress = (
        progress if callable(progress) else _say_on_stderr if progress else (lambda _: None)
    )
    frame = _frame(data)
    with _cluster(scheduler) as client:
        levels, dropped, complete = _levels(frame, formula, weights, say)
        parts = complete.to_delayed()
        say(f"pass 2 of 2: per-study blocks of {len(parts)} partitions")
        summarise = dask.delayed(_partition_blocks, pure=True)
        tasks = [summarise(formula, levels, weights, p) for p in parts]
        total: StudyBlocks | None = None
        step = max(1, len(tasks) // 10)
        if client is None:
            for done, task in enumerate(tasks, start=1):
                total = _add(total, task.compute())
                if done % step == 0 or done == len(tasks):
                    say(f"{done} of {len(tasks)} partitions summarised")
        else:
            from distributed import as_completed

            # Summed here as each partition's blocks arrive (a few numbers per study), so
            # that no more than one partial sum is held.
            for done, future in enumerate(as_completed(client.compute(tasks)), start=1):
                total = _add(total, future.result())
                future.release()
                if done % step == 0 or done == len(tasks):
                    say(f"{done} of {len(tasks)} partitions summarised")
    if total is None:
        raise ModelSpecError("no row has a value for every variable in the formula")
    return replace(total, n_dropped=dropped, _cache={})
