"""arXiv's HTML rendering (LaTeXML, ``article.ltx_document``) to plain text: ``html_to_text``.

Math comes from the ``alttext`` of ``<math>`` as ``$…$`` (``$$…$$`` for display math), headings
stand on their own lines as Markdown headings, page chrome (nav, header, footer, TOC, arXiv's
banners, scripts, styles, SVG) and the author block (names, affiliations, e-mails) are dropped;
footnotes stay inline as "(footnote: …)", tables as "a | b" rows, LaTeXML error spans go. The
references are KEPT but compact: one line per entry, each cut to ``BIB_ENTRY_MAX_CHARS`` (the
FAQ's "related work" question feeds on them; ``fit_to_budget`` drops them first when the paper
is too long). ``None`` when the page is not a usable paper.
"""

from __future__ import annotations

import codecs
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser

from coolpapers.summarize.text_clean import clean_text

__all__ = ["BIB_ENTRY_MAX_CHARS", "MIN_HTML_CHARS", "html_to_text"]

log = logging.getLogger(__name__)

MIN_HTML_CHARS = 2000  # less text than this in an HTML rendering: not a usable paper
BIB_ENTRY_MAX_CHARS = 250
_VOID_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
     "source", "track", "wbr"}
)  # fmt: skip
_SKIP_TAGS = frozenset(
    {"script", "style", "noscript", "template", "svg", "nav", "header", "footer", "button",
     "form", "select", "textarea", "iframe", "object", "canvas", "video", "audio", "head",
     "title", "dialog"}
)  # fmt: skip
_SKIP_CLASSES = frozenset(
    {"ltx_page_header", "ltx_page_footer", "ltx_page_navbar", "ltx_TOC", "ltx_page_logo",
     "ltx_authors", "ltx_dates", "ltx_note_mark", "ltx_tag_note", "ltx_rdf", "package-alerts",
     "ltx_role_pagebreak", "ltx_pagination", "ltx_bibblock_url_hidden"}
)  # fmt: skip
_BLOCK2_TAGS = frozenset(
    {"p", "div", "section", "article", "figure", "figcaption", "blockquote", "ul", "ol", "dl",
     "table", "pre", "main", "aside", "details", "summary", "center"}
)  # fmt: skip
_BLOCK1_TAGS = frozenset({"li", "tr", "dt", "dd", "caption"})
_EQUATION_TABLE_CLASSES = frozenset({"ltx_equation", "ltx_equationgroup", "ltx_eqn_table"})
_NOT_AVAILABLE_RE = re.compile(
    r"conversion (?:to html )?(?:has )?failed|no html for|html is not available|"
    r"not yet available in html|html (?:version|conversion) (?:is )?(?:not|un)available",
    re.IGNORECASE,
)
_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
_WORD_RE = re.compile(r"[^\W\d_]+")
# "LaTeXML error markers dominate": at least this many, and more than one per this many words.
_ERRORS_MIN = 10
_WORDS_PER_ERROR = 100


@dataclass
class _Frame:
    tag: str
    mode: str  # "outside" | "text" | "skip" | "math" | "tex" | "pre"
    on_end: Callable[[], None] | None = None
    cells: int = 0  # for <tr>: cells seen so far
    equation: bool = False  # inside a LaTeXML equation table


@dataclass
class _Capture:
    """Text collected for a heading, a bibliography entry or a math element without alttext."""

    parts: list[str] = field(default_factory=list)
    tex: list[str] = field(default_factory=list)  # <annotation encoding="application/x-tex">

    def text(self) -> str:
        return re.sub(r"\s+", " ", "".join(self.parts)).strip()


