"""Papers and their categories: writes of one paper, reads of many."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, NamedTuple, Protocol, cast

from sqlalchemy import (
    JSON,
    Select,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from coolpapers.models import (
    Base,
    DayCategory,
    Listing,
    Paper,
    PaperCategory,
    utcnow,
)
from coolpapers.records import PaperMeta
from coolpapers.store import generations

TYPE_ORDER = ("new", "cross", "replace", "replace-cross")


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)  # declarative models are always mapped to a Table


def on_conflict_insert(session: Session, model: type[Base]) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into ``model``'s table that can say what to do ON CONFLICT: both databases
    spell it alike, but SQLAlchemy builds it per dialect. On the table (Core), not the entity:
    no ORM bookkeeping, and the driver's row count is the statement's."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(_table(model))
    return sqlite.insert(_table(model))


def insert_rows(session: Session, model: type[Base], rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (the same keys in each; none of them stored yet) into ``model``'s table.
    On Postgres through COPY: a third of an executemany's time for a day's 1,562 category rows
    at 1M papers (each row of an executemany is a statement of its own on the server). COPY
    goes below SQLAlchemy's cursor events, so it says itself that list pages change."""
    if not rows:
        return
    table = _table(model)
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        connection.execute(insert(table), rows)
        return
    names = list(rows[0])
    # JSON as SQLAlchemy's psycopg binding writes it (the standard library's dumps)
    encoded = [isinstance(table.c[name].type, JSON) for name in names]
    generations.pages_changed(connection)
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    [
                        json.dumps(row[name]) if json_ and row[name] is not None else row[name]
                        for name, json_ in zip(names, encoded, strict=True)
                    ]
                )
    finally:
        cursor.close()


def paper_values(meta: PaperMeta, categories: Sequence[str]) -> dict[str, Any]:
    """The columns of ``meta`` that every source's record sets (dates and versions aside)."""
    return {
        "version": meta.version,
        "title": meta.title,
        "abstract": meta.abstract,
        "authors": [{"name": a.name, "affiliations": list(a.affiliations)} for a in meta.authors],
        "categories": list(categories),
        "primary_category": categories[0] if categories else "",
        "doi": meta.doi,
        "journal_ref": meta.journal_ref,
        "comments": meta.comments,
        "license": meta.license,
    }


def upsert_paper(
    session: Session,
    meta: PaperMeta,
    categories: Sequence[str],
    existing: Paper | None,
    *,
    announced: date | None = None,
) -> str:
    """Insert or update a paper; metadata of the highest version wins.

    ``existing`` is the stored row or None (callers load a batch with ``papers_by_id``).
    ``categories`` are canonical (aliases merged), primary first. Returns "inserted",
    "updated" or "unchanged"; an unchanged paper is not written at all.
    """
    if existing is None:
        paper = Paper(id=meta.id, first_announced=announced, **paper_values(meta, categories))
        paper.published, paper.updated = meta.published, meta.updated
        session.add(paper)
        session.add_all(_category_rows(meta.id, categories))
        return "inserted"
    changes = _changes(existing, meta, categories, announced)
    for name, value in changes.items():
        setattr(existing, name, value)
    if "categories" in changes:
        _recategorise(session, {meta.id: categories})
    return "updated" if changes else "unchanged"


class PaperWrite(NamedTuple):
    """One paper of :func:`upsert_papers`: its record, canonical categories (primary first)
    and the listing day it was announced on, if any (``upsert_paper``'s ``announced``)."""

    meta: PaperMeta
    categories: Sequence[str]
    announced: date | None


def upsert_papers(
    session: Session, papers: Sequence[PaperWrite], existing: Mapping[str, Paper]
) -> list[str]:
    """:func:`upsert_paper` for a batch of distinct ids (a feed's day), its outcomes in order.

    Papers not stored (not in ``existing``) and their category rows go in with one
    executemany each, no ORM object per paper (the ORM's unit of work was most of a 1,000-item
    day); stored ones that changed are updated by an executemany too (their loaded rows are
    kept in step), and those whose categories changed get their category rows and day index
    rewritten together."""
    outcomes: list[str] = []
    fresh: list[PaperWrite] = []
    updates: list[tuple[Paper, dict[str, Any]]] = []
    recategorised: dict[str, Sequence[str]] = {}
    for write in papers:
        meta, categories, announced = write
        paper = existing.get(meta.id)
        if paper is None:
            fresh.append(write)
            outcomes.append("inserted")
            continue
        changes = _changes(paper, meta, categories, announced)
        if changes:
            updates.append((paper, changes))
        if "categories" in changes:
            recategorised[meta.id] = categories
        outcomes.append("updated" if changes else "unchanged")
    _insert_new(session, fresh)
    _update_stored(session, updates)
    if recategorised:
        _recategorise(session, recategorised)
    return outcomes


