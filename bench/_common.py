"""Shared by the benchmarks: fixture paths, sample statistics, throwaway databases."""

from __future__ import annotations

import os
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
