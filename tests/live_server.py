"""The real app under uvicorn on a free port of 127.0.0.1, in a thread: for browser tests and
benchmarks that need real HTTP (and nothing from Playwright)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

# a bound on waiting for uvicorn to report it started (never spent when it starts)
STARTUP_TIMEOUT_S = 30.0


@contextmanager
def serve(app: FastAPI, *, thread_name: str = "uvicorn") -> Iterator[str]:
    """Run ``app`` until the block ends; yields its base URL."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        access_log=False,
        ws="none",
        lifespan="on",
        proxy_headers=False,  # as `coolpapers serve`: web.auth.TrustedProxy decides
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=thread_name, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_TIMEOUT_S)
