"""The ``sort`` parameter of list and search pages (and their JSON twins): papers.cool's named
orders and the reader's preference keywords (❤).

* a named order: ``1`` / ``clicks`` / ``stars`` (public clicks), ``0`` / ``time``, and the
  page's default (``arxiv`` on a day, ``relevance`` on search); on a day also ``lab``, most
  starred by the lab's members first (counts only, never names: readable wherever the list is;
  on a site without accounts no one has stars, so it is arXiv's order);
* preference keywords, papers.cool's ``sort=<kw1>,<kw2>,…``: a value with a comma is a list of
  keywords, scored by the search engine over the page's papers. One keyword is written with
  a trailing comma (``sort=diffusion,``), so that a mistyped order (``sort=2``) is still a 400
  and a keyword can never be read as an order (``sort=time,`` prefers the word "time").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from coolpapers.errors import BadInput
from coolpapers.search import has_words

PREFERENCE = "preference"
LAB = "lab"
MAX_KEYWORDS = 20  # papers.cool's ❤ sends the top 20 words of the reader's cloud
KEYWORD_MAX_CHARS = 40

LIST_ORDERS: Mapping[str, str] = {
    "": "arxiv",
    "arxiv": "arxiv",
    "0": "time",
    "time": "time",
    # papers.cool's sort=1 ("by stars") orders by its public [PDF]/[Kimi] counters: our clicks.
    # "stars" stays an alias of it in URLs; a reader's stars are another thing (their own list).
    "1": "clicks",
    "clicks": "clicks",
    "stars": "clicks",
    # a lab's instance: the members' stars (store.lab_day_order); a day's only, not search's
    "lab": LAB,
}
SEARCH_ORDERS: Mapping[str, str] = {
    **{k: v for k, v in LIST_ORDERS.items() if v not in ("arxiv", LAB)},
    "": "relevance",
    "relevance": "relevance",
}
# What our own links write for each order (None: the page's default, left out).
_PARAM = {"arxiv": None, "relevance": None, "time": "time", "clicks": "clicks", "lab": "lab"}


@dataclass(frozen=True)
class Sort:
    name: str  # arxiv | relevance | time | clicks | lab | preference
    keywords: tuple[str, ...] = ()  # the preference keywords, in the reader's order

    @property
    def param(self) -> str | None:
        """The ``sort=`` value that asks for this order again (None for the default)."""
        if self.name != PREFERENCE:
            return _PARAM[self.name]
        text = ",".join(self.keywords)
        return text + "," if len(self.keywords) == 1 else text


def parse_sort(text: str | None, orders: Mapping[str, str]) -> Sort:
    """``sort=`` of a page whose named orders are ``orders``; anything odd is a 400."""
    text = text or ""
    if "," in text:
        return Sort(PREFERENCE, parse_keywords(text))
    if text not in orders:
        names = sorted(k for k in orders if k and not k.isdigit())
        raise BadInput(
            f"sort must be one of {', '.join(names)} (or 0, 1), or preference keywords "
            "separated by commas"
        )
    return Sort(orders[text])


def parse_keywords(text: str) -> tuple[str, ...]:
    """``kw1,kw2,…``: up to MAX_KEYWORDS, each at most KEYWORD_MAX_CHARS and with a letter or
    digit (a keyword of punctuation alone would match nothing), repeats dropped."""
    keywords = [" ".join(part.split()) for part in text.split(",")]
    found = list(dict.fromkeys(k for k in keywords if k))
    if not found:
        raise BadInput("sort: preference keywords are empty")
    if len(found) > MAX_KEYWORDS:
        raise BadInput(f"sort: at most {MAX_KEYWORDS} preference keywords")
    for keyword in found:
        if len(keyword) > KEYWORD_MAX_CHARS:
            raise BadInput(
                f"sort: a preference keyword has at most {KEYWORD_MAX_CHARS} characters, "
                f"not {keyword[:KEYWORD_MAX_CHARS]!r}…"
            )
        if not has_words(keyword):
            raise BadInput(f"sort: the preference keyword {keyword!r} has no letters or digits")
    return tuple(found)
