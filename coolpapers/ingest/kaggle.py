"""``import_kaggle``: the Kaggle arXiv snapshot (JSON lines; plain, .gz, .bz2, .xz or a .zip of
one file) into the database, in bulk.

Batches of ``BATCH_LINES`` lines: parsed (``sources.kaggle``), placed on their days by arXiv's
schedule where that can be known (``derive``), written in one transaction with the checkpoint
that covers them (``store.bulk``): a killed import resumes after its last commit. The
checkpoint's position is the byte offset in the uncompressed stream after the batch's last
line, with the file's size and modification time: a compressed file is re-read up to it, and a
file that changed since starts over (harmless: the import is idempotent).

- Idempotent: the same file again changes nothing (``modified_at`` included). A finished
  checkpoint of the same, unchanged file makes a re-run a fast no-op (``--restart`` re-reads it,
  as a clean pass that changes nothing).
- Bad lines (not JSON, no or bad id, no title…) are counted and quoted in the report, never
  fatal; a compressed stream that is cut or corrupt ends the import as a bad record.
- Holds the ingest lease (renewed between batches) so the scheduler does not ingest meanwhile;
  a stop (Ctrl+C, SIGTERM) ends it between batches, resumable.
- At the end: the search index catches up once, in bulk (not paper by paper), with its [REL]
  keywords; then ``bulk.analyze`` (ANALYZE; VACUUM too on Postgres), last because the keywords
  are an UPDATE of every imported row.
- Speed: a big file is parsed in other processes, batches ahead of the writes (parsing is a
  little over half the work), in plain values (``sources.kaggle.parse_fields``: no records,
  no datetimes); the cycle collector is off meanwhile, here and in the parsing processes.
"""

from __future__ import annotations

import bz2
import functools
import gc
import gzip
import hashlib
import itertools
import logging
import lzma
import os
import signal
import threading
import time
import zipfile
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from multiprocessing import get_context
from pathlib import Path
from typing import Generic, NamedTuple, Protocol, TypeVar

import orjson

from coolpapers import store, taxonomy
from coolpapers.db import session_scope
from coolpapers.errors import BadInput
from coolpapers.ingest.derive import place_versions
from coolpapers.ingest.due import sync_index
from coolpapers.ingest.imports import ImportProgress, ImportReport
from coolpapers.ingest.pipeline import Pipeline
from coolpapers.models import ID_LEN, utcnow
from coolpapers.records import PaperMeta
from coolpapers.sources.kaggle import Fields, parse_fields, parse_line
from coolpapers.store import bulk

log = logging.getLogger(__name__)

