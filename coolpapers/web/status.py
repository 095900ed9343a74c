"""/status and /api/status: last run per feed, counts, failures, the next poll, and the answer to
"did we miss anything?": per configured feed, the announcement days of arXiv's calendar that have
no stored listing, its last error, and whether arXiv is reachable at all. The same notice of an
unreachable arXiv is shown on the home and list pages (``ingest_alert``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import ingest, schedule, store
from coolpapers.config import Settings
from coolpapers.endpoints import endpoint_key, endpoint_of, endpoints
from coolpapers.models import IngestRun
from coolpapers.store import faqs as faq_store
from coolpapers.store import health
from coolpapers.web.deps import SessionDep, SettingsDep, TemplatesDep
from coolpapers.web.present import iso_or_none

router = APIRouter()

# How far back /status looks for missed days: a bounded read whatever the history's length.
MISSED_WINDOW_DAYS = 60
SOURCE = "rss"  # the scheduled listing fetches


def _run_json(run: IngestRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "source": run.source,
        "target": run.target,
        "status": run.status,
        "started_at": iso_or_none(run.started_at),
        "finished_at": iso_or_none(run.finished_at),
        "listing_date": iso_or_none(run.listing_date),
        "items": run.n_items,
        "new": run.n_new,
        "cross": run.n_cross,
        "replace": run.n_replace,
        "malformed": run.n_malformed,
        "stored": run.n_stored,
        "error": run.error,
    }


@dataclass(frozen=True)
class IngestAlert:
    """The latest fetches from arXiv fail: since when, and when the next try comes."""

    since: datetime
    next_try: datetime
    attempts: int
    error: str | None
    unreadable: bool  # arXiv answered, but with something that could not be parsed

    def json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "next_try": self.next_try.isoformat(),
            "attempts": self.attempts,
            "error": self.error,
            "unreadable": self.unreadable,
        }


def fetch_alert(session: Session, settings: Settings) -> IngestAlert | None:
    """None while arXiv answers; else the failing streak. The next try is the next poll after
    the last attempt, or the end of a Retry-After hold on arXiv's feed host when that is later."""
    failing = health.failing_fetches(session, SOURCE)
    if failing is None:
        return None
    next_try = failing.last_attempt + timedelta(minutes=settings.poll_interval_min)
    rss_host = endpoint_key(endpoint_of(settings.arxiv_rss_url))
    for hold in store.host_holds_active(session):
        if hold.host == rss_host:
            next_try = max(next_try, hold.until)
    return IngestAlert(
        since=failing.since,
        next_try=next_try,
        attempts=failing.attempts,
        error=failing.error,
        unreadable=(failing.error or "").startswith("ParseError"),
    )


def ingest_alert(request: Request) -> IngestAlert | None:
    """For the pages' notice (a template global, so the page handlers need not know of it)."""
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    with factory() as session:
        return fetch_alert(session, request.app.state.settings)


def _holds_json(session: Session, settings: Settings) -> list[dict[str, Any]]:
    """Active Retry-After holds, arXiv's named as such."""
    urls = (
        settings.arxiv_rss_url,
        settings.arxiv_api_url,
        settings.arxiv_oai_url,
        settings.arxiv_web_url,
    )
    arxiv = {endpoint_key(e) for e in endpoints(urls)}
    return [
        {
            "host": h.host,
            "until": h.until.isoformat(),
            "reason": h.reason,
            "arxiv": h.host in arxiv,
        }
        for h in store.host_holds_active(session)
    ]


