"""Seen state per member (issue 10): the /api/seen contract and who may use it, seen by paper id
across overlapping lists, "mark all above as read", and /unread/{spec} carrying missed days
over (a holiday, a weekend). Real feed days from tests/fixtures, on SQLite and Postgres."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import accounts, ingest, store
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.models import Seen, utcnow
from coolpapers.web import create_app, urls
from tests.conftest import RSS, Stock, make_settings
from tests.fakes.arxiv_server import FakeArxiv

AI_TUE = RSS / "rss-cs.AI-2024-12-31-tue.xml"
AI_HOLIDAY = RSS / "rss-holiday-repeat-cs.AI-2025-01-01-wed.xml"  # repeats Tuesday's items
AI_MON = RSS / "rss-cs.AI-2025-01-06-mon.xml"  # after New Year's Day and a weekend
LG_FRI = RSS / "rss-cs.LG-2026-08-21-fri.xml"
TUE, MON, LG_DAY = date(2024, 12, 31), date(2025, 1, 6), date(2026, 8, 21)
PASSWORD = "correct horse battery"
MEMBERS = ("alice", "bob")


@pytest.fixture
def settings(database_url: str, tmp_path: Path, fake_arxiv: FakeArxiv) -> Settings:
    return make_settings(database_url, tmp_path / "data", fake_arxiv, auth="password")


def _build(factory: sessionmaker[Session], settings: Settings) -> None:
    reports = ingest.ingest_files(factory, [AI_TUE, AI_HOLIDAY, AI_MON, LG_FRI])
    assert not any(r.failed for r in reports), [r.line() for r in reports]
    for name in MEMBERS:
        accounts.add_member(factory, name, PASSWORD, admin=False, now=utcnow())


@pytest.fixture
def stocked(stock: Stock) -> sessionmaker[Session]:
    return stock("ai days, lg day, two members", _build)


def login(client: TestClient, name: str) -> None:
    answer = client.post(urls.login(), data={"username": name, "password": PASSWORD})
    assert answer.status_code == 303, answer.text


@pytest.fixture
def alice(settings: Settings, engine: Engine, stocked: object) -> Iterator[TestClient]:
    with TestClient(create_app(settings), follow_redirects=False) as c:
        login(c, "alice")
        yield c


@pytest.fixture
def bob(settings: Settings, engine: Engine, stocked: object) -> Iterator[TestClient]:
    with TestClient(create_app(settings), follow_redirects=False) as c:
        login(c, "bob")
        yield c


def listed(factory: sessionmaker[Session], spec: str, day: date) -> list[str]:
    """The ids of the spec's day page (new + cross, arXiv's order), as /arxiv/{spec} lists them."""
    with session_scope(factory) as s:
        filt = store.SpecFilter(frozenset({spec}), frozenset())
        page = store.day_listing(s, filt, day, replacements=False, show=5000, skip=0)
    return [p.id for p, _ in page.papers]


def mark(client: TestClient, ids: list[str]) -> int:
    answer = client.post(urls.api_seen(), json={"ids": ids})
    assert answer.status_code == 200, answer.text
    n: int = answer.json()["seen"]
    return n


def seen(client: TestClient, ids: list[str]) -> list[str]:
    answer = client.get(urls.api_seen(), params={"ids": ",".join(ids)})
    assert answer.status_code == 200, answer.text
    found: list[str] = answer.json()["seen"]
    return found


def unread(client: TestClient, spec: str, **params: object) -> dict[str, Any]:
    answer = client.get(f"/api/unread/{spec}", params=params)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def unread_ids(client: TestClient, spec: str) -> list[str]:
    papers = unread(client, spec, show=1000)["papers"]
    return [p["id"] for p in papers]


# ---------------------------------------------------------------- the API and who may use it


def test_mark_read_unmark_idempotent(alice: TestClient, stocked: sessionmaker[Session]) -> None:
    ids = listed(stocked, "cs.AI", TUE)[:5]
    assert seen(alice, ids) == []
    assert mark(alice, ids[:3]) == 3
    assert seen(alice, ids) == ids[:3]
    first = seen_times(stocked, "alice")
    assert set(first) == set(ids[:3])
    assert mark(alice, ids[:3]) == 3  # again: nothing changes, the first time is kept
    assert seen_times(stocked, "alice") == first
    # versions, prefixes and repeats are the same paper
    assert mark(alice, [f"arXiv:{ids[3]}v2", ids[3], ids[4]]) == 2
    assert seen(alice, ids) == ids
    gone = alice.request("DELETE", urls.api_seen(), json={"ids": ids[:2]})
    assert gone.status_code == 200 and gone.json() == {"unseen": 2}
    assert seen(alice, ids) == ids[2:]
    again = alice.request("DELETE", urls.api_seen(), json={"ids": ids[:2]})
    assert again.json() == {"unseen": 2} and seen(alice, ids) == ids[2:]


def seen_times(factory: sessionmaker[Session], name: str) -> dict[str, datetime]:
    with session_scope(factory) as s:
        found = store.user_by_name(s, name)
        assert found is not None
        query = select(Seen.paper_id, Seen.seen_at).where(Seen.user_id == found[0].id)
        return {str(row.paper_id): row.seen_at for row in s.execute(query)}


def test_unknown_papers_are_ignored(alice: TestClient, stocked: sessionmaker[Session]) -> None:
    [known] = listed(stocked, "cs.AI", TUE)[:1]
    assert mark(alice, ["2501.99999", known]) == 1  # a well-formed id of no stored paper
    assert seen(alice, ["2501.99999", known]) == [known]
    gone = alice.request("DELETE", urls.api_seen(), json={"ids": ["2501.99999"]})
    assert gone.status_code == 200 and gone.json() == {"unseen": 0}


@pytest.mark.parametrize(
    "body",
    [
        {"ids": []},
        {"ids": ["not an id"]},
        {"ids": ["2401.00001"] * 501},
        {"ids": "2401.00001"},
        {"ids": [2401.00001]},
        {"ids": ["2401.00001"], "user_id": 2},
        {"ids": ["2401." + "1" * 80]},
        [],
    ],
)
def test_bad_bodies_are_400(alice: TestClient, body: object) -> None:
    for method in ("POST", "DELETE"):
        answer = alice.request(method, urls.api_seen(), json=body)
        assert answer.status_code == 400, (method, body, answer.text)
        assert answer.json()["status"] == 400


def test_bad_queries_and_big_bodies(alice: TestClient) -> None:
    for query in ("", "nope", ",".join(["2401.00001"] * 501)):
        answer = alice.get(urls.api_seen(), params={"ids": query})
        assert answer.status_code == 400, query
    assert alice.get(urls.api_seen()).status_code == 400  # ids is required
    big = b'{"ids": ["' + b"x" * 70_000 + b'"]}'
    answer = alice.post(urls.api_seen(), content=big, headers={"content-type": "application/json"})
    assert answer.status_code == 413
    assert alice.post(urls.api_seen(), content=b"{", headers={}).status_code == 400
    assert alice.get("/api/unread/cs.AI", params={"show": "0"}).status_code == 400
    assert alice.get("/api/unread/-cs.AI").status_code == 400
    assert alice.get("/api/unread/no.such").status_code == 404
    assert alice.get(urls.unread("no.such")).status_code == 404


def test_members_only(
    settings: Settings, engine: Engine, stocked: sessionmaker[Session], alice: TestClient
) -> None:
    ids = listed(stocked, "cs.AI", TUE)[:2]
    with TestClient(create_app(settings), follow_redirects=False) as anonymous:
        for method, kwargs in (
            ("GET", {"params": {"ids": ",".join(ids)}}),
            ("POST", {"json": {"ids": ids}}),
            ("DELETE", {"json": {"ids": ids}}),
        ):
            answer = anonymous.request(method, urls.api_seen(), **kwargs)
            assert answer.status_code == 401, method
        assert anonymous.get("/api/unread/cs.AI").status_code == 401
        page = anonymous.get(urls.unread("cs.AI"))  # a page: to the login form, then back
        assert page.status_code == 303
        assert page.headers["location"] == urls.login(urls.unread("cs.AI"))
    # a site without accounts has no seen state at all
    plain = settings.model_copy(update={"auth": "none"})
    with TestClient(create_app(plain), follow_redirects=False) as nobody:
        assert nobody.get(urls.api_seen(), params={"ids": ids[0]}).status_code == 404
        assert nobody.post(urls.api_seen(), json={"ids": ids}).status_code == 404
        assert nobody.request("DELETE", urls.api_seen(), json={"ids": ids}).status_code == 404
        assert nobody.get(urls.unread("cs.AI")).status_code == 404
    # another site's page cannot mark for a member (the app-wide cross-site guard)
    refused = alice.post(
        urls.api_seen(), json={"ids": ids}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert refused.status_code == 403
    assert seen(alice, ids) == []


def test_each_member_has_their_own(
    alice: TestClient, bob: TestClient, stocked: sessionmaker[Session]
) -> None:
    ids = listed(stocked, "cs.AI", TUE)[:4]
    mark(alice, ids[:2])
    mark(bob, ids[2:])
    assert seen(alice, ids) == ids[:2]
    assert seen(bob, ids) == ids[2:]
    bob.request("DELETE", urls.api_seen(), json={"ids": ids})
    assert seen(alice, ids) == ids[:2]


# ---------------------------------------------------------------- across lists, above, unread


def test_seen_in_one_list_is_seen_in_an_overlapping_one(
    alice: TestClient, stocked: sessionmaker[Session]
) -> None:
    lg, ai = listed(stocked, "cs.LG", LG_DAY), listed(stocked, "cs.AI", LG_DAY)
    both = [i for i in lg if i in ai]  # cs.LG papers cross-listed to cs.AI (or the reverse)
    assert len(both) >= 3
    before = unread_ids(alice, "cs.AI")
    assert set(both) <= set(before)
    mark(alice, both[:3])  # read on the cs.LG page
    after = unread_ids(alice, "cs.AI")
    assert after == [i for i in before if i not in both[:3]]
    assert seen(alice, ai) == [i for i in ai if i in both[:3]]
    # and the other way: read in cs.AI, gone from cs.LG's unread
    lg_before = unread_ids(alice, "cs.LG")
    mark(alice, [both[3]])
    assert unread_ids(alice, "cs.LG") == [i for i in lg_before if i != both[3]]


def test_mark_all_above_marks_the_cards_up_to_this_one(
    alice: TestClient, stocked: sessionmaker[Session]
) -> None:
    """What seen.js sends for "Mark all above as read" on the 7th card: the ids of the page's
    first seven cards, in the page's order. Those, and only those, are seen."""
    page = alice.get(urls.day_list("cs.LG")).text
    cards = listed(stocked, "cs.LG", LG_DAY)
    for paper_id in cards[:8]:
        assert f'id="{paper_id}"' in page
    assert mark(alice, cards[:7]) == 7
    assert seen(alice, cards[:8]) == cards[:7]
    friday = unread(alice, "cs.LG", show=1000)["papers"]
    assert [p["id"] for p in friday if p["date"] == LG_DAY.isoformat()] == cards[7:]


