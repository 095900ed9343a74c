"""parse_rss / parse_api / split_authors against the real fixtures in tests/fixtures/arxiv/."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path

import pytest

from coolpapers.errors import BadId, ParseError
from coolpapers.records import ApiResult, Author, Feed, FeedItem, PaperMeta
from coolpapers.sources.arxiv import parse_api, parse_rss, split_authors

FIXTURES = Path(__file__).parent / "fixtures" / "arxiv"

CS_LG = "rss-cs.LG-2026-08-21-fri.xml"
LEGACY_CL = "old-rss1-rdf-cs.CL-dcdate-2023-07-05.xml"
LEGACY_EMPTY = "old-rss1-rdf-empty-cs.AI-dcdate-2023-07-04-holiday.xml"


def rss_bytes(name: str) -> bytes:
    return (FIXTURES / "rss" / name).read_bytes()


def api_bytes(name: str) -> bytes:
    raw = (FIXTURES / "api" / name).read_bytes()
    if name.endswith(".wrapped.json"):
        # The recorder decoded the UTF-8 body as Latin-1; encoding back recovers the bytes.
        body: str = json.loads(raw)["body"]
        return body.encode("latin-1")
    return raw


@cache
def feed(name: str) -> Feed:
    return parse_rss(rss_bytes(name))


@cache
def api(name: str) -> ApiResult:
    return parse_api(api_bytes(name))


def item(f: Feed, arxiv_id: str) -> FeedItem:
    matches = [i for i in f.items if i.meta.id == arxiv_id]
    assert len(matches) == 1, arxiv_id
    return matches[0]


def entry(r: ApiResult, arxiv_id: str) -> PaperMeta:
    matches = [e for e in r.entries if e.id == arxiv_id]
    assert len(matches) == 1, arxiv_id
    return matches[0]


def type_counts(f: Feed) -> dict[str, int]:
    return dict(Counter(i.announce_type for i in f.items))


# --- current RSS 2.0 ---------------------------------------------------------------------------


def test_cs_lg_feed_shape() -> None:
    f = feed(CS_LG)
    assert f.title == "cs.LG updates on arXiv.org"
    assert f.listing_date == date(2026, 8, 21)
    assert f.legacy is False
    assert f.malformed == ()
    assert len(f.items) == 200
    assert type_counts(f) == {"new": 65, "cross": 62, "replace": 46, "replace-cross": 27}
    assert len({i.meta.id for i in f.items}) == 200


def test_cs_lg_feed_order_and_primary_categories() -> None:
    f = feed(CS_LG)
    assert [i.meta.id for i in f.items[:3]] == ["2608.19210", "2608.19234", "2608.19297"]
    order = [i.announce_type for i in f.items]
    assert order == sorted(order, key=["new", "cross", "replace", "replace-cross"].index)
    for it in f.items:
        if it.announce_type in ("new", "replace"):
            assert it.meta.primary_category == "cs.LG", it.meta.id
        else:
            assert it.meta.primary_category != "cs.LG", it.meta.id
            assert "cs.LG" in it.meta.categories


def test_cs_lg_new_paper_with_doi_and_accented_author() -> None:
    it = item(feed(CS_LG), "2608.19234")
    m = it.meta
    assert it.announce_type == "new"
    assert m.version == 1
    assert m.title == "Triangular Fuzzy Rescaling Distance"
    assert m.categories == ("cs.LG",)
    assert m.doi == "10.1007/978-3-032-00891-6_10"
    assert m.journal_ref is None
    assert m.license == "http://creativecommons.org/licenses/by/4.0/"
    assert m.authors == (
        Author("Eddy Soria"),
        Author("Aida Valls"),
        Author("Ana Beatriz Hernández-Lara"),
    )
    assert m.abstract.startswith("Decision-making in complex systems")
    assert "Abstract:" not in m.abstract
    assert m.comments is None and m.published is None and m.updated is None


def test_cs_lg_journal_ref_and_multi_category() -> None:
    m = item(feed(CS_LG), "2608.19735").meta
    assert m.journal_ref == (
        "In Proceedings of the 49th International ACM SIGIR Conference on Research and "
        "Development in Information Retrieval, pp. 1731-1742. 2026"
    )
    assert m.doi == "10.1145/3805712.3809696"
    assert m.license == "http://creativecommons.org/licenses/by-nc-nd/4.0/"
    assert m.authors[0] == Author("En Zhi Tan")
    assert m.authors[-1] == Author("Benjamin Yan Han Yap")

    m = item(feed(CS_LG), "2608.19210").meta
    assert m.title == "Towards On-Board Implementation of ML-Based Helicopter Weight Estimator"
    assert m.categories == ("cs.LG", "cs.AI")
    assert m.license == "http://arxiv.org/licenses/nonexclusive-distrib/1.0/"
    assert m.journal_ref is not None and m.journal_ref.startswith("The 2026 Annual Forum")
    assert m.doi is None


def test_cs_lg_replace_cross_item() -> None:
    it = item(feed(CS_LG), "2510.17529")
    assert it.announce_type == "replace-cross"
    assert it.meta.version == 3
    assert it.meta.categories == ("cs.CV", "cs.AI", "cs.LG")
    assert it.meta.journal_ref == "Medical Image Analysis 114 (2026) 104251"
    assert it.meta.doi == "10.1016/j.media.2026.104251"
    assert it.meta.title.startswith("MambaX-Net: Dual-Input Mamba-Enhanced")

    it = item(feed(CS_LG), "2605.29411")
    assert (it.announce_type, it.meta.version) == ("replace", 2)
    assert it.meta.categories == ("cs.LG", "cs.AI", "stat.ME", "stat.ML")
    assert it.meta.authors[-1] == Author("K. Selçuk Candan")


def test_cs_lg_authors_with_affiliations() -> None:
    m = item(feed(CS_LG), "2608.19836").meta
    assert m.categories == ("cs.LG", "cs.AI", "cs.LO")
    assert m.authors[0] == Author("Astrid Horn Brorholt", ("Aalborg University, Aalborg, Denmark",))
    assert m.authors[1] == Author(
        "Maris F. L. Galesloot", ("Radboud University, Nijmegen, Netherlands",)
    )
    assert m.authors[-1] == Author("Christian Schilling", ("Aalborg University, Aalborg, Denmark",))

    m = item(feed(CS_LG), "2608.20183").meta
    assert m.authors == (
        Author("Grégoire Sergeant-Perthuis", ("CQSB, Sorbonne Université",)),
        Author("Elias Tsigaridas", ("Ouragan Team, INRIA",)),
        Author("Jules Tsukahara", ("Ouragan Team, INRIA",)),
    )

    m = item(feed(CS_LG), "2608.19282").meta
    assert [a.affiliations for a in m.authors] == [
        ("Department of Education, Korea University, Seoul, Republic of Korea",)
    ] * 2


def test_cs_lg_tex_in_authors_and_titles() -> None:
    f = feed(CS_LG)
    names = [a.name for a in item(f, "2605.10546").meta.authors]
    assert names == ["Raphael Trumpp", "Ömer Veysel Çağatan", "Barış Akgün", "Marco Caccamo"]
    assert item(f, "2602.15648").meta.authors[1] == Author("Christian Weißenfels")
    assert item(f, "2608.19767").meta.authors[1] == Author("Johannes Voll Kolstø")
    assert item(f, "2608.20024").meta.authors[-1] == Author("Dirk Müller")
    assert item(f, "2510.07758").meta.title.startswith("Rényi Sharpness:")
    assert item(f, "2608.19584").meta.title.startswith("Kähler landscapes")
    # Math stays as written.
    assert item(f, "2608.20326").meta.title.startswith("$TCP_\\alpha$: Margin-Controlled")
    for it in f.items:
        for a in it.meta.authors:
            assert "\\" not in a.name, a


def test_cs_lg_abstract_keeps_paragraph_newlines() -> None:
    m = item(feed(CS_LG), "2608.19338").meta
    paragraphs = m.abstract.split("\n")
    assert len(paragraphs) == 3
    assert paragraphs[1].startswith("For a chosen basis and intervention fami")
    assert all(p == p.strip() and p for p in paragraphs)
    # No abstract keeps the "arXiv:… Announce Type" header.
    assert not any(i.meta.abstract.startswith("arXiv:") for i in feed(CS_LG).items)


@pytest.mark.parametrize(
    ("name", "listing", "counts"),
    [
        ("rss-cs.CL-2026-08-20-thu.xml", date(2026, 8, 20), (72, 27, 27, 15)),
        ("rss-cs.CV-2025-04-25-fri.xml", date(2025, 4, 25), (66, 21, 33, 10)),
        ("rss-cs.AI-2025-01-06-mon.xml", date(2025, 1, 6), (9, 65, 7, 42)),
        ("rss-cs.CL-2024-03-11-mon.xml", date(2024, 3, 11), (55, 14, 24, 4)),
        ("rss-cs.AI-2024-12-31-tue.xml", date(2024, 12, 31), (11, 143, 17, 79)),
    ],
)
def test_other_feeds(name: str, listing: date, counts: tuple[int, int, int, int]) -> None:
    f = feed(name)
    assert f.listing_date == listing
    assert f.malformed == ()
    expected = dict(zip(("new", "cross", "replace", "replace-cross"), counts, strict=True))
    assert type_counts(f) == expected
    assert len(f.items) == sum(counts)


def test_cs_cl_2024_03_11_papers() -> None:
    f = feed("rss-cs.CL-2024-03-11-mon.xml")
    assert f.title == "cs.CL updates on arXiv.org"
    first = f.items[0]
    assert first.announce_type == "new"
    assert (first.meta.id, first.meta.version) == ("2403.04770", 1)
    assert first.meta.title == "Social Orientation: A New Feature for Dialogue Analysis"
    assert first.meta.categories == ("cs.CL", "cs.LG")
    assert first.meta.authors[0] == Author("Todd Morrill")
    assert first.meta.authors[-1] == Author("Kathleen McKeown")
    assert len(first.meta.authors) == 6
    last = f.items[-1]
    assert (last.announce_type, last.meta.id, last.meta.version) == (
        "replace-cross",
        "2403.04732",
        2,
    )
    assert last.meta.categories == ("cs.AI", "cs.CL", "cs.CV")
    # A single-name author (leading space in the raw dc:creator).
    assert [a.name for a in item(f, "2403.04798").meta.authors] == [
        "Arefa",
        "Mohammed Abbas Ansari",
        "Chandni Saxena",
        "Tanvir Ahmad",
    ]


def test_punctuation_only_author_parts_are_dropped() -> None:
    # dc:creator " LLM-jp,  :, Akiko Aizawa, ..." (a collaboration name followed by a colon)
    m = item(feed("rss-cs.AI-2024-12-31-tue.xml"), "2407.03963").meta
    assert [a.name for a in m.authors[:3]] == ["LLM-jp", "Akiko Aizawa", "Eiji Aramaki"]
    assert len(m.authors) == 82


@pytest.mark.parametrize(
    ("name", "listing"),
    [
        ("rss-empty-cs.AI-2025-04-26-sat.xml", date(2025, 4, 26)),
        ("rss-empty-holiday-cs.AI-2024-11-29-fri-after-thanksgiving.xml", date(2024, 11, 29)),
    ],
)
def test_empty_feeds(name: str, listing: date) -> None:
    f = feed(name)
    assert f.items == ()
    assert f.malformed == ()
    assert f.listing_date == listing
    assert f.title == "cs.AI updates on arXiv.org"
    assert f.legacy is False


def test_holiday_repeat_pair_has_same_items_and_different_dates() -> None:
    before = feed("rss-cs.AI-2024-12-31-tue.xml")
    repeat = feed("rss-holiday-repeat-cs.AI-2025-01-01-wed.xml")
    assert before.listing_date == date(2024, 12, 31)
    assert repeat.listing_date == date(2025, 1, 1)
    assert len(repeat.items) == 250
    assert repeat.items == before.items


# --- legacy RSS 1.0 / RDF ----------------------------------------------------------------------


def test_legacy_feed_shape() -> None:
    f = feed(LEGACY_CL)
    assert f.legacy is True
    assert f.title == "cs.CL updates on arXiv.org"
    # channel dc:date 2023-07-05T20:30:00-05:00 = the announcement evening; listing = next day
    assert f.listing_date == date(2023, 7, 6)
    assert f.malformed == ()
    assert len(f.items) == 71
    assert type_counts(f) == {"new": 34, "cross": 8, "replace": 23, "replace-cross": 6}


def test_legacy_new_item() -> None:
    it = feed(LEGACY_CL).items[0]
    m = it.meta
    assert it.announce_type == "new"
    assert (m.id, m.version) == ("2307.01201", 1)
    assert m.title == (
        "Schema-learning and rebinding as mechanisms of in-context learning and emergence"
    )
    assert m.categories == ("cs.CL",)
    assert m.authors[0] == Author("Sivaramakrishnan Swaminathan")
    assert m.authors[-1] == Author("Dileep George")
    assert len(m.authors) == 6
    assert m.abstract.startswith("In-context learning (ICL) is one of the most powerful")
    assert m.abstract.endswith("this important capability.")
    assert "<" not in m.abstract and "\n" not in m.abstract  # HTML and hard wraps removed
    assert m.doi is None and m.license is None


def test_legacy_cross_replace_and_suffix_forms() -> None:
    f = feed(LEGACY_CL)
    it = item(f, "2307.01202")  # new paper, primary cs.LG, in the cs.CL feed
    assert it.announce_type == "cross"
    assert it.meta.categories == ("cs.LG", "cs.CL")
    assert "OpenAI's state-of-the-art" in it.meta.abstract

    it = item(f, "2304.14796")  # "... [cs.CL] CROSS LISTED)"
    assert it.announce_type == "cross"
    assert it.meta.title == (
        "Are the Best Multilingual Document Embeddings simply Based on Sentence Embeddings?"
    )
    it = item(f, "2307.00165")  # "... [cs.IR] CROSS LISTED)"
    assert (it.announce_type, it.meta.categories) == ("cross", ("cs.IR", "cs.CL"))

    it = item(f, "2307.01163")  # "... [cs.CL] UPDATED)"
    assert (it.announce_type, it.meta.version) == ("replace", 2)
    assert it.meta.title == "Improving Language Plasticity via Pretraining with Active Forgetting"

    it = item(f, "2305.12493")  # "... [eess.AS] UPDATED)"
    assert (it.announce_type, it.meta.version) == ("replace-cross", 4)
    assert it.meta.categories == ("eess.AS", "cs.CL")


def test_legacy_author_affiliation() -> None:
    m = item(feed(LEGACY_CL), "2307.01230").meta
    assert Author("Bernhard Sendhoff", ("Honda Research Institute Europe",)) in m.authors


def test_legacy_empty_holiday_feed() -> None:
    f = feed(LEGACY_EMPTY)
    assert f.legacy is True
    assert f.items == ()
    assert f.listing_date == date(2023, 7, 5)  # no announcement on the evening of 4 July


# --- split_authors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("creator", "expected"),
    [
        ("", ()),
        ("   ", ()),
        ("A. Author", (Author("A. Author"),)),
        ("A One, B Two", (Author("A One"), Author("B Two"))),
        (
            "Astrid Horn Brorholt (Aalborg University, Aalborg, Denmark), Nils Jansen",
            (
                Author("Astrid Horn Brorholt", ("Aalborg University, Aalborg, Denmark",)),
                Author("Nils Jansen"),
            ),
        ),
        ("A (X (Y), Z), B", (Author("A", ("X (Y), Z",)), Author("B"))),
        ("A (X) (Y), B", (Author("A", ("X", "Y")), Author("B"))),
        ("A (X, B", (Author("A (X"), Author("B"))),  # unbalanced: split at every comma
        ("A, (Uni X), B", (Author("A", ("Uni X",)), Author("B"))),
        ("LLM-jp,  :, A B", (Author("LLM-jp"), Author("A B"))),
        ("A  B,,C\tD ,", (Author("A B"), Author("C D"))),
        (r"Hern\'andez-Lara (Universit\'e X)", (Author("Hernández-Lara", ("Université X",)),)),
        ("A\x01B, C\x1fD", (Author("AB"), Author("CD"))),
        (
            "The LSST Dark Energy Science Collaboration",
            (Author("The LSST Dark Energy Science Collaboration"),),
        ),
    ],
)
def test_split_authors(creator: str, expected: tuple[Author, ...]) -> None:
    assert split_authors(creator) == expected


# --- hostile / broken RSS ----------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;</title></item></channel></rss>
"""

