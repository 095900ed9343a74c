"""Site search through the real app: the index following the database, pages, feed, API, [REL],
on SQLite and Postgres."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from collections import Counter

import feedparser
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import ingest
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.models import Paper
from coolpapers.search import build_status, engine, sync
from coolpapers.search.engine import SearchIndex
from coolpapers.sources.arxiv import parse_rss
from tests.conftest import API, RSS, Stock
from tests.fakes.arxiv_server import FakeArxiv

LG = RSS / "rss-cs.LG-2026-08-21-fri.xml"
CL = RSS / "rss-cs.CL-2026-08-20-thu.xml"
CV = RSS / "rss-cs.CV-2025-04-25-fri.xml"
TITLE_ID = "2608.19234"
TITLE = "Triangular Fuzzy Rescaling Distance"


def _ingest_and_index(factory: sessionmaker[Session], settings: Settings) -> None:
    ingest.ingest_files(factory, [LG, CL])
    assert sync.sync_job(factory, settings.data_dir) > 0


@pytest.fixture
def indexed(stock: Stock) -> sessionmaker[Session]:
    """cs.LG and cs.CL ingested and indexed: built once per worker, copied into each test."""
    return stock("lg+cl indexed", _ingest_and_index)


def ids(client: TestClient, query: str, **params: str) -> list[str]:
    r = client.get("/api/search", params={"query": query, **params})
    assert r.status_code == 200, r.text
    return [p["id"] for p in r.json()["papers"]]


def test_exact_title_first_and_rare_word(client: TestClient, indexed: object) -> None:
    assert ids(client, TITLE)[0] == TITLE_ID
    # a word that occurs in exactly one abstract finds that paper
    feed = parse_rss(LG.read_bytes())
    counts: Counter[str] = Counter()
    for item in feed.items:
        counts.update(set(SearchIndex.normalise(item.meta.abstract)))
    rare_item, rare_word = next(
        (i, w)
        for i in feed.items
        for w in SearchIndex.normalise(i.meta.abstract)
        if counts[w] == 1 and len(w) > 8 and w.isalpha()
    )
    found = ids(client, rare_word)
    assert found[0] == rare_item.meta.id


def test_syntax_through_the_api(client: TestClient, indexed: object) -> None:
    assert TITLE_ID in ids(client, '"fuzzy rescaling"')
    assert TITLE_ID not in ids(client, "fuzzy -rescaling")
    assert TITLE_ID in ids(client, "ti:triangular")
    assert TITLE_ID in ids(client, "au:hernandez")  # Hernández, accent folded
    assert TITLE_ID in ids(client, "triang*")
    assert TITLE_ID in ids(client, "cat:cs.LG fuzzy") and TITLE_ID not in ids(
        client, "cat:cs.CL fuzzy"
    )
    assert TITLE_ID in ids(client, "fuzzy after:2026-08-21") and not ids(
        client, "fuzzy before:2026-01-01"
    )
    both = client.get("/api/search", params={"query": "fuzzy OR transformer"}).json()["total"]
    assert both > client.get("/api/search", params={"query": "fuzzy"}).json()["total"]
    newest = client.get("/api/search", params={"query": "learning", "sort": "time"}).json()
    assert newest["papers"] and newest["total"] >= len(newest["papers"])


@pytest.mark.parametrize(
    "query",
    ['"unbalanced', "-", "OR", "OR OR", "*", "!!!", "a" * 10_000, "\x00\x1b[31m", "ti:", 'au:"'],
)
def test_any_input_is_safe(client: TestClient, indexed: object, query: str) -> None:
    for path in ("/api/search", "/arxiv/search"):
        r = client.get(path, params={"query": query})
        assert r.status_code in (200, 400), r.text
        assert "Traceback" not in r.text


def test_bad_parameters_are_400(client: TestClient, indexed: object) -> None:
    assert client.get("/api/search", params={"query": "x", "sort": "best"}).status_code == 400
    assert client.get("/api/search", params={"query": "x", "show": "-1"}).status_code == 400
    assert client.get("/api/search", params={"query": "cat:cs.XX"}).status_code == 400


def test_page_highlights_and_jumps_to_ids(client: TestClient, indexed: object) -> None:
    page = client.get("/arxiv/search", params={"query": "fuzzy", "highlight": "1"})
    assert page.status_code == 200 and "<mark>Fuzzy</mark>" in page.text
    assert "Total:" in page.text
    jump = client.get("/arxiv/search", params={"query": f"arXiv:{TITLE_ID}v1"})
    assert jump.status_code == 303 and jump.headers["location"] == f"/arxiv/{TITLE_ID}"
    assert 'action="/arxiv/search"' in client.get("/").text
    assert 'action="/arxiv/search"' in client.get("/arxiv/cs.LG").text


def test_search_feed_parses_back(client: TestClient, indexed: object) -> None:
    r = client.get("/arxiv/search/feed", params={"query": "fuzzy"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/atom+xml")
    ET.fromstring(r.content)
    parsed = feedparser.parse(r.content)
    assert not parsed.bozo and any(e.link.endswith(TITLE_ID) for e in parsed.entries)


def test_related_papers(client: TestClient, indexed: sessionmaker[Session]) -> None:
    with session_scope(indexed) as s:
        paper = s.get(Paper, TITLE_ID)
        assert paper is not None and paper.keywords and 5 <= len(paper.keywords) <= 10
        keywords = list(paper.keywords)
    assert "fuzzy" in keywords
    page = client.get("/arxiv/cs.LG", params={"show": 1000}).text
    assert 'class="title-rel notranslate"' in page and f'keywords="{",".join(keywords)}"' in page
    related = client.get(
        "/arxiv/search", params={"query": ",".join(keywords), "exclude": TITLE_ID}
    ).text
    assert f'<div id="{TITLE_ID}"' not in related and 'class="panel paper' in related


def test_index_follows_the_database(
    client: TestClient, indexed: sessionmaker[Session], settings: Settings
) -> None:
    cv = parse_rss(CV.read_bytes()).items[0].meta
    ingest.ingest_files(indexed, [CV])  # committed; the process "crashes" before indexing
    assert cv.id not in ids(client, cv.title)
    assert sync.sync_job(indexed, settings.data_dir) > 0  # the next start catches up
    assert ids(client, cv.title)[0] == cv.id


def test_deleted_or_corrupt_index_is_rebuilt(
    client: TestClient, indexed: sessionmaker[Session], settings: Settings
) -> None:
    client.app.state.search_reader.close()  # type: ignore[attr-defined]
    path = sync.index_path(settings.data_dir)
    shutil.rmtree(path)
    assert sync.sync_job(indexed, settings.data_dir) > 0
    assert ids(client, TITLE)[0] == TITLE_ID
    client.app.state.search_reader.close()  # type: ignore[attr-defined]
    for f in path.iterdir():
        if f.is_file():
            f.write_bytes(b"garbage")
    assert sync.sync_job(indexed, settings.data_dir) > 0
    assert ids(client, TITLE)[0] == TITLE_ID


def test_without_an_index_the_page_says_so(
    client: TestClient, factory: sessionmaker[Session], settings: Settings
) -> None:
    page = client.get("/arxiv/search", params={"query": "fuzzy"})
    assert page.status_code == 503 and "not built yet" in page.text
    assert client.get("/api/search", params={"query": "fuzzy"}).status_code == 503
    build_status.write_status(settings.data_dir, build_status.BuildStatus(True, 120, 400))
    building = client.get("/arxiv/search", params={"query": "fuzzy"})
    assert building.status_code == 200 and "120 of 400 papers" in building.text


def test_search_papers_are_the_api_papers(
    client: TestClient,
    indexed: sessionmaker[Session],
    settings: Settings,
    fake_arxiv: FakeArxiv,
) -> None:
    """Search loads plain rows, /api/papers an ORM object: one JSON shape all the same, with
    dates as ISO 8601 in UTC on both databases."""
    fake_arxiv.serve_wrapped(API / "api-2026-idlist-oldstyle-astro-ph_0601001.wrapped.json")
    fetched = client.get("/api/papers/astro-ph/0601001").json()  # from the API: it has times
    assert sync.sync_job(indexed, settings.data_dir) > 0
    query = f'ti:"{fetched["title"]}" OR fuzzy'
    found = client.get("/api/search", params={"query": query, "show": "6"}).json()["papers"]
    assert "astro-ph/0601001" in [p["id"] for p in found] and len(found) > 1
    for paper in found:
        alone = client.get(f"/api/papers/{paper['id']}")
        assert alone.status_code == 200 and alone.json() == paper
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00"
    assert re.fullmatch(stamp, fetched["published"]) and re.fullmatch(stamp, fetched["updated"])
    assert isinstance(fetched["authors"], list) and all(
        isinstance(a, str) for a in fetched["authors"]
    )


def test_sort_by_clicks(client: TestClient, indexed: sessionmaker[Session]) -> None:
    """sort=clicks (papers.cool's sort=1, and our older sort=stars): most [FAQ] clicks first
    among the matches, ties in relevance order."""
    by_relevance = ids(client, "learning", show="100")
    assert len(by_relevance) > 10
    clicked = {by_relevance[-1]: 5, by_relevance[-2]: 9}
    with session_scope(indexed) as session:
        for paper_id, clicks in clicked.items():
            session.get_one(Paper, paper_id).faq_clicks = clicks
    by_clicks = ids(client, "learning", sort="clicks", show="100")
    assert by_clicks[:2] == [by_relevance[-2], by_relevance[-1]]
    assert by_clicks[2:] == [i for i in by_relevance if i not in clicked]
    assert ids(client, "learning", sort="clicks", show="3", skip="1") == by_clicks[1:4]
    for alias in ("1", "stars"):
        assert ids(client, "learning", sort=alias, show="100") == by_clicks
    api = client.get("/api/search", params={"query": "learning", "sort": "1"}).json()
    assert api["sort"] == "clicks"
    page = client.get("/arxiv/search", params={"query": "learning", "sort": "stars"}).text
    assert re.search(r'<a class="sort sort-clicks" href="[^"]*"[^>]*aria-current="true">', page)


def test_a_search_past_its_time_limit_is_a_503(
    client: TestClient, indexed: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "SEARCH_DEADLINE_S", -1.0)  # every search is already late
    api = client.get("/api/search", params={"query": "fuzzy"})
    assert api.status_code == 503 and "too long" in api.json()["error"]
    page = client.get("/arxiv/search", params={"query": "fuzzy"})
    assert page.status_code == 503 and "too long" in page.text
    monkeypatch.undo()
    assert client.get("/api/search", params={"query": "fuzzy"}).status_code == 200
