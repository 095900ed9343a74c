"""Lazy loading and the sort buttons in a real browser, on the real 1,007-paper union day:
scrolling to the end brings every card, 25 at a time, numbered #1..#1007 once each, one
``cp:cards`` per batch; a failed batch leaves a retry button and the reader's place; the plain
"more" link works without the script; the sort buttons navigate, ❤ with the reader's stored
preference keywords. Each test ends with an empty console."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.browser import Tab, chromium, open_tab, require_chromium
from tests.union_day import FIRST_CARDS, UNION_SPEC, UnionSite, union_site

pytestmark = pytest.mark.browser

TOTAL = 1007
BATCH = 25
# A batch is one request and one render; the machine running the suite may be busy.
BATCH_WAIT_MS = 60_000
CARDS = "div.papers > div.paper"
# Every cp:cards event, as the ids of its cards (recorded from before the page's own scripts).
RECORD_BATCHES = """
window.__batches = [];
document.addEventListener("cp:cards",
  (e) => window.__batches.push(e.detail.cards.map((c) => c.id)));
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UnionSite]:
    require_chromium()
    with union_site(tmp_path_factory.mktemp("lazy")) as s:
        yield s


@pytest.fixture(scope="module")
def browser(site: UnionSite) -> Iterator[Browser]:
    with chromium() as b:
        yield b


class Reader:
    """A tab on the site whose console errors and uncaught exceptions are collected."""

    def __init__(self, browser: Browser, site: UnionSite, *, javascript: bool = True) -> None:
        self.site = site
        self.tab: Tab = open_tab(browser, site.url, javascript=javascript)
        self.page: Page = self.tab.page
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.context.add_init_script(RECORD_BATCHES)

    def _console(self, message: object) -> None:
        kind = getattr(message, "type", "")
        if kind in ("error", "warning"):
            self.errors.append(f"{kind}: {getattr(message, 'text', '')}")

    def goto(self, path: str) -> None:
        response = self.page.goto(path)
        assert response is not None and response.status == 200, path

    def cards(self) -> list[str]:
        return list(self.page.eval_on_selector_all(CARDS, "ds => ds.map(d => d.id)"))

    def indexes(self) -> list[str]:
        return list(
            self.page.eval_on_selector_all(f"{CARDS} .index", "s => s.map(x => x.textContent)")
        )

    def batches(self) -> list[list[str]]:
        return list(self.page.evaluate("() => window.__batches"))

    def fragments(self) -> list[str]:
        return [u for u in self.tab.urls() if "fragment=1" in u]

    def near_the_end(self) -> None:
        """Where a reader goes: down to the last card."""
        self.page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")

    def wait_for_cards(self, count: int) -> None:
        # polled in the page at each frame: expect()'s back-off (up to 1 s between looks) made
        # the 40 batches of the day cost 40 s of waiting for nothing
        self.page.wait_for_function(
            f"() => document.querySelectorAll({CARDS!r}).length >= {count}",
            polling="raf",
            timeout=BATCH_WAIT_MS,
        )

    def close(self) -> None:
        self.page.context.close()


@pytest.fixture
def reader(browser: Browser, site: UnionSite) -> Iterator[Reader]:
    r = Reader(browser, site)
    yield r
    r.close()
    assert r.errors == []


def api_order(reader: Reader, path: str, **params: str) -> list[str]:
    """Every paper of a JSON list or search, in its order (search gives 100 at a time)."""
    ids: list[str] = []
    show = "100" if path == "/api/search" else "1000"
    while True:
        answer = reader.page.request.get(
            path, params={"show": show, "skip": str(len(ids)), **params}
        )
        assert answer.ok, answer.status
        body = answer.json()
        ids += [p["id"] for p in body["papers"]]
        if not body["papers"] or len(ids) >= body["total"]:
            return ids


