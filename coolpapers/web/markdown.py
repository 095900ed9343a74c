"""LLM Markdown → safe HTML, on the server: markdown-it with raw HTML off, then nh3.

Math (``$…$``, ``$$…$$``, ``\\(…\\)``, ``\\[…\\]``, found by the rules of ``web.math``) is a
token of its own, so ``_`` and ``*`` inside a formula never become emphasis, and a ``$`` inside a
code span, a code block or a link's address is not math. An inline rule takes formulas inside
paragraphs, a block rule display formulas whose delimiters open and close lines (an LLM writes
``$$`` and ``\\[`` on lines of their own, and a line of a formula starting with ``-`` or ``+``
must not start a list). Each becomes MathML (``web.math``: an allowlist of its own), and nh3,
which sees the whole page, keeps that MathML by an allowlist of MathML elements and attributes
while it strips anything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache, lru_cache
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from markdown_it.utils import OptionsDict

from coolpapers.web import math

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "b", "i", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "a", "del",
    "sup", "sub", "span",
} | set(math.MATHML_ELEMENTS)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "span": {"class"},
    "th": {"align"},
    "td": {"align"},
    **{tag: set(attrs) for tag, attrs in math.MATHML_ATTRIBUTES.items()},
}
_DISPLAY_OPENERS = {"$$": "$$", "\\[": "\\]"}


def _math_inline(state: StateInline, silent: bool) -> bool:
    found = math.formula_at(state.src, state.pos, state.posMax)
    if found is None:
        return False
    formula, end = found
    if not silent:
        token = state.push("math_inline", "math", 0)
        token.content = formula.source
        token.meta = {"formula": formula}
    state.pos = end
    return True


def _math_block(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """A display formula whose opening delimiter starts a line and whose closing one ends a
    line, with no blank line between (as in ``web.math``)."""
    if state.sCount[start] - state.blkIndent >= 4:
        return False  # an indented code block
    begin = state.bMarks[start] + state.tShift[start]
    opener = state.src[begin : begin + 2]
    closer = _DISPLAY_OPENERS.get(opener)
    if closer is None:
        return False
    line, pos = start, begin + 2
    while True:
        text = state.src[pos : state.eMarks[line]].rstrip()
        if text.endswith(closer) and (line > start or len(text) >= len(closer)):
            tex = state.src[begin + 2 : pos + len(text) - len(closer)]
            break
        line += 1
        if line >= end or state.isEmpty(line) or state.sCount[line] < state.blkIndent:
            return False
        pos = state.bMarks[line] + state.tShift[line]
    if not tex.strip() or closer in tex:
        return False  # "$$a$$ and $$b$$" on one line is inline matter
    if not silent:
        source = state.src[begin : pos + len(text)]
        token = state.push("math_block", "math", 0)
        token.block = True
        token.content = source
        token.map = [start, line + 1]
        token.meta = {"formula": math.Formula(source, tex, True)}
    state.line = line + 1
    return True


def _render_inline(
    _self: Any, tokens: Sequence[Token], idx: int, _options: OptionsDict, _env: Any
) -> str:
    return math.formula_html(tokens[idx].meta["formula"])


def _render_block(
    _self: Any, tokens: Sequence[Token], idx: int, _options: OptionsDict, _env: Any
) -> str:
    return f"<p>{math.formula_html(tokens[idx].meta['formula'])}</p>\n"


@cache
def _md() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
    md.inline.ruler.before("escape", "math_inline", _math_inline)
    md.block.ruler.before(
        "fence",
        "math_block",
        _math_block,
        {"alt": ["paragraph", "reference", "blockquote", "list"]},
    )
    md.add_render_rule("math_inline", _render_inline)
    md.add_render_rule("math_block", _render_block)
    return md


@lru_cache(maxsize=256)  # every viewer of a FAQ being written polls the same text
def render(text: str) -> str:
    """Sanitized HTML of untrusted Markdown: no scripts, no images, http(s)/mailto links only;
    formulas as MathML."""
    return nh3.clean(
        _md().render(text),
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
