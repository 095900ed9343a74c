"""Ctrl+C: ``coolpapers worker`` and ``serve`` stop within seconds even mid-ingest (a fetch from an
arXiv that stalls, or a Retry-After sleep), say nothing like a traceback (not on a second Ctrl+C
either), mark the run interrupted and release the ingest lease. Real processes, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import ingest, store
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.models import IngestRun
from tests.conftest import RSS
from tests.fakes.arxiv_server import FakeArxiv, Fault, RecordedRequest

LG = RSS / "rss-cs.LG-2026-08-21-fri.xml"
STARTUP_S = 60.0  # generous: a busy 2-core machine imports the app slowly
# Generous too. What proves a prompt stop is the exit code: 0 only when every job returned
# within the process's own bound (scheduler.STOP_TIMEOUT_S), else it exits 1; the time is printed.
EXIT_S = 30.0


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def running_run(factory: sessionmaker[Session]) -> bool:
    with session_scope(factory) as s:
        return any(r.status == "running" for r in s.scalars(select(IngestRun)))


def feed_requests(fake: FakeArxiv) -> list[RecordedRequest]:
    return fake.requests_to("/rss/cs.LG")


def process_env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COOLPAPERS_")}
    for name, value in settings.model_dump().items():
        env[f"COOLPAPERS_{name.upper()}"] = str(value)
    # long enough that only a stop, not a timeout, can end the fetch within the test's bounds
    env.update(
        COOLPAPERS_FETCH_TIMEOUT_S="120",
        COOLPAPERS_FETCH_DEADLINE_S="300",
        COOLPAPERS_FETCH_MAX_ATTEMPTS="3",
        COOLPAPERS_DATA_DIR=str(tmp_path / "process-data"),
    )
    return env


@pytest.mark.parametrize(
    ("command", "fault", "signals"),
    [
        ("worker", "stall", 1),
        ("worker", "retry-after", 2),
        ("serve", "stall", 2),
        ("serve", "retry-after", 1),
    ],
)
def test_ctrl_c_stops_mid_ingest_and_frees_the_lease(
    command: str,
    fault: str,
    signals: int,
    settings: Settings,
    factory: sessionmaker[Session],
    fake_arxiv: FakeArxiv,
    tmp_path: Path,
) -> None:
    fake_arxiv.serve_feed("cs.LG", LG)
    if fault == "stall":
        fake_arxiv.script("/rss/cs.LG", [Fault.stall(300)])
    else:  # a 429 whose Retry-After the fetcher sleeps out before trying again
        fake_arxiv.script("/rss/cs.LG", [Fault.status(429, retry_after="200")] * 3)
    args = [sys.executable, "-m", "coolpapers", command]
    if command == "serve":
        args += ["--port", "0"]
    proc = subprocess.Popen(
        args,
        env=process_env(settings, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: running_run(factory), STARTUP_S, "the ingest run to start")
        # stalled: the request is in; Retry-After: the 429 is answered and being slept out
        wait_for(
            lambda: any(r.end is not None or fault == "stall" for r in feed_requests(fake_arxiv)),
            STARTUP_S,
            "the fetch to be under way",
        )
        with session_scope(factory) as s:
            assert store.lease_holder(s, ingest.INGEST_LEASE) is not None  # held mid-ingest
        asked = time.monotonic()
        for _ in range(signals):
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=EXIT_S)
        took = time.monotonic() - asked
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    print(f"{command} ({fault}, {signals} x SIGINT) exited in {took:.2f} s")
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "Traceback" not in out
    with session_scope(factory) as s:
        assert store.lease_holder(s, ingest.INGEST_LEASE) is None  # released on the way out
        [run] = list(s.scalars(select(IngestRun).where(IngestRun.source == "rss")))
        assert run.status == "interrupted" and run.error == ingest.runs.STOPPED_ERROR
