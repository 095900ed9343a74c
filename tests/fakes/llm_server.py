"""A fake OpenAI-compatible LLM on 127.0.0.1: real HTTP, real chunked SSE, scripted faults.

    with FakeLLM() as llm:
        llm.script([Mode.status(429, retry_after=1), Mode.ok(text="Hello", chunks=3)])
        ...  # point the code under test at llm.base_url (…/v1)
        assert llm.calls == 2 and llm.requests[0]["model"] == "fake-model"

`POST /v1/chat/completions` answers each request with the next scripted `Mode`, then with
`default` (settable; `Mode.ok()` unless changed). `GET /v1/models` lists one model. Every
request body is recorded (parsed JSON, `requests`; headers in `request_headers`), as is the
peak number of requests in flight (`max_concurrent`), the time each content chunk was written
(`chunk_times`, for latency measurements) and the body bytes each streamed answer managed to
send before it ended or the client hung up (`bytes_sent`: what a runaway cost the client).

Without an explicit text, answers are `default_text(n)` where n is the number of user messages
in the request: in a one-question-at-a-time conversation, question n gets "Answer n …".
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from tests.fakes.threaded_server import FakeHandler, ThreadedServer

MODEL = "fake-model"

RATE_LIMIT_BODY: dict[str, Any] = {
    "error": {"type": "rate_limit_reached_error", "message": "Rate limit reached, slow down"}
}
QUOTA_BODY: dict[str, Any] = {
    "error": {
        "type": "exceeded_current_quota_error",
        "message": "Your account is suspended due to insufficient balance",
    }
}
AUTH_BODY: dict[str, Any] = {
    "error": {"type": "invalid_authentication_error", "message": "Invalid Authentication"}
}
HOSTILE_TEXT = (
    "The paper studies **attention**.\n\n"
    "<script>alert(1)</script>\n\n"
    "[read more](javascript:alert(1))\n\n"
    "![beacon](http://127.0.0.1:9/pixel.png)\n\n"
    "<img src=x onerror=alert(1)>\n\n"
    '<iframe src="http://127.0.0.1:9/frame"></iframe>\n\n'
    "Formula: $a^2 + b^2 = c^2$."
)


def default_text(question_index: int) -> str:
    """The answer to question `question_index` (1-based) when no text is scripted."""
    return (
        f"Answer {question_index} about the paper: it studies one problem, "
        f"and point {question_index} is made in several words."
    )


@dataclass(frozen=True)
class Mode:
    """How to answer one request; build them with the class methods."""

    kind: str
    text: str | None = None  # None: default_text / echo / hostile
    chunks: int = 4
    chunk_delay_s: float = 0.0
    usage: bool = True  # send a usage chunk (when the request asked for one)
    finish: str | None = "stop"
    done: bool = True
    after_chunks: int = 0
    message: str = ""
    code: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0
    reasoning_text: str = ""
    reasoning_field: str = "reasoning_content"
    keepalive: bool = False  # `: keep-alive` comments around the chunks
    error_style: str = "data"  # "data": data: {"error": …}; "line": llama.cpp's `error: …`
    chunked: bool = True  # False: close-delimited body (a cut then looks like a clean EOF)
    max_bytes: int = 0  # runaway: stop after this many body bytes

    @classmethod
    def ok(
        cls,
        text: str | None = None,
        *,
        chunks: int = 4,
        chunk_delay_s: float = 0.0,
        usage: bool = True,
        finish: str | None = "stop",
        done: bool = True,
        keepalive: bool = False,
    ) -> Mode:
        return cls(
            "ok",
            text=text,
            chunks=chunks,
            chunk_delay_s=chunk_delay_s,
            usage=usage,
            finish=finish,
            done=done,
            keepalive=keepalive,
        )

    @classmethod
    def length(cls, text: str | None = None, *, chunks: int = 4) -> Mode:
        """A normal end with finish_reason "length" (hit max tokens)."""
        return cls("ok", text=text, chunks=chunks, finish="length")

    @classmethod
    def cut(
        cls,
        after_chunks: int = 2,
        *,
        text: str | None = None,
        chunks: int = 4,
        chunked: bool = True,
    ) -> Mode:
        """Send `after_chunks` content chunks, then close: no finish_reason, no [DONE]."""
        return cls("cut", text=text, chunks=chunks, after_chunks=after_chunks, chunked=chunked)

    @classmethod
    def midstream_error(
        cls,
        after_chunks: int = 1,
        *,
        message: str = "The server had an error while processing your request",
        style: str = "data",
        text: str | None = None,
        chunks: int = 4,
    ) -> Mode:
        """`after_chunks` chunks, then an error event (`data: {"error": …}` or, style "line",
        an `error: {…}` line as older llama.cpp sends), then the end of the body."""
        return cls(
            "midstream_error",
            text=text,
            chunks=chunks,
            after_chunks=after_chunks,
            message=message,
            error_style=style,
        )

    @classmethod
    def status(
        cls,
        code: int,
        body: Mapping[str, Any] | str | bytes | None = None,
        *,
        retry_after: float | str | None = None,
        headers: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> Mode:
        """A non-streamed answer with status `code` (a JSON error body unless given).
        `status(200, {...})` is a JSON body where a stream was expected."""
        extra = list((headers or {}).items())
        if retry_after is not None:
            value = retry_after if isinstance(retry_after, str) else f"{retry_after:g}"
            extra.append(("Retry-After", value))
        if body is None:
            body = {"error": {"type": "fake_error", "message": f"fake HTTP {code}"}}
        if isinstance(body, Mapping):
            data = json.dumps(body).encode()
            ctype = content_type or "application/json"
        else:
            data = body.encode() if isinstance(body, str) else body
            ctype = content_type or "text/plain; charset=utf-8"
        return cls("status", code=code, body=data, content_type=ctype, headers=tuple(extra))

    @classmethod
    def rate_limited(cls, retry_after: float | str | None = None) -> Mode:
        return cls.status(429, RATE_LIMIT_BODY, retry_after=retry_after)

    @classmethod
    def quota(cls) -> Mode:
        """Kimi's "no money" 429: must not be retried."""
        return cls.status(429, QUOTA_BODY)

    @classmethod
    def stall(cls, before_first_byte_s: float) -> Mode:
        """Read the request, send nothing for that long (ends early if the client leaves or the
        server stops), then answer normally."""
        return cls("stall", seconds=before_first_byte_s)

    @classmethod
    def silent_after(cls, after_chunks: int = 1, seconds: float = 30.0) -> Mode:
        """`after_chunks` chunks, then silence for `seconds` (no keep-alives), then close."""
        return cls("silent_after", after_chunks=after_chunks, seconds=seconds)

    @classmethod
    def slow_first_token(
        cls, delay_s: float, text: str | None = None, *, keepalive_every_s: float = 0.1
    ) -> Mode:
        """Headers at once, `: keep-alive` comments every `keepalive_every_s` for `delay_s`,
        then a normal stream."""
        return cls("slow_first_token", text=text, seconds=delay_s, chunk_delay_s=keepalive_every_s)

    @classmethod
    def reasoning(
        cls, reasoning_text: str, text: str | None = None, *, field: str = "reasoning_content"
    ) -> Mode:
        """Reasoning deltas (`reasoning_content` or `reasoning`) before the content deltas."""
        return cls("ok", text=text, reasoning_text=reasoning_text, reasoning_field=field)

    @classmethod
    def runaway(cls, piece: str = "and so on, ", *, max_bytes: int = 64 * 1024 * 1024) -> Mode:
        """A provider ignoring max_tokens: `piece` after `piece`, one small delta per event as
        real streams have them, never a finish_reason, until `max_bytes` of body or the client
        hangs up. The send buffer is kept small so `bytes_sent` is close to what was read."""
        return cls("runaway", text=piece, max_bytes=max_bytes)

    @classmethod
    def echo(cls, *, chunks: int = 4) -> Mode:
        """Answer with the content of the last user message received."""
        return cls("echo", chunks=chunks)

    @classmethod
    def hostile(cls) -> Mode:
        """Markdown carrying script tags, javascript: links, a remote image, raw HTML."""
        return cls("ok", text=HOSTILE_TEXT)


