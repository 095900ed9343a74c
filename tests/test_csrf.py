"""The cross-site guard (F1 of reliability.md, datasette's test_csrf_middleware.py style), on
SQLite and Postgres: every unsafe method from another site is 403 (``Sec-Fetch-Site``
cross-site or same-site; else an ``Origin`` whose scheme, host or port is not ours, or
``null``), login and logout included, a valid session cookie or not; same-origin requests and
requests with neither header (no browser sends none) pass; malformed headers never 500.

The route inventory walks ``app.routes``: a new unsafe route is covered the day it lands, and
this test fails if one is reachable cross-site."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from coolpapers.config import Settings
from coolpapers.web.auth import SAFE_METHODS
from tests.accounts_kit import Hashes, add, app_client, login, use_fast_hashes, who
from tests.conftest import make_settings
from tests.fakes.arxiv_server import FakeArxiv
from tests.test_auth_web import concrete, route_inventory

Headers = dict[str, str | bytes]

CROSS_SITE: list[Headers] = [
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},  # a sibling subdomain is another site's page
    {"Sec-Fetch-Site": "CROSS-SITE"},
    {"Sec-Fetch-Site": "cross-site", "Origin": "http://testserver"},  # the browser's word wins
    {"Origin": "https://evil.example"},
    {"Origin": "http://evil.example"},
    {"Origin": "https://testserver"},  # scheme
    {"Origin": "http://testserver:8080"},  # port
    {"Origin": "http://sub.testserver"},
    {"Origin": "http://testserver.evil.example"},
    {"Origin": "null"},  # sandboxed frames, file: pages, some redirects
]
MALFORMED: list[Headers] = [
    {"Sec-Fetch-Site": ""},
    {"Sec-Fetch-Site": "same-origin, cross-site"},
    {"Sec-Fetch-Site": b"\xff\xfe"},
    {"Origin": ""},
    {"Origin": "http://[::1"},
    {"Origin": "http://testserver:99999"},
    {"Origin": "http://testserver:-1"},
    {"Origin": "http://testserver:80:80"},
    {"Origin": "testserver"},
    {"Origin": "//testserver"},
    {"Origin": "ftp://testserver"},
    {"Origin": "http://"},
    {"Origin": b"http://t\xe9stserver"},
    {"Origin": "http://evil.example/path?q#f" + "x" * 8000},
    {"Origin": "http://testserver", "Host": "bad host:xx"},
    {"Origin": "http://[::1]:80", "Host": "[::1"},
]
SAME_ORIGIN: list[Headers] = [
    {},  # no browser: curl, a script
    {"Sec-Fetch-Site": "same-origin"},
    {"Sec-Fetch-Site": "none"},  # typed in the address bar, a bookmark
    {"Sec-Fetch-Site": " Same-Origin "},
    {"Origin": "http://testserver"},
    {"Origin": "http://testserver:80"},  # the default port written out
    {"Origin": "HTTP://TestServer"},
    {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"},
]
UNSAFE = ("POST", "PUT", "DELETE", "PATCH")


@pytest.fixture(autouse=True)
def hashes(monkeypatch: pytest.MonkeyPatch) -> Hashes:
    return use_fast_hashes(monkeypatch)


@pytest.fixture
def settings(database_url: str, tmp_path: Path, fake_arxiv: FakeArxiv) -> Settings:
    return make_settings(database_url, tmp_path / "data", fake_arxiv, auth="password")


@pytest.fixture
def alice(client: TestClient, factory: sessionmaker[Session]) -> TestClient:
    add(factory, "alice")
    add(factory, "root", admin=True)
    assert login(client, "alice").status_code == 303
    return client


def _refused(response: httpx.Response, path: str) -> None:
    assert response.status_code == 403, (path, response.status_code)
    assert response.headers["x-content-type-options"] == "nosniff"  # the outer headers apply
    if path.startswith("/api/"):
        assert response.json()["status"] == 403
    else:
        assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("headers", CROSS_SITE + MALFORMED)
def test_cross_site_login_is_refused(
    client: TestClient, factory: sessionmaker[Session], headers: Headers
) -> None:
    """Login CSRF: a page elsewhere cannot log the visitor in as the attacker."""
    add(factory, "mallory")
    response = client.post(
        "/login", data={"username": "mallory", "password": "correct horse battery"}, headers=headers
    )
    _refused(response, "/login")
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize("headers", SAME_ORIGIN)
def test_same_origin_and_headerless_requests_pass(
    client: TestClient, factory: sessionmaker[Session], headers: Headers
) -> None:
    add(factory, "alice")
    response = client.post(
        "/login", data={"username": "alice", "password": "correct horse battery"}, headers=headers
    )
    assert response.status_code == 303


@pytest.mark.parametrize("method", UNSAFE)
@pytest.mark.parametrize("headers", CROSS_SITE[:2] + CROSS_SITE[4:5] + CROSS_SITE[-1:])
def test_every_unsafe_method_even_on_unknown_paths(
    client: TestClient, method: str, headers: Headers
) -> None:
    for path in ["/login", "/api/settings", "/no/such/page", "/api/no/such", "/"]:
        _refused(client.request(method, path, headers=headers), path)


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_safe_methods_are_not_guarded(client: TestClient, method: str) -> None:
    response = client.request(method, "/login", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code != 403


def test_a_valid_session_does_not_make_a_cross_site_write_pass(alice: TestClient) -> None:
    evil = {"Sec-Fetch-Site": "cross-site"}
    _refused(alice.post("/logout", headers=evil), "/logout")
    assert who(alice) == "alice"  # still logged in
    body = {"faq_lang": "zh", "categories": [], "prefs": []}
    _refused(
        alice.put("/api/settings", json=body, headers={"Origin": "https://evil.example"}),
        "/api/settings",
    )
    assert alice.get("/api/settings").json()["faq_lang"] is None
    # a bearer-looking header beside the cookie changes nothing
    both = {**evil, "Authorization": "Bearer anything"}
    _refused(alice.put("/api/settings", json=body, headers=both), "/api/settings")
    assert (
        alice.put("/api/settings", json=body, headers={"Sec-Fetch-Site": "same-origin"}).status_code
        == 200
    )


def test_the_site_behind_its_proxy(
    settings: Settings, engine: object, factory: sessionmaker[Session]
) -> None:
    """Host as the proxy forwards it (or BASE_URL) and the scheme from a trusted proxy."""
    add(factory, "alice")
    form = {"username": "alice", "password": "correct horse battery"}
    public = settings.model_copy(update={"base_url": "https://lab.example"})
    with app_client(public, client=("127.0.0.1", 1)) as via_proxy:
        forwarded = {"X-Forwarded-Proto": "https", "Host": "lab.example"}
        ok = via_proxy.post(
            "/login", data=form, headers={**forwarded, "Origin": "https://lab.example"}
        )
        assert ok.status_code == 303
        # the proxy sent its own upstream Host: BASE_URL is ours too
        internal = {"Host": "web:8000", "Origin": "https://lab.example"}
        assert via_proxy.post("/login", data=form, headers=internal).status_code == 303
        http_origin = {**forwarded, "Origin": "http://lab.example"}
        _refused(via_proxy.post("/login", data=form, headers=http_origin), "/login")
    with app_client(settings, client=("203.0.113.9", 1)) as direct:
        # X-Forwarded-Proto from a visitor is not believed: the request stays http
        spoofed = {"X-Forwarded-Proto": "https", "Origin": "https://testserver"}
        _refused(direct.post("/login", data=form, headers=spoofed), "/login")


def unsafe_routes(settings: Settings) -> list[tuple[str, str]]:
    return [
        (method, path)
        for method, path, route in route_inventory(settings)
        if method not in SAFE_METHODS
    ]


def test_route_inventory_no_unsafe_route_is_reachable_cross_site(
    alice: TestClient, settings: Settings
) -> None:
    routes = unsafe_routes(settings)
    for expected in [
        ("POST", "/login"),
        ("POST", "/logout"),
        ("PUT", "/api/settings"),
        ("POST", "/lab/members/{name}/{action}"),
    ]:
        assert expected in routes
    reached = []
    for method, path in routes:
        url = concrete(path)
        for headers in (CROSS_SITE[0], CROSS_SITE[1], CROSS_SITE[4], CROSS_SITE[-1], MALFORMED[5]):
            response = alice.request(method, url, headers=headers, json={})
            if response.status_code != 403:
                reached.append((method, path, headers, response.status_code))
    assert reached == []


def test_route_inventory_sees_every_route(settings: Settings) -> None:
    """The walk reaches into included routers and the app's own routes alike."""
    inventory = {(m, p) for m, p, _ in route_inventory(settings)}
    for expected in [("GET", "/login"), ("GET", "/arxiv/{ids:id_list}"), ("GET", "/docs")]:
        assert expected in inventory
    assert len(inventory) > 30
