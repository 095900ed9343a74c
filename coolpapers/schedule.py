"""When arXiv's daily listing is due, as pure functions of the clock (the scheduler and /status
share them).

arXiv announces Sunday–Thursday at 20:00 US Eastern; rss.arxiv.org rebuilds its feeds at
midnight Eastern, and a feed fetched on Eastern day D describes listing D (Mon–Fri listings;
Saturday and Sunday feeds are empty). So the newest listing that can exist at ``now`` is
today's Eastern date on a weekday, else the Friday before.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

EASTERN = ZoneInfo("America/New_York")


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
