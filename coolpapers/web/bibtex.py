"""BibTeX of papers, in arXiv's own style (its "Export BibTeX Citation"): one ``@misc`` entry a
paper, keyed ``<first author's surname><year><first title words>``, with ``eprint``,
``archivePrefix`` and ``primaryClass`` so that biblatex and natbib styles print "arXiv:<id>
[<class>]". A pure function of :class:`PaperView` (the route in ``web.stars`` reads the papers).

Titles are TeX as arXiv authors wrote them: math (``$…$``, ``\\(…\\)``) and commands are kept;
in the text around them the characters TeX would misread (``& % # _``, a lone ``$``) are
escaped. BibTeX itself only cares about braces: a value whose braces do not pair would end the
entry early or swallow the next one, so unpaired braces become ``\\textbraceleft{}`` /
``\\textbraceright{}``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

from coolpapers.store import PaperView, as_utc

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
KEY_TITLE_WORDS = 4  # arXiv's keys: devlin2019bertpretrainingdeepbidirectional
# Words a key skips, as arXiv's do ("Attention Is All You Need" -> attentionneed).
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers him his how i if in into is it its itself just
    me more most my no nor not now of off on once only or other our ours out over own same she
    should so some such than that the their theirs them then there these they this those
    through to too toward towards under until up upon very via was we were what when where
    which while who whom why will with without would you your yours""".split()  # noqa: SIM905
)

# Math kept verbatim: $$…$$, $…$, \(…\), \[…\] (a backslashed \$ is text, not a delimiter).
_MATH_RE = re.compile(r"\$\$.+?\$\$|(?<!\\)\$.+?(?<!\\)\$|\\\(.+?\\\)|\\\[.+?\\\]", re.DOTALL)
# TeX's specials in running text that a title may carry bare ("R&R", "80% fewer"); a
# backslashed one is already TeX (\&) and stays.
_TEXT_SPECIAL_RE = re.compile(r"(?<!\\)([&%#_$])")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACE_RE = re.compile(r"\s+")
_COMMAND_RE = re.compile(r"\\[A-Za-z]+|\\.")
_NAME_SUFFIXES = frozenset({"jr", "jr.", "sr", "sr.", "ii", "iii", "iv"})
_AND_RE = re.compile(r"\band\b", re.IGNORECASE)


def _plain(text: str) -> str:
    """One line: control characters gone, runs of whitespace one space."""
    return _SPACE_RE.sub(" ", _CONTROL_RE.sub("", text)).strip()


def _escape_text(text: str) -> str:
    return _TEXT_SPECIAL_RE.sub(r"\\\1", text)


def _pair_braces(text: str) -> str:
    """``text`` with every brace that has no partner replaced by its TeX name (with the
    backslash that escaped it, if any): BibTeX counts braces, escaped or not."""
    unpaired: set[int] = set()
    opened: list[int] = []
    for i, ch in enumerate(text):
        if ch == "{":
            opened.append(i)
        elif ch == "}":
            if opened:
                opened.pop()
            else:
                unpaired.add(i)
    unpaired.update(opened)
    if not unpaired:
        return text
    out: list[str] = []
    for i, ch in enumerate(text):
        if i in unpaired:
            if out and out[-1] == "\\":
                out.pop()
            out.append(r"\textbraceleft{}" if ch == "{" else r"\textbraceright{}")
        else:
            out.append(ch)
    return "".join(out)


def _end_safely(text: str) -> str:
    """A value ending in an odd run of backslashes would escape the brace that closes it."""
    run = len(text) - len(text.rstrip("\\"))
    return text[:-1] + r"\textbackslash{}" if run % 2 else text


def tex_value(text: str) -> str:
    """A field's value, safe between BibTeX's braces: math and TeX commands kept, TeX's
    specials in the running text escaped, braces paired."""
    text = _plain(text)
    parts: list[str] = []
    last = 0
    for math in _MATH_RE.finditer(text):
        parts.append(_escape_text(text[last : math.start()]))
        parts.append(math.group())
        last = math.end()
    parts.append(_escape_text(text[last:]))
    return _end_safely(_pair_braces("".join(parts)))


