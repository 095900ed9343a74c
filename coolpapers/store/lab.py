"""The lab's stars read together: who in the lab starred a paper (a card's "★ 3 · alice, bob,
carol"), what the lab starred lately (``/lab``, its Atom feed, a member's token feed of the lab),
and the star counts that order a day by the lab (``sort=lab``: :mod:`coolpapers.store.ranking`).

Disabled members' stars still count, here and everywhere the lab's stars are read: a member is
disabled, never deleted, and what they starred stays the lab's history (``models.User``). Names
come in the order the members starred (ties by name), so a card reads the same on every visit.

The members' own star lists (writing stars, ``/api/stars``) are ``store.stars``'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coolpapers.models import Star, User
from coolpapers.store.papers import PaperView, as_utc, paper_rows

# how many ids one IN (...) carries (SQLite's bound-parameter limit is 32,766; keep it modest)
_CHUNK = 500


@dataclass(frozen=True)
class LabStar:
    """One member's star on a paper."""

    member: str
    starred_at: datetime  # UTC


@dataclass(frozen=True)
class LabSignal:
    """Who in the lab starred a paper, in the order they starred it."""

    stars: tuple[LabStar, ...]

    @property
    def count(self) -> int:
        return len(self.stars)

    @property
    def members(self) -> list[str]:
        return [s.member for s in self.stars]

    @property
    def latest(self) -> datetime:
        return self.stars[-1].starred_at


@dataclass(frozen=True)
class LabPaper:
    """A paper the lab starred in a window, with the stars made in it."""

    paper: PaperView
    signal: LabSignal


@dataclass(frozen=True)
class LabWeek:
    """What the lab starred since a time: ``papers`` is the slice asked for, most starred
    first (ties: the most recent star first), ``total`` how many papers the whole window has."""

    total: int
    papers: list[LabPaper]


def _chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    wanted = list(dict.fromkeys(ids))
    for start in range(0, len(wanted), _CHUNK):
        yield wanted[start : start + _CHUNK]


def lab_signals(
    session: Session, paper_ids: Iterable[str], *, since: datetime | None = None
) -> dict[str, LabSignal]:
    """Who starred each of ``paper_ids`` (since ``since`` when given); papers without a star
    are left out. One indexed read per chunk of ids (``ix_stars_paper_starred``)."""
    found: dict[str, list[LabStar]] = {}
    for chunk in _chunks(paper_ids):
        query = (
            select(Star.paper_id, User.name, Star.starred_at)
            .join(User, User.id == Star.user_id)
            .where(Star.paper_id.in_(chunk))
            .order_by(Star.starred_at, User.name)
        )
        if since is not None:
            query = query.where(Star.starred_at >= since)
        for paper_id, name, starred_at in session.execute(query):
            when = as_utc(starred_at)
            assert when is not None
            found.setdefault(paper_id, []).append(LabStar(name, when))
    return {paper_id: LabSignal(tuple(stars)) for paper_id, stars in found.items()}


def lab_week(session: Session, since: datetime, limit: int, *, offset: int = 0) -> LabWeek:
    """What the lab starred since ``since`` (the week: now − 7 days), most starred in that
    window first, ties by the most recent star, then by id; ``limit`` papers from ``offset``.
    Each paper comes with the window's stars, oldest first. What ``/lab``, ``/lab/feed`` and a
    member's token feed ``/feeds/{token}/lab`` show."""
    count = func.count().label("n")
    latest = func.max(Star.starred_at).label("latest")
    ranked = (
        select(Star.paper_id, count, latest)
        .where(Star.starred_at >= since)
        .group_by(Star.paper_id)
        .order_by(count.desc(), latest.desc(), Star.paper_id)
        .offset(offset)
        .limit(limit)
    )
    ids = [row.paper_id for row in session.execute(ranked)]
    total = session.scalar(
        select(func.count(func.distinct(Star.paper_id))).where(Star.starred_at >= since)
    )
    signals = lab_signals(session, ids, since=since)
    rows = paper_rows(session, ids)
    papers = [LabPaper(rows[i], signals[i]) for i in ids if i in rows and i in signals]
    return LabWeek(total or 0, papers)
