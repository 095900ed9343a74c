"""The app of each web process when several serve one site (``coolpapers serve --workers N``, or
uvicorn's and gunicorn's own workers): they are started from an import string, so each builds
its app here from the environment's settings, as ``coolpapers serve`` reads them. The scheduler
runs in none of them (``coolpapers serve`` runs it in its parent process, or run ``coolpapers
worker`` beside them); they share the database and the data directory's search index, and
each its own cache of day lists (``web.page_cache``, kept true across processes by the
database's pages generation).

    uvicorn --factory coolpapers.web.workers:app --workers 2 --no-proxy-headers
"""

from __future__ import annotations

from fastapi import FastAPI

from coolpapers.config import load_settings
from coolpapers.web import create_app


def app() -> FastAPI:
    """A web process's app (uvicorn ``--factory``): settings from the environment, no scheduler."""
    return create_app(load_settings(), scheduler=False)
