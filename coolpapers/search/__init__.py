"""Site search: our query syntax (query.py), the tantivy index (engine.py; what it holds for a
paper in documents.py, queries translated for it in translate.py), kept in sync with the
database, which stays the one source of truth (sync.py).

:func:`find` is the one door: the web's search page, feed and API and the benchmark all go
through it (query text in, a page of papers out, in result order). :func:`preference_order`
ranks a page's papers by the reader's preference keywords (papers.cool's ❤ sort), for the
day lists as for the search results.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from coolpapers import store
from coolpapers.errors import BadInput
from coolpapers.search.ast import AnyOf, SearchQuery, Term
from coolpapers.search.engine import SearchIndex
from coolpapers.search.query import parse_query
from coolpapers.search.reader import IndexUnavailable, SearchReader

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from coolpapers.store import PaperView

__all__ = [
    "RESULTS_MAX",
    "SHOW_DEFAULT",
    "SHOW_MAX",
    "SORTS",
    "Found",
    "IndexUnavailable",
    "find",
    "has_words",
    "preference_order",
]

SORTS = ("relevance", "time", "clicks", "preference")
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
    keywords: tuple[str, ...] = ()  # the preference sort's


def find(
    session: Session,
    reader: SearchReader,
    text: str,
    *,
    sort: str = "relevance",
    show: int = SHOW_DEFAULT,
    skip: int = 0,
    exclude: Collection[str] = (),
    keywords: Sequence[str] = (),
) -> Found:
    """Parse ``text``, search the index, load the page's papers from the database in result
    order. ``exclude``: canonical ids left out ([REL] leaves out the paper it starts from).
    ``sort="preference"`` ranks the (at most RESULTS_MAX) matches by ``keywords``, see
    :func:`preference_order`.

    An index that cannot be read yet (``IndexUnavailable``) is returned in ``unavailable``, so a
    page can say why; a query past its time limit raises. BadInput for an unknown sort or a
    slice out of range."""
    if sort not in SORTS:
        raise BadInput(f"sort must be one of {', '.join(SORTS)}")
    if not 1 <= show <= SHOW_MAX:
        raise BadInput(f"show must be between 1 and {SHOW_MAX}")
    if not 0 <= skip <= RESULTS_MAX:
        raise BadInput(f"skip must be between 0 and {RESULTS_MAX}")
    if (sort == "preference") != bool(keywords):
        raise BadInput("preference keywords go with the preference sort, and only with it")
    query = parse_query(text)
    found = Found(query, 0, [], (), sort, show, skip, keywords=tuple(keywords))
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
        elif sort == "preference":  # the matches re-ranked by the keywords, within the cap
            result = reader.search(query, limit=RESULTS_MAX, offset=0, sort="relevance")
            ids = [h.id for h in result.hits if h.id not in skip_ids]
            ids = preference_order(reader, keywords, ids)[skip : skip + show]
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


def has_words(text: str) -> bool:
    """Whether ``text`` has a word the index could hold (letters or digits)."""
    return bool(SearchIndex.normalise(text))


def preference_order(
    reader: SearchReader, keywords: Sequence[str], ids: Sequence[str]
) -> list[str]:
    """``ids`` ranked by the reader's preference ``keywords`` (papers.cool's ❤): the BM25
    score of the keywords as one OR query (a keyword of several words is a phrase; title
    matches count double, as in every search), highest first, ties and the papers matching
    no keyword in their given order. Raises IndexUnavailable when there is no index to ask."""
    words = tuple(Term(k) for k in keywords if has_words(k))
    if not words or not ids:
        return list(ids)
    scores = reader.score(SearchQuery(must=(AnyOf(words),)), ids)
    position = {paper_id: n for n, paper_id in enumerate(ids)}
    scored = sorted(scores, key=lambda i: (-scores[i], position[i]))
    return scored + [i for i in ids if i not in scores]
