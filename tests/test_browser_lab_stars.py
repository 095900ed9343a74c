"""A member's stars in a real browser, on a lab's instance (AUTH=password) serving the real
1,007-paper union day: logged in through the /login form, a star is kept in the account (not
in the browser), shows in a second browser logged in as the same member and in a second tab at
once; the first login offers this browser's stars for import (once); the star panel's BibTeX
holds the starred papers and its RIS and CSL-JSON links name them; a write the server refuses
is rolled back and said. The app under uvicorn, headless Chromium."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from argon2 import PasswordHasher, Type
from playwright.sync_api import Browser, Locator, Page, expect
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import accounts, store
from coolpapers.accounts import passwords
from coolpapers.db import make_engine, make_sessionmaker, session_scope
from coolpapers.models import utcnow
from coolpapers.web import urls
from tests.browser import Tab, chromium, open_tab, require_chromium
from tests.union_day import FIRST_CARDS, UNION_DAY, UnionSite, union_items, union_site

pytestmark = pytest.mark.browser

LIST = "/arxiv/cs.AI,cs.CL,cs.CV,cs.LG"
LIST_KEY = f"{LIST}?date={UNION_DAY.isoformat()}"
PASSWORD = "correct horse battery"
UNKNOWN = "2608.99999"
_names = itertools.count(1)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UnionSite]:
    """The union day on a lab's instance; argon2id at its smallest parameters (the same code:
    the logins here are many, their cost is ``bench/login.py``'s subject)."""
    require_chromium()
    fast = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1, type=Type.ID)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "hasher", lambda: fast)
        patch.setattr(passwords, "_dummy_hash", lambda: fast.hash("nobody's"))
        tmp = Path(tmp_path_factory.mktemp("browser-lab-stars"))
        with union_site(tmp, auth="password") as s:
            yield s


@pytest.fixture(scope="module")
def factory(site: UnionSite) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(site.settings)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def browser(site: UnionSite) -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def member(factory: sessionmaker[Session]) -> str:
    """A new member for each test: the server's stars of one test are not another's."""
    name = f"member{next(_names)}"
    accounts.add_member(factory, name, PASSWORD, admin=False, now=utcnow())
    return name


class Browsers:
    """The test's browsers (contexts: separate cookies and storage), their console errors
    collected; each test ends with none but those it expects."""

    def __init__(self, browser: Browser, site: UnionSite) -> None:
        self.browser = browser
        self.site = site
        self.tabs: list[Tab] = []
        self.errors: list[str] = []
        self.expected: list[re.Pattern[str]] = []  # errors a test provokes on purpose

    def open(self) -> Page:
        tab = open_tab(self.browser, self.site.url)
        self.tabs.append(tab)
        self.watch(tab.page)
        return tab.page

    def watch(self, page: Page) -> None:
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def close(self) -> None:
        for tab in self.tabs:
            tab.page.context.close()
            assert not tab.offsite, tab.offsite

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.expected)]


@pytest.fixture
def browsers(browser: Browser, site: UnionSite) -> Iterator[Browsers]:
    b = Browsers(browser, site)
    yield b
    b.close()
    assert not b.unexpected(), b.errors


def log_in(page: Page, name: str, next_path: str = LIST) -> None:
    """Through the real form, as a member does."""
    page.goto(urls.login(next_path))
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click(".login-form button[type=submit]")
    expect(page).to_have_url(re.compile(re.escape(next_path) + "$"))
    page.wait_for_load_state()  # the scripts have started (their buttons answer)
    expect(page.locator("body")).to_have_attribute("data-member", name)


def card_ids(page: Page) -> list[str]:
    ids: list[str] = page.locator("div.papers div.paper").evaluate_all("cs => cs.map(c => c.id)")
    return ids


def star_of(page: Page, paper_id: str) -> Locator:
    return page.locator(f'div.paper[id="{paper_id}"] button.star')


def on_server(factory: sessionmaker[Session], name: str) -> dict[str, str]:
    """The member's stars in the database: id -> starred_at (ISO, UTC)."""
    with session_scope(factory) as s:
        found = store.user_by_name(s, name)
        assert found is not None
        return {i: at.isoformat() for i, at in store.star_times(s, found[0].id)}


def wait_for_server(page: Page, ids: set[str]) -> None:
    """Until the member's GET /api/stars (this browser's cookie) holds exactly ``ids``."""
    page.wait_for_function(
        """async (ids) => {
             const r = await fetch("/api/stars?brief=1");
             const got = (await r.json()).papers.map((p) => p.id).sort();
             return JSON.stringify(got) === JSON.stringify(ids);
           }""",
        arg=sorted(ids),
        polling=100,
    )


def browser_store(page: Page) -> list[dict[str, object]]:
    raw = page.evaluate("localStorage.getItem('cp.stars')")
    return json.loads(raw) if raw else []


# ----------------------------------------------------------------------------- the account's stars


