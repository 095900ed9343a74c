"""/status answers "did we miss anything?" (arXiv's calendar against the stored feed days, the
last error per feed, suspect and failed runs), fits a phone, and the home and list pages say when
arXiv cannot be reached. On SQLite and Postgres."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import ViewportSize
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import cli, ingest, schedule, schema, store
from coolpapers.config import Settings
from coolpapers.db import make_engine, make_sessionmaker, session_scope
from coolpapers.endpoints import endpoint_key, endpoint_of
from coolpapers.web import create_app, status
from tests.browser import chromium, require_chromium
from tests.conftest import RSS, make_settings
from tests.fakes.arxiv_server import FakeArxiv, Fault
from tests.live_server import serve as serve_app

FEED = RSS / "rss-cs.LG-2026-08-21-fri.xml"
SENTENCE = re.compile(
    r"arXiv could not be reached since <time[^>]*>(\d{4}-\d\d-\d\d \d\d:\d\d) UTC</time>, "
    r"next try at <time[^>]*>(\d{4}-\d\d-\d\d \d\d:\d\d) UTC</time>"
)

# ---------------------------------------------------------------- the calendar


@pytest.mark.parametrize(
    ("day", "listed"),
    [
        ("2024-11-27", True),  # Wednesday
        ("2024-11-29", False),  # the Friday after Thanksgiving (holiday Thu 28): empty feed
        ("2024-11-30", False),  # Saturday
        ("2024-12-02", True),  # Monday (announced Sunday evening)
        ("2025-01-01", False),  # after the holiday of 31 Dec 2024 (arXiv repeated the day)
        ("2025-01-02", False),  # after the holiday of 1 Jan 2025
        ("2025-01-06", True),
        ("2026-01-20", False),  # Tuesday after Martin Luther King day (Mon 19)
        ("2026-01-19", True),  # the holiday's own listing (announced the evening before)
    ],
)
def test_listing_days_follow_arxivs_calendar(day: str, listed: bool) -> None:
    assert schedule.is_listing_day(date.fromisoformat(day)) is listed


def test_listing_days_of_thanksgiving_week() -> None:
    days = schedule.listing_days(date(2026, 11, 21), date(2026, 11, 30))
    assert [d.isoformat() for d in days] == [
        "2026-11-23",
        "2026-11-24",
        "2026-11-25",
        "2026-11-26",
        "2026-11-30",  # not Fri 27 (holiday Thu 26), not the weekend
    ]
    assert schedule.listing_days(date(2026, 11, 30), date(2026, 11, 29)) == []


# ---------------------------------------------------------------- missed days


def _store_days(factory: sessionmaker[Session], feed: str, days: list[date], status: str) -> None:
    with session_scope(factory, write=True) as s:
        for day in days:
            store.put_feed_day(s, feed, day, status, 10 if status == "listed" else 0, "x")


def test_missed_days_per_feed(factory: sessionmaker[Session], settings: Settings) -> None:
    """Listing days since the feed's first stored day without a record; an empty holiday-after
    day and weekends are not missed, a day recorded only as suspect is."""
    settings = settings.model_copy(update={"arxiv_categories": "cs.LG,cs.AI,math"})
    due = date(2026, 12, 1)
    listed = [
        d
        for d in schedule.listing_days(date(2026, 11, 16), date(2026, 11, 30))
        if d not in (date(2026, 11, 19), date(2026, 11, 24), date(2026, 11, 20))
    ]
    _store_days(factory, "cs.LG", listed, "listed")
    _store_days(factory, "cs.LG", [date(2026, 11, 20)], "suspect")
    _store_days(factory, "math", [date(2026, 1, 5)], "listed")  # long ago: the window bounds it
    with session_scope(factory) as s:
        rows = {r["feed"]: r for r in status.coverage(s, settings, due)}
    assert list(rows) == ["cs.LG", "cs.AI", "math"]
    assert rows["cs.LG"]["first_day"] == "2026-11-16"
    assert rows["cs.LG"]["missed_days"] == ["2026-11-19", "2026-11-20", "2026-11-24"]
    assert rows["cs.AI"] == {
        "feed": "cs.AI",
        "first_day": None,  # nothing stored yet: nothing to call missed
        "missed_days": [],
        "has_due_day": False,
        "last_run": None,
        "last_error": None,
    }
    window = schedule.listing_days(
        due - timedelta(days=status.MISSED_WINDOW_DAYS), date(2026, 11, 30)
    )
    assert rows["math"]["missed_days"] == [d.isoformat() for d in window]


def test_status_reports_missed_days_and_problem_runs(
    client: TestClient, factory: sessionmaker[Session], settings: Settings
) -> None:
    """/status and /api/status: the days missed in the window before the newest possible
    listing, the last error per feed, suspect and failed runs with their error."""
    due = schedule.expected_listing_date(datetime.now(UTC))
    days = schedule.listing_days(due - timedelta(days=20), due - timedelta(days=1))
    missed = days[3]
    _store_days(factory, "cs.LG", [d for d in days if d != missed], "listed")
    with session_scope(factory, write=True) as s:
        run = store.start_run(s, "rss", "cs.LG")
        store.finish_run(s, run.id, "failed", error="FetchError: HTTP 503 after 3 attempts")
        run = store.start_run(s, "rss", "cs.LG")
        store.finish_run(
            s, run.id, "suspect", listing_date=missed, error="empty feed on a weekday: kept"
        )
    api = client.get("/api/status").json()
    for key in ("now", "expected_listing_date", "feeds_missing_today", "last_runs", "counts"):
        assert key in api  # the keys that were there stay
    (lg,) = api["feeds"]
    assert lg["missed_days"] == [missed.isoformat()] and api["missed_days_total"] == 1
    assert lg["last_run"]["status"] == "suspect"
    assert lg["last_error"]["error"] == "empty feed on a weekday: kept"
    assert [r["status"] for r in api["recent_problems"]] == ["suspect", "failed"]
    assert api["fetch_failing"] is None  # the latest attempt reached arXiv
    page = client.get("/status").text
    assert f'href="/arxiv/cs.LG?date={missed.isoformat()}"' in page  # urls.day_list
    assert "1 missed." in page
    assert "<strong>suspect</strong>" in page and "empty feed on a weekday: kept" in page
    assert "FetchError: HTTP 503 after 3 attempts" in page


def test_items_column_shows_the_count(
    client: TestClient, factory: sessionmaker[Session], settings: Settings
) -> None:
    with session_scope(factory, write=True) as s:
        run = store.start_run(s, "rss", "cs.LG")
        store.finish_run(s, run.id, "ok", n_items=283, n_new=120, n_stored=200)
    page = client.get("/status").text
    assert "built-in method" not in page
    assert '<td>ok</td><td class="date"></td><td>283</td><td>120</td>' in page


# ---------------------------------------------------------------- arXiv unreachable


def _env(monkeypatch: pytest.MonkeyPatch, settings: Settings, rss_url: str) -> None:
    """The CLI reads its settings from the environment: the test's, pointed at ``rss_url``."""
    values = {
        "DATABASE_URL": settings.database_url,
        "DATA_DIR": str(settings.data_dir),
        "ARXIV_RSS_URL": rss_url,
        "ARXIV_API_URL": settings.arxiv_api_url,
        "ARXIV_WEB_URL": settings.arxiv_web_url,
        "ARXIV_MIN_INTERVAL_S": "0",
        "ALLOW_PRIVATE_NETWORKS": "true",
        "FETCH_MAX_ATTEMPTS": "1",
        "FETCH_TIMEOUT_S": "2",
        "SECRET_KEY": "test",
    }
    for name, value in values.items():
        monkeypatch.setenv(f"COOLPAPERS_{name}", value)


