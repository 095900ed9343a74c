"""Ingest against real feed files and a fake arXiv on 127.0.0.1, on SQLite and Postgres."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import http, ingest, store
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.models import FeedDay, IngestRun, Listing, Paper, PaperCategory
from tests.conftest import API, RSS
from tests.fakes.arxiv_server import FakeArxiv, Fault

LG = RSS / "rss-cs.LG-2026-08-21-fri.xml"


def dump(factory: sessionmaker[Session]) -> dict[str, Any]:
    """Everything ingest writes, minus run records: equal dumps mean nothing changed."""
    with session_scope(factory) as s:
        papers = [
            (
                p.id,
                p.version,
                p.title,
                p.abstract,
                tuple(map(str, p.authors)),
                tuple(p.categories),
                p.doi,
                p.journal_ref,
                p.first_announced,
                str(p.modified_at),
            )
            for p in s.scalars(select(Paper).order_by(Paper.id))
        ]
        cats = s.execute(select(PaperCategory.paper_id, PaperCategory.category)).all()
        listings = s.execute(
            select(Listing.paper_id, Listing.date, Listing.kind, Listing.version)
        ).all()
        days = s.execute(select(FeedDay.feed, FeedDay.date, FeedDay.status)).all()
    return {
        "papers": papers,
        "cats": sorted(cats),
        "listings": sorted(listings),
        "days": sorted(days),
    }


def runs(factory: sessionmaker[Session]) -> list[IngestRun]:
    with session_scope(factory) as s:
        return list(s.scalars(select(IngestRun).order_by(IngestRun.id)))


def test_feed_file_is_stored_as_arxiv_listed_it(factory: sessionmaker[Session]) -> None:
    [report] = ingest.ingest_files(factory, [LG])
    assert report.status == "ok" and report.listing_date == "2026-08-21"
    assert (report.n_items, report.n_new, report.n_cross, report.n_replace) == (200, 65, 62, 73)
    assert report.n_malformed == 0
    with session_scope(factory) as s:
        spec = store.SpecFilter(frozenset({"cs.LG"}), frozenset())
        day = store.latest_day(s, spec)
        assert day == date(2026, 8, 21)
        listing = store.day_listing(s, spec, day, replacements=True, show=1000, skip=0)
        assert listing.counts == {"new": 65, "cross": 62, "replace": 46, "replace-cross": 27}
        assert listing.total == 200
        # arXiv's order: new by id, then cross, then replacements
        types = [t for _, t in listing.papers]
        assert types == sorted(types, key=store.TYPE_ORDER.index)
        new_ids = [p.id for p, t in listing.papers if t == "new"]
        assert new_ids == sorted(new_ids)
        paper = s.get(Paper, "2608.19234")
        assert paper is not None and paper.title == "Triangular Fuzzy Rescaling Distance"
        assert paper.first_announced == date(2026, 8, 21)
        names = [a["name"] for a in paper.authors]
        assert "Ana Beatriz Hernández-Lara" in names


def test_same_feed_twice_changes_nothing(factory: sessionmaker[Session]) -> None:
    ingest.ingest_files(factory, [LG])
    before = dump(factory)
    [again] = ingest.ingest_files(factory, [LG])
    assert again.status == "ok" and again.n_stored == 0
    assert dump(factory) == before


def test_empty_weekend_and_holiday_days(factory: sessionmaker[Session]) -> None:
    reports = ingest.ingest_files(
        factory,
        [
            RSS / "rss-empty-cs.AI-2025-04-26-sat.xml",
            RSS / "rss-empty-holiday-cs.AI-2024-11-29-fri-after-thanksgiving.xml",
        ],
    )
    assert [(r.status, r.listing_date) for r in reports] == [
        ("empty", "2025-04-26"),
        ("empty", "2024-11-29"),
    ]
    with session_scope(factory) as s:
        assert s.get(FeedDay, ("cs.AI", date(2024, 11, 29))).status == "empty"  # type: ignore[union-attr]
        assert store.table_counts(s)["listings"] == 0


def test_holiday_repeat_is_not_a_new_day(factory: sessionmaker[Session]) -> None:
    first, repeat = ingest.ingest_files(
        factory,
        [RSS / "rss-cs.AI-2024-12-31-tue.xml", RSS / "rss-holiday-repeat-cs.AI-2025-01-01-wed.xml"],
    )
    assert first.status == "ok" and repeat.status == "repeat"
    with session_scope(factory) as s:
        dates = set(s.scalars(select(Listing.date)))
        assert dates == {date(2024, 12, 31)}


def test_holiday_repeat_ingested_first_still_keeps_the_first_day(
    factory: sessionmaker[Session],
) -> None:
    ingest.ingest_files(
        factory,
        [RSS / "rss-holiday-repeat-cs.AI-2025-01-01-wed.xml", RSS / "rss-cs.AI-2024-12-31-tue.xml"],
    )
    with session_scope(factory) as s:
        assert set(s.scalars(select(Listing.date))) == {date(2024, 12, 31)}
        assert s.get(FeedDay, ("cs.AI", date(2025, 1, 1))).status == "repeat"  # type: ignore[union-attr]


def test_cross_listed_paper_in_two_feeds_is_one_paper(factory: sessionmaker[Session]) -> None:
    ingest.ingest_files(factory, [LG, RSS / "rss-cs.CL-2026-08-20-thu.xml"])
    with session_scope(factory) as s:
        ids = list(s.scalars(select(Paper.id)))
        assert len(ids) == len(set(ids))
        union = store.SpecFilter(frozenset({"cs.LG", "cs.CL"}), frozenset())
        listing = store.day_listing(
            s, union, date(2026, 8, 21), replacements=False, show=1000, skip=0
        )
        # against the union, a cs.CL paper cross-listed to cs.LG is "new"
        for paper, kind in listing.papers:
            assert (kind == "new") == (paper.primary_category in {"cs.LG", "cs.CL"})


def test_malformed_item_is_counted_not_fatal(factory: sessionmaker[Session]) -> None:
    body = LG.read_bytes()
    broken = body.replace(b'<guid isPermaLink="false">oai:arXiv.org:2608.19234v1</guid>', b"", 1)
    broken = broken.replace(b"arXiv:2608.19234v1 Announce Type", b"arXiv:garbage Announce Type", 1)
    assert broken != body
    report = ingest.ingest_feed_body(factory, broken, source="file", target="broken.xml")
    assert report.status == "ok"
    assert report.n_malformed == 1 and report.n_items == 199


def rss_settings(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(update=changes)


def test_fetch_and_store_with_conditional_get(
    factory: sessionmaker[Session], settings: Settings, fake_arxiv: FakeArxiv
) -> None:
    fake_arxiv.serve_feed("cs.LG", LG)
    fetcher = http.arxiv_fetcher(settings)
    try:
        first = ingest.ingest_rss(factory, fetcher, settings, "cs.LG")
        second = ingest.ingest_rss(factory, fetcher, settings, "cs.LG")
    finally:
        fetcher.close()
    assert first.status == "ok" and first.n_items == 200
    assert second.status == "not_modified"
    hits = fake_arxiv.requests_to("/rss/cs.LG")
    assert hits[1].headers.get("if-none-match")
    assert "coolpapers" in hits[0].headers.get("user-agent", "")


def test_429_with_retry_after_then_success(
    factory: sessionmaker[Session], settings: Settings, fake_arxiv: FakeArxiv
) -> None:
    fake_arxiv.serve_feed("cs.LG", LG)
    fake_arxiv.script("/rss/cs.LG", [Fault.status(429, retry_after="1")])
    fetcher = http.arxiv_fetcher(settings)
    try:
        report = ingest.ingest_rss(factory, fetcher, settings, "cs.LG")
    finally:
        fetcher.close()
    assert report.status == "ok"
    first, second = fake_arxiv.requests_to("/rss/cs.LG")
    assert second.start - first.start >= 0.95


def failing(
    factory: sessionmaker[Session], settings: Settings, fake: FakeArxiv, faults: list[Fault]
) -> ingest.RunReport:
    """Ingest once with the faults scripted; the database must be as it was."""
    ingest.ingest_files(factory, [RSS / "rss-cs.AI-2025-01-06-mon.xml"])
    before = dump(factory)
    fake.serve_feed("cs.LG", LG)
    fake.script("/rss/cs.LG", faults)
    fetcher = http.arxiv_fetcher(settings)
    try:
        report = ingest.ingest_rss(factory, fetcher, settings, "cs.LG")
    finally:
        fetcher.close()
    assert report.status == "failed" and report.error
    assert dump(factory) == before
    [run] = [r for r in runs(factory) if r.id == report.run_id]
    assert run.status == "failed" and run.error == report.error
    return report


def test_503_every_time_gives_up_with_a_recorded_error(
    factory: sessionmaker[Session], settings: Settings, fake_arxiv: FakeArxiv
) -> None:
    report = failing(factory, settings, fake_arxiv, [Fault.status(503, retry_after="0")] * 5)
    assert "503" in (report.error or "")


def test_stalled_response_hits_the_deadline(
    factory: sessionmaker[Session], settings: Settings, fake_arxiv: FakeArxiv
) -> None:
    started = time.monotonic()
    failing(factory, rss_settings(settings, fetch_max_attempts=1), fake_arxiv, [Fault.stall(30)])
    assert time.monotonic() - started < settings.fetch_deadline_s + 5


def test_truncated_xml_stores_nothing(
    factory: sessionmaker[Session], settings: Settings, fake_arxiv: FakeArxiv
) -> None:
    half = LG.read_bytes()[: len(LG.read_bytes()) // 2]
    report = failing(factory, settings, fake_arxiv, [Fault.body(half)] * 3)
    assert "ParseError" in (report.error or "")


def test_oversized_body_is_refused(
    factory: sessionmaker[Session], settings: Settings, fake_arxiv: FakeArxiv
) -> None:
    small = rss_settings(settings, fetch_max_bytes=100_000, fetch_max_attempts=1)
    report = failing(factory, small, fake_arxiv, [Fault.oversize(2_000_000)])
    assert "larger" in (report.error or "")


def test_two_concurrent_ingests_one_runs_one_skips(
    factory: sessionmaker[Session], settings: Settings, fake_arxiv: FakeArxiv
) -> None:
    fake_arxiv.serve_feed("cs.LG", LG)
    fake_arxiv.script("/rss/cs.LG", [Fault.stall(1.0)])  # hold the first run inside its lease
    outcomes: list[str] = []

    def run() -> None:
        fetcher = http.arxiv_fetcher(settings)
        try:
            with ingest.ingest_lease(factory, 60):
                outcomes.append(ingest.ingest_rss(factory, fetcher, settings, "cs.LG").status)
        except ingest.LeaseHeld:
            outcomes.append("skipped")
        finally:
            fetcher.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
        time.sleep(0.2)
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok", "skipped"]
    assert len(fake_arxiv.requests_to("/rss/cs.LG")) == 1
    with session_scope(factory) as s:
        assert store.lease_holder(s, ingest.INGEST_LEASE) is None  # released


def test_ids_through_the_api(
    factory: sessionmaker[Session], settings: Settings, fake_arxiv: FakeArxiv
) -> None:
    fake_arxiv.serve_wrapped(API / "api-2026-idlist-oldstyle-astro-ph_0601001.wrapped.json")
    pipeline = ingest.Pipeline.open(settings, factory)
    try:
        report = ingest.fetch_papers(pipeline, pipeline.arxiv, ["astro-ph/0601001"])
    finally:
        pipeline.close()
    assert report.status == "ok" and report.n_stored == 1
    with session_scope(factory) as s:
        paper = s.get(Paper, "astro-ph/0601001")
        assert paper is not None and paper.journal_ref
        assert any(a["affiliations"] for a in paper.authors)
        assert paper.published is not None


def test_a_dead_ingest_frees_its_lease_and_is_marked_interrupted(
    factory: sessionmaker[Session],
) -> None:
    with session_scope(factory, write=True) as s:
        dead = store.start_run(s, "rss", "cs.LG").id
        assert store.acquire_lease(s, ingest.INGEST_LEASE, "gone:1:dead", ttl_s=0.5)
    with pytest.raises(ingest.LeaseHeld), ingest.ingest_lease(factory, 60):
        pass
    time.sleep(0.6)  # the lease expires; the dead run is now older than a lease
    with ingest.ingest_lease(factory, 0.5):
        pass
    with session_scope(factory) as s:
        run = s.get(IngestRun, dead)
        assert run is not None and run.status == "interrupted"


# ---------------------------------------------------------------- empty weekdays, repeats

EMPTY_SAT = RSS / "rss-empty-cs.AI-2025-04-26-sat.xml"


def empty_feed(spec: str, pub_date: str) -> bytes:
    """arXiv's empty feed (a real Saturday one) for ``spec``, dated ``pub_date``."""
    body = EMPTY_SAT.read_bytes().replace(b"cs.AI", spec.encode())
    return body.replace(b"Sat, 26 Apr 2025 00:00:00 -0400", pub_date.encode())


