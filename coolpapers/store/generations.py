"""The ``pages`` generation: a number every commit that changes what list pages show raises,
in that same transaction, so that any process can tell its rendered copies are stale
(``web.page_cache``) with one primary-key read, whoever wrote (a web worker, ``coolpapers
worker``, an import, another machine on the same Postgres).

Writers need not remember it: ``watch(engine)`` (``db.make_engine`` calls it) notes every
INSERT, UPDATE, DELETE or COPY that touches a table of ``PAGE_TABLES`` on a connection (but
a run's start: see ``_UNSHOWN_WRITES``), and when that transaction commits, raises the
generation as its last statement. Last, so that on Postgres the counter's row lock is held
for the commit only, not for a long import's whole transaction (clicks and ingests would queue
behind it). A transaction that writes ``alembic_version`` is a migration: it raises nothing
(the table may not exist yet).

A writer that goes around SQLAlchemy's cursor (psycopg's ``copy()`` on the raw connection)
calls ``pages_changed(connection)`` itself.

An ingest commits several times (each feed, then each page of [REL] keywords after the index
commit): each raise empties every process's page cache, and what is rendered in between is
rendered again. ``held(engine)`` makes the commits of one block, on its thread, raise the
generation once, as the block ends (in a long one, also at the first commit ``HOLD_MAX_S`` or
more after the first change held): the copies made before are served until then, a page not
cached is rendered from what is there.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, event, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import Pool

from coolpapers.models import Generation

log = logging.getLogger(__name__)

PAGES = "pages"
HOLD_MAX_S = 10.0  # past it, a held block's next commit raises the generation at once
# What a day list, its feed and its JSON twin are read from: the papers and their counters,
# the listings and the day index, the feeds' reports, and the runs and holds behind the
# "arXiv could not be reached" notice. Stars (sort=lab) and preference sorts are not cached.
PAGE_TABLES = frozenset(
    {
        "papers",
        "paper_categories",
        "listings",
        "day_categories",
        "feed_days",
        "ingest_runs",
        "host_holds",
    }
)
# Writes to a table of PAGE_TABLES that no page shows: a run is inserted as "running", a
# status no page reads (store.health's REACHED and PROBLEMS); its end is an UPDATE. An ingest
# would otherwise raise the generation at its start as well as at its end, and every copy
# rendered in between would be thrown away.
_UNSHOWN_WRITES = frozenset({("insert", "ingest_runs")})
_WRITE = re.compile(
    r'\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM|COPY)\s+"?([A-Za-z_][A-Za-z0-9_]*)"?', re.I
)
_CHANGED = "coolpapers.pages_changed"
_MIGRATING = "coolpapers.migrating"
# A literal statement: it runs on the DBAPI cursor, below SQLAlchemy's events and paramstyles.
_RAISE = f"UPDATE generations SET value = value + 1 WHERE name = '{PAGES}'"
_READ = f"SELECT value FROM generations WHERE name = '{PAGES}'"
_HOLDS = threading.local()  # .hold: the _Hold of the block running on this thread, if any


class _Hold:
    """The changes a ``held`` block has committed to one database and not yet raised."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool  # the database's (an engine's execution_options copies share it)
        self.since: float | None = None  # time.monotonic() of the first change held back

    def keeps(self, conn: Connection) -> bool:
        """Whether the change ``conn`` commits waits for the block's end."""
        if conn.engine.pool is not self.pool:
            return False
        now = time.monotonic()
        if self.since is None:
            self.since = now
        if now - self.since < HOLD_MAX_S:
            return True
        self.since = None  # this commit raises it; a later change starts a new wait
        return False


@contextlib.contextmanager
def held(engine: Engine) -> Iterator[None]:
    """The block's commits on this thread raise the generation once, as it ends (see the
    module's doc). Nested, the outer block raises. Ending on an exception, it still raises
    what was committed, or logs why it could not."""
    if getattr(_HOLDS, "hold", None) is not None:
        yield
        return
    hold = _Hold(engine.pool)
    _HOLDS.hold = hold
    finished = False
    try:
        yield
        finished = True
    finally:
        _HOLDS.hold = None
        if hold.since is not None:
            try:
                with engine.begin() as conn:  # through SQLAlchemy: a failure is its error
                    conn.exec_driver_sql(_RAISE)
            except SQLAlchemyError as exc:
                if finished:
                    raise
                # the block's own error is the one to report; cached pages still expire
                log.warning("pages generation not raised: %s", exc)


