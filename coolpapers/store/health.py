"""What the ingest has (and has not) got: stored feed days per feed, the runs that went wrong,
and whether the latest fetches fail. Read by /status and by the home and list pages' notice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coolpapers.models import FeedDay, IngestRun
from coolpapers.store.papers import as_utc

# Run statuses (ingest/): the source answered (even with nothing new, or with a suspect empty
# feed), the fetch failed, or the run went wrong in a way /status must show.
REACHED = ("ok", "empty", "repeat", "not_modified", "suspect")
FAILED = "failed"
PROBLEMS = ("failed", "suspect", "interrupted")
# A feed day with this status was not believed (an empty weekday feed): the day stays missed.
UNTRUSTED_DAY = "suspect"


@dataclass(frozen=True)
class FeedCoverage:
    feed: str
    first_day: date | None  # the first day ever stored for the feed
    days: frozenset[date]  # stored days on or after the window's start


def feed_coverage(session: Session, feeds: Sequence[str], since: date) -> dict[str, FeedCoverage]:
    """Per feed, its first stored day and the days stored since ``since`` (primary key range)."""
    wanted = list(feeds)
    first_rows = session.execute(
        select(FeedDay.feed, func.min(FeedDay.date))
        .where(FeedDay.feed.in_(wanted), FeedDay.status != UNTRUSTED_DAY)
        .group_by(FeedDay.feed)
    )
    first: dict[str, date] = {}
    for feed, day in first_rows:
        first[feed] = day
    days: dict[str, set[date]] = {feed: set() for feed in wanted}
    for feed, day in session.execute(
        select(FeedDay.feed, FeedDay.date).where(
            FeedDay.feed.in_(wanted), FeedDay.date >= since, FeedDay.status != UNTRUSTED_DAY
        )
    ):
        days[feed].add(day)
    return {f: FeedCoverage(f, first.get(f), frozenset(days[f])) for f in wanted}


def last_runs(session: Session, source: str, targets: Sequence[str]) -> dict[str, IngestRun]:
    """The latest finished or failed run of each target (skipped and running ones aside)."""
    latest = (
        select(func.max(IngestRun.id))
        .where(
            IngestRun.source == source,
            IngestRun.target.in_(list(targets)),
            IngestRun.status.in_((*REACHED, *PROBLEMS)),
        )
        .group_by(IngestRun.target)
    )
    return {r.target: r for r in session.scalars(select(IngestRun).where(IngestRun.id.in_(latest)))}


def last_problems(session: Session, source: str, targets: Sequence[str]) -> dict[str, IngestRun]:
    """The latest failed, suspect or interrupted run of each target."""
    latest = (
        select(func.max(IngestRun.id))
        .where(
            IngestRun.source == source,
            IngestRun.target.in_(list(targets)),
            IngestRun.status.in_(PROBLEMS),
        )
        .group_by(IngestRun.target)
    )
    return {r.target: r for r in session.scalars(select(IngestRun).where(IngestRun.id.in_(latest)))}


def recent_problems(session: Session, limit: int = 20) -> list[IngestRun]:
    """Failed, suspect and interrupted runs, newest first."""
    return list(
        session.scalars(
            select(IngestRun)
            .where(IngestRun.status.in_(PROBLEMS))
            .order_by(IngestRun.id.desc())
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class FailingFetches:
    """The current streak of failed fetches from one source (no success since it began)."""

    since: datetime  # start of the streak's first attempt
    last_attempt: datetime  # end of its latest attempt
    attempts: int
    error: str | None  # the latest attempt's


def failing_fetches(session: Session, source: str) -> FailingFetches | None:
    """The streak of failures when the latest attempt from ``source`` failed; None when it went
    through (or nothing was tried yet)."""
    # Every read walks (source, started_at) backwards from the newest run and stops early: the
    # home and list pages ask this on every view, and a long-running instance has tens of
    # thousands of runs (ordering them by id cost 21 ms a page at 30,000).
    newest_first = (IngestRun.started_at.desc(), IngestRun.id.desc())
    latest = session.scalars(
        select(IngestRun)
        .where(IngestRun.source == source, IngestRun.status.in_((*REACHED, FAILED)))
        .order_by(*newest_first)
        .limit(1)
    ).first()
    if latest is None or latest.status != FAILED:
        return None
    reached_at = session.scalar(
        select(IngestRun.started_at)
        .where(IngestRun.source == source, IngestRun.status.in_(REACHED))
        .order_by(*newest_first)
        .limit(1)
    )
    streak = [IngestRun.source == source, IngestRun.status == FAILED]
    if reached_at is not None:
        streak.append(IngestRun.started_at > reached_at)
    first_at, attempts = session.execute(
        select(func.min(IngestRun.started_at), func.count()).where(*streak)
    ).one()
    since = as_utc(first_at or latest.started_at)
    last_attempt = as_utc(latest.finished_at or latest.started_at)
    assert since is not None and last_attempt is not None
    return FailingFetches(
        since=since,
        last_attempt=last_attempt,
        attempts=int(attempts),
        error=latest.error,
    )
