"""Members' notes through the real app (SQLite and Postgres): the JSON contract, who reads what
(another member's private note is never answered: 404 when asked for, absent from lists, the
page and searches), the body's bounds, sanitized Markdown, search of one's own notes, /notes."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import accounts, ingest, store
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.models import Paper, utcnow
from coolpapers.web import create_app, urls
from coolpapers.web.auth import SESSION_COOKIE
from tests.conftest import RSS, Stock, make_settings
from tests.fakes.arxiv_server import FakeArxiv

MEMBERS = ("alice", "bob", "carol")
NOTE_KEYS = {"paper_id", "author", "body", "html", "shared", "mine", "updated_at"}
HOSTILE = (
    '**bold** <script>window.__pwned=1</script> <img src=x onerror="window.__pwned=1">\n\n'
    '[click](javascript:window.__pwned=1) <a href="javascript:alert(1)">raw</a>'
)


@pytest.fixture
def settings(database_url: str, tmp_path: Path, fake_arxiv: FakeArxiv) -> Settings:
    return make_settings(database_url, tmp_path / "data", fake_arxiv, auth="password")


def _build(factory: sessionmaker[Session], settings: Settings) -> None:
    [report] = ingest.ingest_files(factory, [RSS / "rss-cs.CL-2026-08-20-thu.xml"])
    assert not report.failed
    with session_scope(factory, write=True) as s:  # logged in already: no argon2 per test
        for name in MEMBERS:
            added = store.add_user(s, name, None, is_admin=False, now=utcnow())
            store.create_session(s, accounts.token_hash(_token(name)), added.id, utcnow())


def _token(name: str) -> str:
    return f"session-of-{name}-" + "x" * 32


@pytest.fixture
def lab(stock: Stock) -> sessionmaker[Session]:
    """A real day of cs.CL and three members: built once per worker, copied into each test."""
    return stock("cs.CL day, three members", _build)


@pytest.fixture
def papers(lab: sessionmaker[Session]) -> list[str]:
    with session_scope(lab) as s:
        ids = list(s.scalars(select(Paper.id).order_by(Paper.id).limit(4)))
    assert len(ids) == 4
    return ids


class Markup(HTMLParser):
    """The elements of an HTML text, its dangerous attributes (``on…``, ``javascript:`` URLs)
    and its text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.bad: list[tuple[str, str | None]] = []
        self.text = ""
        self.inline_scripts = 0
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "script" and not dict(attrs).get("src"):
            self.inline_scripts += 1
        for name, value in attrs:
            if name.startswith("on") or "javascript:" in (value or "").lower():
                self.bad.append((name, value))

    def handle_data(self, data: str) -> None:
        self.text += data


def _titles(factory: sessionmaker[Session], ids: list[str]) -> dict[str, str]:
    with session_scope(factory) as s:
        return {p.id: p.title for p in s.scalars(select(Paper).where(Paper.id.in_(ids)))}


def member(client: TestClient, name: str) -> TestClient:
    """Another browser on the same app (its own cookies), with ``name``'s session (the login
    form itself is tests/test_browser_notes.py's)."""
    other = TestClient(client.app, follow_redirects=False)
    other.cookies.set(SESSION_COOKIE, _token(name))
    return other


@pytest.fixture
def alice(client: TestClient, lab: object) -> TestClient:
    return member(client, "alice")


@pytest.fixture
def bob(client: TestClient, lab: object) -> TestClient:
    return member(client, "bob")


def put(who: TestClient, paper_id: str, body: str, shared: bool = False) -> dict[str, object]:
    answer = who.put(urls.api_note(paper_id), json={"body": body, "shared": shared})
    assert answer.status_code == 200, answer.text
    data: dict[str, object] = answer.json()
    return data


def notes_on(who: TestClient, ids: list[str]) -> list[dict[str, object]]:
    answer = who.get(urls.api_notes(), params={"ids": ",".join(ids)})
    assert answer.status_code == 200, answer.text
    notes: list[dict[str, object]] = answer.json()["notes"]
    return notes


# ------------------------------------------------------------------------------- the contract


