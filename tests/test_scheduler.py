"""When to poll arXiv, and the poll job against the fake arXiv."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import schedule
from coolpapers.config import Settings
from coolpapers.ingest import Pipeline
from coolpapers.scheduler import POLL_JOB, build_scheduler, poll_arxiv
from tests.conftest import RSS
from tests.fakes.arxiv_server import FakeArxiv


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-08-21T03:59:00+00:00", date(2026, 8, 20)),  # Thu 23:59 EDT: Thursday's listing
        ("2026-08-21T04:01:00+00:00", date(2026, 8, 21)),  # Fri 00:01 EDT: Friday's feed
        ("2026-08-22T15:00:00+00:00", date(2026, 8, 21)),  # Saturday: still Friday's
        ("2026-08-24T03:00:00+00:00", date(2026, 8, 21)),  # Sun 23:00 EDT
        ("2026-08-24T04:30:00+00:00", date(2026, 8, 24)),  # Mon 00:30 EDT
        ("2026-01-06T04:30:00+00:00", date(2026, 1, 5)),  # Mon 23:30 EST (winter: UTC-5)
    ],
)
def test_expected_listing_date(now: str, expected: date) -> None:
    assert schedule.expected_listing_date(datetime.fromisoformat(now)) == expected


def test_next_poll() -> None:
    friday = datetime(2026, 8, 21, 12, 0, tzinfo=UTC)
    assert schedule.next_poll(friday, caught_up=False, interval_min=10) == datetime(
        2026, 8, 21, 12, 10, tzinfo=UTC
    )
    after = schedule.next_poll(friday, caught_up=True, interval_min=10)
    assert after.astimezone(schedule.EASTERN).date() == date(2026, 8, 24)  # skips the weekend
    assert (after.astimezone(schedule.EASTERN).hour, after.minute) == (0, 0)


def test_poll_fetches_until_the_day_is_in_then_stops(
    factory: sessionmaker[Session], settings: Settings, fake_arxiv: FakeArxiv
) -> None:
    fake_arxiv.serve_feed("cs.LG", RSS / "rss-cs.LG-2026-08-21-fri.xml")
    friday = datetime(2026, 8, 21, 10, 0, tzinfo=UTC)
    [report] = poll_arxiv(factory, settings, now=friday)
    assert report.status == "ok" and report.listing_date == "2026-08-21"
    assert poll_arxiv(factory, settings, now=friday) == []  # caught up: no request
    assert poll_arxiv(factory, settings, now=datetime(2026, 8, 22, 10, tzinfo=UTC)) == []
    assert len(fake_arxiv.requests_to("/rss/cs.LG")) == 1
    # Monday after midnight: the feed is not rebuilt yet (same bytes → 304), keep polling
    monday = datetime(2026, 8, 24, 4, 30, tzinfo=UTC)
    assert [r.status for r in poll_arxiv(factory, settings, now=monday)] == ["not_modified"]
    assert [r.status for r in poll_arxiv(factory, settings, now=monday)] == ["not_modified"]
    assert len(fake_arxiv.requests_to("/rss/cs.LG")) == 3


def test_scheduler_polls_at_once_on_start(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    pipeline = Pipeline.open(settings, factory)
    scheduler = build_scheduler(pipeline)
    pipeline.close()
    job = scheduler.get_job(POLL_JOB)
    assert job is not None
    assert job.next_run_time <= datetime.now(UTC)
    assert job.trigger.interval.total_seconds() == settings.poll_interval_min * 60
