"""``coolpapers serve --workers N``: N web processes on one port, one database and one search
index, that all answer, and stop on SIGTERM. A real process tree; which process answered a
connection is read from /proc (the worker holding the connection's socket), so no page has to
tell its process id."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import ingest
from coolpapers.config import Settings
from tests.conftest import RSS
from tests.fakes.arxiv_server import FakeArxiv
from tests.test_shutdown import EXIT_S, STARTUP_S, process_env, wait_for

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc")

WORKERS = 2
PAGE = "/arxiv/cs.LG?date=2026-08-21"
MAX_CONNECTIONS = 200  # both workers accept long before this many


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(port: int, path: str) -> tuple[socket.socket, int, bytes]:
    """GET on a new connection, left open (the answering worker keeps its socket): the
    connection, the status and the body."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=EXIT_S)
    conn.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    reader = conn.makefile("rb")
    status = int(reader.readline().split()[1])
    length = 0
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return conn, status, reader.read(length)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def owner(conn: socket.socket, port: int, pids: list[int]) -> int | None:
    """The process among ``pids`` holding the server's end of ``conn``."""
    mine = conn.getsockname()[1]
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = (int(a.rsplit(":", 1)[1], 16) for a in fields[1:3])
        if (local, remote) == (port, mine):
            inode = fields[9]
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    return None


@pytest.fixture
def server(
    settings: Settings, engine: Engine, factory: sessionmaker[Session], tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    reports = ingest.ingest_files(factory, [RSS / "rss-cs.LG-2026-08-21-fri.xml"])
    assert not any(r.failed for r in reports)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "coolpapers", "serve", "--no-scheduler", "--port", str(port)]
        + ["--workers", str(WORKERS)],
        env=process_env(settings, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def answers(port: int) -> bool:
    try:
        conn, status, _ = get(port, "/status")
    except OSError:
        return False
    conn.close()
    return status == 200


def test_every_worker_serves_and_sigterm_stops_them_all(
    server: tuple[subprocess.Popen[str], int],
) -> None:
    proc, port = server
    wait_for(lambda: answers(port) or proc.poll() is not None, STARTUP_S, "the server")
    assert proc.poll() is None
    wait_for(lambda: len(children(proc.pid)) >= WORKERS, STARTUP_S, "the workers")
    workers = children(proc.pid)
    served: dict[int, bytes] = {}
    held: list[socket.socket] = []
    try:
        while len(served) < WORKERS and len(held) < MAX_CONNECTIONS:
            conn, status, body = get(port, PAGE)
            held.append(conn)  # open: the next connection may go to the other worker
            assert status == 200
            pid = owner(conn, port, workers)
            assert pid is not None
            served[pid] = body
    finally:
        for conn in held:
            conn.close()
    assert len(served) == WORKERS, f"{len(held)} connections, all to {list(served)}"
    first, second = served.values()
    assert first == second and b'id="2608.' in first  # one database behind both

    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=EXIT_S)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    # the workers (not multiprocessing's helper, which leaves once its parent is gone)
    assert not [pid for pid in served if Path(f"/proc/{pid}").exists()]


def test_workers_must_be_a_positive_number(settings: Settings, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "coolpapers", "serve", "--workers", "0"],
        env=process_env(settings, tmp_path),
        capture_output=True,
        text=True,
        timeout=EXIT_S,
    )
    assert done.returncode == 2
    assert "--workers: at least 1" in done.stderr and "Traceback" not in done.stderr


def test_the_scheduler_runs_once_in_the_parent(
    settings: Settings,
    engine: Engine,
    factory: sessionmaker[Session],
    fake_arxiv: FakeArxiv,
    tmp_path: Path,
) -> None:
    """With the scheduler on, N web processes and one scheduler: the parent's (its log says
    so once), which ingests the day the workers then serve."""
    fake_arxiv.serve_feed("cs.LG", RSS / "rss-cs.LG-2026-08-21-fri.xml")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "coolpapers", "serve", "--port", str(port)]
        + ["--workers", str(WORKERS)],
        env=process_env(settings, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: answers(port) or proc.poll() is not None, STARTUP_S, "the server")

        def ingested() -> bool:
            conn, status, body = get(port, "/api/arxiv/cs.LG")
            conn.close()
            return status == 200 and b'"date":"2026-08-21"' in body

        wait_for(ingested, STARTUP_S, "the scheduler's ingest, served by the workers")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=EXIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert (out + err).count("Scheduler started") == 1
    assert len(fake_arxiv.requests_to("/rss/cs.LG")) == 1
