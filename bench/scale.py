"""Speed at scale (issue 11): a million papers, on SQLite and on Postgres alike.

The database (``bench.scale_build``): PAPERS papers recombined from the real fixtures, with day
listings on the recent weekdays, built once per parameters and cached under CACHE (the build's
time is printed, and whether it came from the cache); each run works on a copy. Parameters, from
the environment:
  BENCH_SCALE_PAPERS  papers (default 1,000,000; 20,000 for a quick check)
  BENCH_SCALE_DAYS    weekdays with listings in the bulk build (default 200)
  BENCH_SCALE_BUILD   ``import`` (``coolpapers import kaggle`` of ``bench.corpus``) or ``bulk``
                      (bulk Core inserts, as ``bench.history``); default: import when it is there
  BENCH_SCALE_CACHE   where built databases are kept (default bench/results/scale-cache)
  BENCH_SCALE_LOAD_S  seconds of load (default 20); BENCH_SCALE_CLIENTS clients (default 50)
  BENCH_SCALE_POSTGRES  ``0`` to skip Postgres (else COOLPAPERS_TEST_DATABASE_URL or the test
                      suite's server, when it answers)

Measured on each database, the real app (scheduler off) under uvicorn in a subprocess (one
worker, 127.0.0.1), the baseline of each figure from the same run:
  * search: the query set of ``bench.search_corpus`` (200 queries) over this corpus; the bare
    engine and the route's work in process (``bench.search.engine_and_route``), then
    ``/api/search`` end to end from a bare keep-alive client (``RawHTTP``), HTTP_ROUNDS rounds;
  * the list page: a day of the 4-category union (the middle listed day, ``?date=``) and the
    latest cs.LG, each interleaved with a static file of the same bytes from the same server
    (``/benchstatic``), ROUNDS rounds after WARMUP, medians;
  * a daily ingest: one feed document of 1,000 real items under a new day
    (``scale_build.daily_feeds``) stored by ``ingest.ingest_feed_body``, then the search index's
    catch-up (``sync.sync_job``), each timed, then the same document again (a no-op); baseline:
    the same document into an empty database. The server must then show the new day as the
    latest cs.LG (a list cache must have been invalidated);
  * under load: CLIENTS closed-loop clients (``bench.scale_load``) for LOAD_S on list pages
    (union days, latest categories), search (HTML page and API), paper pages and API answers,
    while another process ingests one new day after another (each a 1,000-item feed + index
    catch-up); p50/p99 overall, by kind and while an ingest ran, errors and dropped connections.
    Baseline: the same clients on the static file for BASELINE_LOAD_S;
  * the same clients with no ingest running, after QUIET_WARMUP_S not counted (the page cache
    warm, as between two daily ingests): what the web process alone allows, one worker and
    ``--workers N``; with ingests back to back, one of the 2 cores is the ingest's;
  * then, the caches warm, one day's ingest (a 1,000-item feed and its catch-up) started as the
    same clients start, LOAD_S: a day as a lab lives it (back to back, every ingest empties
    the page caches before they fill again);
  * the web process's memory: VmRSS when started, VmHWM (peak) and VmRSS at the end, split
    into anonymous and file-backed (the search index's mapped pages, code) (``memory``);
  * when ``coolpapers serve`` has ``--workers``, the load again on ``serve --workers N``.
How long (2 shared cores): from the cache, a 1M run of both databases takes about 5 minutes;
building the 1M databases once took 7 minutes in import mode on a quiet machine (the corpus
19 s, the SQLite import with its index build 161 s, Postgres 230 s; 20 minutes under other
work) and 36 in bulk (27 of them ``sync.rebuild`` as it was then, keywords mostly).
Aims (issue 11): search p95 ≤ 10 ms, list page ≤ 2× static, RSS ≤ 300 MB, 1,000-item ingest
≤ 1 s, under load p99 ≤ 300 ms with no error or dropped connection. Figures only: nothing
passes or fails on timing; a wrong answer (a page that is not 200, an ingest that fails, a
search that disagrees with the engine) stops the run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
from sqlalchemy import select

from bench import scale_build, scale_load
from bench._common import (
    REPO,
    BenchError,
    RawHTTP,
    reachable_postgres,
    serve_app_with_static,
    served,
    sqlite_settings,
    timed,
)
from bench.search import Expected, Route, engine_and_route
from bench.search_corpus import real_pool
from coolpapers import ingest, scheduler, schema
from coolpapers.config import Settings
from coolpapers.db import make_engine, make_sessionmaker
from coolpapers.models import DayCategory, Listing
from coolpapers.search import sync
from coolpapers.search.engine import SearchIndex
from coolpapers.store import generations

SPEC = ",".join(scale_build.FEEDS)
FEED_SPEC = "+".join(scale_build.FEEDS)
DB_ENV = "BENCH_SCALE_DATABASE_URL"  # the child server's database
HTTP_ROUNDS = 3
ROUNDS, WARMUP = 50, 5
BASELINE_LOAD_S = 5.0
QUIET_WARMUP_S = 5.0  # the quiet load's first seconds, not counted: the page cache fills
# daily feeds prepared for the ingests under load, one worker then --workers N (more than they
# get through: a run that runs out of feeds runs no ingest, and its figure says so)
LOAD_FEEDS = 80
PAPER_SAMPLE = 2000
START_TIMEOUT_S = 120.0
AIM_SEARCH_P95_S = 0.010
AIM_LIST_RATIO = 2.0
AIM_RSS_BYTES = 300 * 1024 * 1024
AIM_INGEST_S = 1.0
AIM_LOAD_P99_S = 0.300


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").replace("_", "").replace(",", "")
    return int(raw) if raw else default


def params() -> scale_build.Params:
    build = os.environ.get("BENCH_SCALE_BUILD") or (
        "import" if scale_build.importer_ready() is None else "bulk"
    )
    if build not in ("import", "bulk"):
        raise BenchError(f"BENCH_SCALE_BUILD={build!r}: import or bulk")
    cache = Path(os.environ.get("BENCH_SCALE_CACHE") or REPO / "bench" / "results" / "scale-cache")
    pg = None if os.environ.get("BENCH_SCALE_POSTGRES") == "0" else reachable_postgres()[0]
    return scale_build.Params(
        papers=_env_int("BENCH_SCALE_PAPERS", 1_000_000),
        days=_env_int("BENCH_SCALE_DAYS", 200),
        build=build,
        cache=cache,
        postgres_url=pg,
    )


# ---------------------------------------------------------------- the process's memory


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (the peak) of a process, in bytes, from /proc, with what they hold:
    RssAnon (its own heap: Python, malloc's arenas, SQLite's caches, tantivy's), RssFile (pages
    of files it maps, in the page cache: shared with every process mapping them, and dropped
    under memory pressure), and of those, RssIndex (the search index's files, mapped by
    tantivy) and RssCode (libraries and the interpreter). Pss: its share of what it holds with
    other processes (the search index's pages divided among the web workers)."""
    found = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                found[key] = int(value.split()[0]) * 1024
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                found["Pss"] = int(line.split()[1]) * 1024
    with contextlib.suppress(OSError):
        index = code = 0
        path, index_dir = "", sync.index_path(Path()).name
        for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
            fields = line.split()
            if not fields:
                continue
            if "-" in fields[0] and not fields[0].endswith(":"):  # a mapping's first line
                path = fields[5] if len(fields) > 5 else ""
            elif fields[0] == "Rss:" and path.startswith("/"):
                rss = int(fields[1]) * 1024
                if f"/{index_dir}/" in path:
                    index += rss
                elif ".so" in path or "/python" in path:
                    code += rss
        found.update(RssIndex=index, RssCode=code)
    return found


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _summary(samples: list[float]) -> dict[str, float]:
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": q[49], "p95": q[94], "p99": q[98], "max": max(samples), "n": len(samples)}


