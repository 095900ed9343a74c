"""The paper's text for the FAQ: arXiv's HTML rendering when it is usable, else the PDF.

* ``html_to_text``: LaTeXML HTML (``article.ltx_document``) to plain text. Math comes from the
  ``alttext`` of ``<math>`` as ``$…$`` (``$$…$$`` for display math), headings stand on their own
  lines as Markdown headings, page chrome (nav, header, footer, TOC, arXiv's banners, scripts,
  styles, SVG) and the author block (names, affiliations, e-mails) are dropped; footnotes stay
  inline as "(footnote: …)", tables as "a | b" rows, LaTeXML error spans go. The references
  are KEPT but compact: one line per entry, each cut to ``BIB_ENTRY_MAX_CHARS`` (the FAQ's
  "related work" question feeds on them; ``fit_to_budget`` drops them first when the paper is
  too long). ``None`` when the page is not a usable paper.
* ``pdf_to_text``: pypdfium2, page by page, then deterministic repairs (ligatures, end-of-line
  hyphenation, soft hyphens, paragraph lines joined, running headers / page numbers dropped).
* ``fit_to_budget``: keeps the beginning and the conclusion, cuts the middle with a marker.
* ``PaperTextSource``: HTML first, PDF second, at most two requests per paper through the shared
  polite ``Fetcher``; raw downloads cached on disk under names derived only from the validated
  id, with an LRU size cap.

Everything returned is cleaned of control and invisible characters (zero-width, bidi controls,
tag characters, variation selectors…), which can carry hidden instructions as easily as text.
"""

from __future__ import annotations

import bisect
import codecs
import contextlib
import itertools
import logging
import math
import os
import re
import tempfile
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal

from coolpapers.errors import BadId, BlockedAddress, FetchError, PaperTextError, RateLimited
from coolpapers.identifiers import parse_id
from coolpapers.sources.fetcher import Fetcher, FetchResult

__all__ = [
    "BIB_ENTRY_MAX_CHARS",
    "MIDDLE_MARKER",
    "MIN_HTML_CHARS",
    "PaperText",
    "PaperTextSource",
    "clean_text",
    "estimate_tokens",
    "fit_to_budget",
    "html_to_text",
    "pdf_to_text",
]

log = logging.getLogger(__name__)

MIN_HTML_CHARS = 2000  # less text than this in an HTML rendering: not a usable paper
BIB_ENTRY_MAX_CHARS = 250
MIDDLE_MARKER = "[… middle of the paper omitted …]"
REFERENCES_MARKER = "[… references and what follows them omitted …]"
END_MARKER = "[… end of the paper omitted …]"
MIN_PDF_LETTERS = 200  # fewer letters in the whole PDF: no (usable) text layer

Kind = Literal["html", "pdf"]


@dataclass(frozen=True)
class PaperText:
    text: str  # cleaned full text (before budget cutting)
    source: str  # "html" | "pdf"
    url: str  # where it came from (final URL after redirects)
    chars: int


# -- characters --------------------------------------------------------------------------------

# Compatibility characters worth folding (NFKC, per character): ligatures and other alphabetic
# presentation forms, full-width/half-width forms, mathematical alphanumerics (𝑥 → x), odd spaces.
# Full-text NFKC is not applied: it would also turn x² into x2 and ½ into 1⁄2.
_FOLD_RE = re.compile(
    "[\u00a0\u2000-\u200a\u202f\u205f\u3000\ufb00-\ufb4f\uff01-\uffef\U0001d400-\U0001d7ff]"
)
# Invisible or control characters, dropped: C0/C1 controls except \t \n, soft hyphen, Arabic
# letter mark, Mongolian vowel separator, zero-width and bidi controls, word joiner and invisible
# operators, deprecated format chars, BOM, interlinear annotations, noncharacters, replacement
# char, variation selectors, private use, tag characters.
_INVISIBLE_RE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028\u2029\u202a-\u202e"
    "\u2060-\u206f\ufeff\ufff9-\ufffb\ufffd-\uffff\ufe00-\ufe0f\ue000-\uf8ff"
    "\U000e0000-\U000e0fff\U000f0000-\U0010ffff]"
)
# The same, keeping soft hyphens and PDFium's U+FFFE hyphen marker (PDF lines are joined first).
_INVISIBLE_BUT_MARKS_RE = re.compile(
    _INVISIBLE_RE.pattern.replace("\u00ad", "").replace("\ufffd-\uffff", "\ufffd\uffff")
)
_SPACES_RE = re.compile(r"[ \t\f\v]+")
_LINE_EDGE_SPACES_RE = re.compile(r" *\n *")
_MANY_NEWLINES_RE = re.compile(r"\n{3,}")