def test_scroll_to_the_end_loads_every_card(reader: Reader, site: UnionSite) -> None:
    page = reader.page
    expected = api_order(reader, f"/api/arxiv/{UNION_SPEC}")
    assert len(expected) == TOTAL
    reader.goto(site.list_url)
    assert reader.cards() == expected[:FIRST_CARDS]
    more = page.locator("p.more a[rel=next]")
    expect(more).to_have_text(f"more ({TOTAL - FIRST_CARDS:,} left)")

    loaded = FIRST_CARDS
    while loaded < TOTAL:
        reader.near_the_end()
        at = page.evaluate("() => window.scrollY")
        reader.wait_for_cards(min(loaded + BATCH, TOTAL))
        assert page.evaluate("() => window.scrollY") == at, "the reader's place stays"
        loaded = page.locator(CARDS).count()
        if loaded < TOTAL:  # the link moved on to the next slice, as a page of its own
            href = more.get_attribute("href") or ""
            assert parse_qs(urlsplit(href).query)["skip"] == [str(loaded)]
            assert "fragment" not in href
            expect(more).to_have_text(f"more ({TOTAL - loaded:,} left)")

    expect(page.locator("p.more")).to_have_count(0)  # the end: no link
    ids = reader.cards()
    assert ids == expected and len(set(ids)) == TOTAL
    assert reader.indexes() == [f"#{n}" for n in range(1, TOTAL + 1)]
    # one cp:cards per batch of 25 (the last has 7), in order; one request per batch
    batches = reader.batches()
    assert [len(b) for b in batches] == [BATCH] * 39 + [7]
    assert [i for b in batches for i in b] == expected[FIRST_CARDS:]
    fetched = reader.fragments()
    assert len(fetched) == len(batches) == len(set(fetched))
    page.screenshot(path="/tmp/shots/lazy-list-end-1280.png")


def test_a_failed_batch_can_be_retried(browser: Browser, site: UnionSite) -> None:
    r = Reader(browser, site)
    failures = {"left": 1}

    def flaky(route: Route) -> None:
        if failures["left"]:
            failures["left"] -= 1
            route.fulfill(status=503, body="busy")
        else:
            route.fallback()

    r.page.route(re.compile(r"[?&]fragment=1"), flaky)
    try:
        r.goto(site.list_url)
        r.near_the_end()
        retry = r.page.locator("p.more button.more-retry")
        expect(retry).to_have_text("could not load — retry", timeout=BATCH_WAIT_MS)
        assert len(r.cards()) == FIRST_CARDS and r.batches() == []
        retry.click()
        r.wait_for_cards(FIRST_CARDS + BATCH)
        assert r.indexes()[FIRST_CARDS] == f"#{FIRST_CARDS + 1}"
        expect(r.page.locator("p.more a[rel=next]")).to_be_attached()
        expect(retry).to_have_count(0)
        # the failed answer is the one console error there may be (Chromium logs the 503)
        assert all("503" in e or "could not load" in e for e in r.errors), r.errors
    finally:
        r.close()


def test_the_plain_more_link_then_lazy_loading(
    browser: Browser, site: UnionSite, reader: Reader
) -> None:
    """Without the script the "more" link pages (?skip=25: #26-#50); a reader with the script
    on that page lazily loads from #51 on."""
    plain = Reader(browser, site, javascript=False)
    try:
        plain.goto(site.list_url)
        assert len(plain.cards()) == FIRST_CARDS
        plain.page.locator("p.more a[rel=next]").click()
        expect(plain.page).to_have_url(re.compile(r"[?&]skip=25(&|$)"))
        assert plain.indexes() == [f"#{n}" for n in range(26, 51)]
        assert plain.fragments() == []
        later = plain.page.url
    finally:
        plain.close()
    assert plain.errors == []

    reader.goto(later)
    assert reader.indexes()[0] == "#26"
    reader.near_the_end()
    reader.wait_for_cards(2 * BATCH)
    assert reader.indexes() == [f"#{n}" for n in range(26, 76)]


def test_sort_buttons_navigate(reader: Reader, site: UnionSite) -> None:
    page = reader.page
    reader.goto(site.list_url)
    nav = page.locator("nav.sorts")
    expect(nav.locator("a[aria-current]")).to_have_text("arXiv order")
    for label, sort in (("★ clicks", "clicks"), ("time", "time")):
        nav.get_by_role("link", name=label, exact=True).click()
        expect(page).to_have_url(re.compile(rf"[?&]sort={sort}$"))
        expect(page.locator("nav.sorts a[aria-current]")).to_have_text(label)
        assert reader.cards() == api_order(reader, f"/api/arxiv/{UNION_SPEC}", sort=sort)[:25]
        # the next batch keeps the order
        reader.near_the_end()
        reader.wait_for_cards(2 * BATCH)
        assert reader.cards() == api_order(reader, f"/api/arxiv/{UNION_SPEC}", sort=sort)[:50]
    page.locator("nav.sorts").get_by_role("link", name="arXiv order", exact=True).click()
    expect(page).to_have_url(site.list_url)


