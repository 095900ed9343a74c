"""``ingest_due``: the scheduled ingest, written once for the scheduler and the CLI.

lease → fetch the due feeds (each: conditional GET, parse, store, one run) → search index sync.
A stop event ends it between feeds and during any wait of a fetch; the lease is released on the
way out whatever happened (the ``with``), so the next start does not find it held.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError

from coolpapers import schedule, store
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.ingest.feeds import ingest_listing
from coolpapers.ingest.papers import QUEUE_MAX_ATTEMPTS, drain_queue
from coolpapers.ingest.pipeline import Pipeline
from coolpapers.ingest.runs import DatabaseFailed, RunReport, SessionFactory, describe_db_error
from coolpapers.search import sync
from coolpapers.store import generations

log = logging.getLogger(__name__)


def _lease(factory: SessionFactory, ttl_s: float) -> AbstractContextManager[Callable[[], None]]:
    # the package defines the lease (on store's one implementation); imported here, at call
    # time, because the package imports this module
    from coolpapers.ingest import ingest_lease

    return ingest_lease(factory, ttl_s)


@contextmanager
def _opened(
    pipeline_or_factory: Pipeline | SessionFactory, settings: Settings
) -> Iterator[Pipeline]:
    """The caller's pipeline, or one opened (and closed) for this call."""
    if isinstance(pipeline_or_factory, Pipeline):
        yield pipeline_or_factory
        return
    pipeline = Pipeline.open(settings, pipeline_or_factory)
    try:
        yield pipeline
    finally:
        pipeline.close()


def ingest_due(
    pipeline_or_factory: Pipeline | SessionFactory,
    settings: Settings,
    now: datetime | None = None,
    stop: threading.Event | None = None,
    *,
    specs: Sequence[str] | None = None,
    every: bool = False,
) -> list[RunReport]:
    """Fetch the feeds (``specs``, else the configured ones) that have no listing for the day
    due at ``now`` yet, or all of them with ``every`` (the CLI's "one run now"); no-op when
    caught up. Raises LeaseHeld when another process is ingesting, DatabaseFailed (one line)
    when the database refuses. A stop ends it early; the run in progress becomes interrupted."""
    wanted = list(specs or settings.ingest_specs)
    with _opened(pipeline_or_factory, settings) as pipeline:
        try:  # the ingest's commits (each feed's, the keywords') show on the pages at its end
            with generations.held(pipeline.factory.kw["bind"]):
                return _ingest_due(pipeline, settings, now, stop, wanted, every)
        except SQLAlchemyError as exc:  # the generation's raise, as the hold ends
            raise DatabaseFailed(describe_db_error(exc)) from exc


def _ingest_due(
    pipeline: Pipeline,
    settings: Settings,
    now: datetime | None,
    stop: threading.Event | None,
    wanted: list[str],
    every: bool,
) -> list[RunReport]:
    try:
        if not every:
            due = schedule.expected_listing_date(now or datetime.now(UTC))
            with session_scope(pipeline.factory) as s:
                wanted = store.feeds_missing(s, wanted, due)
            if not wanted:
                return []
        reports: list[RunReport] = []
        with _lease(pipeline.factory, settings.ingest_lease_s) as renew:
            for spec in wanted:
                if pipeline.stopping(stop):
                    break
                report = ingest_listing(pipeline, pipeline.arxiv, spec, stop)
                log.info("%s", report.line())
                reports.append(report)
                if report.status == "interrupted":
                    break
                renew()
    except SQLAlchemyError as exc:
        raise DatabaseFailed(describe_db_error(exc)) from exc
    if reports and not pipeline.stopping(stop):
        sync_index(pipeline)  # what the ingest committed reaches the index now
    return reports


def drain_due(pipeline: Pipeline, stop: threading.Event | None = None) -> list[RunReport]:
    """The worker's turn at the paper queue, under the ingest lease (one ingester at a time
    talks to arXiv); no-op when the queue is empty. Raises LeaseHeld like ingest_due."""
    try:
        with session_scope(pipeline.factory) as s:
            if not store.queue_size(s, max_attempts=QUEUE_MAX_ATTEMPTS):
                return []
        with _lease(pipeline.factory, pipeline.settings.ingest_lease_s):
            reports = drain_queue(pipeline, stop)
    except SQLAlchemyError as exc:
        raise DatabaseFailed(describe_db_error(exc)) from exc
    for report in reports:
        log.info("%s", report.line())
    if reports and not pipeline.stopping(stop):
        sync_index(pipeline)
    return reports


def sync_index(pipeline: Pipeline) -> int:
    """Bring the search index up to the database (it skips when another process indexes)."""
    indexed = sync.sync_job(pipeline.factory, pipeline.settings.data_dir)
    if indexed:
        log.info("search index: %d papers indexed", indexed)
    return indexed
