"""Listings: which paper was announced on which day, and the day pages built from them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from coolpapers.identifiers import id_ranges_of_year
from coolpapers.models import (
    DayCategory,
    FeedDay,
    Listing,
    Paper,
    PaperCategory,
)
from coolpapers.store.health import UNTRUSTED_DAY
from coolpapers.store.papers import (
    TYPE_ORDER,
    PaperView,
    insert_rows,
    on_conflict_insert,
    paper_rows,
)


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
    seen on an earlier day (files ingested out of order) it moves to that first day. One a
    history import placed by arXiv's schedule (``derived``) moves to the day a feed gives.
    Whoever adds a day's listings calls :func:`index_listing_day` for that day afterwards.
    """
    written, row = _place(known, paper_id, day, kind, version)
    if row is not None:
        session.add(row)
    return written


def _place(
    known: list[Listing], paper_id: str, day: date, kind: str, version: int
) -> tuple[bool, Listing | None]:
    """:func:`add_listing`'s rule on ``known`` (changed in place): whether it wrote, and the
    new row it appended, if any, for the caller to store."""
    same = next((r for r in known if r.kind == kind and r.version == version), None)
    on_day = next((r for r in known if r.kind == kind and r.date == day), None)
    if same is not None and same.derived and on_day in (None, same):
        # a feed of the day says when it was announced: that beats the schedule's reckoning
        # (a paper held for moderation came out later than its submission time gives)
        same.date, same.derived = day, False
        return True, None
    if same is not None:
        if day >= same.date or on_day is not None:
            return False, None
        same.date = day
        return True, None
    if on_day is not None:
        if version > on_day.version:
            on_day.version = version
            return True, None
        return False, None
    row = Listing(paper_id=paper_id, date=day, kind=kind, version=version, derived=False)
    known.append(row)
    return True, row


class Announced(NamedTuple):
    """One announcement of :func:`add_listings`: ``add_listing``'s arguments."""

    paper_id: str
    day: date
    kind: str
    version: int


def add_listings(
    session: Session, known: dict[str, list[Listing]], announced: Sequence[Announced]
) -> list[bool]:
    """:func:`add_listing` for a batch of distinct papers (a feed's day), whether each wrote.

    ``known`` is ``listings_by_paper`` of these papers, kept up to date for those it holds; a
    paper without any listing (a new one: most of a day) just gets its row. The new rows go
    in with one executemany, no ORM object to flush. Call it after the papers are in."""
    written: list[bool] = []
    new_rows: list[dict[str, Any]] = []
    for paper_id, day, kind, version in announced:
        row = {"paper_id": paper_id, "date": day, "kind": kind, "version": version}
        rows = known.get(paper_id)
        if rows is None:
            new_rows.append(row)  # nothing to compare with: no object either (~30 us each)
            written.append(True)
            continue
        wrote, placed = _place(rows, paper_id, day, kind, version)
        written.append(wrote)
        if placed is not None:
            new_rows.append(row)
    insert_rows(session, Listing, new_rows)
    return written


@dataclass(frozen=True)
class SpecFilter:
    """The SQL side of a list spec: canonical categories to include and to exclude."""

    include: frozenset[str]
    exclude: frozenset[str]


def _has_category(categories: frozenset[str]) -> ColumnElement[bool]:
    """The listed paper has one of ``categories``. A correlated probe with LIMIT 1, not EXISTS:
    Postgres turns EXISTS into a semi-join and, on a short history, hashes every paper of those
    categories (12 of a 20 ms union day at 30 days of history); the LIMIT keeps it one primary-key
    probe per listing of the day, the same cost whatever the history length."""
    probe = (
        select(literal(1))
        .where(
            PaperCategory.paper_id == Listing.paper_id,
            PaperCategory.category.in_(sorted(categories)),
        )
        .limit(1)
        .scalar_subquery()
    )
    return probe.is_not(None)


def spec_condition(spec: SpecFilter) -> ColumnElement[bool]:
    """A listing's paper is in the spec: one of its categories included, none excluded (the
    day lists, the seen marks and the ranked orders all filter a day so)."""
    inc = _has_category(spec.include)
    if not spec.exclude:
        return inc
    return and_(inc, ~_has_category(spec.exclude))


