"""Fetch → parse → decide → store. Idempotent: the same feed twice changes nothing.

Each fetch is one ``ingest_runs`` row. The data of one feed is written in one transaction, so a
failed fetch or parse leaves the database as it was. Every run holds the ``ingest`` lease, so two
processes (``serve`` and ``worker``, or a CLI run) never ingest at once.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypedDict

from sqlalchemy.orm import Session, sessionmaker

from coolpapers import store, taxonomy
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.errors import CoolpapersError, NoSuchPaper, ParseError
from coolpapers.http import Fetcher
from coolpapers.models import Paper, utcnow
from coolpapers.records import Feed, PaperMeta
from coolpapers.sources import arxiv

log = logging.getLogger(__name__)

INGEST_LEASE = "ingest"
API_BATCH = 100

SessionFactory = sessionmaker[Session]


@dataclass(frozen=True)
class RunReport:
    run_id: int
    source: str
    target: str
    status: str  # ok | empty | repeat | not_modified | failed | skipped
    listing_date: str | None = None
    n_items: int = 0
    n_new: int = 0
    n_cross: int = 0
    n_replace: int = 0
    n_malformed: int = 0
    n_stored: int = 0
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def line(self) -> str:
        head = f"{self.source} {self.target}: {self.status}"
        if self.listing_date:
            head += f" ({self.listing_date})"
        if self.error:
            return f"{head}: {self.error}"
        return (
            f"{head}: {self.n_items} items (new {self.n_new}, cross {self.n_cross}, "
            f"replace {self.n_replace}), {self.n_stored} papers written, "
            f"{self.n_malformed} malformed"
        )


class LeaseHeld(CoolpapersError):
    """Another process is ingesting right now."""


def lease_holder_id() -> str:
    """Unique per acquisition: two threads of one process must not share a lease."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@contextmanager
def ingest_lease(factory: SessionFactory, ttl_s: float) -> Iterator[Callable[[], None]]:
    """Hold the ingest lease; yields a function that renews it between long steps."""
    holder = lease_holder_id()
    with session_scope(factory, write=True) as s:
        if not store.acquire_lease(s, INGEST_LEASE, holder, ttl_s):
            raise LeaseHeld("another ingest is running")
        # a run older than a whole lease outlived the lease that covered it: its process died
        store.mark_interrupted(s, utcnow() - timedelta(seconds=ttl_s))

    def renew() -> None:
        with session_scope(factory, write=True) as s:
            store.acquire_lease(s, INGEST_LEASE, holder, ttl_s)

    try:
        yield renew
    finally:
        with session_scope(factory, write=True) as s:
            store.release_lease(s, INGEST_LEASE, holder)


def record_skip(factory: SessionFactory, source: str, target: str, why: str) -> RunReport:
    with session_scope(factory, write=True) as s:
        run = store.start_run(s, source, target)
        store.finish_run(s, run.id, "skipped", error=why)
        return RunReport(run.id, source, target, "skipped", error=why)


# ---------------------------------------------------------------- feeds


def feed_name(feed: Feed, fallback: str) -> str:
    """The spec a feed answers ("cs.LG"), from its title "cs.LG updates on arXiv.org"."""
    first = feed.title.split(" ", 1)[0] if feed.title else ""
    if first and all(taxonomy.canonical(t) for t in first.split("+")):
        return first
    return fallback


def store_feed(session: Session, feed: Feed, name: str) -> tuple[str, int]:
    """Write one parsed feed; returns (status, papers written). Call inside a write scope."""
    if feed.listing_date is None:
        if feed.items:
            raise ParseError("the feed has items but no date")
        return "empty", 0
    day = feed.listing_date
    fingerprint = store.feed_fingerprint(feed.items)
    if not feed.items:
        store.put_feed_day(session, name, day, "empty", 0, fingerprint)
        return "empty", 0
    previous = store.previous_feed_day(session, name, day)
    if previous is not None and previous.fingerprint == fingerprint:
        # arXiv re-served yesterday's items under today's date (seen on 2025-01-01)
        store.put_feed_day(session, name, day, "repeat", len(feed.items), fingerprint)
        return "repeat", 0
    ids = [i.meta.id for i in feed.items]
    existing = store.papers_by_id(session, ids)
    listings = store.listings_by_paper(session, ids)
    written = 0
    for item in feed.items:
        meta = item.meta
        cats = taxonomy.canonical_categories(meta.categories)
        outcome = store.upsert_paper(session, meta, cats, existing.get(meta.id), announced=day)
        known = listings.setdefault(meta.id, [])
        kind = store.listing_kind(item.announce_type)
        listed = store.add_listing(session, known, meta.id, day, kind, meta.version)
        written += outcome != "unchanged" or listed
    store.put_feed_day(session, name, day, "listed", len(feed.items), fingerprint)
    later = store.next_feed_day(session, name, day)
    if later is not None and later.fingerprint == fingerprint:
        later.status = "repeat"  # the repeat was ingested before its original
    return "ok", written


class FeedCounts(TypedDict):
    n_items: int
    n_new: int
    n_cross: int
    n_replace: int
    n_malformed: int


def _feed_counts(feed: Feed) -> FeedCounts:
    types = Counter(i.announce_type for i in feed.items)
    return {
        "n_items": len(feed.items),
        "n_new": types["new"],
        "n_cross": types["cross"],
        "n_replace": types["replace"] + types["replace-cross"],
        "n_malformed": len(feed.malformed),
    }


