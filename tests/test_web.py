"""Pages and JSON through the real app, on a fresh database (SQLite and Postgres)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import feedparser
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import ingest
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.models import Paper
from tests.conftest import API, RSS, Stock
from tests.fakes.arxiv_server import FakeArxiv, Fault

LG = RSS / "rss-cs.LG-2026-08-21-fri.xml"
CL = RSS / "rss-cs.CL-2026-08-20-thu.xml"


def _ingest_days(factory: sessionmaker[Session], settings: Settings) -> None:
    reports = ingest.ingest_files(
        factory,
        [
            CL,
            LG,
            RSS / "rss-cs.AI-2024-12-31-tue.xml",
            RSS / "rss-holiday-repeat-cs.AI-2025-01-01-wed.xml",
            RSS / "rss-cs.AI-2025-01-06-mon.xml",
            RSS / "rss-empty-holiday-cs.AI-2024-11-29-fri-after-thanksgiving.xml",
        ],
    )
    assert not any(r.failed for r in reports)


@pytest.fixture
def stocked(stock: Stock) -> sessionmaker[Session]:
    """Six real days ingested: built once per worker, copied into each test."""
    return stock("six days", _ingest_days)


class Cards(HTMLParser):
    """The paper cards of a page, as papers.cool's Zotero translator would read them."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.indexes: list[str] = []
        self._in_index = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "div" and "paper" in (a.get("class") or "").split():
            self.ids.append(a["id"] or "")
        self._in_index = tag == "span" and a.get("class") == "index notranslate"

    def handle_data(self, data: str) -> None:
        if self._in_index:
            self.indexes.append(data)
            self._in_index = False


def cards(html: str) -> Cards:
    parser = Cards()
    parser.feed(html)
    return parser


def test_list_page_shows_the_day_as_arxiv_listed_it(client: TestClient, stocked: object) -> None:
    r = client.get("/arxiv/cs.LG")
    assert r.status_code == 200
    page = cards(r.text)
    assert 'Total: <span class="total">127</span>' in r.text  # 65 new + 62 cross
    assert len(page.ids) == 25 and page.indexes[:2] == ["#1", "#2"]
    assert "skip=25" in r.text  # the plain "more" link
    more = cards(client.get("/arxiv/cs.LG?date=2026-08-21&skip=125&show=25").text)
    assert more.indexes == ["#126", "#127"]
    api = client.get("/api/arxiv/cs.LG", params={"show": 1000}).json()
    assert api["date"] == "2026-08-21" and api["total"] == 127
    assert [p["id"] for p in api["papers"][:25]] == page.ids
    kinds = [p["announce_type"] for p in api["papers"]]
    assert kinds == ["new"] * 65 + ["cross"] * 62
    with_repl = client.get("/api/arxiv/cs.LG", params={"show": 1000, "replace": 1}).json()
    assert with_repl["total"] == 200


def test_card_markup_and_escaping(client: TestClient, stocked: object) -> None:
    html = client.get("/arxiv/cs.LG?show=1000").text
    assert 'class="title-link notranslate" href="/arxiv/2608.19234"' in html
    assert 'class="title-pdf notranslate" data="' in html
    assert "searchtype=author&amp;query=Ana+Beatriz+Hern%C3%A1ndez-Lara" in html
    subject = '<a class="subject-1" href="/arxiv/cs.LG" title="cs.LG" data-cat="cs.LG">'
    assert subject + "Machine Learning</a>" in html
    # cs.LG and stat.ML share a name: the ids tell them apart
    assert 'title="stat.ML" data-cat="stat.ML">Machine Learning (stat.ML)</a>' in html
    # the theme before the first paint, then the features as one module graph; nothing inline
    assert html.count("<script") == 2
    assert '<script src="/static/js/theme.js"></script>' in html
    assert '<script type="module" src="/static/app.js"></script>' in html


