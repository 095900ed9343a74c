"""Stars in a real browser on the real 1,007-paper union day: the card's star (kept in the
browser across reloads, pages and tabs), the bottom bar's panels and star list (scroll-to,
un-star/re-star, [FAQ] puts a paper in it, Export, BibTeX), /stars (newest first, filter), and a
store that is corrupt or refused by the browser. The app under uvicorn, headless Chromium."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from tests.browser import Tab, chromium, open_tab, require_chromium
from tests.fakes.llm_server import MODEL, FakeLLM
from tests.union_day import FIRST_CARDS, UNION_DAY, UnionSite, union_items, union_site

pytestmark = pytest.mark.browser

LIST = "/arxiv/cs.AI,cs.CL,cs.CV,cs.LG"
# what the star list calls this page: the day is part of it (the URL alone shows the latest day)
LIST_KEY = f"{LIST}?date={UNION_DAY.isoformat()}"
STARS_SHOT = "/tmp/coolpapers-stars.png"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UnionSite]:
    """The union day, with an LLM configured (a fake that no worker calls: [FAQ] only queues),
    so that the [FAQ] button really opens, as a reader's click does."""
    require_chromium()
    with FakeLLM() as llm:
        tmp = tmp_path_factory.mktemp("browser-stars")
        with union_site(
            Path(tmp), llm_base_url=llm.base_url, llm_model=MODEL, llm_api_key="sk-test"
        ) as s:
            yield s


@pytest.fixture(scope="module")
def browser(site: UnionSite) -> Iterator[Browser]:
    with chromium() as b:
        yield b


class Watched:
    """A tab whose console errors and uncaught exceptions are collected (each test ends with
    none), and whose `cp:*` events are recorded in window.__events."""

    def __init__(self, tab: Tab) -> None:
        self.tab = tab
        self.page = tab.page
        self.errors: list[str] = []
        self.watch(self.page)
        self.page.context.add_init_script(
            "window.__events = [];"
            "for (const name of ['cp:stars', 'cp:panel', 'cp:opened', 'cp:cards'])"
            "  document.addEventListener(name, (e) => window.__events.push("
            "    {name, detail: name === 'cp:cards' ? e.detail.cards.length : e.detail}));"
        )

    def watch(self, page: Page) -> None:
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    @property
    def context(self) -> BrowserContext:
        return self.page.context

    def goto(self, path: str) -> None:
        response = self.page.goto(path)
        assert response is not None and response.status == 200, path

    def stored(self) -> list[dict[str, object]]:
        raw = self.page.evaluate("localStorage.getItem('cp.stars')")
        return json.loads(raw) if raw else []


@pytest.fixture
def tab(browser: Browser, site: UnionSite) -> Iterator[Watched]:
    t = open_tab(browser, site.url)
    watched = Watched(t)
    yield watched
    t.page.context.close()
    assert not watched.errors, watched.errors
    assert not t.offsite, t.offsite


@functools.cache
def titles() -> dict[str, str]:
    """Each union paper's title as arXiv wrote it (TeX kept), on one line."""
    return {i.meta.id: " ".join(i.meta.title.split()) for i in union_items()}


def card_ids(page: Page) -> list[str]:
    ids: list[str] = page.locator("div.papers div.paper").evaluate_all("cs => cs.map(c => c.id)")
    return ids


def star_of(page: Page, paper_id: str) -> Locator:
    return page.locator(f'div.paper[id="{paper_id}"] button.star')


def entry(page: Page, paper_id: str) -> Locator:
    return page.locator(f'#star-list a[href="#{paper_id}"]')


def in_view(page: Page, paper_id: str) -> None:
    page.wait_for_function(
        """id => { const r = document.getElementById(id).getBoundingClientRect();
                   return r.top >= 0 && r.top < innerHeight / 3; }""",
        arg=paper_id,
    )


def seed(tab: Watched, stars: list[dict[str, str]] | str) -> None:
    """Puts ``stars`` (entries, or a raw string) in the browser's store, then reloads."""
    raw = stars if isinstance(stars, str) else json.dumps(stars)
    tab.page.evaluate("raw => localStorage.setItem('cp.stars', raw)", raw)


