"""Logging in through the web, on SQLite and Postgres (F2, F3, F4, F5 of reliability.md): the
session's life (a new one on login, gone on logout, on disable, on a password reset, after
idle and absolute expiry), its cookie (HttpOnly, SameSite=Lax, ``__Host-`` and Secure over
https), the brute-force limit (429 with Retry-After, per account and per address, before any
password check), ``?next=`` kept on this site, ``AUTH=proxy`` and the trusted proxies,
``PUBLIC_READ=false``, and who may open which member route.

Expiry is tested by moving the session rows' times back in the database: nothing sleeps."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.routing import BaseRoute, Mount

from coolpapers import accounts, ingest
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.models import LoginAttempt, utcnow
from coolpapers.search import sync
from coolpapers.web import auth, create_app
from tests.accounts_kit import (
    PASSWORD,
    Hashes,
    add,
    age_attempts,
    age_sessions,
    app_client,
    login,
    member_of,
    session_count,
    set_cookies,
    use_fast_hashes,
    who,
)
from tests.conftest import RSS, make_settings
from tests.fakes.arxiv_server import FakeArxiv
from tests.live_server import serve

FEED = RSS / "rss-cs.LG-2026-08-21-fri.xml"
PAPER = "2608.19234"
DAY = "2026-08-21"


@pytest.fixture(autouse=True)
def hashes(monkeypatch: pytest.MonkeyPatch) -> Hashes:
    return use_fast_hashes(monkeypatch)


@pytest.fixture
def settings(database_url: str, tmp_path: Path, fake_arxiv: FakeArxiv) -> Settings:
    """This module's site has accounts (AUTH=password)."""
    return make_settings(database_url, tmp_path / "data", fake_arxiv, auth="password")


@pytest.fixture
def alice(factory: sessionmaker[Session]) -> str:
    return add(factory, "alice").name


def token_of(response: Any, name: str = auth.SESSION_COOKIE) -> str:
    cookie = set_cookies(response)[name]
    return cookie["value"]


# ---------------------------------------------------------------- the door


def test_the_login_form(client: TestClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert 'name="username"' in page.text and 'name="password"' in page.text
    assert page.headers["cache-control"] == "no-store"
    assert member_of(page) is None


def test_login_then_the_name_in_the_top_bar(client: TestClient, alice: str) -> None:
    assert who(client) is None
    response = login(client, "alice")
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert response.headers["cache-control"] == "no-store"
    assert who(client) == "alice"


def test_the_session_cookie(client: TestClient, alice: str) -> None:
    cookie = set_cookies(login(client, "alice"))[auth.SESSION_COOKIE]
    assert cookie["httponly"] and cookie["path"] == "/" and cookie["samesite"].lower() == "lax"
    assert "secure" not in cookie and "domain" not in cookie  # plain http: a laptop's site
    assert int(cookie["max-age"]) == 30 * 24 * 3600  # SESSION_MAX_DAYS
    assert len(cookie["value"]) >= 40


def test_wrong_password_and_unknown_name_get_one_answer(
    client: TestClient, alice: str, hashes: Hashes
) -> None:
    answers = []
    for name in ["alice", "nobody"]:
        before = hashes.verified
        response = login(client, name, "a wrong password")
        # the unknown name is checked against a dummy hash: the same work as a wrong password
        assert hashes.verified == before + 1
        assert "set-cookie" not in response.headers
        body = response.text.replace(f'value="{name}"', 'value="NAME"')
        answers.append((response.status_code, body))
    assert answers[0] == answers[1]
    assert answers[0][0] == 401 and "wrong name or password" in answers[0][1]


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"username": "alice"},
        {"password": PASSWORD},
        {"username": "al\x00ice", "password": PASSWORD},
        {"username": "alice", "password": "\x00" * 9},
        {"username": "x" * 201, "password": PASSWORD},
        {"username": "alice", "password": "x" * 1025},
    ],
)
def test_odd_login_forms_never_500(client: TestClient, alice: str, form: dict[str, str]) -> None:
    # the client raises on a server error: a 500 fails here with its traceback
    response = client.post("/login", data=form)
    assert response.status_code in (400, 401), response.text[:300]
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    "body",
    [
        b"username=%ED%A0%80&password=%ED%BF%BFxxxxxxxx",  # UTF-8 of lone surrogates
        b"username=%FF%FE&password=%C0%AFxxxxxxxxx",  # no UTF-8 at all
        b"username=alice&password=" + PASSWORD.encode() + b"&username=bob",
        b"username=alice&&&password",
        b"\x00\x01\x02",
    ],
)
def test_odd_login_bodies_never_500(client: TestClient, alice: str, body: bytes) -> None:
    kind = {"Content-Type": "application/x-www-form-urlencoded"}
    response = client.post("/login", content=body, headers=kind)
    assert response.status_code in (303, 400, 401), response.text[:300]


