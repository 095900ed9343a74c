"""A fake arXiv on 127.0.0.1: replays recorded bodies, answers conditional GETs, injects faults.

    with FakeArxiv() as fake:
        fake.serve_feed("cs.LG", FIXTURES / "rss/rss-cs.LG-2026-08-21-fri.xml")
        fake.serve_wrapped(FIXTURES / "api/api-2026-idlist-oldstyle-astro-ph_0601001.wrapped.json")
        fake.script("/rss/cs.LG", [Fault.status(503, retry_after="1"), Fault.truncate(8192)])
        ...  # point the code under test at fake.rss_url / fake.api_url / fake.web_url
        assert fake.max_concurrent == 1

Routes: `GET /rss/<spec>` (feeds registered with `serve_feed`), `GET /api/query` (answered by
`id_list`: an exact registration for the whole list, else the entries of the single ids merged
into one feed, else an empty result feed; or by `search_query`+`start`), and any path registered
with `serve` (e.g. `/abs/<id>`, `/pdf/<id>`); everything else is 404. Normal responses carry an
ETag and Last-Modified and become 304 when If-None-Match (or If-Modified-Since) matches.

A fault script per path is consumed one fault per request; then normal serving resumes. Every
request is recorded (`requests`), and the peak number of simultaneously open connections
(`max_concurrent`) and of requests in flight (`max_concurrent_requests`) are tracked.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import socket
import ssl
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import cast
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

from tests.fakes.threaded_server import FakeHandler, ThreadedServer

RSS_TYPE = "application/rss+xml; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
DEFAULT_LAST_MODIFIED = "Fri, 21 Aug 2026 04:00:12 GMT"

Body = bytes | str | Path


def load_wrapped(path: str | Path) -> tuple[int, bytes]:
    """(status, body) of a recorded `*.wrapped.json` API response.

    The recorder stored the bytes as latin-1 text, so encoding back to latin-1 restores them."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return int(data["status_code"]), str(data["body"]).encode("latin-1")