# ----------------------------------------------------------------------------- the card's star


def test_a_star_stays_across_reloads_pages_and_tabs(tab: Watched) -> None:
    page = tab.page
    tab.goto(LIST)
    ids = card_ids(page)
    assert len(ids) == FIRST_CARDS
    chosen = ids[2]
    expect(page.locator("div.paper button.star[aria-pressed=true]")).to_have_count(0)
    star_of(page, chosen).click()
    expect(star_of(page, chosen)).to_have_attribute("aria-pressed", "true")
    expect(page.locator("div.paper button.star[aria-pressed=true]")).to_have_count(1)
    expect(page.locator("#bar-stars .star-count")).to_have_text("1")
    [stored] = tab.stored()
    assert stored["id"] == chosen and stored["page"] == LIST_KEY
    assert stored["title"] == titles()[chosen]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(stored["at"]))

    page.reload()
    expect(star_of(page, chosen)).to_have_attribute("aria-pressed", "true")
    expect(star_of(page, ids[3])).to_have_attribute("aria-pressed", "false")

    # another page: the paper's own, and a comma-id page
    tab.goto(f"/arxiv/{chosen}")
    expect(star_of(page, chosen)).to_have_attribute("aria-pressed", "true")
    tab.goto(f"/arxiv/{ids[0]},{chosen}")
    expect(star_of(page, chosen)).to_have_attribute("aria-pressed", "true")
    expect(star_of(page, ids[0])).to_have_attribute("aria-pressed", "false")

    # another tab follows: it stars there, this one shows it without a reload
    other = tab.context.new_page()
    tab.watch(other)
    other.goto(LIST)
    expect(star_of(other, chosen)).to_have_attribute("aria-pressed", "true")
    star_of(other, ids[0]).click()
    expect(star_of(page, ids[0])).to_have_attribute("aria-pressed", "true")
    star_of(page, chosen).click()  # un-star here
    expect(star_of(other, chosen)).to_have_attribute("aria-pressed", "false")
    assert [s["id"] for s in tab.stored()] == [ids[0]]


def test_a_title_with_math_is_stored_as_its_tex(tab: Watched) -> None:
    """The card shows MathML; the store (and so the star list and /stars) keeps the TeX."""
    page = tab.page
    paper_id = "2412.20718"  # M$^3$oralBench
    tab.goto(f"/arxiv/{paper_id}")
    expect(page.locator(f'[id="title-{paper_id}"] math')).to_have_count(1)
    star_of(page, paper_id).click()
    expect(star_of(page, paper_id)).to_have_attribute("aria-pressed", "true")
    [stored] = tab.stored()
    assert (
        stored["title"]
        == titles()[paper_id]
        == "M$^3$oralBench: A MultiModal Moral Benchmark for LVLMs"
    )
    assert stored["page"] == f"/arxiv/{paper_id}"


