"""Query terms marked in titles and abstracts (``highlight=1``): the words whose index terms a
query asked for go in <mark>, and all of the text, untrusted, is escaped.

A word is a ``\\w+`` run; its terms are what the analyzer makes of it (split at anything not a
letter or digit, lower-cased, folded to ASCII: ``SearchIndex.normalise``). A word is marked
whole when one of its terms is a query term or starts with a query prefix (``larg*``).

Putting every word through the analyzer's Python twin took 4 ms for a page of 25 abstracts,
so words are found by regular expressions instead. A term of ASCII letters and digits (nearly
every one) is looked for at term boundaries, ignoring ASCII case, which is all that
lower-casing does to ASCII. Words with other characters are few; they alone go through the
twin, which knows the folding (``Schrödinger`` has the term ``schrodinger``)."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from markupsafe import Markup, escape

from coolpapers.search.engine import SearchIndex

_NON_ASCII_WORD = re.compile(r"(?<!\w)\w*[^\W\x00-\x7f]\w*")
_ASCII_TERM = re.compile(r"[a-z0-9]+")
_WORD_CHAR = re.compile(r"\w")
_WORD_REST = re.compile(r"\w*")


@functools.lru_cache(maxsize=256)
def _ascii_terms(terms: tuple[str, ...], prefixes: tuple[str, ...]) -> re.Pattern[str] | None:
    """One of these ASCII terms (or a term with one of these prefixes), ignoring ASCII case,
    between term boundaries (a word's ends, or ``_`` inside it)."""
    alternatives = []
    if terms:
        alternatives.append(f"(?ai:{'|'.join(map(re.escape, terms))})")
    if prefixes:
        alternatives.append(f"(?ai:{'|'.join(map(re.escape, prefixes))})[^\\W_]*")
    if not alternatives:
        return None
    return re.compile(rf"(?<![^\W_])(?:{'|'.join(alternatives)})(?![^\W_])")


def _word_around(text: str, start: int, end: int) -> tuple[int, int]:
    while start > 0 and _WORD_CHAR.match(text, start - 1):
        start -= 1
    match = _WORD_REST.match(text, end)
    return start, match.end() if match else end


def _spans(text: str, wanted: frozenset[str], prefixes: tuple[str, ...]) -> list[tuple[int, int]]:
    found: set[tuple[int, int]] = set()
    pattern = _ascii_terms(
        tuple(sorted(t for t in wanted if _ASCII_TERM.fullmatch(t))),
        tuple(sorted(p for p in prefixes if _ASCII_TERM.fullmatch(p))),
    )
    if pattern is not None:
        found.update(_word_around(text, *m.span()) for m in pattern.finditer(text))
    if not text.isascii():
        for match in _NON_ASCII_WORD.finditer(text):
            terms = SearchIndex.normalise(match.group(0))
            if any(t in wanted or (prefixes and t.startswith(prefixes)) for t in terms):
                found.add(match.span())
    return sorted(found)


def highlight(text: str, terms: Sequence[str]) -> Markup:
    """``text`` escaped, with the words that have a query term in <mark>. ``terms`` are
    normalised query words; one that ends with ``*`` is a prefix."""
    wanted = frozenset(t for t in terms if t and not t.endswith("*"))
    prefixes = tuple(t[:-1] for t in terms if len(t) > 1 and t.endswith("*"))
    if not wanted and not prefixes:
        return escape(text)
    out: list[str] = []
    last = 0
    for start, end in _spans(text, wanted, prefixes):
        out.append(str(escape(text[last:start])))
        out.append(f"<mark>{escape(text[start:end])}</mark>")
        last = end
    out.append(str(escape(text[last:])))
    return Markup("".join(out))
