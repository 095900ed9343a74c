"""Listing feeds: fetch (conditionally) → parse → decide → store, one run and one transaction per
feed. Idempotent: the same feed twice changes nothing.

What a feed's day becomes (``feed_days.status``):

- ``listed``: items stored, listings added for the day.
- ``empty``: no items on a day without announcement (weekend, arXiv holiday: ``schedule``).
- ``repeat``: the same ids and versions as the previous non-empty day (arXiv re-served 31 Dec
  2024 under 1 Jan 2025): not a new day, but paper metadata is still stored, since a journal
  ref or DOI can change without a new version.
- no row at all, run ``suspect``: no items on an announcement day. Nothing is overwritten (an
  earlier record of that day keeps its items) and the feed stays due, so the next poll retries.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TypedDict

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from coolpapers import schedule, store, taxonomy
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.errors import CoolpapersError, ParseError
from coolpapers.http import Fetcher
from coolpapers.ingest import runs
from coolpapers.ingest.pipeline import Pipeline
from coolpapers.ingest.runs import RunReport, SessionFactory
from coolpapers.records import Feed, FeedItem
from coolpapers.sources import Source
from coolpapers.sources.arxiv import ArxivSource, parse_rss
from coolpapers.store.listings import Announced, add_listings
from coolpapers.store.papers import PaperWrite, upsert_papers

log = logging.getLogger(__name__)


def feed_name(feed: Feed, fallback: str) -> str:
    """The spec a feed answers ("cs.LG"), from its title "cs.LG updates on arXiv.org"."""
    first = feed.title.split(" ", 1)[0] if feed.title else ""
    if first and all(taxonomy.canonical(t) for t in first.split("+")):
        return first
    return fallback


@dataclass(frozen=True)
class Stored:
    status: str  # ok | empty | repeat | suspect
    written: int  # papers inserted or updated
    note: str | None = None  # why a feed is suspect


def store_feed(session: Session, feed: Feed, name: str) -> Stored:
    """Write one parsed feed. Call inside a write scope."""
    if feed.listing_date is None:
        if feed.items:
            raise ParseError("the feed has items but no date")
        return Stored("empty", 0)
    day = feed.listing_date
    fingerprint = store.feed_fingerprint(feed.items)
    if not feed.items:
        if schedule.is_listing_day(day):
            return Stored("suspect", 0, _suspect_note(session, name, day))
        store.put_feed_day(session, name, day, "empty", 0, fingerprint)
        return Stored("empty", 0)
    previous = store.previous_feed_day(session, name, day)
    repeat = previous is not None and previous.fingerprint == fingerprint
    # the batches take each paper once: an item repeated within the feed counts once (the
    # first, as parse_rss keeps it)
    first: dict[str, FeedItem] = {}
    for item in feed.items:
        first.setdefault(item.meta.id, item)
    items = list(first.values())
    existing = store.papers_by_id(session, (i.meta.id for i in items))
    # a repeat is not an announcement: its date must not become anyone's first day
    announced = None if repeat else day
    writes = [
        PaperWrite(i.meta, taxonomy.canonical_categories(i.meta.categories), announced)
        for i in items
    ]
    outcomes = upsert_papers(session, writes, existing)
    listed = [False] * len(items)
    if not repeat:
        # only stored papers have listings to load (a new one's are written in one statement)
        known = store.listings_by_paper(session, existing)
        announcements = [
            Announced(i.meta.id, day, store.listing_kind(i.announce_type), i.meta.version)
            for i in items
        ]
        listed = add_listings(session, known, announcements)
        for announcement, wrote in zip(announcements, listed, strict=True):
            paper = existing.get(announcement.paper_id)
            if wrote and announcement.kind == "new" and paper is not None:
                # the first announcement is the new listing's day, also when a feed just moved
                # a history import's reckoned one later (a paper listed before: its rows)
                rows = known.get(announcement.paper_id, ())
                dates = [r.date for r in rows if r.kind == "new"]
                paper.first_announced = min(dates, default=day)
    written = sum(o != "unchanged" or wrote for o, wrote in zip(outcomes, listed, strict=True))
    if repeat:
        # arXiv re-served the previous day's items under today's date (seen on 2025-01-01)
        store.put_feed_day(session, name, day, "repeat", len(feed.items), fingerprint)
        return Stored("repeat", written)
    store.index_listing_day(session, day)
    store.put_feed_day(session, name, day, "listed", len(feed.items), fingerprint)
    later = store.next_feed_day(session, name, day)
    if later is not None and later.fingerprint == fingerprint:
        later.status = "repeat"  # the repeat was ingested before its original
    return Stored("ok", written)


def _suspect_note(session: Session, name: str, day: date) -> str:
    earlier = store.feed_day(session, name, day)
    head = f"arXiv served an empty {name} feed for {day}, an announcement day"
    if earlier is not None and earlier.items:
        return f"{head}; the stored listing of {earlier.items} items is kept"
    return f"{head}; it will be fetched again"


class FeedCounts(TypedDict):
    n_items: int
    n_new: int
    n_cross: int
    n_replace: int
    n_malformed: int


def feed_counts(feed: Feed) -> FeedCounts:
    types = Counter(i.announce_type for i in feed.items)
    return {
        "n_items": len(feed.items),
        "n_new": types["new"],
        "n_cross": types["cross"],
        "n_replace": types["replace"] + types["replace-cross"],
        "n_malformed": len(feed.malformed),
    }


def _store_and_finish(
    factory: SessionFactory,
    run_id: int,
    feed: Feed,
    name: str,
    validators: tuple[str, str | None, str | None] | None = None,
) -> tuple[Stored, FeedCounts]:
    """Store the feed and finish its run in one transaction (a failure rolls back both)."""
    counts = feed_counts(feed)
    with session_scope(factory, write=True) as s:
        stored = store_feed(s, feed, name)
        store.finish_run(
            s,
            run_id,
            stored.status,
            listing_date=feed.listing_date,
            n_stored=stored.written,
            error=stored.note,
            **counts,
        )
        # Only after the data is in: a failed store must refetch the same bytes next time, and
        # so must a suspect empty feed (a 304 would hide the day's real listing later).
        if validators is not None and stored.status != "suspect":
            store.put_fetch_state(s, *validators)
    if stored.note:
        log.warning("%s", stored.note)
    return stored, counts


def _report(
    run_id: int, source: str, target: str, feed: Feed, stored: Stored, counts: FeedCounts
) -> RunReport:
    day = feed.listing_date.isoformat() if feed.listing_date else None
    return RunReport(
        run_id, source, target, stored.status, day, n_stored=stored.written, error=stored.note,
        **counts,
    )  # fmt: skip


def ingest_feed_body(
    factory: SessionFactory,
    body: bytes,
    *,
    source: str,
    target: str,
    spec: str | None = None,
    parse: Source | None = None,
) -> RunReport:
    """Parse and store one saved feed document, recording the run (also on failure)."""
    run_id = runs.start(factory, source, target)
    try:
        feed = parse.parse_listing(body) if parse is not None else parse_rss(body)
        for reason in feed.malformed:
            log.warning("%s: skipped a malformed item: %s", target, reason)
        stored, counts = _store_and_finish(factory, run_id, feed, spec or feed_name(feed, target))
    except (CoolpapersError, SQLAlchemyError) as exc:
        return runs.fail(factory, run_id, source, target, exc)
    return _report(run_id, source, target, feed, stored, counts)


def ingest_files(factory: SessionFactory, paths: Sequence[Path]) -> list[RunReport]:
    """Saved feed files, one run each (``coolpapers ingest --feed-file``, the demo, tests)."""
    reports = []
    for path in paths:
        try:
            body = path.read_bytes()
        except OSError as exc:
            run_id = runs.start(factory, "file", str(path))
            reports.append(runs.fail(factory, run_id, "file", str(path), exc))
            continue
        report = ingest_feed_body(factory, body, source="file", target=path.name)
        reports.append(report)
        if report.error and report.error.startswith("database error"):
            break  # the next file would meet the same full disk or lost server
    return reports


def ingest_listing(
    pipeline: Pipeline, source: Source, spec: str, stop: threading.Event | None = None
) -> RunReport:
    """Fetch one listing feed (conditionally) and store it, as one run."""
    factory = pipeline.factory
    url = source.listing_url(spec)
    label = source.listing_label
    with session_scope(factory) as s:
        state = store.get_fetch_state(s, url)
        etag, modified = (state.etag, state.last_modified) if state else (None, None)
    run_id = runs.start(factory, label, spec)
    try:
        fetched = pipeline.call(
            lambda: source.fetch_listing(spec, etag=etag, last_modified=modified), stop
        )
        if fetched.feed is None:
            runs.finish(factory, run_id, "not_modified")
            return RunReport(run_id, label, spec, "not_modified")
        feed = fetched.feed
        for reason in feed.malformed:
            log.warning("%s %s: skipped a malformed item: %s", label, spec, reason)
        validators = (url, fetched.etag, fetched.last_modified)
        stored, counts = _store_and_finish(factory, run_id, feed, spec, validators)
    except (CoolpapersError, SQLAlchemyError) as exc:
        return runs.fail(factory, run_id, label, spec, exc)
    return _report(run_id, label, spec, feed, stored, counts)


def ingest_rss(
    factory: SessionFactory, fetcher: Fetcher, settings: Settings, spec: str
) -> RunReport:
    """One arXiv feed through a fetcher the caller owns (tests, the fidelity check)."""
    source = ArxivSource(fetcher, rss_url=settings.arxiv_rss_url, api_url=settings.arxiv_api_url)
    return ingest_listing(Pipeline(settings, factory, fetcher, (source,)), source, spec)
