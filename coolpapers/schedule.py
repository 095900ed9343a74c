"""When arXiv's daily listing is due, as pure functions of the clock (the scheduler and /status
share them).

arXiv announces Sunday–Thursday at 20:00 US Eastern; rss.arxiv.org rebuilds its feeds at
midnight Eastern, and a feed fetched on Eastern day D describes listing D (Mon–Fri listings;
Saturday and Sunday feeds are empty). So the newest listing that can exist at ``now`` is
today's Eastern date on a weekday, else the Friday before. After an arXiv holiday the next
weekday's feed is empty too (``is_listing_day``); /status uses that to tell a missed day from a
day without announcement.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

EASTERN = ZoneInfo("America/New_York")

# arXiv's holidays: no 20:00 ET announcement on the evening of these dates, so the listing dated
# the next day is empty (the one after carries both windows). arXiv publishes them one year at a
# time (info.arxiv.org/help/availability.html) and in no machine-readable form: add each year's.
# 2024 is checked against the real feeds (the listings dated the next day were empty); 2025-01-01
# by the empty cs.AI feed of 2 Jan 2025; 2026 as published.
HOLIDAYS: frozenset[date] = frozenset(
    date.fromisoformat(d)
    for d in (
        "2024-05-22", "2024-06-19", "2024-07-04", "2024-09-02", "2024-11-28", "2024-12-25",
        "2024-12-26", "2024-12-31",
        "2025-01-01",
        "2026-01-01", "2026-01-19", "2026-06-19", "2026-07-03", "2026-09-07", "2026-11-26",
        "2026-12-25", "2026-12-29", "2026-12-31",
    )
)  # fmt: skip


# The years whose every holiday above is known: only there can a listing day be derived from a
# submission time (``listing_day_of``). 2025's list is incomplete here, earlier years absent.
CALENDAR_YEARS: frozenset[int] = frozenset({2024, 2026})
SUBMISSION_DEADLINE = time(14, 0)  # US Eastern: received by 14:00 → announced at 20:00 that day


def listing_day_of(submitted: datetime) -> date | None:
    """The listing day arXiv's schedule gives a version submitted at ``submitted`` (aware), or
    None when this instance cannot know it (a year whose holidays are not all known).

    Received by 14:00 ET on a weekday, it is announced at 20:00 that evening (a Friday's on
    Sunday evening), unless that evening is a holiday: then at the next announcement evening.
    The listing is dated the day after the announcement. A paper held for moderation is
    announced later than this: callers check what they can (the id's month)."""
    when = submitted.astimezone(EASTERN)
    day = when.date()
    if when.timetz().replace(tzinfo=None) >= SUBMISSION_DEADLINE or day.weekday() >= 5:
        day += timedelta(days=1)  # after the deadline (or a weekend): the next window
        while day.weekday() >= 5:
            day += timedelta(days=1)
    # the window closing at 14:00 on ``day`` is announced that evening; Friday's on Sunday's
    evening = day + timedelta(days=2) if day.weekday() == 4 else day
    while evening in HOLIDAYS or evening.weekday() in (4, 5):
        evening += timedelta(days=1)
    listing = evening + timedelta(days=1)
    if {when.year, evening.year, listing.year} - CALENDAR_YEARS:
        return None
    return listing


def is_listing_day(day: date) -> bool:
    """Whether arXiv publishes a listing dated ``day``: a weekday whose announcement evening
    (the day before: Sunday for a Monday) is not a holiday."""
    return day.weekday() < 5 and day - timedelta(days=1) not in HOLIDAYS


def listing_days(first: date, last: date) -> list[date]:
    """The listing days from ``first`` to ``last``, both included, oldest first."""
    span = (last - first).days + 1
    days = (first + timedelta(days=n) for n in range(max(span, 0)))
    return [d for d in days if is_listing_day(d)]


def eastern_today(now: datetime) -> date:
    return now.astimezone(EASTERN).date()


def expected_listing_date(now: datetime) -> date:
    """The newest listing day arXiv can have published at ``now``."""
    day = eastern_today(now)
    while day.weekday() >= 5:  # Saturday, Sunday
        day -= timedelta(days=1)
    return day


def next_rebuild(now: datetime) -> datetime:
    """The next Eastern midnight that starts a weekday listing."""
    day = eastern_today(now) + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, time(0, 0), tzinfo=EASTERN)


def next_poll(now: datetime, *, caught_up: bool, interval_min: int) -> datetime:
    """When the scheduler will next fetch: soon while today's listing is missing, else at the
    next rebuild."""
    if caught_up:
        return next_rebuild(now)
    return now + timedelta(minutes=interval_min)