def type_rank(spec: SpecFilter) -> ColumnElement[int]:
    """papers.cool's order of a day's kinds: new in a primary category of the spec, other new,
    replaced in a primary category, other replaced (0-3)."""
    primary_in = Paper.primary_category.in_(sorted(spec.include))
    return case(
        (and_(Listing.kind == "new", primary_in), 0),
        (Listing.kind == "new", 1),
        (primary_in, 2),
        else_=3,
    )


def index_listing_day(session: Session, day: date) -> None:
    """Add ``day`` to the day index under every category listed on it: one statement over that
    day's listings, after the day's :func:`add_listing` calls (flushed here)."""
    session.flush()
    listed = (
        select(PaperCategory.category, Listing.date)
        .distinct()
        .join(Listing, Listing.paper_id == PaperCategory.paper_id)
        .where(Listing.date == day)
    )
    insert = on_conflict_insert(session, DayCategory)
    session.execute(insert.from_select(["category", "date"], listed).on_conflict_do_nothing())


def _nearest_indexed_day(
    categories: frozenset[str], *, before: date | None = None, after: date | None = None
) -> Select[date | None]:
    """The closest day before ``before`` (or after ``after``) in the day index under any of
    ``categories``: one index seek per category (the primary key is (category, date)), so the
    cost grows with the spec, not with the history."""
    nearest = []
    for category in sorted(categories):
        seek = select(DayCategory.date).where(DayCategory.category == category).limit(1)
        if after is not None:
            seek = seek.where(DayCategory.date > after).order_by(DayCategory.date)
        else:
            if before is not None:
                seek = seek.where(DayCategory.date < before)
            seek = seek.order_by(DayCategory.date.desc())
        nearest.append(select(seek.scalar_subquery().label("day")))
    days = union_all(*nearest).subquery()
    pick = func.min if after is not None else func.max
    return select(pick(days.c.day))


def _listed_on(session: Session, spec: SpecFilter, day: date) -> bool:
    """Whether the spec lists anything on ``day``: driven by that day's listings (the index on
    (date, kind)), stopping at the first paper that fits. Ordered as that index is, so that
    Postgres without statistics does not pick "scan the table until a row fits" for LIMIT 1
    (measured: a sequential scan through half the history, 16 ms at 390k listings)."""
    first = (
        select(Listing.id)
        .where(Listing.date == day, spec_condition(spec))
        .order_by(Listing.kind)
        .limit(1)
    )
    return session.scalar(first) is not None


def _navigate(
    session: Session, spec: SpecFilter, *, before: date | None = None, after: date | None = None
) -> date | None:
    """The nearest day the spec lists anything: candidates from the day index, each confirmed
    on its own listings (the index may keep a day a paper left, and knows nothing of
    exclusions). A candidate that fails costs one day's listings, never the history's."""
    # A paper the spec shows has an included category that is not excluded (had it only
    # excluded ones, it would be left out): only those categories' days are candidates.
    seek = spec.include - spec.exclude
    if not seek:
        return None
    while True:
        day = session.scalar(_nearest_indexed_day(seek, before=before, after=after))
        if day is None or _listed_on(session, spec, day):
            return day
        if after is not None:
            after = day
        else:
            before = day


def latest_day(session: Session, spec: SpecFilter, *, before: date | None = None) -> date | None:
    """The newest day the spec lists anything (before ``before`` when given)."""
    return _navigate(session, spec, before=before)


def next_day(session: Session, spec: SpecFilter, after: date) -> date | None:
    """The first day after ``after`` the spec lists anything."""
    return _navigate(session, spec, after=after)


