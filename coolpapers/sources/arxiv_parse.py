"""arXiv: parse RSS listings and API (Atom) responses into records.

Pure: bytes in, records out (no network, no database); ``sources.arxiv`` fetches. Formats are
documented in shared/reference/arxiv-data.md sections 2-3 and pinned by tests/fixtures/arxiv/.

Policy: a document that is not a usable feed (HTML page, "Rate exceeded." text, JSON,
truncated XML, XML with a DTD) raises ParseError; one malformed item only lands in
``Feed.malformed`` / ``ApiResult.malformed`` and never aborts the rest.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from io import BytesIO
from typing import Any
from xml.etree.ElementTree import Element
from xml.etree.ElementTree import ParseError as XmlSyntaxError
from zoneinfo import ZoneInfo

import defusedxml.ElementTree as SafeET
import feedparser
from defusedxml import DefusedXmlException

from coolpapers.errors import BadId, ParseError
from coolpapers.identifiers import ArxivId, parse_id
from coolpapers.records import ANNOUNCE_TYPES, ApiResult, Author, Feed, FeedItem, PaperMeta
from coolpapers.sources.arxiv_rss import parse_current_rss
from coolpapers.sources.tex import decode_tex_accents

# ---------------------------------------------------------------------------------------------
# Parsing (pure)
# ---------------------------------------------------------------------------------------------

_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # C0 controls and DEL, except \t and \n
_SPACES_RE = re.compile(r"[ \t\u00a0]+")

# RSS 2.0 <description>: "arXiv:<id>v<N> Announce Type: <type> \nAbstract: <abstract>"
_DESC_RE = re.compile(
    r"^arXiv:(\S+?)v(\d+) Announce Type: ([a-z-]+)\s*\nAbstract: (.*)$", re.DOTALL
)
_OAI_PREFIX_RE = re.compile(r"^oai:arxiv\.org:", re.IGNORECASE)

# Legacy RSS 1.0 title: "Title. (arXiv:2307.01201v1 [cs.CL])", "... [cs.CL] UPDATED)",
# "... [cs.IR] CROSS LISTED)".
_LEGACY_TITLE_RE = re.compile(
    r"^(?P<title>.*?)\.?\s*\(arXiv:(?P<id>[^\s\[\]()]+)\s+\[(?P<cat>[^\]\s]+)\]"
    r"(?:\s+(?P<kind>UPDATED|CROSS LISTED))?\)\s*$",
    re.DOTALL,
)
_FEED_SPEC_RE = re.compile(r"^\s*(\S+)\s+updates on arXiv\.org", re.IGNORECASE)
_HTML_PARA_RE = re.compile(r"</?p\b[^>]*>|<br\s*/?>", re.IGNORECASE)
_HTML_INLINE_TAG_RE = re.compile(
    r"</?(?:a|b|i|em|strong|span|div|sub|sup|tt|code|font|u|small|big)\b[^>]*>", re.IGNORECASE
)

# An arXiv category term ("cs.LG", "hep-th", "astro-ph.CO"), as opposed to ACM ("I.2.6") or MSC
# ("68T05") terms that the API also lists as <category>.
_CATEGORY_RE = re.compile(r"^[a-z-]+(?:\.[A-Za-z-]+)?$")
_API_ABS_RE = re.compile(r"^https?://(?:www\.|export\.)?arxiv\.org/abs/(?P<id>\S+)$")

_ATOM = "{http://www.w3.org/2005/Atom}"
_OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"
_ARXIV = "{http://arxiv.org/schemas/atom}"

_LEGACY_VERSIONS = ("rss090", "rss10")

API_MAX_IDS = 100  # arXiv asks for modest id_list batches


class _MalformedItem(Exception):
    """One item/entry cannot be used; the message is its short reason."""


@lru_cache(maxsize=1)
def _eastern() -> ZoneInfo:
    return ZoneInfo("America/New_York")


# --- text helpers ------------------------------------------------------------------------------


def _as_str(value: object) -> str:
    return value if isinstance(value, str) else ""


def strip_controls(text: str) -> str:
    return _CONTROL_RE.sub("", text)


def clean_inline(value: object) -> str:
    """One line of text: controls stripped, TeX accents decoded, whitespace collapsed."""
    return " ".join(decode_tex_accents(strip_controls(_as_str(value))).split())


def _clean_block(value: object) -> str:
    """Text with paragraphs: like clean_inline, but line breaks survive as single newlines."""
    text = decode_tex_accents(strip_controls(_as_str(value)))
    lines = (_SPACES_RE.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def optional_text(value: object) -> str | None:
    """A field that may be absent: cleaned as one line, None when empty."""
    text = clean_inline(value)
    return text or None


def optional_raw(value: object) -> str | None:
    """DOIs, licence URLs: no TeX decoding, just trimmed."""
    text = " ".join(strip_controls(_as_str(value)).split())
    return text or None


def _html_to_text(fragment: str) -> str:
    """Legacy RSS HTML (``<p>…</p>``, ``<a>``) to plain text with one paragraph per line."""
    paragraphs = []
    for chunk in _HTML_PARA_RE.split(fragment):
        text = html.unescape(_HTML_INLINE_TAG_RE.sub("", chunk))
        text = " ".join(text.split())
        if text:
            paragraphs.append(text)
    return "\n".join(paragraphs)


def _short_reason(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    text = " ".join(str(exc).split())
    if len(text) > 120:
        text = text[:117] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def xml_root(body: bytes, what: str) -> Element:
    """The root element of an XML response, parsed safely (a DTD is refused: no entity
    expansion); ParseError says the body is not ``what`` and why."""
    if not isinstance(body, bytes | bytearray):
        raise ParseError(f"not {what}: expected bytes, got {type(body).__name__}")
    if not bytes(body).strip():
        raise ParseError(f"not {what}: empty body")
    try:
        root: Element = SafeET.fromstring(bytes(body), forbid_dtd=True)
    except DefusedXmlException as exc:
        raise ParseError(f"not {what}: XML with a DTD ({exc})") from exc
    except (XmlSyntaxError, ValueError, LookupError) as exc:
        raise ParseError(f"not {what}: {_short_reason(exc)}") from exc
    return root


# --- authors -----------------------------------------------------------------------------------


def _split_top_level(text: str) -> list[str]:
    """Split at commas outside parentheses; if the parentheses do not balance, at every comma."""
    if "(" not in text:  # the usual creator line: no affiliations, every comma splits
        return text.split(",")
    parts: list[str] = []
    depth = 0
    start = 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    if depth != 0:
        return text.split(",")
    return parts


def _name_and_affiliations(part: str) -> tuple[str, tuple[str, ...]]:
    """``"Ana Lara (Univ. X, Madrid, Spain)"`` -> ``("Ana Lara", ("Univ. X, Madrid, Spain",))``.

    Each top-level parenthesised group is one affiliation string: arXiv separates the several
    affiliations of one author with commas, exactly like the parts of one address, so there is
    no reliable way to split them.
    """
    if "(" not in part:  # no affiliation (most authors): the walk below would copy it all
        return clean_inline(part), ()
    name: list[str] = []
    affiliations: list[str] = []
    group: list[str] = []
    depth = 0
    for ch in part:
        if ch == "(":
            if depth > 0:
                group.append(ch)
            depth += 1
        elif ch == ")" and depth > 0:
            depth -= 1
            if depth == 0:
                affiliation = clean_inline("".join(group))
                if affiliation:
                    affiliations.append(affiliation)
                group = []
            else:
                group.append(ch)
        elif depth > 0:
            group.append(ch)
        else:
            name.append(ch)
    if depth > 0:  # unclosed "(": keep it as part of the name
        name.append("(" + "".join(group))
    return clean_inline("".join(name)), tuple(affiliations)


def split_authors(creator: str) -> tuple[Author, ...]:
    """Split the single RSS ``dc:creator`` string into authors with their affiliations.

    Authors are separated by commas at parenthesis depth 0; parenthesised text is the author's
    affiliation; TeX accents are decoded. Parts without any letter or digit (``"LLM-jp, :, A"``)
    are dropped; a bare ``(affiliation)`` part is attached to the preceding author.
    """
    authors: list[Author] = []
    for part in _split_top_level(strip_controls(_as_str(creator))):
        name, affiliations = _name_and_affiliations(part)
        if not any(ch.isalnum() for ch in name):
            if affiliations and authors:
                last = authors[-1]
                authors[-1] = Author(last.name, last.affiliations + affiliations)
            continue
        authors.append(Author(name, affiliations))
    return tuple(authors)


# --- RSS ---------------------------------------------------------------------------------------


def _reject_dtd(body: bytes) -> None:
    """Refuse documents with a DTD (entity bombs, external entities) before feedparser sees them.

    Only the prolog is parsed: iteration stops at the root element's start tag. Syntax errors are
    left for feedparser to report.
    """
    try:
        for _event in SafeET.iterparse(BytesIO(body), events=("start",), forbid_dtd=True):
            break
    except DefusedXmlException as exc:
        raise ParseError(f"not a feed: XML with a document type declaration ({exc})") from exc
    except (XmlSyntaxError, ValueError, LookupError):
        pass


def _feed_bytes(body: bytes) -> bytes:
    """The checks every RSS document passes first, whichever parser then reads it."""
    if not isinstance(body, bytes | bytearray):
        raise ParseError(f"not a feed: expected bytes, got {type(body).__name__}")
    if not bytes(body).strip():
        raise ParseError("not a feed: empty body")
    _reject_dtd(bytes(body))
    return bytes(body)


def _feedparse(body: bytes) -> Any:
    try:
        # A stream, never the bytes themselves: feedparser would try a bytes value as a filename.
        parsed: Any = feedparser.parse(
            BytesIO(body), sanitize_html=False, resolve_relative_uris=False
        )
    except Exception as exc:  # feedparser should not raise, but never let it escape raw
        raise ParseError(f"not a feed: {_short_reason(exc)}") from exc
    if parsed.get("bozo"):
        problem = parsed.get("bozo_exception")
        if not isinstance(problem, feedparser.CharacterEncodingOverride):
            raise ParseError(f"not a well-formed feed: {_short_reason(problem)}")
    version = _as_str(parsed.get("version"))
    if not version.startswith("rss"):
        raise ParseError(f"not an RSS feed ({version or 'no feed element found'})")
    return parsed


def _to_eastern_date(parsed_time: Any) -> date | None:
    """feedparser's UTC ``struct_time`` -> the US Eastern calendar date."""
    if not parsed_time:
        return None
    try:
        year, month, day, hour, minute, second = (int(x) for x in parsed_time[:6])
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except (TypeError, ValueError, IndexError):
        return None
    return moment.astimezone(_eastern()).date()


