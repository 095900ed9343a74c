"""``coolpapers import kaggle`` at scale: PAPERS papers into a fresh database, end to end.

The snapshot is ``bench.corpus.write_corpus`` (Kaggle format, every text from the real
fixtures, recombined under new ids 2023-2026, seeded): about a year of arXiv. Timed in one run:

- SQLite, fresh file: ``ingest.import_kaggle`` as the CLI runs it (parse in two other
  processes, derive the day lists, bulk writes with their checkpoints; the progress callback's
  last call marks the end of the writes; CPU of the writer and of the parsers per paper too),
  then the search index built once with its [REL] keywords and ANALYZE; end to end is the
  whole call. The import must have stored every paper, and the index must hold them all with
  their keywords, else the bench stops.
- The baseline, same run: the same rows (read back from the imported database: papers,
  paper_categories, listings, day_categories) into a fresh database of the same schema with a
  bare ``executemany`` per table, BATCH rows per commit: the floor any Python import can reach
  on this machine. The import's rate is given as a share of it.
- Postgres, when it answers (COOLPAPERS_TEST_DATABASE_URL or the test server), in a throwaway
  schema: the same import end to end (COPY through temp tables; VACUUM (ANALYZE) at the end).
- CPU a paper by stage, in this process on the corpus's first STAGE_LINES lines (best of
  three, the cycle collector off as the import runs): parsing the lines (``parse_fields``),
  the rest of a batch's preparation (dedupe, listings by arXiv's schedule, rows), and the
  writes into a fresh SQLite database with their checkpoint: where a paper's CPU goes,
  whatever else runs on the machine.

Figures only: nothing passes or fails on timing.
"""

from __future__ import annotations

import gc
import resource
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench._common import BenchError, postgres_schema, reachable_postgres, sqlite_settings
from bench.corpus import write_corpus
from coolpapers import ingest, schema, store
from coolpapers.config import Settings
from coolpapers.db import make_engine, make_sessionmaker, session_scope
from coolpapers.ingest.kaggle import BATCH_LINES, parse_batch
from coolpapers.models import Paper, utcnow
from coolpapers.records import PaperMeta
from coolpapers.sources.kaggle import parse_fields
from coolpapers.store import bulk

PAPERS = 280_000
SEED = 11
STAGE_LINES = 20_000  # lines of the by-stage CPU figures
BATCH = BATCH_LINES  # baseline rows per commit: the import's batch
# the tables the import writes, and the columns it writes in them (keywords come from the index)
_TABLES = {
    "papers": (
        "id, version, title, abstract, authors, categories, primary_category, doi, journal_ref, "
        "comments, license, published, updated, first_announced, versions, pdf_clicks, "
        "faq_clicks, created_at, modified_at"
    ),
    "paper_categories": "paper_id, category, position",
    "listings": "paper_id, date, kind, version, derived",
    "day_categories": "category, date",
}


def _import(settings: Settings, path: Path) -> dict[str, Any]:
    """The import end to end, as ``coolpapers import kaggle`` runs it, on a fresh database."""
    engine = make_engine(settings)
    try:
        schema.upgrade(engine)
        factory = make_sessionmaker(engine)
        pipeline = ingest.Pipeline.open(settings, factory)
        marks: list[tuple[float, float, float]] = []  # wall, this process's CPU, children's

        def mark(_done: int, _total: int | None) -> None:
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = children.ru_utime + children.ru_stime
            marks.append((time.perf_counter(), time.process_time(), cpu))

        try:
            mark(0, None)
            report = ingest.import_kaggle(pipeline, path, progress=mark)
            total_s = time.perf_counter() - marks[0][0]
        finally:
            pipeline.close()
        with session_scope(factory) as s:
            stored = s.scalar(select(func.count()).select_from(Paper))
            with_keywords = s.scalar(select(func.count()).where(Paper.keywords.is_not(None)))
    finally:
        engine.dispose()
    if report.bad or stored != PAPERS or report.stored != PAPERS:
        raise BenchError(f"the import stored {stored} papers of {PAPERS} ({report.bad} bad)")
    if report.indexed != PAPERS or with_keywords != PAPERS:
        raise BenchError(f"indexed {report.indexed}, {with_keywords} with keywords of {PAPERS}")
    import_s = marks[-1][0] - marks[0][0]
    # the parsing processes' CPU is counted once they have ended: after the last batch
    main_cpu, parsers_cpu = (marks[-1][i] - marks[0][i] for i in (1, 2))
    return {
        "cpu_us_per_paper": {
            "writer": main_cpu / PAPERS * 1e6,
            "parsers": parsers_cpu / PAPERS * 1e6,
        },
        "papers": PAPERS,
        "import_s": import_s,
        "papers_per_s": PAPERS / import_s,
        "after_import_s": total_s - import_s,  # search index, keywords, (VACUUM) ANALYZE
        "total_s": total_s,
        "derived": report.derived,
        "not_derived": report.not_derived,
    }


def _best_cpu(work: Callable[[], object], runs: int = 3) -> float:
    """The least CPU time of ``runs`` calls of ``work``, in seconds."""
    best = float("inf")
    for _ in range(runs):
        start = time.process_time()
        work()
        best = min(best, time.process_time() - start)
    return best


def _never_stored(paper: bulk.PaperTuple) -> PaperMeta:
    raise BenchError(f"{paper[0]} was in a fresh database")


