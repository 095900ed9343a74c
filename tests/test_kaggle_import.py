"""``coolpapers import kaggle``: the Kaggle arXiv snapshot from the real 200-line sample (fields
exact, idempotent, compressed, bad lines, resumable after a stop and after a SIGKILL), what it
leaves of feeds' data, and ``derive``: the day lists arXiv's schedule gives submission times."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import ingest, store
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.errors import BadInput
from coolpapers.import_cli import summary
from coolpapers.ingest.derive import Placed, derive_listings, held
from coolpapers.ingest.kaggle import _record, checkpoint_name, parse_batch
from coolpapers.models import (
    DayCategory,
    ImportCheckpoint,
    Listing,
    Paper,
    PaperCategory,
)
from coolpapers.records import PaperMeta
from coolpapers.sources.kaggle import parse_line
from coolpapers.store import bulk, generations
from tests.conftest import FIXTURES, RSS

SAMPLE = FIXTURES / "arxiv" / "kaggle-arxiv-metadata-oai-snapshot-first200.jsonl"
LINES = SAMPLE.read_bytes().splitlines(keepends=True)
LG_FEED = RSS / "rss-cs.LG-2026-08-21-fri.xml"  # listing day Friday 2026-08-21


def _row(paper_id: str) -> dict[str, Any]:
    return next(orjson.loads(line) for line in LINES if f'"id":"{paper_id}"'.encode() in line)


def _line(row: dict[str, Any], **changes: Any) -> bytes:
    return orjson.dumps({**row, **changes}) + b"\n"


def _created(moment: str) -> str:
    """ISO UTC → the snapshot's ``Mon, 2 Apr 2007 19:18:42 GMT``."""
    when = datetime.fromisoformat(moment)
    return f"{when:%a}, {when.day} {when:%b %Y %H:%M:%S} GMT"


def _versions(*moments: str) -> list[dict[str, str]]:
    return [{"version": f"v{i}", "created": _created(m)} for i, m in enumerate(moments, 1)]


@pytest.fixture
def pipeline(settings: Settings, factory: sessionmaker[Session]) -> Iterator[ingest.Pipeline]:
    opened = ingest.Pipeline.open(settings, factory)
    yield opened
    opened.close()


def _papers(factory: sessionmaker[Session]) -> dict[str, Paper]:
    with session_scope(factory) as s:
        return {p.id: p for p in s.scalars(select(Paper))}


def _count(factory: sessionmaker[Session], model: Any) -> int:
    with session_scope(factory) as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def analysed(factory: sessionmaker[Session], table: str = "papers") -> bool:
    """Whether ``table`` is as a bulk import leaves it. SQLite: planner statistics, its
    sqlite_stat1 rows (the table appears with the first ANALYZE). Postgres: statistics
    (``reltuples``, -1 until ANALYZE or VACUUM counts the table) and vacuumed by hand
    (``vacuum_count``; autovacuum counts apart). Not ``relallvisible``: a VACUUM marks a page
    all-visible only if no transaction still open anywhere in the database began before its
    rows, and the parallel tests keep some open (CI failed on it once)."""
    with session_scope(factory) as s:
        if s.get_bind().dialect.name == "postgresql":
            query = (
                "SELECT c.reltuples, s.vacuum_count FROM pg_class c"
                " JOIN pg_stat_user_tables s ON s.relid = c.oid"
                " WHERE c.oid = CAST(:t AS regclass)"
            )
            tuples, vacuums = s.execute(text(query), {"t": table}).one()
            return float(tuples) > 0 and int(vacuums) > 0
        if s.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")).first():
            found = s.execute(
                text("SELECT count(*) FROM sqlite_stat1 WHERE tbl = :t"), {"t": table}
            )
            return int(found.scalar_one()) > 0
        return False


