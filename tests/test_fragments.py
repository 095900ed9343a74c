"""Lazy loading's server side: ``?fragment=1`` answers a slice's cards alone (the same card as
the page, numbered where the slice starts), each fragment naming the next in ``data-more`` to
the end; the pages keep their plain "more" link for readers without the script. Day lists,
search and comma-id pages, on SQLite and Postgres."""

from __future__ import annotations

import html
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import ingest
from coolpapers.config import Settings
from coolpapers.search import sync
from tests.conftest import RSS, Stock

LG = RSS / "rss-cs.LG-2026-08-21-fri.xml"
CL = RSS / "rss-cs.CL-2026-08-20-thu.xml"
LG_DAY = "2026-08-21"
LG_TOTAL = 127  # 65 new + 62 cross


def ingest_and_index(factory: sessionmaker[Session], settings: Settings) -> None:
    ingest.ingest_files(factory, [LG, CL])
    assert sync.sync_job(factory, settings.data_dir) > 0


@pytest.fixture
def indexed(stock: Stock) -> sessionmaker[Session]:
    """cs.LG and cs.CL ingested and indexed: built once per worker, copied into each test."""
    return stock("lg+cl indexed", ingest_and_index)


class Cards(HTMLParser):
    """What a page or a fragment holds: its cards (ids, #numbers, the DOM contract's parts),
    a fragment's data-more/data-total, the page's plain "more" link."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.indexes: list[int] = []
        self.stars: list[str] = []  # data-paper of each button.star
        self.clicks: list[str] = []  # ids of sup#pdf-clicks-* / faq-clicks-*
        self.fragments: list[dict[str, str | None]] = []
        self.more_links: list[str] = []  # p.more a[rel=next]
        self.sort_links: dict[str, dict[str, str | None]] = {}  # nav.sorts a.sort-*
        self.tags: set[str] = set()
        self.marks = 0
        self._in_index = False
        self._in_more = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        self.tags.add(tag)
        if tag == "div" and "paper" in classes:
            self.ids.append(a["id"] or "")
        elif tag == "div" and "cards-fragment" in classes:
            self.fragments.append(a)
        elif tag == "button" and "star" in classes:
            self.stars.append(a.get("data-paper") or "")
        elif tag == "sup" and (a.get("id") or "").startswith(("pdf-clicks-", "faq-clicks-")):
            self.clicks.append(a["id"] or "")
        elif tag == "mark":
            self.marks += 1
        elif tag == "p" and "more" in classes:
            self._in_more = True
        elif tag == "a" and self._in_more and a.get("rel") == "next":
            self.more_links.append(a.get("href") or "")
        elif tag == "a" and "sort" in classes:
            kind = next(c for c in classes if c.startswith("sort-"))
            self.sort_links[kind.removeprefix("sort-")] = a
        self._in_index = tag == "span" and "index" in classes

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self._in_more = False

    def handle_data(self, data: str) -> None:
        if self._in_index:
            self.indexes.append(int(data.strip().lstrip("#")))
            self._in_index = False

    @property
    def more(self) -> str | None:
        """The fragment's data-more (unescaped by the parser)."""
        assert len(self.fragments) == 1, self.fragments
        return self.fragments[0].get("data-more")


def parse(text: str) -> Cards:
    cards = Cards()
    cards.feed(text)
    return cards


def get_ok(client: TestClient, url: str) -> str:
    r = client.get(url)
    assert r.status_code == 200, (url, r.status_code, r.text[:300])
    return str(r.text)


def fragment_url(page_url: str) -> str:
    """What static/js/lazy.js fetches for a page's "more" link: the same URL, fragment=1."""
    return page_url + ("&" if "?" in page_url else "?") + "fragment=1"


def assert_fragment(cards: Cards) -> None:
    """Cards alone: no page around them, no script, every card with its star and counters."""
    assert not cards.tags & {"html", "head", "body", "nav", "script", "main", "header", "footer"}
    assert cards.stars == cards.ids
    assert cards.clicks == [f"{k}-clicks-{i}" for i in cards.ids for k in ("pdf", "faq")]


