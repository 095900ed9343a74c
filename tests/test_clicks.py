"""The public [PDF]/[FAQ] click counters through the real app, on SQLite and Postgres: one count
per visitor, paper and UTC day, rate limited, atomic under concurrency, and what they rank."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import ingest, scheduler, store
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.errors import BadInput, NotFound
from coolpapers.models import Click, Paper
from coolpapers.search import sync
from coolpapers.web import create_app, visitors
from tests.conftest import RSS, Stock
from tests.live_server import serve

LG = RSS / "rss-cs.LG-2026-08-21-fri.xml"
DAY = {"date": "2026-08-21", "show": 1000}
PAPER = "2608.19234"  # on the cs.LG 2026-08-21 listing
# the same listing; the last three have "learning" in their titles
OTHERS = ["2608.19210", "2608.19436", "2608.19463", "2608.19514"]


def _ingest(factory: sessionmaker[Session], settings: Settings) -> None:
    assert not any(r.failed for r in ingest.ingest_files(factory, [LG]))


def _ingest_and_index(factory: sessionmaker[Session], settings: Settings) -> None:
    _ingest(factory, settings)
    assert sync.sync_job(factory, settings.data_dir) > 0


@pytest.fixture
def stocked(stock: Stock) -> sessionmaker[Session]:
    """cs.LG 2026-08-21 ingested: built once per worker, copied into each test."""
    return stock("lg", _ingest)


def click(c: TestClient | httpx.Client, paper_id: str, kind: str = "pdf") -> httpx.Response:
    return c.post(f"/api/papers/{paper_id}/clicks", params={"kind": kind})


def counters(factory: sessionmaker[Session], paper_id: str) -> tuple[int, int]:
    with session_scope(factory) as s:
        paper = s.get_one(Paper, paper_id)
        return paper.pdf_clicks, paper.faq_clicks


def test_same_visitor_same_day_is_counted_once(client: TestClient, stocked: object) -> None:
    first = click(client, PAPER)
    assert first.status_code == 200
    assert first.json() == {"id": PAPER, "pdf_clicks": 1, "faq_clicks": 0, "counted": True}
    assert visitors.COOKIE in first.cookies  # the visitor is known by its cookie from now on
    again = click(client, PAPER)  # a reload, a second opening: the same visitor
    assert again.status_code == 200
    assert again.json() == {"id": PAPER, "pdf_clicks": 1, "faq_clicks": 0, "counted": False}
    assert visitors.COOKIE not in again.cookies
    faq = click(client, PAPER, "faq")  # the other counter is its own
    assert faq.json() == {"id": PAPER, "pdf_clicks": 1, "faq_clicks": 1, "counted": True}
    assert click(client, PAPER, "faq").json()["counted"] is False


def test_the_next_utc_day_counts_again_and_old_days_are_pruned(
    stocked: sessionmaker[Session],
) -> None:
    late = datetime(2026, 8, 21, 23, 59, 59, tzinfo=UTC)
    new_york = timezone(timedelta(hours=-4))
    steps = [
        ("v:reader", late, True),
        ("v:reader", late + timedelta(milliseconds=500), False),  # still the 21st, UTC
        ("v:reader", late + timedelta(seconds=2), True),  # the 22nd
        ("v:reader", late + timedelta(hours=3), False),
        # the day is UTC's whatever zone the time comes in: 22:00 on the 21st in New York is
        # the 22nd in UTC
        ("v:ny", datetime(2026, 8, 21, 19, 0, tzinfo=new_york), True),
        ("v:ny", datetime(2026, 8, 21, 22, 0, tzinfo=new_york), True),
    ]
    with session_scope(stocked, write=True) as s:
        for visitor, now, counted in steps:
            result = store.count_click(s, PAPER, "pdf", [visitor], now, per_minute=30)
            assert (result.counted, result.limited) == (counted, False), (visitor, now)
        assert store.paper_clicks(s, PAPER) == store.Clicks(pdf=4, faq=0)
        # the 21st is yesterday on the 22nd (kept), gone on the 23rd; the 22nd stays
        assert store.prune_clicks(s, late + timedelta(hours=1)) == 0
        assert store.prune_clicks(s, late + timedelta(days=1, hours=1)) == 2
        days = s.scalars(select(Click.day).order_by(Click.visitor)).all()
        assert [d.isoformat() for d in days] == ["2026-08-22", "2026-08-22"]
        assert store.paper_clicks(s, PAPER) == store.Clicks(pdf=4, faq=0)  # counts are kept


def test_the_scheduler_prunes_old_clicks(
    stocked: sessionmaker[Session], settings: Settings
) -> None:
    now = datetime.now(UTC)
    with session_scope(stocked, write=True) as s:
        for days_ago in (0, 1, 2, 9):
            when = now - timedelta(days=days_ago)
            store.count_click(s, PAPER, "faq", [f"v:{days_ago}"], when, per_minute=30)
    pipeline = ingest.Pipeline.open(settings, stocked)
    try:
        assert scheduler.CLICKS_JOB in {
            j.id for j in scheduler.build_scheduler(pipeline).get_jobs()
        }
        assert scheduler.prune_clicks(pipeline, now) == 2
    finally:
        pipeline.close()
    with session_scope(stocked) as s:
        assert sorted(s.scalars(select(Click.visitor))) == ["v:0", "v:1"]
    assert counters(stocked, PAPER) == (0, 4)


def test_visitors_are_told_apart_by_cookie_else_by_address(
    settings: Settings, stocked: sessionmaker[Session]
) -> None:
    def browser(address: str) -> TestClient:  # a cookie jar of its own at that address
        return TestClient(create_app(settings), client=(address, 1000))

    with browser("192.0.2.1") as a, browser("192.0.2.2") as b:
        assert click(a, PAPER).json()["counted"] is True
        assert click(b, PAPER).json()["pdf_clicks"] == 2  # another address: another visitor
    # one address, a second browser: counted once it has a cookie of its own
    with browser("192.0.2.1") as c:
        assert click(c, OTHERS[0]).json()["counted"] is True  # its first click: a cookie
        assert click(c, PAPER).json() == {
            "id": PAPER,
            "pdf_clicks": 3,
            "faq_clicks": 0,
            "counted": True,
        }
    # a client that drops its cookie every time is one visitor: its address
    for _ in range(3):
        with browser("192.0.2.3") as cookieless:
            click(cookieless, PAPER)
    assert counters(stocked, PAPER) == (4, 0)


def test_rate_limit_answers_429_and_counts_nothing(
    settings: Settings, stocked: sessionmaker[Session]
) -> None:
    tight = settings.model_copy(
        update={"clicks_per_minute": 3, "llm_base_url": "http://127.0.0.1:9/v1", "llm_model": "m"}
    )
    with TestClient(create_app(tight)) as c:
        for paper_id in OTHERS[:3]:
            assert click(c, paper_id).json()["counted"] is True
        assert click(c, OTHERS[0]).status_code == 429  # a repeat is not counted either way
        limited = click(c, PAPER)
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        body = limited.json()
        assert "3 clicks a minute" in body["error"]
        assert (body["id"], body["pdf_clicks"], body["faq_clicks"]) == (PAPER, 0, 0)
        assert body["counted"] is False
        # the FAQ still opens for a limited visitor; only its click is not counted
        faq = c.post(f"/api/papers/{PAPER}/faq", params={"lang": "en"})
        assert faq.status_code == 202 and faq.json()["state"] == "queued"
        assert faq.json()["clicks"] == 0
    assert counters(stocked, PAPER) == (0, 0)
    assert [counters(stocked, p)[0] for p in OTHERS] == [1, 1, 1, 0]


def test_rate_limit_window_is_the_last_minute(stocked: sessionmaker[Session]) -> None:
    t0 = datetime(2026, 8, 21, 12, 0, tzinfo=UTC)
    with session_scope(stocked, write=True) as s:
        for i, paper_id in enumerate(OTHERS[:3]):
            result = store.count_click(
                s, paper_id, "pdf", ["v:quick"], t0 + timedelta(seconds=i * 10), per_minute=3
            )
            assert result.counted
        held = store.count_click(s, PAPER, "pdf", ["v:quick"], t0 + timedelta(seconds=30), 3)
        assert (held.counted, held.limited, held.retry_after_s) == (False, True, 30)
        other = store.count_click(s, PAPER, "pdf", ["v:calm"], t0 + timedelta(seconds=30), 3)
        assert other.counted  # the limit is the visitor's own
        later = store.count_click(s, PAPER, "pdf", ["v:quick"], t0 + timedelta(seconds=61), 3)
        assert (later.counted, later.limited) == (True, False)  # the first click aged out
        assert later.clicks == store.Clicks(pdf=2, faq=0)


def test_concurrent_clicks_of_one_visitor_count_once(
    settings: Settings, stocked: sessionmaker[Session]
) -> None:
    n = 12
    with serve(create_app(settings)) as base:
        with httpx.Client(base_url=base) as first:
            assert click(first, OTHERS[0]).status_code == 200
            cookie = first.cookies[visitors.COOKIE]
        start = threading.Barrier(2 * n, timeout=60)  # a safety net: never waited out

        def post(with_cookie: bool) -> bool:
            cookies = {visitors.COOKIE: cookie} if with_cookie else {}
            with httpx.Client(base_url=base, cookies=cookies, timeout=30) as c:
                start.wait()  # all at once
                r = click(c, PAPER, "pdf" if with_cookie else "faq")
                assert r.status_code == 200, r.text
                counted: bool = r.json()["counted"]
                return counted

        with ThreadPoolExecutor(max_workers=2 * n) as pool:
            results = list(pool.map(post, [True] * n + [False] * n))
    # the cookie's twelve clicks on [PDF] count once, the address's twelve on [FAQ] once
    assert results[:n].count(True) == 1 and results[n:].count(True) == 1
    assert counters(stocked, PAPER) == (1, 1)
    with session_scope(stocked) as s:
        rows = s.scalar(select(func.count()).select_from(Click).where(Click.paper_id == PAPER))
        assert rows == 1 + 1 + n  # the cookie; the address and each minted cookie


def test_bad_clicks_are_clear_4xx(client: TestClient, stocked: object) -> None:
    missing = click(client, "2501.99999")
    assert missing.status_code == 404
    assert missing.json()["error"] == "no paper 2501.99999 here"
    for params in ({"kind": "star"}, {"kind": ""}, {}):
        r = client.post(f"/api/papers/{PAPER}/clicks", params=params)
        assert r.status_code == 400 and r.json()["error"] == "kind must be one of pdf, faq"
    assert client.post("/api/papers/not-an-id/clicks", params={"kind": "pdf"}).status_code == 400
    assert client.get(f"/api/papers/{PAPER}/clicks", params={"kind": "pdf"}).status_code == 405
    assert click(client, PAPER).status_code == 200  # nothing above counted or broke it
    assert click(client, PAPER).json()["pdf_clicks"] == 1


def test_store_refuses_a_bad_kind_or_paper(stocked: sessionmaker[Session]) -> None:
    now = datetime(2026, 8, 21, tzinfo=UTC)
    with session_scope(stocked, write=True) as s:
        with pytest.raises(BadInput):
            store.count_click(s, PAPER, "star", ["v:x"], now, 3)
        with pytest.raises(NotFound):
            store.count_click(s, "2501.99999", "pdf", ["v:x"], now, 3)


@pytest.fixture
def ranked(stock: Stock) -> Iterator[dict[str, tuple[int, int]]]:
    """Three papers whose order by [PDF] + [FAQ] differs from their order by [FAQ] alone, in
    the listing and in the search index."""
    indexed = stock("lg indexed", _ingest_and_index)
    chosen = {OTHERS[3]: (5, 0), OTHERS[1]: (0, 3), OTHERS[2]: (1, 1)}
    with session_scope(indexed, write=True) as s:
        for paper_id, (pdf, faq) in chosen.items():
            paper = s.get_one(Paper, paper_id)
            paper.pdf_clicks, paper.faq_clicks = pdf, faq
    yield chosen


def test_sort_1_ranks_lists_and_search_by_pdf_plus_faq(
    client: TestClient, ranked: dict[str, tuple[int, int]]
) -> None:
    top = [OTHERS[3], OTHERS[1], OTHERS[2]]
    arxiv = [p["id"] for p in client.get("/api/arxiv/cs.LG", params=DAY).json()["papers"]]
    by_clicks = client.get("/api/arxiv/cs.LG", params={**DAY, "sort": "1"}).json()["papers"]
    assert [p["id"] for p in by_clicks] == top + [i for i in arxiv if i not in top]
    shown = {p["id"]: (p["pdf_clicks"], p["faq_clicks"]) for p in by_clicks[:3]}
    assert shown == ranked
    page = client.get("/arxiv/cs.LG", params={"sort": "1"}).text
    assert page.index(f'id="{OTHERS[3]}"') < page.index(f'id="{OTHERS[1]}"')
    assert f'<sup id="pdf-clicks-{OTHERS[3]}">5</sup>' in page
    query = {"query": "learning", "show": "100"}
    relevance = [p["id"] for p in client.get("/api/search", params=query).json()["papers"]]
    found = client.get("/api/search", params={**query, "sort": "1"}).json()["papers"]
    assert set(top) <= set(relevance)  # the three are among the matches: the ranking shows
    assert [p["id"] for p in found] == top + [i for i in relevance if i not in top]


def test_a_counted_click_survives_a_reload_and_a_reload_adds_none(
    client: TestClient, stocked: object
) -> None:
    assert click(client, PAPER).json()["counted"] is True
    for _ in range(2):  # reload the page, open the PDF again
        page = client.get("/arxiv/cs.LG", params=DAY).text
        assert f'<sup id="pdf-clicks-{PAPER}">1</sup>' in page
        assert re.search(rf'<sup id="faq-clicks-{PAPER}"></sup>', page)
        assert f'<sup id="pdf-clicks-{PAPER}">1</sup>' in client.get(f"/arxiv/{PAPER}").text
        assert click(client, PAPER).json()["pdf_clicks"] == 1
    paper = client.get(f"/api/papers/{PAPER}").json()
    assert (paper["pdf_clicks"], paper["faq_clicks"]) == (1, 0)
