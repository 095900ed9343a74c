"""Papers by id: the paper page reads each row once; a page of many unknown ids shows what it has
and says the rest are being fetched (SQLite and Postgres)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from coolpapers import ingest, store
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.ingest import Pipeline
from coolpapers.ingest.papers import ON_DEMAND_MAX
from coolpapers.web import create_app
from tests.conftest import API, FIXTURES
from tests.fakes.arxiv_server import FakeArxiv, Fault
from tests.test_web import stocked  # noqa: F401 - the fixture

KAGGLE = FIXTURES / "arxiv" / "kaggle-arxiv-metadata-oai-snapshot-first200.jsonl"
PAPER = "2608.19234"
OTHER = "2608.19210"


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement the engine sends meanwhile."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])  # (conn, cursor, statement, parameters, context, executemany)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def on(table: str, seen: list[str]) -> list[str]:
    """The statements that read or write ``table`` (not a table whose name starts so)."""
    pattern = re.compile(rf'\b(?:FROM|JOIN|UPDATE|INTO)\s+"?{table}"?(?![\w])', re.IGNORECASE)
    return [s for s in seen if pattern.search(s)]


def app_engine(client: TestClient) -> Engine:
    engine: Engine = client.app.state.sessionmaker.kw["bind"]  # type: ignore[attr-defined]
    return engine


def test_paper_page_reads_each_row_once(
    client: TestClient,
    stocked: object,  # noqa: F811 - the fixture imported above
    fake_arxiv: FakeArxiv,
) -> None:
    client.get(f"/arxiv/{PAPER}")  # warm: the first request may load what every later one has
    with statements(app_engine(client)) as seen:
        page = client.get(f"/arxiv/{PAPER}")
    assert page.status_code == 200 and 'class="panel details"' in page.text
    assert len(on("papers", seen)) == 1, on("papers", seen)
    assert len(on("listings", seen)) == 1, on("listings", seen)
    assert not on("faqs", seen)  # no LLM: the page says FAQs are off and reads none
    assert not fake_arxiv.requests


def test_paper_page_reads_the_faqs_of_both_languages_at_once(
    settings: Settings,
    stocked: object,  # noqa: F811 - the fixture imported above
) -> None:
    llm = settings.model_copy(update={"llm_base_url": "http://127.0.0.1:9/v1", "llm_model": "m"})
    with TestClient(create_app(llm), follow_redirects=False) as client:
        client.get(f"/arxiv/{PAPER}")
        with statements(app_engine(client)) as seen:
            page = client.get(f"/arxiv/{PAPER}")
    assert page.status_code == 200 and "Ask for the FAQ" in page.text
    assert len(on("faqs", seen)) == 1, on("faqs", seen)


def test_faq_api_reads_the_faq_and_the_clicks_once(
    client: TestClient,
    stocked: object,  # noqa: F811 - the fixture imported above
) -> None:
    with statements(app_engine(client)) as seen:
        faq = client.get(f"/api/papers/{PAPER}/faq", params={"lang": "en"}).json()
    assert faq["state"] == "none" and faq["clicks"] == 0
    assert len(on("papers", seen)) == 1 and len(on("faqs", seen)) == 1


def test_many_unknown_ids_are_queued_not_fetched_in_the_request(
    client: TestClient,
    stocked: object,  # noqa: F811 - the fixture imported above
    fake_arxiv: FakeArxiv,
) -> None:
    fake_arxiv.serve_wrapped(API / "api-2026-idlist-oldstyle-astro-ph_0601001.wrapped.json")
    unknown = ["astro-ph/0601001"] + [f"2501.{n:05d}" for n in range(1, ON_DEMAND_MAX + 3)]
    ids = [PAPER, OTHER, *unknown]
    page = client.get("/arxiv/" + ",".join(ids))
    assert page.status_code == 200
    fetched_now, queued = unknown[:ON_DEMAND_MAX], unknown[ON_DEMAND_MAX:]
    shown = re.findall(r'<div id="([^"]+)" class="panel paper', page.text)
    assert shown == [PAPER, OTHER, "astro-ph/0601001"]  # stored, then fetched on demand
    assert f"{len(queued)} papers are being fetched from arXiv; reload in a minute" in page.text
    assert "Not on arXiv: " + ", ".join(fetched_now[1:]) in page.text
    # one call to arXiv for the handful; the rest wait for the worker
    assert len(fake_arxiv.requests_to("/api/query")) == 1
    with session_scope(stocked) as s:  # type: ignore[arg-type]
        assert store.queued_papers(s, 100, max_attempts=5) == queued
    others = [f"2502.{n:05d}" for n in range(1, ON_DEMAND_MAX + 3)]
    api = client.get("/api/arxiv/" + ",".join([PAPER, *others])).json()
    assert api["queued"] == others[ON_DEMAND_MAX:] and api["not_found"] == others[:ON_DEMAND_MAX]
    assert api["total"] == 1 and [p["id"] for p in api["papers"]] == [PAPER]


def test_an_unreachable_arxiv_leaves_the_stored_papers_of_a_comma_id_page_shown(
    client: TestClient,
    stocked: object,  # noqa: F811 - the fixture imported above
    fake_arxiv: FakeArxiv,
) -> None:
    """arXiv failing for the unknown ids does not hide the papers we have: they show, and the
    unknown ones wait in the queue (this page used to answer 503 with nothing)."""
    unknown = "2501.00001"
    # arXiv asks us to wait: no retry now, and the host is held for what follows
    fake_arxiv.script("/api/query", [Fault.status(429, retry_after=3000)])
    page = client.get(f"/arxiv/{PAPER},{unknown}")
    assert page.status_code == 200
    assert re.findall(r'<div id="([^"]+)" class="panel paper', page.text) == [PAPER]
    assert "1 paper is being fetched from arXiv; reload in a minute" in page.text
    with session_scope(stocked) as s:  # type: ignore[arg-type]
        assert store.queued_papers(s, 100, max_attempts=5) == [unknown]
    # one paper alone, unknown, still says arXiv could not be reached
    assert client.get(f"/arxiv/{unknown}").status_code == 503


def test_the_paper_page_dates_each_version_a_history_import_told(
    client: TestClient, settings: Settings
) -> None:
    """0704.0001 of the real Kaggle sample: v1 submitted 2 Apr 2007, v2 24 Jul 2007."""
    factory = client.app.state.sessionmaker  # type: ignore[attr-defined]
    pipeline = Pipeline.open(settings, factory)
    try:
        ingest.import_kaggle(pipeline, KAGGLE)
    finally:
        pipeline.close()
    page = client.get("/arxiv/0704.0001")
    assert page.status_code == 200
    versions = re.search(r'<dd class="versions">(.*?)</dd>', page.text)
    assert versions is not None
    dated = re.sub(r"<[^>]+>", "", versions.group(1))
    assert dated == "v1 (2007-04-02) · v2 (2007-07-24)"
