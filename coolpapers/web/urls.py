"""The site's URL space: the shapes its routes match and the builders that write its links.

Routes under ``/arxiv/`` and ``/api/`` serve different pages from one prefix, so each kind of
path segment has a Starlette convertor with its own regex, and the regexes are disjoint: a path
matches one route at most, whatever order the routers are registered in.

* ``list_spec``: categories and archives (``cs.AI,cs.LG-cs.CY``): no ``/``, does not start with
  a digit nor with ``arxiv:``, is not ``search``. Malformed specs (``-cs.AI``, ``,cs.AI``) still
  match, so the page can say what is wrong (400) instead of "no page" (404).
* ``id_list``: arXiv ids joined by ``,``; the first starts with a digit (``2401.00001``), with
  ``arxiv:`` or is old-style (``hep-th/9901001``, the one shape with a ``/``: a letter run, a
  ``/``, a digit). Malformed ids still match, for the same reason.
* ``paper_id``: one id, old-style or anything without a ``/``: ``/api/papers/{id}`` and the
  ``/faq`` paths under it can never take each other's URLs.

Templates, redirects and feeds build every path with the functions below (the templates get
this module as ``urls``); links to arXiv go through :class:`ArxivLinks`, absolute links through
:func:`absolute`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

from starlette.convertors import CONVERTOR_TYPES, Convertor, register_url_convertor
from starlette.requests import Request

from coolpapers.config import Settings

# ----------------------------------------------------------------------------- path shapes

_ARXIV_PREFIX = r"(?i:arxiv:)"
_OLD_ID = r"[A-Za-z][A-Za-z.-]*/[0-9][^/,]*"  # archive[.SUB]/NNNNNNN[vN], loosely
_FIRST_ID = rf"(?:{_ARXIV_PREFIX}\s*{_OLD_ID}|{_ARXIV_PREFIX}[^/,]*|[0-9][^/,]*|{_OLD_ID})"
_MORE_IDS = rf"(?:,(?:{_ARXIV_PREFIX}?\s*{_OLD_ID}|[^/,]*))*"

LIST_SPEC_RE = rf"(?!search(?![^/]))(?!{_ARXIV_PREFIX})[^0-9/][^/]*"
ID_LIST_RE = _FIRST_ID + _MORE_IDS
PAPER_ID_RE = rf"(?:{_ARXIV_PREFIX}?\s*{_OLD_ID}|[^/]+)"
# The paths of web.day_list's routes (a day or its cards, its Atom feed, its JSON twin), whole:
# what web.page_cache may answer.
DAY_LIST_PATHS_RE = rf"/arxiv/(?:{LIST_SPEC_RE})(?:/feed)?|/api/arxiv/(?:{LIST_SPEC_RE})"


class _Segment(Convertor[str]):
    """A path segment of one shape, handed to the route as text (the route parses it)."""

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return str(value)


class ListSpecSegment(_Segment):
    regex = LIST_SPEC_RE


class IdListSegment(_Segment):
    regex = ID_LIST_RE


class PaperIdSegment(_Segment):
    regex = PAPER_ID_RE


CONVERTORS: dict[str, type[_Segment]] = {
    "list_spec": ListSpecSegment,
    "id_list": IdListSegment,
    "paper_id": PaperIdSegment,
}


def register_convertors() -> None:
    """Make the shapes known to Starlette (its registry is process-wide); idempotent, and loud
    if another convertor already took one of the names."""
    for name, kind in CONVERTORS.items():
        present = CONVERTOR_TYPES.get(name)
        if present is None:
            register_url_convertor(name, kind())
        elif type(present) is not kind:
            raise RuntimeError(f"path convertor {name!r} is already {type(present).__name__}")


# ----------------------------------------------------------------------------- site paths


def _query(params: dict[str, Any]) -> str:
    """``?a=1&b=2`` of the parameters that are set (True is 1), in the given order; "" when
    none is. A list page has ~200 links: this is kept to plain string work."""
    parts = [
        f"{name}={quote(str(1 if value is True else value), safe=',:')}"
        for name, value in params.items()
        if value is not None and value is not False and value != ""
    ]
    return "?" + "&".join(parts) if parts else ""


def _id_path(paper_id: str) -> str:
    return quote(paper_id, safe="/:")  # old-style ids keep their slash


def home() -> str:
    return "/"


def status() -> str:
    return "/status"


def static(name: str) -> str:
    return "/static/" + quote(name)


def pdf_proxy(paper_id: str) -> str:
    """The paper's PDF through our proxy: same-origin, for the inline viewer."""
    return f"/api/papers/{_id_path(paper_id)}/pdf"


