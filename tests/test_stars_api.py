"""A member's stars on the server (store.stars, web.stars): the JSON contract, idempotency, the
first time kept, two tabs toggling at once (threads over real HTTP, no lost write, no 500),
members only (401 anonymous, 404 without accounts), one member never seeing another's, the
import of a browser's stars, and the /stars page saying where the stars are kept. SQLite and
Postgres."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher, Type
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import accounts, ingest, store
from coolpapers.accounts import passwords
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.models import Paper, Star, utcnow
from coolpapers.web import create_app, urls
from coolpapers.web.stars import MAX_IMPORT, MAX_IMPORT_BYTES
from tests.conftest import RSS, Stock
from tests.live_server import serve

LG = RSS / "rss-cs.LG-2026-08-21-fri.xml"
PASSWORD = "correct horse battery"
UNKNOWN = "2608.99999"  # a well-formed id that no feed of the day has


@pytest.fixture
def fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with the smallest parameters: the same code, a fraction of the time."""
    fast = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1, type=Type.ID)
    monkeypatch.setattr(passwords, "hasher", lambda: fast)
    monkeypatch.setattr(passwords, "_dummy_hash", lambda: fast.hash("nobody's"))


def _ingest_lg(factory: sessionmaker[Session], settings: Settings) -> None:
    [report] = ingest.ingest_files(factory, [LG])
    assert not report.failed


@dataclass
class Lab:
    settings: Settings
    factory: sessionmaker[Session]
    ids: list[str]  # stored papers, in id order

    def client(self, name: str | None = None) -> TestClient:
        """A client of a new app (use it in a ``with``), logged in as ``name`` if given."""
        client = TestClient(create_app(self.settings), follow_redirects=False)
        if name is not None:
            client.__enter__()
            response = client.post("/login", data={"username": name, "password": PASSWORD})
            assert response.status_code == 303, response.text[:300]
        return client

    def stars(self, user: str) -> dict[str, datetime]:
        """What the database holds for ``user``: paper id -> starred_at (UTC)."""
        with session_scope(self.factory) as s:
            member = store.user_by_name(s, user)
            assert member is not None
            return dict(store.star_times(s, member[0].id))


@pytest.fixture
def lab(settings: Settings, stock: Stock, fast_hashes: None) -> Lab:
    factory = stock("cs.LG day", _ingest_lg)
    for name in ("alice", "bob"):
        accounts.add_member(factory, name, PASSWORD, admin=False, now=utcnow())
    with session_scope(factory) as s:
        ids = list(s.scalars(select(Paper.id).order_by(Paper.id).limit(40)))
    assert len(ids) == 40
    return Lab(settings.model_copy(update={"auth": "password"}), factory, ids)


@pytest.fixture
def alice(lab: Lab) -> Iterator[TestClient]:
    client = lab.client("alice")
    yield client
    client.__exit__(None, None, None)


@pytest.fixture
def bob(lab: Lab) -> Iterator[TestClient]:
    client = lab.client("bob")
    yield client
    client.__exit__(None, None, None)


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


# ----------------------------------------------------------------------------- the contract