def _tag_terms(entry: Any) -> tuple[str, ...]:
    terms: list[str] = []
    for tag in entry.get("tags") or ():
        term = " ".join(strip_controls(_as_str(tag.get("term"))).split())
        if term and term not in terms:
            terms.append(term)
    return tuple(terms)


def _id_from_guid(guid: str) -> ArxivId | None:
    try:
        return parse_id(_OAI_PREFIX_RE.sub("", guid.strip()))
    except BadId:
        return None


def _rss2_item(entry: Any) -> FeedItem:
    guid = strip_controls(_as_str(entry.get("id")))
    description = strip_controls(_as_str(entry.get("summary")))
    match = _DESC_RE.match(description)

    arxiv_id = _id_from_guid(guid)
    if (arxiv_id is None or arxiv_id.version is None) and match:
        arxiv_id = _id_from_guid(f"{match[1]}v{match[2]}")
    if arxiv_id is None or arxiv_id.version is None:
        raise _MalformedItem(f"no usable arXiv id (guid {guid[:60]!r})")
    label = f"{arxiv_id.id}v{arxiv_id.version}"

    announce = _as_str(entry.get("arxiv_announce_type")).strip().lower()
    if announce not in ANNOUNCE_TYPES and match:
        announce = match[3]
    if announce not in ANNOUNCE_TYPES:
        raise _MalformedItem(f"{label}: bad announce type {announce[:30]!r}")

    title = clean_inline(entry.get("title"))
    if not title:
        raise _MalformedItem(f"{label}: no title")

    if match:
        abstract = _clean_block(match[4])
    elif "Abstract:" in description:
        abstract = _clean_block(description.split("Abstract:", 1)[1])
    else:
        abstract = ""

    meta = PaperMeta(
        id=arxiv_id.id,
        version=arxiv_id.version,
        title=title,
        abstract=abstract,
        authors=split_authors(_as_str(entry.get("author"))),
        categories=_tag_terms(entry),
        doi=optional_raw(entry.get("arxiv_doi")),
        journal_ref=optional_text(entry.get("arxiv_journal_reference")),
        license=optional_raw(entry.get("rights")),
    )
    return FeedItem(meta=meta, announce_type=announce)


