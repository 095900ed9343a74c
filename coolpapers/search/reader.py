"""The web side of search: the committed index, opened lazily; ``SearchIndex.search`` reloads
it when the writer (the worker) has committed, so every web process sees new papers."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TypeVar

from coolpapers.errors import CoolpapersError
from coolpapers.search import build_status, sync
from coolpapers.search.ast import SearchQuery
from coolpapers.search.engine import IndexCorrupt, Result, SearchIndex

_T = TypeVar("_T")


class IndexUnavailable(CoolpapersError):
    """No readable index yet: it is being built (``status`` says how far) or not started."""

    status_code = 503

    def __init__(self, message: str, status: build_status.BuildStatus | None) -> None:
        super().__init__(message)
        self.status = status


class SearchReader:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._index: SearchIndex | None = None
        self._lock = threading.Lock()

    def _open(self) -> SearchIndex:
        with self._lock:
            if self._index is None:
                path = sync.index_path(self.data_dir)
                status = build_status.read_status(self.data_dir)
                if status is not None and status.building:
                    raise IndexUnavailable("the search index is being built", status)
                try:
                    if not path.exists():
                        raise IndexCorrupt("no index yet")
                    self._index = SearchIndex.open(path, create=False)
                except IndexCorrupt:
                    raise IndexUnavailable(
                        "the search index is not built yet; the worker builds it", status
                    ) from None
            return self._index

    def search(self, query: SearchQuery, *, limit: int, offset: int, sort: str) -> Result:
        return self._read(lambda index: index.search(query, limit=limit, offset=offset, sort=sort))

    def score(self, query: SearchQuery, ids: Collection[str]) -> dict[str, float]:
        """``SearchIndex.score``: the BM25 of ``query`` for those of ``ids`` it matches."""
        return self._read(lambda index: index.score(query, ids))

    def _read(self, action: Callable[[SearchIndex], _T]) -> _T:
        try:
            return action(self._open())
        except IndexCorrupt:
            # rebuilt or deleted under us since we opened it: reopen once
            self.close()
            try:
                return action(self._open())
            except IndexCorrupt:
                self.close()
                status = build_status.read_status(self.data_dir)
                raise IndexUnavailable("the search index is being rebuilt", status) from None

    def close(self) -> None:
        with self._lock:
            if self._index is not None:
                self._index.close()
                self._index = None
