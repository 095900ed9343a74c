"""The search index: tantivy (BM25, no stemming, as papers.cool). The only module that knows it.

Schema (only ``id`` is stored: the database has the rest)
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

The analyzer splits on anything not alphanumeric (tantivy's simple tokenizer), lower-cases and
folds to ASCII where an ASCII form exists (``Schrödinger`` -> ``schrodinger``, ``Straße`` ->
``strasse``), no stemming. Its name carries a version: changing the analyzer means a new name,
so an index built with the old one no longer matches the schema and :meth:`SearchIndex.open`
raises :class:`IndexCorrupt` (the caller rebuilds). Query words are put through the very same
analyzer (so they always meet the indexed terms); :meth:`SearchIndex.normalise` is its Python
twin, for highlighting, and agrees with it on real arXiv text.

Durability of the cursor (tantivy-py 0.27's ``IndexWriter.commit()`` takes no payload, so the
cursor lives in a file beside the index, ``coolpapers-cursor.json``)
    1. ``writer.commit()`` returns only once the segment files are fsynced and ``meta.json`` has
       been atomically replaced (tantivy writes it to a temp file, fsyncs, renames, fsyncs the
       directory); it returns the commit's opstamp.
    2. Only then is the cursor written: temp file, fsync, ``os.replace``, fsync of the directory.
       The file also records the opstamp of the commit it belongs to.
    A crash before 2 leaves the previous cursor, which is *older* than the index: the catch-up
    re-sends some papers, and an upsert of a paper already indexed replaces it (idempotent). A
    crash during 2 leaves the old file whole (the rename is atomic). So the cursor read back is
    never newer than what is committed. As a further guard, :meth:`SearchIndex.cursor` ignores a
    cursor whose opstamp is above the opstamp in ``meta.json`` (an index directory restored from
    an older copy, or replaced under the cursor), and a fresh index never inherits a cursor file.

Processes: one writer (tantivy takes a lock file on the first :meth:`SearchIndex.upsert` /
:meth:`SearchIndex.commit`; a second writer gets :class:`IndexLocked`), any number of readers.
Readers use a manual reload policy: :meth:`SearchIndex.reload` (also done by :meth:`search`)
reads ``meta.json`` and reloads only when it changed, so it is cheap to call before each search.

Results are capped like papers.cool: at most :data:`MAX_RESULTS` (1000) hits can be paged
through (``offset + limit`` is cut there); ``Result.total`` still counts every match.

Importing this module does no work: the schema and the analyzer are built on first use.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import unicodedata
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar, cast

import tantivy

from coolpapers.errors import BadInput, CoolpapersError
from coolpapers.search.ast import AnyOf, InCategory, Node, Phrase, SearchQuery, Term
from coolpapers.taxonomy import canonical_categories, expand

__all__ = [
    "ANALYZER",
    "MAX_RESULTS",
    "SORTS",
    "Hit",
    "IndexCorrupt",
    "IndexLocked",
    "IndexMissing",
    "IndexedPaper",
    "QueryTooBroad",
    "Result",
    "SearchIndex",
    "SearchTimeout",
]

#: Name the analyzer is registered under (bump the version when the analyzer changes).
ANALYZER = "coolpapers_fold_v1"
#: Most hits a search can page through, as papers.cool; the total still counts all matches.
MAX_RESULTS = 1000
SORTS = ("relevance", "time")
#: BM25 of a title match is multiplied by this for a word not limited to a field.
TITLE_BOOST = 2.0
#: A prefix (``word*``) matching more distinct indexed words than this is refused.
MAX_PREFIX_EXPANSIONS = 10_000
#: Most leaf clauses (words, phrases, categories) one query may have.
MAX_CLAUSES = 256

CURSOR_FILE = "coolpapers-cursor.json"
_META_FILE = "meta.json"
_WRITER_HEAP = 128_000_000  # bytes, shared by the writer threads (tantivy wants >= 15 MB each)
_WRITER_THREADS = 2
_OPEN_ATTEMPTS = 3  # a reader may race the writer's clean-up of merged segments: retry
_RETRY_PAUSE_S = 0.05

_TEXT_FIELDS = {"ti": "title", "abs": "abstract", "au": "authors"}
_DEFAULT_FIELDS = (("title", TITLE_BOOST), ("abstract", 1.0))
_REGEX_META = frozenset("\\.+*?()|[]{}^$#&-~")


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class IndexCorrupt(CoolpapersError):
    """The directory holds something that is not a readable index of our schema: rebuild it."""


class IndexMissing(IndexCorrupt):
    """There is no index yet (``open(..., create=False)``) or it vanished under a reader. A
    kind of IndexCorrupt: either way the index has to be (re)built."""


class IndexLocked(CoolpapersError):
    """Another writer (in this or another process) holds the index's writer lock."""


