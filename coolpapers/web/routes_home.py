"""/ — archives and categories with names, the latest day's counts, feeds and a date picker."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from coolpapers import store, taxonomy
from coolpapers.web import lists
from coolpapers.web.deps import SessionDep, TemplatesDep

router = APIRouter()


@router.get("/", include_in_schema=False)
def home(request: Request, session: SessionDep, templates: TemplatesDep) -> Response:
    day = store.newest_listing_day(session)
    counts = store.category_counts(session, day) if day else {}
    context = {"groups": taxonomy.groups(), "day": day, "counts": counts}
    return templates.TemplateResponse(request, "home.html", context)


@router.get("/go", include_in_schema=False)
def go(spec: str = "", date: str = "") -> Response:
    """The home page's chooser (works without JavaScript): validate, then redirect."""
    text = spec.strip().replace(" ", "")
    if lists.parse_id_list(text) is None:
        text = lists.parse_list_spec(text).text()
    params = lists.parse_params(date, None, None, None, None, 1)
    suffix = f"?date={params.day.isoformat()}" if params.day else ""
    return RedirectResponse(f"/arxiv/{text}{suffix}", status_code=303)