def ingest_feed_body(
    factory: SessionFactory, body: bytes, *, source: str, target: str, spec: str | None = None
) -> RunReport:
    """Parse and store one feed document, recording the run (also on failure)."""
    with session_scope(factory, write=True) as s:
        run_id = store.start_run(s, source, target).id
    try:
        feed = arxiv.parse_rss(body)
        for reason in feed.malformed:
            log.warning("%s: skipped a malformed item: %s", target, reason)
        name = spec or feed_name(feed, target)
        with session_scope(factory, write=True) as s:
            status, written = store_feed(s, feed, name)
            counts = _feed_counts(feed)
            store.finish_run(
                s, run_id, status, listing_date=feed.listing_date, n_stored=written, **counts
            )
    except CoolpapersError as exc:
        return _fail(factory, run_id, source, target, exc)
    day = feed.listing_date.isoformat() if feed.listing_date else None
    return RunReport(run_id, source, target, status, day, n_stored=written, **counts)


def _fail(
    factory: SessionFactory, run_id: int, source: str, target: str, exc: Exception
) -> RunReport:
    message = f"{type(exc).__name__}: {exc}"
    log.error("%s %s failed: %s", source, target, message)
    with session_scope(factory, write=True) as s:
        store.finish_run(s, run_id, "failed", error=message)
    return RunReport(run_id, source, target, "failed", error=message)


def ingest_rss(
    factory: SessionFactory, fetcher: Fetcher, settings: Settings, spec: str
) -> RunReport:
    """Fetch one RSS feed (conditionally) and store it."""
    url = arxiv.rss_url(settings.arxiv_rss_url, spec)
    with session_scope(factory) as s:
        state = store.get_fetch_state(s, url)
        etag, modified = (state.etag, state.last_modified) if state else (None, None)
    with session_scope(factory, write=True) as s:
        run_id = store.start_run(s, "rss", spec).id
    try:
        result = arxiv.fetch_rss(fetcher, url, etag=etag, last_modified=modified)
    except CoolpapersError as exc:
        return _fail(factory, run_id, "rss", spec, exc)
    if result.not_modified:
        with session_scope(factory, write=True) as s:
            store.finish_run(s, run_id, "not_modified")
        return RunReport(run_id, "rss", spec, "not_modified")
    try:
        feed = arxiv.parse_rss(result.body)
        for reason in feed.malformed:
            log.warning("rss %s: skipped a malformed item: %s", spec, reason)
        with session_scope(factory, write=True) as s:
            status, written = store_feed(s, feed, spec)
            counts = _feed_counts(feed)
            store.finish_run(
                s, run_id, status, listing_date=feed.listing_date, n_stored=written, **counts
            )
            # only after the data is in: a failed store must refetch the same bytes next time
            store.put_fetch_state(s, url, result.etag, result.last_modified)
    except CoolpapersError as exc:
        return _fail(factory, run_id, "rss", spec, exc)
    day = feed.listing_date.isoformat() if feed.listing_date else None
    return RunReport(run_id, "rss", spec, status, day, n_stored=written, **counts)


# ---------------------------------------------------------------- API


def store_api_papers(session: Session, entries: Sequence[PaperMeta]) -> int:
    existing = store.papers_by_id(session, (e.id for e in entries))
    written = 0
    for meta in entries:
        cats = taxonomy.canonical_categories(meta.categories)
        outcome = store.upsert_paper(session, meta, cats, existing.get(meta.id))
        written += outcome != "unchanged"
    return written


def ingest_ids(
    factory: SessionFactory, fetcher: Fetcher, settings: Settings, ids: Sequence[str]
) -> RunReport:
    """Fetch papers through the API (batches of 100) and store their metadata."""
    target = ",".join(ids)
    with session_scope(factory, write=True) as s:
        run_id = store.start_run(s, "api", target).id
    entries: list[PaperMeta] = []
    try:
        for start in range(0, len(ids), API_BATCH):
            batch = ids[start : start + API_BATCH]
            entries.extend(arxiv.fetch_api(fetcher, settings.arxiv_api_url, batch).entries)
        with session_scope(factory, write=True) as s:
            written = store_api_papers(s, entries)
            missing = sorted(set(ids) - {e.id for e in entries})
            error = f"not on arXiv: {', '.join(missing)}" if missing else None
            status = "failed" if missing and not entries else "ok"
            store.finish_run(s, run_id, status, n_items=len(entries), n_stored=written, error=error)
    except CoolpapersError as exc:
        return _fail(factory, run_id, "api", target, exc)
    return RunReport(
        run_id, "api", target, status, n_items=len(entries), n_stored=written, error=error
    )


def fetch_paper(
    factory: SessionFactory, fetcher: Fetcher, settings: Settings, paper_id: str
) -> Paper:
    """A paper we don't have yet, fetched through the API and stored (on-demand pages)."""
    result = arxiv.fetch_api(fetcher, settings.arxiv_api_url, [paper_id])
    entry = next((e for e in result.entries if e.id == paper_id), None)
    if entry is None:
        raise NoSuchPaper(f"{paper_id} is not on arXiv")
    with session_scope(factory, write=True) as s:
        store_api_papers(s, [entry])
    with session_scope(factory) as s:
        paper = store.get_paper(s, paper_id)
    assert paper is not None
    return paper


def ingest_files(factory: SessionFactory, paths: Sequence[Path]) -> list[RunReport]:
    reports = []
    for path in paths:
        try:
            body = path.read_bytes()
        except OSError as exc:
            with session_scope(factory, write=True) as s:
                run_id = store.start_run(s, "file", str(path)).id
            reports.append(_fail(factory, run_id, "file", str(path), exc))
            continue
        reports.append(ingest_feed_body(factory, body, source="file", target=path.name))
    return reports