def test_missed_days_carry_over(alice: TestClient, stocked: sessionmaker[Session]) -> None:
    """Away from Tuesday to Monday (a holiday whose feed repeated Tuesday's, then a weekend):
    the unread list of cs.AI is Tuesday's page, then Monday's, minus what was seen."""
    tue, mon = listed(stocked, "cs.AI", TUE), listed(stocked, "cs.AI", MON)
    assert tue and mon
    with session_scope(stocked) as s:
        filt = store.SpecFilter(frozenset({"cs.AI"}), frozenset())
        days = store.recent_days(s, filt)
        # the holiday (its feed repeated Tuesday's) and the weekend are no announcement days;
        # cs.LG's Friday is one of cs.AI's too (its cross-lists)
        assert days == [TUE, MON, LG_DAY]
        assert store.recent_days(s, filt, 2) == [MON, LG_DAY]
    expected = list(dict.fromkeys(tue + mon))  # a paper listed on both counts on Tuesday
    data = unread(alice, "cs.AI", show=1000)
    papers = data["papers"]
    assert [p["id"] for p in papers if p["date"] in (TUE.isoformat(), MON.isoformat())] == expected
    assert data["since"] == min(d["date"] for d in data["days"])
    counts = {d["date"]: d["count"] for d in data["days"]}
    assert counts[TUE.isoformat()] == len(tue)
    assert counts[MON.isoformat()] == len([i for i in mon if i not in tue])
    assert data["total"] == sum(counts.values())
    # the page: a heading per day, oldest first, the cards as the list pages make them
    page = alice.get(urls.unread("cs.AI"), params={"show": 1000})
    assert page.status_code == 200 and "no-store" in page.headers["cache-control"]
    html = page.text
    assert html.index('id="day-2024-12-31"') < html.index('id="day-2025-01-06"')
    assert html.index('id="day-2025-01-06"') < html.index(f'id="{mon[-1]}"')
    assert 'class="panel paper' in html and 'id="bar"' in html
    # Tuesday read: Monday's papers are what is left of those two days
    mark(alice, tue)
    left = unread(alice, "cs.AI", show=1000)
    assert [p["id"] for p in left["papers"] if p["date"] != LG_DAY.isoformat()] == [
        i for i in mon if i not in tue
    ]
    assert TUE.isoformat() not in [d["date"] for d in left["days"]]
    assert 'id="day-2024-12-31"' not in alice.get(urls.unread("cs.AI")).text


def test_unread_page_slices(alice: TestClient, stocked: sessionmaker[Session]) -> None:
    everything = unread_ids(alice, "cs.AI")
    first = unread(alice, "cs.AI", show=10)
    second = unread(alice, "cs.AI", show=10, skip=10)
    assert [p["id"] for p in first["papers"]] == everything[:10]
    assert [p["id"] for p in second["papers"]] == everything[10:20]
    assert first["total"] == second["total"] == len(everything)
    html = alice.get(urls.unread("cs.AI"), params={"show": 5}).text
    assert html.count('class="panel paper') == 5
    assert 'class="unread-more"' in html and 'name="show" value="105"' in html


def test_nothing_unread(alice: TestClient, stocked: sessionmaker[Session]) -> None:
    mark(alice, unread_ids(alice, "cs.CV"))  # cs.CV: only what other feeds cross-listed
    data = unread(alice, "cs.CV")
    assert data["total"] == 0 and data["since"] is None and data["papers"] == []
    assert "Nothing unread" in alice.get(urls.unread("cs.CV")).text
