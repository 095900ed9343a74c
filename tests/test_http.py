"""Tests of coolpapers.http against the fake arXiv on 127.0.0.1 (no mocks)."""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from coolpapers.config import Settings
from coolpapers.errors import BlockedAddress, FetchError, RateLimited
from coolpapers.http import (
    Fetcher,
    FetchPolicy,
    HoldKeeper,
    arxiv_fetcher,
    default_user_agent,
    endpoints,
    is_blocked_ip,
    parse_retry_after,
)
from tests.fakes.arxiv_server import FakeArxiv, Fault, load_wrapped

FIXTURES = Path(__file__).parent / "fixtures" / "arxiv"
LG_FEED = FIXTURES / "rss" / "rss-cs.LG-2026-08-21-fri.xml"
API_BAD_ID = FIXTURES / "api" / "api-2026-error-400-bad-id.wrapped.json"
API_ASTRO = FIXTURES / "api" / "api-2026-idlist-oldstyle-astro-ph_0601001.wrapped.json"
API_QUANT = FIXTURES / "api" / "api-2026-idlist-oldstyle-versioned-quant-ph_0201082v1.wrapped.json"
UA = default_user_agent("https://papers.example.org", "ops@example.org")

FAST = FetchPolicy(
    user_agent=UA,
    min_interval_s=0.05,
    connect_timeout_s=2.0,
    read_timeout_s=2.0,
    deadline_s=2.0,
    max_attempts=3,
    max_retry_after_s=5.0,
    backoff_s=0.05,
)


