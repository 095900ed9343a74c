"""The public [PDF]/[FAQ] click counters: one count per visitor, paper and day, rate limited.

``POST /api/papers/{id}/clicks?kind=pdf|faq`` → ``{"id", "pdf_clicks", "faq_clicks",
"counted"}``; 429 (with ``Retry-After`` and the counters) when the visitor is over
``clicks_per_minute``. The page's script calls it when a reader opens a paper's [PDF]; the FAQ
counts its own clicks (``web.faq``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from coolpapers import store
from coolpapers.db import session_scope
from coolpapers.identifiers import parse_id
from coolpapers.models import utcnow
from coolpapers.web import visitors
from coolpapers.web.deps import FactoryDep, SettingsDep
from coolpapers.web.present import JSONBody


def api_count_click(
    request: Request,
    paper_id: str,
    settings: SettingsDep,
    factory: FactoryDep,
    kind: str = "",
) -> Response:
    """Count a click on a paper's [PDF] or [FAQ] (not again today for this visitor)."""
    pid = parse_id(paper_id).id
    visitor, cookie = visitors.identify(request, settings.ensure_secret_key())
    with session_scope(factory, write=True) as s:
        click = store.count_click(s, pid, kind, visitor, utcnow(), settings.clicks_per_minute)
    body = {
        "id": pid,
        "pdf_clicks": click.clicks.pdf,
        "faq_clicks": click.clicks.faq,
        "counted": click.counted,
    }
    if click.limited:
        body["error"] = f"more than {settings.clicks_per_minute} clicks a minute: not counted"
        headers = {"Retry-After": str(click.retry_after_s)}
        response: Response = JSONBody(body, status_code=429, headers=headers)
    else:
        response = JSONBody(body)
    visitors.set_cookie(response, cookie)
    return response


def router() -> APIRouter:
    """Built on demand: the path shapes are registered by ``create_app`` first."""
    r = APIRouter()
    r.post("/api/papers/{paper_id:paper_id}/clicks", tags=["clicks"])(api_count_click)
    return r
