"""The rendered-card cache of web.templating: keyed by everything a card shows, bounded."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from jinja2 import Environment

from coolpapers.assets import asset_dir
from coolpapers.config import load_settings
from coolpapers.store import PaperView
from coolpapers.store.papers import PaperRow
from coolpapers.web.templating import CardCache, make_templates


def row(**changes: Any) -> PaperRow:
    paper = PaperRow(
        id="2401.00001",
        version=1,
        title="Attention $x^2$",
        abstract="We study attention.",
        authors=[{"name": "Ada Lovelace", "affiliations": ["Analytical"]}],
        categories=["cs.LG", "stat.ML"],
        primary_category="cs.LG",
        doi=None,
        journal_ref=None,
        comments=None,
        license=None,
        published=None,
        updated=None,
        first_announced=date(2024, 1, 2),
        pdf_clicks=0,
        faq_clicks=0,
        keywords=None,
    )
    return paper._replace(**changes)


def environment(tmp_path: Path) -> Environment:
    settings = load_settings(data_dir=tmp_path, database_url="", secret_key="test")
    return make_templates(settings, asset_dir("templates")).env


def test_a_row_has_every_field_a_paper_view_shows() -> None:
    shown = tuple(n for n, kind in vars(PaperView).items() if isinstance(kind, property))
    assert PaperRow._fields == shown


def test_a_card_is_kept_and_changes_with_what_it_shows(tmp_path: Path) -> None:
    cards: CardCache = environment(tmp_path).globals["kept_card"]  # type: ignore[assignment]
    first = cards(row(), 1)
    assert cards(row(), 1) == first and len(cards.copies) == 1
    assert first == cards.render(row(), 1, None, None)  # what the macro renders itself
    clicked = cards(row(pdf_clicks=3), 1)
    assert 'id="pdf-clicks-2401.00001">3</sup>' in clicked and clicked != first
    for changed in (
        cards(row(keywords=["attention"]), 1),
        cards(row(), 2),
        cards(row(), 1, "cross"),
        cards(row(), 1, None, ["attention"]),
    ):
        assert changed != first
    assert "<mark>attention</mark>" in cards(row(), 1, None, ["attention"])


def test_one_kept_card_serves_every_place_and_every_search(tmp_path: Path) -> None:
    """Kept without its number, title and abstract: filled in, it is the macro's own card."""
    cards: CardCache = environment(tmp_path).globals["kept_card"]  # type: ignore[assignment]
    shown = [
        (row(), 1, None, None),
        (row(), 7, None, ["attention"]),
        (row(), 3, None, ["x", "we"]),
        (row(), 12, None, ["attention*"]),
        (row(title="Study <b> & co"), 2, "new", ["study"]),
    ]
    for paper, index, kind, terms in shown:
        assert cards(paper, index, kind, terms) == cards.render(paper, index, kind, terms)
    assert len(cards.copies) == 2  # the row as it is, and the retitled one (a field it shows)
    assert '<span class="index notranslate">#7</span>' in cards(row(), 7, None, ["attention"])
    assert "<mark>attention</mark>" not in cards(row(), 7)
    assert "Study &lt;b&gt; &amp; co" in cards(row(title="Study <b> & co"), 2, "new")


def test_a_card_whose_text_holds_a_mark_is_rendered_whole(tmp_path: Path) -> None:
    cards: CardCache = environment(tmp_path).globals["kept_card"]  # type: ignore[assignment]
    marked = [{"name": "A \x00#\x00 B", "affiliations": []}]
    odd = row(authors=marked, abstract="a \x00title\x00 in the text")
    assert cards(odd, 4, None, ["text"]) == cards.render(odd, 4, None, ["text"])
    assert not cards.copies  # an author's name holds a mark: the card is not kept
    # the abstract is filled in after the cut: a mark in it is text like any other
    abstract = row(abstract="a \x00title\x00 in the text")
    assert cards(abstract, 4, None, ["text"]) == cards.render(abstract, 4, None, ["text"])
    assert len(cards.copies) == 1


def test_the_cache_keeps_within_its_bytes(tmp_path: Path) -> None:
    env = environment(tmp_path)
    one = CardCache(env)
    one(row(), 1)
    cards = CardCache(env, capacity=3 * one.size)
    for clicks in range(1, 10):
        cards(row(pdf_clicks=clicks), 1)
    assert 0 < len(cards.copies) < 3 and cards.size <= cards.capacity
    kept = [cards(row(pdf_clicks=clicks), 1) for clicks in range(10 - len(cards.copies), 10)]
    assert [
        f'id="pdf-clicks-2401.00001">{n}</sup>' in card
        for n, card in zip(range(10 - len(cards.copies), 10), kept, strict=True)
    ] == [True] * len(kept)
