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
    feeds = [f.feed for f in store.feed_days(session, day)] if day else []
    covered = lists.feeds_coverage(feeds)
    # Counts only for categories whose own feed came in that day: elsewhere they would count
    # just the cross-lists that other feeds happened to carry.
    counts = store.category_counts(session, day) if day else {}
    counts = {c: n for c, n in counts.items() if c in covered}
    latest_spec = ",".join(sorted(dict.fromkeys(f.replace("+", ",") for f in feeds))) or "cs"
    context = {
        "groups": taxonomy.groups(),
        "day": day,
        "counts": counts,
        "latest_spec": latest_spec,
    }
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