def test_no_accounts_no_door(settings: Settings, engine: object) -> None:
    with app_client(settings.model_copy(update={"auth": "none"})) as anonymous_site:
        assert anonymous_site.get("/login").status_code == 404
        assert login(anonymous_site, "alice").status_code == 404
        assert anonymous_site.get("/lab/members").status_code == 404


# ---------------------------------------------------------------- a session's life (F2)


def test_a_disabled_member_cannot_log_in_and_their_session_ends_at_once(
    client: TestClient, settings: Settings, factory: sessionmaker[Session], alice: str
) -> None:
    add(factory, "root", admin=True)
    login(client, "alice")
    assert who(client) == "alice"
    with app_client(settings) as admin:
        login(admin, "root")
        done = admin.post("/lab/members/alice/disable")
        assert done.status_code == 303 and done.headers["location"] == "/lab/members"
        assert 'class="member disabled"' in admin.get("/lab/members").text
    assert who(client) is None  # the very next request
    assert session_count(factory) == 1  # root's
    refused = login(client, "alice")
    assert refused.status_code == 401 and "wrong name or password" in refused.text
    accounts.enable_member(factory, "alice")
    assert login(client, "alice").status_code == 303


def test_idle_expiry(client: TestClient, factory: sessionmaker[Session], alice: str) -> None:
    login(client, "alice")
    age_sessions(factory, last_seen=timedelta(hours=336) - timedelta(minutes=5))
    assert who(client) == "alice"  # 5 minutes short of SESSION_IDLE_H: alive (and touched)
    age_sessions(factory, last_seen=timedelta(hours=336, minutes=1))
    assert who(client) is None
    assert session_count(factory) == 0


def test_absolute_expiry(client: TestClient, factory: sessionmaker[Session], alice: str) -> None:
    login(client, "alice")
    age_sessions(factory, created=timedelta(days=29, hours=23))
    assert who(client) == "alice"
    # used a second ago, but made more than SESSION_MAX_DAYS ago
    age_sessions(factory, created=timedelta(days=30, minutes=1), last_seen=timedelta(seconds=1))
    assert who(client) is None
    assert session_count(factory) == 0


def test_a_logged_out_cookie_replayed_is_nobody(
    client: TestClient, factory: sessionmaker[Session], alice: str
) -> None:
    token = token_of(login(client, "alice"))
    assert who(client, token) == "alice"
    out = client.post("/logout")
    assert out.status_code == 303 and out.headers["location"] == "/"
    gone = set_cookies(out)[auth.SESSION_COOKIE]
    assert gone["value"] in ("", '""') and int(gone.get("max-age", "0")) <= 0
    assert who(client, token) is None  # the old cookie, sent again by hand
    assert session_count(factory) == 0


def test_logout_without_a_session_is_harmless(client: TestClient) -> None:
    assert client.post("/logout").status_code == 303