def _insert_new(session: Session, papers: Sequence[PaperWrite]) -> None:
    if not papers:
        return
    now = utcnow()  # one stamp: the index's cursor pages through ties by id
    rows = [
        {
            "id": meta.id,
            **paper_values(meta, categories),
            "published": meta.published,
            "updated": meta.updated,
            "first_announced": announced,
            "created_at": now,
            "modified_at": now,
        }
        for meta, categories, announced in papers
    ]
    insert_rows(session, Paper, rows)
    _insert_categories(session, {meta.id: categories for meta, categories, _ in papers})


def _changes(
    paper: Paper, meta: PaperMeta, categories: Sequence[str], announced: date | None
) -> dict[str, Any]:
    """What ``meta`` changes in the stored ``paper`` by the rules of :func:`upsert_paper`
    (``modified_at`` included when anything does), the paper itself left as it is."""
    changes: dict[str, Any] = {}
    if announced is not None and (
        paper.first_announced is None or announced < paper.first_announced
    ):
        changes["first_announced"] = announced
    if meta.version >= paper.version:
        # Dates only come from the API; keep them whichever source updates the rest.
        for name in ("published", "updated"):
            new = getattr(meta, name)
            if new is not None and as_utc(getattr(paper, name)) != new:
                changes[name] = new
        values = paper_values(meta, categories)
        # The feed carries no comments; don't erase what the API told us about the same version.
        if meta.comments is None and meta.version == paper.version:
            values["comments"] = paper.comments
        # The API and the legacy feed carry no licence: a record from them keeps the one we
        # know (a licence is the paper's, not the version's: arXiv keeps it across versions).
        if meta.license is None:
            values["license"] = paper.license
        changes.update((n, v) for n, v in values.items() if getattr(paper, n) != v)
    if changes:
        changes["modified_at"] = utcnow()
    return changes


# what an update of a stored paper sets; the indexed primary_category only when it changes
# (SQLite rewrites the index entries of every column it sets)
_UPDATED = (
    "version", "title", "abstract", "authors", "categories", "doi", "journal_ref", "comments",
    "license", "published", "updated", "first_announced", "modified_at",
)  # fmt: skip


def _update_stored(session: Session, updates: Sequence[tuple[Paper, dict[str, Any]]]) -> None:
    """Write the changes of stored papers with one executemany per set of columns (the ORM's
    unit of work sent one UPDATE per paper, each setting what changed), then record them as
    the loaded rows' stored values, so that the session has nothing left to flush for them."""
    groups: dict[bool, list[tuple[Paper, dict[str, Any]]]] = {}
    for paper, changes in updates:
        groups.setdefault("primary_category" in changes, []).append((paper, changes))
    table = _table(Paper)
    statement = update(table).where(table.c.id == bindparam("_id"))
    for recategorised, group in groups.items():
        names = (*_UPDATED, "primary_category") if recategorised else _UPDATED
        rows = [
            {"_id": paper.id, **{n: changes.get(n, getattr(paper, n)) for n in names}}
            for paper, changes in group
        ]
        session.execute(statement, rows)
        for paper, changes in group:
            for name, value in changes.items():
                set_committed_value(paper, name, value)


def _recategorise(session: Session, papers: Mapping[str, Sequence[str]]) -> None:
    """New category rows for these stored papers. A paper in new categories shows on its
    stored days under them too: the day index must know (a dropped category's days stay; day
    navigation confirms each day on listings)."""
    ids = list(papers)
    for chunk in _id_chunks(ids):
        # through the ORM: it flushes first (a category row still pending goes in before it goes)
        session.execute(delete(PaperCategory).where(PaperCategory.paper_id.in_(chunk)))
    _insert_categories(session, papers)
    for chunk in _id_chunks(ids):
        listed = (
            select(PaperCategory.category, Listing.date)
            .distinct()
            .join(Listing, Listing.paper_id == PaperCategory.paper_id)
            .where(PaperCategory.paper_id.in_(chunk))
        )
        days = on_conflict_insert(session, DayCategory).from_select(["category", "date"], listed)
        session.execute(days.on_conflict_do_nothing())


def _insert_categories(session: Session, papers: Mapping[str, Sequence[str]]) -> None:
    """The category rows of these papers (id -> canonical categories, primary first)."""
    rows = [
        {"paper_id": paper_id, "category": c, "position": i}
        for paper_id, categories in papers.items()
        for i, c in enumerate(categories)
    ]
    insert_rows(session, PaperCategory, rows)


def _category_rows(paper_id: str, categories: Sequence[str]) -> list[PaperCategory]:
    return [
        PaperCategory(paper_id=paper_id, category=c, position=i) for i, c in enumerate(categories)
    ]