def _ascii_letters(text: str) -> str:
    """Lower-case ASCII letters and digits of ``text``, accents dropped (Górriz -> gorriz)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return re.sub(r"[^a-z0-9]", "", decomposed.encode("ascii", "ignore").decode().lower())


def _surname(name: str) -> str:
    """The last word of "First Last" (suffixes such as Jr. skipped); of "Last, First", Last."""
    name = _plain(name)
    if "," in name:
        words = name.split(",", 1)[0].split()
    else:
        words = [w for w in name.split(" ") if w and w.lower() not in _NAME_SUFFIXES]
    return _ascii_letters(words[-1]) if words else ""


def _title_words(title: str) -> list[str]:
    text = _COMMAND_RE.sub(" ", _MATH_RE.sub(" ", title))
    words = (_ascii_letters(w) for w in re.split(r"[\s/]+", text))
    kept = [w for w in words if w and w not in STOPWORDS]
    return kept[:KEY_TITLE_WORDS]


def _year_month(paper: PaperView) -> tuple[int | None, int | None]:
    """Submission (v1) when the API told us, else the first announcement, else the id's own
    YYMM (new-style ids since 2007; old-style 91xx-07xx)."""
    published = as_utc(paper.published)
    if published is not None:
        return published.year, published.month
    if paper.first_announced is not None:
        return paper.first_announced.year, paper.first_announced.month
    match = re.search(r"(?:^|/)(\d\d)(\d\d)", paper.id)
    if match is None:
        return None, None
    yy, mm = int(match[1]), int(match[2])
    if not 1 <= mm <= 12:
        return None, None
    return (1900 + yy if yy >= 91 else 2000 + yy), mm


def cite_key(paper: PaperView) -> str:
    """arXiv's key: ``vaswani2017attentionneed``; the id (``arxiv2401.00001``) when the names
    and title have no ASCII letters to build one from."""
    authors = paper.authors
    surname = _surname(str(authors[0].get("name", ""))) if authors else ""
    year, _ = _year_month(paper)
    words = "".join(_title_words(paper.title))
    if not surname and not words:
        return "arxiv" + re.sub(r"[^A-Za-z0-9.]", "", paper.id)
    return f"{surname}{year or ''}{words}"


def _author(name: str) -> str:
    """One name for ``author={A and B}``: a name holding the word "and" or a comma is braced,
    so BibTeX takes it whole (a collaboration) instead of splitting or reordering it."""
    value = tex_value(name)
    if _AND_RE.search(value) or "," in value:
        return "{" + value + "}"
    return value


def entry(paper: PaperView, *, abs_url: str, key: str | None = None) -> str:
    """One ``@misc`` entry; ``abs_url`` is the paper's arXiv page (``ArxivLinks.abs``)."""
    year, month = _year_month(paper)
    names = [str(a.get("name", "")) for a in paper.authors]
    fields: list[tuple[str, str]] = [
        ("title", "{" + tex_value(paper.title) + "}"),
        ("author", "{" + " and ".join(_author(n) for n in names if n.strip()) + "}"),
    ]
    if year is not None:
        fields.append(("year", "{" + str(year) + "}"))
    if month is not None:
        fields.append(("month", MONTHS[month - 1]))  # BibTeX's month macros, unbraced
    fields += [
        ("eprint", "{" + paper.id + "}"),
        ("archivePrefix", "{arXiv}"),
        ("primaryClass", "{" + tex_value(paper.primary_category) + "}"),
        ("url", "{" + abs_url + "}"),
    ]
    if paper.doi:
        fields.append(("doi", "{" + _pair_braces(_plain(paper.doi)) + "}"))
    body = "".join(f"      {name}={value},\n" for name, value in fields)
    return f"@misc{{{key or cite_key(paper)},\n{body}}}\n"


def unknown_comment(paper_id: str) -> str:
    """What stands for an id the site does not know (BibTeX skips ``@comment``)."""
    return "@comment{" + _pair_braces(_plain(paper_id)) + ": not known to this site, skipped}\n"


def bibliography(papers: Iterable[PaperView | str], *, abs_url: Callable[[str], str]) -> str:
    """Entries for ``papers`` in their order (a bare id is one the site does not know: a
    comment), keys unique within the file (``key``, ``key2``, …): BibTeX rejects a repeated
    key. ``abs_url`` gives a paper's arXiv page from its id (``ArxivLinks.abs``)."""
    used: set[str] = set()
    parts: list[str] = []
    for paper in papers:
        if isinstance(paper, str):
            parts.append(unknown_comment(paper))
            continue
        key = base = cite_key(paper)
        n = 1
        while key in used:
            n += 1
            key = f"{base}{n}"
        used.add(key)
        parts.append(entry(paper, abs_url=abs_url(paper.id), key=key))
    return "\n".join(parts)