def _fold(match: re.Match[str]) -> str:
    char = match.group(0)
    if char in "\u00a0\u202f\u205f\u3000" or "\u2000" <= char <= "\u200a":
        return " "
    return unicodedata.normalize("NFKC", char)


def _clean_chars(text: str, invisible: re.Pattern[str]) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", text)
    text = _FOLD_RE.sub(_fold, text)
    text = text.replace("\t", " ")
    return invisible.sub("", text)


def clean_text(text: str) -> str:
    """NFC, folded compatibility forms, no invisible/control characters, tidy whitespace."""
    text = _clean_chars(text, _INVISIBLE_RE)
    text = _SPACES_RE.sub(" ", text)
    text = _LINE_EDGE_SPACES_RE.sub("\n", text)
    text = _MANY_NEWLINES_RE.sub("\n\n", text)
    return text.strip()


# -- HTML (LaTeXML) ------------------------------------------------------------------------------

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


# -- PDF -------------------------------------------------------------------------------------------

# PDFium is not thread-safe: one document at a time in this process.
_PDFIUM_LOCK = threading.Lock()
_HYPHEN_MARK = "\ufffe"  # what PDFium puts where it removed an end-of-line hyphen
_PDF_HEADER_WINDOW = 1024
_PAGE_NUMBER_RE = re.compile(
    r"(?:(?:page|p\.)\s*)?(?:\d{1,4}|[ivxlc]{1,7})(?:\s*(?:of|/)\s*\d{1,4})?|[-–—]\s*\d{1,4}\s*[-–—]",
    re.IGNORECASE,
)
_ARXIV_STAMP_RE = re.compile(
    r"arXiv:\s*(?:\d{4}\.\d{4,5}|[a-z-]+(?:\.[A-Z]{2})?/\d{7})v\d+\s+\[[^\]]{1,40}\]\s+"
    r"\d{1,2}\s+[A-Z][a-z]{2}\s+\d{4}"
)
_SENTENCE_END_RE = re.compile(r"[.!?:;][\"'”’)\]]*$")
# "3 Experiments", "2.1. What is this?", "IV. RESULTS", "A.2 Proofs": one sentence at most.
_NUMBERED_HEADING_RE = re.compile(
    r"(?:\d{1,2}(?:\.\d{1,2})*\.?|[IVXLC]{1,5}\.|[A-H]\.(?:\d{1,2}\.?)?|[A-H]\d?)\s+"
    r"[A-Z](?:(?![.!?]\s)[^!])*\??"
)
_KNOWN_HEADING_RE = re.compile(
    r"(?:(?:\d+|[IVXLC]+|[A-H])\.?\s+)?(?:abstract|introduction|related work|background|"
    r"method(?:s|ology)?|experiments?|results|evaluation|discussion|conclusions?|"
    r"acknowledge?ments?|references|bibliography|appendix(?:\s+\S+)?|limitations)",
    re.IGNORECASE,
)
_BULLET_RE = re.compile(r"(?:[•◦▪▫●○■□‣⁃∗*]|\(?[a-z0-9]{1,3}\)|\d{1,2}\.\s)\s*")
_HYPHEN_WORD_RE = re.compile(r"([^\W_][\w-]*)?" + _HYPHEN_MARK + r"[ \n]*(\w*)")
_VOCAB_RE = re.compile(r"[^\W\d_](?:[\w-]*[^\W_])?")
_ALWAYS_HYPHENATED = frozenset({"self"})


