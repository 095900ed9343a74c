"""The FAQ ([Kimi]) button in a real browser: the app under uvicorn on 127.0.0.1 with a FAQ worker
beside it, a fake LLM and a fake arXiv (serving the LaTeXML fixture as every paper's HTML), SQLite,
headless Chromium from the system driven through Playwright."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import ingest, schema
from coolpapers.config import Settings
from coolpapers.db import make_engine, make_sessionmaker, session_scope
from coolpapers.models import Paper
from coolpapers.summarize import jobs, prompts
from coolpapers.web import create_app
from tests.browser import Tab, chromium, open_tab, require_chromium
from tests.conftest import FIXTURES, RSS, make_settings
from tests.fakes.arxiv_server import FakeArxiv
from tests.fakes.llm_server import MODEL, FakeLLM, Mode
from tests.live_server import serve

pytestmark = pytest.mark.browser

FAQ_SHOT = "/tmp/coolpapers-faq.png"
HTML = FIXTURES / "paper" / "latexml_paper.html"
LIST = "/arxiv/cs.LG"
DONE_TIMEOUT_MS = 15_000
# One slow answer per question: 8 pieces 50 ms apart, so the page sees the text grow.
SLOW = Mode.ok(chunks=8, chunk_delay_s=0.05)


@dataclass
class Site:
    url: str
    settings: Settings
    factory: sessionmaker[Session]
    llm: FakeLLM


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The real app on SQLite with the cs.LG listing of 2026-08-21, its FAQ worker running, a fake
    LLM and a fake arXiv that serves the LaTeXML fixture as the HTML of every stored paper."""
    require_chromium()
    tmp = tmp_path_factory.mktemp("browser-faq")
    with FakeArxiv() as arxiv, FakeLLM() as llm:
        settings = make_settings(
            f"sqlite:///{tmp / 'faq.db'}",
            tmp / "data",
            arxiv,
            llm_base_url=llm.base_url,
            llm_model=MODEL,
            llm_api_key="sk-test",
        )
        engine = make_engine(settings)
        schema.upgrade(engine)
        factory = make_sessionmaker(engine)
        reports = ingest.ingest_files(factory, [RSS / "rss-cs.LG-2026-08-21-fri.xml"])
        assert not any(r.failed for r in reports), [r.line() for r in reports]
        with session_scope(factory) as s:
            for pid, version in s.execute(select(Paper.id, Paper.version)):
                arxiv.serve(f"/html/{pid}v{version}", HTML, content_type="text/html")
        worker = jobs.FaqWorker(factory, settings, idle_poll_s=0.05)
        worker.start()
        try:
            with serve(create_app(settings)) as url:
                yield Site(url, settings, factory, llm)
        finally:
            worker.stop()
            engine.dispose()
        offsite = [r.path for r in arxiv.requests if not r.path.startswith("/html/")]
        assert not offsite, f"arXiv was asked for more than paper HTML: {offsite}"


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def llm(site: Site) -> Iterator[FakeLLM]:
    """The site's fake LLM, answering normally again after each test."""
    site.llm.default = Mode.ok()
    yield site.llm
    site.llm.default = Mode.ok()
    assert not site.llm.pending, "a scripted LLM answer was not used"


def open_faq_tab(browser: Browser, base_url: str, *, javascript: bool = True) -> Tab:
    """A recorded tab whose browser prefers Chinese (so English is a choice that has to
    persist)."""
    return open_tab(browser, base_url, locale="zh-CN", javascript=javascript)


def close_tab(tab: Tab) -> None:
    tab.page.context.close()
    assert not tab.offsite, f"requests left 127.0.0.1: {tab.offsite}"
    assert not tab.dialogs, f"dialogs fired: {tab.dialogs}"


@pytest.fixture
def tab(browser: Browser, site: Site) -> Iterator[Tab]:
    t = open_faq_tab(browser, site.url)
    yield t
    close_tab(t)


def by_id(page: Page, element_id: str) -> Locator:
    """``#id`` for ids with dots in them (arXiv ids)."""
    return page.locator(f'[id="{element_id}"]')


def card_id(page: Page, n: int) -> str:
    pid = page.locator("div.paper[id]").nth(n).get_attribute("id")
    assert pid
    return pid


def choose_english(page: Page) -> None:
    page.select_option("#faq-lang", "en")
    expect(page.locator("#faq-lang")).to_have_value("en")


def faq_button(page: Page, pid: str) -> Locator:
    return page.locator(f'a.title-faq[data-paper="{pid}"]')


def expect_done(pane: Locator, timeout: float = DONE_TIMEOUT_MS) -> None:
    """The done provenance line (model, source, tokens, prompt version) and six Q sections."""
    expect(pane.locator("p.faq-state.faq-done")).to_contain_text(MODEL, timeout=timeout)
    expect(pane.locator("p.faq-state.faq-done")).to_contain_text(prompts.PROMPT_VERSION)
    expect(pane.locator(".faq-body strong", has_text=re.compile("^Q$"))).to_have_count(6)
    for question in prompts.QUESTIONS["en"]:
        expect(pane.locator(".faq-body")).to_contain_text(question)


