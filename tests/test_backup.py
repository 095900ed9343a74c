"""``coolpapers db backup``: a copy taken while a writer keeps committing is one consistent
snapshot that passes SQLite's integrity check; restored, it serves what the source held at that
moment; the command refuses to overwrite, and on Postgres says how to run pg_dump instead."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import schema, store
from coolpapers.backup import backup
from coolpapers.cli import main
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.errors import BadInput, ConfigError
from coolpapers.records import Author, PaperMeta
from coolpapers.web import create_app

DAY = date(2026, 3, 2)
BATCH = 4  # papers per writer transaction
PREFILL = 1200  # papers before the copy starts: enough pages for many steps
STEP_PAGES = 8
WAIT_S = 60  # a guard against a hang, never what decides the test
SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
POSTGRES = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


def paper_id(n: int) -> str:
    return f"2603.{n:05d}"


def put_papers(factory: sessionmaker[Session], first: int, count: int) -> None:
    """Papers ``first`` … ``first + count - 1``, listed on DAY, in one transaction."""
    ids = [paper_id(n) for n in range(first, first + count)]
    with session_scope(factory, write=True) as s:
        known = store.listings_by_paper(s, ids)
        for pid in ids:
            meta = PaperMeta(
                id=pid,
                version=1,
                title=f"Paper {pid}",
                abstract=f"An abstract of {pid}. " * 60,
                authors=(Author("A. Author"),),
                categories=("cs.LG", "cs.AI"),
            )
            store.upsert_paper(s, meta, meta.categories, None, announced=DAY)
            store.add_listing(s, known.setdefault(pid, []), pid, DAY, "new", 1)
        store.index_listing_day(s, DAY)


class Writer(threading.Thread):
    """Commits BATCH papers a transaction until stopped; ``committed`` holds the paper count
    after each commit, the states a snapshot may show."""

    def __init__(self, factory: sessionmaker[Session], start_at: int) -> None:
        super().__init__(daemon=True)
        self.factory = factory
        self.committed = [start_at]
        self.changed = threading.Condition()
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                put_papers(self.factory, self.committed[-1], BATCH)
                with self.changed:
                    self.committed.append(self.committed[-1] + BATCH)
                    self.changed.notify_all()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
            with self.changed:
                self.changed.notify_all()

    def wait_for(self, count: int) -> None:
        with self.changed:
            ok = self.changed.wait_for(
                lambda: self.error is not None or self.committed[-1] >= count, WAIT_S
            )
        assert ok and self.error is None, self.error


@pytest.fixture
def writer(factory: sessionmaker[Session]) -> Iterator[Writer]:
    put_papers(factory, 0, PREFILL)
    running = Writer(factory, PREFILL)
    yield running
    running.stop.set()
    if running.is_alive():
        running.join(WAIT_S)


def copy_contents(path: Path) -> tuple[list[str], int, int, int]:
    """(paper ids, category rows, listings, papers without both categories) of a copy."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert [r[0] for r in conn.execute("PRAGMA integrity_check")] == ["ok"]
        ids = [r[0] for r in conn.execute("SELECT id FROM papers ORDER BY id")]
        categories = conn.execute("SELECT count(*) FROM paper_categories").fetchone()[0]
        listings = conn.execute("SELECT count(*) FROM listings").fetchone()[0]
        orphans = conn.execute(
            "SELECT count(*) FROM papers p WHERE (SELECT count(*) FROM paper_categories c "
            "WHERE c.paper_id = p.id) != 2"
        ).fetchone()[0]
        return ids, categories, listings, orphans
    finally:
        conn.close()


