"""The site search query syntax: user text -> :class:`~coolpapers.search.ast.SearchQuery`.

The syntax is our own; the engine's syntax never reaches users. Items are separated by blanks:

================================  ===========================================================
``graph neural network``          words: every one must match (three ``Term`` in ``must``)
``"exact phrase"``                ``Phrase`` (a phrase of one word is a ``Term``)
``-word`` ``-"a b"`` ``-cat:x``   excluded (``must_not``); any item may be negated
``a OR b c``                      ``AnyOf(a, b)`` and ``c``; ``a OR b OR c`` is one ``AnyOf``
``neur*``                         prefix ``Term(prefix=True)``; 2+ characters before ``*``
``ti:`` ``au:`` ``abs:``          field of a word, a prefix or a phrase: ``au:"Yoshua Bengio"``
``cat:cs.AI`` ``cat:cs``          ``InCategory`` of a category or an archive (canonical id);
                                  ``cat:cs.AI,cs.LG`` is either of them
``after:2025-01-01``              announced on or after; ``YYYY-MM`` and ``YYYY`` mean the
``before:2025-12``                first day (``after:``) or the last day (``before:``) of that
                                  month or year; both bounds are inclusive
``2401.00001`` ``arXiv:…`` URL    the whole query is an arXiv id: ``paper_id`` (versionless)
``k1,k2,k3``                      papers.cool's [REL] keyword list, see below
================================  ===========================================================

Field names are case-insensitive; ``OR`` is an operator only in upper case and unquoted (``or``
and ``"OR"`` are words). ``field:`` prefixes we do not know (``foo:bar``) are plain words.

Tolerance: any text gives a ``SearchQuery`` or :class:`~coolpapers.errors.BadInput` (HTTP 400,
with a message naming the offending part), never anything else:

* text longer than :data:`MAX_QUERY_CHARS` is cut to that length (back to the last blank, so
  no word is cut in half), not refused;
* control and invisible formatting characters (NUL, bidi overrides, zero-width characters) are
  removed first, tabs and newlines are blanks; curly double quotes count as ``"``;
* an unbalanced ``"`` makes the rest of the text one phrase;
* a lone ``-``, a lone ``*``, a field with nothing after it (``ti:``), and an ``OR`` that does
  not stand between two included items (leading, trailing, doubled, next to an excluded item
  or a date) are ignored;
* within a word, letters, digits and inner ``-`` ``'`` ``.`` ``:`` are kept as typed (the
  engine tokenises further); other characters split it, and a word split into several
  (``TCP/IP``, ``foo&bar``) becomes a phrase of the parts (a ``*`` after one is then dropped);
  words of punctuation only (``!!!``, ``&&``, emoji) are dropped; a comma separates words
  (except between digits: ``1,000`` is one word, which the split makes a phrase);
* if nothing searchable is left the result is ``SearchQuery()`` (``.empty`` is True: the page
  asks for a query) - also for exclusions alone (``-foo``), which keep their ``must_not``.

Errors (``BadInput``): a prefix with fewer than 2 characters (``a*``), an unknown category in
``cat:``, an invalid date, ``after:`` later than ``before:``, a negated date bound, and more
than :data:`MAX_TERMS` terms (each word of a phrase and each category counts, duplicates once).

Comma lists: papers.cool's [REL] links search for a paper's TF-IDF keywords joined by commas
(``query=k1,k2,k3``). Text with at least two comma-separated parts and no other syntax (no
quotes, ``-``, ``*``, ``OR`` or fields) is read as one ``AnyOf`` of the parts, so related papers
rank by how many keywords they match; a part of several words is a phrase.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Final, Literal

from coolpapers.errors import BadId, BadInput
from coolpapers.identifiers import looks_like_id, parse_id
from coolpapers.search.ast import AnyOf, InCategory, Node, Phrase, SearchQuery, Term
from coolpapers.taxonomy import canonical

__all__ = ["MAX_QUERY_CHARS", "MAX_TERMS", "parse_query"]

#: Longer queries are cut to this many characters (not refused).
MAX_QUERY_CHARS: Final = 2000
#: Most terms a query may have (words of phrases and categories included).
MAX_TERMS: Final = 64

_SHOWN_CHARS = 60  # longest piece of user input quoted in an error message
_JOINERS = "-\u2010\u2011'\u2019.:"  # kept inside a word, stripped at its ends
_REMOVED_CATEGORIES = ("Cc", "Cf", "Cs")  # control, format (bidi, zero-width), lone surrogates

_FIELD_RE = re.compile(r"(ti|au|abs|cat|after|before):", re.IGNORECASE | re.ASCII)
_CURLY_QUOTES_RE = re.compile("[\u201c\u201d\u201e\u201f\uff02]")
_DATE_RE = re.compile(r"([0-9]{4})(?:-([0-9]{1,2})(?:-([0-9]{1,2}))?)?")
_CAT_SPLIT_RE = re.compile(r"[,\s]+")
_EDGE_PUNCT_RE = re.compile(r"^[\W_]+|[\W_]+$")


@dataclass(frozen=True, slots=True)
class _Token:
    raw: str  # the value as typed: a bare word, or the inside of quotes
    neg: bool = False  # led by "-"
    field: str | None = None  # lower-case field name
    quoted: bool = False


@dataclass(frozen=True, slots=True)
class _Item:
    node: Node
    neg: bool


_Comma = Literal[","]
_Mark = Literal["OR", "date"]


def parse_query(text: str) -> SearchQuery:
    """Parse a user's search text (syntax in the module docstring).

    Text longer than ``MAX_QUERY_CHARS`` is cut to that length (back to the last blank), not
    refused. An unbalanced ``"`` makes the rest of the text a phrase. Returns ``SearchQuery()``
    (``.empty``) when nothing searchable is left; raises ``BadInput`` with a message for the
    user when the intent is unclear (``a*``, ``cat:cs.XX``, ``after:2025-13``, too many terms).
    """
    s = _clean(_cut(text))
    bare = s.strip()
    if not bare:
        return SearchQuery()
    if looks_like_id(bare):
        try:
            return SearchQuery(paper_id=parse_id(bare).id)
        except BadId:
            pass  # shaped like an id but not one (1234.5678): search for it as text
    tokens = _lex(s)
    query = _comma_list(tokens) or _build(tokens)
    terms = sum(_count(n) for n in query.must) + sum(_count(n) for n in query.must_not)
    if terms > MAX_TERMS:
        raise BadInput(f"too many terms: {terms} (at most {MAX_TERMS})")
    return query


# --------------------------------------------------------------------------------------------
# Text clean-up and lexing
# --------------------------------------------------------------------------------------------


def _cut(text: str) -> str:
    if len(text) <= MAX_QUERY_CHARS:
        return text
    head = text[:MAX_QUERY_CHARS]
    if not head[-1].isspace() and not text[MAX_QUERY_CHARS].isspace():
        parts = head.rsplit(None, 1)  # drop the word cut in half, if an earlier blank exists
        if len(parts) == 2:
            head = parts[0]
    return head


def _clean(text: str) -> str:
    text = _CURLY_QUOTES_RE.sub('"', text)
    if text.isprintable():  # fast path: no control, format or non-space blank characters
        return text
    return "".join(
        " " if c.isspace() else c
        for c in text
        if c.isspace() or unicodedata.category(c) not in _REMOVED_CATEGORIES
    )


def _lex(s: str) -> list[_Token | _Comma]:
    """Split into tokens: ``[-][field:]("quoted…"|bare)``, and commas between tokens."""
    tokens: list[_Token | _Comma] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c.isspace():
            i += 1
            continue
        if c == "," and not _digit_comma(s, i):
            tokens.append(",")
            i += 1
            continue
        neg = c == "-"
        if neg:
            i += 1
        field = None
        m = _FIELD_RE.match(s, i)
        if m:
            field = m[1].lower()
            i = m.end()
        if i < n and s[i] == '"':
            end = s.find('"', i + 1)
            if end < 0:
                end = n  # unbalanced quote: the rest is the phrase
            tokens.append(_Token(s[i + 1 : end], neg, field, quoted=True))
            i = end + 1
            continue
        j = i
        while j < n:
            c = s[j]
            if c.isspace() or c == '"':
                break
            if c == "," and field != "cat" and not _digit_comma(s, j):
                break
            j += 1
        tokens.append(_Token(s[i:j], neg, field))
        i = j
    return tokens


def _digit_comma(s: str, i: int) -> bool:
    """Whether the comma at ``i`` is inside a number (``1,000``): not a separator."""
    return 0 < i < len(s) - 1 and s[i - 1].isdigit() and s[i + 1].isdigit()


def _is_word_char(c: str) -> bool:
    return c.isalnum() or unicodedata.category(c)[0] == "M"  # M: combining accents


def _words(text: str) -> list[str]:
    """Words of ``text``: runs of letters/digits with inner joiners kept as typed."""
    words: list[str] = []
    start = -1
    for i, c in enumerate(text):
        if c in _JOINERS or _is_word_char(c):
            if start < 0:
                start = i
        elif start >= 0:
            word = text[start:i].strip(_JOINERS)
            if word:
                words.append(word)
            start = -1
    if start >= 0:
        word = text[start:].strip(_JOINERS)
        if word:
            words.append(word)
    return words


# --------------------------------------------------------------------------------------------
# Tokens -> query
# --------------------------------------------------------------------------------------------


def _comma_list(tokens: list[_Token | _Comma]) -> SearchQuery | None:
    """``k1,k2,k3`` without other syntax -> one AnyOf of the parts; else None."""
    if "," not in tokens:
        return None
    parts: list[list[str]] = [[]]
    for tok in tokens:
        if tok == ",":
            parts.append([])
        elif tok.neg or tok.field or tok.quoted or tok.raw == "OR" or "*" in tok.raw:
            return None
        else:
            parts[-1].extend(_words(tok.raw))
    nodes = _dedupe(_words_node(words, None) for words in parts if words)
    if len(nodes) < 2:
        return None
    return SearchQuery(must=(AnyOf(nodes),))


def _build(tokens: list[_Token | _Comma]) -> SearchQuery:
    elements: list[_Item | _Mark] = []
    after: date | None = None
    before: date | None = None
    for tok in tokens:
        if tok == ",":
            continue
        if tok.field in ("after", "before"):
            value = tok.raw.strip()
            if not value:
                continue
            if tok.neg:
                other = "before" if tok.field == "after" else "after"
                raise BadInput(f"-{tok.field}: cannot be negated; use {other}: instead")
            if tok.field == "after":
                d = _date(value, "after", end=False)
                after = d if after is None else max(after, d)
            else:
                d = _date(value, "before", end=True)
                before = d if before is None else min(before, d)
            elements.append("date")
        elif not tok.neg and tok.field is None and not tok.quoted and tok.raw == "OR":
            elements.append("OR")
        else:
            node = _node(tok)
            if node is not None:
                elements.append(_Item(node, tok.neg))
    if after is not None and before is not None and after > before:
        raise BadInput(f"after:{after.isoformat()} is later than before:{before.isoformat()}")

    must: list[Node] = []
    must_not: list[Node] = []
    chain: list[Node] = []  # included items joined by OR so far
    joining = False  # an OR follows the last item of the chain

    def flush() -> None:
        if chain:
            items = _dedupe(_flatten(chain))
            must.append(items[0] if len(items) == 1 else AnyOf(items))
            chain.clear()

    for el in elements:
        if el == "OR":
            joining = bool(chain)
            continue
        if el == "date":
            flush()
        elif el.neg:
            flush()
            must_not.extend(_flatten([el.node]))  # not (a or b) = not a, not b
        else:
            if not joining:
                flush()
            chain.append(el.node)
        joining = False
    flush()
    return SearchQuery(must=_dedupe(must), must_not=_dedupe(must_not), after=after, before=before)


def _node(tok: _Token) -> Node | None:
    if tok.field == "cat":
        return _categories(tok.raw)
    if tok.quoted:
        return _words_node(_words(tok.raw), tok.field)
    body = tok.raw.rstrip("*")
    prefix = len(body) < len(tok.raw)
    words = _words(body)
    if len(words) != 1 or not prefix:
        return _words_node(words, tok.field)
    word = words[0]
    if len(word) < 2:
        raise BadInput(
            f"prefix too short: {_shown(word + '*')} (type at least 2 characters before *)"
        )
    return Term(word, tok.field, prefix=True)


def _words_node(words: list[str], field: str | None) -> Node | None:
    if not words:
        return None
    if len(words) == 1:
        return Term(words[0], field)
    return Phrase(tuple(words), field)


def _categories(raw: str) -> Node | None:
    found: list[Node] = []
    for part in _CAT_SPLIT_RE.split(raw):
        part = _EDGE_PUNCT_RE.sub("", part)
        if not part:
            continue
        cat = canonical(part)
        if cat is None:
            raise BadInput(f"unknown category {_shown(part)} in cat:")
        found.append(InCategory(cat))
    items = _dedupe(found)
    if not items:
        return None
    return items[0] if len(items) == 1 else AnyOf(items)


def _date(value: str, field: str, *, end: bool) -> date:
    """``YYYY-MM-DD``, ``YYYY-MM`` or ``YYYY``; a month or a year means its first day, or its
    last day when ``end``."""
    m = _DATE_RE.fullmatch(value)
    try:
        if m is None:
            raise ValueError(value)
        year = int(m[1])
        if m[3] is not None:
            return date(year, int(m[2]), int(m[3]))
        if m[2] is not None:
            month = int(m[2])
            day = calendar.monthrange(year, month)[1] if end and 1 <= month <= 12 else 1
            return date(year, month, day)
        return date(year, 12, 31) if end else date(year, 1, 1)
    except ValueError:
        raise BadInput(
            f"invalid date {_shown(value)} in {field}: (use YYYY-MM-DD, YYYY-MM or YYYY)"
        ) from None


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _flatten(nodes: list[Node]) -> list[Node]:
    out: list[Node] = []
    for node in nodes:
        if isinstance(node, AnyOf):
            out.extend(node.items)
        else:
            out.append(node)
    return out


def _dedupe(nodes: Iterable[Node | None]) -> tuple[Node, ...]:
    return tuple(dict.fromkeys(n for n in nodes if n is not None))


def _count(node: Node) -> int:
    if isinstance(node, Phrase):
        return len(node.words)
    if isinstance(node, AnyOf):
        return sum(_count(n) for n in node.items)
    return 1


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "...")