def follow_fragments(client: TestClient, first: str) -> tuple[list[str], list[int], list[str]]:
    """Every fragment from ``first`` along data-more: their cards' ids and #numbers, the URLs."""
    ids: list[str] = []
    indexes: list[int] = []
    seen = [first]
    url: str | None = first
    while url is not None:
        cards = parse(get_ok(client, url))
        assert_fragment(cards)
        assert cards.ids, f"{url}: a fragment named by data-more has cards"
        ids += cards.ids
        indexes += cards.indexes
        url = cards.more
        if url is not None:
            assert parse_qs(urlsplit(url).query)["fragment"] == ["1"], url
            assert url not in seen, "data-more goes forward"
            seen.append(url)
    return ids, indexes, seen


def follow_pages(client: TestClient, first: str) -> tuple[list[str], list[int]]:
    """The pages along their plain "more" links (no script): their cards' ids and numbers."""
    ids: list[str] = []
    indexes: list[int] = []
    url: str | None = first
    while url is not None:
        cards = parse(get_ok(client, url))
        assert "html" in cards.tags and not cards.fragments
        ids += cards.ids
        indexes += cards.indexes
        assert len(cards.more_links) <= 1
        url = cards.more_links[0] if cards.more_links else None
        assert url is None or "fragment" not in url, "the page's own link is a page"
    return ids, indexes


def api_ids(client: TestClient, path: str, **params: str | int) -> list[str]:
    r = client.get(path, params={"show": 1000, **params})
    assert r.status_code == 200, r.text
    return [p["id"] for p in r.json()["papers"]]


# ---------------------------------------------------------------------------------- day lists


def test_day_fragments_chain_to_the_end(client: TestClient, indexed: object) -> None:
    everything = api_ids(client, "/api/arxiv/cs.LG", date=LG_DAY)
    assert len(everything) == LG_TOTAL
    page = parse(get_ok(client, "/arxiv/cs.LG"))
    assert page.ids == everything[:25] and page.indexes == list(range(1, 26))
    [more] = page.more_links  # without the script: a page at the next skip
    assert more == f"/arxiv/cs.LG?date={LG_DAY}&skip=25&show=25"

    ids, indexes, urls = follow_fragments(client, fragment_url(more))
    assert page.ids + ids == everything
    assert indexes == list(range(26, LG_TOTAL + 1))
    assert len(urls) == 5  # 25 at a time: #26-50, 51-75, 76-100, 101-125, 126-127
    first = parse(get_ok(client, fragment_url(more)))
    assert first.fragments[0]["data-total"] == str(LG_TOTAL)
    assert first.more == f"/arxiv/cs.LG?date={LG_DAY}&skip=50&show=25&fragment=1"
    last = parse(get_ok(client, urls[-1]))
    assert last.ids == everything[-2:] and last.more is None  # the end: no data-more

    # the reader without the script gets the same day, page by page
    assert follow_pages(client, "/arxiv/cs.LG") == (everything, list(range(1, LG_TOTAL + 1)))


def test_day_fragment_keeps_the_slice_and_order(client: TestClient, indexed: object) -> None:
    by_time = api_ids(client, "/api/arxiv/cs.LG", date=LG_DAY, sort="time")
    first = f"/arxiv/cs.LG?date={LG_DAY}&sort=time&show=40&fragment=1"
    ids, indexes, urls = follow_fragments(client, first)
    assert ids == by_time and indexes == list(range(1, LG_TOTAL + 1))
    assert all("show=40" in u and "sort=time" in u for u in urls)
    assert len(urls) == 4  # 40 + 40 + 40 + 7

    # past the end: an empty fragment, no next
    empty = parse(get_ok(client, f"/arxiv/cs.LG?date={LG_DAY}&skip=500&fragment=1"))
    assert empty.ids == [] and empty.more is None
    # a spec with nothing stored: an empty fragment too, not an error
    assert client.get("/api/arxiv/cs.LG-cs.LG").json()["date"] is None
    assert parse(get_ok(client, "/arxiv/cs.LG-cs.LG?fragment=1")).ids == []
    # fragment=0 is the page
    assert "html" in parse(get_ok(client, "/arxiv/cs.LG?fragment=0")).tags


