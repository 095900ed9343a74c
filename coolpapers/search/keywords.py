"""The [REL] keywords of a paper: ~10 words of its title and abstract by TF-IDF, the document
frequencies from the committed search index (a pass sees one committed index, so they hold
throughout), stored in the database (``papers.keywords``) for the pages to show.

A pass reads the papers a page at a time (plain rows, ``store.index_feed``), computes the
keywords of each page, and writes those that changed, a write transaction a page. A large pass
(a rebuild: 1M papers) computes them in worker processes while this one reads and writes.
Where the pass has got to is the caller's to record (``on_page``): the search index's cursor
(``sync.Position``) says so.
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import re
from collections import Counter, deque
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from coolpapers.db import session_scope
from coolpapers.search.engine import SearchIndex
from coolpapers.store import index_feed
from coolpapers.store.index_feed import FeedKey

log = logging.getLogger(__name__)

# Keywords written per database transaction: SQLite has one writer, and the web's writes
# (stars, clicks) wait behind this one; ~5,000 rows is some tens of milliseconds.
KEYWORD_BATCH = 5000
# Processes computing the keywords of a large pass, while this one reads and writes (on two
# cores: ~1.8x); and the papers a pass needs before it starts them (each takes ~1 s to start).
KEYWORD_WORKERS = min(2, os.cpu_count() or 1)
KEYWORD_POOL_MIN = 20_000
KEYWORDS = 10
MIN_KEYWORD_CHARS = 3
STOPWORDS = frozenset(  # English function words and paper boilerplate: never keywords
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers him his how however i if in into is it its
    itself just may me more most my no nor not now of off on once only or other our ours out
    over own paper papers propose proposed results same she should show shows so some such
    than that the their theirs them then there these they this those through to too under
    until up us use used using very via was we were what when where which while who whom why
    will with would yet you your our method methods approach based new novel work study""".split()  # noqa: SIM905 - a word list reads better as text
)


# The analyzer's words of ASCII text long enough to be keywords: runs of ASCII letters and
# digits, lower-cased, of MIN_KEYWORD_CHARS or more (a run is only ever matched whole).
_ASCII_CANDIDATE = rf"[a-z0-9]{{{MIN_KEYWORD_CHARS},}}"


def _candidates(text: str) -> list[str]:
    """The words of ``text`` as the analyzer makes them (``SearchIndex.normalise``) that are
    long enough to be keywords; a fast way for ASCII text, most of arXiv's."""
    if text.isascii():
        return re.findall(_ASCII_CANDIDATE, text.lower())
    return [w for w in SearchIndex.normalise(text) if len(w) >= MIN_KEYWORD_CHARS]


def _term_counts(title: str, abstract: str) -> Counter[str]:
    """Long enough words of a paper and their counts (the title counts twice); stop words
    and numbers are left to the caller (a test per distinct word, not per word)."""
    counts = Counter(_candidates(abstract))
    in_title = _candidates(title)
    counts.update(in_title)
    counts.update(in_title)
    return counts


def _keyword(word: str) -> bool:
    return word not in STOPWORDS and not word.isdigit()


_NEVER = float("-inf")  # the IDF of a word that is never a keyword: it sorts last


class _Idf(dict[str, float]):
    """Each word's IDF against one committed index, looked up once; _NEVER for stop words
    and numbers (one test per distinct word of the pass, not one per paper)."""

    def __init__(self, index: SearchIndex) -> None:
        super().__init__()
        self._index = index
        self._docs = index.doc_count()

    def __missing__(self, word: str) -> float:
        if _keyword(word):
            found = math.log((self._docs + 1) / (self._index.doc_freq(word) + 1))
        else:
            found = _NEVER
        self[word] = found
        return found


class _Keywords:
    """TF-IDF keywords against one committed index (its frequencies hold for a pass)."""

    def __init__(self, index: SearchIndex) -> None:
        self._idf = _Idf(index)

    def of(self, title: str, abstract: str) -> list[str]:
        idf = self._idf
        # count x IDF, highest first, ties by word
        scored = sorted(
            [
                (-(count * idf[word] + 1e-9), word)
                for word, count in _term_counts(title, abstract).items()
            ]
        )
        return [word for score, word in scored[:KEYWORDS] if score != -_NEVER]


# A page of papers for the keywords, as plain tuples (they go to worker processes):
# (id, title, abstract, the keywords stored now).
_Page = list[tuple[str, str, str, list[str] | None]]
# The keywords of a page that changed, ready for index_feed.set_keywords_json (made where
# they are computed: a worker's JSON is no work for the process writing them).
_Changed = list[tuple[str, str]]