# ---------------------------------------------------------------- what the database holds


def union_days(settings: Settings) -> list[date]:
    """Every day the union lists (from the day index), oldest first."""
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            return list(
                conn.scalars(
                    select(DayCategory.date)
                    .where(DayCategory.category.in_(scale_build.FEEDS))
                    .distinct()
                    .order_by(DayCategory.date)
                )
            )
    finally:
        engine.dispose()


def paper_sample(settings: Settings, days: list[date], rng: random.Random) -> list[str]:
    """PAPER_SAMPLE ids listed on ``days`` (what readers open from a list), seeded."""
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            ids = list(
                conn.scalars(
                    select(Listing.paper_id).where(Listing.date.in_(days)).order_by(Listing.id)
                )
            )
    finally:
        engine.dispose()
    return rng.sample(ids, min(PAPER_SAMPLE, len(ids)))


# ---------------------------------------------------------------- the server (child process)


def serve(data_dir: Path, static_dir: Path) -> None:
    settings = sqlite_settings(data_dir, database_url=os.environ.get(DB_ENV, ""))
    serve_app_with_static(settings, static_dir)


@contextlib.contextmanager
def server(settings: Settings, static_dir: Path) -> Iterator[tuple[str, int]]:
    args = ["bench.scale", "--serve", "--data-dir", str(settings.data_dir)]
    args += ["--static-dir", str(static_dir)]
    env = {DB_ENV: settings.database_url}
    with served(args, START_TIMEOUT_S, env) as found:
        yield found


