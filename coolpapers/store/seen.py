"""What each member has seen (``seen``): by paper id, so a paper seen in one list is seen in
every list it is in (cs.LG and a cs.AI it is cross-listed to), and the unread papers of a spec
over its last announcement days (a weekend, a holiday, a week away: nothing is lost)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from coolpapers.models import DayCategory, Listing, Paper, Seen
from coolpapers.store.listings import SpecFilter, spec_condition, type_rank
from coolpapers.store.papers import TYPE_ORDER, PaperView, on_conflict_insert, paper_rows

CHUNK = 500  # ids per statement: well under both databases' bound-parameter limits
UNREAD_DAYS = 30  # announcement days an unread list looks back over


def _chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    wanted = list(dict.fromkeys(ids))
    for start in range(0, len(wanted), CHUNK):
        yield wanted[start : start + CHUNK]


def known_papers(session: Session, ids: Iterable[str]) -> list[str]:
    """Those of ``ids`` this site has a paper for, in the given order."""
    found: set[str] = set()
    for chunk in _chunks(ids):
        found.update(session.scalars(select(Paper.id).where(Paper.id.in_(chunk))))
    return [i for i in dict.fromkeys(ids) if i in found]


def mark_seen(session: Session, user_id: int, ids: Iterable[str], now: datetime) -> list[str]:
    """Mark these papers seen by the member; ids of no paper here are left out. Idempotent:
    a paper seen before keeps its first time (ON CONFLICT DO NOTHING: two tabs marking the same
    papers at once both succeed). Returns the papers now seen, of those given."""
    known = known_papers(session, ids)
    for start in range(0, len(known), CHUNK):
        rows = [
            {"user_id": user_id, "paper_id": paper_id, "seen_at": now}
            for paper_id in known[start : start + CHUNK]
        ]
        session.execute(on_conflict_insert(session, Seen).values(rows).on_conflict_do_nothing())
    return known


def unmark_seen(session: Session, user_id: int, ids: Iterable[str]) -> list[str]:
    """Back to unread; returns the papers (of those given, known here) now not seen."""
    known = known_papers(session, ids)
    for chunk in _chunks(known):
        session.execute(
            delete(Seen)
            .where(Seen.user_id == user_id, Seen.paper_id.in_(chunk))
            .execution_options(synchronize_session=False)
        )
    return known


def seen_among(session: Session, user_id: int, ids: Iterable[str]) -> set[str]:
    """Which of ``ids`` the member has seen."""
    found: set[str] = set()
    for chunk in _chunks(ids):
        query = select(Seen.paper_id).where(Seen.user_id == user_id, Seen.paper_id.in_(chunk))
        found.update(session.scalars(query))
    return found


def recent_days(session: Session, spec: SpecFilter, n: int = UNREAD_DAYS) -> list[date]:
    """The newest ``n`` days the day index has under the spec's categories, oldest first: the
    spec's announcement days (weekends and holidays have none). A candidate day on which the
    spec in fact lists nothing (only excluded papers) simply adds no paper."""
    seek = spec.include - spec.exclude
    if not seek:
        return []
    query = (
        select(DayCategory.date)
        .where(DayCategory.category.in_(sorted(seek)))
        .distinct()
        .order_by(DayCategory.date.desc())
        .limit(n)
    )
    return sorted(session.scalars(query))


@dataclass(frozen=True)
class UnreadDay:
    day: date
    count: int  # unread papers first listed under the spec that day


@dataclass(frozen=True)
class Unread:
    total: int
    days: list[UnreadDay]  # oldest first; only days with something unread
    papers: list[tuple[PaperView, str, date]]  # the slice: (paper, announce type, day)


def unread(
    session: Session,
    user_id: int,
    spec: SpecFilter,
    *,
    show: int,
    skip: int = 0,
    days: Sequence[date] | None = None,
) -> Unread:
    """What the spec listed (new + cross, as its day pages by default) on its last
    ``UNREAD_DAYS`` announcement days (or on ``days``) that the member has not seen: oldest day
    first, each day in arXiv's order. A paper listed on two of those days counts on the first.
    Ids and days are read in two narrow columns; paper rows for the slice only."""
    if days is None:
        days = recent_days(session, spec)
    if not days:
        return Unread(0, [], [])
    rank = type_rank(spec).label("rank")
    was_seen = exists().where(Seen.user_id == user_id, Seen.paper_id == Listing.paper_id)
    rows = session.execute(
        select(Listing.paper_id, Listing.date, rank)
        .join(Paper, Paper.id == Listing.paper_id)
        .where(
            Listing.date.in_(list(days)),
            Listing.kind == "new",
            spec_condition(spec),
            ~was_seen,
        )
        .order_by(Listing.date, rank, Listing.paper_id)
    ).all()
    listed: dict[str, tuple[date, str]] = {}
    per_day: dict[date, int] = {}
    for paper_id, day, r in rows:
        if paper_id in listed:
            continue
        listed[paper_id] = (day, TYPE_ORDER[r])
        per_day[day] = per_day.get(day, 0) + 1
    shown = list(listed)[skip : skip + show]
    found = paper_rows(session, shown)
    papers = [(found[i], listed[i][1], listed[i][0]) for i in shown if i in found]
    return Unread(len(listed), [UnreadDay(d, n) for d, n in sorted(per_day.items())], papers)
