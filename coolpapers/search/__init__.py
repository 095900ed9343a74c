"""Site search: our query syntax (query.py), the tantivy index (engine.py; what it holds for a
paper in documents.py, queries translated for it in translate.py), kept in sync with the
database, which stays the one source of truth (sync.py).

:func:`find` is the one door: the web's search page, feed and API and the benchmark all go
through it (query text in, a page of papers out, in result order).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from coolpapers import store
from coolpapers.errors import BadInput
from coolpapers.search.query import parse_query
from coolpapers.search.reader import IndexUnavailable, SearchReader

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from coolpapers.search.ast import SearchQuery
    from coolpapers.store import PaperView

__all__ = ["RESULTS_MAX", "SHOW_DEFAULT", "SHOW_MAX", "SORTS", "Found", "find"]

SORTS = ("relevance", "time", "clicks")
SHOW_DEFAULT, SHOW_MAX = 25, 100
RESULTS_MAX = 1000  # papers.cool's cap; the total still counts every match


@dataclass
class Found:
    query: SearchQuery
    total: int
    papers: list[PaperView]
    terms: tuple[str, ...]
    sort: str
    show: int
    skip: int
    unavailable: IndexUnavailable | None = None


def find(
    session: Session,
    reader: SearchReader,
    text: str,
    *,
    sort: str = "relevance",
    show: int = SHOW_DEFAULT,
    skip: int = 0,
    exclude: Collection[str] = (),
) -> Found:
    """Parse ``text``, search the index, load the page's papers from the database in result
    order. ``exclude``: canonical ids left out ([REL] leaves out the paper it starts from).

    An index that cannot be read yet (``IndexUnavailable``) is returned in ``unavailable``, so a
    page can say why; a query past its time limit raises. BadInput for an unknown sort or a
    slice out of range."""
    if sort not in SORTS:
        raise BadInput(f"sort must be one of {', '.join(SORTS)}")
    if not 1 <= show <= SHOW_MAX:
        raise BadInput(f"show must be between 1 and {SHOW_MAX}")
    if not 0 <= skip <= RESULTS_MAX:
        raise BadInput(f"skip must be between 0 and {RESULTS_MAX}")
    query = parse_query(text)
    found = Found(query, 0, [], (), sort, show, skip)
    if query.empty or query.paper_id:
        return found
    skip_ids = set(exclude)
    try:
        if sort == "clicks":  # click counts live in the database: rank the top matches there
            result = reader.search(query, limit=RESULTS_MAX, offset=0, sort="relevance")
            ids = [h.id for h in result.hits if h.id not in skip_ids]
            clicks = store.click_counts(session, ids)
            ids.sort(key=lambda i: -clicks.get(i, 0))  # stable: ties stay by relevance
            ids = ids[skip : skip + show]
        else:
            want = show + len(skip_ids)
            result = reader.search(query, limit=want, offset=skip, sort=sort)
            ids = [h.id for h in result.hits if h.id not in skip_ids][:show]
        papers = store.paper_rows(session, ids)
    except IndexUnavailable as exc:
        found.unavailable = exc
        return found
    found.total = max(0, result.total - len(skip_ids & {h.id for h in result.hits}))
    found.papers = [papers[i] for i in ids if i in papers]
    found.terms = result.terms
    return found