def test_no_session_fixation(
    client: TestClient, factory: sessionmaker[Session], alice: str
) -> None:
    """A cookie planted before the login is not the session after it, and a session the
    browser had before (someone else's, say) ends with the login."""
    add(factory, "mallory")
    client.cookies.set(auth.SESSION_COOKIE, "planted-by-someone-else-0123456789abcdef")
    token = token_of(login(client, "alice"))
    assert token != "planted-by-someone-else-0123456789abcdef"
    assert who(client, "planted-by-someone-else-0123456789abcdef") is None

    with app_client(client.app.state.settings) as other:  # type: ignore[attr-defined]
        before = token_of(login(other, "mallory"))
        assert who(other, before) == "mallory"
        after = token_of(login(other, "alice"))  # the same browser logs in again
        assert after != before
        assert who(other, before) is None  # the pre-login session row is gone
        assert who(other, after) == "alice"
    assert session_count(factory) == 2  # alice's two browsers, nothing else


def test_a_password_reset_ends_the_sessions(
    client: TestClient, factory: sessionmaker[Session], alice: str
) -> None:
    login(client, "alice")
    accounts.reset_password(factory, "alice", "another long password")
    assert who(client) is None
    assert login(client, "alice").status_code == 401
    assert login(client, "alice", "another long password").status_code == 303


def test_a_tampered_cookie_is_nobody(client: TestClient, alice: str) -> None:
    token = token_of(login(client, "alice"))
    for bad in [token[:-1], token + "x", token.upper(), "", "x" * 500, token[1:]]:
        assert who(client, bad) is None


# ---------------------------------------------------------------- cookies over https


def test_https_base_url_gives_a_host_prefixed_secure_cookie(
    settings: Settings, engine: object, alice: str
) -> None:
    secure = settings.model_copy(update={"base_url": "https://lab.example"})
    with app_client(secure) as client:
        response = login(client, "alice")
        cookies = set_cookies(response)
        assert list(cookies) == [auth.SECURE_SESSION_COOKIE]
        cookie = cookies[auth.SECURE_SESSION_COOKIE]
        assert cookie["secure"] and cookie["httponly"] and cookie["path"] == "/"
        assert cookie["samesite"].lower() == "lax" and "domain" not in cookie
        token = cookie["value"]
        assert who(client, token, name=auth.SECURE_SESSION_COOKIE) == "alice"
        # the same token in a plain cookie (one a plain-http page could have planted) is ignored
        assert who(client, token, name=auth.SESSION_COOKIE) is None
        out = client.post("/logout", headers={"Cookie": f"{auth.SECURE_SESSION_COOKIE}={token}"})
        assert "secure" in set_cookies(out)[auth.SECURE_SESSION_COOKIE]
        assert who(client, token, name=auth.SECURE_SESSION_COOKIE) is None


def test_an_https_request_gives_a_host_prefixed_cookie(
    settings: Settings, engine: object, alice: str
) -> None:
    with app_client(settings, base_url="https://testserver") as client:
        cookie = set_cookies(login(client, "alice"))[auth.SECURE_SESSION_COOKIE]
        assert cookie["secure"]


@pytest.mark.parametrize(
    ("peer", "secure"), [("127.0.0.1", True), ("::1", True), ("203.0.113.9", False)]
)
def test_forwarded_proto_is_believed_from_trusted_proxies_only(
    settings: Settings, engine: object, alice: str, peer: str, secure: bool
) -> None:
    with app_client(settings, client=(peer, 40000)) as client:
        response = login(client, "alice", headers={"X-Forwarded-Proto": "https"})
        cookies = set_cookies(response)
        if secure:
            assert list(cookies) == [auth.SECURE_SESSION_COOKIE]
            assert cookies[auth.SECURE_SESSION_COOKIE]["secure"]
        else:
            assert list(cookies) == [auth.SESSION_COOKIE]
            assert "secure" not in cookies[auth.SESSION_COOKIE]


# ---------------------------------------------------------------- brute force (F3)


def test_eleventh_failure_in_a_minute_is_429_before_any_password_check(
    client: TestClient, factory: sessionmaker[Session], alice: str, hashes: Hashes
) -> None:
    for _ in range(10):
        assert login(client, "alice", "a wrong password").status_code == 401
    checked = hashes.verified
    for password in ["a wrong password", PASSWORD]:  # the right password is refused too
        refused = login(client, "alice", password)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "too many failed logins" in refused.text and "set-cookie" not in refused.headers
    assert hashes.verified == checked
    # a minute later the account may try again
    age_attempts(factory, timedelta(seconds=61))
    assert login(client, "alice").status_code == 303


