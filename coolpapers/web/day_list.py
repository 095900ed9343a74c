"""/arxiv/{spec}: a day of a category spec (categories or archives, unions, exclusions), its Atom
feed and its JSON twin. Paths of the ``list_spec`` shape only (``web.urls``): ids, search and
the FAQ form have shapes of their own."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import taxonomy
from coolpapers.config import Settings
from coolpapers.search.reader import SearchReader
from coolpapers.web import lists, process, urls
from coolpapers.web.deps import FactoryDep, ListParamsDep, SettingsDep, TemplatesDep
from coolpapers.web.present import JSONBody, paper_json
from coolpapers.web.templating import atom_response

FEED_MAX = 2000


def search_reader(request: Request) -> SearchReader:
    """The app's search index (it ranks the preference sort)."""
    reader: SearchReader = request.app.state.search_reader
    return reader


# Each route makes one trip to a render thread (web.process), with the session opened there: a
# sync route with a session dependency makes three trips to the thread pool (the dependency's
# enter and exit, the handler), and under load each one queues again behind the renders.


async def day_page(
    request: Request,
    spec: str,
    factory: FactoryDep,
    templates: TemplatesDep,
    params: ListParamsDep,
    fragment: str | None = None,
) -> Response:
    """The page, or with ``fragment=1`` its cards alone (``templates/_cards.html``): what lazy
    loading appends, each fragment naming the next in ``data-more``."""
    cards_only = lists.parse_fragment(fragment)
    parsed = lists.parse_list_spec(spec)
    return await process.on_render_thread(
        request, _day_page, request, factory, templates, parsed, params, cards_only
    )


def _day_page(
    request: Request,
    factory: sessionmaker[Session],
    templates: Jinja2Templates,
    spec: taxonomy.Spec,
    params: lists.ListParams,
    cards_only: bool,
) -> Response:
    with factory() as session:
        page = lists.load_day(
            session, spec, params, search_reader(request), surroundings=not cards_only
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


async def day_feed(
    request: Request, spec: str, factory: FactoryDep, templates: TemplatesDep
) -> Response:
    """The newest day of the spec (every paper of it, up to FEED_MAX), as Atom."""
    parsed = lists.parse_list_spec(spec)
    return await process.on_render_thread(request, _day_feed, request, factory, templates, parsed)


def _day_feed(
    request: Request,
    factory: sessionmaker[Session],
    templates: Jinja2Templates,
    spec: taxonomy.Spec,
) -> Response:
    params = lists.ListParams(None, FEED_MAX, 0, False, "arxiv")
    with factory() as session:
        page = lists.load_day(session, spec, params)
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


async def api_day(
    request: Request,
    spec: str,
    factory: FactoryDep,
    settings: SettingsDep,
    params: ListParamsDep,
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
    parsed = lists.parse_list_spec(spec)
    return await process.on_render_thread(
        request, _api_day, request, factory, settings, parsed, params
    )


def _api_day(
    request: Request,
    factory: sessionmaker[Session],
    settings: Settings,
    spec: taxonomy.Spec,
    params: lists.ListParams,
) -> JSONBody:
    with factory() as session:
        page = lists.load_day(session, spec, params, search_reader(request))
        listing = page.listing
        papers = [paper_json(p, settings, t) for p, t in listing.papers] if listing else []
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
            "papers": papers,
        }
    )


def router() -> APIRouter:
    """Built on demand: the path shapes are registered by ``create_app`` first."""
    r = APIRouter()
    r.get("/arxiv/{spec:list_spec}", include_in_schema=False)(day_page)
    r.get("/arxiv/{spec:list_spec}/feed", include_in_schema=False)(day_feed)
    r.get("/api/arxiv/{spec:list_spec}", tags=["arxiv"], response_model=None)(api_day)
    return r
