"""The pages in a real browser: the app under uvicorn on 127.0.0.1, real arXiv feeds ingested into
SQLite, headless Chromium (the system's, /usr/bin/chromium) driven through Playwright."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, expect

from coolpapers import ingest, schema
from coolpapers.db import make_engine, make_sessionmaker
from coolpapers.search import sync
from coolpapers.web import create_app
from tests.browser import (
    HOSTILE_ID,
    IMG,
    JS_URL,
    SCRIPT,
    Tab,
    chromium,
    hostile_feed,
    open_tab,
    require_chromium,
)
from tests.conftest import RSS, make_settings
from tests.fakes.arxiv_server import FakeArxiv
from tests.live_server import serve as serve_app

pytestmark = pytest.mark.browser

LIST_SHOT = "/tmp/coolpapers-list.png"
HOME_SHOT = "/tmp/coolpapers-home.png"
FEEDS = [
    "rss-cs.CL-2026-08-20-thu.xml",
    "rss-cs.LG-2026-08-21-fri.xml",
    "rss-cs.AI-2024-12-31-tue.xml",
    "rss-holiday-repeat-cs.AI-2025-01-01-wed.xml",
    "rss-cs.AI-2025-01-06-mon.xml",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of the real app on SQLite, stocked with real feeds and one hostile feed. Module
    scope: one database, one server for all browser tests (they only read)."""
    require_chromium()
    tmp = tmp_path_factory.mktemp("browser")
    hostile = hostile_feed(RSS / "rss-cs.CV-2025-04-25-fri.xml", tmp / "hostile-cs.CV.xml")
    with FakeArxiv() as fake:
        settings = make_settings(f"sqlite:///{tmp / 'b.db'}", tmp / "data", fake)
        engine = make_engine(settings)
        schema.upgrade(engine)
        try:
            factory = make_sessionmaker(engine)
            reports = ingest.ingest_files(factory, [RSS / name for name in FEEDS] + [hostile])
            sync.sync_job(factory, settings.data_dir)  # the search index, as the worker builds it
        finally:
            engine.dispose()
        assert not any(r.failed for r in reports), [r.line() for r in reports]
        with serve_app(create_app(settings)) as base_url:
            yield base_url
        assert not fake.requests, "the pages asked arXiv for something"


@pytest.fixture(scope="module")
def browser(site: str) -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def tab(browser: Browser, site: str) -> Iterator[Tab]:
    t = open_tab(browser, site)
    yield t
    t.page.context.close()


def goto(tab: Tab, path: str, status: int = 200) -> None:
    response = tab.page.goto(path)
    assert response is not None and response.status == status, path


def test_home_links_categories_by_name(tab: Tab) -> None:
    page = tab.page
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    goto(tab, "/")
    page.wait_for_load_state("load")
    assert not failed  # the stylesheet, the script
    icon = page.locator("link[rel=icon]").get_attribute("href")  # else browsers ask /favicon.ico
    assert icon and page.request.get(icon).headers["content-type"].startswith("image/svg+xml")
    expect(page).to_have_title(re.compile("Cool Papers"))
    expect(page.locator("section.intro .info")).to_contain_text("Fri, 21 Aug 2026")
    lg = page.locator('ul.categories a[href="/arxiv/cs.LG"]')
    expect(lg).to_have_text("Machine Learning")
    expect(lg).to_have_attribute("title", "cs.LG")
    expect(page.locator('ul.categories a[href="/arxiv/cs.CL"]')).to_have_text(
        "Computation and Language"
    )
    page.screenshot(path=HOME_SHOT, full_page=True)
    lg.click()
    expect(page).to_have_url(re.compile(r"/arxiv/cs\.LG$"))
    expect(page.locator("h1")).to_have_text("Machine Learning (cs.LG)")
    expect(page.locator("div.paper[id]")).to_have_count(25)


def test_home_chooser_opens_a_day(tab: Tab) -> None:
    page = tab.page
    goto(tab, "/")
    page.fill('input[name="spec"]', "cs.AI")
    page.fill('input[name="date"]', "2025-01-06")
    page.click("form.datepick button[type=submit]")
    expect(page).to_have_url(re.compile(r"/arxiv/cs\.AI\?date=2025-01-06$"))
    expect(page.locator("span.day")).to_have_text("Mon, 06 Jan 2025")


# What papers.cool's Zotero translator reads off each card, in one pass in the page.
CARDS_JS = """() => [...document.querySelectorAll('div.paper[id]')].map(div => ({
  id: div.id,
  index: div.querySelector('.index')?.textContent,
  title: div.querySelector('.title-link')?.textContent.trim(),
  href: div.querySelector('.title-link')?.getAttribute('href'),
  authors: [...div.querySelectorAll('.author')].map(a => a.textContent.trim()),
  summary: div.querySelector('p.summary')?.textContent.trim(),
  pdf: div.querySelector('.title-pdf')?.getAttribute('data'),
}))"""


