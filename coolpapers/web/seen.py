"""What each member has seen, and what they have not: the cards' "seen" marks and "Mark all
above as read" (static/js/seen.js), and ``/unread/{spec}``, every paper of the spec's last
announcement days the member has not seen (days missed carry over).

Seen is per member and per paper, not per list: a paper seen in cs.LG is seen in cs.AI too.
JSON (members only: 401 anonymous, 404 when the site has no accounts):

- ``GET /api/seen?ids=a,b`` (at most 500) → ``{"seen": [ids]}``: those of them you have seen.
- ``POST /api/seen`` ``{"ids": [...]}`` (1 to 500 arXiv ids) → ``{"seen": n}``: marks them
  seen; ``n`` counts the given papers now seen. Ids of papers this site does not store are
  ignored (not counted; no 404: a page's cards may outlive a paper). Idempotent: a paper seen
  before keeps its first time.
- ``DELETE /api/seen`` ``{"ids": [...]}`` → ``{"unseen": n}``: back to unread, likewise.
- ``GET /api/unread/{spec}?show=&skip=`` → ``{"spec", "total", "since", "days": [{"date",
  "count"}], "papers": [Paper + "date"]}``: the JSON twin of ``/unread/{spec}``.

A malformed id, an empty or too long list, or a field other than ``ids`` is a 400.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import store, taxonomy
from coolpapers.db import session_scope
from coolpapers.errors import BadId, BadInput
from coolpapers.identifiers import parse_id
from coolpapers.models import utcnow
from coolpapers.store import Member
from coolpapers.web import bodies, lists, urls
from coolpapers.web.auth import RequireMember
from coolpapers.web.deps import FactoryDep, SessionDep, SettingsDep, TemplatesDep
from coolpapers.web.present import JSONBody, paper_json

MAX_SEEN_IDS = 500  # a page's worth of cards and then some: "mark all above" on a long day
MAX_ID_CHARS = 64  # an arXiv id in any spelling ("arXiv:hep-th/9901001v12") is far shorter
MAX_SEEN_REQUEST_BYTES = 64 * 1024  # 500 ids of 64 characters, with the JSON around them
UNREAD_SHOW = 100  # cards of /unread/{spec} unless ?show= says otherwise


class SeenIds(BaseModel):
    """What POST and DELETE /api/seen accept: ``ids`` and nothing else."""

    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[StrictStr, Field(max_length=MAX_ID_CHARS)]] = Field(
        min_length=1, max_length=MAX_SEEN_IDS
    )


def canonical_ids(texts: list[str]) -> list[str]:
    """Canonical, versionless ids, each once, in their order (400 when one is not an id)."""
    try:
        return list(dict.fromkeys(parse_id(t).id for t in texts))
    except BadId as exc:
        raise BadInput(f"ids: {exc}") from None


def parse_query_ids(text: str) -> list[str]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise BadInput("ids: give arXiv ids joined by commas, e.g. ids=2401.00001,2401.00002")
    if len(parts) > MAX_SEEN_IDS:
        raise BadInput(f"ids: at most {MAX_SEEN_IDS} papers at once ({len(parts)} given)")
    return canonical_ids(parts)


async def _read_ids(request: Request) -> list[str]:
    """The body's ids: refused (413) past ``MAX_SEEN_REQUEST_BYTES`` before more is read."""
    body = await bodies.read_json(request, SeenIds, MAX_SEEN_REQUEST_BYTES)
    return canonical_ids(body.ids)


def api_seen(
    member: RequireMember,
    session: SessionDep,
    ids: Annotated[str, Query(max_length=MAX_SEEN_IDS * (MAX_ID_CHARS + 1))],
) -> Response:
    """Which of the papers `ids=a,b,…` (at most 500) you have seen, in the order asked."""
    wanted = parse_query_ids(ids)
    found = store.seen_among(session, member.id, wanted)
    return JSONBody({"seen": [i for i in wanted if i in found]})


def _mark(factory: sessionmaker[Session], member: Member, ids: list[str]) -> int:
    with session_scope(factory, write=True) as s:
        return len(store.mark_seen(s, member.id, ids, utcnow()))