def test_bar_panels_one_at_a_time_and_esc(tab: Watched) -> None:
    page = tab.page
    tab.goto(LIST)
    search, stars, settings = (page.locator(f"#bar-{n}") for n in ("search", "stars", "settings"))
    for button in (search, stars, settings):
        expect(button).to_have_attribute("aria-expanded", "false")
    search.click()
    expect(search).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#search-panel")).to_be_visible()
    stars.click()
    expect(stars).to_have_attribute("aria-expanded", "true")
    expect(search).to_have_attribute("aria-expanded", "false")
    expect(page.locator("#search-panel")).to_be_hidden()
    expect(page.locator("#star-panel")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#star-panel")).to_be_hidden()
    expect(stars).to_have_attribute("aria-expanded", "false")
    expect(stars).to_be_focused()
    settings.click()
    expect(page.locator("#settings-panel")).to_be_visible()
    settings.click()
    expect(page.locator("#settings-panel")).to_be_hidden()
    panels = page.evaluate("window.__events.filter(e => e.name === 'cp:panel').map(e => e.detail)")
    assert panels == [
        {"id": "search-panel", "open": True},
        {"id": "search-panel", "open": False},
        {"id": "star-panel", "open": True},
        {"id": "star-panel", "open": False},
        {"id": "settings-panel", "open": True},
        {"id": "settings-panel", "open": False},
    ]


def test_settings_faq_language_is_the_top_bars(tab: Watched) -> None:
    page = tab.page
    tab.goto(LIST)
    top, mine = page.locator("#faq-lang"), page.locator("#bar-faq-lang")
    expect(mine).to_have_value(top.input_value())
    page.click("#bar-settings")
    mine.select_option("zh")
    expect(top).to_have_value("zh")
    assert page.evaluate("localStorage.getItem('faq-lang')") == "zh"
    mine.select_option("en")
    expect(top).to_have_value("en")
    page.reload()
    expect(page.locator("#bar-faq-lang")).to_have_value("en")
    page.locator("#faq-lang").select_option("zh")
    expect(page.locator("#bar-faq-lang")).to_have_value("zh")


# ----------------------------------------------------------------------------- the star list


def test_star_list_scrolls_to_cards_and_unstars_and_restars(tab: Watched) -> None:
    page = tab.page
    tab.goto(LIST)
    ids = card_ids(page)
    first, far = ids[0], ids[20]
    star_of(page, first).click()
    star_of(page, far).click()
    page.evaluate("scrollTo(0, 0)")
    page.click("#bar-stars")
    links = page.locator("#star-list a[href^='#']")
    expect(links).to_have_count(2)
    assert links.evaluate_all("as => as.map(a => a.getAttribute('href'))") == [
        f"#{first}",
        f"#{far}",
    ]
    expect(entry(page, far)).to_have_text(titles()[far])
    box = page.locator(f'[id="{far}"]').bounding_box()
    assert box and box["y"] > 900  # below the fold before the click
    entry(page, far).click()
    in_view(page, far)
    assert page.url.endswith(f"#{far}")
    entry(page, first).click()
    in_view(page, first)

    # un-star from the list: the card follows, the entry stays (to re-star), Export drops it
    toggle = page.locator(f'#star-list .star-entry[data-paper="{far}"] button.entry-star')
    expect(toggle).to_have_attribute("aria-pressed", "true")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "false")
    expect(star_of(page, far)).to_have_attribute("aria-pressed", "false")
    expect(entry(page, far)).to_have_count(1)
    expect(page.locator("#star-panel a.export")).to_have_attribute("href", f"/arxiv/{first}")
    expect(page.locator("#bar-stars .star-count")).to_have_text("1")
    assert [s["id"] for s in tab.stored()] == [first]
    toggle.click()
    expect(star_of(page, far)).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#star-panel a.export")).to_have_attribute("href", f"/arxiv/{first},{far}")
    # un-starred on its card: the list follows
    star_of(page, first).click()
    expect(
        page.locator(f'#star-list .star-entry[data-paper="{first}"] button.entry-star')
    ).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#star-panel a.export")).to_have_attribute("href", f"/arxiv/{far}")


def test_opening_the_faq_puts_the_paper_in_the_star_list(tab: Watched) -> None:
    """papers.cool's star list is the papers whose [PDF] or [Kimi] you opened: [FAQ] stars it."""
    page = tab.page
    tab.goto(LIST)
    chosen = card_ids(page)[5]
    page.click(f'[id="faq-{chosen}"]')
    expect(page.locator(f'[id="faq-pane-{chosen}"]')).to_be_visible()
    expect(star_of(page, chosen)).to_have_attribute("aria-pressed", "true")
    page.click("#bar-stars")
    expect(entry(page, chosen)).to_have_count(1)
    assert [s["id"] for s in tab.stored()] == [chosen]
    opened = page.evaluate("window.__events.filter(e => e.name === 'cp:opened').map(e => e.detail)")
    assert opened == [{"id": chosen, "kind": "faq"}]


