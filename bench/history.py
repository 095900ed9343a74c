"""Day navigation over a long history: does a list page cost the same at 30 days as at 300?

Issue 8 §3: on Postgres a 4-category union day took 1.2 s at three years of history, because the
previous/next-day lookups joined every listing with every paper category. The fix answers them
from the per-(category, day) index the ingest keeps (``day_categories``). This measures it.

The history is made of the real feeds bundled in tests/fixtures/arxiv/rss/*.xml (~1,000 distinct
papers, parsed with ``parse_rss``), recombined with a seeded random generator: every weekday up
to 2026-08-21, each of the four feeds cs.AI, cs.CL, cs.CV, cs.LG lists PER_FEED items. The share
of replacements is the real feeds' share; the other items are new papers, each a copy of a real
paper having that category (title, abstract, authors, categories, primary first) under a new id
``YYMM.NNNNN`` numbered within the month of its day. A replacement is a later version of a
synthetic paper of that category announced in the previous REPLACE_WINDOW weekdays (its row
takes the new version, as the ingest's upsert does). Rows go in with bulk Core inserts, one day
at a time, then ``store.index_listing_day`` for the day and one ``feed_days`` row per feed, as
the ingest writes them; the whole history in one transaction per COMMIT_DAYS days. Then
``store.bulk.analyze``, as after any bulk import (ANALYZE; VACUUM too on Postgres).

Two lengths, SHORT_DAYS and LONG_DAYS weekdays, each in a fresh database: SQLite in a temporary
directory, and Postgres in a throwaway schema (dropped afterwards) when COOLPAPERS_TEST_DATABASE_URL
is set or the test suite's server (DEFAULT_POSTGRES) answers. The sizes keep the run under about
three minutes on 2 cores; building the long Postgres history is most of it.

Timed, ROUNDS rounds after WARMUP, medians (the day asked for is the middle day of the history):
  * in this process, through ``store`` in one session per round: the latest day of the union
    (what a list without ``date`` opens), the previous and the next day of the middle day, and
    the day's listing (``store.day_listing``, the first page of it);
  * over HTTP, the real app (scheduler off) under uvicorn in a subprocess (one worker,
    127.0.0.1): ``/arxiv/cs.AI,cs.CL,cs.CV,cs.LG?date=<middle day>`` against a static file of
    the same bytes from the same server (``/benchstatic``, as in ``bench.serve_list``),
    interleaved on one keep-alive connection (``RawHTTP``).
The point is the ratio long/short of each figure: day navigation should cost the same whatever
the history length. Figures only; a wrong answer (a day other than the one expected, a page that
is not 200) stops the run.

The day's listing tests a listed paper's categories with a per-listing probe (LIMIT 1), not
EXISTS: as a semi-join Postgres hashed every union row of ``paper_categories`` on a short history
(a sequential scan of 46,704 rows at 30 days, a union page of 44 ms against 27 ms at 300 days).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import random
import statistics
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session

from bench._common import (
    RSS_DIR,
    BenchError,
    RawHTTP,
    main_with_server,
    postgres_schema,
    reachable_postgres,
    serve_app_with_static,
    served,
    sqlite_settings,
    timed,
)
from coolpapers import schema, store, taxonomy
from coolpapers.config import Settings
from coolpapers.db import make_engine, make_sessionmaker, session_scope
from coolpapers.models import FeedDay, Listing, Paper, PaperCategory, utcnow
from coolpapers.records import PaperMeta
from coolpapers.sources.arxiv import parse_rss
from coolpapers.store import bulk

FEEDS = ("cs.AI", "cs.CL", "cs.CV", "cs.LG")
SPEC = ",".join(FEEDS)
SHORT_DAYS, LONG_DAYS = 30, 300
PER_FEED = 300
LAST_DAY = date(2026, 8, 21)  # the newest bundled feed
SEED = 8
REPLACE_WINDOW = 20
COMMIT_DAYS = 25
ROUNDS, WARMUP = 50, 5
SHOW = 25  # the page's default
DB_ENV = "BENCH_HISTORY_DATABASE_URL"  # the server's database (a Postgres URL may hold a password)
STATIC_NAME = "list.html"
STATIC = f"/benchstatic/{STATIC_NAME}"
START_TIMEOUT_S = 60.0
TABLES = ("papers", "paper_categories", "listings", "day_categories", "feed_days")


# ---------------------------------------------------------------- the history


@dataclass(frozen=True)
class Pool:
    """The real papers of each feed's category, and the real share of replacements."""

    papers: dict[str, list[tuple[PaperMeta, tuple[str, ...]]]]  # category -> (meta, canonical)
    replace_share: float
    distinct: int