def test_list_page_cards_and_more(tab: Tab) -> None:
    page = tab.page
    goto(tab, "/arxiv/cs.LG")
    expect(page.locator("p.info")).to_contain_text("Total: 127")
    cards = page.evaluate(CARDS_JS)
    assert len(cards) == 25
    assert [c["index"] for c in cards] == [f"#{i}" for i in range(1, 26)]
    for card in cards:
        assert re.fullmatch(r"\d{4}\.\d{4,5}", card["id"]), card
        assert card["title"] and card["href"] == f"/arxiv/{card['id']}", card
        assert card["authors"] and all(card["authors"]), card
        assert card["summary"] and len(card["summary"]) > 100, card
        assert card["pdf"] and card["pdf"].endswith(f"/pdf/{card['id']}"), card
    assert cards[1]["title"] == "Triangular Fuzzy Rescaling Distance"
    assert "Ana Beatriz Hernández-Lara" in cards[1]["authors"]
    page.screenshot(path=LIST_SHOT, full_page=True)

    more = page.locator("p.more a")
    expect(more).to_have_text("more (102 left)")
    # the link's page (a click would scroll it into reach, and lazy loading may move it on)
    goto(tab, more.get_attribute("href") or "")
    expect(page).to_have_url(re.compile(r"[?&]skip=25(&|$)"))
    expect(page.locator("div.paper[id] .index").first).to_have_text("#26")
    expect(page.locator("div.paper[id]")).to_have_count(25)
    assert not {c["id"] for c in cards} & set(
        page.eval_on_selector_all("div.paper[id]", "ds => ds.map(d => d.id)")
    )


def test_previous_and_next_day(tab: Tab) -> None:
    page = tab.page
    goto(tab, "/arxiv/cs.AI?date=2025-01-06")
    expect(page.locator("span.day")).to_have_text("Mon, 06 Jan 2025")
    page.click("a.prev")
    expect(page).to_have_url(re.compile(r"/arxiv/cs\.AI\?date=2024-12-31$"))
    expect(page.locator("span.day")).to_have_text("Tue, 31 Dec 2024")
    expect(page.locator("div.paper[id]").first).to_be_visible()
    expect(page.locator("a.prev")).to_have_count(0)  # the first day stored
    page.click("a.next")  # skips 2025-01-01, arXiv's repeat of 2024-12-31
    expect(page).to_have_url(re.compile(r"/arxiv/cs\.AI\?date=2025-01-06$"))
    expect(page.locator("span.day")).to_have_text("Mon, 06 Jan 2025")
    goto(tab, "/arxiv/cs.AI?date=2025-01-01")
    expect(page.locator(".empty-day")).to_contain_text("repeated the previous day's items")
    page.click(".empty-day >> text=Mon, 06 Jan 2025 »")
    expect(page).to_have_url(re.compile(r"/arxiv/cs\.AI\?date=2025-01-06$"))


def test_replacements_toggle(tab: Tab) -> None:
    page = tab.page
    goto(tab, "/arxiv/cs.LG")
    toggle = page.locator("a.toggle")
    expect(toggle).to_have_text("show replacements")
    toggle.click()
    expect(page).to_have_url(re.compile(r"[?&]replace=1$"))
    expect(page.locator("p.info")).to_contain_text("Total: 200")
    expect(toggle).to_have_text("hide replacements")
    assert "replace=1" in (page.locator("p.more a").get_attribute("href") or "")
    goto(tab, "/arxiv/cs.LG?date=2026-08-21&replace=1&show=1000")  # replacements come last
    expect(page.locator("div.paper.type-replace").first).to_be_visible()
    page.locator("a.toggle").click()
    expect(page).not_to_have_url(re.compile("replace=1"))
    expect(page.locator("p.info")).to_contain_text("Total: 127")
    expect(page.locator("div.paper.type-replace")).to_have_count(0)


def test_paper_page_has_citation_meta(tab: Tab) -> None:
    page = tab.page
    goto(tab, "/arxiv/cs.LG")
    page.locator('.title-link[href="/arxiv/2608.19234"]').click()
    expect(page).to_have_url(re.compile(r"/arxiv/2608\.19234$"))
    expect(page.locator("meta[name=citation_title]")).to_have_attribute(
        "content", "Triangular Fuzzy Rescaling Distance"
    )
    expect(page.locator("meta[name=citation_author]")).to_have_count(3)
    expect(page.locator("meta[name=citation_pdf_url]")).to_have_attribute(
        "content", re.compile(r"/pdf/2608\.19234$")
    )
    expect(page.locator("div.paper[id]")).to_have_count(1)
    expect(page.locator("dd.doi a")).to_have_attribute(
        "href", "https://doi.org/10.1007/978-3-032-00891-6_10"
    )


