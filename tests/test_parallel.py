"""The parallel map gives what the plain loop gives, in order, and passes errors on."""

from __future__ import annotations

import pytest

from ipdmeta import _parallel
from ipdmeta._parallel import BackgroundMap, parallel_map
from ipdmeta.errors import ModelSpecError


def square_unless_three(x: int) -> int:
    if x == 3:
        raise ModelSpecError("three is refused")
    return x * x


def test_results_in_item_order() -> None:
    items = [5, 1, 4, 2, 0]
    assert parallel_map(square_unless_three, items) == [25, 1, 16, 4, 0]


def test_closures_reach_forked_workers() -> None:
    offset = 10
    assert parallel_map(lambda x: x + offset, [1, 2, 3]) == [11, 12, 13]


def test_serial_fallback_gives_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_parallel, "usable_cores", lambda: 1)
    with BackgroundMap(square_unless_three, [2, 4]) as work:
        assert work._pool is None
        assert work.results() == [4, 16]


def test_worker_error_reaches_the_caller() -> None:
    with pytest.raises(ModelSpecError, match="three is refused"):
        parallel_map(square_unless_three, [1, 2, 3, 4])


def test_empty_and_single_items() -> None:
    assert parallel_map(square_unless_three, []) == []
    assert parallel_map(square_unless_three, [7]) == [49]


@pytest.mark.parametrize("cores", [1, 2])
def test_the_first_results_come_while_the_others_are_still_made(
    monkeypatch: pytest.MonkeyPatch, cores: int
) -> None:
    """results(n) gives the first n in order; an error in a later item reaches the caller
    when every result is asked for, in worker processes and in turn alike."""
    monkeypatch.setattr(_parallel, "usable_cores", lambda: cores)
    with BackgroundMap(square_unless_three, [1, 2, 3, 4]) as work:
        assert work.results(2) == [1, 4]
        assert work.results(1) == [1]
        with pytest.raises(ModelSpecError, match="three is refused"):
            work.results()


def add_one(x: int) -> int:
    return x + 1


@pytest.mark.parametrize("cores", [1, 2])
def test_more_work_goes_to_the_same_workers(monkeypatch: pytest.MonkeyPatch, cores: int) -> None:
    """more() sends further items to the workers already forked (pickled, since they did
    not exist at the fork); without workers it makes them here when asked."""
    import os

    monkeypatch.setattr(_parallel, "usable_cores", lambda: cores)
    with BackgroundMap(lambda _: os.getpid(), [None, None]) as work:
        work.results()
        forked = {p.pid for p in work._pool._pool} if cores > 1 else {os.getpid()}
        more = work.more(_pid_plus, [0, 10])
        pids = {p - offset for p, offset in zip(more.results(), [0, 10], strict=True)}
        assert pids <= forked
        assert work.more(add_one, [1, 2, 3]).results() == [2, 3, 4]


def _pid_plus(offset: int) -> int:
    import os

    return os.getpid() + offset


def test_this_process_keeps_to_one_blas_thread_while_workers_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The workers use every core; BLAS threads here would take cores from them. The
    limit ends with the map."""
    from ipdmeta._threads import _controller

    _controller()  # NumPy's and SciPy's BLAS both loaded
    monkeypatch.setattr(_parallel, "usable_cores", lambda: 2)
    before = _blas_threads()
    with BackgroundMap(square_unless_three, [1, 2]) as work:
        assert set(_blas_threads()) == {1}
        assert work.results() == [1, 4]
    assert _blas_threads() == before


def test_a_pool_that_cannot_start_leaves_blas_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    from ipdmeta._threads import _controller

    _controller()
    monkeypatch.setattr(_parallel, "usable_cores", lambda: 2)
    before = _blas_threads()

    def refused(*args: object, **kwargs: object) -> None:
        raise OSError("no more processes")

    monkeypatch.setattr(_parallel.multiprocessing.get_context("fork"), "Pool", refused)
    with pytest.raises(OSError, match="no more processes"):
        BackgroundMap(square_unless_three, [1, 2])
    assert _blas_threads() == before


def _blas_threads() -> list[int]:
    """Each BLAS library's threads (OpenMP's pools, which other tests may load, are not
    limited by the map)."""
    from threadpoolctl import threadpool_info

    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