# ---------------------------------------------------------------------------------- search


def test_search_fragments(client: TestClient, indexed: object) -> None:
    query = "learning"
    r = client.get("/api/search", params={"query": query, "show": 100})
    total = r.json()["total"]
    everything = [p["id"] for p in r.json()["papers"]]
    skip = 100
    while skip < total:
        more = client.get("/api/search", params={"query": query, "show": 100, "skip": skip})
        everything += [p["id"] for p in more.json()["papers"]]
        skip += 100
    assert 50 < total == len(everything) < 1000

    page = parse(get_ok(client, f"/arxiv/search?query={query}&highlight=1"))
    assert page.ids == everything[:25] and page.indexes == list(range(1, 26))
    [more] = page.more_links
    assert more == f"/arxiv/search?query={query}&skip=25&show=25&highlight=1"
    ids, indexes, _ = follow_fragments(client, fragment_url(more))
    assert page.ids + ids == everything and indexes == list(range(26, total + 1))
    # highlight=1 goes on: the fragments mark the query words as the page does
    assert parse(get_ok(client, fragment_url(more))).marks >= 25
    assert follow_pages(client, f"/arxiv/search?query={query}")[0] == everything


def test_search_fragment_of_nothing(client: TestClient, indexed: object) -> None:
    none = parse(get_ok(client, "/arxiv/search?query=zzqqxxnotaword&fragment=1"))
    assert none.ids == [] and none.more is None
    assert parse(get_ok(client, "/arxiv/search?fragment=1")).ids == []


# ---------------------------------------------------------------------------------- comma ids


def test_comma_id_page_a_slice_at_a_time(client: TestClient, indexed: object) -> None:
    ids = api_ids(client, "/api/arxiv/cs.LG", date=LG_DAY)[:60]
    spec = ",".join(ids)
    page = parse(get_ok(client, f"/arxiv/{spec}"))
    assert page.ids == ids[:25] and page.indexes == list(range(1, 26))
    assert "60 papers" in get_ok(client, f"/arxiv/{spec}")
    [more] = page.more_links
    assert more == f"/arxiv/{spec}?skip=25&show=25"
    got, indexes, urls = follow_fragments(client, fragment_url(more))
    assert page.ids + got == ids and indexes == list(range(26, 61)) and len(urls) == 2
    assert follow_pages(client, f"/arxiv/{spec}") == (ids, list(range(1, 61)))
    # the whole list at once, as /stars asks
    whole = parse(get_ok(client, f"/arxiv/{spec}?show=1000&fragment=1"))
    assert whole.ids == ids and whole.more is None
    # one id with fragment=1: its card alone
    one = parse(get_ok(client, f"/arxiv/{ids[0]}?fragment=1"))
    assert_fragment(one)
    assert one.ids == [ids[0]] and one.indexes == [1] and one.more is None
    # a short list has no "more"
    assert parse(get_ok(client, f"/arxiv/{ids[0]},{ids[1]}")).more_links == []


# ---------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("value", ["2", "yes", "true", "-1", "1x"])
def test_fragment_must_be_0_or_1(client: TestClient, indexed: object, value: str) -> None:
    ids = ",".join(api_ids(client, "/api/arxiv/cs.LG", date=LG_DAY)[:3])
    for path in ("/arxiv/cs.LG", "/arxiv/search?query=learning", f"/arxiv/{ids}"):
        url = path + ("&" if "?" in path else "?") + "fragment=" + value
        r = client.get(url)
        assert r.status_code == 400, (url, r.status_code)
        assert "fragment must be 0 or 1" in html.unescape(r.text)