def test_union_and_exclusion(client: TestClient, stocked: object) -> None:
    lg = client.get("/api/arxiv/cs.LG", params={"show": 1000}).json()
    both = client.get("/api/arxiv/cs.CL,cs.LG", params={"show": 1000, "date": "2026-08-21"}).json()
    plus = client.get("/api/arxiv/cs.CL+cs.LG", params={"show": 1000, "date": "2026-08-21"}).json()
    assert both["papers"] == plus["papers"]
    ids = [p["id"] for p in both["papers"]]
    assert len(ids) == len(set(ids)) and {p["id"] for p in lg["papers"]} <= set(ids)
    minus = client.get("/api/arxiv/cs.LG-cs.AI", params={"show": 1000}).json()
    assert minus["total"] < lg["total"]
    assert all("cs.AI" not in p["categories"] for p in minus["papers"])
    archive = client.get("/api/arxiv/cs", params={"show": 1000, "date": "2026-08-21"}).json()
    assert set(ids) <= {p["id"] for p in archive["papers"]}


def test_days_navigation_and_empty_days(client: TestClient, stocked: object) -> None:
    page = client.get("/arxiv/cs.AI?date=2025-01-01")
    assert page.status_code == 200
    assert "repeated the previous day" in page.text
    assert "2024-12-31" in page.text and "2025-01-06" in page.text
    holiday = client.get("/arxiv/cs.AI?date=2024-11-29")
    assert "no announcement" in holiday.text
    weekend = client.get("/arxiv/cs.AI?date=2025-01-04")
    assert "weekends" in weekend.text
    monday = client.get("/arxiv/cs.AI?date=2025-01-06").text
    assert 'href="/arxiv/cs.AI?date=2024-12-31" rel="prev"' in monday
    # cs.AI's own feed was not ingested on 2026-08-21: its papers there came through cs.LG/cs.CL
    partial = client.get("/arxiv/cs.AI").text
    assert "2026-08-21" in partial and "not among the feeds ingested" in partial
    assert "not among the feeds ingested" not in client.get("/arxiv/cs.LG").text


@pytest.mark.parametrize(
    ("path", "status", "needle"),
    [
        ("/arxiv/cs.XX", 404, "cs.XX"),
        ("/arxiv/cs.AI?date=2025-13-01", 400, "date"),
        ("/arxiv/cs.AI?date=yesterday", 400, "date"),
        ("/arxiv/cs.AI?show=-1", 400, "show"),
        ("/arxiv/cs.AI?skip=x", 400, "skip"),
        ("/arxiv/cs.AI,,cs.LG", 400, "empty"),
        ("/arxiv/-cs.AI", 400, ""),
        ("/api/arxiv/nonsense.YY", 404, "nonsense.YY"),
        ("/arxiv/2401.99999999", 400, ""),
        ("/abs/not-an-id", 400, "not-an-id"),
        ("/abs/..%2F..%2Fetc%2Fpasswd", 400, ""),
        ("/nope", 404, "/nope"),
    ],
)
def test_bad_input_gets_a_clear_error(
    client: TestClient, path: str, status: int, needle: str
) -> None:
    r = client.get(path)
    assert r.status_code == status, r.text
    assert needle in r.text
    assert "Traceback" not in r.text


def test_paper_page_has_metadata_and_redirects(
    client: TestClient, stocked: object, fake_arxiv: FakeArxiv
) -> None:
    r = client.get("/arxiv/2608.19234")
    assert r.status_code == 200
    assert '<meta name="citation_title" content="Triangular Fuzzy Rescaling Distance">' in r.text
    assert 'name="citation_pdf_url"' in r.text
    assert client.get("/arxiv/2608.19234v1").headers["location"] == "/arxiv/2608.19234"
    assert client.get("/abs/2608.19234v1").headers["location"] == "/arxiv/2608.19234"
    assert client.get("/pdf/2608.19234").headers["location"].endswith("/pdf/2608.19234")
    assert client.get("/arxiv/1406.02661").headers["location"] == "/arxiv/1406.2661"
    assert client.get("/arxiv/2608.19234").text.count('class="panel paper') == 1
    assert not fake_arxiv.requests  # stored papers never touch arXiv


def test_unknown_paper_is_fetched_once_then_stored(
    client: TestClient, fake_arxiv: FakeArxiv
) -> None:
    fake_arxiv.serve_wrapped(API / "api-2026-idlist-oldstyle-astro-ph_0601001.wrapped.json")
    r = client.get("/arxiv/astro-ph/0601001")
    assert r.status_code == 200 and "citation_journal_title" in r.text
    again = client.get("/api/papers/astro-ph/0601001").json()
    assert again["id"] == "astro-ph/0601001" and again["published"]
    assert len(fake_arxiv.requests_to("/api/query")) == 1