@contextmanager
def statements(factory: sessionmaker[Session]) -> Iterator[list[str]]:
    """Every statement the engine behind ``factory`` sends meanwhile, in order."""
    sent: list[str] = []
    engine = factory.kw["bind"]

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        sent.append(statement.lstrip())

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def analysed_last(sent: list[str]) -> bool:
    """Whether the statements analyse (Postgres: vacuum) after the search index's keywords
    were written back: an UPDATE of every row, which on Postgres leaves as many dead rows and
    clears the visibility map a VACUUM before it had set."""
    keywords = [i for i, s in enumerate(sent) if s.startswith("UPDATE papers SET keywords")]
    analyses = [i for i, s in enumerate(sent) if s.startswith(("VACUUM", "ANALYZE"))]
    return bool(keywords and analyses) and analyses[-1] > keywords[-1]


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# ---------------------------------------------------------------- the import, both databases


def test_fields_exact_from_the_real_sample(
    pipeline: ingest.Pipeline, factory: sessionmaker[Session]
) -> None:
    assert not analysed(factory)
    with statements(factory) as sent:
        report = ingest.import_kaggle(pipeline, SAMPLE)
    assert (report.read, report.stored, report.bad, report.unchanged) == (200, 200, 0, 0)
    assert report.finished and not report.interrupted and report.indexed == 200
    assert analysed(factory) and analysed(
        factory, "paper_categories"
    )  # the planner knows the sizes
    assert analysed_last(sent)
    papers = _papers(factory)
    assert len(papers) == 200

    first = papers["0704.0001"]  # TeX accent in the authors, a DOI, no licence, two versions
    assert first.title == (
        "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies"
    )
    assert [a["name"] for a in first.authors] == [
        "C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C. -P. Yuan",
    ]  # fmt: skip
    assert first.abstract.startswith("A fully differential calculation in perturbative quantum")
    assert first.abstract.endswith("can be obtained with judicious selection of events.")
    assert "\n" not in first.abstract
    assert first.doi == "10.1103/PhysRevD.76.013009"
    assert first.journal_ref == "Phys.Rev.D76:013009,2007"
    assert first.comments == "37 pages, 15 figures; published version"
    assert first.license is None
    assert first.categories == ["hep-ph"] and first.primary_category == "hep-ph"
    assert first.version == 2
    assert store.as_utc(first.published) == _utc("2007-04-02T19:18:42")
    assert store.as_utc(first.updated) == _utc("2007-07-24T20:10:27")
    assert first.versions == ["2007-04-02T19:18:42+00:00", "2007-07-24T20:10:27+00:00"]
    assert first.first_announced is None  # 2007: arXiv's holidays of that year are not known
    assert first.pdf_clicks == 0 and first.keywords  # the index gave it its keywords

    second = papers["0704.0002"]
    assert second.license == "http://arxiv.org/licenses/nonexclusive-distrib/1.0/"
    assert second.categories == ["math.CO", "cs.CG"] and second.doi is None
    assert second.abstract.startswith("We describe a new algorithm, the $(k,\\ell)$-pebble game")

    assert papers["0704.0003"].version == 3 and len(papers["0704.0003"].versions or []) == 3
    assert papers["0704.0005"].title == "From dyadic $\\Lambda_{\\alpha}$ to $\\Lambda_{\\alpha}$"
    assert papers["0704.0073"].title == "A transcendental approach to Kollár's injectivity theorem"
    assert "Neal J. Evans II" in [a["name"] for a in papers["0704.0009"].authors]
    assert [a["name"] for a in papers["0704.0062"].authors] == [
        "Rastislav Šrámek", "Broňa Brejová", "Tomáš Vinař",
    ]  # fmt: skip
    assert papers["0704.0025"].authors[0] == {
        "name": "A. S. Mishchenko", "affiliations": ["1 and 2"],
    }  # fmt: skip
    # two paragraphs: one line each (as the RSS abstracts keep them), the TeX accent decoded
    partial = papers["0704.0010"].abstract.split("\n")
    assert len(partial) == 2
    assert "Djoković's and Winkler's relations" in partial[0]
    assert partial[1].startswith("The operations of Cartesian product and pasting")
    # aliases merged: cs.NA is math.NA, math.MP is math-ph
    assert papers["0704.0090"].categories == [
        "cs.CE", "cond-mat.stat-mech", "cs.MS", "math.NA", "physics.data-an",
    ]  # fmt: skip
    assert papers["0704.0072"].categories == ["math-ph"]
    with session_scope(factory) as s:
        rows = s.execute(
            select(PaperCategory.category, PaperCategory.position)
            .where(PaperCategory.paper_id == "0704.0090")
            .order_by(PaperCategory.position)
        ).all()
    assert [r.category for r in rows] == papers["0704.0090"].categories
    assert _count(factory, PaperCategory) == sum(len(p.categories) for p in papers.values())
    # nothing of 2007 can be placed on a day
    assert report.derived == 0 and _count(factory, Listing) == 0
    assert report.not_derived == sum(len(p.versions or []) for p in papers.values())


