"""Every query. Callers pass a Session; nothing here commits (the caller's scope does)."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from coolpapers.models import (
    FeedDay,
    FetchState,
    IngestRun,
    Lease,
    Listing,
    Paper,
    PaperCategory,
    utcnow,
)
from coolpapers.records import FeedItem, PaperMeta

TYPE_ORDER = ("new", "cross", "replace", "replace-cross")


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


# ---------------------------------------------------------------- papers


def _paper_values(meta: PaperMeta, categories: Sequence[str]) -> dict[str, Any]:
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
    values = _paper_values(meta, categories)
    if existing is None:
        paper = Paper(id=meta.id, first_announced=announced, **values)
        paper.published, paper.updated = meta.published, meta.updated
        session.add(paper)
        session.add_all(_category_rows(meta.id, categories))
        return "inserted"
    paper = existing
    changed = False
    if announced is not None and (
        paper.first_announced is None or announced < paper.first_announced
    ):
        paper.first_announced, changed = announced, True
    # Dates only come from the API; keep them whichever source updates the rest.
    for name in ("published", "updated"):
        new = getattr(meta, name)
        if (
            new is not None
            and as_utc(getattr(paper, name)) != new
            and meta.version >= paper.version
        ):
            setattr(paper, name, new)
            changed = True
    if meta.version >= paper.version:
        # The feed carries no comments; don't erase what the API told us about the same version.
        if meta.comments is None and meta.version == paper.version:
            values["comments"] = paper.comments
        if list(paper.categories) != list(categories):
            session.execute(delete(PaperCategory).where(PaperCategory.paper_id == meta.id))
            session.add_all(_category_rows(meta.id, categories))
        for name, value in values.items():
            if getattr(paper, name) != value:
                setattr(paper, name, value)
                changed = True
    if changed:
        paper.modified_at = utcnow()
    return "updated" if changed else "unchanged"


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


@functools.cache
def _paper_rows_in() -> Select[Any]:
    columns = Paper.__table__.c
    shown = [columns[name] for name, kind in vars(PaperView).items() if isinstance(kind, property)]
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
            found[row.id] = row
    return found


def faq_clicks(session: Session, ids: Iterable[str]) -> dict[str, int]:
    """The stars (FAQ clicks) of these papers: one narrow column, to rank up to 1000 search
    hits by before loading the page's rows (the whole rows took 16 ms)."""
    found: dict[str, int] = {}
    for chunk in _id_chunks(ids):
        query = select(Paper.id, Paper.faq_clicks).where(Paper.id.in_(chunk))
        found.update((paper_id, clicks) for paper_id, clicks in session.execute(query))
    return found


def get_paper(session: Session, paper_id: str) -> Paper | None:
    return session.get(Paper, paper_id)


def paper_listings(session: Session, paper_id: str) -> list[Listing]:
    return list(
        session.scalars(select(Listing).where(Listing.paper_id == paper_id).order_by(Listing.date))
    )


# ---------------------------------------------------------------- listings


def listing_kind(announce_type: str) -> str:
    return "replace" if announce_type.startswith("replace") else "new"


def listings_by_paper(session: Session, paper_ids: Iterable[str]) -> dict[str, list[Listing]]:
    """Every listing of these papers, loaded in one go for ``add_listing``."""
    found: dict[str, list[Listing]] = {}
    wanted = list(dict.fromkeys(paper_ids))
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for row in session.scalars(select(Listing).where(Listing.paper_id.in_(chunk))):
            found.setdefault(row.paper_id, []).append(row)
    return found


def add_listing(
    session: Session, known: list[Listing], paper_id: str, day: date, kind: str, version: int
) -> bool:
    """Record an announcement; True when something was written.

    ``known`` holds the paper's stored listings (``listings_by_paper``) and is kept up to date.
    The same (paper, kind, version) seen again on a later day is a repeat and changes nothing;
    seen on an earlier day (files ingested out of order) it moves to that first day.
    """
    same = next((r for r in known if r.kind == kind and r.version == version), None)
    on_day = next((r for r in known if r.kind == kind and r.date == day), None)
    if same is not None:
        if day >= same.date or on_day is not None:
            return False
        same.date = day
        return True
    if on_day is not None:
        if version > on_day.version:
            on_day.version = version
            return True
        return False
    row = Listing(paper_id=paper_id, date=day, kind=kind, version=version)
    session.add(row)
    known.append(row)
    return True


