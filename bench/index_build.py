"""Building the search index in bulk: what a history import (``coolpapers import kaggle``)
ends with, ``sync.rebuild`` of PAPERS papers with their [REL] keywords, and the searches on
the index it leaves.

The corpus is :mod:`bench.search_corpus`'s (real titles, abstract sentences and authors of
the bundled RSS feeds, recombined, seeded), PAPERS of them (``BENCH_INDEX_PAPERS`` overrides:
the issue's figure is for ~280,000), bulk-inserted into a fresh SQLite database (not timed).

Timed, once each (a build is minutes of work, not a micro-benchmark), wall clock and CPU
(this process, every thread: tantivy's too; the CPU figure holds when other processes are busy):
  * ``sync.rebuild``: read the rows, index them, commit, the keyword pass, the merges; each
    step's seconds from the catch-up's own log record (``search_phases``);
  * the index's baseline, the floor of the same work: the same rows read in one plain Core
    query, tantivy documents made by ``documents._document`` and added to a bare tantivy
    writer (same schema, heap and threads), one commit, its merges waited for, into a
    directory of its own;
  * the keywords' baseline: the same keywords (kept from the rebuild) written by a bare
    ``executemany`` of ``UPDATE papers SET keywords=? WHERE id=?`` through sqlite3, in one
    transaction.
Checked: the index holds every paper, and every paper has keywords.

Then the 200 queries of ``bench.search`` (``make_queries``) on the built index, ROUNDS rounds
after a warm-up: our engine (``parse_query`` + ``SearchIndex.search(limit=25)``, what
``/api/search`` runs) against bare tantivy on the same index (tantivy's own query parser over
title and abstract on the query's words, the top 25 and their ids), p50/p95; and the number
of segments the rebuild left (each search visits every one).
"""

from __future__ import annotations

import gc
import json
import logging
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tantivy
from sqlalchemy import select

from bench._common import BenchError, sqlite_settings, timed
from bench.search_corpus import load, make_corpus, make_queries, real_pool
from coolpapers.db import make_engine, make_sessionmaker, session_scope
from coolpapers.models import Paper
from coolpapers.search import engine as search_engine
from coolpapers.search import sync
from coolpapers.search.documents import ANALYZER, _analyzer, _document, _schema
from coolpapers.search.engine import SearchIndex
from coolpapers.search.query import parse_query
from coolpapers.store import index_feed

PAPERS = int(os.environ.get("BENCH_INDEX_PAPERS", "280000"))
ROUNDS = 5
LIMIT = 25


def _bare_build(database: Path, path: Path) -> int:
    """The floor: every row in one query, a bare tantivy writer, one commit, its merges."""
    path.mkdir()
    index = tantivy.Index(_schema(ANALYZER), path=str(path))
    index.register_tokenizer(ANALYZER, _analyzer())
    writer = index.writer(
        heap_size=search_engine._BULK_WRITER_HEAP, num_threads=search_engine._WRITER_THREADS
    )
    settings = sqlite_settings(database.parent)
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            columns = [Paper.__table__.c[name] for name in index_feed.INDEX_COLUMNS]
            for row in conn.execute(select(*columns)):
                writer.add_document(_document(sync._indexed(row)))
    finally:
        engine.dispose()
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    return index.searcher().num_docs


def _bare_keywords(database: Path, keywords: list[tuple[str, str]]) -> float:
    """The floor of the keyword writes: one executemany through sqlite3, one transaction."""
    conn = sqlite3.connect(database)
    try:
        started = time.perf_counter()
        with conn:
            conn.executemany("UPDATE papers SET keywords = ? WHERE id = ?", keywords)
        return time.perf_counter() - started
    finally:
        conn.close()


def _percentiles(samples: list[float]) -> dict[str, float]:
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": q[49], "p95": q[94], "p99": q[98], "max": max(samples)}


def _queries(index: SearchIndex, texts: list[str]) -> dict[str, Any]:
    """Our engine against bare tantivy on the same index, the same texts, interleaved."""
    bare_index = tantivy.Index.open(str(index.path))
    bare_index.register_tokenizer(ANALYZER, _analyzer())
    searcher = bare_index.searcher()
    # tantivy's parser on the words alone: our syntax (au:, cat:, quotes, OR) is ours
    words = [" ".join(SearchIndex.normalise(text)) or "model" for text in texts]
    bare_queries = [bare_index.parse_query(w, ["title", "abstract"]) for w in words]

    def ours(text: str) -> None:
        index.search(parse_query(text), limit=LIMIT)

    def bare(query: tantivy.Query) -> None:
        found = searcher.search(query, limit=LIMIT, count=True)
        [searcher.doc(address).get_first("id") for _, address in found.hits]

    for text, query in zip(texts, bare_queries, strict=True):  # warm-up
        ours(text)
        bare(query)
    ours_s: list[float] = []
    bare_s: list[float] = []
    for _ in range(ROUNDS):
        for text, query in zip(texts, bare_queries, strict=True):
            start = time.perf_counter()
            ours(text)
            ours_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            bare(query)
            bare_s.append(time.perf_counter() - start)
    return {"n": len(texts), "ours": _percentiles(ours_s), "bare": _percentiles(bare_s)}


