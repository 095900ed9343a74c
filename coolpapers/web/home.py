"""/ — archives and categories with names, the latest day's counts, feeds and a date picker;
the script adds the tri-state chooser and the Track section (preferences, word cloud)."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from coolpapers import store, taxonomy
from coolpapers.web import lists, paper, urls
from coolpapers.web.deps import SessionDep, TemplatesDep


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
        # the tri-state chooser (static/js/home.js) builds /arxiv/a+b-c from this prefix and the
        # boxes' canonical ids, so an alias (cs.NA, listed under cs) and its category (math.NA)
        # are one box state
        "list_prefix": urls.day_list(""),
        "canonical": taxonomy.canonical,
        "max_spec_terms": taxonomy.MAX_SPEC_TERMS,
    }
    return templates.TemplateResponse(request, "home.html", context)


def go(spec: str = "", date: str = "") -> Response:
    """The home page's chooser (works without JavaScript): validate, then redirect. Paper ids
    open those papers, as the same text would in the address bar."""
    text = spec.strip().replace(" ", "")
    if re.fullmatch(urls.ID_LIST_RE, text):
        ids = list(dict.fromkeys(a.id for a in paper.parse_ids(text)))
        return RedirectResponse(urls.papers(ids), status_code=303)
    params = lists.parse_params(date, None, None, None, None, 1)
    target = urls.day_list(lists.parse_list_spec(text).text(), date=params.day)
    return RedirectResponse(target, status_code=303)


def router() -> APIRouter:
    r = APIRouter()
    r.get("/", include_in_schema=False)(home)
    r.get("/go", include_in_schema=False)(go)
    return r
