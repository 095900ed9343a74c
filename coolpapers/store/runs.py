"""Ingest runs (one fetch each) and the validators of conditional GET per URL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    func,
    select,
    update,
)
from sqlalchemy.orm import Session

from coolpapers.models import (
    FetchState,
    IngestRun,
    Listing,
    Paper,
    utcnow,
)


def start_run(session: Session, source: str, target: str) -> IngestRun:
    run = IngestRun(source=source, target=target[:2000], status="running")
    session.add(run)
    session.flush()
    return run


def finish_run(session: Session, run_id: int, status: str, **fields: Any) -> None:
    if "error" in fields and fields["error"] is not None:
        fields["error"] = str(fields["error"])[:4000]
    session.execute(
        update(IngestRun)
        .where(IngestRun.id == run_id)
        .values(status=status, finished_at=utcnow(), **fields)
    )


def mark_interrupted(session: Session, older_than: datetime) -> int:
    """Runs still "running" since before ``older_than`` died with their process: say so."""
    result = session.execute(
        update(IngestRun)
        .where(IngestRun.status == "running", IngestRun.started_at < older_than)
        .values(status="interrupted", error="the process ended during the run")
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0))


def recent_runs(session: Session, limit: int = 50) -> list[IngestRun]:
    return list(session.scalars(select(IngestRun).order_by(IngestRun.id.desc()).limit(limit)))


def last_run_per_target(session: Session) -> list[IngestRun]:
    latest = (
        select(func.max(IngestRun.id))
        .where(IngestRun.status != "skipped")
        .group_by(IngestRun.source, IngestRun.target)
    )
    return list(
        session.scalars(
            select(IngestRun).where(IngestRun.id.in_(latest)).order_by(IngestRun.target)
        )
    )


def recent_failures(session: Session, limit: int = 20) -> list[IngestRun]:
    return list(
        session.scalars(
            select(IngestRun)
            .where(IngestRun.status == "failed")
            .order_by(IngestRun.id.desc())
            .limit(limit)
        )
    )


def table_counts(session: Session) -> dict[str, int]:
    return {
        "papers": session.scalar(select(func.count()).select_from(Paper)) or 0,
        "listings": session.scalar(select(func.count()).select_from(Listing)) or 0,
        "days": session.scalar(select(func.count(func.distinct(Listing.date)))) or 0,
    }


def get_fetch_state(session: Session, url: str) -> FetchState | None:
    return session.get(FetchState, url)


def put_fetch_state(
    session: Session, url: str, etag: str | None, last_modified: str | None
) -> None:
    row = session.get(FetchState, url)
    if row is None:
        session.add(FetchState(url=url, etag=etag, last_modified=last_modified))
    else:
        row.etag, row.last_modified, row.checked_at = etag, last_modified, utcnow()