def test_a_star_of_this_day_not_loaded_yet_is_listed_and_opens_its_page(tab: Watched) -> None:
    """Starred earlier on this day, far below the first 25 cards: listed, exported, and the
    entry opens the paper's page (its card is not on this page until lazily loaded)."""
    page = tab.page
    tab.goto(LIST)
    loaded = set(card_ids(page))
    far = next(i.meta.id for i in reversed(union_items()) if i.meta.id not in loaded)
    elsewhere = next(i.meta.id for i in union_items() if i.meta.id not in {far, *loaded})
    seed(
        tab,
        [
            {"id": far, "at": "2026-09-01T12:00:00Z", "title": "Far below", "page": LIST_KEY},
            # starred on another page, its card not here: not this page's
            {"id": elsewhere, "at": "2026-09-01T12:01:00Z", "title": "Else", "page": "/stars"},
        ],
    )
    page.reload()
    page.click("#bar-stars")
    expect(page.locator("#star-list a[href^='#']")).to_have_count(1)
    expect(entry(page, far)).to_have_text("Far below")
    expect(page.locator("#star-panel a.export")).to_have_attribute("href", f"/arxiv/{far}")
    entry(page, far).click()
    expect(page).to_have_url(re.compile(rf"/arxiv/{re.escape(far)}$"))
    expect(star_of(page, far)).to_have_attribute("aria-pressed", "true")


def test_lazily_loaded_cards_show_their_stars_and_join_the_list(tab: Watched) -> None:
    """A star of this day on card #31 (the second batch): listed from the start; once lazy
    loading brings its card, the card shows it starred and the entry scrolls to it."""
    page = tab.page
    tab.goto(LIST)
    more = page.locator("p.more a[rel=next]").get_attribute("href")
    assert more
    second = page.request.get(more + "&fragment=1")
    batch = re.findall(r'<div id="([^"]+)" class="panel paper', second.text())
    assert len(batch) == FIRST_CARDS
    far = batch[5]
    seed(tab, [{"id": far, "at": "2026-09-01T12:00:00Z", "title": "Card 31", "page": LIST_KEY}])
    page.reload()
    page.click("#bar-stars")
    expect(entry(page, far)).to_have_count(1)
    expect(page.locator(f'[id="{far}"]')).to_have_count(0)
    page.keyboard.press("Escape")
    page.locator("p.more").scroll_into_view_if_needed()
    expect(star_of(page, far)).to_have_attribute("aria-pressed", "true")
    # a card of the batch starred now joins the list too
    star_of(page, batch[6]).click()
    page.evaluate("scrollTo(0, 0)")
    page.click("#bar-stars")
    expect(page.locator("#star-list a[href^='#']")).to_have_count(2)
    entry(page, far).click()
    in_view(page, far)
    assert page.url.endswith(f"{LIST}#{far}")
    expect(page.locator("#star-panel a.export")).to_have_attribute(
        "href", f"/arxiv/{far},{batch[6]}"
    )


def test_export_and_bibtex_of_the_star_list(tab: Watched) -> None:
    page = tab.page
    tab.goto(LIST)
    ids = card_ids(page)
    chosen = [ids[1], ids[7], ids[4]]
    for paper_id in chosen:
        star_of(page, paper_id).click()
    page.click("#bar-stars")
    export = page.locator("#star-panel a.export")
    expect(export).to_have_attribute("href", "/arxiv/" + ",".join(chosen))
    with tab.context.expect_page() as opened:
        export.click()
    exported = opened.value
    tab.watch(exported)
    exported.wait_for_load_state()
    assert card_ids(exported) == chosen
    for paper_id in chosen:  # the starred papers, shown starred
        expect(star_of(exported, paper_id)).to_have_attribute("aria-pressed", "true")
    exported.close()

    with page.expect_download() as download:
        page.click("#star-panel a.bibtex")
    assert download.value.suggested_filename == "coolpapers-3-papers.bib"
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert re.findall(r"eprint=\{([^}]*)\}", text) == chosen
    assert text.count("@misc{") == 3 and "archivePrefix={arXiv}" in text


