"""Formulas in untrusted text (titles, abstracts, FAQ answers) rendered on the server as MathML.

Finding them. The delimiters are MathJax's: ``$…$`` and ``\\(…\\)`` inline, ``$$…$$`` and
``\\[…\\]`` displayed. A lone ``$`` is usually math in arXiv text but sometimes money ("$5 and
$10", "$5-$10"), so ``$…$`` follows pandoc's rules, with one allowance: the opening ``$`` is not
followed by a space and the closing one is not preceded by a space (unless the formula holds a
control word: ``$B \\to D W $`` is math, ``$ and $`` between two broken formulas is not) nor
followed by a digit when the formula is a bare number ("$5-$10"; ``$\\sim$10`` is math); the
closing ``$`` is the next unescaped one, and no formula spans a blank line. ``\\$`` is an
escaped dollar, shown as ``$``. On the bundled arXiv days every dollar is paired as its author
meant, but in two abstracts that lack one, where the rules keep the rest of the abstract as
text (MathJax's plain pairing would turn it inside out) and the other formulas whole.

Rendering. ``math-core`` (a compiled converter that a Python wheel ships, no Node, no network)
writes MathML Core, the subset browsers render natively; its Unicode letters (``𝒪``, ``ℝ``)
render where ``mathvariant="script"`` would not. Its output is not trusted either: it is parsed
and written out again from an allowlist of MathML elements and attributes (anything else in it
rejects the formula), so no script, handler, link or inline style can come out of the TeX. The
few inline styles math-core writes (table cell alignment, array rules) become classes of
static/css/math.css, since the CSP forbids style attributes. A formula that does not convert
shows its source, escaped, in ``span.tex-source``.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET
from markupsafe import Markup, escape
from math_core import LatexError, LatexToMathML

from coolpapers.web.highlight import highlight

# --- finding formulas -----------------------------------------------------------------------

_SPECIAL = re.compile(r"[\\$]")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_CONTROL_WORD = re.compile(r"\\[A-Za-z]")


@dataclass(frozen=True, slots=True)
class Formula:
    """A formula as written (``source``, delimiters included) and its TeX between them."""

    source: str
    tex: str
    display: bool


_DOLLAR_OR_ESCAPE = re.compile(r"\\.|\$", re.DOTALL)
# How far a \( or \[ looks for its closer: a display formula of an FAQ is a few hundred
# characters; without a bound, text full of unclosed \( would cost its length squared.
_LONGEST = 5000


def _next_dollar(text: str, start: int, end: int) -> int:
    """Index of the next ``$`` in ``text[start:end]`` that no backslash escapes, or -1."""
    for match in _DOLLAR_OR_ESCAPE.finditer(text, start, end):
        if match.group() == "$":
            return match.start()
    return -1  # (``\$`` is a dollar sign in a formula, ``\\`` a line break)


def _bracketed(
    text: str, i: int, end: int, closer: str, display: bool
) -> tuple[Formula, int] | None:
    close = text.find(closer, i + 2, min(end, i + 2 + _LONGEST))
    if close < 0:
        return None
    tex = text[i + 2 : close]
    if not tex.strip() or _BLANK_LINE.search(tex):
        return None
    return Formula(text[i : close + 2], tex, display), close + 2


def _dollars(text: str, i: int, end: int) -> tuple[Formula, int] | None:
    if text.startswith("$$", i, end):
        close = _next_dollar(text, i + 2, end)
        if close < 0 or not text.startswith("$$", close, end):
            return None
        tex = text[i + 2 : close]
        if not tex.strip() or _BLANK_LINE.search(tex):
            return None
        return Formula(text[i : close + 2], tex, True), close + 2
    close = _next_dollar(text, i + 1, end)
    if close < 0:
        return None
    tex = text[i + 1 : close]
    if not tex.strip() or _BLANK_LINE.search(tex):
        return None
    if (tex[0].isspace() or tex[-1].isspace()) and not _CONTROL_WORD.search(tex):
        return None  # "$5 and $10", or the text between two formulas
    price = tex[0].isdigit() and not _CONTROL_WORD.search(tex)
    if price and close + 1 < end and text[close + 1].isdigit():
        return None  # "$5-$10", but "$\sim$10" and "9.11$>$9.9" are formulas
    return Formula(text[i : close + 1], tex, False), close + 1


def formula_at(text: str, i: int, end: int | None = None) -> tuple[Formula, int] | None:
    """The formula that starts at ``text[i]`` and ends before ``end`` (the text's end when
    None), and the index just after it; None when none starts there."""
    end = len(text) if end is None else min(end, len(text))
    c = text[i : i + 1]
    if c == "$":
        return _dollars(text, i, end)
    if c == "\\" and i + 1 < end:
        nxt = text[i + 1]
        if nxt == "(":
            return _bracketed(text, i, end, "\\)", False)
        if nxt == "[":
            return _bracketed(text, i, end, "\\]", True)
    return None


def split(text: str) -> list[str | Formula]:
    """``text`` as its runs of plain text (``\\$`` made ``$``) and its formulas, in order."""
    parts: list[str | Formula] = []
    run: list[str] = []
    pos = i = 0
    while (match := _SPECIAL.search(text, i)) is not None:
        j = match.start()
        found = formula_at(text, j)
        if found is not None:
            run.append(text[pos:j])
            if "".join(run):
                parts.append("".join(run))
            run = []
            parts.append(found[0])
            pos = i = found[1]
        elif text.startswith("\\$", j):
            run.append(text[pos:j] + "$")
            pos = i = j + 2
        elif text.startswith("$$", j):
            i = j + 2  # an unmatched $$ opens nothing, not even a $…$
        else:
            i = j + (2 if text[j] == "\\" else 1)  # ``\\(`` is a backslash and a parenthesis
    run.append(text[pos:])
    if tail := "".join(run):
        parts.append(tail)
    return parts


def formulas(text: str) -> Iterator[Formula]:
    """The formulas of ``text``."""
    return (p for p in split(text) if isinstance(p, Formula))


def may_hold_math(text: str) -> bool:
    """False when ``text`` certainly holds no formula (most titles and abstracts)."""
    return "$" in text or "\\(" in text or "\\[" in text


# --- converting and checking ----------------------------------------------------------------

# Macros arXiv authors use that math-core does not define (text boxes of plain LaTeX).
_MACROS = {
    "mbox": r"\text{#1}",
    "hbox": r"\text{#1}",
    "textup": r"\text{#1}",
    "textnormal": r"\text{#1}",
    "ensuremath": r"{#1}",
}

# Entities math-core writes by name; the XML parser knows only the five of XML.
_ENTITIES = {"&ApplyFunction;": "&#x2061;", "&InvisibleTimes;": "&#x2062;"}
_ENTITY_RE = re.compile("|".join(map(re.escape, _ENTITIES)))

# MathML Core's elements, each with the attributes kept from math-core (others are dropped);
# any other element rejects the formula. ``menclose`` is not Core (it renders as an mrow) but
# \boxed makes one; ``merror`` holds an unknown command's name. HTML inside <mtext> (\textbf,
# \emph, \texttt) keeps its plain formatting tags, without attributes.
_COMMON = frozenset({"mathvariant", "displaystyle", "scriptlevel"})
_MO = "stretchy fence separator form lspace rspace minsize maxsize largeop movablelimits symmetric"
_KEPT: dict[str, str] = {
    "math": "", "mrow": "", "mi": "", "mn": "", "mo": _MO, "ms": "", "mtext": "",
    "mspace": "width height depth", "msub": "", "msup": "", "msubsup": "",
    "munder": "accentunder", "mover": "accent", "munderover": "accent accentunder",
    "mfrac": "linethickness", "msqrt": "", "mroot": "", "mtable": "", "mtr": "",
    "mtd": "columnspan rowspan", "mstyle": "", "mpadded": "width height depth lspace voffset",
    "mphantom": "", "mmultiscripts": "", "mprescripts": "", "menclose": "", "merror": "",
    "semantics": "",
}  # fmt: skip
_ELEMENTS = {tag: _COMMON | frozenset(kept.split()) for tag, kept in _KEPT.items()}
_HTML_IN_TEXT = frozenset({"b", "i", "em", "strong", "code"})
_ELEMENTS.update((tag, frozenset()) for tag in _HTML_IN_TEXT)
MATHML_ELEMENTS = frozenset(_KEPT)
# What the writer puts out, for nh3's allowlist where MathML meets Markdown: the kept
# attributes, the classes of static/css/math.css, and on <math> its display and TeX source.
MATHML_ATTRIBUTES = {
    tag: _ELEMENTS[tag] | {"class"} | ({"display", "alttext"} if tag == "math" else set())
    for tag in MATHML_ELEMENTS
}
_UNWRAPPED = frozenset({"span", "a"})  # small caps, fonts, \eqref links: their text stays
# Attribute values math-core writes: keywords, numbers and lengths ("0.2777778em", "-1").
_VALUE = re.compile(r"[A-Za-z0-9.%+\- ]{0,40}")
_MATHVARIANT = frozenset({"normal"})  # the only value MathML Core renders

# Inline style declarations → classes of static/css/math.css (the CSP forbids style="").
_STYLE_CLASSES = {
    "text-align:left": "mc-left",
    "text-align:right": "mc-right",
    "padding-left:0": "mc-pl0",
    "padding-right:0": "mc-pr0",
    "padding-left:1em": "mc-pl1",
    "border-left:0.05em solid currentcolor": "mc-bl",
    "border-right:0.05em solid currentcolor": "mc-br",
    "border-top:0.05em solid currentcolor": "mc-bt",
    "border-left:0.05em dashed currentcolor": "mc-bld",
    "border-right:0.05em dashed currentcolor": "mc-brd",
    "border-top:0.05em dashed currentcolor": "mc-btd",
}
_NOTATION_CLASSES = {"box": "mc-box"}
_CLASS_CLASSES = {"math-core-unknown-cmd": "tex-unknown"}


class RejectedMathML(ValueError):
    """The converter's output holds an element outside the allowlist."""


