"""Card actions in a real browser on the real 1,007-paper union day (static/js/cards.js): [Copy]
puts the documented text on the clipboard and gives the reader's selection back, the fold button
comes with an opened PDF or FAQ and folds both, back-to-top/bottom scroll, a subject's + and −
follow or exclude its category (localStorage cp.cats). The console stays empty throughout."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests.browser import chromium, open_tab, require_chromium
from tests.hostile_pdfs import many_pages_pdf
from tests.union_day import UNION_SPEC, UnionSite, union_site

pytestmark = pytest.mark.browser

# navigator.clipboard.writeText refused, as on a page served over plain http from a LAN address:
# [Copy] falls back to a selected off-screen textarea, the way that moves the reader's selection.
NO_CLIPBOARD_API = """
const realWriteText = Clipboard.prototype.writeText;
window.__clip = (text) => realWriteText.call(navigator.clipboard, text);  // for the test itself
Clipboard.prototype.writeText = function () {
  return Promise.reject(new DOMException("refused by the test", "NotAllowedError"));
};
"""

# A selection in one card's abstract, as a reader would make before pressing another's [Copy].
SELECT = """
([id, start, end]) => {
  const text = document.getElementById(`summary-${id}`).firstChild;
  const range = document.createRange();
  range.setStart(text, start);
  range.setEnd(text, end);
  const selection = getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
  return selection.toString();
}
"""
SELECTION = """
() => {
  const s = getSelection();
  if (!s.rangeCount) return null;
  const r = s.getRangeAt(0);
  return {text: s.toString(), in: r.startContainer.parentElement.id,
          start: r.startOffset, end: r.endOffset};
}
"""


@dataclass
class Reader:
    page: Page
    site: UnionSite
    errors: list[str] = field(default_factory=list)

    def cats(self) -> Any:
        return json.loads(self.page.evaluate("localStorage.getItem('cp.cats') || 'null'"))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UnionSite]:
    require_chromium()
    with union_site(tmp_path_factory.mktemp("cards")) as s:
        yield s


@pytest.fixture(scope="module")
def browser(site: UnionSite) -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def reader(browser: Browser, site: UnionSite) -> Iterator[Reader]:
    tab = open_tab(browser, site.url)
    tab.page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
    r = Reader(tab.page, site)

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            r.errors.append(f"{message.text} at {message.location}")

    tab.page.on("console", console)
    tab.page.on("pageerror", lambda error: r.errors.append(str(error)))
    yield r
    assert not tab.offsite
    tab.page.context.close()


def first_page(reader: Reader) -> list[dict[str, Any]]:
    """The union list's first 25 papers from the JSON API, as the page lists them."""
    response = reader.page.request.get(f"/api/arxiv/{UNION_SPEC}?show=25")
    assert response.ok
    papers: list[dict[str, Any]] = response.json()["papers"]
    return papers


def open_list(reader: Reader) -> None:
    response = reader.page.goto(f"/arxiv/{UNION_SPEC}")
    assert response is not None and response.status == 200
    expect(reader.page.locator("div.paper")).to_have_count(25)


@pytest.mark.parametrize("way", ["clipboard API", "execCommand"])
def test_copy_puts_the_documented_text_and_keeps_the_selection(reader: Reader, way: str) -> None:
    page = reader.page
    if way == "execCommand":
        page.add_init_script(NO_CLIPBOARD_API)
    papers = first_page(reader)
    # a paper with formulas: the copy must give their TeX back, not the MathML's letters
    paper = next(p for p in papers if "$" in p["abstract"] and "\\$" not in p["abstract"])
    other = next(p for p in papers if p["id"] != paper["id"] and "$" not in p["abstract"])
    open_list(reader)
    card = page.locator(f'div.paper[id="{paper["id"]}"]')
    assert card.locator("p.summary math").count() > 0  # rendered, so the TeX comes from alttext
    page.evaluate("(window.__clip || ((t) => navigator.clipboard.writeText(t)))('before')")
    assert page.evaluate("navigator.clipboard.readText()") == "before"

    selected = page.evaluate(SELECT, [other["id"], 10, 60])
    assert len(selected) == 50
    before = page.evaluate(SELECTION)
    button = card.locator("button.title-copy")
    # every label the button shows, recorded as it changes: "[Copied]" only lasts a moment
    button.evaluate(
        "(b) => { window.__labels = []; new MutationObserver(() => "
        "window.__labels.push(b.textContent)).observe(b, {childList: true}); }"
    )
    button.click()
    page.wait_for_function("() => window.__labels.length > 0")
    assert page.evaluate("window.__labels[0]") == "[Copied]"

    expected = "\n".join(
        [
            paper["title"],
            ", ".join(paper["authors"]),
            paper["abs_url"],
            "",
            paper["abstract"],
        ]
    )
    assert page.evaluate("navigator.clipboard.readText()") == expected
    assert page.evaluate(SELECTION) == before  # the reader's selection, untouched
    expect(button).to_have_text("[Copy]")  # the feedback goes away
    assert reader.errors == []


