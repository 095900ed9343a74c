"""A paper's day lists from its submission times, by arXiv's schedule: what a history import
(Kaggle, OAI) can say about the listings it never saw.

``derive_listings(meta)`` places each version on the listing day ``schedule.listing_day_of``
gives its submission time: v1 as ``new``, later versions as ``replace``; ``place_versions`` does
the same from the times as ISO 8601 text (what a bulk import has), without records. Pure: no
database.

What it will not guess (the page says "not known" rather than show a wrong day):

- a year whose holiday calendar is not known (``schedule.CALENDAR_YEARS``): that version is
  not placed;
- a paper held for moderation: announced later than the schedule says. New-style ids are
  assigned in the month of first announcement, so when v1's announcement evening and listing
  day both fall outside the id's ``YYMM`` the paper was held, and none of its versions is
  placed (a held v1 says nothing good about the rest). Old-style ids predate every known
  calendar anyway;
- several versions that fall in one announcement window are one announcement (arXiv lists the
  latest of them): one listing with the later version number.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from coolpapers import schedule
from coolpapers.records import PaperMeta

__all__ = ["Derived", "Placed", "derive_listings", "held", "place_versions"]

_NEW_STYLE_RE = re.compile(r"^(\d\d)(\d\d)\.\d{4,5}$")


@dataclass(frozen=True)
class Placed:
    day: date  # the listing day
    kind: str  # "new" | "replace" (as ``models.Listing.kind``)
    version: int


@dataclass(frozen=True)
class Derived:
    listings: tuple[Placed, ...]  # oldest first, one per day
    unplaced: int  # versions whose day cannot be known (calendar unknown, paper held)


def held(paper_id: str, listing_day: date) -> bool:
    """Whether a new-style id says its paper was first announced elsewhen than ``listing_day``
    (neither the announcement evening, the day before, nor the listing day is in the id's
    month). False for old-style ids: nothing to check against."""
    match = _NEW_STYLE_RE.match(paper_id)
    if match is None:
        return False
    month = (2000 + int(match[1]), int(match[2]))
    evening = listing_day - timedelta(days=1)
    return month not in ((listing_day.year, listing_day.month), (evening.year, evening.month))


@functools.lru_cache(maxsize=65_536)
def _listing_day(hour: str) -> date | None:
    """``schedule.listing_day_of`` by the UTC hour (``YYYY-MM-DDTHH``): the 14:00 ET deadline
    and the clock changes fall on whole UTC hours, so every moment of an hour has the same
    listing day, and a history import asks for millions of moments of a few thousand hours."""
    return schedule.listing_day_of(datetime.fromisoformat(f"{hour}:00:00+00:00"))


def _placed(paper_id: str, days: list[date | None]) -> tuple[list[tuple[date, str, int]], int]:
    """(day, kind, version) of the versions whose listing days are ``days`` (v1 first; None:
    unknown), and how many cannot be placed."""
    if days[0] is not None and held(paper_id, days[0]):
        return [], len(days)
    placed: list[tuple[date, str, int]] = []
    unplaced = 0
    for version, day in enumerate(days, start=1):
        if day is None or (placed and day < placed[-1][0]):
            unplaced += 1  # unknown calendar, or submission times out of order
            continue
        if placed and day == placed[-1][0]:
            # one window, one announcement: the later version, under the first one's kind
            placed[-1] = (day, placed[-1][1], version)
            continue
        placed.append((day, "new" if version == 1 else "replace", version))
    return placed, unplaced


def place_versions(
    paper_id: str, submitted: Sequence[str]
) -> tuple[list[tuple[date, str, int]], int]:
    """``derive_listings`` of a paper whose submission times are ``submitted`` (UTC, ISO 8601,
    v1 first; not empty), as (day, kind, version) and the count of versions not placed."""
    return _placed(paper_id, [_listing_day(moment[:13]) for moment in submitted])


def derive_listings(meta: PaperMeta) -> Derived:
    """The listings arXiv's schedule gives ``meta``'s versions (``meta.versions``: submission
    times, v1 first); versions without submission times are all unplaced."""
    if not meta.versions:
        return Derived((), meta.version)
    hours = (moment.astimezone(UTC).isoformat()[:13] for moment in meta.versions)
    placed, unplaced = _placed(meta.id, [_listing_day(hour) for hour in hours])
    return Derived(tuple(Placed(*p) for p in placed), unplaced)
