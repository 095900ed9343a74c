"""Bulk writes of a history import: a batch of papers, their categories, derived listings and
day index rows in a handful of statements (executemany; COPY on Postgres), not ORM objects.

The rules are ``store.papers.upsert_paper``'s, applied to a batch:

- metadata of the highest version wins (an equal version rewrites it, so a newer snapshot's
  DOI or journal ref lands); comments missing from the same version keep the stored ones;
- ``modified_at`` (what the search index follows) moves only when something changed, so
  importing the same file again writes nothing;
- what feeds stored stays: ``first_announced`` only moves earlier, clicks and keywords are
  never touched, a feed's listing is never replaced: derived listings are inserted ON CONFLICT
  DO NOTHING (a conflict on (paper, kind, version) or (paper, day, kind) keeps the stored one),
  and a paper's ``first_announced`` is its earliest listing;
- a paper's category rows are replaced when its categories change, and the day index learns
  every (category, day) of the listings written and of a re-categorised paper's listings.

Statements go to the session's own DBAPI connection (same transaction as the caller's
checkpoint): rows are tuples in each driver's own terms, which skips SQLAlchemy's per-value
processing, the largest cost of a bulk insert in Python. On SQLite that means the strings
SQLAlchemy itself stores for dates and JSON (``_sqlite_datetime``); psycopg adapts Python values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from coolpapers.db import session_scope
from coolpapers.models import Listing, Paper
from coolpapers.records import PaperMeta
from coolpapers.store import generations
from coolpapers.store.papers import as_utc, paper_values

__all__ = ["BulkPaper", "BulkResult", "PaperTuple", "analyze", "new_row", "write_papers"]

_CHUNK = 900  # ids bound in one IN (...): under SQLite's oldest limit of 999 parameters

# every column the import writes, in this order (the tuples below follow it)
_PAPER_COLUMNS = (
    "id", "version", "title", "abstract", "authors", "categories", "primary_category", "doi",
    "journal_ref", "comments", "license", "published", "updated", "versions", "first_announced",
    "pdf_clicks", "faq_clicks", "created_at", "modified_at",
)  # fmt: skip
_COMPARED = (
    "version", "title", "abstract", "authors", "categories", "primary_category", "doi",
    "journal_ref", "comments", "license", "published", "updated", "versions",
)  # fmt: skip
_TABLES = ("papers", "paper_categories", "listings", "day_categories")


class BulkPaper(NamedTuple):
    """One paper of a batch: the row it gets when new (``new_row``), its canonical categories
    (aliases merged, primary first) and the listings arXiv's schedule gives it, as (day,
    "new" | "replace", version). A tuple, not a record: batches cross a process boundary."""

    id: str
    row: tuple[Any, ...]
    categories: tuple[str, ...]
    listings: tuple[tuple[date, str, int], ...] = ()


# a BulkPaper as a plain tuple, or a BulkPaper: how a paper crosses from a parsing process (a
# NamedTuple pickles at twice the cost, its constructor being Python)
PaperTuple = tuple[str, tuple[Any, ...], tuple[str, ...], tuple[tuple[date, str, int], ...]]


@dataclass
class BulkResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    listed: int = 0  # derived listings written


def _sqlite_datetime(value: datetime | None) -> str | None:
    """What SQLAlchemy's SQLite DateTime stores (UTC, no offset): readers parse it back."""
    if value is None:
        return None
    if value.utcoffset():
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]  # without the "+00:00"


def _values(meta: PaperMeta, categories: tuple[str, ...]) -> dict[str, Any]:
    """The compared columns of a paper, as Python values (what a read returns)."""
    return {
        **paper_values(meta, categories),
        "published": meta.published,
        "updated": meta.updated,
        "versions": [v.isoformat() for v in meta.versions] or None,
    }


