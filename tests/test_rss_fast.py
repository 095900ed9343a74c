"""The ElementTree fast path of ``parse_rss`` (``sources.arxiv_rss``) against feedparser.

Every document must give the same Feed (or the same ParseError) whichever path reads it; the
fast path must actually read the real current-format fixtures (so the comparisons are not
vacuous) and must refuse, returning None, every document outside the shape it knows.
"""

from __future__ import annotations

import re
from itertools import product
from pathlib import Path
from typing import Any

import feedparser.datetimes
import feedparser.html
import pytest

from coolpapers.errors import ParseError
from coolpapers.records import Feed
from coolpapers.sources.arxiv_parse import _feed_bytes, _feedparse, _parse_rss_with, parse_rss
from coolpapers.sources.arxiv_rss import _CP1252, _utc_tuple, parse_current_rss

RSS = Path(__file__).parent / "fixtures" / "arxiv" / "rss"
ALL = sorted(RSS.glob("*.xml"))
CURRENT = sorted(RSS.glob("rss-*.xml"))
LG = RSS / "rss-cs.LG-2026-08-21-fri.xml"

# The entry fields arxiv_parse reads (tags and dates are compared apart).
ENTRY_KEYS = (
    "id",
    "summary",
    "title",
    "author",
    "arxiv_announce_type",
    "arxiv_doi",
    "arxiv_journal_reference",
    "rights",
)


def outcome(body: bytes, *, fast: bool) -> Feed | str:
    try:
        return _parse_rss_with(body, fast=fast)
    except ParseError as exc:
        return f"ParseError: {exc}"


def assert_same(body: bytes) -> Feed | str:
    fast = outcome(body, fast=True)
    assert fast == outcome(body, fast=False)
    return fast


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_every_fixture_gives_the_same_feed_either_way(path: Path) -> None:
    body = path.read_bytes()
    assert_same(body)
    legacy = path.name.startswith("old-rss1")
    assert (parse_current_rss(body) is None) == legacy  # the fast path ran on every current feed


def assert_same_values(body: bytes) -> None:
    """Stricter than comparing Feeds, whose cleaning (whitespace, controls, repeated
    categories) could hide a difference: the raw values themselves."""
    fast = parse_current_rss(body)
    assert fast is not None
    slow = _feedparse(_feed_bytes(body))
    assert fast["version"] == slow["version"] == "rss20"
    assert fast["feed"].get("title") == slow["feed"].get("title")
    theirs_date = slow["feed"].get("published_parsed")
    assert fast["feed"].get("published_parsed") == (tuple(theirs_date[:6]) if theirs_date else None)
    assert len(fast["entries"]) == len(slow["entries"])
    for ours, theirs in zip(fast["entries"], slow["entries"], strict=True):
        for key in ENTRY_KEYS:
            assert ours.get(key) == theirs.get(key), key
        ours_terms = [t["term"] for t in ours.get("tags", [])]
        assert ours_terms == [t["term"] for t in theirs.get("tags", [])]
        theirs_date = theirs.get("published_parsed")
        assert ours.get("published_parsed") == (tuple(theirs_date[:6]) if theirs_date else None)


@pytest.mark.parametrize("path", CURRENT, ids=lambda p: p.name)
def test_fast_values_are_feedparsers_before_any_cleaning(path: Path) -> None:
    assert_same_values(path.read_bytes())


def test_hostile_feed_of_the_browser_tests(tmp_path: Path) -> None:
    pytest.importorskip("playwright")
    from tests.browser import hostile_feed

    body = hostile_feed(RSS / "rss-cs.CV-2025-04-25-fri.xml", tmp_path / "hostile.xml").read_bytes()
    assert parse_current_rss(body) is not None
    assert_same(body)


def test_cp1252_map_is_feedparsers() -> None:
    assert feedparser.html._cp1252 == _CP1252


DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def test_dates_are_read_as_feedparser_reads_them() -> None:
    """feedparser tries its W3DTF handler before RFC 822 ("Sat", "Oct" hold a "t"); the day
    name is ignored whatever day it is."""
    for day_name, month, day, year, clock, zone in product(
        DAY_NAMES,
        MONTH_NAMES,
        ("1", "09", "28", "31"),
        ("2024", "2026"),
        ("00:00:00", "23:59:59"),
        ("+0000", "-0400", "-0500", "+0530"),
    ):
        text = f"{day_name}, {day} {month} {year} {clock} {zone}"
        theirs = feedparser.datetimes._parse_date(text)
        if theirs is None or (month in ("Apr", "Jun", "Sep", "Nov", "Feb") and day == "31"):
            continue  # an impossible date: checked below to fall back
        assert _utc_tuple(text) == tuple(theirs[:6]), text


# --- generated variants -----------------------------------------------------------------------


def split_feed() -> tuple[str, list[str], str]:
    raw = LG.read_text(encoding="utf-8")
    start = raw.index("<item>")
    end = raw.rindex("</item>") + len("</item>")
    items = re.findall(r"<item>.*?</item>", raw[start:end], flags=re.DOTALL)
    return raw[:start], items, raw[end:]


