"""Helpers of the browser tests: the real app under uvicorn on 127.0.0.1 in a thread, headless
Chromium from the system (never downloaded), and a hostile feed made from a real one."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STARTUP_TIMEOUT_S = 10.0


def require_chromium() -> None:
    """Skip without a system Chromium; in CI (CI=true) its absence is a failure."""
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run ``app`` under uvicorn on a free port of 127.0.0.1; yields its base URL."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", ws="none", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
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


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


# What the decoded text of a hostile feed item carries (escaped once in the XML).
SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=1">'
JS_URL = "javascript:window.__pwned=1"
HOSTILE_ID = "2504.17039"


def _xml(text: str) -> bytes:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").encode()


def _replace_once(body: bytes, old: bytes, new: bytes) -> bytes:
    assert body.count(old) == 1, old
    return body.replace(old, new)


def hostile_feed(real: Path, out: Path) -> Path:
    """The real cs.CV feed of 2025-04-25 with its first item (2504.17039) made hostile: markup in
    the title, abstract and an author, ``javascript:`` as DOI and licence, and an attribute
    breakout in the journal reference. Escaped once, so the XML stays well-formed."""
    body = real.read_bytes()
    body = _replace_once(
        body,
        b"<title>Dense Air Pollution Estimation",
        b"<title>" + _xml(SCRIPT + IMG) + b" Dense Air Pollution Estimation",
    )
    body = _replace_once(
        body,
        b"Abstract: This paper addresses the critical environmental",
        b"Abstract: " + _xml(SCRIPT + IMG) + b" This paper addresses the critical environmental",
    )
    body = _replace_once(
        body,
        b"<dc:rights>http://creativecommons.org/licenses/by/4.0/</dc:rights>\n"
        b"      <dc:creator>Ruben Gonzalez Avil\\'es,",
        b"<dc:rights>" + _xml(JS_URL) + b"</dc:rights>\n"
        b"      <arxiv:DOI>" + _xml(JS_URL + "//10.1000/x") + b"</arxiv:DOI>\n"
        b"      <arxiv:journal_reference>" + _xml('">' + SCRIPT) + b"</arxiv:journal_reference>\n"
        b"      <dc:creator>" + _xml(IMG) + b" Ruben, " + _xml(SCRIPT) + b",",
    )
    out.write_bytes(body)
    return out
