"""The background jobs of a process: poll arXiv until the day's listing is in, drain the paper
queue, keep the search index caught up, bring in what arXiv changed after the fact once a day,
prune the recorded clicks, the lab's expired sessions and old failed logins, and the FAQ
worker. Thin: the work is in ingest (and store, accounts).

Stopping (Ctrl+C, SIGTERM, the web's shutdown) goes through :meth:`Background.stop`: it sets the
pipeline's stop event, which ends an ingest between feeds and during any wait of a fetch (the run
becomes ``interrupted`` and the lease is released on the way out), then waits a bounded time for
the jobs to return. ``coolpapers serve`` and ``worker`` exit at once after that bound even if a job
is still stuck (in the database), rather than hang.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import accounts, ingest, store
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.errors import CoolpapersError
from coolpapers.ingest import Pipeline
from coolpapers.summarize.jobs import FaqWorker

log = logging.getLogger(__name__)

POLL_JOB = "poll_arxiv"
QUEUE_JOB = "paper_queue"
SEARCH_JOB = "search_sync"
CLICKS_JOB = "prune_clicks"
SESSIONS_JOB = "prune_sessions"
REFRESH_JOB = "refresh_metadata"
SEARCH_EVERY_S = 60  # papers fetched on demand by web requests reach the index within this
QUEUE_EVERY_S = 60  # papers queued by a request are fetched within about this
# the recorded clicks of days gone only cost space; pruned here rather than on each click so a
# request never pays for deleting a whole day's rows at midnight
CLICKS_EVERY_S = 3600
# expired sessions are refused when met (accounts.member_for_token); this only clears the rows
# of browsers that never came back, and failed logins older than a day
SESSIONS_EVERY_S = 3600
# the metadata refresh runs once a UTC day (ingest.refresh_metadata decides); asked hourly, so
# one that failed (arXiv down, another process ingesting) is tried again within the hour. Its
# first ask comes one interval after the start, not at once: a start catches up the day's
# listing first, and the harvest would hold the ingest lease against it
REFRESH_EVERY_S = 3600
STOP_TIMEOUT_S = 10.0  # how long a stop waits for a running job before the process exits anyway
# The nice value of the job threads of a process that serves no page (`coolpapers worker`,
# `serve --workers N`'s parent): when readers and an ingest want the same cores, the readers'
# web processes come first (CFS gives a nice-10 thread about a tenth of a nice-0 one's share)
# and the ingest takes the rest; on idle cores it runs as fast as ever. Not in a process that
# also serves: there the jobs share the web's GIL, and a thread held off the CPU while it
# holds the GIL would hold the pages up with it.
BACKGROUND_NICENESS = 10


def poll_arxiv(
    pipeline: Pipeline | sessionmaker[Session], settings: Settings, now: datetime | None = None
) -> list[ingest.RunReport]:
    """Fetch the configured feeds that don't have today's listing yet; no-op when caught up."""
    try:
        return ingest.ingest_due(pipeline, settings, now)
    except ingest.LeaseHeld:
        log.info("another process is ingesting; this poll skips")
    except CoolpapersError as exc:  # the database refused: one line, the next poll tries again
        log.error("ingest: %s", exc)
    return []


def drain_papers(pipeline: Pipeline) -> list[ingest.RunReport]:
    """Fetch the papers requests queued (batches of 100 per API call, politely)."""
    try:
        return ingest.drain_due(pipeline)
    except ingest.LeaseHeld:
        log.info("another process is ingesting; the paper queue waits")
    except CoolpapersError as exc:
        log.error("paper queue: %s", exc)
    return []


def search_sync(pipeline: Pipeline) -> int:
    """Bring the search index up to the database (building it when missing or corrupt)."""
    try:
        return ingest.sync_index(pipeline)
    except SQLAlchemyError as exc:
        log.error("search index: %s", ingest.describe_db_error(exc))
        return 0


def refresh_metadata(pipeline: Pipeline) -> list[ingest.ImportReport]:
    """Harvest what arXiv changed since the last refresh, when one is due."""
    try:
        reports = ingest.refresh_metadata(pipeline)
    except ingest.LeaseHeld:
        log.info("another process is ingesting; the metadata refresh waits")
        return []
    except CoolpapersError as exc:  # arXiv or the database failed: the next hour tries again
        log.error("metadata refresh: %s", exc)
        return []
    for report in reports:
        log.info(
            "metadata refresh %s: %d records, %d stored, %d unchanged, %d outside the "
            "categories, %d bad%s",
            report.name, report.read, report.stored, report.unchanged, report.outside,
            report.bad, "" if report.finished else " (not finished: resumes next time)",
        )  # fmt: skip
    return reports


def prune_clicks(pipeline: Pipeline, now: datetime | None = None) -> int:
    """Delete the recorded [PDF]/[FAQ] clicks that no longer decide anything."""
    try:
        with session_scope(pipeline.factory, write=True) as session:
            return store.prune_clicks(session, now or datetime.now(UTC))
    except SQLAlchemyError as exc:
        log.error("click pruning: %s", ingest.describe_db_error(exc))
        return 0


def prune_sessions(pipeline: Pipeline, now: datetime | None = None) -> int:
    """Delete the expired sessions (idle or past their absolute end) and day-old failed
    logins; how many sessions went."""
    policy = accounts.SessionPolicy.of(pipeline.settings)
    try:
        return accounts.prune_sessions(pipeline.factory, now or datetime.now(UTC), policy)
    except SQLAlchemyError as exc:
        log.error("session pruning: %s", ingest.describe_db_error(exc))
        return 0


def yield_cpu_to_readers() -> None:
    """Lower the calling thread's CPU priority to BACKGROUND_NICENESS (Linux, where a thread
    has a nice value of its own); never raises it, and elsewhere does nothing."""
    if sys.platform != "linux":
        return
    thread = threading.get_native_id()
    try:
        if os.getpriority(os.PRIO_PROCESS, thread) < BACKGROUND_NICENESS:
            os.setpriority(os.PRIO_PROCESS, thread, BACKGROUND_NICENESS)
    except OSError as exc:  # a sandbox may refuse: the jobs run at the usual priority
        log.warning("could not lower the background jobs' CPU priority: %s", exc)


def build_scheduler(pipeline: Pipeline, *, behind_readers: bool = False) -> BackgroundScheduler:
    """The poll job runs at once (catching up a stale database) and then every few minutes;
    the queue and the index every minute, the clicks' and sessions' pruning hourly, the
    metadata refresh asked hourly from an hour after the start (unless it is off). Not
    started. ``behind_readers``: its threads at BACKGROUND_NICENESS (a process that serves
    no page)."""
    settings = pipeline.settings
    pool = {"initializer": yield_cpu_to_readers} if behind_readers else None
    scheduler = BackgroundScheduler(
        timezone=UTC, executors={"default": ThreadPoolExecutor(pool_kwargs=pool)}
    )
    poll_every_s = settings.poll_interval_min * 60
    # (id, function, arguments, interval, whether the first run is at once)
    jobs: list[tuple[str, Callable[..., object], tuple[object, ...], float, bool]] = [
        (POLL_JOB, poll_arxiv, (pipeline, settings), poll_every_s, True),
        (QUEUE_JOB, drain_papers, (pipeline,), QUEUE_EVERY_S, True),
        (SEARCH_JOB, search_sync, (pipeline,), SEARCH_EVERY_S, True),
        (CLICKS_JOB, prune_clicks, (pipeline,), CLICKS_EVERY_S, True),
        (SESSIONS_JOB, prune_sessions, (pipeline,), SESSIONS_EVERY_S, True),
    ]
    if settings.metadata_refresh:
        jobs.append((REFRESH_JOB, refresh_metadata, (pipeline,), REFRESH_EVERY_S, False))
    now = datetime.now(UTC)
    for job_id, func, args, every_s, at_once in jobs:
        # most run at once (a stale database catches up); none twice at a time, and a run
        # missed while the process was busy is made up once, not once per missed interval
        scheduler.add_job(
            func,
            "interval",
            seconds=every_s,
            args=args,
            id=job_id,
            next_run_time=now if at_once else now + timedelta(seconds=every_s),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=int(every_s),
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


class Background:
    """A process's scheduler and FAQ worker, started together and stopped within a bound."""

    def __init__(
        self, pipeline: Pipeline, *, owns_pipeline: bool = False, behind_readers: bool = False
    ) -> None:
        self.pipeline = pipeline
        self.scheduler = build_scheduler(pipeline, behind_readers=behind_readers)
        self.faq_worker: FaqWorker | None = None
        self._owns_pipeline = owns_pipeline
        self._stopped: bool | None = None

    def start(self) -> Background:
        self.scheduler.start()
        self.faq_worker = build_faq_worker(self.pipeline.settings, self.pipeline.factory)
        return self

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> bool:
        """Stop every job; True when all returned within ``timeout_s`` (idempotent)."""
        if self._stopped is not None:
            return self._stopped
        self.pipeline.stop.set()  # ends an ingest's waits and its loop over feeds
        # shutdown(wait=True) has no bound of its own: wait for it on a thread, with one
        waiter = threading.Thread(
            target=self._shutdown, name="coolpapers-scheduler-stop", daemon=True
        )
        waiter.start()
        if self.faq_worker is not None:
            self.faq_worker.stop()
        waiter.join(timeout_s)
        self._stopped = not waiter.is_alive()
        if not self._stopped:
            log.error("a background job did not stop within %g s", timeout_s)
        if self._owns_pipeline:
            self.pipeline.close()
        return self._stopped

    def _shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)


def start_background(
    settings: Settings, factory: sessionmaker[Session], pipeline: Pipeline | None = None
) -> Background:
    """Start the jobs and the FAQ worker, on ``pipeline`` (the web's) or on one of their own
    (a process that serves no page: the jobs step back from the readers')."""
    if pipeline is None:
        pipeline = Pipeline.open(settings, factory)
        return Background(pipeline, owns_pipeline=True, behind_readers=True).start()
    return Background(pipeline).start()
