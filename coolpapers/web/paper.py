"""Papers by id: /arxiv/<id> (the paper page), /arxiv/<id>,<id>,… (several on one page), their
JSON twins /api/papers/<id> and /api/arxiv/<id>,…, and arXiv's own /abs/ and /pdf/ paths.

Ids we do not have come from the pipeline (``ingest.ensure_papers``): a handful are fetched
inside the request, more are queued and the page says so. Paths of the ``id_list`` and
``paper_id`` shapes only (``web.urls``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from coolpapers import ingest, store
from coolpapers.config import Settings
from coolpapers.errors import BadInput, NoSuchPaper
from coolpapers.identifiers import ArxivId, canonical_str, parse_id
from coolpapers.models import Paper
from coolpapers.summarize.prompts import LANGS
from coolpapers.web import process, urls
from coolpapers.web.deps import (
    FactoryDep,
    ListParamsDep,
    PipelineDep,
    SessionDep,
    SettingsDep,
    TemplatesDep,
)
from coolpapers.web.lists import ListParams, parse_fragment
from coolpapers.web.present import JSONBody, paper_json, read_faqs

MAX_IDS = 1000
_T = TypeVar("_T")


def parse_ids(text: str) -> list[ArxivId]:
    """The ids of ``2401.00001,hep-th/9901001v2``: each must be an arXiv id (400 otherwise)."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) > MAX_IDS:
        raise BadInput(f"at most {MAX_IDS} ids at once")
    return [parse_id(p) for p in parts]


def _unique(ids: list[ArxivId]) -> list[str]:
    return list(dict.fromkeys(a.id for a in ids))


def one_paper(got: ingest.Ensured, paper_id: str) -> Paper:
    """The paper of a single-id request, or why there is none."""
    paper = got.papers.get(paper_id)
    if paper is not None:
        return paper
    if paper_id in got.queued:
        raise NoSuchPaper(f"{paper_id} is being fetched from arXiv; reload in a minute")
    raise NoSuchPaper(f"{paper_id} is not on arXiv")


async def paper_page(
    request: Request,
    ids: str,
    factory: FactoryDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    pipeline: PipelineDep,
    params: ListParamsDep,
    fragment: str | None = None,
) -> Response:
    """One paper's page; several papers (``/arxiv/<id>,<id>,…``) a slice at a time
    (``show``/``skip``, lazy loading the rest); ``fragment=1``: the slice's cards alone."""
    args = (request, factory, settings, templates, pipeline, params, ids, fragment)
    return await _stored_first(request, _paper_page, *args)


async def _stored_first(request: Request, answer: Callable[..., _T | None], *args: Any) -> _T:
    """``answer(*args, may_fetch)`` in one trip (a sync route with a session makes three): on a
    render thread (web.process) when every paper asked for is stored, the common case; else
    on the route threads, where it may wait on arXiv without holding a render thread."""
    stored = await process.on_render_thread(request, answer, *args, False)
    if stored is not None:
        return stored
    fetched = await run_in_threadpool(answer, *args, True)
    if fetched is None:  # never: with may_fetch, ensure_papers answers or raises
        raise RuntimeError("no answer for papers fetched from arXiv")
    return fetched


def _paper_page(
    request: Request,
    factory: sessionmaker[Session],
    settings: Settings,
    templates: Jinja2Templates,
    pipeline: ingest.Pipeline,
    params: ListParams,
    ids: str,
    fragment: str | None,
    may_fetch: bool,
) -> Response | None:
    """The answer; None when a paper is not stored and ``may_fetch`` is false."""
    cards_only = parse_fragment(fragment)
    parsed = parse_ids(ids)
    wanted = _unique(parsed)
    if ",".join(wanted) != ids:  # versions, prefixes, old widths, repeats: the canonical page
        target = urls.papers(wanted, query=request.url.query)
        return RedirectResponse(target, status_code=301)
    with factory() as session:
        got = _ensured(pipeline, session, wanted, may_fetch)
        if got is None:
            return None
        if cards_only or len(wanted) > 1:
            return _several(request, templates, wanted, got, params, cards_only=cards_only)
        paper = one_paper(got, wanted[0])
        # Without an LLM the page says FAQs are off and shows none: they are not read.
        faqs = (
            read_faqs(session, settings, paper.id, LANGS, clicks=paper.faq_clicks)
            if settings.llm_configured
            else {}
        )
        context: dict[str, Any] = {
            "paper": paper,
            "listings": store.paper_listings(session, paper.id),
            "faqs": faqs,
        }
        return templates.TemplateResponse(request, "paper.html", context)


