"""The web app: ``create_app(settings)`` builds everything; nothing happens at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from coolpapers import ingest
from coolpapers.assets import asset_dir
from coolpapers.config import Settings
from coolpapers.db import WEB_SQLITE_CACHE_KIB, make_engine, make_sessionmaker
from coolpapers.search.reader import SearchReader
from coolpapers.web import (
    auth,
    errors,
    head,
    page_cache,
    pages,
    process,
    security,
    status,
)
from coolpapers.web.security import SecureApp
from coolpapers.web.templating import make_templates


def create_app(settings: Settings, *, scheduler: bool = False) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # before the first request's threads: what this process may take of memory
        process.limit_malloc_arenas()
        process.limit_route_threads()
        app.state.render_limiter = process.render_limiter()
        engine = make_engine(settings, sqlite_cache_kib=WEB_SQLITE_CACHE_KIB)
        app.state.sessionmaker = make_sessionmaker(engine)
        # the pages' door to arXiv (ensure_papers), shared with this process's scheduler
        app.state.pipeline = ingest.Pipeline.open(settings, app.state.sessionmaker)
        app.state.search_reader = SearchReader(settings.data_dir)
        app.state.background = app.state.faq_worker = None
        if scheduler:
            from coolpapers.scheduler import start_background

            app.state.background = start_background(
                settings, app.state.sessionmaker, app.state.pipeline
            )
            app.state.faq_worker = app.state.background.faq_worker
        try:
            yield
        finally:
            if app.state.background is not None:  # bounded; ends an ingest, frees its lease
                app.state.background.stop()
            app.state.pipeline.close()
            app.state.search_reader.close()
            app.state.page_cache.close()
            engine.dispose()

    app = SecureApp(
        title="coolpapers",
        summary="A self-hosted papers.cool: arXiv daily listings",
        lifespan=lifespan,
        docs_url=None,  # install_docs: same-origin files, no CDN, no inline script
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        # every route knows its member (request.state.member) and refuses anonymous readers
        # when the lab's papers are not public
        dependencies=[Depends(auth.resolve_member)],
    )
    app.state.settings = settings
    app.state.templates = make_templates(settings, asset_dir("templates"))
    # the notice of an unreachable arXiv on the home and list pages reads the runs itself
    app.state.templates.env.globals["ingest_alert"] = status.ingest_alert
    app.state.scheduler_enabled = scheduler
    app.mount("/static", StaticFiles(directory=asset_dir("static")), name="static")
    for router in pages.routers():  # disjoint paths: the order does not matter
        app.include_router(router)
    app.add_middleware(head.HeadAsGet)
    # outside HeadAsGet (a HEAD passes by) and inside web.security's layers (a copy gets
    # their headers as a render does)
    app.state.page_cache = page_cache.PageStore()
    app.add_middleware(page_cache.PageCache)
    security.install_docs(app)
    errors.install(app)
    return app
