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
A bulk import takes ``parse_fields``: the same values as plain ones (authors as the JSON they are
stored as, submission times as ISO 8601 text), without the records ``parse_line`` builds.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple

import orjson

from coolpapers.errors import BadId
from coolpapers.identifiers import parse_id
from coolpapers.records import Author, PaperMeta
from coolpapers.sources.arxiv_parse import split_authors, strip_controls
from coolpapers.sources.tex import decode_tex_accents

__all__ = ["Fields", "parse_fields", "parse_line"]

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
    flat = text.replace("\n", " ")
    if flat.isprintable() and "  " not in flat:
        # one clean paragraph, most abstracts: what ``_inline`` returns, checked once (a
        # paragraph's mark, "\n " or "\n\n", would have left two spaces)
        return decode_tex_accents(flat) if _MACRO_RE.search(flat) else flat
    if "\n " not in text and "\n\t" not in text and "\n\n" not in text:
        return _inline(text)  # one paragraph
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


@functools.lru_cache(maxsize=16_384)
def _iso_day(day: str, month: str, year: str) -> str:
    """``2``, ``Apr``, ``2007`` → ``2007-04-02`` (ValueError when there is no such day): a
    snapshot has a few thousand days for millions of submission times."""
    return date(int(year), _MONTHS[month], int(day)).isoformat()


def _created_iso(text: str) -> str:
    """``_created(text).isoformat()``, without building the datetime in the snapshot's usual
    spelling (zero-padded ``HH:MM:SS``, which the ISO form copies)."""
    parts = text.split()
    if len(parts) == 6 and parts[5] in ("GMT", "UTC") and parts[2] in _MONTHS:
        clock = parts[4]
        if (
            len(clock) == 8
            and clock[2] == clock[5] == ":"
            and clock.isascii()
            and (clock[:2] + clock[3:5] + clock[6:]).isdigit()
            and clock[:2] < "24"
            and clock[3] < "6"
            and clock[6] < "6"
        ):
            return f"{_iso_day(parts[1], parts[2], parts[3])}T{clock}+00:00"
    return _created(text).isoformat()


def _versions(value: object) -> tuple[str, ...] | str:
    """Submission times (UTC, ISO 8601), v1 first; a reason when they are not v1…vN with
    dates."""
    if value is None:
        return ()
    if type(value) is not list:
        return "versions is not a list"
    times: list[str] = []
    for number, entry in enumerate(value, start=1):
        if type(entry) is not dict:
            return "a version is not an object"
        if entry.get("version") != f"v{number}":  # the snapshot lists them in order
            return _unordered_versions(value)
        created = entry.get("created")
        try:
            times.append(_created_iso(created if type(created) is str else ""))
        except (TypeError, ValueError, IndexError):
            return f"bad submission date {str(created)[:_SHORT]!r}"
    return tuple(times)


def _unordered_versions(value: list[Any]) -> tuple[str, ...] | str:
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


def _parsed_authors(value: list[Any]) -> list[dict[str, Any]] | None:
    """``authors_parsed``: [surname, forenames, suffix, affiliation…] → "Forenames Surname
    Suffix", as stored (``{"name", "affiliations"}``, what an ``Author`` serialises to); None
    when it is not that shape (the raw string is used then). A name is cleaned only when it
    needs it (the common case costs a few scans, not three cleanings)."""
    authors: list[dict[str, Any]] = []
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
        authors.append({"name": name, "affiliations": affiliations})
    return authors


def _raw_authors(value: object) -> list[dict[str, Any]]:
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
    return [{"name": a.name, "affiliations": a.affiliations} for a in split_authors("".join(out))]


def _canonical_new_id(text: str) -> bool:
    """A ``YYMM.NNNN(N)`` id already in canonical form (as ``parse_id`` would return it)."""
    yymm, number = int(text[:4]), text[5:]
    width = 5 if yymm >= 1501 else 4
    return yymm >= 704 and 1 <= yymm % 100 <= 12 and len(number) == width and int(number) > 0


class Fields(NamedTuple):
    """A line's paper in plain values (``parse_line`` makes its record of them): what a bulk
    import writes, cheaper to build and to send to another process than records."""

    id: str
    version: int
    title: str
    abstract: str
    authors: list[dict[str, Any]]  # {"name", "affiliations"}: an Author as stored
    categories: tuple[str, ...]  # as the line lists them, primary first (aliases not merged)
    doi: str | None
    journal_ref: str | None
    comments: str | None
    license: str | None
    versions: tuple[str, ...]  # submission times, v1 first: UTC, ISO 8601 (``isoformat``)


def parse_fields(line: bytes | str) -> Fields | str:
    """One snapshot line as a paper's values, or a short reason why it is not one (never
    raises)."""
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
    raw_categories = row.get("categories")
    categories = tuple(raw_categories.split()) if isinstance(raw_categories, str) else ()
    if not categories:
        return f"{paper_id}: no categories"
    versions = _versions(row.get("versions"))
    if isinstance(versions, str):
        return f"{paper_id}: {versions}"
    parsed = row.get("authors_parsed")
    authors = _parsed_authors(parsed) if isinstance(parsed, list) else None
    if authors is None:
        authors = _raw_authors(row.get("authors"))
    return Fields(
        paper_id,
        max(len(versions), 1),
        title,
        _abstract(row.get("abstract")),
        authors,
        categories,
        optional_raw(row.get("doi")),
        optional_text(row.get("journal-ref")),
        optional_text(row.get("comments")),
        optional_raw(row.get("license")),
        versions,
    )


def parse_line(line: bytes | str) -> PaperMeta | str:
    """One snapshot line as a paper, or a short reason why it is not one (never raises)."""
    fields = parse_fields(line)
    if isinstance(fields, str):
        return fields
    versions = tuple(datetime.fromisoformat(moment) for moment in fields.versions)
    return PaperMeta(
        id=fields.id,
        version=fields.version,
        title=fields.title,
        abstract=fields.abstract,
        authors=tuple(Author(a["name"], a["affiliations"]) for a in fields.authors),
        categories=fields.categories,
        doi=fields.doi,
        journal_ref=fields.journal_ref,
        comments=fields.comments,
        license=fields.license,
        published=versions[0] if versions else None,
        updated=versions[-1] if versions else None,
        versions=versions,
    )