BATCH_LINES = 10_000  # lines per transaction: large enough that a commit costs little
PARALLEL_MIN_BYTES = 32 << 20  # a smaller file is parsed here: starting a process costs ~1 s
# parsing processes, each a batch ahead: parsing a line (~35 µs of CPU with sending it back)
# costs a little more than writing it (~30 µs), so two keep the writer busy (on 2 cores the
# three share them)
PARSERS = 2
READ_BUFFER_BYTES = 1 << 20
CHECKPOINT_NAME_MAX = 300  # models.ImportCheckpoint.name
_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"PK\x03\x04", "zip"),
)
# what a cut or corrupt compressed stream raises while it is read
_STREAM_ERRORS = (EOFError, OSError, zlib.error, lzma.LZMAError, zipfile.BadZipFile)


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """The cycle collector off while batches are built: a batch is ~100k young objects (records,
    tuples, strings) that reference counting frees, and the collector kept rescanning them
    (measured: derive and row building 2-3x slower with it on). Back on afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def checkpoint_name(path: Path) -> str:
    """``kaggle:<the file's resolved path>`` (hashed past the column's width)."""
    name = f"kaggle:{path.resolve()}"
    if len(name) <= CHECKPOINT_NAME_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return f"{name[: CHECKPOINT_NAME_MAX - 18]}…{digest}"


@dataclass(frozen=True)
class _Position:
    offset: int  # bytes of the uncompressed stream done
    size: int  # the file's, when the checkpoint was written
    mtime_ns: int

    def dump(self) -> str:
        return orjson.dumps(self.__dict__).decode()

    @classmethod
    def load(cls, text: str) -> _Position | None:
        try:
            raw = orjson.loads(text)
            return cls(int(raw["offset"]), int(raw["size"]), int(raw["mtime_ns"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None


class _Stream(Protocol):
    """What is read of the file: its uncompressed bytes, by lines or by size."""

    def read(self, size: int = ..., /) -> bytes: ...
    def __iter__(self) -> Iterator[bytes]: ...


class _Snapshot:
    """The file as a stream of lines, whatever its compression, and how far it was read."""

    def __init__(self, path: Path, stack: ExitStack) -> None:
        try:
            self.raw = stack.enter_context(path.open("rb", buffering=READ_BUFFER_BYTES))
        except OSError as exc:
            raise BadInput(f"cannot read {path}: {exc.strerror or exc}") from None
        head = self.raw.read(8)
        self.raw.seek(0)
        self.kind = next((kind for magic, kind in _MAGIC if head.startswith(magic)), "plain")
        self.stream = self._open(path, stack)

    def _open(self, path: Path, stack: ExitStack) -> _Stream:
        if self.kind == "plain":
            return self.raw
        if self.kind == "gzip":
            return stack.enter_context(gzip.GzipFile(fileobj=self.raw, mode="rb"))
        if self.kind == "bz2":
            return stack.enter_context(bz2.BZ2File(self.raw, "rb"))
        if self.kind == "xz":
            return stack.enter_context(lzma.LZMAFile(self.raw, "rb"))
        try:
            archive = stack.enter_context(zipfile.ZipFile(self.raw))
        except zipfile.BadZipFile as exc:
            raise BadInput(f"{path}: not a readable zip file ({exc})") from None
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) != 1:
            raise BadInput(f"{path}: the zip holds {len(members)} files; the snapshot is one")
        return stack.enter_context(archive.open(members[0]))

    def skip(self, offset: int) -> int:
        """Move to ``offset`` of the uncompressed stream (reading up to it when compressed);
        returns where it got (less at the end of the stream)."""
        if self.kind == "plain":
            self.raw.seek(offset)
            return offset
        done = 0
        while done < offset:
            chunk = self.stream.read(min(offset - done, READ_BUFFER_BYTES))
            if not chunk:
                break
            done += len(chunk)
        return done

    def read_bytes(self) -> int:
        """Bytes of the file itself read so far (compressed bytes for a compressed file)."""
        return self.raw.tell()


@dataclass
class _Batch:
    lines: list[bytes]
    first_line: int  # number of the batch's first line in the file (1-based)
    end: int  # uncompressed offset after its last line
    failure: str | None = None  # the stream broke after these lines


def _batches(snapshot: _Snapshot, offset: int, line_no: int, size: int) -> Iterator[_Batch]:
    lines: list[bytes] = []
    first = line_no
    try:
        for line in snapshot.stream:
            lines.append(line)
            offset += len(line)
            if len(lines) >= size:
                yield _Batch(lines, first, offset)
                first += len(lines)
                lines = []
    except _STREAM_ERRORS as exc:
        yield _Batch(lines, first, offset, f"the {snapshot.kind} stream is cut or corrupt: {exc}")
        return
    if lines:
        yield _Batch(lines, first, offset)


_Paper = TypeVar("_Paper", bound=bulk.PaperTuple, covariant=True)


class Parsed(NamedTuple, Generic[_Paper]):
    """A batch's lines as papers (a tuple: it may come back from the parsing process, its
    papers then as plain tuples)."""

    read: int  # lines that were not blank
    bad: list[tuple[int, str]]  # (index of the line in the batch, why it is unusable)
    papers: Sequence[tuple[int, _Paper]]  # (index of its line, the paper), one per id
    unplaced: int  # versions whose day cannot be known


@functools.lru_cache(maxsize=4_096)
def _canonical(categories: tuple[str, ...]) -> tuple[str, ...]:
    """``taxonomy.canonical_categories``: a snapshot has some thousands of distinct lists."""
    return taxonomy.canonical_categories(categories)


def parse_batch(lines: list[bytes], postgres: bool) -> Parsed[bulk.BulkPaper]:
    """Parse, dedupe (one paper per id: the highest version, the later line on a tie), place on
    their days and turn into rows: everything of a batch but the database, so that it can run
    in another process while the previous batch is written. Plain values throughout (no
    records): this is most of an import's work."""
    found: dict[str, tuple[int, Fields]] = {}
    bad: list[tuple[int, str]] = []
    read = 0
    for index, line in enumerate(lines):
        if not line or line.isspace():
            continue
        read += 1
        got = parse_fields(line)
        if isinstance(got, str):
            bad.append((index, got))
        elif len(got.id) > ID_LEN:
            bad.append((index, f"id longer than {ID_LEN} characters"))
        elif (earlier := found.get(got.id)) is None or got.version >= earlier[1].version:
            found[got.id] = (index, got)
    papers = []
    unplaced = 0
    for index, f in found.values():
        if f.versions:
            listings, missed = place_versions(f.id, f.versions)
            unplaced += missed
        else:
            listings = []
            unplaced += f.version
        categories = _canonical(f.categories)
        row = bulk.new_row(
            f.id, f.version, f.title, f.abstract, f.authors, categories, f.doi, f.journal_ref,
            f.comments, f.license, f.versions, postgres=postgres,
        )  # fmt: skip
        papers.append((index, bulk.BulkPaper(f.id, row, categories, tuple(listings))))
    return Parsed(read, bad, papers, unplaced)