class _Driver:
    """The placeholders and value spellings of the session's DBAPI driver."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.postgres = session.get_bind().dialect.name == "postgresql"
        self.raw: Any = session.connection().connection.dbapi_connection

    def sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.postgres else statement

    def when(self, value: datetime | None) -> Any:
        return value if self.postgres else _sqlite_datetime(value)

    def day(self, value: date | None) -> Any:
        return value if self.postgres or value is None else value.isoformat()

    def flag(self, value: bool) -> Any:
        return value if self.postgres else int(value)

    def existing(self, ids: Sequence[str]) -> list[str]:
        """Those of ``ids`` stored already: one bare query a chunk (a first import finds none,
        and SQLAlchemy's compiling of a 900-value IN cost more than the answer)."""
        found: list[str] = []
        cursor = self.raw.cursor()
        try:
            for chunk in _chunks(ids):
                marks = ", ".join("?" * len(chunk))
                cursor.execute(self.sql(f"SELECT id FROM papers WHERE id IN ({marks})"), chunk)
                found.extend(row[0] for row in cursor.fetchall())
        finally:
            cursor.close()
        return found

    def many(self, statement: str, rows: Sequence[tuple[Any, ...]]) -> None:
        if rows:
            cursor = self.raw.cursor()
            try:
                cursor.executemany(self.sql(statement), rows)
            finally:
                cursor.close()

    def insert_new(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        """INSERT … ON CONFLICT DO NOTHING. On Postgres through COPY into a temporary table
        (the fastest way in; the ON CONFLICT then keeps a row a request stored meanwhile)."""
        if not rows:
            return
        names = ", ".join(columns)
        if not self.postgres:
            marks = ", ".join("?" * len(columns))
            self.many(
                f"INSERT INTO {table} ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING", rows
            )
            return
        cursor = self.raw.cursor()
        try:
            temp = f"bulk_{table}"
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {temp} "
                f"(LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
            with cursor.copy(f"COPY {temp} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute(
                f"INSERT INTO {table} ({names}) SELECT {names} FROM {temp} ON CONFLICT DO NOTHING"
            )
            cursor.execute(f"TRUNCATE {temp}")
        finally:
            cursor.close()


def _chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start : start + _CHUNK])


