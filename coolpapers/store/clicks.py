"""The public [PDF]/[FAQ] click counters: one count per visitor, paper, kind and UTC day, at
most ``per_minute`` counted clicks per visitor per minute.

A click is recorded once under every key of its visitor (``web.visitors.identify``: the signed
cookie; or, without one, the address and the cookie minted now) and counted only when none of
those keys had clicked that paper's button that day. So a reload is no second count, a client
that drops its cookie is counted once per address, and a first click made before the cookie
existed is not counted again once the cookie comes back. The recorded rows matter only for
today (the deduplication) and for the last minute (the rate limit): ``prune_clicks`` deletes
the older ones.

Concurrency: the key of ``clicks`` decides between racing requests (INSERT … ON CONFLICT DO
NOTHING: exactly one inserts), and only the request that inserted increments, in one UPDATE.
The rate limit reads the visitor's rows of the last minute first: exact on SQLite (writers are
serialized), while on Postgres requests of one visitor in flight together can each pass it, so
it can be exceeded by as many as are in flight. It is a guard against sweeping many papers;
the deduplication already bounds what one visitor adds to a paper.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from coolpapers.errors import BadInput, NotFound
from coolpapers.models import Click, Paper
from coolpapers.store.papers import as_utc, on_conflict_insert

KINDS = ("pdf", "faq")
RATE_WINDOW_S = 60
# today's rows deduplicate; yesterday's are kept as the last minute may reach back into it
KEEP_DAYS = 2
VISITOR_LEN = 80  # the column's length


@dataclass(frozen=True)
class Clicks:
    """A paper's two public counters."""

    pdf: int
    faq: int


@dataclass(frozen=True)
class ClickResult:
    clicks: Clicks  # after this click
    counted: bool  # this click added one to its counter
    limited: bool  # not counted because the visitor is over the rate limit
    retry_after_s: int = 0  # when limited: until a click of the last minute ages out


def _utc(now: datetime) -> datetime:
    """The days are UTC days whatever zone ``now`` came in (naive means UTC)."""
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def paper_clicks(session: Session, paper_id: str) -> Clicks | None:
    """The paper's counters, or None when no such paper is stored."""
    row = session.execute(
        select(Paper.pdf_clicks, Paper.faq_clicks).where(Paper.id == paper_id)
    ).first()
    return Clicks(row.pdf_clicks, row.faq_clicks) if row is not None else None


def _retry_after_s(session: Session, keys: Sequence[str], now: datetime, per_minute: int) -> int:
    """0 when every key may count another click now; else the seconds until one may."""
    since = now - timedelta(seconds=RATE_WINDOW_S)
    rows = session.execute(
        select(func.count(), func.min(Click.created_at))
        .where(Click.visitor.in_(keys), Click.created_at > since)
        .group_by(Click.visitor)
    ).all()
    waits = []
    for count, oldest in rows:
        first = as_utc(oldest)
        if count >= per_minute and first is not None:
            waits.append(max(1, math.ceil((first - since).total_seconds())))
    return max(waits, default=0)


def count_click(
    session: Session,
    paper_id: str,
    kind: str,
    visitors: Sequence[str],
    now: datetime,
    per_minute: int,
) -> ClickResult:
    """Count ``visitors``'s click on ``paper_id``'s ``kind`` button (see the module's doc).

    Raises BadInput for a kind other than pdf or faq, NotFound for a paper not stored.
    Call it inside a write transaction (``session_scope(write=True)``).
    """
    now = _utc(now)
    if kind not in KINDS:
        raise BadInput(f"kind must be one of {', '.join(KINDS)}")
    keys = sorted({v[:VISITOR_LEN] for v in visitors})
    if not keys:
        raise ValueError("a click needs at least one visitor key")
    clicks = paper_clicks(session, paper_id)
    if clicks is None:
        raise NotFound(f"no paper {paper_id} here")
    wait_s = _retry_after_s(session, keys, now, per_minute)
    if wait_s:
        return ClickResult(clicks, counted=False, limited=True, retry_after_s=wait_s)
    rows = [
        {"day": now.date(), "paper_id": paper_id, "kind": kind, "visitor": k, "created_at": now}
        for k in keys
    ]
    # RETURNING names the rows inserted (a multi-row INSERT's rowcount is -1 through psycopg)
    insert = on_conflict_insert(session, Click).values(rows).on_conflict_do_nothing()
    inserted = session.scalars(insert.returning(Click.visitor)).all()
    if len(inserted) != len(keys):
        return ClickResult(clicks, counted=False, limited=False)
    column = Paper.pdf_clicks if kind == "pdf" else Paper.faq_clicks
    after = session.execute(
        update(Paper)
        .where(Paper.id == paper_id)
        .values({column: column + 1})
        .returning(Paper.pdf_clicks, Paper.faq_clicks)
        .execution_options(synchronize_session=False)
    ).one()
    return ClickResult(Clicks(after.pdf_clicks, after.faq_clicks), counted=True, limited=False)


def prune_clicks(session: Session, now: datetime) -> int:
    """Delete the recorded clicks of days no longer needed; how many went."""
    oldest_kept = _utc(now).date() - timedelta(days=KEEP_DAYS - 1)
    result = session.execute(
        delete(Click).where(Click.day < oldest_kept).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
