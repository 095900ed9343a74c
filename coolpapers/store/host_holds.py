"""Retry-After holds per host ("host:port"): kept in the database so that a host's request to
wait binds every feed, run and process of ours, not only the fetcher that was told.

`DbHostHolds` is the hold keeper http.py's Fetcher asks before every request (its `HoldKeeper`
protocol, matched by shape: store does not import http).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from coolpapers.db import session_scope
from coolpapers.models import HostHold, utcnow
from coolpapers.store.papers import as_utc

log = logging.getLogger(__name__)

REASON_LEN = 500


@dataclass(frozen=True)
class ActiveHold:
    host: str  # "host:port"
    until: datetime  # UTC
    reason: str  # e.g. "HTTP 429 with Retry-After 3000 s"


def host_hold_until(session: Session, host: str) -> datetime | None:
    """The end of the latest hold on `host` (possibly already past), or None."""
    until = session.scalar(select(HostHold.until).where(HostHold.host == host))
    return as_utc(until)


def put_host_hold(session: Session, host: str, until: datetime, reason: str) -> None:
    """Hold `host` until `until`. A later hold already there is kept: when two processes are
    told different waits, the longer one binds both."""
    until = until.astimezone(UTC)
    reason = reason[:REASON_LEN]
    if session.get(HostHold, host) is None:
        try:
            with session.begin_nested():
                session.add(HostHold(host=host, until=until, reason=reason))
            return
        except IntegrityError:
            pass  # another process inserted it first; the UPDATE below keeps the later one
    session.execute(
        update(HostHold)
        .where(HostHold.host == host, HostHold.until < until)
        .values(until=until, reason=reason)
        .execution_options(synchronize_session=False)
    )


def host_holds_active(session: Session, now: datetime | None = None) -> list[ActiveHold]:
    """Holds still running, soonest end first (for /status: "arXiv asked us to wait until …")."""
    rows = session.execute(
        select(HostHold.host, HostHold.until, HostHold.reason)
        .where(HostHold.until > (now or utcnow()))
        .order_by(HostHold.until, HostHold.host)
    )
    return [
        ActiveHold(host=host, until=as_utc(until) or until, reason=reason)
        for host, until, reason in rows
    ]


class DbHostHolds:
    """The Fetcher's hold keeper over the database (one short transaction per call).

    The holds this process recorded are also kept in memory, so a database that fails (locked,
    disk full, connection lost) never makes us forget a wait we were told about; such a failure
    is logged, not raised: a hold must not turn a fetch into a database error.
    """

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._mine: dict[str, datetime] = {}
        self._closed = False

    def close(self) -> None:
        """Keep holds in memory only from now on: the owner is letting the database go. A fetch
        left running past a shutdown (``Pipeline.call``) must not open a connection after its
        engine was disposed: that one would stay open until the collector found it."""
        self._closed = True

    def held_until(self, host: str) -> datetime | None:
        with self._lock:
            mine = self._mine.get(host)
        if self._closed:
            return mine
        try:
            with session_scope(self._factory) as session:
                stored = host_hold_until(session, host)
        except SQLAlchemyError as exc:
            log.warning("cannot read the hold on %s: %s", host, type(exc).__name__)
            stored = None
        found = [t for t in (mine, stored) if t is not None]
        return max(found) if found else None

    def hold(self, host: str, until: datetime, reason: str) -> None:
        with self._lock:
            if host not in self._mine or self._mine[host] < until:
                self._mine[host] = until
        if self._closed:
            return
        try:
            with session_scope(self._factory, write=True) as session:
                put_host_hold(session, host, until, reason)
        except SQLAlchemyError as exc:
            log.warning("cannot store the hold on %s: %s", host, type(exc).__name__)