class RecordingSleep:
    """Really sleeps (the fake server measures time), and remembers for how long."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        time.sleep(seconds)


@pytest.fixture
def fake() -> Iterator[FakeArxiv]:
    with FakeArxiv() as server:
        server.serve_feed("cs.LG", LG_FEED)
        yield server


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


_OPEN: list[Fetcher] = []  # fetchers own their connections: closed after each test


@pytest.fixture(autouse=True)
def _close_fetchers() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def make(
    fake: FakeArxiv,
    sleep: RecordingSleep | None = None,
    *,
    holds: HoldKeeper | None = None,
    now: Callable[[], datetime] | None = None,
    **policy: Any,
) -> Fetcher:
    """A fetcher for which the fake (its host AND port) may be a private address."""
    values: dict[str, Any] = {"private_endpoints": endpoints([fake.base_url]), **policy}
    fetcher = Fetcher(
        dataclasses.replace(FAST, **values),
        sleep=sleep or time.sleep,
        holds=holds,
        now=now or (lambda: datetime.now(UTC)),
    )
    _OPEN.append(fetcher)
    return fetcher


def feed_url(fake: FakeArxiv, spec: str = "cs.LG") -> str:
    return f"{fake.rss_url}/rss/{spec}"


# -- normal serving, conditional GET, headers --------------------------------------------------


def test_200_with_etag_then_304_on_conditional_request(fake: FakeArxiv) -> None:
    fetcher = make(fake)
    first = fetcher.get(feed_url(fake))
    assert first.status == 200 and not first.not_modified
    assert first.body == LG_FEED.read_bytes()
    assert first.etag and first.last_modified
    assert first.content_type is not None and "xml" in first.content_type
    assert first.url == feed_url(fake)

    second = fetcher.get(feed_url(fake), etag=first.etag, last_modified=first.last_modified)
    assert second.status == 304 and second.not_modified
    assert second.body == b""
    sent = fake.requests[1].headers
    assert sent["if-none-match"] == first.etag
    assert sent["if-modified-since"] == first.last_modified


def test_if_modified_since_alone_gives_304(fake: FakeArxiv) -> None:
    fetcher = make(fake)
    first = fetcher.get(feed_url(fake))
    again = fetcher.get(feed_url(fake), last_modified=first.last_modified)
    assert again.not_modified


def test_user_agent_sent(fake: FakeArxiv) -> None:
    make(fake).get(feed_url(fake))
    (request,) = fake.requests
    assert request.headers["user-agent"] == UA
    assert UA == "coolpapers/0.1 (+https://papers.example.org; mailto:ops@example.org)"


def test_gzip_body_is_decoded() -> None:
    with FakeArxiv(compress=True) as fake:
        fake.serve_feed("cs.LG", LG_FEED)
        result = make(fake).get(feed_url(fake))
        assert result.body == LG_FEED.read_bytes()
        assert "gzip" in fake.requests[0].headers["accept-encoding"]


def test_params_are_merged_into_the_url(fake: FakeArxiv) -> None:
    fake.serve_wrapped(API_ASTRO)
    result = make(fake).get(fake.api_url, params={"id_list": "astro-ph/0601001"})
    assert result.body == load_wrapped(API_ASTRO)[1]
    assert fake.requests[0].query["id_list"] == ["astro-ph/0601001"]


def test_fake_api_merges_entries_of_single_ids(fake: FakeArxiv) -> None:
    fake.serve_wrapped(API_ASTRO)
    fake.serve_wrapped(API_QUANT)
    both = make(fake).get(fake.api_url, params={"id_list": "astro-ph/0601001,quant-ph/0201082v1"})
    assert both.body.count(b"<entry>") == 2
    assert b"<opensearch:totalResults>2</opensearch:totalResults>" in both.body


# -- status codes and retries -------------------------------------------------------------------


def test_429_with_retry_after_then_success(fake: FakeArxiv, sleep: RecordingSleep) -> None:
    fake.script("/rss/cs.LG", [Fault.status(429, retry_after="1")])
    result = make(fake, sleep).get(feed_url(fake))
    assert result.status == 200
    first, second = fake.requests
    assert first.status == 429 and second.status == 200
    assert second.start - first.start >= 1.0
    assert sleep.calls == [1.0]


def test_503_twice_gives_up_with_rate_limited(fake: FakeArxiv, sleep: RecordingSleep) -> None:
    fake.script("/rss/cs.LG", [Fault.status(503, retry_after="0"), Fault.status(503)])
    with pytest.raises(RateLimited, match="HTTP 503 after 2 attempts") as caught:
        make(fake, sleep, max_attempts=2).get(feed_url(fake))
    assert caught.value.retry_after_s is None  # the last answer had no Retry-After
    assert len(fake.requests) == 2
    assert sleep.calls == [0.05]  # Retry-After: 0 is clamped up to min_interval_s


def test_rate_limited_carries_retry_after(fake: FakeArxiv, sleep: RecordingSleep) -> None:
    fake.script("/rss/cs.LG", [Fault.status(429, retry_after="0")] * 2)
    with pytest.raises(RateLimited) as caught:
        make(fake, sleep, max_attempts=2).get(feed_url(fake))
    assert caught.value.retry_after_s == 0.0


def test_retry_after_beyond_the_maximum_gives_up_at_once(
    fake: FakeArxiv, sleep: RecordingSleep
) -> None:
    fake.script("/rss/cs.LG", [Fault.status(503, retry_after="999999")])
    with pytest.raises(RateLimited, match="999999") as caught:
        make(fake, sleep).get(feed_url(fake))
    assert caught.value.retry_after_s == 999999.0
    assert len(fake.requests) == 1
    assert sleep.calls == []


def test_unusable_retry_after_falls_back_to_exponential_backoff(
    fake: FakeArxiv, sleep: RecordingSleep
) -> None:
    fake.script(
        "/rss/cs.LG", [Fault.status(429, retry_after="-5"), Fault.status(503, retry_after="soon")]
    )
    assert make(fake, sleep).get(feed_url(fake)).status == 200
    assert sleep.calls == [0.05, 0.1]


def test_500_then_success(fake: FakeArxiv, sleep: RecordingSleep) -> None:
    fake.script("/rss/cs.LG", [Fault.status(500)])
    result = make(fake, sleep).get(feed_url(fake))
    assert result.status == 200 and result.body == LG_FEED.read_bytes()
    assert [r.status for r in fake.requests] == [500, 200]
    assert sleep.calls == [0.05]


def test_502_504_exhaust_attempts(fake: FakeArxiv) -> None:
    fake.script("/rss/cs.LG", [Fault.status(502), Fault.status(504), Fault.status(502)])
    with pytest.raises(FetchError, match="HTTP 502 after 3 attempts") as caught:
        make(fake).get(feed_url(fake))
    assert not isinstance(caught.value, RateLimited)
    assert feed_url(fake) in str(caught.value)


def test_other_4xx_fails_at_once(fake: FakeArxiv) -> None:
    with pytest.raises(FetchError, match="HTTP 404"):
        make(fake).get(feed_url(fake, "nope"))
    assert len(fake.requests) == 1


def test_400_is_returned_when_accepted(fake: FakeArxiv) -> None:
    fake.serve_wrapped(API_BAD_ID)
    fetcher = make(fake)
    result = fetcher.get(fake.api_url, params={"id_list": "abc"}, accept_statuses={200, 400})
    assert result.status == 400
    assert b"incorrect id format for abc" in result.body
    with pytest.raises(FetchError, match="HTTP 400") as caught:
        fetcher.get(fake.api_url, params={"id_list": "abc"})
    assert b"incorrect" not in str(caught.value).encode()  # the body is never in the message


def test_connection_reset_is_retried(fake: FakeArxiv) -> None:
    fake.script("/rss/cs.LG", [Fault.reset()])
    assert make(fake).get(feed_url(fake)).status == 200
    assert len(fake.requests) == 2


def test_connection_refused_gives_up(fake: FakeArxiv) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nobody listens there
    fetcher = make(fake, max_attempts=2, private_endpoints=endpoints([("127.0.0.1", port)]))
    with pytest.raises(FetchError, match="ConnectError"):
        fetcher.get(f"http://127.0.0.1:{port}/rss/cs.LG")


# -- time and size bounds -----------------------------------------------------------------------


def test_stall_longer_than_deadline(fake: FakeArxiv) -> None:
    fake.script("/rss/cs.LG", [Fault.stall(30)])
    began = time.monotonic()
    with pytest.raises(FetchError, match="deadline exceeded"):
        make(fake, deadline_s=0.5, read_timeout_s=10).get(feed_url(fake))
    assert time.monotonic() - began < 0.5 + 0.5
    assert len(fake.requests) == 1  # a deadline is final, not retried


def test_drip_slower_than_deadline(fake: FakeArxiv) -> None:
    fake.script("/rss/cs.LG", [Fault.drip(0.02)])  # each byte well within the read timeout
    began = time.monotonic()
    with pytest.raises(FetchError, match="deadline exceeded"):
        make(fake, deadline_s=0.5).get(feed_url(fake))
    assert time.monotonic() - began < 0.5 + 0.5


def test_silence_after_headers_cut_at_deadline(fake: FakeArxiv) -> None:
    fake.script("/rss/cs.LG", [Fault.drip(20)])
    began = time.monotonic()
    with pytest.raises(FetchError, match="deadline exceeded"):
        make(fake, deadline_s=0.5, read_timeout_s=10).get(feed_url(fake))
    assert time.monotonic() - began < 0.5 + 0.5


def test_deadline_cuts_a_gap_shorter_than_the_read_timeout(fake: FakeArxiv) -> None:
    # Bytes every 0.45 s: each read is within its timeout, the second byte lands after the
    # deadline; the deadline watchdog cuts the connection at 0.5 s instead of waiting for it.
    fake.script("/rss/cs.LG", [Fault.drip(0.45)])
    began = time.monotonic()
    with pytest.raises(FetchError, match="deadline exceeded"):
        make(fake, deadline_s=0.5, read_timeout_s=10).get(feed_url(fake))
    assert time.monotonic() - began < 0.8


def test_read_timeout_within_deadline_is_retried(fake: FakeArxiv) -> None:
    fake.script("/rss/cs.LG", [Fault.stall(30)])
    result = make(fake, read_timeout_s=0.2, deadline_s=2.0).get(feed_url(fake))
    assert result.status == 200
    assert len(fake.requests) == 2


def test_truncated_body_is_an_error_not_partial_data(fake: FakeArxiv) -> None:
    fake.script("/rss/cs.LG", [Fault.truncate(8192)] * 2)
    with pytest.raises(FetchError, match="RemoteProtocolError"):
        make(fake, max_attempts=2).get(feed_url(fake))
    assert len(fake.requests) == 2


def test_truncated_then_retried_gives_the_whole_body(fake: FakeArxiv) -> None:
    fake.script("/rss/cs.LG", [Fault.truncate(8192)])
    assert make(fake).get(feed_url(fake)).body == LG_FEED.read_bytes()


def test_oversized_body(fake: FakeArxiv) -> None:
    fake.script("/rss/cs.LG", [Fault.oversize(5_000_000)])
    with pytest.raises(FetchError, match="larger than 100000 bytes"):
        make(fake, max_body_bytes=100_000).get(feed_url(fake))
    assert len(fake.requests) == 1


def test_oversized_body_without_content_length() -> None:
    with FakeArxiv(compress=True) as fake:  # gzip: the declared length says nothing
        fake.serve_feed("cs.LG", LG_FEED)
        with pytest.raises(FetchError, match="larger than 10000 bytes"):
            make(fake, max_body_bytes=10_000).get(feed_url(fake))


def test_gzip_bomb_stops_at_the_decoded_cap(fake: FakeArxiv) -> None:
    fake.script("/rss/cs.LG", [Fault.gzip_bomb(1 << 30)])
    began = time.monotonic()
    with pytest.raises(FetchError, match="larger than 1000000 bytes"):
        make(fake, max_body_bytes=1_000_000).get(feed_url(fake))
    assert time.monotonic() - began < 5.0


# -- politeness ---------------------------------------------------------------------------------


class VirtualClock:
    """Monotonic time that moves only when the fetcher sleeps: the spacing it keeps is measured
    exactly, whatever the machine's load (the fake stamps requests with it too)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now = 1000.0

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._now += max(seconds, 0.0)