class _LatexmlParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._stack: list[_Frame] = []
        self._out: list[str] = []
        self._trailing_newlines = 2  # the start of the document counts as after a paragraph
        self._captures: list[_Capture] = []
        self._glue = False  # after a list item's bullet/number: no line break before its text
        self.found_document = False
        self.error_markers = 0
        self.outside: list[str] = []
        self._outside_chars = 0

    # -- output ------------------------------------------------------------------------------

    def _emit(self, text: str) -> None:
        if not text:
            return
        if self._captures:
            self._captures[-1].parts.append(text)
            return
        if self._trailing_newlines and not text.strip():
            return
        if self._trailing_newlines:
            text = text.lstrip()
        if text.strip():
            self._glue = False
        self._out.append(text)
        stripped = text.rstrip(" ")
        if stripped.strip("\n"):
            self._trailing_newlines = len(stripped) - len(stripped.rstrip("\n"))
        else:
            self._trailing_newlines += stripped.count("\n")

    def _newline(self, n: int) -> None:
        if self._glue:
            return
        if self._captures:
            self._captures[-1].parts.append(" ")
            return
        if self._trailing_newlines < n:
            self._out.append("\n" * (n - self._trailing_newlines))
            self._trailing_newlines = n

    def text(self) -> str:
        return "".join(self._out)

    # -- structure -----------------------------------------------------------------------------

    def _mode(self) -> str:
        return self._stack[-1].mode if self._stack else "outside"

    def _in_equation(self) -> bool:
        return bool(self._stack) and self._stack[-1].equation

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        classes = frozenset(attributes.get("class", "").split())
        mode = self._mode()
        if tag in _VOID_TAGS:
            if mode in ("text", "pre") and tag in ("br", "hr"):
                self._newline(1)
            return
        equation = self._in_equation() or (
            tag == "table" and bool(classes & _EQUATION_TABLE_CLASSES)
        )
        frame = _Frame(tag, mode, equation=equation)
        self._stack.append(frame)
        if mode == "skip":
            return
        if mode in ("math", "tex"):
            if tag == "annotation" and "tex" in attributes.get("encoding", "").lower():
                frame.mode = "tex"
            elif tag == "annotation-xml" or (tag == "annotation" and mode == "math"):
                frame.mode = "skip"
            return
        if mode == "outside":
            if tag in _SKIP_TAGS:
                frame.mode = "skip"
            elif "ltx_document" in classes and "package-alerts" not in classes:
                self.found_document = True
                frame.mode = "text"
                frame.on_end = lambda: self._newline(2)
            return
        # inside the document
        if "ltx_ERROR" in classes:
            self.error_markers += 1
            frame.mode = "skip"
            return
        if tag in _SKIP_TAGS or classes & _SKIP_CLASSES:
            frame.mode = "skip"
            return
        if tag == "math":
            self._start_math(frame, attributes)
            return
        if tag == "pre" or "ltx_verbatim" in classes or "ltx_listing" in classes:
            frame.mode = "pre"
        if re.fullmatch(r"h[1-6]", tag):
            self._start_heading(frame, tag, classes)
        elif "ltx_bibitem" in classes:
            self._start_capture(frame, self._end_bibitem)
        elif "ltx_tag_item" in classes:

            def glue() -> None:
                self._emit(" ")
                self._glue = True

            frame.on_end = glue
        elif "ltx_note_content" in classes:
            self._emit(" (footnote: ")
            frame.on_end = lambda: self._emit(") ")
        elif tag in ("td", "th"):
            self._start_cell(frame)
        elif tag in _BLOCK2_TAGS and not equation:
            self._newline(2)
            frame.on_end = lambda: self._newline(2)
        elif tag in _BLOCK1_TAGS or (tag == "table" and equation):
            self._newline(1)
            frame.on_end = lambda: self._newline(1)

    def _start_math(self, frame: _Frame, attributes: dict[str, str]) -> None:
        display = attributes.get("display", "").lower() == "block"
        alttext = re.sub(r"\s+", " ", attributes.get("alttext", "")).strip()
        if alttext:
            frame.mode = "skip"
            self._emit_math(alttext, display)
            return
        frame.mode = "math"
        capture = _Capture()
        self._captures.append(capture)

        def end() -> None:
            self._captures.remove(capture)
            tex = re.sub(r"\s+", " ", "".join(capture.tex)).strip()
            content = tex or capture.text()
            if content:
                self._emit_math(content, display)

        frame.on_end = end

    def _emit_math(self, tex: str, display: bool) -> None:
        """Inline math as $…$ (the source's own spaces around it are kept), display as $$…$$."""
        self._emit(f" $${tex}$$ " if display else f"${tex}$")

    def _start_heading(self, frame: _Frame, tag: str, classes: frozenset[str]) -> None:
        level = int(tag[1])
        if "ltx_title_document" in classes:
            level = 1
        elif "ltx_title_abstract" in classes or "ltx_title_bibliography" in classes:
            level = 2
        level = min(level, 4)

        def done(text: str) -> None:
            if text:
                self._newline(2)
                self._emit("#" * level + " " + text)
                self._newline(2)

        self._start_capture(frame, done)

    def _end_bibitem(self, text: str) -> None:
        if len(text) > BIB_ENTRY_MAX_CHARS:
            text = text[: BIB_ENTRY_MAX_CHARS - 1].rstrip() + "…"
        if text:
            self._newline(1)
            self._emit(text)
            self._newline(1)

    def _start_capture(self, frame: _Frame, done: Callable[[str], None]) -> None:
        capture = _Capture()
        self._captures.append(capture)

        def end() -> None:
            self._captures.remove(capture)
            done(capture.text())

        frame.on_end = end

    def _start_cell(self, frame: _Frame) -> None:
        row = next((f for f in reversed(self._stack[:-1]) if f.tag == "tr"), None)
        if row is not None:
            if row.cells and not frame.equation:
                self._emit(" | ")
            elif row.cells:
                self._emit(" ")
            row.cells += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID_TAGS:
            return
        for index in range(len(self._stack) - 1, -1, -1):
            if self._stack[index].tag == tag:
                break
        else:
            return  # a stray end tag
        while len(self._stack) > index:
            frame = self._stack.pop()
            if frame.on_end is not None:
                frame.on_end()

    def handle_data(self, data: str) -> None:
        mode = self._mode()
        if mode == "skip":
            return
        if mode == "outside":
            if self._outside_chars < 20_000:
                self.outside.append(data)
                self._outside_chars += len(data)
            return
        if mode == "tex":
            if self._captures:
                self._captures[-1].tex.append(data)
            return
        if mode == "math":
            if self._captures:
                self._captures[-1].parts.append(data)
            return
        if mode == "pre":
            self._emit(data)
            return
        self._emit(re.sub(r"\s+", " ", data))

    def close(self) -> None:
        super().close()
        while self._stack:
            frame = self._stack.pop()
            if frame.on_end is not None:
                frame.on_end()


