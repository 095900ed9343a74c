"""/stars (every paper starred in this browser) and /api/bibtex (BibTeX of a list of papers).

A reader's stars live in the browser (static/js/stars.js) until accounts move them to the
server: /stars is a page that the script fills from the browser's store, fetching the cards
from the comma-id page. /api/bibtex is what the star list's BibTeX link downloads."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from coolpapers import store
from coolpapers.errors import BadId, BadInput
from coolpapers.identifiers import parse_id
from coolpapers.store import PaperView
from coolpapers.web import bibtex
from coolpapers.web.deps import SessionDep, SettingsDep, TemplatesDep
from coolpapers.web.urls import ArxivLinks

MAX_BIBTEX_IDS = 500  # a star list is tens; this bounds one request's reads and its answer
BIBTEX_TYPE = "text/x-bibtex; charset=utf-8"


def parse_bibtex_ids(text: str) -> list[str]:
    """Canonical, versionless ids of ``a,b,…`` in their order, each once (400 when malformed,
    empty or too many)."""
    parts = [p.strip() for p in text.split(",")]
    parts = [p for p in parts if p]
    if not parts:
        raise BadInput("ids: give arXiv ids joined by commas, e.g. ids=2401.00001,2401.00002")
    if len(parts) > MAX_BIBTEX_IDS:
        raise BadInput(f"ids: at most {MAX_BIBTEX_IDS} papers at once ({len(parts)} given)")
    ids: list[str] = []
    for part in parts:
        try:
            ids.append(parse_id(part).id)
        except BadId as exc:
            raise BadInput(f"ids: {exc}") from None
    return list(dict.fromkeys(ids))


def _filename(ids: list[str]) -> str:
    # ASCII by construction (canonical ids): no RFC 5987 encoding needed
    return (ids[0].replace("/", "-") if len(ids) == 1 else f"coolpapers-{len(ids)}-papers") + ".bib"


def bibtex_file(ids: str, session: SessionDep, settings: SettingsDep) -> Response:
    """BibTeX (`@misc`, arXiv's style) of the papers `ids=a,b,…` (at most 500), in that order;
    ids this site does not know are skipped with an `@comment`."""
    wanted = parse_bibtex_ids(ids)
    found = store.paper_rows(session, wanted)
    papers: list[PaperView | str] = [found.get(i, i) for i in wanted]
    body = bibtex.bibliography(papers, abs_url=ArxivLinks(settings.arxiv_web_url).abs)
    disposition = f'attachment; filename="{_filename(wanted)}"'
    return Response(body, media_type=BIBTEX_TYPE, headers={"Content-Disposition": disposition})


def stars_page(request: Request, templates: TemplatesDep) -> Response:
    return templates.TemplateResponse(request, "stars.html", {})


def router() -> APIRouter:
    r = APIRouter()
    r.get("/stars", include_in_schema=False)(stars_page)
    r.get("/api/bibtex", tags=["papers"], response_class=Response)(bibtex_file)
    return r
