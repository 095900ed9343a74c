"""Formulas in titles, abstracts and FAQs: found with MathJax's delimiters (and pandoc's rules
for lone dollars), rendered on the server to MathML through an allowlist, their TeX shown where
they do not convert; the feed, citation meta and JSON keep the TeX as written."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import feedparser
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from bench.math_coverage import coverage, fixture_papers
from coolpapers import ingest
from coolpapers.config import Settings
from coolpapers.web import markdown
from coolpapers.web.math import (
    MATHML_ATTRIBUTES,
    MATHML_ELEMENTS,
    Formula,
    RejectedMathML,
    clean_mathml,
    rendered,
    split,
    text_html,
)
from coolpapers.web.templating import text_with_math
from tests.conftest import RSS, Stock

LG = RSS / "rss-cs.LG-2026-08-21-fri.xml"
SOH = "2608.19879"  # "A Repeated Measurements Approach to $SoH$ Battery Modelling …"
TCP = "2608.20326"  # "$TCP_\alpha$: Margin-Controlled Confidence estimation …"
DISPLAY = "2602.00511"  # "\[ h_1,\ldots,h_C:\mathcal X\to[0,1] \]" in its abstract
HTML_IN_MTEXT = {"b", "i", "em", "strong", "code"}
SAFE_TAGS = MATHML_ELEMENTS | HTML_IN_MTEXT | {"p", "a", "span", "mark"}


class Tags(HTMLParser):
    """Every start tag with its attributes, and whether each is inside a <math>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None], bool]] = []
        self.depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs), self.depth > 0))
        self.depth += tag == "math"

    def handle_endtag(self, tag: str) -> None:
        self.depth -= tag == "math"


def tags(html: str) -> Tags:
    parser = Tags()
    parser.feed(html)
    return parser


def well_formed(html: str) -> ET.Element:
    """The fragment parsed as XML: every element closed, nested and escaped."""
    return ET.fromstring(f"<p>{html}</p>")


def assert_safe(html: str) -> None:
    """Only MathML and plain formatting, only the allowlisted attributes: nothing that runs,
    links, loads or styles."""
    for tag, attrs, _ in tags(html).tags:
        assert tag in SAFE_TAGS, tag
        for name in attrs:
            assert not name.startswith("on") and name not in ("style", "href", "src"), (tag, name)
            if tag in MATHML_ELEMENTS:
                assert name in MATHML_ATTRIBUTES[tag], (tag, name)


def parts(text: str) -> list[tuple[str, str] | str]:
    return [(p.source, "block" if p.display else "inline") if isinstance(p, Formula) else p
            for p in split(text)]  # fmt: skip


# --- finding formulas -----------------------------------------------------------------------


def test_delimiters_inline_and_display() -> None:
    assert parts(r"a $x^2$ b $$\frac12$$ c \(y\) d \[z\] e") == [
        "a ",
        ("$x^2$", "inline"),
        " b ",
        (r"$$\frac12$$", "block"),
        " c ",
        (r"\(y\)", "inline"),
        " d ",
        (r"\[z\]", "block"),
        " e",
    ]
    html = text_html(r"a $x^2$ then $$\frac12$$")
    assert html.count("<math") == 2 and html.count('<math display="block"') == 1
    assert '<math alttext="$x^2$"><msup><mi>x</mi><mn>2</mn></msup></math>' in html


@pytest.mark.parametrize(
    "text",
    [
        "It costs $5 and $10 a month.",
        "between $5-$10 per hour",
        "prices ($5, $6)",
        "a fee of $ 3 and $ 4",
        "US$ 20",
        "$$ alone",
        "one $ sign",
    ],
)
def test_stray_dollars_are_text(text: str) -> None:
    assert split(text) == [text]
    assert text_html(text) == text.replace("&", "&amp;")


def test_a_number_right_after_a_formula() -> None:
    # 2501.01496, 2608.19026, 2408.05093 of the fixture days
    for text, tex in [
        (r"Training on $\sim$0.5M events", r"\sim"),
        (r"all $\approx$250 languages", r"\approx"),
        ('infer that "9.11$>$9.9".', ">"),
    ]:
        assert [p.tex for p in split(text) if isinstance(p, Formula)] == [tex]


