"""Historical day lists: a day a history import placed papers on by arXiv's schedule says so on
the page and in its JSON twin (and is not called a partial feed day); a day of a period whose
calendar this instance does not know says that search finds its papers instead of "nothing was
announced"; day navigation walks over derived days like any other."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import store
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.models import Listing
from coolpapers.records import Author, PaperMeta
from coolpapers.search import sync
from coolpapers.store.listings import day_derivation, has_papers_of_year
from coolpapers.web.lists import parse_list_spec, spec_filter

# 2026: a year whose arXiv holidays are known, so days can be derived in it
DERIVED_1 = date(2026, 2, 25)  # Wednesday: a history import's days
DERIVED_2 = date(2026, 2, 26)  # Thursday
FEED_DAY = date(2026, 3, 2)  # Monday: the instance's first feed day
RECONSTRUCTED = (
    "This day was reconstructed from submission times by arXiv's schedule (history import), "
    "not read from that day's feed; a paper held for moderation or cross-listed later may be "
    "missing."
)
PARTIAL = "is not among the feeds ingested on this day"
CALENDAR = (
    "arXiv's calendar for that period isn't known to this instance, so its papers aren't "
    "placed on days"
)
NOTHING = "No papers were announced"


def put_papers(
    factory: sessionmaker[Session],
    day: date | None,
    papers: Sequence[tuple[str, str, str]],
    *,
    derived: bool,
    published: datetime | None = None,
) -> None:
    """(id, categories, title) papers; listed as new on ``day`` (by a feed, or ``derived`` by a
    history import, which has no feed report), or not listed at all (``day`` None)."""
    ids = [p[0] for p in papers]
    with session_scope(factory, write=True) as s:
        existing = store.papers_by_id(s, ids)
        known = store.listings_by_paper(s, ids)
        for paper_id, categories, title in papers:
            meta = PaperMeta(
                id=paper_id,
                version=1,
                title=title,
                abstract="An abstract.",
                authors=(Author("A. Author"),),
                categories=tuple(categories.split(",")),
                published=published,
            )
            store.upsert_paper(s, meta, meta.categories, existing.get(paper_id), announced=day)
            if day is None:
                continue
            if derived:  # as the history import writes them
                s.add(Listing(paper_id=paper_id, date=day, kind="new", version=1, derived=True))
            else:
                store.add_listing(s, known.setdefault(paper_id, []), paper_id, day, "new", 1)
        if day is not None:
            if not derived:
                store.put_feed_day(s, "cs.LG", day, "listed", len(papers), "f" * 64)
            store.index_listing_day(s, day)


@pytest.fixture
def history(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    put_papers(factory, DERIVED_1, [("2602.10001", "cs.LG", "Older history")], derived=True)
    put_papers(
        factory,
        DERIVED_2,
        [
            ("2602.20001", "cs.LG", "Derived <i>one</i> & co"),
            ("2602.20002", "cs.AI,cs.LG", "Derived two"),
        ],
        derived=True,
    )
    put_papers(
        factory,
        FEED_DAY,
        [("2603.00001", "cs.LG", "Fed one"), ("2603.00002", "cs.LG,cs.AI", "Fed two")],
        derived=False,
    )
    # the history import also placed cs.AI papers on the feed's day (cs.AI has no feed here)
    put_papers(
        factory,
        FEED_DAY,
        [("2602.30001", "cs.AI", "Placed AI one"), ("2602.30002", "cs.AI", "Placed AI two")],
        derived=True,
    )
    return factory


def day(client: TestClient, spec: str, when: date | None = None) -> tuple[str, dict[str, Any]]:
    params = {"date": when.isoformat()} if when else {}
    page = client.get(f"/arxiv/{spec}", params=params)
    api = client.get(f"/api/arxiv/{spec}", params=params)
    assert page.status_code == 200 and api.status_code == 200
    return html.unescape(page.text), api.json()


def test_a_derived_day_says_so_and_a_feed_day_does_not(
    history: sessionmaker[Session], client: TestClient
) -> None:
    text, body = day(client, "cs.LG", DERIVED_2)
    assert RECONSTRUCTED in text
    assert "Derived <i>one</i> & co" in text and "Derived two" in text
    assert PARTIAL not in text  # no feed reported the day: that is not a partial feed day
    assert (body["derived"], body["calendar_unknown"], body["total"]) == (True, False, 2)
    raw = client.get("/arxiv/cs.LG", params={"date": DERIVED_2.isoformat()}).text
    assert "Derived &lt;i&gt;one&lt;/i&gt; &amp; co" in raw  # an untrusted title stays text

    text, body = day(client, "cs.LG", FEED_DAY)
    assert "reconstructed" not in text and "placed on this day" not in text
    assert PARTIAL not in text and "Fed one" in text
    assert (body["derived"], body["total"]) == (False, 2)


def test_a_day_partly_placed_by_the_history_import_says_how_much(
    history: sessionmaker[Session], client: TestClient
) -> None:
    text, body = day(client, "cs.AI", FEED_DAY)
    assert "2 of these 3 papers were placed on this day from submission times by arXiv's " in text
    assert RECONSTRUCTED not in text and PARTIAL not in text
    titles = {p["title"] for p in body["papers"]}
    assert titles == {"Fed two", "Placed AI one", "Placed AI two"}
    assert (body["derived"], body["total"]) == (True, 3)


def test_the_lists_derivation_is_day_derivations(history: sessionmaker[Session]) -> None:
    """The day list counts its derived listings in its counting pass: the same figure as
    ``day_derivation``'s own pass, for every spec, day and replacements setting."""
    with session_scope(history, write=True) as s:  # a v2 of one, placed on the feed's day
        s.add(
            Listing(paper_id="2602.20002", date=FEED_DAY, kind="replace", version=2, derived=True)
        )
    with session_scope(history) as s:
        for text in ("cs.LG", "cs.AI", "cs.AI+cs.LG", "cs.LG-cs.AI"):
            filt = spec_filter(parse_list_spec(text))
            for listed_day in (DERIVED_1, DERIVED_2, FEED_DAY):
                for replacements in (False, True):
                    listing = store.day_listing(
                        s, filt, listed_day, replacements=replacements, show=5, skip=0
                    )
                    assert listing.derivation == day_derivation(
                        s, filt, listed_day, replacements=replacements
                    ), (text, listed_day, replacements)
                    assert listing.derivation is not None
                    assert listing.derivation[1] == listing.total


