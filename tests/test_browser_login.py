"""Logging in and out in a real browser on a lab's instance (COOLPAPERS_AUTH=password): the form,
the member's name in the top bar, the error of a wrong password, logging out; and a member's
settings following them (static/js/interests.js and GET/PUT /api/settings): the FAQ language
and the interests chosen in one browser context are there in a second one, a first login
carries this browser's own settings into the account and not another member's. The app under
uvicorn, headless Chromium; nothing sleeps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import schema, store
from coolpapers.config import Settings
from coolpapers.db import make_engine, make_sessionmaker, session_scope
from coolpapers.models import utcnow
from coolpapers.web import create_app, urls
from tests.browser import Tab, chromium, open_tab, require_chromium
from tests.conftest import make_settings
from tests.fakes.arxiv_server import FakeArxiv
from tests.lab_browser import CHEAP_HASH, PASSWORD
from tests.live_server import serve

pytestmark = pytest.mark.browser

MEMBERS = ("alice", "bob", "carol", "dave", "erin")


class Site:
    def __init__(self, url: str, settings: Settings, db: sessionmaker[Session]) -> None:
        self.url, self.settings, self.db = url, settings, db

    def stored_settings(self, name: str) -> dict[str, Any]:
        with session_scope(self.db) as s:
            (member,) = [m for m in store.list_users(s) if m.name == name]
            return store.user_settings(s, member.id)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require_chromium()
    tmp = Path(tmp_path_factory.mktemp("browser-login"))
    with FakeArxiv() as fake:
        settings = make_settings(f"sqlite:///{tmp / 'lab.db'}", tmp / "data", fake, auth="password")
        engine = make_engine(settings)
        schema.upgrade(engine)
        db = make_sessionmaker(engine)
        with session_scope(db, write=True) as s:
            for name in MEMBERS:
                store.add_user(s, name, CHEAP_HASH, is_admin=False, now=utcnow())
        try:
            with serve(create_app(settings)) as url:
                yield Site(url, settings, db)
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Browser]:
    with chromium() as b:
        yield b


class Visitor:
    """A browser context of its own (English locale: the FAQ language defaults to English),
    whose console errors and uncaught exceptions are collected: each test ends with none."""

    def __init__(self, tab: Tab) -> None:
        self.tab = tab
        self.page = tab.page
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def goto(self, path: str) -> None:
        response = self.page.goto(path)
        assert response is not None and response.status == 200, path

    def fill_login(self, name: str, password: str) -> None:
        self.page.fill("input[name=username]", name)
        self.page.fill("input[name=password]", password)
        with self.page.expect_navigation():
            self.page.click("form.login-form button[type=submit]")

    def login(self, name: str, then: str = "/") -> None:
        """Through the real form, as a member would: /login?next=…, then back to ``then``."""
        self.goto(urls.login(then))
        self.fill_login(name, PASSWORD)
        assert urlsplit(self.page.url).path == then
        expect(self.page.locator("body")).to_have_attribute("data-member", name)


@pytest.fixture
def visitors(browser: Browser, site: Site) -> Iterator[list[Visitor]]:
    """``visitors`` grows a new context each time ``new_visitor`` is called."""
    made: list[Visitor] = []
    yield made
    for v in made:
        v.page.context.close()
    for v in made:
        assert not v.errors, v.errors
        assert not v.tab.offsite, v.tab.offsite


@pytest.fixture
def new_visitor(browser: Browser, site: Site, visitors: list[Visitor]) -> Any:
    def make() -> Visitor:
        v = Visitor(open_tab(browser, site.url, locale="en-US"))
        visitors.append(v)
        return v

    return make


# ---------------------------------------------------------------- the door


def test_log_in_see_the_name_log_out(new_visitor: Any) -> None:
    v = new_visitor()
    page = v.page
    v.goto("/stars")
    expect(page.locator("body")).not_to_have_attribute("data-member", "alice")
    with page.expect_navigation():
        page.click("a.login-link")
    assert page.url.endswith(urls.login("/stars"))
    # the member's stars page reads her list as it loads: wait for it, or the log-out below can
    # end the session first and that read is answered 401 (a console error)
    with page.expect_response(lambda r: urlsplit(r.url).path == urls.api_stars()):
        v.fill_login("alice", PASSWORD)
    assert page.url.endswith("/stars")  # back where the link was clicked
    expect(page.locator("nav a.me")).to_have_text("alice")
    expect(page.locator("body")).to_have_attribute("data-member", "alice")
    expect(page.locator("a.login-link")).to_have_count(0)
    # the session cookie is out of the page's reach
    assert page.evaluate("() => document.cookie") == ""
    cookies = page.context.cookies()
    assert [(c["name"], c["httpOnly"], c["sameSite"]) for c in cookies] == [
        ("cp_session", True, "Lax")
    ]

    with page.expect_navigation():
        page.click("form.logout button")
    assert urlsplit(page.url).path == "/"
    expect(page.locator("nav a.me")).to_have_count(0)
    expect(page.locator("a.login-link")).to_be_visible()
    expect(page.locator("body[data-member]")).to_have_count(0)
    assert page.context.cookies() == []
    # back to the member's page: the server no longer knows this browser
    v.goto("/stars")
    expect(page.locator("nav a.me")).to_have_count(0)


def test_a_wrong_password_shows_the_error(new_visitor: Any) -> None:
    v = new_visitor()
    page = v.page
    v.goto(urls.login("/stars"))
    page.fill("input[name=username]", "bob")
    page.fill("input[name=password]", "not the password")
    with page.expect_response(
        lambda r: r.url.endswith("/login") and r.request.method == "POST"
    ) as info:
        page.click("form.login-form button[type=submit]")
    assert info.value.status == 401
    expect(page.locator("p.error[role=alert]")).to_have_text("wrong name or password")
    expect(page.locator("input[name=username]")).to_have_value("bob")  # kept
    expect(page.locator("input[name=password]")).to_have_value("")  # not sent back
    expect(page.locator("input[name=next]")).to_have_value("/stars")
    expect(page.locator("nav a.me")).to_have_count(0)
    v.errors = [e for e in v.errors if "401" not in e]  # the console reports the 401 load
    # an unknown name reads the same
    page.fill("input[name=username]", "nobody")
    page.fill("input[name=password]", "not the password")
    with page.expect_navigation():
        page.click("form.login-form button[type=submit]")
    expect(page.locator("p.error[role=alert]")).to_have_text("wrong name or password")
    v.errors = [e for e in v.errors if "401" not in e]
    # and then the right one
    page.fill("input[name=username]", "bob")
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("form.login-form button[type=submit]")
    assert page.url.endswith("/stars")
    expect(page.locator("nav a.me")).to_have_text("bob")


# ---------------------------------------------------------------- settings that follow a member


def faq_lang(page: Page) -> str:
    value: str = page.locator("#faq-lang").input_value()
    return value


def wait_for_put(page: Page, holding: str = "") -> Any:
    """The answer to a PUT /api/settings (whose body holds ``holding``): the first login's own
    write may still be on its way when a test changes a setting."""
    return page.expect_response(
        lambda r: (
            r.url.endswith("/api/settings")
            and r.request.method == "PUT"
            and holding in (r.request.post_data or "")
        )
    )


def interests(page: Page, call: str) -> Any:
    """Run ``call`` (an expression of ``m``, the page's interests.js) in the page."""
    module = "const m = await import('/static/js/interests.js')"
    return page.evaluate(f"async () => {{ {module}; return await ({call}); }}")


def test_a_members_faq_language_and_interests_follow_them(new_visitor: Any, site: Site) -> None:
    first = new_visitor()
    first.login("carol")
    first.page.wait_for_function("() => document.getElementById('faq-lang').value === 'en'")
    with wait_for_put(first.page, holding='"faq_lang":"zh"') as put:
        first.page.select_option("#faq-lang", "zh")
    assert put.value.status == 200
    assert site.stored_settings("carol")["faq_lang"] == "zh"
    interests(first.page, "(m.setCat('cs.LG', 'follow'), m.setCat('cs.AI', 'exclude'))")
    interests(first.page, "(m.setPrefs(['diffusion models', 'sheaves']), m.saved())")
    assert site.stored_settings("carol") == {
        "faq_lang": "zh",
        "categories": ["cs.LG", "-cs.AI"],
        "prefs": ["diffusion models", "sheaves"],
    }

    second = new_visitor()  # another browser: nothing of carol's in its storage
    second.goto("/")
    assert faq_lang(second.page) == "en"
    second.login("carol")
    second.page.wait_for_function(
        "() => document.getElementById('faq-lang').value === 'zh'", polling="raf"
    )
    # the bottom bar's copy of the select follows too
    assert second.page.locator("#bar-faq-lang").count() == 0 or (
        second.page.locator("#bar-faq-lang").input_value() == "zh"
    )
    assert interests(second.page, "m.cats()") == {"follow": ["cs.LG"], "exclude": ["cs.AI"]}
    assert interests(second.page, "m.prefs()") == ["diffusion models", "sheaves"]
    # the home page drawn before they arrived shows them (its chooser redraws on cp:settings)
    expect(second.page.locator('button.tri[data-cat="cs.LG"]')).to_have_attribute(
        "data-state", "follow"
    )
    expect(second.page.locator('button.tri[data-cat="cs.AI"]')).to_have_attribute(
        "data-state", "exclude"
    )
    # a reload reads the cache at once, before the account answers
    second.page.reload()
    assert faq_lang(second.page) == "zh"


def test_a_first_login_takes_this_browsers_own_settings(new_visitor: Any, site: Site) -> None:
    v = new_visitor()
    v.goto("/")
    v.page.select_option("#faq-lang", "zh")  # anonymous: kept in this browser only
    interests(v.page, "m.setPrefs(['topology'])")
    with wait_for_put(v.page) as put:
        v.login("dave")  # dave's account has none yet: this browser's become his
    assert put.value.status == 200
    interests(v.page, "m.ready")
    assert site.stored_settings("dave") == {
        "faq_lang": "zh",
        "categories": [],
        "prefs": ["topology"],
    }

    # erin logs in on the same browser after dave: dave's settings do not become hers
    with v.page.expect_navigation():
        v.page.click("form.logout button")
    v.login("erin")
    v.page.wait_for_function(
        "() => document.getElementById('faq-lang').value === 'en'", polling="raf"
    )
    assert interests(v.page, "m.prefs()") == []
    assert site.stored_settings("erin") == {}