def test_empty_star_list(tab: Watched) -> None:
    page = tab.page
    tab.goto(LIST)
    page.click("#bar-stars")
    expect(page.locator("#star-list .star-empty")).to_be_visible()
    expect(page.locator("#star-panel a.export")).to_have_attribute("aria-disabled", "true")
    assert page.locator("#star-panel a.export").get_attribute("href") is None
    expect(page.locator("#bar-stars .star-count")).to_have_text("")


# ----------------------------------------------------------------------------- /stars


def test_stars_page_newest_first_with_times_and_filter(tab: Watched) -> None:
    """30 stars (two batches of cards) from the whole day, starred a minute apart."""
    page = tab.page
    items = union_items()[::33][:30]
    stars = [
        {"id": it.meta.id, "at": f"2026-09-01T10:{n:02d}:00Z", "title": it.meta.title, "page": LIST}
        for n, it in enumerate(items)
    ]
    tab.goto("/stars")
    expect(page.locator(".stars-empty")).to_be_visible()
    seed(tab, stars)
    page.reload()
    cards = page.locator("#stars-cards div.paper")
    expect(cards).to_have_count(30)
    newest_first = [s["id"] for s in reversed(stars)]
    assert card_ids(page) == newest_first
    expect(page.locator(".stars-empty")).to_be_hidden()
    times = page.locator("#stars-cards .starred-at time").evaluate_all(
        "ts => ts.map(t => t.dateTime)"
    )
    assert times == [s["at"].replace("Z", ".000Z") for s in reversed(stars)]
    expect(page.locator("#stars-cards div.paper button.star[aria-pressed=true]")).to_have_count(30)
    expect(page.locator(".stars-count")).to_have_text("30 starred papers")
    batches = page.evaluate("window.__events.filter(e => e.name === 'cp:cards').map(e => e.detail)")
    assert batches == [25, 5]

    # the filter: two words of one title (any case), then an author, then nothing
    target = items[7]
    words = re.findall(r"[A-Za-z]{5,}", target.meta.title)[:2]
    page.fill("#stars-filter", " ".join(words).upper())
    expect(page.locator(f'#stars-cards [id="{target.meta.id}"]')).to_be_visible()
    visible = page.locator("#stars-cards div.paper:visible")
    matches = page.locator("#stars-cards div.paper").evaluate_all(
        """(cards, words) => cards.map(c => [!c.hidden, words.every(w =>
             [".title", ".authors", ".summary"].some(s =>
               c.querySelector(s).textContent.toLowerCase().includes(w.toLowerCase())))])""",
        words,
    )
    assert all(shown == has_words for shown, has_words in matches)
    assert 1 <= sum(shown for shown, _ in matches) < 30
    expect(page.locator(".stars-count")).to_have_text(
        f"{sum(shown for shown, _ in matches)} of 30 starred papers"
    )
    page.fill("#stars-filter", target.meta.authors[-1].name)
    expect(page.locator(f'#stars-cards [id="{target.meta.id}"]')).to_be_visible()
    page.fill("#stars-filter", "zzqqxx-no-such-word")
    expect(visible).to_have_count(0)
    page.fill("#stars-filter", "")
    expect(visible).to_have_count(30)
    page.screenshot(path=STARS_SHOT)

    # un-star on /stars: the card stays, its star off, and can be starred again
    first = newest_first[0]
    star_of(page, first).click()
    expect(star_of(page, first)).to_have_attribute("aria-pressed", "false")
    expect(cards).to_have_count(30)
    star_of(page, first).click()
    expect(star_of(page, first)).to_have_attribute("aria-pressed", "true")