def serve_workers() -> int:
    """Web processes for a second load phase: BENCH_SCALE_WORKERS, else 2 when ``coolpapers
    serve`` has ``--workers`` (a lab's way to use more than one core), else none."""
    if (raw := os.environ.get("BENCH_SCALE_WORKERS")) is not None:
        return int(raw)
    shown = subprocess.run(
        [sys.executable, "-m", "coolpapers", "serve", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=dict(os.environ, COOLPAPERS_SECRET_KEY="bench"),
    )
    return 2 if "--workers" in shown.stdout else 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def cli_server(settings: Settings, workers: int) -> Iterator[tuple[int, int]]:
    """``coolpapers serve --no-scheduler --workers N`` as a lab runs it; yields its port and
    pid once /status answers."""
    port = _free_port()
    env = dict(
        os.environ,
        COOLPAPERS_DATABASE_URL=settings.effective_database_url,
        COOLPAPERS_DATA_DIR=str(settings.data_dir),
        COOLPAPERS_SECRET_KEY="bench",
    )
    cmd = [sys.executable, "-m", "coolpapers", "serve", "--no-scheduler", "--port", str(port)]
    # uvicorn's lines go to a file, shown when it does not start
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [*cmd, "--workers", str(workers)], cwd=REPO, env=env, stdout=log, stderr=log
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"http://127.0.0.1:{port}/status", timeout=5).status_code == 200:
                        break
                if time.monotonic() > deadline or proc.poll() is not None:
                    log.seek(0)
                    said = log.read()[-500:].decode(errors="replace")
                    raise BenchError(f"coolpapers serve --workers {workers} did not answer: {said}")
                time.sleep(0.2)
            yield port, proc.pid
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def tree(pid: int) -> list[int]:
    """A process and its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        found.append(todo.pop())
        todo += children.get(found[-1], [])
    return found


# ---------------------------------------------------------------- search


def search_figures(
    settings: Settings, queries: list[tuple[str, str]]
) -> tuple[dict[str, Any], list[Expected]]:
    """The bare engine and the route's work in process, round by round side by side."""
    with (
        SearchIndex.open(sync.index_path(settings.data_dir), create=False) as index,
        Route(settings) as route,
    ):
        bare, handler, expected = engine_and_route(index, route, queries)
    return {"bare": bare["all"], "handler": handler["all"], "hits": bare["hits"]}, expected


def search_http(
    raw: RawHTTP, queries: list[tuple[str, str]], expected: list[Expected]
) -> dict[str, Any]:
    """``/api/search`` end to end: checked (status, total) once, then HTTP_ROUNDS rounds."""
    targets = [f"/api/search?{urlencode({'query': q})}" for _, q in queries]
    for target, want in zip(targets, expected, strict=True):
        status, body = raw.get(target)
        if status != 200 or orjson.loads(body)["total"] != want.total:
            raise BenchError(f"{target}: {status}, or another total than the engine's")
    samples = []
    for _ in range(HTTP_ROUNDS):
        for target in targets:
            start = time.perf_counter()
            status, _ = raw.get(target)
            samples.append(time.perf_counter() - start)
            if status != 200:
                raise BenchError(f"{target}: {status}")
    return _summary(samples)


# ---------------------------------------------------------------- list pages