def test_star_unstar_and_the_list(lab: Lab, alice: TestClient) -> None:
    first, second = lab.ids[3], lab.ids[7]
    assert alice.get("/api/stars").json() == {"papers": []}

    before = utcnow()
    put = alice.put(f"/api/stars/{first}")
    assert put.status_code == 200, put.text
    body = put.json()
    assert set(body) == {"id", "starred", "starred_at"}
    assert body["id"] == first and body["starred"] is True
    starred_at = when(body["starred_at"])
    assert starred_at.tzinfo is not None and before <= starred_at <= utcnow()

    # again (another tab, a retry): the same star, its first time kept
    again = alice.put(f"/api/stars/{first}")
    assert again.status_code == 200 and again.json() == body
    assert lab.stars("alice") == {first: starred_at}

    alice.put(f"/api/stars/{second}v1")  # a version names the paper
    listed = alice.get("/api/stars")
    assert listed.status_code == 200
    assert listed.headers["content-type"] == "application/json"
    assert "no-store" in listed.headers["cache-control"]  # a member's own: never cached
    papers = listed.json()["papers"]
    assert [p["id"] for p in papers] == [second, first]  # newest first
    assert when(papers[1]["starred_at"]) == starred_at
    paper = alice.get(f"/api/papers/{first}").json()
    shown = dict(papers[1])
    del shown["starred_at"]
    assert shown == paper  # each a Paper, as /api/papers/{id} shows it
    assert list(papers[1])[0] == "id"

    brief = alice.get("/api/stars?brief=1").json()["papers"]
    assert brief == [
        {"id": p["id"], "title": p["title"], "starred_at": p["starred_at"]} for p in papers
    ]

    gone = alice.delete(f"/api/stars/{first}")
    assert gone.status_code == 200 and gone.json() == {"id": first, "starred": False}
    again_gone = alice.delete(f"/api/stars/{first}")  # idempotent
    assert again_gone.status_code == 200 and again_gone.json() == gone.json()
    assert [p["id"] for p in alice.get("/api/stars").json()["papers"]] == [second]

    # starred again after un-starring: a new star, a new time
    assert when(alice.put(f"/api/stars/{first}").json()["starred_at"]) > starred_at


def test_newest_first_by_the_time_of_the_star(lab: Lab, alice: TestClient) -> None:
    start = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
    order = [lab.ids[5], lab.ids[1], lab.ids[9]]
    with session_scope(lab.factory, write=True) as s:
        member = store.user_by_name(s, "alice")
        assert member is not None
        for n, paper_id in enumerate(order):
            store.star(s, member[0].id, paper_id, start + timedelta(minutes=n))
    papers = alice.get("/api/stars").json()["papers"]
    assert [p["id"] for p in papers] == order[::-1]
    assert [when(p["starred_at"]) for p in papers] == [
        start + timedelta(minutes=n) for n in (2, 1, 0)
    ]


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_a_paper_not_stored_is_404_and_a_bad_id_400(
    lab: Lab, alice: TestClient, method: str
) -> None:
    missing = alice.request(method, f"/api/stars/{UNKNOWN}")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/json"
    assert UNKNOWN in missing.json()["error"]
    bad = alice.request(method, "/api/stars/not-an-id")
    assert bad.status_code == 400 and bad.json()["error"]
    assert lab.stars("alice") == {}


# ----------------------------------------------------------------------------- who may


def _every_route(client: TestClient, paper_id: str) -> list[httpx.Response]:
    return [
        client.get("/api/stars"),
        client.put(f"/api/stars/{paper_id}"),
        client.delete(f"/api/stars/{paper_id}"),
        client.post("/api/stars/import", json={"stars": [{"id": paper_id, "at": None}]}),
    ]


def test_anonymous_visitors_get_401(lab: Lab) -> None:
    with lab.client() as anonymous:
        for response in _every_route(anonymous, lab.ids[0]):
            assert response.status_code == 401, response.request.method
            assert response.json()["error"]
    assert lab.stars("alice") == lab.stars("bob") == {}


def test_without_accounts_the_routes_are_404(settings: Settings, stock: Stock) -> None:
    factory = stock("cs.LG day", _ingest_lg)
    with session_scope(factory) as s:
        paper_id = s.scalars(select(Paper.id).limit(1)).one()
    assert settings.auth == "none"
    with TestClient(create_app(settings)) as client:
        for response in _every_route(client, paper_id):
            assert response.status_code == 404, response.request.method
            assert "COOLPAPERS_AUTH=none" in response.json()["error"]
    with session_scope(factory) as s:
        assert s.scalars(select(Star)).first() is None


