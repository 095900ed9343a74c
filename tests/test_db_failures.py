"""The database fails in the middle of an ingest: disk full (SQLite: SQLITE_FULL for real, through
``PRAGMA max_page_count``) or the connection lost (Postgres: the server terminates the ingest's
backend). The command says so in one line (no SQL, no parameters), exits non-zero, leaves the data
as it was, and the run is marked failed with its reason, not left ``running``."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import ingest, store
from coolpapers.cli import main
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.models import IngestRun, Paper
from tests.conftest import RSS, postgres_url
from tests.fakes.arxiv_server import FakeArxiv

LG = RSS / "rss-cs.LG-2026-08-21-fri.xml"
ABSTRACT_BIT = "Decision-making in complex systems"  # from the feed: must never be printed
_ON_PAPERS = re.compile(r'\b(?:FROM|INTO|UPDATE)\s+"?papers"?(?:\s|$)', re.I)


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in settings.model_dump().items():
        monkeypatch.setenv(f"COOLPAPERS_{name.upper()}", str(value))
    return settings


def _disk_full(connection: Any) -> None:
    """From now on this SQLite connection may not grow the file: SQLITE_FULL on the next page."""
    pages = connection.execute("PRAGMA page_count").fetchone()[0]
    connection.execute(f"PRAGMA max_page_count = {pages}")


def _terminate(connection: Any) -> None:
    """Have the server end this connection's backend, and wait until it has."""
    pid = connection.info.backend_pid
    admin = create_engine(postgres_url())
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            deadline = time.monotonic() + 30
            query = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")
            while True:
                # a transaction reads pg_stat_activity once and keeps what it saw: each look in
                # its own, or a backend still there at the first stays there to the deadline
                conn.rollback()
                if not conn.execute(query, {"pid": pid}).scalar():
                    break
                assert time.monotonic() < deadline, "the backend outlived pg_terminate_backend"
                time.sleep(0.05)
    finally:
        admin.dispose()


@pytest.fixture
def fails_as_papers_are_stored(database_url: str) -> Iterator[list[str]]:
    """Break the database as the ingest first reads or writes the papers table (every engine in
    this process): a day's new papers go into Postgres by COPY, below SQLAlchemy's statement
    events, so the fault fires on the store's first statement on that table, not its INSERT."""
    fired: list[str] = []
    sqlite = database_url.startswith("sqlite")

    def before(conn: Connection, cursor: Any, statement: str, *_: Any) -> None:
        if fired or not _ON_PAPERS.search(statement):
            return
        fired.append(statement)
        raw = conn.connection.dbapi_connection
        _disk_full(raw) if sqlite else _terminate(raw)

    event.listen(Engine, "before_cursor_execute", before)
    yield fired
    event.remove(Engine, "before_cursor_execute", before)


@pytest.mark.parametrize("how", ["categories", "feed-file"])
def test_the_database_failing_mid_ingest_is_one_line_and_a_failed_run(
    how: str,
    env: Settings,
    database_url: str,
    factory: sessionmaker[Session],
    fake_arxiv: FakeArxiv,
    fails_as_papers_are_stored: list[str],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_arxiv.serve_feed("cs.LG", LG)
    args = ["--categories", "cs.LG"] if how == "categories" else ["--feed-file", str(LG)]
    code = main(["ingest", *args])
    out, err = capsys.readouterr()
    assert fails_as_papers_are_stored  # the fault did fire
    assert code == 1
    shown = out + err + caplog.text
    for leak in ("INSERT", "SELECT", "[SQL", "parameters", "Traceback", ABSTRACT_BIT):
        assert leak not in shown
    reason = "database or disk is full" if database_url.startswith("sqlite") else "database error"
    [line] = [x for x in out.splitlines() if "failed" in x]
    assert "database error: " in line and reason in line
    with session_scope(factory) as s:
        assert s.scalar(select(Paper.id).limit(1)) is None  # the feed's transaction rolled back
        [run] = list(s.scalars(select(IngestRun)))
        assert run.status == "failed" and (run.error or "").startswith("database error: ")
        assert run.finished_at is not None
        assert store.lease_holder(s, ingest.INGEST_LEASE) is None