@SQLITE
def test_a_backup_while_writing_is_one_committed_state_and_restores(
    writer: Writer,
    engine: Engine,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = tmp_path / "backups" / "copy.db"
    target.parent.mkdir()
    writer.start()
    writer.wait_for(PREFILL + BATCH)
    before = writer.committed[-1]
    steps: list[tuple[int, int]] = []

    def progress(copied: int, total: int) -> None:
        if not steps:  # the copy has begun: let the writer commit twice before it goes on
            writer.wait_for(writer.committed[-1] + 2 * BATCH)
        steps.append((copied, total))

    line = backup(engine, target, step_pages=STEP_PAGES, progress=progress)
    writer.stop.set()
    writer.join(WAIT_S)
    assert writer.error is None
    after = writer.committed[-1]

    assert len(steps) > 2 and steps[-1][0] == steps[-1][1]  # page by page, to the end
    ids, categories, listings, orphans = copy_contents(target)
    count = len(ids)
    # one committed state, from before the copy began, not one of the writes made during it
    assert count in writer.committed and before <= count < after
    assert ids == [paper_id(n) for n in range(count)]
    assert (categories, listings, orphans) == (2 * count, count, 0)
    assert f"{count:,} papers" in line and "integrity ok" in line and str(target) in line
    # one self-contained file, nothing left beside it
    assert sorted(p.name for p in target.parent.iterdir()) == ["copy.db"]

    # the restore drill: an instance on the copy
    restored = settings.model_copy(
        update={"database_url": f"sqlite:///{target}", "data_dir": tmp_path / "restored"}
    )
    monkeypatch.setenv("COOLPAPERS_DATABASE_URL", restored.effective_database_url)
    monkeypatch.setenv("COOLPAPERS_DATA_DIR", str(restored.data_dir))
    assert main(["db", "upgrade"]) == 0
    restored_engine = create_engine(restored.effective_database_url)
    try:
        assert schema.is_current(restored_engine)
    finally:
        restored_engine.dispose()
    with TestClient(create_app(restored)) as client:
        day = client.get("/api/arxiv/cs.LG", params={"date": DAY.isoformat(), "show": 1000})
        assert day.status_code == 200
        body = day.json()
        assert body["total"] == count
        assert [p["id"] for p in body["papers"]] == ids[:1000]
        page = client.get("/arxiv/cs.AI", params={"date": DAY.isoformat()})
        assert page.status_code == 200 and f"Paper {ids[0]}" in page.text


@SQLITE
def test_an_existing_file_is_never_overwritten(engine: Engine, tmp_path: Path) -> None:
    target = tmp_path / "copy.db"
    target.write_bytes(b"precious")
    with pytest.raises(BadInput, match="exists"):
        backup(engine, target)
    assert target.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@POSTGRES
def test_postgres_says_to_use_pg_dump(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        backup(engine, tmp_path / "lab.dump")
    message = str(raised.value)
    assert f"pg_dump --format=custom --file={tmp_path / 'lab.dump'}" in message
    assert "pg_restore --clean --if-exists" in message
    assert not (tmp_path / "lab.dump").exists()


@POSTGRES
def test_the_readme_pg_dump_drill(
    writer: Writer, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """The README's lines, with ``--schema`` because each test's database is a schema: a dump
    taken while the writer commits, the schema dropped, restored, and served."""
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("pg_dump / pg_restore not installed")
    with engine.connect() as conn:
        name = conn.exec_driver_sql("SELECT current_schema()").scalar()
    url = engine.url.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
    dump = tmp_path / "lab.dump"
    writer.start()
    writer.wait_for(PREFILL + BATCH)
    before = writer.committed[-1]
    pg_dump = ["pg_dump", "--format=custom", f"--file={dump}", f"--schema={name}", url]
    done = subprocess.run(pg_dump, capture_output=True, text=True)
    writer.stop.set()
    writer.join(WAIT_S)
    assert done.returncode == 0, done.stderr
    assert writer.error is None
    engine.dispose()
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')
    restore = ["pg_restore", "--clean", "--if-exists", "--no-owner", f"--dbname={url}", str(dump)]
    done = subprocess.run(restore, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

    assert schema.is_current(engine)
    with engine.connect() as conn:
        ids = [r[0] for r in conn.exec_driver_sql("SELECT id FROM papers ORDER BY id")]
        orphans = conn.exec_driver_sql(
            "SELECT count(*) FROM papers p WHERE (SELECT count(*) FROM paper_categories c "
            "WHERE c.paper_id = p.id) != 2"
        ).scalar()
    count = len(ids)
    assert count in writer.committed and count >= before and orphans == 0
    assert ids == [paper_id(n) for n in range(count)]
    with TestClient(create_app(settings)) as client:
        body = client.get("/api/arxiv/cs.LG", params={"date": DAY.isoformat()}).json()
        assert body["total"] == count


def _env_without_settings() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("COOLPAPERS_")}


def test_cli_on_postgres_exits_2_with_the_pg_dump_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing is connected to: the URL alone says which database it is."""
    monkeypatch.setenv("COOLPAPERS_DATABASE_URL", "postgresql+psycopg://lab:s3cret@127.0.0.1:9/lab")
    monkeypatch.setenv("COOLPAPERS_DATA_DIR", str(tmp_path))
    assert main(["db", "backup", str(tmp_path / "lab dump")]) == 2
    err = capsys.readouterr().err
    assert "pg_dump --format=custom --file='" in err and "lab dump'" in err
    assert "pg_restore --clean --if-exists" in err
    assert "s3cret" not in err and "Traceback" not in err


@SQLITE
def test_the_command_as_a_process(
    engine: Engine, factory: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> None:
    put_papers(factory, 0, 3)
    env = {
        **_env_without_settings(),
        "COOLPAPERS_DATABASE_URL": settings.effective_database_url,
        "COOLPAPERS_DATA_DIR": str(settings.data_dir),
    }
    target = tmp_path / "nightly.db"
    cmd = [sys.executable, "-m", "coolpapers", "db", "backup"]
    done = subprocess.run([*cmd, str(target)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"backed up to {target}: ")
    assert "3 papers, integrity ok" in done.stdout
    assert copy_contents(target)[0] == [paper_id(n) for n in range(3)]
    first = target.read_bytes()

    again = subprocess.run([*cmd, str(target)], env=env, capture_output=True, text=True)
    assert again.returncode == 2
    assert f"{target} exists" in again.stderr and "Traceback" not in again.stderr
    assert target.read_bytes() == first

    elsewhere = {**env, "COOLPAPERS_DATABASE_URL": f"sqlite:///{tmp_path / 'typo' / 'cp.db'}"}
    missing = subprocess.run(
        [*cmd, str(tmp_path / "b.db")], env=elsewhere, capture_output=True, text=True
    )
    assert missing.returncode == 2 and "no database at" in missing.stderr
    assert not (tmp_path / "typo" / "cp.db").exists() and not (tmp_path / "b.db").exists()

    nowhere = subprocess.run(
        [*cmd, str(tmp_path / "no" / "such" / "dir.db")], env=env, capture_output=True, text=True
    )
    assert nowhere.returncode == 2 and "is not a directory" in nowhere.stderr
    assert "Traceback" not in nowhere.stderr
