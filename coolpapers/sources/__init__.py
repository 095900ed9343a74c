"""Sources of papers: one module per source behind the :class:`Source` protocol.

A source knows three things: how its ids look (``owns_id``/``parse_id``), how to fetch its listing
feeds (a day of announcements, conditionally), and how to fetch papers by id. It yields the frozen
records of ``coolpapers.records`` and nothing else: it never touches the database and never reads
settings (the values it needs are passed to its constructor). ``ingest`` dispatches on
``owns_id``, stores what comes back and records the run, so a venue (OpenReview, ACL Anthology,
PMLR…) is one new module here plus one line where the pipeline lists its sources.

Paper keys: ``papers.id`` holds arXiv ids bare and versionless (``2401.00001``,
``hep-th/9901001``). A paper from elsewhere is keyed as papers.cool does, ``<venue id>@<VENUE>``
(``2024.naacl-long.431@ACL``, ``smith23a@v202@PMLR``): the venue's own id, an ``@``, the venue in
capitals (``identifiers.parse_venue_key`` splits and checks it). arXiv ids never contain ``@``, so
the two kinds never collide and arXiv ids keep their short form in URLs and in the database. A
venue source yields ``PaperMeta`` records whose ``id`` is that full key (version 1 unless the
venue versions its papers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from coolpapers.records import Feed, PaperMeta


@dataclass(frozen=True)
class ListingFetch:
    """One conditional fetch of a listing feed: ``feed`` is None when it was not modified."""

    url: str
    feed: Feed | None
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.feed is None


@dataclass(frozen=True)
class PapersFetch:
    """Papers fetched by key: what the source returned, and the keys it says it does not have."""

    papers: tuple[PaperMeta, ...]
    missing: tuple[str, ...]
    malformed: tuple[str, ...] = ()


class Source(Protocol):
    """What ingest needs from a source of papers."""

    # ``ingest_runs.source`` of its listing and by-id runs ("rss" and "api" for arXiv)
    listing_label: str
    papers_label: str
    # the most keys ``fetch_papers`` takes in one call (arXiv asks for modest id lists)
    max_ids_per_call: int

    def owns_id(self, key: str) -> bool:
        """True when ``key`` (canonical, as stored in ``papers.id``) is one of this source's."""
        ...

    def parse_id(self, text: str) -> str:
        """The canonical key of ``text`` in any spelling the source accepts; BadId if none."""
        ...

    def listing_url(self, spec: str) -> str:
        """Where the listing of ``spec`` lives (the key of its conditional-GET validators)."""
        ...

    def fetch_listing(
        self, spec: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> ListingFetch:
        """Fetch and parse the current listing of ``spec`` (SourceError on failure)."""
        ...

    def parse_listing(self, body: bytes) -> Feed:
        """Parse a saved listing document (file imports); ParseError when unusable."""
        ...

    def fetch_papers(self, keys: Sequence[str]) -> PapersFetch:
        """Metadata of up to ``max_ids_per_call`` papers in one call (SourceError on failure)."""
        ...
