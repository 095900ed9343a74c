"""Seen papers in a real browser, on the 1,007-paper union day of a lab's instance
(COOLPAPERS_AUTH=password): a member logs in through the real /login form, clicks "Mark all
above as read" on the 3rd card, and the first three cards show as seen — after a reload too,
since the server keeps them; "Hide papers I have seen" hides them (and stays chosen); the
list's head links to /unread, which starts at the 4th card; opening a paper marks it; the
marker makes a paper unread again; lazily loaded cards get all of it too. Anonymous readers
get none of it. The app under uvicorn, headless Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import store
from coolpapers.db import session_scope
from coolpapers.models import Seen
from coolpapers.web import urls
from tests.browser import chromium, open_tab, require_chromium
from tests.lab_browser import Reader, card_ids, lab_members
from tests.union_day import FIRST_CARDS, UNION_SPEC, UnionSite, union_site

pytestmark = pytest.mark.browser

LIST = urls.day_list(UNION_SPEC)
MEMBERS = ("alice", "bob", "carol")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UnionSite]:
    require_chromium()
    tmp = tmp_path_factory.mktemp("browser-seen")
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
def reader(browser: Browser, site: UnionSite, db: object) -> Iterator[Reader]:
    tab = open_tab(browser, site.url)
    r = Reader(tab)
    yield r
    r.close()


def seen_ids(page: Page) -> list[str]:
    ids: list[str] = page.locator("div.papers div.paper.seen").evaluate_all(
        "cs => cs.map(c => c.id)"
    )
    return ids


def stored(db: sessionmaker[Session], name: str) -> set[str]:
    with session_scope(db) as s:
        found = store.user_by_name(s, name)
        assert found is not None
        return set(s.scalars(select(Seen.paper_id).where(Seen.user_id == found[0].id)))


def decorated(page: Page) -> None:
    """seen.js has asked about the cards: every listed card has its button."""
    page.wait_for_function(
        """() => { const cards = document.querySelectorAll('div.papers div.paper');
                   return cards.length > 0 && [...cards].every(
                     c => c.querySelector(':scope > button.mark-above')); }""",
        polling="raf",
    )


def mark_above(page: Page, index: int) -> None:
    """Clicks "Mark all above as read" on the card at ``index`` and waits for the server."""
    button = page.locator("div.papers div.paper").nth(index).locator("button.mark-above")
    expect(button).to_have_text("Mark all above as read")
    with page.expect_response(
        lambda r: r.url.endswith("/api/seen") and r.request.method == "POST"
    ) as answer:
        button.click()
    assert answer.value.status == 200


def test_mark_all_above_reload_and_hide_seen(
    reader: Reader, db: sessionmaker[Session], site: UnionSite
) -> None:
    page = reader.page
    reader.log_in("alice", LIST)
    decorated(page)
    cards = card_ids(page)
    assert len(cards) == FIRST_CARDS
    assert seen_ids(page) == []

    mark_above(page, 2)  # the 3rd card
    assert seen_ids(page) == cards[:3]
    for paper_id in cards[:3]:
        expect(page.locator(f'div.paper[id="{paper_id}"] h2 button.seen-mark')).to_have_text("seen")
    expect(page.locator(f'div.paper[id="{cards[3]}"] button.seen-mark')).to_have_count(0)
    assert stored(db, "alice") == set(cards[:3])
    assert stored(db, "bob") == set()

    # the server has them: after a reload they are still seen, and only they
    page.reload()
    decorated(page)
    page.wait_for_function(
        "n => document.querySelectorAll('div.papers div.paper.seen').length === n",
        arg=3,
        polling="raf",
    )
    assert seen_ids(page) == cards[:3]

    # the list's head counts what is left unread and links to it
    link = page.locator("section.listhead p.unread-link a")
    expect(link).to_have_text(re.compile(r"^1,004 unread since "))
    assert link.get_attribute("href") == urls.unread(UNION_SPEC)

    # hide seen: from the settings panel; the three go, the 4th is the first card shown
    page.click("#bar-settings")
    box = page.locator("#hide-seen")
    expect(box).to_be_visible()
    expect(box).not_to_be_checked()
    box.check()
    expect(page.locator("body")).to_have_class(re.compile(r"\bhide-seen\b"))
    for paper_id in cards[:3]:
        expect(page.locator(f'div.paper[id="{paper_id}"]')).to_be_hidden()
    expect(page.locator(f'div.paper[id="{cards[3]}"]')).to_be_visible()
    # kept in this browser for this member
    page.reload()
    decorated(page)
    expect(page.locator("body")).to_have_class(re.compile(r"\bhide-seen\b"))
    expect(page.locator("#hide-seen")).to_be_checked()
    page.wait_for_function(
        "n => document.querySelectorAll('div.papers div.paper.seen').length === n",
        arg=3,
        polling="raf",
    )
    for paper_id in cards[:3]:
        expect(page.locator(f'div.paper[id="{paper_id}"]')).to_be_hidden()
    # no style attribute anywhere: the hiding is the stylesheet's
    assert page.locator("div.paper[style]").count() == 0

    # /unread starts at the 4th card, under its day's heading
    link.click()
    page.wait_for_url(f"**{urls.unread(UNION_SPEC)}")
    decorated(page)
    expect(page.locator("h2.unread-day")).to_have_count(1)
    assert card_ids(page)[:2] == cards[3:5]
    expect(page.locator("section.listhead .unread-total")).to_have_text("1,004")


def test_opening_marks_and_the_marker_unmarks(reader: Reader, db: sessionmaker[Session]) -> None:
    page = reader.page
    reader.log_in("bob", LIST)
    decorated(page)
    cards = card_ids(page)
    # what [PDF] and [FAQ] announce when a paper is opened
    with page.expect_response(lambda r: r.url.endswith("/api/seen") and r.request.method == "POST"):
        page.evaluate(
            """id => document.dispatchEvent(
                 new CustomEvent('cp:opened', {detail: {id, kind: 'pdf'}}))""",
            cards[5],
        )
    assert seen_ids(page) == [cards[5]]
    assert stored(db, "bob") == {cards[5]}
    # scrolling past cards marks nothing; the next batch (lazy loading) gets the buttons too
    page.locator("div.papers div.paper").nth(FIRST_CARDS - 1).scroll_into_view_if_needed()
    page.wait_for_function(
        "n => document.querySelectorAll('div.papers div.paper').length > n",
        arg=FIRST_CARDS,
        polling="raf",
    )
    decorated(page)
    assert stored(db, "bob") == {cards[5]}
    # the marker makes it unread again
    with page.expect_response(
        lambda r: r.url.endswith("/api/seen") and r.request.method == "DELETE"
    ) as answer:
        page.locator(f'div.paper[id="{cards[5]}"] button.seen-mark').click()
    assert answer.value.status == 200
    assert seen_ids(page) == []
    assert stored(db, "bob") == set()
    # mark all above on a lazily loaded card: every card up to it, the first batch's too
    mark_above(page, FIRST_CARDS + 4)
    everything = card_ids(page)
    assert stored(db, "bob") == set(everything[: FIRST_CARDS + 5])
    assert seen_ids(page) == everything[: FIRST_CARDS + 5]


def test_anonymous_readers_get_none_of_it(reader: Reader, site: UnionSite) -> None:
    page = reader.page
    reader.goto(LIST)
    # the settings panel opens: app.js has run every feature's init, seen.js's included
    page.click("#bar-settings")
    expect(page.locator("#settings-panel")).to_be_visible()
    expect(page.locator("button.mark-above")).to_have_count(0)
    expect(page.locator("#hide-seen")).to_have_count(0)
    assert not [u for u in reader.tab.urls() if "/api/seen" in u or "/api/unread" in u]
