"""BLAS threads for small problems.

NumPy's BLAS starts a thread per core for every matrix product. On the small matrices of
a 140-patient model the threads cost more than they save, and when another process is
busy (or ipdmeta's own worker processes run side by side) they fight for the cores: a
bootstrap of a logistic model ran 2.6 times slower with them on this 2-core machine.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

__all__ = ["SMALL_ROWS", "limited_blas", "single_threaded", "threads_for"]

F = TypeVar("F", bound=Callable[..., Any])

# Below this many rows a fit's products take microseconds: one thread is fastest.
SMALL_ROWS = 20_000


@functools.cache
def _controller() -> Any:
    """The loaded thread pools, found once: finding them takes 0.5 ms, which a model's
    hundreds of refits (robustness panels, bootstraps) would pay each time."""
    # NumPy and SciPy each load a BLAS of their own (two OpenBLAS libraries): both are
    # loaded before the pools are listed, or the one loaded later would keep its threads.
    import numpy  # noqa: F401
    import scipy.linalg  # noqa: F401
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def single_threaded() -> AbstractContextManager[Any]:
    """BLAS limited to one thread inside the block (and restored after it)."""
    limiter: AbstractContextManager[Any] = _controller().limit(limits=1, user_api="blas")
    return limiter


def threads_for(n_rows: int) -> AbstractContextManager[Any]:
    """One BLAS thread for a small problem; the library's default for a large one."""
    return single_threaded() if n_rows < SMALL_ROWS else nullcontext()


def limited_blas(method: F) -> F:
    """A fitted model's method run with :func:`threads_for` its number of observations
    (``self.nobs``): the inference of a small model (Satterthwaite's derivatives,
    Kenward-Roger, profiles) never competes with a busy machine for the cores."""

    @functools.wraps(method)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        with threads_for(int(self.nobs)):
            return method(self, *args, **kwargs)

    return run  # type: ignore[return-value]
