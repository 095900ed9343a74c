"""The lab's members (``users``): who they are, their password hash, their per-member settings
and the hash of their personal feed's token. Members are never deleted, only disabled (their
stars and notes stay the lab's history)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from coolpapers.errors import BadInput
from coolpapers.models import User
from coolpapers.store.papers import on_conflict_insert


@dataclass(frozen=True)
class Member:
    """A member as the rest of the code sees one: never the password hash."""

    id: int
    name: str
    is_admin: bool
    disabled: bool
    created_at: datetime


def as_member(user: User) -> Member:
    return Member(user.id, user.name, user.is_admin, user.disabled_at is not None, user.created_at)


def _user(session: Session, name: str) -> User | None:
    return session.scalars(select(User).where(User.name == name)).one_or_none()


def add_user(
    session: Session, name: str, password_hash: str | None, *, is_admin: bool, now: datetime
) -> Member:
    """A new member; BadInput when the name is taken (also when a concurrent add won)."""
    row: dict[str, Any] = {
        "name": name,
        "password_hash": password_hash,
        "is_admin": is_admin,
        "created_at": now,
        "settings": {},
    }
    insert = on_conflict_insert(session, User).values(row).on_conflict_do_nothing()
    if session.scalars(insert.returning(User.id)).first() is None:
        raise BadInput(f"a member named {name!r} exists already")
    user = _user(session, name)
    assert user is not None
    return as_member(user)


def ensure_user(session: Session, name: str, now: datetime) -> Member:
    """The member ``name``, added (without password, not admin) if new: the proxy's members
    exist from their first request on."""
    row: dict[str, Any] = {
        "name": name,
        "password_hash": None,
        "is_admin": False,
        "created_at": now,
        "settings": {},
    }
    session.execute(on_conflict_insert(session, User).values(row).on_conflict_do_nothing())
    user = _user(session, name)
    assert user is not None
    return as_member(user)


def user_by_name(session: Session, name: str) -> tuple[Member, str | None] | None:
    """(member, password hash) for a login, or None when there is no such member."""
    user = _user(session, name)
    return (as_member(user), user.password_hash) if user is not None else None


def get_member(session: Session, user_id: int) -> Member | None:
    user = session.get(User, user_id)
    return as_member(user) if user is not None else None


def list_users(session: Session) -> list[Member]:
    return [as_member(u) for u in session.scalars(select(User).order_by(User.name))]


def members_by_id(session: Session, ids: list[int]) -> dict[int, Member]:
    if not ids:
        return {}
    return {u.id: as_member(u) for u in session.scalars(select(User).where(User.id.in_(ids)))}


def set_disabled(session: Session, name: str, when: datetime | None) -> Member | None:
    """Disable (``when``) or enable (None) a member; None when there is no such member."""
    user = _user(session, name)
    if user is None:
        return None
    user.disabled_at = when
    session.flush()
    return as_member(user)


def set_password_hash(session: Session, name: str, password_hash: str) -> Member | None:
    user = _user(session, name)
    if user is None:
        return None
    user.password_hash = password_hash
    session.flush()
    return as_member(user)


def user_settings(session: Session, user_id: int) -> dict[str, Any]:
    value = session.scalar(select(User.settings).where(User.id == user_id))
    return dict(value) if isinstance(value, dict) else {}


def put_user_settings(session: Session, user_id: int, values: dict[str, Any]) -> None:
    session.execute(
        update(User)
        .where(User.id == user_id)
        .values(settings=values)
        .execution_options(synchronize_session=False)
    )


def set_feed_token_hash(session: Session, user_id: int, token_hash: str | None) -> None:
    session.execute(
        update(User)
        .where(User.id == user_id)
        .values(feed_token_hash=token_hash)
        .execution_options(synchronize_session=False)
    )


def user_by_feed_token(session: Session, token_hash: str) -> Member | None:
    """The enabled member whose feed token hashes to ``token_hash``."""
    user = session.scalars(
        select(User).where(User.feed_token_hash == token_hash, User.disabled_at.is_(None))
    ).one_or_none()
    return as_member(user) if user is not None else None
