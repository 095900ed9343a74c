"""/arxiv/search (papers.cool's site search), its Atom feed and /api/search: query parameters
in, ``coolpapers.search.find`` (the one door to search), a page or JSON out."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import search
from coolpapers.config import Settings
from coolpapers.errors import BadInput
from coolpapers.identifiers import parse_id
from coolpapers.search.reader import SearchReader
from coolpapers.store import PaperView
from coolpapers.web import process, urls
from coolpapers.web.deps import FactoryDep, SessionDep, SettingsDep, TemplatesDep
from coolpapers.web.lists import parse_fragment
from coolpapers.web.present import JSONBody, found_json
from coolpapers.web.sorts import SEARCH_ORDERS, Sort, parse_sort
from coolpapers.web.templating import atom_response

FEED_SIZE = 50


@dataclass(frozen=True)
class SearchParams:
    sort: str  # relevance | time | clicks | preference
    show: int
    skip: int
    exclude: frozenset[str]
    keywords: tuple[str, ...] = ()  # the preference sort's (❤)


def _int(name: str, text: str | None, default: int, high: int) -> int:
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadInput(f"{name} must be a whole number") from None
    if not 0 <= value <= high:
        raise BadInput(f"{name} must be between 0 and {high}")
    return value


def parse_params(
    sort: str | None, show: str | None, skip: str | None, exclude: str | None = None
) -> SearchParams:
    """``?sort=&show=&skip=&exclude=`` of the page, the feed and the API (400 when odd):
    ``sort`` is relevance (the default), time (0), clicks (1) or preference keywords
    (``kw1,kw2,…``, see ``web.sorts``)."""
    order = parse_sort(sort, SEARCH_ORDERS)
    return SearchParams(
        order.name,
        max(1, _int("show", show, search.SHOW_DEFAULT, search.SHOW_MAX)),
        _int("skip", skip, 0, search.RESULTS_MAX),
        frozenset(parse_id(x).id for x in (exclude or "").split(",") if x.strip()),
        order.keywords,
    )


def _find(session: Session, reader: SearchReader, text: str, p: SearchParams) -> search.Found:
    return search.find(
        session,
        reader,
        text,
        sort=p.sort,
        show=p.show,
        skip=p.skip,
        exclude=p.exclude,
        keywords=p.keywords,
    )


@dataclass(frozen=True)
class SearchLinks:
    """The links of one search page: the same query in each order, the next slice."""

    query: str
    found: search.Found
    highlight: bool
    exclude: str

    @property
    def sort_param(self) -> str | None:
        return Sort(self.found.sort, self.found.keywords).param

    def sort_url(self, sort: str | None) -> str:
        """The search in another order (``sort``: its URL value), from #1."""
        return urls.search(self.query, sort=sort, highlight=self.highlight, exclude=self.exclude)

    def more_url(self, *, fragment: bool = False) -> str | None:
        """The next slice (None past the last match or the first RESULTS_MAX)."""
        f = self.found
        following = f.skip + len(f.papers)
        if not f.papers or following >= min(f.total, search.RESULTS_MAX):
            return None
        return urls.search(
            self.query,
            sort=self.sort_param,
            skip=following,
            show=f.show,
            highlight=self.highlight,
            exclude=self.exclude or None,
            fragment=fragment,
        )

    def cards(self) -> list[tuple[PaperView, None, int]]:
        return [(p, None, self.found.skip + n) for n, p in enumerate(self.found.papers, 1)]


def _reader(request: Request) -> SearchReader:
    reader: SearchReader = request.app.state.search_reader
    return reader


async def search_page(
    request: Request,
    factory: FactoryDep,
    templates: TemplatesDep,
    query: str = "",
    sort: str | None = None,
    show: str | None = None,
    skip: str | None = None,
    highlight: str | None = None,
    exclude: str | None = None,
    fragment: str | None = None,
) -> Response:
    """The page, or with ``fragment=1`` its cards alone (lazy loading, as on the lists)."""
    cards_only = parse_fragment(fragment)
    params = parse_params(sort, show, skip, exclude)
    marked, excluded = highlight == "1", exclude or ""
    # All of it in one trip to a render thread, as api_search
    return await process.on_render_thread(
        request, _page, request, factory, templates, query, params, marked, excluded, cards_only
    )


def _page(
    request: Request,
    factory: sessionmaker[Session],
    templates: Jinja2Templates,
    query: str,
    params: SearchParams,
    highlight: bool,
    exclude: str,
    cards_only: bool,
) -> Response:
    with factory() as session:
        found = _find(session, _reader(request), query, params)
        if found.query.paper_id:
            return RedirectResponse(urls.paper(found.query.paper_id), status_code=303)
        links = SearchLinks(query, found, highlight, exclude)
        status = 503 if found.unavailable and found.unavailable.status is None else 200
        if cards_only:
            if found.unavailable is not None:
                raise found.unavailable
            cards: dict[str, object] = {
                "cards": links.cards(),
                "terms": found.terms if links.highlight else None,
                "more": links.more_url(fragment=True),
                "total": min(found.total, search.RESULTS_MAX),
            }
            return templates.TemplateResponse(request, "_cards.html", cards)
        context = {
            "found": found,
            "query": links.query,
            "highlight": links.highlight,
            "exclude": links.exclude,
            "links": links,
        }
        return templates.TemplateResponse(request, "search.html", context, status_code=status)


def search_feed(
    request: Request, session: SessionDep, templates: TemplatesDep, query: str = ""
) -> Response:
    """The newest matches of ``query``, as Atom."""
    params = SearchParams("time", FEED_SIZE, 0, frozenset())
    found = _find(session, _reader(request), query, params)
    if found.unavailable is not None:
        raise found.unavailable
    entries: list[tuple[PaperView, str | None]] = [(p, None) for p in found.papers]
    return atom_response(
        request,
        templates,
        title=f"Search: {query[:200]}",
        path=urls.search(query),
        self_path=urls.search_feed(query),
        entries=entries,
    )


def _answer(
    factory: sessionmaker[Session],
    reader: SearchReader,
    settings: Settings,
    text: str,
    params: SearchParams,
) -> JSONBody:
    with factory() as session:
        found = _find(session, reader, text, params)
        if found.unavailable is not None:
            raise found.unavailable
        return JSONBody(found_json(text, found, settings))


async def api_search(
    request: Request,
    factory: FactoryDep,
    settings: SettingsDep,
    query: str = "",
    sort: str | None = None,
    show: str | None = None,
    skip: str | None = None,
) -> Response:
    """Search titles and abstracts (BM25): words, "phrases", -exclusions, OR, prefix*,
    ti: au: abs: cat:, after: before:; a bare arXiv id names that paper. `sort`: relevance,
    time (or 0), clicks (or 1), or preference keywords `kw1,kw2,…` (the first 1,000 matches
    ranked by the keywords' score; one keyword: `kw,`)."""
    params = parse_params(sort, show, skip)
    # All of it in one trip to a render thread (web.process): a sync route with a session
    # dependency makes three trips to the thread pool (the dependency's enter and exit, the
    # handler), ~0.1 ms each, and under load each one queues again behind the renders.
    return await process.on_render_thread(
        request, _answer, factory, _reader(request), settings, query, params
    )


def router() -> APIRouter:
    r = APIRouter()
    r.get("/arxiv/search", include_in_schema=False)(search_page)
    r.get("/arxiv/search/feed", include_in_schema=False)(search_feed)
    r.get("/api/search", tags=["search"], response_model=None)(api_search)
    return r
