"""Notes on cards, in a real browser on the 1,007-paper union day of a lab's instance
(COOLPAPERS_AUTH=password): alice logs in through the real /login form and writes a note with
the card's [Note] editor; shared, bob (another browser context, logged in the same way) sees
it on the card with her name; private, he never does. A note full of markup runs no script in
either browser. Later batches of cards get their notes; anonymous readers get no [Note] and
ask for nothing. The app under uvicorn, headless Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import store
from coolpapers.db import session_scope
from coolpapers.models import utcnow
from coolpapers.web import urls
from tests.browser import IMG, SCRIPT, chromium, open_tab, require_chromium
from tests.lab_browser import Reader, card, card_ids, lab_members
from tests.union_day import FIRST_CARDS, UnionSite, union_site

pytestmark = pytest.mark.browser

LIST = "/arxiv/cs.AI,cs.CL,cs.CV,cs.LG"
MEMBERS = ("alice", "bob", "carol")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UnionSite]:
    require_chromium()
    tmp = tmp_path_factory.mktemp("browser-notes")
    with union_site(Path(tmp), auth="password") as s:
        yield s


@pytest.fixture(scope="module")
def db(site: UnionSite) -> Iterator[sessionmaker[Session]]:
    """The site's own database, with the lab's members."""
    with lab_members(site.settings, MEMBERS) as factory:
        yield factory


@pytest.fixture(scope="module")
def browser(site: UnionSite) -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def readers(browser: Browser, site: UnionSite, db: object) -> Iterator[list[Reader]]:
    opened: list[Reader] = []
    yield opened
    for reader in opened:
        assert reader.tab.pwned() is None
        reader.close()


def open_reader(browser: Browser, site: UnionSite, readers: list[Reader]) -> Reader:
    reader = Reader(open_tab(browser, site.url))
    readers.append(reader)
    return reader


def notes(page: Page, paper_id: str) -> Locator:
    return card(page, paper_id).locator("div.notes > div.note")


def write(page: Page, paper_id: str, text: str, *, shared: bool) -> None:
    """Through the card's [Note] editor, as a member does."""
    here = card(page, paper_id)
    here.locator("button.title-note").click()
    editor = here.locator("form.note-editor")
    area = editor.locator("textarea.note-text")
    expect(area).to_be_enabled()  # the member's note has been read
    area.fill(text)
    box = editor.locator("input.note-share")
    if box.is_checked() != shared:
        box.click()
    editor.locator("button.note-save").click()
    expect(editor).to_have_count(0)


def first_ids(browser: Browser, site: UnionSite, readers: list[Reader]) -> list[str]:
    anonymous = open_reader(browser, site, readers)
    anonymous.goto(LIST)
    ids = card_ids(anonymous.page)
    assert len(ids) == FIRST_CARDS
    # no [Note], no notes and no request for them without an account
    expect(anonymous.page.locator("button.title-note")).to_have_count(0)
    expect(anonymous.page.locator("div.notes")).to_have_count(0)
    assert anonymous.asked_ids(urls.api_notes()) == []
    return ids