def _open_pdf(body: bytes) -> Any:
    import pypdfium2 as pdfium  # type: ignore[import-untyped, unused-ignore]
    import pypdfium2.raw as pdfium_c  # type: ignore[import-untyped, unused-ignore]

    try:
        return pdfium.PdfDocument(body)
    except pdfium.PdfiumError as exc:
        code = getattr(exc, "err_code", None)
        if code == pdfium_c.FPDF_ERR_PASSWORD:
            raise PaperTextError("encrypted PDF (it needs a password)") from exc
        if code == pdfium_c.FPDF_ERR_SECURITY:
            raise PaperTextError("encrypted PDF (unsupported security handler)") from exc
        raise PaperTextError(f"corrupt PDF ({exc})") from exc


def _pdf_pages(body: bytes) -> list[str]:
    """The text of each page as PDFium lays it out (lines separated by "\\n")."""
    import pypdfium2 as pdfium  # type: ignore[import-untyped, unused-ignore]

    if b"%PDF-" not in body[:_PDF_HEADER_WINDOW]:
        raise PaperTextError("corrupt PDF (no %PDF- header)")
    with _PDFIUM_LOCK:
        document = _open_pdf(body)
        try:
            count = len(document)
            if count < 1:
                raise PaperTextError("corrupt PDF (no pages)")
            pages: list[str] = []
            failed = 0
            for index in range(count):
                try:
                    page = document[index]
                    try:
                        textpage = page.get_textpage()
                        try:
                            text = str(textpage.get_text_range())
                        finally:
                            textpage.close()
                    finally:
                        page.close()
                except pdfium.PdfiumError:
                    failed += 1
                    text = ""
                pages.append(text.replace("\r\n", "\n").replace("\r", "\n"))
            if failed == count:
                raise PaperTextError("corrupt PDF (no page could be read)")
            return pages
        finally:
            document.close()


def _line_key(line: str) -> str:
    return re.sub(r"\d+", "#", re.sub(r"\s+", " ", line)).strip().lower()


def _drop_page_furniture(pages: list[list[str]]) -> list[list[str]]:
    """Drop page numbers at the top/bottom of pages, arXiv's side stamp, and running headers and
    footers (the same line, digits aside, among the first or last two lines of 3 pages or more)."""
    edge = 2
    counts: Counter[str] = Counter()
    if len(pages) >= 3:
        for lines in pages:
            keys = {_line_key(line) for line in lines[:edge] + lines[-edge:] if line.strip()}
            counts.update(keys)
    threshold = 3
    repeated = {key for key, n in counts.items() if n >= threshold and len(key) <= 200}
    result: list[list[str]] = []
    for lines in pages:
        kept: list[str] = []
        for i, line in enumerate(lines):
            at_edge = i < edge or i >= len(lines) - edge
            stripped = line.strip()
            if at_edge and (_PAGE_NUMBER_RE.fullmatch(stripped) or _line_key(stripped) in repeated):
                continue
            if _ARXIV_STAMP_RE.fullmatch(stripped):
                continue
            kept.append(line)
        result.append(kept)
    return result


def _is_heading(line: str, typical: float) -> bool:
    """A known section name, or a short numbered title ("3 Experiments", "2.1. Why?")."""
    if len(line) > min(80.0, typical * 0.8) or line.endswith((".", ",", ";", ":")):
        return False
    return bool(_KNOWN_HEADING_RE.fullmatch(line) or _NUMBERED_HEADING_RE.fullmatch(line))


