"""What the lab is reading, on SQLite and Postgres: ``GET /api/lab/stars`` (counts and names in
the order of starring, members only, a disabled member's stars kept), ``/lab`` (the last 7 or
30 days, most starred first, ties by the most recent star, with who and when; paged and lazily
loaded), ``/lab/feed`` (Atom), and ``sort=lab`` on a day's list and its JSON twin.

Members log in through the real ``/login`` form; their password hashes are argon2id with the
smallest parameters (verifying one costs what its own parameters say: microseconds). Stars are
rows put in the table with explicit times, relative to now: nothing waits."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import feedparser
import pytest
from argon2 import PasswordHasher, Type
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import ingest, store
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.models import Star, utcnow
from coolpapers.web import create_app
from coolpapers.web.lab import MAX_IDS
from tests.conftest import RSS, Stock, make_settings
from tests.fakes.arxiv_server import FakeArxiv
from tests.test_fragments import fragment_url, get_ok, parse

LG = RSS / "rss-cs.LG-2026-08-21-fri.xml"
LG_DAY = "2026-08-21"
PASSWORD = "correct horse battery"
CHEAP_HASH = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1, type=Type.ID).hash(PASSWORD)
MEMBERS = ("alice", "bob", "carol", "dave", "erin")


@pytest.fixture
def settings(database_url: str, tmp_path: Path, fake_arxiv: FakeArxiv) -> Settings:
    """A lab's instance: password logins, papers public (PUBLIC_READ's default)."""
    return make_settings(database_url, tmp_path / "data", fake_arxiv, auth="password")


def _build(factory: sessionmaker[Session], settings: Settings) -> None:
    [report] = ingest.ingest_files(factory, [LG])
    assert not report.failed, report.line()
    with session_scope(factory, write=True) as s:
        for name in MEMBERS:
            store.add_user(s, name, CHEAP_HASH, is_admin=False, now=utcnow())


@pytest.fixture
def lab(stock: Stock) -> sessionmaker[Session]:
    """The cs.LG day of 2026-08-21 (127 papers) and five members: built once per worker."""
    return stock("lg + members", _build)


@pytest.fixture
def day_ids(client: TestClient, lab: object) -> list[str]:
    """The day's papers in arXiv's order."""
    r = client.get("/api/arxiv/cs.LG", params={"date": LG_DAY, "show": 1000})
    assert r.status_code == 200, r.text
    ids = [p["id"] for p in r.json()["papers"]]
    assert len(ids) == 127
    return ids


def login(client: TestClient, name: str) -> None:
    r = client.post("/login", data={"username": name, "password": PASSWORD})
    assert r.status_code == 303, r.text[:300]


def star(factory: sessionmaker[Session], name: str, paper_id: str, at: datetime) -> None:
    with session_scope(factory, write=True) as s:
        found = store.user_by_name(s, name)
        assert found is not None
        s.add(Star(user_id=found[0].id, paper_id=paper_id, starred_at=at))


@pytest.fixture
def anonymous(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings), follow_redirects=False) as c:
        yield c


@pytest.fixture
def no_accounts(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """The same database on a site without accounts (COOLPAPERS_AUTH=none)."""
    plain = settings.model_copy(update={"auth": "none"})
    with TestClient(create_app(plain), follow_redirects=False) as c:
        yield c


# ---------------------------------------------------------------------------- /api/lab/stars


def test_lab_stars_api_counts_and_names_in_order(
    client: TestClient, lab: sessionmaker[Session], day_ids: list[str]
) -> None:
    a, b, c, unstarred = day_ids[:4]
    now = utcnow()
    star(lab, "carol", a, now - timedelta(hours=5))
    star(lab, "alice", a, now - timedelta(hours=3))
    star(lab, "bob", a, now - timedelta(hours=1))
    star(lab, "dave", b, now - timedelta(days=40))  # old stars count as much as new ones
    star(lab, "erin", b, now - timedelta(days=2))
    star(lab, "bob", c, now - timedelta(minutes=1))
    # dave leaves the lab: disabled, never deleted; his star stays the lab's history
    with session_scope(lab, write=True) as s:
        store.set_disabled(s, "dave", now)

    login(client, "alice")
    # versions are dropped, repeats counted once, papers nobody starred and unknown ids left out
    ids = f"{a}v2,{b},{c},{unstarred},{a},2601.99999"
    r = client.get("/api/lab/stars", params={"ids": ids})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "papers": {
            a: {"count": 3, "members": ["carol", "alice", "bob"]},
            b: {"count": 2, "members": ["dave", "erin"]},
            c: {"count": 1, "members": ["bob"]},
        }
    }
    # the largest request there may be
    full = client.get("/api/lab/stars", params={"ids": ",".join(day_ids[:MAX_IDS])})
    assert full.status_code == 200 and set(full.json()["papers"]) == {a, b, c}


def test_lab_stars_api_refusals(
    client: TestClient,
    anonymous: TestClient,
    no_accounts: TestClient,
    lab: sessionmaker[Session],
    day_ids: list[str],
) -> None:
    star(lab, "alice", day_ids[0], utcnow())
    ids = {"ids": day_ids[0]}
    # names are the members': not for anonymous readers, even with the papers public
    r = anonymous.get("/api/lab/stars", params=ids)
    assert r.status_code == 401 and r.json()["status"] == 401
    assert "alice" not in r.text
    # a site without accounts has no lab
    assert no_accounts.get("/api/lab/stars", params=ids).status_code == 404

    login(client, "bob")
    many = [f"2608.{n:05d}" for n in range(1, MAX_IDS + 2)]
    for bad in ({"ids": ",".join(many)}, {"ids": "not-an-id"}, {"ids": " , "}, {}):
        r = client.get("/api/lab/stars", params=bad)
        assert r.status_code == 400, (bad, r.status_code, r.text[:200])
        assert r.headers["content-type"].startswith("application/json")
    assert str(MAX_IDS) in client.get("/api/lab/stars", params={"ids": ",".join(many)}).text


# ----------------------------------------------------------------------------------- /lab

WHO_RE = re.compile(
    r'<p id="lab-stars-([^"]+)" class="metainfo lab-stars lab-window"[^>]*>(.*?)</p>'
)
MEMBER_RE = re.compile(r'<span class="lab-member">([^<]*)</span> <time datetime="([^"]+)"')


def who(text: str) -> dict[str, list[tuple[str, str]]]:
    """Each /lab card's line: (member, when) in the line's order."""
    return {pid: MEMBER_RE.findall(line) for pid, line in WHO_RE.findall(text)}


@pytest.fixture
def week(lab: sessionmaker[Session], day_ids: list[str]) -> dict[str, str]:
    """Stars at explicit times around the 7- and 30-day edges (far from them: no clock race)."""
    a, b, c, d, e = day_ids[10:15]
    now = utcnow()
    plan = [
        (a, "alice", timedelta(days=3)),
        (a, "bob", timedelta(days=2)),
        (b, "alice", timedelta(days=6)),
        (b, "carol", timedelta(hours=5)),  # b ties a on 2, with the more recent star: first
        (c, "alice", timedelta(hours=1)),
        (c, "bob", timedelta(days=10)),  # this month, not this week
        (c, "carol", timedelta(days=9)),
        (c, "dave", timedelta(days=20)),
        (d, "bob", timedelta(days=8)),  # this month only
        (e, "erin", timedelta(days=45)),  # neither
    ]
    for paper_id, name, ago in plan:
        star(lab, name, paper_id, now - ago)
    return {"a": a, "b": b, "c": c, "d": d, "e": e}


def test_lab_page_the_week_most_starred_first(client: TestClient, week: dict[str, str]) -> None:
    a, b, c, d = week["a"], week["b"], week["c"], week["d"]
    login(client, "dave")
    text = get_ok(client, "/lab")
    page = parse(text)
    assert page.ids == [b, a, c]
    assert page.indexes == [1, 2, 3]
    assert page.stars == page.ids  # normal cards: the star button, the counters
    assert '<span class="total">3</span>' in text
    lines = who(text)
    assert [m for m, _ in lines[b]] == ["alice", "carol"]  # in the order they starred
    assert [m for m, _ in lines[a]] == ["alice", "bob"]
    assert [m for m, _ in lines[c]] == ["alice"]  # only the week's stars
    when = datetime.fromisoformat(lines[c][0][1])
    assert abs(utcnow() - timedelta(hours=1) - when) < timedelta(minutes=5)
    assert 'data-count="2"' in text
    assert page.sort_links["week"].get("aria-current") == "true"
    assert page.sort_links["month"]["href"] == "/lab?range=month"
    assert 'href="/lab/feed"' in text

    month = parse(get_ok(client, "/lab?range=month"))
    assert month.ids == [c, b, a, d]
    assert month.sort_links["month"].get("aria-current") == "true"
    assert [m for m, _ in who(get_ok(client, "/lab?range=month"))[c]] == [
        "dave",
        "bob",
        "carol",
        "alice",
    ]
    assert client.get("/lab?range=year").status_code == 400


def test_lab_page_a_slice_at_a_time(client: TestClient, week: dict[str, str]) -> None:
    login(client, "erin")
    first = parse(get_ok(client, "/lab?range=month&show=3"))
    assert first.ids == [week["c"], week["b"], week["a"]]
    assert first.more_links == ["/lab?range=month&skip=3&show=3"]
    rest = parse(get_ok(client, fragment_url(first.more_links[0])))
    assert rest.ids == [week["d"]] and rest.indexes == [4]
    assert rest.more is None and rest.fragments[0]["data-total"] == "4"
    assert "html" not in rest.tags and who(get_ok(client, fragment_url(first.more_links[0])))


def test_lab_page_empty(client: TestClient, lab: object) -> None:
    login(client, "alice")
    text = get_ok(client, "/lab")
    assert "empty-lab" in text and parse(text).ids == []


def test_lab_page_and_feed_are_for_members(
    anonymous: TestClient, no_accounts: TestClient, week: dict[str, str]
) -> None:
    for path in ("/lab", "/lab/feed", "/lab?range=month"):
        r = anonymous.get(path)
        assert r.status_code == 303, (path, r.status_code)
        assert r.headers["location"].startswith("/login?next=%2Flab")
        assert no_accounts.get(path).status_code == 404


def test_lab_feed_is_atom(client: TestClient, week: dict[str, str]) -> None:
    login(client, "bob")
    r = client.get("/lab/feed")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/atom+xml")
    ET.fromstring(r.content)  # strict XML
    parsed = feedparser.parse(r.content)
    assert not parsed.bozo, parsed.bozo_exception
    ids = [entry.link.rsplit("/arxiv/", 1)[1] for entry in parsed.entries]
    assert ids == [week["b"], week["a"], week["c"]]
    assert parsed.feed.link.endswith("/lab")
    # the feed's time is the week's newest star (c's, an hour ago)
    updated = datetime.fromisoformat(parsed.feed.updated)
    assert abs(utcnow() - timedelta(hours=1) - updated) < timedelta(minutes=5)


# -------------------------------------------------------------------------------- sort=lab


def test_sort_lab_orders_the_day_by_the_lab_stars(
    client: TestClient,
    anonymous: TestClient,
    lab: sessionmaker[Session],
    day_ids: list[str],
) -> None:
    x, y, z = day_ids[100], day_ids[5], day_ids[60]  # a cross-list, a new, a new
    now = utcnow()
    for name in ("alice", "bob", "carol"):
        star(lab, name, x, now - timedelta(days=100))  # any time: the lab's whole history
    star(lab, "dave", y, now)
    star(lab, "alice", z, now)
    star(lab, "erin", z, now)
    with session_scope(lab, write=True) as s:
        store.set_disabled(s, "carol", now)  # still counts
    expected = [x, z, y] + [i for i in day_ids if i not in (x, y, z)]

    login(client, "alice")
    r = client.get("/api/arxiv/cs.LG", params={"date": LG_DAY, "show": 1000, "sort": "lab"})
    assert r.status_code == 200 and r.json()["sort"] == "lab"
    assert [p["id"] for p in r.json()["papers"]] == expected
    assert r.json()["total"] == 127

    # the page, its "more" link and lazy loading's fragments keep the order
    page = parse(get_ok(client, f"/arxiv/cs.LG?date={LG_DAY}&sort=lab"))
    assert page.ids == expected[:25]
    assert page.more_links == [f"/arxiv/cs.LG?date={LG_DAY}&skip=25&show=25&sort=lab"]
    assert parse(get_ok(client, fragment_url(page.more_links[0]))).ids == expected[25:50]
    assert page.sort_links["lab"].get("aria-current") == "true"
    assert page.sort_links["lab"]["href"] == f"/arxiv/cs.LG?date={LG_DAY}&sort=lab"
    plain = parse(get_ok(client, "/arxiv/cs.LG")).sort_links
    assert plain["lab"]["href"] == "/arxiv/cs.LG?sort=lab" and "aria-current" not in plain["lab"]

    # counts are not names: an anonymous reader of a public lab gets the same order
    r = anonymous.get("/api/arxiv/cs.LG", params={"date": LG_DAY, "show": 1000, "sort": "lab"})
    assert [p["id"] for p in r.json()["papers"]] == expected
    # search has no lab order
    assert client.get("/api/search", params={"query": "learning", "sort": "lab"}).status_code == 400


def test_no_lab_sort_button_without_accounts(no_accounts: TestClient, lab: object) -> None:
    links = parse(get_ok(no_accounts, "/arxiv/cs.LG")).sort_links
    assert "lab" not in links and {"default", "clicks", "time"} <= set(links)