def coverage(session: Session, settings: Settings, due: date) -> list[dict[str, Any]]:
    """Per configured feed: the listing days (arXiv's calendar) since its first stored day, at
    most ``MISSED_WINDOW_DAYS`` back and before ``due`` (still being polled), with no stored
    listing; its last run and its last error."""
    specs = settings.ingest_specs
    start = due - timedelta(days=MISSED_WINDOW_DAYS)
    stored = health.feed_coverage(session, specs, start)
    last = health.last_runs(session, SOURCE, specs)
    problems = health.last_problems(session, SOURCE, specs)
    rows = []
    for spec in specs:
        feed = stored[spec]
        first = max(start, feed.first_day) if feed.first_day else None
        expected = schedule.listing_days(first, due - timedelta(days=1)) if first else []
        run, problem = last.get(spec), problems.get(spec)
        rows.append(
            {
                "feed": spec,
                "first_day": iso_or_none(feed.first_day),
                "missed_days": [d.isoformat() for d in expected if d not in feed.days],
                "has_due_day": due in feed.days,
                "last_run": _run_json(run) if run else None,
                "last_error": _run_json(problem) if problem else None,
            }
        )
    return rows


def snapshot(session: Session, settings: Settings, scheduler_here: bool) -> dict[str, Any]:
    now = datetime.now(UTC)
    due = schedule.expected_listing_date(now)
    missing = store.feeds_missing(session, settings.ingest_specs, due)
    holder = store.lease_holder(session, ingest.INGEST_LEASE)
    next_poll = schedule.next_poll(
        now, caught_up=not missing, interval_min=settings.poll_interval_min
    )
    feeds = coverage(session, settings, due)
    alert = fetch_alert(session, settings)
    return {
        "now": now.isoformat(),
        "expected_listing_date": due.isoformat(),
        "newest_listing_date": (
            d.isoformat() if (d := store.newest_listing_day(session)) else None
        ),
        "feeds_missing_today": missing,
        "next_poll": next_poll.isoformat(),
        "scheduler_in_this_process": scheduler_here,
        "ingest_running": {"holder": holder[0], "until": holder[1].isoformat()} if holder else None,
        "counts": store.table_counts(session),
        "last_runs": [_run_json(r) for r in store.last_run_per_target(session)],
        "recent_failures": [_run_json(r) for r in store.recent_failures(session)],
        "fetch_failing": alert.json() if alert else None,
        "host_holds": _holds_json(session, settings),
        "missed_window_days": MISSED_WINDOW_DAYS,
        "missed_days_total": sum(len(f["missed_days"]) for f in feeds),
        "feeds": feeds,
        "recent_problems": [_run_json(r) for r in health.recent_problems(session)],
        "faq": _faq_status(session, settings, now),
        "imports": [
            {
                "name": c.name,
                "done": c.done,
                "finished": c.finished,
                "updated_at": c.updated_at.isoformat() if c.updated_at else None,
            }
            for c in store.checkpoints(session)
        ],
    }


def _faq_status(session: Session, settings: Settings, now: datetime) -> dict[str, Any]:
    spent = faq_store.usage(session, now.date())
    return {
        "configured": settings.llm_configured,
        "model": settings.llm_model or None,
        "queue": faq_store.queue_counts(session),
        "today": {
            "tokens_in": spent.tokens_in if spent else 0,
            "tokens_out": spent.tokens_out if spent else 0,
            "generations": spent.generations if spent else 0,
            "failures": spent.failures if spent else 0,
            "budget": settings.llm_daily_token_budget or None,
        },
        "recent_failures": [
            {"paper": f.paper_id, "lang": f.lang, "error": f.error}
            for f in faq_store.recent_faq_failures(session)
        ],
    }


@router.get("/status", include_in_schema=False)
def status_page(
    request: Request, session: SessionDep, settings: SettingsDep, templates: TemplatesDep
) -> Response:
    data = snapshot(session, settings, request.app.state.scheduler_enabled)
    return templates.TemplateResponse(request, "status.html", {"s": data})


@router.get("/api/status", tags=["status"], response_model=None)
def api_status(request: Request, session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    """Last run per feed, counts, recent failures, the next scheduled poll; per configured feed
    the announcement days with no stored listing (``feeds``) and whether arXiv answers."""
    return snapshot(session, settings, request.app.state.scheduler_enabled)