class _PhaseLog(logging.Handler):
    """The seconds of each step of the catch-ups, from their log records."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.phases: list[dict[str, float]] = []
        self.cpu: list[dict[str, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        phases = getattr(record, "search_phases", None)
        if isinstance(phases, dict):
            self.phases.append(phases)
            self.cpu.append(getattr(record, "search_phases_cpu", {}))


def _timed_cpu(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall and CPU seconds (this process, every thread: tantivy's too) of ``fn()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def run() -> dict[str, Any]:
    pool = real_pool()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        settings = sqlite_settings(data_dir)
        make_s, corpus = timed(lambda: make_corpus(pool, PAPERS))
        loaded = load(settings, corpus)
        coined = corpus.coined
        del corpus
        gc.collect()
        engine = make_engine(settings)
        factory = make_sessionmaker(engine)
        handler = _PhaseLog()
        sync_log = logging.getLogger(sync.__name__)
        level = sync_log.level
        sync_log.addHandler(handler)
        sync_log.setLevel(logging.INFO)
        try:
            rebuild_s, rebuild_cpu_s, indexed = _timed_cpu(lambda: sync.rebuild(factory, data_dir))
            if indexed != PAPERS or len(handler.phases) != 1:
                raise BenchError(f"rebuild indexed {indexed} of {PAPERS} papers")
            path = sync.index_path(data_dir)
            size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
            with session_scope(factory) as s:
                kept = [
                    (json.dumps(k), pid) for pid, k in s.execute(select(Paper.id, Paper.keywords))
                ]
            if any(k == "null" for k, _ in kept):
                raise BenchError("papers left without keywords")
            with SearchIndex.open(path, create=False) as index:
                segments = index.segment_count()
                docs = index.doc_count()
                queries = [text for _, text in make_queries(pool, coined, index)]
                searched = _queries(index, queries)
        finally:
            sync_log.removeHandler(handler)
            sync_log.setLevel(level)
            engine.dispose()
        if docs != PAPERS:
            raise BenchError(f"{docs} papers in the index")
        database = data_dir / "coolpapers.db"
        if not database.exists():
            raise BenchError(f"no SQLite database at {database}")
        bare_keywords_s = _bare_keywords(database, kept)
        bare_build_s, bare_build_cpu_s, bare_docs = _timed_cpu(
            lambda: _bare_build(database, data_dir / "bare-index")
        )
        shutil.rmtree(data_dir / "bare-index")
        if bare_docs != PAPERS:
            raise BenchError(f"bare build: {bare_docs} documents")
    return {
        "papers": PAPERS,
        "corpus_make_s": make_s,
        "insert_s": loaded["insert_s"],
        "rebuild_s": rebuild_s,
        "rebuild_cpu_s": rebuild_cpu_s,
        "phases_s": handler.phases[0],
        "phases_cpu_s": handler.cpu[0],
        "bare_build_s": bare_build_s,
        "bare_build_cpu_s": bare_build_cpu_s,
        "bare_keywords_s": bare_keywords_s,
        "size_bytes": size,
        "segments": segments,
        "queries": searched,
    }


def _ms(x: float) -> str:
    return f"{x * 1000:.2f} ms"


def report_lines(r: dict[str, Any]) -> list[str]:
    n, q, ph = r["papers"], r["queries"], r["phases_s"]
    index_s = ph["index"] + ph["commit"] + ph.get("merges", 0.0)
    return [
        f"{n:,} papers (bench.search_corpus, made in {r['corpus_make_s']:.1f} s, "
        f"bulk insert {r['insert_s']:.1f} s, not timed below)",
        f"sync.rebuild with keywords: {r['rebuild_s']:.1f} s ({n / r['rebuild_s']:,.0f} papers/s"
        f", CPU {r['rebuild_cpu_s']:.1f} s); {r['size_bytes'] / 1e6:.0f} MB, "
        f"{r['segments']} segments",
        "  steps: "
        + ", ".join(
            f"{name} {s:.1f} s (CPU {r['phases_cpu_s'][name]:.1f})" for name, s in ph.items()
        ),
        f"  index (read, add, commit, merges) {index_s:.1f} s ({n / index_s:,.0f}/s) vs a bare "
        f"tantivy build of the same rows {r['bare_build_s']:.1f} s ({n / r['bare_build_s']:,.0f}"
        f"/s, CPU {r['bare_build_cpu_s']:.1f} s): ×{index_s / r['bare_build_s']:.2f}",
        f"  keywords {ph['keywords']:.1f} s ({n / ph['keywords']:,.0f}/s) vs a bare "
        f"executemany of the same keywords {r['bare_keywords_s']:.1f} s "
        f"({n / r['bare_keywords_s']:,.0f}/s)",
        f"{q['n']} queries × {ROUNDS}: engine (parse_query + SearchIndex.search, limit {LIMIT}) "
        f"p50 {_ms(q['ours']['p50'])} / p95 {_ms(q['ours']['p95'])}; bare tantivy "
        f"p50 {_ms(q['bare']['p50'])} / p95 {_ms(q['bare']['p95'])} "
        f"(×{q['ours']['p50'] / q['bare']['p50']:.1f} / "
        f"×{q['ours']['p95'] / q['bare']['p95']:.1f})",
    ]