@dataclass
class _State:
    script: deque[Mode] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    request_headers: list[dict[str, str]] = field(default_factory=list)
    request_times: list[float] = field(default_factory=list)
    chunk_times: list[tuple[float, str]] = field(default_factory=list)
    bytes_sent: list[int] = field(default_factory=list)
    active: int = 0
    max_active: int = 0


class _Handler(FakeHandler):
    timeout = 10  # an idle keep-alive connection is dropped after this
    server_version = "fake-llm/1"

    @property
    def fake(self) -> FakeLLM:
        return cast(FakeLLM, self.owner)

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            body = {"object": "list", "data": [{"id": MODEL, "object": "model"}]}
            self._send(200, json.dumps(body).encode(), "application/json")
        else:
            self._send(404, b'{"error": {"message": "not found"}}', "application/json")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(404, b'{"error": {"message": "not found"}}', "application/json")
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._send(400, b'{"error": {"message": "body is not JSON"}}', "application/json")
            return
        self.fake._serve(self, body if isinstance(body, dict) else {"_raw": body})

    def _send(
        self, code: int, data: bytes, ctype: str, headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _SSE:
    """Writes one SSE response: each event is one HTTP chunk (or raw bytes, close-delimited)."""

    def __init__(
        self, h: _Handler, fake: FakeLLM, model: str, *, chunked: bool, index: int
    ) -> None:
        self.h, self.fake, self.model, self.chunked = h, fake, model, chunked
        self.index = index  # of the request, in `bytes_sent`
        self.sent = 0
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream; charset=utf-8")
        h.send_header("Cache-Control", "no-cache")
        if chunked:
            h.send_header("Transfer-Encoding", "chunked")
        else:
            h.send_header("Connection", "close")
            h.close_connection = True
        h.end_headers()

    def raw(self, text: str) -> None:
        data = text.encode()
        if self.chunked:
            data = b"%x\r\n" % len(data) + data + b"\r\n"
        self.h.wfile.write(data)
        self.h.wfile.flush()
        self.sent += len(data)
        self.fake._sent(self.index, len(data))

    def event(self, payload: Mapping[str, Any]) -> None:
        self.raw(f"data: {json.dumps(payload, ensure_ascii=False)}\n\n")

    def chunk(self, delta: Mapping[str, Any], finish: str | None = None) -> None:
        self.event(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": self.model,
                "choices": [{"index": 0, "delta": dict(delta), "finish_reason": finish}],
            }
        )

    def content(self, piece: str) -> None:
        self.chunk({"content": piece})
        self.fake._chunk_written(piece)

    def comment(self) -> None:
        self.raw(": keep-alive\n\n")

    def end(self) -> None:
        """End the body properly (the terminating chunk)."""
        if self.chunked:
            self.h.wfile.write(b"0\r\n\r\n")
            self.h.wfile.flush()

    def abort(self) -> None:
        """Close the connection without ending the body."""
        self.h.close_connection = True
        with contextlib.suppress(OSError):
            self.h.connection.shutdown(socket.SHUT_RDWR)