def test_a_star_follows_the_member_to_another_browser_and_tab(
    browsers: Browsers, factory: sessionmaker[Session], member: str
) -> None:
    laptop = browsers.open()
    log_in(laptop, member)
    ids = card_ids(laptop)
    assert len(ids) == FIRST_CARDS
    chosen = ids[2]
    # a second tab of the same browser, open before the star is made
    other_tab = laptop.context.new_page()
    browsers.watch(other_tab)
    other_tab.goto(LIST)
    expect(star_of(other_tab, chosen)).to_have_attribute("aria-pressed", "false")

    star_of(laptop, chosen).click()
    expect(star_of(laptop, chosen)).to_have_attribute("aria-pressed", "true")
    wait_for_server(laptop, {chosen})
    assert browser_store(laptop) == []  # kept in the account, not in this browser
    expect(star_of(other_tab, chosen)).to_have_attribute("aria-pressed", "true")  # at once
    expect(laptop.locator("#bar-stars .star-count")).to_have_text("1")
    first_time = on_server(factory, member)[chosen]

    # another browser, the same member: the star is there
    desktop = browsers.open()
    log_in(desktop, member)
    expect(star_of(desktop, chosen)).to_have_attribute("aria-pressed", "true")
    expect(star_of(desktop, ids[3])).to_have_attribute("aria-pressed", "false")
    desktop.goto("/stars")
    expect(desktop.locator(".stars-where")).to_contain_text(f"kept in your account ({member})")
    expect(desktop.locator("#stars-cards div.paper")).to_have_count(1)
    expect(desktop.locator(f'#stars-cards [id="{chosen}"] .starred-at time')).to_have_attribute(
        "datetime", re.compile(r"^\d{4}-\d\d-\d\dT")
    )
    # starring it again there keeps the first time
    desktop.goto(f"/arxiv/{chosen}")
    expect(star_of(desktop, chosen)).to_have_attribute("aria-pressed", "true")

    # un-starred on the desktop; the laptop's tab learns it when the reader comes back to it
    star_of(desktop, chosen).click()
    expect(star_of(desktop, chosen)).to_have_attribute("aria-pressed", "false")
    wait_for_server(desktop, set())
    laptop.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    expect(star_of(laptop, chosen)).to_have_attribute("aria-pressed", "false")
    expect(laptop.locator("#bar-stars .star-count")).to_have_text("")

    # and starred again on the laptop: a new star
    star_of(laptop, chosen).click()
    wait_for_server(laptop, {chosen})
    assert on_server(factory, member)[chosen] > first_time


def test_quick_toggles_reach_the_server_in_order(
    browsers: Browsers, factory: sessionmaker[Session], member: str
) -> None:
    page = browsers.open()
    log_in(page, member)
    ids = card_ids(page)
    button = star_of(page, ids[0])
    for _ in range(5):  # star, un-star, … star: five clicks without waiting for the server
        button.click()
    expect(button).to_have_attribute("aria-pressed", "true")
    star_of(page, ids[1]).click()
    star_of(page, ids[1]).click()  # starred then un-starred
    wait_for_server(page, {ids[0]})
    page.reload()
    expect(star_of(page, ids[0])).to_have_attribute("aria-pressed", "true")
    expect(star_of(page, ids[1])).to_have_attribute("aria-pressed", "false")
    assert set(on_server(factory, member)) == {ids[0]}


def test_a_refused_star_is_rolled_back_and_said(
    browsers: Browsers, factory: sessionmaker[Session], member: str
) -> None:
    page = browsers.open()
    log_in(page, member)
    chosen = card_ids(page)[4]
    # the session ends behind the page's back (logged out in another tab)
    assert page.request.post(urls.logout(), max_redirects=0).status == 303
    star_of(page, chosen).click()
    expect(page.locator(".star-toast")).to_contain_text("session has ended")
    expect(star_of(page, chosen)).to_have_attribute("aria-pressed", "false")
    assert on_server(factory, member) == {}
    # the browser logs the refused requests (401): the errors expected here, and only those
    browsers.expected.append(re.compile(r"status of 401 \(Unauthorized\)"))
    assert browsers.errors


# ------------------------------------------------------------------------- import on first login


def seed_browser(page: Page, stars: list[dict[str, object]]) -> None:
    """Stars made in this browser before logging in (anonymous: the browser's own store)."""
    page.goto(LIST)
    expect(page.locator("body")).not_to_have_attribute("data-member", re.compile("."))
    page.evaluate("raw => localStorage.setItem('cp.stars', raw)", json.dumps(stars))
    page.reload()
    for star in stars:  # the anonymous page shows them as this browser's
        if page.locator(f'div.paper[id="{star["id"]}"]').count():
            expect(star_of(page, str(star["id"]))).to_have_attribute("aria-pressed", "true")