HTML_PAGE = b"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>arXiv.org</title></head>
<body><h1>Service unavailable</h1><p>Please try again<br>later.</p></body></html>
"""

HTML_NO_DOCTYPE = b"<html><head><title>x</title></head><body><p>one<br>two</p></body></html>"
XHTML = b'<html xmlns="http://www.w3.org/1999/xhtml"><head><title>x</title></head><body/></html>'


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b" \n\t", id="whitespace"),
        pytest.param(HTML_PAGE, id="html"),
        pytest.param(HTML_NO_DOCTYPE, id="html-no-doctype"),
        pytest.param(XHTML, id="xhtml"),
        pytest.param(b"Rate exceeded.", id="rate-exceeded"),
        pytest.param(b'{"error": "rate limited"}', id="json"),
        pytest.param(rss_bytes(CS_LG)[: len(rss_bytes(CS_LG)) // 2], id="truncated"),
        pytest.param(rss_bytes(LEGACY_CL)[:5000], id="truncated-legacy"),
        pytest.param(BILLION_LAUGHS, id="billion-laughs"),
        pytest.param(api_bytes("api-legacy-2016-idlist-1111.2011v2.xml"), id="atom-api"),
        pytest.param(b"/etc/passwd", id="path-like"),
        pytest.param(b"\x00\xff\xfe garbage", id="binary"),
    ],
)
def test_parse_rss_rejects_non_feeds(body: bytes) -> None:
    started = time.thread_time()  # CPU time spent parsing: a busy machine does not count
    with pytest.raises(ParseError):
        parse_rss(body)
    assert time.thread_time() - started < 2.0


def test_billion_laughs_fails_fast() -> None:
    started = time.thread_time()  # CPU time spent parsing: a busy machine does not count
    with pytest.raises(ParseError, match="document type"):
        parse_rss(BILLION_LAUGHS)
    with pytest.raises(ParseError):
        parse_api(BILLION_LAUGHS)
    assert time.thread_time() - started < 0.5


def _split_feed(raw: str) -> tuple[str, list[str], str]:
    start = raw.index("<item>")
    end = raw.rindex("</item>") + len("</item>")
    items = re.findall(r"<item>.*?</item>", raw[start:end], flags=re.DOTALL)
    return raw[:start], items, raw[end:]


def test_one_broken_item_does_not_abort_the_feed() -> None:
    header, items, footer = _split_feed(rss_bytes(CS_LG).decode("utf-8"))
    good_a, good_b, no_type_elem, no_guid = items[0], items[1], items[2], items[3]
    assert "oai:arXiv.org:2608.19234v1" in items[1]

    bad_id = items[4]
    bad_id = re.sub(r"<guid[^>]*>[^<]*</guid>", '<guid isPermaLink="false">nonsense</guid>', bad_id)
    bad_id = re.sub(r"arXiv:\S+ Announce", "arXiv:nonsense Announce", bad_id)
    bad_type = (
        items[5].replace(">new<", ">bogus<").replace("Announce Type: new", "Announce Type: x")
    )
    no_title = re.sub(r"<title>[^<]*</title>", "<title>  </title>", items[6])
    no_type_elem = re.sub(r"<arxiv:announce_type>[^<]*</arxiv:announce_type>", "", no_type_elem)
    no_guid = re.sub(r"<guid[^>]*>[^<]*</guid>", "", no_guid)

    body = header + "".join(
        [good_a, bad_id, good_b, bad_type, no_title, good_a, no_type_elem, no_guid]
    )
    f = parse_rss((body + footer).encode("utf-8"))
    full = feed(CS_LG)
    assert [i.meta.id for i in f.items] == [i.meta.id for i in full.items[:4]]
    assert f.items[0] == full.items[0]  # the repeat of good_a was dropped, the first kept
    assert f.items[2] == full.items[2]  # announce type from the description
    assert f.items[3] == full.items[3]  # id and version from the description
    assert len(f.malformed) == 3
    assert "no usable arXiv id" in f.malformed[0]
    assert "bad announce type" in f.malformed[1]
    assert "no title" in f.malformed[2]
    assert f.listing_date == date(2026, 8, 21)


def test_feed_without_pubdate_falls_back_to_item_dates() -> None:
    raw = rss_bytes("rss-cs.AI-2025-01-06-mon.xml").decode("utf-8")
    raw = re.sub(r"<pubDate>[^<]*</pubDate>", "", raw, count=1)  # the channel's own
    f = parse_rss(raw.encode("utf-8"))
    assert f.listing_date == date(2025, 1, 6)
    empty = re.sub(r"<pubDate>[^<]*</pubDate>", "", rss_bytes(LEGACY_EMPTY).decode())
    assert parse_rss(empty.encode()).listing_date == date(2023, 7, 5)  # dc:date untouched


# --- API (Atom) --------------------------------------------------------------------------------


def test_api_old_style_id_with_affiliations() -> None:
    r = api("api-2026-idlist-oldstyle-astro-ph_0601001.wrapped.json")
    assert r.total == 1
    assert r.malformed == ()
    (m,) = r.entries
    assert (m.id, m.version) == ("astro-ph/0601001", 1)
    assert m.title == (
        "Frequency of Hot Jupiters and Very Hot Jupiters from the OGLE-III Transit Surveys "
        "Toward the Galactic Bulge and Carina"
    )
    assert m.categories == ("astro-ph",)
    assert m.authors == (
        Author("Andrew Gould", ("Ohio State",)),
        Author("Susan Dorsher", ("Ohio State",)),
        Author("B. Scott Gaudi", ("CfA",)),
        Author("Andrzej Udalski", ("Warsaw University Observatory",)),
    )
    assert m.journal_ref == "ActaAstron.56:1-50,2006"
    assert m.comments is not None and m.comments.startswith("62 pages including 16 figures")
    assert m.doi is None
    assert m.published == datetime(2006, 1, 2, 14, 57, 58, tzinfo=UTC)
    assert m.updated == datetime(2006, 1, 2, 14, 57, 58, tzinfo=UTC)
    assert m.abstract.startswith("We derive the frequencies of hot Jupiters")
    assert "Gould & Morgan (2003)" in m.abstract and "V_max<17.5" in m.abstract


def test_api_old_style_versioned() -> None:
    r = api("api-2026-idlist-oldstyle-versioned-quant-ph_0201082v1.wrapped.json")
    (m,) = r.entries
    assert (m.id, m.version) == ("quant-ph/0201082", 1)
    assert m.categories == ("quant-ph", "cs.PL")
    assert m.authors == (Author("Stephen Blaha"),)
    assert m.comments == "32 pages"
    assert m.title.startswith("Quantum Computers and Quantum Computer Languages")
    assert m.published == datetime(2002, 1, 18, 15, 8, 5, tzinfo=UTC)


def test_api_two_ids_one_missing() -> None:
    r = api("api-2026-idlist-two-ids-one-missing.wrapped.json")
    assert r.total == 1
    (m,) = r.entries
    assert (m.id, m.version) == ("1707.08567", 1)
    assert m.categories == ("cs.IT",)
    assert len(m.authors) == 34
    assert m.authors[0] == Author("Kees A. Schouhamer Immink")
    assert Author("Dirk Wübben") in m.authors  # UTF-8 recovered from the Latin-1 recording


def test_api_no_results() -> None:
    assert api("api-2026-idlist-no-results.wrapped.json") == ApiResult(total=0, entries=())


def test_api_error_feed_raises_bad_id() -> None:
    with pytest.raises(BadId, match="incorrect id format for abc"):
        parse_api(api_bytes("api-2026-error-400-bad-id.wrapped.json"))


def test_api_search_pages() -> None:
    first = api("api-2026-search-testing-start0-max10.wrapped.json")
    second = api("api-2026-search-testing-start10-max10.wrapped.json")
    assert first.total == second.total == 214881
    assert len(first.entries) == len(second.entries) == 10
    assert not {e.id for e in first.entries} & {e.id for e in second.entries}
    assert first.entries[0].id == "2202.12139"
    assert first.entries[0].categories == ("cs.SE", "cs.LG")
    assert first.entries[0].doi == "10.1109/ICSTW55395.2022.00035"
    assert entry(first, "2405.13786").authors[0] == Author("Aurora Ramírez")
    m = entry(first, "2005.14124")
    assert m.version == 2
    assert m.published == datetime(2020, 5, 28, 16, 19, 50, tzinfo=UTC)
    assert m.updated == datetime(2020, 7, 16, 8, 15, 48, tzinfo=UTC)
    m = second.entries[0]
    assert (m.id, m.version) == ("2403.16981", 2)
    assert m.categories == ("math.ST", "cs.IT", "stat.ML")
    assert entry(second, "2202.06271").authors[0] == Author("Katharina Götz")


def test_api_legacy_idlist() -> None:
    r = api("api-legacy-2016-idlist-1111.2011v2.xml")
    assert r.total == 1
    (m,) = r.entries
    assert (m.id, m.version) == ("1111.2011", 2)
    assert m.title == (
        "Quantum Criticality for Extended Nodes on a Bethe Lattice in the Large Connectivity Limit"
    )
    assert m.abstract.startswith("Theoretical description of anisotropic systems, such as layered")
    assert "\n" not in m.abstract and "  " not in m.abstract
    assert m.categories == ("cond-mat.str-el", "cond-mat.stat-mech")
    assert m.doi == "10.1103/PhysRevB.85.115117"
    assert m.journal_ref == "Phys. Rev. B 85, 115117 (2012)"
    assert m.comments == "8 pages, 3 figures. Published version"
    assert [a.name for a in m.authors] == [
        "James M. Murray",
        "Adrian Del Maestro",
        "Zlatko Tesanovic",
    ]
    assert m.published == datetime(2011, 11, 8, 18, 48, 36, tzinfo=UTC)
    assert m.updated == datetime(2012, 4, 2, 12, 38, 54, tzinfo=UTC)


def test_api_legacy_search_decodes_tex() -> None:
    r = api("api-legacy-2016-search-au_del_maestro-texaccent.xml")
    assert r.total == 31
    assert len(r.entries) == 10
    m = entry(r, "1412.6529")
    assert "the Rényi entanglement entropy" in m.abstract
    assert "\\'" not in m.abstract
    assert m.categories == ("cond-mat.quant-gas", "quant-ph")
    old = entry(r, "cond-mat/0412498")
    assert old.version == 1
    assert old.title == "Thermal melting of density waves on the square lattice"


def test_api_legacy_phrase_search() -> None:
    r = api("api-legacy-2016-search-author-and-title-phrase.xml")
    assert r.total == 2
    assert [(e.id, e.version) for e in r.entries] == [("1111.2011", 2), ("cond-mat/0607501", 2)]


def test_api_drops_acm_and_msc_terms_and_puts_primary_first() -> None:
    body = api_bytes("api-2026-idlist-oldstyle-versioned-quant-ph_0201082v1.wrapped.json")
    extra = (
        b'<category term="I.2.6" scheme="http://arxiv.org/schemas/atom"/>'
        b'<category term="68T05" scheme="http://arxiv.org/schemas/atom"/>'
        b'<category term="F.2.2; G.2.1" scheme="http://arxiv.org/schemas/atom"/>'
    )
    body = body.replace(b"<published>", extra + b"<published>", 1)
    assert parse_api(body).entries[0].categories == ("quant-ph", "cs.PL")
    swapped = body.replace(
        b'<arxiv:primary_category term="quant-ph"', b'<arxiv:primary_category term="cs.PL"'
    )
    assert swapped != body
    assert parse_api(swapped).entries[0].categories == ("cs.PL", "quant-ph")


def test_api_malformed_entry_is_reported_not_fatal() -> None:
    body = api_bytes("api-2026-search-testing-start0-max10.wrapped.json")
    broken = body.replace(b"<id>http://arxiv.org/abs/2202.12139v1</id>", b"<id>urn:nothing</id>", 1)
    assert broken != body
    r = parse_api(broken)
    assert len(r.entries) == 9
    assert len(r.malformed) == 1 and "urn:nothing" in r.malformed[0]
    assert r.total == 214881


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(HTML_PAGE, id="html"),
        pytest.param(XHTML, id="xhtml"),
        pytest.param(b"Rate exceeded.", id="rate-exceeded"),
        pytest.param(b'{"error": 1}', id="json"),
        pytest.param(rss_bytes(CS_LG), id="rss-not-atom"),
        pytest.param(
            api_bytes("api-legacy-2016-search-au_del_maestro-texaccent.xml")[:9000], id="truncated"
        ),
        pytest.param(
            api_bytes("api-legacy-2016-idlist-1111.2011v2.xml").replace(b"Quantum", b"\xff\xfe", 1),
            id="invalid-utf8",
        ),
        pytest.param(BILLION_LAUGHS, id="billion-laughs"),
    ],
)
def test_parse_api_rejects_non_atom(body: bytes) -> None:
    with pytest.raises(ParseError):
        parse_api(body)
