"""[PDF] in a real browser on the real 1,007-paper union day (static/js/pdf.js): Ctrl+click keeps
the link (arXiv in a new tab); a plain click opens the viewer under the card, a frame of the
same-origin proxy that Chromium's own PDF viewer renders under the policy the proxy sends; the
toolbar's download link; a second click hides it and a third shows it again without fetching; on a
phone the proxied PDF opens in a new tab instead of a frame; a PDF arXiv cannot give shows why,
inside the frame. Each open counts a click and tells the page (cp:opened). The console stays
empty and the page's Content-Security-Policy holds throughout."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, expect

from tests.browser import Tab, chromium, open_tab, require_chromium
from tests.hostile_pdfs import many_pages_pdf
from tests.union_day import UNION_SPEC, UnionSite, union_site

pytestmark = pytest.mark.browser

PDF = many_pages_pdf(3)

# Before any page script: the page's policy violations, and what the page was told was opened.
RECORD = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
window.__opened = [];
document.addEventListener('cp:opened', (e) => window.__opened.push(e.detail));
"""

# The frame holds the PDF's document (same origin, so readable); a frame the policy refused
# would hold Chromium's error page instead, unreadable from here.
FRAME_HAS_PDF = """
(id) => {
  const frame = document.getElementById(`pdf-pane-${id}`).querySelector('iframe.pdf-frame');
  const doc = frame && frame.contentDocument;
  return !!doc && doc.contentType === 'application/pdf';
}
"""
VIEWER = "chrome-extension://mhjfbmdgcfjbbpaeojofohoefgiehjai/"  # Chromium's PDF viewer


def wait_until(page: Page, condition: Callable[[], bool], what: str) -> None:
    """Poll a condition the page's script cannot see (its frames' tree), with a bound."""
    deadline = time.monotonic() + 15
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        page.wait_for_timeout(50)


@dataclass
class Reader:
    tab: Tab
    site: UnionSite
    errors: list[str] = field(default_factory=list)

    @property
    def page(self) -> Page:
        return self.tab.page

    def card(self, paper_id: str) -> Locator:
        return self.page.locator(f'div.paper[id="{paper_id}"]')

    def proxied(self, paper_id: str) -> list[str]:
        proxy = f"{self.site.url}/api/papers/{paper_id}/pdf"
        return [url for url in self.tab.urls() if url == proxy]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UnionSite]:
    require_chromium()
    with union_site(tmp_path_factory.mktemp("pdf")) as s:
        yield s


@pytest.fixture(scope="module")
def papers(site: UnionSite) -> list[dict[str, Any]]:
    """The first page's papers (id, version), in the list's order."""
    response = httpx.get(f"{site.url}/api/arxiv/{UNION_SPEC}", timeout=30)
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()["papers"]
    return found


@pytest.fixture(scope="module")
def browser(site: UnionSite) -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def reader(browser: Browser, site: UnionSite) -> Iterator[Reader]:
    tab = open_tab(browser, site.url)
    tab.page.add_init_script(RECORD)
    r = Reader(tab, site)

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            r.errors.append(f"{message.text} at {message.location.get('url')}")

    tab.page.on("console", console)
    tab.page.on("pageerror", lambda error: r.errors.append(str(error)))
    yield r
    tab.page.context.close()


def serve_pdf(site: UnionSite, paper: dict[str, Any]) -> None:
    site.fake.serve(f"/pdf/{paper['id']}v{paper['version']}", PDF, content_type="application/pdf")