def test_the_limit_is_per_account_across_addresses(
    settings: Settings, engine: object, alice: str
) -> None:
    for k in range(10):
        with app_client(settings, client=(f"198.51.100.{k}", 1)) as c:
            assert login(c, "alice", "a wrong password").status_code == 401
    with app_client(settings, client=("198.51.100.99", 1)) as fresh:
        assert login(fresh, "alice").status_code == 429


def test_the_limit_is_per_address_across_accounts(
    settings: Settings, engine: object, alice: str
) -> None:
    with app_client(settings, client=("198.51.100.7", 1)) as guesser:
        for k in range(10):
            assert login(guesser, f"guess{k}", "a wrong password").status_code == 401
        assert login(guesser, "alice").status_code == 429  # a name it never tried
    with app_client(settings, client=("198.51.100.8", 1)) as neighbour:
        assert login(neighbour, "alice").status_code == 303


def test_forwarded_for_names_the_address_from_trusted_proxies_only(
    settings: Settings, engine: object, factory: sessionmaker[Session], alice: str
) -> None:
    """Observed where it matters: the address a failed login counts against."""
    lab = settings.model_copy(update={"trusted_proxies": "127.0.0.1,10.0.0.0/8"})
    cases = [
        ("127.0.0.1", "203.0.113.5", "203.0.113.5"),
        # a chain through two of our proxies: the visitor is the last hop not ours…
        ("127.0.0.1", "203.0.113.6, 10.0.0.2", "203.0.113.6"),
        # …and whatever the visitor wrote left of it is not believed
        ("127.0.0.1", "1.1.1.1, 203.0.113.7", "203.0.113.7"),
        # from an address not ours the header is the visitor's own word: ignored
        ("198.51.100.9", "203.0.113.8", "198.51.100.9"),
    ]
    for peer, forwarded, expected in cases:
        with app_client(lab, client=(peer, 1)) as c:
            login(c, "alice", "a wrong password", headers={"X-Forwarded-For": forwarded})
        with session_scope(factory) as s:
            keys = set(s.scalars(select(LoginAttempt.key)))
        assert f"ip:{expected}" in keys, (peer, forwarded, keys)
    assert not any(k in keys for k in ("ip:1.1.1.1", "ip:10.0.0.2", "ip:203.0.113.8"))


def test_the_limit_follows_the_forwarded_visitor(
    settings: Settings, engine: object, alice: str
) -> None:
    with app_client(settings, client=("127.0.0.1", 1)) as proxy:
        for k in range(10):
            login(proxy, f"guess{k}", "x" * 9, headers={"X-Forwarded-For": "203.0.113.5"})
        assert login(proxy, "alice", headers={"X-Forwarded-For": "203.0.113.5"}).status_code == 429
        # another visitor behind the same proxy is not locked out
        assert login(proxy, "alice", headers={"X-Forwarded-For": "203.0.113.6"}).status_code == 303


# ---------------------------------------------------------------- ?next= (F5)

EVIL_NEXT = [
    "//evil.example",
    "//evil.example/path",
    "/\\evil.example",
    "\\\\evil.example",
    "%2F%2Fevil.example",
    "https:evil.example",
    "https://evil.example/",
    "http://evil.example",
    "javascript:alert(1)",
    "/\t/evil.example",
    "/\n/evil.example",
    " //evil.example",
    "/\x00/evil.example",
    "///evil.example",
    "evil.example",
    "",
]


def is_local(location: str) -> bool:
    parts = urlsplit(location)
    return (
        location.startswith("/")
        and not location.startswith("//")
        and "\\" not in location
        and not parts.scheme
        and not parts.netloc
        and not any(ord(c) < 0x21 for c in location)
    )