class PaperView(Protocol):
    """A paper as pages and the API show it: a :class:`Paper`, or a row of :func:`paper_rows`."""

    @property
    def id(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def abstract(self) -> str: ...
    @property
    def authors(self) -> list[Any]: ...
    @property
    def categories(self) -> list[Any]: ...
    @property
    def primary_category(self) -> str: ...
    @property
    def doi(self) -> str | None: ...
    @property
    def journal_ref(self) -> str | None: ...
    @property
    def comments(self) -> str | None: ...
    @property
    def license(self) -> str | None: ...
    @property
    def published(self) -> datetime | None: ...
    @property
    def updated(self) -> datetime | None: ...
    @property
    def first_announced(self) -> date | None: ...
    @property
    def pdf_clicks(self) -> int: ...
    @property
    def faq_clicks(self) -> int: ...
    @property
    def keywords(self) -> list[Any] | None: ...


_ID_CHUNK = 500  # ids bound in one IN (...): far below every driver's limit on parameters


def _id_chunks(ids: Iterable[str]) -> Iterator[list[str]]:
    wanted = list(dict.fromkeys(ids))
    for start in range(0, len(wanted), _ID_CHUNK):
        yield wanted[start : start + _ID_CHUNK]


# The statements are built once: building one cost more than running it for a page of 25.
@functools.cache
def _papers_in() -> Select[Paper]:
    return select(Paper).where(Paper.id.in_(bindparam("ids", expanding=True)))


class PaperRow(NamedTuple):
    """A :class:`PaperView` as :func:`paper_rows` gives it: a plain tuple, whose fields cost
    a twentieth of a database row's to read (a card and a paper's JSON read ~20 of them)."""

    id: str
    version: int
    title: str
    abstract: str
    authors: list[Any]
    categories: list[Any]
    primary_category: str
    doi: str | None
    journal_ref: str | None
    comments: str | None
    license: str | None
    published: datetime | None
    updated: datetime | None
    first_announced: date | None
    pdf_clicks: int
    faq_clicks: int
    keywords: list[Any] | None


@functools.cache
def _paper_rows_in() -> Select[Any]:
    columns = Paper.__table__.c
    shown = [columns[name] for name in PaperRow._fields]
    return select(*shown).where(columns.id.in_(bindparam("ids", expanding=True)))


def papers_by_id(session: Session, ids: Iterable[str]) -> dict[str, Paper]:
    found: dict[str, Paper] = {}
    for chunk in _id_chunks(ids):
        for paper in session.scalars(_papers_in(), {"ids": chunk}):
            found[paper.id] = paper
    return found


def paper_rows(session: Session, ids: Iterable[str]) -> dict[str, PaperView]:
    """Papers to show, not to change: plain rows through the session's connection, without
    the ORM's objects (0.55 -> 0.39 ms for a page of 25 on SQLite)."""
    found: dict[str, PaperView] = {}
    connection = session.connection()
    for chunk in _id_chunks(ids):
        for row in connection.execute(_paper_rows_in(), {"ids": chunk}):
            paper = PaperRow._make(row)
            found[paper.id] = paper
    return found


def click_counts(session: Session, ids: Iterable[str]) -> dict[str, int]:
    """The public clicks ([PDF] + [FAQ]) of these papers: one narrow column, to rank up to 1000
    search hits by before loading the page's rows (the whole rows took 16 ms)."""
    found: dict[str, int] = {}
    for chunk in _id_chunks(ids):
        query = select(Paper.id, Paper.pdf_clicks + Paper.faq_clicks).where(Paper.id.in_(chunk))
        found.update((paper_id, clicks) for paper_id, clicks in session.execute(query))
    return found


def get_paper(session: Session, paper_id: str) -> Paper | None:
    return session.get(Paper, paper_id)


# ---------------------------------------------------------------- what the search index follows


def count_changed_since(session: Session, cursor: datetime | None) -> int:
    """Papers modified at or after ``cursor`` (all papers when None)."""
    query = select(func.count()).select_from(Paper)
    if cursor is not None:
        query = query.where(Paper.modified_at >= cursor)
    return int(session.scalar(query) or 0)


def changed_since(session: Session, cursor: datetime | None, batch: int) -> Iterator[list[Paper]]:
    """Papers modified at or after ``cursor`` (all when None), oldest first, ``batch`` at a
    time; pages by (modified_at, id) so ties on a timestamp are neither lost nor repeated."""
    last: tuple[datetime, str] | None = None
    while True:
        query = select(Paper).order_by(Paper.modified_at, Paper.id).limit(batch)
        if cursor is not None:
            query = query.where(Paper.modified_at >= cursor)
        if last is not None:
            query = query.where(
                (Paper.modified_at > last[0])
                | ((Paper.modified_at == last[0]) & (Paper.id > last[1]))
            )
        rows = list(session.scalars(query))
        if not rows:
            return
        yield rows
        last = (rows[-1].modified_at, rows[-1].id)


def set_keywords(session: Session, paper_id: str, keywords: list[str]) -> None:
    """Keywords are derived from the paper: ``modified_at`` stays, so this is no "change"."""
    session.execute(
        update(Paper)
        .where(Paper.id == paper_id)
        .values(keywords=keywords)
        .execution_options(synchronize_session=False)
    )