def test_escaped_dollars_and_backslashes() -> None:
    assert split(r"costs \$5, not $x$") == ["costs $5, not ", Formula("$x$", "x", False)]
    assert split(r"$a \$ b$") == [Formula(r"$a \$ b$", r"a \$ b", False)]
    assert split(r"\\(not math\\)") == [r"\\(not math\\)"]
    assert split("$a\n\nb$") == ["$a\n\nb$"]  # a formula never spans paragraphs


def test_a_missing_dollar_does_not_turn_the_abstract_inside_out() -> None:
    # 0704.0106 of the Kaggle snapshot: "\cal{O}(\alpha_{s}^2)$ in ... $\cal{O}(\alpha_s^2)$"
    text = (
        r"to \cal{O}(\alpha_{s}^2)$ in deep scattering. At the order $\cal{O}(\alpha_s^2)$, twist"
    )
    found = [p for p in split(text) if isinstance(p, Formula)]
    assert [f.source for f in found] == [r"$\cal{O}(\alpha_s^2)$"]
    # a space inside the delimiters is fine where the formula holds a control word
    assert [p.source for p in split(r"and $B \to D W $ (Isgur-Wise)") if isinstance(p, Formula)]


# --- rendering and the allowlist ------------------------------------------------------------


@pytest.mark.parametrize(
    "tex",
    [
        r"$\text{<script>alert(1)</script>}$",
        r"$\href{javascript:alert(1)}{x}$",
        r"$\url{javascript:alert(1)}$",
        r"$\style{color:red}{x} \class{x}{y} \unicode{x41}$",
        r"$\color{red}{x}\mathcolor{red}{y}$",
        r"$<img src=x onerror=alert(1)>$",
        r'$x" onmouseover="alert(1)$',
        r"$\begin{equation}x\label{a\"><script>}\end{equation}\eqref{a}$",
        r"$\textbf{<b onclick=alert(1)>}\textsc{x}\textrm{y}$",
        r"$\newcommand{\x}{<script>}\x$",
        r"$\begin{array}{c|l} a & b\end{array}\boxed{c}$",
        r"$\left( x $",
        "$a\x00b \\text{\x01}$",  # controls XML forbids, in the alttext and the text
    ],
)
def test_hostile_tex_is_inert_and_well_formed(tex: str) -> None:
    html = str(text_html(f"before {tex} after"))
    assert "<script" not in html
    assert_safe(html)
    well_formed(html)


def test_a_formula_that_fails_shows_its_source_escaped() -> None:
    html = str(text_html(r"see $\frac{1}{<b>$ and $\left( x$ here"))
    assert html == (
        r'see <span class="tex-source">$\frac{1}{&lt;b&gt;$</span> and '
        r'<span class="tex-source">$\left( x$</span> here'
    )
    assert "<math" not in html and "<b>" not in html
    well_formed(html)


def test_an_unknown_macro_is_shown_by_name_as_mathjax_does() -> None:
    html = rendered(r"$\projectname$ x", r"\projectname + x", False)
    assert html is not None
    assert '<merror class="tex-unknown"><mtext>\\projectname</mtext></merror>' in html


def test_the_allowlist_rejects_and_rewrites() -> None:
    with pytest.raises(RejectedMathML):
        clean_mathml("<math><mi>x</mi><script>alert(1)</script></math>", "$x$", False)
    with pytest.raises(RejectedMathML):
        clean_mathml("<math><annotation-xml><svg/></annotation-xml></math>", "$x$", False)
    with pytest.raises(RejectedMathML):
        clean_mathml("<svg><mi>x</mi></svg>", "$x$", False)
    with pytest.raises(ET.ParseError):
        clean_mathml("<math><mi>x</math>", "$x$", False)
    # where the HTML parser would not keep them inside the formula (<b> outside <mtext> ends
    # the <math>), or would not read them as MathML (<mi> in <mtext>), nested <math>
    for misplaced in [
        "<math><mrow><b>x</b></mrow></math>",
        "<math><mtext><mi>x</mi></mtext></math>",
        "<math><mi><mi>x</mi></mi></math>",
        "<math><mrow><math><mi>x</mi></math></mrow></math>",
        "<b>x</b>",
    ]:
        with pytest.raises(RejectedMathML):
            clean_mathml(misplaced, "$x$", False)
    assert clean_mathml("<math><mtext><b><i>x</i></b></mtext></math>", "$x$", False).endswith(
        "<mtext><b><i>x</i></b></mtext></math>"
    )
    out = clean_mathml(
        '<math display="inline" onload="x()"><mtd style="text-align: left;justify-items: start;'
        'color:#FF0000" id="a"><mi mathvariant="script" href="javascript:x">x</mi>'
        '<mo stretchy="false" lspace="0&quot;&gt;">(</mo><mtext><a href="#a">(1)</a></mtext>'
        "</mtd></math>",
        '$x" <b>$',
        True,
    )
    assert out == (
        '<math display="block" alttext="$x&quot; &lt;b&gt;$"><mtd class="mc-left"><mi>x</mi>'
        '<mo stretchy="false">(</mo><mtext>(1)</mtext></mtd></math>'
    )


