"""A member's personal Atom feeds behind a token in the URL (web.feeds, made on web.me's account
page), through the real app on SQLite and Postgres: the token's life (new, replaced, revoked),
whose stars a token shows (its member's only), a disabled member's token, no hint in a refusal,
the feeds open when the lab's papers are not, and the token kept out of the logs."""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import accounts, ingest, store
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.models import utcnow
from coolpapers.web import feeds
from tests.accounts_kit import Hashes, add, app_client, login, password_settings, use_fast_hashes
from tests.conftest import RSS, Stock

ATOM = "{http://www.w3.org/2005/Atom}"
LG = RSS / "rss-cs.LG-2026-08-21-fri.xml"
FEED_URL_RE = re.compile(r'id="feed-(stars|lab)"[^>]*value="([^"]+)"')


@pytest.fixture(autouse=True)
def hashes(monkeypatch: pytest.MonkeyPatch) -> Hashes:
    return use_fast_hashes(monkeypatch)


def _ingest_lg(factory: sessionmaker[Session], settings: Settings) -> None:
    [report] = ingest.ingest_files(factory, [LG])
    assert not report.failed


@pytest.fixture
def lab(stock: Stock, settings: Settings, hashes: Hashes) -> Iterator[Settings]:
    """The cs.LG day stored, alice and bob members with stars of their own (alice's newest
    first: 2608.19297, then 2608.19234; bob's: 2608.19210, then 2608.19234)."""
    factory = stock("cs.LG day", _ingest_lg)
    alice = add(factory, "alice")
    bob = add(factory, "bob")
    now = utcnow()
    with session_scope(factory, write=True) as s:
        store.star(s, alice.id, "2608.19234", now - timedelta(hours=3))
        store.star(s, alice.id, "2608.19297", now - timedelta(hours=1))
        store.star(s, bob.id, "2608.19210", now - timedelta(hours=2))
        store.star(s, bob.id, "2608.19234", now - timedelta(hours=4))
    yield password_settings(settings)


def new_feed_urls(client: TestClient) -> dict[str, str]:
    """POST the account page's "new feed address": the feed URLs the answer shows (once)."""
    response = client.post("/account/feed-token/new")
    assert response.status_code == 200, response.text[:300]
    found = dict(FEED_URL_RE.findall(response.text))
    assert set(found) == {"stars", "lab"}, response.text
    return found


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def entries(response: object) -> list[tuple[str, str]]:
    """(paper id, updated) of a feed's entries, in order."""
    root = ET.fromstring(response.content)  # type: ignore[attr-defined]
    found = []
    for entry in root.iter(f"{ATOM}entry"):
        link = entry.findtext(f"{ATOM}id") or ""
        found.append((link.rsplit("/arxiv/", 1)[1], entry.findtext(f"{ATOM}updated") or ""))
    return found


def ids(response: object) -> list[str]:
    return [paper_id for paper_id, _ in entries(response)]


def test_a_token_shows_its_members_stars_and_nobody_elses(lab: Settings) -> None:
    with app_client(lab) as alice, app_client(lab) as bob, app_client(lab) as reader:
        assert login(alice, "alice").status_code == 303
        assert login(bob, "bob").status_code == 303
        alices = new_feed_urls(alice)
        bobs = new_feed_urls(bob)
        assert alices["stars"] != bobs["stars"]
        assert re.fullmatch(r"http://testserver/feeds/[A-Za-z0-9_-]{43}/stars", alices["stars"])

        # a feed reader: no cookie, only the URL
        mine = reader.get(path_of(alices["stars"]))
        assert mine.status_code == 200, mine.text
        assert mine.headers["content-type"] == "application/atom+xml; charset=utf-8"
        assert ids(mine) == ["2608.19297", "2608.19234"]  # newest star first
        root = ET.fromstring(mine.content)
        assert root.findtext(f"{ATOM}title") == "alice's stars · Cool Papers"
        # each entry is dated when it was starred, the feed when the newest was
        updated = [u for _, u in entries(mine)]
        assert updated == sorted(updated, reverse=True) and len(set(updated)) == 2
        assert root.findtext(f"{ATOM}updated") == updated[0]
        theirs = reader.get(path_of(bobs["stars"]))
        assert ids(theirs) == ["2608.19210", "2608.19234"]
        assert "2608.19297" not in theirs.text  # alice's star is not in bob's feed

        # the lab's week: every member's stars, most starred first
        week = reader.get(path_of(alices["lab"]))
        assert week.status_code == 200
        # starred by both, then by the most recent star
        assert ids(week) == ["2608.19234", "2608.19297", "2608.19210"]
        assert ids(reader.get(path_of(bobs["lab"]))) == ids(week)


def test_a_new_token_ends_the_old_one_and_revoking_ends_it(lab: Settings) -> None:
    with app_client(lab) as alice, app_client(lab) as reader:
        login(alice, "alice")
        first = new_feed_urls(alice)
        assert reader.get(path_of(first["stars"])).status_code == 200
        second = new_feed_urls(alice)
        assert second["stars"] != first["stars"]
        for which in ("stars", "lab"):
            gone = reader.get(path_of(first[which]))
            assert gone.status_code == 404, which
            assert reader.get(path_of(second[which])).status_code == 200

        revoked = alice.post("/account/feed-token/revoke")
        assert revoked.status_code == 303
        assert revoked.headers["location"] == "/account"
        for which in ("stars", "lab"):
            assert reader.get(path_of(second[which])).status_code == 404
        # revoking twice is no error
        assert alice.post("/account/feed-token/revoke").status_code == 303