def list_page(client: httpx.Client, raw: RawHTTP, path: str, static_dir: Path) -> dict[str, Any]:
    """``path`` against a static file of its bytes, interleaved; medians."""
    first = client.get(path)
    if first.status_code != 200:
        raise BenchError(f"GET {path}: {first.status_code}")
    body = first.content
    name = f"page-{abs(hash(path))}.html"
    (static_dir / name).write_bytes(body)
    static = f"/benchstatic/{name}"
    samples = raw.interleaved([path, static], len(body), warmup=WARMUP, rounds=ROUNDS)
    page_s, static_s = statistics.median(samples[path]), statistics.median(samples[static])
    return {
        "path": path,
        "bytes": len(body),
        "page_ms": 1000 * page_s,
        "static_ms": 1000 * static_s,
        "ratio": page_s / static_s,
        "page_p95_ms": 1000 * _summary(samples[path])["p95"],
    }


# ---------------------------------------------------------------- the daily ingest


def ingest_one(settings: Settings, path: Path) -> dict[str, Any]:
    """Store the feed, then catch the index up; each timed. Stops the run on a failure."""
    engine = make_engine(settings)
    factory = make_sessionmaker(engine)
    try:
        body = path.read_bytes()

        def store() -> ingest.RunReport:
            return ingest.ingest_feed_body(
                factory, body, source="file", target=path.name, spec=FEED_SPEC
            )

        with generations.held(engine):  # as ingest_due: the pages change once, at the end
            store_s, report = timed(store)
            index_s, indexed = timed(lambda: sync.sync_job(factory, settings.data_dir))
    finally:
        engine.dispose()
    if report.status != "ok" or report.n_items != scale_build.ITEMS:
        raise BenchError(f"ingest {path.name}: {report.line()}")
    return {
        "store_s": store_s,
        "index_s": index_s,
        "total_s": store_s + index_s,
        "stored": report.n_stored,
        "indexed": indexed,
        "items": report.n_items,
    }


def daily_ingest(settings: Settings, feed: tuple[date, Path]) -> dict[str, Any]:
    """The day's feed into the big database, then again (a no-op), and into an empty one."""
    first = ingest_one(settings, feed[1])
    again = ingest_one(settings, feed[1])
    if again["stored"] != 0:
        raise BenchError(f"the same feed again wrote {again['stored']} papers")
    with tempfile.TemporaryDirectory(prefix="coolpapers-bench-scale-empty-") as tmp:
        empty = sqlite_settings(Path(tmp))
        name = f"bench_scale_empty_{os.getpid()}"
        if settings.database_url:
            # an empty Postgres database beside the big one: same server, same settings
            scale_build.pg_drop(settings.database_url, name)
            scale_build.pg_create(settings.database_url, name)
            url = scale_build.database_url(settings.database_url, name)
            empty = sqlite_settings(Path(tmp), database_url=url)
        try:
            engine = make_engine(empty)
            try:
                schema.upgrade(engine)
            finally:
                engine.dispose()
            baseline = ingest_one(empty, feed[1])
        finally:
            if settings.database_url:
                scale_build.pg_drop(settings.database_url, name)
    return {"day": feed[0].isoformat(), "first": first, "again": again, "empty_db": baseline}


def ingest_loop(data_dir: Path, feeds: list[Path]) -> None:
    """In the child: ingest ``feeds`` one after another until SIGTERM (checked between feeds);
    one JSON line per feed (perf_counter start and end, comparable with the parent's on Linux)."""
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    scheduler.yield_cpu_to_readers()  # as the jobs of `coolpapers worker` do
    settings = sqlite_settings(data_dir, database_url=os.environ.get(DB_ENV, ""))
    print("ready", flush=True)
    for path in feeds:
        if stopping:
            break
        start = time.perf_counter()
        figures = ingest_one(settings, path)
        print(json.dumps({"start": start, "end": time.perf_counter(), **figures}), flush=True)


# ---------------------------------------------------------------- under load


class Mix:
    """What the clients ask for: list pages, search, paper pages, API answers."""

    def __init__(self, days: list[date], papers: list[str], queries: list[tuple[str, str]]):
        self.days = days[-60:]  # readers open recent days
        self.papers = papers
        self.queries = [q for _, q in queries]

    def __call__(self, rng: random.Random) -> tuple[str, str]:
        roll = rng.random()
        if roll < 0.3:
            if rng.random() < 0.5:
                return "list", f"/arxiv/{SPEC}?date={rng.choice(self.days)}"
            return "list", f"/arxiv/{rng.choice(scale_build.FEEDS)}"
        if roll < 0.5:
            return "search", f"/arxiv/search?{urlencode({'query': rng.choice(self.queries)})}"
        if roll < 0.75:
            return "paper", f"/arxiv/{rng.choice(self.papers)}"
        pick = rng.random()
        if pick < 0.4:
            return "api", f"/api/papers/{rng.choice(self.papers)}"
        if pick < 0.7:
            return "api", f"/api/search?{urlencode({'query': rng.choice(self.queries)})}"
        cat = rng.choice(scale_build.FEEDS)
        return "api", f"/api/arxiv/{cat}?date={rng.choice(self.days)}"


