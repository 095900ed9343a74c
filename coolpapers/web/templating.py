"""Jinja environment: autoescaping everywhere (HTML and Atom); every link from ``web.urls``
(the module is the global ``urls``; ``abs_url``/``pdf_url`` link to arXiv, ``absolute`` makes a
path absolute at the site's public address), filters for names and dates."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from markupsafe import Markup

from coolpapers import taxonomy
from coolpapers.config import Settings
from coolpapers.store import PaperView, as_utc
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
        author_url=arxiv.author,
        category_name=taxonomy.category_name,
        subject_links=subject_links,
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
