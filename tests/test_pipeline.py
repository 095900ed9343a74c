"""The pipeline's entries against a fake arXiv: ensure_papers (a handful on demand, more queued),
the queue drained in batches, sources behind one protocol, and keys of non-arXiv papers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import ingest, store
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.errors import BadId, FetchError
from coolpapers.identifiers import VenueKey, is_venue_key, parse_venue_key
from coolpapers.ingest import Pipeline
from coolpapers.sources import Source
from coolpapers.sources.arxiv import ArxivSource
from tests.conftest import API
from tests.fakes.arxiv_server import FakeArxiv, Fault, load_wrapped

SEARCH = API / "api-2026-search-testing-start0-max10.wrapped.json"
_ENTRY = re.compile(rb"<entry>.*?</entry>", re.DOTALL)
_ENTRY_ID = re.compile(rb"<id>http://arxiv\.org/abs/([^<]+?)v\d+</id>")


def serve_ten(fake: FakeArxiv) -> list[str]:
    """Ten real API entries, registered one id at a time (the fake merges them per id_list)."""
    _, body = load_wrapped(SEARCH)
    head, tail = body[: body.index(b"<entry>")], b"</feed>\n"
    ids = []
    for entry in _ENTRY.findall(body):
        match = _ENTRY_ID.search(entry)
        assert match is not None
        paper_id = match.group(1).decode()
        fake.serve_api(paper_id, head + entry + tail)
        ids.append(paper_id)
    assert len(ids) == 10
    return ids


@pytest.fixture
def pipeline(settings: Settings, factory: sessionmaker[Session]) -> Iterator[Pipeline]:
    opened = Pipeline.open(settings, factory)
    yield opened
    opened.close()


def api_calls(fake: FakeArxiv) -> list[list[str]]:
    return [r.query["id_list"][0].split(",") for r in fake.requests_to("/api/query")]


@contextmanager
def paper_selects(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def before(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if re.search(r"\bFROM papers\b", statement):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    yield seen
    event.remove(engine, "before_cursor_execute", before)


def test_a_handful_is_fetched_on_demand_in_one_call_the_rest_is_queued(
    pipeline: Pipeline, factory: sessionmaker[Session], fake_arxiv: FakeArxiv
) -> None:
    ids = serve_ten(fake_arxiv)
    with session_scope(factory) as s:
        got = ingest.ensure_papers(pipeline, s, ids[:8])
        assert list(got.papers) == ids[:5]  # the asked order, fetched ones included
        assert all(p in s for p in got.papers.values())  # rows of the caller's session
        assert got.papers[ids[0]].title
    assert got.queued == tuple(ids[5:8]) and got.not_found == ()
    assert api_calls(fake_arxiv) == [ids[:5]]  # one call, five ids
    with session_scope(factory) as s:
        assert store.queue_size(s, max_attempts=5) == 3
    # the worker's turn: the queued three in one call; then nothing is left
    [report] = ingest.drain_due(pipeline)
    assert report.status == "ok" and report.n_stored == 3
    # one call for the three (their order within it is the queue's: by request time, then id)
    assert [sorted(call) for call in api_calls(fake_arxiv)[1:]] == [sorted(ids[5:8])]
    assert ingest.drain_due(pipeline) == []
    with session_scope(factory) as s:
        assert store.queue_size(s, max_attempts=5) == 0
        assert len(store.papers_by_id(s, ids[:8])) == 8


def test_known_papers_are_read_once_and_not_fetched(
    pipeline: Pipeline, engine: Engine, factory: sessionmaker[Session], fake_arxiv: FakeArxiv
) -> None:
    ids = serve_ten(fake_arxiv)
    with session_scope(factory) as s:
        ingest.ensure_papers(pipeline, s, ids[:3])
    calls = len(api_calls(fake_arxiv))
    with paper_selects(engine) as seen, session_scope(factory) as s:
        got = ingest.ensure_papers(pipeline, s, ids[:3])
    assert set(got.papers) == set(ids[:3])
    assert len(seen) == 1  # the asked rows, read once
    assert len(api_calls(fake_arxiv)) == calls


def test_an_unknown_id_is_not_found(
    pipeline: Pipeline, factory: sessionmaker[Session], fake_arxiv: FakeArxiv
) -> None:
    ids = serve_ten(fake_arxiv)
    with session_scope(factory) as s:
        got = ingest.ensure_papers(pipeline, s, [ids[0], "2501.00001", "2024.naacl-long.431@ACL"])
    assert set(got.papers) == {ids[0]}
    # arXiv has no 2501.00001; no source knows ACL papers yet
    assert got.not_found == ("2501.00001", "2024.naacl-long.431@ACL")
    assert api_calls(fake_arxiv) == [[ids[0], "2501.00001"]]


def test_arxiv_unreachable_raises_and_queues_what_was_asked(
    pipeline: Pipeline, factory: sessionmaker[Session], fake_arxiv: FakeArxiv
) -> None:
    ids = serve_ten(fake_arxiv)
    fake_arxiv.script("/api/query", [Fault.status(404)])
    with session_scope(factory) as s, pytest.raises(FetchError):
        ingest.ensure_papers(pipeline, s, ids[:2])
    with session_scope(factory) as s:
        assert store.queue_size(s, max_attempts=5) == 2
    [report] = ingest.drain_due(pipeline)  # arXiv is back
    assert report.status == "ok" and report.n_stored == 2


def test_the_queue_is_drained_100_ids_per_call(
    pipeline: Pipeline, factory: sessionmaker[Session], fake_arxiv: FakeArxiv
) -> None:
    ids = serve_ten(fake_arxiv)
    unknown = [f"2501.{n:05d}" for n in range(1, 141)]
    with session_scope(factory, write=True) as s:
        store.enqueue_papers(s, [*ids, *unknown])
    reports = ingest.drain_due(pipeline)
    assert [len(c) for c in api_calls(fake_arxiv)] == [100, 50]
    assert sum(r.n_stored for r in reports) == 10
    with session_scope(factory) as s:
        assert store.queue_size(s, max_attempts=5) == 0  # answered: found or not found


def test_a_failing_batch_stays_queued_and_counts_an_attempt(
    pipeline: Pipeline, factory: sessionmaker[Session], fake_arxiv: FakeArxiv
) -> None:
    ids = serve_ten(fake_arxiv)
    with session_scope(factory, write=True) as s:
        store.enqueue_papers(s, ids)
    fake_arxiv.script("/api/query", [Fault.status(404)])
    [report] = ingest.drain_due(pipeline)
    assert report.status == "failed" and "404" in (report.error or "")
    with session_scope(factory) as s:
        assert store.queue_size(s, max_attempts=5) == 10
        assert store.queue_size(s, max_attempts=1) == 0  # each was tried once


def test_arxiv_is_a_source(pipeline: Pipeline, settings: Settings) -> None:
    source: Source = ArxivSource(  # the protocol, checked by mypy
        pipeline.fetcher, rss_url=settings.arxiv_rss_url, api_url=settings.arxiv_api_url
    )
    assert source.owns_id("2401.00001") and source.owns_id("hep-th/9901001")
    assert not source.owns_id("2401.00001v2")  # keys are versionless
    assert not source.owns_id("2024.naacl-long.431@ACL")
    assert source.parse_id("arXiv:2401.00001v2") == "2401.00001"
    with pytest.raises(BadId):
        source.parse_id("2024.naacl-long.431@ACL")


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("2024.naacl-long.431@ACL", VenueKey("2024.naacl-long.431", "ACL")),
        ("smith23a@v202@PMLR", VenueKey("smith23a@v202", "PMLR")),
        (" abe24a@PMLR ", VenueKey("abe24a", "PMLR")),
        ("xYz123AbC@ICLR2025", VenueKey("xYz123AbC", "ICLR2025")),
    ],
)
def test_venue_keys(key: str, expected: VenueKey) -> None:
    assert is_venue_key(key)
    parsed = parse_venue_key(key)
    assert parsed == expected and parsed.key == key.strip()


@pytest.mark.parametrize(
    "key",
    ["2401.00001", "x@acl", "@ACL", "a@", "a@@ACL", "a b@ACL", "../x@ACL", "a" * 40 + "@ACL"],
)
def test_not_venue_keys(key: str) -> None:
    with pytest.raises(BadId):
        parse_venue_key(key)


def test_a_stored_paper_queued_as_behind_is_fetched_and_keeps_its_licence(
    pipeline: Pipeline, factory: sessionmaker[Session], fake_arxiv: FakeArxiv
) -> None:
    """An OAI harvest queues a stored paper whose row is behind a newer version: the worker
    fetches it from the API (not drops it as already stored), and the API, which carries no
    licence, does not erase the stored one."""
    ids = serve_ten(fake_arxiv)
    ingest.fetch_papers(pipeline, pipeline.arxiv, ids[:1])
    licence = "http://creativecommons.org/licenses/by/4.0/"
    with session_scope(factory, write=True) as s:
        paper = store.get_paper(s, ids[0])
        assert paper is not None and paper.license is None
        api_version = paper.version
        paper.version, paper.title, paper.license = 0, "an older title", licence
        store.enqueue_papers(s, ids[:1])
    [report] = ingest.drain_due(pipeline)
    assert api_calls(fake_arxiv) == [ids[:1], ids[:1]] and report.n_stored == 1
    with session_scope(factory) as s:
        paper = store.get_paper(s, ids[0])
        assert paper is not None
        assert (paper.version, paper.license) == (api_version, licence)
        assert paper.title != "an older title"
        assert store.queue_size(s, max_attempts=5) == 0