class QueryTooBroad(BadInput):
    """The query would expand to too much (a short prefix, thousands of words): 400."""


class SearchTimeout(CoolpapersError):
    """The query could not be prepared within its deadline."""

    status_code = 503


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexedPaper:
    id: str
    title: str
    abstract: str
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    announced: date | None  # first announcement day (None for papers only known from the API)
    published: datetime | None


@dataclass(frozen=True)
class Hit:
    id: str
    score: float  # BM25 (relevance sort); 0.0 under the time sort


@dataclass(frozen=True)
class Result:
    total: int  # every match, even beyond MAX_RESULTS
    hits: list[Hit]
    # Normalised positive query words, for highlighting; a prefix word ends with "*".
    terms: tuple[str, ...]


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


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    for name in ("title", "abstract", "authors"):
        builder.add_text_field(name, tokenizer_name=ANALYZER, index_option="position")
    builder.add_text_field("categories", tokenizer_name="raw", index_option="basic")
    builder.add_integer_field("announced", indexed=True, fast=True)
    builder.add_date_field("published", indexed=True, fast=True)
    builder.add_integer_field("day", indexed=True, fast=True)
    builder.add_unsigned_field("sort_key", fast=True)
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
    return doc


# --------------------------------------------------------------------------------------------
# Files beside the index
# --------------------------------------------------------------------------------------------


def _is_ours(name: str) -> bool:
    """Files that may sit in an index directory without an index: tantivy's lock and
    bookkeeping files (dot files) and our cursor (and its temp files)."""
    return name.startswith(".") or name.startswith(CURSOR_FILE)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_cursor(path: Path, cursor: str, opstamp: int) -> None:
    target = path / CURSOR_FILE
    temp = path / f"{CURSOR_FILE}.{os.getpid()}.{threading.get_ident()}.tmp"
    data = json.dumps({"cursor": cursor, "opstamp": opstamp}).encode()
    with open(temp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temp, target)
    _fsync_dir(path)


