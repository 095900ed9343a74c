"""Outbound HTTP to arXiv and friends: polite, bounded, and checked at every hop.

One `Fetcher` per upstream (arXiv asks for one connection and one request every 3 s across all
our machines): a lock serialises requests, `min_interval_s` spaces their starts, every request
carries explicit timeouts and a hard deadline, bodies are capped after decoding (gzip bombs),
redirects are followed by hand so each hop passes the host:port allow-list, every connection
goes to an address checked by the SSRF guard (`http_guard`: resolved once, connected to as
checked), and 429/503/5xx/transport failures are retried with Retry-After or exponential backoff.

A Retry-After is a promise to the HOST, not to one URL: it becomes a hold on that host:port in
the Fetcher's `HoldKeeper` (in memory by default; in the database via
`store.host_holds.DbHostHolds`, so it binds other feeds, later runs and other processes too).
While a hold runs, a request to that host fails at once with `HostHeld`, sending nothing.
"""

from __future__ import annotations

import logging
import re
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Protocol

import httpx

from coolpapers import __version__
from coolpapers.config import Settings
from coolpapers.endpoints import Endpoint, endpoint_key, endpoint_of, endpoints
from coolpapers.errors import BlockedAddress, FetchError, HostHeld, RateLimited, TooLarge
from coolpapers.http_body import BodyDecoder, CorruptBody, DeadlineWatchdog
from coolpapers.http_guard import (
    Guard,
    GuardedTransport,
    Resolver,
    guarded_transport,
    is_blocked_ip,
    system_resolver,
)

__all__ = [
    "Endpoint",
    "FetchPolicy",
    "FetchResult",
    "Fetcher",
    "HoldKeeper",
    "MemoryHolds",
    "arxiv_fetcher",
    "default_user_agent",
    "endpoint_key",
    "endpoint_of",
    "endpoints",
    "guarded_transport",
    "is_blocked_ip",
    "parse_retry_after",
]

log = logging.getLogger(__name__)


MAX_REDIRECTS = 5
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_RETRY_AFTER_STATUSES = frozenset({429, 503})
_BACKOFF_STATUSES = frozenset({500, 502, 504})
_DELTA_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")
# A timeout this close to the deadline is the deadline (socket timers fire a hair early or late).
_DEADLINE_SLACK_S = 0.05


def default_user_agent(site_url: str, contact: str) -> str:
    """A descriptive User-Agent naming the site and a contact, as arXiv's etiquette asks."""
    short_version = ".".join(__version__.split(".")[:2])
    return f"coolpapers/{short_version} (+{site_url}; mailto:{contact})"


