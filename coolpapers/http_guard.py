"""Where an outbound connection may go: the SSRF guard, applied where the socket is opened.

A check that resolves a name and then lets the HTTP library resolve it again to connect leaves a
window: a DNS answer that changes between the two (rebinding) sends the request to an address
nobody checked. Here the check IS the connect: `GuardedBackend.connect_tcp` resolves the name
once, refuses the connection if any resolved address is not allowed, and opens the socket to one
of exactly those addresses. Only the socket's destination changes: httpcore still uses the URL's
hostname for the Host header and for TLS (SNI and certificate verification).

Destinations are endpoints, a (host, port) pair, so an allowance for one configured service
(the fake arXiv of the tests, a local LLM server) never extends to another port of the same
machine, nor to another name that happens to resolve to a private address.

`guarded_transport` builds an httpx transport over this backend; the Fetcher (http.py) and the
LLM client both connect through it.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import httpcore
import httpx

from coolpapers.endpoints import Endpoint, endpoint_key, endpoints
from coolpapers.errors import BlockedAddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses it resolves to, as text; raises OSError when it cannot resolve.
Resolver = Callable[[str, int], Sequence[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's answer (getaddrinfo), each address once, in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[str, None] = {}
    for info in infos:
        seen.setdefault(str(info[4][0]).split("%", 1)[0])  # drop an IPv6 scope id
    return list(seen)


def is_blocked_ip(ip: IPAddress) -> bool:
    """True for addresses a server-side fetch must not reach (private, loopback, link-local…)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


@dataclass(frozen=True)
class Guard:
    """Which endpoints a connection may open, and which of them may be private addresses.

    `allowed` empty means any host and port (public addresses only, unless in `private`).
    """

    allowed: frozenset[Endpoint] = frozenset()
    private: frozenset[Endpoint] = frozenset()
    resolver: Resolver = system_resolver

    def check_endpoint(self, endpoint: Endpoint) -> None:
        """The part of the check that needs no DNS: is this host:port allowed at all?"""
        if self.allowed and endpoint not in self.allowed:
            raise BlockedAddress(
                f"blocked: {endpoint_key(endpoint)} is not an allowed host and port"
            )

    def addresses(self, host: str, port: int) -> list[IPAddress]:
        """Resolve once and check every answer; the addresses a connection may go to.

        Raises BlockedAddress when any answer is refused (one bad answer taints the name: a
        resolver mixing a public and a private address is the rebinding trick itself), and
        OSError when the name does not resolve."""
        endpoint = (host.lower(), port)
        self.check_endpoint(endpoint)
        literal = _ip_literal(host)
        answers = [literal] if literal is not None else _parse_all(self.resolver(host, port))
        if not answers:
            raise OSError(f"{host!r} resolved to no address")
        if endpoint not in self.private:
            for ip in answers:
                if is_blocked_ip(ip):
                    raise BlockedAddress(
                        f"blocked: private address {ip} for {endpoint_key(endpoint)}"
                    )
        return answers


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def _parse_all(answers: Sequence[str]) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(a.split("%", 1)[0]) for a in answers]
    except ValueError as exc:
        raise OSError(f"resolver answered a non-address: {exc}") from exc


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's network layer with the guard in `connect_tcp` (see the module docstring)."""

    def __init__(self, guard: Guard, inner: httpcore.NetworkBackend | None = None) -> None:
        self._guard = guard
        self._inner = inner if inner is not None else httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            answers = self._guard.addresses(host, port)
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from exc
        failure: Exception | None = None
        for ip in answers:  # each one checked above; a numeric host means no second lookup
            try:
                return self._inner.connect_tcp(
                    str(ip), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise BlockedAddress("blocked: unix sockets are not an outbound destination")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """An httpx transport whose every connection goes through a `GuardedBackend`.

    No proxy from the environment (a proxy would be the one address we connect to, and it would
    resolve the name itself); redirects are the caller's to follow, hop by hop.
    """

    def __init__(
        self,
        guard: Guard,
        *,
        verify: ssl.SSLContext | bool = True,
        limits: httpx.Limits | None = None,
        network_backend: httpcore.NetworkBackend | None = None,
    ) -> None:
        limits = limits if limits is not None else httpx.Limits()
        super().__init__(verify=verify, trust_env=False, limits=limits)
        # httpx has no parameter for a network backend, so the pool it built is replaced by the
        # same pool over ours (test_http checks that connections really go through it).
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(guard, network_backend),
        )
        self.guard = guard


def guarded_transport(
    allowed: Iterable[str | Endpoint] = (),
    *,
    allow_private_networks: bool = False,
    private: Iterable[str | Endpoint] = (),
    resolver: Resolver = system_resolver,
    verify: ssl.SSLContext | bool = True,
    limits: httpx.Limits | None = None,
    network_backend: httpcore.NetworkBackend | None = None,
) -> GuardedTransport:
    """A transport that connects only to checked addresses of the `allowed` endpoints.

    `allowed` and `private` take URLs or (host, port) pairs; empty `allowed` means any host on
    a public address. A destination may be a loopback/private address only if its host:port is
    in `private`, or in `allowed` with `allow_private_networks` (the setting of that name):

        llm = [settings.llm_base_url]
        httpx.Client(transport=guarded_transport(
            llm, allow_private_networks=settings.allow_private_networks))

    Any other destination resolving to a private address is refused: BlockedAddress (a
    coolpapers FetchError, not an httpx error) is raised from the request.
    `resolver` and `network_backend` are for tests (a scripted DNS, a recording socket layer).
    """
    allowed_set = endpoints(allowed)
    private_set = endpoints(private) | (allowed_set if allow_private_networks else frozenset())
    guard = Guard(allowed=allowed_set, private=private_set, resolver=resolver)
    return GuardedTransport(guard, verify=verify, limits=limits, network_backend=network_backend)
