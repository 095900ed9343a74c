"""How an outbound destination is named: an endpoint, (host, port), and its key "host:port".

The SSRF guard allows endpoints, the Fetcher's Retry-After holds are stored under endpoint keys,
and /status tells arXiv's holds from others by the same keys: one naming for all of them, here
below every floor that uses it.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpx

Endpoint = tuple[str, int]  # (lower-case ASCII host, port): what an allowance names

_DEFAULT_PORTS = {"http": 80, "https": 443}


def endpoint_of(url: str | httpx.URL) -> Endpoint:
    """(host, port) of an http(s) URL, the port filled in from the scheme when absent."""
    parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    host = parsed.raw_host.decode("ascii").lower()
    if parsed.scheme not in _DEFAULT_PORTS or not host:
        raise ValueError(f"not an http(s) URL with a host: {str(url)!r}")
    return host, parsed.port or _DEFAULT_PORTS[parsed.scheme]


def endpoints(items: Iterable[str | Endpoint]) -> frozenset[Endpoint]:
    """Endpoints from URLs and/or (host, port) pairs; empty strings (unset URLs) are skipped."""
    out: set[Endpoint] = set()
    for item in items:
        if isinstance(item, str):
            if item:
                out.add(endpoint_of(item))
        else:
            out.add((item[0].lower(), int(item[1])))
    return frozenset(out)


def endpoint_key(endpoint: Endpoint) -> str:
    """ "host:port" (IPv6 literals bracketed): how an endpoint is named in holds and messages."""
    host, port = endpoint
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
