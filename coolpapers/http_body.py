"""Reading one response body within bounds, for every outbound client (http.Fetcher, the LLM
client): a hard deadline on the whole read, and a decoder that never inflates past a cap.

A read timeout bounds each wait, not the whole body, so a server that goes silent can hold a read
past the caller's deadline. The watchdog shuts the response's socket down at the deadline: the
blocked read returns (an error, or what looks like the end of a close-delimited body) and the
caller, seeing ``fired``, reports the deadline instead. Callers still check their clock per chunk;
the watchdog is for the read that never returns.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import zlib

import httpx

from coolpapers.errors import FetchError

__all__ = ["BodyDecoder", "CorruptBody", "DeadlineWatchdog"]


class CorruptBody(Exception):
    """A compressed body that cannot be decoded, or ends early (worth fetching again)."""


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


class BodyDecoder:
    """Content-Encoding decoder that never produces more than the caller has room for."""

    def __init__(self, content_encoding: str | None) -> None:
        codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
        codings = [c for c in codings if c and c != "identity"]
        self._fed = False
        self._zlib: zlib._Decompress | None = None
        self._gzip = False
        self._deflate_probe = False
        if not codings:
            return
        if codings in (["gzip"], ["x-gzip"]):
            self._gzip = True
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif codings == ["deflate"]:
            # "deflate" is meant to be zlib-wrapped, but some servers send raw deflate.
            self._deflate_probe = True
            self._zlib = zlib.decompressobj()
        else:
            raise FetchError(f"unsupported Content-Encoding {content_encoding!r}")

    def feed(self, data: bytes, room: int) -> bytes:
        """Decode `data`; the result exceeds `room` only to signal "too large"."""
        if self._zlib is None:
            return data
        if data:
            self._fed = True
        out = bytearray()
        pending = data
        while pending:
            limit = room - len(out) + 1  # ≥ 1: max_length 0 would mean "unlimited"
            try:
                out += self._zlib.decompress(pending, limit)
            except zlib.error as exc:
                if self._deflate_probe and not out:
                    self._deflate_probe = False
                    self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise CorruptBody("undecodable compressed body") from exc
            self._deflate_probe = False
            if len(out) > room:
                break
            if self._zlib.eof:
                pending = self._zlib.unused_data
                if pending and self._gzip:  # concatenated gzip members
                    self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
                    continue
                break
            pending = self._zlib.unconsumed_tail
        return bytes(out)

    def finish(self) -> bytes:
        if self._zlib is None or not self._fed:
            return b""
        tail = self._zlib.flush()
        if not self._zlib.eof:
            raise CorruptBody("truncated compressed body")
        return tail
