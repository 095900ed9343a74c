"""Serve a stored day of a category union, against serving the same bytes as a static file.

A SQLite database gets every real day bundled in tests/fixtures/arxiv/rss/rss-*.xml; the real
app (scheduler off) runs under uvicorn in a subprocess (one worker, 127.0.0.1, free port), with
a bench-only ``/benchstatic`` mount. The page is fetched once and its exact bytes are written
into that mount, so both URLs answer the same body from the same server. Measured from an
httpx client: sequential latency (interleaved), then throughput at 10 concurrent connections
(one thread and one httpx.Client each), with the server's and the client's CPU time per request
(the server's from /proc, so a client-bound static figure can be told apart).

After its first request the page comes from the page cache (``web.page_cache``): this is the
cached figure; ``bench.page_cache`` has the uncached render beside it as the baseline.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench._common import (
    RSS_DIR,
    BenchError,
    Stats,
    ingest_files_into,
    main_with_server,
    serve_app_with_static,
    served,
    sqlite_settings,
)

SPEC = "cs.AI,cs.CL,cs.CV,cs.LG"
DAY = "2026-08-21"
PAGE = f"/arxiv/{SPEC}?date={DAY}"
API = f"/api/arxiv/{SPEC}?date={DAY}"
STATIC_NAME = "list.html"
STATIC = f"/benchstatic/{STATIC_NAME}"
WARMUP = 20
SEQUENTIAL = 200
CONCURRENCY = 10
DURATION_S = 5.0
START_TIMEOUT_S = 30.0


# ---------------------------------------------------------------- the server (child process)


def serve(data_dir: Path, static_dir: Path) -> None:
    """Run the app with the bench mount on a free port; print the port, then serve."""
    serve_app_with_static(sqlite_settings(data_dir), static_dir)


# ---------------------------------------------------------------- the client (this process)


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process (all its threads), from /proc; None where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _get(client: httpx.Client, path: str, expected: bytes) -> None:
    """GET, and check the answer: the exact bytes for the static file; for the page, a 200 of
    about the same size (a page that ever shows a clock must not stop the benchmark)."""
    response = client.get(path)
    same = response.content == expected
    if path != STATIC:
        same = abs(len(response.content) - len(expected)) <= len(expected) // 100
    if response.status_code != 200 or not same:
        raise BenchError(f"GET {path}: {response.status_code}, {len(response.content)} bytes")


def _sequential(base_url: str, body: bytes) -> dict[str, Stats]:
    """Interleaved dynamic/static requests on one keep-alive connection."""
    times: dict[str, list[float]] = {PAGE: [], STATIC: []}
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        for i in range(WARMUP + SEQUENTIAL):
            for path, samples in times.items():
                start = time.perf_counter()
                _get(client, path, body)
                elapsed = time.perf_counter() - start
                if i >= WARMUP:
                    samples.append(elapsed)
    return {path: Stats.of(samples) for path, samples in times.items()}


@dataclass(frozen=True)
class Load:
    requests: int
    seconds: float
    latency: Stats
    server_cpu_s: float | None
    client_cpu_s: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def as_dict(self) -> dict[str, Any]:
        cpu = self.server_cpu_s
        return {
            "requests": self.requests,
            "seconds": self.seconds,
            "req_per_s": self.per_second,
            "latency": self.latency.as_dict(),
            "server_cpu_ms_per_req": None if cpu is None else 1000 * cpu / self.requests,
            "client_cpu_ms_per_req": 1000 * self.client_cpu_s / self.requests,
        }


def _load(base_url: str, pid: int, path: str, body: bytes) -> Load:
    """CONCURRENCY threads, each with its own client, for DURATION_S after a short warm-up."""
    barrier = threading.Barrier(CONCURRENCY + 1)
    stop = threading.Event()
    counts = [0] * CONCURRENCY
    latencies: list[list[float]] = [[] for _ in range(CONCURRENCY)]
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            with httpx.Client(base_url=base_url, timeout=30.0) as client:
                for _ in range(3):
                    _get(client, path, body)
                barrier.wait()
                while not stop.is_set():
                    start = time.perf_counter()
                    _get(client, path, body)
                    latencies[index].append(time.perf_counter() - start)
                    counts[index] += 1
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(CONCURRENCY)]
    for t in threads:
        t.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait()  # broken when a worker failed: its error is raised below
    server_cpu, client_cpu, start = _cpu_seconds(pid), time.process_time(), time.perf_counter()
    stop.wait(DURATION_S)
    stop.set()
    for t in threads:
        t.join()  # requests in flight at `stop` finish and count: measure after them
    elapsed = time.perf_counter() - start
    server_cpu_end, client_cpu_end = _cpu_seconds(pid), time.process_time()
    if errors:
        raise BenchError(f"under load: {errors[0]!r}") from errors[0]
    server_cpu_s = None
    if server_cpu is not None and server_cpu_end is not None:
        server_cpu_s = server_cpu_end - server_cpu
    return Load(
        requests=sum(counts),
        seconds=elapsed,
        latency=Stats.of([x for xs in latencies for x in xs]),
        server_cpu_s=server_cpu_s,
        client_cpu_s=client_cpu_end - client_cpu,
    )


def build_database(data_dir: Path) -> dict[str, Any]:
    paths = sorted(RSS_DIR.glob("rss-*.xml"))
    reports, elapsed = ingest_files_into(data_dir, paths)
    return {
        "files": len(paths),
        "days": sorted({r.listing_date for r in reports if r.listing_date}),
        "ingest_s": elapsed,
    }


def run() -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="coolpapers-bench-") as data,
        tempfile.TemporaryDirectory(prefix="coolpapers-bench-static-") as static,
    ):
        db = build_database(Path(data))
        with (
            served(
                ["bench.serve_list", "--serve", "--data-dir", data, "--static-dir", static],
                START_TIMEOUT_S,
            ) as (base_url, pid),
            httpx.Client(base_url=base_url, timeout=30.0) as client,
        ):
            first = client.get(PAGE)
            if first.status_code != 200:
                raise BenchError(f"GET {PAGE}: {first.status_code}")
            body = first.content
            stable = client.get(PAGE).content == body  # recorded, not required
            (Path(static) / STATIC_NAME).write_bytes(body)
            api = client.get(API).json()
            sequential = _sequential(base_url, body)
            load = {path: _load(base_url, pid, path, body) for path in (PAGE, STATIC)}
    dyn, sta = sequential[PAGE], sequential[STATIC]
    return {
        "path": PAGE,
        "database": db,
        "papers_shown": len(api["papers"]),
        "papers_total": api["total"],
        "bytes": len(body),
        "content_type": first.headers.get("content-type"),
        "page_same_bytes_twice": stable,
        "sequential": {
            "dynamic": dyn.as_dict(),
            "static": sta.as_dict(),
            "ratio": dyn.median / sta.median,
        },
        "concurrent": {
            "connections": CONCURRENCY,
            "dynamic": load[PAGE].as_dict(),
            "static": load[STATIC].as_dict(),
            "ratio": load[STATIC].per_second / load[PAGE].per_second,
        },
    }


def _ms(seconds: float) -> str:
    return f"{1000 * seconds:.1f} ms"


def _cpu(load: dict[str, Any]) -> str:
    server = load["server_cpu_ms_per_req"]
    shown = "?" if server is None else f"{server:.2f}"
    return f"server CPU {shown} ms/req, client CPU {load['client_cpu_ms_per_req']:.2f} ms/req"


def report_lines(result: dict[str, Any]) -> list[str]:
    db, seq, conc = result["database"], result["sequential"], result["concurrent"]
    dyn, sta = seq["dynamic"], seq["static"]
    cdyn, csta = conc["dynamic"], conc["static"]
    return [
        f"database: {db['files']} rss-*.xml fixtures, {len(db['days'])} days, "
        f"ingested in {db['ingest_s']:.2f} s",
        f"{result['path']} ({result['papers_shown']} of {result['papers_total']} papers, "
        f"{result['bytes'] / 1024:.0f} KB): median {_ms(dyn['median'])} "
        f"(min {_ms(dyn['min'])}, max {_ms(dyn['max'])}, n={dyn['n']}) "
        f"vs static same bytes {_ms(sta['median'])} (min {_ms(sta['min'])}, "
        f"max {_ms(sta['max'])}) → ratio {seq['ratio']:.1f}×",
        f"{conc['connections']} concurrent ({cdyn['seconds']:.1f} s each): "
        f"dynamic {cdyn['req_per_s']:.0f} req/s vs static {csta['req_per_s']:.0f} req/s "
        f"→ static serves {conc['ratio']:.1f}× as many",
        f"  dynamic: median latency {_ms(cdyn['latency']['median'])}, {_cpu(cdyn)}",
        f"  static:  median latency {_ms(csta['latency']['median'])}, {_cpu(csta)}",
    ]


def main() -> None:
    main_with_server(__doc__, serve, run, report_lines)


if __name__ == "__main__":
    main()
