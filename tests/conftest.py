"""Fixtures: a fresh database per test on SQLite and (when configured) Postgres, a fake arXiv on
127.0.0.1, settings pointing at it, and the real app.

Every test that asks for ``engine`` gets its own database at the head revision. Running Alembic
for each of them cost a quarter of the suite, so each worker migrates once and then copies: a
SQLite file is copied byte for byte, and on Postgres the statements Alembic sent are replayed in
the test's new schema. ``test_migrations.py`` checks that a copy equals a real upgrade.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import schema
from coolpapers.config import Settings
from coolpapers.db import make_engine, make_sessionmaker
from coolpapers.models import Base
from coolpapers.web import create_app
from tests.fakes.arxiv_server import FakeArxiv

FIXTURES = Path(__file__).parent / "fixtures"
RSS = FIXTURES / "arxiv" / "rss"
API = FIXTURES / "arxiv" / "api"
PG_ENV = "COOLPAPERS_TEST_DATABASE_URL"
IN_CI = os.environ.get("CI") == "true"


def postgres_url() -> str:
    url = os.environ.get(PG_ENV, "")
    if not url:
        if IN_CI:
            pytest.fail(f"{PG_ENV} is not set: in CI the Postgres half must run")
        pytest.skip(f"{PG_ENV} not set")
    return url


@pytest.hookimpl(optionalhook=True)  # an xdist hook: unknown with -p no:xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With ``-n``, tests go one at a time to whichever worker is free, except that the tests of a
    module with a module-scoped fixture (a live server, a browser, an index) stay on one worker:
    that fixture is then built once, not once per worker. (xdist's own ``--dist loadgroup`` does
    not group on pytest 9.2: pytest-xdist issue 1386.)"""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    root = config.rootpath
    shares: dict[str, bool] = {}

    class SharedModuleFixtures(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            if module not in shares:
                path = root / module
                source = path.read_text() if path.is_file() else ""
                shares[module] = bool(re.search(r"scope\s*=\s*[\"'](module|class)", source))
            return module if shares[module] else nodeid

    return SharedModuleFixtures(config, log)


@contextmanager
def fresh_database(kind: str, tmp: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file in ``tmp``, or a throwaway schema in the Postgres
    database (skipped without one, failed in CI)."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'test.db'}"
        return
    url = postgres_url()
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
    except Exception as exc:  # noqa: BLE001 - report any connection failure the same way
        admin.dispose()
        if IN_CI:
            pytest.fail(f"Postgres at {url} is unusable: {exc}")
        pytest.skip(f"Postgres unusable: {exc}")
    try:
        yield in_schema(url, name)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def fake_arxiv() -> Iterator[FakeArxiv]:
    with FakeArxiv() as fake:
        yield fake


def make_settings(
    database_url: str, data_dir: Path, fake: FakeArxiv, **overrides: object
) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "arxiv_rss_url": fake.rss_url,
        "arxiv_api_url": fake.api_url,
        "arxiv_web_url": fake.web_url,
        "arxiv_min_interval_s": 0.0,
        "allow_private_networks": True,
        "fetch_timeout_s": 2.0,
        "fetch_deadline_s": 3.0,
        "fetch_max_attempts": 3,
        "arxiv_categories": "cs.LG",
        "secret_key": "test",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(database_url: str, tmp_path: Path, fake_arxiv: FakeArxiv) -> Settings:
    return make_settings(database_url, tmp_path / "data", fake_arxiv)


@dataclass
class MigratedTemplates:
    """What this worker's first real upgrade left behind, to copy into each fresh database."""

    tmp: Path
    sqlite_file: Path | None = None
    # (statement, parameters, executemany) as the Postgres driver received them
    postgres_statements: list[tuple[str, Any, bool]] | None = None
    copied: list[str] = field(default_factory=list)  # the URLs given a copy, for test_migrations

    def sqlite(self, settings: Settings) -> Path:
        if self.sqlite_file is None:
            path = self.tmp / "migrated.db"
            engine = make_engine(settings.model_copy(update={"database_url": f"sqlite:///{path}"}))
            schema.upgrade(engine)
            engine.dispose()
            # a rollback journal, so that one file is the whole database (the app turns WAL on)
            conn = sqlite3.connect(path)
            conn.execute("PRAGMA journal_mode=DELETE")
            conn.close()
            self.sqlite_file = path
        return self.sqlite_file

    def postgres(self, settings: Settings) -> list[tuple[str, Any, bool]]:
        if self.postgres_statements is None:
            statements: list[tuple[str, Any, bool]] = []
            url = postgres_url()
            name = f"t_{uuid.uuid4().hex[:16]}_template"
            admin = create_engine(url)
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{name}"'))
            engine = make_engine(settings.model_copy(update={"database_url": in_schema(url, name)}))

            @event.listens_for(engine, "before_cursor_execute")
            def record(*args: Any) -> None:
                _conn, _cursor, statement, parameters, _context, executemany = args
                statements.append((statement, parameters, executemany))

            try:
                schema.upgrade(engine)
            finally:
                engine.dispose()
                with admin.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
                admin.dispose()
            self.postgres_statements = statements
        return self.postgres_statements

    def copy_into(self, settings: Settings) -> bool:
        """Make the test's empty database a migrated one; False when it is not empty."""
        url = make_url(settings.effective_database_url)
        if url.get_backend_name() == "sqlite":
            target = Path(url.database or "")
            if not url.database or url.database == ":memory:" or target.exists():
                return False
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.sqlite(settings), target)
            self.copied.append(settings.effective_database_url)
            return True
        statements = self.postgres(settings)
        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                tables = "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"
                if conn.execute(text(tables)).scalar():
                    return False
                # the very statements and parameters, on the driver's own cursor
                cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
                for statement, parameters, executemany in statements:
                    if executemany:
                        cursor.executemany(statement, parameters)
                    else:
                        cursor.execute(statement, parameters)
        finally:
            engine.dispose()
        self.copied.append(settings.effective_database_url)
        return True


def in_schema(url: str, name: str) -> str:
    """``url`` with ``name`` as the search path: a database of its own inside Postgres."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{name}"


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> MigratedTemplates:
    return MigratedTemplates(tmp_path_factory.mktemp("migrated"))


@pytest.fixture
def engine(settings: Settings, migrated_templates: MigratedTemplates) -> Iterator[Engine]:
    """The test's database at the head revision: a copy of a migrated one, or (when the test
    put something there already) upgraded by Alembic."""
    copied = migrated_templates.copy_into(settings)
    engine = make_engine(settings)
    if not copied:
        schema.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings), follow_redirects=False) as c:
        yield c


# --- stocked databases: a module's expensive setup built once per worker, copied into each test ---

Build = Callable[[sessionmaker[Session], Settings], object]
Stock = Callable[[str, Build], sessionmaker[Session]]


@dataclass
class Stocked:
    """What a build left: the rows (a SQLite file, or a Postgres schema of plain tables) and the
    data directory (the search index, caches)."""

    data_dir: Path
    sqlite_file: Path | None = None
    postgres_schema: str | None = None


class StockRoom:
    """The builds this worker kept. ``restore`` makes a test's fresh database and data
    directory what the build made of another: each test still gets a database of its own."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.kept: dict[tuple[str, str], Stocked] = {}
        self._schemas: list[tuple[Engine, str]] = []

    def keep(self, engine: Engine, settings: Settings) -> Stocked:
        where = self.tmp / f"stock-{uuid.uuid4().hex[:8]}"
        where.mkdir(parents=True)
        kept = Stocked(where / "data")
        if settings.data_dir.exists():
            shutil.copytree(settings.data_dir, kept.data_dir)
        if engine.url.get_backend_name() == "sqlite":
            kept.sqlite_file = where / "stock.db"
            _sqlite_backup(Path(engine.url.database or ""), kept.sqlite_file)
            return kept
        name = f"s_{uuid.uuid4().hex[:16]}_stock"
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
            for table in Base.metadata.sorted_tables:
                conn.execute(text(f'CREATE TABLE "{name}"."{table.name}" AS TABLE "{table.name}"'))
        kept.postgres_schema = name
        self._schemas.append((create_engine(engine.url), name))
        return kept

    def restore(self, kept: Stocked, engine: Engine, settings: Settings) -> None:
        if kept.data_dir.exists():
            shutil.copytree(kept.data_dir, settings.data_dir, dirs_exist_ok=True)
        if kept.sqlite_file is not None:
            _sqlite_backup(kept.sqlite_file, Path(engine.url.database or ""))
            return
        tables = Base.metadata.sorted_tables
        with engine.begin() as conn:
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            for table in tables:
                conn.execute(
                    text(
                        f'INSERT INTO "{table.name}" OVERRIDING SYSTEM VALUE '
                        f'SELECT * FROM "{kept.postgres_schema}"."{table.name}"'
                    )
                )
                # a serial key goes on after the copied rows, as it would after the build
                for column in table.primary_key.columns:
                    sequence = conn.execute(
                        text("SELECT pg_get_serial_sequence(:t, :c)"),
                        {"t": f'"{table.name}"', "c": column.name},
                    ).scalar()
                    if sequence:
                        conn.execute(
                            text(
                                f'SELECT setval(:s, COALESCE(max("{column.name}"), 0) + 1, '
                                f'false) FROM "{table.name}"'
                            ),
                            {"s": sequence},
                        )

    def close(self) -> None:
        for engine, name in self._schemas:
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
            engine.dispose()


