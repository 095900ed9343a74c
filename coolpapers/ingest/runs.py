"""Run records: every fetch or import is one ``ingest_runs`` row, also when it fails.

A run is started and finished in short transactions of their own, never in the one that writes
the data: when that one fails (disk full, connection lost) the run is still marked failed, from a
fresh session. If even that fails, the error is raised as :class:`DatabaseFailed` (one line, no
SQL) and the row stays ``running`` until the next ingest, holding the lease, marks it interrupted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import store
from coolpapers.db import session_scope
from coolpapers.errors import CoolpapersError

log = logging.getLogger(__name__)

SessionFactory = sessionmaker[Session]

STOPPED_ERROR = "stopped: the process was asked to stop (Ctrl+C or SIGTERM)"


class IngestStopped(CoolpapersError):
    """The process is stopping: the run in progress ends as ``interrupted``."""


class DatabaseFailed(CoolpapersError):
    """The database refused the ingest (disk full, connection lost…): one line, no SQL."""


def describe_db_error(exc: BaseException) -> str:
    """One line for a database failure: the driver's own first line, never SQL or parameters
    (SQLAlchemy's text carries both, and the parameters hold whole abstracts)."""
    source: BaseException = exc
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        source = exc.orig
    text = str(source)
    if source is exc:
        text = text.split("[SQL:", 1)[0].split("(Background on this error", 1)[0]
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if len(first) > 200:
        first = first[:197] + "..."
    return f"database error: {first or type(source).__name__}"


@dataclass(frozen=True)
class RunReport:
    run_id: int
    source: str
    target: str
    # ok | empty | repeat | suspect | not_modified | failed | interrupted | skipped
    status: str
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
        return self.status in ("failed", "interrupted")

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


def start(factory: SessionFactory, source: str, target: str) -> int:
    """A new ``running`` row, committed at once (so /status shows it during the fetch)."""
    try:
        with session_scope(factory, write=True) as s:
            return store.start_run(s, source, target).id
    except SQLAlchemyError as exc:
        raise DatabaseFailed(describe_db_error(exc)) from exc


def finish(factory: SessionFactory, run_id: int, status: str, **fields: Any) -> None:
    try:
        with session_scope(factory, write=True) as s:
            store.finish_run(s, run_id, status, **fields)
    except SQLAlchemyError as exc:
        raise DatabaseFailed(describe_db_error(exc)) from exc


def error_text(exc: BaseException) -> str:
    if isinstance(exc, SQLAlchemyError):
        return describe_db_error(exc)
    if isinstance(exc, IngestStopped):
        return STOPPED_ERROR
    return f"{type(exc).__name__}: {exc}"


def fail(
    factory: SessionFactory, run_id: int, source: str, target: str, exc: BaseException
) -> RunReport:
    """Mark the run failed (``interrupted`` when stopping) with a one-line reason, from a fresh
    session; raises DatabaseFailed when even that is refused."""
    status = "interrupted" if isinstance(exc, IngestStopped) else "failed"
    message = error_text(exc)
    if status == "failed":
        log.error("%s %s failed: %s", source, target, message)
    else:
        log.info("%s %s: %s", source, target, message)
    try:
        finish(factory, run_id, status, error=message)
    except DatabaseFailed as again:
        log.error("run %d could not be marked %s: %s", run_id, status, again)
        raise DatabaseFailed(f"{message} (the run could not be recorded: {again})") from again
    return RunReport(run_id, source, target, status, error=message)


def record_skip(factory: SessionFactory, source: str, target: str, why: str) -> RunReport:
    try:
        with session_scope(factory, write=True) as s:
            run = store.start_run(s, source, target)
            store.finish_run(s, run.id, "skipped", error=why)
            return RunReport(run.id, source, target, "skipped", error=why)
    except SQLAlchemyError as exc:
        raise DatabaseFailed(describe_db_error(exc)) from exc
