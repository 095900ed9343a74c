"""web.urls: the links it builds, absolute links at the site's public address, and no page or
handler building a path of its own."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from coolpapers.config import Settings, load_settings
from coolpapers.errors import ConfigError
from coolpapers.web import create_app, urls
from tests.test_web import stocked  # noqa: F401 - the fixture

ROOT = Path(__file__).resolve().parent.parent
ATOM = "{http://www.w3.org/2005/Atom}"


def test_builders() -> None:
    assert urls.paper("hep-th/9901001") == "/arxiv/hep-th/9901001"
    assert urls.paper("2401.00001", faq="en", fragment="faq") == "/arxiv/2401.00001?faq=en#faq"
    assert urls.papers(["2401.00001", "hep-th/9901001"]) == "/arxiv/2401.00001,hep-th/9901001"
    assert urls.day_list("cs.AI,cs.LG-cs.CY") == "/arxiv/cs.AI,cs.LG-cs.CY"
    full = urls.day_list("cs.AI", date="2025-01-06", skip=25, show=25, replace=True, sort="clicks")
    assert full == "/arxiv/cs.AI?date=2025-01-06&skip=25&show=25&replace=1&sort=clicks"
    assert urls.day_list("cs.AI", sort="arxiv") == "/arxiv/cs.AI"  # arXiv's order is the default
    # the cards alone (lazy loading); preference keywords keep their commas
    assert urls.day_list("cs.AI", fragment=True) == "/arxiv/cs.AI?fragment=1"
    assert urls.day_list("cs.AI", skip=25, sort="a b,c", fragment=True) == (
        "/arxiv/cs.AI?skip=25&sort=a%20b,c&fragment=1"
    )
    assert urls.papers(["2401.00001", "2401.00002"], skip=25, show=25, fragment=True) == (
        "/arxiv/2401.00001,2401.00002?skip=25&show=25&fragment=1"
    )
    assert urls.search("x", sort="relevance", skip=25, fragment=True) == (
        "/arxiv/search?query=x&skip=25&fragment=1"
    )
    assert urls.day_feed("cs.AI+cs.LG") == "/arxiv/cs.AI+cs.LG/feed"
    assert urls.search('"a b"&c', exclude="2401.00001") == (
        "/arxiv/search?query=%22a%20b%22%26c&exclude=2401.00001"
    )
    assert urls.search("x", highlight=False) == "/arxiv/search?query=x"
    assert urls.search_feed("a,b") == "/arxiv/search/feed?query=a,b"
    assert urls.faq_form("hep-th/9901001", "zh") == "/arxiv/hep-th/9901001/faq?lang=zh"
    assert urls.api_faq("2401.00001", "en") == "/api/papers/2401.00001/faq?lang=en"
    arxiv = urls.ArxivLinks("https://arxiv.org")
    assert arxiv.abs("2401.00001", 2) == "https://arxiv.org/abs/2401.00001v2"
    assert arxiv.pdf("hep-th/9901001") == "https://arxiv.org/pdf/hep-th/9901001"
    assert urls.doi("10.1/a b") == "https://doi.org/10.1/a%20b"


def test_convertors_register_once() -> None:
    urls.register_convertors()
    urls.register_convertors()  # idempotent: every create_app calls it


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("https://papers.example.org/cool/", "https://papers.example.org/cool"),
        ("", ""),
        ("ftp://example.org", None),
        ("example.org", None),
        ("https://example.org/?x=1", None),
        ("https://example.org/#top", None),
    ],
)
def test_base_url_setting(value: str, ok: str | None) -> None:
    if ok is None:
        with pytest.raises(ConfigError, match="COOLPAPERS_BASE_URL"):
            load_settings(base_url=value)
    else:
        assert load_settings(base_url=value).base_url == ok


def _links(client: TestClient, headers: dict[str, str]) -> tuple[list[str], str]:
    """The absolute links of the cs.LG feed, and the paper page's canonical link."""
    feed = ET.fromstring(client.get("/arxiv/cs.LG/feed", headers=headers).content)
    found = [feed.findtext(f"{ATOM}id") or ""]
    found += [link.get("href") or "" for link in feed.iter(f"{ATOM}link")]
    found += [e.findtext(f"{ATOM}id") or "" for e in feed.iter(f"{ATOM}entry")]
    page = client.get("/arxiv/2608.19234", headers=headers).text
    canonical = re.search(r'<link rel="canonical" href="([^"]+)">', page)
    assert canonical is not None
    return [x for x in found if "/pdf/" not in x], canonical[1]


def test_absolute_links_use_the_address_the_site_is_reached_at(
    client: TestClient,
    stocked: object,  # noqa: F811 - the fixture imported above
) -> None:
    links, canonical = _links(client, {"Host": "example.org"})
    assert len(links) > 100 and all(x.startswith("http://example.org/arxiv/") for x in links)
    assert "http://example.org/arxiv/cs.LG/feed" in links
    assert canonical == "http://example.org/arxiv/2608.19234"
    links, canonical = _links(client, {"Host": "papers.test:8443"})
    assert all(x.startswith("http://papers.test:8443/arxiv/") for x in links)
    assert canonical == "http://papers.test:8443/arxiv/2608.19234"


def test_base_url_setting_wins(
    settings: Settings,
    engine: Engine,
    stocked: object,  # noqa: F811 - the fixture imported above
) -> None:
    public = settings.model_copy(update={"base_url": "https://papers.example.com/cool"})
    with TestClient(create_app(public)) as client:
        links, canonical = _links(client, {"Host": "127.0.0.1:8000"})
    assert all(x.startswith("https://papers.example.com/cool/arxiv/") for x in links)
    assert canonical == "https://papers.example.com/cool/arxiv/2608.19234"


# ---------------------------------------------------------------- nothing builds paths by hand

_TEMPLATE_PATH = re.compile(r"""\b(?:href|action|src)=["']/""")
_PY_PATH = re.compile(r"""f["']/|(?<!["'])["']/(?:arxiv|api|abs|pdf|static|status|go)\b""")
# a route's or a mount's own path template, or a test of the request's path: not links
_ROUTE = re.compile(r"""^\s*@?\w+\.(?:get|post|put|delete|mount)\(|\.startswith\(""")


def test_links_come_from_urls() -> None:
    found = []
    for path in sorted((ROOT / "templates").iterdir()):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if _TEMPLATE_PATH.search(line) or "/arxiv/" in line:
                found.append(f"{path.name}:{n}: {line.strip()[:100]}")
    for path in sorted((ROOT / "coolpapers" / "web").glob("*.py")):
        if path.name == "urls.py":
            continue
        previous = ""
        for n, line in enumerate(path.read_text().splitlines(), 1):
            # a route call that the formatter split: its path is the line after `r.post(`
            route = _ROUTE.search(line) or _ROUTE.search(previous + line.strip())
            if _PY_PATH.search(line) and not route:
                found.append(f"{path.name}:{n}: {line.strip()[:100]}")
            previous = line if line.rstrip().endswith("(") else ""
    assert found == []