def _parse_apart(lines: list[bytes], postgres: bool) -> Parsed[bulk.PaperTuple]:
    """``parse_batch`` in a parsing process: its papers as plain tuples, which cross back at
    half a NamedTuple's cost."""
    read, bad, papers, unplaced = parse_batch(lines, postgres)
    plain: list[tuple[int, bulk.PaperTuple]] = [
        (index, (p.id, p.row, p.categories, p.listings)) for index, p in papers
    ]
    return Parsed(read, bad, plain, unplaced)


def _record(lines: dict[str, bytes], paper: bulk.PaperTuple) -> PaperMeta:
    """The whole record of a paper already stored (to compare with): its line parsed again, here
    (rare after a first import, and cheaper than sending every record back)."""
    meta = parse_line(lines[paper[0]])
    assert isinstance(meta, PaperMeta)  # it parsed once already
    return meta


def _start_parser() -> None:
    """A parsing process leaves Ctrl+C to its parent (which stops between batches), and runs
    without the cycle collector, as the parent does while it imports (``_no_cyclic_gc``): a
    batch's young objects kept it rescanning them (measured: a parse ~40% dearer with it on).
    Nothing a batch builds is cyclic: reference counting frees it all."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.disable()


def _parsed(
    batches: Iterator[_Batch], pool: ProcessPoolExecutor | None, postgres: bool
) -> Iterator[tuple[_Batch, Parsed[bulk.PaperTuple]]]:
    """Each batch with its parse: in ``pool``, PARSERS batches ahead of the caller (which
    writes meanwhile), else here; here too from the moment the pool breaks (a process
    that cannot start, e.g. a script without a ``__main__`` guard), and the first batch,
    while the pool's processes start (a second or so: their imports)."""
    ahead: deque[tuple[_Batch, Future[Parsed[bulk.PaperTuple]] | None]] = deque()
    first = pool is not None
    for batch in itertools.chain(batches, [None]):  # None: the end, every batch goes out
        if first and batch is not None:
            first = False
            yield batch, parse_batch(batch.lines, postgres)
            continue
        if batch is not None:
            future = None
            if pool is not None:
                try:
                    future = pool.submit(_parse_apart, batch.lines, postgres)
                except BrokenProcessPool:
                    pool = None
            ahead.append((batch, future))
        while len(ahead) > (PARSERS if pool is not None and batch is not None else 0):
            done, pending = ahead.popleft()
            parsed = _result(pending)
            if parsed is None:
                pool = None
                parsed = parse_batch(done.lines, postgres)
            yield done, parsed


def _result(
    future: Future[Parsed[bulk.PaperTuple]] | None,
) -> Parsed[bulk.PaperTuple] | None:
    """The pool's parse of a batch; None when there is none (no pool, or it broke)."""
    if future is None:
        return None
    try:
        return future.result()
    except BrokenProcessPool as exc:
        log.warning("the parsing process failed (%s): parsing here", exc)
        return None


def import_kaggle(
    pipeline: Pipeline,
    path: Path,
    *,
    restart: bool = False,
    progress: ImportProgress | None = None,
    stop: threading.Event | None = None,
    batch_lines: int = BATCH_LINES,
    parallel: bool | None = None,
) -> ImportReport:
    """Import the snapshot at ``path``, resuming after the last commit of an earlier run of
    the same file unless ``restart``; ``progress`` hears (bytes of the file read, its size)
    after each batch. ``parallel``: parse in a second process (None: when the file is big
    enough to repay it). Raises BadInput for a missing or unreadable file, LeaseHeld when another
    process is ingesting."""
    started = time.perf_counter()
    if not path.is_file():
        raise BadInput(f"no such file: {path}")
    report = ImportReport(checkpoint_name(path))
    # the package defines the lease; imported here, at call time: the package imports us
    from coolpapers.ingest import ingest_lease

    with ingest_lease(pipeline.factory, pipeline.settings.ingest_lease_s) as renew:
        _import(pipeline, path, report, _Run(restart, progress, stop, renew, batch_lines, parallel))
    if not report.interrupted:
        report.indexed = sync_index(pipeline)
        # after the index: its [REL] keywords rewrite every imported row, which on Postgres
        # leaves as many dead rows and clears the visibility map a VACUUM before would have set
        bulk.analyze(pipeline.factory)
    report.seconds = time.perf_counter() - started
    return report


