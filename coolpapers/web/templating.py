"""Jinja environment: autoescaping everywhere (HTML and Atom), filters for arXiv links and names."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import quote, quote_plus

from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from coolpapers import taxonomy
from coolpapers.config import Settings
from coolpapers.store import PaperView, as_utc
from coolpapers.web.highlight import highlight
from coolpapers.web.present import published_text

# Characters XML 1.0 forbids; arXiv text has been seen with stray control characters.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
AUTHORS_FOLD = 40  # papers.cool folds longer author lists behind "et al."


def xml_safe(text: object) -> str:
    return _XML_ILLEGAL.sub("", "" if text is None else str(text))


AUTHOR_SEARCH = "https://arxiv.org/search/?searchtype=author&query="


def author_search_url(name: str) -> str:
    return AUTHOR_SEARCH + quote_plus(name)  # ~100 per page: plain quote_plus, not urlencode


def subject_labels(categories: list[str]) -> list[tuple[str, str]]:
    """(category, label): names as papers.cool shows them, with the id added where two of a
    paper's categories share a name (cs.LG and stat.ML are both "Machine Learning")."""
    names = [taxonomy.category_name(c) for c in categories]
    return [
        (c, f"{n} ({c})" if names.count(n) > 1 else n)
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


def make_templates(settings: Settings, directory: Path) -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(directory),
        autoescape=select_autoescape(["html", "xml"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    web = settings.arxiv_web_url
    env.globals.update(
        site_url=settings.site_url,
        abs_url=lambda pid: f"{web}/abs/{pid}",
        pdf_url=lambda pid: f"{web}/pdf/{pid}",
        author_url=author_search_url,
        category_name=taxonomy.category_name,
        subject_labels=subject_labels,
        entry_updated=entry_updated,
        authors_fold=AUTHORS_FOLD,
        published_text=published_text,
        now_utc=lambda: datetime.now(UTC),
        faq_label=settings.faq_label,
        faq_enabled=settings.llm_configured,
    )
    env.filters.update(
        highlight=highlight, xml_safe=xml_safe, thousands=thousands, iso=iso, urlquote=quote
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
    entries: Sequence[tuple[PaperView, str | None]],
    updated: datetime | None = None,
) -> Response:
    """An Atom feed of papers; ``path`` is the HTML page the feed mirrors."""
    query = f"?{request.url.query}" if request.url.query else ""
    context = {
        "feed_title": title,
        "feed_path": path,
        "self_path": request.url.path + query,
        "entries": entries,
        "updated": updated,
    }
    return templates.TemplateResponse(request, "feed.xml", context, media_type=ATOM)