def test_min_interval_across_threads_on_one_connection() -> None:
    clock = VirtualClock()
    with FakeArxiv(clock=clock) as fake:
        fake.serve_feed("cs.LG", LG_FEED)
        policy = dataclasses.replace(
            FAST, min_interval_s=0.3, private_endpoints=endpoints([fake.base_url])
        )
        fetcher = Fetcher(policy, sleep=clock.sleep, clock=clock)
        _OPEN.append(fetcher)
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(lambda _: fetcher.get(feed_url(fake)).status, range(6)))
        assert results == [200] * 6
        starts = [r.start for r in fake.requests]  # in the order the server got them
        gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
        assert len(starts) == 6 and min(gaps) >= 0.3 - 1e-9, gaps
        assert fake.max_concurrent == 1  # one connection
        assert fake.max_concurrent_requests == 1  # and never two requests at once


# -- destinations (the SSRF guard itself: test_http_guard.py) ----------------------------------


def test_loopback_refused_unless_the_endpoint_may_be_private(fake: FakeArxiv) -> None:
    with pytest.raises(BlockedAddress, match="blocked: private address 127.0.0.1"):
        make(fake, private_endpoints=frozenset()).get(feed_url(fake))
    with pytest.raises(BlockedAddress, match="blocked: private address"):
        make(fake, private_endpoints=frozenset()).get(f"http://localhost:{fake.port}/rss/cs.LG")
    assert fake.requests == []


