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
- At the end: ANALYZE, then the search index catches up once, in bulk (not paper by paper).
"""

from __future__ import annotations

import bz2
import gc
import gzip
import hashlib
import logging
import lzma
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import orjson

from coolpapers import store, taxonomy
from coolpapers.db import session_scope
from coolpapers.errors import BadInput
from coolpapers.ingest.derive import derive_listings
from coolpapers.ingest.due import sync_index
from coolpapers.ingest.imports import ImportProgress, ImportReport
from coolpapers.ingest.pipeline import Pipeline
from coolpapers.models import ID_LEN, utcnow
from coolpapers.records import PaperMeta
from coolpapers.sources.kaggle import parse_line
from coolpapers.store import bulk

log = logging.getLogger(__name__)

BATCH_LINES = 10_000  # lines per transaction: large enough that a commit costs little
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


def _papers(batch: _Batch, report: ImportReport) -> list[bulk.BulkPaper]:
    """The batch's usable papers (one per id: the highest version, the later line on a tie)."""
    metas: dict[str, PaperMeta] = {}
    for number, line in enumerate(batch.lines, start=batch.first_line):
        if not line.strip():
            continue
        report.read += 1
        got = parse_line(line)
        if isinstance(got, str):
            report.note_bad(f"line {number}", got)
            continue
        if len(got.id) > ID_LEN:
            report.note_bad(f"line {number}", f"id longer than {ID_LEN} characters")
            continue
        earlier = metas.get(got.id)
        if earlier is None or got.version >= earlier.version:
            metas[got.id] = got
    papers = []
    for meta in metas.values():
        derived = derive_listings(meta)
        report.not_derived += derived.unplaced
        listings = tuple((p.day, p.kind, p.version) for p in derived.listings)
        categories = taxonomy.canonical_categories(meta.categories)
        papers.append(bulk.BulkPaper(meta, categories, listings))
    return papers


def import_kaggle(
    pipeline: Pipeline,
    path: Path,
    *,
    restart: bool = False,
    progress: ImportProgress | None = None,
    stop: threading.Event | None = None,
    batch_lines: int = BATCH_LINES,
) -> ImportReport:
    """Import the snapshot at ``path``, resuming after the last commit of an earlier run of
    the same file unless ``restart``; ``progress`` hears (bytes of the file read, its size)
    after each batch. Raises BadInput for a missing or unreadable file, LeaseHeld when another
    process is ingesting."""
    started = time.perf_counter()
    if not path.is_file():
        raise BadInput(f"no such file: {path}")
    report = ImportReport(checkpoint_name(path))
    # the package defines the lease; imported here, at call time: the package imports us
    from coolpapers.ingest import ingest_lease

    with ingest_lease(pipeline.factory, pipeline.settings.ingest_lease_s) as renew:
        _import(pipeline, path, report, _Run(restart, progress, stop, renew, batch_lines))
        if not report.interrupted:
            with session_scope(pipeline.factory, write=True) as s:
                bulk.analyze(s)
    if not report.interrupted:
        report.indexed = sync_index(pipeline)
    report.seconds = time.perf_counter() - started
    return report


@dataclass(frozen=True)
class _Run:
    restart: bool
    progress: ImportProgress | None
    stop: threading.Event | None
    renew: Callable[[], None]
    batch_lines: int


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
        report.resumed_from = checkpoint.done
        if checkpoint.finished:
            report.finished = True  # this very file was imported to its end: nothing to do
            return
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
        for batch in _batches(snapshot, offset, done + 1, run.batch_lines):
            papers = _papers(batch, report)
            done += len(batch.lines)
            offset = batch.end
            at = _Position(offset, stat.st_size, stat.st_mtime_ns).dump()
            with session_scope(pipeline.factory, write=True) as s:
                result = bulk.write_papers(s, papers, utcnow())
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
