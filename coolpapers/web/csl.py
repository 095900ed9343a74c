"""CSL-JSON of papers: the input of citeproc (Zotero, Pandoc's ``--citeproc``, Mendeley and most
reference managers read it). A pure function of :class:`PaperView` (the route in
``web.exports`` reads the papers); ``web.ris`` shares its names and dates.

An arXiv paper is what Zotero calls a preprint, and Zotero writes its preprints to CSL as
``"type": "article"`` with ``"publisher": "arXiv"`` (the repository) and ``"number":
"arXiv:<id>"`` (its archive ID), which is what styles print ("arXiv:2401.00001"). Titles and
abstracts keep their TeX as the authors wrote it, as the JSON API does.

Names: arXiv gives each author as one string, "Given Family". It is split the way BibTeX
splits "First von Last" (lower-case words before the last one are the family's particles: "de
With", "van der Waals"; a trailing "Jr." is a suffix; "Family, Given" is taken as written);
collaborations, single words and names in scripts without spaces stay whole (``literal``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from coolpapers.store import PaperView, as_utc

CSL_TYPE = "article"  # Zotero's preprint item type maps to CSL's article
REPOSITORY = "arXiv"

_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACE_RE = re.compile(r"\s+")
_SUFFIXES = frozenset({"jr", "jr.", "sr", "sr.", "ii", "iii", "iv"})
# a name with one of these words is a group's, not a person's ("The ATLAS Collaboration")
_GROUP_WORDS = frozenset(
    """collaboration collaborations consortium team group project committee initiative
    collective network alliance organization organisation institute laboratory lab
    university inc inc. ltd ltd. corporation society association foundation center centre
    and et""".split()  # noqa: SIM905
)
_ID_MONTH_RE = re.compile(r"(?:^|/)(\d\d)(\d\d)")


def one_line(text: str | None) -> str:
    """``text`` on one line: control characters gone, runs of whitespace one space."""
    return _SPACE_RE.sub(" ", _CONTROL_RE.sub("", text or "")).strip()


@dataclass(frozen=True)
class Name:
    """An author, split (``family``, ``given``, ``suffix``) or whole (``literal``)."""

    family: str = ""
    given: str = ""
    suffix: str = ""
    literal: str = ""

    def csl(self) -> dict[str, str]:
        if self.literal:
            return {"literal": self.literal}
        parts = {"family": self.family, "given": self.given, "suffix": self.suffix}
        return {key: value for key, value in parts.items() if value}


def _is_group(words: Sequence[str]) -> bool:
    return any(w.lower().strip(",()") in _GROUP_WORDS for w in words)


def split_name(raw: str) -> Name:
    """One of arXiv's author strings as a name (see the module's doc); empty when blank."""
    name = one_line(raw)
    words = name.split(" ")
    if not name or len(words) == 1 or _is_group(words) or any(c.isdigit() for c in name):
        return Name(literal=name)
    if "," in name:  # "Family, Given" as some submitters write it
        family, given = (part.strip() for part in name.split(",", 1))
        return Name(family=family, given=given) if family and given else Name(literal=name)
    suffix = ""
    if words[-1].lower() in _SUFFIXES and len(words) > 2:
        suffix = words.pop()
    # the family name: the last word and the lower-case particles before it (BibTeX's "von")
    start = len(words) - 1
    while start > 1 and words[start - 1][:1].islower():
        start -= 1
    return Name(family=" ".join(words[start:]), given=" ".join(words[:start]), suffix=suffix)


def author_names(paper: PaperView) -> list[Name]:
    names = (split_name(str(a.get("name", ""))) for a in paper.authors)
    return [n for n in names if n.literal or n.family]


def date_parts(paper: PaperView) -> list[int]:
    """[year, month, day] of the first version's submission (the API's), else of the first
    announcement, else [year, month] of the id (YYMM; old-style ids 91xx-07xx); [] when
    none is known."""
    published = as_utc(paper.published)
    if published is not None:
        return [published.year, published.month, published.day]
    if paper.first_announced is not None:
        day = paper.first_announced
        return [day.year, day.month, day.day]
    match = _ID_MONTH_RE.search(paper.id)
    if match is None or not 1 <= int(match[2]) <= 12:
        return []
    yy = int(match[1])
    return [1900 + yy if yy >= 91 else 2000 + yy, int(match[2])]


def archive_id(paper: PaperView) -> str:
    """What citations print for the paper: ``arXiv:2401.00001`` (Zotero's "Archive ID")."""
    return f"arXiv:{paper.id}"


def item(paper: PaperView, *, abs_url: str) -> dict[str, Any]:
    """One CSL item; ``abs_url`` is the paper's arXiv page (``ArxivLinks.abs``)."""
    entry: dict[str, Any] = {
        "id": paper.id,
        "type": CSL_TYPE,
        "title": one_line(paper.title),
        "author": [name.csl() for name in author_names(paper)],
    }
    issued = date_parts(paper)
    if issued:
        entry["issued"] = {"date-parts": [issued]}
    entry["publisher"] = REPOSITORY
    entry["number"] = archive_id(paper)
    entry["URL"] = abs_url
    doi = one_line(paper.doi)
    if doi:
        entry["DOI"] = doi
    abstract = one_line(paper.abstract)
    if abstract:
        entry["abstract"] = abstract
    return entry


def document(papers: Iterable[PaperView], *, abs_url: Callable[[str], str]) -> bytes:
    """A CSL-JSON file: the array of the papers' items, in their order (UTF-8, indented)."""
    items = [item(paper, abs_url=abs_url(paper.id)) for paper in papers]
    return orjson.dumps(items, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
