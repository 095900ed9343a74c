"""Sorts of list and search pages and their JSON twins: arXiv's order (the default), clicks
(sort=1), time (sort=0), and the reader's preference keywords (sort=kw1,kw2,…, ❤) scored by
the search engine over the page's papers, on SQLite and Postgres."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from coolpapers.config import Settings
from coolpapers.search import sync
from coolpapers.search.engine import SearchIndex
from coolpapers.search.query import parse_query
from coolpapers.web.sorts import KEYWORD_MAX_CHARS, MAX_KEYWORDS
from tests.conftest import Stock
from tests.test_fragments import (
    LG_DAY,
    LG_TOTAL,
    api_ids,
    follow_fragments,
    fragment_url,
    get_ok,
    ingest_and_index,
    parse,
)
from tests.test_web import stocked  # noqa: F401 - the fixture (six days, no search index)


@pytest.fixture
def indexed(stock: Stock) -> sessionmaker[Session]:
    """cs.LG and cs.CL ingested and indexed: built once per worker, copied into each test."""
    return stock("lg+cl indexed", ingest_and_index)


# Words of the cs.LG day: several papers have each, most have neither.
KEYWORDS = ("transformer", "language model")


def engine_scores(settings: Settings, query: str) -> dict[str, float]:
    """BM25 of ``query`` for every paper it matches, by the engine's own search (not the
    preference code): the expected order is computed from these."""
    with SearchIndex.open(sync.index_path(settings.data_dir), create=False) as index:
        result = index.search(parse_query(query), limit=1000)
    assert result.total == len(result.hits) < 1000
    return {hit.id: hit.score for hit in result.hits}


def by_preference(ids: Sequence[str], scores: dict[str, float]) -> list[str]:
    """``ids`` best score first, ties and the papers matching no keyword in their order."""
    scored = sorted((i for i in ids if i in scores), key=lambda i: -scores[i])  # stable
    return scored + [i for i in ids if i not in scores]


def or_query(keywords: Sequence[str]) -> str:
    return " OR ".join(f'"{k}"' if " " in k else k for k in keywords)


# ---------------------------------------------------------------------------------- day lists


def test_preference_ranks_the_day_by_the_keywords(
    client: TestClient, indexed: object, settings: Settings
) -> None:
    arxiv = api_ids(client, "/api/arxiv/cs.LG", date=LG_DAY)
    scores = engine_scores(settings, or_query(KEYWORDS))
    expected = by_preference(arxiv, scores)
    matching = [i for i in arxiv if i in scores]
    assert 3 <= len(matching) < 60, "the keywords pick some of the day's papers, not all"
    assert len({scores[i] for i in matching}) > 2, "and score them differently"
    assert expected[: len(matching)] != matching  # the scores reorder them

    sort = ",".join(KEYWORDS)
    r = client.get("/api/arxiv/cs.LG", params={"date": LG_DAY, "show": 1000, "sort": sort})
    assert r.status_code == 200 and r.json()["sort"] == "preference"
    assert [p["id"] for p in r.json()["papers"]] == expected
    assert r.json()["total"] == LG_TOTAL

    # the page and its fragments: the same order, numbered from #1, the sort kept along
    page = parse(get_ok(client, f"/arxiv/cs.LG?sort={sort}"))
    assert page.ids == expected[:25] and page.indexes == list(range(1, 26))
    [more] = page.more_links
    assert f"sort={sort.replace(' ', '%20')}" in more
    ids, indexes, _ = follow_fragments(client, fragment_url(more))
    assert page.ids + ids == expected and indexes == list(range(26, LG_TOTAL + 1))

    # one keyword: a trailing comma says it is a keyword, not an order
    one = engine_scores(settings, "transformer")
    solo = api_ids(client, "/api/arxiv/cs.LG", date=LG_DAY, sort="transformer,")
    assert solo == by_preference(arxiv, one)
    # a keyword of a word no paper of the day has: arXiv's order
    assert api_ids(client, "/api/arxiv/cs.LG", date=LG_DAY, sort="zzqqxx,") == arxiv


def test_preference_with_replacements_and_a_union(
    client: TestClient, indexed: object, settings: Settings
) -> None:
    for spec, params in (
        ("cs.LG", {"replace": "1"}),
        ("cs.CL,cs.LG", {}),
        ("cs.LG-cs.AI", {}),
    ):
        arxiv = api_ids(client, f"/api/arxiv/{spec}", date=LG_DAY, **params)
        ranked = api_ids(
            client, f"/api/arxiv/{spec}", date=LG_DAY, sort=",".join(KEYWORDS), **params
        )
        assert ranked == by_preference(arxiv, engine_scores(settings, or_query(KEYWORDS)))


def test_clicks_time_and_default_orders(client: TestClient, indexed: object) -> None:
    day = {"date": LG_DAY}
    arxiv = api_ids(client, "/api/arxiv/cs.LG", **day)
    papers = client.get("/api/arxiv/cs.LG", params={**day, "show": 1000}).json()["papers"]
    kinds = [p["announce_type"] for p in papers]
    # arXiv's order: new by id, then cross-lists by id; sort=arxiv and no sort say the same
    new = kinds.count("new")
    assert kinds == ["new"] * new + ["cross"] * (LG_TOTAL - new)
    assert arxiv[:new] == sorted(arxiv[:new]) and arxiv[new:] == sorted(arxiv[new:])
    assert api_ids(client, "/api/arxiv/cs.LG", sort="arxiv", **day) == arxiv
    assert parse(get_ok(client, "/arxiv/cs.LG")).ids == arxiv[:25]

    # time (sort=0): newest submission first; papers known from the feed alone (no submission
    # time yet) after them, newest id first
    by_time = api_ids(client, "/api/arxiv/cs.LG", sort="0", **day)
    published = {p["id"]: p["published"] for p in papers}
    newest_id = sorted(arxiv, reverse=True)
    timed = sorted((i for i in newest_id if published[i]), key=published.__getitem__, reverse=True)
    assert by_time == timed + [i for i in newest_id if not published[i]]
    assert api_ids(client, "/api/arxiv/cs.LG", sort="time", **day) == by_time
    assert parse(get_ok(client, "/arxiv/cs.LG?sort=0")).ids == by_time[:25]

    # clicks (sort=1): the page, its fragments and the API in one order
    by_clicks = api_ids(client, "/api/arxiv/cs.LG", sort="1", **day)
    assert sorted(by_clicks) == sorted(arxiv)
    page = parse(get_ok(client, "/arxiv/cs.LG?sort=1"))
    assert page.ids == by_clicks[:25]
    ids, _, _ = follow_fragments(client, fragment_url(page.more_links[0]))
    assert page.ids + ids == by_clicks


def test_sort_buttons(client: TestClient, indexed: object) -> None:
    page = parse(get_ok(client, "/arxiv/cs.LG"))
    links = page.sort_links
    assert set(links) == {"default", "clicks", "pref", "time"}
    assert links["default"]["href"] == "/arxiv/cs.LG"
    assert links["clicks"]["href"] == "/arxiv/cs.LG?sort=clicks"
    assert links["time"]["href"] == "/arxiv/cs.LG?sort=time"
    assert [k for k, a in links.items() if "aria-current" in a] == ["default"]
    # ❤ without the reader's keywords (the script writes its href): hidden, no link yet
    assert "href" not in links["pref"] and "hidden" in links["pref"]

    # a date the reader chose stays; the slice starts again at #1; the order is marked
    dated = parse(get_ok(client, f"/arxiv/cs.LG?date={LG_DAY}&skip=50&sort=1")).sort_links
    assert dated["time"]["href"] == f"/arxiv/cs.LG?date={LG_DAY}&sort=time"
    assert [k for k, a in dated.items() if "aria-current" in a] == ["clicks"]

    text = get_ok(client, "/arxiv/cs.LG?sort=transformer,language%20model")
    pref = parse(text).sort_links["pref"]
    assert "aria-current" in pref and "hidden" not in pref
    assert pref["href"] == "/arxiv/cs.LG?sort=transformer,language%20model"
    # the day's navigation keeps the order
    prev = re.search(r'<a class="prev" href="([^"]+)"', text)
    assert prev is None or "sort=transformer,language%20model" in prev[1]
    one = parse(get_ok(client, "/arxiv/cs.LG?sort=transformer,")).sort_links["pref"]
    assert one["href"] == "/arxiv/cs.LG?sort=transformer,"


def test_without_an_index_preference_falls_back_to_arxiv_order(
    client: TestClient,
    stocked: object,  # noqa: F811 - the six days, never indexed
) -> None:
    arxiv = api_ids(client, "/api/arxiv/cs.LG", date=LG_DAY)
    r = client.get("/api/arxiv/cs.LG", params={"date": LG_DAY, "show": 1000, "sort": "graph,"})
    assert r.status_code == 200 and r.json()["sort"] == "arxiv"
    assert [p["id"] for p in r.json()["papers"]] == arxiv
    text = get_ok(client, "/arxiv/cs.LG?sort=graph,")
    assert parse(text).ids == arxiv[:25]
    assert "preference sort needs the search index" in text
    fragment = parse(get_ok(client, f"/arxiv/cs.LG?date={LG_DAY}&skip=25&sort=graph,&fragment=1"))
    assert fragment.ids == arxiv[25:50]


# ---------------------------------------------------------------------------------- search


def test_search_sorts(client: TestClient, indexed: object, settings: Settings) -> None:
    query = "learning"
    relevance = list(engine_scores(settings, query))  # the engine's own order
    assert api_ids_all(client, query) == relevance

    expected = by_preference(relevance, engine_scores(settings, or_query(KEYWORDS)))
    assert expected != relevance
    sort = ",".join(KEYWORDS)
    assert api_ids_all(client, query, sort=sort) == expected
    r = client.get("/api/search", params={"query": query, "sort": sort})
    assert r.json()["sort"] == "preference"
    page = parse(get_ok(client, f"/arxiv/search?query={query}&sort={sort}"))
    assert page.ids == expected[:25]
    ids, indexes, _ = follow_fragments(client, fragment_url(page.more_links[0]))
    assert page.ids + ids == expected and indexes == list(range(26, len(expected) + 1))

    links = page.sort_links
    assert links["default"]["href"] == f"/arxiv/search?query={query}"
    assert links["clicks"]["href"] == f"/arxiv/search?query={query}&sort=clicks"
    assert links["time"]["href"] == f"/arxiv/search?query={query}&sort=time"
    assert [k for k, a in links.items() if "aria-current" in a] == ["pref"]
    assert api_ids_all(client, query, sort="0") == api_ids_all(client, query, sort="time")


def api_ids_all(client: TestClient, query: str, **params: str) -> list[str]:
    """Every match of ``query`` through /api/search, 100 at a time."""
    ids: list[str] = []
    while True:
        r = client.get(
            "/api/search", params={"query": query, "show": 100, "skip": len(ids), **params}
        )
        assert r.status_code == 200, r.text
        got = [p["id"] for p in r.json()["papers"]]
        ids += got
        if not got or len(ids) >= r.json()["total"]:
            return ids


# ---------------------------------------------------------------------------------- bad input

TOO_MANY = ",".join(f"w{n}" for n in range(MAX_KEYWORDS + 1))
TOO_LONG = "x" * (KEYWORD_MAX_CHARS + 1) + ","


@pytest.mark.parametrize(
    ("sort", "needle"),
    [
        ("2", "sort must be one of"),
        ("best", "sort must be one of"),
        (",", "empty"),
        (" , ,", "empty"),
        (TOO_MANY, f"at most {MAX_KEYWORDS}"),
        (TOO_LONG, f"at most {KEYWORD_MAX_CHARS} characters"),
        ("!!,graph", "no letters or digits"),
    ],
)
def test_bad_sorts_are_400(
    client: TestClient,
    indexed: object,
    sort: str,
    needle: str,
) -> None:
    for path in ("/arxiv/cs.LG", "/api/arxiv/cs.LG", "/arxiv/search", "/api/search"):
        r = client.get(path, params={"sort": sort, "query": "learning"})
        assert r.status_code == 400, (path, sort, r.status_code)
        assert needle in html.unescape(r.text), (path, r.text[:300])
    # the largest that is fine
    fine = ",".join(f"w{n}" for n in range(MAX_KEYWORDS - 1)) + "," + "y" * KEYWORD_MAX_CHARS
    assert client.get("/api/arxiv/cs.LG", params={"sort": fine}).status_code == 200
