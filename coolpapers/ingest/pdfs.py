"""The inline viewer's PDFs: arXiv's PDF of a stored paper, fetched through the pipeline's one
polite arXiv client and kept in a disk cache.

* ``request_pdf(pipeline, session, paper_id)`` answers a ``Future`` of a :class:`PaperPdf`:
  done at once from the cache, else a fetch of ``<ARXIV_WEB_URL>/pdf/<id>v<version>`` on a
  thread of its own. The caller waits for it as long as it likes (the web waits one request's
  deadline, then answers while the fetch goes on and lands in the cache for the next click).
* Only papers this site has stored: the URL is built from the validated id and the stored
  version, never from anything else in a request, so the proxy cannot be pointed anywhere.
* The client (``http.Fetcher``) keeps arXiv's rules: one request at a time, the interval, the
  timeouts and the deadline, the per-host Retry-After holds; the body is capped at
  ``PDF_PROXY_MAX_MB`` (``TooLarge`` past it: nothing is kept).
* One fetch per PDF at a time: concurrent requests for it wait for the same fetch.
* Cache: ``<DATA_DIR>/pdfs/<id with "/" as "_">v<version>.pdf``, written to a temporary file and
  renamed (a reader never sees half a file), least recently used files evicted past
  ``PAPER_CACHE_MAX_MB``. Its own directory: the FAQ's paper-text cache (``summarize``) prefers
  arXiv's HTML and would take a PDF found in its directory as the paper's text.
"""

from __future__ import annotations

import logging
import re
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from sqlalchemy.orm import Session

from coolpapers import store
from coolpapers.disk_cache import DiskCache
from coolpapers.errors import BadId, NoSuchPaper, ParseError
from coolpapers.identifiers import parse_id
from coolpapers.ingest.pipeline import Pipeline

__all__ = ["PDF_DIR", "PaperPdf", "PdfCache", "request_pdf"]

log = logging.getLogger(__name__)

MIB = 1024 * 1024
PDF_DIR = "pdfs"  # under DATA_DIR
# A file read or written this recently is never evicted: a response may be about to open it.
IN_USE_S = 60.0
_NAME_RE = re.compile(r"(?:\d{4}\.\d{4,5}|[a-z]+(?:-[a-z]+)?_\d{7})v\d{1,4}\.pdf")


@dataclass(frozen=True)
class PaperPdf:
    """One paper's PDF: the cached file, or its bytes when the cache could not keep it."""

    paper_id: str  # canonical, versionless
    version: int
    path: Path | None
    body: bytes | None

    @property
    def filename(self) -> str:
        """What a download is called: ``2401.00001.pdf``, ``hep-th_9901001.pdf``."""
        return self.paper_id.replace("/", "_") + ".pdf"


def looks_like_pdf(body: bytes) -> bool:
    """arXiv answers 200 with an HTML page while a PDF is still being made: that is no PDF."""
    return body[:1024].lstrip()[:5] == b"%PDF-"


class PdfCache(DiskCache):
    """The viewer's PDFs (``coolpapers.disk_cache``): names of the one shape ``name_for`` makes;
    a file opened in the last ``IN_USE_S`` is not evicted."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        super().__init__(directory, max_bytes, _NAME_RE, in_use_s=IN_USE_S)

    @staticmethod
    def name_for(paper_id: str, version: int) -> str:
        name = f"{paper_id.replace('/', '_')}v{version}.pdf"
        if not _NAME_RE.fullmatch(name):
            raise ValueError(f"refusing cache file name {name!r}")
        return name


def pdf_cache(pipeline: Pipeline) -> PdfCache:
    settings = pipeline.settings
    return PdfCache(settings.data_dir / PDF_DIR, settings.paper_cache_max_mb * MIB)


# The fetches in progress, by cache file: a second request for the same PDF waits for the first
# one's fetch instead of sending its own.
_flights: dict[Path, Future[PaperPdf]] = {}
_flights_lock = threading.Lock()


def _done(pdf: PaperPdf) -> Future[PaperPdf]:
    future: Future[PaperPdf] = Future()
    future.set_result(pdf)
    return future


def request_pdf(pipeline: Pipeline, session: Session, paper_id: str) -> Future[PaperPdf]:
    """The PDF of stored paper ``paper_id`` (canonical, versionless), as a Future: done now from
    the cache, else when the fetch ends. Raises BadId and NoSuchPaper (not stored) at once; the
    Future holds NoSuchPaper (arXiv has no PDF: 404), TooLarge, RateLimited, HostHeld, other
    FetchErrors, ParseError (arXiv sent something else) or IngestStopped (shutting down)."""
    parsed = parse_id(paper_id)
    if parsed.id != paper_id or parsed.version is not None:
        raise BadId(f"not a canonical versionless arXiv id: {paper_id[:60]!r}")
    paper = store.get_paper(session, paper_id)
    if paper is None:
        raise NoSuchPaper(f"{paper_id} is not on this site")
    version = paper.version
    cache = pdf_cache(pipeline)
    name = cache.name_for(paper_id, version)
    path = cache.get(name)
    if path is not None:
        return _done(PaperPdf(paper_id, version, path, None))
    key = cache.path(name)
    with _flights_lock:
        flight = _flights.get(key)
        if flight is not None:
            return flight
        path = cache.get(name)  # a fetch may have ended between the first look and the lock
        if path is not None:
            return _done(PaperPdf(paper_id, version, path, None))
        flight = Future()
        flight.set_running_or_notify_cancel()  # running: a waiter's cancel cannot end it
        _flights[key] = flight
    thread = threading.Thread(
        target=_fetch,
        args=(pipeline, cache, paper_id, version, flight, key),
        name="coolpapers-pdf",
        daemon=True,
    )
    thread.start()
    return flight


def _fetch(
    pipeline: Pipeline,
    cache: PdfCache,
    paper_id: str,
    version: int,
    flight: Future[PaperPdf],
    key: Path,
) -> None:
    """Fetch, check and cache one PDF; the outcome goes to ``flight``."""
    settings = pipeline.settings
    label = f"{paper_id}v{version}"
    url = f"{settings.arxiv_web_url.rstrip('/')}/pdf/{label}"
    get = partial(
        pipeline.fetcher.get,
        url,
        accept_statuses=frozenset({200, 404}),
        max_body_bytes=settings.pdf_proxy_max_mb * MIB,
    )
    try:
        result = pipeline.call(get)  # ends at once with IngestStopped on shutdown
        if result.status == 404:
            raise NoSuchPaper(f"arXiv has no PDF of {label}")
        if not looks_like_pdf(result.body):
            kind = (result.content_type or "no content type").split(";", 1)[0]
            raise ParseError(f"arXiv sent {kind} instead of the PDF of {label}")
        path = cache.put(cache.name_for(paper_id, version), result.body)
        body = None if path is not None else result.body
        flight.set_result(PaperPdf(paper_id, version, path, body))
    except BaseException as exc:  # noqa: BLE001 - every outcome goes to the waiting requests
        if not isinstance(exc, NoSuchPaper):
            log.warning("PDF of %s not fetched: %s", label, exc)
        flight.set_exception(exc)
    finally:
        with _flights_lock:
            _flights.pop(key, None)