def test_preference_uses_the_stored_keywords(reader: Reader, site: UnionSite) -> None:
    page = reader.page
    reader.goto(site.list_url)
    # nothing stored: no ❤ link, a hint where to set keywords
    expect(page.locator("a.sort-pref")).to_be_hidden()
    expect(page.locator(".sort-pref-hint")).to_be_visible()

    keywords = ["diffusion", "language model"]
    page.evaluate("(k) => localStorage.setItem('cp.prefs', JSON.stringify(k))", keywords)
    reader.goto(site.list_url)
    heart = page.locator("a.sort-pref")
    expect(heart).to_be_visible()
    expect(page.locator(".sort-pref-hint")).to_be_hidden()
    heart.click()
    expect(page.locator("nav.sorts a[aria-current]")).to_have_text("❤ preference")
    assert parse_qs(urlsplit(page.url).query)["sort"] == ["diffusion,language model"]
    ranked = api_order(reader, f"/api/arxiv/{UNION_SPEC}", sort="diffusion,language model")
    assert reader.cards() == ranked[:25]
    reader.near_the_end()
    reader.wait_for_cards(2 * BATCH)
    assert reader.cards() == ranked[:50]
    assert reader.indexes()[:2] == ["#1", "#2"]

    # no keywords chosen: the top words of the reader's word cloud, heaviest first
    cloud = {"graph": 2.5, "robot": 9.0, "agent": 4.0, "": 99.0, "x,y": -1}
    page.evaluate(
        "(c) => { localStorage.setItem('cp.prefs', '[]');"
        " localStorage.setItem('cp.cloud', JSON.stringify(c)); }",
        cloud,
    )
    reader.goto(site.list_url)
    href = page.locator("a.sort-pref").get_attribute("href") or ""
    assert parse_qs(urlsplit(href).query)["sort"] == ["robot,agent,graph"]
    # one keyword goes with a trailing comma (keywords, not an order)
    page.evaluate("() => localStorage.setItem('cp.prefs', JSON.stringify(['time']))")
    reader.goto(site.list_url)
    page.locator("a.sort-pref").click()
    expect(page.locator("nav.sorts a[aria-current]")).to_have_text("❤ preference")
    assert parse_qs(urlsplit(page.url).query)["sort"] == ["time,"]


def test_search_and_comma_id_pages_load_lazily(reader: Reader, site: UnionSite) -> None:
    page = reader.page
    reader.goto("/arxiv/search?query=language+model&highlight=1")
    found = api_order(reader, "/api/search", query="language model")
    assert len(found) > 2 * BATCH
    reader.near_the_end()
    reader.wait_for_cards(2 * BATCH)
    assert reader.cards() == found[: 2 * BATCH]
    expect(page.locator(f'[id="{found[BATCH + 1]}"] mark').first).to_be_attached()
    # a sort button on search: ❤ from the stored keywords
    page.evaluate("() => localStorage.setItem('cp.prefs', JSON.stringify(['vision']))")
    reader.goto("/arxiv/search?query=language+model&highlight=1")
    page.locator("a.sort-pref").click()
    expect(page.locator("nav.sorts a[aria-current]")).to_have_text("❤ preference")
    assert (
        reader.cards()
        == api_order(reader, "/api/search", query="language model", sort="vision,")[:BATCH]
    )

    ids = api_order(reader, f"/api/arxiv/{UNION_SPEC}")[:60]
    reader.goto("/arxiv/" + ",".join(ids))
    assert reader.cards() == ids[:BATCH]
    while len(reader.cards()) < 60:
        loaded = len(reader.cards())
        reader.near_the_end()
        reader.wait_for_cards(min(loaded + BATCH, 60))
    expect(page.locator("p.more")).to_have_count(0)
    assert reader.cards() == ids and reader.indexes() == [f"#{n}" for n in range(1, 61)]
    assert reader.batches() == [ids[25:50], ids[50:]]
