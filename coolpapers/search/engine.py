"""The search index: tantivy (BM25, no stemming, as papers.cool). Only this module and the two
it builds on know tantivy: :mod:`coolpapers.search.documents` (schema, analyzer, documents) and
:mod:`coolpapers.search.translate` (our query AST as a tantivy query).

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
import threading
import time
import unicodedata
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar, cast

import tantivy

from coolpapers.errors import BadInput, CoolpapersError
from coolpapers.search.ast import SearchQuery
from coolpapers.search.documents import (
    ANALYZER,
    IndexedPaper,
    _analyzer,
    _document,
    _normalise,
    _schema,
)
from coolpapers.search.documents import _sort_key as _sort_key
from coolpapers.search.runner import BoundedRunner, SearchTimeout
from coolpapers.search.translate import (
    MAX_CLAUSES,
    MAX_PREFIX_EXPANSIONS,
    QueryTooBroad,
    _highlight_terms,
    _Translator,
)
from coolpapers.search.translate import TITLE_BOOST as TITLE_BOOST

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

#: Most hits a search can page through, as papers.cool; the total still counts all matches.
MAX_RESULTS = 1000
SORTS = ("relevance", "time")
#: Longest a search may take, preparing and running it, before it answers SearchTimeout.
SEARCH_DEADLINE_S = 1.0

CURSOR_FILE = "coolpapers-cursor.json"
_META_FILE = "meta.json"
_WRITER_HEAP = 128_000_000  # bytes, shared by the writer threads (tantivy wants >= 15 MB each)
# A bulk build's writer: a segment is cut each time a thread's share fills, and the searches
# visit every segment the merges leave; bytes, taken only as the documents need them.
_BULK_WRITER_HEAP = 512_000_000
# A commit leaves one segment per writer thread, and every search visits each segment: an
# upsert (a day's catch-up, a few thousand papers) writes on one thread, a bulk build on two.
_WRITER_THREADS = 1
_BULK_WRITER_THREADS = 2
_OPEN_ATTEMPTS = 3  # a reader may race the writer's clean-up of merged segments: retry
_RETRY_PAUSE_S = 0.05


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


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


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
        # heavy searches at once: half the cores, so that a flood of them leaves the rest free
        self._runner = BoundedRunner(max(1, (os.cpu_count() or 2) // 2))

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
        schema = _schema(ANALYZER)
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
        self._runner.close()

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

    def _writer_locked(
        self, heap_bytes: int = _WRITER_HEAP, threads: int = _WRITER_THREADS
    ) -> tantivy.IndexWriter:
        """The writer, opened now if need be with this heap and threads (an open one is kept
        as it is until wait_merges lets it go or the index closes)."""
        if self._writer is None:
            try:
                self._writer = self._live().writer(heap_size=heap_bytes, num_threads=threads)
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

    def add(self, papers: Iterable[IndexedPaper]) -> int:
        """Add these papers without deleting first: only for papers not in the index, neither
        committed nor added since the last commit (a bulk build into an empty index, where
        upsert's delete-by-term finds nothing and only costs); visible after commit()."""
        with self._write_lock:
            writer = self._writer_locked(_BULK_WRITER_HEAP, _BULK_WRITER_THREADS)
            count = 0
            for paper in papers:
                writer.add_document(_document(paper))
                count += 1
            return count

    def rollback(self) -> None:
        """Drop the upserts and adds not committed (a pass that failed midway: the next one
        sends them again, and an add must not meet a copy left over)."""
        with self._write_lock:
            if self._writer is not None:
                self._writer.rollback()

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

    def record_cursor(self, cursor: str) -> None:
        """Replace the cursor of the last commit, without a new commit: progress made since
        (in the database) that only the cursor knows of. Same durability as commit()'s."""
        with self._write_lock:
            meta = _read_json(self._path / _META_FILE)
            opstamp = meta.get("opstamp") if meta is not None else None
            if not isinstance(opstamp, int):
                raise IndexCorrupt(f"search index in {self._path} has no commit to go with")
            _write_cursor(self._path, cursor, opstamp)

    def wait_merges(self) -> None:
        """Wait for the segment merges the last commits started, then see their result: a
        bulk build leaves many segments, and every search visits each of them. The writer is
        let go (tantivy consumes it); the next write opens one again."""
        with self._write_lock:
            writer, self._writer = self._writer, None
            if writer is not None:
                writer.wait_merging_threads()
        self.reload()

    def segment_count(self) -> int:
        """Segments of the index as of the last reload (a search visits each one)."""
        self.reload()
        return self._live().searcher().num_segments

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

    def versions(self, ids: Collection[str]) -> dict[str, int]:
        """The indexed version (``documents.version_of`` its modified_at) of those of ``ids``
        in the index and committed, as of the last reload; papers indexed without one are left
        out."""
        if not ids:
            return {}
        searcher = self._live().searcher()
        query = tantivy.Query.term_set_query(self._schema, "id", list(ids))
        found: dict[str, int] = {}
        for _, address in searcher.search(query, limit=len(ids), count=False).hits:
            doc = searcher.doc(address)  # live documents only: a replaced copy is not found
            version = doc.get_first("modified")
            if isinstance(version, int):
                found[str(doc.get_first("id"))] = version
        return found

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
        deadline_s: float | None = None,
    ) -> Result:
        """Papers matching ``query``: by BM25 (``relevance``) or newest day first, then id
        descending (``time``). ``offset + limit`` is cut at MAX_RESULTS; ``total`` is not.

        Raises QueryTooBroad (a prefix matching too many words, too many clauses), SearchTimeout
        (the query could not be prepared and run in ``deadline_s``, by default
        SEARCH_DEADLINE_S; a heavy one runs on a thread of its own to be waited for so),
        UnknownCategory (``cat:`` of an unknown id)."""
        if sort not in SORTS:
            raise BadInput(f"unknown sort {sort!r} (use one of {', '.join(SORTS)})")
        started = time.monotonic()
        deadline = started + (SEARCH_DEADLINE_S if deadline_s is None else deadline_s)
        searcher, translator, built = self._prepare(query, deadline)
        terms = _highlight_terms(query)

        offset = max(0, offset)
        window = min(max(0, limit), MAX_RESULTS - offset) if offset < MAX_RESULTS else 0
        options: dict[str, Any] = {"limit": window or 1, "offset": offset if window else 0}
        if sort == "time" and window:
            options.update(order_by_field="sort_key", order=tantivy.Order.Desc)

        def run() -> tantivy.SearchResult:
            return searcher.search(built, count=True, **options)

        found = self._runner.run(run, deadline) if translator.heavy else run()
        if window == 0:
            return Result(total=_count(found), hits=[], terms=terms)
        if sort == "time":
            hits = [Hit(id=_doc_id(searcher, addr), score=0.0) for _, addr in found.hits]
        else:
            hits = [Hit(id=_doc_id(searcher, addr), score=float(s)) for s, addr in found.hits]
        return Result(total=_count(found), hits=hits, terms=terms)

    def score(
        self, query: SearchQuery, ids: Collection[str], *, deadline_s: float | None = None
    ) -> dict[str, float]:
        """The BM25 score of ``query`` for each of ``ids`` it matches, the very score
        :meth:`search` gives (the same query, IDF over the whole index: the papers are only
        filtered, at no score); the papers it does not match are left out. For the preference
        sort (❤): a page's papers ranked by the reader's keywords. No MAX_RESULTS cap: every
        one of ``ids`` can be scored. Raises as :meth:`search`."""
        if not ids or query.empty:
            return {}
        deadline = time.monotonic() + (SEARCH_DEADLINE_S if deadline_s is None else deadline_s)
        searcher, translator, built = self._prepare(query, deadline)
        Query, Occur = tantivy.Query, tantivy.Occur
        among = Query.const_score_query(Query.term_set_query(self._schema, "id", list(ids)), 0.0)
        restricted = Query.boolean_query([(Occur.Must, built), (Occur.Must, among)])

        def run() -> tantivy.SearchResult:
            return searcher.search(restricted, limit=len(ids), count=False)

        found = self._runner.run(run, deadline) if translator.heavy else run()
        return {_doc_id(searcher, addr): float(s) for s, addr in found.hits}

    def _prepare(
        self, query: SearchQuery, deadline: float
    ) -> tuple[tantivy.Searcher, _Translator, tantivy.Query]:
        """The live searcher and ``query`` built for it, within ``deadline``."""
        self.reload()
        searcher = self._live().searcher()
        # The limits as this module's names, where they can be tuned (and tests patch them).
        translator = _Translator(
            self._schema,
            searcher,
            self._tokens,
            deadline,
            max_clauses=MAX_CLAUSES,
            max_prefix_expansions=MAX_PREFIX_EXPANSIONS,
        )
        built = translator.query(query)
        if time.monotonic() > deadline:
            raise SearchTimeout("the search took too long to prepare")
        return searcher, translator, built

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