def _read_body(body: Body) -> bytes:
    if isinstance(body, bytes):
        return body
    return Path(body).read_bytes()


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour; build them with the class methods."""

    kind: str
    code: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    data: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    seconds: float = 0.0
    n_bytes: int = 0
    total_bytes: int = 0
    location: str = ""

    @classmethod
    def status(
        cls,
        code: int,
        *,
        retry_after: str | float | None = None,
        body: bytes = b"",
        content_type: str = "text/plain; charset=utf-8",
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """An error status, with Retry-After if given (string sent as is: dates, garbage…)."""
        extra = list((headers or {}).items())
        if retry_after is not None:
            value = retry_after if isinstance(retry_after, str) else f"{retry_after:g}"
            extra.append(("Retry-After", value))
        data = body or f"HTTP {code} from the fake arXiv\n".encode()
        return cls("status", code=code, headers=tuple(extra), data=data, content_type=content_type)

    @classmethod
    def body(
        cls, data: bytes, *, content_type: str = "text/plain; charset=utf-8", status: int = 200
    ) -> Fault:
        """A well-formed response with this body (e.g. b"Rate exceeded.", an HTML error page)."""
        return cls("status", code=status, data=data, content_type=content_type)

    @classmethod
    def stall(cls, seconds: float) -> Fault:
        """Read the request, send nothing for `seconds` (ends early if the client leaves or the
        server stops), then serve normally."""
        return cls("stall", seconds=seconds)

    @classmethod
    def drip(cls, byte_every_s: float, *, n_bytes: int = 1000) -> Fault:
        """Headers at once, then the body (the normal one, else `n_bytes` of filler) one byte
        every `byte_every_s`."""
        return cls("drip", seconds=byte_every_s, n_bytes=n_bytes)

    @classmethod
    def truncate(cls, after_bytes: int, *, total_bytes: int = 40 * 1024) -> Fault:
        """Declare the full Content-Length of the body (the normal one, else `total_bytes` of
        filler), send `after_bytes` of it, close."""
        return cls("truncate", n_bytes=after_bytes, total_bytes=total_bytes)

    @classmethod
    def oversize(cls, n_bytes: int) -> Fault:
        """A 200 whose declared and sent body is `n_bytes` of filler (stops when the client
        leaves)."""
        return cls("oversize", n_bytes=n_bytes)

    @classmethod
    def gzip_bomb(cls, decoded_bytes: int = 1 << 30) -> Fault:
        """A chunked 200 with Content-Encoding: gzip inflating to `decoded_bytes` of zeros
        (about 1000:1), compressed on the fly until the client leaves."""
        return cls("gzip_bomb", n_bytes=decoded_bytes)

    @classmethod
    def redirect(cls, location: str, *, status: int = 302) -> Fault:
        return cls("redirect", code=status, location=location)

    @classmethod
    def reset(cls) -> Fault:
        """Close the connection without any response."""
        return cls("reset")


@dataclass
class RecordedRequest:
    method: str
    path: str  # percent-decoded, without the query
    raw_query: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    start: float  # time.monotonic() when the request line was read
    end: float | None = None  # after the last byte was written (see FakeArxiv.wait_idle)
    status: int | None = None  # set as the status line is sent; None if none was (stall, reset)
    fault: str | None = None  # kind of the scripted fault that answered, if any


@dataclass(frozen=True)
class _Resource:
    status: int
    body: bytes
    content_type: str
    conditional: bool = True  # ETag/Last-Modified and 304s


@dataclass
class _State:
    feeds: dict[str, _Resource] = field(default_factory=dict)
    api_ids: dict[tuple[str, ...], _Resource] = field(default_factory=dict)
    api_search: dict[tuple[str, int], _Resource] = field(default_factory=dict)
    routes: dict[str, _Resource] = field(default_factory=dict)
    scripts: dict[str, deque[Fault]] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    active_requests: int = 0
    max_active_requests: int = 0


class _Handler(FakeHandler):
    timeout = 30  # an idle keep-alive connection is dropped after this
    server_version = "fake-arxiv/1"

    record: RecordedRequest | None = None

    @property
    def fake(self) -> FakeArxiv:
        return cast(FakeArxiv, self.owner)

    def send_response(self, code: int, message: str | None = None) -> None:
        if self.record is not None:  # before any byte goes out, so the client never sees it late
            self.record.status = code
        super().send_response(code, message)

    def do_GET(self) -> None:
        self.fake._handle(self)


class FakeArxiv(ThreadedServer):
    """A fake arXiv served from a background thread on 127.0.0.1 and an ephemeral port."""

    label = "fake arXiv"
    server_thread_name = "fake-arxiv"
    connection_thread_name = "fake-arxiv-connection"
    handler_class = _Handler

    def __init__(
        self,
        *,
        compress: bool = False,
        last_modified: str = DEFAULT_LAST_MODIFIED,
        tls: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`compress`: gzip normal 200 bodies for clients that accept it. `tls`: serve HTTPS.
        `clock` stamps each request's `start` (a test's virtual clock, shared with the client)."""
        super().__init__(tls=tls)
        self.clock = clock
        self.compress = compress
        self.last_modified = last_modified
        self._idle = threading.Condition(self._lock)
        self._state = _State()

    # -- addresses -------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def rss_url(self) -> str:
        """For ARXIV_RSS_URL (feeds at `/rss/<spec>`)."""
        return self.base_url

    @property
    def api_url(self) -> str:
        """For ARXIV_API_URL."""
        return f"{self.base_url}/api/query"

    @property
    def web_url(self) -> str:
        """For ARXIV_WEB_URL (`/abs/`, `/pdf/`, `/html/`)."""
        return self.base_url

    # -- content ---------------------------------------------------------------------------------

    def serve_feed(
        self, spec: str, body: Body, *, status: int = 200, content_type: str = RSS_TYPE
    ) -> None:
        """Serve `body` (bytes or a file) at `/rss/<spec>`."""
        with self._lock:
            self._state.feeds[spec] = _Resource(status, _read_body(body), content_type)

    def serve_api(
        self,
        id_list: str | Sequence[str],
        body: Body,
        *,
        status: int = 200,
        content_type: str = ATOM_TYPE,
    ) -> None:
        """Answer `/api/query?id_list=…` for exactly these ids (comma string or sequence). A list
        registered one id at a time is answered by merging the single-id entries."""
        key = _id_key(id_list if isinstance(id_list, str) else ",".join(id_list))
        with self._lock:
            self._state.api_ids[key] = _Resource(status, _read_body(body), content_type)

    def serve_api_search(
        self, search_query: str, body: Body, *, start: int = 0, status: int = 200
    ) -> None:
        """Answer `/api/query?search_query=…&start=…` (without id_list)."""
        with self._lock:
            self._state.api_search[(search_query, start)] = _Resource(
                status, _read_body(body), ATOM_TYPE
            )

    def serve_wrapped(self, path: str | Path) -> None:
        """Register a recorded `*.wrapped.json` API response under the query it was recorded for
        (its `id_list`, else its `search_query` and `start`)."""
        status, body = load_wrapped(path)
        url = json.loads(Path(path).read_text(encoding="utf-8"))["url"]
        query = parse_qs(urlsplit(url).query, keep_blank_values=True)
        ids = query.get("id_list", [""])[0]
        if ids:
            self.serve_api(ids, body, status=status)
        else:
            start = int(query.get("start", ["0"])[0] or 0)
            self.serve_api_search(
                query.get("search_query", [""])[0], body, start=start, status=status
            )

    def serve(
        self,
        path: str,
        body: Body,
        *,
        status: int = 200,
        content_type: str = "application/octet-stream",
    ) -> None:
        """Serve any other path, e.g. `/abs/2401.00001` or `/pdf/2401.00001`."""
        with self._lock:
            self._state.routes[path] = _Resource(status, _read_body(body), content_type)

    def script(self, path: str, faults: Iterable[Fault]) -> None:
        """Queue faults for `path` (no query string): one per request, then normal serving."""
        with self._lock:
            self._state.scripts.setdefault(path, deque()).extend(faults)

    def pending_faults(self, path: str) -> int:
        with self._lock:
            return len(self._state.scripts.get(path, ()))

    # -- observations ----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._state.requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Wait until no request is being answered (a client may have its response before the
        handler has recorded `end`)."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._state.active_requests == 0, timeout):
                raise TimeoutError("fake arXiv still answering requests")

    def clear_requests(self) -> None:
        with self._lock:
            self._state.requests.clear()

    @property
    def max_concurrent(self) -> int:
        """Peak number of simultaneously open connections."""
        with self._lock:
            return self._max_open_connections

    @property
    def max_concurrent_requests(self) -> int:
        """Peak number of requests being answered at the same time."""
        with self._lock:
            return self._state.max_active_requests

    @property
    def open_connections(self) -> int:
        with self._lock:
            return self._open_connections

    # -- serving (handler threads) ---------------------------------------------------------------

    def _handle(self, h: _Handler) -> None:
        parts = urlsplit(h.path)
        path = unquote(parts.path)
        record = RecordedRequest(
            method=h.command,
            path=path,
            raw_query=parts.query,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in h.headers.items()},
            start=self.clock(),
        )
        with self._lock:
            state = self._state
            state.requests.append(record)
            state.active_requests += 1
            state.max_active_requests = max(state.max_active_requests, state.active_requests)
            queue = state.scripts.get(path)
            fault = queue.popleft() if queue else None
        record.fault = fault.kind if fault else None
        h.record = record
        try:
            self._respond(h, record, fault)
        except OSError:  # the client went away mid-response
            h.close_connection = True
        finally:
            h.record = None
            record.end = time.monotonic()
            with self._lock:
                self._state.active_requests -= 1
                self._idle.notify_all()

    def _respond(self, h: _Handler, record: RecordedRequest, fault: Fault | None) -> int | None:
        if fault is None:
            return self._send_normal(h, record)
        kind = fault.kind
        if kind == "status":
            return _send(h, fault.code, fault.data, fault.content_type, fault.headers)
        if kind == "redirect":
            headers = (("Location", fault.location),)
            return _send(h, fault.code, b"", "text/plain", headers)
        if kind == "stall":
            if not self._wait(h, fault.seconds):
                h.close_connection = True
                return None
            return self._send_normal(h, record)
        if kind == "reset":
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.close_connection = True
            return None
        normal = self._resource(record)
        filler_ok = normal is None or normal.status != 200 or not normal.body
        if kind == "drip":
            body = b"x" * fault.n_bytes if filler_ok or normal is None else normal.body
            _send_head(h, 200, "text/plain" if filler_ok else _ctype(normal), len(body))
            for i in range(len(body)):
                if not self._wait(h, fault.seconds):
                    h.close_connection = True
                    break
                h.wfile.write(body[i : i + 1])
            return 200
        if kind == "truncate":
            body = b"x" * fault.total_bytes if filler_ok or normal is None else normal.body
            _send_head(h, 200, "text/plain" if filler_ok else _ctype(normal), len(body))
            h.wfile.write(body[: fault.n_bytes])
            h.close_connection = True
            return 200
        if kind == "oversize":
            _send_head(h, 200, "application/octet-stream", fault.n_bytes)
            block = b"x" * 65536
            left = fault.n_bytes
            while left > 0 and not self._stopping.is_set():
                h.wfile.write(block[: min(left, len(block))])
                left -= len(block)
            h.close_connection = left > 0
            return 200
        if kind == "gzip_bomb":
            return self._send_gzip_bomb(h, fault.n_bytes)
        raise AssertionError(f"unknown fault {kind!r}")

    def _send_gzip_bomb(self, h: _Handler, decoded_bytes: int) -> int:
        h.send_response(200)
        h.send_header("Content-Type", "application/xml")
        h.send_header("Content-Encoding", "gzip")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
        zeros = bytes(1 << 20)
        produced = 0
        while produced < decoded_bytes:
            if self._stopping.is_set():
                h.close_connection = True
                return 200
            n = min(len(zeros), decoded_bytes - produced)
            produced += n
            _write_chunk(h, compressor.compress(zeros[:n]))
        _write_chunk(h, compressor.flush())
        h.wfile.write(b"0\r\n\r\n")
        return 200

    def _send_normal(self, h: _Handler, record: RecordedRequest) -> int:
        resource = self._resource(record)
        if resource is None:
            return _send(h, 404, f"no such page: {record.path}\n".encode(), "text/plain", ())
        if not resource.conditional:
            return _send(h, resource.status, resource.body, resource.content_type, ())
        etag = '"' + hashlib.sha256(resource.body).hexdigest()[:20] + '"'
        headers = [("ETag", etag), ("Last-Modified", self.last_modified)]
        if resource.status == 200 and _not_modified(record.headers, etag, self.last_modified):
            h.send_response(304)
            for name, value in headers:
                h.send_header(name, value)
            h.end_headers()
            return 304
        body = resource.body
        accepts_gzip = "gzip" in record.headers.get("accept-encoding", "")
        if self.compress and accepts_gzip and resource.status == 200 and body:
            body = gzip.compress(body, mtime=0)
            headers += [("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")]
        return _send(h, resource.status, body, resource.content_type, headers)

    def _resource(self, record: RecordedRequest) -> _Resource | None:
        path = record.path
        with self._lock:
            state = self._state
            if path.startswith("/rss/"):
                return state.feeds.get(path[len("/rss/") :])
            if path == "/api/query":
                return self._api_resource(record.query)
            return state.routes.get(path)

    def _api_resource(self, query: dict[str, list[str]]) -> _Resource:
        """Under self._lock."""
        state = self._state
        ids = _id_key(query.get("id_list", [""])[0])
        if not ids:
            try:
                start = int(query.get("start", ["0"])[0] or 0)
            except ValueError:
                start = 0
            found = state.api_search.get((query.get("search_query", [""])[0], start))
            return found or _Resource(200, _empty_feed("search"), ATOM_TYPE)
        exact = state.api_ids.get(ids)
        if exact is not None:
            return exact
        singles = [state.api_ids.get((one,)) for one in ids]
        bodies = [r.body for r in singles if r is not None and r.status == 200]
        if not bodies:
            return _Resource(200, _empty_feed(",".join(ids)), ATOM_TYPE)
        return _Resource(200, _merge_feeds(bodies), ATOM_TYPE)


