"""The pipeline's handles: settings, the session factory, the sources and the one arXiv client.

A process opens one :class:`Pipeline` (the web app keeps it in ``app.state.pipeline``, the worker
and the CLI in a local) and hands it to the entries of ``coolpapers.ingest``. Its ``stop`` event
is set on shutdown: every wait of the pipeline ends at once when it is set.

Why fetches run on a thread of their own: a request to a host that stalls blocks in a socket read
for up to the read timeout (30 s) and the whole request up to its deadline (90 s), and a 429's
Retry-After sleeps longer still. Ctrl+C must stop the process within seconds, so the caller waits
for the fetch *or* the stop event, whichever comes first, and on stop leaves the fetch behind on
its daemon thread (it dies with the process). The abandoned fetch still holds the Fetcher, so
:meth:`Pipeline.close` does not wait for it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session, sessionmaker

from coolpapers import http, store
from coolpapers.config import Settings
from coolpapers.errors import NotFound
from coolpapers.http import Fetcher
from coolpapers.ingest.runs import IngestStopped
from coolpapers.sources import Source
from coolpapers.sources.arxiv import ArxivSource

log = logging.getLogger(__name__)

T = TypeVar("T")

# How often a caller waiting for a fetch looks at the stop event: the bound on how late a stop is
# noticed during a fetch (the fetch itself ends as soon as it ends).
STOP_CHECK_S = 0.1


class Pipeline:
    """What the pipeline runs with: settings, session factory, sources and their one client."""

    def __init__(
        self,
        settings: Settings,
        factory: sessionmaker[Session],
        fetcher: Fetcher,
        sources: tuple[Source, ...],
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.fetcher = fetcher
        self.sources = sources
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._abandoned = 0  # fetches left running when a stop came
        self._holds: store.DbHostHolds | None = None  # the client's, when open() made them

    @classmethod
    def open(cls, settings: Settings, factory: sessionmaker[Session]) -> Pipeline:
        # a Retry-After from arXiv binds every run and process through the database
        holds = store.DbHostHolds(factory)
        fetcher = http.arxiv_fetcher(settings, holds=holds)
        arxiv = ArxivSource(fetcher, rss_url=settings.arxiv_rss_url, api_url=settings.arxiv_api_url)
        pipeline = cls(settings, factory, fetcher, (arxiv,))
        pipeline._holds = holds
        return pipeline

    def close(self) -> None:
        """Stop every wait of this pipeline and close its client. Its holds stay in memory
        from now on: the owner disposes of the database next, and a fetch left behind must not
        open a connection then."""
        self.stop.set()
        if self._holds is not None:
            self._holds.close()
        with self._lock:
            abandoned = self._abandoned
        if abandoned:
            # its thread holds the fetcher until its read times out: closing would wait for it
            log.info("leaving %d stopped fetch(es) to end with the process", abandoned)
            return
        self.fetcher.close()

    @property
    def arxiv(self) -> Source:
        return self.sources[0]

    def source_for(self, key: str) -> Source:
        """The source whose ids look like ``key``; NotFound when none does."""
        for source in self.sources:
            if source.owns_id(key):
                return source
        raise NotFound(f"no source knows papers like {key!r}")

    def stopping(self, stop: threading.Event | None = None) -> bool:
        return self.stop.is_set() or (stop is not None and stop.is_set())

    def call(self, fetch: Callable[[], T], stop: threading.Event | None = None) -> T:
        """``fetch()`` on a daemon thread, waited for until it ends or a stop is asked for
        (``self.stop`` or ``stop``): then IngestStopped, and the fetch is left behind."""
        if self.stopping(stop):
            raise IngestStopped("stopping")
        done = threading.Event()
        outcome: list[T] = []
        failure: list[BaseException] = []

        def run() -> None:
            try:
                outcome.append(fetch())
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller as is
                failure.append(exc)
            finally:
                done.set()

        thread = threading.Thread(target=run, name="coolpapers-fetch", daemon=True)
        thread.start()
        while not done.wait(STOP_CHECK_S):
            if self.stopping(stop):
                with self._lock:
                    self._abandoned += 1
                raise IngestStopped("stopping")
        if failure:
            raise failure[0]
        return outcome[0]
