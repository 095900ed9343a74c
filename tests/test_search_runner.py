"""The time limit on running a search: heavy searches run on a bounded set of threads and are
waited for until their deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from coolpapers.search.runner import BoundedRunner, SearchTimeout


@pytest.fixture
def runner() -> Iterator[BoundedRunner]:
    r = BoundedRunner(2)
    yield r
    r.close()


def soon(seconds: float) -> float:
    return time.monotonic() + seconds


def test_returns_the_result_and_raises_the_error(runner: BoundedRunner) -> None:
    assert runner.run(lambda: 42, soon(5)) == 42

    def fail() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        runner.run(fail, soon(5))
    assert runner.run(lambda: "slots given back", soon(5)) == "slots given back"


def test_a_search_past_its_deadline_is_a_timeout_and_keeps_its_slot(
    runner: BoundedRunner,
) -> None:
    release = threading.Event()
    finished = threading.Event()

    def late() -> None:
        release.wait(10)
        finished.set()

    started = time.monotonic()
    with pytest.raises(SearchTimeout, match="too long"):
        runner.run(late, soon(0.2))
    # answered at the deadline (not before), while the search still runs (not after it)
    assert time.monotonic() - started >= 0.15
    assert not finished.is_set()
    with pytest.raises(SearchTimeout, match="too long"):
        runner.run(lambda: release.wait(10), soon(0.2))
    # both slots are held by the two searches still running: a third is not even started
    ran = threading.Event()
    with pytest.raises(SearchTimeout, match="busy"):
        runner.run(ran.set, soon(0.2))
    assert not ran.is_set()
    release.set()  # the late searches finish, and give their slots back
    assert runner.run(lambda: "again", soon(5)) == "again"
    assert runner.run(lambda: "and again", soon(5)) == "and again"


def test_a_waiting_search_gets_a_slot_that_frees_before_its_deadline(
    runner: BoundedRunner,
) -> None:
    release = threading.Event()
    holding = threading.Semaphore(0)

    def hold() -> None:
        holding.release()
        release.wait(60)

    holders = [threading.Thread(target=runner.run, args=(hold, soon(60))) for _ in range(2)]
    for t in holders:
        t.start()
    try:
        for _ in holders:  # both slots are taken: the next search must wait for one
            assert holding.acquire(timeout=30)
        timer = threading.Timer(0.2, release.set)
        timer.start()
        # it runs only once a holder has finished, so only after the release
        assert runner.run(lambda: release.is_set() and "waited", soon(30)) == "waited"
    finally:
        release.set()
        for t in holders:
            t.join()


def test_after_close_nothing_waits(runner: BoundedRunner) -> None:
    runner.close()
    with pytest.raises(RuntimeError, match="closed"):
        runner.run(lambda: 1, soon(1))
    for _ in range(3):  # more than its slots: each refusal gave its slot back
        with pytest.raises(RuntimeError, match="closed"):
            runner.run(lambda: 1, soon(0.1))
