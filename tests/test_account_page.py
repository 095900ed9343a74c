"""The account page (web.me) through the real app on SQLite and Postgres: members only, what it
shows of the feed token (the URL once, then only that one exists), the member's exports, the
links (the members' page for admins), never cached."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from html import unescape
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import ingest, store
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.models import utcnow
from coolpapers.web.stars import MAX_BIBTEX_IDS
from tests.accounts_kit import Hashes, add, app_client, login, password_settings, use_fast_hashes
from tests.conftest import RSS, Stock

LG = RSS / "rss-cs.LG-2026-08-21-fri.xml"
HREF_RE = re.compile(r'<a class="([^"]+)" href="([^"]+)"')


@pytest.fixture(autouse=True)
def hashes(monkeypatch: pytest.MonkeyPatch) -> Hashes:
    return use_fast_hashes(monkeypatch)


def _ingest_lg(factory: sessionmaker[Session], settings: Settings) -> None:
    [report] = ingest.ingest_files(factory, [LG])
    assert not report.failed


@pytest.fixture
def lab(stock: Stock, settings: Settings, hashes: Hashes) -> Iterator[Settings]:
    """The cs.LG day stored; alice (a member, two stars) and root (an admin, none)."""
    factory = stock("cs.LG day", _ingest_lg)
    alice = add(factory, "alice")
    add(factory, "root", admin=True)
    now = utcnow()
    with session_scope(factory, write=True) as s:
        store.star(s, alice.id, "2608.19234", now - timedelta(hours=2))
        store.star(s, alice.id, "2608.19210", now - timedelta(hours=1))
    yield password_settings(settings)


def links(html: str) -> dict[str, str]:
    return {cls: unescape(href) for cls, href in HREF_RE.findall(html)}


def test_the_page_is_for_members(lab: Settings) -> None:
    with app_client(lab) as visitor:
        page = visitor.get("/account")
        assert page.status_code == 303
        assert unquote(page.headers["location"]) == "/login?next=/account"
        for action in ("new", "revoke"):
            refused = visitor.post(f"/account/feed-token/{action}")
            assert refused.status_code == 401, action


def test_no_account_page_without_accounts(client: TestClient) -> None:
    assert client.get("/account").status_code == 404


def test_a_members_page(lab: Settings) -> None:
    with app_client(lab) as alice:
        login(alice, "alice")
        page = alice.get("/account")
        assert page.status_code == 200
        assert "no-store" in page.headers["cache-control"]
        html = page.text
        assert '<body id="account"' in html and "<h1>alice</h1>" in html
        assert "A member of this lab since" in html
        for path in ("/stars", "/notes", "/lab"):
            assert f'href="{path}"' in html, path
        assert 'href="/lab/members"' not in html  # admins only
        assert "You have no feed token yet." in html

        found = links(html)
        newest_first = "2608.19210,2608.19234"
        assert found["export-bibtex"] == f"/api/export?ids={newest_first}&format=bibtex"
        assert found["export-ris"] == f"/api/export?ids={newest_first}&format=ris"
        assert found["export-csl-json"] == f"/api/export?ids={newest_first}&format=csl-json"
        assert found["export-page"] == f"/arxiv/{newest_first}"
        assert "2 starred papers." in html
        # the links download what they say
        ris = alice.get(found["export-ris"])
        assert ris.status_code == 200 and ris.text.count("TY  - GEN") == 2


def test_an_admins_page_and_no_stars(lab: Settings) -> None:
    with app_client(lab) as root:
        login(root, "root")
        html = root.get("/account").text
        assert "An admin of this lab since" in html
        assert 'href="/lab/members"' in html
        assert "No stars yet" in html and "/api/export" not in html


def test_the_feed_url_is_shown_once(lab: Settings) -> None:
    with app_client(lab) as alice:
        login(alice, "alice")
        made = alice.post("/account/feed-token/new")
        assert made.status_code == 200
        assert "no-store" in made.headers["cache-control"]
        urls = dict(re.findall(r'id="feed-(stars|lab)"[^>]*value="([^"]+)"', made.text))
        token = urls["stars"].split("/")[-2]
        assert urls == {
            "stars": f"http://testserver/feeds/{token}/stars",
            "lab": f"http://testserver/feeds/{token}/lab",
        }
        assert "this page shows them this once" in made.text

        later = alice.get("/account").text
        assert token not in later
        assert "A feed token exists. Make a new one to see its addresses" in later
        assert 'action="/account/feed-token/revoke"' in later

        alice.post("/account/feed-token/revoke")
        after = alice.get("/account").text
        assert "You have no feed token yet." in after
        assert 'action="/account/feed-token/revoke"' not in after


def test_exports_hold_the_newest_stars_up_to_the_cap(
    lab: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past MAX_BIBTEX_IDS stars the files hold the newest that many, and the page says so."""
    from coolpapers.web import me

    monkeypatch.setattr(me, "MAX_BIBTEX_IDS", 1)
    assert MAX_BIBTEX_IDS == 500
    with app_client(lab) as alice:
        login(alice, "alice")
        html = alice.get("/account").text
        assert "2 starred papers; the files hold the newest 1." in html
        assert links(html)["export-ris"] == "/api/export?ids=2608.19210&format=ris"