# Every render of the pane, as the page saw it: the state line's class and text, the body length.
WATCH_JS = """(id) => {
  window.__faqLog = [];
  const pane = document.getElementById(`faq-pane-${id}`);
  new MutationObserver(() => {
    const head = pane.querySelector('.faq-state');
    const body = pane.querySelector('.faq-body');
    const last = body && body.lastElementChild;
    window.__faqLog.push({cls: head ? head.className : '', text: head ? head.textContent : '',
                          len: body ? body.textContent.length : 0,
                          tail: last ? last.textContent : ''});
  }).observe(pane, {childList: true, subtree: true, characterData: true});
}"""


def test_faq_streams_under_its_card_then_comes_from_the_cache(
    tab: Tab, site: Site, llm: FakeLLM
) -> None:
    page = tab.page
    llm.default = SLOW
    page.goto(LIST)
    expect(page.locator("#faq-lang")).to_have_value("zh")  # the browser prefers Chinese
    choose_english(page)
    pid = card_id(page, 0)
    card = by_id(page, pid)
    pane = by_id(page, f"faq-pane-{pid}")
    clicks = page.locator(f'sup[id="faq-clicks-{pid}"]')
    expect(clicks).to_have_text("")
    expect(pane).to_be_hidden()
    page.evaluate(WATCH_JS, pid)
    calls = llm.calls

    faq_button(page, pid).click()
    expect(pane).to_be_visible()
    assert card.locator(".faq-pane").count() == 1  # the pane is the card's own
    expect_done(pane)
    expect(clicks).to_have_text("1")
    summary_box, pane_box = card.locator("p.summary").bounding_box(), pane.bounding_box()
    assert summary_box and pane_box and pane_box["y"] > summary_box["y"], "pane not under card"
    assert page.locator("div.faq-pane:visible").count() == 1  # only that card's pane opened
    card.screenshot(path=FAQ_SHOT)

    log: list[dict[str, Any]] = page.evaluate("() => window.__faqLog")
    texts = [e["text"] for e in log]
    assert any(t.startswith("Queued") for t in texts), texts
    assert any(t.startswith("Writing…") for t in texts), texts
    partial = {e["len"] for e in log if "faq-generating" in e["cls"] and e["len"]}
    assert len(partial) >= 2, f"the text did not grow while being written: {log}"
    # and within one answer too, not only one whole answer at a time
    tails = [e["tail"] for e in log if "faq-generating" in e["cls"]]
    assert any(re.match(r"A: \S", t) and not t.endswith("words.") for t in tails), tails
    done_len = next(e["len"] for e in reversed(log) if "faq-done" in e["cls"])
    assert all(n <= done_len for n in partial)
    assert llm.calls == calls + 6  # one question at a time
    assert tab.requests.count(("POST", f"{site.url}/api/papers/{pid}/faq?lang=en")) == 1

    # reload: English is remembered, the counter is on the page, the FAQ comes from the cache
    page.reload()
    expect(page.locator("#faq-lang")).to_have_value("en")
    assert page.evaluate("() => localStorage.getItem('faq-lang')") == "en"
    expect(clicks).to_have_text("1")
    seen = len(tab.requests)
    faq_button(page, pid).click()
    expect_done(pane, timeout=1000)
    expect(clicks).to_have_text("1")  # the same reader, the same day: counted once
    page.wait_for_timeout(300)  # a stray generation would have asked by now
    assert llm.calls == calls + 6, "the cached FAQ was generated again"
    assert not [u for u in tab.urls(seen) if "/faq/stream" in u], "a done FAQ needs no stream"
    # a second click on the open pane folds it
    faq_button(page, pid).click()
    expect(pane).to_be_hidden()


def test_hostile_llm_output_renders_as_text(tab: Tab, llm: FakeLLM) -> None:
    page = tab.page
    llm.default = Mode.hostile()
    page.goto(LIST)
    choose_english(page)
    pid = card_id(page, 1)
    pane = by_id(page, f"faq-pane-{pid}")
    faq_button(page, pid).click()
    expect(pane.locator("p.faq-state.faq-done")).to_contain_text(MODEL, timeout=DONE_TIMEOUT_MS)
    body = pane.locator(".faq-body")
    expect(body.locator("strong", has_text=re.compile("^Q$"))).to_have_count(6)
    expect(body).to_contain_text("<script>alert(1)</script>")  # shown, not run
    expect(body).to_contain_text("<img src=x onerror=alert(1)>")
    expect(body.locator("strong", has_text="attention").first).to_be_visible()  # Markdown works
    formula = body.locator("math").first  # rendered on the server as MathML
    expect(formula).to_have_attribute("alttext", "$a^2 + b^2 = c^2$")
    expect(formula.locator("msup")).to_have_count(3)
    assert pane.locator("script, img, iframe, object, embed, [onerror]").count() == 0
    assert page.locator('a[href^="javascript:" i]').count() == 0
    page.wait_for_timeout(200)  # give a would-be handler a moment
    assert page.evaluate("() => typeof window.__pwned") == "undefined"
    assert not tab.dialogs
    # nothing was loaded from the beacon/iframe addresses of the hostile text (127.0.0.1:9)
    assert not [u for u in tab.urls() if urlsplit(u).port == 9], tab.urls()


