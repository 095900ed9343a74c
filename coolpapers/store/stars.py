"""A member's stars (``stars``): star, un-star, the member's list, an import from a browser.

Concurrency: every write is one statement on the key (user, paper), so two tabs of one member
toggling at once never fail and never lose a write: the database orders them and the last to
commit decides. Starring is an INSERT … ON CONFLICT DO UPDATE that sets the time to itself: a
star that is there keeps its first time, and RETURNING hands back that time in the same
statement (an INSERT … DO NOTHING then a SELECT could read nothing, had a DELETE committed in
between). On Postgres the conflicting row is locked, so a concurrent DELETE waits for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, case, delete, func, select
from sqlalchemy.orm import Session

from coolpapers.models import Star
from coolpapers.store.papers import PaperView, on_conflict_insert, paper_rows


@dataclass(frozen=True)
class StarredPaper:
    """A paper of a member's star list and when they starred it (UTC)."""

    paper: PaperView
    starred_at: datetime


def _utc(value: datetime) -> datetime:
    """Aware UTC: SQLite keeps no zone, so every stored time must already be UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _table() -> Table:
    return cast(Table, Star.__table__)


def star(session: Session, user_id: int, paper_id: str, now: datetime) -> datetime:
    """Star ``paper_id`` (a stored paper) for the member; returns when it was starred: ``now``,
    or the first time when it was starred already."""
    stars = _table()
    insert = on_conflict_insert(session, Star).values(
        user_id=user_id, paper_id=paper_id, starred_at=_utc(now)
    )
    upsert = insert.on_conflict_do_update(
        index_elements=[stars.c.user_id, stars.c.paper_id],
        set_={"starred_at": stars.c.starred_at},  # itself: the first time stays
    ).returning(stars.c.starred_at)
    starred_at = session.execute(upsert).scalar_one()
    return _utc(starred_at)


def unstar(session: Session, user_id: int, paper_id: str) -> bool:
    """Remove the star; whether there was one."""
    stars = _table()
    gone = session.execute(
        delete(stars)
        .where(stars.c.user_id == user_id, stars.c.paper_id == paper_id)
        .returning(stars.c.paper_id)
    )
    return gone.first() is not None


def is_starred(session: Session, user_id: int, paper_id: str) -> bool:
    return paper_id in starred_ids(session, user_id, [paper_id])


def starred_ids(session: Session, user_id: int, paper_ids: Iterable[str]) -> set[str]:
    """Which of ``paper_ids`` the member starred."""
    wanted = list(dict.fromkeys(paper_ids))
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        query = select(Star.paper_id).where(Star.user_id == user_id, Star.paper_id.in_(chunk))
        found.update(session.scalars(query))
    return found


def star_times(session: Session, user_id: int) -> list[tuple[str, datetime]]:
    """(paper id, when starred) of every star of the member, newest first."""
    query = (
        select(Star.paper_id, Star.starred_at)
        .where(Star.user_id == user_id)
        .order_by(Star.starred_at.desc(), Star.paper_id)
    )
    return [(paper_id, _utc(at)) for paper_id, at in session.execute(query)]


def stars_of(session: Session, user_id: int) -> list[StarredPaper]:
    """The member's starred papers, newest star first."""
    times = star_times(session, user_id)
    rows = paper_rows(session, [paper_id for paper_id, _ in times])
    # a star's paper is always stored (the foreign key); the check is for the type checker
    return [StarredPaper(rows[i], at) for i, at in times if i in rows]


def count_stars(session: Session, user_id: int) -> int:
    return int(session.scalar(select(func.count()).where(Star.user_id == user_id)) or 0)


def import_stars(
    session: Session, user_id: int, stars: Sequence[tuple[str, datetime]], now: datetime
) -> int:
    """Star the papers of ``stars`` (id, when starred there), all stored papers, each once;
    a paper starred already keeps the earlier of the two times, and no time is later than
    ``now``. Returns how many stars were new (on Postgres, an import racing another of the
    same member may count a star both count as new)."""
    latest = _utc(now)
    earliest: dict[str, datetime] = {}
    for paper_id, at in stars:
        at = min(_utc(at), latest)
        if paper_id not in earliest or at < earliest[paper_id]:
            earliest[paper_id] = at
    if not earliest:
        return 0
    before = starred_ids(session, user_id, earliest)
    table = _table()
    insert = on_conflict_insert(session, Star)
    rows = [{"user_id": user_id, "paper_id": i, "starred_at": at} for i, at in earliest.items()]
    upsert = insert.values(rows).on_conflict_do_update(
        index_elements=[table.c.user_id, table.c.paper_id],
        set_={
            "starred_at": case(
                (insert.excluded.starred_at < table.c.starred_at, insert.excluded.starred_at),
                else_=table.c.starred_at,
            )
        },
    )
    session.execute(upsert)
    return len(earliest) - len(before)