def _feed_terms(channel_title: str) -> tuple[str, ...]:
    """``"cs.CL updates on arXiv.org"`` -> ``("cs.CL",)`` (split at ``+``)."""
    m = _FEED_SPEC_RE.match(channel_title)
    if not m:
        return ()
    return tuple(t for t in m[1].split("+") if t)


def _in_feed(category: str, feed_terms: tuple[str, ...]) -> bool:
    if not feed_terms:
        return True  # unknown feed: take the bracketed category as the feed's own
    cat = category.lower()
    return any(cat == t.lower() or cat.startswith(t.lower() + ".") for t in feed_terms)


def _legacy_item(entry: Any, feed_terms: tuple[str, ...]) -> FeedItem:
    raw_title = strip_controls(_as_str(entry.get("title")))
    m = _LEGACY_TITLE_RE.match(raw_title.strip())
    if not m:
        raise _MalformedItem(f"title without an (arXiv:…) suffix: {raw_title[:60]!r}")
    try:
        arxiv_id = parse_id(m["id"])
    except BadId as exc:
        raise _MalformedItem(f"no usable arXiv id: {exc}") from None
    if arxiv_id.version is None:
        raise _MalformedItem(f"{arxiv_id.id}: no version in the title")
    label = f"{arxiv_id.id}v{arxiv_id.version}"

    title = clean_inline(m["title"])
    if not title:
        raise _MalformedItem(f"{label}: no title")

    primary = m["cat"]
    in_feed = _in_feed(primary, feed_terms)
    kind = m["kind"]
    if kind == "UPDATED":
        announce = "replace" if in_feed else "replace-cross"
    elif kind == "CROSS LISTED":
        announce = "cross"
    else:
        announce = "new" if in_feed else "cross"

    # The legacy item names only its primary category. A paper listed in a single-category feed
    # is certainly in that category too, so it is added after the primary.
    categories = [primary]
    if len(feed_terms) == 1 and "." in feed_terms[0] and feed_terms[0].lower() != primary.lower():
        categories.append(feed_terms[0])

    creators = html.unescape(_HTML_INLINE_TAG_RE.sub("", _as_str(entry.get("author"))))
    meta = PaperMeta(
        id=arxiv_id.id,
        version=arxiv_id.version,
        title=title,
        abstract=_clean_block(_html_to_text(_as_str(entry.get("summary")))),
        authors=split_authors(creators),
        categories=tuple(categories),
    )
    return FeedItem(meta=meta, announce_type=announce)


