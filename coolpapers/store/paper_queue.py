"""The paper queue: keys asked for by a request that the worker fetches later, in batches."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from coolpapers.models import QueuedPaper, utcnow
from coolpapers.store.papers import on_conflict_insert

ERROR_LEN = 2000


def enqueue_papers(session: Session, keys: Iterable[str]) -> None:
    """Queue these keys; one already queued keeps its place (two requests race harmlessly)."""
    rows = [{"paper_id": k, "requested_at": utcnow(), "attempts": 0} for k in dict.fromkeys(keys)]
    if not rows:
        return
    insert = on_conflict_insert(session, QueuedPaper)
    session.execute(insert.values(rows).on_conflict_do_nothing())


def queued_papers(session: Session, limit: int, *, max_attempts: int) -> list[str]:
    """The next keys to fetch: fewest failed attempts first, then oldest request."""
    return list(
        session.scalars(
            select(QueuedPaper.paper_id)
            .where(QueuedPaper.attempts < max_attempts)
            .order_by(QueuedPaper.attempts, QueuedPaper.requested_at, QueuedPaper.paper_id)
            .limit(limit)
        )
    )


def dequeue_papers(session: Session, keys: Sequence[str]) -> None:
    if keys:
        session.execute(
            delete(QueuedPaper)
            .where(QueuedPaper.paper_id.in_(list(keys)))
            .execution_options(synchronize_session=False)
        )


def note_queue_failure(session: Session, keys: Sequence[str], error: str) -> None:
    """A batch failed: count it against each key (the queue gives up on a key after a few)."""
    if keys:
        session.execute(
            update(QueuedPaper)
            .where(QueuedPaper.paper_id.in_(list(keys)))
            .values(attempts=QueuedPaper.attempts + 1, last_error=error[:ERROR_LEN])
            .execution_options(synchronize_session=False)
        )


def queue_size(session: Session, *, max_attempts: int) -> int:
    """Keys still to fetch (those past ``max_attempts`` are given up on)."""
    query = select(func.count()).where(QueuedPaper.attempts < max_attempts)
    return session.scalar(query.select_from(QueuedPaper)) or 0
