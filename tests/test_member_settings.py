"""``GET/PUT /api/settings``: a member's FAQ language, categories and preference keywords on the
server, on SQLite and Postgres: stored and normalised, exactly three fields (422 for anything
else), capped, one member's never another's, members only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import store, taxonomy
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.web import member_settings
from tests.accounts_kit import Hashes, add, app_client, login, use_fast_hashes
from tests.conftest import make_settings
from tests.fakes.arxiv_server import FakeArxiv

URL = "/api/settings"
GOOD = {"faq_lang": "en", "categories": ["cs.LG", "-cs.AI", "hep-th"], "prefs": ["diffusion"]}


@pytest.fixture(autouse=True)
def hashes(monkeypatch: pytest.MonkeyPatch) -> Hashes:
    return use_fast_hashes(monkeypatch)


@pytest.fixture
def settings(database_url: str, tmp_path: Path, fake_arxiv: FakeArxiv) -> Settings:
    return make_settings(database_url, tmp_path / "data", fake_arxiv, auth="password")


@pytest.fixture
def alice(client: TestClient, factory: sessionmaker[Session]) -> TestClient:
    add(factory, "alice")
    assert login(client, "alice").status_code == 303
    return client


def test_nothing_stored_yet(alice: TestClient) -> None:
    response = alice.get(URL)
    assert response.status_code == 200
    assert response.json() == {"faq_lang": None, "categories": [], "prefs": []}
    assert "no-store" in response.headers["cache-control"]


def test_put_then_get(alice: TestClient) -> None:
    stored = alice.put(URL, json=GOOD)
    assert stored.status_code == 200 and stored.json() == GOOD
    assert alice.get(URL).json() == GOOD
    again = {"faq_lang": "zh", "categories": [], "prefs": []}
    assert alice.put(URL, json=again).json() == again  # a PUT replaces
    assert alice.get(URL).json() == again


def test_values_are_normalised(alice: TestClient) -> None:
    sent = {
        "faq_lang": "zh",
        # any case, aliases and defunct archives mapped; a category in one list only
        "categories": ["CS.lg", "-cs.ai", "cs.LG", "-cs.LG", "math.NA", "solv-int", "-hep-TH"],
        "prefs": ["  graph   neural  nets ", "Diffusion", "diffusion", "", "   "],
    }
    got = alice.put(URL, json=sent).json()
    assert got == {
        "faq_lang": "zh",
        "categories": ["cs.LG", "-cs.AI", "math.NA", "nlin.SI", "-hep-th"],
        "prefs": ["graph neural nets", "Diffusion"],
    }


BAD: list[Any] = [
    {**GOOD, "faq_lang": "fr"},
    {**GOOD, "faq_lang": None},
    {**GOOD, "faq_lang": 1},
    {**GOOD, "categories": ["cs.XX"]},
    {**GOOD, "categories": ["cs.LG+cs.AI"]},
    {**GOOD, "categories": ["--cs.AI"]},
    {**GOOD, "categories": ["<script>"]},
    {**GOOD, "categories": "cs.LG"},
    {**GOOD, "categories": [1]},
    {**GOOD, "categories": ["cs.LG"] * 201},
    {**GOOD, "prefs": ["x" * 41]},
    {**GOOD, "prefs": ["a,b"]},
    {**GOOD, "prefs": ["nul\x00"]},
    {**GOOD, "prefs": [["nested"]]},
    {**GOOD, "prefs": [f"w{k}" for k in range(101)]},
    {**GOOD, "is_admin": True},  # mass assignment
    {**GOOD, "name": "root"},
    {"faq_lang": "en", "categories": []},  # all three, always
    {},
    [],
    "settings",
    None,
]


@pytest.mark.parametrize("body", BAD)
def test_bad_values_are_422_and_change_nothing(alice: TestClient, body: Any) -> None:
    alice.put(URL, json=GOOD)
    response = alice.put(URL, json=body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["status"] == 422 and problem["error"].startswith("bad settings")
    assert alice.get(URL).json() == GOOD


@pytest.mark.parametrize(
    "raw", [b"", b"{", b"\xff\xfe", b'{"faq_lang": "en"' + b" " * 10, b"[" * 5000 + b"]" * 5000]
)
def test_malformed_json_is_422(alice: TestClient, raw: bytes) -> None:
    response = alice.put(URL, content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 422


def test_the_caps_are_reachable_and_bodies_past_them_refused(alice: TestClient) -> None:
    every = list(taxonomy.all_categories())
    cats = (every + ["-" + c for c in every])[: member_settings.MAX_CATEGORIES]
    prefs = [f"{k:02d}" + "x" * 38 for k in range(member_settings.MAX_PREFS)]
    full = {"faq_lang": "en", "categories": cats, "prefs": prefs}
    assert len(orjson.dumps(full)) < member_settings.MAX_SETTINGS_BYTES
    stored = alice.put(URL, json=full).json()
    assert stored["categories"] == every and stored["prefs"] == prefs
    big = b'{"faq_lang": "en", "categories": [], "prefs": []' + b" " * 40_000 + b"}"
    response = alice.put(URL, content=big, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["status"] == 413


def test_each_member_has_their_own(
    alice: TestClient, settings: Settings, factory: sessionmaker[Session]
) -> None:
    add(factory, "bob")
    alice.put(URL, json=GOOD)
    with app_client(settings) as bob:
        login(bob, "bob")
        assert bob.get(URL).json() == {"faq_lang": None, "categories": [], "prefs": []}
        mine = {"faq_lang": "zh", "categories": ["math.AG"], "prefs": ["sheaves"]}
        bob.put(URL, json=mine)
        assert bob.get(URL).json() == mine
    assert alice.get(URL).json() == GOOD


def test_other_keys_of_the_stored_settings_stay(
    alice: TestClient, factory: sessionmaker[Session]
) -> None:
    with session_scope(factory, write=True) as s:
        member = store.list_users(s)[0]
        store.put_user_settings(s, member.id, {"hide_seen": True, "faq_lang": "de"})
    assert alice.get(URL).json()["faq_lang"] is None  # what no longer validates is not shown
    alice.put(URL, json=GOOD)
    with session_scope(factory) as s:
        assert store.user_settings(s, member.id) == {"hide_seen": True, **GOOD}


def test_stored_junk_is_left_out(alice: TestClient, factory: sessionmaker[Session]) -> None:
    with session_scope(factory, write=True) as s:
        member = store.list_users(s)[0]
        junk = {"faq_lang": "en", "categories": ["cs.LG", "cs.XX", 3, "-math.AG"], "prefs": "x"}
        store.put_user_settings(s, member.id, junk)
    assert alice.get(URL).json() == {
        "faq_lang": "en",
        "categories": ["cs.LG", "-math.AG"],
        "prefs": [],
    }


def test_members_only(client: TestClient, settings: Settings, engine: object) -> None:
    assert client.get(URL).status_code == 401
    assert client.put(URL, json=GOOD).status_code == 401
    with app_client(settings.model_copy(update={"auth": "none"})) as anonymous_site:
        assert anonymous_site.get(URL).status_code == 404
        assert anonymous_site.put(URL, json=GOOD).status_code == 404


def test_cross_site_writes_are_refused(alice: TestClient) -> None:
    response = alice.put(URL, json=GOOD, headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403
    assert alice.get(URL).json()["faq_lang"] is None
