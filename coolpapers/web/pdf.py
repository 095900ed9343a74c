"""The inline viewer's PDF proxy: ``GET /api/papers/{id}/pdf``, a stored paper's PDF from arXiv,
same-origin (so the page may frame it), cached on disk (``ingest.request_pdf``).

Every answer of this route, errors included, may be framed by our own pages and no one else's
(``security.frameable_by_self``): the viewer's frame shows whatever comes back. A browser (it
asks for HTML) gets a failure as a small page linking to arXiv, anything else as JSON. Never a
500 for arXiv's troubles: a 404 there is a 404 here; down, slow, rate limiting, too big or not a
PDF is a 502 naming the reason.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from coolpapers import ingest
from coolpapers.errors import (
    BadInput,
    FetchError,
    NotFound,
    RateLimited,
    SourceError,
    TooLarge,
)
from coolpapers.identifiers import parse_id
from coolpapers.web import urls
from coolpapers.web.deps import PipelineDep, SessionDep, SettingsDep
from coolpapers.web.security import frameable_by_self

# The reader's browser keeps a PDF an hour: a paper's new version shows up after that at most.
CACHE_CONTROL = "private, max-age=3600"


def _outcome(future: Future[ingest.PaperPdf]) -> asyncio.Future[ingest.PaperPdf]:
    waiter = asyncio.wrap_future(future)
    # a reader who stopped waiting leaves the fetch's outcome unread: read it, or asyncio logs it
    waiter.add_done_callback(lambda f: f.cancelled() or f.exception())
    return waiter


async def pdf_proxy(
    request: Request,
    paper_id: str,
    session: SessionDep,
    settings: SettingsDep,
    pipeline: PipelineDep,
) -> Response:
    """The paper's PDF, inline (`<id>.pdf`), through this site: 404 when arXiv has none, 502
    when arXiv fails, is slow, rate limits us, or the PDF is over `PDF_PROXY_MAX_MB`."""
    try:
        parsed = parse_id(paper_id)
    except BadInput as exc:
        return _failure(request, 400, str(exc), None)
    arxiv_url = urls.ArxivLinks(settings.arxiv_web_url).pdf(parsed.id)
    if parsed.id != paper_id or parsed.version is not None:  # the one URL per paper
        return frameable_by_self(RedirectResponse(urls.pdf_proxy(parsed.id), status_code=301))
    try:
        future = await run_in_threadpool(ingest.request_pdf, pipeline, session, parsed.id)
        waiter = _outcome(future)
        # a reader waits one request's deadline at most; a slower fetch lands in the cache
        done, _ = await asyncio.wait({waiter}, timeout=settings.fetch_deadline_s)
        if not done:
            message = "arXiv is slow to send this PDF; it is still coming: try again in a minute."
            return _failure(request, 502, message, arxiv_url)
        pdf = waiter.result()
    except (BadInput, NotFound) as exc:
        status = 400 if isinstance(exc, BadInput) else 404
        return _failure(request, status, str(exc), arxiv_url)
    except TooLarge:
        message = f"This PDF is larger than the {settings.pdf_proxy_max_mb} MiB the viewer takes."
        return _failure(request, 502, message, arxiv_url)
    except RateLimited:
        message = "arXiv asked this site to wait before fetching more: read it on arXiv."
        return _failure(request, 502, message, arxiv_url)
    except FetchError as exc:
        return _failure(request, 502, f"arXiv could not be reached: {exc}", arxiv_url)
    except SourceError as exc:  # arXiv answered, with something other than a PDF
        return _failure(request, 502, str(exc), arxiv_url)
    except ingest.IngestStopped:
        return _failure(request, 503, "The site is restarting.", arxiv_url)
    headers = {"Cache-Control": CACHE_CONTROL}
    response: Response
    if pdf.path is not None:
        response = FileResponse(
            pdf.path,
            media_type="application/pdf",
            headers=headers,
            filename=pdf.filename,
            content_disposition_type="inline",
        )
    else:  # the cache could not keep it (smaller than this PDF, or a full disk)
        headers["Content-Disposition"] = f'inline; filename="{pdf.filename}"'
        response = Response(pdf.body, media_type="application/pdf", headers=headers)
    return frameable_by_self(response)


def _failure(request: Request, status: int, message: str, arxiv_url: str | None) -> Response:
    response: Response
    if "text/html" in request.headers.get("accept", ""):
        templates: Jinja2Templates = request.app.state.templates
        context: dict[str, Any] = {
            "status": status,
            "message": message,
            "arxiv_url": arxiv_url,
            "paper_id": request.path_params.get("paper_id", ""),
        }
        response = templates.TemplateResponse(
            request, "pdf_error.html", context, status_code=status
        )
    else:
        body = {"error": message, "status": status, "pdf_url": arxiv_url}
        response = JSONResponse(body, status_code=status)
    response.headers["Cache-Control"] = "no-store"  # a failure is not worth keeping
    return frameable_by_self(response)


# What OpenAPI says of the route (its answers are not JSON).
_ROUTE_DOCS: dict[str, Any] = {
    "tags": ["papers"],
    "response_model": None,
    "response_class": FileResponse,
    "responses": {
        200: {"content": {"application/pdf": {}}, "description": "The PDF"},
        404: {"description": "Not a paper of this site, or arXiv has no PDF of it"},
        502: {"description": "arXiv failed, was slow, rate limited us, or the PDF is too big"},
    },
}


def router() -> APIRouter:
    """Built on demand: the path shapes are registered by ``create_app`` first."""
    r = APIRouter()
    r.get("/api/papers/{paper_id:paper_id}/pdf", **_ROUTE_DOCS)(pdf_proxy)
    return r