def _decode_html(body: bytes) -> str:
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16")):
        if body.startswith(bom):
            return body.decode(encoding, errors="replace")
    if body.startswith(codecs.BOM_UTF16_BE):
        return body.decode("utf-16", errors="replace")
    match = _META_CHARSET_RE.search(body[:4096])
    encoding = "utf-8"
    if match:
        try:
            encoding = codecs.lookup(match.group(1).decode("ascii")).name
        except (LookupError, UnicodeDecodeError):
            encoding = "utf-8"
    return body.decode(encoding, errors="replace")


def html_to_text(body: bytes) -> str | None:
    """Plain text of an arXiv LaTeXML page, or None when it is not a usable paper.

    Not usable: no ``ltx_document`` element (an error page, "No HTML for …", "conversion
    failed"), fewer than ``MIN_HTML_CHARS`` characters of text, or LaTeXML error markers
    (``ltx_ERROR``, undefined macros) at more than one per hundred words.
    """
    parser = _LatexmlParser()
    try:
        parser.feed(_decode_html(body))
        parser.close()
    except (AssertionError, ValueError) as exc:  # html.parser on pathological input
        log.info("unparsable HTML: %s", exc)
        return None
    if not parser.found_document:
        page = " ".join(parser.outside)
        why = "says the conversion failed" if _NOT_AVAILABLE_RE.search(page) else "is no paper"
        log.info("HTML page %s (no ltx_document)", why)
        return None
    text = clean_text(parser.text())
    if len(text) < MIN_HTML_CHARS:
        log.info("HTML rendering too short (%d chars)", len(text))
        return None
    words = len(_WORD_RE.findall(text))
    if parser.error_markers >= _ERRORS_MIN and parser.error_markers * _WORDS_PER_ERROR > words:
        log.info("HTML rendering has %d LaTeXML errors in %d words", parser.error_markers, words)
        return None
    return text
