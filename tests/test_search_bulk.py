"""The bulk side of the search index's catch-up, on SQLite and Postgres: the keywords written
as JSON text by one driver executemany read back as the JSON column's own writes do, and a
catch-up collects garbage less often while it runs, then leaves the collector as it was."""

from __future__ import annotations

import gc
import json

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import ingest
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.models import Paper
from coolpapers.search import sync
from coolpapers.search.engine import SearchIndex
from coolpapers.store import index_feed
from tests.conftest import RSS

LG = RSS / "rss-cs.LG-2026-08-21-fri.xml"


def test_keywords_written_as_json_text_read_back_as_the_columns_own(
    factory: sessionmaker[Session],
) -> None:
    ingest.ingest_files(factory, [LG])
    with session_scope(factory) as s:
        first, second = s.scalars(select(Paper.id).order_by(Paper.id).limit(2))
    words = ["schrödinger", "o'brien", 'say "hi"', "back\\slash"]
    with session_scope(factory, write=True) as s:
        index_feed.set_keywords_json(s, [(json.dumps(words), first)])
        s.get(Paper, second).keywords = words  # type: ignore[union-attr]  # the ORM's way
    with session_scope(factory) as s:
        assert s.get(Paper, first).keywords == words  # type: ignore[union-attr]
        stored = s.execute(
            text("SELECT id, CAST(keywords AS TEXT) FROM papers WHERE id IN (:a, :b)"),
            {"a": first, "b": second},
        ).all()
    assert len({kw for _, kw in stored}) == 1  # the same text, byte for byte


def test_a_catch_up_collects_less_often_and_restores_the_collector(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    ingest.ingest_files(factory, [LG])
    before = gc.get_threshold()
    during: list[tuple[int, int, int]] = []
    index = SearchIndex.open(sync.index_path(settings.data_dir), create=True)
    try:
        indexed = sync.catch_up(
            factory, index, progress=lambda _done, _total: during.append(gc.get_threshold())
        )
    finally:
        index.close()
    assert indexed == 200
    raised = max(before[0], sync.GC_THRESHOLD) if before[0] else 0  # 0: left off
    assert during and all(t == (raised, *before[1:]) for t in during)
    assert gc.get_threshold() == before