def under_load(
    settings: Settings,
    port: int,
    pid: int,
    mix: Mix,
    feeds: list[Path],
    clients: int,
    seconds: float,
) -> dict[str, Any]:
    """The clients for ``seconds`` while a child ingests ``feeds`` one after another."""
    child_env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), *sys.path]))
    child_env[DB_ENV] = settings.database_url
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.scale", "--ingest-loop", "--data-dir", str(settings.data_dir)]
        + ["--feeds", *map(str, feeds)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=child_env,
    )
    try:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            raise BenchError("the ingest process did not start")
        pids = tree(pid)
        server_cpu, client_cpu = sum(map(cpu_seconds, pids)), time.process_time()
        tally = scale_load.run_load(port, mix, clients, seconds, seed=7)
        server_cpu = sum(map(cpu_seconds, pids)) - server_cpu
        client_cpu = time.process_time() - client_cpu
    finally:
        child.send_signal(signal.SIGTERM)
        out, _ = child.communicate(timeout=300)
    if child.returncode != 0:
        raise BenchError(f"the ingest process failed (exit {child.returncode})")
    runs = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    summary = scale_load.summary(tally, seconds, [(r["start"], r["end"]) for r in runs])
    summary["ingests"] = {
        "n": len(runs),
        "median_total_s": statistics.median(r["total_s"] for r in runs) if runs else None,
        "median_store_s": statistics.median(r["store_s"] for r in runs) if runs else None,
    }
    summary["server_cpu_s"] = server_cpu
    summary["client_cpu_s"] = client_cpu
    return summary


def quiet_load(port: int, pid: int, mix: Mix, clients: int, seconds: float) -> dict[str, Any]:
    """The clients for ``seconds`` with no ingest running, after QUIET_WARMUP_S of the same
    load that is not counted."""
    scale_load.run_load(port, mix, clients, QUIET_WARMUP_S, seed=11)
    pids = tree(pid)
    server_cpu = sum(map(cpu_seconds, pids))
    tally = scale_load.run_load(port, mix, clients, seconds, seed=7)
    summary = scale_load.summary(tally, seconds, [])
    summary["server_cpu_s"] = sum(map(cpu_seconds, pids)) - server_cpu
    return summary


def static_load(port: int, clients: int) -> dict[str, Any]:
    """The baseline: the same clients on a static file."""
    tally = scale_load.run_load(
        port, lambda _rng: ("static", "/benchstatic/load.html"), clients, BASELINE_LOAD_S, seed=3
    )
    return scale_load.summary(tally, BASELINE_LOAD_S, [])


# ---------------------------------------------------------------- one database


