"""The schema comes from Alembic and matches the models exactly (no drift), on both databases."""

from __future__ import annotations

from alembic import command
from alembic.util.exc import CommandError
from sqlalchemy import Engine, inspect

from coolpapers import schema
from coolpapers.models import Base


def test_upgrade_head_on_empty_database_has_no_drift(engine: Engine) -> None:
    assert schema.is_current(engine)
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    config = schema.alembic_config(engine)
    with engine.connect() as conn:
        config.attributes["connection"] = conn
        try:
            command.check(config)  # raises when autogenerate would write a new migration
        except CommandError as exc:  # pragma: no cover - the failure message is the point
            raise AssertionError(f"models and migrations differ: {exc}") from None


def test_upgrade_twice_is_harmless(engine: Engine) -> None:
    schema.upgrade(engine)
    assert schema.current_revision(engine) == schema.head_revision()
