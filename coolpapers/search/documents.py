"""What the search index holds for a paper: the schema, the analyzer and its Python twin, and
the tantivy document built from an :class:`IndexedPaper`. Opening, writing and searching the
index is :mod:`coolpapers.search.engine`'s job.

Schema (only ``id`` and ``modified`` are stored: the database has the rest)
    ``id``          raw string, stored, indexed (delete-by-term on upsert, the id jump)
    ``title``       text, analyzer :data:`ANALYZER`, positions (phrases)
    ``abstract``    text, same analyzer
    ``authors``     text, same analyzer, one value per author (a phrase never spans two authors)
    ``categories``  raw strings, one value per canonical category (``cs.NA`` is ``math.NA``)
    ``announced``   i64 ``YYYYMMDD``, indexed + fast (first announcement day; absent if unknown)
    ``published``   date (UTC), indexed + fast (v1 submission time; absent if unknown)
    ``day``         i64 ``YYYYMMDD``, indexed + fast: ``announced``, else the date of
                    ``published``; what ``after:``/``before:`` filter on
    ``sort_key``    u64, fast: ``day`` then id, packed so that one descending fast-field sort is
                    "newest day first, then id descending" (see :func:`_sort_key`)
    ``modified``    i64, stored: the paper's ``modified_at`` (microseconds since the epoch)
                    when indexed, so a catch-up re-reading its late-commit window skips the
                    papers whose indexed version is the current one

The analyzer splits on anything not alphanumeric (tantivy's simple tokenizer), lower-cases and
folds to ASCII where an ASCII form exists (``Schrödinger`` -> ``schrodinger``, ``Straße`` ->
``strasse``), no stemming. Its name carries a version: changing the analyzer means a new name,
so an index built with the old one no longer matches the schema and ``SearchIndex.open``
raises ``IndexCorrupt`` (the caller rebuilds). Query words are put through the very same
analyzer (so they always meet the indexed terms); :func:`_normalise` is its Python twin, for
highlighting, and agrees with it on real arXiv text.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache

import tantivy

from coolpapers.taxonomy import canonical_categories

#: Name the analyzer is registered under (bump the version when the analyzer changes).
ANALYZER = "coolpapers_fold_v1"


@dataclass(frozen=True)
class IndexedPaper:
    id: str
    title: str
    abstract: str
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    announced: date | None  # first announcement day (None for papers only known from the API)
    published: datetime | None
    modified: datetime | None = None  # the row's modified_at: which version this is


# --------------------------------------------------------------------------------------------
# Normalisation (Python twin of the analyzer)
# --------------------------------------------------------------------------------------------

# Letters that tantivy's ASCII folding maps although Unicode gives them no decomposition.
_FOLD_EXTRA = {
    "ß": "ss", "ẞ": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d",
    "þ": "th", "ı": "i", "ħ": "h", "ŧ": "t", "ŋ": "n", "ĸ": "q", "ſ": "s", "ƒ": "f",
    "ŀ": "l", "ȷ": "j", "ɨ": "i", "ʉ": "u", "ɍ": "r", "ƀ": "b", "ȼ": "c", "ɇ": "e",
}  # fmt: skip
_WORD = r"[^\W_]+"  # patterns as strings: re compiles (and caches) them on first use


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    extra = _FOLD_EXTRA.get(char)
    if extra is not None:
        return extra
    stripped = "".join(
        c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
    )
    # Fold only when an ASCII form exists (tantivy leaves Greek, Cyrillic, CJK ... alone).
    if stripped and stripped.isascii() and stripped.isalnum():
        return stripped.lower()
    return char


def _normalise(text: str) -> list[str]:
    out: list[str] = []
    for word in re.findall(_WORD, unicodedata.normalize("NFC", text)):
        lowered = word.lower()
        out.append(lowered if lowered.isascii() else "".join(map(_fold_char, lowered)))
    return out


# --------------------------------------------------------------------------------------------
# Schema, analyzer, documents
# --------------------------------------------------------------------------------------------


def _schema(analyzer: str = ANALYZER) -> tantivy.Schema:
    """The index schema, its text fields tokenised by the analyzer registered as ``analyzer``."""
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    for name in ("title", "abstract", "authors"):
        builder.add_text_field(name, tokenizer_name=analyzer, index_option="position")
    builder.add_text_field("categories", tokenizer_name="raw", index_option="basic")
    builder.add_integer_field("announced", indexed=True, fast=True)
    builder.add_date_field("published", indexed=True, fast=True)
    builder.add_integer_field("day", indexed=True, fast=True)
    builder.add_unsigned_field("sort_key", fast=True)
    builder.add_integer_field("modified", stored=True)
    return builder.build()


def _analyzer() -> tantivy.TextAnalyzer:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .build()
    )


def _yyyymmdd(day: date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _effective_day(paper: IndexedPaper) -> date | None:
    if paper.announced is not None:
        return paper.announced
    return _utc(paper.published).date() if paper.published is not None else None


# Archives that issued old-style ids (closed list, 1991-2007), in the order their ids sort.
_OLD_ARCHIVES = tuple(
    sorted(
        (
            "acc-phys", "adap-org", "alg-geom", "ao-sci", "astro-ph", "atom-ph", "bayes-an",
            "chao-dyn", "chem-ph", "cmp-lg", "comp-gas", "cond-mat", "cs", "dg-ga", "funct-an",
            "gr-qc", "hep-ex", "hep-lat", "hep-ph", "hep-th", "math", "math-ph", "mtrl-th",
            "nlin", "nucl-ex", "nucl-th", "patt-sol", "physics", "plasm-ph", "q-alg", "q-bio",
            "quant-ph", "solv-int", "supr-con",
        ),
        key=lambda archive: archive + "/",
    )
)  # fmt: skip
_OLD_KEYS = tuple(archive + "/" for archive in _OLD_ARCHIVES)
_NEW_ID = r"(\d{4})\.(\d{4,5})"
_OLD_ID = r"([a-z]+(?:-[a-z]+)?)/(\d{7})"


def _id_rank(paper_id: str) -> int:
    """An integer below 2**40 ordered as the ids sort as strings (new-style ids before
    old-style ones, old ones by archive then number); 0 for an id of neither shape."""
    new = re.fullmatch(_NEW_ID, paper_id)
    if new:
        return int(new[1]) * 100_000 + int(new[2])  # < 2**30; same yymm => same width
    old = re.fullmatch(_OLD_ID, paper_id)
    if old:
        key = old[1] + "/"
        pos = bisect_left(_OLD_KEYS, key)
        known = pos < len(_OLD_KEYS) and _OLD_KEYS[pos] == key
        rank = 2 * pos + 1 if known else 2 * pos  # an unknown archive sorts between its peers
        return (1 << 39) | (rank << 24) | int(old[2])
    return 0


def _sort_key(day: date | None, paper_id: str) -> int:
    """``day`` (as a proleptic ordinal, 0 when unknown) in the high bits, the id rank below."""
    return ((day.toordinal() if day is not None else 0) << 40) | _id_rank(paper_id)


def _document(paper: IndexedPaper) -> tantivy.Document:
    # NFC first: tantivy splits "o" + U+0308 into two tokens; the composed "ö" folds to "o".
    doc = tantivy.Document()
    doc.add_text("id", paper.id)
    doc.add_text("title", unicodedata.normalize("NFC", paper.title))
    doc.add_text("abstract", unicodedata.normalize("NFC", paper.abstract))
    for author in paper.authors:
        doc.add_text("authors", unicodedata.normalize("NFC", author))
    for category in canonical_categories(paper.categories):
        doc.add_text("categories", category)
    if paper.announced is not None:
        doc.add_integer("announced", _yyyymmdd(paper.announced))
    if paper.published is not None:
        doc.add_date("published", _utc(paper.published))
    day = _effective_day(paper)
    if day is not None:
        doc.add_integer("day", _yyyymmdd(day))
    doc.add_unsigned("sort_key", _sort_key(day, paper.id))
    if paper.modified is not None:
        doc.add_integer("modified", version_of(paper.modified))
    return doc


def version_of(modified: datetime) -> int:
    """A paper's ``modified_at`` as the index stores it: microseconds since the epoch (UTC)."""
    moment = _utc(modified)
    return (
        moment.toordinal() * 86_400 + moment.hour * 3600 + moment.minute * 60 + moment.second
    ) * 1_000_000 + moment.microsecond
