"""A star's toggle with a lab at work: 50 members at once, each toggling stars by real HTTP.

The real app (``AUTH=password``, scheduler off) runs under uvicorn in a subprocess (one worker,
127.0.0.1, free port) on a fresh database holding a real day of cs.LG (200 papers) and 50
members, on SQLite and (when ``COOLPAPERS_TEST_DATABASE_URL`` names one, as the tests do) on
Postgres, in a throwaway schema. Each member logs in through ``POST /login``; then 50 threads,
one member and one keep-alive httpx client each, start together and toggle stars: ``PUT
/api/stars/{id}`` on a paper they have not starred, ``DELETE`` on one they have, the paper
drawn at random from the day (a fixed seed per member), WARMUP toggles then TOGGLES timed ones.
Reported: the latency of one toggle (median, p90, p99, max) over all members, the toggles a
second the server answered, and the server's CPU per toggle (from /proc: what the figures cost
when the machine is busy with other work too). Each answer is checked (200 and the state
asked for), and so is every member's list at the end (``GET /api/stars`` is exactly what
their toggles left): a lost write stops the run.

Figures only: nothing passes or fails on timing. The client is 50 Python threads on the same
machine: on few cores its own CPU is part of the latency measured.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from bench._common import (
    RSS_DIR,
    BenchError,
    main_with_server,
    postgres_schema,
    postgres_url,
    serve_app,
    served,
    sqlite_settings,
)
from coolpapers.config import Settings

MEMBERS = 50
TOGGLES = 40  # timed, per member
WARMUP = 4  # per member
DAY = RSS_DIR / "rss-cs.LG-2026-08-21-fri.xml"
PASSWORD = "correct horse battery staple"
START_TIMEOUT_S = 60.0
DATABASE_ENV = "COOLPAPERS_BENCH_STARS_DATABASE_URL"  # how the child learns its database


def _settings(data_dir: Path, database_url: str) -> Settings:
    return sqlite_settings(data_dir, auth="password", database_url=database_url)


# ---------------------------------------------------------------- the server (child process)


def serve(data_dir: Path, _static_dir: Path | None) -> None:
    """In the child: the app with AUTH=password on the database the parent names; print the
    port, then serve until SIGTERM."""
    from coolpapers.web import create_app

    app = create_app(_settings(data_dir, os.environ.get(DATABASE_ENV, "")), scheduler=False)
    serve_app(app)


# ---------------------------------------------------------------- the database


def build_database(data_dir: Path, database_url: str) -> list[str]:
    """Migrated, the day ingested, MEMBERS members (one password hash for all: hashing is not
    what is measured); returns the day's paper ids."""
    from sqlalchemy import select

    from coolpapers import accounts, ingest, schema, store
    from coolpapers.db import make_engine, make_sessionmaker, session_scope
    from coolpapers.models import Paper, utcnow

    engine = make_engine(_settings(data_dir, database_url))
    try:
        schema.upgrade(engine)
        factory = make_sessionmaker(engine)
        [report] = ingest.ingest_files(factory, [DAY])
        if report.failed:
            raise BenchError(f"ingesting {DAY.name} failed: {report.line()}")
        password_hash = accounts.hash_password(PASSWORD)
        with session_scope(factory, write=True) as s:
            for n in range(MEMBERS):
                store.add_user(s, f"member{n:02d}", password_hash, is_admin=False, now=utcnow())
        with session_scope(factory) as s:
            return list(s.scalars(select(Paper.id).order_by(Paper.id)))
    finally:
        engine.dispose()


# ---------------------------------------------------------------- the members (this process)


def _log_in(base_url: str, n: int) -> str:
    with httpx.Client(base_url=base_url, timeout=60.0) as door:
        response = door.post("/login", data={"username": f"member{n:02d}", "password": PASSWORD})
        if response.status_code != 303:
            raise BenchError(f"POST /login (member{n:02d}): {response.status_code}")
        return response.cookies["cp_session"]


