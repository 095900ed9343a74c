"""The search index following the database, on SQLite and Postgres: the writer lease (one
writer per index), a bulk rebuild (every paper once, keywords for all), and the cursor that
lets the next catch-up finish what a crash (or a failed write) left: mid-build, between the
index commit and the keywords, midway through the keywords."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import ingest, store
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.models import Paper
from coolpapers.search import build_status, keywords, sync
from coolpapers.search.engine import SearchIndex
from coolpapers.search.query import parse_query
from coolpapers.sources.arxiv import parse_rss
from tests.conftest import RSS

LG = RSS / "rss-cs.LG-2026-08-21-fri.xml"
FEEDS = [
    LG,
    RSS / "rss-cs.CL-2026-08-20-thu.xml",
    RSS / "rss-cs.CV-2025-04-25-fri.xml",
    RSS / "rss-cs.AI-2025-01-06-mon.xml",
]
TITLE_ID = "2608.19234"  # "Triangular Fuzzy Rescaling Distance ..." in the cs.LG feed
PAGE = 40  # papers read a page at a time in these tests: several pages, ties across them
KEYWORD_PAGE = 70


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sync, "BATCH", PAGE)
    monkeypatch.setattr(keywords, "KEYWORD_BATCH", KEYWORD_PAGE)


def _ingest(factory: sessionmaker[Session], *, age: timedelta = timedelta(0)) -> int:
    """The fixture feeds ingested; ``age`` back-dates every paper's modified_at (a history
    imported a while ago); returns how many papers there are."""
    ingest.ingest_files(factory, FEEDS)
    with session_scope(factory, write=True) as s:
        if age:
            for paper in s.scalars(select(Paper)):
                paper.modified_at -= age
        return int(s.scalar(select(func.count()).select_from(Paper)) or 0)


def _keywordless(factory: sessionmaker[Session]) -> int:
    with session_scope(factory) as s:
        return int(s.scalar(select(func.count()).where(Paper.keywords.is_(None))) or 0)


def _position(settings: Settings) -> sync.Position:
    with SearchIndex.open(sync.index_path(settings.data_dir), create=False) as index:
        return sync.Position.parse(index.cursor())


def _ids_in_order(factory: sessionmaker[Session]) -> list[str]:
    with session_scope(factory) as s:
        return list(s.scalars(select(Paper.id).order_by(Paper.modified_at, Paper.id)))


def _found(index: SearchIndex, query: str) -> list[str]:
    return [hit.id for hit in index.search(parse_query(query), limit=50).hits]


@contextmanager
def refused_keywords(factory: sessionmaker[Session], paper_id: str) -> Iterator[None]:
    """The database refuses to store this paper's keywords (a trigger raises): the keyword
    pass fails there, as a crash or a failed write would stop it."""
    with session_scope(factory, write=True) as s:
        if s.get_bind().dialect.name == "postgresql":
            s.execute(
                text(
                    "CREATE FUNCTION refuse_keywords() RETURNS trigger LANGUAGE plpgsql AS $$ "
                    f"BEGIN IF NEW.id = '{paper_id}' THEN RAISE EXCEPTION 'refused'; END IF; "
                    "RETURN NEW; END $$"
                )
            )
            s.execute(
                text(
                    "CREATE TRIGGER refuse_keywords BEFORE UPDATE OF keywords ON papers "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_keywords()"
                )
            )
        else:
            s.execute(
                text(
                    "CREATE TRIGGER refuse_keywords BEFORE UPDATE OF keywords ON papers "
                    f"WHEN NEW.id = '{paper_id}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )
    try:
        yield
    finally:
        with session_scope(factory, write=True) as s:
            s.execute(
                text(
                    "DROP TRIGGER refuse_keywords"
                    + (" ON papers" if s.get_bind().dialect.name == "postgresql" else "")
                )
            )


# ---------------------------------------------------------------- the lease


def _reference_keywords(index: SearchIndex, title: str, abstract: str, n_docs: int) -> list[str]:
    """TF-IDF keywords the plain way, one document frequency at a time: what the pass's
    memoised and pooled computation must agree with."""
    scored = [
        (count * math.log((n_docs + 1) / (index.doc_freq(word) + 1)) + 1e-9, word)
        for word, count in keywords._term_counts(title, abstract).items()
        if keywords._keyword(word)
    ]
    scored.sort(key=lambda pair: (-pair[0], pair[1]))
    return [word for _, word in scored[: keywords.KEYWORDS]]


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


# ---------------------------------------------------------------- a rebuild


def test_a_rebuild_indexes_every_paper_once_with_keywords(
    factory: sessionmaker[Session],
    settings: Settings,
    small_pages: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(keywords, "KEYWORD_POOL_MIN", 1)  # keywords by worker processes, as 1M's
    papers = _ingest(factory, age=timedelta(days=1))  # old enough to be added without upsert
    first_page = _ids_in_order(factory)[:PAGE]
    moved = first_page[3]
    pages: list[int] = []

    def meanwhile(done: int, _total: int) -> None:
        pages.append(done)
        if len(pages) == 2:  # the first page is in: a paper of it changes, and comes again
            with session_scope(factory, write=True) as s:
                s.execute(
                    update(Paper)
                    .where(Paper.id == moved)
                    .values(title="Zyxwvut revisited", modified_at=datetime.now(UTC))
                )

    sync.rebuild(factory, settings.data_dir, progress=meanwhile)
    # page by page, the keywords too (the caller renews its lease on each)
    assert len(pages) >= -(-papers // PAGE) + -(-papers // KEYWORD_PAGE)
    with SearchIndex.open(sync.index_path(settings.data_dir), create=False) as index:
        assert index.doc_count() == papers  # each once, the changed one too
        assert _found(index, "zyxwvut") == [moved]
        assert _found(index, "Triangular Fuzzy Rescaling Distance")[0] == TITLE_ID
        assert index.segment_count() <= 2
        reference = {}
        with session_scope(factory) as s:
            n_docs = index.doc_count()
            for paper in s.scalars(select(Paper)):
                mine = _reference_keywords(index, paper.title, paper.abstract, n_docs)
                reference[paper.id] = (mine, paper.keywords)
    assert _keywordless(factory) == 0
    assert all(mine == stored for mine, stored in reference.values())
    assert "fuzzy" in (reference[TITLE_ID][1] or [])
    assert not _position(settings).keywords_pending
    # the next catch-up re-reads the late-commit window (the paper changed meanwhile) and
    # finds it indexed in its current version
    assert sync.sync_job(factory, settings.data_dir) == 0
    with SearchIndex.open(sync.index_path(settings.data_dir), create=False) as index:
        assert index.doc_count() == papers


def test_the_late_commit_window_is_read_again_not_indexed_again(
    factory: sessionmaker[Session], settings: Settings, small_pages: None
) -> None:
    papers = _ingest(factory)  # just imported: all of them in the window re-read after a build
    # rebuilt, then the catch-up after it re-reads every paper and sends none to the index
    assert sync.sync_job(factory, settings.data_dir) == papers
    changed = _ids_in_order(factory)[PAGE + 3]
    with session_scope(factory, write=True) as s:
        s.execute(
            update(Paper)
            .where(Paper.id == changed)
            .values(title="Zyxwvut revisited", modified_at=datetime.now(UTC))
        )
    assert sync.sync_job(factory, settings.data_dir) == 1
    with SearchIndex.open(sync.index_path(settings.data_dir), create=False) as index:
        assert _found(index, "zyxwvut") == [changed]
        assert index.doc_count() == papers
    with session_scope(factory) as s:
        assert "zyxwvut" in (s.get(Paper, changed).keywords or [])  # type: ignore[union-attr]
    assert _keywordless(factory) == 0


def test_a_rebuild_cut_short_is_finished_by_the_next_sync(
    factory: sessionmaker[Session], settings: Settings, small_pages: None
) -> None:
    papers = _ingest(factory, age=timedelta(days=1))

    def lease_lost(done: int, _total: int) -> None:
        if done >= 2 * PAGE:  # as the lease renewal raises when another process took over
            raise store.LeaseLost("taken over")

    with pytest.raises(store.LeaseLost):
        sync.rebuild(factory, settings.data_dir, progress=lease_lost)
    assert build_status.read_status(settings.data_dir) == build_status.BuildStatus(
        False, papers, papers
    )
    with SearchIndex.open(sync.index_path(settings.data_dir), create=False) as index:
        assert index.doc_count() == 0  # nothing committed before the end
    assert sync.sync_job(factory, settings.data_dir) == papers
    with SearchIndex.open(sync.index_path(settings.data_dir), create=False) as index:
        assert index.doc_count() == papers
    assert _keywordless(factory) == 0


def test_a_catch_up_retried_on_the_same_index_sends_each_paper_once(
    factory: sessionmaker[Session], settings: Settings, small_pages: None
) -> None:
    papers = _ingest(factory, age=timedelta(days=1))

    def lease_lost(done: int, _total: int) -> None:
        if done >= 2 * PAGE:
            raise store.LeaseLost("taken over")

    with SearchIndex.open(sync.index_path(settings.data_dir), create=True) as index:
        with pytest.raises(store.LeaseLost):
            sync.catch_up(factory, index, progress=lease_lost)
        assert sync.catch_up(factory, index) == papers  # the worker's next turn, same index
        assert index.doc_count() == papers


# ---------------------------------------------------------------- keywords cut short


def test_keywords_refused_after_the_index_commit_are_stored_by_the_next_catch_up(
    factory: sessionmaker[Session], settings: Settings, small_pages: None
) -> None:
    papers = _ingest(factory)
    first = _ids_in_order(factory)[0]
    with refused_keywords(factory, first), pytest.raises(Exception, match="refused"):
        sync.sync_job(factory, settings.data_dir)
    position = _position(settings)
    assert position.keywords_pending and position.keywords_after is None  # none stored
    assert _keywordless(factory) == papers
    with SearchIndex.open(sync.index_path(settings.data_dir), create=False) as index:
        assert index.doc_count() == papers  # the index itself was committed
    ingest.ingest_files(factory, [RSS / "rss-cs.CL-2024-03-11-mon.xml"])  # more meanwhile
    assert sync.sync_job(factory, settings.data_dir) > 0
    assert _keywordless(factory) == 0
    assert not _position(settings).keywords_pending


@pytest.mark.parametrize("pool_min", [1, 1_000_000], ids=["workers", "in-process"])
def test_keywords_cut_midway_resume_where_they_stopped(
    factory: sessionmaker[Session],
    settings: Settings,
    small_pages: None,
    monkeypatch: pytest.MonkeyPatch,
    pool_min: int,
) -> None:
    monkeypatch.setattr(keywords, "KEYWORD_POOL_MIN", pool_min)
    papers = _ingest(factory, age=timedelta(days=1))
    order = _ids_in_order(factory)
    refused = order[2 * KEYWORD_PAGE + 5]  # in the third write of keywords
    with refused_keywords(factory, refused), pytest.raises(Exception, match="refused"):
        sync.sync_job(factory, settings.data_dir)
    assert _keywordless(factory) == papers - 2 * KEYWORD_PAGE  # two batches committed
    position = _position(settings)
    assert position.keywords_pending and position.keywords_after is not None
    assert position.keywords_after[1] == order[2 * KEYWORD_PAGE - 1]  # where they stopped
    assert sync.sync_job(factory, settings.data_dir) == 0  # nothing new to index
    assert _keywordless(factory) == 0
    assert not _position(settings).keywords_pending


# ---------------------------------------------------------------- the pieces


def test_the_fast_keyword_words_are_the_analyzers() -> None:
    for path in FEEDS:
        for item in parse_rss(path.read_bytes()).items:
            for text_ in (item.meta.title, item.meta.abstract, "Schrödinger Straße 3D-ÆON"):
                words = [w for w in SearchIndex.normalise(text_) if len(w) >= 3]
                assert keywords._candidates(text_) == words


def test_an_older_cursor_reads_as_nothing_pending() -> None:
    moment = datetime(2026, 8, 21, 12, tzinfo=UTC)
    assert sync.Position.parse(moment.isoformat()) == sync.Position(moment)
    assert sync.Position.parse(None) == sync.Position(None)
    pending = sync.Position(moment, True, (moment - timedelta(hours=1), "2608.00001"))
    assert sync.Position.parse(pending.dump()) == pending
    # keyword progress is never recorded past the index cursor (late commits are read again)
    assert pending.keywords_done_to((moment + timedelta(hours=1), "2608.1")).keywords_after == (
        moment,
        "",
    )
