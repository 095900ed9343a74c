"""Feed days: what each requested feed said about each announcement day."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import date

from sqlalchemy import (
    select,
)
from sqlalchemy.orm import Session

from coolpapers.models import (
    FeedDay,
    utcnow,
)
from coolpapers.records import FeedItem


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


def feed_day(session: Session, feed: str, day: date) -> FeedDay | None:
    return session.get(FeedDay, (feed, day))


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


def feed_days(session: Session, day: date) -> list[FeedDay]:
    return list(session.scalars(select(FeedDay).where(FeedDay.date == day)))