def test_write_read_rewrite_delete(
    alice: TestClient, lab: sessionmaker[Session], papers: list[str]
) -> None:
    pid = papers[0]
    first = put(alice, pid, "Read *section 3* first.")
    assert set(first) == NOTE_KEYS
    assert first["paper_id"] == pid and first["author"] == "alice"
    assert first["body"] == "Read *section 3* first."
    assert first["html"] == "<p>Read <em>section 3</em> first.</p>\n"
    assert first["shared"] is False and first["mine"] is True
    assert alice.get(urls.api_note(pid)).json() == first

    with session_scope(lab) as s:
        alice_id = store.user_by_name(s, "alice")
        assert alice_id is not None
        created = store.get_note(s, alice_id[0].id, pid)
    assert created is not None

    again = put(alice, pid, "Changed my mind.", shared=True)
    assert again["body"] == "Changed my mind." and again["shared"] is True
    assert str(again["updated_at"]) >= str(first["updated_at"])
    with session_scope(lab) as s:
        rewritten = store.get_note(s, alice_id[0].id, pid)
    assert rewritten is not None
    assert rewritten.created_at == created.created_at  # one note, its first time kept
    assert rewritten.updated_at >= created.updated_at
    assert [n["body"] for n in notes_on(alice, [pid])] == ["Changed my mind."]

    assert alice.delete(urls.api_note(pid)).json() == {"paper_id": pid, "deleted": True}
    assert alice.delete(urls.api_note(pid)).json() == {"paper_id": pid, "deleted": False}
    gone = alice.get(urls.api_note(pid))
    assert gone.status_code == 404 and gone.json()["status"] == 404
    assert notes_on(alice, [pid]) == []


def test_versioned_and_prefixed_ids_name_the_same_note(
    alice: TestClient, papers: list[str]
) -> None:
    pid = papers[1]
    put(alice, f"arXiv:{pid}v2", "one note")
    assert alice.get(urls.api_note(pid)).json()["paper_id"] == pid
    assert [n["paper_id"] for n in notes_on(alice, [f"{pid}v1", pid])] == [pid]


def test_private_note_is_the_authors_alone(
    alice: TestClient, bob: TestClient, papers: list[str]
) -> None:
    pid = papers[0]
    put(alice, pid, "alice's secret thought")
    put(bob, pid, "bob's own note")

    seen_by_bob = notes_on(bob, papers)
    assert [(n["author"], n["mine"]) for n in seen_by_bob] == [("bob", True)]
    assert "secret" not in bob.get(urls.api_notes(), params={"ids": pid}).text

    # asked for directly: the same 404 as a note that does not exist
    private = bob.get(urls.api_note(pid), params={"author": "alice"})
    assert private.status_code == 404
    assert "secret" not in private.text
    missing = bob.get(urls.api_note(papers[2]), params={"author": "alice"})
    assert missing.status_code == 404
    assert private.json()["error"] == missing.json()["error"].replace(papers[2], pid)
    assert bob.get(urls.api_note(pid), params={"author": "nobody"}).status_code == 404

    # nor in bob's search, his /notes page or the lab's list
    assert bob.get(urls.api_notes(), params={"query": "secret"}).json() == {"notes": []}
    assert "secret" not in bob.get(urls.notes()).text
    assert "thought" not in bob.get(urls.notes("secret")).text
    # while alice reads it everywhere
    assert [n["author"] for n in notes_on(alice, [pid])] == ["alice"]  # bob's is his
    assert "alice's secret thought" in alice.get(urls.notes()).text.replace("&#39;", "'")


def test_shared_note_shows_to_the_lab_with_its_author(
    alice: TestClient, bob: TestClient, papers: list[str]
) -> None:
    pid = papers[0]
    put(alice, pid, "Worth a **journal club**.", shared=True)
    put(bob, pid, "my private take")
    put(bob, papers[1], "bob shares this", shared=True)

    [shown] = [n for n in notes_on(bob, papers) if n["author"] == "alice"]
    assert shown["mine"] is False and shown["shared"] is True
    assert shown["html"] == "<p>Worth a <strong>journal club</strong>.</p>\n"
    direct = bob.get(urls.api_note(pid), params={"author": "alice"})
    assert direct.status_code == 200 and direct.json() == shown

    # a paper's notes: the reader's own first, then the lab's
    assert [(n["paper_id"], n["author"]) for n in notes_on(bob, papers[:2])] == sorted(
        [(pid, "bob"), (pid, "alice"), (papers[1], "bob")],
        key=lambda pair: (pair[0], pair[1] != "bob"),
    )
    # alice sees bob's shared note, not his private one
    assert [(n["paper_id"], n["author"]) for n in notes_on(alice, papers) if not n["mine"]] == [
        (papers[1], "bob")
    ]

    # taken back to private: gone from bob's view at once
    put(alice, pid, "Worth a **journal club**.", shared=False)
    assert [n["author"] for n in notes_on(bob, [pid])] == ["bob"]
    assert bob.get(urls.api_note(pid), params={"author": "alice"}).status_code == 404