def _several(
    request: Request,
    templates: Jinja2Templates,
    wanted: list[str],
    got: ingest.Ensured,
    params: ListParams,
    *,
    cards_only: bool,
) -> Response:
    """The comma-id page's slice of the papers at hand (numbered among them), or its cards."""
    papers = [got.papers[i] for i in wanted if i in got.papers]
    shown = papers[params.skip : params.skip + params.show]
    following = params.skip + len(shown)
    more = None
    if shown and following < len(papers):
        more = urls.papers(wanted, skip=following, show=params.show, fragment=cards_only)
    context: dict[str, Any] = {
        "cards": [(p, None, params.skip + n) for n, p in enumerate(shown, 1)],
        "total": len(papers),
        "more": more,
    }
    if cards_only:
        return templates.TemplateResponse(request, "_cards.html", {**context, "terms": None})
    context.update(queued=got.queued, not_found=got.not_found)
    return templates.TemplateResponse(request, "papers.html", context)


def api_papers(
    ids: str,
    session: SessionDep,
    settings: SettingsDep,
    pipeline: PipelineDep,
    params: ListParamsDep,
) -> JSONBody:
    """Papers by id (`/api/arxiv/2401.00001,2401.00002`): the ones stored or fetched now; the
    rest are `queued` (fetched from arXiv in the background: ask again) or `not_found`."""
    wanted = _unique(parse_ids(ids))
    got = ingest.ensure_papers(pipeline, session, wanted)
    papers = [got.papers[i] for i in wanted if i in got.papers]
    shown = papers[params.skip : params.skip + params.show]
    return JSONBody(
        {
            "spec": ",".join(wanted),
            "date": None,
            "total": len(papers),
            "queued": list(got.queued),
            "not_found": list(got.not_found),
            "papers": [paper_json(p, settings) for p in shown],
        }
    )


async def api_paper(
    request: Request,
    paper_id: str,
    factory: FactoryDep,
    settings: SettingsDep,
    pipeline: PipelineDep,
) -> JSONBody:
    """One paper by arXiv id (fetched from arXiv on demand when not stored)."""
    args = (factory, settings, pipeline, parse_id(paper_id).id)
    return await _stored_first(request, _paper_answer, *args)


def _paper_answer(
    factory: sessionmaker[Session],
    settings: Settings,
    pipeline: ingest.Pipeline,
    arxiv_id: str,
    may_fetch: bool,
) -> JSONBody | None:
    with factory() as session:
        got = _ensured(pipeline, session, [arxiv_id], may_fetch)
        if got is None:
            return None
        return JSONBody(paper_json(one_paper(got, arxiv_id), settings))


def _ensured(
    pipeline: ingest.Pipeline, session: Session, wanted: list[str], may_fetch: bool
) -> ingest.Ensured | None:
    """The papers, fetched from arXiv when ``may_fetch``; else only when all are stored."""
    if may_fetch:
        return ingest.ensure_papers(pipeline, session, wanted)
    return ingest.stored_papers(session, wanted)


def abs_redirect(paper_id: str) -> Response:
    return RedirectResponse(urls.paper(parse_id(paper_id).id), status_code=301)


def pdf_redirect(paper_id: str, settings: SettingsDep) -> Response:
    arxiv = urls.ArxivLinks(settings.arxiv_web_url)
    return RedirectResponse(arxiv.pdf(canonical_str(parse_id(paper_id))))


def router() -> APIRouter:
    """Built on demand: the path shapes are registered by ``create_app`` first. /abs/ and /pdf/
    take any path (nothing else starts so): a malformed id there is a clear 400."""
    r = APIRouter()
    r.get("/arxiv/{ids:id_list}", include_in_schema=False)(paper_page)
    # the same path as a list spec's in OpenAPI terms (/api/arxiv/{spec}), which documents both
    r.get("/api/arxiv/{ids:id_list}", include_in_schema=False)(api_papers)
    r.get("/api/papers/{paper_id:paper_id}", tags=["papers"], response_model=None)(api_paper)
    r.get("/abs/{paper_id:path}", include_in_schema=False)(abs_redirect)
    r.get("/pdf/{paper_id:path}", include_in_schema=False)(pdf_redirect)
    return r