def test_quota_failure_shows_the_reason_and_try_again_succeeds(tab: Tab, llm: FakeLLM) -> None:
    page = tab.page
    llm.script([Mode.quota()])
    page.goto(LIST)
    choose_english(page)
    pid = card_id(page, 2)
    pane = by_id(page, f"faq-pane-{pid}")
    calls = llm.calls
    faq_button(page, pid).click()
    failed = pane.locator("p.faq-state.faq-failed")
    expect(failed).to_have_text(re.compile(r"^Failed: .*quota"), timeout=DONE_TIMEOUT_MS)
    assert llm.calls == calls + 1  # a billing refusal is not retried by itself
    retry = pane.locator("button.faq-retry")
    expect(retry).to_have_text("Try again")
    retry.click()
    expect_done(pane)
    expect(pane.locator("button.faq-retry")).to_have_count(0)
    assert llm.calls == calls + 7
    # a retry is the same reader's click again, that day: still one
    expect(page.locator(f'sup[id="faq-clicks-{pid}"]')).to_have_text("1")


def test_without_an_llm_the_button_explains_and_asks_nothing(
    browser: Browser, site: Site, llm: FakeLLM
) -> None:
    off = site.settings.model_copy(update={"llm_base_url": "", "llm_model": ""})
    assert not off.llm_configured
    with serve(create_app(off)) as url:
        tab = open_faq_tab(browser, url)
        try:
            page = tab.page
            page.goto(LIST)
            choose_english(page)
            pid = card_id(page, 3)
            pane = by_id(page, f"faq-pane-{pid}")
            expect(faq_button(page, pid)).to_have_attribute("data-off", "1")
            calls = llm.calls
            faq_button(page, pid).click()
            expect(pane.locator("p.faq-off")).to_contain_text("FAQ generation is off")
            expect(pane).to_contain_text("COOLPAPERS_LLM_BASE_URL")
            page.wait_for_timeout(200)
            asked = [u for u in tab.urls() if urlsplit(u).path.startswith("/api/")]
            assert not asked, f"the page asked the API: {asked}"
            assert llm.calls == calls
        finally:
            close_tab(tab)


def test_paper_page_form_queues_without_javascript(
    browser: Browser, site: Site, llm: FakeLLM
) -> None:
    llm.default = SLOW  # slow enough for the redirect to land while the FAQ is being written
    tab = open_faq_tab(browser, site.url, javascript=False)
    try:
        page = tab.page
        page.goto(LIST)
        pid = card_id(page, 4)
        page.locator(f'a.title-link[href="/arxiv/{pid}"]').click()
        expect(page).to_have_url(re.compile(rf"/arxiv/{re.escape(pid)}$"))
        block = page.locator('.faq-lang-block[lang="en"]')
        ask = block.get_by_role("button", name="Ask for the FAQ")
        with page.expect_navigation():
            ask.click()
        expect(page).to_have_url(re.compile(rf"/arxiv/{re.escape(pid)}\?faq=en#faq$"))
        assert ("POST", f"{site.url}/arxiv/{pid}/faq?lang=en") in tab.requests
        expect(block.locator("p.faq-state")).to_contain_text(re.compile("Queued|Being written"))
        expect(page.locator('.faq-lang-block[lang="zh"] button')).to_have_text("Ask for the FAQ")
        wait_done(site.url, pid)
        page.reload()
        expect(block.locator("p.faq-state")).to_contain_text(MODEL)
        expect(block.locator(".faq-body strong", has_text=re.compile("^Q$"))).to_have_count(6)
        expect(block.locator(".faq-body")).to_contain_text("Answer 6 about the paper")
        expect(page.locator(f'sup[id="faq-clicks-{pid}"]')).to_have_text("1")
        assert not [u for u in tab.urls() if "/api/" in u]  # no script ran
    finally:
        close_tab(tab)


def wait_done(base_url: str, pid: str, timeout_s: float = DONE_TIMEOUT_MS / 1000) -> None:
    deadline = time.monotonic() + timeout_s
    state = ""
    with httpx.Client(base_url=base_url, timeout=5) as c:
        while time.monotonic() < deadline:
            state = c.get(f"/api/papers/{pid}/faq", params={"lang": "en"}).json()["state"]
            if state in ("done", "failed"):
                break
            time.sleep(0.1)
    assert state == "done", state