def _stages(corpus: Path, root: Path) -> dict[str, float]:
    """CPU µs a paper of each stage, in this process (see the module)."""
    lines: list[bytes] = []
    with corpus.open("rb") as snapshot:
        for line in snapshot:
            lines.append(line)
            if len(lines) == STAGE_LINES:
                break
    batches = [lines[i : i + BATCH_LINES] for i in range(0, len(lines), BATCH_LINES)]
    enabled = gc.isenabled()
    gc.disable()
    try:
        parse_s = _best_cpu(lambda: [parse_fields(line) for line in lines])
        prepare_s = _best_cpu(lambda: [parse_batch(batch, False) for batch in batches])
        parsed = [parse_batch(batch, False) for batch in batches]
        writes: list[float] = []
        for run in range(3):
            settings = sqlite_settings(root / f"stages-{run}")
            engine = make_engine(settings)
            try:
                schema.upgrade(engine)
                factory = make_sessionmaker(engine)
                start = time.process_time()
                for done in parsed:
                    with session_scope(factory, write=True) as s:
                        papers = [paper for _, paper in done.papers]
                        bulk.write_papers(s, papers, utcnow(), _never_stored)
                        store.put_checkpoint(s, "bench", "{}", len(papers))
                writes.append(time.process_time() - start)
            finally:
                engine.dispose()
    finally:
        if enabled:
            gc.enable()
    per = 1e6 / len(lines)
    return {
        "parse": parse_s * per,
        "prepare": (prepare_s - parse_s) * per,
        "write_sqlite": min(writes) * per,
    }


def _baseline(imported: Path, target: Path) -> dict[str, Any]:
    """The same rows into a fresh database of the same schema, bare executemany."""
    engine = make_engine(sqlite_settings(target.parent, database_url=f"sqlite:///{target}"))
    try:
        schema.upgrade(engine)
    finally:
        engine.dispose()
    source, sink = sqlite3.connect(imported), sqlite3.connect(target, isolation_level=None)
    sink.execute("PRAGMA journal_mode=WAL")
    sink.execute("PRAGMA synchronous=NORMAL")
    seconds: dict[str, float] = {}
    try:
        for table, columns in _TABLES.items():
            marks = ", ".join("?" * len(columns.split(",")))
            statement = f"INSERT INTO {table} ({columns}) VALUES ({marks})"
            rows = source.execute(f"SELECT {columns} FROM {table}")
            spent = 0.0
            while batch := rows.fetchmany(BATCH):
                start = time.perf_counter()
                sink.execute("BEGIN")
                sink.executemany(statement, batch)
                sink.execute("COMMIT")
                spent += time.perf_counter() - start
            seconds[table] = spent
    finally:
        source.close()
        sink.close()
    total = sum(seconds.values())
    return {"seconds": seconds, "total_s": total, "papers_per_s": PAPERS / total}


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="coolpapers-bench-kaggle-") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        corpus = write_corpus(root / "snapshot.jsonl", PAPERS, SEED)
        written_s = time.perf_counter() - start
        size = corpus.stat().st_size
        stages = _stages(corpus, root)
        sqlite = _import(sqlite_settings(root / "sqlite"), corpus)
        baseline = _baseline(root / "sqlite" / "coolpapers.db", root / "baseline" / "base.db")
        sqlite["baseline"] = baseline
        sqlite["share_of_baseline"] = sqlite["papers_per_s"] / baseline["papers_per_s"]
        pg_url, pg_skipped = reachable_postgres()
        postgres = None
        if pg_url is not None:
            with postgres_schema(pg_url) as schema_url:
                settings = sqlite_settings(root / "postgres", database_url=schema_url)
                postgres = _import(settings, corpus)
    return {
        "papers": PAPERS,
        "seed": SEED,
        "corpus_bytes": size,
        "corpus_write_s": written_s,
        "cpu_us_per_paper_by_stage": stages,
        "sqlite": sqlite,
        "postgres": postgres,
        "postgres_skipped": pg_skipped,
    }


def _lines(label: str, figures: dict[str, Any]) -> list[str]:
    cpu = figures["cpu_us_per_paper"]
    return [
        f"{label}: import {figures['import_s']:.1f} s = {figures['papers_per_s']:,.0f} papers/s; "
        f"then search index + [REL] keywords + (VACUUM) ANALYZE {figures['after_import_s']:.1f} s; "
        f"end to end {figures['total_s']:.1f} s",
        f"  CPU a paper: writer {cpu['writer']:.0f} µs, parsing processes {cpu['parsers']:.0f} µs "
        "(what the import costs whatever else runs; a busy machine stretches the wall time)",
    ]


def report_lines(result: dict[str, Any]) -> list[str]:
    sqlite = result["sqlite"]
    base = sqlite["baseline"]
    lines = [
        f"kaggle import: {result['papers']:,} papers, a {result['corpus_bytes'] / 1e6:.0f} MB "
        f"snapshot recombined from the real fixtures (written in {result['corpus_write_s']:.1f} "
        f"s); {sqlite['derived']:,} listings derived, {sqlite['not_derived']:,} versions "
        "without a knowable day",
        *_lines("SQLite", sqlite),
        f"  baseline, bare executemany of the same rows into the same schema: "
        f"{base['total_s']:.1f} s = {base['papers_per_s']:,.0f} papers/s; the import runs at "
        f"{sqlite['share_of_baseline']:.0%} of it (×{1 / sqlite['share_of_baseline']:.1f} slower)",
    ]
    if (stages := result.get("cpu_us_per_paper_by_stage")) is not None:
        lines.append(
            f"  CPU a paper by stage, one process, {STAGE_LINES:,} lines: parse "
            f"{stages['parse']:.1f} µs, dedupe + listings + rows {stages['prepare']:.1f} µs, "
            f"SQLite writes {stages['write_sqlite']:.1f} µs"
        )
    if result["postgres"] is not None:
        lines += _lines("Postgres", result["postgres"])
    else:
        lines.append(f"Postgres: skipped ({result['postgres_skipped']})")
    return lines
