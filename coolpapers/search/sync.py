"""Keeping the search index behind the database, never behind for good.

The index records a cursor with each commit: the ``modified_at`` of the papers it has seen.
Catching up re-reads every paper modified since (minus a margin for transactions that commit
late), so a crash between a database commit and the index commit only delays a paper until
the next catch-up. Indexing a paper twice is harmless (upsert by id). One process writes at a
time (a database lease); readers (web processes) reload the committed index.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from coolpapers import store
from coolpapers.db import session_scope
from coolpapers.models import Paper
from coolpapers.search.engine import IndexCorrupt, IndexedPaper, SearchIndex

log = logging.getLogger(__name__)

SEARCH_LEASE = "search"
LEASE_S = 600
BATCH = 2000
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


def _indexed(paper: Paper) -> IndexedPaper:
    return IndexedPaper(
        id=paper.id,
        title=paper.title,
        abstract=paper.abstract,
        authors=tuple(a["name"] for a in paper.authors),
        categories=tuple(paper.categories),
        announced=paper.first_announced,
        published=store.as_utc(paper.published),
    )


def catch_up(
    factory: SessionFactory, index: SearchIndex, *, progress: Progress | None = None
) -> int:
    """Index every paper changed since the index's cursor; returns how many were indexed."""
    started = datetime.now(UTC)
    raw = index.cursor()
    cursor = datetime.fromisoformat(raw) if raw else None
    with session_scope(factory) as s:
        total = store.count_changed_since(s, cursor)
        done = 0
        for batch in store.changed_since(s, cursor, BATCH):
            done += index.upsert(_indexed(p) for p in batch)
            if progress is not None:
                progress(done, total)
    # never past "now minus the margin": a transaction stamped earlier may still commit
    newest = started - LATE_COMMIT_MARGIN
    if cursor is not None:
        newest = max(newest, cursor)
    index.commit(newest.isoformat())
    index.reload()
    if done:
        _store_keywords(factory, index, cursor)
    return done


def rebuild(factory: SessionFactory, data_dir: Path, *, progress: Progress | None = None) -> int:
    """Build the index from scratch (missing, corrupt, or asked for); returns papers indexed."""
    path = index_path(data_dir)
    shutil.rmtree(path, ignore_errors=True)
    index = SearchIndex.open(path, create=True)
    with session_scope(factory) as s:
        total = store.count_changed_since(s, None)

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
    path = index_path(data_dir)
    try:
        if path.exists():
            return SearchIndex.open(path, create=False)
    except IndexCorrupt as exc:
        log.warning("search index unreadable (%s): rebuilding", exc)
    rebuild(factory, data_dir, progress=progress)
    return SearchIndex.open(path, create=False)


def lease_name(data_dir: Path) -> str:
    """One writer per index, and an index per node: the lease is named after both."""
    where = f"{socket.gethostname()}:{data_dir.resolve()}"
    return f"{SEARCH_LEASE}:{hashlib.sha1(where.encode()).hexdigest()[:16]}"


def sync_job(factory: SessionFactory, data_dir: Path) -> int:
    """The scheduled step: under this index's lease, open (or rebuild) and catch up; 0 when
    another process holds the lease (or takes it over from us: it carries on)."""
    try:
        with store.hold_lease(factory, lease_name(data_dir), LEASE_S) as renew:

            def keep(_done: int, _total: int) -> None:
                renew()  # a batch at a time: a rebuild may outlast one lease

            index = open_or_rebuild(factory, data_dir, progress=keep)
            try:
                return catch_up(factory, index, progress=keep)
            finally:
                index.close()
    except store.LeaseHeld as exc:
        log.info("search index: %s", exc)
        return 0


# ---------------------------------------------------------------- keywords ([REL])


def keywords_for(
    index: SearchIndex, paper: IndexedPaper, n_docs: int, df_cache: dict[str, int] | None = None
) -> list[str]:
    """~10 TF-IDF keywords of title + abstract, document frequencies from the index."""
    cache = {} if df_cache is None else df_cache

    def df(word: str) -> int:
        if word not in cache:
            cache[word] = index.doc_freq(word)
        return cache[word]

    words = [
        w
        for w in SearchIndex.normalise(f"{paper.title} {paper.title} {paper.abstract}")
        if len(w) >= MIN_KEYWORD_CHARS and w not in STOPWORDS and not w.isdigit()
    ]
    tf = Counter(words)
    scored = [
        (count * math.log((n_docs + 1) / (df(word) + 1)) + 1e-9, word) for word, count in tf.items()
    ]
    scored.sort(key=lambda pair: (-pair[0], pair[1]))
    return [word for _, word in scored[:KEYWORDS]]


def _store_keywords(factory: SessionFactory, index: SearchIndex, cursor: datetime | None) -> None:
    n_docs = index.doc_count()
    df_cache: dict[str, int] = {}  # one catch-up sees one committed index: frequencies hold
    with session_scope(factory, write=True) as s:
        for batch in store.changed_since(s, cursor, BATCH):
            for paper in batch:
                keywords = keywords_for(index, _indexed(paper), n_docs, df_cache)
                if keywords != paper.keywords:
                    store.set_keywords(s, paper.id, keywords)
