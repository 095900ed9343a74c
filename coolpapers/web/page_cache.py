"""Day lists served from memory: ``/arxiv/{spec}`` (any ``date``, order and slice, the cards
alone included), its Atom feed and its JSON twin, as they were last rendered for an anonymous
reader, until anything they show changes.

A day's list does not change once ingested, except through writes this process may not see: an
ingest by ``coolpapers worker``, a paper fetched by another web worker, a click counted there.
Every such commit raises the ``pages`` generation in the database (``store.generations``);
each request reads it (one primary-key row) and a copy made under another generation is never
served. So a click shows on the next reload, an ingest on the next request, in every process.

What is cached is the whole response, keyed by scheme, host and the path and query as sent,
and only when it is the same for every anonymous reader:
* never a member's (``AUTH`` on: a request with a session cookie or a proxy's member header
  is not looked up, and a response is stored only when ``web.auth`` resolved no member), nor
  anything with ``PUBLIC_READ=false``, nor a response that sets a cookie or is not a 200;
* not the orders that follow more than the generation: ``sort=lab`` (the members' stars) and
  the ❤ preference keywords (the search index, one key per reader's keywords);
* ``MAX_AGE_S`` bounds a copy's life all the same: a Retry-After hold that ends changes the
  "arXiv could not be reached" notice without a write, and an empty spec's feed says "now".
The page has no per-request part for an anonymous reader (no CSP nonce; the header's login
link is the path and query, part of the key), so a copy is the uncached render byte for byte.

Copies are kept gzip-compressed, least recently used first out, within ``CACHE_BYTES`` of
compressed bytes: a day's page packs to a quarter (115 KB to 29 KB at a million papers), its
JSON and its feed to a third, so a process holds three to four times the pages in the same
memory. A reader whose ``Accept-Encoding`` takes gzip (every browser, most feed readers) gets
the packed bytes as they are, ``Content-Encoding: gzip``; any other gets them unpacked (0.2 ms
for that page; a large copy is unpacked on a thread, not on the event loop). Each representation
carries its own ETag (a hash of the rendered bytes, ``-gzip`` appended for the packed one) and
``Vary: Accept-Encoding``: ``If-None-Match`` gets a 304, and ``Cache-Control: no-cache`` asks
browsers and proxies to revalidate (members' responses stay ``private, no-store``:
``web.security``).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
import zlib
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from sqlalchemy import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coolpapers.config import Settings
from coolpapers.errors import BadInput
from coolpapers.store import generations
from coolpapers.web.auth import SECURE_SESSION_COOKIE, SESSION_COOKIE
from coolpapers.web.sorts import LIST_ORDERS, parse_sort
from coolpapers.web.urls import DAY_LIST_PATHS_RE

CACHE_BYTES = 64 * 1024 * 1024  # per web process, compressed
ENTRY_MAX_BYTES = CACHE_BYTES // 16  # packed: a show=1000 page (~4 MB, ~1 MB packed) is kept
#: zlib's level for a copy, packed once per render on a thread (zlib lets go of the GIL): at a
#: million papers 1 packs a day's page in 0.7 ms to a quarter, 6 in 2.2 ms to a fifth
PACK_LEVEL = 1
#: A copy packed larger than this is unpacked on a thread (a day's feed: ~4 ms)
UNPACK_INLINE_MAX = 64 * 1024
_GZIP_WBITS = 31  # zlib's window bits that make a gzip stream (header and CRC) of the deflate
MAX_AGE_S = 300.0
READ_TIMEOUT_S = 1.0  # the generation's read; past it the request renders as uncached
CACHED_ORDERS = frozenset({"arxiv", "time", "clicks"})
_PATHS = re.compile(DAY_LIST_PATHS_RE)
_MEMBER_COOKIES = (SESSION_COOKIE.encode(), SECURE_SESSION_COOKIE.encode())

Key = tuple[str, bytes, str, bytes]  # scheme, Host, path, query string


@dataclass(frozen=True)
class Copy:
    headers: tuple[tuple[bytes, bytes], ...]  # the app's, content-length left out
    packed: bytes  # the body as rendered, gzip
    etag: bytes  # of the body as rendered; the packed one's is this with -gzip
    made: float  # time.monotonic()

    @classmethod
    def of(cls, headers: tuple[tuple[bytes, bytes], ...], body: bytes, made: float) -> Copy:
        packed = zlib.compress(body, PACK_LEVEL, wbits=_GZIP_WBITS)
        return cls(headers, packed, _etag(body), made)

    @property
    def size(self) -> int:
        return len(self.packed) + sum(len(k) + len(v) for k, v in self.headers) + 200

    def body(self) -> bytes:
        return zlib.decompress(self.packed, wbits=_GZIP_WBITS)


@dataclass
class PageStore:
    """The copies of one process, all of one generation."""

    capacity: int = CACHE_BYTES
    generation: int | None = None
    copies: OrderedDict[Key, Copy] = field(default_factory=OrderedDict)
    size: int = 0
    hits: int = 0
    misses: int = 0
    joined: int = 0  # requests that waited for another's render of their page
    # the renders in progress, by key: (generation, their copy or None when not kept)
    flights: dict[Key, tuple[int, asyncio.Future[Copy | None]]] = field(default_factory=dict)
    reader: generations.PagesReader | None = None
    closed: bool = False
    thread: ThreadPoolExecutor | None = None

    def get(self, key: Key, generation: int, now: float) -> Copy | None:
        if generation != self.generation:  # something changed: every copy is stale
            self.clear()
            self.generation = generation
            return None
        found = self.copies.get(key)
        if found is None or now - found.made > MAX_AGE_S:
            return None
        self.copies.move_to_end(key)
        return found

    def put(self, key: Key, generation: int, copy: Copy) -> None:
        """Keep ``copy``, made under ``generation``, unless that is no longer the current one."""
        if generation != self.generation or copy.size > min(ENTRY_MAX_BYTES, self.capacity):
            return
        old = self.copies.pop(key, None)
        if old is not None:
            self.size -= old.size
        self.copies[key] = copy
        self.size += copy.size
        while self.size > self.capacity:
            _, evicted = self.copies.popitem(last=False)
            self.size -= evicted.size

    def clear(self) -> None:
        self.copies.clear()
        self.size = 0

    async def read_generation(self, engine: Engine) -> int | None:
        """The database's ``pages`` generation now (None: cache nothing). Read on a thread of
        its own: a database that does not answer must not stall the event loop (the
        request then renders, and meets the database's own timeouts there), and the shared
        pool may be full of renders that a cached page need not wait behind."""
        if self.closed:
            return None  # a request after the app's shutdown: rendered, no new connection
        if self.reader is None:
            self.reader = generations.PagesReader(engine)
            self.thread = ThreadPoolExecutor(1, thread_name_prefix="coolpapers-pages")
        assert self.thread is not None
        read = asyncio.get_running_loop().run_in_executor(self.thread, self.reader.read)
        try:
            return await asyncio.wait_for(read, READ_TIMEOUT_S)
        except TimeoutError:
            return None

    def close(self) -> None:
        """Let go of the reader's connection and thread (the app's shutdown)."""
        self.closed = True
        if self.thread is not None:
            self.thread.shutdown(wait=False, cancel_futures=True)  # a hung read: not waited for
            self.thread = None
        if self.reader is not None:
            self.reader.close()
            self.reader = None


def cacheable_query(query: bytes) -> bool:
    """Only the orders that depend on nothing but the generation (see the module's doc); an
    odd ``sort`` is the route's to refuse."""
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if name == "sort":
            try:
                if parse_sort(value, LIST_ORDERS).name not in CACHED_ORDERS:
                    return False
            except BadInput:
                return False
    return True


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def anonymous(scope: Scope, settings: Settings) -> bool:
    """No member can be behind this request (``web.auth._lookup`` would find none)."""
    if not settings.accounts_on:
        return True
    if not settings.public_read:
        return False  # every reader must be checked
    cookies = _header(scope, b"cookie") or b""
    if any(name in cookies for name in _MEMBER_COOKIES):
        return False
    return settings.auth != "proxy" or (
        _header(scope, settings.auth_proxy_header.lower().encode()) is None
    )


class PageCache:
    """The ASGI layer (inside ``web.security``'s, so a copy gets the same headers as a
    render): answers from ``app.state.page_cache`` or renders and keeps (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not _PATHS.fullmatch(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        query: bytes = scope.get("query_string", b"")
        if not anonymous(scope, state.settings) or not cacheable_query(query):
            await self.app(scope, receive, send)
            return
        store: PageStore = state.page_cache
        # read before rendering: a commit during the render leaves its copy stale, not kept
        generation = await store.read_generation(state.sessionmaker.kw["bind"])
        if generation is None:
            await self.app(scope, receive, send)
            return
        key = (scope["scheme"], _header(scope, b"host") or b"", scope["path"], query)
        found = store.get(key, generation, time.monotonic())
        rendering = store.flights.get(key) if found is None else None
        if rendering is not None and rendering[0] == generation:
            store.joined += 1  # the same page is being rendered: wait for it
            found = await asyncio.shield(rendering[1])
        if found is not None:
            store.hits += 1
            await _answer(scope, send, found)
            return
        store.misses += 1
        # one render per page at a time: after an ingest, the readers of a page wait for its
        # first render instead of each making the same (the load's p99 comes from there)
        flight = (generation, asyncio.get_running_loop().create_future())
        store.flights[key] = flight
        made = None
        try:
            made = await _render(self.app, scope, receive, send)
            if made is not None:
                store.put(key, generation, made)
        finally:
            if store.flights.get(key) is flight:
                del store.flights[key]
            flight[1].set_result(made)  # None: the waiters render for themselves


def takes_gzip(scope: Scope) -> bool:
    """Whether the request's ``Accept-Encoding`` takes gzip (``gzip`` or ``*``, not at
    ``q=0``; an explicit ``gzip`` wins over ``*``)."""
    accepted: dict[str, bool] = {}
    for item in (_header(scope, b"accept-encoding") or b"").decode("latin-1").split(","):
        coding, *params = (part.strip() for part in item.split(";"))
        weight = next((p[2:] for p in params if p.lower().startswith("q=")), "1")
        try:
            accepted[coding.lower()] = float(weight) > 0
        except ValueError:
            continue  # a malformed weight: that coding is not taken
    return accepted.get("gzip", accepted.get("x-gzip", accepted.get("*", False)))


async def _answer(scope: Scope, send: Send, copy: Copy, body: bytes | None = None) -> None:
    """``copy`` as the reader takes it: packed for one that takes gzip, else ``body`` (the
    render's bytes, when at hand) or the copy unpacked."""
    packed = takes_gzip(scope)
    etag = copy.etag[:-1] + b'-gzip"' if packed else copy.etag
    validators = (
        (b"etag", etag),
        (b"cache-control", b"no-cache"),
        (b"vary", b"Accept-Encoding"),
    )
    if _header(scope, b"if-none-match") == etag:
        await send({"type": "http.response.start", "status": 304, "headers": list(validators)})
        await send({"type": "http.response.body", "body": b""})
        return
    if packed:
        content = copy.packed
        coding: tuple[tuple[bytes, bytes], ...] = ((b"content-encoding", b"gzip"),)
    else:
        if body is not None:
            content = body
        elif len(copy.packed) <= UNPACK_INLINE_MAX:
            content = copy.body()
        else:
            content = await asyncio.to_thread(copy.body)
        coding = ()
    length = (b"content-length", str(len(content)).encode())
    headers = [*copy.headers, *coding, length, *validators]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": content})


async def _render(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> Copy | None:
    """Run the route; a 200 without cookies for no member is held back whole, then answered
    as a copy would be (with its ETag) and returned to keep; anything else streams through."""
    start: Message | None = None
    chunks: list[bytes] = []
    passing = False
    complete = False

    async def hold(message: Message) -> None:
        nonlocal start, passing, complete
        if passing:
            await send(message)
        elif message["type"] == "http.response.start":
            headers = message.get("headers", ())
            if message["status"] != 200 or any(k.lower() == b"set-cookie" for k, _ in headers):
                passing = True
                await send(message)
            else:
                start = message
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            complete = not message.get("more_body", False)

    await app(scope, receive, hold)
    if passing or start is None or not complete:
        return None  # passed through, or the route ended without a whole answer
    body = b"".join(chunks)
    member = scope.get("state", {}).get("member")
    headers = tuple(
        (bytes(k), bytes(v)) for k, v in start.get("headers", ()) if k.lower() != b"content-length"
    )
    copy = await asyncio.to_thread(Copy.of, headers, body, time.monotonic())
    await _answer(scope, send, copy, body)
    return copy if member is None else None


def _etag(body: bytes) -> bytes:
    return b'"' + hashlib.blake2b(body, digest_size=16).hexdigest().encode() + b'"'