class FakeLLM(ThreadedServer):
    """A fake OpenAI-compatible chat endpoint served from a background thread on 127.0.0.1."""

    label = "fake LLM"
    server_thread_name = "fake-llm"
    connection_thread_name = "fake-llm-conn"
    handler_class = _Handler

    def __init__(self) -> None:
        super().__init__()
        self.default: Mode = Mode.ok()
        self._state = _State()

    @property
    def base_url(self) -> str:
        """For LLM_BASE_URL."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting and observations --------------------------------------------------------------

    def script(self, modes: Iterable[Mode]) -> None:
        """Queue modes: one per request, then `default`."""
        with self._lock:
            self._state.script.extend(modes)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._state.script)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Parsed JSON bodies of the chat requests, in arrival order."""
        with self._lock:
            return list(self._state.requests)

    @property
    def request_headers(self) -> list[dict[str, str]]:
        """Headers of the chat requests (lower-cased names)."""
        with self._lock:
            return list(self._state.request_headers)

    @property
    def request_times(self) -> list[float]:
        """time.monotonic() when each chat request arrived."""
        with self._lock:
            return list(self._state.request_times)

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self._state.requests)

    @property
    def max_concurrent(self) -> int:
        """Peak number of chat requests being answered at once."""
        with self._lock:
            return self._state.max_active

    @property
    def active(self) -> int:
        with self._lock:
            return self._state.active

    @property
    def bytes_sent(self) -> list[int]:
        """Body bytes of each streamed answer (by request) that reached the socket."""
        with self._lock:
            return list(self._state.bytes_sent)

    @property
    def chunk_times(self) -> list[tuple[float, str]]:
        """(time.monotonic() just after the write, text) of every content chunk sent."""
        with self._lock:
            return list(self._state.chunk_times)

    def reset(self) -> None:
        """Forget the recorded requests and chunk times (the script stays)."""
        with self._lock:
            state = self._state
            state.requests.clear()
            state.request_headers.clear()
            state.request_times.clear()
            state.chunk_times.clear()
            state.bytes_sent.clear()
            state.max_active = state.active

    # -- serving (handler threads) ---------------------------------------------------------------

    def _sent(self, index: int, size: int) -> None:
        with self._lock:
            self._state.bytes_sent[index] += size

    def _chunk_written(self, piece: str) -> None:
        with self._lock:
            self._state.chunk_times.append((time.monotonic(), piece))

    def _serve(self, h: _Handler, body: dict[str, Any]) -> None:
        with self._lock:
            state = self._state
            state.requests.append(body)
            state.request_headers.append({k.lower(): v for k, v in h.headers.items()})
            state.request_times.append(time.monotonic())
            state.bytes_sent.append(0)
            index = len(state.requests) - 1
            state.active += 1
            state.max_active = max(state.max_active, state.active)
            mode = state.script.popleft() if state.script else self.default
        try:
            self._respond(h, body, mode, index)
        except OSError:  # the client went away
            h.close_connection = True
        finally:
            with self._lock:
                self._state.active -= 1

    def _respond(self, h: _Handler, body: dict[str, Any], mode: Mode, index: int) -> None:
        if mode.kind == "status":
            h._send(mode.code, mode.body, mode.content_type, mode.headers)
            return
        if mode.kind == "stall":
            if not self._wait(h, mode.seconds):
                h.close_connection = True
                return
            mode = Mode.ok()
        model = str(body.get("model") or MODEL)
        text = self._text(body, mode)
        pieces = _split(text, mode.chunks)
        if mode.kind == "runaway":
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
        sse = _SSE(h, self, model, chunked=mode.chunked, index=index)
        if mode.kind == "runaway":
            sse.chunk({"role": "assistant", "content": ""})
            while sse.sent < mode.max_bytes:
                sse.content(text)  # an OSError when the client has hung up ends it
            sse.abort()
            return
        if mode.kind == "slow_first_token":
            end = time.monotonic() + mode.seconds
            while (left := end - time.monotonic()) > 0:
                sse.comment()
                if not self._wait(h, min(left, mode.chunk_delay_s)):
                    sse.abort()
                    return
        if mode.keepalive:
            sse.comment()
        sse.chunk({"role": "assistant", "content": ""})
        if mode.reasoning_text:
            for thought in _split(mode.reasoning_text, mode.chunks):
                sse.chunk({mode.reasoning_field: thought})
        if mode.kind in ("cut", "midstream_error", "silent_after"):
            for piece in pieces[: mode.after_chunks]:
                sse.content(piece)
            if mode.kind == "midstream_error":
                error = {"error": {"message": mode.message, "type": "server_error"}}
                if mode.error_style == "line":
                    sse.raw(f"error: {json.dumps(error)}\n\n")
                else:
                    sse.event(error)
                sse.end()
            elif mode.kind == "silent_after":
                self._wait(h, mode.seconds)
                sse.abort()
            elif mode.chunked:
                sse.abort()
            return
        for i, piece in enumerate(pieces):
            if i and mode.chunk_delay_s and not self._wait(h, mode.chunk_delay_s):
                sse.abort()
                return
            sse.content(piece)
            if mode.keepalive:
                sse.comment()
        if mode.finish is not None:
            sse.chunk({}, finish=mode.finish)
        options = body.get("stream_options")
        if mode.usage and isinstance(options, dict) and options.get("include_usage"):
            prompt = json.dumps(body.get("messages", []), ensure_ascii=False)
            sse.event(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": model,
                    "choices": [],
                    "usage": {
                        "prompt_tokens": len(prompt) // 4 + 1,
                        "completion_tokens": len(text) // 4 + 1,
                        "total_tokens": len(prompt) // 4 + len(text) // 4 + 2,
                    },
                }
            )
        if mode.done:
            sse.raw("data: [DONE]\n\n")
        sse.end()

    def _text(self, body: dict[str, Any], mode: Mode) -> str:
        messages = body.get("messages")
        users = [m for m in messages or [] if isinstance(m, dict) and m.get("role") == "user"]
        if mode.kind == "echo":
            return str(users[-1].get("content", "")) if users else ""
        if mode.text is not None:
            return mode.text
        return default_text(max(1, len(users)))


def _split(text: str, n: int) -> list[str]:
    """`text` in at most `n` non-empty pieces of about equal length."""
    if not text:
        return []
    n = max(1, min(n, len(text)))
    size = -(-len(text) // n)
    return [text[i : i + size] for i in range(0, len(text), size)]
