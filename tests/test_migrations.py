"""The schema comes from Alembic and matches the models exactly (no drift), on both databases;
the migrated copies the other tests get (conftest) equal a real upgrade."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.util.exc import CommandError
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import ingest, schema, store
from coolpapers.config import Settings
from coolpapers.db import make_engine
from coolpapers.models import Base, Listing, Paper
from coolpapers.store.listings import spec_condition, type_rank
from tests.conftest import RSS, MigratedTemplates, StockRoom, fresh_database


@pytest.fixture
def upgraded(settings: Settings) -> Iterator[Engine]:
    """The test's empty database taken to head by Alembic itself (not conftest's copy)."""
    engine = make_engine(settings)
    schema.upgrade(engine)
    yield engine
    engine.dispose()


def test_upgrade_head_on_empty_database_has_no_drift(upgraded: Engine) -> None:
    assert schema.is_current(upgraded)
    tables = set(inspect(upgraded).get_table_names())
    assert set(Base.metadata.tables) <= tables
    config = schema.alembic_config(upgraded)
    with upgraded.connect() as conn:
        config.attributes["connection"] = conn
        try:
            command.check(config)  # raises when autogenerate would write a new migration
        except CommandError as exc:  # pragma: no cover - the failure message is the point
            raise AssertionError(f"models and migrations differ: {exc}") from None


def test_upgrade_twice_is_harmless(upgraded: Engine) -> None:
    schema.upgrade(upgraded)
    assert schema.current_revision(upgraded) == schema.head_revision()


def describe(engine: Engine) -> dict[str, Any]:
    """Everything about a schema that a test could notice: tables, columns with types, defaults
    and nullability, keys, indexes, constraints, the Alembic revision."""
    found = inspect(engine)
    tables: dict[str, Any] = {}
    for name in sorted(found.get_table_names()):
        tables[name] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in found.get_columns(name)
            ],
            "pk": found.get_pk_constraint(name)["constrained_columns"],
            "fks": sorted(
                (fk["constrained_columns"], fk["referred_table"], fk["referred_columns"])
                for fk in found.get_foreign_keys(name)
            ),
            "indexes": sorted(
                (i["name"] or "", tuple(i["column_names"]), bool(i["unique"]))
                for i in found.get_indexes(name)
            ),
            "unique": sorted(
                (u["name"] or "", tuple(u["column_names"]))
                for u in found.get_unique_constraints(name)
            ),
            "checks": sorted(
                (c["name"] or "", c["sqltext"]) for c in found.get_check_constraints(name)
            ),
        }
    with engine.connect() as conn:
        rows = {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar() for t in tables}
    return {"tables": tables, "rows": rows, "revision": schema.current_revision(engine)}


def test_the_copied_database_equals_a_real_upgrade(
    engine: Engine, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """conftest's ``engine`` is a copy of one upgrade per worker: the same schema and the same
    rows (alembic_version's one) as a real upgrade of another fresh database."""
    kind = engine.url.get_backend_name()
    with fresh_database(kind, tmp_path_factory.mktemp("real")) as url:
        real = make_engine(settings.model_copy(update={"database_url": url}))
        try:
            schema.upgrade(real)
            copied = describe(engine)
            assert copied == describe(real)
        finally:
            real.dispose()
    assert copied["rows"]["alembic_version"] == 1
    assert set(Base.metadata.tables) <= set(copied["tables"])


def test_the_engine_fixture_is_a_copy_and_copies_are_independent(
    engine: Engine, settings: Settings, migrated_templates: MigratedTemplates, tmp_path: Path
) -> None:
    assert migrated_templates.copied[-1] == settings.effective_database_url
    # what one test writes is in no other test's copy
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'written-by-a-test'"))
    kind = engine.url.get_backend_name()
    with fresh_database(kind, tmp_path / "next") as url:
        following = settings.model_copy(update={"database_url": url})
        assert migrated_templates.copy_into(following)
        other = make_engine(following)
        try:
            assert schema.current_revision(other) == schema.head_revision()
        finally:
            other.dispose()
    # and a database that is not empty is left to Alembic, never overwritten
    assert not migrated_templates.copy_into(settings)
    assert schema.current_revision(engine) == "written-by-a-test"


def rows(engine: Engine) -> dict[str, list[tuple[str, ...]]]:
    """Every table's rows but the pages generation: a restore's own writes raise it, as any
    commit that changes what pages show does (store.generations)."""
    with engine.connect() as conn:
        return {
            t.name: sorted(tuple(map(str, r)) for r in conn.execute(t.select()))
            for t in Base.metadata.sorted_tables
            if t.name != "generations"
        }


def test_a_stocked_database_is_the_build_copied(
    engine: Engine,
    factory: sessionmaker[Session],
    settings: Settings,
    stock_room: StockRoom,
    migrated_templates: MigratedTemplates,
    tmp_path: Path,
) -> None:
    """conftest's ``stock``: what a build left in one test's database and data directory, put
    into another fresh database: the same rows, the same files, and keys that go on after the
    copied rows."""
    reports = ingest.ingest_files(factory, [RSS / "rss-cs.CL-2026-08-20-thu.xml"])
    assert not any(r.failed for r in reports)
    (settings.data_dir / "index").mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "index" / "built").write_text("by the build")
    built = rows(engine)
    assert built["papers"] and built["listings"]
    kept = stock_room.keep(engine, settings)

    kind = engine.url.get_backend_name()
    with fresh_database(kind, tmp_path / "next") as url:
        following = settings.model_copy(
            update={"database_url": url, "data_dir": tmp_path / "next-data"}
        )
        assert migrated_templates.copy_into(following)
        other = make_engine(following)
        try:
            stock_room.restore(kept, other, following)
            assert rows(other) == built
            assert (following.data_dir / "index" / "built").read_text() == "by the build"
            with other.begin() as conn:
                top = conn.execute(text("SELECT max(id) FROM listings")).scalar()
                if kind == "postgresql":
                    following_id = conn.execute(
                        text("SELECT nextval(pg_get_serial_sequence('listings', 'id'))")
                    ).scalar()
                    assert top is not None and following_id == top + 1
            stock_room.restore(kept, other, following)  # again: replaces, never adds
            assert rows(other) == built
        finally:
            other.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # SQLite's planner
def test_an_analysed_sqlite_database_reads_primary_categories_from_their_index(
    settings: Settings,
) -> None:
    """papers_primary: a database analysed before it (by an import) gets its new index's
    statistics too, or SQLite would plan the day pass by the old ones and read each listed
    paper's row for its primary category."""
    engine = make_engine(settings)
    try:
        config = schema.alembic_config(engine)
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "listings_cover")
        factory = sessionmaker(engine)
        reports = ingest.ingest_files(factory, [RSS / "rss-cs.CL-2026-08-20-thu.xml"])
        assert not any(r.failed for r in reports)
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        schema.upgrade(engine)
        spec = store.SpecFilter(include=frozenset({"cs.CL", "cs.AI"}), exclude=frozenset())
        day_pass = (
            select(Listing.paper_id, type_rank(spec))
            .join(Paper)
            .where(Listing.date == date(2026, 8, 20), spec_condition(spec))
        )
        with engine.connect() as conn:
            compiled = str(day_pass.compile(engine, compile_kwargs={"literal_binds": True}))
            plan = [row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + compiled)]
        assert "SEARCH papers USING COVERING INDEX ix_papers_id_primary_category (id=?)" in plan
    finally:
        engine.dispose()