FRIDAY_EMPTY = empty_feed("cs.LG", "Fri, 21 Aug 2026 00:00:00 -0400")


def test_an_empty_feed_on_an_announcement_day_keeps_the_stored_listing(
    factory: sessionmaker[Session],
) -> None:
    ingest.ingest_files(factory, [LG])
    before = dump(factory)
    report = ingest.ingest_feed_body(factory, FRIDAY_EMPTY, source="file", target="empty.xml")
    assert report.status == "suspect" and report.listing_date == "2026-08-21"
    assert "announcement day" in (report.error or "")
    assert "200 items is kept" in (report.error or "")
    assert dump(factory) == before  # the day's record (200 items) is not overwritten
    with session_scope(factory) as s:
        day = s.get(FeedDay, ("cs.LG", date(2026, 8, 21)))
        assert day is not None and (day.status, day.items) == ("listed", 200)
        [run] = [r for r in s.scalars(select(IngestRun)) if r.id == report.run_id]
        assert run.status == "suspect" and run.error == report.error


def test_an_empty_announcement_day_stays_due_and_is_fetched_again(
    factory: sessionmaker[Session], settings: Settings, fake_arxiv: FakeArxiv
) -> None:
    friday = datetime(2026, 8, 21, 10, 0, tzinfo=UTC)
    fake_arxiv.serve_feed("cs.LG", FRIDAY_EMPTY)
    [first] = ingest.ingest_due(factory, settings, friday)
    assert first.status == "suspect"
    # the same empty bytes again: refetched in full (no validators kept), still suspect
    [second] = ingest.ingest_due(factory, settings, friday)
    assert second.status == "suspect"
    hits = fake_arxiv.requests_to("/rss/cs.LG")
    assert len(hits) == 2 and not hits[1].headers.get("if-none-match")
    fake_arxiv.serve_feed("cs.LG", LG)  # arXiv's real listing shows up
    [third] = ingest.ingest_due(factory, settings, friday)
    assert third.status == "ok" and third.n_items == 200
    assert ingest.ingest_due(factory, settings, friday) == []  # caught up


