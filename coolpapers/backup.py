"""``coolpapers db backup PATH``: a consistent copy of the database while it serves.

SQLite: the online backup API, page by page, from one read transaction held open on the
source for the whole copy. In WAL mode that read transaction does not block the app's writers,
and it pins the snapshot the copy is made of: without it, each step opens its own, and a write
between two steps restarts the copy from the first page (under a steady ingest, forever).
The copy goes to a temporary file beside ``PATH``, is checked, and only then takes the name.

Postgres: pg_dump does this better than anything we could write (a consistent snapshot, a
format pg_restore understands, parallel restore), so the command says how to run it instead.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import sqlite3
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine

from coolpapers.errors import BadInput, ConfigError, CoolpapersError

# Pages copied per step (4 KiB each: 4 MiB a step); other threads run between steps.
BACKUP_STEP_PAGES = 1024
# (pages copied, pages in all) after each step
BackupProgress = Callable[[int, int], None]
# DATABASE_URL: COOLPAPERS_DATABASE_URL without SQLAlchemy's driver ("postgresql://…")
PG_DUMP_LINE = 'pg_dump --format=custom --file={path} "$DATABASE_URL"'
PG_RESTORE_LINE = 'pg_restore --clean --if-exists --no-owner --dbname="$DATABASE_URL" {path}'


def backup(
    engine: Engine,
    path: Path,
    *,
    step_pages: int = BACKUP_STEP_PAGES,
    progress: BackupProgress | None = None,
) -> str:
    """Copy the database to ``path`` (a new file); returns the line the CLI prints.
    ``progress(copied, total)`` (pages) is called after each step of ``step_pages``."""
    if engine.dialect.name != "sqlite":
        quoted = shlex.quote(str(path))
        raise ConfigError(
            "db backup copies SQLite databases; for Postgres use pg_dump, which takes a "
            f"consistent snapshot while the app runs: {PG_DUMP_LINE.format(path=quoted)} "
            f"(restore: {PG_RESTORE_LINE.format(path=quoted)}; DATABASE_URL is "
            "COOLPAPERS_DATABASE_URL without +psycopg)"
        )
    source = engine.url.database
    if source and source != ":memory:" and not Path(source).is_file():
        # connecting would create an empty database there: a mistyped setting, not a backup
        raise BadInput(f"no database at {source}: check COOLPAPERS_DATA_DIR / DATABASE_URL")
    target = Path(path)
    _check_target(target)
    partial = target.parent / f".{target.name}.{secrets.token_hex(4)}.partial"
    try:
        _copy(engine, partial, step_pages, progress)
        tables, papers = _check_copy(partial)
        size = partial.stat().st_size
        # link, not rename: a rename would replace a file that appeared at PATH meanwhile
        os.link(partial, target)
    except FileExistsError as exc:
        raise BadInput(f"{target} exists: a backup never overwrites a file") from exc
    except (sqlite3.Error, OSError) as exc:
        raise CoolpapersError(f"backup to {target} failed: {exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    summary = f"{_megabytes(size)}, {tables} tables, {papers:,} papers, integrity ok"
    return f"backed up to {target}: {summary}"


def _check_target(target: Path) -> None:
    if target.exists() or target.is_symlink():
        raise BadInput(f"{target} exists: a backup never overwrites a file")
    if not target.parent.is_dir():
        raise BadInput(f"{target.parent} is not a directory")


def _copy(engine: Engine, partial: Path, step_pages: int, progress: BackupProgress | None) -> None:
    raw = engine.raw_connection()
    try:
        source = raw.driver_connection
        if not isinstance(source, sqlite3.Connection):
            raise CoolpapersError(f"unexpected SQLite driver connection {type(source).__name__}")
        destination = sqlite3.connect(partial, isolation_level=None)
        try:
            # the pool's connections leave BEGIN to SQLAlchemy (isolation_level None): this one
            # is ours until it goes back, and the SELECT makes the deferred BEGIN take its snapshot
            source.execute("BEGIN")
            source.execute("SELECT count(*) FROM sqlite_master").fetchall()
            source.backup(destination, pages=step_pages, progress=_pages(progress))
            source.execute("ROLLBACK")
            # one self-contained file: the copy inherits WAL from the source's header
            destination.execute("PRAGMA journal_mode=DELETE").fetchall()
        finally:
            destination.close()
    finally:
        raw.close()  # back to the pool, which rolls back anything left open


def _pages(progress: BackupProgress | None) -> Callable[[int, int, int], object] | None:
    if progress is None:
        return None

    def step(_status: int, remaining: int, total: int) -> None:
        progress(total - remaining, total)

    return step


def _check_copy(partial: Path) -> tuple[int, int]:
    """The copy's integrity, tables and papers; an unsound copy is an error, not a backup."""
    conn = sqlite3.connect(f"file:{partial}?mode=ro", uri=True)
    try:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise CoolpapersError(f"the copy failed its integrity check: {'; '.join(problems[:5])}")
        tables = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchone()[0]
        has_papers = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'papers'"
        ).fetchone()
        papers = conn.execute("SELECT count(*) FROM papers").fetchone()[0] if has_papers else 0
        return int(tables), int(papers)
    finally:
        conn.close()


def _megabytes(size_bytes: int) -> str:
    return f"{size_bytes / 1_000_000:,.1f} MB"
