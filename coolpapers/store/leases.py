"""Named leases shared by every process through the database: the one lock implementation.

Code above the store takes a lease with :func:`hold_lease` (the ingest, the search index's
writer). Taking one is a single atomic statement on both databases: an INSERT of the lease row
that, on conflict, takes the row over only where it has expired (``INSERT … ON CONFLICT DO
UPDATE … WHERE expires_at < now``); the database's row lock (Postgres) or write lock (SQLite,
``BEGIN IMMEDIATE``) decides between racing processes, and the row the statement returns says who
won. Every acquisition gets its own holder id, so two threads of one process never share one.

The FAQ job queue (``store/faqs.claim``) does not use this primitive, on purpose: it claims
*one of many* rows (the next queued job by priority, ``SKIP LOCKED`` on Postgres), and its lease
is two columns of the job row, changed in the same UPDATE as the job's state and its streamed
text. A named lease row beside it would split that one atomic step in two (a worker dying
between them leaves a job "generating" under nobody's lease, or a lease over no job).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from coolpapers.db import session_scope
from coolpapers.errors import CoolpapersError
from coolpapers.models import Lease, utcnow
from coolpapers.store.papers import as_utc, on_conflict_insert

log = logging.getLogger(__name__)


class LeaseHeld(CoolpapersError):
    """Another holder has the lease (and it has not expired)."""


class LeaseLost(LeaseHeld):
    """The lease was taken over (it had expired) or released while we thought we held it.

    A kind of :class:`LeaseHeld`: whoever skips work because another process holds the lease
    stops the same way when it finds out, halfway, that another process has it now."""


def new_holder_id() -> str:
    """Unique per acquisition: host, process, and a random part for the thread's turn."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire_lease(session: Session, name: str, holder: str, ttl_s: float) -> bool:
    """Take ``name`` for ``holder`` if nobody holds it or its holder's time ran out."""
    now = utcnow()
    insert = on_conflict_insert(session, Lease)
    statement = (
        insert.values(name=name, holder=holder, expires_at=now + timedelta(seconds=ttl_s))
        .on_conflict_do_update(
            index_elements=[Lease.name],
            set_={"holder": insert.excluded.holder, "expires_at": insert.excluded.expires_at},
            where=Lease.expires_at < now,
        )
        .returning(Lease.name)  # a row when inserted or taken over (psycopg counts no rows)
    )
    return session.execute(statement).first() is not None


def renew_lease(session: Session, name: str, holder: str, ttl_s: float) -> bool:
    """Push the deadline of a lease ``holder`` still has; False when it is someone else's now.

    A lease that expired but that nobody took is still ours: nobody else acted in between."""
    result = session.execute(
        update(Lease)
        .where(Lease.name == name, Lease.holder == holder)
        .values(expires_at=utcnow() + timedelta(seconds=ttl_s))
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
    """Who holds ``name`` and until when; None when free (never taken, released, expired)."""
    lease = session.get(Lease, name)
    if lease is None or not lease.holder:
        return None
    expires = as_utc(lease.expires_at)
    assert expires is not None
    return (lease.holder, expires) if expires > utcnow() else None


def _holder_died(holder: str) -> bool:
    """Whether ``holder`` names a process of this machine that no longer runs (killed, say
    with SIGKILL, so it never released its lease). Another machine's holder, or a process id
    that runs (perhaps reused), is taken for alive: the lease then expires by itself."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:  # it runs under another user (PermissionError)
        return False
    return False


def _take_from_dead(session: Session, name: str, dead: str, holder: str, ttl_s: float) -> bool:
    """Take ``name`` over from ``dead`` when that holder's process is gone: a killed import
    need not block the next run for a whole lease. Only from that very holder (a statement
    guarded by it), so two processes racing for it cannot both win."""
    if not _holder_died(dead):
        return False
    result = session.execute(
        update(Lease)
        .where(Lease.name == name, Lease.holder == dead)
        .values(holder=holder, expires_at=utcnow() + timedelta(seconds=ttl_s))
        .execution_options(synchronize_session=False)
    )
    taken = bool(getattr(result, "rowcount", 0) == 1)
    if taken:
        log.warning("took the %s lease over from %s, a process that no longer runs", name, dead)
    return taken


class Renew:
    """Handed out by :func:`hold_lease`: call it between long steps to keep the lease.

    Raises :class:`LeaseLost` when another holder has taken the lease over: the caller must
    stop, since the work is no longer exclusively its own."""

    def __init__(self, factory: sessionmaker[Session], name: str, holder: str, ttl_s: float):
        self.factory, self.name, self.holder, self.ttl_s = factory, name, holder, ttl_s

    def __call__(self) -> None:
        with session_scope(self.factory, write=True) as s:
            if renew_lease(s, self.name, self.holder, self.ttl_s):
                return
            now = lease_holder(s, self.name)
        owner = f"{now[0]} has it" if now else "it was released"
        raise LeaseLost(f"lost the {self.name} lease ({owner})")


@contextmanager
def hold_lease(factory: sessionmaker[Session], name: str, ttl_s: float) -> Iterator[Renew]:
    """Hold lease ``name`` for the block (each in its own committed transaction), or raise
    :class:`LeaseHeld`. Released on the way out, whatever happened inside."""
    holder = new_holder_id()
    with session_scope(factory, write=True) as s:
        if not acquire_lease(s, name, holder, ttl_s):
            other = lease_holder(s, name)
            if other is None or not _take_from_dead(s, name, other[0], holder, ttl_s):
                until = f" until {other[1]:%Y-%m-%d %H:%M:%S} UTC" if other else ""
                raise LeaseHeld(f"another process holds the {name} lease{until}")
    try:
        yield Renew(factory, name, holder, ttl_s)
    finally:
        try:
            with session_scope(factory, write=True) as s:
                release_lease(s, name, holder)
        except SQLAlchemyError as exc:
            # Raising here would hide why the block ended; unreleased, the lease still expires.
            log.warning("the %s lease was not released (%s); it expires by itself", name, exc)