@dataclass(frozen=True)
class SpecFilter:
    """The SQL side of a list spec: canonical categories to include and to exclude."""

    include: frozenset[str]
    exclude: frozenset[str]


def _spec_condition(spec: SpecFilter) -> ColumnElement[bool]:
    inc = exists().where(
        PaperCategory.paper_id == Listing.paper_id, PaperCategory.category.in_(sorted(spec.include))
    )
    if not spec.exclude:
        return inc
    exc = exists().where(
        PaperCategory.paper_id == Listing.paper_id, PaperCategory.category.in_(sorted(spec.exclude))
    )
    return and_(inc, ~exc)


def _type_rank(spec: SpecFilter) -> ColumnElement[int]:
    primary_in = Paper.primary_category.in_(sorted(spec.include))
    return case(
        (and_(Listing.kind == "new", primary_in), 0),
        (Listing.kind == "new", 1),
        (primary_in, 2),
        else_=3,
    )


def latest_day(session: Session, spec: SpecFilter, *, before: date | None = None) -> date | None:
    q = select(func.max(Listing.date)).where(_spec_condition(spec))
    if before is not None:
        q = q.where(Listing.date < before)
    return session.scalar(q)


def next_day(session: Session, spec: SpecFilter, after: date) -> date | None:
    return session.scalar(
        select(func.min(Listing.date)).where(_spec_condition(spec), Listing.date > after)
    )


@dataclass(frozen=True)
class DayListing:
    total: int  # of what the page lists (new + cross, plus replacements when asked)
    counts: dict[str, int]  # per announce type, for this spec and day
    papers: list[tuple[Paper, str]]  # (paper, announce type for this spec)


def day_listing(
    session: Session,
    spec: SpecFilter,
    day: date,
    *,
    replacements: bool,
    show: int,
    skip: int,
    sort: str = "arxiv",
) -> DayListing:
    rank = _type_rank(spec).label("rank")
    base = [Listing.date == day, _spec_condition(spec)]
    count_rows = session.execute(
        select(rank, func.count()).select_from(Listing).join(Paper).where(*base).group_by(rank)
    ).all()
    counts = dict.fromkeys(TYPE_ORDER, 0)
    for r, n in count_rows:
        counts[TYPE_ORDER[r]] = n
    total = counts["new"] + counts["cross"]
    if replacements:
        total += counts["replace"] + counts["replace-cross"]
    else:
        base.append(Listing.kind == "new")
    q = select(Paper, rank).join(Listing, Listing.paper_id == Paper.id).where(*base)
    if sort == "time":
        # RSS-only papers have no submission time yet: they go last, newest id first
        q = q.order_by(Paper.published.is_(None), Paper.published.desc(), Paper.id.desc())
    else:
        q = q.order_by(rank, Paper.id)
    rows = session.execute(q.offset(skip).limit(show)).all()
    return DayListing(total, counts, [(p, TYPE_ORDER[r]) for p, r in rows])


def feed_days(session: Session, day: date) -> list[FeedDay]:
    return list(session.scalars(select(FeedDay).where(FeedDay.date == day)))


def category_counts(session: Session, day: date) -> dict[str, int]:
    """Papers first announced on ``day`` per canonical category (new and cross)."""
    rows = session.execute(
        select(PaperCategory.category, func.count())
        .join(Listing, Listing.paper_id == PaperCategory.paper_id)
        .where(Listing.date == day, Listing.kind == "new")
        .group_by(PaperCategory.category)
    ).all()
    return dict(rows)


def newest_listing_day(session: Session) -> date | None:
    return session.scalar(select(func.max(Listing.date)))


# ---------------------------------------------------------------- feed days


def feed_fingerprint(items: Iterable[FeedItem]) -> str:
    keys = sorted(f"{i.meta.id}v{i.meta.version}:{i.announce_type}" for i in items)
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()


def previous_feed_day(session: Session, feed: str, before: date) -> FeedDay | None:
    return session.scalars(
        select(FeedDay)
        .where(FeedDay.feed == feed, FeedDay.date < before, FeedDay.status != "empty")
        .order_by(FeedDay.date.desc())
        .limit(1)
    ).first()


def put_feed_day(session: Session, feed: str, day: date, status: str, items: int, fp: str) -> None:
    row = session.get(FeedDay, (feed, day))
    if row is None:
        session.add(FeedDay(feed=feed, date=day, status=status, items=items, fingerprint=fp))
    elif (row.status, row.items, row.fingerprint) != (status, items, fp):
        row.status, row.items, row.fingerprint = status, items, fp
        row.fetched_at = utcnow()