class Member:
    """One member's thread: toggles on one keep-alive connection, what they starred, timings."""

    def __init__(self, base_url: str, n: int, cookie: str, papers: list[str]) -> None:
        self.n = n
        self.client = httpx.Client(
            base_url=base_url, timeout=60.0, headers={"Cookie": f"cp_session={cookie}"}
        )
        self.papers = papers
        self.random = random.Random(n)
        self.starred: set[str] = set()
        self.samples: list[float] = []
        self.error: BaseException | None = None

    def toggle(self) -> float:
        paper_id = self.random.choice(self.papers)
        starring = paper_id not in self.starred
        start = time.perf_counter()
        if starring:
            response = self.client.put(f"/api/stars/{paper_id}")
        else:
            response = self.client.delete(f"/api/stars/{paper_id}")
        elapsed = time.perf_counter() - start
        if response.status_code != 200 or response.json().get("starred") is not starring:
            raise BenchError(
                f"member{self.n:02d} {'PUT' if starring else 'DELETE'} {paper_id}: "
                f"{response.status_code} {response.text[:200]}"
            )
        (self.starred.add if starring else self.starred.discard)(paper_id)
        return elapsed

    def run(self, barrier: threading.Barrier) -> None:
        try:
            barrier.wait()
            for i in range(WARMUP + TOGGLES):
                elapsed = self.toggle()
                if i >= WARMUP:
                    self.samples.append(elapsed)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            self.error = exc
            barrier.abort()

    def check(self) -> None:
        """The server's list is exactly what this member's toggles left."""
        papers = self.client.get("/api/stars?brief=1").json()["papers"]
        listed = {p["id"] for p in papers}
        if listed != self.starred or len(papers) != len(listed):
            raise BenchError(
                f"member{self.n:02d}: the server lists {len(listed)} stars, "
                f"{len(self.starred)} were left starred (a lost write?)"
            )


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process (all its threads), from /proc; None where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _percentile(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def toggles(data_dir: Path, database_url: str) -> dict[str, Any]:
    papers = build_database(data_dir, database_url)
    args = ["bench.stars", "--serve", "--data-dir", str(data_dir)]
    with ExitStack() as stack:
        base_url, pid = stack.enter_context(
            served(args, START_TIMEOUT_S, env={DATABASE_ENV: database_url})
        )
        with ThreadPoolExecutor(max_workers=8) as pool:
            cookies = list(pool.map(lambda n: _log_in(base_url, n), range(MEMBERS)))
        members = [Member(base_url, n, cookies[n], papers) for n in range(MEMBERS)]
        for member in members:
            stack.callback(member.client.close)
        barrier = threading.Barrier(MEMBERS)
        threads = [threading.Thread(target=m.run, args=(barrier,)) for m in members]
        cpu_before = _cpu_seconds(pid)
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        cpu_after = _cpu_seconds(pid)
        for member in members:
            if member.error is not None and not isinstance(
                member.error, threading.BrokenBarrierError
            ):
                raise BenchError(f"member{member.n:02d}: {member.error}") from member.error
        for member in members:
            member.check()
    samples = [s for m in members for s in m.samples]
    done = MEMBERS * (WARMUP + TOGGLES)
    cpu = None if cpu_before is None or cpu_after is None else (cpu_after - cpu_before) / done
    return {
        "members": MEMBERS,
        "toggles": len(samples),
        "median": statistics.median(samples),
        "p90": _percentile(samples, 90),
        "p99": _percentile(samples, 99),
        "max": max(samples),
        "per_s": done / wall,
        "server_cpu_per_toggle": cpu,
        "stars_left": sum(len(m.starred) for m in members),
    }


# ---------------------------------------------------------------- the run


def run() -> dict[str, Any]:
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="coolpapers-bench-stars-") as tmp:
        sqlite_dir = Path(tmp) / "sqlite"
        result["sqlite"] = toggles(sqlite_dir, f"sqlite:///{sqlite_dir / 'coolpapers.db'}")
        url = postgres_url()
        if url is None:
            result["postgres"] = None
        else:
            with postgres_schema(url) as schema_url:
                result["postgres"] = toggles(Path(tmp) / "postgres", schema_url)
    return result


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def report_lines(result: dict[str, Any]) -> list[str]:
    lines = []
    for name in ("sqlite", "postgres"):
        r = result[name]
        if r is None:
            lines.append(f"{name:<8}: skipped (set COOLPAPERS_TEST_DATABASE_URL to a Postgres URL)")
            continue
        lines.append(
            f"{name:<8}: star toggle, {r['members']} members at once: median {_ms(r['median'])}, "
            f"p90 {_ms(r['p90'])}, p99 {_ms(r['p99'])}, max {_ms(r['max'])} "
            f"({r['toggles']} toggles timed; {r['per_s']:.0f} toggles/s; no write lost)"
        )
        if r["server_cpu_per_toggle"] is not None:
            lines.append(f"{'':<8}  server CPU per toggle {_ms(r['server_cpu_per_toggle'])}")
    return lines


if __name__ == "__main__":
    main_with_server(__doc__, serve, run, report_lines)
