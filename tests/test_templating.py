"""Highlighting of search terms in titles and abstracts (untrusted text: always escaped)."""

from __future__ import annotations

from coolpapers.web.templating import highlight


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