def _read_json(file: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(file.read_bytes())
    except (OSError, ValueError):
        return None
    return cast(dict[str, Any], data) if isinstance(data, dict) else None


def _meta_signature(path: Path) -> bytes | None:
    """What identifies a commit: the bytes of ``meta.json`` (a few KB; it lists the segments
    and the opstamp). Not its stat: two commits within one coarse timestamp tick can leave
    the same inode number, size and mtime."""
    try:
        return (path / _META_FILE).read_bytes()
    except FileNotFoundError:
        return None


_T = TypeVar("_T")


def _retrying(action: Callable[[], _T]) -> _T:
    """Run a tantivy open/reload, retrying briefly: a reader can read a ``meta.json`` whose
    segments the writer has just merged away and deleted; the next read sees the new one."""
    for attempt in range(_OPEN_ATTEMPTS):
        try:
            return action()
        except ValueError:
            if attempt == _OPEN_ATTEMPTS - 1:
                raise
            time.sleep(_RETRY_PAUSE_S)
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------------------------
# The index
# --------------------------------------------------------------------------------------------


class SearchIndex:
    """One tantivy index in one directory. Thread-safe; writes are serialised."""

    def __init__(
        self,
        path: Path,
        index: tantivy.Index,
        schema: tantivy.Schema,
        seen_meta: bytes | None,
    ) -> None:
        """Use :meth:`open`."""
        self._path = path
        self._index: tantivy.Index | None = index
        self._schema = schema
        self._analyzer = _analyzer()
        self._writer: tantivy.IndexWriter | None = None
        self._write_lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self._seen_meta = seen_meta

    # --- lifecycle --------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, *, create: bool = True) -> SearchIndex:
        """Open the index in ``path``; with ``create``, make an empty one if there is none.

        Raises IndexMissing (no index and not ``create``), IndexCorrupt (the directory holds
        other files, an unreadable index, or one of another schema/analyzer version)."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise IndexCorrupt(f"search index path {path} is not a directory")
        if not (path / _META_FILE).exists():
            names = sorted(p.name for p in path.iterdir()) if path.is_dir() else []
            strangers = [name for name in names if not _is_ours(name)]
            if strangers:
                raise IndexCorrupt(
                    f"{path} holds files but no search index (e.g. {strangers[0]!r})"
                )
            if not create:
                raise IndexMissing(f"no search index in {path}")
            path.mkdir(parents=True, exist_ok=True)
            # A cursor without its index describes nothing: the new index starts from scratch.
            (path / CURSOR_FILE).unlink(missing_ok=True)
        schema = _schema()
        seen = _meta_signature(path)  # before the reader reads it: a later commit is reloaded

        def load() -> tantivy.Index:
            index = tantivy.Index(schema, path=str(path), reuse=True)
            index.config_reader("manual")  # we reload when meta.json changes (see reload())
            index.register_tokenizer(ANALYZER, _analyzer())
            return index

        try:
            index = _retrying(load)
        except ValueError as exc:
            raise IndexCorrupt(f"search index in {path} is unreadable: {exc}") from exc
        return cls(path, index, schema, seen)

    def close(self) -> None:
        """Release the index (and the writer lock). Upserts not yet committed are dropped."""
        with self._write_lock:
            writer, self._writer = self._writer, None
            if writer is not None:
                writer.rollback()
                writer.wait_merging_threads()
            self._index = None

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def path(self) -> Path:
        return self._path

    def _live(self) -> tantivy.Index:
        if self._index is None:
            raise RuntimeError("search index is closed")
        return self._index

    # --- writing ----------------------------------------------------------------------------

    def _writer_locked(self) -> tantivy.IndexWriter:
        if self._writer is None:
            try:
                self._writer = self._live().writer(
                    heap_size=_WRITER_HEAP, num_threads=_WRITER_THREADS
                )
            except ValueError as exc:
                if "LockBusy" in str(exc):
                    raise IndexLocked(f"another process is writing {self._path}") from exc
                raise
        return self._writer

    def upsert(self, papers: Iterable[IndexedPaper]) -> int:
        """Add or replace these papers (delete by id, then add); visible after commit()."""
        with self._write_lock:
            writer = self._writer_locked()
            count = 0
            for paper in papers:
                writer.delete_documents_by_term("id", paper.id)
                writer.add_document(_document(paper))
                count += 1
            return count

    def commit(self, cursor: str) -> None:
        """Commit the upserts, then durably record ``cursor`` with that commit (see the module
        docstring for why the cursor on disk is never ahead of the index)."""
        with self._write_lock:
            writer = self._writer_locked()
            try:
                opstamp = writer.commit()
            except BaseException:
                writer.rollback()
                raise
            _write_cursor(self._path, cursor, opstamp)
        self.reload()

    def cursor(self) -> str | None:
        """The cursor of the last commit, or None (never committed, or not trustworthy)."""
        record = _read_json(self._path / CURSOR_FILE)
        meta = _read_json(self._path / _META_FILE)
        if record is None or meta is None:
            return None
        cursor, opstamp, committed = (
            record.get("cursor"),
            record.get("opstamp"),
            meta.get("opstamp"),
        )
        if not isinstance(cursor, str) or not isinstance(opstamp, int):
            return None
        if not isinstance(committed, int) or opstamp > committed:
            return None
        return cursor

    # --- reading ----------------------------------------------------------------------------

    def reload(self) -> None:
        """Make searches see the latest commit (of this or another process). Cheap when
        nothing changed: one read of the small ``meta.json``."""
        index = self._live()
        signature = _meta_signature(self._path)
        if signature is None:
            raise IndexMissing(f"the search index in {self._path} is gone")
        if signature == self._seen_meta:
            return
        with self._reload_lock:
            if signature == self._seen_meta:
                return
            try:
                _retrying(index.reload)
            except ValueError as exc:
                raise IndexCorrupt(f"search index in {self._path} is unreadable: {exc}") from exc
            self._seen_meta = signature

    def doc_count(self) -> int:
        """Papers in the index as of the last reload (uncommitted upserts not included)."""
        self.reload()
        return self._live().searcher().num_docs

    def doc_freq(self, word: str) -> int:
        """About how many papers have ``word`` (one normalised token) in the title or the
        abstract: the larger of the two fields' document frequencies, as of the last reload
        (like BM25's, it counts replaced documents until their segments are merged). For
        TF-IDF keywords; cheap (two term-dictionary lookups)."""
        searcher = self._live().searcher()
        return max(searcher.doc_freq("title", word), searcher.doc_freq("abstract", word))

    def search(
        self,
        query: SearchQuery,
        *,
        limit: int,
        offset: int = 0,
        sort: str = "relevance",
        deadline_s: float = 2.0,
    ) -> Result:
        """Papers matching ``query``: by BM25 (``relevance``) or newest day first, then id
        descending (``time``). ``offset + limit`` is cut at MAX_RESULTS; ``total`` is not.

        Raises QueryTooBroad (a prefix matching too many words, too many clauses), SearchTimeout
        (the query could not be prepared in ``deadline_s``), UnknownCategory (``cat:`` of an
        unknown id)."""
        if sort not in SORTS:
            raise BadInput(f"unknown sort {sort!r} (use one of {', '.join(SORTS)})")
        started = time.monotonic()
        self.reload()
        searcher = self._live().searcher()
        built = _Translator(self, searcher, started + deadline_s).query(query)
        terms = _highlight_terms(query)
        if time.monotonic() - started > deadline_s:
            raise SearchTimeout("the search took too long to prepare")

        offset = max(0, offset)
        window = min(max(0, limit), MAX_RESULTS - offset) if offset < MAX_RESULTS else 0
        if window == 0:
            counted = searcher.search(built, limit=1, count=True)
            return Result(total=_count(counted), hits=[], terms=terms)
        if sort == "time":
            found = searcher.search(
                built,
                limit=window,
                offset=offset,
                count=True,
                order_by_field="sort_key",
                order=tantivy.Order.Desc,
            )
            hits = [Hit(id=_doc_id(searcher, addr), score=0.0) for _, addr in found.hits]
        else:
            found = searcher.search(built, limit=window, offset=offset, count=True)
            hits = [Hit(id=_doc_id(searcher, addr), score=float(s)) for s, addr in found.hits]
        return Result(total=_count(found), hits=hits, terms=terms)

    # --- for the translator -----------------------------------------------------------------

    def _tokens(self, text: str) -> list[str]:
        """``text`` as index terms: through the index's own analyzer."""
        return self._analyzer.analyze(unicodedata.normalize("NFC", text))

    @staticmethod
    def normalise(text: str) -> list[str]:
        """The analyzer's tokenisation in Python: split on non-alphanumerics, lower-case, fold
        to ASCII where an ASCII form exists (NFKD without combining marks, plus the letters
        Unicode does not decompose: ``ß`` ``æ`` ``ø`` ``ł`` ...). For highlighting."""
        return _normalise(text)


def _count(result: tantivy.SearchResult) -> int:
    # tantivy-py 0.27's stub omits SearchResult.count (it exists at runtime).
    value = cast(Any, result).count
    return int(value) if value is not None else 0


def _doc_id(searcher: tantivy.Searcher, address: tantivy.DocAddress) -> str:
    return str(searcher.doc(address).get_first("id"))


def _words(tokens: list[str]) -> list[str | tuple[int, str]]:
    return list(tokens)  # the stub's element type is a union and list is invariant


def _escape_regex(text: str) -> str:
    return "".join("\\" + c if c in _REGEX_META else c for c in text)


# --------------------------------------------------------------------------------------------
# Query translation
# --------------------------------------------------------------------------------------------


class _Translator:
    """Turns our query AST into one tantivy query against one searcher's snapshot."""

    def __init__(self, owner: SearchIndex, searcher: tantivy.Searcher, deadline: float) -> None:
        self._owner = owner
        self._schema = owner._schema
        self._searcher = searcher
        self._deadline = deadline
        self._clauses = 0

    def query(self, query: SearchQuery) -> tantivy.Query:
        Occur = tantivy.Occur
        must: list[tantivy.Query] = []
        for node in query.must:
            built = self._node(node)
            if built is not None:
                must.append(built)
        must_not = [q for q in map(self._node, query.must_not) if q is not None]
        if query.paper_id is not None:
            must.append(tantivy.Query.term_query(self._schema, "id", query.paper_id))
        if query.after is not None or query.before is not None:
            must.append(self._day_range(query.after, query.before))
        if not must:
            must.append(tantivy.Query.all_query())  # "-word" alone: everything but
        if len(must) == 1 and not must_not:
            return must[0]
        clauses = [(Occur.Must, q) for q in must] + [(Occur.MustNot, q) for q in must_not]
        return tantivy.Query.boolean_query(clauses)

    def _day_range(self, after: date | None, before: date | None) -> tantivy.Query:
        return tantivy.Query.range_query(
            self._schema,
            "day",
            tantivy.FieldType.Integer,
            _yyyymmdd(after) if after is not None else None,
            _yyyymmdd(before) if before is not None else None,
        )

    def _count_clause(self) -> None:
        self._clauses += 1
        if self._clauses > MAX_CLAUSES:
            raise QueryTooBroad(f"the query has too many terms (at most {MAX_CLAUSES})")
        if time.monotonic() > self._deadline:
            raise SearchTimeout("the search took too long to prepare")

    def _node(self, node: Node) -> tantivy.Query | None:
        """None: the node constrains nothing (a word with no letters or digits)."""
        if isinstance(node, Term):
            return self._words(self._owner._tokens(node.text), node.field, prefix=node.prefix)
        if isinstance(node, Phrase):
            tokens = [t for word in node.words for t in self._owner._tokens(word)]
            return self._words(tokens, node.field, prefix=False)
        if isinstance(node, InCategory):
            self._count_clause()
            categories = sorted(expand(node.term))
            return tantivy.Query.term_set_query(self._schema, "categories", categories)
        if isinstance(node, AnyOf):
            items = [q for q in map(self._node, node.items) if q is not None]
            if len(items) <= 1:
                return items[0] if items else None
            return tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in items])
        raise TypeError(f"not a query node: {node!r}")

    def _words(
        self, tokens: Sequence[str], field: str | None, *, prefix: bool
    ) -> tantivy.Query | None:
        if not tokens:
            return None
        if field is None:
            fields: Sequence[tuple[str, float]] = _DEFAULT_FIELDS
        elif field in _TEXT_FIELDS:
            fields = ((_TEXT_FIELDS[field], 1.0),)
        else:
            raise BadInput(f"unknown field {field!r}")
        per_field: list[tantivy.Query] = []
        for name, boost in fields:
            self._count_clause()
            built = self._one_field(name, list(tokens), prefix=prefix)
            per_field.append(tantivy.Query.boost_query(built, boost) if boost != 1.0 else built)
        if len(per_field) == 1:
            return per_field[0]
        return tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in per_field])

    def _one_field(self, name: str, tokens: list[str], *, prefix: bool) -> tantivy.Query:
        Query = tantivy.Query
        if prefix:
            if len(tokens) > 1:  # "graph-neur*": the phrase, its last word a prefix
                return Query.phrase_prefix_query(self._schema, name, _words(tokens))
            found = self._searcher.terms_with_prefix(
                name, tokens[0], limit=MAX_PREFIX_EXPANSIONS + 1
            )
            if len(found) > MAX_PREFIX_EXPANSIONS:
                raise QueryTooBroad(f"{tokens[0]}* matches too many words: type a few more letters")
            if not found:
                return Query.empty_query()
            return Query.regex_query(self._schema, name, _escape_regex(tokens[0]) + ".*")
        if len(tokens) == 1:  # (tantivy panics on a one-word phrase)
            return Query.term_query(self._schema, name, tokens[0])
        return Query.phrase_query(self._schema, name, _words(tokens))


def _highlight_terms(query: SearchQuery) -> tuple[str, ...]:
    """Normalised words of the positive terms and phrases, first-seen order, no duplicates."""
    seen: dict[str, None] = {}

    def walk(node: Node) -> None:
        if isinstance(node, Term):
            words = _normalise(node.text)
            if node.prefix and words:
                words[-1] += "*"
            seen.update(dict.fromkeys(words))
        elif isinstance(node, Phrase):
            for word in node.words:
                seen.update(dict.fromkeys(_normalise(word)))
        elif isinstance(node, AnyOf):
            for item in node.items:
                walk(item)

    for node in query.must:
        walk(node)
    return tuple(seen)
