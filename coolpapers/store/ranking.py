"""A day's listing as ids only: in arXiv's order, which a ranking made outside the database (the
preference sort, ranked by the search engine) reorders before the page's slice is loaded; or
already ranked by the lab's stars (``sort=lab``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coolpapers.models import Listing, Paper, Star
from coolpapers.store.listings import SpecFilter, spec_condition, type_rank
from coolpapers.store.papers import TYPE_ORDER


@dataclass(frozen=True)
class DayOrder:
    counts: dict[str, int]  # per announce type, for this spec and day (as DayListing's)
    listed: list[tuple[str, str]]  # (paper id, announce type) of what the page lists, in order


def day_order(session: Session, spec: SpecFilter, day: date, *, replacements: bool) -> DayOrder:
    """Every paper the spec lists on ``day`` (new + cross, plus replacements when asked) in
    arXiv's order, as :func:`coolpapers.store.day_listing` orders them: two narrow columns, no
    paper rows (a 1,000-paper union day: the rows are loaded for the page's 25 only)."""
    return _day_order(session, spec, day, replacements=replacements, by_lab=False)


def lab_day_order(session: Session, spec: SpecFilter, day: date, *, replacements: bool) -> DayOrder:
    """The day as :func:`day_order` lists it, most starred by the lab first (every member's
    stars, the disabled's too: ``store.lab``), ties in arXiv's order: papers.cool's
    ``sort=1`` with the lab's stars for its clicks. The count is one probe of the stars' index
    per listed paper, so it costs the same whatever the lab's history."""
    return _day_order(session, spec, day, replacements=replacements, by_lab=True)


def _day_order(
    session: Session, spec: SpecFilter, day: date, *, replacements: bool, by_lab: bool
) -> DayOrder:
    rank = type_rank(spec).label("rank")
    query = (
        select(Listing.paper_id, rank)
        .join(Paper, Paper.id == Listing.paper_id)
        .where(Listing.date == day, spec_condition(spec))
    )
    if by_lab:
        stars = (
            select(func.count())
            .select_from(Star)
            .where(Star.paper_id == Listing.paper_id)
            .scalar_subquery()
        )
        query = query.order_by(stars.desc())
    rows = session.execute(query.order_by(rank, Listing.paper_id)).all()
    counts = dict.fromkeys(TYPE_ORDER, 0)
    listed = []
    for paper_id, r in rows:
        kind = TYPE_ORDER[r]
        counts[kind] += 1
        if replacements or kind in ("new", "cross"):
            listed.append((paper_id, kind))
    return DayOrder(counts, listed)
