"""The FAQ ([Kimi]) of a paper: enqueue or read it, follow it as it is written (SSE)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from coolpapers import ingest, store
from coolpapers.db import session_scope
from coolpapers.errors import BadInput, LoginRequired
from coolpapers.identifiers import parse_id
from coolpapers.models import utcnow
from coolpapers.summarize import jobs, prompts
from coolpapers.web import urls, visitors
from coolpapers.web.auth import MemberDep
from coolpapers.web.deps import FactoryDep, PipelineDep, SessionDep, SettingsDep
from coolpapers.web.paper import one_paper
from coolpapers.web.present import faq_json, read_faq

STREAM_POLL_S = 0.1
STREAM_HEARTBEAT_S = 15.0


def parse_lang(lang: str | None) -> str:
    value = (lang or "zh").lower()
    if value not in prompts.LANGS:
        raise BadInput(f"lang must be one of {', '.join(prompts.LANGS)}")
    return value


@dataclass(frozen=True)
class Click:
    paper_id: str
    lang: str
    faq: dict[str, Any]
    cookie: str | None  # a new visitor cookie to set


def faq_click(
    request: Request,
    paper_id: str,
    session: SessionDep,
    settings: SettingsDep,
    factory: FactoryDep,
    pipeline: PipelineDep,
    member: MemberDep,
    lang: str | None = None,
) -> Click:
    """A click on the FAQ button: count it (once per visitor and day, rate limited: a limited
    visitor still gets the FAQ, uncounted), then return the FAQ or queue its generation."""
    language = parse_lang(lang)
    arxiv_id = parse_id(paper_id).id
    paper = one_paper(ingest.ensure_papers(pipeline, session, [arxiv_id]), arxiv_id)
    # a lab's instance: reading a FAQ is public (with PUBLIC_READ), having one written is for
    # members (it spends the lab's LLM budget)
    if (
        settings.accounts_on
        and member is None
        and read_faq(session, settings, paper.id, language)["state"] in ("none", "failed")
    ):
        raise LoginRequired(f"log in to have this paper's {settings.faq_label} written")
    # give the request's connection back before taking a writer's: a burst of clicks must not
    # hold one connection each while waiting for a second (pool exhaustion)
    session.close()
    if member is not None:  # a member's quota follows them, not their browser
        visitor, cookie = [f"m:{member.id}"], None
    else:
        visitor, cookie = visitors.identify(request, settings.ensure_secret_key())
    with session_scope(factory, write=True) as s:
        clicks = store.count_click(
            s, paper.id, "faq", visitor, utcnow(), settings.clicks_per_minute
        ).clicks.faq
        asked = jobs.request_faq(s, settings, paper.id, language, visitor)
        data = faq_json(asked.faq, settings, position=asked.position, clicks=clicks)
    worker = getattr(request.app.state, "faq_worker", None)
    if worker is not None:
        worker.wake()
    return Click(paper.id, language, data, cookie)


ClickDep = Annotated[Click, Depends(faq_click)]


def api_request_faq(click: ClickDep) -> Response:
    """Ask for a paper's FAQ: returns it when it exists, else queues one generation."""
    status = 202 if click.faq["state"] == "queued" else 200
    response = JSONResponse(click.faq, status_code=status)
    visitors.set_cookie(response, click.cookie)
    return response


def api_get_faq(
    paper_id: str, session: SessionDep, settings: SettingsDep, lang: str | None = None
) -> dict[str, Any]:
    """The FAQ's state, queue position, text so far and provenance."""
    return read_faq(session, settings, parse_id(paper_id).id, parse_lang(lang))


async def api_stream_faq(
    request: Request,
    paper_id: str,
    settings: SettingsDep,
    factory: FactoryDep,
    lang: str | None = None,
) -> StreamingResponse:
    """Server-sent events: what is written so far, then every change until done or failed."""
    pid, language = parse_id(paper_id).id, parse_lang(lang)

    def snapshot() -> dict[str, Any]:
        with session_scope(factory) as s:
            return read_faq(s, settings, pid, language)

    async def events() -> AsyncIterator[str]:
        last: tuple[Any, ...] | None = None
        beat = time.monotonic()
        give_up = time.monotonic() + settings.llm_deadline_s + 120
        while time.monotonic() < give_up and not await request.is_disconnected():
            data = await run_in_threadpool(snapshot)
            key = (data["state"], data["position"], len(data["content"]), data["error"])
            if key != last:
                last, beat = key, time.monotonic()
                yield f"event: faq\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
                if data["state"] in ("done", "failed", "none"):
                    return
            elif time.monotonic() - beat > STREAM_HEARTBEAT_S:
                beat = time.monotonic()
                yield ": keep-alive\n\n"
            await asyncio.sleep(STREAM_POLL_S)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


def form_request_faq(click: ClickDep) -> Response:
    """The no-JavaScript path: queue, then show the paper page with the FAQ's state."""
    target = urls.paper(click.paper_id, faq=click.lang, fragment="faq")
    response = RedirectResponse(target, status_code=303)
    visitors.set_cookie(response, click.cookie)
    return response


def router() -> APIRouter:
    """Built on demand: the path shapes are registered by ``create_app`` first."""
    r = APIRouter()
    r.post("/api/papers/{paper_id:paper_id}/faq", tags=["faq"])(api_request_faq)
    r.get("/api/papers/{paper_id:paper_id}/faq", tags=["faq"], response_model=None)(api_get_faq)
    r.get("/api/papers/{paper_id:paper_id}/faq/stream", tags=["faq"])(api_stream_faq)
    r.post("/arxiv/{paper_id:paper_id}/faq", include_in_schema=False)(form_request_faq)
    return r
