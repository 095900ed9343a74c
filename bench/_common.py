"""Shared by the benchmarks: fixture paths, sample statistics, throwaway databases."""

from __future__ import annotations

import os
import socket
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from coolpapers.config import Settings, load_settings

REPO = Path(__file__).resolve().parent.parent
RSS_DIR = REPO / "tests" / "fixtures" / "arxiv" / "rss"
PG_ENV = "COOLPAPERS_TEST_DATABASE_URL"


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


def postgres_url() -> str | None:
    """The Postgres URL of the test suite, if configured."""
    return os.environ.get(PG_ENV) or None


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

    def close(self) -> None:
        self._reader.close()
        self._sock.close()

    def __enter__(self) -> RawHTTP:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
