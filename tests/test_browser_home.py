"""The home page in a real browser on the real 1,007-paper union day (static/js/home.js): the
tri-state chooser and its ➚ link to ``/arxiv/a+b-c``, the preference keywords, the personal word
cloud fed by the papers a reader opens or stars (and its decay past 300 words), and a phone
width without sideways scrolling. The console stays empty throughout."""

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

CLOUD_MAX = 300  # static/js/interests.js: past this many words the cloud decays


@dataclass
class Reader:
    page: Page
    site: UnionSite
    errors: list[str] = field(default_factory=list)

    def stored(self, key: str) -> Any:
        return json.loads(self.page.evaluate("(k) => localStorage.getItem(k) || 'null'", key))

    def store(self, key: str, value: object) -> None:
        self.page.evaluate("([k, v]) => localStorage.setItem(k, v)", [key, json.dumps(value)])

    def goto(self, path: str) -> None:
        response = self.page.goto(path)
        assert response is not None and response.status == 200, path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UnionSite]:
    require_chromium()
    with union_site(tmp_path_factory.mktemp("home")) as s:
        yield s


@pytest.fixture(scope="module")
def browser(site: UnionSite) -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def reader(browser: Browser, site: UnionSite) -> Iterator[Reader]:
    tab = open_tab(browser, site.url)
    r = Reader(tab.page, site)

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            r.errors.append(f"{message.text} at {message.location}")

    tab.page.on("console", console)
    tab.page.on("pageerror", lambda error: r.errors.append(str(error)))
    yield r
    assert not tab.offsite
    tab.page.context.close()


def api_papers(reader: Reader, spec: str) -> list[dict[str, Any]]:
    response = reader.page.request.get(f"/api/arxiv/{spec}?show=1000")
    assert response.ok, spec
    papers: list[dict[str, Any]] = response.json()["papers"]
    return papers


def box(reader: Reader, cat: str) -> Any:
    return reader.page.locator(f'button.tri[data-cat="{cat}"]')


def test_tri_state_chooser_opens_the_union_without_the_excluded(reader: Reader) -> None:
    page = reader.page
    reader.goto("/")
    spec_link = page.locator(".chooser a.open-spec")
    union_link = page.locator(".chooser a.open-union")
    expect(spec_link).to_have_attribute("aria-disabled", "true")  # nothing followed yet
    assert spec_link.get_attribute("href") is None
    expect(page.locator(".chooser .chosen")).to_contain_text("tick the boxes")

    ai, lg, cv, cl = (box(reader, c) for c in ("cs.AI", "cs.LG", "cs.CV", "cs.CL"))
    expect(ai).to_have_attribute("aria-pressed", "false")
    ai.click()
    expect(ai).to_have_attribute("aria-pressed", "true")
    expect(ai).to_have_text("✓")
    expect(ai).to_have_attribute(
        "aria-label", "Artificial Intelligence (cs.AI): followed (✓); press to exclude"
    )
    lg.focus()
    page.keyboard.press("Space")  # a button: the keyboard works as the mouse
    expect(lg).to_have_text("✓")
    cv.click()
    cv.click()
    expect(cv).to_have_attribute("aria-pressed", "mixed")
    expect(cv).to_have_text("−")
    for _ in range(3):  # empty → ✓ → − → empty
        cl.click()
    expect(cl).to_have_attribute("aria-pressed", "false")
    expect(cl).to_have_text("")
    assert reader.stored("cp.cats") == {"follow": ["cs.AI", "cs.LG"], "exclude": ["cs.CV"]}

    expect(spec_link).to_have_attribute("href", "/arxiv/cs.AI+cs.LG-cs.CV")
    expect(union_link).to_have_attribute("href", "/arxiv/cs.AI,cs.LG")
    expect(page.locator(".chooser .chosen")).to_have_text("✓ cs.AI, cs.LG · − cs.CV")

    # the papers of cs.AI or cs.LG that are in no way cs.CV, in the union's order
    expected = [
        p["id"] for p in api_papers(reader, "cs.AI,cs.LG") if "cs.CV" not in p["categories"]
    ]
    assert 25 < len(expected) < len(api_papers(reader, "cs.AI,cs.LG"))
    spec_link.click()
    expect(page).to_have_url(f"{reader.site.url}/arxiv/cs.AI+cs.LG-cs.CV")
    expect(page.locator("span.total")).to_have_text(f"{len(expected):,}")
    ids = page.locator("div.paper").evaluate_all("(cards) => cards.map((c) => c.id)")
    assert ids[:25] == expected[:25]

    page.go_back()  # the boxes come back as chosen; Clear empties them
    expect(cv).to_have_attribute("aria-pressed", "mixed")
    page.locator(".chooser button.chooser-clear").click()
    expect(ai).to_have_attribute("aria-pressed", "false")
    expect(spec_link).to_have_attribute("aria-disabled", "true")
    assert reader.stored("cp.cats") == {"follow": [], "exclude": []}
    assert reader.errors == []


