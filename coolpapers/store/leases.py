"""Named leases shared by every process through the database: the one lock implementation."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import (
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from coolpapers.models import (
    Lease,
    utcnow,
)
from coolpapers.store.papers import as_utc


def acquire_lease(session: Session, name: str, holder: str, ttl_s: float) -> bool:
    """Take (or renew) a named lease; one atomic UPDATE decides between racing processes."""
    now = utcnow()
    if session.get(Lease, name) is None:
        try:
            with session.begin_nested():
                session.add(Lease(name=name, holder="", expires_at=now - timedelta(seconds=1)))
        except IntegrityError:
            pass  # another process created it first; the UPDATE below decides
    result = session.execute(
        update(Lease)
        .where(Lease.name == name, (Lease.expires_at < now) | (Lease.holder == holder))
        .values(holder=holder, expires_at=now + timedelta(seconds=ttl_s))
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def release_lease(session: Session, name: str, holder: str) -> None:
    session.execute(
        update(Lease)
        .where(Lease.name == name, Lease.holder == holder)
        .values(holder="", expires_at=utcnow() - timedelta(seconds=1))
        .execution_options(synchronize_session=False)
    )


def lease_holder(session: Session, name: str) -> tuple[str, datetime] | None:
    lease = session.get(Lease, name)
    if lease is None or not lease.holder:
        return None
    expires = as_utc(lease.expires_at)
    assert expires is not None
    return (lease.holder, expires) if expires > utcnow() else None
