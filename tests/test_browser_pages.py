"""Every kind of page in a real browser, on the real 1,007-paper union day: nothing scrolls
sideways at 390 px, the console stays empty (no error, no warning, no page error, no CSP
violation) at 1280 and 390 px, no inline script, and the dark palette follows the system's
preference unless the reader chose a theme (html[data-theme]).

Screenshots of each page at both widths, light and dark, go to /tmp/shots/ for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests.browser import chromium, require_chromium
from tests.union_day import UNION_SPEC, UnionSite, union_site

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots")
PHONE = 390
DESKTOP = 1280
HEIGHT = 800
# 2608.18097 and 2403.04801 have the longest unbreakable words of the union day's abstracts (URLs
# of 58 and 54 characters: wider than a phone); 2403.05530 has 671 authors.
LONG_WORD = "2608.18097"
PAGES: dict[str, tuple[str, int]] = {  # name: (path, status)
    "home": ("/", 200),
    "list": (f"/arxiv/{UNION_SPEC}", 200),
    "paper": (f"/arxiv/{LONG_WORD}", 200),
    "commaid": (f"/arxiv/{LONG_WORD},2403.04801,2403.05530", 200),
    "search": ("/arxiv/search?query=language+model&highlight=1", 200),
    "status": ("/status", 200),
    "stars": ("/stars", 200),
    "error": ("/arxiv/nonsense.XX", 404),
}
# Recorded from before any script of the page runs (an init script is outside the page's CSP).
CSP_LISTENER = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} ` +
                    `at ${e.sourceFile || "?"}:${e.lineNumber}`);
});
"""
# What sticks out of the viewport, innermost only (the element at fault, not its ancestors), as
# short selectors. An element's box may fit while its text does not (an unbreakable word
# overflows a block without widening it): its scrollWidth catches that. Whatever is inside a box
# that scrolls or clips (a .table-scroll) is that box's business, and the box is checked itself;
# html and body never count as that box (overflow-x: hidden on them would hide the bug).
OFFENDERS = """
() => {
  const vw = document.documentElement.clientWidth;
  const describe = (el) => {
    const parts = [];
    for (let e = el; e && e !== document.body && parts.length < 3; e = e.parentElement) {
      let s = e.tagName.toLowerCase();
      if (e.id) s += "#" + e.id;
      for (const c of Array.from(e.classList).slice(0, 2)) s += "." + c;
      parts.unshift(s);
    }
    return parts.join(" > ");
  };
  const insideScroller = (el) => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== "visible") return true;
    }
    return false;
  };
  const wide = [];
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    // a box that scrolls keeps its content inside: only its own edges count
    const scrolls = getComputedStyle(el).overflowX !== "visible";
    const right = scrolls ? r.right : Math.max(r.right, r.left + el.clientLeft + el.scrollWidth);
    if ((r.left < -0.5 || right > vw + 0.5) && !insideScroller(el)) {
      wide.push([el, `${describe(el)} (${Math.round(r.left)}..${Math.round(right)} px)`]);
    }
  }
  return wide.filter(([el]) => !wide.some(([o]) => o !== el && el.contains(o)))
             .map(([, text]) => text).slice(0, 10);
}
"""
BACKGROUND = """
() => {
  const rgb = getComputedStyle(document.body).backgroundColor.match(/[\\d.]+/g).map(Number);
  const lin = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * lin(rgb[0]) + 0.7152 * lin(rgb[1]) + 0.0722 * lin(rgb[2]);
}
"""
INK = BACKGROUND.replace("backgroundColor", "color")


@dataclass
class Visit:
    page: Page
    url: str
    problems: list[str] = field(default_factory=list)  # console errors/warnings, page errors

    def csp(self) -> list[str]:
        return list(self.page.evaluate("() => window.__csp"))

    def trouble(self) -> list[str]:
        return self.problems + [f"CSP: {v}" for v in self.csp()]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UnionSite]:
    require_chromium()
    with union_site(tmp_path_factory.mktemp("pages")) as s:
        yield s


@pytest.fixture(scope="module")
def browser(site: UnionSite) -> Iterator[Browser]:
    with chromium() as b:
        yield b