def test_a_member_never_sees_nor_changes_another_members_stars(
    lab: Lab, alice: TestClient, bob: TestClient
) -> None:
    mine, theirs, shared = lab.ids[0], lab.ids[1], lab.ids[2]
    alice.put(f"/api/stars/{mine}")
    alice.put(f"/api/stars/{shared}")
    bob.put(f"/api/stars/{theirs}")
    bob.put(f"/api/stars/{shared}")
    assert {p["id"] for p in alice.get("/api/stars").json()["papers"]} == {mine, shared}
    assert {p["id"] for p in bob.get("/api/stars").json()["papers"]} == {theirs, shared}
    # bob un-stars what alice starred: his own star (none, or his) only
    bob.delete(f"/api/stars/{mine}")
    bob.delete(f"/api/stars/{shared}")
    assert set(lab.stars("alice")) == {mine, shared}
    assert set(lab.stars("bob")) == {theirs}
    # no parameter names another member's list
    assert {p["id"] for p in bob.get("/api/stars?user=alice").json()["papers"]} == {theirs}


def test_logged_out_the_stars_are_closed(lab: Lab, alice: TestClient) -> None:
    alice.put(f"/api/stars/{lab.ids[0]}")
    assert alice.post("/logout").status_code == 303
    assert alice.get("/api/stars").status_code == 401
    assert alice.put(f"/api/stars/{lab.ids[1]}").status_code == 401
    assert set(lab.stars("alice")) == {lab.ids[0]}


def test_cross_site_writes_are_refused(lab: Lab, alice: TestClient) -> None:
    evil = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    assert alice.put(f"/api/stars/{lab.ids[0]}", headers=evil).status_code == 403
    assert alice.delete(f"/api/stars/{lab.ids[0]}", headers=evil).status_code == 403
    imported = alice.post("/api/stars/import", json={"stars": []}, headers=evil)
    assert imported.status_code == 403
    assert lab.stars("alice") == {}


# ----------------------------------------------------------------------------- import


def test_import_keeps_the_earlier_time_and_names_what_it_skipped(
    lab: Lab, alice: TestClient
) -> None:
    both, new, timeless, future = lab.ids[10], lab.ids[11], lab.ids[12], lab.ids[13]
    server_time = when(alice.put(f"/api/stars/{both}").json()["starred_at"])
    earlier = datetime(2026, 8, 30, 9, 15, tzinfo=UTC)
    before = utcnow()
    body = {
        "stars": [
            {"id": both, "at": earlier.isoformat()},
            {"id": new, "at": "2026-08-31T10:00:00.000Z"},
            {"id": new, "at": "2026-08-31T12:00:00Z"},  # twice: the earlier counts
            {"id": timeless, "at": None},
            {"id": future, "at": "2999-01-01T00:00:00Z"},
            {"id": UNKNOWN, "at": "2026-08-31T10:00:00Z"},
            {"id": "<b>not an id</b>", "at": None},
            {"id": f"arXiv:{lab.ids[14]}v1", "title": "ignored", "page": "/x"},
        ]
    }
    response = alice.post("/api/stars/import", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "imported": 5,
        "added": 4,
        "skipped": ["<b>not an id</b>", UNKNOWN],
    }
    stars = lab.stars("alice")
    assert set(stars) == {both, new, timeless, future, lab.ids[14]}
    assert stars[both] == earlier < server_time  # the browser's was earlier: it wins
    assert stars[new] == datetime(2026, 8, 31, 10, 0, tzinfo=UTC)
    assert before <= stars[timeless] <= utcnow()  # unknown time: now
    assert before <= stars[future] <= utcnow()  # no star from the future

    # the same import again: nothing new, no time moves later
    again = alice.post("/api/stars/import", json=body).json()
    assert again["imported"] == 5 and again["added"] == 0
    assert lab.stars("alice") == stars
    # a later time from another browser does not move a star later either
    later = {"stars": [{"id": both, "at": "2026-09-01T00:00:00Z"}]}
    assert alice.post("/api/stars/import", json=later).json()["added"] == 0
    assert lab.stars("alice")[both] == earlier


