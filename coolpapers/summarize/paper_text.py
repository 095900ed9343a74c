"""The paper's text for the FAQ: arXiv's HTML rendering when it is usable, else the PDF.

* ``PaperTextSource``: HTML first (``html_text``), PDF second (``pdf_text``, read in a child
  process within ``PdfLimits``: ``pdf_sandbox``), at most two requests per paper through the
  shared polite ``Fetcher``; raw downloads cached on disk under names derived only from the
  validated id, with an LRU size cap.
* ``fit_to_budget``: keeps the beginning and the conclusion, cuts the middle with a marker;
  ``estimate_tokens`` is the measure it cuts by.

Everything returned is cleaned of control and invisible characters (``text_clean``).
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from coolpapers.disk_cache import DiskCache
from coolpapers.errors import BadId, BlockedAddress, FetchError, PaperTextError, RateLimited
from coolpapers.http import Fetcher, FetchResult
from coolpapers.identifiers import parse_id
from coolpapers.summarize.html_text import html_to_text
from coolpapers.summarize.pdf_sandbox import PdfLimitExceeded, PdfLimits, read_pdf

__all__ = [
    "MIDDLE_MARKER",
    "PaperText",
    "PaperTextSource",
    "estimate_tokens",
    "fit_to_budget",
]

log = logging.getLogger(__name__)

MIDDLE_MARKER = "[… middle of the paper omitted …]"
REFERENCES_MARKER = "[… references and what follows them omitted …]"
END_MARKER = "[… end of the paper omitted …]"

Kind = Literal["html", "pdf"]


@dataclass(frozen=True)
class PaperText:
    text: str  # cleaned full text (before budget cutting)
    source: str  # "html" | "pdf"
    url: str  # where it came from (final URL after redirects)
    chars: int
    truncated: bool = False  # a PDF read only up to its page or character cap


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
        self,
        fetcher: Fetcher,
        web_url: str,
        cache_dir: Path,
        cache_max_bytes: int,
        *,
        pdf_limits: PdfLimits | None = None,
    ) -> None:
        if cache_max_bytes < 0:
            raise ValueError("cache_max_bytes must be >= 0 (0 disables the cache)")
        self._fetcher = fetcher
        self._pdf_limits = pdf_limits or PdfLimits()
        self._web_url = web_url.rstrip("/")
        self._cache = DiskCache(Path(cache_dir), cache_max_bytes, _CACHE_NAME_RE)

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
            text, cut = self._read_pdf(result.body)
        except PaperTextError as exc:
            if _is_verdict(exc):  # encrypted, no text: that is the paper
                self._store(arxiv_id, version, "pdf", result.body)
            raise type(exc)(f"no text for {label}: {html_reason}, and {_pdf_phrase(exc)}") from exc
        self._store(arxiv_id, version, "pdf", result.body)
        return PaperText(text=text, source="pdf", url=result.url, chars=len(text), truncated=cut)

    def _read_pdf(self, body: bytes) -> tuple[str, bool]:
        """The PDF's text, read in a limited child process; True when it was cut at a cap."""
        extract = read_pdf(body, self._pdf_limits)
        if not extract.truncated:
            return extract.text, False
        note = f"[… the PDF was read up to page {extract.pages_read} of {extract.pages} …]"
        return f"{extract.text.rstrip()}\n\n{note}", True

    # -- cache ------------------------------------------------------------------------------------

    @staticmethod
    def _name(arxiv_id: str, version: int | None, kind: Kind) -> str:
        name = arxiv_id.replace("/", "_") + (f"v{version}" if version is not None else "")
        return f"{name}.{kind}"

    def _from_cache(self, arxiv_id: str, version: int | None, kind: Kind) -> PaperText | None:
        name = self._name(arxiv_id, version, kind)
        path = self._cache.get(name)
        try:
            body = path.read_bytes() if path else None
        except OSError:
            body = None
        if path is None or body is None:
            return None
        label = arxiv_id if version is None else f"{arxiv_id}v{version}"
        url = f"{self._web_url}/{kind}/{label}"
        if kind == "html":
            text = html_to_text(body)
            if text is not None:
                return PaperText(text=text, source="html", url=url, chars=len(text))
            log.warning("cached %s is unusable; deleting it and fetching again", path.name)
        else:
            try:
                text, cut = self._read_pdf(body)
            except PaperTextError as exc:
                if _is_verdict(exc):
                    raise PaperTextError(f"no text for {label}: {_pdf_phrase(exc)}") from exc
                log.warning(
                    "cached %s is unreadable (%s); deleting it, fetching again", path.name, exc
                )
            else:
                return PaperText(text=text, source="pdf", url=url, chars=len(text), truncated=cut)
        self._cache.forget(name)
        return None

    def _store(self, arxiv_id: str, version: int | None, kind: Kind, body: bytes) -> None:
        self._cache.put(self._name(arxiv_id, version, kind), body)


def _is_verdict(exc: PaperTextError) -> bool:
    """An answer about the paper itself (encrypted, no text layer), worth caching; a corrupt
    download or a PDF over the reader's limits is not kept (nor a hostile file on disk)."""
    return not isinstance(exc, PdfLimitExceeded) and not str(exc).startswith("corrupt")


def _pdf_phrase(exc: PaperTextError) -> str:
    """ "encrypted PDF (…)" → "the PDF is encrypted (…)", to follow the HTML's reason."""
    message = str(exc)
    for prefix, phrase in (
        ("encrypted PDF", "the PDF is encrypted"),
        ("corrupt PDF", "the PDF is corrupt"),
        ("no text layer in the PDF", "the PDF has no text layer"),
        ("PDF over the reader's limits", "the PDF is over the reader's limits"),
    ):
        if message.startswith(prefix):
            return phrase + message[len(prefix) :]
    return message
