"""Jinja environment: autoescaping everywhere (HTML and Atom); every link from ``web.urls``
(the module is the global ``urls``; ``abs_url``/``pdf_url`` link to arXiv, ``absolute`` makes a
path absolute at the site's public address), filters for names and dates."""

from __future__ import annotations

import functools
import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from markupsafe import Markup, escape

from coolpapers import taxonomy
from coolpapers.config import Settings
from coolpapers.store import PaperView, as_utc
from coolpapers.store.papers import PaperRow
from coolpapers.web import urls
from coolpapers.web.highlight import highlight
from coolpapers.web.math import text_html
from coolpapers.web.present import published_text

# Characters XML 1.0 forbids; arXiv text has been seen with stray control characters.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
AUTHORS_FOLD = 40  # papers.cool folds longer author lists behind "et al."


def xml_safe(text: object) -> str:
    return _XML_ILLEGAL.sub("", "" if text is None else str(text))


def subject_links(categories: list[str]) -> list[tuple[str, str, str]]:
    """(category, label, its list page): names as papers.cool shows them, with the id added
    where two of a paper's categories share a name (cs.LG and stat.ML are both "Machine
    Learning"). The links come with them: one template call per card, not one per subject."""
    names = [taxonomy.category_name(c) for c in categories]
    return [
        (c, f"{n} ({c})" if names.count(n) > 1 else n, urls.day_list(c))
        for c, n in zip(categories, names, strict=True)
    ]


# quote_plus leaves these as they are and makes a space "+": most authors' names, at a tenth
# of its cost (a list page links ~200 names).
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.~ -]*")


def author_url(name: str) -> str:
    """arXiv's search for this author (``ArxivLinks.author``)."""
    if _PLAIN_NAME.fullmatch(name):
        return urls.ArxivLinks.AUTHOR_SEARCH + name.replace(" ", "+")
    return urls.ArxivLinks.author(name)


def memoised_macro(env: Environment, template: str, name: str) -> Callable[[Any], Markup]:
    """A macro of ``template`` whose output depends on its one argument alone, kept by that
    argument (as a tuple): a card's subjects are rendered once per list of categories."""

    @functools.lru_cache(maxsize=4096)
    def rendered(key: tuple[Any, ...]) -> Markup:
        macro = getattr(env.get_template(template).module, name)
        return Markup(macro(list(key)))

    def call(argument: Sequence[Any]) -> Markup:
        return rendered(tuple(argument))

    return call


CARD_CACHE_BYTES = 16 * 1024 * 1024  # per web process
CARD_MAX_BYTES = 64 * 1024  # a card of hundreds of authors is rendered each time
_KEY_BYTES = 200  # what a kept card's key and its place in the cache cost, about
# Where a kept card's number, title and abstract go: text no escaped field brings (a card in
# which a field does bring one is rendered whole each time, never kept).
_MARKS = ("\x00#\x00", "\x00title\x00", "\x00abstract\x00")
_MARK_RE = re.compile("(" + "|".join(map(re.escape, _MARKS)) + ")")


def _cut_at_marks(card: str) -> tuple[str, str, str, str] | None:
    """``card`` rendered with _MARKS, as the four parts around them; None unless each mark is
    there once, in order."""
    pieces = _MARK_RE.split(card)  # the parts, with the marks found between them
    if tuple(pieces[1::2]) != _MARKS:
        return None
    head, after_index, after_title, tail = pieces[0::2]
    return head, after_index, after_title, tail


def _kept_size(parts: tuple[str, ...]) -> int:
    return sum(map(len, parts)) + _KEY_BYTES


class CardCache:
    """Cards as ``card_body`` of templates/_partials.html renders them.

    What is kept is a paper's card without its number, title and abstract, the parts a page
    varies (its place on the page; the terms a search marks), by everything else it shows: the
    paper's fields (all of :class:`PaperView`, clicks and keywords included) and its announce
    type; the rest it reads are the environment's globals, fixed with the settings. Each use
    fills the three in, so one copy serves the paper at any place on any page, with any
    search's terms marked (a list's card, with its announce type, is a copy of its own). A
    card costs ~0.1 ms to render (its authors most) and a page has 25; after an ingest the page
    cache is empty and every day list renders again, with the same cards (so does a search
    asked again, a paper page opened from a search)."""

    def __init__(self, env: Environment, capacity: int = CARD_CACHE_BYTES) -> None:
        self.env = env
        self.capacity = capacity
        self.size = 0
        self.copies: OrderedDict[tuple[Any, ...], tuple[str, str, str, str]] = OrderedDict()
        self.lock = threading.Lock()  # renders run on the thread pool

    @functools.cached_property
    def card_body(self) -> Callable[..., str]:
        macro: Callable[..., str] = self.env.get_template("_partials.html").module.card_body  # type: ignore[attr-defined]
        return macro

    def render(
        self, paper: PaperView, index: int, announce_type: str | None, terms: Sequence[str] | None
    ) -> Markup:
        return Markup(self.card_body(paper, index, announce_type, terms, None))

    def __call__(
        self,
        paper: PaperView,
        index: int,
        announce_type: str | None = None,
        terms: Sequence[str] | None = None,
    ) -> Markup:
        parts = self._kept(paper, announce_type)
        if parts is None:
            return self.render(paper, index, announce_type, terms)
        head, after_index, after_title, tail = parts
        title, abstract = text_with_math(paper.title, terms), text_with_math(paper.abstract, terms)
        return Markup(
            "".join((head, escape(index), after_index, title, after_title, abstract, tail))
        )

    def _kept(
        self, paper: PaperView, announce_type: str | None
    ) -> tuple[str, str, str, str] | None:
        """The paper's card around its marks (_cut_at_marks), kept; None: not to be kept."""
        # every field a card may show (a PaperRow is them; a Paper is read field by field)
        fields = PaperRow._fields
        values = tuple(paper) if type(paper) is PaperRow else [getattr(paper, n) for n in fields]
        try:
            shown = orjson.dumps(values)
        except TypeError:  # a value JSON does not know: not kept
            return None
        # the fields by a digest, not by their JSON (the abstract, every author: a third of a
        # card's size), so the same bytes keep ~40 % more cards; 128 bits: never two alike
        key = (hashlib.blake2b(shown, digest_size=16).digest(), announce_type)
        with self.lock:
            found = self.copies.get(key)
            if found is not None:
                self.copies.move_to_end(key)
                return found
        index_mark, title_mark, abstract_mark = map(Markup, _MARKS)
        marked = self.card_body(
            paper, index_mark, announce_type, None, None, title_mark, abstract_mark
        )
        parts = _cut_at_marks(str(marked))
        if parts is None:
            return None
        size = _kept_size(parts)
        if size <= CARD_MAX_BYTES:
            with self.lock:
                if key not in self.copies:
                    self.copies[key] = parts
                    self.size += size
                while self.size > self.capacity:
                    _, old = self.copies.popitem(last=False)
                    self.size -= _kept_size(old)
        return parts


