"""What a chat call is given and gives back: the provider's configuration (limits, timeouts, the
SSRF-guarded httpx client it connects through), a complete result, and the budget retries are
paid from. The client that streams with them is `summarize.client`."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from coolpapers.errors import LLMIncomplete
from coolpapers.http import guarded_transport

if TYPE_CHECKING:
    from coolpapers.config import Settings

ERROR_BODY_CAP = 64 * 1024  # bytes of an error (or non-stream) body read at most
OUTPUT_CAP = "output_cap"  # finish_reason of an answer we cut at our own output cap
CHARS_PER_OUTPUT_TOKEN = 8  # the derived output cap: twice English's ~4 characters a token
# Stream bytes per output character before the byte cap cuts: one small delta per event costs
# ~150-300 bytes of JSON framing (ids, model, "obfuscation" padding) for a token of ~4 chars.
STREAM_BYTES_PER_CHAR = 128


@dataclass(frozen=True)
class ProviderConfig:
    """One OpenAI-compatible provider: where it is and how to talk to it."""

    base_url: str  # …/v1 (the client appends /chat/completions)
    api_key: str  # "" = send no Authorization header (local servers)
    model: str
    max_tokens_field: str = "max_tokens"  # or "max_completion_tokens" (OpenAI's newer models, K3)
    max_output_tokens: int = 4096
    send_temperature: bool = False  # Kimi K2.6/K3 reject any explicit temperature
    temperature: float = 0.3
    extra_body: Mapping[str, Any] = field(default_factory=dict)  # merged last into each request
    stream_usage: bool = True  # sends stream_options.include_usage
    connect_timeout_s: float = 10.0
    stall_timeout_s: float = 180.0  # longest silence between two chunks (keep-alives count)
    deadline_s: float = 1800.0  # wall-clock cap of one stream_chat call, retries included
    max_attempts: int = 3  # upstream calls per stream_chat at most, without a caller's budget
    max_retry_after_s: float = 120.0  # a longer Retry-After means "do not retry"
    backoff_s: float = 1.0  # retry n (0-based) waits backoff_s * 2**n without Retry-After
    require_done: bool = True  # complete only with [DONE]; False for servers that never send it
    max_output_chars: int = 0  # answer + reasoning chars; 0 = CHARS_PER_OUTPUT_TOKEN x tokens
    allow_private_networks: bool = False  # the base URL's host:port may be loopback/private

    def __post_init__(self) -> None:
        if self.max_tokens_field not in ("max_tokens", "max_completion_tokens"):
            raise ValueError(f"max_tokens_field: {self.max_tokens_field!r}")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.connect_timeout_s, self.stall_timeout_s, self.deadline_s) <= 0:
            raise ValueError("timeouts must be positive")
        if self.max_output_chars < 0:
            raise ValueError("max_output_chars must be >= 0 (0 = derived from max_output_tokens)")

    @property
    def output_char_cap(self) -> int:
        """Characters of answer + reasoning one call may stream before we cut it."""
        return self.max_output_chars or CHARS_PER_OUTPUT_TOKEN * self.max_output_tokens

    @property
    def output_byte_cap(self) -> int:
        """Stream bytes one call may read (tiny deltas, keep-alive spam) before we cut it."""
        return STREAM_BYTES_PER_CHAR * self.output_char_cap + ERROR_BODY_CAP

    @classmethod
    def from_settings(cls, settings: Settings) -> ProviderConfig:
        extra = json.loads(settings.llm_extra_body or "{}")
        return cls(
            base_url=settings.llm_base_url.rstrip("/"),
            api_key=settings.llm_key(),
            model=settings.llm_model,
            max_tokens_field=settings.llm_max_tokens_field,
            max_output_tokens=settings.llm_max_output_tokens,
            send_temperature=settings.llm_send_temperature,
            temperature=settings.llm_temperature,
            extra_body=extra if isinstance(extra, dict) else {},
            connect_timeout_s=settings.llm_connect_timeout_s,
            stall_timeout_s=settings.llm_stall_timeout_s,
            deadline_s=settings.llm_deadline_s,
            max_output_chars=settings.llm_max_output_chars,
            allow_private_networks=settings.allow_private_networks,
        )

    @property
    def endpoint(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    def __repr__(self) -> str:  # never show the key
        key = "set" if self.api_key else "none"
        return f"ProviderConfig(base_url={self.base_url!r}, model={self.model!r}, api_key={key})"


@dataclass(frozen=True)
class ChatResult:
    """A complete generation."""

    text: str
    finish_reason: str  # "stop", "length", "content_filter", provider extras…
    tokens_in: int | None  # None when the provider sent no usage
    tokens_out: int | None
    reasoning_chars: int  # reasoning_content received (kept out of text)

    @property
    def truncated(self) -> bool:
        """The answer hit an output cap (the provider's max_tokens or ours): done, but cut."""
        return self.finish_reason in ("length", OUTPUT_CAP)

    @property
    def runaway(self) -> bool:
        """The provider ignored max_tokens and we cut the answer at our own cap."""
        return self.finish_reason == OUTPUT_CAP


class RetryBudget(Protocol):
    """Pays for retries: ``take`` charges one more upstream attempt, False when none is left."""

    def take(self) -> bool: ...


class CountedBudget:
    """A budget of ``retries`` retries, in memory (one ``stream_chat`` call's default)."""

    def __init__(self, retries: int) -> None:
        self._left = retries
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self._left <= 0:
                return False
            self._left -= 1
            return True


class StreamIncomplete(LLMIncomplete):
    """The stream ended without finish_reason and [DONE]; `partial_text` is what had arrived."""

    def __init__(self, message: str, partial_text: str = "") -> None:
        super().__init__(message)
        self.partial_text = partial_text


def make_http_client(config: ProviderConfig) -> httpx.Client:
    """An httpx client suited to `config` (timeouts are set again per request), connecting only
    to the provider's endpoint through the SSRF guard."""
    transport = guarded_transport(
        [config.base_url], allow_private_networks=config.allow_private_networks
    )
    return httpx.Client(
        transport=transport,
        timeout=httpx.Timeout(config.stall_timeout_s, connect=config.connect_timeout_s),
        follow_redirects=False,
    )