def real_pool() -> Pool:
    metas: dict[str, PaperMeta] = {}
    announcements: set[tuple[str, int, str]] = set()  # a repeated feed counts once
    for path in sorted(RSS_DIR.glob("*.xml")):
        for item in parse_rss(path.read_bytes()).items:
            metas[item.meta.id] = item.meta
            announcements.add((item.meta.id, item.meta.version, item.announce_type))
    kinds = Counter(store.listing_kind(kind) for _, _, kind in announcements)
    papers: dict[str, list[tuple[PaperMeta, tuple[str, ...]]]] = {c: [] for c in FEEDS}
    for pid in sorted(metas):
        categories = taxonomy.canonical_categories(metas[pid].categories)
        for c in FEEDS:
            if c in categories:
                papers[c].append((metas[pid], categories))
    return Pool(papers, kinds["replace"] / sum(kinds.values()), len(metas))


def weekdays(n: int, last: date = LAST_DAY) -> list[date]:
    """The last ``n`` weekdays up to ``last``, oldest first."""
    days: list[date] = []
    day = last
    while len(days) < n:
        if day.weekday() < 5:
            days.append(day)
        day -= timedelta(days=1)
    return days[::-1]


@dataclass
class DayRows:
    papers: list[dict[str, Any]]
    categories: list[dict[str, Any]]
    listings: list[dict[str, Any]]
    versions: list[dict[str, Any]]  # replaced papers: their new version