def parse_rss(body: bytes) -> Feed:
    """Parse one arXiv RSS document (current RSS 2.0, or the legacy RSS 1.0/RDF) into a Feed.

    Raises ParseError if ``body`` is not an RSS feed at all; malformed items are skipped and
    reported in ``Feed.malformed``; an item repeated within the feed is kept once.
    """
    return _parse_rss_with(body, fast=True)


def _parse_rss_with(body: bytes, *, fast: bool) -> Feed:
    """``parse_rss``; ``fast=False`` skips ``arxiv_rss`` (tests compare the two paths).

    A document of arXiv's current shape is read by ``arxiv_rss`` at a fraction of feedparser's
    CPU; it gives feedparser's values for the fields read below, laid out like feedparser's
    result, and None for any other document, which feedparser then reads.
    """
    data = _feed_bytes(body)
    parsed = (parse_current_rss(data) if fast else None) or _feedparse(data)
    channel = parsed.get("feed") or {}
    title = clean_inline(channel.get("title"))
    entries = parsed.get("entries") or []
    legacy = _as_str(parsed.get("version")) in _LEGACY_VERSIONS

    if legacy:
        # The legacy channel <dc:date> is the announcement evening ("2023-07-05T20:30:00-05:00").
        # arXiv dates a listing by the day after the 20:00 ET announcement (the /list/ pages,
        # the mailings and the current RSS pubDate all do), so the listing date is that evening's
        # Eastern date + 1 day. Cross-check with the fixtures: the feed with dc:date 2023-07-04
        # is empty because 4 July 2023 was an arXiv holiday (no announcement that evening, so no
        # listing on 5 July), and it was captured at 00:05 UTC on 2023-07-05, i.e. on the
        # evening of the 4th in New York.
        evening = _to_eastern_date(channel.get("updated_parsed"))
        listing_date = evening + timedelta(days=1) if evening else None
    else:
        # Channel <pubDate> is the listing date at 00:00 US Eastern.
        listing_date = _to_eastern_date(channel.get("published_parsed"))
        if listing_date is None and entries:
            listing_date = _to_eastern_date(entries[0].get("published_parsed"))

    feed_terms = _feed_terms(title)
    items: list[FeedItem] = []
    malformed: list[str] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries, start=1):
        try:
            item = _legacy_item(entry, feed_terms) if legacy else _rss2_item(entry)
        except _MalformedItem as exc:
            malformed.append(f"item {index}: {exc}")
            continue
        if item.meta.id in seen:
            continue
        seen.add(item.meta.id)
        items.append(item)

    return Feed(
        title=title,
        listing_date=listing_date,
        items=tuple(items),
        malformed=tuple(malformed),
        legacy=legacy,
    )


