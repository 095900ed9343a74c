"""Failed logins (``login_attempts``), under every key they count against: the last minute's
rows are the brute-force limit (``accounts.sessions.login``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from coolpapers.models import LoginAttempt
from coolpapers.store.papers import as_utc

KEY_LEN = 80  # the column's length


def failures_since(
    session: Session, keys: Sequence[str], since: datetime
) -> dict[str, tuple[int, datetime]]:
    """key -> (failures after ``since``, the oldest of them), for the keys that have any."""
    rows = session.execute(
        select(LoginAttempt.key, func.count(), func.min(LoginAttempt.at))
        .where(LoginAttempt.key.in_([k[:KEY_LEN] for k in keys]), LoginAttempt.at > since)
        .group_by(LoginAttempt.key)
    ).all()
    found: dict[str, tuple[int, datetime]] = {}
    for key, count, oldest in rows:
        first = as_utc(oldest)
        if first is not None:
            found[key] = (int(count), first)
    return found


def record_failure(session: Session, keys: Sequence[str], now: datetime) -> list[int]:
    """One row per key; their ids (a try is recorded before its check, and its rows deleted
    when it turns out not to be a failure)."""
    rows = [LoginAttempt(key=k[:KEY_LEN], at=now) for k in keys]
    session.add_all(rows)
    session.flush()
    return [row.id for row in rows]


def delete_attempts(session: Session, ids: Sequence[int]) -> None:
    session.execute(
        delete(LoginAttempt)
        .where(LoginAttempt.id.in_(list(ids)))
        .execution_options(synchronize_session=False)
    )


def prune_login_attempts(session: Session, before: datetime) -> int:
    result = session.execute(
        delete(LoginAttempt)
        .where(LoginAttempt.at < before)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
