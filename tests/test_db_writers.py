"""SQLite writers of one process take turns on a lock (``db.session_scope(write=True)``)
instead of polling SQLite's own: a burst of writers is served in turn, none waits past the busy
timeout while others get in (bench/stars.py measures the tail)."""

from __future__ import annotations

import threading

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from coolpapers.db import session_scope, writer_lock


def _free_elsewhere(lock: threading.RLock) -> bool:
    """Whether another thread could take ``lock`` now (without waiting)."""
    result: list[bool] = []

    def probe() -> None:
        got = lock.acquire(blocking=False)
        if got:
            lock.release()
        result.append(got)

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return result[0]


def test_a_sqlite_writer_holds_the_process_lock_until_its_session_closes(
    engine: Engine, factory: sessionmaker[Session]
) -> None:
    lock = writer_lock(engine)
    if engine.dialect.name != "sqlite":
        assert lock is None  # Postgres has row locks: writers go on side by side
        return
    assert lock is not None and _free_elsewhere(lock)
    with session_scope(factory, write=True) as s:
        assert not _free_elsewhere(lock)
        s.execute(text("CREATE TABLE t (x INTEGER)"))
        with session_scope(factory) as reader:  # readers never wait for it
            reader.execute(text("SELECT 1")).one()
        assert not _free_elsewhere(lock)
    assert _free_elsewhere(lock)
    try:
        with session_scope(factory, write=True) as s:
            s.execute(text("INSERT INTO t VALUES (1)"))
            raise RuntimeError("a writer that fails")
    except RuntimeError:
        pass
    assert _free_elsewhere(lock)  # released after a rollback too
    with session_scope(factory) as s:
        assert s.execute(text("SELECT count(*) FROM t")).scalar() == 0
