"""arXiv as a :class:`~coolpapers.sources.Source`: daily RSS listings from rss.arxiv.org and
metadata by id from the API (export.arxiv.org), parsed by ``sources.arxiv_parse``.

Built from values, not settings: ``ArxivSource(fetcher, rss_url=…, api_url=…)``; the one polite
``Fetcher`` for arXiv's hosts is passed in (``http.arxiv_fetcher``) and shared with whatever else
talks to arXiv in the process.
"""

from __future__ import annotations

from collections.abc import Sequence

from coolpapers.errors import BadId
from coolpapers.http import Fetcher, FetchResult
from coolpapers.identifiers import is_venue_key, parse_id
from coolpapers.records import ApiResult, Feed
from coolpapers.sources import ListingFetch, PapersFetch
from coolpapers.sources.arxiv_parse import API_MAX_IDS, parse_api, parse_rss, split_authors

__all__ = [
    "API_MAX_IDS",
    "ArxivSource",
    "fetch_api",
    "fetch_rss",
    "parse_api",
    "parse_rss",
    "rss_url",
    "split_authors",
]


def rss_url(base_url: str, spec: str) -> str:
    """``{ARXIV_RSS_URL}/rss/cs.AI+cs.LG``: arXiv joins several categories with ``+``."""
    return f"{base_url.rstrip('/')}/rss/{spec.replace(',', '+')}"


def fetch_rss(
    fetcher: Fetcher, url: str, *, etag: str | None = None, last_modified: str | None = None
) -> FetchResult:
    """One conditional GET of a feed; a 304 comes back as ``result.not_modified``."""
    return fetcher.get(url, etag=etag, last_modified=last_modified)


def fetch_api(fetcher: Fetcher, api_url: str, ids: Sequence[str]) -> ApiResult:
    """Metadata of up to 100 papers by id. An id arXiv rejects raises BadId; an unknown one is
    simply absent from ``entries``."""
    if not 0 < len(ids) <= API_MAX_IDS:
        raise ValueError(f"fetch_api takes 1 to {API_MAX_IDS} ids, got {len(ids)}")
    params = {"id_list": ",".join(ids), "max_results": str(len(ids)), "start": "0"}
    # arXiv answers a malformed id with HTTP 400 and an Atom error entry: parse that too
    result = fetcher.get(api_url, params=params, accept_statuses=frozenset({200, 400}))
    return parse_api(result.body)


class ArxivSource:
    """arXiv's listings (``spec`` = a category, an archive, or several joined by ``+``/``,``)
    and its papers by bare, versionless id."""

    listing_label = "rss"
    papers_label = "api"
    max_ids_per_call = API_MAX_IDS

    def __init__(self, fetcher: Fetcher, *, rss_url: str, api_url: str) -> None:
        self._fetcher = fetcher
        self._rss_url = rss_url
        self._api_url = api_url

    def owns_id(self, key: str) -> bool:
        if is_venue_key(key):
            return False
        try:
            return parse_id(key).id == key
        except BadId:
            return False

    def parse_id(self, text: str) -> str:
        return parse_id(text).id

    def listing_url(self, spec: str) -> str:
        return rss_url(self._rss_url, spec)

    def fetch_listing(
        self, spec: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> ListingFetch:
        url = self.listing_url(spec)
        result = fetch_rss(self._fetcher, url, etag=etag, last_modified=last_modified)
        if result.not_modified:
            return ListingFetch(url, None, result.etag, result.last_modified)
        return ListingFetch(url, parse_rss(result.body), result.etag, result.last_modified)

    def parse_listing(self, body: bytes) -> Feed:
        return parse_rss(body)

    def fetch_papers(self, keys: Sequence[str]) -> PapersFetch:
        result = fetch_api(self._fetcher, self._api_url, list(keys))
        got = {e.id for e in result.entries}
        missing = tuple(k for k in dict.fromkeys(keys) if k not in got)
        return PapersFetch(result.entries, missing, result.malformed)