HEADER, ITEMS, FOOTER = split_feed()
FIRST = ITEMS[0]  # 2608.19210v1: title, description, guid, 2 categories, journal ref, creator


def doc(*items: str, header: str = HEADER, footer: str = FOOTER) -> bytes:
    return (header + "\n    ".join(items or ITEMS[:6]) + footer).encode("utf-8")


def sub(pattern: str, replacement: str, text: str) -> str:
    changed, count = re.subn(pattern, replacement, text, count=1, flags=re.DOTALL)
    assert count == 1, pattern
    return changed


def field(name: str, value: str, item: str = FIRST, attrs: str = "") -> str:
    """``item`` with element ``name``'s whole content (and attributes) replaced."""
    return sub(rf"<{name}(?: [^>]*)?>.*?</{name}>", f"<{name}{attrs}>{value}</{name}>", item)


def drop(name: str, item: str = FIRST) -> str:
    return sub(rf"\s*<{name}(?: [^>]*)?>.*?</{name}>", "", item)


DESCRIPTION = "arXiv:2608.19210v1 Announce Type: new \nAbstract: A &amp; B &lt;p&gt; on\nlines."
NO_CHANNEL_DATE = sub(r"<pubDate>[^<]*</pubDate>", "", HEADER)

# Documents the fast path reads: the Feed must equal feedparser's.
FAST: dict[str, bytes] = {
    "entities": doc(field("title", "A &amp; B &lt;i&gt;x&lt;/i&gt; &#233; &#x2014; &quot;q&quot;")),
    "cdata-description": doc(field("description", f"<![CDATA[{DESCRIPTION}]]>")),
    "cdata-and-text-title": doc(field("title", "Half <![CDATA[<b>and</b> & half]]> more")),
    "c1-characters": doc(field("title", "The \x93quoted\x94 \x80 and \x81 title\x85")),
    "utf8-read-as-latin1": doc(field("dc:creator", "Ren\u00c3\u00a9 Desc, Ana")),
    "latin1-not-utf8": doc(field("dc:creator", "Ren\u00e9 D\u00e9sc, Ana")),
    "whitespace": doc(
        field("title", "\n   Spaced\t title \u00a0 ", field("dc:creator", "  A B ,  C  \n"))
    ),
    "no-pubdate-doi-journal": doc(
        drop("pubDate", drop("arxiv:journal_reference")), drop("arxiv:DOI", ITEMS[1])
    ),
    "channel-without-pubdate": doc(header=NO_CHANNEL_DATE),
    "no-dates-at-all": doc(drop("pubDate"), ITEMS[1], header=NO_CHANNEL_DATE),
    "wrong-day-name": doc(header=HEADER.replace("Fri, 21 Aug 2026", "Mon, 21 Aug 2026")),
    "duplicates": doc(FIRST, ITEMS[1], FIRST, ITEMS[1]),
    "no-guid": doc(drop("guid"), ITEMS[1]),
    "bad-ids": doc(
        field("guid", "nonsense", attrs=' isPermaLink="false"'),
        field(
            "description",
            "arXiv:nonsense Announce Type: new \nAbstract: x",
            field("guid", "oai:arXiv.org:2608.19234", ITEMS[1], ' isPermaLink="false"'),
        ),
        ITEMS[2],
    ),
    "bad-announce-type-and-empty-title": doc(
        field("arxiv:announce_type", "bogus", field("description", "no abstract")),
        field("title", "   ", ITEMS[1]),
        field("title", "", ITEMS[2]),
    ),
    "empty-and-repeated-categories": doc(
        sub("<category>cs.AI</category>", "<category> </category><category>cs.LG</category>", FIRST)
    ),
    "comment-inside-a-title": doc(field("title", "Before<!-- a comment -->after")),
    "pi-inside-a-title": doc(field("title", "Before<?pi data?>after")),
    "lowercase-utf8-declaration": doc().replace(b"encoding='UTF-8'", b'encoding="utf-8"'),
    "empty-channel": doc(" "),
    "empty-channel-without-date": doc(" ", header=NO_CHANNEL_DATE),
}

