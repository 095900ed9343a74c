"""Reading a list with the keyboard and the in-page search, in a real browser, on the real
1,007-paper union day: include lines (OR, AND), exclude lines, fields, <mark> highlights (never
inside a formula), the filter, Ctrl+F, ``?query=``; j/k, s, p, f, c, /, ?; the theme switch.

Every expected count is computed here from the JSON API's papers (the same 1,000 as the page's
``?show=1000``), with the page's rules: case and accents folded, a line is a phrase whose spaces
match any white space, formulas are not searched. The queries are chosen so that no formula
holds them (checked): the counts are then the same whichever way the math is rendered.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from coolpapers.web import math
from coolpapers.web.templating import subject_links
from tests.browser import chromium, open_tab, require_chromium
from tests.union_day import FIRST_CARDS, UNION_SPEC, UnionSite, union_site

pytestmark = pytest.mark.browser

SHOW = 1000
LIST = f"/arxiv/{UNION_SPEC}?show={SHOW}"
FEW = 100  # enough cards for the keys
FEW_LIST = f"/arxiv/{UNION_SPEC}?show={FEW}"
# a bound on loading the 1,000-card page (4.7 MB) on a loaded machine; never spent when it loads
LOAD_TIMEOUT_MS = 90_000
DEFAULT_FIELDS = ("title", "authors", "summary")
PANEL = "#search-panel"
SETTLED = "() => !document.getElementById('search-panel').dataset.busy"
# the ids of the cards holding an in-page search mark, in page order
MARKED = """() => Array.from(document.querySelectorAll("div.paper"))
  .filter((c) => c.querySelector("mark.insearch")).map((c) => c.id)"""
SHOWN = """() => Array.from(document.querySelectorAll("div.paper"))
  .filter((c) => c.getClientRects().length > 0).map((c) => c.id)"""
CURRENT = "() => Array.from(document.querySelectorAll('div.paper.current')).map((c) => c.id)"


# ---- the page's matching rules, in Python -------------------------------------------------------


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.category(c).startswith("M"))


def pattern(line: str) -> re.Pattern[str]:
    return re.compile(r"\s+".join(re.escape(w) for w in fold(line).split()))


def outside_formulas(text: str) -> str:
    return "".join(part if isinstance(part, str) else " " for part in math.split(text))


@dataclass(frozen=True)
class Paper:
    id: str
    raw: dict[str, list[str]]  # field -> its texts (one per author, per subject)
    shown: dict[str, list[str]]  # the same without formulas: what the page searches

    @classmethod
    def of(cls, p: dict[str, Any]) -> Paper:
        subjects = [label for _, label, _ in subject_links(p["categories"])]
        subjects += [c for c, _, _ in subject_links(p["categories"])]
        raw = {
            "title": [p["title"]],
            "authors": list(p["authors"]),
            "summary": [p["abstract"]],
            "subjects": subjects,
        }
        shown = {
            **raw,
            "title": [outside_formulas(p["title"])],
            "summary": [outside_formulas(p["abstract"])],
        }
        return cls(p["id"], raw, shown)

    def has(self, line: str, fields: Iterable[str], texts: str = "shown") -> bool:
        rx = pattern(line)
        source = self.shown if texts == "shown" else self.raw
        return any(rx.search(fold(t)) for f in fields for t in source[f])


@dataclass(frozen=True)
class Query:
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    all_lines: bool = False
    fields: Sequence[str] = DEFAULT_FIELDS

    def matches(self, paper: Paper, texts: str = "shown") -> bool:
        def hit(line: str) -> bool:
            return paper.has(line, self.fields, texts)

        every = all if self.all_lines else any
        if self.include and not every(hit(line) for line in self.include):
            return False
        return not any(hit(line) for line in self.exclude)

    def expected(self, papers: list[Paper]) -> list[str]:
        """The ids that match; asserts that formulas play no part in it (the page does not
        search them, and whether one is rendered is the math renderer's business)."""
        shown = [p.id for p in papers if self.matches(p, "shown")]
        raw = [p.id for p in papers if self.matches(p, "raw")]
        assert shown == raw, f"{self} is inside a formula: pick another query"
        assert 0 < len(shown) < len(papers), f"{self} does not tell cards apart"
        return shown


# ---- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UnionSite]:
    require_chromium()
    with union_site(tmp_path_factory.mktemp("reading")) as s:
        yield s


@pytest.fixture(scope="module")
def day(site: UnionSite) -> list[Paper]:
    """Every paper of the union day, in the list's order (the API's pages of at most 1,000)."""
    found: list[Paper] = []
    with httpx.Client(base_url=site.url, timeout=30) as client:
        while True:
            r = client.get(f"/api/arxiv/{UNION_SPEC}", params={"show": SHOW, "skip": len(found)})
            r.raise_for_status()
            body = r.json()
            found += [Paper.of(p) for p in body["papers"]]
            if not body["papers"] or len(found) >= body["total"]:
                break
    assert len(found) > SHOW
    return found


@pytest.fixture(scope="module")
def papers(day: list[Paper]) -> list[Paper]:
    """The 1,000 papers of ``?show=1000``."""
    return day[:SHOW]


@pytest.fixture(scope="module")
def browser(site: UnionSite) -> Iterator[Browser]:
    with chromium() as b:
        yield b


@dataclass
class Reader:
    page: Page
    problems: list[str] = field(default_factory=list)  # console errors, page errors

    def open_search(self) -> None:
        self.page.click("#bar-search")
        expect(self.page.locator(PANEL)).to_be_visible()

    def search(self, q: Query, *, filtered: bool = False) -> None:
        """Sets the panel to ``q`` the way a reader would (typing, ticking)."""
        page = self.page
        page.fill("#search-include", "\n".join(q.include))
        page.fill("#search-exclude", "\n".join(q.exclude))
        page.set_checked("#search-and", q.all_lines)
        for f in ("title", "authors", "summary", "subjects"):
            page.set_checked(f"{PANEL} input[name=field][value={f}]", f in q.fields)
        page.set_checked("#search-filter", filtered)

    def count_is(self, n: int, total: int = SHOW) -> None:
        expect(self.page.locator(f"{PANEL} .search-count")).to_have_text(
            f"{n} of {total} papers match"
        )

    def marked(self) -> list[str]:
        self.page.wait_for_function(SETTLED)
        return list(self.page.evaluate(MARKED))


def reader_on(browser: Browser, site: UnionSite) -> Reader:
    tab = open_tab(browser, site.url)
    r = Reader(tab.page)

    def console(m: ConsoleMessage) -> None:
        if m.type == "error":
            r.problems.append(f"console: {m.text}")

    tab.page.on("console", console)
    tab.page.on("pageerror", lambda e: r.problems.append(f"page error: {e}"))
    return r


@pytest.fixture
def reader(browser: Browser, site: UnionSite) -> Iterator[Reader]:
    r = reader_on(browser, site)
    yield r
    r.page.context.close()
    assert not r.problems, r.problems


@pytest.fixture(scope="module")
def thousand(browser: Browser, site: UnionSite) -> Iterator[Reader]:
    """One tab on the union day's 1,000 cards, for the search tests (each sets the whole panel
    itself): loading 4.7 MB of cards once, not once a test."""
    r = reader_on(browser, site)
    r.page.goto(LIST, timeout=LOAD_TIMEOUT_MS)
    expect(r.page.locator("div.paper")).to_have_count(SHOW)
    r.open_search()
    yield r
    r.page.context.close()


@pytest.fixture
def listed(thousand: Reader) -> Iterator[Reader]:
    """The 1,000 cards, the search panel open and empty; no console error during the test."""
    start = len(thousand.problems)
    thousand.search(Query())
    expect(thousand.page.locator(f"{PANEL} .search-count")).to_have_text("")
    yield thousand
    assert thousand.problems[start:] == []


# ---- in-page search -----------------------------------------------------------------------------


def test_include_lines_match_any_or_with_and_all(listed: Reader, papers: list[Paper]) -> None:
    any_line = Query(include=["diffusion", "reinforcement learning"])
    want = any_line.expected(papers)
    listed.search(any_line)
    listed.count_is(len(want))
    assert listed.marked() == want  # every matching card shows why, and only those

    all_lines = Query(include=["language model", "benchmark"], all_lines=True)
    want_all = all_lines.expected(papers)
    assert len(want_all) < len(Query(include=all_lines.include).expected(papers))
    listed.search(all_lines)
    listed.count_is(len(want_all))
    assert listed.marked() == want_all
    marks = listed.page.eval_on_selector_all(
        "mark.insearch", "(ms) => [...new Set(ms.map((m) => m.textContent.toLowerCase()))]"
    )
    assert sorted(marks) == ["benchmark", "language model"]


def test_exclude_lines_drop_cards(listed: Reader, papers: list[Paper]) -> None:
    q = Query(include=["agent"], exclude=["reinforcement", "robot"])
    want = q.expected(papers)
    assert len(want) < len(Query(include=["agent"]).expected(papers))
    listed.search(q)
    listed.count_is(len(want))
    assert listed.marked() == want
    # exclude lines alone: every other card matches, nothing to mark
    only = Query(exclude=["language model"])
    listed.search(only)
    listed.count_is(len(only.expected(papers)))
    assert listed.marked() == []


def test_fields_limit_where_lines_match_and_marks_go(listed: Reader, papers: list[Paper]) -> None:
    titles = Query(include=["graph"], fields=["title"])
    want = titles.expected(papers)
    assert len(want) < len(Query(include=["graph"]).expected(papers))
    listed.search(titles)
    listed.count_is(len(want))
    assert listed.marked() == want
    outside = listed.page.eval_on_selector_all(
        "mark.insearch", "(ms) => ms.filter((m) => !m.closest('.title-link')).length"
    )
    assert outside == 0

    people = Query(include=["wang"], fields=["authors"])
    listed.search(people)
    listed.count_is(len(people.expected(papers)))
    listed.page.wait_for_function(SETTLED)  # the last search's marks go in idle time too
    assert listed.page.eval_on_selector_all(
        "mark.insearch", "(ms) => ms.every((m) => m.closest('a.author'))"
    )

    # subjects: their names and their codes (the code is only the link's title: nothing to mark)
    subjects = Query(include=["robotics", "cs.ma"], fields=["subjects"])
    listed.search(subjects)
    listed.count_is(len(subjects.expected(papers)))


def test_case_and_accents_are_folded(listed: Reader, papers: list[Paper]) -> None:
    q = Query(include=["RENYI", "jorg"])
    want = q.expected(papers)
    listed.search(q)
    listed.count_is(len(want))
    assert listed.marked() == want
    marks = listed.page.eval_on_selector_all(
        "mark.insearch", "(ms) => [...new Set(ms.map((m) => m.textContent))]"
    )
    assert "Rényi" in marks and "Jörg" in marks, marks


def test_filter_hides_the_rest_and_clearing_restores(listed: Reader, papers: list[Paper]) -> None:
    q = Query(include=["diffusion"], exclude=["image"])
    want = q.expected(papers)
    listed.search(q)
    listed.count_is(len(want))
    assert len(listed.page.evaluate(SHOWN)) == SHOW  # no filter yet: all shown
    listed.page.check("#search-filter")
    listed.page.wait_for_function(f"() => ({SHOWN})().length === {len(want)}")
    assert listed.page.evaluate(SHOWN) == want
    # hidden by a class (the CSP forbids style attributes)
    assert listed.page.locator("div.paper.filtered-out").count() == SHOW - len(want)
    assert listed.page.locator("div.paper[style]").count() == 0

    listed.page.fill("#search-include", "")
    listed.page.fill("#search-exclude", "")
    expect(listed.page.locator(f"{PANEL} .search-count")).to_have_text("")
    assert len(listed.page.evaluate(SHOWN)) == SHOW
    assert listed.marked() == []


def test_no_mark_inside_a_formula_nor_a_link_broken(listed: Reader) -> None:
    page = listed.page
    # "framework" is written inside a formula too (\text{…}), and outside it in many abstracts
    holders = """() => Array.from(document.querySelectorAll("math"))
      .filter((m) => /framework/i.test(m.textContent)).map((m) => m.outerHTML)"""
    before = page.evaluate(holders)
    assert before, "no formula holds the word: the test would prove nothing"
    links = page.eval_on_selector_all("a.title-link", "(as) => as.map((a) => a.href)")
    listed.search(Query(include=["framework"], fields=["title", "summary"]))
    assert listed.marked()
    assert page.locator("math mark, mark math").count() == 0
    assert page.evaluate(holders) == before  # the formulas are untouched
    assert page.eval_on_selector_all("a.title-link", "(as) => as.map((a) => a.href)") == links
    assert page.locator("a.title-link a, mark a").count() == 0


def test_ctrl_f_opens_the_search_and_a_second_press_is_the_browsers(reader: Reader) -> None:
    page = reader.page
    page.goto(FEW_LIST)
    page.evaluate(
        """() => { window.__find = [];
          window.addEventListener("keydown", (e) => {
            if (e.key === "f" && e.ctrlKey) window.__find.push(e.defaultPrevented); }); }"""
    )
    expect(page.locator(PANEL)).to_be_hidden()
    page.keyboard.press("Control+f")
    expect(page.locator(PANEL)).to_be_visible()
    expect(page.locator("#search-include")).to_be_focused()
    page.keyboard.press("Control+f")  # the search has the focus: the browser's own find
    assert page.evaluate("() => window.__find") == [True, False]
    # the panel open but the focus elsewhere: Ctrl+F takes it back to the search
    page.click("section.listhead h1")
    page.keyboard.press("Control+f")
    expect(page.locator("#search-include")).to_be_focused()
    assert page.evaluate("() => window.__find") == [True, False, True]


def test_query_on_a_list_pre_fills_the_search(reader: Reader, papers: list[Paper]) -> None:
    q = Query(include=["diffusion", "reinforcement learning"])
    want = q.expected(papers[:FEW])
    reader.page.goto(f"{FEW_LIST}&query=diffusion,reinforcement%20learning")
    expect(reader.page.locator(PANEL)).to_be_visible()
    expect(reader.page.locator("#search-include")).to_have_value(
        "diffusion\nreinforcement learning"
    )
    reader.count_is(len(want), FEW)
    assert reader.marked() == want
    # shown, not focused: the keys still move through the list
    expect(reader.page.locator("#search-include")).not_to_be_focused()

    # on the site search page, query is the search itself, not a filter of its results
    reader.page.goto("/arxiv/search?query=diffusion")
    expect(reader.page.locator("div.paper").first).to_be_visible()
    expect(reader.page.locator(PANEL)).to_be_hidden()
    expect(reader.page.locator("#search-include")).to_have_value("")


def test_search_applies_to_batches_loaded_after_typing(reader: Reader, day: list[Paper]) -> None:
    page = reader.page
    page.goto(f"/arxiv/{UNION_SPEC}")  # the first cards; the others come in lazily loaded batches
    expect(page.locator("div.paper")).to_have_count(FIRST_CARDS)
    reader.open_search()
    q = Query(include=["benchmark", "graph"], exclude=["language model"])
    reader.search(q, filtered=True)
    # the count of the cards there are: the filter leaves the page short, so the next batch may
    # already be in by the time it is read (any whole number of batches is right)
    sizes = {min(k, len(day)) for k in range(FIRST_CARDS, len(day) + FIRST_CARDS, FIRST_CARDS)}
    counts = [f"{len(q.expected(day[:n]))} of {n} papers match" for n in sorted(sizes)]
    pattern = re.compile("^(" + "|".join(re.escape(c) for c in counts) + ")$")
    expect(page.locator(f"{PANEL} .search-count")).to_have_text(pattern)
    # to the end of the day, batch after batch (the filter leaves the page short, so the loader
    # keeps finding its link in reach; the scroll makes sure of it)
    page.wait_for_function(
        """(n) => { window.scrollTo(0, document.body.scrollHeight);
                    return document.querySelectorAll("div.paper").length === n; }""",
        arg=len(day),
        timeout=LOAD_TIMEOUT_MS,
    )
    want = q.expected(day)
    assert want[-1] not in {p.id for p in day[:FIRST_CARDS]}
    reader.count_is(len(want), len(day))
    assert page.evaluate(SHOWN) == want
    assert reader.marked() == want


# ---- keys ---------------------------------------------------------------------------------------


def card_top(page: Page, card_id: str) -> float:
    return float(
        page.evaluate("(id) => document.getElementById(id).getBoundingClientRect().top", card_id)
    )


def test_j_and_k_move_through_the_cards(reader: Reader, papers: list[Paper]) -> None:
    page = reader.page
    page.goto(FEW_LIST)
    ids = [p.id for p in papers]
    page.keyboard.press("j")  # no current card yet: the one at the top of the viewport
    assert page.evaluate(CURRENT) == [ids[0]]
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert page.evaluate(CURRENT) == [ids[2]]
    assert 0 <= card_top(page, ids[2]) < 40  # scrolled to the top of the viewport
    page.keyboard.press("k")
    assert page.evaluate(CURRENT) == [ids[1]]
    outline = page.evaluate(
        "(id) => getComputedStyle(document.getElementById(id)).outlineStyle", ids[1]
    )
    assert outline != "none"

    # scrolled far away: j starts again from the card at the top of the viewport
    page.evaluate("(id) => document.getElementById(id).scrollIntoView()", ids[60])
    page.keyboard.press("j")
    assert page.evaluate(CURRENT) == [ids[60]]


def test_j_and_k_skip_the_cards_the_filter_hides(reader: Reader, papers: list[Paper]) -> None:
    page = reader.page
    page.goto(FEW_LIST)
    q = Query(include=["benchmark"])
    want = q.expected(papers[:FEW])
    assert len(want) >= 3 and want[0] != papers[0].id
    reader.open_search()
    reader.search(q, filtered=True)
    reader.count_is(len(want), FEW)
    page.click("section.listhead h1")  # the focus out of the search box
    for expected in want[:3]:
        page.keyboard.press("j")
        assert page.evaluate(CURRENT) == [expected]
    page.keyboard.press("k")
    assert page.evaluate(CURRENT) == [want[1]]


CLICKS = """() => {
  window.__clicks = [];
  // in the capture phase, before the card's own scripts: recorded and stopped there (the PDF
  // viewer, the FAQ and the clipboard are other tests' business)
  window.addEventListener("click", (e) => {
    const el = e.target.closest("a.title-pdf, a.title-faq, button.title-copy");
    if (!el) return;
    window.__clicks.push([el.closest("div.paper").id, el.classList[0]]);
    e.preventDefault();
    e.stopImmediatePropagation();
  }, true);
}"""


def test_s_p_f_c_act_on_the_current_card(reader: Reader, papers: list[Paper]) -> None:
    page = reader.page
    page.goto(FEW_LIST)
    page.evaluate(CLICKS)
    first, second = papers[0].id, papers[1].id
    star = page.locator(f"div.paper[id='{second}'] button.star")
    expect(star).to_have_attribute("aria-pressed", "false")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("s")
    expect(star).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("s")
    expect(star).to_have_attribute("aria-pressed", "false")
    for key in "pfc":
        page.keyboard.press(key)
    page.keyboard.press("k")
    page.keyboard.press("p")
    assert page.evaluate("() => window.__clicks") == [
        [second, "title-pdf"],
        [second, "title-faq"],
        [second, "title-copy"],
        [first, "title-pdf"],
    ]


def test_slash_opens_the_search_and_question_mark_the_help(reader: Reader) -> None:
    page = reader.page
    page.goto(FEW_LIST)
    page.keyboard.press("?")
    help_box = page.locator("dialog.keys-help")
    expect(help_box).to_be_visible()
    for key in ("j", "k", "s", "p", "f", "c", "/", "?"):
        expect(help_box.locator("kbd", has_text=key).first).to_be_visible()
    page.keyboard.press("Escape")
    expect(help_box).to_be_hidden()

    expect(page.locator(PANEL)).to_be_hidden()
    page.keyboard.press("/")
    expect(page.locator(PANEL)).to_be_visible()
    expect(page.locator("#search-include")).to_be_focused()
    expect(page.locator("#search-include")).to_have_value("")  # the "/" was not typed in


def test_keys_typed_in_a_field_or_with_a_modifier_are_left_alone(reader: Reader) -> None:
    page = reader.page
    page.goto(FEW_LIST)
    reader.open_search()
    page.focus("#search-include")
    page.keyboard.type("jks/?")
    expect(page.locator("#search-include")).to_have_value("jks/?")
    assert page.evaluate(CURRENT) == []
    expect(page.locator("dialog.keys-help")).to_have_count(0)
    page.click("section.listhead h1")
    page.keyboard.press("Alt+j")
    page.keyboard.press("Control+j")
    assert page.evaluate(CURRENT) == []
    page.keyboard.press("j")  # out of the box and alone: the key works
    assert len(page.evaluate(CURRENT)) == 1


# ---- theme --------------------------------------------------------------------------------------

BACKGROUND = "() => getComputedStyle(document.body).backgroundColor"
THEME = "() => document.documentElement.getAttribute('data-theme')"


def choose_theme(page: Page, theme: str) -> None:
    page.click("#bar-settings")
    page.select_option("#bar-theme", theme)
    page.click("#bar-settings")


def test_theme_switch_sets_data_theme_and_persists(reader: Reader) -> None:
    page = reader.page
    page.emulate_media(color_scheme="light")
    page.goto(f"/arxiv/{UNION_SPEC}")
    assert page.evaluate(THEME) is None
    light = page.evaluate(BACKGROUND)
    choose_theme(page, "dark")
    assert page.evaluate(THEME) == "dark"
    dark = page.evaluate(BACKGROUND)
    assert dark != light
    page.reload()
    assert page.evaluate(THEME) == "dark"
    assert page.evaluate(BACKGROUND) == dark
    expect(page.locator("#bar-theme")).to_have_value("dark")
    page.goto("/")  # every page, not only the one where it was chosen
    assert page.evaluate(THEME) == "dark"

    page.goto(f"/arxiv/{UNION_SPEC}")
    choose_theme(page, "auto")
    assert page.evaluate(THEME) is None
    assert page.evaluate(BACKGROUND) == light
    page.reload()
    assert page.evaluate(THEME) is None
    expect(page.locator("#bar-theme")).to_have_value("auto")


def test_auto_follows_the_system_and_light_overrides_it(reader: Reader) -> None:
    page = reader.page
    page.emulate_media(color_scheme="light")
    page.goto(f"/arxiv/{UNION_SPEC}")
    light = page.evaluate(BACKGROUND)
    choose_theme(page, "dark")
    dark = page.evaluate(BACKGROUND)
    choose_theme(page, "auto")
    page.emulate_media(color_scheme="dark")
    assert page.evaluate(THEME) is None
    assert page.evaluate(BACKGROUND) == dark  # the system's dark, nothing chosen
    choose_theme(page, "light")
    assert page.evaluate(THEME) == "light"
    assert page.evaluate(BACKGROUND) == light  # the reader's light over the system's dark
    page.reload()
    assert page.evaluate(BACKGROUND) == light