def _pool(stack: ExitStack, size: int, parallel: bool | None) -> ProcessPoolExecutor | None:
    """A process that parses the next batch while this one writes, for a file big enough to
    repay starting it (and a machine with a second core): parsing is about half the work."""
    if parallel is None:
        parallel = size >= PARALLEL_MIN_BYTES and (os.cpu_count() or 1) > 1
    if not parallel:
        return None
    pool = ProcessPoolExecutor(PARSERS, mp_context=get_context("spawn"), initializer=_start_parser)
    stack.callback(pool.shutdown, cancel_futures=True)
    for _ in range(PARSERS):  # start the processes now: their imports take a while
        pool.submit(os.getpid)
    return pool


@dataclass(frozen=True)
class _Run:
    restart: bool
    progress: ImportProgress | None
    stop: threading.Event | None
    renew: Callable[[], None]
    batch_lines: int
    parallel: bool | None = None


def _import(pipeline: Pipeline, path: Path, report: ImportReport, run: _Run) -> None:
    stat = path.stat()
    name = report.name
    with session_scope(pipeline.factory) as s:
        checkpoint = None if run.restart else store.get_checkpoint(s, name)
    position = _Position.load(checkpoint.position) if checkpoint is not None else None
    same_file = position is not None and (position.size, position.mtime_ns) == (
        stat.st_size,
        stat.st_mtime_ns,
    )
    if checkpoint is not None and position is not None and same_file:
        if checkpoint.finished:
            report.finished = report.done_before = True  # this very file, to its end
            return
        report.resumed_from = checkpoint.done
        offset, done = position.offset, checkpoint.done
    else:
        if checkpoint is not None:
            log.info("%s changed since its last import: reading it from the start", path)
        offset, done = 0, 0
    with ExitStack() as stack:
        stack.enter_context(_no_cyclic_gc())
        snapshot = _Snapshot(path, stack)
        if snapshot.skip(offset) < offset:
            offset, done = 0, 0  # shorter than the checkpoint says: read it again, whole
            snapshot = _Snapshot(path, stack)
        finished = True
        pool = _pool(stack, stat.st_size, run.parallel)
        postgres = pipeline.factory.kw["bind"].dialect.name == "postgresql"
        batches = _batches(snapshot, offset, done + 1, run.batch_lines)
        for batch, parsed in _parsed(batches, pool, postgres):
            report.read += parsed.read
            for index, reason in parsed.bad:
                report.note_bad(f"line {batch.first_line + index}", reason)
            report.not_derived += parsed.unplaced
            line_of = {paper[0]: batch.lines[index] for index, paper in parsed.papers}
            done += len(batch.lines)
            offset = batch.end
            at = _Position(offset, stat.st_size, stat.st_mtime_ns).dump()
            papers = [paper for _, paper in parsed.papers]
            with session_scope(pipeline.factory, write=True) as s:
                result = bulk.write_papers(s, papers, utcnow(), partial(_record, line_of))
                store.put_checkpoint(s, name, at, done)
            report.stored += result.inserted + result.updated
            report.unchanged += result.unchanged
            report.derived += result.listed
            if run.progress is not None:
                run.progress(snapshot.read_bytes(), stat.st_size)
            if batch.failure is not None:
                report.note_bad(f"line {done + 1}", batch.failure)
                finished = False
                break
            if pipeline.stopping(run.stop):
                report.interrupted = True
                finished = False
                break
            run.renew()
    if finished:
        if run.progress is not None:  # the end of a zip's member is not the end of the file
            run.progress(stat.st_size, stat.st_size)
        with session_scope(pipeline.factory, write=True) as s:
            at = _Position(offset, stat.st_size, stat.st_mtime_ns).dump()
            store.put_checkpoint(s, name, at, done, finished=True)
        report.finished = True
