"""History imports' checkpoints: how far ``coolpapers import kaggle|oai`` got."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from coolpapers.models import ImportCheckpoint, utcnow


@dataclass(frozen=True)
class Checkpoint:
    name: str
    position: str
    done: int
    finished: bool


def get_checkpoint(session: Session, name: str) -> Checkpoint | None:
    row = session.get(ImportCheckpoint, name)
    if row is None:
        return None
    return Checkpoint(row.name, row.position, row.done, row.finished)


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