def stars() -> str:
    return "/stars"


def login(next_path: str | None = None) -> str:
    """The login form; ``next_path`` (a path of this site, see ``local_path``) comes after."""
    target = local_path(next_path) if next_path else "/"
    return "/login" + _query({"next": None if target == "/" else target})


def logout() -> str:
    return "/logout"


def lab() -> str:
    return "/lab"


def lab_feed() -> str:
    return "/lab/feed"


def members() -> str:
    return "/lab/members"


def member_action(name: str, action: str) -> str:
    """``action``: disable or enable (an admin's POST)."""
    return f"/lab/members/{quote(name, safe='')}/{action}"


def account() -> str:
    return "/account"


def api_stars() -> str:
    return "/api/stars"


def api_star(paper_id: str) -> str:
    return f"/api/stars/{_id_path(paper_id)}"


def api_stars_import() -> str:
    return "/api/stars/import"


def api_lab_stars(paper_ids: Sequence[str]) -> str:
    return "/api/lab/stars" + _query({"ids": ",".join(paper_ids)})


def api_seen() -> str:
    return "/api/seen"


def api_notes() -> str:
    return "/api/notes"


def api_note(paper_id: str) -> str:
    return f"/api/papers/{_id_path(paper_id)}/note"


def api_settings() -> str:
    return "/api/settings"


def export(paper_ids: Sequence[str], fmt: str) -> str:
    """``fmt``: bibtex, ris or csl-json."""
    return "/api/export" + _query({"ids": ",".join(paper_ids), "format": fmt})


def unread(spec: str) -> str:
    return f"/unread/{quote(spec, safe=',+')}"


def notes(query: str | None = None) -> str:
    return "/notes" + _query({"query": query or None})


def personal_feed(token: str, which: str) -> str:
    """``which``: stars (the member's) or lab (the lab's week); ``token`` is the secret."""
    return f"/feeds/{quote(token, safe='')}/{which}"


def account_feed_token(action: str) -> str:
    """``action``: new (make or replace the token) or revoke (an account page's POST)."""
    return f"/account/feed-token/{action}"


def local_path(value: str | None) -> str:
    """``value`` when it is a path of this site, else "/": what ``?next=`` may lead to (no
    open redirect: ``//evil.example``, ``/\\evil.example``, ``https:evil``, control characters
    and backslashes, which browsers read as slashes, all fall back to "/")."""
    if not value or len(value) > 2000 or not value.startswith("/"):
        return "/"
    if (
        value.startswith("//")
        or "\\" in value
        or any(ord(c) < 0x21 or ord(c) == 0x7F for c in value)
    ):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


def bibtex(ids: Sequence[str]) -> str:
    return "/api/bibtex" + _query({"ids": ",".join(ids)})


def go() -> str:
    """The home page's chooser (a form's action)."""
    return "/go"


def paper(paper_id: str, *, faq: str | None = None, fragment: str = "") -> str:
    path = "/arxiv/" + _id_path(paper_id)
    if faq is not None:
        path += _query({"faq": faq})
    return f"{path}#{fragment}" if fragment else path


def papers(
    paper_ids: Iterable[str],
    *,
    query: str = "",
    skip: int | None = None,
    show: int | None = None,
    fragment: bool = False,
) -> str:
    """Several papers on one page; ``query`` is a request's own query string, kept as is, or
    the slice (``skip``, ``show``), ``fragment``: its cards alone (lazy loading)."""
    path = "/arxiv/" + ",".join(_id_path(i) for i in paper_ids)
    if query:
        return f"{path}?{query}"
    return path + _query({"skip": skip, "show": show, "fragment": fragment})