def _closed_port_url() -> str:
    import socket

    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize("fault", ["http-500", "refused"])
def test_pages_say_arxiv_cannot_be_reached(
    client: TestClient,
    settings: Settings,
    fake_arxiv: FakeArxiv,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
) -> None:
    assert SENTENCE.search(client.get("/").text) is None  # nothing tried: nothing to say
    if fault == "http-500":
        fake_arxiv.serve_feed("cs.LG", b"internal error", status=500)
        _env(monkeypatch, settings, fake_arxiv.rss_url)
    else:
        _env(monkeypatch, settings, _closed_port_url())
    before = datetime.now(UTC).replace(second=0, microsecond=0)
    assert cli.main(["ingest", "--categories", "cs.LG"]) == cli.EXIT_FAILED
    assert cli.main(["ingest", "--categories", "cs.LG"]) == cli.EXIT_FAILED

    for path in ("/", "/arxiv/cs.LG", "/arxiv/cs.AI,cs.LG", "/status"):
        page = client.get(path)
        assert page.status_code == 200, path
        found = SENTENCE.search(page.text)
        assert found, path
        since = datetime.fromisoformat(found.group(1)).replace(tzinfo=UTC)
        next_try = datetime.fromisoformat(found.group(2)).replace(tzinfo=UTC)
        assert since >= before  # the first failure of the streak
        assert next_try - since >= timedelta(minutes=settings.poll_interval_min - 1)
        assert 'href="/status"' in page.text
    alert = client.get("/api/status").json()["fetch_failing"]
    assert alert["attempts"] == 2 and alert["error"].startswith("FetchError")

    # arXiv answers again: the notice goes
    fake_arxiv.serve_feed("cs.LG", FEED)
    _env(monkeypatch, settings, fake_arxiv.rss_url)
    assert cli.main(["ingest", "--categories", "cs.LG"]) == cli.EXIT_OK
    for path in ("/", "/arxiv/cs.LG", "/status"):
        assert "could not be reached" not in client.get(path).text, path
    assert client.get("/api/status").json()["fetch_failing"] is None


