"""The life of a fake HTTP server on 127.0.0.1: `ThreadedServer`, which each fake subclasses.

A `ThreadingHTTPServer` on an ephemeral port, served from a background thread, one named thread
per connection. `stop` ends everything `start` began: it stops accepting, shuts down every open
connection (so stalled or dripping handlers return) and joins the handler threads, raising when
one does not stop. Exceptions raised in handler threads are kept (`errors`).

A fake sets `label`, its thread names and `handler_class` (a `FakeHandler`, which reaches the
fake as `owner`), and keeps only its own routes and behaviours. Given `tls` (a server-side
SSLContext), a fake speaks HTTPS: the handshake runs in the connection's own thread.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Self, cast

_POLL_S = 0.02
_JOIN_TIMEOUT_S = 5.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # ThreadedServer.stop joins the handler threads itself, with a timeout
    owner: ThreadedServer

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._run,
            args=(request, client_address),
            name=self.owner.connection_thread_name,
            daemon=True,
        )
        with self.owner._lock:
            self.owner._threads.add(thread)
        thread.start()

    def _run(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self.owner._lock:
                self.owner._threads.discard(threading.current_thread())

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if exc is not None:
            with self.owner._lock:
                self.owner._errors.append(exc)


class FakeHandler(BaseHTTPRequestHandler):
    """A fake's request handler: HTTP/1.1 keep-alive, no log lines, connections tracked."""

    protocol_version = "HTTP/1.1"

    @property
    def owner(self) -> ThreadedServer:
        return cast(_Server, self.server).owner

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):  # accepted without the handshake
            self.request.settimeout(_JOIN_TIMEOUT_S)
            self.request.do_handshake()
            self.request.settimeout(None)
        super().setup()
        self.owner._connection_opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.owner._connection_closed(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class ThreadedServer:
    """Start, stop and connection bookkeeping of a fake served from a background thread."""

    label: ClassVar[str]  # "fake arXiv": names the fake in errors
    server_thread_name: ClassVar[str]
    connection_thread_name: ClassVar[str]
    handler_class: ClassVar[type[FakeHandler]]

    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self._lock = threading.Lock()  # guards the fake's state too
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._errors: list[BaseException] = []
        self._open_connections = 0
        self._max_open_connections = 0

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError(f"{self.label} already started")
        self._stopping.clear()
        server = _Server(("127.0.0.1", 0), self.handler_class)
        server.owner = self
        if self.tls is not None:
            server.socket = self.tls.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": _POLL_S},
            name=self.server_thread_name,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, end every connection (stalls and drips included) and join the handler
        threads."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.shutdown()
        thread.join()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        give_up = time.monotonic() + _JOIN_TIMEOUT_S
        with self._lock:
            threads = list(self._threads)
        for handler in threads:
            handler.join(max(0.0, give_up - time.monotonic()))
        self._server = None
        self._thread = None
        leaked = [t for t in threads if t.is_alive()]
        if leaked:
            raise RuntimeError(f"{self.label}: {len(leaked)} handler thread(s) did not stop")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{self.label} not started")
        return int(self._server.server_address[1])

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions raised in handler threads (client resets and such), for debugging."""
        with self._lock:
            return list(self._errors)

    # -- handler threads -------------------------------------------------------------------------

    def _connection_opened(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)
            self._open_connections += 1
            self._max_open_connections = max(self._max_open_connections, self._open_connections)

    def _connection_closed(self, conn: socket.socket) -> None:
        with self._lock:
            if conn in self._connections:
                self._connections.discard(conn)
                self._open_connections -= 1

    def _wait(self, h: BaseHTTPRequestHandler, seconds: float) -> bool:
        """Sleep `seconds`; False as soon as the server stops or the client hangs up."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if self._stopping.wait(min(left, _POLL_S)):
                return False
            if _client_gone(h.connection):
                return False
        return True


def _client_gone(conn: socket.socket) -> bool:
    try:
        readable, _, _ = select.select([conn], [], [], 0)
        if not readable:
            return False
        if isinstance(conn, ssl.SSLSocket):  # no peeking through TLS; the stop still ends it
            return False
        return conn.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True
