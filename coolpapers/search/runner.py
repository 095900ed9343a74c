"""A time limit on running a search: ``BoundedRunner``.

tantivy cannot be interrupted once a search runs, but it gives the GIL back while it works, so a
search run on another thread can be waited for with a timeout: past the deadline the request
gets its answer (``SearchTimeout``, a 503) and the search finishes unseen. What a flood of
heavy queries can take is bounded by the slots: at most ``slots`` such searches run at once,
the one that finished late still holding its slot until it is done, and a search that cannot
get a slot before its deadline is not started at all.

The hop to a thread costs ~70 µs, as much as a cheap search, so only queries estimated to be
heavy (``coolpapers.search.translate``) are run here; the rest run on the caller's thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

from coolpapers.errors import CoolpapersError

_T = TypeVar("_T")


class SearchTimeout(CoolpapersError):
    """The search could not be prepared or run within its deadline: 503."""

    status_code = 503


class BoundedRunner:
    """Runs callables on at most ``slots`` threads, each waited for until a deadline."""

    def __init__(self, slots: int) -> None:
        self._slots = threading.BoundedSemaphore(slots)
        self._size = slots
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._closed = False

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("the search runner is closed")
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._size, thread_name_prefix="search")
            return self._pool

    def run(self, work: Callable[[], _T], deadline: float) -> _T:
        """``work()``'s result, or SearchTimeout once ``deadline`` (``time.monotonic()``) has
        passed: while waiting for a slot, or for ``work`` to finish."""
        if not self._slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise SearchTimeout("the search is busy with other long queries: try again")
        try:
            future: Future[_T] = self._executor().submit(work)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            raise SearchTimeout("the search took too long: try fewer or rarer words") from None

    def close(self) -> None:
        """Stop taking work; searches still running finish on their threads."""
        with self._lock:
            pool, self._pool, self._closed = self._pool, None, True
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
