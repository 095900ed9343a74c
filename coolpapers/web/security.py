"""Browser security headers on every response, and /docs served without a CDN.

No response may be framed, except those a route marks with ``frameable_by_self`` (the PDF
proxy): our own pages may frame those. The headers are added by a pure ASGI wrapper around the
whole app (``SecureApp`` puts it outside Starlette's error middleware, so 500 pages carry them
too). Not ``BaseHTTPMiddleware``: that one buffers through a task group and breaks the FAQ's
server-sent events.
"""

from __future__ import annotations

import html
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coolpapers.web.auth import CrossSiteGuard, TrustedProxy

# Scripts and styles only from our own files: no inline script, no inline style attribute, no
# CDN. data: images are Swagger UI's icons (inlined SVG in its stylesheet). Frames: default-src
# 'self' lets our pages frame our own URLs (the inline PDF viewer) and nothing else.
_DIRECTIVES = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
)


def _headers(frame_ancestors: str, frame_options: bytes) -> tuple[tuple[bytes, bytes], ...]:
    policy = "; ".join((*_DIRECTIVES, f"frame-ancestors {frame_ancestors}"))
    return (
        (b"content-security-policy", policy.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"strict-origin-when-cross-origin"),
        (b"x-frame-options", frame_options),  # frame-ancestors for browsers that predate it
        (b"cross-origin-opener-policy", b"same-origin"),
    )


# Every response: no page of ours may be framed, by anyone (clickjacking).
SECURITY_HEADERS = _headers("'none'", b"DENY")
CONTENT_SECURITY_POLICY = SECURITY_HEADERS[0][1].decode()
# A response marked with ``frameable_by_self`` (the PDF proxy, for the viewer under a card): the
# same policy, except that our own pages may frame it. Chromium's PDF viewer runs under it (its
# synthetic page's styles are exempt from the PDF response's policy; tests/test_browser_pdf.py).
SELF_FRAMEABLE_HEADERS = _headers("'self'", b"SAMEORIGIN")
# The mark a route sets on its response; this layer removes it before anything goes out.
_FRAME_MARK = b"x-coolpapers-frameable"
_NAMES = {name for name, _ in SECURITY_HEADERS} | {_FRAME_MARK}


def frameable_by_self(response: Response) -> Response:
    """Let this site's own pages frame ``response`` (every other response stays unframeable)."""
    response.headers[_FRAME_MARK.decode()] = "self"
    return response


def _for_a_member(scope: Scope) -> bool:
    """The response was made for a logged-in member (``web.auth.resolve_member`` put them in
    the request's state): it may name them or hold their stars and notes (ASVS F7)."""
    state = scope.get("state")
    return isinstance(state, dict) and state.get("member") is not None


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` (``SELF_FRAMEABLE_HEADERS`` when the route marked the response
    with ``frameable_by_self``) to every response start, and ``Cache-Control: private,
    no-store`` to a member's; the body streams through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # the request's state, shared with the layers inside (web.auth puts the member there)
        scope.setdefault("state", {})

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", ())
                marked = any(k.lower() == _FRAME_MARK and v == b"self" for k, v in headers)
                kept = [(k, v) for k, v in headers if k.lower() not in _NAMES]
                added = SELF_FRAMEABLE_HEADERS if marked else SECURITY_HEADERS
                if _for_a_member(scope):  # never kept by a shared cache, nor by the browser
                    kept = [(k, v) for k, v in kept if k.lower() != b"cache-control"]
                    added = (*added, (b"cache-control", b"private, no-store"))
                message = {**message, "headers": [*kept, *added]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class SecureApp(FastAPI):
    """FastAPI whose outermost layers add the security headers, believe a trusted proxy's
    forwarded headers and refuse cross-site writes (``web.auth``): user middleware would sit
    inside ``ServerErrorMiddleware`` and miss the responses of the 500 handler."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(TrustedProxy(CrossSiteGuard(super().build_middleware_stack())))


DOCS_PATH = "/docs"
DOCS_ASSETS = "/docs/assets"  # Swagger UI's files, from the fastapi-offline package

# Swagger UI's stock page starts it from an inline <script>, which the policy forbids: the page
# below only names the files, and static/docs.js reads the OpenAPI URL from a data attribute.
_DOCS_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · API</title>
<link rel="icon" href="{root}/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{root}/static/docs.js"></script>
</body>
</html>
"""


def swagger_ui_dir() -> Path:
    return Path(str(files("fastapi_offline") / "static"))


def install_docs(app: FastAPI) -> None:
    """/docs from local files. Call with ``docs_url=None`` given to FastAPI."""
    openapi_url = app.openapi_url or "/openapi.json"
    app.mount(DOCS_ASSETS, StaticFiles(directory=swagger_ui_dir()), name="docs-assets")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = html.escape(request.scope.get("root_path", ""))
        page = _DOCS_HTML.format(
            title=html.escape(app.title),
            root=root,
            assets=root + DOCS_ASSETS,
            openapi=root + html.escape(openapi_url),
        )
        return HTMLResponse(page)
