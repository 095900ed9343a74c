"""Characters of paper text that are safe to keep: what ``html_to_text`` and ``pdf_to_text``
return passes through here.

Control and invisible characters (zero-width, bidi controls, tag characters, variation
selectors…) are dropped: they can carry hidden instructions as easily as text. Compatibility
forms (ligatures, full-width letters, mathematical alphanumerics, odd spaces) are folded one
character at a time.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["clean_chars", "clean_text"]

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


def clean_chars(text: str, *, keep_hyphen_marks: bool = False) -> str:
    """NFC, folded compatibility forms, tabs as spaces, no invisible/control characters; line
    ends unified, whitespace otherwise untouched. ``keep_hyphen_marks`` keeps soft hyphens and
    PDFium's U+FFFE hyphen marker for ``pdf_to_text``, which repairs the words around them."""
    invisible = _INVISIBLE_BUT_MARKS_RE if keep_hyphen_marks else _INVISIBLE_RE
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", text)
    text = _FOLD_RE.sub(_fold, text)
    text = text.replace("\t", " ")
    return invisible.sub("", text)


def clean_text(text: str) -> str:
    """NFC, folded compatibility forms, no invisible/control characters, tidy whitespace."""
    text = clean_chars(text)
    text = _SPACES_RE.sub(" ", text)
    text = _LINE_EDGE_SPACES_RE.sub("\n", text)
    text = _MANY_NEWLINES_RE.sub("\n\n", text)
    return text.strip()