@dataclass(frozen=True)
class DayListing:
    total: int  # of what the page lists (new + cross, plus replacements when asked)
    counts: dict[str, int]  # per announce type, for this spec and day
    papers: list[tuple[PaperView, str]]  # (paper, announce type for this spec)
    # (derived, all) of what the page lists, as day_derivation gives it; None when the
    # listing was made without them (a ranked order: the caller asks day_derivation)
    derivation: tuple[int, int] | None = None


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
    rank = type_rank(spec).label("rank")
    base = [Listing.date == day, spec_condition(spec)]
    # One pass over the day's listings in the spec (a thousand or two rows of three columns):
    # the counts per type, the derived ones among them (day_derivation's figure) and, in
    # arXiv's order, the page itself are made from it here; only the page's papers are then
    # read whole. Sorting every listed paper's full row in SQL to keep 25 cost twice as much.
    # Plain rows through the connection: the ORM's loading of 1,500 tuples cost ~0.6 ms more.
    listed = (
        session.connection()
        .execute(
            select(Listing.paper_id, rank, Listing.derived)
            .select_from(Listing)
            .join(Paper)
            .where(*base)
        )
        .all()
    )
    counts = dict.fromkeys(TYPE_ORDER, 0)
    derived = dict.fromkeys(TYPE_ORDER, 0)
    for _, r, placed in listed:
        counts[TYPE_ORDER[r]] += 1
        derived[TYPE_ORDER[r]] += bool(placed)
    shown_kinds = TYPE_ORDER if replacements else ("new", "cross")
    total = sum(counts[kind] for kind in shown_kinds)
    derivation = (sum(derived[kind] for kind in shown_kinds), total)
    if sort not in ("time", "clicks"):  # arXiv's order: type, then id
        shown_ranks = {TYPE_ORDER.index(kind) for kind in shown_kinds}
        page = sorted((r, pid) for pid, r, _ in listed if r in shown_ranks)[skip : skip + show]
        by_id = paper_rows(session, [pid for _, pid in page])
        papers = [(by_id[pid], TYPE_ORDER[r]) for r, pid in page]
        return DayListing(total, counts, papers, derivation)
    if not replacements:
        base.append(Listing.kind == "new")
    q = select(Paper, rank).join(Listing, Listing.paper_id == Paper.id).where(*base)
    if sort == "time":
        # RSS-only papers have no submission time yet: they go last, newest id first
        q = q.order_by(Paper.published.is_(None), Paper.published.desc(), Paper.id.desc())
    else:  # papers.cool's sort=1: most clicked first, ties in arXiv's order
        q = q.order_by((Paper.pdf_clicks + Paper.faq_clicks).desc(), rank, Paper.id)
    rows = session.execute(q.offset(skip).limit(show)).all()
    return DayListing(total, counts, [(p, TYPE_ORDER[r]) for p, r in rows], derivation)


def day_derivation(
    session: Session, spec: SpecFilter, day: date, *, replacements: bool
) -> tuple[int, int]:
    """(derived, all) of the listings the spec shows on ``day`` (replacements only when asked):
    how many a history import placed there by arXiv's schedule from a submission time, rather
    than a feed of that day reporting them. One pass over that day's listings."""
    shown = [Listing.date == day, spec_condition(spec)]
    if not replacements:
        shown.append(Listing.kind == "new")
    derived = func.coalesce(func.sum(case((Listing.derived, 1), else_=0)), 0)
    listed, placed = session.execute(
        select(func.count(), derived).select_from(Listing).where(*shown)
    ).one()
    return int(placed), int(listed)


def first_feed_day(session: Session) -> date | None:
    """The first listing day any feed reported to this instance (a suspect report aside)."""
    return session.scalar(select(func.min(FeedDay.date)).where(FeedDay.status != UNTRUSTED_DAY))


def has_papers_of_year(session: Session, year: int) -> bool:
    """Whether a paper whose arXiv id was issued in ``year`` is stored: seeks on the primary key
    over the id ranges of that year, never a scan of the papers."""
    ranges = id_ranges_of_year(year)
    if not ranges:
        return False
    issued = or_(*(and_(Paper.id >= low, Paper.id < high) for low, high in ranges))
    return session.scalar(select(Paper.id).where(issued).limit(1)) is not None


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


def paper_listings(session: Session, paper_id: str) -> list[Listing]:
    return list(
        session.scalars(select(Listing).where(Listing.paper_id == paper_id).order_by(Listing.date))
    )