def test_pdf_opens_inline_from_the_proxy_and_toggles_a_modified_click_keeps_the_link(
    reader: Reader, papers: list[dict[str, Any]]
) -> None:
    page, site = reader.page, reader.site
    paper = papers[0]
    pid = paper["id"]
    proxy = f"/api/papers/{pid}/pdf"
    serve_pdf(site, paper)
    page.goto(site.list_url)
    card = reader.card(pid)
    link = card.locator("a.title-pdf")
    pane = card.locator(".pdf-pane")
    expect(pane).to_be_hidden()

    with page.context.expect_page() as arxiv_tab:  # Ctrl+click: the browser's own new tab
        link.click(modifiers=["Control"])
    assert arxiv_tab.value.url == f"{site.fake.web_url}/pdf/{pid}"
    arxiv_tab.value.close()
    expect(pane).to_be_hidden()
    assert page.evaluate("window.__opened") == []

    with page.expect_response(lambda r: r.url == site.url + proxy) as answer:
        link.click()
    assert answer.value.status == 200
    assert answer.value.headers["content-type"] == "application/pdf"
    viewer = card.locator(".pdf-pane .pdf-viewer")
    expect(viewer).to_be_visible()
    expect(viewer.locator("iframe.pdf-frame")).to_have_attribute("src", proxy)
    download = viewer.locator("a[download]")
    expect(download).to_have_attribute("href", proxy)
    expect(download).to_have_attribute("download", f"{pid}.pdf")
    arxiv = viewer.locator("a.pdf-arxiv")
    expect(arxiv).to_have_attribute("href", f"{site.fake.web_url}/pdf/{pid}")
    expect(arxiv).to_have_attribute("target", "_blank")
    # the frame was allowed (frame-ancestors 'self') and holds the PDF, in Chromium's viewer
    page.wait_for_function(FRAME_HAS_PDF, arg=pid)
    expect(viewer.locator("iframe.pdf-frame")).to_have_class("pdf-frame")  # a PDF's height
    wait_until(
        page,
        lambda: any(
            f.url.startswith(VIEWER) and f.parent_frame and f.parent_frame.url == site.url + proxy
            for f in page.frames
        ),
        "Chromium's PDF viewer in the proxy's frame",
    )
    expect(card.locator(f'sup[id="pdf-clicks-{pid}"]')).to_have_text("1")  # counted
    assert page.evaluate("window.__opened") == [{"id": pid, "kind": "pdf"}]
    assert len(reader.proxied(pid)) == 1

    link.click()  # hides it
    expect(pane).to_be_hidden()
    link.click()  # shows it again: the same frame, nothing fetched
    expect(viewer).to_be_visible()
    assert card.locator("iframe.pdf-frame").count() == 1
    assert page.evaluate("window.__opened.length") == 2
    assert len(reader.proxied(pid)) == 1

    assert page.evaluate("window.__csp") == []
    assert reader.errors == []
    assert reader.tab.offsite == []


def test_on_a_phone_the_pdf_opens_in_a_new_tab(
    reader: Reader, papers: list[dict[str, Any]]
) -> None:
    page, site = reader.page, reader.site
    paper = papers[2]
    pid = paper["id"]
    proxy = f"{site.url}/api/papers/{pid}/pdf"
    serve_pdf(site, paper)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(site.list_url)
    card = reader.card(pid)
    with (
        page.context.expect_event("response", lambda r: r.url == proxy) as answer,
        page.context.expect_page() as opened,
    ):
        card.locator("a.title-pdf").click()
    assert opened.value.url == proxy
    assert answer.value.status == 200
    assert answer.value.headers["content-type"] == "application/pdf"
    expect(card.locator(".pdf-pane")).to_be_hidden()  # no frame on a phone
    assert card.locator(".pdf-viewer").count() == 0
    expect(card.locator(f'sup[id="pdf-clicks-{pid}"]')).to_have_text("1")
    assert page.evaluate("window.__opened") == [{"id": pid, "kind": "pdf"}]
    assert page.evaluate("window.__csp") == []
    assert reader.errors == []


def test_a_pdf_arxiv_cannot_give_says_why_inside_the_frame(
    reader: Reader, papers: list[dict[str, Any]]
) -> None:
    page, site = reader.page, reader.site
    pid = papers[3]["id"]  # the fake arXiv has no PDF of it
    proxy = f"{site.url}/api/papers/{pid}/pdf"
    page.goto(site.list_url)
    card = reader.card(pid)
    card.locator("a.title-pdf").click()
    frame = page.frame_locator(f'div.paper[id="{pid}"] iframe.pdf-frame')
    expect(frame.locator("h1")).to_have_text("No PDF here")
    expect(frame.locator("a.pdf-error-arxiv")).to_have_attribute(
        "href", f"{site.fake.web_url}/pdf/{pid}"
    )
    # a page of a few lines, not a PDF's height
    expect(card.locator("iframe.pdf-frame")).to_have_class("pdf-frame pdf-failed")
    assert page.evaluate("window.__csp") == []
    # the frame's 404, as Chromium reports any answer of that status, and nothing else
    assert reader.errors == [
        f"Failed to load resource: the server responded with a status of 404 (Not Found) at {proxy}"
    ]
