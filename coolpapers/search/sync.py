"""Keeping the search index behind the database, never behind for good.

The index records a cursor with each commit: the ``modified_at`` of the papers it has seen.
Catching up re-reads every paper modified since (minus a margin for transactions that commit
late), so a crash between a database commit and the index commit only delays a paper until
the next catch-up. Indexing a paper twice is harmless (upsert by id). One process writes at a
time (a database lease); readers (web processes) reload the committed index.

The [REL] keywords of the papers indexed are computed after the index commit (their TF-IDF
needs the committed document frequencies) and written back to the database. The cursor says
whether that step is pending and how far it got (see :class:`Position`): it is committed with
the index as "pending", advanced as keyword batches commit, and marked done at the end, so a
crash in between leaves the next catch-up to finish the keywords where they stopped. The
keywords themselves are keywords.py's; the note of a rebuild's progress, build_status.py's.

In bulk (a rebuild, or a first catch-up into an empty index: a history import of 1M papers),
papers are read as plain rows a page at a time, added without upsert's delete-by-term (there
is nothing to delete) and committed once; the merges that commit starts are waited for, so
searches meet a few large segments, not dozens of small ones.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import operator
import resource
import shutil
import socket
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Row
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import store
from coolpapers.db import session_scope
from coolpapers.search import keywords
from coolpapers.search.build_status import BuildStatus, write_status
from coolpapers.search.documents import version_of
from coolpapers.search.engine import IndexCorrupt, IndexedPaper, SearchIndex
from coolpapers.store import index_feed
from coolpapers.store.index_feed import FeedKey

log = logging.getLogger(__name__)

SEARCH_LEASE = "search"
LEASE_S = 600
BATCH = 5000  # papers read (and indexed) a page at a time
# After a catch-up of this many papers, wait for the merges its commit started (the writer is
# let go); a daily one leaves them to tantivy's background threads.
MERGE_WAIT_PAPERS = 20_000
# The collector's first threshold while catching up (CPython's: 700 allocations). A page of
# rows is thousands of papers' lists and dicts, alive while they are indexed; collecting every
# 700 allocations walks them again and again: ~11 us a paper, a third of the index's Python.
GC_THRESHOLD = 100_000
# A transaction may commit a little after it stamped modified_at; re-read that window.
LATE_COMMIT_MARGIN = timedelta(seconds=120)

SessionFactory = sessionmaker[Session]
Progress = Callable[[int, int], None]


def index_path(data_dir: Path) -> Path:
    return data_dir / "search"


@dataclass(frozen=True)
class Position:
    """What the index's cursor says. Papers modified at or after ``since`` are to be (re)read
    (all of them when None). When ``keywords_pending``, the keywords of the papers after
    ``keywords_after`` (all when None) are still to be computed and stored. Written as JSON;
    a bare ISO time (the cursor before keywords were tracked) reads as ``since``, nothing
    pending."""

    since: datetime | None
    keywords_pending: bool = False
    keywords_after: FeedKey | None = None

    def dump(self) -> str:
        after = self.keywords_after
        return json.dumps(
            {
                "since": self.since.isoformat() if self.since is not None else None,
                "keywords": (
                    {"after": None if after is None else [after[0].isoformat(), after[1]]}
                    if self.keywords_pending
                    else None
                ),
            }
        )

    @classmethod
    def parse(cls, raw: str | None) -> Position:
        if raw is None:
            return cls(None)
        if not raw.startswith("{"):
            return cls(datetime.fromisoformat(raw))
        data = json.loads(raw)
        since = datetime.fromisoformat(data["since"]) if data.get("since") else None
        keywords = data.get("keywords")
        if not isinstance(keywords, dict):
            return cls(since)
        after = keywords.get("after")
        key = (datetime.fromisoformat(after[0]), str(after[1])) if after else None
        return cls(since, True, key)

    def keywords_done_to(self, key: FeedKey) -> Position:
        """Keywords stored up to ``key`` (inclusive), never past ``since``: a paper stamped
        before ``since`` but committed after the keywords went by is read again from there."""
        moment = _utc(key[0])
        if self.since is not None and moment >= self.since:
            key = (self.since, "")
        else:
            key = (moment, key[1])
        return Position(self.since, True, key)


def _utc(moment: datetime) -> datetime:
    utc = store.as_utc(moment)
    assert utc is not None
    return utc


_NAME = operator.itemgetter("name")  # of an author as stored


def _indexed(row: Row[Any]) -> IndexedPaper:
    return IndexedPaper(
        id=row.id,
        title=row.title,
        abstract=row.abstract,
        authors=tuple(map(_NAME, row.authors)),
        categories=tuple(row.categories),
        announced=row.first_announced,
        published=store.as_utc(row.published),
        modified=row.modified_at,
    )


def _index_changed(
    factory: SessionFactory,
    index: SearchIndex,
    since: datetime | None,
    started: datetime,
    progress: Progress | None,
    unchanged: set[str],
) -> int:
    """Send every paper modified at or after ``since`` to the index (not committed), but
    those whose indexed version is this one: their ids go into ``unchanged``. (The window
    re-read for late commits after an import is all of it: 280k papers again.)"""
    # Into an empty index, add without deleting first. Not for papers stamped since the late
    # commit margin before we started: one re-stamped while we read (or committed late) comes
    # again further on, and must replace the copy added before.
    bulk = index.doc_count() == 0
    late = started - LATE_COMMIT_MARGIN
    key: FeedKey | None = (since, "") if since is not None else None
    with session_scope(factory) as s:
        total = index_feed.count_after(s, key)
    done = 0
    while True:
        with session_scope(factory) as s:  # a page per transaction: no hour-long snapshot
            rows = index_feed.page_after(s, key, BATCH)
        if not rows:
            break
        if not bulk:
            indexed = index.versions([row.id for row in rows])
            fresh_rows = []
            for row in rows:
                if indexed.get(row.id) == version_of(row.modified_at):
                    unchanged.add(row.id)
                else:
                    fresh_rows.append(row)
            rows_sent = fresh_rows
        else:
            rows_sent = rows
        papers = [_indexed(row) for row in rows_sent]
        if bulk:
            fresh = 0
            while fresh < len(rows_sent) and _utc(rows_sent[fresh].modified_at) < late:
                fresh += 1
            done += index.add(papers[:fresh]) + index.upsert(papers[fresh:])
        else:
            done += index.upsert(papers)
        key = index_feed.key_of(rows[-1])
        if progress is not None:
            progress(done, max(total, done))
        if len(rows) < BATCH:
            break
    return done


def catch_up(
    factory: SessionFactory, index: SearchIndex, *, progress: Progress | None = None
) -> int:
    """Index every paper changed since the index's cursor, then store the keywords of those
    (and of any a crash left without); returns how many papers were indexed."""
    with _fewer_collections():
        return _catch_up(factory, index, progress)


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """The cyclic garbage collector runs every GC_THRESHOLD allocations, not more often, for
    the time being (in this process: cycles are still collected, only less often)."""
    before = gc.get_threshold()
    if 0 < before[0] < GC_THRESHOLD:  # 0: the collector is off; leave it so
        gc.set_threshold(GC_THRESHOLD, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _catch_up(factory: SessionFactory, index: SearchIndex, progress: Progress | None) -> int:
    started = datetime.now(UTC)
    phases = _Phases()
    position = Position.parse(index.cursor())
    cursor = position.since
    unchanged: set[str] = set()
    try:
        done = _index_changed(factory, index, cursor, started, progress, unchanged)
    except BaseException:
        index.rollback()  # a retry on this index must not commit the half sent
        raise
    phases.end("index")
    # never past "now minus the margin": a transaction stamped earlier may still commit
    newest = started - LATE_COMMIT_MARGIN
    if cursor is not None:
        newest = max(newest, cursor)
    # The keywords still to do: where a crash left them, else those of the papers just read.
    keywords_from: FeedKey | None = None
    if position.keywords_pending:
        keywords_from = position.keywords_after
    elif cursor is not None:
        keywords_from = (cursor, "")
    pending = position.keywords_pending or done > 0
    index.commit(Position(newest, pending, keywords_from).dump())
    phases.end("commit")
    if pending:
        # each page of keywords reports (all indexed) too: the caller renews its lease on it
        on_page = None if progress is None else lambda: progress(done, done)
        _store_keywords(factory, index, keywords_from, progress=on_page, unchanged=unchanged)
        index.record_cursor(Position(newest).dump())
        phases.end("keywords")
    if done >= MERGE_WAIT_PAPERS:
        index.wait_merges()
        phases.end("merges")
    if done:
        log.info(
            "search index: %d papers indexed (%s)",
            done,
            phases,
            extra={"search_phases": phases.seconds, "search_phases_cpu": phases.cpu_seconds},
        )
    return done


class _Phases:
    """Seconds (wall clock) of a catch-up's steps, for its log line (and the benchmark)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        # this process's, all threads (tantivy's), and its finished children's (keywords)
        self.cpu_seconds: dict[str, float] = {}
        self._mark = time.perf_counter()
        self._cpu_mark = self._cpu()

    @staticmethod
    def _cpu() -> float:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time() + children.ru_utime + children.ru_stime

    def end(self, name: str) -> None:
        now, cpu = time.perf_counter(), self._cpu()
        self.seconds[name] = now - self._mark
        self.cpu_seconds[name] = cpu - self._cpu_mark
        self._mark, self._cpu_mark = now, cpu

    def __str__(self) -> str:
        return ", ".join(f"{name} {s:.1f} s" for name, s in self.seconds.items())


def rebuild(factory: SessionFactory, data_dir: Path, *, progress: Progress | None = None) -> int:
    """Build the index from scratch (missing, corrupt, or asked for); returns papers indexed."""
    path = index_path(data_dir)
    shutil.rmtree(path, ignore_errors=True)
    index = SearchIndex.open(path, create=True)
    with session_scope(factory) as s:
        total = index_feed.count_after(s, None)

    def report(done: int, _total: int) -> None:
        write_status(data_dir, BuildStatus(True, done, total))
        if progress is not None:
            progress(done, total)

    try:
        report(0, total)
        return catch_up(factory, index, progress=report)
    finally:
        index.close()
        write_status(data_dir, BuildStatus(False, total, total))


def open_or_rebuild(
    factory: SessionFactory, data_dir: Path, *, progress: Progress | None = None
) -> SearchIndex:
    """The writer's index: opened, or rebuilt when missing or unreadable."""
    return _open_or_rebuild(factory, data_dir, progress)[0]


def _open_or_rebuild(
    factory: SessionFactory, data_dir: Path, progress: Progress | None
) -> tuple[SearchIndex, int]:
    """The writer's index, and how many papers a rebuild indexed (0 when opened)."""
    path = index_path(data_dir)
    try:
        if path.exists():
            return SearchIndex.open(path, create=False), 0
    except IndexCorrupt as exc:
        log.warning("search index unreadable (%s): rebuilding", exc)
    rebuilt = rebuild(factory, data_dir, progress=progress)
    return SearchIndex.open(path, create=False), rebuilt


def lease_name(data_dir: Path) -> str:
    """One writer per index, and an index per node: the lease is named after both."""
    where = f"{socket.gethostname()}:{data_dir.resolve()}"
    return f"{SEARCH_LEASE}:{hashlib.sha1(where.encode()).hexdigest()[:16]}"


def sync_job(factory: SessionFactory, data_dir: Path) -> int:
    """The scheduled step: under this index's lease, open (or rebuild) and catch up; returns
    the papers indexed (by both); 0 when another process holds the lease (or takes it over
    from us: it carries on)."""
    try:
        with store.hold_lease(factory, lease_name(data_dir), LEASE_S) as renew:

            def keep(_done: int, _total: int) -> None:
                renew()  # a batch at a time: a rebuild may outlast one lease

            index, rebuilt = _open_or_rebuild(factory, data_dir, keep)
            try:
                return rebuilt + catch_up(factory, index, progress=keep)
            finally:
                index.close()
    except store.LeaseHeld as exc:
        log.info("search index: %s", exc)
        return 0


def _store_keywords(
    factory: SessionFactory,
    index: SearchIndex,
    start: FeedKey | datetime | None,
    *,
    progress: Callable[[], None] | None = None,
    unchanged: Collection[str] = (),
) -> int:
    """:func:`keywords.store` of the papers after ``start`` (a place, or a time: the papers
    modified from then on; all when None); returns how many changed. While the index's cursor
    says keywords are pending, each page's progress is recorded there as it commits, and
    ``progress`` is called."""
    key = (start, "") if isinstance(start, datetime) else start
    position = Position.parse(index.cursor())

    def on_page(done: FeedKey) -> None:
        if position.keywords_pending:
            index.record_cursor(position.keywords_done_to(done).dump())
        if progress is not None:
            progress()

    return keywords.store(factory, index, key, on_page=on_page, unchanged=unchanged)
