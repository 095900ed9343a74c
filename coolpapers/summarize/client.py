"""Streaming chat completions from any OpenAI-compatible endpoint, over plain httpx.

    client = ChatClient(make_http_client(config), config)
    result = client.stream_chat(messages, on_delta=print)   # ChatResult, or an LLMError

What this module guarantees (reference/llm.md §1):

- A result is returned only for a *complete* generation: a `finish_reason` arrived and the stream
  ended with `data: [DONE]`. A cut stream raises `StreamIncomplete` (an `LLMIncomplete`) carrying
  the text received so far in `partial_text`; it is never returned as if it were whole.
- SSE comments (`: keep-alive`) and blank lines are skipped; reasoning deltas
  (`reasoning_content` / `reasoning`) are counted but never enter the answer text.
- Errors are typed (coolpapers.errors, mapped by `provider_errors`): HTTP statuses,
  `data: {"error": …}` events, llama.cpp's non-standard `error: …` lines and a 200 JSON error
  body all map to the same classes.
- Retryable errors are retried (Retry-After / retry-after-ms honoured, else exponential backoff)
  only while no answer text has been handed to `on_delta`: once a viewer saw text, a retry would
  show it twice, so the error is raised instead. Each retry is paid from a `RetryBudget`: the
  caller's (a FAQ job keeps one budget across its client and job retries, in the database), else
  `max_attempts - 1` retries per call. Every attempt resends the whole paper, so retries are few.
- A wait the provider asks for (Retry-After, retry-after-ms) holds the whole client: no thread
  calls the provider before it ends. A call that would have to wait longer than
  `max_retry_after_s` (or past its deadline) raises `LLMRateLimited` at once, carrying the wait.
- Output is capped by us, not only by max_tokens: past `output_char_cap` characters of answer +
  reasoning (or `output_byte_cap` bytes of stream) the connection is dropped and what arrived is
  returned as a result with finish_reason `OUTPUT_CAP` (truncated, never retried): a provider
  that ignores max_tokens costs one capped answer, not a 30-minute read and a retry.
- Time is bounded three ways: connect timeout, a per-chunk stall timeout, and an overall deadline
  checked per chunk and enforced on a silent socket by a watchdog that shuts the socket down.
- The API key goes only into the Authorization header; it is scrubbed from error messages.
- Connections go through the SSRF guard of `coolpapers.http` (`guarded_transport`): the provider's
  address is checked where the socket is opened; a loopback/private address only for the
  configured host:port and with `allow_private_networks` (a local llama.cpp server).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import httpx

from coolpapers.errors import (
    BlockedAddress,
    LLMError,
    LLMRateLimited,
    LLMServerError,
    LLMTimeout,
)
from coolpapers.http_body import DeadlineWatchdog
from coolpapers.summarize.provider import (
    ERROR_BODY_CAP,
    OUTPUT_CAP,
    ChatResult,
    CountedBudget,
    ProviderConfig,
    RetryBudget,
    StreamIncomplete,
)
from coolpapers.summarize.provider_errors import error_for_event, error_for_status, retry_hint
from coolpapers.summarize.sse import SSEDecoder, SSEEvent

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

_RESERVED_FIELDS = frozenset({"model", "messages", "stream"})  # extra_body cannot override these


def _redact(text: str, key: str) -> str:
    return text.replace(key, "***") if key else text


# -- the client --------------------------------------------------------------------------------


class _Failed(Exception):
    """One attempt failed with `error` (never escapes this module)."""

    def __init__(self, error: LLMError, retry_after_s: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after_s = retry_after_s


@dataclass
class _Progress:
    delivered: bool = False  # some answer text reached on_delta: no more retries


@dataclass
class _Stream:
    parts: list[str] = field(default_factory=list)
    chars: int = 0
    raw_bytes: int = 0
    reasoning_chars: int = 0
    finish_reason: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    done: bool = False
    started: bool = False  # a 200 event stream began

    @property
    def text(self) -> str:
        return "".join(self.parts)


class ChatClient:
    """Chat completions against one provider. Owns `http` (closed by `close`); thread-safe."""

    def __init__(
        self,
        http: httpx.Client,
        config: ProviderConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._config = config
        self._sleep = sleep
        self._clock = clock
        self._hold_lock = threading.Lock()
        self._hold_until = 0.0  # on `clock`: no call before this (the provider's Retry-After)

    @property
    def config(self) -> ProviderConfig:
        return self._config

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def request_body(self, messages: Sequence[Mapping[str, str]]) -> dict[str, Any]:
        """The JSON body sent for `messages`."""
        cfg = self._config
        body: dict[str, Any] = {
            "model": cfg.model,
            "messages": [dict(m) for m in messages],
            "stream": True,
            cfg.max_tokens_field: cfg.max_output_tokens,
        }
        if cfg.send_temperature:
            body["temperature"] = cfg.temperature
        if cfg.stream_usage:
            body["stream_options"] = {"include_usage": True}
        for name, value in cfg.extra_body.items():
            if name in _RESERVED_FIELDS:
                log.warning("LLM extra_body: ignoring %r (set by coolpapers)", name)
                continue
            body[name] = value
        return body

    def stream_chat(
        self,
        messages: Sequence[Mapping[str, str]],
        on_delta: Callable[[str], None] | None = None,
        *,
        deadline: float | None = None,
        budget: RetryBudget | None = None,
    ) -> ChatResult:
        """Stream one completion; each piece of answer text goes to `on_delta` as it arrives.

        `deadline` is an absolute time on this client's clock (time.monotonic by default), e.g.
        the end of a whole FAQ job; the call also stops after `config.deadline_s`. `budget`
        pays for retries (default: `max_attempts - 1` for this call). Raises an LLMError
        (StreamIncomplete for a cut stream, LLMTimeout past a timeout or the deadline,
        LLMRateLimited with `retry_after_s` when the provider's wait outlasts what we may wait).
        """
        cfg = self._config
        end = self._clock() + cfg.deadline_s
        if deadline is not None:
            end = min(end, deadline)
        if budget is None:
            budget = CountedBudget(cfg.max_attempts - 1)
        content = json.dumps(self.request_body(messages), ensure_ascii=False).encode("utf-8")
        progress = _Progress()
        attempt = 0
        while True:
            attempt += 1
            self._wait_for_hold(end)
            try:
                return self._attempt(content, on_delta, end, progress)
            except _Failed as failed:
                error = failed.error
                if failed.retry_after_s is not None and failed.retry_after_s > 0:
                    self._hold(failed.retry_after_s)
                delay = self._retry_delay(failed, attempt, progress, end)
                if delay is None or not budget.take():
                    raise error from failed.__cause__
                log.info("LLM %s: %s; retry after attempt %d", cfg.model, error, attempt)
                if delay > 0:
                    self._sleep(delay)

    # -- internals -----------------------------------------------------------------------------

    def _hold(self, seconds: float) -> None:
        """No call to the provider, from any thread, for `seconds` (its Retry-After)."""
        with self._hold_lock:
            self._hold_until = max(self._hold_until, self._clock() + seconds)

    def _wait_for_hold(self, end: float) -> None:
        """Sleep out the provider's hold, or raise LLMRateLimited when it outlasts what this
        call may wait (`max_retry_after_s`, its deadline): never call before the hold ends."""
        with self._hold_lock:
            wait = self._hold_until - self._clock()
        if wait <= 0:
            return
        if wait > self._config.max_retry_after_s or self._clock() + wait >= end:
            until = datetime.now(UTC) + timedelta(seconds=wait)
            raise LLMRateLimited(
                f"the LLM provider asked us to wait until {until:%Y-%m-%d %H:%M:%S} UTC", wait
            )
        self._sleep(wait)

    def _retry_delay(
        self, failed: _Failed, attempt: int, progress: _Progress, end: float
    ) -> float | None:
        """Seconds to wait before the next attempt, or None to give up."""
        cfg = self._config
        if not failed.error.retryable or progress.delivered or attempt >= cfg.max_attempts:
            return None
        hint = failed.retry_after_s
        if hint is not None and hint > 0:
            if hint > cfg.max_retry_after_s:
                return None
            delay = 0.0  # the hold (set from the hint) is waited out before the next attempt
            wait = hint
        else:
            delay = wait = min(cfg.backoff_s * 2 ** (attempt - 1), cfg.max_retry_after_s)
        if self._clock() + wait >= end:
            return None
        return delay

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self._config.api_key:
            headers["Authorization"] = f"Bearer {self._config.api_key}"
        return headers

    def _deadline_error(self) -> LLMTimeout:
        return LLMTimeout(f"LLM deadline reached ({self._config.deadline_s:g} s cap)")

    def _attempt(
        self,
        content: bytes,
        on_delta: Callable[[str], None] | None,
        end: float,
        progress: _Progress,
    ) -> ChatResult:
        cfg = self._config
        remaining = end - self._clock()
        if remaining <= 0:
            raise _Failed(self._deadline_error())
        timeout = httpx.Timeout(
            connect=min(cfg.connect_timeout_s, remaining),
            read=min(cfg.stall_timeout_s, remaining),
            write=min(cfg.stall_timeout_s, remaining),
            pool=min(cfg.connect_timeout_s, remaining),
        )
        stream = _Stream()
        watchdog: DeadlineWatchdog | None = None
        try:
            with self._http.stream(
                "POST",
                cfg.endpoint,
                content=content,
                headers=self._headers(),
                timeout=timeout,
                follow_redirects=False,
            ) as response:
                watchdog = DeadlineWatchdog(
                    response, end - self._clock(), thread_name="coolpapers-llm-deadline"
                )
                self._check_response(response)
                stream.started = True
                self._read_stream(response, stream, on_delta, end, progress, watchdog)
        except httpx.TimeoutException as exc:
            if (watchdog is not None and watchdog.fired) or self._clock() >= end:
                raise _Failed(self._deadline_error()) from exc
            if isinstance(exc, httpx.ReadTimeout):
                what = f"no data for {cfg.stall_timeout_s:g} s"
            else:
                what = type(exc).__name__
            raise _Failed(LLMTimeout(f"LLM endpoint timed out ({what})")) from exc
        except httpx.TransportError as exc:
            if watchdog is not None and watchdog.fired:
                raise _Failed(self._deadline_error()) from exc
            if stream.started:
                raise _Failed(
                    StreamIncomplete(
                        f"LLM stream broke off after {stream.chars} characters "
                        f"({type(exc).__name__})",
                        stream.text,
                    )
                ) from exc
            reason = _redact(str(exc), cfg.api_key) or type(exc).__name__
            raise _Failed(LLMServerError(f"LLM endpoint unreachable or dropped: {reason}")) from exc
        except BlockedAddress as exc:  # our own refusal: trying again cannot help
            raise _Failed(LLMError(f"LLM endpoint refused: {exc}")) from exc
        except httpx.HTTPError as exc:  # e.g. an undecodable Content-Encoding
            reason = _redact(str(exc), cfg.api_key) or type(exc).__name__
            raise _Failed(LLMServerError(f"LLM response unusable: {reason}")) from exc
        finally:
            if watchdog is not None:
                watchdog.cancel()
        if watchdog is not None and watchdog.fired and not stream.done:
            raise _Failed(self._deadline_error())
        if stream.finish_reason is None or (cfg.require_done and not stream.done):
            missing = " and ".join(
                name
                for name, absent in (
                    ("finish_reason", stream.finish_reason is None),
                    ("[DONE]", cfg.require_done and not stream.done),
                )
                if absent
            )
            raise _Failed(
                StreamIncomplete(
                    f"LLM stream ended without {missing} after {stream.chars} characters",
                    stream.text,
                )
            )
        return ChatResult(
            text=stream.text,
            finish_reason=stream.finish_reason,
            tokens_in=stream.tokens_in,
            tokens_out=stream.tokens_out,
            reasoning_chars=stream.reasoning_chars,
        )

    def _check_response(self, response: httpx.Response) -> None:
        """Raise _Failed unless `response` is a 200 event stream."""
        status = response.status_code
        content_type = response.headers.get("content-type", "")
        if status == 200 and "text/event-stream" in content_type.lower():
            return
        body = _read_capped(response, ERROR_BODY_CAP)
        key = self._config.api_key
        if status == 200:
            try:
                payload = json.loads(body)
            except ValueError:
                payload = None
            if isinstance(payload, dict) and payload.get("error"):
                error = error_for_event(payload)
            else:
                error = LLMServerError(
                    f"LLM endpoint answered 200 but not a stream (content-type {content_type!r})"
                )
            error.args = (_redact(str(error), key),)
            raise _Failed(error)
        hint = retry_hint(response.headers)
        error = error_for_status(
            status,
            body,
            content_type=content_type,
            retry_after_s=hint,
            location=response.headers.get("location", ""),
        )
        error.args = (_redact(str(error), key),)
        raise _Failed(error, hint)

    def _read_stream(
        self,
        response: httpx.Response,
        stream: _Stream,
        on_delta: Callable[[str], None] | None,
        end: float,
        progress: _Progress,
        watchdog: DeadlineWatchdog,
    ) -> None:
        decoder = SSEDecoder()
        byte_cap = self._config.output_byte_cap
        for raw in response.iter_bytes():
            if watchdog.fired or self._clock() >= end:
                raise _Failed(self._deadline_error())
            stream.raw_bytes += len(raw)
            for event in decoder.feed(raw):
                if self._on_event(event, stream, on_delta, progress):
                    return
            if stream.raw_bytes > byte_cap:
                self._cut(stream, f"{byte_cap} bytes of stream")
                return
        if watchdog.fired:
            return
        for event in decoder.close():
            if self._on_event(event, stream, on_delta, progress):
                return

    def _on_event(
        self,
        event: SSEEvent,
        stream: _Stream,
        on_delta: Callable[[str], None] | None,
        progress: _Progress,
    ) -> bool:
        """Apply one event; True at [DONE]."""
        data = event.data.strip()
        if event.kind == "data" and data == "[DONE]":
            stream.done = True
            return True
        try:
            payload = json.loads(data) if data else None
        except ValueError:
            payload = None
            if event.kind == "data" and event.event != "error":
                raise _Failed(LLMServerError("LLM stream: an event is not JSON")) from None
        if event.kind == "error" or event.event == "error":
            error = error_for_event(payload if payload is not None else {"error": data})
            error.args = (_redact(str(error), self._config.api_key),)
            raise _Failed(error)
        if not isinstance(payload, dict):
            raise _Failed(LLMServerError("LLM stream: an event is not a JSON object"))
        if payload.get("error"):
            error = error_for_event(payload)
            error.args = (_redact(str(error), self._config.api_key),)
            raise _Failed(error)
        usage = payload.get("usage")
        if isinstance(usage, dict):
            stream.tokens_in = _int_or_none(usage.get("prompt_tokens"), stream.tokens_in)
            stream.tokens_out = _int_or_none(usage.get("completion_tokens"), stream.tokens_out)
        for choice in _first_choice(payload.get("choices")):
            delta = choice.get("delta")
            if isinstance(delta, dict):
                for name in ("reasoning_content", "reasoning"):
                    thought = delta.get(name)
                    if isinstance(thought, str):
                        stream.reasoning_chars += len(thought)
                piece = delta.get("content")
                room = self._config.output_char_cap - stream.chars - stream.reasoning_chars
                if isinstance(piece, str) and piece and room > 0:
                    piece = piece[:room]
                    stream.parts.append(piece)
                    stream.chars += len(piece)
                    if on_delta is not None:
                        progress.delivered = True
                        on_delta(piece)
            reason = choice.get("finish_reason")
            if isinstance(reason, str) and reason:
                stream.finish_reason = reason
        cap = self._config.output_char_cap
        if stream.chars + stream.reasoning_chars >= cap and not stream.finish_reason:
            self._cut(stream, f"{cap} characters")
            return True
        return False

    def _cut(self, stream: _Stream, what: str) -> None:
        """End the answer at our own output cap: what arrived is kept, the rest never read."""
        log.warning(
            "LLM %s ignored max_tokens: answer cut at %s (%d characters, %d bytes read)",
            self._config.model,
            what,
            stream.chars,
            stream.raw_bytes,
        )
        stream.finish_reason = OUTPUT_CAP
        stream.done = True


def _first_choice(choices: Any) -> Iterator[dict[str, Any]]:
    """The choice with index 0 (we never ask for n > 1)."""
    if not isinstance(choices, list):
        return
    for choice in choices:
        if isinstance(choice, dict) and choice.get("index", 0) in (0, None):
            yield choice
            return


def _int_or_none(value: Any, previous: int | None) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return previous


def _read_capped(response: httpx.Response, cap: int) -> bytes:
    """At most `cap` bytes of the body (the rest is left unread; the connection is dropped)."""
    parts: list[bytes] = []
    size = 0
    with contextlib.suppress(httpx.HTTPError):
        for chunk in response.iter_bytes():
            parts.append(chunk)
            size += len(chunk)
            if size >= cap:
                break
    return b"".join(parts)[:cap]
