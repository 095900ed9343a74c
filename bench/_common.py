"""Shared by the benchmarks: fixture paths, sample statistics, throwaway databases, a served
app in a subprocess."""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from coolpapers.config import Settings, load_settings
from coolpapers.ingest import RunReport

REPO = Path(__file__).resolve().parent.parent
RSS_DIR = REPO / "tests" / "fixtures" / "arxiv" / "rss"
PG_ENV = "COOLPAPERS_TEST_DATABASE_URL"


class BenchError(RuntimeError):
    """The code under measurement did not do what it should have."""


@dataclass(frozen=True)
class Stats:
    """Summary of repeated measurements, in seconds."""

    median: float
    min: float
    max: float
    n: int

    @classmethod
    def of(cls, samples: list[float]) -> Stats:
        if not samples:
            raise ValueError("no samples")
        return cls(statistics.median(samples), min(samples), max(samples), len(samples))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds taken by one call of ``fn``, and what it returned."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def sqlite_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a fresh SQLite database in ``data_dir``; nothing is ever fetched."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": "",
        "secret_key": "bench",
        "arxiv_categories": "cs.AI,cs.CL,cs.CV,cs.LG",
    }
    values.update(overrides)
    return load_settings(**values)


def ingest_files_into(data_dir: Path, paths: list[Path]) -> tuple[list[RunReport], float]:
    """A fresh SQLite database in ``data_dir``, migrated, with these feed files ingested as the
    test suite does: the runs' reports and the ingest's seconds. A file that fails stops the
    bench."""
    from coolpapers import ingest, schema
    from coolpapers.db import make_engine, make_sessionmaker

    engine = make_engine(sqlite_settings(data_dir))
    try:
        schema.upgrade(engine)
        start = time.perf_counter()
        reports = ingest.ingest_files(make_sessionmaker(engine), paths)
        elapsed = time.perf_counter() - start
    finally:
        engine.dispose()
    failed = [r.line() for r in reports if r.failed]
    if failed:
        raise BenchError("ingesting the feeds failed: " + "; ".join(failed))
    return reports, elapsed


def postgres_url() -> str | None:
    """The Postgres URL of the test suite, if configured."""
    return os.environ.get(PG_ENV) or None


DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"  # the test suite's server