def _stored(session: Session, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The compared columns (and first_announced) of the papers of ``ids`` already stored."""
    table = Paper.__table__
    columns = [table.c[name] for name in ("id", "first_announced", *_COMPARED)]
    found: dict[str, dict[str, Any]] = {}
    connection = session.connection()
    for chunk in _chunks(ids):
        for row in connection.execute(select(*columns).where(table.c.id.in_(chunk))):
            values = row._asdict()
            values["published"] = as_utc(values["published"])
            values["updated"] = as_utc(values["updated"])
            found[values.pop("id")] = values
    return found


def _stored_listings(session: Session, ids: Sequence[str]) -> dict[str, list[tuple[Any, ...]]]:
    """(day, kind, version) of every stored listing of these papers."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    for chunk in _chunks(ids):
        query = select(Listing.paper_id, Listing.date, Listing.kind, Listing.version).where(
            Listing.paper_id.in_(chunk)
        )
        for paper_id, day, kind, version in session.execute(query):
            found.setdefault(paper_id, []).append((day, kind, version))
    return found


def _merged(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``new`` as the stored row becomes: upsert_paper's rules for the same or a higher
    version; a lower version changes nothing here."""
    if new["version"] < old["version"]:
        return {name: old[name] for name in _COMPARED}
    merged = dict(new)
    if new["comments"] is None and new["version"] == old["version"]:
        merged["comments"] = old["comments"]
    for name in ("published", "updated", "versions"):
        if merged[name] is None:  # a source that does not know them keeps what another said
            merged[name] = old[name]
    return merged


def write_papers(
    session: Session,
    papers: Sequence[PaperTuple],
    now: datetime,
    record: Callable[[PaperTuple], PaperMeta],
) -> BulkResult:
    """Upsert a batch (one entry per paper id) with its derived listings, in the caller's
    transaction; ``now`` stamps what changed. A paper already stored is compared field by
    field with its whole record, ``record(paper)`` (asked only then: a first import never
    builds one here). See the module for the rules."""
    driver = _Driver(session)
    present = driver.existing([p[0] for p in papers])
    stored = _stored(session, present) if present else {}
    listed = _stored_listings(session, list(stored)) if stored else {}
    result = BulkResult()
    paper_rows: list[tuple[Any, ...]] = []
    category_rows: list[tuple[Any, ...]] = []
    listing_rows: list[tuple[Any, ...]] = []
    updates: list[tuple[Any, ...]] = []
    recategorised: list[str] = []
    day_index: set[tuple[str, date]] = set()
    stamp = driver.when(now)
    spelled: dict[date, Any] = {}  # a batch's listings fall on some hundred days
    flag = driver.flag(True)
    for paper in papers:
        paper_id, row, categories, listings = paper
        old = stored.get(paper_id)
        if old is None:
            # new: the common case, the whole of a first import (its listings oldest first)
            result.inserted += 1
            category_rows.extend((paper_id, c, i) for i, c in enumerate(categories))
            if not listings:
                paper_rows.append((*row, None, 0, 0, stamp, stamp))
                continue
            for day, kind, version in listings:
                if (spelling := spelled.get(day)) is None:
                    spelling = spelled[day] = driver.day(day)
                listing_rows.append((paper_id, spelling, kind, version, flag))
            paper_rows.append((*row, spelled[listings[0][0]], 0, 0, stamp, stamp))
            result.listed += len(listings)
            day_index.update((c, day) for day, _, _ in listings for c in categories)
            continue
        known = listed.get(paper_id, [])
        written = [
            (day, kind, version)
            for day, kind, version in listings
            if not any(
                (k == kind and v == version) or (d == day and k == kind) for d, k, v in known
            )
        ]
        for day, kind, version in written:
            listing_rows.append((paper_id, driver.day(day), kind, version, flag))
        result.listed += len(written)
        first = min((day for day, _, _ in written), default=None)
        values = _values(record(paper), categories)
        merged = _merged(old, values)
        if old["first_announced"] is not None and (first is None or old["first_announced"] < first):
            first = old["first_announced"]
        if first == old["first_announced"] and all(merged[n] == old[n] for n in _COMPARED):
            result.unchanged += 1
        else:
            result.updated += 1
            updates.append(_update_row(driver, paper_id, merged, first, stamp))
        if merged["categories"] != old["categories"]:
            recategorised.append(paper_id)
            category_rows.extend((paper_id, c, i) for i, c in enumerate(merged["categories"]))
            days = {day for day, _, _ in known} | {day for day, _, _ in written}
            day_index.update((c, day) for c in merged["categories"] for day in days)
        else:
            day_index.update((c, day) for c in merged["categories"] for day, _, _ in written)
    if paper_rows or updates or listing_rows:
        # below SQLAlchemy's cursor events: say so, so cached day pages go stale on commit
        generations.pages_changed(session.connection())
    driver.insert_new("papers", _PAPER_COLUMNS, paper_rows)
    driver.many(
        "UPDATE papers SET version = ?, title = ?, abstract = ?, authors = ?, categories = ?, "
        "primary_category = ?, doi = ?, journal_ref = ?, comments = ?, license = ?, "
        "published = ?, updated = ?, versions = ?, first_announced = ?, modified_at = ? "
        "WHERE id = ?",
        updates,
    )
    driver.many("DELETE FROM paper_categories WHERE paper_id = ?", [(i,) for i in recategorised])
    driver.insert_new("paper_categories", ("paper_id", "category", "position"), category_rows)
    driver.insert_new("listings", ("paper_id", "date", "kind", "version", "derived"), listing_rows)
    driver.insert_new(
        "day_categories",
        ("category", "date"),
        [(c, driver.day(d)) for c, d in sorted(day_index)],
    )
    return result


def _json(value: Any) -> str | None:
    # orjson, as the engine reads JSON: ~10x the standard library's speed, any reader agrees
    return None if value is None else orjson.dumps(value).decode()


def new_row(
    paper_id: str,
    version: int,
    title: str,
    abstract: str,
    authors: Sequence[Any],
    categories: tuple[str, ...],
    doi: str | None,
    journal_ref: str | None,
    comments: str | None,
    license: str | None,
    versions: Sequence[str],
    *,
    postgres: bool,
) -> tuple[Any, ...]:
    """What a new paper's row holds but its first day and stamps, in plain values (built where
    the line is parsed, maybe another process): ``authors`` as stored (``{"name",
    "affiliations"}``), ``categories`` canonical, ``versions`` the submission times (UTC, ISO
    8601, as ``isoformat`` writes them); times are text (SQLite: as SQLAlchemy stores them;
    Postgres: ISO 8601 with the offset, as COPY reads them)."""
    when = _iso if postgres else _sqlite_time
    return (
        paper_id, version, title, abstract, orjson.dumps(authors).decode(),
        orjson.dumps(categories).decode(), categories[0] if categories else "", doi,
        journal_ref, comments, license, when(versions[0]) if versions else None,
        when(versions[-1]) if versions else None,
        orjson.dumps(versions).decode() if versions else None,
    )  # fmt: skip


def _iso(moment: str) -> str:
    return moment


def _sqlite_time(moment: str) -> str:
    """A UTC ISO 8601 time (``2007-04-02T19:18:42+00:00``, microseconds or not) as
    ``_sqlite_datetime`` writes it: ``2007-04-02 19:18:42.000000``."""
    fraction = moment[20:26] if moment[19] == "." else "000000"
    return f"{moment[:10]} {moment[11:19]}.{fraction}"


def _update_row(
    driver: _Driver, paper_id: str, v: dict[str, Any], first: date | None, stamp: Any
) -> tuple[Any, ...]:
    return (
        v["version"], v["title"], v["abstract"], _json(v["authors"]), _json(v["categories"]),
        v["primary_category"], v["doi"], v["journal_ref"], v["comments"], v["license"],
        driver.when(v["published"]), driver.when(v["updated"]), _json(v["versions"]),
        driver.day(first), stamp, paper_id,
    )  # fmt: skip


def analyze(factory: sessionmaker[Session], tables: Iterable[str] = _TABLES) -> None:
    """Leave the database as a bulk import should (its tables only on Postgres: a bare
    statement visits the whole database). Last, after anything else that rewrites the rows
    (the search index's [REL] keywords update every imported paper).

    - SQLite: ANALYZE, fresh planner statistics.
    - Postgres: VACUUM (ANALYZE). The statistics (day pages are planned badly without them),
      and the visibility map: until a table is vacuumed no page of it is all-visible, so the
      covering indexes that day navigation and day lists read (``ix_listings_date_kind_paper``,
      ``ix_papers_id_primary_category``, the paper_categories key) visit the table for every
      row, and the first read of each imported row writes its hint bits. Autovacuum, where
      it is on, gets there in its own time while the first readers pay; where it is off,
      never. Measured at 1M papers: a day's listing and its neighbours 25.8 -> 16.7 ms
      (median of 150 warm reads); the VACUUM took 7-13 s. VACUUM cannot run in a transaction:
      on a connection of its own, in autocommit. A daily ingest does not vacuum: its rows are
      a few pages read hot (measured at 1M: the new day's listing 10.4 ms before a VACUUM,
      10.2 after, and the VACUUM 0.15-0.38 s of a 1 s ingest)."""
    engine: Engine = factory.kw["bind"]
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"VACUUM (ANALYZE) {', '.join(tables)}")
        return
    with session_scope(factory, write=True) as session:
        session.execute(text("ANALYZE"))
