"""/arxiv/{spec} (a day of a category union, or papers by id), its Atom feed and JSON twins,
and arXiv-compatible /abs/ and /pdf/ paths."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from coolpapers import store
from coolpapers.identifiers import canonical_str, parse_id
from coolpapers.summarize.prompts import LANGS
from coolpapers.web import lists
from coolpapers.web.deps import (
    FactoryDep,
    FetcherDep,
    ListParamsDep,
    SessionDep,
    SettingsDep,
    TemplatesDep,
)
from coolpapers.web.present import JSONBody, paper_json, read_faq
from coolpapers.web.templating import atom_response

router = APIRouter()

FEED_MAX = 2000


@router.get("/abs/{paper_id:path}", include_in_schema=False)
def abs_redirect(paper_id: str) -> Response:
    return RedirectResponse(f"/arxiv/{parse_id(paper_id).id}", status_code=301)


@router.get("/pdf/{paper_id:path}", include_in_schema=False)
def pdf_redirect(paper_id: str, settings: SettingsDep) -> Response:
    return RedirectResponse(f"{settings.arxiv_web_url}/pdf/{canonical_str(parse_id(paper_id))}")


@router.get("/arxiv/{spec:path}", include_in_schema=False)
def arxiv_page(
    request: Request,
    spec: str,
    session: SessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    factory: FactoryDep,
    fetcher: FetcherDep,
    params: ListParamsDep,
) -> Response:
    if spec.endswith("/feed"):
        return _feed(request, spec.removesuffix("/feed"), session, templates)
    ids = lists.parse_id_list(spec)
    if ids is not None:
        canonical = ",".join(a.id for a in ids)
        if canonical != spec:
            query = f"?{request.url.query}" if request.url.query else ""
            return RedirectResponse(f"/arxiv/{canonical}{query}", status_code=301)
        papers = lists.load_papers(session, factory, fetcher, settings, ids)
        if len(ids) == 1:
            context = {
                "paper": papers[0],
                "listings": store.paper_listings(session, ids[0].id),
                "faqs": {lang: read_faq(session, settings, ids[0].id, lang) for lang in LANGS},
            }
            return templates.TemplateResponse(request, "paper.html", context)
        return templates.TemplateResponse(request, "papers.html", {"papers": papers})
    page = lists.load_day(session, lists.parse_list_spec(spec), params)
    return templates.TemplateResponse(request, "list.html", {"page": page})


def _feed(
    request: Request, spec_text: str, session: Session, templates: Jinja2Templates
) -> Response:
    spec = lists.parse_list_spec(spec_text)
    params = lists.ListParams(None, FEED_MAX, 0, False, "arxiv")
    page = lists.load_day(session, spec, params)
    updated = datetime.combine(page.day, datetime.min.time(), UTC) if page.day else None
    entries = page.listing.papers if page.listing else []
    path = f"/arxiv/{page.spec.text()}"
    return atom_response(
        request, templates, title=page.title, path=path, entries=entries, updated=updated
    )


@router.get("/api/arxiv/{spec:path}", tags=["arxiv"], response_model=None)
def api_list(
    spec: str,
    session: SessionDep,
    settings: SettingsDep,
    factory: FactoryDep,
    fetcher: FetcherDep,
    params: ListParamsDep,
) -> JSONBody:
    """A day of a category spec (new + cross, `replace=1` adds replacements), or papers by id."""
    ids = lists.parse_id_list(spec)
    if ids is not None:
        papers = lists.load_papers(session, factory, fetcher, settings, ids)
        shown = papers[params.skip : params.skip + params.show]
        return JSONBody(
            {
                "spec": ",".join(a.id for a in ids),
                "date": None,
                "total": len(papers),
                "papers": [paper_json(p, settings) for p in shown],
            }
        )
    page = lists.load_day(session, lists.parse_list_spec(spec), params)
    listing = page.listing
    return JSONBody(
        {
            "spec": page.spec.text(),
            "date": page.day,
            "total": listing.total if listing else 0,
            "counts": listing.counts if listing else {},
            "previous_date": page.previous,
            "next_date": page.following,
            "papers": [paper_json(p, settings, t) for p, t in listing.papers] if listing else [],
        }
    )


@router.get("/api/papers/{paper_id:path}", tags=["papers"], response_model=None)
def api_paper(
    paper_id: str,
    session: SessionDep,
    settings: SettingsDep,
    factory: FactoryDep,
    fetcher: FetcherDep,
) -> JSONBody:
    """One paper by arXiv id (fetched from arXiv on demand when not stored)."""
    arxiv_id = parse_id(paper_id)
    paper = lists.load_papers(session, factory, fetcher, settings, [arxiv_id])[0]
    return JSONBody(paper_json(paper, settings))