def reachable_postgres() -> tuple[str | None, str | None]:
    """The Postgres URL to bench on (the configured one, else the test suite's server), or
    None and why there is none: an unreachable Postgres is reported, not fatal."""
    url = postgres_url() or DEFAULT_POSTGRES
    probe = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with probe.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure to connect means "no Postgres here"
        return None, f"{url.split('@')[-1]} unreachable: {type(exc).__name__}"
    finally:
        probe.dispose()
    return url, None


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A throwaway schema in the Postgres database at ``url``; yields a URL that uses it."""
    name = f"bench_{uuid.uuid4().hex[:16]}"
    admin = create_engine(url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
        sep = "&" if "?" in url else "?"
        try:
            yield f"{url}{sep}options=-csearch_path%3D{name}"
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
    finally:
        admin.dispose()


@contextmanager
def served(
    module_args: list[str], start_timeout_s: float, env: Mapping[str, str] | None = None
) -> Iterator[tuple[str, int]]:
    """``python -m <module_args>`` in a subprocess, run from the repository with it on the path
    and ``env`` added to this environment. The child prints its port as its first line, then
    serves; yields the base URL and the child's pid once /status answers 200 (BenchError if it
    does not within ``start_timeout_s`` or exits first). SIGTERM on exit, a kill after 10 s."""
    child_env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO)] + sys.path)))
    child_env.update(env or {})
    proc = subprocess.Popen(
        [sys.executable, "-m", *module_args],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=child_env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.isdigit():
            raise BenchError(f"the server did not start (said {line!r})")
        base_url = f"http://127.0.0.1:{line}"
        deadline = time.monotonic() + start_timeout_s
        with httpx.Client(base_url=base_url, timeout=5.0) as client:
            while True:
                with suppress(httpx.TransportError):
                    if client.get("/status").status_code == 200:
                        break
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise BenchError("the server did not answer /status")
                time.sleep(0.05)
        yield base_url, proc.pid
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # uvicorn shuts down gracefully
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class RawHTTP:
    """A bare HTTP/1.1 client on one keep-alive connection, for timing a server: it sends a GET
    and reads the status and a ``Content-Length`` body, nothing else. Through httpx a 40 KB
    answer costs ~0.6 ms of the client's own Python (measured on 2 cores), more than the
    server spends around the search; a latency taken with this one is the server's."""

    def __init__(self, host: str, port: int, timeout_s: float = 30.0) -> None:
        self._host = host
        self._sock = socket.create_connection((host, port), timeout=timeout_s)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._reader = self._sock.makefile("rb")

    def get(self, target: str) -> tuple[int, bytes]:
        """GET ``target`` (path and query, already encoded): the status and the body."""
        request = f"GET {target} HTTP/1.1\r\nHost: {self._host}\r\n\r\n"
        self._sock.sendall(request.encode("ascii"))
        status_line = self._reader.readline()
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise ConnectionError(f"not an HTTP answer: {status_line[:80]!r}")
        length = None
        while (line := self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise ConnectionError("the answer has no Content-Length")
        body = self._reader.read(length)
        if len(body) != length:
            raise ConnectionError("the connection closed mid-body")
        return int(parts[1]), body

    def interleaved(
        self, targets: Sequence[str], size: int, *, warmup: int, rounds: int
    ) -> dict[str, list[float]]:
        """Seconds of each GET of ``targets``, taken in turn (a busy moment costs each alike),
        after ``warmup`` untimed rounds. Every answer must be a 200 of ``size`` bytes give or
        take 1 % (a page with a clock on it may vary), else BenchError."""
        samples: dict[str, list[float]] = {target: [] for target in targets}
        for round_ in range(warmup + rounds):
            for target, times in samples.items():
                start = time.perf_counter()
                status, got = self.get(target)
                elapsed = time.perf_counter() - start
                if status != 200 or abs(len(got) - size) > size // 100:
                    raise BenchError(f"GET {target}: {status}, {len(got)} bytes")
                if round_ >= warmup:
                    times.append(elapsed)
        return samples

    def close(self) -> None:
        self._reader.close()
        self._sock.close()

    def __enter__(self) -> RawHTTP:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def serve_app_with_static(settings: Settings, static_dir: Path) -> None:
    """In a child process: the app with ``/benchstatic`` (the same bytes as a static file) on a
    free port; print the port, then serve until SIGTERM."""
    from fastapi.staticfiles import StaticFiles

    from coolpapers.web import create_app

    app = create_app(settings, scheduler=False)
    app.mount("/benchstatic", StaticFiles(directory=static_dir), name="benchstatic")
    serve_app(app)


def serve_app(app: Any) -> None:
    """In a child process: ``app`` under uvicorn on a free port of 127.0.0.1; print the port,
    then serve until SIGTERM."""
    import uvicorn

    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only when the
    # listening socket says so (as uvicorn's own host/port binding does); without it, responses
    # written in several pieces (StaticFiles) meet Nagle + delayed ACK and take 40 ms.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        workers=1,
        log_level="warning",
        access_log=False,
        lifespan="on",
        proxy_headers=False,  # as `coolpapers serve`: web.auth.TrustedProxy decides
    )
    print(sock.getsockname()[1], flush=True)
    uvicorn.Server(config).run(sockets=[sock])


def main_with_server(
    doc: str | None,
    serve: Callable[[Path, Path], None],
    run: Callable[[], dict[str, Any]],
    report_lines: Callable[[Any], list[str]],
) -> None:
    """``python -m bench.X``: the report; ``--serve`` (how ``served`` starts it): the server."""
    import argparse

    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--static-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.data_dir, args.static_dir)
        return
    for line in report_lines(run()):
        print(line)