def _changed(keywords: _Keywords, page: _Page) -> _Changed:
    """The keywords of the papers of ``page`` whose keywords are not those stored, as (JSON
    text, paper id) pairs."""
    changed: _Changed = []
    for paper_id, title, abstract, stored in page:
        words = keywords.of(title, abstract)
        if words != stored:
            changed.append((json.dumps(words), paper_id))
    return changed


# A worker process's keywords (the index opened by path): set by its initializer.
_WORKER: dict[str, _Keywords] = {}


def _start_worker(path: str) -> None:
    _WORKER["keywords"] = _Keywords(SearchIndex.open(Path(path), create=False))


def _changed_in_worker(page: _Page) -> _Changed:
    return _changed(_WORKER["keywords"], page)


def _keyword_pages(
    factory: sessionmaker[Session], key: FeedKey | None, unchanged: Collection[str]
) -> Iterator[tuple[FeedKey, _Page]]:
    """The papers after ``key``, a page at a time (a read transaction each), with the place
    of each page's last paper; not those ``unchanged`` that have keywords."""
    while True:
        with session_scope(factory) as s:
            rows = index_feed.page_after(s, key, KEYWORD_BATCH, index_feed.KEYWORD_COLUMNS)
        if not rows:
            return
        key = index_feed.key_of(rows[-1])
        yield (
            key,
            [
                (r.id, r.title, r.abstract, r.keywords)
                for r in rows
                if r.keywords is None or r.id not in unchanged
            ],
        )
        if len(rows) < KEYWORD_BATCH:
            return


def _computed(
    pages: Iterator[tuple[FeedKey, _Page]], index: SearchIndex, pooled: bool
) -> Iterator[tuple[FeedKey, _Changed]]:
    """The changed keywords of each page, in page order: here, or (``pooled``) by worker
    processes while this one reads the next pages and writes the last ones. Pure Python
    (some 80 us a paper): threads would take turns on the GIL."""
    if not pooled:
        keywords = _Keywords(index)  # one pass sees one committed index: frequencies hold
        for key, page in pages:
            yield key, _changed(keywords, page)
        return
    context = multiprocessing.get_context("spawn")  # never fork a process running tantivy's threads
    with ProcessPoolExecutor(
        KEYWORD_WORKERS,
        mp_context=context,
        initializer=_start_worker,
        initargs=(str(index.path),),
    ) as pool:
        waiting: deque[tuple[FeedKey, Future[_Changed]]] = deque()
        try:
            for key, page in pages:
                waiting.append((key, pool.submit(_changed_in_worker, page)))
                if len(waiting) > 2 * KEYWORD_WORKERS:  # a few ahead, not the whole table
                    done_key, future = waiting.popleft()
                    yield done_key, future.result()
            while waiting:
                done_key, future = waiting.popleft()
                yield done_key, future.result()
        finally:
            for _, future in waiting:
                future.cancel()


def store(
    factory: sessionmaker[Session],
    index: SearchIndex,
    key: FeedKey | None,
    *,
    on_page: Callable[[FeedKey], None] | None = None,
    unchanged: Collection[str] = (),
) -> int:
    """Compute and store the keywords of the papers after ``key`` (all when None), a page per
    write transaction; returns how many changed. ``on_page`` is told the place of each page's
    last paper once its keywords are committed. Past KEYWORD_POOL_MIN papers, worker
    processes compute them. The papers ``unchanged`` since they were indexed keep the
    keywords they have (if they have some)."""
    with session_scope(factory) as s:
        to_do = index_feed.count_after(s, key) - len(unchanged)
    pooled = KEYWORD_WORKERS > 1 and to_do >= KEYWORD_POOL_MIN
    changed_count = 0
    while True:
        try:
            pages = _keyword_pages(factory, key, unchanged)
            for done_key, changed in _computed(pages, index, pooled):
                if changed:
                    with session_scope(factory, write=True) as s:
                        index_feed.set_keywords_json(s, changed)
                    changed_count += len(changed)
                key = done_key
                if on_page is not None:
                    on_page(done_key)
            return changed_count
        except BrokenProcessPool as exc:
            # A worker could not start or died (a main module that starts work when a
            # spawned process imports it, the memory killer): carry on here, from the last
            # page written.
            log.warning("search keywords: worker processes failed (%s): computing here", exc)
            pooled = False
