"""What a web process sets for itself at start (``web.process``): glibc's malloc arenas capped,
the sync routes' threads bounded and the CPU-bound pages taken in turn on threads of their
own, a small SQLite page cache per connection. The arenas are
counted by glibc itself (``malloc_info``), in a fresh interpreter: glibc fixes its limit once a
process has made more than 8 of them."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import anyio
import anyio.to_thread
import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from coolpapers.config import Settings
from coolpapers.db import WEB_SQLITE_CACHE_KIB
from coolpapers.web import create_app, paper, process

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc arenas")

THREADS = 12  # each gets an arena of its own when nothing caps them (glibc: up to 8 per core)
REPO = Path(__file__).resolve().parent.parent

# Threads that each malloc (a bytes object above pymalloc's 512 bytes) while the others are
# alive, then glibc's own count of its arenas: one <heap nr=...> each.
ARENAS_SCRIPT = textwrap.dedent(
    """
    import ctypes, os, sys, tempfile, threading
    from coolpapers.web import process
    if sys.argv[1] == "capped":
        assert process.limit_malloc_arenas()
    ready = threading.Barrier({threads} + 1)
    done = threading.Event()
    def work():
        kept = [bytes(4096) for _ in range(64)]
        ready.wait()
        done.wait()
    threads = [threading.Thread(target=work) for _ in range({threads})]
    for t in threads:
        t.start()
    ready.wait()
    libc = ctypes.CDLL(None)
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    path = tempfile.mktemp()
    stream = libc.fopen(path.encode(), b"w")
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    done.set()
    for t in threads:
        t.join()
    print(open(path).read().count("<heap nr="))
    os.unlink(path)
    """
).format(threads=THREADS)


def arenas(mode: str) -> int:
    env = {"PATH": "/usr/bin:/bin"}  # no MALLOC_ARENA_MAX / GLIBC_TUNABLES of ours
    done = subprocess.run(
        [sys.executable, "-c", ARENAS_SCRIPT, mode],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=True,
    )
    return int(done.stdout)


@glibc
def test_malloc_arenas_are_capped_for_the_threads_made_after() -> None:
    assert arenas("capped") <= process.MALLOC_ARENAS
    # the same threads without the cap: one arena each (the count this cap cuts)
    assert arenas("free") > process.MALLOC_ARENAS


@glibc
def test_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert process.limit_malloc_arenas() is False


def test_the_app_bounds_its_route_threads(settings: Settings, engine: Engine) -> None:
    app = create_app(settings)
    with TestClient(app) as client:
        assert client.portal is not None  # the app's event loop, where its lifespan ran
        tokens = client.portal.call(
            lambda: anyio.to_thread.current_default_thread_limiter().total_tokens
        )
        assert client.get("/status").status_code == 200
        assert app.state.render_limiter.total_tokens == process.RENDER_THREADS
    assert tokens == process.ROUTE_THREADS


def test_a_paper_to_fetch_waits_on_a_route_thread_not_a_render_thread() -> None:
    """A paper page is rendered on a render thread when its papers are stored; one that must
    wait on arXiv goes to the route threads instead and holds no render thread meanwhile."""
    seen: list[tuple[str, bool, int]] = []

    async def main() -> list[str]:
        limiter = process.render_limiter()
        request = SimpleNamespace(
            app=SimpleNamespace(state=SimpleNamespace(render_limiter=limiter))
        )

        def answer(paper_id: str, may_fetch: bool) -> str | None:
            seen.append((paper_id, may_fetch, limiter.borrowed_tokens))
            return f"page of {paper_id}" if paper_id == "stored" or may_fetch else None

        return [
            await paper._stored_first(cast(Request, request), answer, "stored"),
            await paper._stored_first(cast(Request, request), answer, "on arXiv"),
        ]

    assert anyio.run(main) == ["page of stored", "page of on arXiv"]
    assert seen == [("stored", False, 1), ("on arXiv", False, 1), ("on arXiv", True, 0)]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # SQLite's page cache
def test_the_web_keeps_a_small_sqlite_cache_and_others_the_default(
    settings: Settings, engine: Engine
) -> None:
    with engine.connect() as conn:  # make_engine's default: SQLite's own (2,000 KiB)
        assert conn.scalar(text("PRAGMA cache_size")) == -2000
    app = create_app(settings)
    with TestClient(app), app.state.sessionmaker() as session:
        assert session.scalar(text("PRAGMA cache_size")) == -WEB_SQLITE_CACHE_KIB
