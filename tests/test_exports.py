"""RIS and CSL-JSON of papers (web.ris, web.csl: pure functions, checked against expected text
for real papers of the bundled arXiv API answers) and GET /api/export through the real app on
SQLite and Postgres."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import ingest
from coolpapers.config import Settings
from coolpapers.records import PaperMeta
from coolpapers.sources.arxiv import parse_api
from coolpapers.web import csl, ris
from coolpapers.web.csl import Name, split_name
from coolpapers.web.stars import MAX_BIBTEX_IDS
from tests.conftest import API, RSS, Stock

ABS = "https://arxiv.org/abs/"


@dataclass(frozen=True)
class Row:
    """A paper as the pages see one (store.PaperView)."""

    id: str
    title: str
    authors: list[Any]
    version: int = 1
    abstract: str = ""
    categories: list[Any] = field(default_factory=list)
    primary_category: str = ""
    doi: str | None = None
    journal_ref: str | None = None
    comments: str | None = None
    license: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    first_announced: date | None = None
    pdf_clicks: int = 0
    faq_clicks: int = 0
    keywords: list[Any] | None = None


def api_paper(name: str, paper_id: str) -> Row:
    """A paper of a recorded arXiv API answer, as the store would show it."""
    raw = (API / name).read_bytes()
    if name.endswith(".wrapped.json"):  # the recorder decoded UTF-8 as Latin-1
        raw = json.loads(raw)["body"].encode("latin-1")
    [meta] = [m for m in parse_api(raw).entries if m.id == paper_id]
    return as_row(meta)


def as_row(meta: PaperMeta) -> Row:
    return Row(
        id=meta.id,
        version=meta.version,
        title=meta.title,
        abstract=meta.abstract,
        authors=[{"name": a.name} for a in meta.authors],
        categories=list(meta.categories),
        primary_category=meta.primary_category,
        doi=meta.doi,
        journal_ref=meta.journal_ref,
        published=meta.published,
        updated=meta.updated,
    )


def abs_url(paper_id: str) -> str:
    return ABS + paper_id


OLD_STYLE = "api-2026-idlist-oldstyle-astro-ph_0601001.wrapped.json"
LEGACY = "api-legacy-2016-idlist-1111.2011v2.xml"
WORKSHOP = "api-2026-idlist-two-ids-one-missing.wrapped.json"


# ----------------------------------------------------------------------------- names


def test_names_split_as_bibtex_reads_them() -> None:
    cases = {
        "Andrew Gould": Name(family="Gould", given="Andrew"),
        "B. Scott Gaudi": Name(family="Gaudi", given="B. Scott"),
        "Ana Beatriz Hernández-Lara": Name(family="Hernández-Lara", given="Ana Beatriz"),
        # lower-case particles belong to the family name (BibTeX's "von" part)
        "Peter H. N. de With": Name(family="de With", given="Peter H. N."),
        "Joost van der Putten": Name(family="van der Putten", given="Joost"),
        "danah boyd": Name(family="boyd", given="danah"),
        "Martin Luther King Jr.": Name(family="King", given="Martin Luther", suffix="Jr."),
        "Smith, John": Name(family="Smith", given="John"),
        # kept whole: groups, single words, scripts without spaces
        "The ATLAS and CMS Collaborations": Name(literal="The ATLAS and CMS Collaborations"),
        "LIGO Scientific Collaboration": Name(literal="LIGO Scientific Collaboration"),
        "Google DeepMind Team": Name(literal="Google DeepMind Team"),
        "Prabhat": Name(literal="Prabhat"),
        "王小明": Name(literal="王小明"),
        "  Ada \n Lovelace\x07 ": Name(family="Lovelace", given="Ada"),
    }
    for raw, expected in cases.items():
        assert split_name(raw) == expected, raw
    assert Name(family="de With", given="Peter").csl() == {"family": "de With", "given": "Peter"}
    assert Name(literal="Prabhat").csl() == {"literal": "Prabhat"}


# ----------------------------------------------------------------------------- RIS


def test_ris_of_an_old_style_paper() -> None:
    paper = api_paper(OLD_STYLE, "astro-ph/0601001")
    text = ris.record(paper, abs_url=abs_url(paper.id))
    assert text == (
        "TY  - GEN\r\n"
        "TI  - Frequency of Hot Jupiters and Very Hot Jupiters from the OGLE-III Transit"
        " Surveys Toward the Galactic Bulge and Carina\r\n"
        "AU  - Gould, Andrew\r\n"
        "AU  - Dorsher, Susan\r\n"
        "AU  - Gaudi, B. Scott\r\n"
        "AU  - Udalski, Andrzej\r\n"
        f"AB  - {paper.abstract}\r\n"
        "PY  - 2006\r\n"
        "DA  - 2006/01/02\r\n"
        "UR  - https://arxiv.org/abs/astro-ph/0601001\r\n"
        "DB  - arXiv\r\n"
        "AN  - astro-ph/0601001\r\n"
        "N1  - arXiv:astro-ph/0601001 [astro-ph]\r\n"
        "ER  - \r\n"
    )
    assert paper.abstract.startswith("We derive the frequencies of hot Jupiters (HJs)")
    assert "\n" not in paper.abstract  # one line as it is: the AB line is the whole abstract


def test_ris_of_papers_with_a_doi_and_particles() -> None:
    legacy = api_paper(LEGACY, "1111.2011")
    workshop = api_paper(WORKSHOP, "1707.08567")
    text = ris.document([legacy, workshop], abs_url=abs_url)
    records = text.split("\r\n\r\n")
    assert len(records) == 2
    first = records[0].split("\r\n")
    assert first[:5] == [
        "TY  - GEN",
        "TI  - Quantum Criticality for Extended Nodes on a Bethe Lattice in the Large"
        " Connectivity Limit",
        "AU  - Murray, James M.",
        # capitalised particles are given names, as BibTeX (and Zotero's arXiv import) read them
        "AU  - Maestro, Adrian Del",
        "AU  - Tesanovic, Zlatko",
    ]
    assert first[6:] == [
        "PY  - 2011",
        "DA  - 2011/11/08",
        "UR  - https://arxiv.org/abs/1111.2011",
        "DO  - 10.1103/PhysRevB.85.115117",
        "DB  - arXiv",
        "AN  - 1111.2011",
        "N1  - arXiv:1111.2011 [cond-mat.str-el]",
        "ER  - ",
    ]
    authors = [line[6:] for line in records[1].split("\r\n") if line.startswith("AU  - ")]
    assert len(authors) == 34
    assert "de With, Peter H. N." in authors and "van der Putten, Joost" in authors
    assert text.endswith("ER  - \r\n")


def test_ris_values_stay_on_their_line() -> None:
    """A title or name with a line break cannot start a record or a tag of its own."""
    hostile = Row(
        id="2608.00001",
        title="Line one\r\nER  - \r\nTY  - JOUR\nTI  - injected",
        authors=[{"name": "Eve\nAU  - Mallory"}, {"name": "  "}],
        abstract="two\n\nparagraphs",
        first_announced=date(2026, 8, 21),
    )
    lines = ris.record(hostile, abs_url=ABS).split("\r\n")
    tags = [line[:6] for line in lines if line]
    assert tags == ["TY  - ", "TI  - ", "AU  - ", "AB  - ", "PY  - ", "DA  - "] + [
        "UR  - ",
        "DB  - ",
        "AN  - ",
        "N1  - ",
        "ER  - ",
    ]
    assert lines[1] == "TI  - Line one ER - TY - JOUR TI - injected"
    assert lines[3] == "AB  - two paragraphs"
    assert "DA  - 2026/08/21" in lines  # the first announcement when the API gave no date


# ----------------------------------------------------------------------------- CSL-JSON


def test_csl_json_of_real_papers() -> None:
    old = api_paper(OLD_STYLE, "astro-ph/0601001")
    legacy = api_paper(LEGACY, "1111.2011")
    items = json.loads(csl.document([legacy, old], abs_url=abs_url))
    assert [i["id"] for i in items] == ["1111.2011", "astro-ph/0601001"]
    first = dict(items[0])
    assert first.pop("abstract").startswith("Theoretical description of anisotropic systems")
    assert first == {
        "id": "1111.2011",
        "type": "article",
        "title": "Quantum Criticality for Extended Nodes on a Bethe Lattice in the Large "
        "Connectivity Limit",
        "author": [
            {"family": "Murray", "given": "James M."},
            {"family": "Maestro", "given": "Adrian Del"},
            {"family": "Tesanovic", "given": "Zlatko"},
        ],
        "issued": {"date-parts": [[2011, 11, 8]]},
        "publisher": "arXiv",
        "number": "arXiv:1111.2011",
        "URL": "https://arxiv.org/abs/1111.2011",
        "DOI": "10.1103/PhysRevB.85.115117",
    }
    assert "DOI" not in items[1]
    assert items[1]["number"] == "arXiv:astro-ph/0601001"
    assert items[1]["issued"] == {"date-parts": [[2006, 1, 2]]}


def test_csl_json_dates_and_literal_names() -> None:
    row = Row(
        id="0704.0001",
        title="A  title\nwith $x_1$ math",
        authors=[{"name": "The ATLAS Collaboration"}, {"name": "Jane Q. Doe"}],
    )
    item = csl.item(row, abs_url=ABS + row.id)
    assert item["title"] == "A title with $x_1$ math"  # TeX as written, one line
    assert item["author"] == [
        {"literal": "The ATLAS Collaboration"},
        {"family": "Doe", "given": "Jane Q."},
    ]
    assert item["issued"] == {"date-parts": [[2007, 4]]}  # only the id's YYMM to go on
    assert "abstract" not in item
    announced = csl.item(replace(row, first_announced=date(2007, 4, 2)), abs_url=ABS)
    assert announced["issued"] == {"date-parts": [[2007, 4, 2]]}
    assert "issued" not in csl.item(replace(row, id="2613.00001"), abs_url=ABS)  # month 13


# ----------------------------------------------------------------------------- the route

LG = RSS / "rss-cs.LG-2026-08-21-fri.xml"


def _ingest_lg(factory: sessionmaker[Session], settings: Settings) -> None:
    [report] = ingest.ingest_files(factory, [LG])
    assert not report.failed


@pytest.fixture
def stocked(stock: Stock) -> sessionmaker[Session]:
    return stock("cs.LG day", _ingest_lg)


def test_export_ris(client: TestClient, stocked: object, settings: Settings) -> None:
    response = client.get("/api/export?ids=2608.19234,2608.99999,2608.19210v1&format=ris")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-research-info-systems; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="coolpapers-3-papers.ris"'
    )
    text = response.text
    records = text.split("\r\n\r\n")
    assert len(records) == 2  # the unknown id is left out
    assert records[0].split("\r\n")[:6] == [
        "TY  - GEN",
        "TI  - Triangular Fuzzy Rescaling Distance",
        "AU  - Soria, Eddy",
        "AU  - Valls, Aida",
        "AU  - Hernández-Lara, Ana Beatriz",
        records[0].split("\r\n")[5],
    ]
    assert records[0].split("\r\n")[5].startswith("AB  - ")
    assert f"UR  - {settings.arxiv_web_url}/abs/2608.19234\r\n" in records[0]
    assert "DA  - 2026/08/21\r\n" in records[0]  # the RSS has no submission date: announced
    assert "DO  - 10.1007/978-3-032-00891-6_10\r\n" in records[0]
    assert "TI  - Towards On-Board Implementation of ML-Based Helicopter" in records[1]
    assert "DO  - " not in records[1]


def test_export_csl_json_and_bibtex(client: TestClient, stocked: object) -> None:
    response = client.get("/api/export", params={"ids": "2608.19234", "format": "csl-json"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.citationstyles.csl+json"
    assert response.headers["content-disposition"] == 'attachment; filename="2608.19234.json"'
    [item] = response.json()
    assert item["id"] == "2608.19234" and item["DOI"] == "10.1007/978-3-032-00891-6_10"
    assert item["author"][2] == {"family": "Hernández-Lara", "given": "Ana Beatriz"}
    assert item["issued"] == {"date-parts": [[2026, 8, 21]]}
    # BibTeX: the very file /api/bibtex gives
    ids = "2608.19234,2608.99999"
    exported = client.get("/api/export", params={"ids": ids, "format": "bibtex"})
    assert exported.headers["content-type"] == "text/x-bibtex; charset=utf-8"
    assert exported.text == client.get("/api/bibtex", params={"ids": ids}).text
    assert "@comment{2608.99999: not known to this site" in exported.text


@pytest.mark.parametrize(
    "query",
    [
        "?ids=2608.19234",  # no format
        "?ids=2608.19234&format=",
        "?ids=2608.19234&format=endnote",
        "?ids=2608.19234&format=" + "x" * 50,
        "?format=ris",
        "?ids=,,&format=ris",
        "?ids=2608.19234,not-an-id&format=csl-json",
        "?ids=" + ",".join(f"2608.{n:05d}" for n in range(1, MAX_BIBTEX_IDS + 2)) + "&format=ris",
    ],
)
def test_export_bad_input_is_a_400(client: TestClient, query: str) -> None:
    response = client.get("/api/export" + query)
    assert response.status_code == 400, response.text
    assert response.json()["error"]
