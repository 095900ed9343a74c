"""LLM Markdown → safe HTML, on the server: markdown-it with raw HTML off, then nh3.

Math (``$…$``, ``$$…$$``, ``\\(…\\)``, ``\\[…\\]``) is lifted out before Markdown sees it, so
``_`` and ``*`` inside formulas survive for the page's math renderer, and put back escaped.
"""

from __future__ import annotations

import html
import re
from functools import cache, lru_cache

import nh3
from markdown_it import MarkdownIt

_MATH = re.compile(
    r"\$\$.+?\$\$|\\\[.+?\\\]|\\\(.+?\\\)|(?<![\\$])\$(?!\s)[^$\n]+?(?<!\s)\$", re.DOTALL
)
# Private-use characters: Markdown leaves them alone (it replaces NUL), LLM output has none.
_TOKEN = "\ue000{}\ue001"
_TOKEN_RE = re.compile("\ue000(\\d+)\ue001")

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "b", "i", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "a", "del",
    "sup", "sub", "span",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "span": {"class"}, "th": {"align"}, "td": {"align"}}


@cache
def _md() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


@lru_cache(maxsize=256)  # every viewer of a FAQ being written polls the same text
def render(text: str) -> str:
    """Sanitized HTML of untrusted Markdown: no scripts, no images, http(s)/mailto links only."""
    maths: list[str] = []

    def lift(match: re.Match[str]) -> str:
        maths.append(match.group(0))
        return _TOKEN.format(len(maths) - 1)

    rendered = _md().render(_MATH.sub(lift, text.replace("\ue000", "").replace("\ue001", "")))
    restored = _TOKEN_RE.sub(
        lambda m: f'<span class="math">{html.escape(maths[int(m.group(1))])}</span>', rendered
    )
    return nh3.clean(
        restored,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