def test_a_shared_note_shows_on_the_labs_cards_a_private_one_does_not(
    browser: Browser, site: UnionSite, db: sessionmaker[Session], readers: list[Reader]
) -> None:
    ids = first_ids(browser, site, readers)
    shared_on, private_on = ids[1], ids[2]

    alice = open_reader(browser, site, readers)
    alice.log_in("alice", LIST)
    page = alice.page
    expect(page.locator("button.title-note")).to_have_count(FIRST_CARDS)
    write(page, shared_on, "Read **section 3** with the group.", shared=True)
    mine = notes(page, shared_on)
    expect(mine).to_have_count(1)
    expect(mine.locator(".note-author")).to_have_text("alice (you)")
    expect(mine.locator(".note-scope")).to_have_text("shared with the lab")
    expect(mine.locator(".note-body strong")).to_have_text("section 3")
    expect(card(page, shared_on).locator("button.title-note.has-note")).to_have_count(1)
    write(page, private_on, "Only for me: the proof of lemma 2 looks wrong.", shared=False)
    expect(notes(page, private_on).locator(".note-scope")).to_have_text("private")
    # one request for the page's cards, one for each editor opened (its note, afresh)
    assert alice.asked_ids(urls.api_notes()) == [ids, [shared_on], [private_on]]

    bob = open_reader(browser, site, readers)
    bob.log_in("bob", LIST)
    theirs = notes(bob.page, shared_on)
    expect(theirs).to_have_count(1)
    expect(theirs).to_have_class("note theirs shared")
    expect(theirs.locator(".note-author")).to_have_text("alice")
    expect(theirs.locator(".note-body")).to_have_text("Read section 3 with the group.")
    assert bob.asked_ids(urls.api_notes()) == [ids]
    # alice's private note: nowhere on bob's page, and 404 when he asks for it by name
    expect(notes(bob.page, private_on)).to_have_count(0)
    expect(bob.page.locator("div.note")).to_have_count(1)
    assert "lemma" not in bob.page.content()
    asked = bob.page.request.get(urls.api_note(private_on) + "?author=alice")
    assert asked.status == 404 and "lemma" not in asked.text()

    # bob writes his own beside hers: his first, then the lab's
    write(bob.page, shared_on, "Agreed.", shared=False)
    expect(notes(bob.page, shared_on).locator(".note-author")).to_have_text(["bob (you)", "alice"])

    # alice opens her note again: the editor starts from it; she takes it back, then deletes
    here = card(page, shared_on)
    here.locator("button.title-note").click()
    area = here.locator("textarea.note-text")
    expect(area).to_have_value("Read **section 3** with the group.")
    expect(here.locator("input.note-share")).to_be_checked()
    here.locator("button.note-delete").click()
    expect(here.locator("form.note-editor")).to_have_count(0)
    expect(notes(page, shared_on)).to_have_count(0)
    bob.page.reload()
    expect(notes(bob.page, shared_on).locator(".note-author")).to_have_text(["bob (you)"])


def test_a_note_full_of_markup_runs_no_script(
    browser: Browser, site: UnionSite, db: sessionmaker[Session], readers: list[Reader]
) -> None:
    ids = first_ids(browser, site, readers)
    chosen = ids[5]
    hostile = (
        f"{SCRIPT} {IMG} *still a note*\n\n[a link](javascript:window.__pwned=1) "
        '<a href="javascript:window.__pwned=1">raw</a> <svg onload="window.__pwned=1">'
    )
    carol = open_reader(browser, site, readers)
    carol.log_in("carol", LIST)
    write(carol.page, chosen, hostile, shared=True)
    for reader in (carol, open_reader(browser, site, readers)):
        if reader is not carol:
            reader.log_in("alice", LIST)
        body = notes(reader.page, chosen).locator(".note-body")
        expect(body.locator("em")).to_have_text("still a note")
        expect(body).to_contain_text(SCRIPT)  # shown as text, not run
        assert body.locator("script, img, svg, [onerror], [onload]").count() == 0
        assert body.locator('a[href^="javascript"]').count() == 0
        assert reader.tab.pwned() is None
        reader.goto(urls.notes())
        expect(reader.page.locator("#lab-notes .note-body em").first).to_have_text("still a note")
        assert reader.tab.pwned() is None


def test_later_batches_get_their_notes(
    browser: Browser, site: UnionSite, db: sessionmaker[Session], readers: list[Reader]
) -> None:
    first_ids(browser, site, readers)
    alice = open_reader(browser, site, readers)
    alice.log_in("alice", LIST)
    page = alice.page
    more = page.locator("p.more a[rel=next]").get_attribute("href")
    assert more
    batch = page.request.get(more + "&fragment=1")
    assert batch.ok
    second = re.findall(r'<div id="([^"]+)" class="panel paper', batch.text())
    assert len(second) == FIRST_CARDS
    far = second[3]
    with session_scope(db, write=True) as s:
        found = store.user_by_name(s, "bob")
        assert found is not None
        assert store.put_note(s, found[0].id, far, "From the second batch.", True, utcnow())

    expect(card(page, far)).to_have_count(0)
    page.locator("p.more").scroll_into_view_if_needed()
    expect(notes(page, far).locator(".note-body")).to_have_text("From the second batch.")
    expect(card(page, far).locator("button.title-note")).to_have_count(1)
    asked = alice.asked_ids(urls.api_notes())
    assert len(asked) == 2 and len(asked[1]) == FIRST_CARDS and far in asked[1]