@pytest.mark.parametrize("target", EVIL_NEXT)
def test_next_never_leaves_the_site(client: TestClient, alice: str, target: str) -> None:
    form = client.get("/login", params={"next": target})
    assert form.status_code == 200
    assert 'name="next" value="/"' in form.text
    response = login(client, "alice", next_path=target)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_an_overlong_next_is_refused_or_dropped(client: TestClient, alice: str) -> None:
    target = "/" + "a" * 3000
    assert 'name="next" value="/"' in client.get("/login", params={"next": target}).text
    assert login(client, "alice", next_path=target).status_code == 400


def test_next_in_the_query_percent_decoded(client: TestClient, alice: str) -> None:
    """``?next=%2F%2Fevil.example`` arrives as ``//evil.example``: still home."""
    form = client.get("/login?next=%2F%2Fevil.example")
    assert 'name="next" value="/"' in form.text
    form = client.get("/login?next=%2F%5Cevil.example")
    assert 'name="next" value="/"' in form.text


@pytest.mark.parametrize(
    "target", ["/arxiv/cs.LG?date=2026-08-21&sort=1", "/stars", f"/arxiv/{PAPER}#faq", "/lab"]
)
def test_a_good_next_is_honoured(client: TestClient, alice: str, target: str) -> None:
    response = login(client, "alice", next_path=target)
    assert response.headers["location"] == target and is_local(target)


def test_a_failed_login_keeps_next(client: TestClient, alice: str) -> None:
    refused = login(client, "alice", "a wrong password", next_path="/stars")
    assert 'name="next" value="/stars"' in refused.text
    refused = login(client, "alice", "a wrong password", next_path="//evil.example")
    assert 'name="next" value="/"' in refused.text


def test_a_member_page_sends_to_the_login_and_back(
    client: TestClient, factory: sessionmaker[Session]
) -> None:
    add(factory, "root", admin=True)
    door = client.get("/lab/members")
    assert door.status_code == 303
    location = door.headers["location"]
    assert urlsplit(location).path == "/login"
    target = parse_qs(urlsplit(location).query)["next"][0]
    assert target == "/lab/members"
    assert login(client, "root", next_path=target).headers["location"] == "/lab/members"
    assert client.get("/lab/members").status_code == 200


# ---------------------------------------------------------------- AUTH=proxy


@pytest.fixture
def proxy_site(settings: Settings, engine: object) -> Settings:
    return settings.model_copy(update={"auth": "proxy", "trusted_proxies": "127.0.0.1,10.0.0.0/8"})


def _as(site: Settings, peer: str, headers: Mapping[str, str | bytes]) -> str | None:
    with app_client(site, client=(peer, 1)) as c:
        response = c.get("/stars", headers=headers)
        assert response.status_code == 200
        return member_of(response)


def test_proxy_header_from_a_trusted_proxy_names_the_member(
    proxy_site: Settings, factory: sessionmaker[Session]
) -> None:
    assert _as(proxy_site, "127.0.0.1", {"Remote-User": "dave"}) == "dave"
    assert _as(proxy_site, "10.1.2.3", {"Remote-User": "erin@lab.example"}) == "erin@lab.example"
    # the proxy also forwards the visitor's address: the member is still the header's
    headers = {"Remote-User": "dave", "X-Forwarded-For": "203.0.113.5"}
    assert _as(proxy_site, "127.0.0.1", headers) == "dave"
    assert sorted(m.name for m in accounts.list_members(factory)) == ["dave", "erin@lab.example"]


def test_proxy_header_from_anyone_else_is_ignored(
    proxy_site: Settings, factory: sessionmaker[Session]
) -> None:
    for peer in ["203.0.113.9", "192.168.1.1", "::2"]:
        assert _as(proxy_site, peer, {"Remote-User": "dave"}) is None
    # a visitor cannot claim to be the proxy through X-Forwarded-For either
    headers = {"Remote-User": "dave", "X-Forwarded-For": "127.0.0.1"}
    assert _as(proxy_site, "203.0.113.9", headers) is None
    assert accounts.list_members(factory) == []  # nobody was created by those


@pytest.mark.parametrize(
    "name", ["", " ", "a b", "../root", "x" * 65, "<script>", "é".encode(), b"\xff\xfe"]
)
def test_proxy_names_failing_the_rule_are_anonymous(
    proxy_site: Settings, factory: sessionmaker[Session], name: str | bytes
) -> None:
    assert _as(proxy_site, "127.0.0.1", {"Remote-User": name}) is None
    assert accounts.list_members(factory) == []


