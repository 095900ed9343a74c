"""arXiv's subject taxonomy and papers.cool list specs (``cs.AI+cs.LG-cs.CY``).

Terms and ids
    * a *category* is a subject class such as ``cs.AI`` or ``hep-th``;
    * an *archive* is a family of categories such as ``cs`` or ``cond-mat``; some archives are a
      single category of the same id (``gr-qc``, ``hep-th``, ``math-ph``, ``quant-ph`` ...);
    * a *group* is what arXiv's home page uses to cluster archives ("Physics", "Mathematics" ...).

Six categories are aliases of another one (``cs.NA`` is ``math.NA``: the id on the right is the
canonical one), and eighteen archives of the 1990s were folded into one category each
(``cmp-lg`` is now ``cs.CL``). :func:`canonical` maps any of these, in any letter case, to the
canonical id; everything else in this module works on canonical ids unless it says otherwise.

:attr:`Archive.categories` lists an archive's categories as arXiv lists them, which includes its
alias categories (``cs`` lists ``cs.NA`` and ``cs.SY``); :func:`expand` and :class:`Spec` map
them to canonical ids, so a paper stored with canonical categories matches ``cs`` when it is in
``math.NA``.

Only literal constants are defined at import time; the lookup tables are built on first use.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from coolpapers.errors import BadSpec, UnknownCategory
from coolpapers.taxonomy_data import ALIASES, ARCHIVES, GROUPS, SUBSUMED_ARCHIVES

__all__ = [
    "ALIASES",
    "MAX_SPEC_TERMS",
    "SUBSUMED_ARCHIVES",
    "Archive",
    "Category",
    "Spec",
    "all_categories",
    "archive_of",
    "archives",
    "canonical",
    "canonical_categories",
    "category",
    "category_name",
    "expand",
    "groups",
    "is_archive",
    "is_category",
    "parse_spec",
]

#: Most terms (inclusions plus exclusions) a spec may have.
MAX_SPEC_TERMS = 50
_MAX_SPEC_CHARS = 2000
_SHOWN_CHARS = 60  # longest piece of user input quoted in an error message
_TERM_WINDOW = 64  # longest stretch (term plus surrounding blanks) tried as one term

# Patterns as strings: the re module compiles (and caches) them on first use.
_NEW_ID = r"(?a)\d{4}\.\d{4,5}(?:v\d+)?"
_OLD_ID = r"(?ai)[a-z]+(?:-[a-z]+)?(?:\.[a-z-]+)?/\d{7}(?:v\d+)?"
_UNION = r"[,+]"


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Category:
    """A category as arXiv lists it (alias categories included, under their own archive)."""

    id: str
    name: str
    archive: str


@dataclass(frozen=True)
class Archive:
    """An active archive; ``categories`` as arXiv lists them (alias ids included)."""

    id: str
    name: str
    group: str
    categories: tuple[str, ...]


# --------------------------------------------------------------------------------------------
# Lookup tables, built on first use
# --------------------------------------------------------------------------------------------


@cache
def _archive_table() -> dict[str, Archive]:
    table: dict[str, Archive] = {}
    for group, ids in GROUPS:
        for archive_id in ids:
            name, cats = ARCHIVES[archive_id]
            table[archive_id] = Archive(archive_id, name, group, tuple(c for c, _ in cats))
    return table


@cache
def _category_table() -> dict[str, Category]:
    """Every listed category (aliases included) by id."""
    return {
        cat_id: Category(cat_id, cat_name, archive_id)
        for archive_id, (_, cats) in ARCHIVES.items()
        for cat_id, cat_name in cats
    }


@cache
def _canonical_categories() -> tuple[str, ...]:
    return tuple(c for c in _category_table() if c not in ALIASES)


@cache
def _index() -> dict[str, str]:
    """Lower-cased known term -> canonical id (category or archive)."""
    index: dict[str, str] = {}
    for cat_id in _category_table():
        index[cat_id.lower()] = ALIASES.get(cat_id, cat_id)
    for archive_id in _archive_table():
        index[archive_id.lower()] = archive_id
    for old, cat_id in SUBSUMED_ARCHIVES.items():
        index[old.lower()] = cat_id
    return index


@cache
def _raw_index() -> dict[str, str]:
    """Lower-cased known id -> the id as arXiv spells it, before alias mapping."""
    index: dict[str, str] = {}
    for table in (_category_table(), _archive_table(), SUBSUMED_ARCHIVES):
        for known in table:
            index.setdefault(known.lower(), known)
    return index


def _lookup_raw(term: str) -> str | None:
    """The known id spelled like ``term`` (any case), before alias mapping."""
    return _raw_index().get(term.strip().lower())


# --------------------------------------------------------------------------------------------
# Public lookups
# --------------------------------------------------------------------------------------------


def archives() -> tuple[Archive, ...]:
    """Active archives in display order (arXiv's home page)."""
    return tuple(_archive_table().values())


def groups() -> tuple[tuple[str, tuple[Archive, ...]], ...]:
    """``(group name, archives)`` pairs in arXiv's order."""
    table = _archive_table()
    return tuple((group, tuple(table[a] for a in ids)) for group, ids in GROUPS)


def all_categories() -> tuple[str, ...]:
    """Every canonical category id (aliases left out), in display order."""
    return _canonical_categories()


def category(term: str) -> Category | None:
    """The record of a category as written (any case; ``cs.NA`` gives the ``cs.NA`` record);
    a defunct archive gives the record of the category that took it over; else None."""
    raw = _lookup_raw(term)
    if raw is None:
        return None
    raw = SUBSUMED_ARCHIVES.get(raw, raw)
    return _category_table().get(raw)


def canonical(term: str) -> str | None:
    """The canonical category or archive id for ``term`` (any case, aliases and defunct
    archives mapped), or None if it is not a known category or archive."""
    return _index().get(term.strip().lower())


def canonical_categories(cats: Iterable[str]) -> tuple[str, ...]:
    """Each id mapped through :func:`canonical` (unknown ones kept as given), without
    duplicates, in first-seen order (so a primary category stays first)."""
    seen: dict[str, None] = {}
    for cat in cats:
        seen.setdefault(canonical(cat) or cat, None)
    return tuple(seen)


def is_archive(term: str) -> bool:
    """Whether ``term`` names an active archive (``hep-th`` is both archive and category)."""
    return canonical(term) in _archive_table()


def is_category(term: str) -> bool:
    """Whether ``term`` names a category (after alias mapping: ``cs.NA`` counts)."""
    found = canonical(term)
    return found is not None and found in _category_table() and found not in ALIASES


def category_name(cat: str) -> str:
    """Human name of a category (alias ids have their own, equal name) or archive; a defunct
    archive gives the name of its category; an unknown id is returned as is."""
    record = category(cat)
    if record is not None:
        return record.name
    archive = _archive_table().get(canonical(cat) or "")
    return archive.name if archive is not None else cat


def archive_of(cat: str) -> str:
    """The archive of a category as written (``cs.NA`` -> ``cs``, ``math.NA`` -> ``math``); an
    archive is its own; a defunct archive gives its category's archive; for an unknown id, the
    part before the first ``.``."""
    record = category(cat)
    if record is not None:
        return record.archive
    found = canonical(cat)
    if found is not None and found in _archive_table():
        return found
    return cat.strip().split(".", 1)[0]


def expand(term: str) -> frozenset[str]:
    """Canonical categories meant by ``term``: a category gives itself; an archive gives all of
    its categories (alias ones mapped, so ``cs`` includes ``math.NA``), which includes the
    archive id when it doubles as a category (``hep-th``). Raises UnknownCategory."""
    found = canonical(term)
    if found is None:
        raise UnknownCategory(f"unknown category or archive {_quote(term)}")
    archive = _archive_table().get(found)
    if archive is None:
        return frozenset((found,))
    return frozenset(ALIASES.get(c, c) for c in archive.categories)


# --------------------------------------------------------------------------------------------
# Specs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """A parsed list spec: canonical ids, in the order given, without duplicates."""

    include: tuple[str, ...]
    exclude: tuple[str, ...]

    def categories(self) -> frozenset[str]:
        """Canonical categories of the union of the included terms."""
        return frozenset(c for t in self.include for c in expand(t))

    def excluded(self) -> frozenset[str]:
        """Canonical categories whose papers are left out."""
        return frozenset(c for t in self.exclude for c in expand(t))

    def text(self) -> str:
        """Canonical spelling, e.g. ``cs.AI,cs.LG-cs.CY``; :func:`parse_spec` reads it back."""
        return ",".join(self.include) + "".join(f"-{t}" for t in self.exclude)


def parse_spec(text: str) -> Spec:
    """Parse papers.cool's spec syntax.

    ``,`` and ``+`` join included terms, ``-x`` excludes ``x``; a spec starts with an included
    term. Terms are categories or archives in any case, aliases merged; whitespace around terms
    is ignored. Raises BadSpec for malformed specs (including lists of paper ids) and its
    subclass UnknownCategory for a term that names no category or archive.
    """
    stripped = text.strip()
    if not stripped:
        raise BadSpec("empty spec")
    if len(stripped) > _MAX_SPEC_CHARS:
        raise BadSpec(f"spec too long ({len(stripped)} characters, at most {_MAX_SPEC_CHARS})")
    pieces = re.split(_UNION, stripped)
    for piece in pieces:
        candidate = piece.strip()
        if re.fullmatch(_NEW_ID, candidate) or re.fullmatch(_OLD_ID, candidate):
            raise BadSpec(f"{_quote(candidate)} is a paper id, not a category or archive")
    include: list[str] = []
    exclude: list[str] = []
    for number, piece in enumerate(pieces):
        terms = _split_piece(piece, stripped, first=number == 0)
        include.append(terms[0])
        exclude.extend(terms[1:])
        if len(include) + len(exclude) > MAX_SPEC_TERMS:
            raise BadSpec(f"too many terms in spec (at most {MAX_SPEC_TERMS})")
    return Spec(tuple(dict.fromkeys(include)), tuple(dict.fromkeys(exclude)))


def _split_piece(piece: str, spec: str, *, first: bool) -> list[str]:
    """Canonical ids of ``term(-term)*``; the first is included, the others excluded.

    ``-`` also occurs inside ids (``hep-th``, ``cond-mat.str-el``), so at each position the
    longest known term ending at a ``-`` or at the end is taken.
    """
    if not piece.strip():
        raise BadSpec(f"empty term in spec {_quote(spec)}")
    if piece.lstrip().startswith("-"):
        if first:
            raise BadSpec(f"a spec must start with a category or archive: {_quote(spec)}")
        raise BadSpec(f"empty term before {_quote(piece.strip())} in spec {_quote(spec)}")
    terms: list[str] = []
    pos = 0
    while True:
        rest = piece[pos:]
        if not rest.strip():
            raise BadSpec(f"'-' with nothing after it in spec {_quote(spec)}")
        if rest.lstrip().startswith("-"):
            raise BadSpec(f"empty term ('--') in spec {_quote(spec)}")
        found = _match_at(piece, pos)
        if found is None:
            raise UnknownCategory(
                f"unknown category or archive {_quote(piece[pos : _unknown_end(piece, pos)])}"
            )
        term, end = found
        terms.append(term)
        if end == len(piece):
            return terms
        pos = end + 1  # piece[end] is the "-" of the next exclusion


def _match_at(piece: str, pos: int) -> tuple[str, int] | None:
    """The canonical id of the longest known term starting at ``pos`` and ending at a ``-`` or
    at the end of ``piece``, with the index where it ends; None if there is none."""
    index = _index()
    limit = min(len(piece), pos + _TERM_WINDOW)
    ends = [i for i in range(pos + 1, limit) if piece[i] == "-"]
    if len(piece) <= limit:
        ends.append(len(piece))
    for end in reversed(ends):
        found = index.get(piece[pos:end].strip().lower())
        if found is not None:
            return found, end
    return None


def _unknown_end(piece: str, pos: int) -> int:
    """Where an unknown term starting at ``pos`` ends: at the first ``-`` followed by a known
    term, else at the end of ``piece``."""
    for i in range(pos + 1, len(piece)):
        if piece[i] == "-" and _match_at(piece, i + 1) is not None:
            return i
    return len(piece)


def _quote(part: str) -> str:
    part = part.strip()
    if len(part) > _SHOWN_CHARS:
        part = part[: _SHOWN_CHARS - 1] + "…"
    return f"'{part}'"
