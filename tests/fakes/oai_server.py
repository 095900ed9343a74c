"""A fake arXiv OAI-PMH endpoint on 127.0.0.1: replays real ListRecords pages, injects faults.

    with FakeOai() as fake:
        fake.serve_harvest([HEP_TH, HEP_EX, PAGE_2015])   # real bodies, chained by tokens
        fake.script(1, [recorded_503(retry_after="1"), Fault.truncate(500)])
        ...  # COOLPAPERS_ARXIV_OAI_URL=fake.url
        assert fake.list_requests()[0].query["set"] == ["physics:hep-th"]

The pages are real recorded responses (tests/fixtures/arxiv/oai/, see SOURCES.md). None of the
recorded arXiv-format pages has a resumption token (they are each a whole answer), so to chain
them into one harvest the fake INJECTS a ``<resumptionToken>`` element before
``</ListRecords>`` of every page but the last; the last page gets the empty
``<resumptionToken/>`` the current server ends a list with (``token_style="new"``), or the old
server's ``cursor``/``completeListSize`` form (``token_style="old"``, as in the recorded oai_dc
page). Everything else in a page is served byte for byte.

Tokens are opaque to the client, as arXiv's are: the current server's style (the URL-encoded
request plus ``skip=N``) with the fake's own ``issued=<generation>`` added, so that
:meth:`FakeOai.expire_tokens` (arXiv's expire daily) turns every token handed out so far into a
``badResumptionToken``. OAI errors (``noRecordsMatch``, ``badResumptionToken``…) are answered in
the protocol's envelope; no arXiv error page was recorded, so their text is the fake's own.

Faults are scripted per page (`script`): one per request for that page, then normal serving.
Every request is recorded with its monotonic start time, so a test can check that a Retry-After
was obeyed from the server's side.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast
from urllib.parse import parse_qs, unquote, urlencode, urlsplit
from xml.sax.saxutils import escape, quoteattr

from tests.fakes.arxiv_server import Fault, RecordedRequest
from tests.fakes.threaded_server import FakeHandler, ThreadedServer

OAI_DIR = Path(__file__).parent.parent / "fixtures" / "arxiv" / "oai"
HEP_TH = OAI_DIR / "oai-listrecords-arXiv-set-physics-hep-th-2017.xml"
HEP_EX = OAI_DIR / "oai-listrecords-arXiv-set-physics-hep-ex-2017.xml"
NOCK_503 = OAI_DIR / "oai-listrecords-arXiv-2015-01-01-to-03-with-503-retry-after.nock.json"
XML_TYPE = "text/xml; charset=utf-8"

_END_LIST = b"</ListRecords>"
_RECORD = re.compile(rb"<record>")


@dataclass(frozen=True)
class NockExchange:
    """One recorded exchange of a nock JSON file (paperhive/oai-pmh's test recordings)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def load_nock(path: Path) -> list[NockExchange]:
    exchanges = []
    for item in json.loads(path.read_text(encoding="utf-8")):
        raw = item.get("rawHeaders", [])
        headers = tuple(zip(raw[0::2], raw[1::2], strict=True))
        exchanges.append(NockExchange(int(item["status"]), headers, item["response"].encode()))
    return exchanges


def page_2015() -> bytes:
    """The real 200 arXiv-format page that followed the recorded 503 (2015-01-01..03)."""
    return load_nock(NOCK_503)[1].body


def recorded_503(*, retry_after: str = "1") -> Fault:
    """arXiv's recorded flow-control answer: its real 503 body, with ``Retry-After`` set to
    ``retry_after`` (the recording says 10 s; a test keeps it short)."""
    exchange = load_nock(NOCK_503)[0]
    assert exchange.status == 503 and ("Retry-After", "10") in exchange.headers
    return Fault.status(503, retry_after=retry_after, body=exchange.body, content_type="text/html")


def oai_error(code: str, message: str) -> bytes:
    """An OAI-PMH error response, in the protocol's envelope."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">\n'
        "<responseDate>2026-12-07T00:00:00Z</responseDate>\n"
        '<request verb="ListRecords">http://127.0.0.1/oai</request>\n'
        f"<error code={quoteattr(code)}>{escape(message)}</error>\n"
        "</OAI-PMH>\n"
    ).encode()


@dataclass
class _State:
    pages: list[bytes] = field(default_factory=list)
    error: tuple[str, str] | None = None  # every first request answered with this OAI error
    # valid token -> (page index, the harvest's first request, which the token stands for)
    tokens: dict[str, tuple[int, dict[str, str]]] = field(default_factory=dict)
    generation: int = 1
    scripts: dict[int, deque[Fault]] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    pages_served: list[int] = field(default_factory=list)  # page index of each 200 page


class _Handler(FakeHandler):
    timeout = 30
    server_version = "fake-oai/1"

    def do_GET(self) -> None:
        cast(FakeOai, self.owner)._handle(self)


class FakeOai(ThreadedServer):
    label = "fake OAI-PMH"
    server_thread_name = "fake-oai"
    connection_thread_name = "fake-oai-connection"
    handler_class = _Handler

    def __init__(self, *, token_style: str = "new") -> None:
        super().__init__()
        if token_style not in ("new", "old"):
            raise ValueError(f"token_style is 'new' or 'old', not {token_style!r}")
        self.token_style = token_style
        self._state = _State()

    @property
    def url(self) -> str:
        """For COOLPAPERS_ARXIV_OAI_URL."""
        return f"http://127.0.0.1:{self.port}/oai"

    # -- content ---------------------------------------------------------------------------------

    def serve_harvest(self, pages: Sequence[bytes | Path]) -> None:
        """Answer a ListRecords harvest with these real pages, in order, chained by tokens."""
        bodies = [p if isinstance(p, bytes) else p.read_bytes() for p in pages]
        for body in bodies:
            if _END_LIST not in body:
                raise ValueError("a page without </ListRecords>")
        with self._lock:
            self._state.pages = bodies
            self._state.error = None

    def serve_error(self, code: str, message: str) -> None:
        """Answer the first request of a harvest with this OAI error (e.g. noRecordsMatch)."""
        with self._lock:
            self._state.error = (code, message)

    def script(self, page: int, faults: Iterable[Fault]) -> None:
        """Faults for the requests of page ``page`` (0 = the first request): one per request."""
        with self._lock:
            self._state.scripts.setdefault(page, deque()).extend(faults)

    def expire_tokens(self) -> None:
        """Every token handed out so far becomes a badResumptionToken (arXiv's expire daily)."""
        with self._lock:
            self._state.tokens.clear()
            self._state.generation += 1

    # -- observations ----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._state.requests)

    @property
    def pages_served(self) -> list[int]:
        """The page index of each page answered with a whole 200 (faults excluded)."""
        with self._lock:
            return list(self._state.pages_served)

    def clear_requests(self) -> None:
        with self._lock:
            self._state.requests.clear()
            self._state.pages_served.clear()

    @property
    def max_concurrent(self) -> int:
        with self._lock:
            return self._max_open_connections

    # -- serving ---------------------------------------------------------------------------------

    def _handle(self, h: _Handler) -> None:
        parts = urlsplit(h.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        record = RecordedRequest(
            method=h.command,
            path=unquote(parts.path),
            raw_query=parts.query,
            query=query,
            headers={k.lower(): v for k, v in h.headers.items()},
            start=time.monotonic(),
        )
        with self._lock:
            self._state.requests.append(record)
        try:
            record.status = self._respond(h, record)
        except OSError:  # the client went away mid-response
            h.close_connection = True
        finally:
            record.end = time.monotonic()

    def _respond(self, h: _Handler, record: RecordedRequest) -> int | None:
        if record.path != "/oai":
            return _send(h, 404, b"no such page\n", "text/plain", ())
        query = {k: v[-1] for k, v in record.query.items()}
        if query.get("verb") != "ListRecords":
            return _send(h, 200, oai_error("badVerb", "only ListRecords here"), XML_TYPE, ())
        with self._lock:
            page, first, error = self._page_for(query)
            fault = None
            if page is not None and self._state.scripts.get(page):
                fault = self._state.scripts[page].popleft()
        if error is not None:
            return _send(h, 200, oai_error(*error), XML_TYPE, ())
        assert page is not None
        body = self._page_body(page, first)
        if fault is not None:
            record.fault = fault.kind
            return self._fault(h, fault, body)
        with self._lock:
            self._state.pages_served.append(page)
        return _send(h, 200, body, XML_TYPE, ())

    def _page_for(
        self, query: dict[str, str]
    ) -> tuple[int | None, dict[str, str], tuple[str, str] | None]:
        """Under the lock: the page a request asks for and the harvest's first request, or the
        OAI error that answers it."""
        state = self._state
        token = query.get("resumptionToken")
        if token is not None:
            if set(query) != {"verb", "resumptionToken"}:
                return None, {}, ("badArgument", "resumptionToken is an exclusive argument")
            if token not in state.tokens:
                return None, {}, ("badResumptionToken", f"unknown or expired token {token!r}")
            page, first = state.tokens[token]
            return page, first, None
        if query.get("metadataPrefix") != "arXiv":
            return None, {}, ("cannotDisseminateFormat", "the fake serves metadataPrefix=arXiv")
        if "from" not in query:
            return None, {}, ("badArgument", "the fake wants a from date")
        if state.error is not None:
            return None, {}, state.error
        if not state.pages:
            return None, {}, ("noRecordsMatch", "no pages registered")
        return 0, query, None

    def _page_body(self, page: int, first: dict[str, str]) -> bytes:
        with self._lock:
            pages = self._state.pages
            body = pages[page]
            offset = sum(len(_RECORD.findall(p)) for p in pages[: page + 1])
            total = sum(len(_RECORD.findall(p)) for p in pages)
            last = page == len(pages) - 1
            token = ""
            if not last:
                token = self._issue(page + 1, offset, first)
        if self.token_style == "old":
            cursor = offset - len(_RECORD.findall(body))
            attrs = f'cursor="{cursor}" completeListSize="{total}"'
            element = f"<resumptionToken {attrs}>{escape(token)}</resumptionToken>"
            if last:
                element = f"<resumptionToken {attrs}/>"
        else:
            element = (
                "<resumptionToken/>"
                if last
                else f"<resumptionToken>{escape(token)}</resumptionToken>"
            )
        cut = body.rindex(_END_LIST)
        return body[:cut] + element.encode() + b"\n" + body[cut:]

    def _issue(self, page: int, skip: int, first: dict[str, str]) -> str:
        """Under the lock: a token for ``page`` of the harvest ``first`` began."""
        state = self._state
        if self.token_style == "old":
            token = f"{6960524 + state.generation}|{skip + 1}"
        else:
            token = urlencode({**first, "skip": skip, "issued": state.generation})
        state.tokens[token] = (page, first)
        return token

    def _fault(self, h: _Handler, fault: Fault, body: bytes) -> int | None:
        if fault.kind == "status":
            return _send(h, fault.code, fault.data, fault.content_type, fault.headers)
        if fault.kind == "truncate":
            # the whole page's length declared, only the first bytes sent: a cut response
            _send_head(h, 200, XML_TYPE, len(body))
            h.wfile.write(body[: fault.n_bytes])
            h.close_connection = True
            return 200
        if fault.kind == "reset":
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.close_connection = True
            return None
        raise AssertionError(f"the fake OAI does not do {fault.kind!r} faults")


def _send_head(h: _Handler, status: int, content_type: str, length: int) -> None:
    h.send_response(status)
    h.send_header("Content-Type", content_type)
    h.send_header("Content-Length", str(length))
    h.end_headers()


def _send(
    h: _Handler, status: int, body: bytes, content_type: str, headers: Iterable[tuple[str, str]]
) -> int:
    h.send_response(status)
    h.send_header("Content-Type", content_type)
    for name, value in headers:
        h.send_header(name, value)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)
    return status


__all__ = [
    "HEP_EX",
    "HEP_TH",
    "FakeOai",
    "Fault",
    "load_nock",
    "oai_error",
    "page_2015",
    "recorded_503",
]