def pages_changed(connection: Connection) -> None:
    """Raise the generation when this connection's transaction commits."""
    connection.info[_CHANGED] = True


def watch(engine: Engine) -> None:
    """Raise ``pages`` on every commit that wrote a table of ``PAGE_TABLES`` (see above)."""

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.info.pop(_CHANGED, None)
        conn.info.pop(_MIGRATING, None)

    @event.listens_for(engine, "before_cursor_execute")
    def _note(conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        match = _WRITE.match(statement)
        if match is None:
            return
        verb, table = match.group(1).split()[0].lower(), match.group(2).lower()
        if table in PAGE_TABLES and (verb, table) not in _UNSHOWN_WRITES:
            conn.info[_CHANGED] = True
        elif table == "alembic_version":
            conn.info[_MIGRATING] = True

    @event.listens_for(engine, "commit")
    def _commit(conn: Connection) -> None:
        changed = conn.info.pop(_CHANGED, False)
        if not changed or conn.info.pop(_MIGRATING, False):
            return
        hold = getattr(_HOLDS, "hold", None)
        if hold is None or not hold.keeps(conn):
            cursor = conn.connection.cursor()
            try:
                cursor.execute(_RAISE)
            finally:
                cursor.close()


def current(connection: Connection) -> int | None:
    """The ``pages`` generation (None when the row is missing: then nothing may be cached)."""
    value = connection.execute(
        select(Generation.value).where(Generation.name == PAGES)
    ).scalar_one_or_none()
    return None if value is None else int(value)


def _close_quietly(slot: list[Any]) -> None:
    fairy, slot[0] = slot[0], None
    if fairy is not None:
        with contextlib.suppress(Exception):  # collected at any time: nothing to report to
            fairy.close()


class PagesReader:
    """``pages`` read on every request, cheaply: one connection of its own, outside the pool,
    in autocommit, asked through its DBAPI cursor. Through a pooled connection a read cost
    0.45 ms on SQLite and 1.4 ms on Postgres (checkout, pre-ping, BEGIN, ROLLBACK), more
    than a static file takes to serve. Used from one thread at a time (the event loop)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._fairy: Any = None
        # close() comes from the app's shutdown while a read may be connecting on its thread:
        # the lock and the flag make sure no connection is left open after it
        self._lock = threading.Lock()
        self._closed = False
        # An app whose shutdown never ran (a server killed, a test's app left unclosed) never
        # calls close(): the connection is closed when the reader is collected, before the
        # driver's own finaliser would warn that it was left open.
        self._slot: list[Any] = [None]  # the connection, as the finaliser sees it
        weakref.finalize(self, _close_quietly, self._slot)

    def read(self) -> int | None:
        """The generation; None when the row is missing, the database did not answer (the
        connection is dropped and made again on the next read) or the reader is closed."""
        try:
            fairy = self._fairy
            if fairy is None:
                fairy = self._connect()
                with self._lock:
                    if self._closed:
                        fairy.close()
                        return None
                    self._fairy = self._slot[0] = fairy
            # a close() meanwhile closes this very connection: the read fails as a DBAPI error
            cursor = fairy.cursor()
            try:
                cursor.execute(_READ)
                row = cursor.fetchone()
            finally:
                cursor.close()
        except self._engine.dialect.loaded_dbapi.Error:
            self._drop()
            return None
        return None if row is None else int(row[0])

    def _connect(self) -> Any:
        fairy = self._engine.raw_connection()
        fairy.detach()  # its own: the pool never resets nor hands it out
        if self._engine.dialect.name == "postgresql":
            fairy.rollback()  # the pool's ping may have opened a transaction
            dbapi: Any = fairy.dbapi_connection
            dbapi.autocommit = True
        # SQLite's connections come with pysqlite's transactions off (db.py): autocommit
        return fairy

    def _drop(self) -> None:
        with self._lock:
            fairy, self._fairy = self._fairy, None
            self._slot[0] = None
        if fairy is not None:
            with contextlib.suppress(self._engine.dialect.loaded_dbapi.Error):
                fairy.close()  # or it was gone already

    def close(self) -> None:
        """Close the connection, and any a read in flight makes after this."""
        with self._lock:
            self._closed = True
        self._drop()
