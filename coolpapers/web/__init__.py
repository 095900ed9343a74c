"""The web app: ``create_app(settings)`` builds everything; nothing happens at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from coolpapers import http
from coolpapers.assets import asset_dir
from coolpapers.config import Settings
from coolpapers.db import make_engine, make_sessionmaker
from coolpapers.search.reader import SearchReader
from coolpapers.web import (
    day_list,
    errors,
    faq,
    home,
    search,
    security,
    status,
)
from coolpapers.web.security import SecureApp
from coolpapers.web.templating import make_templates


def create_app(settings: Settings, *, scheduler: bool = False) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings)
        app.state.sessionmaker = make_sessionmaker(engine)
        app.state.fetcher = http.arxiv_fetcher(settings)
        app.state.search_reader = SearchReader(settings.data_dir)
        jobs = None
        app.state.faq_worker = None
        if scheduler:
            from coolpapers.scheduler import build_faq_worker, build_scheduler

            jobs = build_scheduler(settings, app.state.sessionmaker)
            jobs.start()
            app.state.faq_worker = build_faq_worker(settings, app.state.sessionmaker)
        try:
            yield
        finally:
            if jobs is not None:
                jobs.shutdown(wait=False)
            if app.state.faq_worker is not None:
                app.state.faq_worker.stop()
            app.state.fetcher.close()
            app.state.search_reader.close()
            engine.dispose()

    app = SecureApp(
        title="coolpapers",
        summary="A self-hosted papers.cool: arXiv daily listings",
        lifespan=lifespan,
        docs_url=None,  # install_docs: same-origin files, no CDN, no inline script
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.settings = settings
    app.state.templates = make_templates(settings, asset_dir("templates"))
    # the notice of an unreachable arXiv on the home and list pages reads the runs itself
    app.state.templates.env.globals["ingest_alert"] = status.ingest_alert
    app.state.scheduler_enabled = scheduler
    app.mount("/static", StaticFiles(directory=asset_dir("static")), name="static")
    # before day_list, whose /arxiv/{spec:path} and /api/papers/{id:path} match anything
    for module in (home, status, search, faq, day_list):
        app.include_router(module.router)
    security.install_docs(app)
    errors.install(app)
    return app
