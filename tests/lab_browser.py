"""What the browser tests of a lab's instance share: members with a cheap password hash in the
site's own database, and a reader (a browser context of its own) that logs in through the real
/login form and keeps its console errors, so that each test can end with none."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

from argon2 import PasswordHasher, Type
from playwright.sync_api import Locator, Page, expect
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import store
from coolpapers.config import Settings
from coolpapers.db import make_engine, make_sessionmaker, session_scope
from coolpapers.models import utcnow
from coolpapers.web import urls
from tests.browser import Tab

PASSWORD = "correct horse battery"
# argon2id at its smallest parameters: a login verifies it in microseconds
CHEAP_HASH = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1, type=Type.ID).hash(PASSWORD)


@contextmanager
def lab_members(settings: Settings, names: Sequence[str]) -> Iterator[sessionmaker[Session]]:
    """The site's own database, with these members (password ``PASSWORD``)."""
    engine = make_engine(settings)
    factory = make_sessionmaker(engine)
    with session_scope(factory, write=True) as s:
        for name in names:
            store.add_user(s, name, CHEAP_HASH, is_admin=False, now=utcnow())
    try:
        yield factory
    finally:
        engine.dispose()


class Reader:
    """A browser context of its own (a member's, or anonymous), whose console errors and
    uncaught exceptions are collected."""

    def __init__(self, tab: Tab) -> None:
        self.tab = tab
        self.page = tab.page
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def goto(self, path: str) -> None:
        response = self.page.goto(path)
        assert response is not None and response.status == 200, path

    def log_in(self, name: str, then: str) -> None:
        """Through the real form, as a member does: /login?next=…, the two fields, the button,
        back to ``then``."""
        self.goto(urls.login(then))
        self.page.fill("input[name=username]", name)
        self.page.fill("input[name=password]", PASSWORD)
        with self.page.expect_navigation():
            self.page.click("form.login-form button[type=submit]")
        assert self.page.url.endswith(then), self.page.url
        expect(self.page.locator("body")).to_have_attribute("data-member", name)

    def asked_ids(self, path: str) -> list[list[str]]:
        """The ``ids`` of each GET of ``path`` so far (a feature's batch requests)."""
        asked = []
        for method, url in self.tab.requests:
            parts = urlsplit(url)
            if method == "GET" and parts.path == path:
                asked.append(parse_qs(parts.query)["ids"][0].split(","))
        return asked

    def close(self) -> None:
        """Close the context; it must have logged no error and asked no other site."""
        self.page.context.close()
        assert not self.errors, self.errors
        assert not self.tab.offsite, self.tab.offsite


def card_ids(page: Page) -> list[str]:
    ids: list[str] = page.locator("div.papers div.paper").evaluate_all("cs => cs.map(c => c.id)")
    return ids


def card(page: Page, paper_id: str) -> Locator:
    return page.locator(f'div.paper[id="{paper_id}"]')