def next_feed_day(session: Session, feed: str, after: date) -> FeedDay | None:
    return session.scalars(
        select(FeedDay)
        .where(FeedDay.feed == feed, FeedDay.date > after, FeedDay.status != "empty")
        .order_by(FeedDay.date)
        .limit(1)
    ).first()


def feeds_missing(session: Session, feeds: Sequence[str], since: date) -> list[str]:
    """The feeds with nothing recorded for ``since`` or later (still to poll)."""
    have = set(
        session.scalars(
            select(FeedDay.feed).where(FeedDay.feed.in_(list(feeds)), FeedDay.date >= since)
        )
    )
    return [f for f in feeds if f not in have]


# ---------------------------------------------------------------- runs and fetch state


def start_run(session: Session, source: str, target: str) -> IngestRun:
    run = IngestRun(source=source, target=target[:2000], status="running")
    session.add(run)
    session.flush()
    return run


def finish_run(session: Session, run_id: int, status: str, **fields: Any) -> None:
    if "error" in fields and fields["error"] is not None:
        fields["error"] = str(fields["error"])[:4000]
    session.execute(
        update(IngestRun)
        .where(IngestRun.id == run_id)
        .values(status=status, finished_at=utcnow(), **fields)
    )


def mark_interrupted(session: Session, older_than: datetime) -> int:
    """Runs still "running" since before ``older_than`` died with their process: say so."""
    result = session.execute(
        update(IngestRun)
        .where(IngestRun.status == "running", IngestRun.started_at < older_than)
        .values(status="interrupted", error="the process ended during the run")
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0))


def recent_runs(session: Session, limit: int = 50) -> list[IngestRun]:
    return list(session.scalars(select(IngestRun).order_by(IngestRun.id.desc()).limit(limit)))


def last_run_per_target(session: Session) -> list[IngestRun]:
    latest = (
        select(func.max(IngestRun.id))
        .where(IngestRun.status != "skipped")
        .group_by(IngestRun.source, IngestRun.target)
    )
    return list(
        session.scalars(
            select(IngestRun).where(IngestRun.id.in_(latest)).order_by(IngestRun.target)
        )
    )


def recent_failures(session: Session, limit: int = 20) -> list[IngestRun]:
    return list(
        session.scalars(
            select(IngestRun)
            .where(IngestRun.status == "failed")
            .order_by(IngestRun.id.desc())
            .limit(limit)
        )
    )


def table_counts(session: Session) -> dict[str, int]:
    return {
        "papers": session.scalar(select(func.count()).select_from(Paper)) or 0,
        "listings": session.scalar(select(func.count()).select_from(Listing)) or 0,
        "days": session.scalar(select(func.count(func.distinct(Listing.date)))) or 0,
    }


def get_fetch_state(session: Session, url: str) -> FetchState | None:
    return session.get(FetchState, url)


def put_fetch_state(
    session: Session, url: str, etag: str | None, last_modified: str | None
) -> None:
    row = session.get(FetchState, url)
    if row is None:
        session.add(FetchState(url=url, etag=etag, last_modified=last_modified))
    else:
        row.etag, row.last_modified, row.checked_at = etag, last_modified, utcnow()


# ---------------------------------------------------------------- leases


def acquire_lease(session: Session, name: str, holder: str, ttl_s: float) -> bool:
    """Take (or renew) a named lease; one atomic UPDATE decides between racing processes."""
    now = utcnow()
    if session.get(Lease, name) is None:
        try:
            with session.begin_nested():
                session.add(Lease(name=name, holder="", expires_at=now - timedelta(seconds=1)))
        except IntegrityError:
            pass  # another process created it first; the UPDATE below decides
    result = session.execute(
        update(Lease)
        .where(Lease.name == name, (Lease.expires_at < now) | (Lease.holder == holder))
        .values(holder=holder, expires_at=now + timedelta(seconds=ttl_s))
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def release_lease(session: Session, name: str, holder: str) -> None:
    session.execute(
        update(Lease)
        .where(Lease.name == name, Lease.holder == holder)
        .values(holder="", expires_at=utcnow() - timedelta(seconds=1))
        .execution_options(synchronize_session=False)
    )


def lease_holder(session: Session, name: str) -> tuple[str, datetime] | None:
    lease = session.get(Lease, name)
    if lease is None or not lease.holder:
        return None
    expires = as_utc(lease.expires_at)
    assert expires is not None
    return (lease.holder, expires) if expires > utcnow() else None
