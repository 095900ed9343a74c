"""Helpers of the browser tests: headless Chromium from the system (never downloaded), tabs that
record every request and dialog, and a hostile feed made from a real one. The app is served by
``tests.live_server.serve``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Dialog, Page, Route, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_chromium() -> None:
    """Skip without a system Chromium; in CI (CI=true) its absence is a failure."""
    if CHROMIUM.exists():
        return
    message = (
        f"{CHROMIUM} is missing: `make test` installs it when run as root, or run "
        "`sudo apt-get update && sudo apt-get install -y chromium`"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class Tab:
    """A page whose requests and dialogs are recorded (see ``open_tab``)."""

    page: Page
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, url)
    offsite: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def urls(self, since: int = 0) -> list[str]:
        return [url for _, url in self.requests[since:]]

    def pwned(self) -> object:
        return self.page.evaluate("() => window.__pwned")


# Chromium's own PDF viewer (an opened [PDF]) loads its parts from these, inside the browser
BROWSER_OWN = ("chrome://", "chrome-extension://")


def open_tab(
    browser: Browser, base_url: str, *, locale: str | None = None, javascript: bool = True
) -> Tab:
    """A fresh page whose every request is recorded; none may leave 127.0.0.1 (aborted if one
    tries), and every dialog (alert/confirm/prompt) is recorded and dismissed."""
    context = browser.new_context(
        base_url=base_url,
        viewport={"width": 1280, "height": 900},
        locale=locale,
        java_script_enabled=javascript,
    )
    # how long an action waits for its element before the test fails: only a bound, never spent
    # by a passing test, so generous for a loaded machine
    context.set_default_timeout(15_000)
    page = context.new_page()
    tab = Tab(page)

    def route(r: Route) -> None:
        url = r.request.url
        if url.startswith(BROWSER_OWN):  # Chromium's PDF viewer: inside the browser, no network
            r.continue_()
            return
        tab.requests.append((r.request.method, url))
        if urlsplit(url).hostname != "127.0.0.1":
            tab.offsite.append(url)
            r.abort()
        else:
            r.continue_()

    def dialog(d: Dialog) -> None:
        tab.dialogs.append(f"{d.type}: {d.message}")
        d.dismiss()

    context.route("**/*", route)
    page.on("dialog", dialog)
    return tab


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


# What the decoded text of a hostile feed item carries (escaped once in the XML).
SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=1">'
JS_URL = "javascript:window.__pwned=1"
HOSTILE_ID = "2504.17039"


def _xml(text: str) -> bytes:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").encode()


def _replace_once(body: bytes, old: bytes, new: bytes) -> bytes:
    assert body.count(old) == 1, old
    return body.replace(old, new)


def hostile_feed(real: Path, out: Path) -> Path:
    """The real cs.CV feed of 2025-04-25 with its first item (2504.17039) made hostile: markup in
    the title, abstract and an author, ``javascript:`` as DOI and licence, and an attribute
    breakout in the journal reference. Escaped once, so the XML stays well-formed."""
    body = real.read_bytes()
    body = _replace_once(
        body,
        b"<title>Dense Air Pollution Estimation",
        b"<title>" + _xml(SCRIPT + IMG) + b" Dense Air Pollution Estimation",
    )
    body = _replace_once(
        body,
        b"Abstract: This paper addresses the critical environmental",
        b"Abstract: " + _xml(SCRIPT + IMG) + b" This paper addresses the critical environmental",
    )
    body = _replace_once(
        body,
        b"<dc:rights>http://creativecommons.org/licenses/by/4.0/</dc:rights>\n"
        b"      <dc:creator>Ruben Gonzalez Avil\\'es,",
        b"<dc:rights>" + _xml(JS_URL) + b"</dc:rights>\n"
        b"      <arxiv:DOI>" + _xml(JS_URL + "//10.1000/x") + b"</arxiv:DOI>\n"
        b"      <arxiv:journal_reference>" + _xml('">' + SCRIPT) + b"</arxiv:journal_reference>\n"
        b"      <dc:creator>" + _xml(IMG) + b" Ruben, " + _xml(SCRIPT) + b",",
    )
    out.write_bytes(body)
    return out
