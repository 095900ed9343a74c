"""The pipeline: fetch → parse → decide → store, one entry per intent, shared by the scheduler,
the CLI and the web.

- ``ingest_due`` (``due.py``): lease → the due listing feeds → store → search index sync; the
  scheduler's poll and ``coolpapers ingest`` (``--categories`` too).
- ``ensure_papers`` (``papers.py``): the papers a page, the FAQ or the CLI needs, a handful
  fetched on demand, more queued for the worker (``drain_due``); ``stored_papers`` the same
  when all are stored, never asking arXiv (a page rendered where it must not wait on arXiv).
- ``ingest_files`` (``feeds.py``): saved feed documents (``--feed-file``, the demo).
- ``import_kaggle`` (``kaggle.py``) and ``harvest_oai`` (``oai.py``): arXiv's history in bulk
  (``coolpapers import``), resumable from a checkpoint (``imports.py``: their report).
- ``refresh_metadata`` (``refresh.py``): once a day, an OAI harvest of what arXiv changed
  since (new versions, DOIs, journal refs) for the stored papers and the ingested categories.
- ``request_pdf`` (``pdfs.py``): a stored paper's PDF for the inline viewer, from the disk cache
  or fetched once through the same arXiv client.
- ``Pipeline`` (``pipeline.py``): settings, session factory, sources and their one arXiv client,
  and the stop event that ends every wait on shutdown.

Each fetch is one ``ingest_runs`` row (``runs.py``). The data of one feed is written in one
transaction, so a failed fetch or parse leaves the database as it was. Every scheduled or CLI run
holds the ``ingest`` lease, so two processes (``serve`` and ``worker``, or a CLI run) never ingest
at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from coolpapers import store
from coolpapers.db import session_scope
from coolpapers.ingest.due import drain_due, ingest_due, sync_index
from coolpapers.ingest.feeds import (
    feed_name,
    ingest_feed_body,
    ingest_files,
    ingest_listing,
    ingest_rss,
    store_feed,
)
from coolpapers.ingest.imports import ImportProgress, ImportReport
from coolpapers.ingest.kaggle import import_kaggle
from coolpapers.ingest.oai import harvest_oai
from coolpapers.ingest.papers import (
    ON_DEMAND_MAX,
    Ensured,
    ensure_papers,
    fetch_papers,
    store_papers,
    stored_papers,
)
from coolpapers.ingest.pdfs import PaperPdf, request_pdf
from coolpapers.ingest.pipeline import Pipeline
from coolpapers.ingest.refresh import refresh_metadata
from coolpapers.ingest.runs import (
    DatabaseFailed,
    IngestStopped,
    RunReport,
    SessionFactory,
    describe_db_error,
    record_skip,
)
from coolpapers.models import utcnow

__all__ = [
    "INGEST_LEASE",
    "ON_DEMAND_MAX",
    "DatabaseFailed",
    "Ensured",
    "ImportProgress",
    "ImportReport",
    "IngestStopped",
    "LeaseHeld",
    "PaperPdf",
    "Pipeline",
    "RunReport",
    "SessionFactory",
    "describe_db_error",
    "drain_due",
    "ensure_papers",
    "feed_name",
    "fetch_papers",
    "harvest_oai",
    "import_kaggle",
    "ingest_due",
    "ingest_feed_body",
    "ingest_files",
    "ingest_lease",
    "ingest_listing",
    "ingest_rss",
    "record_skip",
    "refresh_metadata",
    "request_pdf",
    "store_feed",
    "store_papers",
    "stored_papers",
    "sync_index",
]

INGEST_LEASE = "ingest"

LeaseHeld = store.LeaseHeld  # another process is ingesting (or took the lease over: LeaseLost)


@contextmanager
def ingest_lease(factory: SessionFactory, ttl_s: float) -> Iterator[Callable[[], None]]:
    """Hold the ingest lease; yields a function that renews it between long steps (and raises
    ``store.LeaseLost`` when another process has taken it over)."""
    with store.hold_lease(factory, INGEST_LEASE, ttl_s) as renew:
        with session_scope(factory, write=True) as s:
            # a run older than a whole lease outlived the lease that covered it: its process died
            store.mark_interrupted(s, utcnow() - timedelta(seconds=ttl_s))
        yield renew
