"""The search index's writer lease (store.hold_lease) on SQLite and Postgres: one writer per
index, a held lease skips the sync, and the sync leaves the lease free."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from coolpapers import ingest, store
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.search import sync
from tests.conftest import RSS

LG = RSS / "rss-cs.LG-2026-08-21-fri.xml"


def test_a_held_index_lease_skips_the_sync(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    ingest.ingest_files(factory, [LG])
    name = sync.lease_name(settings.data_dir)
    with store.hold_lease(factory, name, 600):  # another process is indexing
        assert sync.sync_job(factory, settings.data_dir) == 0
        assert not sync.index_path(settings.data_dir).exists()
    assert sync.sync_job(factory, settings.data_dir) == 200
    with session_scope(factory) as s:
        assert store.lease_holder(s, name) is None  # released after the sync
