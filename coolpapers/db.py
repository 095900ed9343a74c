"""Engines and sessions. SQLite: WAL, a busy timeout, opt-in ``BEGIN IMMEDIATE`` for writers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session, sessionmaker

from coolpapers.config import Settings

SQLITE_BUSY_TIMEOUT_MS = 10_000
# Sync routes run on a pool of threads (``web.process.ROUTE_THREADS``) and some take a second
# connection (a write) while holding the request's; the pool must not be the bottleneck that
# deadlocks them.
POOL_SIZE, POOL_OVERFLOW = 10, 40
# SQLite's page cache is per connection (its default: 2,000 KiB), and a web process under load
# holds one connection per busy route thread: at 1M papers they held 55 MB at their peak
# (sqlite3_memory_highwater, 40 threads). The web's reads find their pages in the OS's cache
# a syscall away; imports and ingests keep the default (their B-tree inserts want it).
WEB_SQLITE_CACHE_KIB = 512
WRITE_OPTION = "coolpapers_write"
# One writer at a time per SQLite engine, in this process: the writers of a burst queue on a
# lock and each starts as the one before commits. Left to SQLite, they poll its lock with
# growing sleeps and an unlucky one can wait past the busy timeout while others get in
# (measured: 50 members toggling stars, max 4.4 s; bench/stars.py). Other processes (a
# worker) still meet SQLite's own lock and its busy timeout.
_SQLITE_WRITERS: WeakKeyDictionary[Engine, threading.RLock] = WeakKeyDictionary()


def make_engine(settings: Settings, *, sqlite_cache_kib: int | None = None) -> Engine:
    """The engine of ``settings``' database; on SQLite, ``sqlite_cache_kib`` sets each
    connection's page cache (default: SQLite's)."""
    url = make_url(settings.effective_database_url)
    # JSON columns (authors, categories) are decoded on every page; orjson does it ~6x faster.
    common: dict[str, Any] = {
        "pool_size": POOL_SIZE,
        "max_overflow": POOL_OVERFLOW,
        "json_deserializer": orjson.loads,
    }
    if url.get_backend_name() != "sqlite":
        engine = create_engine(url, pool_pre_ping=True, **common)
        _watch_pages(engine)
        return engine
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        **common,
    )
    _configure_sqlite(engine, sqlite_cache_kib)
    _SQLITE_WRITERS[engine] = threading.RLock()
    _watch_pages(engine)
    return engine


def _watch_pages(engine: Engine) -> None:
    """Every commit that changes what list pages show raises their generation (the pages
    cached by any web process go stale): ``store.generations``."""
    from coolpapers.store import generations  # store imports this module: not at the top

    generations.watch(engine)


def _configure_sqlite(engine: Engine, cache_kib: int | None) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, emit BEGIN so writers can ask for BEGIN IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
        if cache_kib is not None:
            cur.execute(f"PRAGMA cache_size=-{int(cache_kib)}")  # negative: KiB, not pages
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A deferred transaction that reads then writes can fail at once with "database is
        # locked" when another writer got in between; IMMEDIATE takes the write lock up front
        # and so waits on busy_timeout instead.
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def writer_lock(engine: Engine) -> threading.RLock | None:
    """The lock this process's writers to ``engine`` take turns on (SQLite), or None."""
    return _SQLITE_WRITERS.get(engine)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session], *, write: bool = False) -> Iterator[Session]:
    """A session committed on success and rolled back on error; ``write`` locks SQLite early."""
    with ExitStack() as held:
        if write:
            engine: Engine = factory.kw["bind"]
            writers = writer_lock(engine)
            if writers is not None:
                held.enter_context(writers)  # released after the session is closed
            session = factory(bind=engine.execution_options(**{WRITE_OPTION: True}))
        else:
            session = factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