def visit(
    browser: Browser,
    site: UnionSite,
    name: str,
    width: int,
    scheme: Literal["light", "dark"] = "light",
) -> Visit:
    """A fresh context at ``width`` × 800 on page ``name``, loaded and quiet on the network, its
    console recorded from the start."""
    path, status = PAGES[name]
    context = browser.new_context(
        base_url=site.url, viewport={"width": width, "height": HEIGHT}, color_scheme=scheme
    )
    context.set_default_timeout(15_000)
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    url = site.url + path
    v = Visit(page, url)

    def console(m: ConsoleMessage) -> None:
        # an error page's own status is logged by Chromium as a failed resource: not the page's
        own_status = status >= 400 and m.location.get("url") == url and "status of" in m.text
        if m.type in ("error", "warning") and not own_status:
            v.problems.append(f"console {m.type}: {m.text} ({m.location.get('url')})")

    page.on("console", console)
    page.on("pageerror", lambda e: v.problems.append(f"page error: {e}"))
    response = page.goto(url)
    assert response is not None and response.status == status, (name, response)
    page.wait_for_load_state("networkidle")  # the modules' first fetches (stars, clicks) done
    return v


def shot(v: Visit, name: str, width: int, theme: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    # the list and search pages are long: their first screen says enough
    whole = name not in ("list", "search")
    v.page.screenshot(path=str(SHOTS / f"pages-{name}-{width}-{theme}.png"), full_page=whole)


@pytest.mark.parametrize("width", [DESKTOP, PHONE])
@pytest.mark.parametrize("name", list(PAGES))
def test_page_fits_its_console_is_clean_and_it_follows_the_theme(
    browser: Browser, site: UnionSite, name: str, width: int
) -> None:
    """One visit per page and width (a visit is most of the cost): on a phone nothing scrolls
    sideways; no inline script or handler, no console error, no CSP violation; dark follows the
    system unless the reader chose."""
    v = visit(browser, site, name, width, "light")
    page = v.page
    try:
        if width == PHONE:
            scrolled = page.evaluate("() => document.documentElement.scrollWidth")
            offenders = page.evaluate(OFFENDERS)
            assert scrolled <= PHONE and not offenders, f"{name}: {scrolled} px wide; {offenders}"
        inline = page.evaluate(
            """() => Array.from(document.scripts).filter((s) => !s.src)
                      .map((s) => s.textContent.slice(0, 60))"""
        )
        handlers = page.evaluate(
            """() => Array.from(document.querySelectorAll("*")).flatMap((el) =>
                 el.getAttributeNames().filter((a) => a.startsWith("on"))
                   .map((a) => `${el.tagName.toLowerCase()}[${a}]`))"""
        )
        assert not inline and not handlers, (inline, handlers)
        assert page.evaluate("() => document.documentElement.classList.contains('js')")

        assert page.evaluate(BACKGROUND) > 0.8, "light: the background is not light"
        shot(v, name, width, "light")
        page.emulate_media(color_scheme="dark")
        assert page.evaluate(BACKGROUND) < 0.05, "the system's dark: the background is not dark"
        assert page.evaluate(INK) > 0.5, "the system's dark: the text is not light"
        assert page.evaluate("() => getComputedStyle(document.documentElement).colorScheme") in (
            "dark",
            "light dark",
        )
        shot(v, name, width, "dark")
        # the reader's choice wins over the system's, both ways
        page.evaluate("() => { document.documentElement.dataset.theme = 'light'; }")
        assert page.evaluate(BACKGROUND) > 0.8, "data-theme=light on a dark system"
        assert page.evaluate("() => getComputedStyle(document.documentElement).colorScheme") == (
            "light"
        )
        page.emulate_media(color_scheme="light")
        page.evaluate("() => { document.documentElement.dataset.theme = 'dark'; }")
        assert page.evaluate(BACKGROUND) < 0.05, "data-theme=dark on a light system"
        # and as the settings switch leaves it (cp.theme, read by theme.js before the first paint)
        page.evaluate("() => localStorage.setItem('cp.theme', 'light')")
        page.emulate_media(color_scheme="dark")
        page.reload()
        assert page.evaluate(BACKGROUND) > 0.8, "cp.theme=light on a dark system, reloaded"
        assert not v.trouble(), v.trouble()
    finally:
        page.context.close()


def test_the_et_al_fold_stays_in_the_authors_line_without_the_script(
    browser: Browser, site: UnionSite
) -> None:
    """A paper of 671 authors: 40 shown, the rest behind "et al." — inside p.authors (where the
    in-page search and the Zotero translator look), and opened by a click with no script."""
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{site.url}/arxiv/2403.05530")
        authors = page.locator("p.authors a.author")
        expect(authors).to_have_count(671)
        expect(authors.nth(39)).to_be_visible()
        expect(authors.nth(40)).to_be_hidden()
        page.locator("p.authors .etal label").click()
        expect(authors.nth(670)).to_be_visible()
        expect(page.locator("p.authors .etal label")).to_be_hidden()
    finally:
        context.close()