def test_a_disabled_proxy_member_is_anonymous(
    proxy_site: Settings, factory: sessionmaker[Session]
) -> None:
    assert _as(proxy_site, "127.0.0.1", {"Remote-User": "dave"}) == "dave"
    accounts.disable_member(factory, "dave", utcnow())
    assert _as(proxy_site, "127.0.0.1", {"Remote-User": "dave"}) is None


def test_proxy_header_name_is_a_setting(proxy_site: Settings) -> None:
    site = proxy_site.model_copy(update={"auth_proxy_header": "X-Auth-User"})
    assert _as(site, "127.0.0.1", {"X-Auth-User": "dave"}) == "dave"
    assert _as(site, "127.0.0.1", {"Remote-User": "dave"}) is None


def test_proxy_sites_have_no_password_door(proxy_site: Settings) -> None:
    with app_client(proxy_site, client=("127.0.0.1", 1)) as c:
        assert c.get("/login").status_code == 404
        assert login(c, "dave").status_code == 404


# ---------------------------------------------------------------- PUBLIC_READ


def _ingested(factory: sessionmaker[Session], settings: Settings) -> None:
    reports = ingest.ingest_files(factory, [FEED])
    assert not any(r.failed for r in reports)
    sync.sync_job(factory, settings.data_dir)


READER_PAGES = [
    "/",
    f"/arxiv/cs.LG?date={DAY}",
    f"/arxiv/{PAPER}",
    f"/arxiv/{PAPER},2608.19210",
    "/arxiv/search?query=learning",
    "/stars",
]
READER_API = [
    f"/api/arxiv/cs.LG?date={DAY}",
    f"/api/papers/{PAPER}",
    "/api/search?query=learning",
    f"/api/bibtex?ids={PAPER}",
]


def test_closed_lab_sends_readers_to_the_login(
    settings: Settings, factory: sessionmaker[Session], alice: str
) -> None:
    _ingested(factory, settings)
    closed = settings.model_copy(update={"public_read": False})
    with app_client(closed) as anonymous:
        for url in READER_PAGES:
            response = anonymous.get(url)
            assert response.status_code == 303, url
            location = urlsplit(response.headers["location"])
            assert location.path == "/login", url
            assert parse_qs(location.query).get("next", ["/"])[0] == url, url
        for url in READER_API:
            response = anonymous.get(url)
            assert response.status_code == 401, url
            assert response.json() == {"error": "log in to read this lab's papers", "status": 401}
        # the door, its assets and the token feeds stay open
        assert anonymous.get("/login").status_code == 200
        assert anonymous.get("/static/app.css").status_code == 200
        feed = anonymous.get("/feeds/" + "t" * 43 + "/stars")
        assert feed.status_code not in (303, 401)
        # logged in, everything reads
        assert login(anonymous, "alice", next_path=READER_PAGES[1]).status_code == 303
        for url in READER_PAGES + READER_API:
            assert anonymous.get(url).status_code == 200, url


def test_public_lab_reads_without_login(
    client: TestClient, settings: Settings, factory: sessionmaker[Session]
) -> None:
    _ingested(factory, settings)
    for url in READER_PAGES + READER_API:
        response = client.get(url)
        assert response.status_code == 200, url


def test_closed_proxy_lab_answers_401(proxy_site: Settings, factory: sessionmaker[Session]) -> None:
    closed = proxy_site.model_copy(update={"public_read": False})
    with app_client(closed, client=("203.0.113.9", 1)) as anonymous:
        assert anonymous.get("/stars").status_code == 401
        assert anonymous.get("/api/search?query=x").status_code == 401
    with app_client(closed, client=("127.0.0.1", 1)) as member:
        assert member.get("/stars", headers={"Remote-User": "dave"}).status_code == 200


# ---------------------------------------------------------------- who may open what (F4)


