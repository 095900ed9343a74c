"""A day list from the page cache (``web.page_cache``) against a static file of the same bytes,
with the uncached render as the baseline, on SQLite and Postgres; then requests per second of
``coolpapers serve --workers N``.

The database holds every real day bundled in tests/fixtures/arxiv/rss/rss-*.xml, ingested
through the pipeline (SQLite in a temporary directory; Postgres in a throwaway schema when
COOLPAPERS_TEST_DATABASE_URL is set or the test suite's server answers). The real app
(scheduler off) runs under uvicorn in a subprocess (one worker, 127.0.0.1) with bench-only
routes: ``/benchstatic`` (the page's exact bytes as a static file), ``/benchbytes`` (a route
answering those bytes: FastAPI's floor at this size) and ``/benchtiny`` (a route answering two
bytes: the floor of a request). Timed on one keep-alive connection (``RawHTTP``: the client's
own cost is small), interleaved, ROUNDS rounds after WARMUP, medians:
  * cached: the 25-card page of the 4-category union day, answered from memory;
  * uncached: the same page with a query parameter the page ignores, new each request: every
    request a miss (rendered, then kept), the page's cost before this cache;
  * the JSON twin, cached and uncached alike.
Then ``coolpapers serve --no-scheduler --workers N`` (SQLite) for N in WORKER_COUNTS: CLIENTS
connections (RawHTTP, one thread each) for LOAD_S on the cached page and on the uncached one;
requests per second and the server tree's CPU per request. The clients share the 2 cores.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from bench._common import (
    REPO,
    RSS_DIR,
    BenchError,
    RawHTTP,
    Stats,
    main_with_server,
    postgres_schema,
    reachable_postgres,
    served,
    sqlite_settings,
)

SPEC = "cs.AI,cs.CL,cs.CV,cs.LG"
DAY = "2026-08-21"
PAGE = f"/arxiv/{SPEC}?date={DAY}"
API = f"/api/arxiv/{SPEC}?date={DAY}"
STATIC = "/benchstatic/list.html"
BYTES = "/benchbytes"
TINY = "/benchtiny"
DB_ENV = "BENCH_PAGE_CACHE_DATABASE_URL"  # the server's database (may hold a password)
WARMUP, ROUNDS = 30, 300
WORKER_COUNTS = (1, 2)
CLIENTS = 8
LOAD_S = 4.0
START_TIMEOUT_S = 60.0


# ---------------------------------------------------------------- the server (child process)


def serve(data_dir: Path, static_dir: Path) -> None:
    """The app with the bench routes on a free port; print the port, then serve."""
    from fastapi.responses import Response
    from fastapi.staticfiles import StaticFiles

    from bench._common import serve_app
    from coolpapers.web import create_app

    settings = sqlite_settings(data_dir, database_url=os.environ.get(DB_ENV, ""))
    app = create_app(settings, scheduler=False)
    app.mount("/benchstatic", StaticFiles(directory=static_dir), name="benchstatic")

    async def same_bytes() -> Response:
        return Response((static_dir / "list.html").read_bytes(), media_type="text/html")

    async def tiny() -> Response:
        return Response(b"ok", media_type="text/plain")

    app.add_api_route(BYTES, same_bytes, include_in_schema=False)
    app.add_api_route(TINY, tiny, include_in_schema=False)
    serve_app(app)


# ---------------------------------------------------------------- the client (this process)


def build(database_url: str, data_dir: Path) -> float:
    """Every bundled rss-*.xml day ingested through the pipeline; the seconds it took."""
    from coolpapers import ingest, schema
    from coolpapers.db import make_engine, make_sessionmaker

    engine = make_engine(sqlite_settings(data_dir, database_url=database_url))
    try:
        schema.upgrade(engine)
        start = time.perf_counter()
        reports = ingest.ingest_files(make_sessionmaker(engine), sorted(RSS_DIR.glob("rss-*.xml")))
        elapsed = time.perf_counter() - start
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))
    finally:
        engine.dispose()
    if failed := [r.line() for r in reports if r.failed]:
        raise BenchError("ingest failed: " + "; ".join(failed))
    return elapsed


def _check(path: str, status: int, body: bytes, expected: bytes) -> None:
    if status != 200 or (path != TINY and body != expected and not path.startswith(API)):
        raise BenchError(f"GET {path}: {status}, {len(body)} bytes")


def latencies(port: int, expected: bytes) -> dict[str, Stats]:
    """Each target in turn on one keep-alive connection, ROUNDS rounds after WARMUP."""
    targets: dict[str, Callable[[int], str]] = {
        "static": lambda _: STATIC,
        "cached": lambda _: PAGE,
        "uncached": lambda i: f"{PAGE}&bench={i}",
        "route_same_bytes": lambda _: BYTES,
        "route_tiny": lambda _: TINY,
        "api_cached": lambda _: API,
        "api_uncached": lambda i: f"{API}&bench={i}",
    }
    samples: dict[str, list[float]] = {name: [] for name in targets}
    with RawHTTP("127.0.0.1", port) as client:
        for i in range(WARMUP + ROUNDS):
            for name, target in targets.items():
                path = target(i)
                start = time.perf_counter()
                status, body = client.get(path)
                elapsed = time.perf_counter() - start
                _check(path, status, body, expected)
                if i >= WARMUP:
                    samples[name].append(elapsed)
    return {name: Stats.of(values) for name, values in samples.items()}


def measure(database_url: str, label: str) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="coolpapers-bench-") as data,
        tempfile.TemporaryDirectory(prefix="coolpapers-bench-static-") as static,
    ):
        ingest_s = build(database_url, Path(data))
        args = ["bench.page_cache", "--serve", "--data-dir", data, "--static-dir", static]
        with served(args, START_TIMEOUT_S, {DB_ENV: database_url}) as (base_url, _):
            with httpx.Client(base_url=base_url, timeout=30.0) as client:
                page = client.get(PAGE)
                if page.status_code != 200:
                    raise BenchError(f"GET {PAGE}: {page.status_code}")
                shown = len(client.get(API).json()["papers"])
            (Path(static) / "list.html").write_bytes(page.content)
            port = int(base_url.rsplit(":", 1)[1])
            stats = latencies(port, page.content)
    static_median = stats["static"].median
    return {
        "database": label,
        "ingest_s": ingest_s,
        "bytes": len(page.content),
        "papers_shown": shown,
        "latency": {name: s.as_dict() for name, s in stats.items()},
        "ratio_to_static": {name: s.median / static_median for name, s in stats.items()},
    }


# ---------------------------------------------------------------- serve --workers N


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tree_cpu_s(pid: int) -> float:
    """User + system CPU of a process and its children, from /proc (children alive now)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(entry.name) == pid or int(fields[1]) == pid:
                total += (int(fields[11]) + int(fields[12])) / tick
    return total