def test_redirect_followed_within_allowed_endpoints(fake: FakeArxiv) -> None:
    fake.script("/rss/old", [Fault.redirect("/rss/cs.LG", status=301)])
    result = make(fake, allowed_endpoints=endpoints([fake.base_url])).get(feed_url(fake, "old"))
    assert result.url == feed_url(fake)
    assert result.body == LG_FEED.read_bytes()


def test_redirect_to_host_not_allowed_is_refused(fake: FakeArxiv) -> None:
    fake.script("/rss/cs.LG", [Fault.redirect("http://evil.example.com/admin")])
    with pytest.raises(BlockedAddress, match="evil.example.com"):
        make(fake, allowed_endpoints=endpoints([fake.base_url])).get(feed_url(fake))
    assert len(fake.requests) == 1


def test_redirect_to_another_port_of_an_allowed_host_is_refused(fake: FakeArxiv) -> None:
    with FakeArxiv() as other:
        other.serve_feed("cs.LG", LG_FEED)
        fake.script("/rss/cs.LG", [Fault.redirect(feed_url(other))])
        with pytest.raises(BlockedAddress, match=f"127.0.0.1:{other.port} is not an allowed"):
            make(fake, allowed_endpoints=endpoints([fake.base_url])).get(feed_url(fake))
        assert other.requests == []