def test_same_file_again_changes_nothing(
    pipeline: ingest.Pipeline, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    # a file with derived listings too: the sample's lines moved to 2026
    path = tmp_path / "snapshot.jsonl"
    lines = [
        _line(orjson.loads(line), id=f"2603.{n:05d}", versions=_versions("2026-03-02T15:00:00"))
        for n, line in enumerate(LINES[:50], 1)
    ]
    path.write_bytes(b"".join(lines + LINES[50:]))
    first = ingest.import_kaggle(pipeline, path)
    assert first.stored == 200 and first.derived == 50
    before = {p.id: (p.modified_at, p.first_announced) for p in _papers(factory).values()}
    counts = [_count(factory, m) for m in (Listing, PaperCategory, DayCategory)]

    again = ingest.import_kaggle(pipeline, path)  # the finished checkpoint: a fast no-op
    assert again.finished and again.done_before and (again.read, again.resumed_from) == (0, 0)
    assert summary(again).splitlines()[1:] == [
        "an earlier run went to its end: nothing to do (--restart does it again)"
    ]

    clean = ingest.import_kaggle(pipeline, path, restart=True)  # a whole pass that changes nothing
    assert (clean.read, clean.stored, clean.unchanged, clean.derived) == (200, 0, 200, 0)
    after = {p.id: (p.modified_at, p.first_announced) for p in _papers(factory).values()}
    assert after == before
    assert [_count(factory, m) for m in (Listing, PaperCategory, DayCategory)] == counts


def test_compressed_inputs(
    pipeline: ingest.Pipeline, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    body = SAMPLE.read_bytes()
    files = {
        "gz": gzip.compress(body),
        "bz2": bz2.compress(body),
        "xz": lzma.compress(body),
    }
    for suffix, data in files.items():
        (tmp_path / f"snapshot.jsonl.{suffix}").write_bytes(data)
    with zipfile.ZipFile(tmp_path / "snapshot.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("arxiv-metadata-oai-snapshot.json", body)
    seen: list[tuple[int, int | None]] = []
    for n, name in enumerate(["snapshot.jsonl.gz", "snapshot.jsonl.bz2", "snapshot.jsonl.xz",
                              "snapshot.zip"]):  # fmt: skip
        path = tmp_path / name
        seen.clear()
        report = ingest.import_kaggle(pipeline, path, progress=lambda d, t: seen.append((d, t)))
        assert (report.read, report.bad, report.finished) == (200, 0, True), name
        assert (report.stored, report.unchanged) == ((200, 0) if n == 0 else (0, 200)), name
        # progress in bytes of the file as read: the compressed size at the end
        assert seen and seen[-1] == (path.stat().st_size, path.stat().st_size), name
    assert len(_papers(factory)) == 200

    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as archive:
        archive.writestr("a.json", body)
        archive.writestr("b.json", body)
    with pytest.raises(BadInput, match="holds 2 files"):
        ingest.import_kaggle(pipeline, two)
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(files["gz"][: len(files["gz"]) // 2])
    report = ingest.import_kaggle(pipeline, cut, restart=True)
    assert report.bad == 1 and "gzip stream is cut or corrupt" in report.bad_samples[-1]
    assert not report.finished and 0 < report.read < 200


def test_bad_lines_are_counted_and_reported(
    pipeline: ingest.Pipeline, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    good = _row("0704.0001")
    bad = [
        b"{not json\n",
        b"[1, 2]\n",
        b'{"title": "no id"}\n',
        _line(good, id="foo/0101001"),  # unknown archive
        _line(good, id="0704.0999", title="  \n "),
        _line(good, id="0704.0998", versions=[{"version": "v1", "created": "yesterday"}]),
        _line(good, id="0704.0997", categories=""),
    ]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"".join([LINES[0], *bad, b"\n", LINES[1]]))
    report = ingest.import_kaggle(pipeline, path)
    assert (report.read, report.stored, report.bad) == (9, 2, 7)
    assert report.bad_samples == [
        "line 2: not JSON",
        "line 3: not a JSON object",
        "line 4: no id",
        "line 5: not an arXiv identifier: 'foo/0101001' (unknown archive 'foo')",
        "line 6: 0704.0999: no title",
        "line 7: 0704.0998: bad submission date 'yesterday'",
        "line 8: 0704.0997: no categories",
    ]
    assert set(_papers(factory)) == {"0704.0001", "0704.0002"}


def test_stopped_then_resumed_equals_a_clean_import(
    pipeline: ingest.Pipeline, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    stop = threading.Event()
    calls: list[int] = []

    def progress(done: int, total: int | None) -> None:
        calls.append(done)
        stop.set()  # Ctrl+C during the first batch: the import ends after its commit

    # parsed in a second process (as a big file is), one batch ahead of the writes
    report = ingest.import_kaggle(
        pipeline, SAMPLE, progress=progress, stop=stop, batch_lines=60, parallel=True
    )
    assert report.interrupted and not report.finished and report.read == 60
    assert report.indexed == 0  # the index waits for the end of the import
    assert len(_papers(factory)) == 60
    # progress: bytes read, here a batch ahead of the commit (the next one was being parsed)
    assert len(calls) == 1 and calls[0] >= sum(len(line) for line in LINES[:60])
    with session_scope(factory) as s:
        checkpoint = store.get_checkpoint(s, checkpoint_name(SAMPLE))
    assert checkpoint is not None and checkpoint.done == 60 and not checkpoint.finished

    resumed = ingest.import_kaggle(pipeline, SAMPLE, batch_lines=60, parallel=True)
    assert resumed.resumed_from == 60 and resumed.read == 140 and resumed.stored == 140
    assert resumed.finished and resumed.indexed == 200
    _assert_as_parsed(factory)


def test_compressed_input_resumes_at_its_uncompressed_offset(
    pipeline: ingest.Pipeline, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    path = tmp_path / "snapshot.jsonl.xz"
    path.write_bytes(lzma.compress(SAMPLE.read_bytes()))
    stop = threading.Event()
    first = ingest.import_kaggle(
        pipeline, path, progress=lambda _d, _t: stop.set(), stop=stop, batch_lines=70
    )
    assert first.interrupted and first.read == 70
    with session_scope(factory) as s:
        checkpoint = store.get_checkpoint(s, checkpoint_name(path))
    assert checkpoint is not None and checkpoint.done == 70
    assert f'"offset":{sum(len(line) for line in LINES[:70])}' in checkpoint.position
    resumed = ingest.import_kaggle(pipeline, path, batch_lines=70)
    assert (resumed.resumed_from, resumed.read, resumed.stored) == (70, 130, 130)
    _assert_as_parsed(factory)


def _assert_as_parsed(factory: sessionmaker[Session], lines: list[bytes] = LINES) -> None:
    """The database holds exactly what the lines say (the clean import's result)."""
    metas = [m for m in map(parse_line, lines) if isinstance(m, PaperMeta)]
    papers = _papers(factory)
    assert len(papers) == len(metas)
    for meta in metas:
        paper = papers[meta.id]
        assert (paper.version, paper.title, paper.abstract) == (
            meta.version, meta.title, meta.abstract,
        )  # fmt: skip
        assert [a["name"] for a in paper.authors] == [a.name for a in meta.authors]
        assert store.as_utc(paper.updated) == meta.updated


def test_killed_process_resumes_after_its_last_commit(
    settings: Settings, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """A real ``coolpapers import kaggle`` SIGKILLed right after its first checkpoint commit."""
    lines = [_line(orjson.loads(LINES[n % 200]), id=f"2401.{n + 1:05d}") for n in range(30_000)]
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"".join(lines))
    env = {k: v for k, v in os.environ.items() if not k.startswith("COOLPAPERS_")}
    env.update({f"COOLPAPERS_{k.upper()}": str(v) for k, v in settings.model_dump().items()})
    log = tmp_path / "child.err"
    with log.open("wb") as err:
        child = subprocess.Popen(
            [sys.executable, "-m", "coolpapers", "import", "kaggle", str(path)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    name = checkpoint_name(path)
    try:
        done = 0
        while not done:  # wait for the first commit, not for a time
            assert child.poll() is None, log.read_text()
            with session_scope(factory) as s:
                row = s.get(ImportCheckpoint, name)
                done = row.done if row is not None else 0
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL
    with session_scope(factory) as s:
        killed_at = store.get_checkpoint(s, name)
        stored = int(s.scalar(select(func.count()).select_from(Paper)) or 0)
    assert killed_at is not None and not killed_at.finished and killed_at.done < 30_000
    assert stored == killed_at.done  # what was committed is exactly what the checkpoint says

    pipeline = ingest.Pipeline.open(settings, factory)
    try:
        # the killed process never released its ingest lease: this machine sees it is gone,
        # so the lease is taken over at once rather than after ingest_lease_s
        report = ingest.import_kaggle(pipeline, path)
    finally:
        pipeline.close()
    assert report.resumed_from == killed_at.done
    assert report.read == 30_000 - killed_at.done and report.finished
    _assert_as_parsed(factory, lines)


def test_feeds_data_is_kept(
    pipeline: ingest.Pipeline, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """A paper a feed listed keeps its listing, first day and clicks; the import adds its later
    version's listing (derived) and metadata."""
    [run] = ingest.ingest_files(factory, [LG_FEED])
    assert run.status == "ok"
    with session_scope(factory, write=True) as s:
        s.execute(
            update(Paper).where(Paper.id == "2608.19210").values(pdf_clicks=3, keywords=["x"])
        )
    row = _row("0704.0002")
    lines = [
        # v1 where the feed says (Wed 15:00 ET → Thu evening → Fri 21), v2 on Tue 25 08:00 ET
        _line(row, id="2608.19210", categories="cs.LG cs.AI",
              versions=_versions("2026-08-19T19:00:00", "2026-08-25T12:00:00")),
        # the schedule would say 11 Aug for v1: the feed saw it on the 21st, and that stays; its
        # categories change (same version: the snapshot's metadata wins)
        _line(row, id="2608.19234", categories="stat.ML cs.LG",
              versions=_versions("2026-08-10T12:00:00")),
    ]  # fmt: skip
    lines_ids = ["2608.19210", "2608.19234"]
    path = tmp_path / "two.jsonl"
    path.write_bytes(b"".join(lines))
    report = ingest.import_kaggle(pipeline, path)
    assert (report.stored, report.derived) == (2, 1)
    papers = _papers(factory)
    paper = papers["2608.19210"]
    assert paper.version == 2 and paper.title == "Sparsity-certifying Graph Decompositions"
    assert (paper.pdf_clicks, paper.first_announced) == (3, date(2026, 8, 21))
    assert paper.keywords and "sparsity" in paper.keywords  # the index's, for the new title
    assert papers["2608.19234"].first_announced == date(2026, 8, 21)
    with session_scope(factory) as s:
        listings = {
            (r.paper_id, r.date, r.kind, r.version, r.derived)
            for r in s.scalars(select(Listing).where(Listing.paper_id.in_(lines_ids)))
        }
        days = {(r.category, r.date) for r in s.scalars(select(DayCategory))}
    assert listings == {
        ("2608.19210", date(2026, 8, 21), "new", 1, False),
        ("2608.19210", date(2026, 8, 26), "replace", 2, True),
        ("2608.19234", date(2026, 8, 21), "new", 1, False),
    }
    assert {("cs.LG", date(2026, 8, 26)), ("cs.AI", date(2026, 8, 26))} <= days
    # re-categorised: its category rows replaced, its feed day indexed under the new one
    assert papers["2608.19234"].categories == ["stat.ML", "cs.LG"]
    with session_scope(factory) as s:
        rows = s.scalars(
            select(PaperCategory.category)
            .where(PaperCategory.paper_id == "2608.19234")
            .order_by(PaperCategory.position)
        ).all()
    assert rows == ["stat.ML", "cs.LG"] and ("stat.ML", date(2026, 8, 21)) in days


def test_a_feed_moves_a_derived_listing_to_the_day_it_gives(
    pipeline: ingest.Pipeline, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """Imported first, 2608.19234's v1 is placed by the schedule on Tue 11 Aug; the real feed
    of Fri 21 Aug then lists it as new (it was held): the listing moves to the feed's day, is no
    longer derived, and the paper's first day follows."""
    path = tmp_path / "one.jsonl"
    path.write_bytes(
        _line(_row("0704.0002"), id="2608.19234", categories="cs.LG",
              versions=_versions("2026-08-10T12:00:00"))
    )  # fmt: skip
    assert ingest.import_kaggle(pipeline, path).derived == 1
    assert _papers(factory)["2608.19234"].first_announced == date(2026, 8, 11)
    [run] = ingest.ingest_files(factory, [LG_FEED])
    assert run.status == "ok"
    with session_scope(factory) as s:
        listings = [
            (r.date, r.kind, r.version, r.derived)
            for r in s.scalars(select(Listing).where(Listing.paper_id == "2608.19234"))
        ]
    assert listings == [(date(2026, 8, 21), "new", 1, False)]
    assert _papers(factory)["2608.19234"].first_announced == date(2026, 8, 21)


def test_bulk_writes_make_cached_pages_stale(factory: sessionmaker[Session]) -> None:
    """The bulk writes go below SQLAlchemy's cursor events: they raise the pages generation
    themselves, and only when they wrote something."""
    batch = parse_batch(LINES[:3], factory.kw["bind"].dialect.name == "postgresql")
    papers = [paper for _, paper in batch.papers]

    def generation() -> int:
        with factory() as s:
            return generations.current(s.connection()) or 0

    def write() -> None:
        with session_scope(factory, write=True) as s:
            lines = {p.id: LINES[i] for i, p in batch.papers}
            bulk.write_papers(s, papers, datetime.now(UTC), partial(_record, lines))

    before = generation()
    write()
    assert generation() == before + 1 and _count(factory, Paper) == 3
    write()  # the same rows again: nothing written, nothing stale
    assert generation() == before + 1


def test_held_lease_and_missing_file(
    pipeline: ingest.Pipeline, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    with pytest.raises(BadInput, match="no such file"):
        ingest.import_kaggle(pipeline, tmp_path / "missing.jsonl")
    with ingest.ingest_lease(factory, 60), pytest.raises(ingest.LeaseHeld):
        ingest.import_kaggle(pipeline, SAMPLE)
    assert _count(factory, Paper) == 0


def test_cli_exit_codes_and_messages(settings: Settings, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COOLPAPERS_")}
    env.update({f"COOLPAPERS_{k.upper()}": str(v) for k, v in settings.model_dump().items()})
    cmd = [sys.executable, "-m", "coolpapers", "import", "kaggle"]
    missing = subprocess.run(
        [*cmd, str(tmp_path / "nope.jsonl")], env=env, capture_output=True, text=True
    )
    assert missing.returncode == 2
    assert "no such file" in missing.stderr and "Traceback" not in missing.stderr
    done = subprocess.run([*cmd, str(SAMPLE)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "read 200 records" in done.stdout and "stored 200, unchanged 0, bad 0" in done.stdout
    assert "search index: 200 papers indexed" in done.stdout
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gzip.compress(SAMPLE.read_bytes())[:30_000])
    ended = subprocess.run([*cmd, str(cut)], env=env, capture_output=True, text=True)
    assert ended.returncode == 1 and "Traceback" not in ended.stderr
    assert "gzip stream is cut or corrupt" in ended.stdout and "not finished" in ended.stdout


# ---------------------------------------------------------------- derive (pure)


def _meta(paper_id: str, *moments: str) -> PaperMeta:
    times = tuple(_utc(m) for m in moments)
    return PaperMeta(
        paper_id, len(times), "t", "a", (), ("cs.LG",), published=times[0], versions=times
    )


def test_derive_places_versions_by_the_schedule() -> None:
    # 2026: Tue 10 Mar 13:59 EDT → Tue evening → Wed 11; a v2 on Fri 13 Mar 15:00 EDT (after
    # the deadline) → Mon 16 evening → Tue 17
    got = derive_listings(_meta("2603.00001", "2026-03-10T17:59:00", "2026-03-13T19:00:00"))
    assert got.listings == (
        Placed(date(2026, 3, 11), "new", 1),
        Placed(date(2026, 3, 17), "replace", 2),
    )
    assert got.unplaced == 0
    # 2024, winter time: Fri 12 Jan 13:00 EST (before the deadline) → Sunday evening → Mon 15
    assert derive_listings(_meta("2401.00002", "2024-01-12T18:00:00")).listings == (
        Placed(date(2024, 1, 15), "new", 1),
    )


def test_derive_skips_holidays() -> None:
    # Wed 25 Nov 2026 13:00 EST → announced that evening → Thu 26; Thanksgiving (26 Nov) has no
    # announcement, so Thu 26 afternoon's window goes out on Sunday evening → Mon 30
    got = derive_listings(_meta("2611.00003", "2026-11-25T18:00:00", "2026-11-26T16:00:00"))
    assert got.listings == (
        Placed(date(2026, 11, 26), "new", 1),
        Placed(date(2026, 11, 30), "replace", 2),
    )


def test_derive_one_window_is_one_announcement() -> None:
    # v1 and v2 before the same deadline: arXiv announces v2 only, as new
    got = derive_listings(_meta("2603.00004", "2026-03-10T12:00:00", "2026-03-10T16:00:00"))
    assert got.listings == (Placed(date(2026, 3, 11), "new", 2),) and got.unplaced == 0


def test_derive_refuses_held_papers_and_unknown_years() -> None:
    # submitted 2 March 2026 but numbered in April: held for moderation, its day unknowable
    assert held("2604.00005", date(2026, 3, 3))
    assert not held("2604.00005", date(2026, 4, 1))  # announced 31 March evening: April id
    got = derive_listings(_meta("2604.00005", "2026-03-02T15:00:00", "2026-05-04T15:00:00"))
    assert got.listings == () and got.unplaced == 2
    # 2007 (the sample's papers): arXiv's holidays of that year are not known here
    old = derive_listings(_meta("0704.0001", "2007-04-02T19:18:42", "2007-07-24T20:10:27"))
    assert old.listings == () and old.unplaced == 2
    # v1 in 2025 (calendar incomplete), v2 in 2026: only v2 is placed, as a replacement
    mixed = derive_listings(_meta("2512.00006", "2025-12-01T15:00:00", "2026-02-03T15:00:00"))
    assert mixed.listings == (Placed(date(2026, 2, 4), "replace", 2),) and mixed.unplaced == 1
    # no submission times at all (a feed's paper): nothing can be placed
    assert derive_listings(PaperMeta("2603.00007", 3, "t", "a", (), ("cs.LG",))).unplaced == 3


def test_status_shows_the_imports(
    pipeline: ingest.Pipeline, client: TestClient, tmp_path: Path
) -> None:
    """/status and its JSON twin list each import: how far it read, finished or not."""
    assert client.get("/api/status").json()["imports"] == []
    ingest.import_kaggle(pipeline, SAMPLE)
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gzip.compress(SAMPLE.read_bytes())[:30_000])
    ingest.import_kaggle(pipeline, cut)
    imports = {i["name"]: i for i in client.get("/api/status").json()["imports"]}
    whole, partial = imports[checkpoint_name(SAMPLE)], imports[checkpoint_name(cut)]
    assert (whole["done"], whole["finished"]) == (200, True)
    assert 0 < partial["done"] < 200 and partial["finished"] is False
    page = client.get("/status").text
    assert "History imports" in page and "unfinished" in page
    assert f'<td class="name">{checkpoint_name(SAMPLE)}</td><td>200</td><td>finished</td>' in page
