"""TeX accent and letter macros -> Unicode, for arXiv titles, abstracts and author names.

Only accent macros (``\\'e``, ``\\"{o}``, ``\\v s``, ``\\c{c}`` ...) and the letter macros of
TeX's text fonts (``\\ss``, ``\\o``, ``\\L``, ``\\aa``, ``\\i`` ...) are converted; braces that
only wrap one converted letter (``{\\"O}zt{\\"u}rk``) are dropped. Everything else is left as
written: math (``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]``), ``%`` (arXiv abstracts use
it as a plain percent sign), ``~``, escaped characters (``\\%``, ``\\$``), and any other macro
(``\\textit{...}`` keeps its name and braces; accents inside it are still converted).
"""

from __future__ import annotations

import re
import unicodedata

# What decode_tex_accents acts on: math delimiters, macros, and a brace before a macro.
_SPECIAL = re.compile(r"[$\\{]")

__all__ = ["decode_tex_accents"]

# Control-symbol accents: \'e \`e \^e \"e \~n \=a \.z
_SYMBOL_ACCENTS: dict[str, str] = {
    "'": "\u0301",  # acute
    "`": "\u0300",  # grave
    "^": "\u0302",  # circumflex
    '"': "\u0308",  # diaeresis
    "~": "\u0303",  # tilde
    "=": "\u0304",  # macron
    ".": "\u0307",  # dot above
}

# Control-word accents: \u{g} \v{s} \v s \H{o} \c{c} \k{a} \r{a} \d{s} \b{b}
_WORD_ACCENTS: dict[str, str] = {
    "u": "\u0306",  # breve
    "v": "\u030c",  # caron
    "H": "\u030b",  # double acute
    "c": "\u0327",  # cedilla
    "k": "\u0328",  # ogonek
    "r": "\u030a",  # ring above
    "d": "\u0323",  # dot below
    "b": "\u0331",  # macron below
}
# These take only a braced argument: "\d x" or "\b x" is more likely a stray regex than TeX.
_BRACED_ONLY = frozenset({"d", "b"})

_LETTERS: dict[str, str] = {
    "ss": "ß",
    "o": "ø",
    "O": "Ø",
    "l": "ł",
    "L": "Ł",
    "ae": "æ",
    "AE": "Æ",
    "oe": "œ",
    "OE": "Œ",
    "aa": "å",
    "AA": "Å",
    "i": "ı",
    "j": "ȷ",
}
# Under an accent, the dotless letters stand for the ordinary ones (\'{\i} is í).
_DOTLESS_BASE = {"i": "i", "j": "j"}

_SPACES = " \t"


def _is_ascii_letter(ch: str) -> bool:
    return ("a" <= ch <= "z") or ("A" <= ch <= "Z")


def _word_end(text: str, start: int) -> int:
    """End of the run of ASCII letters starting at ``start`` (a TeX control word name)."""
    j = start
    n = len(text)
    while j < n and _is_ascii_letter(text[j]):
        j += 1
    return j


def _skip_spaces(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i] in _SPACES:
        i += 1
    return i


def _dotless_at(text: str, i: int) -> tuple[str, int] | None:
    """``\\i`` or ``\\j`` (as a complete control word) at ``i``: (base letter, end after spaces)."""
    if text.startswith("\\", i):
        end = _word_end(text, i + 1)
        name = text[i + 1 : end]
        if name in _DOTLESS_BASE:
            if text.startswith("{}", end):
                return _DOTLESS_BASE[name], end + 2
            return _DOTLESS_BASE[name], _skip_spaces(text, end)
    return None


def _braced_base(text: str, i: int) -> tuple[str, int] | None:
    """``{e}``, ``{ e }``, ``{\\i}`` at ``i`` (which is ``{``): (base letter, end after ``}``)."""
    j = _skip_spaces(text, i + 1)
    if j >= len(text):
        return None
    dotless = _dotless_at(text, j)
    if dotless is not None:
        base, j = dotless
    elif text[j].isalpha():
        base, j = text[j], j + 1
    else:
        return None
    j = _skip_spaces(text, j)
    if j < len(text) and text[j] == "}":
        return base, j + 1
    return None


def _compose(base: str, mark: str) -> str:
    return unicodedata.normalize("NFC", base + mark)