def test_chooser_shows_what_a_subject_plus_and_minus_chose(reader: Reader) -> None:
    page = reader.page
    reader.goto(f"/arxiv/{UNION_SPEC}")
    subjects = page.locator("div.paper").first.locator("p.subjects a[data-cat]")
    cat = subjects.first.get_attribute("data-cat")
    subjects.first.hover()
    page.locator(".subject-tools button.cat-follow").click()
    reader.goto("/")
    expect(box(reader, cat or "")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".chooser a.open-spec")).to_have_attribute("href", f"/arxiv/{cat}")
    # an alias is the box of its category: math.NA is also listed as cs.NA under cs
    box(reader, "math.NA").first.click()
    expect(box(reader, "math.NA")).to_have_count(2)
    for b in box(reader, "math.NA").all():
        expect(b).to_have_attribute("aria-pressed", "true")
    assert reader.errors == []


def test_preference_keywords_are_kept(reader: Reader) -> None:
    page = reader.page
    reader.goto("/")
    page.locator("#track summary").click()
    area = page.locator("#prefs")
    area.fill("diffusion, language model\n  reinforcement   learning \n\nDiffusion,")
    assert reader.stored("cp.prefs") == ["diffusion", "language model", "reinforcement learning"]
    expect(page.locator(".prefs-status")).to_contain_text("3 preference keywords")
    page.reload()
    expect(page.locator("#track")).to_have_attribute("open", "")  # open: it holds something
    expect(area).to_have_value("diffusion\nlanguage model\nreinforcement learning")
    assert reader.errors == []