def day_list(
    spec: str,
    *,
    date: dt.date | str | None = None,
    show: int | None = None,
    skip: int | None = None,
    sort: str | None = None,
    replace: bool = False,
    fragment: bool = False,
) -> str:
    """A list page; ``sort`` is left out when it is arXiv's own order; ``fragment``: the
    page's cards alone (what lazy loading fetches)."""
    path = "/arxiv/" + quote(spec, safe=",+")
    plain = date is None and show is None and skip is None and not replace and not fragment
    if plain and sort in (None, "arxiv"):
        return path  # a subject link: most links of a list page
    day = date.isoformat() if isinstance(date, dt.date) else date
    params = {
        "date": day,
        "skip": skip,
        "show": show,
        "replace": replace,
        "sort": None if sort in (None, "arxiv") else sort,
        "fragment": fragment,
    }
    return path + _query(params)


def day_feed(spec: str) -> str:
    return f"/arxiv/{quote(spec, safe=',+')}/feed"


def search(
    query: str,
    *,
    sort: str | None = None,
    skip: int | None = None,
    show: int | None = None,
    highlight: bool = False,
    exclude: str | None = None,
    fragment: bool = False,
) -> str:
    """A search page (``fragment``: its cards alone); ``sort`` left out for relevance."""
    params = {
        "query": query,
        "sort": None if sort == "relevance" else sort,
        "skip": skip,
        "show": show,
        "highlight": highlight,
        "exclude": exclude,
        "fragment": fragment,
    }
    return "/arxiv/search" + _query(params)


def search_page() -> str:
    """The search form's action (its fields make the query)."""
    return "/arxiv/search"


def search_feed(query: str) -> str:
    return "/arxiv/search/feed" + _query({"query": query})


def faq_form(paper_id: str, lang: str) -> str:
    """Where the paper page's no-JavaScript FAQ button posts."""
    return f"/arxiv/{_id_path(paper_id)}/faq{_query({'lang': lang})}"


def api_paper(paper_id: str) -> str:
    return f"/api/papers/{_id_path(paper_id)}"


def api_faq(paper_id: str, lang: str | None = None) -> str:
    return f"{api_paper(paper_id)}/faq{_query({'lang': lang})}"


# ----------------------------------------------------------------------------- elsewhere


class ArxivLinks:
    """Links to arXiv itself (``ARXIV_WEB_URL``) and to its author search."""

    AUTHOR_SEARCH = "https://arxiv.org/search/?searchtype=author&query="

    def __init__(self, web_url: str) -> None:
        self.web_url = web_url

    def abs(self, paper_id: str, version: int | None = None) -> str:
        return f"{self.web_url}/abs/{_id_path(paper_id)}" + (f"v{version}" if version else "")

    def pdf(self, paper_id: str) -> str:
        return f"{self.web_url}/pdf/{_id_path(paper_id)}"

    @classmethod
    def author(cls, name: str) -> str:
        return cls.AUTHOR_SEARCH + quote_plus(name)  # ~100 per page: plain quote_plus


def doi(value: str) -> str:
    return "https://doi.org/" + quote(value, safe="/")


# ----------------------------------------------------------------------------- absolute


def base_url(settings: Settings, request: Request) -> str:
    """The site's public address: ``BASE_URL`` when set, else the address this request came
    to (scheme, host and port as the client sent them, behind the app's root path)."""
    if settings.base_url:
        return settings.base_url
    return str(request.base_url).rstrip("/")


def absolute(settings: Settings, request: Request, path: str) -> str:
    return base_url(settings, request) + path


def lab_page(
    window: str | None = None,
    *,
    skip: int | None = None,
    show: int | None = None,
    fragment: bool = False,
) -> str:
    """What the lab starred: ``window`` week (the default, left out) or month; a slice
    (``skip``, ``show``), ``fragment``: its cards alone (lazy loading)."""
    params = {
        "range": None if window in (None, "week") else window,
        "skip": skip,
        "show": show,
        "fragment": fragment,
    }
    return lab() + _query(params)
