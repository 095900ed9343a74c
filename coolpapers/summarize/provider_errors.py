"""What an LLM provider's failure means, as an LLMError (reference/llm.md §1.4).

HTTP statuses with their bodies (``error_for_status``), in-stream error events
(``error_for_event``: ``data: {"error": …}``, llama.cpp's ``error: …``, a 200 JSON error body)
and the wait a server asks for (``retry_hint``). Quota exhaustion is told apart from rate limits
by the words of the error, since providers use 429 (and 401/403) for both.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from coolpapers.errors import (
    LLMAuthError,
    LLMBadRequest,
    LLMError,
    LLMQuotaExceeded,
    LLMRateLimited,
    LLMServerError,
)
from coolpapers.http import parse_retry_after

__all__ = ["error_for_event", "error_for_status", "retry_hint"]

_QUOTA_WORDS = re.compile(r"quota|billing|balance|insufficient|payment", re.IGNORECASE)
_RATE_WORDS = re.compile(r"rate[ _-]?limit|too many requests|overloaded", re.IGNORECASE)
_CONTEXT_WORDS = re.compile(r"context|too long|exceed_context_size", re.IGNORECASE)
_DETAIL_CHARS = 300


def _error_fields(payload: Any) -> tuple[str, str]:
    """(human detail, text to search for keywords) from an error JSON value."""
    err = payload.get("error") if isinstance(payload, dict) else payload
    if isinstance(err, dict):
        parts = [err.get("type"), err.get("code"), err.get("message")]
        texts = [str(p) for p in parts if p not in (None, "")]
        message = str(err.get("message") or err.get("type") or err.get("code") or "")
        label = str(err.get("type") or err.get("code") or "")
        detail = f"{label}: {message}" if label and message and label != message else message
        return detail, " ".join(texts)
    if isinstance(err, str):
        return err, err
    if isinstance(payload, dict):
        message = payload.get("message") or payload.get("detail") or ""
        return str(message), str(message)
    return "", ""


def _body_fields(body: bytes, content_type: str) -> tuple[str, str]:
    text = body.decode("utf-8", errors="replace")
    try:
        payload = json.loads(text)
    except ValueError:
        if "html" in content_type.lower() or text.lstrip()[:1] == "<":
            return "an HTML page", ""
        flat = " ".join(text.split())
        return flat, flat
    return _error_fields(payload)


def _clip(text: str) -> str:
    return text if len(text) <= _DETAIL_CHARS else text[:_DETAIL_CHARS] + "…"


def error_for_status(
    status: int,
    body: bytes = b"",
    *,
    content_type: str = "",
    retry_after_s: float | None = None,
    location: str = "",
) -> LLMError:
    """The error an HTTP status (and its body) means (reference/llm.md §1.4)."""
    detail, haystack = _body_fields(body, content_type)
    message = f"LLM endpoint answered HTTP {status}" + (f": {_clip(detail)}" if detail else "")
    quota = bool(_QUOTA_WORDS.search(haystack))
    if status in (401, 403):
        return LLMQuotaExceeded(message) if quota else LLMAuthError(message)
    if status == 402:
        return LLMQuotaExceeded(message)
    if status == 429:
        return LLMQuotaExceeded(message) if quota else LLMRateLimited(message, retry_after_s)
    if status == 503 and retry_after_s is not None and retry_after_s > 0:
        return LLMRateLimited(message, retry_after_s)  # overloaded: come back after the wait
    if status in (408, 409) or status >= 500:
        return LLMServerError(message)
    if 300 <= status < 400:
        where = f" to {location}" if location else ""
        return LLMBadRequest(f"{message} (redirect{where}; set LLM_BASE_URL to the final address)")
    return LLMBadRequest(message)  # 400, 404, 413, 422 and any other 4xx


def error_for_event(payload: Any) -> LLMError:
    """The error an in-stream error event (`data: {"error": …}` or `error: …`) means."""
    err = payload.get("error") if isinstance(payload, dict) else None
    code = err.get("code") if isinstance(err, dict) else None
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        return error_for_status(code, json.dumps(payload).encode(), content_type="json")
    detail, haystack = _error_fields(payload)
    message = "LLM stream error" + (f": {_clip(detail)}" if detail else "")
    if _QUOTA_WORDS.search(haystack):
        return LLMQuotaExceeded(message)
    if _RATE_WORDS.search(haystack):
        return LLMRateLimited(message)
    if _CONTEXT_WORDS.search(haystack):
        return LLMBadRequest(message)
    return LLMServerError(message)


def retry_hint(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asks us to wait: `retry-after-ms`, else `Retry-After` (seconds or
    HTTP date); None when absent or unusable."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            value = float(ms)
        except ValueError:
            value = -1.0
        if value >= 0:
            return value / 1000.0
    return parse_retry_after(headers.get("retry-after"))
