"""When to poll arXiv, and the poll job against the fake arXiv."""

from __future__ import annotations

import os
import queue
import sys
import threading
from datetime import UTC, date, datetime

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import schedule
from coolpapers.config import Settings
from coolpapers.ingest import Pipeline
from coolpapers.scheduler import (
    BACKGROUND_NICENESS,
    POLL_JOB,
    build_scheduler,
    poll_arxiv,
    start_background,
)
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


@pytest.mark.parametrize(
    ("submitted", "listing"),
    [
        # arXiv's table (arxiv-data.md §1): Mon 14:00 – Tue 14:00 ET → Wednesday's listing, …
        ("2026-08-17T13:59:59-04:00", date(2026, 8, 18)),  # Monday before the deadline: Tue
        ("2026-08-17T14:00:00-04:00", date(2026, 8, 19)),  # at the deadline: the next window
        ("2026-08-19T09:00:00-04:00", date(2026, 8, 20)),  # Wednesday morning: Thursday
        ("2026-08-20T15:00:00-04:00", date(2026, 8, 24)),  # Thursday after 14:00: Monday
        ("2026-08-21T10:00:00-04:00", date(2026, 8, 24)),  # Friday morning: Sunday's, Monday
        ("2026-08-21T15:00:00-04:00", date(2026, 8, 25)),  # Friday afternoon: Tuesday
        ("2026-08-22T12:00:00-04:00", date(2026, 8, 25)),  # Saturday: Tuesday
        ("2026-08-23T23:00:00-04:00", date(2026, 8, 25)),  # Sunday night: Tuesday
        # in winter 14:00 ET is 19:00 UTC
        ("2024-01-08T18:59:00+00:00", date(2024, 1, 9)),
        ("2024-01-08T19:00:00+00:00", date(2024, 1, 10)),
        # holidays 25 and 26 Dec 2024: no announcement those evenings, Thursday and Friday's
        # listings empty (as the real feeds were), Monday's carries the windows
        ("2024-12-24T15:00:00-05:00", date(2024, 12, 30)),
        ("2024-12-26T10:00:00-05:00", date(2024, 12, 30)),
        # 3 July 2026 (a Friday) is a holiday: Friday's window is announced Sunday as usual
        ("2026-07-02T15:00:00-04:00", date(2026, 7, 6)),
        # 31 Dec 2026 is a holiday and 1 Jan 2027's calendar is unknown here
        ("2026-12-31T10:00:00-05:00", None),
        # years whose holidays are not all known: no day rather than a guess
        ("2025-03-03T10:00:00-05:00", None),
        ("2007-04-02T19:18:42+00:00", None),
    ],
)
def test_listing_day_of_a_submission(submitted: str, listing: date | None) -> None:
    assert schedule.listing_day_of(datetime.fromisoformat(submitted)) == listing


def _job_thread_niceness(scheduler: BackgroundScheduler) -> int:
    """The nice value of the thread a job of ``scheduler`` (started) runs on."""
    seen: queue.Queue[int] = queue.Queue()
    # an interval job, as the scheduler's own: a one-off one is removed by the scheduler's
    # thread after it ran, and a shutdown at that moment makes that removal raise there
    scheduler.add_job(
        lambda: seen.put(os.getpriority(os.PRIO_PROCESS, threading.get_native_id())),
        "interval",
        hours=1,
        next_run_time=datetime.now(UTC),
    )
    return seen.get(timeout=30)


@pytest.mark.skipif(sys.platform != "linux", reason="a thread's own nice value is Linux's")
@pytest.mark.parametrize("behind_readers", [False, True])
def test_jobs_of_a_process_that_serves_no_page_step_back_from_the_readers(
    factory: sessionmaker[Session], settings: Settings, behind_readers: bool
) -> None:
    pipeline = Pipeline.open(settings, factory)
    scheduler = build_scheduler(pipeline, behind_readers=behind_readers)
    scheduler.remove_all_jobs()  # only the probe runs
    scheduler.start()
    try:
        niceness = _job_thread_niceness(scheduler)
    finally:
        scheduler.shutdown(wait=True)
        pipeline.close()
    ours = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    expected = max(ours, BACKGROUND_NICENESS) if behind_readers else ours
    assert niceness == expected
    # the test's own thread is left as it was
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == ours


@pytest.mark.skipif(sys.platform != "linux", reason="a thread's own nice value is Linux's")
def test_the_jobs_in_a_parent_of_web_workers_step_back_and_those_beside_the_web_do_not(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    ours = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    alone = start_background(settings, factory)  # `serve --workers N`'s parent
    try:
        assert _job_thread_niceness(alone.scheduler) == max(ours, BACKGROUND_NICENESS)
    finally:
        assert alone.stop()
    pipeline = Pipeline.open(settings, factory)
    beside_web = start_background(settings, factory, pipeline)  # `serve`'s own scheduler
    try:
        assert _job_thread_niceness(beside_web.scheduler) == ours
    finally:
        assert beside_web.stop()
        pipeline.close()