def _convert_at(text: str, i: int) -> tuple[str, int] | None:
    """Convert the macro starting at ``text[i] == '\\'`` if it is an accent or letter macro.

    Returns (replacement, index after the macro and its argument) or None.
    """
    n = len(text)
    if i + 1 >= n:
        return None
    nxt = text[i + 1]

    mark = _SYMBOL_ACCENTS.get(nxt)
    if mark is not None:
        j = i + 2
        if j >= n:
            return None
        ch = text[j]
        if ch == "{":
            braced = _braced_base(text, j)
            return None if braced is None else (_compose(braced[0], mark), braced[1])
        if ch == "\\":
            dotless = _dotless_at(text, j)
            return None if dotless is None else (_compose(dotless[0], mark), dotless[1])
        if ch.isalpha():
            return _compose(ch, mark), j + 1
        return None

    if not _is_ascii_letter(nxt):
        return None
    end = _word_end(text, i + 1)
    name = text[i + 1 : end]

    mark = _WORD_ACCENTS.get(name)
    if mark is not None:
        if end < n and text[end] == "{":
            braced = _braced_base(text, end)
            return None if braced is None else (_compose(braced[0], mark), braced[1])
        if name in _BRACED_ONLY:
            return None
        j = _skip_spaces(text, end)
        if j == end or j >= n:  # "\v" must be followed by a space before a bare argument
            return None
        dotless = _dotless_at(text, j)
        if dotless is not None:
            return _compose(dotless[0], mark), dotless[1]
        if text[j].isalpha():
            return _compose(text[j], mark), j + 1
        return None

    letter = _LETTERS.get(name)
    if letter is not None:
        if text.startswith("{}", end):
            return letter, end + 2
        # TeX swallows the spaces after a control word: "Gro\ss e" is "Große".
        return letter, _skip_spaces(text, end)
    return None


def _find_math_end(text: str, start: int, closer: str, unclosed: dict[str, int]) -> int:
    """Index just after the closing delimiter ``closer`` at or after ``start``; -1 if none.

    Escaped characters (``\\$``) are skipped. ``unclosed`` remembers, per closer, a position
    after which there is none, so that many unclosed openers cost linear, not quadratic, time.
    """
    if start >= unclosed.get(closer, len(text) + 1):
        return -1
    n = len(text)
    j = start
    while j < n:
        if text.startswith(closer, j):
            return j + len(closer)
        if text[j] == "\\":
            j += 2
            continue
        j += 1
    unclosed[closer] = start
    return -1


def decode_tex_accents(text: str) -> str:
    """Convert TeX accent and letter macros in ``text`` to Unicode, leaving everything else."""
    if "\\" not in text:
        return text
    out: list[str] = []
    unclosed: dict[str, int] = {}
    n = len(text)
    i = 0
    while i < n:
        ch = text[i]
        if ch == "$":
            closer = "$$" if text.startswith("$$", i) else "$"
            end = _find_math_end(text, i + len(closer), closer, unclosed)
            if end < 0:
                out.append(closer)
                i += len(closer)
            else:
                out.append(text[i:end])
                i = end
            continue
        if ch == "\\":
            nxt = text[i + 1] if i + 1 < n else ""
            if nxt in ("(", "["):
                closer = "\\)" if nxt == "(" else "\\]"
                end = _find_math_end(text, i + 2, closer, unclosed)
                if end >= 0:
                    out.append(text[i:end])
                    i = end
                    continue
            converted = _convert_at(text, i)
            if converted is not None:
                out.append(converted[0])
                i = converted[1]
                continue
            # Not ours: copy the control word (or control symbol) verbatim.
            end = _word_end(text, i + 1) if _is_ascii_letter(nxt) else min(i + 2, n)
            out.append(text[i:end])
            i = end
            continue
        if ch == "{" and i + 1 < n and text[i + 1] == "\\":
            # Braces around one converted letter are dropped: {\"O}zt{\"u}rk, {\o}, {\'e}.
            converted = _convert_at(text, i + 1)
            if converted is not None and converted[1] < n and text[converted[1]] == "}":
                out.append(converted[0])
                i = converted[1] + 1
                continue
        # A run of plain text up to the next character the loop acts on, copied in one piece
        # (character by character, an abstract with math took ~0.1 ms a kilobyte).
        special = _SPECIAL.search(text, i + 1)
        stop = n if special is None else special.start()
        out.append(text[i:stop])
        i = stop
    return "".join(out)
