"""A member's personal Atom feeds, for a feed reader that cannot log in: the secret is a token
in the URL, made (and replaced, and revoked) on the account page (``web.me``).

- ``GET /feeds/{token}/stars``: the member's stars, newest star first (at most 200);
- ``GET /feeds/{token}/lab``: the lab's week, as ``/lab/feed`` has it (most starred first).

Only the token's hash is stored (``accounts.token_hash``), like a session's. A wrong, revoked
or replaced token and a disabled member's token all get the same 404, with nothing that tells
them apart. The paths answer without a login even when the lab's papers are not public
(``web.auth.OPEN_PREFIXES``): the token is the login.

The token is a password in a URL, so it is kept out of what we write: the access log (uvicorn's)
and our error log see ``/feeds/…/stars`` (:class:`RedactFeedTokens`); the pages' referrer
policy already keeps paths from leaving the site. A feed reader polls: the answer may be kept
by the reader itself for five minutes (``private``: never by a shared cache) and comes with an
``ETag``, so a poll of an unchanged feed is a 304 without a body.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from coolpapers import accounts, store
from coolpapers.config import Settings
from coolpapers.errors import NotFound
from coolpapers.models import utcnow
from coolpapers.store import Member, PaperView
from coolpapers.web import urls
from coolpapers.web.deps import SessionDep, SettingsDep, TemplatesDep
from coolpapers.web.lab import FEED_MAX, WINDOWS
from coolpapers.web.templating import atom_response

MAX_STARS = 200  # a feed reader wants the recent ones; the whole list is /stars
MAX_TOKEN_LEN = 128  # ours are 43 characters; anything much longer is not one
CACHE_CONTROL = "private, max-age=300"
NO_FEED = "no feed at this address"  # one answer for every refusal: no hint which it was

# "/feeds/<anything but a slash>" in a log line's text or arguments
_TOKEN_IN_PATH = re.compile(r"(/feeds/)[^/\s\"?]+")
REDACTED = r"\1…"
# the loggers that write request paths: uvicorn's access log, and our error boundary's
REDACTED_LOGGERS = ("uvicorn.access", "uvicorn.error", "coolpapers.web.errors")


def redact(text: str) -> str:
    return _TOKEN_IN_PATH.sub(REDACTED, text)


class RedactFeedTokens(logging.Filter):
    """Rewrites a record's message and string arguments so no feed token reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            args = record.args.items()
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in args}
        return True


def install_log_redaction() -> None:
    """Put the filter on the loggers that write paths, once (``create_app`` may run often)."""
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactFeedTokens) for f in logger.filters):
            logger.addFilter(RedactFeedTokens())


def feed_member(session: Session, settings: Settings, token: str) -> Member:
    """The enabled member whose feed token this is, else NotFound (the same for every case)."""
    if not settings.accounts_on or not token or len(token) > MAX_TOKEN_LEN:
        raise NotFound(NO_FEED)
    member = store.user_by_feed_token(session, accounts.token_hash(token))
    if member is None:
        raise NotFound(NO_FEED)
    return member


def _atom(
    request: Request,
    templates: Jinja2Templates,
    *,
    title: str,
    path: str,
    self_path: str,
    entries: Sequence[tuple[PaperView, datetime]],
) -> Response:
    """The feed (``feed.xml``), each entry updated when it was starred; a 304 when the reader
    has this very feed already."""
    response = atom_response(
        request,
        templates,
        title=title,
        path=path,
        self_path=self_path,
        entries=[(paper, None) for paper, _ in entries],
        updated=max((at for _, at in entries), default=None),
        entry_times={paper.id: at for paper, at in entries},
    )
    etag = '"' + hashlib.sha256(bytes(response.body)).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL, "X-Robots-Tag": "noindex"}
    held = (request.headers.get("if-none-match") or "").split(",")
    if etag in (tag.strip().removeprefix("W/") for tag in held):
        return Response(status_code=304, headers=headers)
    response.headers.update(headers)
    return response


def stars_feed(
    token: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
) -> Response:
    member = feed_member(session, settings, token)
    starred = store.stars_of(session, member.id)[:MAX_STARS]
    return _atom(
        request,
        templates,
        title=f"{member.name}'s stars",
        path=urls.stars(),
        self_path=urls.personal_feed(token, "stars"),
        entries=[(s.paper, s.starred_at) for s in starred],
    )


def lab_feed(
    token: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
) -> Response:
    feed_member(session, settings, token)
    week = store.lab_week(session, utcnow() - WINDOWS["week"], FEED_MAX)
    return _atom(
        request,
        templates,
        title="What the lab starred this week",
        path=urls.lab(),
        self_path=urls.personal_feed(token, "lab"),
        entries=[(p.paper, p.signal.latest) for p in week.papers],
    )


def router() -> APIRouter:
    install_log_redaction()
    r = APIRouter()
    r.get("/feeds/{token}/stars", include_in_schema=False)(stars_feed)
    r.get("/feeds/{token}/lab", include_in_schema=False)(lab_feed)
    return r
