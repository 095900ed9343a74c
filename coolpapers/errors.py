"""Errors of coolpapers, turned into pages, JSON or CLI messages at one boundary each.

CoolpapersError
├── ConfigError            a setting is invalid (names the setting)
├── BadInput               the user's input is malformed                   → 400
│   ├── BadSpec            a list spec is malformed
│   │   └── UnknownCategory    … or names an unknown category/archive      → 404
│   └── BadId              not an arXiv identifier
├── LoginRequired          the page or action is for the lab's members     → 401
├── Forbidden              a member, but not allowed (admins only)         → 403
├── NotFound               nothing by that name                            → 404
│   └── NoSuchPaper        arXiv says the paper does not exist
└── SourceError            talking to arXiv failed
    ├── FetchError         transport: timeout, refused, too large, HTTP error
    │   ├── RateLimited    429/503 with Retry-After after our retries ran out
    │   │   └── HostHeld   the host's Retry-After still runs: nothing was sent
    │   ├── TooLarge       the body is over the request's cap
    │   └── BlockedAddress destination is private/loopback and not allowed
    └── ParseError         the body is not a usable feed / API response
"""

from __future__ import annotations

from datetime import datetime


class CoolpapersError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(CoolpapersError):
    pass


class BadInput(CoolpapersError):
    status_code = 400


class BadSpec(BadInput):
    pass


class UnknownCategory(BadSpec):
    status_code = 404  # an unknown category is "no such page"


class BadId(BadInput):
    pass


class LoginRequired(CoolpapersError):
    status_code = 401


class Forbidden(CoolpapersError):
    status_code = 403


class NotFound(CoolpapersError):
    status_code = 404


class NoSuchPaper(NotFound):
    pass


class SourceError(CoolpapersError):
    pass


class FetchError(SourceError):
    pass


class RateLimited(FetchError):
    """`until`: when the host's hold (its Retry-After, capped) ends, if it sent one."""

    def __init__(
        self, message: str, retry_after_s: float | None = None, *, until: datetime | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.until = until


class HostHeld(RateLimited):
    """Refused before sending anything: `host` asked us (Retry-After) to wait until `until`."""

    def __init__(self, message: str, *, host: str, until: datetime, retry_after_s: float) -> None:
        super().__init__(message, retry_after_s, until=until)
        self.host = host


class TooLarge(FetchError):
    """The response's decoded body passed `max_bytes` (nothing of it is kept)."""

    def __init__(self, message: str, *, max_bytes: int) -> None:
        super().__init__(message)
        self.max_bytes = max_bytes


class BlockedAddress(FetchError):
    pass


class ParseError(SourceError):
    pass


class PaperTextError(CoolpapersError):
    pass


class LLMError(CoolpapersError):
    retryable = False


class LLMRateLimited(LLMError):
    retryable = True

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class LLMQuotaExceeded(LLMError):
    pass


class LLMAuthError(LLMError):
    pass


class LLMBadRequest(LLMError):
    pass


class LLMIncomplete(LLMError):
    retryable = True


class LLMTimeout(LLMError):
    retryable = True


class LLMServerError(LLMError):
    retryable = True


class NotConfigured(CoolpapersError):
    status_code = 503


class LimitReached(CoolpapersError):
    status_code = 429
