"""The databases of the scale benchmark (``bench.scale``): built once per parameters, cached,
and copied for each run (the run ingests into its copy).

Two ways to build, chosen by BENCH_SCALE_BUILD:
  * ``import`` (the realistic path): ``bench.corpus.write_corpus`` writes a Kaggle-format JSON
    lines file recombined from the real fixtures, and ``coolpapers import kaggle`` (a
    subprocess, as a lab runs it) imports it into SQLite, and into Postgres; its wall time is
    one of the figures.
  * ``bulk`` (the fallback, as ``bench.history`` builds its history): the corpus of
    ``bench.search_corpus`` (``make_corpus``: real titles, sentences, authors and category
    lists recombined, days spread over two years up to 2026-08-21) inserted with bulk Core
    inserts (``search_corpus.load``), then a ``new`` listing for each paper announced in the
    last DAYS weekdays, ``store.index_listing_day`` and one ``feed_days`` row per feed for each
    of those days, as the ingest writes them; ``sync.rebuild`` for the search index.
Both end with ANALYZE. The SQLite file and its index live in CACHE/<key>/sqlite, Postgres in a
database of its own, ``bench_scale_<key>_<cache>`` (a template: each run works on a copy made with
``CREATE DATABASE … TEMPLATE``), its index in CACHE/<key>/postgres. The key names the
parameters; a cached database is migrated to head when used (a migration committed since the
build runs on it, timed: ``upgrade_s``), and BUILD_VERSION says when a build is stale.

``daily_feeds``: the daily ingest's documents. Each is one RSS 2.0 document of ITEMS items made
of the real items of tests/fixtures/arxiv/rss/rss-*.xml (their text as arXiv wrote it), under a
new listing day after the newest the database lists: new and cross items get fresh ids of that
day's month, replacements name a paper listed new in the last REPLACE_WINDOW_DAYS days, at its
next version, as a real day's feed does.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

from bench._common import REPO, RSS_DIR, BenchError, sqlite_settings, timed
from bench.history import weekdays
from bench.search_corpus import LAST_DAY, Corpus, load, make_corpus, make_queries, real_pool
from coolpapers import schema, store
from coolpapers.config import Settings
from coolpapers.db import make_engine, make_sessionmaker, session_scope
from coolpapers.models import FeedDay, Listing, Paper
from coolpapers.search import sync
from coolpapers.search.engine import IndexCorrupt, SearchIndex
from coolpapers.store import bulk

FEEDS = ("cs.AI", "cs.CL", "cs.CV", "cs.LG")
SEED = 11
ITEMS = 1000  # a big day of the four feeds together
REPLACE_WINDOW_DAYS = 28  # how far back a replacement reaches
COMMIT_DAYS = 25
TABLES = ("papers", "paper_categories", "listings", "day_categories", "feed_days")
BUILD_VERSION = 1  # bump when what a build writes changes
EASTERN = ZoneInfo("America/New_York")
_ITEM = re.compile(rb"<item>.*?</item>", re.S)
_LINK = re.compile(rb"<link>https://arxiv.org/abs/([^<]+)</link>")
_TYPE = re.compile(rb"<arxiv:announce_type>([^<]+)</arxiv:announce_type>")
_PUBDATE = re.compile(rb"<pubDate>[^<]*</pubDate>")
_TITLE = re.compile(rb"<title>[^<]*</title>")


@dataclass(frozen=True)
class Params:
    papers: int
    days: int  # weekdays with listings, up to LAST_DAY
    build: str  # import | bulk
    cache: Path
    postgres_url: str | None

    @property
    def key(self) -> str:
        return f"{self.build}_{self.papers}_{self.days}_{BUILD_VERSION}_{SEED}"

    @property
    def dir(self) -> Path:
        return self.cache / self.key


# ---------------------------------------------------------------- bulk build


def _listings(settings: Settings, corpus: Corpus, days: list[date]) -> None:
    """A ``new`` listing on its day for each paper first announced in ``days``; the day index
    and the feed days, as the ingest writes them."""
    wanted = set(days)
    by_day: dict[date, list[dict[str, Any]]] = {}
    for paper in corpus.papers:
        day = paper["first_announced"]
        if day in wanted:
            row = {"paper_id": paper["id"], "date": day, "kind": "new", "version": 1}
            by_day.setdefault(day, []).append(row)
    engine = make_engine(settings)
    factory = make_sessionmaker(engine)
    try:
        for start in range(0, len(days), COMMIT_DAYS):
            with session_scope(factory, write=True) as session:
                conn = session.connection()
                for day in days[start : start + COMMIT_DAYS]:
                    rows = by_day.get(day, [])
                    if not rows:
                        continue
                    conn.execute(insert(Listing), rows)
                    store.index_listing_day(session, day)
                    conn.execute(
                        insert(FeedDay),
                        [
                            {
                                "feed": feed,
                                "date": day,
                                "status": "listed",
                                "items": len(rows),
                                "fingerprint": hashlib.sha256(f"{feed} {day}".encode()).hexdigest(),
                            }
                            for feed in FEEDS
                        ],
                    )
    finally:
        engine.dispose()


def analyze(settings: Settings) -> float:
    """``store.bulk.analyze``, as an import ends (this schema's tables only on Postgres, where
    it vacuums too); seconds taken."""
    engine = make_engine(settings)
    try:
        seconds, _ = timed(lambda: bulk.analyze(make_sessionmaker(engine), TABLES))
    finally:
        engine.dispose()
    return seconds


def _checkpoint(settings: Settings) -> None:
    """Fold the WAL into the database file, so that copying the file copies everything."""
    engine = create_engine(settings.effective_database_url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()


def _build_bulk(params: Params, sqlite: Settings, pg: Settings | None) -> dict[str, Any]:
    pool = real_pool()
    make_s, corpus = timed(lambda: make_corpus(pool, params.papers, SEED))
    days = weekdays(params.days, LAST_DAY)
    figures: dict[str, Any] = {"make_corpus_s": make_s}
    for name, settings in (("sqlite", sqlite), ("postgres", pg)):
        if settings is None:
            continue
        loaded = load(settings, corpus)
        listings_s, _ = timed(lambda s=settings: _listings(s, corpus, days))  # type: ignore[misc]
        figures[name] = {**loaded, "listings_s": listings_s, "analyze_s": analyze(settings)}
    factory_engine = make_engine(sqlite)
    try:
        index_s, indexed = timed(
            lambda: sync.rebuild(make_sessionmaker(factory_engine), sqlite.data_dir)
        )
    finally:
        factory_engine.dispose()
    if indexed != params.papers:
        raise BenchError(f"the index holds {indexed} papers of {params.papers}")
    figures["index_s"] = index_s
    with SearchIndex.open(sync.index_path(sqlite.data_dir), create=False) as index:
        figures["queries"] = make_queries(pool, corpus.coined, index)
    return figures


# ---------------------------------------------------------------- import build


def importer_ready() -> str | None:
    """None when ``bench.corpus`` and ``coolpapers import kaggle`` are there; else why not."""
    try:
        from bench import corpus  # noqa: F401 - helper A's module, maybe not yet committed
    except ImportError:
        return "bench.corpus is not there yet"
    source = (REPO / "coolpapers" / "ingest" / "kaggle.py").read_text()
    if "NotImplementedError" in source:
        return "ingest.import_kaggle is not implemented yet"
    return None


def _import(settings: Settings, path: Path) -> float:
    """``coolpapers import kaggle PATH`` in a subprocess on this database; its wall time."""
    env = dict(
        os.environ,
        COOLPAPERS_DATABASE_URL=settings.effective_database_url,
        COOLPAPERS_DATA_DIR=str(settings.data_dir),
        COOLPAPERS_SECRET_KEY="bench",
    )
    cli = [sys.executable, "-m", "coolpapers"]
    subprocess.run([*cli, "db", "upgrade"], env=env, cwd=REPO, check=True, capture_output=True)
    start = time.perf_counter()
    done = subprocess.run(
        [*cli, "import", "kaggle", str(path)], env=env, cwd=REPO, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise BenchError(f"coolpapers import kaggle: exit {done.returncode}: {done.stderr[-500:]}")
    return seconds


def _build_import(params: Params, sqlite: Settings, pg: Settings | None) -> dict[str, Any]:
    from bench import corpus as kaggle_corpus

    path = params.dir / "corpus.jsonl"
    write_s, _ = timed(lambda: kaggle_corpus.write_corpus(path, params.papers, SEED))
    figures: dict[str, Any] = {"write_corpus_s": write_s}
    for name, settings in (("sqlite", sqlite), ("postgres", pg)):
        if settings is not None:
            figures[name] = {"import_s": _import(settings, path)}
    if not sync.index_path(sqlite.data_dir).exists():
        engine = make_engine(sqlite)
        try:
            figures["index_s"], _ = timed(
                lambda: sync.rebuild(make_sessionmaker(engine), sqlite.data_dir)
            )
        finally:
            engine.dispose()
    figures["queries"] = _queries_from_index()
    return figures


class _RareNames:
    """Stands in for the index when the query set is drawn for an imported corpus: its texts are
    whole real titles and abstracts, so no word of it is rare; the ``rare`` queries are the
    coined names of a small ``make_corpus`` instead, which the index does not hold (searches
    that find nothing, as a reader's misspelt or too-new word does)."""

    def doc_freq(self, _word: str) -> int:
        return 1


def _queries_from_index() -> list[tuple[str, str]]:
    """The query set of ``bench.search_corpus`` for an imported corpus (see ``_RareNames``)."""
    pool = real_pool()
    coined = make_corpus(pool, 5000, SEED).coined
    return make_queries(pool, coined, cast(SearchIndex, _RareNames()))


# ---------------------------------------------------------------- the cache


def _admin(url: str) -> Any:
    return create_engine(url, isolation_level="AUTOCOMMIT")


def database_url(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _pg_exists(url: str, name: str) -> bool:
    admin = _admin(url)
    try:
        with admin.connect() as conn:
            found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            return found.first() is not None
    finally:
        admin.dispose()


def pg_drop(url: str, name: str) -> None:
    admin = _admin(url)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def pg_create(url: str, name: str, template: str | None = None) -> None:
    admin = _admin(url)
    try:
        with admin.connect() as conn:
            conn.execute(
                text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
            )
    finally:
        admin.dispose()


def _pg_name(params: Params) -> str:
    """The Postgres twin of CACHE/<key>: named after the cache directory too. Named after the
    key alone, a run with another cache (another clone's default) dropped this one's database
    to build its own, and this cache, finding its database gone, deleted itself to rebuild."""
    where = hashlib.sha256(str(params.cache.resolve()).encode()).hexdigest()[:8]
    return f"bench_scale_{params.key}_{where}"


def _upgrade_cached(params: Params) -> dict[str, float]:
    """Migrate the cached databases to head, and rebuild a cached index the search engine no
    longer reads (its schema changed since the build), once, here rather than in every run's
    copy; seconds taken by each."""
    start = time.perf_counter()
    urls = [sqlite_settings(params.dir / "sqlite")]
    if params.postgres_url is not None:
        url = database_url(params.postgres_url, _pg_name(params))
        urls.append(sqlite_settings(params.dir / "postgres", database_url=url))
    rebuilt: list[Path] = []
    for settings in urls:
        engine = make_engine(settings)
        try:
            if not schema.is_current(engine):
                schema.upgrade(engine)
            path = sync.index_path(settings.data_dir)
            try:
                SearchIndex.open(path, create=False).close()
            except IndexCorrupt:
                if path.resolve() in rebuilt or path.is_symlink():
                    continue
                print(f"rebuilding the cached index {path} (its schema changed)", flush=True)
                sync.rebuild(make_sessionmaker(engine), settings.data_dir)
                rebuilt.append(path.resolve())
        finally:
            engine.dispose()
    _checkpoint(urls[0])
    return {"upgrade_s": time.perf_counter() - start, "indexes_rebuilt": float(len(rebuilt))}


def ensure_built(params: Params) -> dict[str, Any]:
    """The cached build for these parameters (built now when missing): what ``build.json``
    says, with ``cached`` true when nothing was built."""
    marker = params.dir / "build.json"
    pg_name = _pg_name(params)
    if marker.exists():
        built: dict[str, Any] = json.loads(marker.read_text())
        pg_ok = params.postgres_url is None or (
            built.get("postgres") is not None and _pg_exists(params.postgres_url, pg_name)
        )
        if pg_ok:
            built["cached"] = True
            built.update(_upgrade_cached(params))
            return built
    shutil.rmtree(params.dir, ignore_errors=True)
    (params.dir / "sqlite").mkdir(parents=True)
    (params.dir / "postgres").mkdir(parents=True)
    sqlite = sqlite_settings(params.dir / "sqlite")
    pg = None
    if params.postgres_url is not None:
        pg_drop(params.postgres_url, pg_name)
        pg_create(params.postgres_url, pg_name)
        pg_url = database_url(params.postgres_url, pg_name)
        pg = sqlite_settings(params.dir / "postgres", database_url=pg_url)
        engine = make_engine(pg)
        try:
            schema.upgrade(engine)
        finally:
            engine.dispose()
    engine = make_engine(sqlite)
    try:
        schema.upgrade(engine)
    finally:
        engine.dispose()
    start = time.perf_counter()
    print(f"building {params.dir} ({params.build}): a while at a million papers", flush=True)
    if params.build == "import":
        figures = _build_import(params, sqlite, pg)
    else:
        figures = _build_bulk(params, sqlite, pg)
    if pg is not None:
        # one index serves both: the same rows, the same modified_at (the ingest's catch-up
        # reads from the same cursor); hard links, since an index's files are never rewritten
        target = sync.index_path(pg.data_dir)
        if not target.exists():
            shutil.copytree(sync.index_path(sqlite.data_dir), target, copy_function=os.link)
    _checkpoint(sqlite)
    figures["build_s"] = time.perf_counter() - start
    figures["params"] = {"papers": params.papers, "days": params.days, "build": params.build}
    marker.write_text(json.dumps(figures, indent=2, default=str))
    figures["cached"] = False
    return figures


@dataclass(frozen=True)
class Copy:
    """A working copy of a cached database: its settings (data dir holds the index)."""

    name: str
    settings: Settings


@contextmanager
def working_copy(params: Params, which: str, workdir: Path) -> Iterator[Copy]:
    """A copy of the cached ``which`` database (and its index) this run may write to."""
    data_dir = workdir / which
    data_dir.mkdir(parents=True)
    source = params.dir / which
    # a real copy: the run's ingests write to this index
    shutil.copytree(sync.index_path(source), sync.index_path(data_dir))
    if which == "sqlite":
        for suffix in ("", "-wal"):
            with suppress(FileNotFoundError):
                shutil.copyfile(
                    source / f"coolpapers.db{suffix}", data_dir / f"coolpapers.db{suffix}"
                )
        yield Copy(which, sqlite_settings(data_dir))
        return
    assert params.postgres_url is not None
    name = f"bench_scale_run_{os.getpid()}"
    pg_drop(params.postgres_url, name)
    pg_create(params.postgres_url, name, template=_pg_name(params))
    try:
        url = database_url(params.postgres_url, name)
        yield Copy(which, sqlite_settings(data_dir, database_url=url))
    finally:
        pg_drop(params.postgres_url, name)


# ---------------------------------------------------------------- the daily feeds


@dataclass(frozen=True)
class RealItem:
    id: str
    kind: str  # new | cross | replace | replace-cross
    text: bytes


def _real_items() -> tuple[bytes, list[RealItem]]:
    """The channel head of one real feed, and the distinct real items of every RSS 2.0 day."""
    items: dict[str, RealItem] = {}
    head = b""
    for path in sorted(RSS_DIR.glob("rss-*.xml")):
        body = path.read_bytes()
        if path.name.startswith("rss-cs.LG-2026-08-21"):
            head = body[: body.index(b"<item>")]
        for match in _ITEM.finditer(body):
            chunk = match.group(0)
            link, kind = _LINK.search(chunk), _TYPE.search(chunk)
            if link and kind:
                pid = link.group(1).decode()
                items.setdefault(pid, RealItem(pid, kind.group(1).decode(), chunk))
    if not head or not items:
        raise BenchError("no real feed to make the daily feeds of")
    return head, [items[k] for k in sorted(items)]


def next_days(n: int, after: date = LAST_DAY) -> list[date]:
    days: list[date] = []
    day = after
    while len(days) < n:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days.append(day)
    return days


def _rewrite(item: RealItem, new_id: str, version: int, kind: str, stamp: bytes) -> bytes:
    text = re.sub(re.escape(item.id).encode() + rb"v\d+", f"{new_id}v{version}".encode(), item.text)
    text = text.replace(item.id.encode(), new_id.encode())
    text = _TYPE.sub(f"<arxiv:announce_type>{kind}</arxiv:announce_type>".encode(), text)
    text = text.replace(b"Announce Type: " + item.kind.encode(), f"Announce Type: {kind}".encode())
    return _PUBDATE.sub(b"<pubDate>" + stamp + b"</pubDate>", text)


def daily_feeds(settings: Settings, n_days: int, out: Path) -> list[tuple[date, Path]]:
    """``n_days`` feed documents of ITEMS items for the weekdays after the newest listed day
    (module doc), written into ``out``; the ids continue each month's numbering in the database."""
    head, items = _real_items()
    rng = random.Random(SEED)
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            newest = conn.scalar(select(func.max(Listing.date)))
            if newest is None:
                raise BenchError("the database lists no day")
            days = next_days(n_days, after=newest)
            rows = conn.execute(
                select(Paper.id, Paper.version)
                .join(Listing, Listing.paper_id == Paper.id)
                .where(Listing.date >= newest - timedelta(days=REPLACE_WINDOW_DAYS))
                .where(Listing.kind == "new")
                .distinct()
            ).all()
            targets = sorted((pid, version) for pid, version in rows)
            numbers: dict[str, int] = {}
            for month in {f"{d.year % 100:02d}{d.month:02d}" for d in days}:
                top = conn.scalar(
                    select(Paper.id)
                    .where(Paper.id.like(f"{month}.%"))
                    .order_by(Paper.id.desc())
                    .limit(1)
                )
                numbers[month] = int(top.split(".")[1]) if top else 0
    finally:
        engine.dispose()
    if not targets:
        raise BenchError("no recent paper for the replacements to name")
    rng.shuffle(targets)
    out.mkdir(parents=True, exist_ok=True)
    made = []
    for day in days:
        month = f"{day.year % 100:02d}{day.month:02d}"
        stamp = format_datetime(datetime(day.year, day.month, day.day, tzinfo=EASTERN)).encode()
        chunks = []
        for i in range(ITEMS):
            item = items[i % len(items)]
            if item.kind.startswith("replace") and i < len(items) and targets:
                pid, version = targets.pop()
                chunks.append(_rewrite(item, pid, version + 1, item.kind, stamp))
            else:
                numbers[month] += 1
                kind = item.kind if not item.kind.startswith("replace") else "new"
                chunks.append(_rewrite(item, f"{month}.{numbers[month]:05d}", 1, kind, stamp))
        spec = "+".join(FEEDS)
        channel = _TITLE.sub(f"<title>{spec} updates on arXiv.org</title>".encode(), head, count=1)
        channel = _PUBDATE.sub(b"<pubDate>" + stamp + b"</pubDate>", channel)
        body = channel + b"\n    ".join(chunks) + b"\n  </channel>\n</rss>\n"
        path = out / f"daily-{day}.xml"
        path.write_bytes(body)
        made.append((day, path))
    return made
