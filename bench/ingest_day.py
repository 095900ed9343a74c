"""Ingest one real arXiv day (cs.LG, Friday 2026-08-21, 200 items) into a fresh database.

Each repetition gets a fresh database (migrated before the clock starts), then ingests the
day twice: the first ingest stores it, the second must change nothing (idempotent). Parsing
alone is timed too, so the share of the store is visible. SQLite always; Postgres too when
COOLPAPERS_TEST_DATABASE_URL is set (in a throwaway schema per repetition).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from bench._common import RSS_DIR, Stats, postgres_schema, postgres_url, sqlite_settings, timed
from coolpapers import ingest, schema
from coolpapers.config import Settings
from coolpapers.db import make_engine, make_sessionmaker
from coolpapers.ingest import RunReport
from coolpapers.sources.arxiv import parse_rss

FEED = "cs.LG"
DAY_FILE = RSS_DIR / "rss-cs.LG-2026-08-21-fri.xml"
REPEATS = 7
WARMUP = 1


class BenchError(RuntimeError):
    """The code under measurement did not do what it should have."""


def _one_run(settings: Settings, body: bytes) -> tuple[float, float, float, RunReport, RunReport]:
    """(migrate s, ingest s, re-ingest s, first report, second report) on the given database."""
    engine = make_engine(settings)
    try:
        migrate_s, _ = timed(lambda: schema.upgrade(engine))
        factory = make_sessionmaker(engine)

        def once() -> RunReport:
            return ingest.ingest_feed_body(factory, body, source="file", target=DAY_FILE.name)

        first_s, first = timed(once)
        second_s, second = timed(once)
    finally:
        engine.dispose()
    if first.status != "ok" or first.n_stored != first.n_items:
        raise BenchError(f"first ingest: {first.line()}")
    if second.status != "ok" or second.n_stored != 0:
        raise BenchError(f"second ingest is not a no-op: {second.line()}")
    return migrate_s, first_s, second_s, first, second


def _series(
    fresh: Callable[[], AbstractContextManager[Settings]], body: bytes, repeats: int
) -> dict[str, Any]:
    migrate: list[float] = []
    first: list[float] = []
    second: list[float] = []
    report: RunReport | None = None
    for i in range(WARMUP + repeats):
        with fresh() as settings:
            m, a, b, report, _ = _one_run(settings, body)
        if i >= WARMUP:
            migrate.append(m)
            first.append(a)
            second.append(b)
    assert report is not None
    return {
        "ingest": Stats.of(first).as_dict(),
        "reingest": Stats.of(second).as_dict(),
        "migrate": Stats.of(migrate).as_dict(),
        "items": report.n_items,
        "listing_date": report.listing_date,
    }


@contextmanager
def _fresh_sqlite() -> Iterator[Settings]:
    with tempfile.TemporaryDirectory(prefix="coolpapers-bench-") as tmp:
        yield sqlite_settings(Path(tmp))


def _fresh_postgres(url: str) -> Callable[[], AbstractContextManager[Settings]]:
    @contextmanager
    def fresh() -> Iterator[Settings]:
        with (
            tempfile.TemporaryDirectory(prefix="coolpapers-bench-") as tmp,
            postgres_schema(url) as schema_url,
        ):
            yield sqlite_settings(Path(tmp), database_url=schema_url)

    return fresh


def run(repeats: int = REPEATS) -> dict[str, Any]:
    body = DAY_FILE.read_bytes()
    parse_rss(body)  # warm-up (imports, regex compilation)
    parse = [timed(lambda: parse_rss(body))[0] for _ in range(repeats)]
    result: dict[str, Any] = {
        "file": DAY_FILE.name,
        "bytes": len(body),
        "repeats": repeats,
        "parse": Stats.of(parse).as_dict(),
        "sqlite": _series(_fresh_sqlite, body, repeats),
        "postgres": None,
    }
    url = postgres_url()
    if url is None:
        result["postgres_skipped"] = "COOLPAPERS_TEST_DATABASE_URL not set"
    else:
        try:
            result["postgres"] = _series(_fresh_postgres(url), body, repeats)
        except BenchError:
            raise
        except Exception as exc:  # noqa: BLE001 - an unusable Postgres is reported, not fatal
            result["postgres_skipped"] = f"Postgres unusable: {type(exc).__name__}: {exc}"
    return result


def _seconds(value: float) -> str:
    return f"{value:.3f} s"


def report_lines(result: dict[str, Any]) -> list[str]:
    sqlite = result["sqlite"]
    ing = sqlite["ingest"]
    parse = result["parse"]["median"]
    head = f"ingest {FEED} {sqlite['listing_date']} ({sqlite['items']} items, "
    head += f"{result['bytes'] / 1024:.0f} KB of RSS)"
    lines = [
        f"{head}, SQLite: median {_seconds(ing['median'])} (min {_seconds(ing['min'])}, "
        f"max {_seconds(ing['max'])}, n={ing['n']})",
        f"  parse only {_seconds(parse)} ({parse / ing['median']:.0%} of the ingest); "
        f"re-ingest no-op {_seconds(sqlite['reingest']['median'])}; "
        f"migrating the fresh DB {_seconds(sqlite['migrate']['median'])} (not counted)",
    ]
    pg = result["postgres"]
    if pg is None:
        lines.append(f"  Postgres: skipped ({result.get('postgres_skipped', '')})")
    else:
        p = pg["ingest"]
        lines.append(
            f"  Postgres: median {_seconds(p['median'])} (min {_seconds(p['min'])}, "
            f"max {_seconds(p['max'])}, n={p['n']}); "
            f"re-ingest no-op {_seconds(pg['reingest']['median'])}"
        )
    return lines


if __name__ == "__main__":
    for line in report_lines(run()):
        print(line)
