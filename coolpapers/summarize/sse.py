"""Server-sent events as chat endpoints send them: ``SSEDecoder`` turns bytes into ``SSEEvent``s.

Tolerant of what OpenAI-compatible servers really send: CRLF line ends, a missing blank line
between events, and older llama.cpp's non-standard ``error: …`` lines (an event of its own kind).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from coolpapers.errors import LLMServerError

__all__ = ["MAX_LINE_BYTES", "SSEDecoder", "SSEEvent"]

MAX_LINE_BYTES = 1024 * 1024  # one SSE line longer than this is not a chat stream


@dataclass(frozen=True)
class SSEEvent:
    kind: str  # "data", or "error" for a non-standard `error: …` line (older llama.cpp)
    data: str
    event: str = ""  # the `event:` field, if the server set one


class SSEDecoder:
    """Incremental server-sent-events parser: feed bytes, get events.

    Lines end with LF or CRLF. `data:` lines accumulate until a blank line; a server that omits
    the blank line between events is tolerated (a complete JSON value is dispatched as soon as
    the next `data:` line arrives). Comments (`:`) and `id:`/`retry:` are ignored.
    """

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self._max_line = max_line_bytes
        self._buf = bytearray()
        self._data: list[str] = []
        self._event = ""

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        self._buf += chunk
        events: list[SSEEvent] = []
        start = 0
        while (nl := self._buf.find(b"\n", start)) >= 0:
            self._line(bytes(self._buf[start:nl]), events)
            start = nl + 1
        del self._buf[:start]
        if len(self._buf) > self._max_line:
            raise LLMServerError(f"LLM stream: a line longer than {self._max_line} bytes")
        return events

    def close(self) -> list[SSEEvent]:
        """Events left at the end of the stream (a last line without newline included)."""
        events: list[SSEEvent] = []
        if self._buf:
            self._line(bytes(self._buf), events)
            self._buf.clear()
        self._dispatch(events)
        return events

    def _line(self, raw: bytes, events: list[SSEEvent]) -> None:
        line = raw.removesuffix(b"\r").decode("utf-8", errors="replace")
        if not line:
            self._dispatch(events)
            return
        if line.startswith(":"):
            return
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            if len(self._data) == 1 and _is_whole(self._data[0]):
                self._dispatch(events)
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "error":
            self._dispatch(events)
            events.append(SSEEvent("error", value))

    def _dispatch(self, events: list[SSEEvent]) -> None:
        if self._data:
            events.append(SSEEvent("data", "\n".join(self._data), self._event))
        self._data = []
        self._event = ""


def _is_whole(data: str) -> bool:
    if data.strip() == "[DONE]":
        return True
    try:
        json.loads(data)
    except ValueError:
        return False
    return True
