"""A feed's day is stored in batches (``store.upsert_papers``, ``store.add_listings``: new
papers, their categories and listings in one executemany each). What it leaves in the database
must be what storing the day paper by paper (``upsert_paper`` then ``add_listing``, per item)
leaves: the same random history of days (new papers, new versions that change categories,
days ingested out of order, re-served days, listings a history import placed) is stored both
ways, in two databases of the same kind, and every row compared after every day."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import schema, store, taxonomy
from coolpapers.config import Settings
from coolpapers.db import make_engine, make_sessionmaker, session_scope
from coolpapers.ingest import store_feed
from coolpapers.models import DayCategory, Generation, Listing, Paper, PaperCategory, utcnow
from coolpapers.records import Author, Feed, FeedItem, PaperMeta
from coolpapers.store.generations import PAGES
from coolpapers.store.papers import PaperWrite, upsert_papers
from tests.conftest import fresh_database

MON = date(2026, 3, 2)
# many categories for few papers a day: a (category, day) the day index misses shows
CATEGORIES = tuple(
    f"{a}.{b}"
    for a, bs in (("cs", "AI CL CV LG RO IR NE SD"), ("math", "OC ST PR"))
    for b in bs.split()
) + ("stat.ML", "eess.IV", "q-bio.NC")
FEED = "cs.AI+cs.CL+cs.CV+cs.LG"
COMPARED = [c.name for c in Paper.__table__.c if c.name not in ("created_at", "modified_at")]


@pytest.fixture
def reference(settings: Settings, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """A second empty database of the test's kind, for the paper-by-paper path."""
    kind = "postgres" if settings.effective_database_url.startswith("postgresql") else "sqlite"
    (tmp_path / "reference").mkdir()
    with fresh_database(kind, tmp_path / "reference") as url:
        engine = make_engine(settings.model_copy(update={"database_url": url}))
        try:
            schema.upgrade(engine)
            yield make_sessionmaker(engine)
        finally:
            engine.dispose()


def one_by_one(session: Session, feed: Feed, day: date, repeat: bool) -> int:
    """What ``store_feed`` did before batches, for the rows it writes (feed days aside)."""
    existing = store.papers_by_id(session, (i.meta.id for i in feed.items))
    listings = {} if repeat else store.listings_by_paper(session, existing)
    written = 0
    for item in feed.items:
        meta = item.meta
        cats = taxonomy.canonical_categories(meta.categories)
        outcome = store.upsert_paper(
            session, meta, cats, existing.get(meta.id), announced=None if repeat else day
        )
        listed = False
        if not repeat:
            known = listings.setdefault(meta.id, [])
            kind = store.listing_kind(item.announce_type)
            listed = store.add_listing(session, known, meta.id, day, kind, meta.version)
            paper = existing.get(meta.id)
            if listed and kind == "new" and paper is not None:
                paper.first_announced = min(r.date for r in known if r.kind == "new")
        written += outcome != "unchanged" or listed
    if not repeat:
        store.index_listing_day(session, day)
    return written


class History:
    """Random feeds over a pool of papers: each paper's version and categories move on."""

    def __init__(self, seed: int, again: float = 0.45) -> None:
        self.rng = random.Random(seed)
        self.again = again  # the share of items naming a paper seen before
        self.papers: dict[str, tuple[int, tuple[str, ...]]] = {}
        self.next_id = 1

    def categories(self) -> tuple[str, ...]:
        return tuple(self.rng.sample(CATEGORIES, self.rng.randint(1, 3)))

    def item(self) -> FeedItem:
        rng = self.rng
        if self.papers and rng.random() < self.again:
            paper_id = rng.choice(sorted(self.papers))
            version, cats = self.papers[paper_id]
            version += rng.random() < 0.8  # sometimes the same version again (a cross-list)
            if rng.random() < 0.5:
                cats = self.categories()
            kind = rng.choice(["replace", "replace-cross", "cross"])
        else:
            paper_id = f"2603.{self.next_id:05d}"
            self.next_id += 1
            version, cats, kind = 1, self.categories(), rng.choice(["new", "new", "cross"])
        self.papers[paper_id] = (version, cats)
        title = f"Paper {paper_id} v{version}" if rng.random() < 0.7 else f"Paper {paper_id}"
        meta = PaperMeta(
            id=paper_id,
            version=version,
            title=title,
            abstract=f"About {paper_id}.",
            authors=(Author("A. Author"), Author(f"B. {version}")),
            categories=cats,
            doi=None if rng.random() < 0.8 else f"10.1/{paper_id}.{version}",
            license="http://creativecommons.org/licenses/by/4.0/",
        )
        return FeedItem(meta=meta, announce_type=kind)

    def feed(self, day: date, n: int) -> Feed:
        items = {i.meta.id: i for i in (self.item() for _ in range(n))}  # a feed lists each once
        return Feed(
            title=f"{FEED} updates on arXiv.org", listing_date=day, items=tuple(items.values())
        )


