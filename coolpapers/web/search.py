"""/arxiv/search (papers.cool's site search), its Atom feed and /api/search."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from coolpapers import store
from coolpapers.config import Settings
from coolpapers.errors import BadInput
from coolpapers.identifiers import parse_id
from coolpapers.search.ast import SearchQuery
from coolpapers.search.query import parse_query
from coolpapers.search.reader import IndexUnavailable, SearchReader
from coolpapers.store import PaperView
from coolpapers.web.deps import FactoryDep, SessionDep, SettingsDep, TemplatesDep
from coolpapers.web.present import JSONBody, paper_json
from coolpapers.web.templating import atom_response

router = APIRouter()

SORTS = {"": "relevance", "relevance": "relevance", "time": "time", "0": "time", "stars": "stars"}
SHOW_DEFAULT, SHOW_MAX = 25, 100
RESULTS_MAX = 1000  # papers.cool's cap; the total still counts every match
FEED_SIZE = 50


@dataclass
class Found:
    query: SearchQuery
    total: int
    papers: list[PaperView]
    terms: tuple[str, ...]
    sort: str
    show: int
    skip: int
    unavailable: IndexUnavailable | None = None


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


def _excluded(exclude: str | None) -> set[str]:
    return {parse_id(x).id for x in (exclude or "").split(",") if x.strip()}


def run_search(
    session: Session,
    reader: SearchReader,
    text: str,
    *,
    sort: str | None,
    show: str | None,
    skip: str | None,
    exclude: str | None = None,
) -> Found:
    """Parse, search the index, load the page's papers from the database (in result order)."""
    if (sort or "") not in SORTS:
        raise BadInput("sort must be relevance, time or stars")
    order = SORTS[sort or ""]
    n_show = max(1, _int("show", show, SHOW_DEFAULT, SHOW_MAX))
    n_skip = _int("skip", skip, 0, RESULTS_MAX)
    query = parse_query(text)
    found = Found(query, 0, [], (), order, n_show, n_skip)
    if query.empty or query.paper_id:
        return found
    skip_ids = _excluded(exclude)
    try:
        if order == "stars":  # click counts live in the database: rank the top matches there
            result = reader.search(query, limit=RESULTS_MAX, offset=0, sort="relevance")
            ids = [h.id for h in result.hits if h.id not in skip_ids]
            clicks = store.faq_clicks(session, ids)
            ids.sort(key=lambda i: -clicks.get(i, 0))  # stable: ties stay by relevance
            ids = ids[n_skip : n_skip + n_show]
            papers = store.paper_rows(session, ids)
        else:
            want = n_show + len(skip_ids)
            result = reader.search(query, limit=want, offset=n_skip, sort=order)
            ids = [h.id for h in result.hits if h.id not in skip_ids][:n_show]
            papers = store.paper_rows(session, ids)
    except IndexUnavailable as exc:
        found.unavailable = exc
        return found
    found.total = max(0, result.total - len(skip_ids & {h.id for h in result.hits}))
    found.papers = [papers[i] for i in ids if i in papers]
    found.terms = result.terms
    return found


def _reader(request: Request) -> SearchReader:
    reader: SearchReader = request.app.state.search_reader
    return reader


@router.get("/arxiv/search", include_in_schema=False)
def search_page(
    request: Request,
    session: SessionDep,
    templates: TemplatesDep,
    query: str = "",
    sort: str | None = None,
    show: str | None = None,
    skip: str | None = None,
    highlight: str | None = None,
    exclude: str | None = None,
) -> Response:
    found = run_search(
        session, _reader(request), query, sort=sort, show=show, skip=skip, exclude=exclude
    )
    if found.query.paper_id:
        return RedirectResponse(f"/arxiv/{found.query.paper_id}", status_code=303)
    context = {
        "found": found,
        "query": query,
        "highlight": highlight == "1",
        "exclude": exclude or "",
    }
    status = 503 if found.unavailable and found.unavailable.status is None else 200
    return templates.TemplateResponse(request, "search.html", context, status_code=status)


@router.get("/arxiv/search/feed", include_in_schema=False)
def search_feed(
    request: Request, session: SessionDep, templates: TemplatesDep, query: str = ""
) -> Response:
    found = run_search(
        session, _reader(request), query, sort="time", show=str(FEED_SIZE), skip=None
    )
    if found.unavailable is not None:
        raise found.unavailable
    entries: list[tuple[PaperView, str | None]] = [(p, None) for p in found.papers]
    path = f"/arxiv/search?query={quote(query)}"
    return atom_response(
        request, templates, title=f"Search: {query[:200]}", path=path, entries=entries
    )


def search_json(
    factory: sessionmaker[Session],
    reader: SearchReader,
    settings: Settings,
    text: str,
    *,
    sort: str | None,
    show: str | None,
    skip: str | None,
) -> JSONBody:
    with factory() as session:
        found = run_search(session, reader, text, sort=sort, show=show, skip=skip)
        if found.unavailable is not None:
            raise found.unavailable
        return JSONBody(
            {
                "query": text,
                "sort": found.sort,
                "total": found.total,
                "paper_id": found.query.paper_id,
                "terms": list(found.terms),
                "papers": [paper_json(p, settings) for p in found.papers],
            }
        )


@router.get("/api/search", tags=["search"], response_model=None)
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
    ti: au: abs: cat:, after: before:; a bare arXiv id names that paper."""
    # All of it in one trip to the thread pool: a sync route with a session dependency makes
    # three (the dependency's enter and exit, the handler), ~0.1 ms each.
    return await run_in_threadpool(
        search_json,
        factory,
        _reader(request),
        settings,
        query,
        sort=sort,
        show=show,
        skip=skip,
    )
