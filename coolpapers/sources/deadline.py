"""A hard deadline on reading one streamed httpx response: ``DeadlineWatchdog``.

A read timeout bounds each wait, not the whole body, so a server that goes silent can hold a
read past the caller's deadline. The watchdog shuts the response's socket down at the deadline:
the blocked read returns (an error, or what looks like the end of a close-delimited body) and
the caller, seeing ``fired``, reports the deadline instead. Callers still check their clock per
chunk; the watchdog is for the read that never returns. Used by the arXiv fetcher and the LLM
client (summarize), so it lives in this lower layer.
"""

from __future__ import annotations

import contextlib
import socket
import threading

import httpx

__all__ = ["DeadlineWatchdog"]


class DeadlineWatchdog:
    """Shuts ``response``'s socket down ``seconds`` from now, unless cancelled first.

    ``thread_name`` names the timer thread (it shows in thread dumps). Without a socket to reach
    (a transport that exposes none) it does nothing and never fires. Always ``cancel`` it once
    the response is done with, in a ``finally``.
    """

    def __init__(self, response: httpx.Response, seconds: float, *, thread_name: str) -> None:
        self.fired = False
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._timer: threading.Timer | None = None
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(sock, socket.socket):
            self._sock = sock
            self._timer = threading.Timer(max(seconds, 0.0), self._fire)
            self._timer.name = thread_name
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._sock is None:  # cancelled (or nothing to cut)
                return
            self.fired = True
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        """Stop the timer; from here on the socket is never touched."""
        with self._lock:
            self._sock = None
        if self._timer is not None:
            self._timer.cancel()