def test_request_to_host_not_allowed_is_refused(fake: FakeArxiv) -> None:
    with pytest.raises(BlockedAddress, match="not an allowed host"):
        make(fake, allowed_endpoints=endpoints(["https://export.arxiv.org"])).get(feed_url(fake))
    assert fake.requests == []


def test_redirect_loop_is_cut(fake: FakeArxiv) -> None:
    fake.script("/rss/loop", [Fault.redirect("/rss/loop")] * 10)
    with pytest.raises(FetchError, match="more than 5 redirects"):
        make(fake, min_interval_s=0.0).get(feed_url(fake, "loop"))
    assert len(fake.requests) == 6


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1:70/"]
)
def test_non_http_scheme_refused(fake: FakeArxiv, url: str) -> None:
    with pytest.raises(BlockedAddress, match="is not http"):
        make(fake).get(url)


def test_arxiv_fetcher_allows_the_configured_endpoints_only(
    fake: FakeArxiv, tmp_path: Path
) -> None:
    """ALLOW_PRIVATE_NETWORKS lets the configured arXiv host:port be private, nothing else."""
    settings = Settings(
        data_dir=tmp_path,
        arxiv_rss_url=fake.rss_url,
        arxiv_api_url=fake.api_url,
        arxiv_web_url=fake.web_url,
        arxiv_min_interval_s=0.0,
        allow_private_networks=True,
        secret_key="test",
    )
    fetcher = arxiv_fetcher(settings)
    try:
        assert fetcher.get(feed_url(fake)).status == 200
        with FakeArxiv() as other:  # same machine, another port: not configured
            other.serve_feed("cs.LG", LG_FEED)
            with pytest.raises(BlockedAddress, match="not an allowed host and port"):
                fetcher.get(feed_url(other))
            assert other.requests == []
    finally:
        fetcher.close()
    strict = arxiv_fetcher(Settings(data_dir=tmp_path, arxiv_rss_url=fake.rss_url))
    try:
        with pytest.raises(BlockedAddress, match="private address 127.0.0.1"):
            strict.get(feed_url(fake))
    finally:
        strict.close()
    assert len(fake.requests) == 1


# -- pure helpers -------------------------------------------------------------------------------


def test_parse_retry_after() -> None:
    now = datetime(2026, 8, 21, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 7 ") == 7.0
    assert parse_retry_after("Fri, 21 Aug 2026 12:02:00 GMT", now=now) == 120.0
    assert parse_retry_after("Fri, 21 Aug 2026 11:00:00 GMT", now=now) == 0.0
    for unusable in (None, "", "-5", "soon", "1e3", "Fri, 99 Foo"):
        assert parse_retry_after(unusable, now=now) is None


@pytest.mark.parametrize(
    ("address", "blocked"),
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),
        ("100.64.0.1", True),
        ("0.0.0.0", True),
        ("224.0.0.1", True),
        ("240.0.0.1", True),
        ("::1", True),
        ("::", True),
        ("fe80::1", True),
        ("fc00::1", True),
        ("::ffff:127.0.0.1", True),
        ("151.101.3.42", False),
        ("2606:4700::6810:84e5", False),
    ],
)
def test_is_blocked_ip(address: str, blocked: bool) -> None:
    assert is_blocked_ip(ipaddress.ip_address(address)) is blocked


def test_close_closes_the_client(fake: FakeArxiv) -> None:
    fetcher = make(fake)
    fetcher.get(feed_url(fake))
    fetcher.close()
    with pytest.raises(RuntimeError):
        fetcher.get(feed_url(fake))


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        FetchPolicy(user_agent=UA, max_attempts=0)
    with pytest.raises(ValueError, match="deadline_s"):
        FetchPolicy(user_agent=UA, deadline_s=0)


# -- the fake itself ----------------------------------------------------------------------------


def test_fake_stops_promptly_with_a_stalled_connection() -> None:
    before = threading.active_count()
    fake = FakeArxiv().start()
    fake.script("/rss/cs.LG", [Fault.stall(60)])
    with socket.create_connection(("127.0.0.1", fake.port)) as conn:
        conn.sendall(b"GET /rss/cs.LG HTTP/1.1\r\nHost: x\r\n\r\n")
        deadline = time.monotonic() + 2
        while not fake.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        began = time.monotonic()
        fake.stop()
        assert time.monotonic() - began < 1.0
    assert threading.active_count() == before