def _join_hyphenated(left: str, right: str, vocab: Counter[str]) -> str:
    """``left`` + ``right`` of a word split by a hyphen at a line break: the word, or the
    hyphenated compound when that is what the text looks like."""
    if not left or not right:
        return f"{left}-{right}"
    keep = (
        "-" in left  # state-of-the- | art
        or not left[-1].isalpha()  # x2- | y
        or not right[0].isalpha()
        or right[0].isupper()  # GPT- | Based, Transformer- | XL
        or left.lower() in _ALWAYS_HYPHENATED  # self- | attention
    )
    if not keep:
        joined, hyphenated = (left + right).lower(), f"{left}-{right}".lower()
        keep = vocab[hyphenated] > vocab[joined]
    return f"{left}-{right}" if keep else left + right


def _join_lines(lines: list[str], vocab: Counter[str]) -> str:
    """Lines (all pages, in order) to paragraphs separated by blank lines.

    A line starts a new paragraph after a short line ending a sentence, after a very short line,
    before and after a heading, and at a bullet. PDFium already joined the lines it de-hyphenated
    (U+FFFE marks the spot): only the part after the last mark is a physical line.
    """
    lengths = sorted(len(line) for line in lines if len(line) >= 20 and _HYPHEN_MARK not in line)
    typical = float(lengths[int(len(lengths) * 0.75)]) if lengths else 80.0
    paragraphs: list[str] = []
    current = ""
    previous = ""
    for raw in lines:
        line = raw.strip()
        if not line:
            if current:
                paragraphs.append(current)
            current = previous = ""
            continue
        heading = _is_heading(line, typical)
        physical = len(previous.rsplit(_HYPHEN_MARK, 1)[-1])
        new_paragraph = (
            not current
            or heading
            or _is_heading(previous, typical)
            or _BULLET_RE.match(line) is not None
            or (physical < typical * 0.85 and _SENTENCE_END_RE.search(previous) is not None)
            or (physical < typical * 0.6 and not previous.endswith(("-", "\u00ad")))
        )
        if new_paragraph:
            if current:
                paragraphs.append(current)
            current = line
        elif current.endswith("\u00ad"):
            current = current[:-1] + line
        elif re.search(r"[^\W_]-$", current) and line[:1].isalpha():
            head = re.search(r"([^\W_][\w-]*)-$", current)
            tail = re.match(r"\w+", line)
            assert head is not None and tail is not None
            word = _join_hyphenated(head.group(1), tail.group(0), vocab)
            current = current[: head.start()] + word + line[tail.end() :]
        else:
            current = f"{current} {line}"
        previous = line
    if current:
        paragraphs.append(current)
    return "\n\n".join(paragraphs)


def _repair_marks(text: str, vocab: Counter[str]) -> str:
    def replace(match: re.Match[str]) -> str:
        return _join_hyphenated(match.group(1) or "", match.group(2), vocab)

    return _HYPHEN_WORD_RE.sub(replace, text).replace(_HYPHEN_MARK, "")


def pdf_to_text(body: bytes) -> str:
    """The text of a PDF, repaired for reading. Raises PaperTextError ("encrypted PDF …",
    "corrupt PDF …", "no text layer …").

    Hyphen rule, for a word split at a line break (PDFium's U+FFFE marker, or a line ending in
    "-"): the hyphen is kept when the part before it already holds a hyphen (state-of-the-|art),
    when either side is not a letter or the second part starts with a capital (GPT-|4,
    Transformer-|XL), for "self-", and when the document itself uses the hyphenated form more
    often than the joined one; otherwise the parts are joined (trans-|former → transformer).
    """
    pages = [
        [line.strip() for line in _clean_chars(page, _INVISIBLE_BUT_MARKS_RE).split("\n")]
        for page in _pdf_pages(body)
    ]
    kept = _drop_page_furniture([[line for line in page if line] for page in pages])
    lines = [line for page in kept for line in page]
    all_text = "\n".join(lines)
    if sum(1 for char in all_text if char.isalpha()) < MIN_PDF_LETTERS:
        raise PaperTextError("no text layer in the PDF (a scan?)")
    vocab = Counter(word.lower() for word in _VOCAB_RE.findall(all_text.replace(_HYPHEN_MARK, " ")))
    text = _join_lines(lines, vocab)
    text = _repair_marks(text, vocab)
    return clean_text(text)


