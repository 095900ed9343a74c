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
crash in between leaves the next catch-up to finish the keywords where they stopped.

In bulk (a rebuild, or a first catch-up into an empty index: a history import of 1M papers),
papers are read as plain rows a page at a time, added without upsert's delete-by-term (there
is nothing to delete) and committed once; the merges that commit starts are waited for, so
searches meet a few large segments, not dozens of small ones.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import multiprocessing
import os
import re
import resource
import shutil
import socket
import time
from collections import Counter, deque
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Row
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import store
from coolpapers.db import session_scope
from coolpapers.search.documents import version_of
from coolpapers.search.engine import IndexCorrupt, IndexedPaper, SearchIndex
from coolpapers.store import index_feed
from coolpapers.store.index_feed import FeedKey

log = logging.getLogger(__name__)

SEARCH_LEASE = "search"
LEASE_S = 600
BATCH = 5000  # papers read (and indexed) a page at a time
# Keywords written per database transaction: SQLite has one writer, and the web's writes
# (stars, clicks) wait behind this one; ~5,000 rows is some tens of milliseconds.
KEYWORD_BATCH = 5000
# Processes computing the keywords of a large pass, while this one reads and writes (on two
# cores: ~1.8x); and the papers a pass needs before it starts them (each takes ~1 s to start).
KEYWORD_WORKERS = min(2, os.cpu_count() or 1)
KEYWORD_POOL_MIN = 20_000
# After a catch-up of this many papers, wait for the merges its commit started (the writer is
# let go); a daily one leaves them to tantivy's background threads.
MERGE_WAIT_PAPERS = 20_000
# A transaction may commit a little after it stamped modified_at; re-read that window.
LATE_COMMIT_MARGIN = timedelta(seconds=120)
KEYWORDS = 10
MIN_KEYWORD_CHARS = 3
STOPWORDS = frozenset(  # English function words and paper boilerplate: never keywords
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers him his how however i if in into is it its
    itself just may me more most my no nor not now of off on once only or other our ours out
    over own paper papers propose proposed results same she should show shows so some such
    than that the their theirs them then there these they this those through to too under
    until up us use used using very via was we were what when where which while who whom why
    will with would yet you your our method methods approach based new novel work study""".split()  # noqa: SIM905 - a word list reads better as text
)

SessionFactory = sessionmaker[Session]
Progress = Callable[[int, int], None]


def index_path(data_dir: Path) -> Path:
    return data_dir / "search"


def status_path(data_dir: Path) -> Path:
    return data_dir / "search-status.json"


@dataclass(frozen=True)
class BuildStatus:
    building: bool
    done: int
    total: int


STATUS_STALE_S = 600  # a "building" note this old was left by a process that died


def read_status(data_dir: Path) -> BuildStatus | None:
    """What a rebuild in progress (any process) last wrote; None when none is running."""
    path = status_path(data_dir)
    try:
        raw = json.loads(path.read_text())
        status = BuildStatus(bool(raw["building"]), int(raw["done"]), int(raw["total"]))
        if status.building and time.time() - path.stat().st_mtime > STATUS_STALE_S:
            return None
        return status
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_status(data_dir: Path, status: BuildStatus) -> None:
    path = status_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(status.__dict__))
    os.replace(tmp, path)


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


def _indexed(row: Row[Any]) -> IndexedPaper:
    return IndexedPaper(
        id=row.id,
        title=row.title,
        abstract=row.abstract,
        authors=tuple(a["name"] for a in row.authors),
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
        _write_status(data_dir, BuildStatus(True, done, total))
        if progress is not None:
            progress(done, total)

    try:
        report(0, total)
        return catch_up(factory, index, progress=report)
    finally:
        index.close()
        _write_status(data_dir, BuildStatus(False, total, total))


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


# ---------------------------------------------------------------- keywords ([REL])


# The analyzer's words of ASCII text long enough to be keywords: runs of ASCII letters and
# digits, lower-cased, of MIN_KEYWORD_CHARS or more (a run is only ever matched whole).
_ASCII_CANDIDATE = rf"[a-z0-9]{{{MIN_KEYWORD_CHARS},}}"


def _candidates(text: str) -> list[str]:
    """The words of ``text`` as the analyzer makes them (``SearchIndex.normalise``) that are
    long enough to be keywords; a fast way for ASCII text, most of arXiv's."""
    if text.isascii():
        return re.findall(_ASCII_CANDIDATE, text.lower())
    return [w for w in SearchIndex.normalise(text) if len(w) >= MIN_KEYWORD_CHARS]


def _term_counts(title: str, abstract: str) -> Counter[str]:
    """Long enough words of a paper and their counts (the title counts twice); stop words
    and numbers are left to the caller (a test per distinct word, not per word)."""
    counts = Counter(_candidates(abstract))
    in_title = _candidates(title)
    counts.update(in_title)
    counts.update(in_title)
    return counts


def _keyword(word: str) -> bool:
    return word not in STOPWORDS and not word.isdigit()


_NEVER = float("-inf")  # the IDF of a word that is never a keyword: it sorts last


class _Idf(dict[str, float]):
    """Each word's IDF against one committed index, looked up once; _NEVER for stop words
    and numbers (one test per distinct word of the pass, not one per paper)."""

    def __init__(self, index: SearchIndex) -> None:
        super().__init__()
        self._index = index
        self._docs = index.doc_count()

    def __missing__(self, word: str) -> float:
        if _keyword(word):
            found = math.log((self._docs + 1) / (self._index.doc_freq(word) + 1))
        else:
            found = _NEVER
        self[word] = found
        return found


class _Keywords:
    """TF-IDF keywords against one committed index (its frequencies hold for a pass)."""

    def __init__(self, index: SearchIndex) -> None:
        self._idf = _Idf(index)

    def of(self, title: str, abstract: str) -> list[str]:
        idf = self._idf
        # keywords_for's score and order: highest first, ties by word
        scored = sorted(
            [
                (-(count * idf[word] + 1e-9), word)
                for word, count in _term_counts(title, abstract).items()
            ]
        )
        return [word for score, word in scored[:KEYWORDS] if score != -_NEVER]


def keywords_for(
    index: SearchIndex, paper: IndexedPaper, n_docs: int, df_cache: dict[str, int] | None = None
) -> list[str]:
    """~10 TF-IDF keywords of title + abstract, document frequencies from the index."""
    cache = {} if df_cache is None else df_cache

    def df(word: str) -> int:
        if word not in cache:
            cache[word] = index.doc_freq(word)
        return cache[word]

    tf = _term_counts(paper.title, paper.abstract)
    scored = [
        (count * math.log((n_docs + 1) / (df(word) + 1)) + 1e-9, word)
        for word, count in tf.items()
        if _keyword(word)
    ]
    scored.sort(key=lambda pair: (-pair[0], pair[1]))
    return [word for _, word in scored[:KEYWORDS]]


# A page of papers for the keywords, as plain tuples (they go to worker processes):
# (id, title, abstract, the keywords stored now).
_Page = list[tuple[str, str, str, Any]]


def _changed(keywords: _Keywords, page: _Page) -> dict[str, list[str]]:
    """The keywords of the papers of ``page`` whose keywords are not those stored."""
    changed: dict[str, list[str]] = {}
    for paper_id, title, abstract, stored in page:
        words = keywords.of(title, abstract)
        if words != stored:
            changed[paper_id] = words
    return changed


# A worker process's keywords (the index opened by path): set by its initializer.
_WORKER: dict[str, _Keywords] = {}


def _start_worker(path: str) -> None:
    _WORKER["keywords"] = _Keywords(SearchIndex.open(Path(path), create=False))


def _changed_in_worker(page: _Page) -> dict[str, list[str]]:
    return _changed(_WORKER["keywords"], page)


def _keyword_pages(
    factory: SessionFactory, key: FeedKey | None, unchanged: Collection[str]
) -> Iterator[tuple[FeedKey, _Page]]:
    """The papers after ``key``, a page at a time (a read transaction each), with the place
    of each page's last paper; not those ``unchanged`` that have keywords."""
    while True:
        with session_scope(factory) as s:
            rows = index_feed.page_after(s, key, KEYWORD_BATCH, index_feed.KEYWORD_COLUMNS)
        if not rows:
            return
        key = index_feed.key_of(rows[-1])
        yield (
            key,
            [
                (r.id, r.title, r.abstract, r.keywords)
                for r in rows
                if r.keywords is None or r.id not in unchanged
            ],
        )
        if len(rows) < KEYWORD_BATCH:
            return


def _computed(
    pages: Iterator[tuple[FeedKey, _Page]], index: SearchIndex, pooled: bool
) -> Iterator[tuple[FeedKey, dict[str, list[str]]]]:
    """The changed keywords of each page, in page order: here, or (``pooled``) by worker
    processes while this one reads the next pages and writes the last ones. Pure Python
    (some 80 us a paper): threads would take turns on the GIL."""
    if not pooled:
        keywords = _Keywords(index)  # one pass sees one committed index: frequencies hold
        for key, page in pages:
            yield key, _changed(keywords, page)
        return
    context = multiprocessing.get_context("spawn")  # never fork a process running tantivy's threads
    with ProcessPoolExecutor(
        KEYWORD_WORKERS,
        mp_context=context,
        initializer=_start_worker,
        initargs=(str(index.path),),
    ) as pool:
        waiting: deque[tuple[FeedKey, Future[dict[str, list[str]]]]] = deque()
        try:
            for key, page in pages:
                waiting.append((key, pool.submit(_changed_in_worker, page)))
                if len(waiting) > 2 * KEYWORD_WORKERS:  # a few ahead, not the whole table
                    done_key, future = waiting.popleft()
                    yield done_key, future.result()
            while waiting:
                done_key, future = waiting.popleft()
                yield done_key, future.result()
        finally:
            for _, future in waiting:
                future.cancel()


def _store_keywords(
    factory: SessionFactory,
    index: SearchIndex,
    start: FeedKey | datetime | None,
    *,
    progress: Callable[[], None] | None = None,
    unchanged: Collection[str] = (),
) -> int:
    """Compute and store the keywords of the papers after ``start`` (a place, or a time: the
    papers modified from then on; all when None), a batch per write transaction; returns how
    many changed. While the index's cursor says keywords are pending, each batch's progress
    is recorded there as it commits, and ``progress`` is called. Past KEYWORD_POOL_MIN papers,
    worker processes compute them. The papers ``unchanged`` since they were indexed keep the
    keywords they have (if they have some)."""
    key = (start, "") if isinstance(start, datetime) else start
    position = Position.parse(index.cursor())
    with session_scope(factory) as s:
        to_do = index_feed.count_after(s, key) - len(unchanged)
    pooled = KEYWORD_WORKERS > 1 and to_do >= KEYWORD_POOL_MIN
    changed_count = 0
    while True:
        try:
            pages = _keyword_pages(factory, key, unchanged)
            for done_key, changed in _computed(pages, index, pooled):
                if changed:
                    with session_scope(factory, write=True) as s:
                        index_feed.set_many_keywords(s, changed)
                    changed_count += len(changed)
                if position.keywords_pending:
                    index.record_cursor(position.keywords_done_to(done_key).dump())
                key = done_key
                if progress is not None:
                    progress()
            return changed_count
        except BrokenProcessPool as exc:
            # A worker could not start or died (a main module that starts work when a
            # spawned process imports it, the memory killer): carry on here, from the last
            # page written.
            log.warning("search keywords: worker processes failed (%s): computing here", exc)
            pooled = False