class History:
    """A seeded generator of days; each day's rows depend on the days before it."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.rng = random.Random(SEED)
        self.per_month: Counter[str] = Counter()
        self.version: dict[str, int] = {}
        self.recent: dict[str, list[list[str]]] = {c: [] for c in FEEDS}  # per day, newest last

    def day(self, day: date) -> DayRows:
        rows = DayRows([], [], [], [])
        month = f"{day.year % 100:02d}{day.month:02d}"
        n_replace = round(PER_FEED * self.pool.replace_share)
        replaced: set[str] = set()
        created: dict[str, list[str]] = {c: [] for c in FEEDS}
        for c in FEEDS:
            window = [pid for ids in self.recent[c] for pid in ids if pid not in replaced]
            chosen = self.rng.sample(window, min(n_replace, len(window)))
            for pid in chosen:
                replaced.add(pid)
                self.version[pid] += 1
                v = self.version[pid]
                rows.listings.append(
                    {"paper_id": pid, "date": day, "kind": "replace", "version": v}
                )
                rows.versions.append({"pid": pid, "v": v})
            for _ in range(PER_FEED - len(chosen)):
                meta, categories = self.rng.choice(self.pool.papers[c])
                self.per_month[month] += 1
                if self.per_month[month] > 99_999:
                    raise BenchError("more papers in a month than 5-digit ids")
                pid = f"{month}.{self.per_month[month]:05d}"
                self.version[pid] = 1
                for other in categories:
                    if other in created:
                        created[other].append(pid)
                rows.papers.append(_paper_row(pid, meta, categories, day))
                rows.categories.extend(
                    {"paper_id": pid, "category": cat, "position": i}
                    for i, cat in enumerate(categories)
                )
                rows.listings.append({"paper_id": pid, "date": day, "kind": "new", "version": 1})
        for c in FEEDS:
            self.recent[c] = [*self.recent[c], created[c]][-REPLACE_WINDOW:]
        return rows


def _paper_row(pid: str, meta: PaperMeta, categories: tuple[str, ...], day: date) -> dict[str, Any]:
    """A paper row as an RSS ingest writes it (no submission times: RSS has none)."""
    now = utcnow()
    return {
        "id": pid,
        "version": 1,
        "title": meta.title,
        "abstract": meta.abstract,
        "authors": [{"name": a.name, "affiliations": list(a.affiliations)} for a in meta.authors],
        "categories": list(categories),
        "primary_category": categories[0],
        "doi": meta.doi,
        "journal_ref": meta.journal_ref,
        "comments": meta.comments,
        "license": meta.license,
        "first_announced": day,
        "faq_clicks": 0,
        "created_at": now,
        "modified_at": now,
    }


def _write_day(session: Session, day: date, rows: DayRows) -> None:
    conn = session.connection()
    conn.execute(insert(Paper), rows.papers)
    conn.execute(insert(PaperCategory), rows.categories)
    conn.execute(insert(Listing), rows.listings)
    if rows.versions:
        conn.execute(
            update(Paper).where(Paper.id == bindparam("pid")).values(version=bindparam("v")),
            rows.versions,
        )
    store.index_listing_day(session, day)
    conn.execute(
        insert(FeedDay),
        [
            {
                "feed": c,
                "date": day,
                "status": "listed",
                "items": PER_FEED,
                "fingerprint": hashlib.sha256(f"{c} {day}".encode()).hexdigest(),
            }
            for c in FEEDS
        ],
    )


def build(settings: Settings, pool: Pool, n_days: int) -> dict[str, Any]:
    """Migrate a fresh database (not timed), write the history, analyse it as an import does."""
    engine = make_engine(settings)
    factory = make_sessionmaker(engine)
    days = weekdays(n_days)
    try:
        schema.upgrade(engine)
        history = History(pool)

        def write() -> None:
            for start in range(0, len(days), COMMIT_DAYS):
                with session_scope(factory) as session:
                    for day in days[start : start + COMMIT_DAYS]:
                        _write_day(session, day, history.day(day))

        insert_s, _ = timed(write)
        analyze_s, _ = timed(lambda: bulk.analyze(factory, TABLES))
        with engine.connect() as conn:
            counts = {
                name: conn.scalar(select(func.count()).select_from(model))
                for name, model in (("papers", Paper), ("listings", Listing))
            }
            indexed = conn.scalar(text("SELECT count(*) FROM day_categories"))
    finally:
        engine.dispose()
    if counts["listings"] != n_days * len(FEEDS) * PER_FEED:
        raise BenchError(f"{counts['listings']} listings stored for {n_days} days")
    return {
        "days": n_days,
        "first": days[0].isoformat(),
        "last": days[-1].isoformat(),
        **counts,
        "day_categories": indexed,
        "insert_s": insert_s,
        "analyze_s": analyze_s,
    }


# ---------------------------------------------------------------- in process


def _median_ms(samples: list[float]) -> float:
    return 1000 * statistics.median(samples)


def lookups(settings: Settings, n_days: int) -> dict[str, Any]:
    """The store calls of a list page, each checked, ROUNDS rounds (one session each)."""
    days = weekdays(n_days)
    mid = len(days) // 2
    filt = store.SpecFilter(frozenset(FEEDS), frozenset())
    calls: dict[str, tuple[Callable[[Session], Any], Any]] = {
        "latest": (lambda s: store.latest_day(s, filt), days[-1]),
        "previous": (lambda s: store.latest_day(s, filt, before=days[mid]), days[mid - 1]),
        "next": (lambda s: store.next_day(s, filt, days[mid]), days[mid + 1]),
        "listing": (
            lambda s: (
                store.day_listing(s, filt, days[mid], replacements=False, show=SHOW, skip=0).total
            ),
            None,
        ),
    }
    samples: dict[str, list[float]] = {name: [] for name in calls}
    engine = make_engine(settings)
    factory = make_sessionmaker(engine)
    try:
        for i in range(WARMUP + ROUNDS):
            with factory() as session:
                for name, (call, want) in calls.items():
                    seconds, got = timed(functools.partial(call, session))
                    if want is not None and got != want:
                        raise BenchError(f"{name}: {got}, expected {want}")
                    if i >= WARMUP:
                        samples[name].append(seconds)
    finally:
        engine.dispose()
    return {name: _median_ms(values) for name, values in samples.items()}


# ---------------------------------------------------------------- over HTTP


def serve(data_dir: Path, static_dir: Path) -> None:
    """Run the app (database from DB_ENV, else SQLite in ``data_dir``) with the bench mount on
    a free port; print the port, then serve."""
    settings = sqlite_settings(data_dir, database_url=os.environ.get(DB_ENV, ""))
    serve_app_with_static(settings, static_dir)


@contextlib.contextmanager
def server(data_dir: Path, static_dir: Path, database_url: str) -> Iterator[str]:
    """``serve`` in a subprocess; yields its base URL once /status answers."""
    args = ["bench.history", "--serve", "--data-dir", str(data_dir)]
    args += ["--static-dir", str(static_dir)]
    with served(args, START_TIMEOUT_S, {DB_ENV: database_url}) as (base_url, _):
        yield base_url


def page(data_dir: Path, database_url: str, n_days: int) -> dict[str, Any]:
    """The middle day's page against the same bytes served as a static file."""
    days = weekdays(n_days)
    mid = days[len(days) // 2]
    path = f"/arxiv/{SPEC}?date={mid}"
    with (
        tempfile.TemporaryDirectory(prefix="coolpapers-bench-static-") as static,
        server(data_dir, Path(static), database_url) as base_url,
        httpx.Client(base_url=base_url, timeout=30.0) as client,
    ):
        first = client.get(path)
        if first.status_code != 200:
            raise BenchError(f"GET {path}: {first.status_code}")
        api = client.get(f"/api/arxiv/{SPEC}", params={"date": mid.isoformat()}).json()
        around = (api["previous_date"], api["next_date"])
        i = days.index(mid)
        if around != (days[i - 1].isoformat(), days[i + 1].isoformat()):
            raise BenchError(f"{path}: previous/next {around}")
        body = first.content
        (Path(static) / STATIC_NAME).write_bytes(body)
        with RawHTTP("127.0.0.1", httpx.URL(base_url).port or 80) as raw:
            samples = raw.interleaved([path, STATIC], len(body), warmup=WARMUP, rounds=ROUNDS)
    dynamic, static_ms = _median_ms(samples[path]), _median_ms(samples[STATIC])
    return {
        "path": path,
        "bytes": len(body),
        "papers_total": api["total"],
        "page_ms": dynamic,
        "static_ms": static_ms,
        "ratio": dynamic / static_ms,
    }


# ---------------------------------------------------------------- the run


def _measure(pool: Pool, settings: Settings, data_dir: Path, n_days: int) -> dict[str, Any]:
    return {
        "database": build(settings, pool, n_days),
        "lookups_ms": lookups(settings, n_days),
        "page": page(data_dir, settings.database_url, n_days),
    }


def run() -> dict[str, Any]:
    pool = real_pool()
    databases: dict[str, Any] = {}
    for n_days in (SHORT_DAYS, LONG_DAYS):
        with tempfile.TemporaryDirectory(prefix="coolpapers-bench-history-") as tmp:
            data_dir = Path(tmp)
            sqlite = _measure(pool, sqlite_settings(data_dir), data_dir, n_days)
            databases.setdefault("sqlite", {})[str(n_days)] = sqlite
    pg_url, pg_skipped = reachable_postgres()
    if pg_url is not None:
        for n_days in (SHORT_DAYS, LONG_DAYS):
            with (
                tempfile.TemporaryDirectory(prefix="coolpapers-bench-history-") as tmp,
                postgres_schema(pg_url) as schema_url,
            ):
                data_dir = Path(tmp)
                settings = sqlite_settings(data_dir, database_url=schema_url)
                databases.setdefault("postgres", {})[str(n_days)] = _measure(
                    pool, settings, data_dir, n_days
                )
    return {
        "spec": SPEC,
        "per_feed": PER_FEED,
        "lengths": [SHORT_DAYS, LONG_DAYS],
        "real_papers": pool.distinct,
        "replace_share": pool.replace_share,
        "rounds": ROUNDS,
        "seed": SEED,
        "databases": databases,
        "postgres_skipped": pg_skipped,
    }


# ---------------------------------------------------------------- the report

_ROWS = (
    ("latest day", "lookups_ms", "latest"),
    ("previous day (of the middle)", "lookups_ms", "previous"),
    ("next day (of the middle)", "lookups_ms", "next"),
    ("the day's listing, page 1", "lookups_ms", "listing"),
    ("list page over HTTP", "page", "page_ms"),
    ("static file, same bytes", "page", "static_ms"),
)


def _database_lines(label: str, by_length: dict[str, Any]) -> list[str]:
    short, long = by_length[str(SHORT_DAYS)], by_length[str(LONG_DAYS)]
    lines = [f"{label}:"]
    for n_days, figures in ((SHORT_DAYS, short), (LONG_DAYS, long)):
        db = figures["database"]
        lines.append(
            f"  {n_days:>3} days ({db['first']}..{db['last']}): {db['papers']:,} papers, "
            f"{db['listings']:,} listings, {db['day_categories']:,} day_categories rows; "
            f"written in {db['insert_s']:.1f} s, ANALYZE {db['analyze_s']:.1f} s"
        )
    columns = f"{SHORT_DAYS} days", f"{LONG_DAYS} days", "long/short"
    lines.append(f"  {f'median of {ROUNDS}':<30}{columns[0]:>10}{columns[1]:>10}{columns[2]:>12}")
    for name, group, key in _ROWS:
        a, b = short[group][key], long[group][key]
        lines.append(f"  {name:<30}{a:>7.2f} ms{b:>7.2f} ms{b / a:>11.2f}×")
    lines.append(
        f"  {'page/static':<30}{short['page']['ratio']:>9.1f}×{long['page']['ratio']:>9.1f}×"
        f"   ({short['page']['bytes'] / 1024:.0f} KB / {long['page']['bytes'] / 1024:.0f} KB, "
        f"{short['page']['papers_total']} / {long['page']['papers_total']} papers that day)"
    )
    return lines


def report_lines(result: dict[str, Any]) -> list[str]:
    lines = [
        f"history: feeds {result['spec']} × {result['per_feed']} items a weekday, from "
        f"{result['real_papers']} real papers recombined ({result['replace_share']:.0%} "
        f"replacements, as the real feeds); page {result['spec']}?date=<middle day>"
    ]
    names = {"sqlite": "SQLite", "postgres": "Postgres"}
    for key, by_length in result["databases"].items():
        lines += _database_lines(names[key], by_length)
    if result["postgres_skipped"]:
        lines.append(f"Postgres: skipped ({result['postgres_skipped']})")
    return lines


def main() -> None:
    main_with_server(__doc__, serve, run, report_lines)


if __name__ == "__main__":
    main()
