"""Frozen records that cross module boundaries: sources produce them, ingest consumes them.

Nothing here knows about the database or HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

ANNOUNCE_TYPES = ("new", "cross", "replace", "replace-cross")


@dataclass(frozen=True)
class Author:
    name: str
    affiliations: tuple[str, ...] = ()


@dataclass(frozen=True)
class PaperMeta:
    """Metadata of one version of an arXiv paper, TeX accents already decoded."""

    id: str  # canonical, versionless: "2401.00001", "hep-th/9901001"
    version: int
    title: str
    abstract: str
    authors: tuple[Author, ...]
    categories: tuple[str, ...]  # as arXiv lists them, primary first (aliases not merged)
    doi: str | None = None
    journal_ref: str | None = None
    comments: str | None = None
    license: str | None = None
    published: datetime | None = None  # v1 submission time (API only), UTC
    updated: datetime | None = None  # this version's submission time (API only), UTC
    # submission time of every version, v1 first, UTC (Kaggle, OAI arXivRaw); () when unknown
    versions: tuple[datetime, ...] = ()

    @property
    def primary_category(self) -> str:
        return self.categories[0] if self.categories else ""


@dataclass(frozen=True)
class FeedItem:
    meta: PaperMeta
    announce_type: str  # one of ANNOUNCE_TYPES, relative to the feed's request


@dataclass(frozen=True)
class Feed:
    """One parsed arXiv RSS document: a listing day (possibly empty)."""

    title: str
    listing_date: date | None  # channel pubDate in US Eastern; None when the feed has none
    items: tuple[FeedItem, ...]
    # Items that could not be parsed: one short reason each. They never abort the feed.
    malformed: tuple[str, ...] = ()
    legacy: bool = False  # pre-2024 RSS 1.0/RDF format


@dataclass(frozen=True)
class ApiResult:
    """A parsed arXiv API (Atom) response."""

    total: int
    entries: tuple[PaperMeta, ...]
    malformed: tuple[str, ...] = field(default=())