def test_cloud_grows_from_opened_and_starred_papers(reader: Reader) -> None:
    page = reader.page
    papers = api_papers(reader, UNION_SPEC)[:2]
    opened, starred = papers
    pdf = f"/pdf/{opened['id']}v{opened['version']}"
    reader.site.fake.serve(pdf, many_pages_pdf(1), content_type="application/pdf")
    reader.goto(f"/arxiv/{UNION_SPEC}")
    keywords = {}
    for p in papers:
        attr = page.locator(f'div.paper[id="{p["id"]}"]').get_attribute("keywords")
        assert attr
        keywords[p["id"]] = attr.split(",")

    page.locator(f'div.paper[id="{opened["id"]}"] a.title-pdf').click()
    expect(page.locator(f'div.paper[id="{opened["id"]}"] .pdf-viewer')).to_be_visible()
    grown = dict.fromkeys(keywords[opened["id"]], 1)
    page.wait_for_function("() => localStorage.getItem('cp.cloud') !== null")
    assert reader.stored("cp.cloud") == grown
    # opening its FAQ too counts nothing more: one paper, one count a page view
    page.locator(f'div.paper[id="{opened["id"]}"] a.title-faq').click()
    expect(page.locator(f'div.paper[id="{opened["id"]}"] .faq-pane')).to_be_visible()
    assert reader.stored("cp.cloud") == grown

    star = page.locator(f'div.paper[id="{starred["id"]}"] button.star')
    star.click()
    expect(star).to_have_attribute("aria-pressed", "true")
    for w in keywords[starred["id"]]:
        grown[w] = grown.get(w, 0) + 1
    page.wait_for_function(
        "(n) => Object.keys(JSON.parse(localStorage.getItem('cp.cloud'))).length === n",
        arg=len(grown),
    )
    assert reader.stored("cp.cloud") == grown

    # on the home page: one word per entry, sized by weight; a click makes it a preference
    reader.goto("/")
    page.locator("#track summary").click()
    words = page.locator("#cloud button.word")
    expect(words).to_have_count(len(grown))
    first = sorted(grown)[0]
    word = page.locator(f'#cloud button.word[data-word="{first}"]')
    word.click()
    expect(word).to_have_attribute("aria-pressed", "true")
    assert reader.stored("cp.prefs") == [first]
    expect(page.locator("#prefs")).to_have_value(first)
    page.locator(".cloud-top").click()
    top = sorted(grown, key=lambda w: (-grown[w], w))[:20]
    assert reader.stored("cp.prefs") == [first] + [w for w in top if w != first]
    page.locator(".cloud-clear").click()
    expect(words).to_have_count(0)
    expect(page.locator("#cloud .cloud-empty")).to_be_visible()
    assert reader.stored("cp.cloud") == {}
    assert reader.errors == []


def test_cloud_decays_past_300_words(reader: Reader) -> None:
    page = reader.page
    reader.goto(f"/arxiv/{UNION_SPEC}")
    card = page.locator("div.paper").first
    keywords = (card.get_attribute("keywords") or "").split(",")
    assert len(keywords) >= 5
    # a full cloud: half the words light (1), half heavy (6)
    light = {f"light{i:03}": 1 for i in range(CLOUD_MAX // 2)}
    heavy = {f"heavy{i:03}": 6 for i in range(CLOUD_MAX // 2)}
    reader.store("cp.cloud", {**light, **heavy})
    page.evaluate(
        "(id) => document.dispatchEvent(new CustomEvent('cp:opened', {detail: {id, kind: 'faq'}}))",
        card.get_attribute("id"),
    )
    # past 300: every weight halves and what falls below 1 goes; the new paper's words stay
    expected = {**dict.fromkeys(heavy, 3), **dict.fromkeys(keywords, 1)}
    assert reader.stored("cp.cloud") == expected

    reader.goto("/")
    page.locator("#track summary").click()
    expect(page.locator("#cloud button.word")).to_have_count(len(expected))
    lightest = page.locator(f'#cloud button.word[data-word="{keywords[0]}"]')
    heaviest = page.locator('#cloud button.word[data-word="heavy000"]')
    expect(lightest).to_have_class("word w1")
    expect(heaviest).to_have_class("word w3")
    assert reader.errors == []


def test_home_fits_a_phone(reader: Reader) -> None:
    page = reader.page
    page.set_viewport_size({"width": 390, "height": 800})
    reader.goto("/")
    reader.store(
        "cp.cats",
        {"follow": ["cond-mat.str-el", "astro-ph.GA", "physics.acc-ph"], "exclude": ["cs.CV"]},
    )
    reader.store("cp.cloud", {"a" * 60: 3, "reinforcement-learning-from-human-feedback": 1})
    reader.store("cp.prefs", ["graph neural networks"])
    page.reload()
    expect(page.locator(".chooser a.open-spec")).to_have_attribute(
        "href", "/arxiv/cond-mat.str-el+astro-ph.GA+physics.acc-ph-cs.CV"
    )
    expect(page.locator("#track")).to_have_attribute("open", "")
    for part in (".chooser", "#track", "#cloud", "ul.categories"):
        expect(page.locator(part).first).to_be_visible()
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1]
    page.screenshot(path="/tmp/shots/h7-home-390.png", full_page=False)
    assert reader.errors == []