@functools.cache
def _converter() -> LatexToMathML:
    # An unknown command (an author's own macro: \XQM, \projectname) is shown by its name in
    # an <merror>, the rest of the formula rendered, as MathJax does on arXiv and papers.cool.
    return LatexToMathML(macros=_MACROS, fancy_error=False, ignore_unknown_commands=True)


_TEXT_COMMAND = re.compile(r"\\(?:text(?:it|bf|rm|sf|tt|up|normal)?|emph|mbox|hbox)\s*\{")


def _text_ampersands(tex: str) -> str:
    """``&`` escaped inside text-mode arguments (``\textit{R&R}``): TeX would take it for an
    alignment tab and stop; MathJax shows it, and so do we."""
    out: list[str] = []
    pos = 0
    for match in _TEXT_COMMAND.finditer(tex):
        if match.start() < pos:
            continue  # inside an argument already repaired
        depth, i = 1, match.end()
        while i < len(tex) and depth:
            c = tex[i]
            if c == "\\":
                i += 2
                continue
            depth += {"{": 1, "}": -1}.get(c, 0)
            i += 1
        argument = tex[match.end() : i]
        out.append(tex[pos : match.end()])
        out.append(re.sub(r"(?<!\\)&", r"\\&", argument))
        pos = i
    out.append(tex[pos:])
    return "".join(out)


