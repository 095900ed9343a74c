"""The Kaggle arXiv snapshot: one JSON line → a :class:`PaperMeta`, or why it cannot be one.

Pure (bytes in, a record or a reason out); ``ingest.kaggle`` reads the file and stores. The
format is arxiv-data.md §4: ``id`` (versionless; old-style ids without subject class),
``versions`` (every submission time), ``authors_parsed`` ([surname, forenames, suffix, and
sometimes an affiliation], already Unicode), raw ``title``/``abstract`` (hard-wrapped, TeX
accents), space-separated ``categories`` (primary first), and ``doi``, ``journal-ref``,
``comments``, ``license`` (string or null).

Text is cleaned as the RSS and API parsers clean theirs (``arxiv_parse``): TeX accents decoded,
whitespace collapsed, math left as written; an abstract keeps its paragraphs as single newlines,
as the RSS abstracts do (the snapshot starts each paragraph with an indented line).

Speed matters here (a snapshot has ~2.7M lines): the TeX decoder walks a text character by
character once it has a backslash, and most backslashes in abstracts are math, so it only runs
when the text has a macro it could convert (``_MACRO_RE``; the output is the same either way).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import orjson

from coolpapers.errors import BadId
from coolpapers.identifiers import parse_id
from coolpapers.records import Author, PaperMeta
from coolpapers.sources.arxiv_parse import split_authors, strip_controls
from coolpapers.sources.tex import decode_tex_accents

__all__ = ["parse_line"]

# A macro decode_tex_accents converts: a symbol accent (\'e \"o \^o ...) or a control word that
# is an accent (\v \c \u ...) or a letter (\ss \o \aa ...). Anything else it leaves as written.
_MACRO_RE = re.compile(r"\\(?:['`^\"~=.]|(?:[uvHckrdboOlLij]|ss|ae|AE|oe|OE|aa|AA)(?![A-Za-z]))")
# a new paragraph: an indented line (the snapshot's mark) or a blank line
_PARAGRAPH_RE = re.compile(r"\n[ \t]*\n\s*|\n[ \t]+")
_AND_RE = re.compile(r"\s+and\s+|,\s*and\s+")
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_CANONICAL_ID_RE = re.compile(r"\d{4}\.\d{4,5}\Z")
_SHORT = 60  # characters of a bad value quoted in a reason


def _inline(value: object) -> str:
    """One line: controls stripped, whitespace collapsed, TeX accents decoded (as
    ``arxiv_parse.clean_inline``). Clean text, the common case, is only checked: a regex over
    a whole abstract costs more than the rest of its line."""
    if not isinstance(value, str):
        return ""
    text = value.replace("\n", " ")
    if text.isprintable() and "  " not in text:  # no controls, no whitespace but single spaces
        text = text.strip(" ")
    else:
        text = " ".join(strip_controls(text).split())
    return decode_tex_accents(text) if _MACRO_RE.search(text) else text


def optional_text(value: object) -> str | None:
    return _inline(value) or None if value is not None else None


def optional_raw(value: object) -> str | None:
    """DOIs, licence URLs: no TeX decoding, just trimmed (as ``arxiv_parse.optional_raw``)."""
    if value is None:
        return None
    if (
        type(value) is str
        and value.isprintable()
        and value.strip(" ") == value
        and "  " not in value
    ):
        return value or None
    return " ".join(strip_controls(value if isinstance(value, str) else "").split()) or None


def _abstract(value: object) -> str:
    """Paragraphs (an indented line starts one in the snapshot) as single newlines."""
    text = value.strip() if isinstance(value, str) else ""
    if "\n " not in text and "\n\t" not in text and "\n\n" not in text:
        return _inline(text)  # one paragraph: most abstracts
    paragraphs = (_inline(p) for p in _PARAGRAPH_RE.split(text))
    return "\n".join(p for p in paragraphs if p)


def _created(text: str) -> datetime:
    """``Mon, 2 Apr 2007 19:18:42 GMT`` (the snapshot's one spelling; RFC 2822 otherwise)."""
    parts = text.split()
    if len(parts) == 6 and parts[5] in ("GMT", "UTC") and parts[2] in _MONTHS:
        hour, minute, second = parts[4].split(":")
        return datetime(
            int(parts[3]), _MONTHS[parts[2]], int(parts[1]), int(hour), int(minute), int(second),
            tzinfo=UTC,
        )  # fmt: skip
    moment = parsedate_to_datetime(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _versions(value: object) -> tuple[datetime, ...] | str:
    """Submission times, v1 first; a reason when they are not v1…vN with dates."""
    if value is None:
        return ()
    if type(value) is not list:
        return "versions is not a list"
    times: list[datetime] = []
    for number, entry in enumerate(value, start=1):
        if type(entry) is not dict:
            return "a version is not an object"
        if entry.get("version") != f"v{number}":  # the snapshot lists them in order
            return _unordered_versions(value)
        created = entry.get("created")
        try:
            times.append(_created(created if type(created) is str else ""))
        except (TypeError, ValueError, IndexError):
            return f"bad submission date {str(created)[:_SHORT]!r}"
    return tuple(times)


def _unordered_versions(value: list[Any]) -> tuple[datetime, ...] | str:
    """Versions listed out of order: sorted by number, which must run v1…vN."""
    numbered: list[tuple[int, Any]] = []
    for entry in value:
        label = entry.get("version") if type(entry) is dict else None
        if type(label) is not str or label[:1] not in "vV" or not label[1:].isdigit():
            return f"bad version {str(label)[:_SHORT]!r}"
        numbered.append((int(label[1:]), entry))
    numbered.sort(key=lambda pair: pair[0])
    if [n for n, _ in numbered] != list(range(1, len(numbered) + 1)):
        return "versions are not v1, v2, … without gaps"
    return _versions([{**entry, "version": f"v{n}"} for n, entry in numbered])


def _parsed_authors(value: list[Any]) -> tuple[Author, ...] | None:
    """``authors_parsed``: [surname, forenames, suffix, affiliation…] → "Forenames Surname
    Suffix"; None when it is not that shape (the raw string is used then). A name is cleaned
    only when it needs it (the common case costs one regex search, not three cleanings)."""
    authors: list[Author] = []
    for entry in value:
        if type(entry) is not list or len(entry) < 2:
            return None
        surname, forenames = entry[0], entry[1]
        suffix = entry[2] if len(entry) > 2 else ""
        if type(surname) is not str or type(forenames) is not str or type(suffix) is not str:
            return None
        name = f"{forenames} {surname}" if forenames and surname else forenames or surname
        if suffix:
            name = f"{name} {suffix}"
        if not name.isprintable() or "  " in name or "\\" in name or name != name.strip():
            name = _inline(name)
        if not name:
            continue
        affiliations = (
            tuple(a for a in (_inline(p) for p in entry[3:]) if a) if len(entry) > 3 else ()
        )
        authors.append(Author(name, affiliations))
    return tuple(authors)


def _raw_authors(value: object) -> tuple[Author, ...]:
    """The raw ``authors`` string ("A, B and C (Univ. X)"): "and" outside parentheses separates
    authors too, then it is split as the RSS ``dc:creator`` is."""
    text = value if isinstance(value, str) else ""
    out: list[str] = []
    depth = 0
    start = 0
    for match in _AND_RE.finditer(text):
        chunk = text[start : match.start()]
        depth += chunk.count("(") - chunk.count(")")
        out.append(chunk)
        out.append(match.group() if depth > 0 else ", ")
        start = match.end()
    out.append(text[start:])
    return split_authors("".join(out))


def _canonical_new_id(text: str) -> bool:
    """A ``YYMM.NNNN(N)`` id already in canonical form (as ``parse_id`` would return it)."""
    yymm, number = int(text[:4]), text[5:]
    width = 5 if yymm >= 1501 else 4
    return yymm >= 704 and 1 <= yymm % 100 <= 12 and len(number) == width and int(number) > 0


def parse_line(line: bytes | str) -> PaperMeta | str:
    """One snapshot line as a paper, or a short reason why it is not one (never raises)."""
    try:
        row = orjson.loads(line)
    except orjson.JSONDecodeError:
        return "not JSON"
    if not isinstance(row, dict):
        return "not a JSON object"
    raw_id = row.get("id")
    if not isinstance(raw_id, str) or not raw_id.strip():
        return "no id"
    if _CANONICAL_ID_RE.match(raw_id) and _canonical_new_id(raw_id):
        paper_id = raw_id  # the snapshot's usual spelling: no need for the full parser
    else:
        try:
            paper_id = parse_id(raw_id).id
        except BadId as exc:
            return str(exc)
    title = _inline(row.get("title"))
    if not title:
        return f"{paper_id}: no title"
    categories = tuple(row["categories"].split()) if isinstance(row.get("categories"), str) else ()
    if not categories:
        return f"{paper_id}: no categories"
    versions = _versions(row.get("versions"))
    if isinstance(versions, str):
        return f"{paper_id}: {versions}"
    parsed = row.get("authors_parsed")
    authors = _parsed_authors(parsed) if isinstance(parsed, list) else None
    if authors is None:
        authors = _raw_authors(row.get("authors"))
    return PaperMeta(
        id=paper_id,
        version=max(len(versions), 1),
        title=title,
        abstract=_abstract(row.get("abstract")),
        authors=authors,
        categories=categories,
        doi=optional_raw(row.get("doi")),
        journal_ref=optional_text(row.get("journal-ref")),
        comments=optional_text(row.get("comments")),
        license=optional_raw(row.get("license")),
        published=versions[0] if versions else None,
        updated=versions[-1] if versions else None,
        versions=versions,
    )