def test_tables_keep_their_alignment_as_classes() -> None:
    html = str(text_html(r"$$\begin{aligned} a &= b \\ c &= d \end{aligned}$$"))
    assert html.count('<mtd class="mc-right mc-pr0">') == 2
    assert html.count('<mtd class="mc-left mc-pl0">') == 2
    cases = str(text_html(r"$f = \begin{cases} 1 & x > 0 \\ 0 & \text{otherwise} \end{cases}$"))
    assert "<mtable" in cases and 'class="mc-left' in cases and ' style="' not in cases


def test_common_arxiv_tex_renders() -> None:
    for tex in [
        r"\tilde{\mathcal{O}}(T^{-1/2})", r"\textit{R&R}", r"\mathbb{R}^{n\times d}",
        r"\operatorname{tr}(\mathbf{H})", r"\left( \frac{a}{b} \right)", r"x \sim \mathcal{N}",
        r"\approx 50\%", r"\{a, b\}", r"α= β", r"\mathrm{d}x", r"\boldsymbol{\theta}",
        r"\hat{y}, \bar{x}", r"\textbf{bold} \emph{em} \text{text}", r"\lvert x \rvert, \|x\|",
        r"\langle a, b \rangle", r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}",
        r"\mbox{if } x", r"V_{\rm rot}", r"{\scriptstyle 2}", r"\sqrt[3]{x}",
    ]:  # fmt: skip
        html = rendered(f"${tex}$", tex, False)
        assert html is not None and "<merror" not in html, tex
        assert_safe(html)
        well_formed(html)


def test_highlight_marks_words_outside_formulas_only() -> None:
    html = str(text_with_math(r"the loss $\mathrm{loss}_i + loss$ of the loss", ["loss"]))
    assert html.count("<mark>loss</mark>") == 2
    inside = [t for t, _, in_math in tags(html).tags if in_math]
    assert inside and "mark" not in inside
    assert_safe(html)
    well_formed(html)
    assert "<mark>" not in str(text_with_math(r"$loss$"))  # no terms, no marks


# --- pages ----------------------------------------------------------------------------------


def _ingest_lg(factory: sessionmaker[Session], settings: Settings) -> None:
    assert not any(r.failed for r in ingest.ingest_files(factory, [LG]))


@pytest.fixture
def lg_day(stock: Stock) -> sessionmaker[Session]:
    return stock("cs.LG day", _ingest_lg)


def _inner(html: str, pattern: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in re.finditer(pattern, html, re.DOTALL)}


def test_real_abstracts_and_titles_render_on_a_list_page(
    client: TestClient, lg_day: object
) -> None:
    html = client.get("/arxiv/cs.LG?show=1000&replace=1").text
    summaries = _inner(html, r'<p id="summary-([^"]+)" class="summary[^"]*">(.*?)</p>\n')
    titles = _inner(html, r'<a id="title-([^"]+)" class="title-link[^"]*" href="[^"]+">(.*?)</a>')
    assert len(summaries) == len(titles) == 200
    with_math = {pid for pid, inner in summaries.items() if "<math" in inner}
    assert len(with_math) >= 40
    assert '<math display="block" alttext="\\[ h_1,' in summaries[DISPLAY]
    assert '<math alttext="$SoH$">' in titles[SOH]
    assert titles[TCP].startswith('<math alttext="$TCP_\\alpha$"><mi>T</mi><mi>C</mi><msub>')
    for inner in [*summaries.values(), *titles.values()]:
        well_formed(inner)
        assert_safe(inner)
        assert "tex-source" not in inner
    # where a formula was, no raw TeX delimiter is left
    assert not [pid for pid in with_math if "$" in re.sub(r'alttext="[^"]*"', "", summaries[pid])]