# -- token budget --------------------------------------------------------------------------------

# Estimate, in quarter tokens per character: ASCII 1 (≈ 4 chars a token, English prose), other
# characters 2 (accented Latin, Greek, Cyrillic, math symbols: 2 chars a token), CJK and other
# wide characters (Han, kana, Hangul, full-width forms) 4 (a token each). Deliberately a little
# pessimistic; use the provider's usage figures when they come back.
_WIDE_RE = re.compile(
    "[\u1100-\u11ff\u2e80-\u2fdf\u2ff0-\u303f\u3040-\u30ff\u3100-\u31ff\u3200-\u4dbf"
    "\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
    "\U00020000-\U0003ffff]"
)


def _cost(char: str) -> int:
    if char < "\x80":
        return 1
    return 4 if _WIDE_RE.match(char) else 2


def estimate_tokens(text: str) -> int:
    """Tokens ≈ ASCII chars / 4 + other chars / 2 + one per CJK char, rounded up."""
    ascii_chars = len(text.encode("ascii", errors="ignore"))
    other = len(text) - ascii_chars
    if not other:
        return math.ceil(ascii_chars / 4)
    wide = len(_WIDE_RE.findall(text))
    return math.ceil((ascii_chars + 2 * (other - wide) + 4 * wide) / 4)


def _prefix_end(text: str, max_tokens: int) -> int:
    """The largest i with estimate_tokens(text[:i]) <= max_tokens."""
    if max_tokens <= 0:
        return 0
    text = text[: max_tokens * 4 + 1]  # every character costs at least a quarter token
    costs = list(itertools.accumulate(_cost(char) for char in text))
    return bisect.bisect_right(costs, max_tokens * 4)


def _suffix_start(text: str, max_tokens: int) -> int:
    """The smallest i with estimate_tokens(text[i:]) <= max_tokens."""
    return len(text) - _prefix_end(text[::-1][: max(max_tokens, 0) * 4 + 1], max_tokens)


def _nice_end(text: str, end: int) -> int:
    """Move a cut back to a paragraph, line or word boundary not too far before ``end``."""
    if end >= len(text):
        return len(text)
    floor = int(end * 0.8)
    for sep in ("\n\n", "\n", " "):
        at = text.rfind(sep, floor, end)
        if at > 0:
            return at
    return end


