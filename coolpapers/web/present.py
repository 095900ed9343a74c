"""The JSON shapes of a paper, of a search and of a FAQ (DESIGN.md §6), shared by the API and
the pages, and the response that carries them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import orjson
from fastapi.responses import Response
from sqlalchemy.orm import Session

from coolpapers import store
from coolpapers.config import Settings
from coolpapers.models import Faq
from coolpapers.search import Found
from coolpapers.store import PaperView, as_utc
from coolpapers.store import faqs as faq_store
from coolpapers.summarize import jobs
from coolpapers.web import markdown
from coolpapers.web.urls import ArxivLinks


class JSONBody(Response):
    """JSON encoded once, in C (orjson). A JSON route returns one of these rather than a dict,
    which FastAPI would first walk value by value (``jsonable_encoder``) and then hand to
    ``json.dumps``. Dates and datetimes are written as ISO 8601, naive ones (SQLite gives
    them back so) as UTC."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NAIVE_UTC)


def iso_or_none(value: date | datetime | None) -> str | None:
    """ISO 8601 for JSON; datetimes as UTC (SQLite hands them back naive)."""
    if isinstance(value, datetime):
        value = as_utc(value)
    return value.isoformat() if value is not None else None


def published_text(paper: PaperView) -> str:
    """Submission time when the API told us, else the first announcement day."""
    published = as_utc(paper.published)
    if published is not None:
        return published.strftime("%Y-%m-%d %H:%M:%S")
    return paper.first_announced.isoformat() if paper.first_announced else ""


def paper_json(
    paper: PaperView, settings: Settings, announce_type: str | None = None
) -> dict[str, Any]:
    """A paper for a :class:`JSONBody` (its dates stay objects: the body writes them)."""
    authors = paper.authors
    arxiv = ArxivLinks(settings.arxiv_web_url)
    data: dict[str, Any] = {
        "id": paper.id,
        "version": paper.version,
        "title": paper.title,
        "authors": [a["name"] for a in authors],
        "affiliations": [a.get("affiliations", []) for a in authors],
        "abstract": paper.abstract,
        "categories": paper.categories,
        "primary_category": paper.primary_category,
        "published": paper.published,
        "updated": paper.updated,
        "first_announced": paper.first_announced,
        "comments": paper.comments,
        "journal_ref": paper.journal_ref,
        "doi": paper.doi,
        "license": paper.license,
        "abs_url": arxiv.abs(paper.id),
        "pdf_url": arxiv.pdf(paper.id),
        "pdf_clicks": paper.pdf_clicks,
        "faq_clicks": paper.faq_clicks,
    }
    if announce_type is not None:
        data["announce_type"] = announce_type
    return data


def faq_json(
    faq: Faq | None, settings: Settings, *, position: int | None = None, clicks: int | None = None
) -> dict[str, Any]:
    if faq is None:
        return {
            "state": "none",
            "configured": settings.llm_configured,
            "position": None,
            "content": "",
            "html": "",
            "error": None if settings.llm_configured else "no LLM is configured on this site",
            "clicks": clicks,
        }
    started, finished = as_utc(faq.started_at), as_utc(faq.finished_at)
    return {
        "state": faq.state,
        "configured": settings.llm_configured,
        "lang": faq.lang,
        "position": position,
        "content": faq.content,
        "html": markdown.render(faq.content),
        "error": faq.error,
        "model": faq.model,
        "prompt_version": faq.prompt_version,
        "source": faq.source,
        "source_url": faq.source_url,
        "paper_version": faq.paper_version,
        "truncated_input": faq.truncated_input,
        "truncated_output": faq.truncated_output,
        "tokens_in": faq.tokens_in,
        "tokens_out": faq.tokens_out,
        "tokens_estimated": faq.tokens_estimated,
        "attempts": faq.attempts,
        "started_at": started.isoformat() if started else None,
        "finished_at": finished.isoformat() if finished else None,
        "seconds": round((finished - started).total_seconds(), 1) if started and finished else None,
        "clicks": clicks,
    }


def found_json(text: str, found: Found, settings: Settings) -> dict[str, Any]:
    """``/api/search``'s answer."""
    return {
        "query": text,
        "sort": found.sort,
        "total": found.total,
        "paper_id": found.query.paper_id,
        "terms": list(found.terms),
        "papers": [paper_json(p, settings) for p in found.papers],
    }


def read_faqs(
    session: Session, settings: Settings, paper_id: str, langs: Iterable[str], *, clicks: int | None
) -> dict[str, dict[str, Any]]:
    """The FAQ of each language, read in one statement; ``clicks`` from the paper the caller
    already has (the paper page does not read the paper again for it)."""
    keys = {lang: jobs.faq_key(settings, paper_id, lang) for lang in langs}
    found = faq_store.get_faqs(session, list(keys.values()))
    shown = {}
    for lang, key in keys.items():
        faq = found.get(key)
        position = faq_store.queue_position(session, faq) if faq else None
        shown[lang] = faq_json(faq, settings, position=position, clicks=clicks)
    return shown


def read_faq(session: Session, settings: Settings, paper_id: str, lang: str) -> dict[str, Any]:
    """One language's FAQ with the paper's [FAQ] clicks (the API and the stream)."""
    counters = store.paper_clicks(session, paper_id)
    clicks = counters.faq if counters is not None else None
    return read_faqs(session, settings, paper_id, (lang,), clicks=clicks)[lang]
