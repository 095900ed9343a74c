"""BibTeX of papers (web.bibtex, a pure function) and /api/bibtex, /stars through the real app on
SQLite and Postgres."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import ingest
from coolpapers.config import Settings
from coolpapers.web import bibtex
from coolpapers.web.stars import MAX_BIBTEX_IDS
from tests.conftest import RSS, Stock

ABS = "https://arxiv.org/abs/"


@dataclass(frozen=True)
class Row:
    """A paper as the pages see one (store.PaperView)."""

    id: str = "2608.19234"
    title: str = "Triangular Fuzzy Rescaling Distance"
    authors: list[Any] = field(
        default_factory=lambda: [
            {"name": "Eddy Soria"},
            {"name": "Aida Valls"},
            {"name": "Ana Beatriz Hernández-Lara"},
        ]
    )
    version: int = 1
    abstract: str = "An abstract."
    categories: list[Any] = field(default_factory=lambda: ["cs.LG"])
    primary_category: str = "cs.LG"
    doi: str | None = None
    journal_ref: str | None = None
    comments: str | None = None
    license: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    first_announced: date | None = date(2026, 8, 21)
    pdf_clicks: int = 0
    faq_clicks: int = 0
    keywords: list[Any] | None = None


def abs_url(paper_id: str) -> str:
    return ABS + paper_id


def fields(entry: str) -> dict[str, str]:
    """name -> value of an entry, read the way BibTeX reads it: a value runs to the brace
    that balances its opening one (or is a bare word)."""
    found: dict[str, str] = {}
    body = entry[entry.index(",") + 1 :]
    i = 0
    while True:
        match = re.compile(r"\s*([A-Za-z]+)=").match(body, i)
        if match is None:
            break
        name, i = match[1], match.end()
        if body[i] == "{":
            depth, start = 0, i
            for j in range(i, len(body)):
                depth += {"{": 1, "}": -1}.get(body[j], 0)
                if depth == 0:
                    break
            found[name], i = body[start + 1 : j], j + 1
        else:
            word = re.compile(r"[a-z]+").match(body, i)
            assert word is not None, body[i:]
            found[name], i = word[0], word.end()
        assert body[i] == ",", body[i:]
        i += 1
    assert body[i:].strip() == "}", body[i:]
    return found


def balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


# ----------------------------------------------------------------------------- the format


def test_an_entry_in_arxivs_style() -> None:
    paper = Row(doi="10.1007/978-3-032-00891-6_10")
    assert bibtex.entry(paper, abs_url=abs_url(paper.id)) == (
        "@misc{soria2026triangularfuzzyrescalingdistance,\n"
        "      title={Triangular Fuzzy Rescaling Distance},\n"
        "      author={Eddy Soria and Aida Valls and Ana Beatriz Hernández-Lara},\n"
        "      year={2026},\n"
        "      month=aug,\n"
        "      eprint={2608.19234},\n"
        "      archivePrefix={arXiv},\n"
        "      primaryClass={cs.LG},\n"
        "      url={https://arxiv.org/abs/2608.19234},\n"
        "      doi={10.1007/978-3-032-00891-6_10},\n"
        "}\n"
    )


def test_keys_skip_stopwords_accents_and_math() -> None:
    vaswani = Row(
        id="1706.03762",
        title="Attention Is All You Need",
        authors=[{"name": "Ashish Vaswani"}, {"name": "Noam Shazeer"}],
        published=datetime(2017, 6, 12, 17, 57, tzinfo=UTC),
    )
    assert bibtex.cite_key(vaswani) == "vaswani2017attentionneed"
    bert = replace(
        vaswani,
        title="BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding",
        authors=[{"name": "Jacob Devlin"}],
        published=datetime(2018, 10, 11, tzinfo=UTC),
    )
    assert bibtex.cite_key(bert) == "devlin2018bertpretrainingdeepbidirectional"
    accented = Row(
        title="$TCP_\\alpha$: Margin-Controlled Confidence estimation",
        authors=[{"name": "Juan M. Górriz"}, {"name": "X"}],
    )
    assert bibtex.cite_key(accented) == "gorriz2026margincontrolledconfidenceestimation"
    assert bibtex.cite_key(Row(authors=[{"name": "Ludwig Smith Jr."}])).startswith("smith2026")
    # nothing ASCII to build from: the id
    assert bibtex.cite_key(Row(title="$x$", authors=[{"name": "王小明"}])) == "arxiv2608.19234"


def test_year_and_month_from_submission_announcement_or_id() -> None:
    submitted = Row(published=datetime(2025, 12, 31, 23, 0, tzinfo=UTC))
    assert fields(bibtex.entry(submitted, abs_url=ABS))["year"] == "2025"
    assert fields(bibtex.entry(submitted, abs_url=ABS))["month"] == "dec"
    announced = fields(bibtex.entry(Row(), abs_url=ABS))
    assert (announced["year"], announced["month"]) == ("2026", "aug")
    bare = fields(bibtex.entry(Row(id="2401.00001", first_announced=None), abs_url=ABS))
    assert (bare["year"], bare["month"]) == ("2024", "jan")
    old = fields(bibtex.entry(Row(id="hep-th/9901001", first_announced=None), abs_url=ABS))
    assert (old["year"], old["month"], old["eprint"]) == ("1999", "jan", "hep-th/9901001")


def test_titles_keep_their_tex_and_escape_the_rest() -> None:
    """Real titles of the bundled feeds: math and commands stay, bare specials are escaped."""
    cases = {
        "GaLore$+$: Boosting Low-Rank Adaptation": "GaLore$+$: Boosting Low-Rank Adaptation",
        "M$^3$oralBench: A Moral Benchmark": "M$^3$oralBench: A Moral Benchmark",
        "Can't Remember Details? You Need Some R&R": "Can't Remember Details? You Need Some R\\&R",
        "TimeChat-Online: 80% Visual Tokens": "TimeChat-Online: 80\\% Visual Tokens",
        "$TCP_\\alpha$: snake_case #1": "$TCP_\\alpha$: snake\\_case \\#1",
        "Already \\& escaped, \\emph{kept}": "Already \\& escaped, \\emph{kept}",
        "A lone $ sign": "A lone \\$ sign",
        "Inline \\(O(n^2)\\) and display \\[x_1\\]": "Inline \\(O(n^2)\\) and display \\[x_1\\]",
        "Two\nlines\tand\x07 bell": "Two lines and bell",
    }
    for title, expected in cases.items():
        assert bibtex.tex_value(title) == expected, title


def test_unpaired_braces_cannot_break_the_file() -> None:
    for hostile in ("a } b", "a { b", "}{", "\\{ open", "x}, note={pwned", "ends with \\"):
        value = bibtex.tex_value(hostile)
        assert balanced(value), (hostile, value)
        assert not value.endswith("\\"), value
        entry = bibtex.entry(Row(title=hostile, authors=[{"name": hostile}]), abs_url=ABS)
        assert balanced(entry)
        assert set(fields(entry)) >= {"title", "author", "eprint"}  # nothing injected
        assert "note" not in fields(entry)
    assert bibtex.tex_value("a } b") == "a \\textbraceright{} b"
    assert bibtex.tex_value("\\{ open") == "\\textbraceleft{} open"
    assert bibtex.tex_value("{kept} } x") == "{kept} \\textbraceright{} x"


def test_authors_joined_by_and_collaborations_kept_whole() -> None:
    paper = Row(
        authors=[
            {"name": "Ada Lovelace"},
            {"name": "The ATLAS and CMS Collaborations"},
            {"name": "Smith, John"},
            {"name": "R&D Team"},
        ]
    )
    assert fields(bibtex.entry(paper, abs_url=ABS))["author"] == (
        "Ada Lovelace and {The ATLAS and CMS Collaborations} and {Smith, John} and R\\&D Team"
    )


def test_a_bibliography_keeps_order_makes_keys_unique_and_notes_unknown_ids() -> None:
    one, two = Row(id="2608.00001"), Row(id="2608.00002")
    text = bibtex.bibliography([one, "2608.99999", two], abs_url=abs_url)
    entries = re.findall(r"@(\w+)\{([^,\n]*)", text)
    assert entries == [
        ("misc", "soria2026triangularfuzzyrescalingdistance"),
        ("comment", "2608.99999: not known to this site"),
        ("misc", "soria2026triangularfuzzyrescalingdistance2"),
    ]
    assert "url={https://arxiv.org/abs/2608.00002}" in text
    assert balanced(text)


# ----------------------------------------------------------------------------- the route

LG = RSS / "rss-cs.LG-2026-08-21-fri.xml"


def _ingest_lg(factory: sessionmaker[Session], settings: Settings) -> None:
    [report] = ingest.ingest_files(factory, [LG])
    assert not report.failed


@pytest.fixture
def stocked(stock: Stock) -> sessionmaker[Session]:
    return stock("cs.LG day", _ingest_lg)


def test_bibtex_download(client: TestClient, stocked: object, settings: Settings) -> None:
    response = client.get("/api/bibtex?ids=2608.19234,2608.99999,2608.19210v1,2608.19234")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/x-bibtex; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="coolpapers-3-papers.bib"'
    )
    text = response.text
    assert re.findall(r"@(\w+)\{([^,\n]*)", text) == [
        ("misc", "soria2026triangularfuzzyrescalingdistance"),
        ("comment", "2608.99999: not known to this site"),
        ("misc", "valot2026onboardimplementationmlbasedhelicopter"),
    ]
    entries = [fields(e) for e in re.split(r"\n(?=@)", text) if e.startswith("@misc")]
    first = entries[0]
    assert first["author"] == "Eddy Soria and Aida Valls and Ana Beatriz Hernández-Lara"
    assert first["doi"] == "10.1007/978-3-032-00891-6_10"
    assert first["url"] == f"{settings.arxiv_web_url}/abs/2608.19234"
    assert (first["year"], first["month"], first["primaryClass"]) == ("2026", "aug", "cs.LG")
    assert "doi" not in entries[1]

    one = client.get("/api/bibtex", params={"ids": "2608.19234"})
    assert one.headers["content-disposition"] == 'attachment; filename="2608.19234.bib"'


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?ids=",
        "?ids=,,",
        "?ids=2608.19234,not-an-id",
        "?ids=2613.00001",
        "?ids=" + ",".join(f"2608.{n:05d}" for n in range(1, MAX_BIBTEX_IDS + 2)),
    ],
)
def test_bibtex_bad_input_is_a_400(client: TestClient, query: str) -> None:
    response = client.get("/api/bibtex" + query)
    assert response.status_code == 400, response.text
    assert response.json()["error"]


def test_bibtex_at_the_cap_is_fine(client: TestClient, stocked: object) -> None:
    ids = ["2608.19234"] + [f"2608.{n:05d}" for n in range(1, MAX_BIBTEX_IDS)]
    response = client.get("/api/bibtex", params={"ids": ",".join(ids)})
    assert response.status_code == 200
    assert response.text.count("@misc{") == 1
    assert response.text.count("@comment{") == MAX_BIBTEX_IDS - 1


def test_stars_page(client: TestClient) -> None:
    response = client.get("/stars")
    assert response.status_code == 200
    html = response.text
    assert '<body id="stars"' in html
    assert 'id="stars-filter"' in html and 'id="stars-cards"' in html
    assert '<nav id="bar"' in html and 'id="star-list"' in html
    noscript = re.search(r"<noscript>(.*?)</noscript>", html, re.DOTALL)
    assert noscript and "live in this browser" in noscript[1] and "JavaScript" in noscript[1]