def test_a_metadata_change_is_stored_on_a_repeat_day(factory: sessionmaker[Session]) -> None:
    ingest.ingest_files(factory, [RSS / "rss-cs.AI-2024-12-31-tue.xml"])
    repeat = (RSS / "rss-holiday-repeat-cs.AI-2025-01-01-wed.xml").read_bytes()
    journal = b"<arxiv:journal_reference>J. Hist. Agents 1 (2025) 1-9</arxiv:journal_reference>"
    anchor = b"<dc:creator>Ting Bai, Jiazheng Kang, Jiayang Fan</dc:creator>"
    changed = repeat.replace(anchor, journal + b"\n      " + anchor, 1)
    assert changed != repeat
    report = ingest.ingest_feed_body(factory, changed, source="file", target="repeat.xml")
    assert report.status == "repeat" and report.n_stored == 1
    with session_scope(factory) as s:
        paper = s.get(Paper, "2412.20024")
        assert paper is not None and paper.journal_ref == "J. Hist. Agents 1 (2025) 1-9"
        assert paper.first_announced == date(2024, 12, 31)
        assert set(s.scalars(select(Listing.date))) == {date(2024, 12, 31)}  # not a new day
        assert s.get(FeedDay, ("cs.AI", date(2025, 1, 1))).status == "repeat"  # type: ignore[union-attr]
