"""RIS of papers: the tagged format every reference manager imports (Zotero, EndNote, Mendeley,
JabRef, Citavi). A pure function of :class:`PaperView`, like ``web.bibtex`` and ``web.csl``
(whose names and dates it shares).

RIS has no preprint type, and Zotero's RIS translator (zotero/translators, RIS.js) maps none to
its preprint item type: it writes its own preprints as ``TY  - GEN`` and reads ``GEN`` (like
``JOUR``) back as a journal article. ``GEN`` it is: EndNote and Mendeley keep it as a generic
work, which is what an arXiv paper is, where ``JOUR`` would claim a journal. The rest is the
common core of the spec, with Zotero's reading of each tag:

``TI`` title · ``AU`` one per author, "Family, Given[, Suffix]" (Zotero splits on the comma; a
collaboration is written whole) · ``AB`` abstract · ``PY`` year · ``DA`` YYYY/MM/DD · ``UR``
the arXiv page · ``DO`` the DOI when the paper has one · ``DB`` arXiv and ``AN`` the id (the
database and the accession number in it: Zotero's "Archive" and "Loc. in Archive") · ``N1``
"arXiv:<id> [<primary category>]", a note · ``ER`` ends the record.

Each line is ``XX  - value`` ended by CR LF (the spec's, and Zotero's own export), each value
on one line: a newline inside a title cannot start a tag of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from coolpapers.store import PaperView
from coolpapers.web.csl import REPOSITORY, Name, archive_id, author_names, date_parts, one_line

RIS_TYPE = "GEN"
EOL = "\r\n"


def _author(name: Name) -> str:
    if name.literal:
        return name.literal
    return ", ".join(part for part in (name.family, name.given, name.suffix) if part)


def record(paper: PaperView, *, abs_url: str) -> str:
    """One record, ``TY`` to ``ER``; ``abs_url`` is the paper's arXiv page."""
    lines: list[tuple[str, str]] = [("TY", RIS_TYPE), ("TI", one_line(paper.title))]
    lines += [("AU", _author(name)) for name in author_names(paper)]
    lines.append(("AB", one_line(paper.abstract)))
    parts = date_parts(paper)
    if parts:
        lines.append(("PY", str(parts[0])))
        lines.append(("DA", "/".join(f"{p:02d}" for p in parts)))
    lines.append(("UR", abs_url))
    lines.append(("DO", one_line(paper.doi)))
    lines.append(("DB", REPOSITORY))
    lines.append(("AN", paper.id))
    primary = one_line(paper.primary_category)
    lines.append(("N1", archive_id(paper) + (f" [{primary}]" if primary else "")))
    body = "".join(f"{tag}  - {value}{EOL}" for tag, value in lines if value)
    return f"{body}ER  - {EOL}"


def document(papers: Iterable[PaperView], *, abs_url: Callable[[str], str]) -> str:
    """A RIS file of the papers' records, in their order, a blank line between two."""
    return EOL.join(record(paper, abs_url=abs_url(paper.id)) for paper in papers)
