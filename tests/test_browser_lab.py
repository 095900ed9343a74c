"""What the lab is reading, in a real browser on the 1,007-paper union day of a lab's instance
(COOLPAPERS_AUTH=password): a member who logs in through the real /login form sees on each card
who in the lab starred it ("★ 1 · alice"), the cards of later batches too, long lists folded,
their own star joining the line at once; /lab's cards keep the server's line; anonymous
readers see nothing of it. The app under uvicorn, headless Chromium.

Other members' stars are rows put in the site's database (the lab's history as the server
keeps it, at explicit times, so that the order of names is known), or a member's PUT
/api/stars/{id}: what another member sees comes from the server, not from their browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import store
from coolpapers.db import session_scope
from coolpapers.models import Star, utcnow
from coolpapers.web import urls
from tests.browser import chromium, open_tab, require_chromium
from tests.lab_browser import Reader, card_ids, lab_members
from tests.union_day import FIRST_CARDS, UnionSite, union_site

pytestmark = pytest.mark.browser

LIST = "/arxiv/cs.AI,cs.CL,cs.CV,cs.LG"
LAB_STARS = "/api/lab/stars"
MEMBERS = ("alice", "bob", "carol", "dave", "erin")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UnionSite]:
    require_chromium()
    tmp = tmp_path_factory.mktemp("browser-lab")
    with union_site(Path(tmp), auth="password") as s:
        yield s


@pytest.fixture(scope="module")
def db(site: UnionSite) -> Iterator[sessionmaker[Session]]:
    """The site's own database, with the lab's five members."""
    with lab_members(site.settings, MEMBERS) as factory:
        yield factory


@pytest.fixture(scope="module")
def browser(site: UnionSite) -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def readers(browser: Browser, site: UnionSite, db: object) -> Iterator[list[Reader]]:
    """Up to a few readers a test opens with ``open_reader``; closed and checked after it."""
    opened: list[Reader] = []
    yield opened
    for reader in opened:
        reader.close()


def open_reader(browser: Browser, site: UnionSite, readers: list[Reader]) -> Reader:
    reader = Reader(open_tab(browser, site.url))
    readers.append(reader)
    return reader


def star(db: sessionmaker[Session], name: str, paper_id: str, minutes_ago: int) -> None:
    with session_scope(db, write=True) as s:
        found = store.user_by_name(s, name)
        assert found is not None
        at = utcnow() - timedelta(minutes=minutes_ago)
        s.add(Star(user_id=found[0].id, paper_id=paper_id, starred_at=at))


def line(page: Page, paper_id: str) -> Locator:
    return page.locator(f'div.paper[id="{paper_id}"] p.lab-stars')


def star_button(page: Page, paper_id: str) -> Locator:
    return page.locator(f'div.paper[id="{paper_id}"] button.star')


def test_a_member_sees_who_in_the_lab_starred_a_card(
    browser: Browser, site: UnionSite, db: sessionmaker[Session], readers: list[Reader]
) -> None:
    anonymous = open_reader(browser, site, readers)
    anonymous.goto(LIST)
    ids = card_ids(anonymous.page)
    assert len(ids) == FIRST_CARDS
    chosen = ids[1]
    # alice logs in and stars it through the API (PUT /api/stars/{id})
    alice = open_reader(browser, site, readers)
    alice.log_in("alice", LIST)
    starred = alice.page.request.put(urls.api_star(chosen))
    assert starred.ok and starred.json()["starred"] is True, starred.text()

    bob = open_reader(browser, site, readers)
    bob.log_in("bob", LIST)
    page = bob.page
    expect(line(page, chosen)).to_have_text("★ 1 · alice")
    # after the authors, the only line on the page; one request for the page's cards
    expect(page.locator(f'[id="authors-{chosen}"] + p.lab-stars')).to_have_count(1)
    expect(page.locator("p.lab-stars")).to_have_count(1)
    assert bob.asked_ids(LAB_STARS) == [ids]

    # bob's own star joins the line at once, and leaves it
    star_button(page, chosen).click()
    expect(line(page, chosen)).to_have_text("★ 2 · alice, bob")
    expect(line(page, chosen).locator(".lab-member.me")).to_have_text("bob")
    star_button(page, chosen).click()
    expect(line(page, chosen)).to_have_text("★ 1 · alice")
    # and on a card nobody else starred
    star_button(page, ids[2]).click()
    expect(line(page, ids[2])).to_have_text("★ 1 · bob")
    star_button(page, ids[2]).click()
    expect(line(page, ids[2])).to_have_count(0)

    # an anonymous reader of the same page: no names, not even a request for them
    anonymous.page.reload()
    expect(anonymous.page.locator("div.paper")).to_have_count(FIRST_CARDS)
    expect(anonymous.page.locator("p.lab-stars")).to_have_count(0)
    assert anonymous.asked_ids(LAB_STARS) == []


def test_long_lists_fold_and_later_batches_are_asked_for(
    browser: Browser, site: UnionSite, db: sessionmaker[Session], readers: list[Reader]
) -> None:
    carol = open_reader(browser, site, readers)
    carol.goto(LIST)
    ids = card_ids(carol.page)
    more = carol.page.locator("p.more a[rel=next]").get_attribute("href")
    assert more
    second = carol.page.request.get(more + "&fragment=1")
    assert second.ok
    batch = re.findall(r'<div id="([^"]+)" class="panel paper', second.text())
    assert len(batch) == FIRST_CARDS
    far = batch[4]
    popular = ids[6]
    for n, name in enumerate(MEMBERS):  # in this order: alice first
        star(db, name, popular, minutes_ago=100 - n)
    star(db, "dave", far, minutes_ago=10)

    carol.log_in("carol", LIST)
    page = carol.page
    folded = line(page, popular)
    expect(folded).to_have_text("★ 5 · alice, bob, carol +2")
    expect(folded.locator(".lab-member.me")).to_have_text("carol")
    folded.locator("button.lab-more").click()
    expect(folded).to_have_text("★ 5 · alice, bob, carol, dave, erin")

    # the second batch arrives by lazy loading: its cards are asked for in one request
    expect(page.locator(f'div.paper[id="{far}"]')).to_have_count(0)
    page.locator("p.more").scroll_into_view_if_needed()
    expect(line(page, far)).to_have_text("★ 1 · dave")
    asked = carol.asked_ids(LAB_STARS)
    assert len(asked) == 2 and len(asked[1]) == FIRST_CARDS and far in asked[1]


def test_the_lab_page_keeps_its_own_lines(
    browser: Browser, site: UnionSite, db: sessionmaker[Session], readers: list[Reader]
) -> None:
    erin = open_reader(browser, site, readers)
    erin.goto(LIST)
    chosen = card_ids(erin.page)[12]
    star(db, "alice", chosen, minutes_ago=20)
    star(db, "bob", chosen, minutes_ago=10)
    erin.log_in("erin", urls.lab())
    page = erin.page
    card = page.locator(f'div.paper[id="{chosen}"]')
    expect(card.locator("p.lab-stars .lab-member")).to_have_text(["alice", "bob"])
    # one line per card, the server's (the week's stars, with when): the script adds none
    n = page.locator("div.paper").count()
    assert n >= 1
    expect(page.locator("p.lab-stars")).to_have_count(n)
    expect(page.locator("p.lab-stars.lab-window")).to_have_count(n)
    assert erin.asked_ids(LAB_STARS) == []