def _unmark(factory: sessionmaker[Session], member: Member, ids: list[str]) -> int:
    with session_scope(factory, write=True) as s:
        return len(store.unmark_seen(s, member.id, ids))


async def api_mark_seen(request: Request, member: RequireMember, factory: FactoryDep) -> Response:
    """Mark papers seen: `{"ids": [...]}` (1 to 500). `seen` counts those of them this site
    stores (each now seen); others are ignored. Idempotent."""
    ids = await _read_ids(request)
    return JSONBody({"seen": await run_in_threadpool(_mark, factory, member, ids)})


async def api_unmark_seen(request: Request, member: RequireMember, factory: FactoryDep) -> Response:
    """Back to unread: `{"ids": [...]}` (1 to 500); `unseen` counts those this site stores."""
    ids = await _read_ids(request)
    return JSONBody({"unseen": await run_in_threadpool(_unmark, factory, member, ids)})


def _show_skip(show: str | None, skip: str | None) -> tuple[int, int]:
    params = lists.parse_params(None, show, skip, None, None, UNREAD_SHOW)
    return params.show, params.skip


def _unread(
    session: Session, member: Member, spec: str, show: str | None, skip: str | None
) -> tuple[taxonomy.Spec, store.Unread, int]:
    parsed = lists.parse_list_spec(spec)
    n_show, n_skip = _show_skip(show, skip)
    found = store.unread(session, member.id, lists.spec_filter(parsed), show=n_show, skip=n_skip)
    return parsed, found, n_skip


def unread_page(
    request: Request,
    spec: str,
    member: RequireMember,
    session: SessionDep,
    templates: TemplatesDep,
    show: str | None = None,
    skip: str | None = None,
) -> Response:
    """Every paper the spec listed on its last 30 announcement days that you have not seen,
    oldest day first: what a weekend, a holiday or a week away left."""
    parsed, found, n_skip = _unread(session, member, spec, show, skip)
    groups: list[dict[str, Any]] = []
    for n, (paper, kind, day) in enumerate(found.papers):
        if not groups or groups[-1]["day"] != day:
            count = next((d.count for d in found.days if d.day == day), 0)
            groups.append({"day": day, "count": count, "cards": []})
        groups[-1]["cards"].append((paper, kind, n_skip + n + 1))
    shown = n_skip + len(found.papers)
    context = {
        "spec_text": parsed.text(),
        "title": lists.spec_title(parsed),
        "unread": found,
        "groups": groups,
        "skip": n_skip,
        "shown": shown,
        "next_show": min(lists.MAX_SHOW, shown + UNREAD_SHOW) if shown < found.total else None,
        "list_url": urls.day_list(parsed.text()),
    }
    return templates.TemplateResponse(request, "unread.html", context)


def api_unread(
    spec: str,
    member: RequireMember,
    session: SessionDep,
    settings: SettingsDep,
    show: str | None = None,
    skip: str | None = None,
) -> Response:
    """What `/unread/{spec}` shows: the spec's papers (new + cross) of its last 30 announcement
    days that you have not seen, oldest day first; `total` of them, `since` the oldest day with
    one, `days` the count per day; `papers` the slice `skip`, `show` (100 unless given)."""
    parsed, found, _ = _unread(session, member, spec, show, skip)
    papers = []
    for paper, kind, day in found.papers:
        data = paper_json(paper, settings, kind)
        data["date"] = day
        papers.append(data)
    return JSONBody(
        {
            "spec": parsed.text(),
            "total": found.total,
            "since": found.days[0].day if found.days else None,
            "days": [{"date": d.day, "count": d.count} for d in found.days],
            "papers": papers,
        }
    )


def router() -> APIRouter:
    r = APIRouter()
    r.get(urls.api_seen(), tags=["seen"], response_class=Response)(api_seen)
    body = bodies.openapi_body(SeenIds)
    r.post(urls.api_seen(), tags=["seen"], response_class=Response, openapi_extra=body)(
        api_mark_seen
    )
    r.delete(urls.api_seen(), tags=["seen"], response_class=Response, openapi_extra=body)(
        api_unmark_seen
    )
    r.get("/unread/{spec:list_spec}", include_in_schema=False)(unread_page)
    r.get("/api/unread/{spec:list_spec}", tags=["seen"], response_class=Response)(api_unread)
    return r