def test_paper_not_on_arxiv_is_a_404(client: TestClient, fake_arxiv: FakeArxiv) -> None:
    # a well-formed id arXiv doesn't know: the fake answers an empty feed, as arXiv does
    r = client.get("/arxiv/2501.00001")
    assert r.status_code == 404 and "2501.00001 is not on arXiv" in r.text
    api = client.get("/api/papers/2501.00002")
    assert api.status_code == 404 and "not on arXiv" in api.json()["error"]
    assert client.get("/arxiv/0000.0000").status_code == 400  # month 00: not an id at all
    fake_arxiv.serve_wrapped(API / "api-2026-error-400-bad-id.wrapped.json")
    assert client.get("/api/papers/2501.00003").status_code == 404  # nothing stored on the way
    assert client.get("/api/status").json()["counts"]["papers"] == 0


def test_atom_feed_parses_back(client: TestClient, stocked: object) -> None:
    r = client.get("/arxiv/cs.LG/feed")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/atom+xml")
    ET.fromstring(r.content)  # strict XML
    parsed = feedparser.parse(r.content)
    assert not parsed.bozo and len(parsed.entries) == 127
    assert parsed.entries[0].link.endswith("/arxiv/" + parsed.entries[0].id.rsplit("/", 1)[1])


def test_home_and_status(client: TestClient, stocked: object) -> None:
    home = client.get("/")
    assert home.status_code == 200
    assert 'href="/arxiv/cs.LG"' in home.text and "Machine Learning" in home.text
    assert "/arxiv/cs.LG/feed" in home.text and 'href="/status"' in home.text
    # the newest day came from the cs.LG feed: cs.LG gets its count, hep-th (cross-lists only)
    # gets none, and "latest listing" opens that feed's categories
    assert re.search(r'title="cs.LG">Machine Learning</a> <span class="count">\d+', home.text)
    assert not re.search(r'title="hep-th">[^<]*</a> <span class="count">', home.text)
    assert 'href="/arxiv/cs.LG?date=2026-08-21"' in home.text
    assert re.search(r'type="date"', home.text)
    go = client.get("/go", params={"spec": "cs.AI, cs.LG", "date": "2026-08-21"})
    assert go.headers["location"] == "/arxiv/cs.AI,cs.LG?date=2026-08-21"
    status = client.get("/api/status").json()
    assert status["counts"]["papers"] > 0 and status["last_runs"]
    assert client.get("/status").status_code == 200
    assert client.get("/docs").status_code == 200


def test_arxiv_unreachable_is_a_clear_503(client: TestClient, fake_arxiv: FakeArxiv) -> None:
    fake_arxiv.script("/api/query", [Fault.status(403)])
    r = client.get("/arxiv/2501.00001")
    assert r.status_code == 503 and "arXiv could not be reached" in r.text


def test_list_sort_1_orders_by_clicks(client: TestClient, stocked: sessionmaker[Session]) -> None:
    """papers.cool's sort=1 ("by stars"): the day's papers by their public clicks, ties in
    arXiv's order; sort=clicks and the older sort=stars say the same."""
    day = {"date": "2026-08-21", "show": 1000}
    arxiv = [p["id"] for p in client.get("/api/arxiv/cs.LG", params=day).json()["papers"]]
    clicked = {arxiv[-1]: 3, arxiv[10]: 7, arxiv[5]: 3}
    with session_scope(stocked, write=True) as s:
        for paper_id, clicks in clicked.items():
            s.get_one(Paper, paper_id).faq_clicks = clicks
    expected = [arxiv[10], arxiv[5], arxiv[-1]] + [i for i in arxiv if i not in clicked]
    for sort in ("1", "clicks", "stars"):
        r = client.get("/api/arxiv/cs.LG", params={**day, "sort": sort})
        assert r.status_code == 200 and [p["id"] for p in r.json()["papers"]] == expected
    page = client.get("/arxiv/cs.LG", params={"sort": "1"}).text
    assert cards(page).ids == expected[:25]
    assert "skip=25&amp;show=25&amp;sort=clicks" in page  # "more" keeps the order
    assert client.get("/arxiv/cs.LG", params={"sort": "2"}).status_code == 400