def rows(factory: sessionmaker[Session]) -> dict[str, Any]:
    with session_scope(factory) as s:
        papers = s.execute(select(*(Paper.__table__.c[c] for c in COMPARED))).all()
        return {
            "papers": sorted(tuple(r) for r in papers),
            "categories": sorted(tuple(r) for r in s.execute(select(PaperCategory.__table__))),
            "listings": sorted(
                (r.paper_id, r.date, r.kind, r.version, r.derived)
                for r in s.scalars(select(Listing))
            ),
            "days": sorted(tuple(r) for r in s.execute(select(DayCategory.__table__))),
        }


def touched(factory: sessionmaker[Session], since: Any) -> set[str]:
    """Papers whose ``modified_at`` (what the search index follows) moved since ``since``."""
    with session_scope(factory) as s:
        return set(s.scalars(select(Paper.id).where(Paper.modified_at >= since)))


def place_history(factory: sessionmaker[Session]) -> None:
    """Papers a history import placed on days by arXiv's schedule (``derived`` listings)."""
    with session_scope(factory, write=True) as s:
        for n in range(1, 9):
            paper_id = f"2603.{n:05d}"
            meta = PaperMeta(
                id=paper_id, version=1, title=f"Paper {paper_id}", abstract="Old.",
                authors=(Author("A. Author"),), categories=("cs.LG",),
            )  # fmt: skip
            day = MON + timedelta(days=n % 3)
            store.upsert_paper(s, meta, ("cs.LG",), None, announced=day)
            s.add(Listing(paper_id=paper_id, date=day, kind="new", version=1, derived=True))
        s.flush()
        store.index_listing_day(s, MON)


@pytest.mark.parametrize("seed", [1, 2])
def test_a_batch_day_writes_what_paper_by_paper_writes(
    factory: sessionmaker[Session], reference: sessionmaker[Session], seed: int
) -> None:
    history = History(seed)
    history.next_id = 5  # four placed papers are named again by the first feeds
    for f in (factory, reference):
        place_history(f)
    for n in range(1, 9):
        history.papers[f"2603.{n:05d}"] = (1, ("cs.LG",))
    days = [MON + timedelta(days=d) for d in (7, 8, 9, 10, 11, 14, 15, 16)]
    plan = [(d, history.feed(d, 12)) for d in days]
    plan.insert(3, (days[2] - timedelta(days=1), history.feed(days[2] - timedelta(days=1), 8)))
    plan.append((MON + timedelta(days=17), plan[-1][1]))  # re-served under the next day
    plan.append((MON + timedelta(days=4), history.feed(MON + timedelta(days=4), 10)))  # late
    statuses = []
    for day, feed in plan:
        feed = Feed(title=feed.title, listing_date=day, items=feed.items)
        since = utcnow()
        with session_scope(factory, write=True) as s:
            stored = store_feed(s, feed, FEED)
        statuses.append(stored.status)
        batch_touched = touched(factory, since)
        since = utcnow()
        with session_scope(reference, write=True) as s:
            written = one_by_one(s, feed, day, stored.status == "repeat")
        assert stored.written == written, day
        assert rows(factory) == rows(reference), day
        assert batch_touched == touched(reference, since), day
    assert statuses.count("repeat") == 1  # the re-served day was recognised


def test_a_day_of_new_papers_raises_the_pages_generation(factory: sessionmaker[Session]) -> None:
    """New papers and their listings go in as Core statements: the engine's watcher sees them
    (``store.generations``), so cached day pages go stale."""
    with session_scope(factory) as s:
        before = s.scalar(select(Generation.value).where(Generation.name == PAGES))
    history = History(3, again=0)
    items = [history.item() for _ in range(20)]
    with session_scope(factory, write=True) as s:
        # the batch's Core statements only: feed days and the day index would raise it too
        upsert_papers(s, [PaperWrite(i.meta, i.meta.categories, MON) for i in items], {})
    with session_scope(factory) as s:
        after = s.scalar(select(Generation.value).where(Generation.name == PAGES))
        assert s.scalar(select(func.count()).select_from(Paper)) == len(items)
    assert before is not None and after == before + 1


def test_an_item_repeated_within_a_feed_is_stored_once(factory: sessionmaker[Session]) -> None:
    """parse_rss keeps a repeated item once; a feed from elsewhere may not: the first counts."""
    items = History(4, again=0).feed(MON, 3).items
    again = FeedItem(meta=replace(items[0].meta, title="The same paper again"), announce_type="new")
    feed = Feed(title=f"{FEED} updates on arXiv.org", listing_date=MON, items=(*items, again))
    with session_scope(factory, write=True) as s:
        stored = store_feed(s, feed, FEED)
    assert (stored.status, stored.written) == ("ok", 3)
    with session_scope(factory) as s:
        assert s.scalar(select(Paper.title).where(Paper.id == again.meta.id)) == items[0].meta.title
        assert s.scalar(select(func.count()).select_from(Listing)) == 3