def test_members_only(
    client: TestClient, settings: Settings, lab: object, papers: list[str]
) -> None:
    pid = papers[0]
    anonymous = [
        client.get(urls.api_notes(), params={"ids": pid}),
        client.get(urls.api_note(pid)),
        client.put(urls.api_note(pid), json={"body": "x", "shared": False}),
        client.delete(urls.api_note(pid)),
    ]
    assert [a.status_code for a in anonymous] == [401] * 4
    assert all(a.json()["status"] == 401 for a in anonymous)
    page = client.get(urls.notes())
    assert page.status_code == 303 and page.headers["location"] == urls.login(urls.notes())

    with TestClient(create_app(settings.model_copy(update={"auth": "none"}))) as open_site:
        assert open_site.get(urls.api_notes(), params={"ids": pid}).status_code == 404
        assert open_site.get(urls.api_note(pid)).status_code == 404
        assert open_site.put(urls.api_note(pid), json={"body": "x"}).status_code == 404
        assert open_site.delete(urls.api_note(pid)).status_code == 404
        assert open_site.get(urls.notes()).status_code == 404


def test_cross_site_writes_are_refused(alice: TestClient, papers: list[str]) -> None:
    pid = papers[0]
    evil = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    put(alice, pid, "kept")
    refused = alice.put(urls.api_note(pid), json={"body": "defaced"}, headers=evil)
    assert refused.status_code == 403
    assert alice.delete(urls.api_note(pid), headers=evil).status_code == 403
    assert alice.get(urls.api_note(pid)).json()["body"] == "kept"


# ------------------------------------------------------------------------------- bounds


def test_bad_bodies_are_refused_and_store_nothing(alice: TestClient, papers: list[str]) -> None:
    pid = papers[0]
    path = urls.api_note(pid)
    assert alice.put(path, json={"body": "x" * 10_000, "shared": False}).status_code == 200
    alice.delete(path)
    bad: list[object] = [
        {"body": "x" * 10_001, "shared": False},  # over 10,000 characters
        {"body": "note", "shared": False, "author_id": 2},  # no other field
        {"body": "note", "shared": "yes"},
        {"body": 5, "shared": False},
        {"shared": True},
        {"body": "   \n ", "shared": False},
        {"body": "nul \x00 here", "shared": False},
        ["note"],
        None,
    ]
    for payload in bad:
        answer = alice.put(path, json=payload)
        assert answer.status_code == 400, (payload, answer.text)
        assert answer.json()["status"] == 400
    for raw in (b"{", b"", b'{"body": "\\ud800"}'):
        answer = alice.put(path, content=raw, headers={"Content-Type": "application/json"})
        assert answer.status_code == 400, (raw, answer.text)
    huge = b'{"body": "' + b"x" * 200_000 + b'", "shared": false}'
    answer = alice.put(path, content=huge, headers={"Content-Type": "application/json"})
    assert answer.status_code == 413 and answer.json()["status"] == 413
    assert alice.get(path).status_code == 404  # none of them wrote a note


def test_bad_ids_and_unknown_papers(alice: TestClient, papers: list[str]) -> None:
    unknown = alice.put(urls.api_note("2401.99999"), json={"body": "x"})
    assert unknown.status_code == 404 and "not stored" in unknown.json()["error"]
    assert alice.get(urls.api_note("not-an-id")).status_code == 400
    assert alice.put(urls.api_note("not-an-id"), json={"body": "x"}).status_code == 400
    for ids in ("", ",", "2401.00001,nonsense", ",".join(["2401.00001"] * 201)):
        answer = alice.get(urls.api_notes(), params={"ids": ids})
        assert answer.status_code == 400, ids
    assert notes_on(alice, ["2401.99999"]) == []
    assert notes_on(alice, [papers[0]] * 200) == []  # 200 (the same, here) is fine


def test_markup_in_a_note_comes_back_sanitized(
    alice: TestClient, bob: TestClient, papers: list[str]
) -> None:
    pid = papers[0]
    written = put(alice, pid, HOSTILE, shared=True)
    assert written["body"] == HOSTILE  # as written: the script shows it only as text
    for note in (written, notes_on(bob, [pid])[0]):
        markup = Markup(str(note["html"]))
        assert markup.tags == ["p", "strong", "p"], markup.tags
        assert not markup.bad, markup.bad
        assert "<script>window.__pwned=1</script>" in markup.text  # shown as text
    for who in (alice, bob):
        page = Markup(who.get(urls.notes()).text)
        assert "strong" in page.tags
        assert "img" not in page.tags and not page.bad, page.bad
        assert page.inline_scripts == 0