# -- helpers ----------------------------------------------------------------------------------


def _id_key(id_list: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in id_list.split(",") if part.strip())


def _ctype(resource: _Resource | None) -> str:
    return resource.content_type if resource is not None else "text/plain"


def _send_head(h: _Handler, status: int, content_type: str, length: int) -> None:
    h.send_response(status)
    h.send_header("Content-Type", content_type)
    h.send_header("Content-Length", str(length))
    h.end_headers()


def _send(
    h: _Handler,
    status: int,
    body: bytes,
    content_type: str,
    headers: Iterable[tuple[str, str]],
) -> int:
    h.send_response(status)
    h.send_header("Content-Type", content_type)
    for name, value in headers:
        h.send_header(name, value)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)
    return status


def _write_chunk(h: _Handler, data: bytes) -> None:
    if data:
        h.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")


def _not_modified(headers: Mapping[str, str], etag: str, last_modified: str) -> bool:
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
        return "*" in tags or etag in tags
    if_modified_since = headers.get("if-modified-since")
    if if_modified_since:
        try:
            return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
    return False


_ENTRY = re.compile(rb"<entry>.*?</entry>", re.DOTALL)


def _merge_feeds(bodies: Sequence[bytes]) -> bytes:
    """One Atom API feed holding the entries of all `bodies` (head taken from the first)."""
    entries = [m.group(0) for body in bodies for m in _ENTRY.finditer(body)]
    first = bodies[0]
    cut = first.find(b"<entry>")
    head = first[:cut] if cut >= 0 else first[: first.rfind(b"</feed>")]
    head = re.sub(
        rb"<opensearch:totalResults>\d+</opensearch:totalResults>",
        b"<opensearch:totalResults>%d</opensearch:totalResults>" % len(entries),
        head,
    )
    return head + b"\n  ".join(entries) + b"\n</feed>\n"


def _empty_feed(query: str) -> bytes:
    q = escape(query)
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        '<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" '
        'xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns="http://www.w3.org/2005/Atom">\n'
        "  <id>https://arxiv.org/api/fake-empty</id>\n"
        f"  <title>arXiv Query: {q}</title>\n"
        "  <updated>2026-01-01T00:00:00Z</updated>\n"
        f'  <link href="https://arxiv.org/api/query?{q}" type="application/atom+xml"/>\n'
        "  <opensearch:itemsPerPage>100</opensearch:itemsPerPage>\n"
        "  <opensearch:totalResults>0</opensearch:totalResults>\n"
        "  <opensearch:startIndex>0</opensearch:startIndex>\n"
        "</feed>\n"
    ).encode()