# Documents the fast path must refuse: feedparser reads them, with the same Feed or error.
FALLBACK: dict[str, bytes] = {
    "unknown-item-child": doc(FIRST.replace("</item>", "<comments>x</comments></item>")),
    "unknown-channel-child": doc(header=HEADER.replace("<docs>", "<copyright>c</copyright><docs>")),
    "arxiv-under-another-prefix": doc()
    .replace(b"arxiv:", b"ax:")
    .replace(b"xmlns:arxiv", b"xmlns:ax"),
    "arxiv-bound-twice": doc(
        FIRST.replace("<item>", '<item xmlns:ax="http://arxiv.org/schemas/atom">')
    ),
    "extra-namespace": doc().replace(b"<rss ", b'<rss xmlns:foo="http://example.org/foo" ', 1),
    "default-namespace": doc().replace(b"<rss ", b'<rss xmlns="http://example.org/rss" ', 1),
    "second-creator": doc(
        FIRST.replace("</item>", "<dc:creator>Second Author</dc:creator></item>")
    ),
    "second-title": doc(FIRST.replace("</item>", "<title>Another title</title></item>")),
    "typed-title": doc(field("title", "A &lt;b&gt;bold&lt;/b&gt; title", attrs=' type="html"')),
    "description-xml-base": doc(field("description", DESCRIPTION, attrs=' xml:base="http://x/"')),
    "category-domain": doc(sub("<category>", '<category domain="http://arxiv.org">', FIRST)),
    "guid-permalink": doc(sub(r'<guid isPermaLink="false">', "<guid>", FIRST)),
    "markup-in-title": doc(field("title", "A <b>bold</b> title")),
    "markup-in-skipdays": doc(header=HEADER.replace("<day>Sunday</day>", "<title>Other</title>")),
    "text-between-children": doc(FIRST.replace("<link>", "stray text <link>")),
    "lowercase-doi": doc(FIRST.replace("</item>", "<arxiv:doi>10.1/x</arxiv:doi></item>")),
    "iso-date": doc(
        header=HEADER.replace("Fri, 21 Aug 2026 00:00:00 -0400", "2026-08-21T00:00:00-04:00")
    ),
    "impossible-date": doc(header=HEADER.replace("Fri, 21 Aug", "Fri, 31 Feb")),
    "rss-0.91": doc().replace(b'version="2.0"', b'version="0.91"'),
    "iso-8859-1": doc(field("dc:creator", "Ren\u00e9 D\u00e9sc, Ana"))
    .decode("utf-8")
    .replace("encoding='UTF-8'", "encoding='ISO-8859-1'")
    .encode("iso-8859-1", errors="xmlcharrefreplace"),
    "no-declaration": doc().split(b"\n", 1)[1],
    "bom": b"\xef\xbb\xbf" + doc(),
    "not-well-formed": doc()[: len(doc()) // 2],
    "undeclared-prefix": doc(FIRST.replace("</item>", "<foo:bar>x</foo:bar></item>")),
    "invalid-utf8": doc(field("title", "Ren\u00e9")).replace("Ren\u00e9".encode(), b"Ren\xe9"),
    "atom": (
        b"<?xml version='1.0' encoding='UTF-8'?>\n"
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title></feed>'
    ),
}


@pytest.mark.parametrize("body", list(FAST.values()), ids=list(FAST))
def test_variants_read_by_the_fast_path_equal_feedparser(body: bytes) -> None:
    assert_same_values(body)
    assert isinstance(assert_same(body), Feed)


@pytest.mark.parametrize("body", list(FALLBACK.values()), ids=list(FALLBACK))
def test_variants_outside_the_shape_fall_back_to_feedparser(body: bytes) -> None:
    assert parse_current_rss(body) is None
    assert_same(body)


def test_variants_show_what_they_are_meant_to() -> None:
    """The variants reach the cases they name (so the comparisons above test something)."""
    c1 = assert_same(FAST["c1-characters"])
    assert isinstance(c1, Feed)
    assert (
        c1.items[0].meta.title == "The \u201cquoted\u201d \u20ac and \x81 title"
    )  # \x85 stripped first
    latin = assert_same(FAST["utf8-read-as-latin1"])
    assert isinstance(latin, Feed)
    assert latin.items[0].meta.authors[0].name == "Ren\u00e9 Desc"
    bad = assert_same(FAST["bad-ids"])
    assert isinstance(bad, Feed)
    assert len(bad.items) == 2 and "no usable arXiv id" in bad.malformed[0]
    no_dates = assert_same(FAST["no-dates-at-all"])
    assert isinstance(no_dates, Feed) and no_dates.listing_date is None  # only the 1st is read
    broken = assert_same(FALLBACK["not-well-formed"])
    assert isinstance(broken, str) and broken.startswith("ParseError: not a well-formed feed")
    assert isinstance(assert_same(FALLBACK["iso-8859-1"]), Feed)
    assert isinstance(assert_same(FALLBACK["second-creator"]), Feed)


def test_a_dtd_is_still_refused() -> None:
    body = doc().replace(b"?>\n", b'?>\n<!DOCTYPE rss [<!ENTITY t "x">]>\n', 1)
    with pytest.raises(ParseError, match="document type"):
        parse_rss(body)
    assert parse_current_rss(body) is None  # refused by the fast path on its own as well


def test_fast_entries_are_plain_mappings() -> None:
    fast: Any = parse_current_rss(LG.read_bytes())
    first = fast["entries"][0]
    assert first["id"] == "oai:arXiv.org:2608.19210v1"
    assert [t["term"] for t in first["tags"]] == ["cs.LG", "cs.AI"]
    assert first["published_parsed"] == (2026, 8, 21, 4, 0, 0)
