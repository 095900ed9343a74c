"""A Retry-After holds the HOST (host:port): every feed, later runs and other processes send
nothing until it ends (http.py's hold keeper; store.host_holds keeps it in the database).

Against the fake arXiv on 127.0.0.1, which counts the requests it gets; the wall clock of the
holds is injected (`now`) so that "3000 s later" needs no waiting.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import store
from coolpapers.config import Settings
from coolpapers.db import make_engine, make_sessionmaker, session_scope
from coolpapers.errors import HostHeld, RateLimited
from coolpapers.http import (
    Fetcher,
    FetchPolicy,
    HoldKeeper,
    MemoryHolds,
    arxiv_fetcher,
    default_user_agent,
    endpoints,
)
from coolpapers.ingest.pipeline import Pipeline
from tests.fakes.arxiv_server import FakeArxiv, Fault

FEED = Path(__file__).parent / "fixtures" / "arxiv" / "rss" / "rss-cs.LG-2026-08-21-fri.xml"
FEEDS = ("cs.LG", "cs.AI", "cs.CL", "stat.ML")
T0 = datetime(2026, 8, 21, 12, 0, 0, tzinfo=UTC)
DAY = timedelta(days=1)


class Clock:
    """The wall clock of holds, moved by the test."""

    def __init__(self, at: datetime = T0) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def serve_feeds(fake: FakeArxiv) -> None:
    for spec in FEEDS:
        fake.serve_feed(spec, FEED)


@pytest.fixture
def fake() -> Iterator[FakeArxiv]:
    with FakeArxiv() as server:
        serve_feeds(server)
        yield server


def policy_for(fake: FakeArxiv, **changes: object) -> FetchPolicy:
    configured = endpoints([fake.base_url])
    policy = FetchPolicy(
        user_agent=default_user_agent("https://papers.example.org", "ops@example.org"),
        min_interval_s=0.0,
        connect_timeout_s=2.0,
        read_timeout_s=2.0,
        deadline_s=3.0,
        max_attempts=3,
        max_retry_after_s=5.0,
        backoff_s=0.0,
        allowed_endpoints=configured,
        private_endpoints=configured,
    )
    return dataclasses.replace(policy, **changes)  # type: ignore[arg-type]


@pytest.fixture
def fetchers() -> Iterator[list[Fetcher]]:
    made: list[Fetcher] = []
    yield made
    for fetcher in made:
        fetcher.close()


def fetcher_for(
    made: list[Fetcher], fake: FakeArxiv, holds: HoldKeeper, clock: Clock, **changes: object
) -> Fetcher:
    fetcher = Fetcher(policy_for(fake, **changes), holds=holds, now=clock, sleep=lambda _s: None)
    made.append(fetcher)
    return fetcher


def url(fake: FakeArxiv, spec: str) -> str:
    return f"{fake.rss_url}/rss/{spec}"


def host(fake: FakeArxiv) -> str:
    return f"127.0.0.1:{fake.port}"


# -- in one process ----------------------------------------------------------------------------


def test_retry_after_holds_every_other_feed_of_the_host(
    fake: FakeArxiv, fetchers: list[Fetcher]
) -> None:
    """The issue's run: 429 Retry-After 3000 on the first feed; the other feeds and the API of
    the same host:port get no request at all."""
    fake.script("/rss/cs.LG", [Fault.status(429, retry_after="3000")])
    clock = Clock()
    fetcher = fetcher_for(fetchers, fake, MemoryHolds(), clock)
    with pytest.raises(RateLimited) as first:
        fetcher.get(url(fake, "cs.LG"))
    assert not isinstance(first.value, HostHeld)  # that one was sent, and answered 429
    assert first.value.until == T0 + timedelta(seconds=3000)
    for spec in FEEDS[1:]:
        with pytest.raises(HostHeld, match=f"{host(fake)} asked us to wait until") as held:
            fetcher.get(url(fake, spec))
        assert held.value.until == T0 + timedelta(seconds=3000)
        assert held.value.retry_after_s == 3000.0
    with pytest.raises(HostHeld):
        fetcher.get(fake.api_url, params={"id_list": "2408.00001"})
    assert [r.path for r in fake.requests] == ["/rss/cs.LG"]  # 0 requests after the 429

    clock.at = T0 + timedelta(seconds=2999)
    with pytest.raises(HostHeld):
        fetcher.get(url(fake, "cs.AI"))
    clock.at = T0 + timedelta(seconds=3000)  # the hold has ended
    assert fetcher.get(url(fake, "cs.AI")).status == 200
    assert [r.path for r in fake.requests] == ["/rss/cs.LG", "/rss/cs.AI"]


def test_a_hold_binds_its_host_and_port_only(fake: FakeArxiv, fetchers: list[Fetcher]) -> None:
    fake.script("/rss/cs.LG", [Fault.status(503, retry_after="600")])
    holds = MemoryHolds()
    with FakeArxiv() as other:
        serve_feeds(other)
        both = endpoints([fake.base_url, other.base_url])
        fetcher = fetcher_for(
            fetchers, fake, holds, Clock(), allowed_endpoints=both, private_endpoints=both
        )
        with pytest.raises(RateLimited):
            fetcher.get(url(fake, "cs.LG"))
        assert fetcher.get(url(other, "cs.LG")).status == 200  # another port, not held
        assert holds.held_until(host(other)) is None
    assert holds.held_until(host(fake)) == T0 + timedelta(seconds=600)


def test_http_date_retry_after(fake: FakeArxiv, fetchers: list[Fetcher]) -> None:
    fake.script("/rss/cs.LG", [Fault.status(429, retry_after="Fri, 21 Aug 2026 14:30:00 GMT")])
    fetcher = fetcher_for(fetchers, fake, MemoryHolds(), Clock())
    with pytest.raises(RateLimited) as caught:
        fetcher.get(url(fake, "cs.LG"))
    assert caught.value.until == datetime(2026, 8, 21, 14, 30, tzinfo=UTC)
    with pytest.raises(HostHeld, match="until 2026-08-21 14:30:00 UTC"):
        fetcher.get(url(fake, "cs.AI"))
    assert len(fake.requests) == 1


@pytest.mark.parametrize("header", ["999999999", "Fri, 01 Jan 2100 00:00:00 GMT"])
def test_an_absurd_retry_after_is_capped_at_a_day(
    fake: FakeArxiv, fetchers: list[Fetcher], header: str
) -> None:
    """A hostile or broken header cannot silence us for more than max_hold_s (1 day)."""
    fake.script("/rss/cs.LG", [Fault.status(429, retry_after=header)])
    clock = Clock()
    holds = MemoryHolds()
    fetcher = fetcher_for(fetchers, fake, holds, clock)
    with pytest.raises(RateLimited) as caught:
        fetcher.get(url(fake, "cs.LG"))
    assert caught.value.until == T0 + DAY
    assert holds.held_until(host(fake)) == T0 + DAY
    clock.at = T0 + DAY - timedelta(seconds=1)
    with pytest.raises(HostHeld):
        fetcher.get(url(fake, "cs.LG"))
    clock.at = T0 + DAY
    assert fetcher.get(url(fake, "cs.LG")).status == 200
    assert len(fake.requests) == 2


def test_a_short_retry_after_is_waited_out_in_place_and_still_holds_the_host(
    fake: FakeArxiv, fetchers: list[Fetcher]
) -> None:
    """A wait short enough to sleep through is slept through (the request then goes), and it is
    recorded as a hold too, so another fetcher of the host waits for it as well."""
    fake.script("/rss/cs.LG", [Fault.status(429, retry_after="2")])
    holds = MemoryHolds()
    slept: list[float] = []
    fetcher = Fetcher(policy_for(fake), holds=holds, now=Clock(), sleep=slept.append)
    fetchers.append(fetcher)
    assert fetcher.get(url(fake, "cs.LG")).status == 200
    assert slept == [2.0]
    assert [r.status for r in fake.requests] == [429, 200]
    assert holds.held_until(host(fake)) == T0 + timedelta(seconds=2)
    neighbour = fetcher_for(fetchers, fake, holds, Clock())  # e.g. the web's fetcher
    with pytest.raises(HostHeld):
        neighbour.get(url(fake, "cs.AI"))
    assert len(fake.requests) == 2


def test_no_retry_after_means_no_hold(fake: FakeArxiv, fetchers: list[Fetcher]) -> None:
    fake.script("/rss/cs.LG", [Fault.status(503)] * 3)
    holds = MemoryHolds()
    fetcher = fetcher_for(fetchers, fake, holds, Clock())
    with pytest.raises(RateLimited) as caught:
        fetcher.get(url(fake, "cs.LG"))
    assert caught.value.until is None and holds.held_until(host(fake)) is None
    assert fetcher.get(url(fake, "cs.AI")).status == 200


# -- across runs and processes (the database) -------------------------------------------------


def test_a_hold_survives_into_later_runs_and_other_processes(
    settings: Settings, factory: sessionmaker[Session], fake_arxiv: FakeArxiv
) -> None:
    """Run 1 is told to wait 3000 s. Run 2, a new fetcher over a new engine (as another process
    would have), sends nothing until the hold ends; then it fetches."""
    fake = fake_arxiv
    serve_feeds(fake)
    fake.script("/rss/cs.LG", [Fault.status(429, retry_after="3000")])
    run1 = arxiv_fetcher(settings, holds=store.DbHostHolds(factory))
    try:
        with pytest.raises(RateLimited) as told:
            run1.get(url(fake, "cs.LG"))
        for spec in FEEDS[1:]:
            with pytest.raises(HostHeld):
                run1.get(url(fake, spec))
    finally:
        run1.close()
    until = told.value.until
    assert until is not None

    engine = make_engine(settings)  # a second process: its own engine, nothing in memory
    try:
        holds2 = store.DbHostHolds(make_sessionmaker(engine))
        run2 = arxiv_fetcher(settings, holds=holds2)
        try:
            for spec in FEEDS:
                with pytest.raises(HostHeld) as held:
                    run2.get(url(fake, spec))
                assert held.value.until == until
        finally:
            run2.close()
        assert len(fake.requests) == 1  # requests to the host after its Retry-After: 0

        with session_scope(make_sessionmaker(engine)) as s:
            (active,) = store.host_holds_active(s)
        assert active.host == host(fake) and active.until == until
        assert active.reason == "HTTP 429 with Retry-After 3000 s"

        run3 = Fetcher(run1.policy, holds=holds2, now=lambda: until + timedelta(seconds=1))
        try:
            assert run3.get(url(fake, "cs.AI")).status == 200  # the hold has ended
        finally:
            run3.close()
        with session_scope(make_sessionmaker(engine)) as s:
            assert store.host_holds_active(s, until + timedelta(seconds=1)) == []
    finally:
        engine.dispose()
    assert len(fake.requests) == 2


def test_the_later_hold_wins(factory: sessionmaker[Session]) -> None:
    with session_scope(factory, write=True) as s:
        store.put_host_hold(s, "rss.arxiv.org:443", T0 + timedelta(hours=2), "HTTP 429 long")
    with session_scope(factory, write=True) as s:
        store.put_host_hold(s, "rss.arxiv.org:443", T0 + timedelta(hours=1), "HTTP 503 short")
        store.put_host_hold(s, "export.arxiv.org:443", T0 + timedelta(minutes=5), "HTTP 503")
    with session_scope(factory) as s:
        assert store.host_hold_until(s, "rss.arxiv.org:443") == T0 + timedelta(hours=2)
        assert store.host_hold_until(s, "arxiv.org:443") is None
        active = store.host_holds_active(s, T0)
        assert [(h.host, h.reason) for h in active] == [
            ("export.arxiv.org:443", "HTTP 503"),
            ("rss.arxiv.org:443", "HTTP 429 long"),
        ]
        assert [h.host for h in store.host_holds_active(s, T0 + timedelta(minutes=30))] == [
            "rss.arxiv.org:443"
        ]
    with session_scope(factory, write=True) as s:
        store.put_host_hold(s, "rss.arxiv.org:443", T0 + timedelta(hours=3), "HTTP 429 longer")
    with session_scope(factory) as s:
        assert store.host_hold_until(s, "rss.arxiv.org:443") == T0 + timedelta(hours=3)


def test_a_failing_database_does_not_lose_the_hold(tmp_path: Path) -> None:
    """No database (here: a file that cannot be opened): the hold is logged as unstored and
    still binds this process."""
    engine = create_engine(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    try:
        holds = store.DbHostHolds(make_sessionmaker(engine))
        holds.hold("rss.arxiv.org:443", T0 + DAY, "HTTP 429 with Retry-After 86400 s")
        assert holds.held_until("rss.arxiv.org:443") == T0 + DAY
        assert holds.held_until("export.arxiv.org:443") is None
    finally:
        engine.dispose()


def test_a_closed_pipelines_holds_no_longer_touch_the_database(
    settings: Settings, engine: Engine, factory: sessionmaker[Session]
) -> None:
    """After the pipeline's close (the app's shutdown, before it disposes of its engine), a
    fetch left running keeps its holds in memory and opens no connection: one opened then
    was left open for the collector (psycopg warned inside some later test)."""
    host = "rss.arxiv.org:443"
    with session_scope(factory, write=True) as s:
        store.put_host_hold(s, host, T0 + DAY, "HTTP 429 stored")
    pipeline = Pipeline.open(settings, factory)
    holds = pipeline.fetcher.holds
    assert holds.held_until(host) == T0 + DAY  # read from the database while open
    checkouts: list[object] = []

    def checked_out(*args: object) -> None:
        checkouts.append(args)

    event.listen(engine, "checkout", checked_out)
    try:
        pipeline.close()
        assert holds.held_until(host) is None  # what this process holds: nothing
        holds.hold(host, T0 + 2 * DAY, "HTTP 429 late")
        assert holds.held_until(host) == T0 + 2 * DAY  # kept in memory all the same
        assert checkouts == []
    finally:
        event.remove(engine, "checkout", checked_out)
    with session_scope(factory) as s:
        assert store.host_hold_until(s, host) == T0 + DAY  # nothing written after the close
