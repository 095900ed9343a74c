"""What the search index reads of the papers in bulk, and the keywords it writes back: plain
rows of only the columns it needs (Core, no ORM objects: 1M papers go through here when a
history is imported), paged by a keyset cursor on ``(modified_at, id)``, the order of the
index ``ix_papers_modified_at_id``, so ties on a timestamp are neither lost nor repeated.
The keywords go back as JSON text made by the caller (a worker process), in one driver
executemany."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Table, func, select, tuple_
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from coolpapers.models import Paper

#: A place in the papers' (modified_at, id) order; ``(t, "")`` is just before every paper
#: modified at ``t`` (no id is empty).
FeedKey = tuple[datetime, str]

#: What the index holds of a paper (search.documents.IndexedPaper), plus its place.
INDEX_COLUMNS = (
    "id",
    "title",
    "abstract",
    "authors",
    "categories",
    "first_announced",
    "published",
    "modified_at",
)
#: What the keywords are made of, the keywords stored, and the place.
KEYWORD_COLUMNS = ("id", "title", "abstract", "keywords", "modified_at")


def _table() -> Table:
    return Paper.__table__  # type: ignore[return-value]  # declarative: always a Table


def _after(key: FeedKey | None) -> ColumnElement[bool] | None:
    if key is None:
        return None
    c = _table().c
    # The plain bound on modified_at lets every database walk the index from there; the row
    # value comparison then skips the ties already seen.
    return (c.modified_at >= key[0]) & (tuple_(c.modified_at, c.id) > tuple_(key[0], key[1]))


def _page(columns: Sequence[str], key: FeedKey | None, batch: int) -> Select[Any]:
    c = _table().c
    query = select(*(c[name] for name in columns)).order_by(c.modified_at, c.id).limit(batch)
    where = _after(key)
    return query if where is None else query.where(where)


def count_after(session: Session, key: FeedKey | None) -> int:
    """Papers after ``key`` (all when None)."""
    query = select(func.count()).select_from(_table())
    where = _after(key)
    return int(session.scalar(query if where is None else query.where(where)) or 0)


def page_after(
    session: Session, key: FeedKey | None, batch: int, columns: Sequence[str] = INDEX_COLUMNS
) -> list[Row[Any]]:
    """The first ``batch`` papers after ``key`` (all when None), oldest first, ``columns`` of
    them (``modified_at`` and ``id`` among them: the next page starts from the last row)."""
    if "modified_at" not in columns or "id" not in columns:
        raise ValueError("the pages are keyed on modified_at and id: read them")
    return list(session.connection().execute(_page(columns, key, batch)))


def key_of(row: Row[Any]) -> FeedKey:
    """The place of a row of :func:`page_after`: the next page starts after it."""
    return (row.modified_at, row.id)


def set_keywords_json(session: Session, keywords: Sequence[tuple[str, str]]) -> None:
    """Store these papers' keywords, (JSON text of the list, paper id) pairs, in one driver
    executemany: no per-row work here (SQLAlchemy's executemany binds and serialises each
    row: twice the time, in the process that also reads the pages, after a history import
    of 1M papers). The text must be ``json.dumps`` of the list, what the JSON column's own
    serializer writes. Keywords are derived from the paper: ``modified_at`` stays, so this is
    no "change"."""
    if not keywords:
        return
    connection = session.connection()
    table = _table().name
    if connection.dialect.name == "postgresql":
        statement = f"UPDATE {table} SET keywords = CAST(%s AS json) WHERE id = %s"
    else:
        statement = f"UPDATE {table} SET keywords = ? WHERE id = ?"
    connection.exec_driver_sql(statement, list(keywords))
