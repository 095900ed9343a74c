"""What the lab is reading: ``GET /api/lab/stars?ids=`` (who in the lab starred each card: the
"★ 3 · alice, bob, carol" that static/js/lab.js puts on cards), ``/lab`` (what the lab starred
this week, or this month, most starred first) and its Atom feed ``/lab/feed``.

Who reads them: members only, since they name members (401, the login page for a page; 404
when the site has no accounts), whatever ``PUBLIC_READ`` says. Feed readers carry no cookie:
``/lab/feed`` follows the same rule, and a member's token feed ``/feeds/{token}/lab`` (the
account page's) is the way to follow the lab's week from a reader (``store.lab_week``).
The lab sort of a day (``sort=lab``: counts, not names) is a list's (``web.lists``).
Disabled members' stars count too (``store.lab``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from coolpapers import store
from coolpapers.errors import BadId, BadInput
from coolpapers.identifiers import is_venue_key, parse_id, parse_venue_key
from coolpapers.models import utcnow
from coolpapers.web import lists, urls
from coolpapers.web.auth import RequireMember
from coolpapers.web.deps import SessionDep, SettingsDep, TemplatesDep
from coolpapers.web.present import JSONBody
from coolpapers.web.templating import atom_response

MAX_IDS = 200  # a page shows 25 cards at a time; lazy loading asks for each batch
# the windows /lab offers: how far back its stars go
WINDOWS = {"week": timedelta(days=7), "month": timedelta(days=30)}
FEED_MAX = 200


def parse_lab_ids(text: str) -> list[str]:
    """The paper keys of ``ids=a,b,…``, in their order, each once: arXiv ids canonical and
    versionless, venue keys (``x@ACL``) as given. 400 when empty, malformed or over MAX_IDS."""
    parts = [p.strip() for p in text.split(",")]
    parts = [p for p in parts if p]
    if not parts:
        raise BadInput("ids: give paper ids joined by commas, e.g. ids=2401.00001,2401.00002")
    if len(parts) > MAX_IDS:
        raise BadInput(f"ids: at most {MAX_IDS} papers at once ({len(parts)} given)")
    keys: list[str] = []
    for part in parts:
        try:
            keys.append(parse_venue_key(part).key if is_venue_key(part) else parse_id(part).id)
        except BadId as exc:
            raise BadInput(f"ids: {exc}") from None
    return list(dict.fromkeys(keys))


def api_lab_stars(ids: str, member: RequireMember, session: SessionDep) -> JSONBody:
    """Who in the lab starred each of the papers `ids=a,b,…` (at most 200): `{"papers":
    {"<id>": {"count": 3, "members": ["alice", "bob", "carol"]}}}`, names in the order they
    starred; papers nobody starred are left out. Disabled members' stars count (the lab's
    history). Members only."""
    signals = store.lab_signals(session, parse_lab_ids(ids))
    papers = {i: {"count": s.count, "members": s.members} for i, s in signals.items()}
    return JSONBody({"papers": papers})


def parse_window(text: str | None) -> str:
    window = text or "week"
    if window not in WINDOWS:
        raise BadInput(f"range must be one of {', '.join(WINDOWS)}")
    return window


def lab_page(
    request: Request,
    member: RequireMember,
    session: SessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    window: Annotated[str | None, Query(alias="range")] = None,
    skip: str | None = None,
    show: str | None = None,
    fragment: str | None = None,
) -> Response:
    """What the lab starred in the last 7 days (``range=month``: 30), most starred first, each
    card with who starred it and when; a slice at a time (``fragment=1``: its cards alone)."""
    name = parse_window(window)
    cards_only = lists.parse_fragment(fragment)
    params = lists.parse_params(None, show, skip, None, None, settings.page_size)
    since = utcnow() - WINDOWS[name]
    week = store.lab_week(session, since, params.show, offset=params.skip)
    following = params.skip + len(week.papers)
    more = None
    if week.papers and following < week.total:
        more = urls.lab_page(name, skip=following, show=params.show, fragment=cards_only)
    context: dict[str, Any] = {
        "entries": [(p, params.skip + n) for n, p in enumerate(week.papers, 1)],
        "total": week.total,
        "more": more,
        "left": week.total - following,
        "window": name,
        "windows": list(WINDOWS),
        "since": since,
    }
    if cards_only:
        return templates.TemplateResponse(request, "_lab.html", {**context, "lab_fragment": True})
    return templates.TemplateResponse(request, "lab.html", context)


def lab_feed(
    request: Request, member: RequireMember, session: SessionDep, templates: TemplatesDep
) -> Response:
    """The lab's week as Atom, most starred first (the first FEED_MAX papers)."""
    week = store.lab_week(session, utcnow() - WINDOWS["week"], FEED_MAX)
    updated: datetime | None = max((p.signal.latest for p in week.papers), default=None)
    return atom_response(
        request,
        templates,
        title="What the lab starred this week",
        path=urls.lab(),
        self_path=urls.lab_feed(),
        entries=[(p.paper, None) for p in week.papers],
        updated=updated,
        entry_times={p.paper.id: p.signal.latest for p in week.papers},
    )


def router() -> APIRouter:
    r = APIRouter()
    r.get("/api/lab/stars", tags=["lab"], response_model=None)(api_lab_stars)
    r.get("/lab", include_in_schema=False)(lab_page)
    r.get("/lab/feed", include_in_schema=False)(lab_feed)
    return r
