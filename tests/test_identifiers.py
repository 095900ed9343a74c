from __future__ import annotations

import pytest

from coolpapers.errors import BadId
from coolpapers.identifiers import ArxivId, canonical_str, looks_like_id, parse_id


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2401.00001", ArxivId("2401.00001", None)),
        ("2401.00001v2", ArxivId("2401.00001", 2)),
        ("  2401.00001v12\n", ArxivId("2401.00001", 12)),
        ("0704.0001", ArxivId("0704.0001", None)),
        ("1412.9999v1", ArxivId("1412.9999", 1)),
        ("1501.00001", ArxivId("1501.00001", None)),
        ("arXiv:2608.19234v1", ArxivId("2608.19234", 1)),
        ("ARXIV:2608.19234", ArxivId("2608.19234", None)),
        ("arxiv:2608.19234", ArxivId("2608.19234", None)),
        ("https://arxiv.org/abs/2608.19234", ArxivId("2608.19234", None)),
        ("http://arxiv.org/abs/2608.19234v3", ArxivId("2608.19234", 3)),
        ("https://export.arxiv.org/abs/2608.19234v3", ArxivId("2608.19234", 3)),
        ("https://arxiv.org/pdf/2608.19234v1.pdf", ArxivId("2608.19234", 1)),
        ("https://arxiv.org/pdf/2608.19234", ArxivId("2608.19234", None)),
        ("/pdf/2608.19234v2.pdf", ArxivId("2608.19234", 2)),
        ("/abs/2608.19234", ArxivId("2608.19234", None)),
        ("arxiv.org/abs/2608.19234", ArxivId("2608.19234", None)),
        ("https://arxiv.org/html/2608.19234v2", ArxivId("2608.19234", 2)),
        ("https://arxiv.org/abs/2608.19234v1?context=cs", ArxivId("2608.19234", 1)),
        # papers.cool leniency: the sequence number is re-padded for its yymm.
        ("1406.02661", ArxivId("1406.2661", None)),
        ("1406.02661v1", ArxivId("1406.2661", 1)),
        ("2401.6769", ArxivId("2401.06769", None)),
        ("2401.6769v3", ArxivId("2401.06769", 3)),
        ("0808.05394", ArxivId("0808.5394", None)),
        # old style
        ("hep-th/9901001", ArxivId("hep-th/9901001", None)),
        ("hep-th/9901001v2", ArxivId("hep-th/9901001", 2)),
        ("math.CA/0611800v2", ArxivId("math/0611800", 2)),
        ("math.GT/0309136", ArxivId("math/0309136", None)),
        ("cond-mat/0207270v1", ArxivId("cond-mat/0207270", 1)),
        ("astro-ph/0601001", ArxivId("astro-ph/0601001", None)),
        ("arXiv:quant-ph/0201082v1", ArxivId("quant-ph/0201082", 1)),
        ("https://arxiv.org/abs/astro-ph/0601001v1", ArxivId("astro-ph/0601001", 1)),
        ("https://arxiv.org/pdf/hep-th/9901001v1.pdf", ArxivId("hep-th/9901001", 1)),
        ("HEP-TH/9901001", ArxivId("hep-th/9901001", None)),
        ("hepth/9901001", ArxivId("hep-th/9901001", None)),
        ("hep-th/9108001", ArxivId("hep-th/9108001", None)),
        ("math/0703001", ArxivId("math/0703001", None)),
    ],
)
def test_parse_id_accepts(text: str, expected: ArxivId) -> None:
    assert parse_id(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "abc",
        "cs.AI",
        "2401",
        "2401.",
        "2413.00001",  # month 13
        "2400.00001",  # month 00
        "0000.0000",
        "0612.0001",  # new style before April 2007
        "2401.00000",  # number 0
        "2401.123456",  # too many digits
        "1406.12345",  # 5-digit number before 2015 does not fit
        "2401.00001v0",
        "2401.00001v",
        "2401.00001v1v2",
        "2401.00001\x00",
        "2401.\x0700001",
        "../2401.00001",
        "2401..00001",
        "hep-th/990100",  # old style needs 3-digit number
        "hep-th/9901000",  # number 0
        "hep-th/9913001",  # month 13
        "hep-th/0801001",  # old style after March 2007
        "hep-th/9001001",  # before August 1991
        "foo/9901001",  # unknown archive
        "https://example.org/abs/2401.00001",
        "2401.00001.ps",
        "x" * 1000,
    ],
)
def test_parse_id_rejects(text: str) -> None:
    with pytest.raises(BadId):
        parse_id(text)


def test_bad_id_message_is_clear() -> None:
    with pytest.raises(BadId, match="1406.12345"):
        parse_id("1406.12345")
    with pytest.raises(BadId, match="month"):
        parse_id("2413.00001")
    with pytest.raises(BadId, match="control"):
        parse_id("2401.00001\x00")


def test_canonical_str() -> None:
    assert canonical_str(ArxivId("2401.00001", None)) == "2401.00001"
    assert canonical_str(ArxivId("2401.00001", 3)) == "2401.00001v3"
    assert canonical_str(parse_id("math.CA/0611800v2")) == "math/0611800v2"
    assert canonical_str(parse_id("1406.02661")) == "1406.2661"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2401.00001", True),
        ("2401.00001v2", True),
        ("2413.00001", True),  # shape only: parse_id decides validity
        ("arXiv:2401.00001", True),
        ("https://arxiv.org/abs/2401.00001", True),
        ("hep-th/9901001", True),
        ("math.CA/0611800v2", True),
        ("cs.AI", False),
        ("cs", False),
        ("hep-th", False),
        ("cs.AI+cs.LG", False),
        ("math.CA", False),
        ("-cs.CV", False),
        ("", False),
        ("hello world", False),
    ],
)
def test_looks_like_id(text: str, expected: bool) -> None:
    assert looks_like_id(text) is expected
