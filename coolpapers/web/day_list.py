"""/arxiv/{spec}: a day of a category spec (categories or archives, unions, exclusions), its Atom
feed and its JSON twin. Paths of the ``list_spec`` shape only (``web.urls``): ids, search and
the FAQ form have shapes of their own."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from coolpapers.search.reader import SearchReader
from coolpapers.web import lists, urls
from coolpapers.web.deps import ListParamsDep, SessionDep, SettingsDep, TemplatesDep
from coolpapers.web.present import JSONBody, paper_json
from coolpapers.web.templating import atom_response

FEED_MAX = 2000


def search_reader(request: Request) -> SearchReader:
    """The app's search index (it ranks the preference sort)."""
    reader: SearchReader = request.app.state.search_reader
    return reader


def day_page(
    request: Request,
    spec: str,
    session: SessionDep,
    templates: TemplatesDep,
    params: ListParamsDep,
    fragment: str | None = None,
) -> Response:
    """The page, or with ``fragment=1`` its cards alone (``templates/_cards.html``): what lazy
    loading appends, each fragment naming the next in ``data-more``."""
    cards_only = lists.parse_fragment(fragment)
    parsed = lists.parse_list_spec(spec)
    page = lists.load_day(
        session, parsed, params, search_reader(request), surroundings=not cards_only
    )
    if cards_only:
        context = {
            "cards": page.cards(),
            "terms": None,
            "more": page.more_url(fragment=True),
            "total": page.listing.total if page.listing else 0,
        }
        return templates.TemplateResponse(request, "_cards.html", context)
    return templates.TemplateResponse(request, "list.html", {"page": page})


def day_feed(request: Request, spec: str, session: SessionDep, templates: TemplatesDep) -> Response:
    """The newest day of the spec (every paper of it, up to FEED_MAX), as Atom."""
    parsed = lists.parse_list_spec(spec)
    params = lists.ListParams(None, FEED_MAX, 0, False, "arxiv")
    page = lists.load_day(session, parsed, params)
    updated = datetime.combine(page.day, datetime.min.time(), UTC) if page.day else None
    entries = page.listing.papers if page.listing else []
    text = page.spec.text()
    return atom_response(
        request,
        templates,
        title=page.title,
        path=urls.day_list(text),
        self_path=urls.day_feed(text),
        entries=entries,
        updated=updated,
    )


def api_day(
    request: Request, spec: str, session: SessionDep, settings: SettingsDep, params: ListParamsDep
) -> JSONBody:
    """A day of a category spec: new + cross in arXiv's order (`replace=1` adds replacements;
    `sort=1` orders by clicks, `sort=0` by submission time, `sort=kw1,kw2,…` by preference
    keywords, scored by the search engine; `sort` in the answer is the order given, `arxiv`
    when the search index is not there for the keywords). A spec of arXiv ids
    (`2401.00001,2401.00002`) answers those papers instead, with the ids still being fetched
    from arXiv in `queued` and those arXiv does not have in `not_found`. `derived` is true when
    papers of the day were placed on it from their submission times by arXiv's schedule (a
    history import) rather than read from its feed; `calendar_unknown` when the date asked for
    has no listing because this instance cannot place that period's papers on days."""
    page = lists.load_day(session, lists.parse_list_spec(spec), params, search_reader(request))
    listing = page.listing
    return JSONBody(
        {
            "spec": page.spec.text(),
            "date": page.day,
            "sort": page.sort,
            "total": listing.total if listing else 0,
            "counts": listing.counts if listing else {},
            "previous_date": page.previous,
            "next_date": page.following,
            "derived": page.derived > 0,
            "calendar_unknown": page.calendar_unknown,
            "papers": [paper_json(p, settings, t) for p, t in listing.papers] if listing else [],
        }
    )


def router() -> APIRouter:
    """Built on demand: the path shapes are registered by ``create_app`` first."""
    r = APIRouter()
    r.get("/arxiv/{spec:list_spec}", include_in_schema=False)(day_page)
    r.get("/arxiv/{spec:list_spec}/feed", include_in_schema=False)(day_feed)
    r.get("/api/arxiv/{spec:list_spec}", tags=["arxiv"], response_model=None)(api_day)
    return r