def _nice_start(text: str, start: int) -> int:
    """Move a cut forward to the next paragraph, line or word boundary, not too far."""
    if start <= 0:
        return 0
    ceiling = start + max(200, (len(text) - start) // 5)
    for sep in ("\n\n", "\n", " "):
        at = text.find(sep, start, ceiling)
        if at >= 0:
            return at + len(sep)
    return start


_HEADING_PREFIX = r"(?:#{1,6}\s*)?(?:(?:\d+(?:\.\d+)*|[IVXLC]+|[A-H])[.)]?\s+)?"
_REFERENCES_HEADING_RE = re.compile(
    _HEADING_PREFIX + r"(?:references|bibliography|literature cited|works cited)\s*",
    re.IGNORECASE,
)
_CONCLUSION_HEADING_RE = re.compile(
    _HEADING_PREFIX
    + r"(?:conclusions?|concluding remarks|discussions?|summary|final remarks)\b[^\n.]{0,60}",
    re.IGNORECASE,
)


def _heading_lines(text: str, pattern: re.Pattern[str], after: int) -> Iterator[int]:
    """Start offsets of lines after ``after`` that are whole-line matches of ``pattern``."""
    position = 0
    for line in text.split("\n"):
        if position >= after and len(line) <= 90 and pattern.fullmatch(line.strip()):
            yield position
        position += len(line) + 1


def fit_to_budget(text: str, max_tokens: int) -> tuple[str, bool]:
    """Cut ``text`` to at most ``max_tokens`` (``estimate_tokens``); returns (text, truncated).

    Over budget: first a "References"/"Bibliography" heading after the first third of the text
    and everything after it go (appendices after the references too), replaced by a marker line;
    if still too long, the middle is cut and ``MIDDLE_MARKER`` put on a line of its own, keeping
    the beginning and, as the end, the earliest "Conclusion(s)" / "Discussion" / "Summary" /
    "Concluding remarks" heading in the second half whose section fits in 40 % of the budget
    (else the start of the last such section, cut with an end marker; without any such heading,
    the last fifth of the budget's worth of text). Cuts fall on paragraph boundaries when one
    is near. The result always satisfies ``estimate_tokens(result) <= max_tokens``.
    """
    if max_tokens < 1:
        raise ValueError("max_tokens must be >= 1")
    if estimate_tokens(text) <= max_tokens:
        return text, False
    refs = list(_heading_lines(text, _REFERENCES_HEADING_RE, len(text) // 3))
    if refs:
        shorter = text[: refs[-1]].rstrip() + "\n\n" + REFERENCES_MARKER
        if estimate_tokens(shorter) <= max_tokens:
            return shorter, True
        body, tail_marker = text[: refs[-1]].rstrip(), REFERENCES_MARKER
    else:
        body, tail_marker = text, ""
    suffix = ("\n\n" + tail_marker) if tail_marker else ""
    separator = "\n\n" + MIDDLE_MARKER + "\n\n"
    overhead = estimate_tokens(separator) + estimate_tokens(suffix) + 1
    room = max_tokens - overhead
    if room < 16:  # no room for two parts and a marker: the beginning only
        return text[: _nice_end(text, _prefix_end(text, max_tokens))].rstrip(), True
    tail_room = int(room * 0.4)
    tail = ""
    for start in _heading_lines(body, _CONCLUSION_HEADING_RE, len(body) // 2):
        if estimate_tokens(body[start:]) <= tail_room:
            tail = body[start:].strip()
            break
    else:
        last = list(_heading_lines(body, _CONCLUSION_HEADING_RE, len(body) // 2))
        if last:
            section = body[last[-1] :]
            end_marker = "\n\n" + END_MARKER
            keep = _prefix_end(section, tail_room - estimate_tokens(end_marker))
            tail = section[: _nice_end(section, keep)].strip() + end_marker
    if not tail:
        tail_room = room // 5
        tail = body[_nice_start(body, _suffix_start(body, tail_room)) :].strip()
    head_room = room - estimate_tokens(tail)
    head = body[: _nice_end(body, _prefix_end(body, head_room))].rstrip()
    result = head + separator + tail + suffix
    if estimate_tokens(result) > max_tokens:  # rounding at the seams; cannot happen by much
        result = result[: _prefix_end(result, max_tokens)]
    return result, True


# -- fetching and caching ------------------------------------------------------------------------

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_CACHE_NAME_RE = re.compile(
    r"(?:\d{4}\.\d{4,5}|[a-z]+(?:-[a-z]+)?_\d{7})(?:v\d{1,4})?\.(?:html|pdf)"
)
_STALE_TEMP_S = 3600.0


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _looks_like_pdf(body: bytes) -> bool:
    return body.lstrip()[:5] == b"%PDF-"


class PaperTextSource:
    """The text of arXiv papers: HTML first, PDF second, raw downloads cached on disk.

    ``get`` makes at most two requests per call (HTML, then PDF), none when the raw file is in
    the cache. Thread-safe for different papers; callers single-flight the same paper.

    Cache: ``cache_dir/<id with "/" as "_">[v<version>].<html|pdf>`` ("2401.00001v2.html",
    "hep-th_9901001v2.pdf"), written atomically; usable HTML, readable PDFs and encrypted /
    text-less PDFs (their verdict is the paper's) are kept, corrupt or unusable downloads are
    not. A cached file that turns out corrupt is deleted and fetched again. Least recently used
    files go first when the total passes ``cache_max_bytes`` (0 disables the cache). A
    versionless entry ("latest") is never refreshed while it stays in the cache: pass the
    version when it is known. ``PaperText.url`` of a cached hit is the arXiv URL it came from,
    without the redirects that may have been followed then.
    """

    def __init__(
        self, fetcher: Fetcher, web_url: str, cache_dir: Path, cache_max_bytes: int
    ) -> None:
        if cache_max_bytes < 0:
            raise ValueError("cache_max_bytes must be >= 0 (0 disables the cache)")
        self._fetcher = fetcher
        self._web_url = web_url.rstrip("/")
        self._cache_dir = Path(cache_dir)
        self._cache_max_bytes = cache_max_bytes
        self._cache_lock = threading.Lock()

    # -- public --------------------------------------------------------------------------------

    def get(self, paper_id: str, version: int | None = None) -> PaperText:
        """Text of ``paper_id`` (canonical, versionless: "2401.00001", "hep-th/9901001") at
        ``version`` (None: the latest). Raises BadId, ValueError, PaperTextError, FetchError
        (RateLimited, BlockedAddress) — an HTML fetch failure falls back to the PDF."""
        arxiv_id = self._validate(paper_id, version)
        label = arxiv_id if version is None else f"{arxiv_id}v{version}"
        kinds: tuple[Kind, ...] = ("html", "pdf")
        for kind in kinds:
            cached = self._from_cache(arxiv_id, version, kind)
            if cached is not None:
                return cached
        html_url = f"{self._web_url}/html/{label}"
        try:
            result = self._fetcher.get(html_url, accept_statuses=frozenset({200, 404}))
        except (RateLimited, BlockedAddress):
            raise
        except FetchError as exc:
            log.warning("HTML of %s not fetched (%s); trying the PDF", label, exc)
            html_reason = f"arXiv's HTML could not be fetched ({exc})"
        else:
            text, html_reason = self._usable_html(result)
            if text is not None:
                self._store(arxiv_id, version, "html", result.body)
                return PaperText(text=text, source="html", url=result.url, chars=len(text))
        return self._get_pdf(arxiv_id, version, label, html_reason)

    # -- steps ----------------------------------------------------------------------------------

    @staticmethod
    def _validate(paper_id: str, version: int | None) -> str:
        if not isinstance(paper_id, str):
            raise BadId("paper id must be a string")
        parsed = parse_id(paper_id)
        if parsed.id != paper_id or parsed.version is not None:
            raise BadId(f"not a canonical versionless arXiv id: {paper_id[:60]!r}")
        if version is not None and (
            isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= 9999
        ):
            raise ValueError(f"version must be None or an integer from 1 to 9999, not {version!r}")
        return parsed.id

    @staticmethod
    def _usable_html(result: FetchResult) -> tuple[str | None, str]:
        if result.status == 404:
            return None, "arXiv has no HTML for it (HTTP 404)"
        media = _media_type(result.content_type)
        if media not in _HTML_TYPES:
            return None, f"arXiv's HTML URL served {media or 'no content type'}"
        text = html_to_text(result.body)
        if text is None:
            return None, "arXiv's HTML conversion is unusable (failed, too short or broken)"
        return text, ""

    def _get_pdf(
        self, arxiv_id: str, version: int | None, label: str, html_reason: str
    ) -> PaperText:
        url = f"{self._web_url}/pdf/{label}"
        result = self._fetcher.get(url, accept_statuses=frozenset({200, 404}))
        if result.status == 404:
            raise PaperTextError(f"no text for {label}: {html_reason}, and no PDF (HTTP 404)")
        media = _media_type(result.content_type)
        if media != "application/pdf" and not _looks_like_pdf(result.body):
            raise PaperTextError(
                f"no text for {label}: {html_reason}, and the PDF URL served "
                f"{media or 'no content type'} instead of a PDF"
            )
        try:
            text = pdf_to_text(result.body)
        except PaperTextError as exc:
            if not str(exc).startswith("corrupt"):  # encrypted, no text: that is the paper
                self._store(arxiv_id, version, "pdf", result.body)
            raise PaperTextError(
                f"no text for {label}: {html_reason}, and {_pdf_phrase(exc)}"
            ) from exc
        self._store(arxiv_id, version, "pdf", result.body)
        return PaperText(text=text, source="pdf", url=result.url, chars=len(text))

    # -- cache ------------------------------------------------------------------------------------

    def _path(self, arxiv_id: str, version: int | None, kind: Kind) -> Path:
        name = arxiv_id.replace("/", "_") + (f"v{version}" if version is not None else "")
        name = f"{name}.{kind}"
        if not _CACHE_NAME_RE.fullmatch(name):
            raise ValueError(f"refusing cache file name {name!r}")
        root = self._cache_dir.resolve()
        path = (root / name).resolve()
        if path.parent != root:
            raise ValueError(f"cache path {path} escapes {root}")
        return path

    def _from_cache(self, arxiv_id: str, version: int | None, kind: Kind) -> PaperText | None:
        if self._cache_max_bytes == 0:
            return None
        path = self._path(arxiv_id, version, kind)
        try:
            body = path.read_bytes()
        except OSError:
            return None
        with contextlib.suppress(OSError):
            os.utime(path)
        label = arxiv_id if version is None else f"{arxiv_id}v{version}"
        url = f"{self._web_url}/{kind}/{label}"
        if kind == "html":
            text = html_to_text(body)
            if text is not None:
                return PaperText(text=text, source="html", url=url, chars=len(text))
            log.warning("cached %s is unusable; deleting it and fetching again", path.name)
        else:
            try:
                text = pdf_to_text(body)
            except PaperTextError as exc:
                if not str(exc).startswith("corrupt"):
                    raise PaperTextError(f"no text for {label}: {_pdf_phrase(exc)}") from exc
                log.warning(
                    "cached %s is corrupt (%s); deleting it, fetching again", path.name, exc
                )
            else:
                return PaperText(text=text, source="pdf", url=url, chars=len(text))
        with contextlib.suppress(OSError):
            path.unlink()
        return None

    def _store(self, arxiv_id: str, version: int | None, kind: Kind, body: bytes) -> None:
        if self._cache_max_bytes == 0 or len(body) > self._cache_max_bytes:
            return
        path = self._path(arxiv_id, version, kind)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=f".{kind}")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(body)
                os.replace(temp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
            self._evict(path)
        except OSError as exc:  # a full or read-only disk costs a refetch, not the FAQ
            log.warning("could not cache %s: %s", path.name, exc)

    def _evict(self, keep: Path) -> None:
        """Delete least recently used files (oldest mtime; reads touch) until the cache fits
        ``cache_max_bytes``; ``keep`` (just written) goes last. Temp files of crashed writers
        are removed after an hour; files that are not ours are left alone and not counted."""
        with self._cache_lock:
            entries: list[tuple[float, int, Path]] = []
            now = time.time()
            with os.scandir(keep.parent) as scan:
                for entry in scan:
                    try:
                        if not entry.is_file(follow_symlinks=False):
                            continue
                        stat = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if entry.name.startswith(".tmp-"):
                        if now - stat.st_mtime > _STALE_TEMP_S:
                            with contextlib.suppress(OSError):
                                os.unlink(entry.path)
                        continue
                    if _CACHE_NAME_RE.fullmatch(entry.name):
                        entries.append((stat.st_mtime, stat.st_size, Path(entry.path)))
            total = sum(size for _, size, _ in entries)
            for _, size, path in sorted(entries, key=lambda e: e[0]):
                if total <= self._cache_max_bytes:
                    break
                if path == keep:
                    continue
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                total -= size


def _pdf_phrase(exc: PaperTextError) -> str:
    """ "encrypted PDF (…)" → "the PDF is encrypted (…)", to follow the HTML's reason."""
    message = str(exc)
    for prefix, phrase in (
        ("encrypted PDF", "the PDF is encrypted"),
        ("corrupt PDF", "the PDF is corrupt"),
        ("no text layer in the PDF", "the PDF has no text layer"),
    ):
        if message.startswith(prefix):
            return phrase + message[len(prefix) :]
    return message