def _classes(element: Element) -> list[str]:
    found: list[str] = []
    for declaration in element.get("style", "").split(";"):
        prop, _, value = declaration.partition(":")
        key = f"{prop.strip().lower()}:{' '.join(value.split()).lower()}"
        if (name := _STYLE_CLASSES.get(key)) and name not in found:
            found.append(name)
    for name in element.get("class", "").split():
        if (ours := _CLASS_CLASSES.get(name)) and ours not in found:
            found.append(ours)
    if element.tag == "menclose" and (name := _NOTATION_CLASSES.get(element.get("notation", ""))):
        found.append(name)
    return found


# Characters XML 1.0 forbids (a NUL in the source would reach the alttext attribute).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_TOKENS = frozenset({"mi", "mn", "mo", "ms"})  # text only: no element inside


def _write(element: Element, out: list[str], where: str, extra: str = "") -> None:
    """``element`` written to ``out`` from the allowlist. ``where`` it stands decides what may:
    in "math" layout MathML elements, in "text" (inside <mtext>) plain formatting only, which
    the HTML parser reads as HTML there and nowhere else (elsewhere <b> would end the <math>)."""
    tag = element.tag
    if tag in _UNWRAPPED:
        out.append(html.escape(element.text or ""))
        for child in element:
            _write(child, out, where)
            out.append(html.escape(child.tail or ""))
        return
    allowed = _ELEMENTS.get(tag) if isinstance(tag, str) else None
    fits = {"math": tag in MATHML_ELEMENTS and tag != "math", "text": tag in _HTML_IN_TEXT}
    if allowed is None or not (fits.get(where, False) or (where == "top" and tag == "math")):
        raise RejectedMathML(f"<{tag}> in {where}")
    attrs: list[str] = []
    for name, value in element.attrib.items():
        if name not in allowed or not _VALUE.fullmatch(value):
            continue
        if name == "mathvariant" and value not in _MATHVARIANT:
            continue
        attrs.append(f' {name}="{html.escape(value)}"')
    if classes := _classes(element):
        attrs.append(f' class="{" ".join(classes)}"')
    out.append(f"<{tag}{extra}{''.join(attrs)}>")
    out.append(html.escape(element.text or ""))
    inside = "text" if tag == "mtext" or where == "text" else "token" if tag in _TOKENS else "math"
    for child in element:
        _write(child, out, inside)
        out.append(html.escape(child.tail or ""))
    out.append(f"</{tag}>")  # explicit end tags: no void-element guessing by the parser