def _walk(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, BaseRoute]]:
    """Every route of the app with its full path, through included routers and mounts."""
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:  # FastAPI keeps included routers as they are
            context = getattr(route, "include_context", None)
            yield from _walk(original.routes, prefix + getattr(context, "prefix", ""))
        elif isinstance(route, Mount):
            yield prefix + route.path, route
        else:
            yield prefix + getattr(route, "path", ""), route


def route_inventory(settings: Settings) -> list[tuple[str, str, APIRoute]]:
    """(method, path, route) of every route of the app, HEAD left out."""
    app = create_app(settings)
    found = []
    for path, route in _walk(list(app.routes)):
        if isinstance(route, APIRoute):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                found.append((method, path, route))
    return found


def _calls(route: APIRoute) -> set[Callable[..., Any]]:
    seen: set[Callable[..., Any]] = set()
    todo = [route.dependant]
    while todo:
        dependant = todo.pop()
        if dependant.call is not None:
            seen.add(dependant.call)
        todo.extend(dependant.dependencies)
    return seen


def members_only(settings: Settings) -> list[tuple[str, str]]:
    """The routes that need a member (or an admin): found from their dependencies, so a new
    member route is covered the day it lands."""
    return [
        (method, path)
        for method, path, route in route_inventory(settings)
        if _calls(route) & {auth.require_member, auth.require_admin}
    ]


PATH_VALUES = {
    "paper_id": PAPER,
    "ids": PAPER,
    "spec": "cs.LG",
    "name": "bob",
    "action": "disable",
    "token": "t" * 43,
}


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: PATH_VALUES.get(m.group(1), "x"), path)


def test_the_inventory_finds_the_member_routes(settings: Settings) -> None:
    found = members_only(settings)
    assert ("GET", "/lab/members") in found
    assert ("POST", "/lab/members/{name}/{action}") in found
    assert ("GET", "/api/settings") in found and ("PUT", "/api/settings") in found
    assert ("POST", "/login") not in found and ("GET", "/") not in found


def test_every_member_route_refuses_anonymous_visitors(
    client: TestClient, settings: Settings
) -> None:
    """401 (JSON under /api/), the login page for a page's GET; and no such page (404) on a
    site without accounts. Nothing of a member's leaks in the refusal."""
    routes = members_only(settings)
    assert routes
    for method, path in routes:
        url = concrete(path)
        response = client.request(method, url, json={})
        if path.startswith("/api/"):
            assert response.status_code == 401, (method, path)
            assert response.json()["status"] == 401
        elif method == "GET":
            assert response.status_code == 303, (method, path)
            assert urlsplit(response.headers["location"]).path == "/login"
        else:
            assert response.status_code == 401, (method, path)
    with app_client(settings.model_copy(update={"auth": "none"})) as anonymous_site:
        for method, path in routes:
            response = anonymous_site.request(method, concrete(path), json={})
            assert response.status_code == 404, (method, path)


ROLES = ("anonymous", "member", "admin")
# what each role gets: (method, path) -> status per role; the admin page and its actions
ADMIN_MATRIX = {
    ("GET", "/lab/members"): (303, 403, 200),
    ("POST", "/lab/members/bob/disable"): (401, 403, 303),
    ("POST", "/lab/members/bob/enable"): (401, 403, 303),
    ("POST", "/lab/members/nobody/disable"): (401, 403, 404),
    ("POST", "/lab/members/bob/delete"): (401, 403, 404),
    ("POST", "/lab/members/root/disable"): (401, 403, 400),  # not oneself
}


def test_admin_page_matrix(
    settings: Settings, factory: sessionmaker[Session], hashes: Hashes
) -> None:
    add(factory, "root", admin=True)
    add(factory, "bob")
    add(factory, "carol")
    clients = {role: app_client(settings) for role in ROLES}
    for c in clients.values():
        c.__enter__()
    try:
        login(clients["member"], "carol")
        login(clients["admin"], "root")
        for (method, url), expected in ADMIN_MATRIX.items():
            for role, status in zip(ROLES, expected, strict=True):
                response = clients[role].request(method, url)
                assert response.status_code == status, (role, method, url)
                if status in (401, 403):  # nothing of the members' list in a refusal
                    assert 'id="member-' not in response.text and "$argon2" not in response.text
        page = clients["admin"].get("/lab/members").text
        for name in ["root", "bob", "carol"]:
            assert f'id="member-{name}"' in page
        assert "$argon2" not in page
        # the member's own session still works, bob (disabled then enabled) can log in
        assert who(clients["member"]) == "carol"
        assert login(clients["anonymous"], "bob").status_code == 303
    finally:
        for c in clients.values():
            c.__exit__(None, None, None)