# ------------------------------------------------------------------------------- search, /notes


def test_search_finds_the_authors_own_notes_only(
    alice: TestClient, bob: TestClient, lab: sessionmaker[Session], papers: list[str]
) -> None:
    titles = _titles(lab, papers)
    put(alice, papers[0], "Compare with the BASELINE of table 2.")
    put(alice, papers[1], "baseline is weak; 100% of runs_diverge", shared=True)
    put(alice, papers[2], "nothing to see")
    put(bob, papers[0], "bob: baseline too", shared=True)

    def found(who: TestClient, query: str) -> list[tuple[str, str]]:
        answer = who.get(urls.api_notes(), params={"query": query})
        assert answer.status_code == 200, answer.text
        return [(n["paper_id"], n["author"]) for n in answer.json()["notes"]]

    # case-insensitive, newest first, the searcher's own notes only (shared ones of others too)
    assert found(alice, "Baseline") == [(papers[1], "alice"), (papers[0], "alice")]
    assert found(bob, "baseline") == [(papers[0], "bob")]
    # % and _ are text, not patterns
    assert found(alice, "100%") == [(papers[1], "alice")]
    assert found(alice, "runs_d") == [(papers[1], "alice")]
    assert found(alice, "%") == [(papers[1], "alice")]
    assert found(alice, "s_d") == [(papers[1], "alice")]
    assert found(alice, "_") == [(papers[1], "alice")]
    # the paper's title counts too
    word = max((w for w in titles[papers[2]].split() if w.isascii() and w.isalpha()), key=len)
    assert (papers[2], "alice") in found(alice, word.upper())
    # no query: every own note, newest first
    assert found(alice, "") == [(papers[2], "alice"), (papers[1], "alice"), (papers[0], "alice")]
    # the search box's page
    page = alice.get(urls.notes("baseline"))
    assert page.status_code == 200
    mine = page.text.split('id="lab-notes"')[0]
    assert re.findall(r'data-paper="([^"]+)"', mine) == [papers[1], papers[0]]
    assert papers[2] not in mine
    # bounds: a query over 200 characters is refused
    assert alice.get(urls.api_notes(), params={"query": "x" * 201}).status_code == 400
    assert alice.get(urls.notes("x" * 201)).status_code == 400


def test_notes_page_lists_mine_and_the_labs_recent_shared_notes(
    alice: TestClient, bob: TestClient, lab: sessionmaker[Session], papers: list[str]
) -> None:
    titles = _titles(lab, papers)
    put(alice, papers[0], "my private one")
    put(alice, papers[1], "my shared one", shared=True)
    put(bob, papers[2], "bob's recent share", shared=True)
    put(bob, papers[3], "bob keeps this")
    with session_scope(lab, write=True) as s:  # an old share: out of the lab's 30 days
        found = store.user_by_name(s, "carol")
        assert found is not None
        old = utcnow() - timedelta(days=31)
        assert store.put_note(s, found[0].id, papers[0], "carol's old share", True, old)

    page = alice.get(urls.notes())
    assert page.status_code == 200
    text = page.text.replace("&#39;", "'")
    mine, shared = text.split('id="lab-notes"')
    assert re.findall(r'data-paper="([^"]+)"', mine) == [papers[1], papers[0]]
    assert "my private one" in mine and "private" in mine and "shared with the lab" in mine
    assert f'href="{urls.paper(papers[0])}"' in mine
    assert re.findall(r'data-paper="([^"]+)"', shared) == [papers[2], papers[1]]
    assert "bob's recent share" in shared and "my shared one" in shared
    assert "bob keeps this" not in text and "carol's old share" not in text
    assert "my private one" not in shared
    assert '<span class="note-author">bob</span>' in shared
    first_words = titles[papers[2]].split()[0]
    assert first_words in shared


def test_store_put_note_on_an_unknown_paper_writes_nothing(
    lab: sessionmaker[Session], papers: list[str]
) -> None:
    with session_scope(lab, write=True) as s:
        found = store.user_by_name(s, "alice")
        assert found is not None
        assert store.put_note(s, found[0].id, "2401.99999", "x", False, utcnow()) is None
        assert store.notes_for(s, found[0].id, ["2401.99999", papers[0]]) == []
