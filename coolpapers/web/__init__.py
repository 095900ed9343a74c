"""The web app: ``create_app(settings)`` builds everything; nothing happens at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from coolpapers import ingest
from coolpapers.config import Settings
from coolpapers.db import make_engine, make_sessionmaker
from coolpapers.web import errors, routes_arxiv, routes_home, routes_status
from coolpapers.web.templating import make_templates

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def create_app(settings: Settings, *, scheduler: bool = False) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings)
        app.state.sessionmaker = make_sessionmaker(engine)
        app.state.fetcher = ingest.arxiv_fetcher(settings)
        jobs = None
        if scheduler:
            from coolpapers.scheduler import build_scheduler

            jobs = build_scheduler(settings, app.state.sessionmaker)
            jobs.start()
        try:
            yield
        finally:
            if jobs is not None:
                jobs.shutdown(wait=False)
            app.state.fetcher.close()
            engine.dispose()

    app = FastAPI(
        title="coolpapers",
        summary="A self-hosted papers.cool: arXiv daily listings",
        lifespan=lifespan,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.templates = make_templates(settings, PACKAGE_DIR / "templates")
    app.state.scheduler_enabled = scheduler
    app.mount("/static", StaticFiles(directory=PACKAGE_DIR / "static"), name="static")
    for module in (routes_home, routes_status, routes_arxiv):
        app.include_router(module.router)
    errors.install(app)
    return app