@pytest.mark.parametrize(
    ("make_body", "status"),
    [
        (lambda ids: {"stars": [{"id": ids[0]}] * (MAX_IMPORT + 1)}, 400),
        (lambda ids: {"stars": [{"id": "x" * 301}]}, 400),
        (lambda ids: {"stars": [{"id": ids[0], "at": "yesterday"}]}, 400),
        (lambda ids: {"stars": {"id": ids[0]}}, 400),
        (lambda ids: {"ids": [ids[0]]}, 400),
        (lambda ids: [ids[0]], 400),
        (lambda ids: b"{not json", 400),
        (lambda ids: b" " * (MAX_IMPORT_BYTES + 1), 413),
    ],
    ids=["too-many", "long-id", "bad-time", "not-a-list", "no-stars", "a-list", "junk", "huge"],
)
def test_a_bad_import_is_refused_whole(
    lab: Lab, alice: TestClient, make_body: Callable[[list[str]], Any], status: int
) -> None:
    body = make_body(lab.ids)
    if isinstance(body, bytes):
        response = alice.post(
            "/api/stars/import", content=body, headers={"Content-Type": "application/json"}
        )
    else:
        response = alice.post("/api/stars/import", json=body)
    assert response.status_code == status, response.text[:300]
    assert response.json()["error"]
    assert lab.stars("alice") == {}


def test_an_import_at_the_cap_is_fine(lab: Lab, alice: TestClient) -> None:
    stars = [{"id": lab.ids[n % len(lab.ids)], "at": None} for n in range(MAX_IMPORT)]
    response = alice.post("/api/stars/import", json={"stars": stars})
    assert response.status_code == 200
    assert response.json() == {"imported": len(lab.ids), "added": len(lab.ids), "skipped": []}


# ----------------------------------------------------------------------------- two tabs at once


@dataclass
class Tabs:
    """Several tabs (HTTP clients) of one logged-in member against a live server."""

    base_url: str
    cookie: str

    def tab(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url, headers={"Cookie": f"cp_session={self.cookie}"}, timeout=60
        )


@pytest.fixture
def tabs(lab: Lab) -> Iterator[Tabs]:
    with serve(create_app(lab.settings)) as base_url:
        with httpx.Client(base_url=base_url) as door:
            login = door.post("/login", data={"username": "alice", "password": PASSWORD})
            assert login.status_code == 303
            cookie = login.cookies["cp_session"]
        yield Tabs(base_url, cookie)


def _together(work: list[Callable[[], None]]) -> None:
    """Run each in its own thread, started at once; re-raise the first failure."""
    barrier = threading.Barrier(len(work))
    failures: list[BaseException] = []

    def run(job: Callable[[], None]) -> None:
        try:
            barrier.wait()
            job()
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


TABS = 8
ROUNDS = 12


def test_two_tabs_starring_the_same_paper_at_once_keep_one_first_time(lab: Lab, tabs: Tabs) -> None:
    paper_id = lab.ids[0]
    answers: list[dict[str, Any]] = []

    def star() -> None:
        with tabs.tab() as tab:
            response = tab.put(f"/api/stars/{paper_id}")
            assert response.status_code == 200, response.text
            answers.append(response.json())

    _together([star] * TABS)
    assert len(answers) == TABS
    assert len({a["starred_at"] for a in answers}) == 1  # every tab got the one first time
    assert lab.stars("alice") == {paper_id: when(answers[0]["starred_at"])}


