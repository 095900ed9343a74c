"""One boundary turns errors into pages (or JSON under /api/): never a traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from coolpapers.errors import (
    BadInput,
    CoolpapersError,
    FetchError,
    LoginRequired,
    NotFound,
    SourceError,
)
from coolpapers.web import urls

log = logging.getLogger(__name__)


def _status_of(exc: Exception) -> int:
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status
    if isinstance(exc, BadInput | NotFound):
        return 400
    if isinstance(exc, FetchError):
        return 503
    if isinstance(exc, SourceError):
        return 502
    return 500


def error_response(request: Request, status: int, message: str) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message, "status": status}, status_code=status)
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(
        request, "error.html", {"status": status, "message": message}, status_code=status
    )


def _to_login(request: Request) -> bool:
    """A reader's page (not the API, not a form's POST) sends them to the login form."""
    auth = request.app.state.settings.auth
    return (
        auth == "password" and request.method == "GET" and not request.url.path.startswith("/api/")
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(CoolpapersError)
    async def _domain(request: Request, exc: CoolpapersError) -> Response:
        status = _status_of(exc)
        if status >= 500:
            log.warning("%s %s: %s", request.method, request.url.path, exc)
        if isinstance(exc, SourceError):
            return error_response(request, status, f"arXiv could not be reached: {exc}")
        if isinstance(exc, LoginRequired) and _to_login(request):
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(urls.login(next_path=here), status_code=303)
        response = error_response(request, status, str(exc))
        retry_after = getattr(exc, "retry_after_s", None)
        if status == 429 and isinstance(retry_after, int):
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path"))
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return error_response(request, 400, "bad request: " + "; ".join(parts))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "error"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no page at {request.url.path}"
        return error_response(request, exc.status_code, message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request, 500, "internal error; it has been logged")