def measure(
    copy: scale_build.Copy, queries: list[tuple[str, str]], workdir: Path
) -> dict[str, Any]:
    settings = copy.settings
    clients = _env_int("BENCH_SCALE_CLIENTS", 50)
    load_s = float(_env_int("BENCH_SCALE_LOAD_S", 20))
    days = union_days(settings)
    if len(days) < 3:
        raise BenchError(f"{len(days)} listed days in the database")
    rng = random.Random(scale_build.SEED)
    papers = paper_sample(settings, days[-60:], rng)
    # The index's first catch-up after a build re-reads what changed in the margin before its
    # cursor (the last LATE_COMMIT_MARGIN of an import); the scheduler's next sync would have
    # done it long before a day's ingest, so it is done (and timed) here, not in that figure.
    engine = make_engine(settings)
    try:
        first_sync_s, first_sync = timed(
            lambda: sync.sync_job(make_sessionmaker(engine), settings.data_dir)
        )
    finally:
        engine.dispose()
    search, expected = search_figures(settings, queries)
    feeds = scale_build.daily_feeds(settings, 1 + LOAD_FEEDS, workdir / f"feeds-{copy.name}")
    static_dir = workdir / f"static-{copy.name}"
    static_dir.mkdir()
    result: dict[str, Any] = {
        "listed_days": [days[0].isoformat(), days[-1].isoformat(), len(days)],
        "first_sync": {"s": first_sync_s, "papers": first_sync},
    }
    with (
        server(settings, static_dir) as (base_url, pid),
        httpx.Client(base_url=base_url, timeout=60.0) as client,
        RawHTTP("127.0.0.1", httpx.URL(base_url).port or 80) as raw,
    ):
        port = httpx.URL(base_url).port or 80
        result["memory_started"] = memory(pid)
        result["search_http"] = search_http(raw, queries, expected)
        union = list_page(client, raw, f"/arxiv/{SPEC}?date={days[len(days) // 2]}", static_dir)
        latest = list_page(client, raw, "/arxiv/cs.LG", static_dir)
        result["list"] = {"union_day": union, "latest_cs_lg": latest}
        result["memory_before_ingest"] = memory(pid)
        result["ingest"] = daily_ingest(settings, feeds[0])
        shown = client.get("/api/arxiv/cs.LG").json().get("date")
        if shown != feeds[0][0].isoformat():
            raise BenchError(f"after the ingest of {feeds[0][0]} the latest cs.LG is {shown}")
        (static_dir / "load.html").write_bytes(client.get(f"/arxiv/{SPEC}?date={days[-1]}").content)
        result["load_static"] = static_load(port, clients)
        mix = Mix(days, papers, queries)
        result["load"] = under_load(
            settings, port, pid, mix, [p for _, p in feeds[1:]], clients, load_s
        )
        result["memory_end"] = memory(pid)
        result["load_quiet"] = quiet_load(port, pid, mix, clients, load_s)
        unused = [p for _, p in feeds[1 + result["load"]["ingests"]["n"] :]]
        result["load_one"] = under_load(settings, port, pid, mix, unused[:1], clients, load_s)
    if (workers := serve_workers()) > 1:
        with cli_server(settings, workers) as (port, pid):
            unused = unused[1:]
            load = under_load(settings, port, pid, mix, unused, clients, load_s)
            load["workers"] = workers
            load["memory"] = {str(p): memory(p) for p in tree(pid)}
            load["quiet"] = quiet_load(port, pid, mix, clients, load_s)
            unused = unused[load["ingests"]["n"] :]
            load["one"] = under_load(settings, port, pid, mix, unused[:1], clients, load_s)
        result["load_workers"] = load
    result["search"] = {**search, "http": result.pop("search_http")}
    return result


# ---------------------------------------------------------------- the run


def run() -> dict[str, Any]:
    p = params()
    started = time.perf_counter()
    build = scale_build.ensure_built(p)
    build_wall_s = time.perf_counter() - started
    queries = [tuple(q) for q in build.pop("queries")]
    databases: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="coolpapers-bench-scale-") as tmp:
        for which in ("sqlite", "postgres"):
            if which == "postgres" and p.postgres_url is None:
                continue
            workdir = Path(tmp) / which
            workdir.mkdir()
            t0 = time.perf_counter()
            with scale_build.working_copy(p, which, workdir) as copy:
                copy_s = time.perf_counter() - t0
                databases[which] = measure(copy, queries, workdir)
                databases[which]["copy_s"] = copy_s
    return {
        "papers": p.papers,
        "days": p.days,
        "build_mode": p.build,
        "importer": scale_build.importer_ready(),
        "build": build,
        "build_wall_s": build_wall_s,
        "queries": len(queries),
        "real_papers": len(real_pool().texts),
        "postgres_skipped": p.postgres_url is None,
        "databases": databases,
    }


# ---------------------------------------------------------------- the report


def _ms(seconds: float) -> str:
    return f"{1000 * seconds:.1f} ms"


