"""A paper's PDF to plain text: ``pdf_to_text``, ``extract_pdf`` (with page and character caps).

pypdfium2 extracts the text page by page; deterministic repairs follow: ligatures and other
compatibility forms folded, end-of-line hyphenation and soft hyphens resolved, paragraph lines
joined, running headers / footers, page numbers and arXiv's side stamp dropped.

This runs PDFium in the calling process: a hostile PDF can take its memory and CPU. The server
reads PDFs through ``pdf_sandbox.read_pdf``, which runs ``extract_pdf`` in a limited child.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from coolpapers.errors import PaperTextError
from coolpapers.summarize.text_clean import clean_chars, clean_text

__all__ = ["MIN_PDF_LETTERS", "PdfExtract", "extract_pdf", "pdf_to_text"]

MIN_PDF_LETTERS = 200  # fewer letters in the whole PDF: no (usable) text layer

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


@dataclass(frozen=True)
class PdfExtract:
    text: str
    pages: int  # in the document
    pages_read: int
    truncated: bool  # the page or character cap stopped the reading


def _pdf_pages(
    body: bytes, max_pages: int | None = None, max_chars: int | None = None
) -> tuple[list[str], int]:
    """The text of each page as PDFium lays it out (lines separated by "\\n"), at most
    ``max_pages`` pages and no page begun past ``max_chars`` characters; and the page count."""
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
            chars = 0
            for index in range(count if max_pages is None else min(count, max_pages)):
                if max_chars is not None and chars >= max_chars:
                    break
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
                chars += len(text)
            if failed == len(pages):
                raise PaperTextError("corrupt PDF (no page could be read)")
            return pages, count
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
    """The text of a PDF, repaired for reading (all of it: see ``extract_pdf`` for the caps)."""
    return extract_pdf(body).text


def extract_pdf(
    body: bytes, *, max_pages: int | None = None, max_chars: int | None = None
) -> PdfExtract:
    """The text of a PDF, repaired for reading: the first ``max_pages`` pages, at most
    ``max_chars`` characters. Raises PaperTextError ("encrypted PDF …", "corrupt PDF …",
    "no text layer …").

    Hyphen rule, for a word split at a line break (PDFium's U+FFFE marker, or a line ending in
    "-"): the hyphen is kept when the part before it already holds a hyphen (state-of-the-|art),
    when either side is not a letter or the second part starts with a capital (GPT-|4,
    Transformer-|XL), for "self-", and when the document itself uses the hyphenated form more
    often than the joined one; otherwise the parts are joined (trans-|former → transformer).
    """
    raw_pages, count = _pdf_pages(body, max_pages, max_chars)
    pages = [
        [line.strip() for line in clean_chars(page, keep_hyphen_marks=True).split("\n")]
        for page in raw_pages
    ]
    kept = _drop_page_furniture([[line for line in page if line] for page in pages])
    lines = [line for page in kept for line in page]
    all_text = "\n".join(lines)
    if sum(1 for char in all_text if char.isalpha()) < MIN_PDF_LETTERS:
        raise PaperTextError("no text layer in the PDF (a scan?)")
    vocab = Counter(word.lower() for word in _VOCAB_RE.findall(all_text.replace(_HYPHEN_MARK, " ")))
    text = _join_lines(lines, vocab)
    text = clean_text(_repair_marks(text, vocab))
    truncated = len(raw_pages) < count
    if max_chars is not None and len(text) > max_chars:
        text, truncated = text[:max_chars], True
    return PdfExtract(text=text, pages=count, pages_read=len(raw_pages), truncated=truncated)