def test_feed_meta_and_json_keep_the_tex(client: TestClient, lg_day: object) -> None:
    page = client.get(f"/arxiv/{TCP}").text
    assert '<meta name="citation_title" content="$TCP_\\alpha$: Margin-Controlled' in page
    assert "<title>Cool Papers · $TCP_\\alpha$: Margin-Controlled" in page
    feed = feedparser.parse(client.get("/arxiv/cs.LG/feed").content)
    titles = [e.title for e in feed.entries]
    assert (
        "$TCP_\\alpha$: Margin-Controlled Confidence estimation for reliable Music "
        "Information Retrieval"
        in titles
        and not [t for t in titles if "<math" in t]
    )
    papers = client.get("/api/arxiv/cs.LG", params={"show": 1000, "replace": 1}).json()["papers"]
    assert next(p for p in papers if p["id"] == TCP)["title"].startswith("$TCP_\\alpha$")
    assert not [p for p in papers if "<math" in p["title"] + p["abstract"]]


# --- FAQ Markdown ---------------------------------------------------------------------------


def test_faq_markdown_math() -> None:
    html = markdown.render(
        "**A**: the loss $\\mathcal{L} = \\sum_i x_i^2$ with *weight* $w_i$ and \\(a_b\\).\n\n"
        "$$\n\\begin{aligned}\na &= b \\\\\n- c &= d\n\\end{aligned}\n$$\n\n"
        "\\[\n\\frac{1}{2}\n\\]\n\n"
        "Code `$x$` stays code, [a link](https://example.org/$x$) stays a link, "
        "prices $5 and $10 stay prices.\n\n"
        "    $y$ in an indented code block\n"
    )
    assert html.count("<math") == 5 and html.count('<math display="block"') == 2
    assert "<em>weight</em>" in html and "<li>" not in html  # "- c" did not start a list
    assert "<code>$x$</code>" in html and 'href="https://example.org/$x$"' in html
    assert "prices $5 and $10 stay prices" in html
    assert "<pre><code>$y$ in an indented code block" in html
    assert '<mtd class="mc-right mc-pr0">' in html  # nh3 keeps the table classes


def test_hostile_faq_markdown() -> None:
    html = markdown.render(
        "<script>alert(1)</script> $\\text{<script>alert(2)</script>}$\n\n"
        "$\\href{javascript:alert(3)}{x}$ [x](javascript:alert(4)) $\\frac{1}$\n\n"
        "$$<img src=x onerror=alert(5)>$$ <math><mi onclick=alert(6)>x</mi></math>\n\n"
        '$x" onmouseover="alert(7)$ ![beacon](http://127.0.0.1:9/p.png)'
    )
    parsed = tags(html)
    assert not {"script", "img"} & {t for t, _, _ in parsed.tags}
    for tag, attrs, _ in parsed.tags:
        assert not [a for a in attrs if a.startswith("on") or a in ("style", "src")], tag
        assert not (attrs.get("href") or "").startswith("javascript"), tag
    assert '<span class="tex-source">$\\frac{1}$</span>' in html
    assert "&lt;math&gt;&lt;mi onclick=alert(6)&gt;" in html  # raw HTML stays text
    assert html.count("<math") == 4


# --- coverage on the fixture days ----------------------------------------------------------


def test_coverage_on_the_fixture_days() -> None:
    found = coverage(fixture_papers())
    assert found["formulas"] >= 500
    assert found["rendered_pct"] >= 99.0, found["failures"]
    rss = found["by_origin"]["rss"]  # the real arXiv days of the reading pages
    assert rss["formulas"] >= 250
    assert 100.0 * (rss["rendered"] - rss.get("with_unknown", 0)) / rss["formulas"] >= 99.0