def _mb(n: int | None) -> str:
    return "?" if n is None else f"{n / 1024 / 1024:.0f} MB"


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _build_lines(result: dict[str, Any]) -> list[str]:
    b = result["build"]
    head = (
        f"database: {result['papers']:,} papers ({result['build_mode']} build"
        + (f"; importer: {result['importer']}" if result["importer"] else "")
        + f"), {result['queries']} queries; "
    )
    if b.get("cached"):
        head += f"from the cache (built once in {b['build_s']:.0f} s)"
        if b.get("indexes_rebuilt"):
            head += (
                f"; its index rebuilt now (the engine's schema changed since): "
                f"{b['upgrade_s']:.0f} s"
            )
    else:
        head += f"built now in {b['build_s']:.0f} s"
    parts = []
    for name in ("sqlite", "postgres"):
        if isinstance(b.get(name), dict):
            figures = ", ".join(f"{k} {v:.1f} s" for k, v in b[name].items())
            if "import_s" in b[name]:
                rate = result["papers"] / b[name]["import_s"]
                figures += f" ({rate:,.0f} papers/s end to end, index build included)"
            parts.append(f"{name}: {figures}")
    for key in ("make_corpus_s", "write_corpus_s", "index_s"):
        if key in b:
            parts.append(f"{key} {b[key]:.1f} s")
    return [head, "  " + "; ".join(parts)]


def _by_kind(load: dict[str, Any]) -> str:
    return ", ".join(f"{k} {_ms(v['p50'])}/{_ms(v['p99'])}" for k, v in load["kinds"].items())


def _load_ok(load: dict[str, Any]) -> bool:
    """The aim: p99 within AIM_LOAD_P99_S, no error, no dropped connection."""
    return load["all"]["p99"] <= AIM_LOAD_P99_S and not load["errors"] and not load["dropped"]


def _load_lines(label: str, load: dict[str, Any], base: dict[str, Any] | None) -> list[str]:
    ok = _load_ok(load) and load["ingests"]["n"] > 0  # the aim is while an ingest runs
    kinds = _by_kind(load)
    during = load["during_ingest"]
    ingests = load["ingests"]
    lines = [
        f"  under load, {label} ({load['requests']:,} requests, {load['req_per_s']:.0f}/s, "
        f"{ingests['n']} ingests of 1,000 items meanwhile, median "
        f"{ingests['median_total_s'] or 0:.2f} s): p50 {_ms(load['all']['p50'])}, "
        f"p99 {_ms(load['all']['p99'])}, max {_ms(load['all']['max'])}; errors "
        f"{sum(load['errors'].values())}, dropped {sum(load['dropped'].values())} → "
        f"p99 ≤ 300 ms and none: {_met(ok)}",
        f"    p50/p99 by kind: {kinds}"
        + (
            f"; while an ingest ran: p50 {_ms(during['p50'])}, p99 {_ms(during['p99'])} "
            f"(n={during['n']})"
            if during
            else ""
        ),
        f"    server CPU {load['server_cpu_s']:.1f} s, client CPU {load['client_cpu_s']:.1f} s"
        + (
            f"; baseline, the same clients on a static file: {base['req_per_s']:.0f}/s, p50 "
            f"{_ms(base['all']['p50'])}, p99 {_ms(base['all']['p99'])}"
            if base
            else ""
        ),
    ]
    if load["errors"] or load["dropped"]:
        lines.append(f"    errors {load['errors']}, dropped {load['dropped']}")
    return lines


def _quiet_line(load: dict[str, Any]) -> str:
    kinds = _by_kind(load)
    return (
        f"    the same clients with no ingest running (page cache warm): "
        f"{load['req_per_s']:.0f}/s, p50 {_ms(load['all']['p50'])}, p99 "
        f"{_ms(load['all']['p99'])}; by kind {kinds}; server CPU {load['server_cpu_s']:.1f} s; "
        f"errors {sum(load['errors'].values())}, dropped {sum(load['dropped'].values())}"
    )


def _one_line(load: dict[str, Any]) -> str:
    """The load around one day's ingest, started as the window opens, the caches warm."""
    during = load["during_ingest"]
    ingest_s = load["ingests"]["median_total_s"] or 0
    while_it_ran = f"; while it ran: p99 {_ms(during['p99'])} (n={during['n']})" if during else ""
    ok = _load_ok(load) and load["ingests"]["n"] == 1
    return (
        f"    one day's ingest ({ingest_s:.2f} s) as the same clients start, caches warm: "
        f"{load['req_per_s']:.0f}/s, p50 {_ms(load['all']['p50'])}, p99 "
        f"{_ms(load['all']['p99'])}{while_it_ran}; by kind {_by_kind(load)}; errors "
        f"{sum(load['errors'].values())}, dropped {sum(load['dropped'].values())} → p99 ≤ "
        f"300 ms and none: {_met(ok)}"
    )