def test_a_feed_day_of_another_feed_is_still_partial(
    factory: sessionmaker[Session], client: TestClient
) -> None:
    """The partial note stays where it is true: cs.AI's only paper came by cs.LG's feed."""
    put_papers(factory, FEED_DAY, [("2603.00002", "cs.LG,cs.AI", "Fed two")], derived=False)
    text, body = day(client, "cs.AI", FEED_DAY)
    assert PARTIAL in text and "reconstructed" not in text
    assert body["derived"] is False


def test_navigation_walks_over_derived_days(
    history: sessionmaker[Session], client: TestClient
) -> None:
    _, latest = day(client, "cs.LG")
    assert (latest["date"], latest["previous_date"]) == (FEED_DAY.isoformat(), "2026-02-26")
    text, middle = day(client, "cs.LG", DERIVED_2)
    assert (middle["previous_date"], middle["next_date"]) == ("2026-02-25", "2026-03-02")
    assert 'rel="prev">« 2026-02-25' in text and 'rel="next">2026-03-02 »' in text
    _, first = day(client, "cs.LG", DERIVED_1)
    assert (first["previous_date"], first["next_date"], first["derived"]) == (
        None,
        "2026-02-26",
        True,
    )
    # cs.AI's days: the derived 26th (a cross-list) and the partly derived feed day
    _, ai = day(client, "cs.AI", FEED_DAY)
    assert ai["previous_date"] == "2026-02-26"


def test_a_period_without_a_known_calendar_points_to_search(
    history: sessionmaker[Session], client: TestClient, settings: Settings
) -> None:
    tuesday = date(2007, 6, 12)
    text, body = day(client, "cs.LG", tuesday)
    assert NOTHING in text and CALENDAR not in text  # no 2007 papers: nothing to point at
    assert body["calendar_unknown"] is False

    submitted = datetime(2007, 6, 11, 15, tzinfo=UTC)
    put_papers(
        history, None, [("0706.1234", "cs.LG", "A 2007 paper")], derived=False, published=submitted
    )
    text, body = day(client, "cs.LG", tuesday)
    assert CALENDAR in text and "search finds them" in text
    assert NOTHING not in text and PARTIAL not in text
    link = "/arxiv/search?query=cat:cs.LG%20after:2007-06%20before:2007-06&sort=time"
    assert f'href="{link}"' in text
    assert sync.sync_job(history, settings.data_dir) > 0
    found = client.get(link)
    assert found.status_code == 200 and "A 2007 paper" in found.text
    assert (body["calendar_unknown"], body["total"], body["derived"]) == (True, 0, False)
    # a weekend is known to have no announcement whatever the year
    text, body = day(client, "cs.LG", date(2007, 6, 9))
    assert CALENDAR not in text and "arXiv does not announce on weekends" in text
    # a day of a known calendar is placed when it can be: an empty one is just empty
    text, body = day(client, "cs.LG", date(2026, 2, 24))
    assert CALENDAR not in text and NOTHING in text


def test_after_the_first_feed_day_a_missing_day_is_a_gap_not_an_unknown_calendar(
    factory: sessionmaker[Session], client: TestClient
) -> None:
    put_papers(factory, date(2024, 6, 3), [("2406.00001", "cs.LG", "Fed 2024")], derived=False)
    put_papers(factory, None, [("2503.01234", "cs.LG", "A 2025 paper")], derived=False)
    text, body = day(client, "cs.LG", date(2025, 3, 4))
    assert CALENDAR not in text and NOTHING in text
    assert body["calendar_unknown"] is False
    text, body = day(client, "cs.LG", date(2024, 3, 5))  # before it, but 2024 is known
    assert CALENDAR not in text


def test_papers_of_a_year_by_their_ids(factory: sessionmaker[Session]) -> None:
    """New-style ids by their YYMM from 2007, old-style ones per archive until 2007; the
    neighbours of each range stay out of it."""
    put_papers(
        factory,
        None,
        [
            ("0801.0001", "cs.LG", "January 2008"),
            ("math/0612001", "math.AG", "December 2006"),
            ("hep-th/9912001", "hep-th", "December 1999"),
            ("2024.naacl-long.431@ACL", "cs.CL", "A venue's paper"),
        ],
        derived=False,
    )
    with session_scope(factory) as s:
        found = {year: has_papers_of_year(s, year) for year in (1999, 2000, 2006, 2007, 2008)}
        assert found == {1999: True, 2000: False, 2006: True, 2007: False, 2008: True}
        assert not has_papers_of_year(s, 2024) and not has_papers_of_year(s, 1990)
    put_papers(factory, None, [("astro-ph/0703999", "astro-ph", "March 2007")], derived=False)
    with session_scope(factory) as s:
        assert has_papers_of_year(s, 2007)