def is_http_url(value: object) -> bool:
    """Feed fields are untrusted: only http(s) URLs become links (no javascript:)."""
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def entry_updated(paper: PaperView, fallback: datetime | None) -> str:
    """An Atom entry's <updated>: the feed's day, else the paper's announcement or submission."""
    if fallback is not None:
        return fallback.isoformat()
    if paper.first_announced is not None:
        return datetime.combine(paper.first_announced, datetime.min.time(), UTC).isoformat()
    published = as_utc(paper.published)
    return (published or datetime.now(UTC)).isoformat()


def thousands(n: int) -> str:
    return f"{n:,}"


def iso(value: date | datetime | None) -> str:
    return value.isoformat() if value is not None else ""


# One sheet per reading feature (static/css/), after app.css: each owns its part of the page.
STYLESHEETS = (
    "css/cards.css",
    "css/lists.css",
    "css/bar.css",
    "css/reading.css",
    "css/pdf.css",
    "css/math.css",
    "css/home.css",
    "css/lab.css",
    "css/seen.css",
    "css/notes.css",
)


def text_with_math(text: str, terms: Sequence[str] | None = None) -> Markup:
    """A title or abstract as HTML: formulas as MathML (web.math), the rest escaped with the
    query terms marked. Only HTML pages use it: feeds, citation meta and the JSON API keep the
    TeX as written."""
    return text_html(text, terms)


def make_templates(settings: Settings, directory: Path) -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(directory),
        autoescape=select_autoescape(["html", "xml"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    arxiv = urls.ArxivLinks(settings.arxiv_web_url)

    @pass_context
    def absolute(context: Any, path: str) -> str:
        """``path`` at the site's public address (feeds, canonical, citation meta)."""
        return urls.absolute(settings, context["request"], path)

    env.globals.update(
        urls=urls,
        absolute=absolute,
        abs_url=arxiv.abs,
        pdf_url=arxiv.pdf,
        author_url=author_url,
        category_name=taxonomy.category_name,
        subject_links=subject_links,
        subject_list=memoised_macro(env, "_partials.html", "subject_anchors"),
        kept_card=CardCache(env),
        entry_updated=entry_updated,
        authors_fold=AUTHORS_FOLD,
        published_text=published_text,
        now_utc=lambda: datetime.now(UTC),
        faq_label=settings.faq_label,
        faq_enabled=settings.llm_configured,
        feedback_url=settings.feedback_url,
        auth=settings.auth,
        stylesheets=STYLESHEETS,
    )
    env.filters.update(
        highlight=highlight, math=text_with_math, xml_safe=xml_safe, thousands=thousands, iso=iso
    )
    env.tests["http_url"] = is_http_url
    return Jinja2Templates(env=env)


ATOM = "application/atom+xml; charset=utf-8"


def atom_response(
    request: Request,
    templates: Jinja2Templates,
    *,
    title: str,
    path: str,
    self_path: str,
    entries: Sequence[tuple[PaperView, str | None]],
    updated: datetime | None = None,
    entry_times: Mapping[str, datetime] | None = None,
) -> Response:
    """An Atom feed of papers; ``path`` is the HTML page the feed mirrors, ``self_path`` the
    feed's own (site paths from ``web.urls``: the template makes them absolute).
    ``entry_times``: an entry's own <updated> by paper id (when it was starred), so that a new
    entry does not make a reader see every other one as changed; else ``updated``."""
    context = {
        "feed_title": title,
        "feed_path": path,
        "self_path": self_path,
        "entries": entries,
        "updated": updated,
        "entry_times": entry_times or {},
    }
    return templates.TemplateResponse(request, "feed.xml", context, media_type=ATOM)