def test_fold_comes_with_an_opened_pdf_or_faq_and_folds_both(reader: Reader) -> None:
    page = reader.page
    paper = first_page(reader)[2]
    # the PDF proxy fetches the paper's version from (fake) arXiv
    pdf = f"/pdf/{paper['id']}v{paper['version']}"
    reader.site.fake.serve(pdf, many_pages_pdf(1), content_type="application/pdf")
    open_list(reader)
    card = page.locator(f'div.paper[id="{paper["id"]}"]')
    fold = card.locator("button.fold")
    expect(fold).to_be_hidden()

    card.locator("a.title-pdf").click()  # static/js/pdf.js: the viewer, then cp:opened
    expect(card.locator(".pdf-pane .pdf-viewer")).to_be_visible()
    expect(fold).to_be_visible()
    card.locator("a.title-faq").click()  # no LLM on this site: the pane says so
    expect(card.locator(".faq-pane")).to_be_visible()

    fold.click()
    expect(card.locator(".pdf-pane")).to_be_hidden()
    expect(card.locator(".faq-pane")).to_be_hidden()
    expect(fold).to_be_hidden()

    card.locator("a.title-pdf").click()  # opening again works as before, and so does the fold
    expect(card.locator(".pdf-pane .pdf-viewer")).to_be_visible()
    expect(fold).to_be_visible()
    card.locator("a.title-pdf").click()  # [PDF] closes its own pane: nothing left to fold
    expect(card.locator(".pdf-pane")).to_be_hidden()
    expect(fold).to_be_hidden()
    assert reader.errors == []


def test_back_to_bottom_and_back_to_top(reader: Reader) -> None:
    page = reader.page
    open_list(reader)
    assert page.evaluate("scrollY") == 0
    end = page.evaluate("document.documentElement.scrollHeight - innerHeight")
    assert end > 5000  # 25 cards: far from the top
    page.locator(".jump button.to-bottom").click()
    # the end as it was when pressed: lazy loading may append the next cards meanwhile
    page.wait_for_function("(end) => scrollY >= end - 1", arg=end)
    page.locator(".jump button.to-top").click()
    page.wait_for_function("() => scrollY === 0")
    assert reader.errors == []


def test_subject_plus_and_minus_follow_and_exclude(reader: Reader) -> None:
    page = reader.page
    open_list(reader)
    tools = page.locator(".subject-tools")
    expect(tools).to_have_count(0)  # made on first use, one pair for the page

    first = page.locator("div.paper").nth(0).locator("p.subjects a[data-cat]").first
    cat = first.get_attribute("data-cat")
    assert cat
    first.hover()
    expect(tools).to_be_visible()
    tools.locator("button.cat-follow").click()
    expect(tools.locator("button.cat-follow")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".cat-note")).to_contain_text(f"Following {cat}")
    assert reader.cats() == {"follow": [cat], "exclude": []}
    expect(first).to_have_attribute("data-interest", "follow")

    # another category, by keyboard: Tab from the subject reaches its + then its −
    links = page.locator("p.subjects a[data-cat]")
    other = next(
        links.nth(i) for i in range(links.count()) if links.nth(i).get_attribute("data-cat") != cat
    )
    other_cat = other.get_attribute("data-cat")
    other.focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "cat-exclude"
    page.keyboard.press("Enter")
    assert reader.cats() == {"follow": [cat], "exclude": [other_cat]}

    # − on a followed category moves it: a category is in one list at most
    page.mouse.move(0, 0)
    first.hover()
    tools.locator("button.cat-exclude").click()
    assert reader.cats() == {"follow": [], "exclude": [other_cat, cat]}
    # every card showing that subject says so, and a later page load too
    assert page.locator(f'p.subjects a[data-cat="{cat}"]:not([data-interest=exclude])').count() == 0
    page.reload()
    expect(page.locator(f'p.subjects a[data-cat="{other_cat}"]').first).to_have_attribute(
        "data-interest", "exclude"
    )
    # pressing the lit button again takes the category out
    first = page.locator("div.paper").nth(0).locator("p.subjects a[data-cat]").first
    first.hover()
    expect(tools.locator("button.cat-exclude")).to_have_attribute("aria-pressed", "true")
    tools.locator("button.cat-exclude").click()
    assert reader.cats() == {"follow": [], "exclude": [other_cat]}
    page.mouse.move(0, 0)
    expect(tools).to_be_hidden()
    assert reader.errors == []
