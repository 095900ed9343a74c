"""The background jobs: poll arXiv until the day's listing is in. Thin: the work is in ingest."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import http, ingest, schedule, store
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.search import sync
from coolpapers.summarize.jobs import FaqWorker

log = logging.getLogger(__name__)

POLL_JOB = "poll_arxiv"
SEARCH_JOB = "search_sync"
SEARCH_EVERY_S = 60  # papers fetched on demand by web requests reach the index within this


def poll_arxiv(
    factory: sessionmaker[Session], settings: Settings, now: datetime | None = None
) -> list[ingest.RunReport]:
    """Fetch the configured feeds that don't have today's listing yet; no-op when caught up."""
    due = schedule.expected_listing_date(now or datetime.now(UTC))
    specs = settings.ingest_specs
    with session_scope(factory) as s:
        missing = store.feeds_missing(s, specs, due)
    if not missing:
        return []
    reports = []
    fetcher = http.arxiv_fetcher(settings)
    try:
        with ingest.ingest_lease(factory, settings.ingest_lease_s) as renew:
            for spec in missing:
                report = ingest.ingest_rss(factory, fetcher, settings, spec)
                log.info("%s", report.line())
                reports.append(report)
                renew()
    except ingest.LeaseHeld:
        log.info("another process is ingesting; this poll skips")
    finally:
        fetcher.close()
    if reports:
        search_sync(factory, settings)  # what the ingest committed reaches the index now
    return reports


def search_sync(factory: sessionmaker[Session], settings: Settings) -> int:
    """Bring the search index up to the database (building it when missing or corrupt)."""
    indexed = sync.sync_job(factory, settings.data_dir)
    if indexed:
        log.info("search index: %d papers indexed", indexed)
    return indexed


def build_scheduler(
    settings: Settings, factory: sessionmaker[Session], *, blocking: bool = False
) -> BaseScheduler:
    """The poll job runs at once (catching up a stale database) and then every few minutes."""
    scheduler: BaseScheduler = (
        BlockingScheduler(timezone=UTC) if blocking else BackgroundScheduler(timezone=UTC)
    )
    scheduler.add_job(
        poll_arxiv,
        "interval",
        minutes=settings.poll_interval_min,
        args=(factory, settings),
        id=POLL_JOB,
        next_run_time=datetime.now(UTC),
        max_instances=1,
        coalesce=True,
        misfire_grace_time=settings.poll_interval_min * 60,
    )
    scheduler.add_job(
        search_sync,
        "interval",
        seconds=SEARCH_EVERY_S,
        args=(factory, settings),
        id=SEARCH_JOB,
        next_run_time=datetime.now(UTC),
        max_instances=1,
        coalesce=True,
    )
    return scheduler


def build_faq_worker(settings: Settings, factory: sessionmaker[Session]) -> FaqWorker | None:
    """The FAQ worker threads, started; None (with a log line) when no LLM is configured."""
    if not settings.llm_configured:
        log.info("no LLM configured: FAQ generation is off")
        return None
    worker = FaqWorker(factory, settings)
    worker.start()
    return worker
