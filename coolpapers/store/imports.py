"""History imports' checkpoints: how far ``coolpapers import kaggle|oai`` got."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from coolpapers.models import ImportCheckpoint, utcnow
from coolpapers.store.papers import as_utc


@dataclass(frozen=True)
class Checkpoint:
    name: str
    position: str
    done: int
    finished: bool
    updated_at: datetime | None = None


def get_checkpoint(session: Session, name: str) -> Checkpoint | None:
    row = session.get(ImportCheckpoint, name)
    if row is None:
        return None
    return Checkpoint(row.name, row.position, row.done, row.finished, as_utc(row.updated_at))


def checkpoints(session: Session, limit: int = 20) -> list[Checkpoint]:
    """The imports' checkpoints, the most recently moved first (/status)."""
    rows = session.scalars(
        select(ImportCheckpoint).order_by(ImportCheckpoint.updated_at.desc()).limit(limit)
    )
    return [Checkpoint(r.name, r.position, r.done, r.finished, as_utc(r.updated_at)) for r in rows]


def put_checkpoint(
    session: Session, name: str, position: str, done: int, *, finished: bool = False
) -> None:
    """Record progress; call it in the transaction that wrote the batch it covers."""
    row = session.get(ImportCheckpoint, name)
    if row is None:
        session.add(
            ImportCheckpoint(
                name=name, position=position, done=done, finished=finished, updated_at=utcnow()
            )
        )
        return
    row.position, row.done, row.finished, row.updated_at = position, done, finished, utcnow()


def drop_checkpoint(session: Session, name: str) -> None:
    row = session.get(ImportCheckpoint, name)
    if row is not None:
        session.delete(row)