# --- API (Atom) --------------------------------------------------------------------------------


def _parse_api_datetime(value: str | None) -> datetime | None:
    text = (value or "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _is_error_entry(entry: Element) -> bool:
    entry_id = (entry.findtext(f"{_ATOM}id") or "").strip()
    if "/api/errors" in entry_id:
        return True
    title = (entry.findtext(f"{_ATOM}title") or "").strip()
    return title == "Error" and not _API_ABS_RE.match(entry_id)


def _api_categories(entry: Element) -> tuple[str, ...]:
    terms: list[str] = []
    primary = entry.find(f"{_ARXIV}primary_category")
    if primary is not None:
        terms.append((primary.get("term") or "").strip())
    terms.extend((c.get("term") or "").strip() for c in entry.findall(f"{_ATOM}category"))
    categories: list[str] = []
    for term in terms:
        if _CATEGORY_RE.match(term) and term not in categories:
            categories.append(term)
    return tuple(categories)


def _api_entry(entry: Element) -> PaperMeta:
    raw_id = (entry.findtext(f"{_ATOM}id") or "").strip()
    m = _API_ABS_RE.match(raw_id)
    if not m:
        raise _MalformedItem(f"entry id is not an arXiv abs URL: {raw_id[:60]!r}")
    try:
        arxiv_id = parse_id(m["id"])
    except BadId as exc:
        raise _MalformedItem(str(exc)) from None
    if arxiv_id.version is None:
        raise _MalformedItem(f"{arxiv_id.id}: no version in the entry id")
    title = clean_inline(entry.findtext(f"{_ATOM}title"))
    if not title:
        raise _MalformedItem(f"{arxiv_id.id}v{arxiv_id.version}: no title")

    authors: list[Author] = []
    for node in entry.findall(f"{_ATOM}author"):
        name = clean_inline(node.findtext(f"{_ATOM}name"))
        if not name:
            continue
        affiliations = tuple(
            a for a in (clean_inline(x.text) for x in node.findall(f"{_ARXIV}affiliation")) if a
        )
        authors.append(Author(name, affiliations))

    return PaperMeta(
        id=arxiv_id.id,
        version=arxiv_id.version,
        title=title,
        abstract=clean_inline(entry.findtext(f"{_ATOM}summary")),
        authors=tuple(authors),
        categories=_api_categories(entry),
        doi=optional_raw(entry.findtext(f"{_ARXIV}doi")),
        journal_ref=optional_text(entry.findtext(f"{_ARXIV}journal_ref")),
        comments=optional_text(entry.findtext(f"{_ARXIV}comment")),
        published=_parse_api_datetime(entry.findtext(f"{_ATOM}published")),
        updated=_parse_api_datetime(entry.findtext(f"{_ATOM}updated")),
    )


def parse_api(body: bytes) -> ApiResult:
    """Parse an arXiv API (export.arxiv.org/api/query) Atom response.

    Raises BadId for arXiv's error feed (one entry titled "Error", e.g. "incorrect id format for
    abc"), ParseError if the body is not an Atom feed. ``total`` is opensearch:totalResults (the
    number of entries when it is missing); malformed entries go to ``ApiResult.malformed``.
    """
    root = xml_root(body, "an API response")
    if root.tag != f"{_ATOM}feed":
        raise ParseError(f"not an API response: root element is {root.tag[:60]!r}, not Atom feed")

    entries = root.findall(f"{_ATOM}entry")
    for entry in entries:
        if _is_error_entry(entry):
            message = clean_inline(entry.findtext(f"{_ATOM}summary"))
            raise BadId(message or "arXiv API error")

    metas: list[PaperMeta] = []
    malformed: list[str] = []
    for index, entry in enumerate(entries, start=1):
        try:
            metas.append(_api_entry(entry))
        except _MalformedItem as exc:
            malformed.append(f"entry {index}: {exc}")

    total_text = (root.findtext(f"{_OPENSEARCH}totalResults") or "").strip()
    total = int(total_text) if total_text.isdigit() else len(metas)
    return ApiResult(total=total, entries=tuple(metas), malformed=tuple(malformed))
