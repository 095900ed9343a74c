"""/stars (every paper you starred), a member's stars as JSON, and /api/bibtex.

Where the stars live: in the browser (static/js/stars.js, localStorage) for a visitor, on the
server for a logged-in member of a lab's instance (``COOLPAPERS_AUTH`` on). The JSON is the
member's own, and only theirs:

- ``GET /api/stars`` → ``{"papers": [{"id", "starred_at", …Paper}]}``, newest star first
  (``?brief=1``: only ``id``, ``starred_at`` and ``title``, what a page's script needs);
- ``PUT /api/stars/{id}`` → ``{"id", "starred": true, "starred_at"}`` (starring a starred
  paper keeps its first time), ``DELETE /api/stars/{id}`` → ``{"id", "starred": false}``:
  idempotent, 404 for a paper this site does not store;
- ``POST /api/stars/import`` ``{"stars": [{"id", "at"}]}`` (at most 1000) → ``{"imported",
  "added", "skipped"}``: a browser's stars on a member's first login; a paper starred on both
  keeps the earlier time; ids that are not papers of this site are skipped and named.

Members only: 401 for a visitor, 404 when the site has no accounts (``COOLPAPERS_AUTH=none``).
/stars is a page the script fills (the cards are the comma-id page's); for a member the page
says the stars are kept in their account, and lists them for a browser without the script.
/api/bibtex is what the star list's BibTeX link downloads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from coolpapers import store
from coolpapers.db import session_scope
from coolpapers.errors import BadId, BadInput, NotFound
from coolpapers.identifiers import parse_id
from coolpapers.models import utcnow
from coolpapers.store import Member, PaperView
from coolpapers.web import bibtex, bodies
from coolpapers.web.auth import MemberDep, RequireMember
from coolpapers.web.deps import FactoryDep, SessionDep, SettingsDep, TemplatesDep
from coolpapers.web.present import JSONBody, paper_json
from coolpapers.web.urls import ArxivLinks

MAX_ID_LEN = 300  # what identifiers.parse_id reads at most
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


def stars_page(
    request: Request,
    templates: TemplatesDep,
    member: MemberDep,
    session: SessionDep,
) -> Response:
    """The script lists the stars (the browser's, or the member's from /api/stars); for a
    member the page also lists them itself, for a browser without the script."""
    starred = store.star_times(session, member.id) if member is not None else []
    titles = store.paper_rows(session, [i for i, _ in starred]) if starred else {}
    listed = [(i, titles[i].title if i in titles else i, at) for i, at in starred]
    return templates.TemplateResponse(request, "stars.html", {"starred": listed})


# ---------------------------------------------------------------- a member's stars (JSON)

MAX_IMPORT = 1000  # stars in one import: a browser's list is tens; the script sends batches
MAX_IMPORT_BYTES = 512 * 1024  # 1000 stars of long ids and times, with the JSON around them


class ImportedStar(BaseModel):
    """One star of a browser's store: the paper and when it was starred there (if known)."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(max_length=MAX_ID_LEN)
    at: datetime | None = None


class StarImport(BaseModel):
    model_config = ConfigDict(extra="ignore")

    stars: list[ImportedStar] = Field(max_length=MAX_IMPORT)


def _stored_paper(session: Session, paper_id: str) -> str:
    """The canonical id of a paper this site stores (400 when not an id, 404 when unknown)."""
    pid = parse_id(paper_id).id
    if not store.known_papers(session, [pid]):
        raise NotFound(f"no paper {pid} on this site")
    return pid


def api_stars(
    member: RequireMember, session: SessionDep, settings: SettingsDep, brief: bool = False
) -> Response:
    """The member's starred papers, newest star first (``brief=1``: id, time and title)."""
    papers: list[dict[str, Any]] = []
    for starred in store.stars_of(session, member.id):
        item: dict[str, Any]
        if brief:
            item = {"id": starred.paper.id, "title": starred.paper.title}
        else:
            item = paper_json(starred.paper, settings)
        item["starred_at"] = starred.starred_at
        papers.append(item)
    return JSONBody({"papers": papers})


def api_star(paper_id: str, member: RequireMember, factory: FactoryDep) -> Response:
    """Star a paper (again: it keeps its first time)."""
    with session_scope(factory, write=True) as s:
        pid = _stored_paper(s, paper_id)
        starred_at = store.star(s, member.id, pid, utcnow())
    return JSONBody({"id": pid, "starred": True, "starred_at": starred_at})


def api_unstar(paper_id: str, member: RequireMember, factory: FactoryDep) -> Response:
    """Un-star a paper (not starred: nothing to do, same answer)."""
    with session_scope(factory, write=True) as s:
        pid = _stored_paper(s, paper_id)
        store.unstar(s, member.id, pid)
    return JSONBody({"id": pid, "starred": False})


def _import(factory: sessionmaker[Session], member: Member, body: StarImport) -> dict[str, Any]:
    now = utcnow()
    wanted: dict[str, datetime] = {}
    skipped: list[str] = []
    for entry in body.stars:
        try:
            pid = parse_id(entry.id).id
        except BadInput:
            skipped.append(entry.id)
            continue
        at = entry.at or now
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at  # naive: UTC, as written
        wanted[pid] = min(at, wanted.get(pid, at))
    with session_scope(factory, write=True) as s:
        known = set(store.known_papers(s, wanted))
        skipped += [i for i in wanted if i not in known]
        stars = [(i, at) for i, at in wanted.items() if i in known]
        added = store.import_stars(s, member.id, stars, now)
    return {"imported": len(stars), "added": added, "skipped": skipped}


async def api_import_stars(
    request: Request, member: RequireMember, factory: FactoryDep
) -> Response:
    """Star the papers of a browser's store: `{"stars": [{"id", "at"}]}` (at most 1000; `at`
    ISO 8601, or null when unknown). `imported`: the stars now in your account (`added` of
    them new); `skipped`: the ids that are no paper of this site."""
    body = await bodies.read_json(request, StarImport, MAX_IMPORT_BYTES)
    return JSONBody(await run_in_threadpool(_import, factory, member, body))


def router() -> APIRouter:
    r = APIRouter()
    r.get("/stars", include_in_schema=False)(stars_page)
    r.get("/api/bibtex", tags=["papers"], response_class=Response)(bibtex_file)
    r.get("/api/stars", tags=["stars"], response_class=Response)(api_stars)
    r.put("/api/stars/{paper_id:paper_id}", tags=["stars"], response_class=Response)(api_star)
    r.delete("/api/stars/{paper_id:paper_id}", tags=["stars"], response_class=Response)(api_unstar)
    r.post(
        "/api/stars/import",
        tags=["stars"],
        response_class=Response,
        openapi_extra=bodies.openapi_body(StarImport),
    )(api_import_stars)
    return r