def test_hostile_feed_text_stays_text(tab: Tab) -> None:
    page = tab.page
    hostile_title = f"{SCRIPT}{IMG} Dense Air Pollution Estimation"
    for path in ("/arxiv/cs.CV?date=2025-04-25&show=1000", f"/arxiv/{HOSTILE_ID}"):
        goto(tab, path)
        page.wait_for_load_state("load")
        card = page.locator(f'div.paper[id="{HOSTILE_ID}"]')
        expect(card.locator(".title-link")).to_contain_text(hostile_title)
        expect(card.locator("p.summary")).to_contain_text(f"{SCRIPT}{IMG} This paper addresses")
        expect(card.locator(".author").first).to_have_text(f"{IMG} Ruben")
        expect(card.locator(".author").nth(1)).to_have_text(SCRIPT)
        assert page.locator("main script, main img, main [onerror]").count() == 0
        assert page.locator('a[href^="javascript:" i]').count() == 0
        assert tab.pwned() is None, path
    meta = page.locator("meta[name=citation_title]")
    expect(meta).to_have_attribute("content", re.compile("^" + re.escape(hostile_title)))
    expect(page.locator("meta[name=citation_journal_title]")).to_have_attribute(
        "content", f'">{SCRIPT}'
    )
    expect(page).to_have_title(re.compile(re.escape(SCRIPT)))
    expect(page.locator("dd.doi a")).to_have_attribute("href", re.compile("^https://doi.org/"))
    expect(page.locator("dd.doi")).to_contain_text(JS_URL)
    expect(page.locator("a[rel=license]")).to_have_count(0)
    page.wait_for_timeout(100)  # give a would-be onerror handler a moment
    assert tab.pwned() is None
    assert not tab.dialogs
    assert tab.urls() and all(urlsplit(u).hostname == "127.0.0.1" for u in tab.urls()), tab.urls()
    assert not any(urlsplit(u).path.endswith("/x") for u in tab.urls()), "an <img src=x> loaded"


@pytest.mark.parametrize(
    ("path", "status", "heading", "message"),
    [
        ("/arxiv/cs.XX", 404, "Not found", "cs.XX"),
        ("/arxiv/cs.LG?date=bad", 400, "Bad request", "date must be YYYY-MM-DD"),
    ],
)
def test_bad_input_error_page(tab: Tab, path: str, status: int, heading: str, message: str) -> None:
    page = tab.page
    goto(tab, path, status)
    expect(page.locator("h1")).to_have_text(heading)
    expect(page.locator("p.message")).to_contain_text(message)
    page.click("text=Back to the home page")
    expect(page).to_have_url(re.compile(r"/$"))


def test_search_from_the_box_highlights_and_relates(tab: Tab) -> None:
    page = tab.page
    goto(tab, "/arxiv/cs.LG")
    box = page.locator("form.searchbox input[name=query]")
    box.fill('"fuzzy rescaling"')
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"/arxiv/search\?query=%22fuzzy\+rescaling%22"))
    first = page.locator("div.paper[id]").first
    expect(first).to_have_attribute("id", "2608.19234")
    expect(first.locator(".title-link mark")).to_have_text(["Fuzzy", "Rescaling"])
    expect(page.locator("form.search-form input[name=query]")).to_have_value('"fuzzy rescaling"')
    rel = first.locator("a.title-rel")
    keywords = first.get_attribute("keywords") or ""
    assert len(keywords.split(",")) >= 5, keywords
    rel.click()
    expect(page).to_have_url(re.compile(r"exclude=2608\.19234"))
    expect(page.locator("div.paper[id]").first).to_be_visible()
    assert "2608.19234" not in page.eval_on_selector_all("div.paper[id]", "ds => ds.map(d => d.id)")
    page.locator("nav.sorts").get_by_role("link", name="time", exact=True).click()
    expect(page).to_have_url(re.compile(r"[?&]sort=time"))
    expect(page.locator("nav.sorts a[aria-current]")).to_have_text("time")


def test_hostile_text_and_queries_stay_text_in_search(tab: Tab) -> None:
    page = tab.page
    goto(tab, "/arxiv/search?query=dense+air+pollution&highlight=1")
    card = page.locator(f'div.paper[id="{HOSTILE_ID}"]')
    expect(card.locator(".title-link")).to_contain_text(f"{SCRIPT}{IMG} Dense Air Pollution")
    expect(card.locator(".title-link mark")).to_have_text(["Dense", "Air", "Pollution"])
    box = page.locator("form.search-form input[name=query]")
    box.fill(SCRIPT + '" onfocus="window.__pwned=1')
    box.press("Enter")
    expect(page.locator("form.search-form input[name=query]")).to_have_value(
        SCRIPT + '" onfocus="window.__pwned=1'
    )
    page.wait_for_timeout(100)
    assert page.locator("main script, main img, main [onerror], main [onfocus]").count() == 0
    assert tab.pwned() is None and not tab.dialogs