@contextlib.contextmanager
def cli_server(data_dir: Path, workers: int) -> Iterator[int]:
    port = _free_port()
    env = dict(
        os.environ,
        COOLPAPERS_DATABASE_URL="",
        COOLPAPERS_DATA_DIR=str(data_dir),
        COOLPAPERS_SECRET_KEY="bench",
        COOLPAPERS_ARXIV_CATEGORIES=SPEC,
    )
    cmd = [sys.executable, "-m", "coolpapers", "serve", "--no-scheduler", "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--workers", str(workers)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            with contextlib.suppress(OSError, ConnectionError), RawHTTP("127.0.0.1", port) as c:
                if c.get("/status")[0] == 200:
                    break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise BenchError(f"coolpapers serve --workers {workers} did not answer")
            time.sleep(0.2)
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def load(port: int, pid_of_server: int, target: Callable[[int, int], str]) -> dict[str, Any]:
    """CLIENTS threads, each its own connection, for LOAD_S."""
    stop = threading.Event()
    barrier = threading.Barrier(CLIENTS + 1)
    counts = [0] * CLIENTS
    errors: list[BaseException] = []

    def client(index: int) -> None:
        try:
            with RawHTTP("127.0.0.1", port) as http:
                http.get(target(index, -1))
                barrier.wait()
                n = 0
                while not stop.is_set():
                    status, _ = http.get(target(index, n))
                    if status != 200:
                        raise BenchError(f"status {status}")
                    n += 1
                counts[index] = n
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait()
    cpu0, t0 = _tree_cpu_s(pid_of_server), time.perf_counter()
    stop.wait(LOAD_S)
    stop.set()
    for t in threads:
        t.join()
    elapsed, cpu = time.perf_counter() - t0, _tree_cpu_s(pid_of_server) - cpu0
    if errors:
        raise BenchError(f"under load: {errors[0]!r}") from errors[0]
    total = sum(counts)
    return {
        "requests": total,
        "req_per_s": total / elapsed,
        "server_cpu_ms_per_req": 1000 * cpu / total,
    }


def _server_pid(port: int) -> int:
    """The ``coolpapers serve`` parent listening on ``port`` (its children are the workers)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
                if b"serve" in cmdline and str(port).encode() in cmdline:
                    return int(entry.name)
    raise BenchError("the server's process was not found")


def workers_throughput() -> dict[str, Any]:
    found: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="coolpapers-bench-") as data:
        build("", Path(data))
        for workers in WORKER_COUNTS:
            with cli_server(Path(data), workers) as port:
                pid = _server_pid(port)
                found[str(workers)] = {
                    "cached": load(port, pid, lambda _i, _n: PAGE),
                    "uncached": load(port, pid, lambda i, n: f"{PAGE}&bench={i}-{n}"),
                }
    return found


def run() -> dict[str, Any]:
    results: dict[str, Any] = {"sqlite": measure("", "sqlite")}
    url, why_not = reachable_postgres()
    if url is None:
        results["postgres_skipped"] = why_not
    else:
        with postgres_schema(url) as scoped:
            results["postgres"] = measure(scoped, "postgres")
    results["workers"] = workers_throughput()
    results["clients"] = CLIENTS
    return results


def _ms(seconds: float) -> str:
    return f"{1000 * seconds:.2f} ms"


def report_lines(result: dict[str, Any]) -> list[str]:
    lines = []
    for kind in ("sqlite", "postgres"):
        if kind not in result:
            lines.append(f"{kind}: skipped ({result.get('postgres_skipped')})")
            continue
        r = result[kind]
        lat, ratio = r["latency"], r["ratio_to_static"]
        lines.append(
            f"{kind}: {PAGE} ({r['papers_shown']} cards, {r['bytes'] / 1024:.0f} KB), "
            f"medians of {lat['static']['n']} on one connection:"
        )
        lines.append(
            f"  cached {_ms(lat['cached']['median'])} vs static same bytes "
            f"{_ms(lat['static']['median'])} → ×{ratio['cached']:.2f}   "
            f"(uncached baseline {_ms(lat['uncached']['median'])} → ×{ratio['uncached']:.1f})"
        )
        lines.append(
            f"  JSON twin cached {_ms(lat['api_cached']['median'])} (×{ratio['api_cached']:.2f}), "
            f"uncached {_ms(lat['api_uncached']['median'])} (×{ratio['api_uncached']:.1f})"
        )
        lines.append(
            f"  floors: a route answering the same bytes {_ms(lat['route_same_bytes']['median'])} "
            f"(×{ratio['route_same_bytes']:.2f}), a route answering 2 bytes "
            f"{_ms(lat['route_tiny']['median'])} (×{ratio['route_tiny']:.2f})"
        )
    for workers, figures in result["workers"].items():
        c, u = figures["cached"], figures["uncached"]
        lines.append(
            f"serve --workers {workers}, {result['clients']} clients: cached "
            f"{c['req_per_s']:.0f} req/s ({c['server_cpu_ms_per_req']:.2f} ms CPU/req), "
            f"uncached {u['req_per_s']:.0f} req/s ({u['server_cpu_ms_per_req']:.2f} ms CPU/req)"
        )
    return lines


def main() -> None:
    main_with_server(__doc__, serve, run, report_lines)


if __name__ == "__main__":
    main()