def test_next_try_waits_for_arxivs_retry_after(
    client: TestClient, settings: Settings, fake_arxiv: FakeArxiv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 429 with Retry-After: 3000 holds arXiv's host: the next try is the hold's end (later
    than the next poll), and /status says arXiv asked us to wait."""
    fake_arxiv.script("/rss/cs.LG", [Fault.status(429, retry_after="3000")])
    _env(monkeypatch, settings, fake_arxiv.rss_url)
    told = datetime.now(UTC)
    assert cli.main(["ingest", "--categories", "cs.LG"]) == cli.EXIT_FAILED
    found = SENTENCE.search(client.get("/arxiv/cs.LG").text)
    assert found
    next_try = datetime.fromisoformat(found.group(2)).replace(tzinfo=UTC)
    assert next_try >= (told + timedelta(seconds=3000)).replace(second=0, microsecond=0)
    api = client.get("/api/status").json()
    (hold,) = api["host_holds"]
    assert hold["arxiv"] and hold["host"] == endpoint_key(endpoint_of(fake_arxiv.rss_url))
    assert api["fetch_failing"]["next_try"] == hold["until"]
    assert "asked us to wait until" in client.get("/status").text


# ---------------------------------------------------------------- on a phone

PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture
def phone_site(tmp_path: Path) -> Iterator[str]:
    """/status with every archive configured, a stored day, failures with long errors."""
    require_chromium()
    with FakeArxiv() as fake:
        settings = make_settings(
            f"sqlite:///{tmp_path / 'p.db'}", tmp_path / "data", fake, arxiv_categories="all"
        )
        engine = make_engine(settings)
        schema.upgrade(engine)
        try:
            factory = make_sessionmaker(engine)
            ingest.ingest_files(factory, [FEED])
            with session_scope(factory, write=True) as s:
                for spec in settings.ingest_specs:
                    run = store.start_run(s, "rss", spec)
                    store.finish_run(
                        s,
                        run.id,
                        "failed",
                        error="FetchError: transport error (ConnectError: [Errno 111] Connection "
                        f"refused) after 4 attempts: http://127.0.0.1:9/rss/{spec}" * 2,
                    )
        finally:
            engine.dispose()
        with serve_app(create_app(settings)) as base_url:
            yield base_url


@pytest.mark.browser
def test_status_fits_a_phone(phone_site: str) -> None:
    with chromium() as browser:
        context = browser.new_context(base_url=phone_site, viewport=PHONE)
        page = context.new_page()
        for path in ("/status", "/", "/arxiv/cs.LG"):
            response = page.goto(path)
            assert response is not None and response.status == 200, path
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], (path, width)
        page.goto("/status")
        page.screenshot(path="/tmp/coolpapers-status-390.png", full_page=True)
        # the wide tables scroll inside their own box
        box = page.locator(".table-scroll").first
        assert box.evaluate("e => e.scrollWidth > e.clientWidth")
        context.close()