def test_stars_page_unknown_paper_keeps_its_line(tab: Watched, site: UnionSite) -> None:
    """A star the site does not know (a hand edit, another site's store) is listed by its
    stored title and can be un-starred; the fake arXiv says it does not exist."""
    page = tab.page
    tab.goto("/stars")
    known = union_items()[0].meta
    seed(
        tab,
        [
            {"id": known.id, "at": "2026-09-01T10:00:00Z", "title": known.title},
            {"id": "2608.99999", "at": "2026-09-02T10:00:00Z", "title": "Gone <b>paper</b>"},
        ],
    )
    page.reload()
    missing = page.locator(".star-missing")
    expect(missing).to_have_count(1)
    expect(missing.locator("a.title-link")).to_have_text("Gone <b>paper</b>")  # as text
    expect(missing.locator("a.title-link")).to_have_attribute("href", "/arxiv/2608.99999")
    expect(page.locator("#stars-cards div.paper")).to_have_count(1)
    missing.locator("button.star").click()
    expect(missing.locator("button.star")).to_have_attribute("aria-pressed", "false")
    assert [s["id"] for s in tab.stored()] == [known.id]


# ----------------------------------------------------------------------------- a broken store


@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        '{"stars": 5}',
        "42",
        json.dumps(
            [
                5,
                None,
                {"id": "<img src=x onerror=window.__pwned=1>", "at": "2026-09-01T00:00:00Z"},
                {"id": "../../etc", "title": "x"},
                {"id": "KEEP", "at": "not a time", "title": {"no": "string"}},
            ]
        ),
    ],
    ids=["not-json", "foreign-object", "number", "junk-entries"],
)
def test_a_corrupt_store_does_not_break_the_page(tab: Watched, raw: str) -> None:
    page = tab.page
    tab.goto(LIST)
    chosen = card_ids(page)[0]
    kept = union_items()[1].meta.id
    seed(tab, raw.replace("KEEP", kept))
    page.reload()
    expect(page.locator("div.paper")).to_have_count(FIRST_CARDS)
    star_of(page, chosen).click()
    expect(star_of(page, chosen)).to_have_attribute("aria-pressed", "true")
    page.click("#bar-stars")
    expect(entry(page, chosen)).to_have_count(1)
    stored = {s["id"]: s for s in tab.stored()}
    if "KEEP" in raw:  # the one valid entry survives, its bad time and title dropped
        assert set(stored) == {chosen, kept}
        assert stored[kept]["at"] is None and stored[kept]["title"] == ""
    else:  # what was unreadable is set aside, not lost
        assert set(stored) == {chosen}
        assert page.evaluate("localStorage.getItem('cp.stars.unreadable')") == raw
    tab.goto("/stars")
    expect(page.locator("#stars-cards > *")).to_have_count(len(stored))
    assert tab.tab.pwned() is None


def test_storage_refused_stars_last_for_the_page(tab: Watched) -> None:
    """Private modes that refuse writes (QuotaExceededError on every setItem): the star works
    on the page, and the star list says it will not be kept."""
    tab.context.add_init_script(
        "Storage.prototype.setItem = function () {"
        "  throw new DOMException('refused', 'QuotaExceededError'); };"
    )
    page = tab.page
    tab.goto(LIST)
    chosen = card_ids(page)[0]
    star_of(page, chosen).click()
    expect(star_of(page, chosen)).to_have_attribute("aria-pressed", "true")
    page.click("#bar-stars")
    expect(entry(page, chosen)).to_have_count(1)
    expect(page.locator("#star-panel .star-note")).to_contain_text("until you leave this page")
    assert tab.stored() == []
    page.reload()
    expect(star_of(page, chosen)).to_have_attribute("aria-pressed", "false")


# ----------------------------------------------------------------------------- layout


def test_the_bar_covers_nothing_and_fits_a_phone(tab: Watched) -> None:
    page = tab.page
    page.set_viewport_size({"width": 390, "height": 800})
    tab.goto(LIST)
    star_of(page, card_ids(page)[0]).click()
    page.click("#bar-stars")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.keyboard.press("Escape")
    # the page ends with room for the bar: scrolled to the end, nothing is under it
    room = page.evaluate("parseFloat(getComputedStyle(document.body).paddingBottom)")
    bar = page.locator("#bar").bounding_box()
    assert bar and bar["y"] + bar["height"] == 800 and room >= bar["height"]
    tab.goto("/stars")
    expect(page.locator("#stars-cards div.paper")).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
