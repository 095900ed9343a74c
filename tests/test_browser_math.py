"""Formulas in a real browser, on the real 1,007-paper union day: MathML elements inside
p.summary and .title on the first cards and on a lazily loaded batch (the cards lazy.js fetches
with fragment=1, rendered on the server by the same card macro), laid out by Chromium; at 390 px
every formula of the day stays inside its card and the page does not scroll sideways; in the dark
theme formulas take the text's colour, an unknown macro the accent's. The console stays empty."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, expect

from tests.browser import chromium, require_chromium
from tests.union_day import FIRST_CARDS, UnionSite, union_site

pytestmark = pytest.mark.browser

MATHML = "http://www.w3.org/1998/Math/MathML"
FIRST_WITH_MATH = "1808.08763"  # the one card of the first 25 whose abstract holds formulas
LAZY_WITH_MATH = "2306.12245"  # the one card of the next 25 (the first lazy batch) with formulas
PHONE = 390

# For each <math> of the page: is it a MathML element, laid out with a size, and where its
# right edge is against its card's; plus what the page's width is.
LAYOUT = """
(sel) => [...document.querySelectorAll(sel)].map((m) => {
  const card = m.closest("div.paper").getBoundingClientRect();
  const r = m.getBoundingClientRect();
  return {
    ns: m.namespaceURI, w: r.width, h: r.height,
    inside: r.left >= card.left - 0.5 && r.right <= card.right + 0.5,
    card: m.closest("div.paper").id,
  };
})
"""

GROW = """
() => {
  const inline = [...document.querySelectorAll("div.paper p.summary math:not([display])")]
    .sort((a, b) => b.scrollWidth - a.scrollWidth)[0];
  const shown = document.querySelector('div.paper p.summary math[display="block"]');
  return [inline, shown].filter(Boolean).map((m) => {
    m.style.fontSize = "400%";  // CSSOM: not an inline style the CSP guards
    const card = m.closest("div.paper").getBoundingClientRect();
    const r = m.getBoundingClientRect();
    return {
      card: m.closest("div.paper").id, content: m.scrollWidth, box: m.clientWidth,
      inside: r.left >= card.left - 0.5 && r.right <= card.right + 0.5,
    };
  });
}
"""


@dataclass
class Visit:
    page: Page
    problems: list[str] = field(default_factory=list)
    fragments: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UnionSite]:
    require_chromium()
    with union_site(tmp_path_factory.mktemp("math")) as s:
        yield s


@pytest.fixture(scope="module")
def browser(site: UnionSite) -> Iterator[Browser]:
    with chromium() as b:
        yield b


Open = Callable[..., Visit]  # (path, width, scheme="light") -> a loaded page


@pytest.fixture
def visit(browser: Browser, site: UnionSite) -> Iterator[Open]:
    contexts = []

    def open_page(path: str, width: int, scheme: Literal["light", "dark"] = "light") -> Visit:
        context = browser.new_context(
            base_url=site.url, viewport={"width": width, "height": 800}, color_scheme=scheme
        )
        contexts.append(context)
        context.set_default_timeout(15_000)
        page = context.new_page()
        v = Visit(page)

        def console(m: ConsoleMessage) -> None:
            if m.type in ("error", "warning"):
                v.problems.append(f"console {m.type}: {m.text}")

        def request(r: Request) -> None:
            if "fragment=1" in r.url:
                v.fragments.append(r.url)

        page.on("console", console)
        page.on("pageerror", lambda e: v.problems.append(f"page error: {e}"))
        page.on("request", request)
        # the whole day at once (?show=1000) is a heavy page for a loaded machine: a bound only
        response = page.goto(path, timeout=90_000)
        assert response is not None and response.status == 200
        return v

    yield open_page
    for context in contexts:
        context.close()


def summary_math(page: Page, paper: str) -> list[dict[str, object]]:
    return list(page.evaluate(LAYOUT, f'[id="summary-{paper}"] math'))


def test_math_on_the_first_cards_and_on_a_lazy_batch(visit: Open, site: UnionSite) -> None:
    v = visit(site.list_url, 1280)
    page = v.page
    cards = page.locator("div.papers > div.paper")
    expect(cards).to_have_count(FIRST_CARDS)
    first = page.locator(f'[id="summary-{FIRST_WITH_MATH}"] math')
    expect(first.first).to_be_visible()
    laid_out = summary_math(page, FIRST_WITH_MATH)
    assert laid_out and all(m["ns"] == MATHML and m["w"] and m["h"] for m in laid_out)
    assert page.locator(f'[id="{LAZY_WITH_MATH}"]').count() == 0  # not loaded yet

    page.locator("p.more").scroll_into_view_if_needed()  # the reader nears the end
    lazy = page.locator(f'[id="summary-{LAZY_WITH_MATH}"] math')
    expect(lazy.first).to_be_visible()
    assert any("skip=25" in url for url in v.fragments), v.fragments  # lazy.js brought it
    laid_out = summary_math(page, LAZY_WITH_MATH)
    assert laid_out and all(m["ns"] == MATHML and m["w"] and m["h"] for m in laid_out)
    assert page.locator("div.paper .tex-source").count() == 0
    assert not v.problems, v.problems


def test_every_formula_fits_a_phone_in_the_dark(visit: Open, site: UnionSite) -> None:
    v = visit(f"{site.list_url}?show=1000", PHONE, "dark")
    page = v.page
    expect(page.locator("div.papers > div.paper")).to_have_count(1000)
    formulas = list(page.evaluate(LAYOUT, "div.paper p.summary math, div.paper .title math"))
    assert len(formulas) >= 250
    assert page.locator("div.paper .title math").count() >= 4
    # the browser read each formula as the server wrote it: MathML throughout, HTML only
    # inside <mtext>, every element still inside its <math>
    stray = page.evaluate(
        """() => [...document.querySelectorAll("div.paper math *")].filter((e) =>
             e.namespaceURI !== "http://www.w3.org/1998/Math/MathML" && !e.closest("mtext")
           ).map((e) => e.outerHTML).slice(0, 5)"""
    )
    assert stray == []
    assert page.locator('div.paper p.summary math[display="block"]').count() >= 1
    assert [m["card"] for m in formulas if not m["inside"]] == []
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE
    # Whether the day's widest formula outgrows a phone depends on the math font at hand: make
    # the widest inline one and a displayed one four times as large, wider than any card.
    grown = page.evaluate(GROW)
    assert len(grown) == 2
    for m in grown:
        assert m["content"] > m["box"] and m["inside"], m  # it scrolls inside its card
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE
    # formulas take the text's colour (the theme's variables), not a fixed one
    ink, formula = page.evaluate(
        """() => {
          const m = document.querySelector("div.paper p.summary math");
          return [getComputedStyle(m.closest("p")).color, getComputedStyle(m).color];
        }"""
    )
    assert formula == ink and ink != "rgb(0, 0, 0)"
    # an author's unknown macro (\projectname) in the theme's accent, without the browser's
    # light-yellow error box
    unknown, accent, background = page.evaluate(
        """() => {
          const e = document.querySelector("div.paper p.summary merror.tex-unknown");
          const probe = document.createElement("span");
          probe.style.color = "var(--accent)";
          e.closest("p").append(probe);
          const found = [getComputedStyle(e).color, getComputedStyle(probe).color,
                         getComputedStyle(e).backgroundColor];
          probe.remove();
          return found;
        }"""
    )
    assert unknown == accent and background == "rgba(0, 0, 0, 0)"
    assert not v.problems, v.problems