def test_first_login_offers_this_browsers_stars_once(
    browsers: Browsers, factory: sessionmaker[Session], member: str
) -> None:
    page = browsers.open()
    page.goto(LIST)
    ids = card_ids(page)
    far = union_items()[-1].meta.id  # starred on another page
    browser_stars: list[dict[str, object]] = [
        {"id": ids[1], "at": "2026-09-01T10:00:00.000Z", "title": "one", "page": LIST_KEY},
        {"id": ids[6], "at": "2026-09-01T10:05:00.000Z", "title": "two", "page": LIST_KEY},
        {"id": far, "at": None, "title": "far", "page": "/arxiv/cs.CV"},
        {"id": UNKNOWN, "at": "2026-09-01T10:07:00.000Z", "title": "gone"},
    ]
    seed_browser(page, browser_stars)
    # the account has one of them already, starred later than this browser did (now)
    with session_scope(factory, write=True) as s:
        found = store.user_by_name(s, member)
        assert found is not None
        store.star(s, found[0].id, ids[6], utcnow())

    log_in(page, member)
    offer = page.locator(".star-import")
    expect(offer).to_be_visible()
    expect(offer).to_contain_text("3 starred papers that your account")
    importing = offer.locator("button.import-stars")
    expect(importing).to_have_text("Import 3 stars from this browser")
    # before the import the account's star shows, the browser-only ones do not
    expect(star_of(page, ids[6])).to_have_attribute("aria-pressed", "true")
    expect(star_of(page, ids[1])).to_have_attribute("aria-pressed", "false")

    importing.click()
    expect(offer).to_contain_text("Imported 2 stars into your account.")
    expect(offer).to_contain_text(f"1 star could not be: not papers of this site ({UNKNOWN})")
    expect(star_of(page, ids[1])).to_have_attribute("aria-pressed", "true")
    stars = on_server(factory, member)
    assert set(stars) == {ids[1], ids[6], far}
    assert stars[ids[1]].startswith("2026-09-01T10:00:00")  # the browser's own time
    assert stars[ids[6]].startswith("2026-09-01T10:05:00")  # the earlier of the two
    # the star list of this page: its two cards (the third was starred on another page)
    page.click("#bar-stars")
    expect(page.locator("#star-list a[href^='#']")).to_have_count(2)
    offer.locator("button.close-import").click()
    expect(offer).to_have_count(0)

    # asked once: not again on the next page, nor after logging in again
    page.reload()
    expect(star_of(page, ids[1])).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".star-import")).to_have_count(0)
    answer = page.evaluate(f"localStorage.getItem('cp.stars.imported.{member}')")
    assert json.loads(answer)["answer"] == "imported"
    assert len(browser_store(page)) == 4  # the browser's own store is left as it was


def test_declining_the_import_is_remembered_for_that_member(
    browsers: Browsers, factory: sessionmaker[Session], member: str
) -> None:
    page = browsers.open()
    page.goto(LIST)
    chosen = card_ids(page)[3]
    seed_browser(page, [{"id": chosen, "at": "2026-09-01T10:00:00.000Z", "title": "x"}])
    log_in(page, member)
    offer = page.locator(".star-import")
    expect(offer.locator("button.import-stars")).to_have_text("Import 1 star from this browser")
    offer.locator("button.dismiss-import").click()
    expect(offer).to_have_count(0)
    # the page reads the member's stars as it loads: wait for that read, or the log-out below
    # can end the session first and the read is answered 401 (a console error)
    with page.expect_response(lambda r: urlsplit(r.url).path == urls.api_stars()):
        page.reload()
    expect(page.locator("div.paper")).to_have_count(FIRST_CARDS)
    expect(page.locator(".star-import")).to_have_count(0)
    expect(star_of(page, chosen)).to_have_attribute("aria-pressed", "false")
    assert on_server(factory, member) == {}

    # another member logging in from this browser is asked for themselves
    page.request.post(urls.logout(), max_redirects=0)
    other = f"member{next(_names)}"
    accounts.add_member(factory, other, PASSWORD, admin=False, now=utcnow())
    log_in(page, other)
    expect(page.locator(".star-import button.import-stars")).to_be_visible()


# ----------------------------------------------------------------------------- exports


def test_the_star_panel_exports_the_members_stars(browsers: Browsers, member: str) -> None:
    page = browsers.open()
    log_in(page, member)
    ids = card_ids(page)
    chosen = [ids[2], ids[9]]
    for paper_id in chosen:
        star_of(page, paper_id).click()
    wait_for_server(page, set(chosen))
    page.reload()  # the list as the account has it, not as this page made it
    page.click("#bar-stars")
    panel = page.locator("#star-panel")
    expect(panel.locator("a.export")).to_have_attribute("href", "/arxiv/" + ",".join(chosen))
    joined = ",".join(chosen)
    expect(panel.locator("a.bibtex")).to_have_attribute("href", urls.bibtex(chosen))
    assert urls.bibtex(chosen) == f"/api/bibtex?ids={joined}"
    for fmt, cls in (("ris", "a.ris"), ("csl-json", "a.csl")):
        expect(panel.locator(cls)).to_have_attribute("href", urls.export(chosen, fmt))
        expect(panel.locator(cls)).not_to_have_attribute("aria-disabled", "true")

    with page.expect_download() as download:
        panel.locator("a.bibtex").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert sorted(re.findall(r"eprint=\{([^}]*)\}", text)) == sorted(chosen)
    assert text.count("@misc{") == 2
