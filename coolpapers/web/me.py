"""``/account``: a member's own page (members only: the login page for a visitor, 404 when the
site has no accounts). It has

- the personal feeds (``web.feeds``): ``POST /account/feed-token/new`` makes a token (replacing
  the old one, which stops working at once) and answers with the page showing the two feed
  URLs, the only time they can be shown: the token is stored hashed. Afterwards the page says a
  token exists. ``POST /account/feed-token/revoke`` removes it (303 back to the page);
- the member's stars as files (``/api/export`` as BibTeX, RIS, CSL-JSON) and as one comma-id
  page, newest 500 stars;
- links to their stars, notes, the lab, and for admins the members' page.

Never cached (``no-store``): the page holds the member's stars and, once, their feed token.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import accounts, store
from coolpapers.db import session_scope
from coolpapers.store import Member
from coolpapers.web import urls
from coolpapers.web.auth import RequireMember
from coolpapers.web.deps import FactoryDep, TemplatesDep
from coolpapers.web.exports import FORMATS
from coolpapers.web.stars import MAX_BIBTEX_IDS

FEED_TOKEN_BYTES = 32  # 256 bits, as a session's: 43 URL-safe characters
FEEDS = ("stars", "lab")


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _page(
    request: Request,
    templates: Jinja2Templates,
    factory: sessionmaker[Session],
    member: Member,
    new_token: str | None = None,
) -> Response:
    with session_scope(factory) as s:
        has_token = store.has_feed_token(s, member.id)
        starred = store.star_times(s, member.id)
    ids = [paper_id for paper_id, _ in starred[:MAX_BIBTEX_IDS]]
    context: dict[str, Any] = {
        "me": member,
        "feed_state": "new" if new_token else ("exists" if has_token else "none"),
        "feeds": [(which, urls.personal_feed(new_token, which)) for which in FEEDS]
        if new_token
        else [],
        "star_count": len(starred),
        "exported": len(ids),
        "exports": [(fmt, urls.export(ids, fmt)) for fmt in FORMATS] if ids else [],
        "comma_link": urls.papers(ids) if ids else None,
    }
    return _no_store(templates.TemplateResponse(request, "account.html", context))


def account_page(
    request: Request, member: RequireMember, templates: TemplatesDep, factory: FactoryDep
) -> Response:
    return _page(request, templates, factory, member)


def new_feed_token(
    request: Request, member: RequireMember, templates: TemplatesDep, factory: FactoryDep
) -> Response:
    """A new token (the old one stops working), and the page with its URLs, shown this once."""
    token = secrets.token_urlsafe(FEED_TOKEN_BYTES)
    with session_scope(factory, write=True) as s:
        store.set_feed_token_hash(s, member.id, accounts.token_hash(token))
    return _page(request, templates, factory, member, new_token=token)


def revoke_feed_token(member: RequireMember, factory: FactoryDep) -> Response:
    with session_scope(factory, write=True) as s:
        store.set_feed_token_hash(s, member.id, None)
    return _no_store(RedirectResponse(urls.account(), status_code=303))


def router() -> APIRouter:
    r = APIRouter()
    r.get("/account", include_in_schema=False)(account_page)
    r.post("/account/feed-token/new", include_in_schema=False)(new_feed_token)
    r.post("/account/feed-token/revoke", include_in_schema=False)(revoke_feed_token)
    return r