@dataclass(frozen=True)
class FetchPolicy:
    user_agent: str
    min_interval_s: float = 3.0  # between request STARTS, across all threads using this fetcher
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 30.0  # per read
    deadline_s: float = 90.0  # whole request incl. body; a slow drip is cut here
    max_body_bytes: int = 32 * 1024 * 1024  # DECODED bytes (gzip bomb safe)
    max_attempts: int = 4
    max_retry_after_s: float = 600.0  # Retry-After clamped to [min_interval_s, this]; more: give up
    backoff_s: float = 5.0  # exponential backoff base for 5xx/transport errors without Retry-After
    # A Retry-After holds its host for at most this long: a hostile or broken header ("wait a
    # year") must not silence us for good. arXiv's own are minutes to an hour.
    max_hold_s: float = 86400.0
    # (host, port) pairs (see http_guard.endpoints). Empty = any host and port.
    allowed_endpoints: frozenset[Endpoint] = frozenset()
    # Endpoints that may resolve to loopback/private addresses (the configured ones, when
    # COOLPAPERS_ALLOW_PRIVATE_NETWORKS is true); every other destination must be public.
    private_endpoints: frozenset[Endpoint] = frozenset()
    resolver: Resolver = field(default=system_resolver, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.user_agent.strip():
            raise ValueError("FetchPolicy.user_agent must not be empty")
        positive = {
            "connect_timeout_s": self.connect_timeout_s,
            "read_timeout_s": self.read_timeout_s,
            "deadline_s": self.deadline_s,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"FetchPolicy.{name} must be > 0, got {value!r}")
        non_negative = {
            "min_interval_s": self.min_interval_s,
            "max_retry_after_s": self.max_retry_after_s,
            "backoff_s": self.backoff_s,
            "max_hold_s": self.max_hold_s,
        }
        for name, value in non_negative.items():
            if not value >= 0:
                raise ValueError(f"FetchPolicy.{name} must be >= 0, got {value!r}")
        if self.max_body_bytes < 0:
            raise ValueError(f"FetchPolicy.max_body_bytes must be >= 0, got {self.max_body_bytes}")
        if self.max_attempts < 1:
            raise ValueError(f"FetchPolicy.max_attempts must be >= 1, got {self.max_attempts}")

    @property
    def guard(self) -> Guard:
        return Guard(self.allowed_endpoints, self.private_endpoints, self.resolver)


@dataclass(frozen=True)
class FetchResult:
    url: str  # final URL, after redirects
    status: int
    body: bytes  # decoded (Content-Encoding removed)
    etag: str | None
    last_modified: str | None
    content_type: str | None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class _Retryable(Exception):
    """One attempt failed in a way worth trying again (never escapes this module)."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
        host: str | None = None,  # the host key that answered, for its hold
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after_s = retry_after_s
        self.host = host


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or HTTP-date); None if unusable.

    A date in the past means "now" (0). Negative numbers and garbage are unusable (None), so the
    caller falls back to its own backoff.
    """
    if value is None:
        return None
    text = value.strip()
    if _DELTA_SECONDS.fullmatch(text):
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


class HoldKeeper(Protocol):
    """Where Retry-After holds live, by host key ("host:port", see `endpoint_key`)."""

    def held_until(self, host: str) -> datetime | None:
        """The end of the latest hold on `host` (possibly past), or None."""
        ...

    def hold(self, host: str, until: datetime, reason: str) -> None:
        """Hold `host` until `until`; an existing later hold is kept."""
        ...


class MemoryHolds:
    """Holds of this process only (the default; the database keeps them across processes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holds: dict[str, tuple[datetime, str]] = {}

    def held_until(self, host: str) -> datetime | None:
        with self._lock:
            found = self._holds.get(host)
        return found[0] if found else None

    def hold(self, host: str, until: datetime, reason: str) -> None:
        with self._lock:
            current = self._holds.get(host)
            if current is None or current[0] < until:
                self._holds[host] = (until, reason)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Fetcher:
    """GETs for one upstream, one at a time. Share one instance between threads.

    The Fetcher owns its httpx client, built over `guarded_transport` from the policy's
    endpoints, so no request of it bypasses the SSRF guard. `holds` keeps Retry-After holds
    (default: this process only). `now` is the wall clock of holds and HTTP-date Retry-Afters,
    `clock` the monotonic one of intervals and deadlines; with `sleep` they are injectable for
    tests. `verify` is TLS verification (a test passes its own CA).
    """

    def __init__(
        self,
        policy: FetchPolicy,
        *,
        holds: HoldKeeper | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utcnow,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self._policy = policy
        self._holds: HoldKeeper = holds if holds is not None else MemoryHolds()
        self._client = httpx.Client(
            transport=GuardedTransport(policy.guard, verify=verify),
            follow_redirects=False,
            trust_env=False,
        )
        self._sleep = sleep
        self._clock = clock
        self._now = now
        self._lock = threading.Lock()
        self._last_start: float | None = None

    @property
    def policy(self) -> FetchPolicy:
        return self._policy

    @property
    def holds(self) -> HoldKeeper:
        return self._holds

    def close(self) -> None:
        """Close the httpx client (waits for a request in progress)."""
        with self._lock:
            self._client.close()

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        accept_statuses: AbstractSet[int] = frozenset({200, 304}),
        max_body_bytes: int | None = None,
    ) -> FetchResult:
        """GET `url` (+ `params`), conditionally if `etag`/`last_modified` are given.

        `max_body_bytes` caps this response's decoded body instead of the policy's cap (the PDF
        proxy passes its own); going over raises TooLarge.

        Returns the response when its status is in `accept_statuses`. Raises BlockedAddress for a
        refused destination, HostHeld (sending nothing) while the host's Retry-After runs,
        RateLimited when 429/503 outlast the retries (or ask for a wait longer than
        `max_retry_after_s`), FetchError for everything else.
        """
        try:
            target = httpx.URL(url)
            if params:
                target = target.copy_merge_params(dict(params))
        except httpx.InvalidURL as exc:
            raise FetchError(f"invalid URL {url!r}: {exc}") from exc
        headers = {"User-Agent": self._policy.user_agent, "Accept-Encoding": "gzip, deflate"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        for name, value in headers.items():
            if "\r" in value or "\n" in value:
                raise ValueError(f"{name} header contains a line break")
        cap = self._policy.max_body_bytes if max_body_bytes is None else max_body_bytes
        if cap < 0:
            raise ValueError(f"max_body_bytes must be >= 0, got {cap}")
        with self._lock:
            return self._get_with_retries(target, headers, frozenset(accept_statuses), cap)

    # -- retries ---------------------------------------------------------------------------------

    def _get_with_retries(
        self, url: httpx.URL, headers: dict[str, str], accept: frozenset[int], cap: int
    ) -> FetchResult:
        policy = self._policy
        attempt = 0
        waited: datetime | None = None  # the end of a hold this call has itself slept through
        while True:
            try:
                return self._attempt(url, headers, accept, waited, cap)
            except _Retryable as exc:
                attempt += 1
                until = self._record_hold(exc)
                if attempt >= policy.max_attempts:
                    raise self._give_up(exc, url, attempt, until) from exc
                delay = self._retry_delay(exc, url, attempt, until)
                if until is not None:
                    waited = until
                log.warning(
                    "GET %s failed (%s), attempt %d/%d, retrying in %.1f s",
                    url,
                    exc.reason,
                    attempt,
                    policy.max_attempts,
                    delay,
                )
                self._sleep(delay)

    def _record_hold(self, exc: _Retryable) -> datetime | None:
        """A Retry-After holds the host that sent it: every feed, run and process of ours."""
        if exc.retry_after_s is None or exc.host is None:
            return None
        seconds = min(exc.retry_after_s, self._policy.max_hold_s)
        if seconds <= 0:
            return None
        until = self._now() + timedelta(seconds=seconds)
        capped = " (capped)" if seconds < exc.retry_after_s else ""
        reason = f"{exc.reason} with Retry-After {exc.retry_after_s:g} s{capped}"
        self._holds.hold(exc.host, until, reason)
        log.warning("%s asked us to wait: held until %s (%s)", exc.host, until, reason)
        return until

    def _retry_delay(
        self, exc: _Retryable, url: httpx.URL, attempt: int, until: datetime | None
    ) -> float:
        policy = self._policy
        if exc.retry_after_s is not None:
            if exc.retry_after_s > policy.max_retry_after_s:
                raise RateLimited(
                    f"{exc.reason} asks to retry after {exc.retry_after_s:g} s "
                    f"(more than {policy.max_retry_after_s:g} s): {url}",
                    retry_after_s=exc.retry_after_s,
                    until=until,
                ) from exc
            return max(exc.retry_after_s, policy.min_interval_s)
        return min(policy.backoff_s * 2.0 ** (attempt - 1), policy.max_retry_after_s)

    def _give_up(
        self, exc: _Retryable, url: httpx.URL, attempts: int, until: datetime | None
    ) -> FetchError:
        message = f"{exc.reason} after {attempts} attempt{'s' if attempts > 1 else ''}: {url}"
        if exc.status in _RETRY_AFTER_STATUSES:
            return RateLimited(message, retry_after_s=exc.retry_after_s, until=until)
        return FetchError(message)

    # -- one attempt: a chain of up to MAX_REDIRECTS hops -----------------------------------------

    def _attempt(
        self,
        url: httpx.URL,
        headers: dict[str, str],
        accept: frozenset[int],
        waited: datetime | None,
        cap: int,
    ) -> FetchResult:
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            key = self._check_destination(current)
            self._check_hold(key, waited)
            outcome = self._exchange(current, key, headers, accept, cap)
            if isinstance(outcome, FetchResult):
                return outcome
            try:
                following = current.join(outcome)
            except httpx.InvalidURL as exc:
                raise FetchError(f"bad redirect Location from {current}") from exc
            if current.scheme == "https" and following.scheme == "http":
                raise BlockedAddress(f"blocked: redirect downgrades https to http: {following}")
            log.info("GET %s redirected to %s", current, following)
            current = following
        raise FetchError(f"more than {MAX_REDIRECTS} redirects: {url}")

    def _check_destination(self, url: httpx.URL) -> str:
        """Scheme and host:port allow-list, before any DNS; the host key. Addresses are checked
        where the connection is opened (http_guard)."""
        if url.scheme not in ("http", "https"):
            raise BlockedAddress(f"blocked: scheme {url.scheme!r} is not http(s): {url}")
        if not url.host:
            raise BlockedAddress(f"blocked: no host in {url}")
        endpoint = endpoint_of(url)
        try:
            self._policy.guard.check_endpoint(endpoint)
        except BlockedAddress as exc:
            raise BlockedAddress(f"{exc}: {url}") from None
        return endpoint_key(endpoint)

    def _check_hold(self, key: str, waited: datetime | None) -> None:
        until = self._holds.held_until(key)
        if until is None or (waited is not None and until <= waited):
            return
        left = (until - self._now()).total_seconds()
        if left <= 0:
            return
        raise HostHeld(
            f"{key} asked us to wait until {until:%Y-%m-%d %H:%M:%S} UTC "
            f"({left:.0f} s left); nothing sent",
            host=key,
            until=until,
            retry_after_s=left,
        )

    def _wait_turn(self) -> None:
        if self._last_start is not None:
            wait = self._last_start + self._policy.min_interval_s - self._clock()
            if wait > 0:
                self._sleep(wait)
        self._last_start = self._clock()

    def _exchange(
        self, url: httpx.URL, key: str, headers: dict[str, str], accept: frozenset[int], cap: int
    ) -> FetchResult | str:
        """One request. A FetchResult, or the Location of a redirect to follow."""
        policy = self._policy
        self._wait_turn()
        deadline = self._clock() + policy.deadline_s
        within = policy.deadline_s
        timeout = httpx.Timeout(
            connect=min(policy.connect_timeout_s, within),
            read=min(policy.read_timeout_s, within),
            write=min(policy.read_timeout_s, within),
            pool=min(policy.connect_timeout_s, within),
        )
        try:
            with self._client.stream(
                "GET", url, headers=headers, timeout=timeout, follow_redirects=False
            ) as response:
                status = response.status_code
                log.debug("GET %s -> %d", url, status)
                if status in accept:
                    body = self._read_body(response, url, deadline, cap)
                    return FetchResult(
                        url=str(url),
                        status=status,
                        body=body,
                        etag=response.headers.get("etag"),
                        last_modified=response.headers.get("last-modified"),
                        content_type=response.headers.get("content-type"),
                    )
                if status in _REDIRECT_STATUSES:
                    location = response.headers.get("location")
                    if not location:
                        raise FetchError(f"HTTP {status} without a Location: {url}")
                    return str(location)
                if status in _RETRY_AFTER_STATUSES:
                    raise _Retryable(
                        f"HTTP {status}",
                        status=status,
                        retry_after_s=parse_retry_after(
                            response.headers.get("retry-after"), now=self._now()
                        ),
                        host=key,
                    )
                if status in _BACKOFF_STATUSES:
                    raise _Retryable(f"HTTP {status}", status=status)
                raise FetchError(f"HTTP {status}: {url}")
        except httpx.TimeoutException as exc:
            if self._clock() >= deadline - _DEADLINE_SLACK_S:
                raise self._deadline_error(url) from exc
            raise _Retryable(f"timeout ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise _Retryable(f"transport error ({type(exc).__name__}: {exc})") from exc

    def _read_body(
        self, response: httpx.Response, url: httpx.URL, deadline: float, cap: int
    ) -> bytes:
        decoder = BodyDecoder(response.headers.get("content-encoding"))
        declared = response.headers.get("content-length", "")
        if (
            "content-encoding" not in response.headers
            and declared.isdigit()
            and int(declared) > cap
        ):
            raise self._too_large(url, cap)
        parts: list[bytes] = []
        size = 0
        watchdog = DeadlineWatchdog(
            response, deadline - self._clock(), thread_name="coolpapers-fetch-deadline"
        )
        try:
            for raw in response.iter_raw():
                if watchdog.fired or self._clock() > deadline:
                    raise self._deadline_error(url)
                chunk = decoder.feed(raw, cap - size)
                size += len(chunk)
                if size > cap:
                    raise self._too_large(url, cap)
                parts.append(chunk)
            if watchdog.fired:  # a close-delimited body "ended" because we cut it
                raise self._deadline_error(url)
            tail = decoder.finish()
        except httpx.TransportError as exc:
            if watchdog.fired:
                raise self._deadline_error(url) from exc
            raise
        except CorruptBody as exc:
            raise _Retryable(str(exc)) from exc
        finally:
            watchdog.cancel()
        size += len(tail)
        if size > cap:
            raise self._too_large(url, cap)
        parts.append(tail)
        return b"".join(parts)

    def _deadline_error(self, url: httpx.URL) -> FetchError:
        return FetchError(f"deadline exceeded ({self._policy.deadline_s:g} s): {url}")

    def _too_large(self, url: httpx.URL, cap: int) -> TooLarge:
        return TooLarge(f"response larger than {cap} bytes: {url}", max_bytes=cap)


def arxiv_fetcher(settings: Settings, holds: HoldKeeper | None = None) -> Fetcher:
    """One polite client for every arXiv host; ``close()`` it when done.

    Only the configured arXiv URLs' host:port are allowed; with ALLOW_PRIVATE_NETWORKS they (and
    nothing else) may be private addresses. Pass `holds` (store.DbHostHolds) so a Retry-After
    binds other runs and processes too; without it, it binds this fetcher only.
    """
    configured = endpoints(
        (
            settings.arxiv_rss_url,
            settings.arxiv_api_url,
            settings.arxiv_oai_url,
            settings.arxiv_web_url,
        )
    )
    policy = FetchPolicy(
        user_agent=default_user_agent(settings.site_url, settings.contact),
        min_interval_s=settings.arxiv_min_interval_s,
        connect_timeout_s=settings.fetch_timeout_s,
        read_timeout_s=settings.fetch_timeout_s,
        deadline_s=settings.fetch_deadline_s,
        max_body_bytes=settings.fetch_max_bytes,
        max_attempts=settings.fetch_max_attempts,
        allowed_endpoints=configured,
        private_endpoints=configured if settings.allow_private_networks else frozenset(),
    )
    return Fetcher(policy, holds=holds)
