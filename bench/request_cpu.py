"""CPU per request, by kind, of the scale bench's load mix, in process (no server, no sockets).

    python -m bench.request_cpu --data-dir DIR --queries build.json [--database-url URL]
        [--requests 600] [--warmup 200] [--cold] [--profile KIND [--top 40] [--callers NAME]]

The app is ``create_app(settings)`` driven through httpx's ASGI transport on one event loop,
with anyio's thread pool made inline (a sync route runs on the loop's thread), so that
``cProfile`` sees every call of a request and ``time.process_time`` charges it to the request
that made it. The mix is ``bench.scale.Mix`` (same days, paper sample and queries as the scale
bench, seeded), list pages warm in the page cache (``--cold``: as after each ingest). For each
kind: the median and mean CPU ms per request, and the mean spent in SQL statements (SQLite runs
in process: its part); ``--profile KIND`` prints that kind's cProfile. DIR is a
working copy (``bench.scale_build.working_copy``), never the shared cache: requests write
(queued papers, click counters untouched) and the page cache reads the generation.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import random
import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
import httpx._transports.asgi
from sqlalchemy import Engine, event

from bench import scale, scale_build
from bench._common import sqlite_settings
from coolpapers.web import create_app


async def _inline(func: Any, *args: Any, **_: Any) -> Any:
    return func(*args)


def _count_sql(engine: Engine, spent: list[float]) -> None:
    """Add the CPU time of every statement (the driver's part: SQLite runs in process) to
    ``spent[0]``."""

    @event.listens_for(engine, "before_cursor_execute")
    def before(conn: Any, *_: Any) -> None:
        conn.info["bench_cpu"] = time.process_time()

    @event.listens_for(engine, "after_cursor_execute")
    def after(conn: Any, *_: Any) -> None:
        spent[0] += time.process_time() - conn.info.pop("bench_cpu")


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    overrides = {"database_url": args.database_url} if args.database_url else {}
    settings = sqlite_settings(Path(args.data_dir), **overrides)
    queries = [tuple(q) for q in json.loads(Path(args.queries).read_text())["queries"]]
    days = scale.union_days(settings)
    rng = random.Random(scale_build.SEED)
    papers = scale.paper_sample(settings, days[-60:], rng)
    mix = scale.Mix(days, papers, queries)
    anyio.to_thread.run_sync = _inline  # type: ignore[assignment]
    # httpx asks per request whether trio runs by trying to import it: not the app's cost
    httpx._transports.asgi.is_running_trio = lambda: False
    app = create_app(settings, scheduler=False)
    cpu: dict[str, list[float]] = defaultdict(list)
    sql: dict[str, list[float]] = defaultdict(list)
    sql_spent = [0.0]
    # CPU time of this thread (every request runs on it): wall time on a loaded machine charges
    # whatever ran when the process was descheduled
    profiler = cProfile.Profile(time.thread_time)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://bench") as client,
    ):
        _count_sql(app.state.sessionmaker.kw["bind"], sql_spent)
        draw = random.Random(7)
        for n in range(args.warmup + args.requests):
            kind, path = mix(draw)
            if kind == "api":
                kind = "api_" + path.split("/")[2].split("?")[0]
            if kind == "list" and "?date=" not in path:
                kind = "list_latest"
            if args.cold:  # as after an ingest: every day list rendered again
                app.state.page_cache.clear()
            profiled = n >= args.warmup and kind == args.profile
            if profiled:
                profiler.enable()
            start, sql_start = time.process_time(), sql_spent[0]
            response = await client.get(path)
            spent = time.process_time() - start
            if profiled:
                profiler.disable()
            if response.status_code not in (200, 303):
                raise SystemExit(f"{path}: {response.status_code} {response.text[:300]}")
            if n >= args.warmup:
                cpu[kind].append(spent * 1000)
                sql[kind].append((sql_spent[0] - sql_start) * 1000)
    result = {
        kind: {
            "n": len(ms),
            "median_ms": round(statistics.median(ms), 2),
            "mean_ms": round(statistics.fmean(ms), 2),
            "p90_ms": round(statistics.quantiles(ms, n=10)[-1], 2) if len(ms) > 1 else ms[0],
            "sql_mean_ms": round(statistics.fmean(sql[kind]), 2),
        }
        for kind, ms in sorted(cpu.items())
    }
    if args.profile:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
        stats.print_stats(args.top)
        out.write("\n--- by own time\n")
        stats.sort_stats("tottime").print_stats(args.top)
        for pattern in args.callers:
            stats.print_callers(pattern)
        print(out.getvalue())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--queries", required=True, help="the build.json of the scale cache")
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--profile", default="")
    parser.add_argument("--cold", action="store_true", help="no page cache copy is ever kept")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--callers", action="append", default=[], help="who calls these")
    args = parser.parse_args()
    result = asyncio.run(_run(args))
    for kind, figures in result.items():
        print(f"{kind:14} " + "  ".join(f"{k} {v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
