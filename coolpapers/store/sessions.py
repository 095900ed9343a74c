"""Logged-in browsers (``sessions``), stored by the hash of the cookie's token. Expiry is the
caller's rule (``accounts.sessions``): this module finds, touches and deletes rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from coolpapers.models import User, UserSession
from coolpapers.store.papers import as_utc
from coolpapers.store.users import Member, as_member


@dataclass(frozen=True)
class SessionRow:
    member: Member
    created_at: datetime
    last_seen_at: datetime


def create_session(session: Session, id_hash: str, user_id: int, now: datetime) -> None:
    session.add(UserSession(id_hash=id_hash, user_id=user_id, created_at=now, last_seen_at=now))
    session.flush()


def find_session(session: Session, id_hash: str) -> SessionRow | None:
    """The session and its member (disabled members' sessions are deleted with the disable,
    and never returned)."""
    row = session.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.id_hash == id_hash, User.disabled_at.is_(None))
    ).first()
    if row is None:
        return None
    found, user = row
    created, seen = as_utc(found.created_at), as_utc(found.last_seen_at)
    assert created is not None and seen is not None
    return SessionRow(as_member(user), created, seen)


def touch_session(session: Session, id_hash: str, now: datetime) -> None:
    session.execute(
        update(UserSession)
        .where(UserSession.id_hash == id_hash)
        .values(last_seen_at=now)
        .execution_options(synchronize_session=False)
    )


def delete_session(session: Session, id_hash: str) -> None:
    session.execute(
        delete(UserSession)
        .where(UserSession.id_hash == id_hash)
        .execution_options(synchronize_session=False)
    )


def delete_user_sessions(session: Session, user_id: int) -> int:
    result = session.execute(
        delete(UserSession)
        .where(UserSession.user_id == user_id)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def prune_sessions(session: Session, *, idle_before: datetime, created_before: datetime) -> int:
    """Delete the sessions expired by either rule; how many went."""
    result = session.execute(
        delete(UserSession)
        .where(
            or_(
                UserSession.last_seen_at < idle_before,
                UserSession.created_at < created_before,
            )
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