def _database_lines(name: str, r: dict[str, Any]) -> list[str]:
    s = r["search"]
    first, last, n_days = r["listed_days"]
    sync0 = r["first_sync"]
    lines = [
        f"{name} ({n_days} listed days {first}..{last}; copied in {r['copy_s']:.0f} s; the "
        f"index's first catch-up after the build re-read {sync0['papers']:,} papers in "
        f"{sync0['s']:.1f} s):"
    ]
    http = s["http"]
    lines.append(
        f"  /api/search end to end: p50 {_ms(http['p50'])}, p95 {_ms(http['p95'])}, "
        f"p99 {_ms(http['p99'])} (n={http['n']}) vs bare engine p50 {_ms(s['bare']['p50'])}, "
        f"p95 {_ms(s['bare']['p95'])} (×{http['p50'] / s['bare']['p50']:.1f} / "
        f"×{http['p95'] / s['bare']['p95']:.1f}); in process p50 {_ms(s['handler']['p50'])}, "
        f"p95 {_ms(s['handler']['p95'])} → p95 ≤ 10 ms: {_met(http['p95'] <= AIM_SEARCH_P95_S)}"
    )
    for label, page in (
        ("union day", r["list"]["union_day"]),
        ("latest cs.LG", r["list"]["latest_cs_lg"]),
    ):
        lines.append(
            f"  list page, {label} ({page['path']}, {page['bytes'] / 1024:.0f} KB): "
            f"{page['page_ms']:.2f} ms vs static {page['static_ms']:.2f} ms → "
            f"×{page['ratio']:.1f} (≤ 2×: {_met(page['ratio'] <= AIM_LIST_RATIO)})"
        )
    ing = r["ingest"]
    first_run, again, empty = ing["first"], ing["again"], ing["empty_db"]
    lines.append(
        f"  daily ingest, {first_run['items']:,} items ({ing['day']}): store "
        f"{first_run['store_s']:.2f} s + index {first_run['index_s']:.2f} s = "
        f"{first_run['total_s']:.2f} s (≤ 1 s: {_met(first_run['total_s'] <= AIM_INGEST_S)}); "
        f"again (no-op) {again['total_s']:.2f} s; into an empty database "
        f"{empty['store_s']:.2f} s + {empty['index_s']:.2f} s"
    )
    lines += _load_lines("one worker", r["load"], r["load_static"])
    lines.append(_quiet_line(r["load_quiet"]))
    lines.append(_one_line(r["load_one"]))
    if (more := r.get("load_workers")) is not None:
        lines += _load_lines(f"coolpapers serve --workers {more['workers']}", more, None)
        lines.append(_quiet_line(more["quiet"]))
        lines.append(_one_line(more["one"]))
        rss = sum(m.get("VmRSS", 0) for m in more["memory"].values())
        pss = sum(m.get("Pss", 0) for m in more["memory"].values())
        lines.append(
            f"    its processes' VmRSS together at the end: {_mb(rss)} (PSS {_mb(pss)}: the "
            "pages they share, the index's above all, counted once)"
        )
    end = r["memory_end"]
    lines.append(
        f"  web process: VmRSS {_mb(r['memory_started'].get('VmRSS'))} started, "
        f"{_mb(r['memory_before_ingest'].get('VmRSS'))} before the ingest, "
        f"{_mb(end.get('VmRSS'))} at the end (anonymous {_mb(end.get('RssAnon'))}; file-backed "
        f"{_mb(end.get('RssFile'))}, shared and reclaimable: the search index's mapped pages "
        f"{_mb(end.get('RssIndex'))}, code {_mb(end.get('RssCode'))}), peak (VmHWM) "
        f"{_mb(end.get('VmHWM'))} → ≤ 300 MB: {_met(end.get('VmHWM', 0) <= AIM_RSS_BYTES)}"
    )
    return lines


def report_lines(result: dict[str, Any]) -> list[str]:
    lines = _build_lines(result)
    names = {"sqlite": "SQLite", "postgres": "Postgres"}
    for key, figures in result["databases"].items():
        lines += _database_lines(names[key], figures)
    if result["postgres_skipped"]:
        lines.append("Postgres: skipped (BENCH_SCALE_POSTGRES=0, or no server answered)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ingest-loop", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--static-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--feeds", type=Path, nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.data_dir, args.static_dir)
        return
    if args.ingest_loop:
        ingest_loop(args.data_dir, args.feeds)
        return
    for line in report_lines(run()):
        print(line)


if __name__ == "__main__":
    main()