def _sqlite_backup(source: Path, target: Path) -> None:
    """Copy a live SQLite database page by page (its WAL included) into another."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


@pytest.fixture(scope="session")
def stock_room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StockRoom]:
    room = StockRoom(tmp_path_factory.mktemp("stock"))
    yield room
    room.close()


@pytest.fixture
def stock(
    request: pytest.FixtureRequest,
    settings: Settings,
    engine: Engine,
    factory: sessionmaker[Session],
    stock_room: StockRoom,
) -> Stock:
    """``stock(name, build)``: the test's database and data directory as ``build(factory,
    settings)`` leaves them. The first test of a module (per worker and database kind) runs the
    build; the next get a copy of its result, for the price of a file copy. For an expensive
    setup that many tests share, e.g. ingesting feeds and indexing them:

        @pytest.fixture
        def indexed(stock: Stock) -> sessionmaker[Session]:
            return stock("lg+cl indexed", lambda factory, settings: ...)
    """

    def stocked(name: str, build: Build) -> sessionmaker[Session]:
        key = (f"{request.path}:{name}", engine.url.get_backend_name())
        kept = stock_room.kept.get(key)
        if kept is None:
            build(factory, settings)
            stock_room.kept[key] = stock_room.keep(engine, settings)
        else:
            stock_room.restore(kept, engine, settings)
        return factory

    return stocked
