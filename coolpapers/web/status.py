"""/status and /api/status: last run per feed, counts, failures, the next poll."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from coolpapers import ingest, schedule, store
from coolpapers.config import Settings
from coolpapers.models import IngestRun
from coolpapers.store import faqs as faq_store
from coolpapers.web.deps import SessionDep, SettingsDep, TemplatesDep
from coolpapers.web.present import iso_or_none

router = APIRouter()


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


def snapshot(session: Session, settings: Settings, scheduler_here: bool) -> dict[str, Any]:
    now = datetime.now(UTC)
    due = schedule.expected_listing_date(now)
    missing = store.feeds_missing(session, settings.ingest_specs, due)
    holder = store.lease_holder(session, ingest.INGEST_LEASE)
    next_poll = schedule.next_poll(
        now, caught_up=not missing, interval_min=settings.poll_interval_min
    )
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
        "faq": _faq_status(session, settings, now),
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
    """Last run per feed, counts, recent failures and the next scheduled poll."""
    return snapshot(session, settings, request.app.state.scheduler_enabled)