def test_tabs_toggling_at_once_never_fail_and_lose_no_write(lab: Lab, tabs: Tabs) -> None:
    """Each tab toggles its own paper (and all toggle one shared paper) ROUNDS times, at once:
    every request answers 200, and each paper ends as its tab last left it."""
    shared = lab.ids[-1]
    own = lab.ids[:TABS]
    statuses: list[int] = []

    def toggler(n: int) -> Callable[[], None]:
        def work() -> None:
            with tabs.tab() as tab:
                for round_ in range(ROUNDS):
                    starring = round_ % 2 == 0
                    for paper_id in (own[n], shared):
                        if starring:
                            response = tab.put(f"/api/stars/{paper_id}")
                        else:
                            response = tab.delete(f"/api/stars/{paper_id}")
                        statuses.append(response.status_code)
                        assert response.json()["starred"] is starring
                # the last word: even tabs leave their paper starred, odd ones un-starred
                if n % 2 == 0:
                    statuses.append(tab.put(f"/api/stars/{own[n]}").status_code)

        return work

    _together([toggler(n) for n in range(TABS)])
    assert set(statuses) == {200}
    assert len(statuses) == TABS * ROUNDS * 2 + TABS // 2
    final = lab.stars("alice")
    assert set(final) == {own[n] for n in range(0, TABS, 2)}  # ROUNDS is even: shared ends off
    with tabs.tab() as tab:
        listed = tab.get("/api/stars").json()["papers"]
    assert {p["id"]: when(p["starred_at"]) for p in listed} == final


def test_store_star_under_threads_on_one_key(lab: Lab) -> None:
    """The store itself, each thread its own session and transaction: stars and un-stars of one
    key interleaved with starts of a new one never raise (no unique violation, no deadlock)."""
    with session_scope(lab.factory) as s:
        member = store.user_by_name(s, "alice")
        assert member is not None
        user_id = member[0].id
    paper_id = lab.ids[5]

    def worker(n: int) -> Callable[[], None]:
        def work() -> None:
            for round_ in range(ROUNDS):
                with session_scope(lab.factory, write=True) as s:
                    if (n + round_) % 2 == 0:
                        store.star(s, user_id, paper_id, utcnow())
                    else:
                        store.unstar(s, user_id, paper_id)

        return work

    _together([worker(n) for n in range(TABS)])
    with session_scope(lab.factory, write=True) as s:
        first = store.star(s, user_id, paper_id, utcnow())
    with session_scope(lab.factory, write=True) as s:
        assert store.star(s, user_id, paper_id, utcnow() + timedelta(hours=1)) == first
        assert store.is_starred(s, user_id, paper_id)
        assert store.unstar(s, user_id, paper_id) is True
        assert store.unstar(s, user_id, paper_id) is False


# ----------------------------------------------------------------------------- the page


def test_stars_page_says_where_the_stars_are_kept(lab: Lab, alice: TestClient) -> None:
    alice.put(f"/api/stars/{lab.ids[2]}")
    page = alice.get("/stars")
    assert page.status_code == 200
    assert 'data-member="alice"' in page.text
    assert "kept in your account (alice)" in page.text
    assert "kept in this browser" not in page.text
    # without the script a member still sees the list (the server has it)
    noscript = page.text.split("<noscript>", 1)[1].split("</noscript>", 1)[0]
    with session_scope(lab.factory) as s:
        title = s.get(Paper, lab.ids[2])
        assert title is not None
    assert f'href="/arxiv/{lab.ids[2]}"' in noscript
    assert str(title.title).split()[0] in noscript

    with lab.client() as anonymous:
        visitor = anonymous.get("/stars")
    assert visitor.status_code == 200
    assert "kept in this browser" in visitor.text and "your account" in visitor.text
    assert f'href="{urls.login(urls.stars())}"' in visitor.text
    assert "data-member" not in visitor.text


def test_stars_page_without_accounts_is_the_browsers(client: TestClient) -> None:
    page = client.get("/stars")
    assert page.status_code == 200
    assert "They are kept in this browser." in page.text
    assert "your account" not in page.text.split("<main>", 1)[1].split("</main>", 1)[0]
