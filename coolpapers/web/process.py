"""What a web process sets for itself when it starts serving (the app's lifespan, before the
first request), for its memory (issue 11: a web process within 300 MB at a million papers).

* glibc's malloc arenas: each new thread that mallocs gets an arena of its own, up to 8 per
  core (16 here), and an arena keeps what is freed in it for its next mallocs rather than
  handing it back. The sync routes run on a pool of threads, so a load spread its pages, rows
  and SQLite caches over 16 arenas that each held their high-water mark. Capped at
  ``MALLOC_ARENAS``: the routes' Python holds the GIL anyway, and 2 is the cores of a small
  server. ``MALLOC_ARENA_MAX`` in the environment, read by glibc itself, still wins.
* the threads of sync routes and dependencies (anyio's default limiter: 40): ``ROUTE_THREADS``.
  Each busy one holds a pooled database connection with its SQLite page cache
  (``db.WEB_SQLITE_CACHE_KIB``), its stack and its share of the arenas; 40 of them on 2 cores
  bought no throughput, only a GIL convoy. 16 still leave room for the few requests that wait
  on arXiv (``ingest.ensure_papers``, a handful of ids at most) while the rest are served.

* the threads of the CPU-bound pages (day lists and their JSON and feeds, search): their own
  limiter of ``RENDER_THREADS``, :func:`on_render_thread`. On the 16 route threads the GIL
  shared a CPU-bound render between every thread that had one, so a render of 15 ms took as
  long as all the renders in flight together: 50 clients with no think time at a million papers
  (SQLite, one worker, no ingest: ``bench scale``'s quiet load) saw 340 answers a second with
  p99 ~620 ms, a JSON day's p99 1.0 s; with the renders taken two at a time, in turn, 450-480
  a second with p99 250-270 ms (with ingests back to back beside them: p99 0.93 -> 0.46 s).
  The other sync routes keep the 16 threads: a paper page may wait on arXiv (``web.paper``
  renders there only what is stored), a PDF on its download.

Measured by ``python -m bench scale`` (1M papers, SQLite, the load of 50 clients with ingests
running), the web process's peak VmRSS and its anonymous part: 477 / 269 MB as it was; arenas
capped 416 / 212 (glibc's arenas 202 -> 142 MB, of which 114 -> 39 MB free at the end); 16
route threads 409 / 204; SQLite's cache 512 KiB (its high-water 55 -> 12 MB) 384 / 179. The
rest is the search index's mapped pages (~175 MB, file-backed), code and Python's own heap.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from starlette.requests import Request

M_ARENA_MAX = -8  # mallopt's parameter number (glibc's malloc.h)
MALLOC_ARENAS = 2
ROUTE_THREADS = 16
RENDER_THREADS = 2  # one renders while the other waits on the database or the index

_T = TypeVar("_T")


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas at ``arenas`` for the threads made from now on (those made
    before keep theirs); False when this is not glibc or the environment already says."""
    if "MALLOC_ARENA_MAX" in os.environ or "glibc.malloc.arena_max" in os.environ.get(
        "GLIBC_TUNABLES", ""
    ):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not a C library with mallopt (macOS, Windows)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))


def limit_route_threads(threads: int = ROUTE_THREADS) -> None:
    """At most ``threads`` sync routes (and sync dependencies) at once in this event loop."""
    anyio.to_thread.current_default_thread_limiter().total_tokens = threads


def render_limiter() -> anyio.CapacityLimiter:
    """The CPU-bound pages' own threads (made in the app's lifespan: the event loop's)."""
    return anyio.CapacityLimiter(RENDER_THREADS)


async def on_render_thread(request: Request, func: Callable[..., _T], *args: Any) -> _T:
    """``func(*args)`` on one of the app's render threads (see the module), in turn."""
    limiter: anyio.CapacityLimiter = request.app.state.render_limiter
    return await anyio.to_thread.run_sync(func, *args, limiter=limiter)