def test_refusals_are_one_404_whatever_the_reason(lab: Settings) -> None:
    with app_client(lab) as alice, app_client(lab) as reader:
        login(alice, "alice")
        urls = new_feed_urls(alice)
        live = path_of(urls["stars"])
        token = live.split("/")[2]
        assert reader.get(live).status_code == 200

        factory = alice.app.state.sessionmaker  # type: ignore[attr-defined]
        accounts.disable_member(factory, "alice", utcnow())
        disabled = reader.get(live)
        wrong = reader.get(live.replace(token, token[:-1] + ("A" if token[-1] != "A" else "B")))
        never = reader.get("/feeds/not-a-token-at-all/stars")
        too_long = reader.get(f"/feeds/{'x' * 500}/lab")
        # the same page each time, with nothing that tells the cases apart
        said = set()
        for response in (disabled, wrong, never, too_long):
            assert response.status_code == 404
            main = re.search(r"<main>(.*)</main>", response.text, re.DOTALL)
            assert main is not None
            said.add(main[1])
        assert len(said) == 1 and "no feed at this address" in said.pop()

        accounts.enable_member(factory, "alice")
        assert reader.get(live).status_code == 200  # the token was not spent by the disable


def test_feeds_answer_without_login_when_the_papers_are_private(lab: Settings) -> None:
    private = lab.model_copy(update={"public_read": False})
    with app_client(private) as alice, app_client(private) as reader:
        assert reader.get("/arxiv/2608.19234").status_code in (303, 401)  # the lab is closed
        login(alice, "alice")
        urls = new_feed_urls(alice)
        assert reader.get(path_of(urls["stars"])).status_code == 200
        assert reader.get(path_of(urls["lab"])).status_code == 200
        assert reader.get("/feeds/wrong/stars").status_code == 404  # not the login page


def test_feeds_are_cached_privately_and_polled_cheaply(lab: Settings) -> None:
    with app_client(lab) as alice, app_client(lab) as reader:
        login(alice, "alice")
        path = path_of(new_feed_urls(alice)["stars"])
        first = reader.get(path)
        assert first.headers["cache-control"] == "private, max-age=300"
        assert first.headers["x-robots-tag"] == "noindex"
        assert first.headers["referrer-policy"]  # the site's policy, as on every answer
        etag = first.headers["etag"]
        again = reader.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag
        other = reader.get(path, headers={"If-None-Match": '"something-else"'})
        assert other.status_code == 200
        # a new star changes the feed, so a reader holding the old one gets the new
        with session_scope(alice.app.state.sessionmaker, write=True) as s:  # type: ignore[attr-defined]
            member = store.user_by_name(s, "alice")
            assert member is not None
            store.star(s, member[0].id, "2608.19210", utcnow())
        changed = reader.get(path, headers={"If-None-Match": etag})
        assert changed.status_code == 200 and ids(changed)[0] == "2608.19210"


def test_no_feeds_without_accounts(client: TestClient) -> None:
    for path in ("/feeds/anything/stars", "/feeds/anything/lab"):
        assert client.get(path).status_code == 404
    assert client.post("/account/feed-token/new").status_code == 404


def test_creating_a_token_cross_site_is_refused(lab: Settings) -> None:
    with app_client(lab) as alice:
        login(alice, "alice")
        evil = alice.post(
            "/account/feed-token/new",
            headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
        )
        assert evil.status_code == 403
        assert "Make my feed address" in alice.get("/account").text  # still no token


def test_the_token_stays_out_of_the_logs(
    lab: Settings, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    with app_client(lab, raise_server_exceptions=False) as alice:
        login(alice, "alice")
        path = path_of(new_feed_urls(alice)["stars"])
        token = path.split("/")[2]

        def broken(*args: object) -> object:
            raise RuntimeError("the database went away")

        monkeypatch.setattr(store, "stars_of", broken)
        caplog.set_level(logging.INFO)
        assert alice.get(path).status_code == 500  # our error boundary logs the request
        # uvicorn's access log line, as uvicorn writes it. A live server started earlier in
        # this process configured that logger (its own handler, no propagation, a level):
        # let its record reach the capture, through the filter the app installed
        access = logging.getLogger("uvicorn.access")
        caplog.set_level(logging.INFO, logger="uvicorn.access")
        monkeypatch.setattr(access, "propagate", True)
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", path, "1.1", 200)
        logging.getLogger("coolpapers.web.errors").warning(f"odd request {path}")
    # what the app and its server log (httpx here is the test's own client, not the site's)
    ours = [r for r in caplog.records if not r.name.startswith("httpx")]
    text = "\n".join(r.getMessage() for r in ours) + "".join(caplog.handler.format(r) for r in ours)
    assert "unhandled error on GET /feeds/…/stars" in text
    assert '"GET /feeds/…/stars HTTP/1.1" 200' in text
    assert token not in text


def test_redaction_leaves_other_paths_alone() -> None:
    assert feeds.redact("GET /feeds/abc_-123/lab?x=1") == "GET /feeds/…/lab?x=1"
    assert feeds.redact("GET /arxiv/cs.LG/feed") == "GET /arxiv/cs.LG/feed"
    assert feeds.redact("/feeds/") == "/feeds/"
