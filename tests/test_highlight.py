"""Highlighting of search terms in titles and abstracts (untrusted text: always escaped)."""

from __future__ import annotations

import functools
import random
import re

from markupsafe import escape

from coolpapers.search.engine import SearchIndex
from coolpapers.sources.arxiv import parse_rss
from coolpapers.web.highlight import highlight
from tests.conftest import RSS


def test_marks_whole_words_case_folded() -> None:
    assert highlight("Large Language Models, largely", ("language",)) == (
        "Large <mark>Language</mark> Models, largely"
    )
    assert highlight("a model of models", ("model",)) == "a <mark>model</mark> of models"


def test_prefix_terms() -> None:
    assert highlight("Large models, largely LARGER", ("larg*",)) == (
        "<mark>Large</mark> models, <mark>largely</mark> <mark>LARGER</mark>"
    )


def test_accents_fold_like_the_index() -> None:
    assert highlight("the Schrödinger equation", ("schrodinger",)) == (
        "the <mark>Schrödinger</mark> equation"
    )
    assert highlight("Straße and Strasse", ("strasse",)) == (
        "<mark>Straße</mark> and <mark>Strasse</mark>"
    )


def test_a_word_joined_by_underscores_is_marked_whole() -> None:
    # the index splits snake_case into its words; the word is marked whole
    assert highlight("use graph_learning here", ("learning",)) == (
        "use <mark>graph_learning</mark> here"
    )
    assert highlight("x_1 and x1", ("x1",)) == "x_1 and <mark>x1</mark>"


def test_text_is_escaped_with_and_without_hits() -> None:
    hostile = '<script>alert("model")</script> model & <b>'
    marked = str(highlight(hostile, ("model",)))
    assert "<script>" not in marked and "<b>" not in marked
    assert marked.count("<mark>model</mark>") == 2 and "&amp;" in marked
    assert str(highlight(hostile, ("absent",))) == str(highlight(hostile, ()))
    assert "<script>" not in str(highlight(hostile, ()))


@functools.cache
def _is_hit(word: str, terms: tuple[str, ...]) -> bool:
    """Whether a ``\\w+`` word, through the analyzer's twin, matches a term (memoised: the same
    words recur across texts)."""
    wanted = {t for t in terms if not t.endswith("*")}
    prefixes = tuple(t[:-1] for t in terms if t.endswith("*"))
    tokens = SearchIndex.normalise(word)
    return any(t in wanted or (prefixes and t.startswith(prefixes)) for t in tokens)


def _word_by_word(text: str, terms: tuple[str, ...]) -> str:
    """The rule stated plainly: every ``\\w+`` word through the analyzer's twin."""
    out, last = [], 0
    for match in re.finditer(r"\w+", text):
        if _is_hit(match.group(0), terms):
            out += [str(escape(text[last : match.start()])), f"<mark>{escape(match[0])}</mark>"]
            last = match.end()
    return "".join(out) + str(escape(text[last:]))


def test_agrees_with_the_word_by_word_rule_on_real_text() -> None:
    papers = {i.meta.id: i.meta for p in RSS.glob("*.xml") for i in parse_rss(p.read_bytes()).items}
    texts = sorted({t for m in papers.values() for t in (m.title, m.abstract)})
    texts.append(
        "Schrödinger's ſtraße, naïve CAFÉ x_1 MODEL_ö modelé Ωmega αβγ 3D-CNN ﬁnite Kelvin"
    )
    vocabulary = sorted({w for t in texts for w in SearchIndex.normalise(t)})
    rng = random.Random(7)
    term_sets = [
        ("model", "learning", "larg*"),
        ("schrodinger", "strasse", "naive", "cafe"),
        ("1", "x", "modelo", "modele", "αβγ", "ωmeg*", "3d", "finite", "kelvin"),
    ]
    term_sets += [(*rng.sample(vocabulary, 3), rng.choice(vocabulary)[:3] + "*") for _ in range(5)]
    for terms in term_sets:
        for text in texts:
            assert str(highlight(text, terms)) == _word_by_word(text, terms), (terms, text[:80])
