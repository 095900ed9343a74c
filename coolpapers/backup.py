"""``coolpapers db backup PATH``: a consistent copy of the database while it serves."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine


def backup(engine: Engine, path: Path) -> str:
    """Copy the database to ``path``; returns the line the CLI prints."""
    raise NotImplementedError("db backup: being built")