def clean_mathml(mathml: str, source: str, display: bool) -> str:
    """``mathml`` written again from the allowlist, with ``display`` and the TeX ``source`` as
    its ``alttext`` (for copying and screen readers). RejectedMathML if it holds anything else;
    XML errors (``ParseError``) if it is not well-formed."""
    root = SafeET.fromstring(_ENTITY_RE.sub(lambda m: _ENTITIES[m.group(0)], mathml))
    root.attrib.pop("display", None)
    extra = f' alttext="{html.escape(_XML_ILLEGAL.sub("", source))}"'
    out: list[str] = []
    _write(root, out, "top", f' display="block"{extra}' if display else extra)
    return "".join(out)


def convert(tex: str, display: bool) -> str:
    """math-core's MathML for ``tex``, unchecked; LatexError if it does not convert."""
    converter = _converter()
    try:
        return converter.convert_with_local_state(tex, displaystyle=display)
    except LatexError:
        repaired = _text_ampersands(tex)
        if repaired == tex:
            raise
        return converter.convert_with_local_state(repaired, displaystyle=display)


@functools.lru_cache(maxsize=8192)  # a list page repeats formulas; conversion is per distinct one
def rendered(source: str, tex: str, display: bool) -> str | None:
    """The MathML of a formula, or None when it does not convert or is rejected."""
    try:
        return clean_mathml(convert(tex, display), source, display)
    except (LatexError, RejectedMathML, SafeET.ParseError, DefusedXmlException):
        return None


def formula_html(formula: Formula) -> str:
    """A formula as MathML, or its source escaped in ``span.tex-source``."""
    mathml = rendered(formula.source, formula.tex, formula.display)
    if mathml is not None:
        return mathml
    return f'<span class="tex-source">{html.escape(_XML_ILLEGAL.sub("", formula.source))}</span>'


def text_html(text: str, terms: Sequence[str] | None = None) -> Markup:
    """``text`` as HTML: its formulas as MathML, the rest escaped, with the query ``terms``
    marked (outside formulas only)."""
    if not may_hold_math(text):
        return highlight(text, terms) if terms else escape(text)
    out: list[str] = []
    for part in split(text):
        if isinstance(part, Formula):
            out.append(formula_html(part))
        else:
            out.append(highlight(part, terms) if terms else escape(part))
    return Markup("".join(out))