def test_one_members_data_is_not_anothers(
    settings: Settings, factory: sessionmaker[Session]
) -> None:
    """F4's IDOR half: alice's stars, private note, seen papers and settings, asked for by bob
    (a member) and by root (an admin) through every member route that reads or changes them:
    none of it comes back, and nothing of hers changes. What the lab shares (who starred what)
    is shared by design."""
    _ingested(factory, settings)
    add(factory, "alice")
    add(factory, "bob")
    add(factory, "root", admin=True)
    secret = "alice's private thought 7f3a"
    mine = {"faq_lang": "zh", "categories": ["math.AG"], "prefs": ["sheaves"]}
    with app_client(settings) as alice:
        login(alice, "alice")
        assert alice.put(f"/api/stars/{PAPER}").status_code == 200
        note = {"body": secret, "shared": False}
        assert alice.put(f"/api/papers/{PAPER}/note", json=note).status_code == 200
        assert alice.post("/api/seen", json={"ids": [PAPER]}).status_code == 200
        assert alice.put("/api/settings", json=mine).status_code == 200
        for name in ["bob", "root"]:
            with app_client(settings) as other:
                login(other, name)
                assert PAPER not in other.get("/api/stars").text
                assert secret not in other.get("/api/notes", params={"ids": PAPER}).text
                assert secret not in other.get("/api/notes").text
                assert other.get(f"/api/papers/{PAPER}/note").status_code == 404
                by_author = other.get(f"/api/papers/{PAPER}/note", params={"author": "alice"})
                assert by_author.status_code == 404 and secret not in by_author.text
                assert secret not in other.get("/notes", params={"query": "thought"}).text
                assert other.get("/api/seen", params={"ids": PAPER}).json() == {"seen": []}
                assert other.get("/api/settings").json()["faq_lang"] is None
                # their writes are theirs: alice's rows stay as they were
                other.delete(f"/api/stars/{PAPER}")
                other.delete(f"/api/papers/{PAPER}/note")
                other.request("DELETE", "/api/seen", json={"ids": [PAPER]})
                # the lab's signal names her, as it is meant to
                lab = other.get("/api/lab/stars", params={"ids": PAPER}).json()
                assert lab["papers"][PAPER]["members"] == ["alice"]
        assert PAPER in alice.get("/api/stars").text
        assert alice.get(f"/api/papers/{PAPER}/note").json()["body"] == secret
        assert alice.get("/api/seen", params={"ids": PAPER}).json() == {"seen": [PAPER]}
        assert alice.get("/api/settings").json() == mine


@pytest.mark.parametrize(("trusted", "member"), [("127.0.0.1", "dave"), ("10.0.0.0/8", None)])
def test_proxy_header_over_real_http(
    proxy_site: Settings, trusted: str, member: str | None
) -> None:
    """The same through uvicorn on 127.0.0.1 (forwarded headers left to TrustedProxy, as
    ``coolpapers serve`` runs it): the header counts only when 127.0.0.1 is a trusted proxy."""
    site = proxy_site.model_copy(update={"trusted_proxies": trusted})
    with serve(create_app(site)) as url:
        response = httpx.get(f"{url}/stars", headers={"Remote-User": "dave"}, timeout=30)
        assert response.status_code == 200
        assert member_of(response) == member
        # and uvicorn's own forwarded-header handling is off: a visitor's claim changes nothing
        spoofed = {"Remote-User": "dave", "X-Forwarded-For": "10.1.2.3"}
        assert member_of(httpx.get(f"{url}/stars", headers=spoofed, timeout=30)) == member
