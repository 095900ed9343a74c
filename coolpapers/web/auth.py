"""Who is asking (a member, or nobody) and the guards around every request.

- ``TrustedProxy``: from the addresses of ``TRUSTED_PROXIES`` only, ``X-Forwarded-Proto`` and
  ``X-Forwarded-For`` are believed (the request's scheme and client become the visitor's); the
  proxy's own address is kept in the scope for ``AUTH=proxy``. ``coolpapers serve`` turns
  uvicorn's own handling off, which would believe them from 127.0.0.1 whatever the setting.
- ``CrossSiteGuard``: every unsafe method (POST, PUT, DELETE, PATCH…) from another site is
  refused with 403, login and logout included, whatever ``AUTH`` is: the Fetch-Metadata
  header ``Sec-Fetch-Site`` when the browser sends it, else ``Origin`` against the request's own
  origin (Filippo Valsorda's scheme, as datasette and Go's CrossOriginProtection do). A request
  with neither header comes from no browser (curl, a script) and passes: no page can make a
  browser send one.
- ``resolve_member``: an app-wide dependency that puts the member (or None) in
  ``request.state.member`` and, with ``PUBLIC_READ=false``, refuses anonymous readers.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

import orjson
from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from coolpapers import accounts
from coolpapers.config import Settings
from coolpapers.errors import Forbidden, LoginRequired, NotFound
from coolpapers.models import utcnow
from coolpapers.store import Member

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
SESSION_COOKIE = "cp_session"  # over plain http (a laptop, the tests)
SECURE_SESSION_COOKIE = "__Host-cp_session"  # over https: Secure, Path=/, no Domain
PEER_KEY = "coolpapers.peer"  # the scope's direct peer when a trusted proxy rewrote the client
# with PUBLIC_READ=false these still answer anonymous readers: the door, and the feeds whose
# URL carries a member's token
OPEN_PREFIXES = ("/login", "/logout", "/feeds/")
DEFAULT_PORTS = {"http": 80, "https": 443}


def _settings(scope: Scope) -> Settings:
    settings: Settings = scope["app"].state.settings
    return settings


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _in_networks(address: str, settings: Settings) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in settings.proxy_networks)


class TrustedProxy:
    """See the module's doc. Pure ASGI: the FAQ's event stream passes untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        settings = _settings(scope) if scope["type"] == "http" else None
        if settings is not None and client and _in_networks(client[0], settings):
            scope = dict(scope)
            scope[PEER_KEY] = client[0]
            proto = (_header(scope, b"x-forwarded-proto") or "").split(",")[0].strip().lower()
            if proto in ("http", "https"):
                scope["scheme"] = proto
            visitor = _visitor((_header(scope, b"x-forwarded-for") or "").split(","), settings)
            if visitor:
                scope["client"] = (visitor[:64], 0)
        await self.app(scope, receive, send)


def _visitor(hops: list[str], settings: Settings) -> str:
    """The visitor in an X-Forwarded-For chain: each proxy appends the address that called it,
    so the nearest hop that is not one of ours (anything left of it the visitor may have
    written). All ours: the first."""
    hops = [h.strip() for h in hops if h.strip()]
    for hop in reversed(hops):
        if not _in_networks(hop, settings):
            return hop
    return hops[0] if hops else ""


def _origin_of(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme]


def cross_site(scope: Scope) -> bool:
    """Whether an unsafe request must be refused as cross-site (see the module's doc)."""
    fetch_site = _header(scope, b"sec-fetch-site")
    if fetch_site is not None:
        return fetch_site.strip().lower() not in ("same-origin", "none")
    origin = _header(scope, b"origin")
    if origin is None:
        return False
    theirs = _origin_of(origin.strip())
    if theirs is None:  # "null" (sandboxed frames, file:), garbage
        return True
    scheme = scope.get("scheme", "http")
    host = _header(scope, b"host") or ""
    ours = {_origin_of(f"{scheme}://{host}")}
    base_url = _settings(scope).base_url
    if base_url:
        ours.add(_origin_of(base_url))
    return theirs not in ours


class CrossSiteGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS or not cross_site(scope):
            await self.app(scope, receive, send)
            return
        message = "cross-site request refused: this site's forms and buttons only"
        if scope.get("path", "").startswith("/api/"):
            body = orjson.dumps({"error": message, "status": 403})
            kind = b"application/json"
        else:
            body = f"<!doctype html><title>403</title><p>403 — {message}</p>".encode()
            kind = b"text/html; charset=utf-8"
        headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 403, "headers": headers})
        await send({"type": "http.response.body", "body": body})


# ---------------------------------------------------------------- the member of a request


def is_https(request: Request, settings: Settings) -> bool:
    return request.url.scheme == "https" or settings.base_url.startswith("https://")


def cookie_name(request: Request, settings: Settings) -> str:
    """Over https only the ``__Host-`` cookie counts (a plain-http one could be planted)."""
    return SECURE_SESSION_COOKIE if is_https(request, settings) else SESSION_COOKIE


def session_token(request: Request, settings: Settings) -> str:
    return request.cookies.get(cookie_name(request, settings), "")


def _lookup(request: Request, settings: Settings, now: datetime) -> Member | None:
    factory = request.app.state.sessionmaker
    if settings.auth == "proxy":
        peer = request.scope.get(PEER_KEY)
        name = request.headers.get(settings.auth_proxy_header, "")
        if peer is None or not name:  # the header counts only from a trusted proxy
            return None
        return accounts.proxy_member(factory, name, now)
    token = session_token(request, settings)
    if not token:
        return None
    return accounts.member_for_token(factory, token, now, accounts.SessionPolicy.of(settings))


def _open(path: str) -> bool:
    return any(path == p.rstrip("/") or path.startswith(p.rstrip("/") + "/") for p in OPEN_PREFIXES)


async def resolve_member(request: Request) -> None:
    """App-wide: ``request.state.member`` for the handlers and templates; 401 (or the login
    page) for anonymous readers when the lab's papers are not public."""
    settings: Settings = request.app.state.settings
    request.state.member = None
    if not settings.accounts_on:
        return
    member = await run_in_threadpool(_lookup, request, settings, utcnow())
    request.state.member = member
    if member is None and not settings.public_read and not _open(request.url.path):
        raise LoginRequired("log in to read this lab's papers")


async def optional_member(request: Request) -> Member | None:
    member: Member | None = getattr(request.state, "member", None)
    return member


async def require_member(request: Request) -> Member:
    """The member, or 401 (a page: the login page); 404 when the site has no accounts."""
    settings: Settings = request.app.state.settings
    if not settings.accounts_on:
        raise NotFound("this site has no accounts (COOLPAPERS_AUTH=none)")
    member = await optional_member(request)
    if member is None:
        raise LoginRequired("log in first")
    return member


async def require_admin(member: Annotated[Member, Depends(require_member)]) -> Member:
    if not member.is_admin:
        raise Forbidden("only the lab's admins may do this")
    return member


MemberDep = Annotated[Member | None, Depends(optional_member)]
RequireMember = Annotated[Member, Depends(require_member)]
RequireAdmin = Annotated[Member, Depends(require_admin)]
