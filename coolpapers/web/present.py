"""The JSON shape of a paper (DESIGN.md §6), shared by the API and the pages."""

from __future__ import annotations

from typing import Any

from coolpapers.config import Settings
from coolpapers.models import Paper
from coolpapers.store import as_utc


def author_names(paper: Paper) -> list[str]:
    return [a["name"] for a in paper.authors]


def published_text(paper: Paper) -> str:
    """Submission time when the API told us, else the first announcement day."""
    published = as_utc(paper.published)
    if published is not None:
        return published.strftime("%Y-%m-%d %H:%M:%S")
    return paper.first_announced.isoformat() if paper.first_announced else ""


def paper_json(
    paper: Paper, settings: Settings, announce_type: str | None = None
) -> dict[str, Any]:
    published, updated = as_utc(paper.published), as_utc(paper.updated)
    data: dict[str, Any] = {
        "id": paper.id,
        "version": paper.version,
        "title": paper.title,
        "authors": author_names(paper),
        "affiliations": [a.get("affiliations", []) for a in paper.authors],
        "abstract": paper.abstract,
        "categories": list(paper.categories),
        "primary_category": paper.primary_category,
        "published": published.isoformat() if published else None,
        "updated": updated.isoformat() if updated else None,
        "first_announced": paper.first_announced.isoformat() if paper.first_announced else None,
        "comments": paper.comments,
        "journal_ref": paper.journal_ref,
        "doi": paper.doi,
        "license": paper.license,
        "abs_url": f"{settings.arxiv_web_url}/abs/{paper.id}",
        "pdf_url": f"{settings.arxiv_web_url}/pdf/{paper.id}",
    }
    if announce_type is not None:
        data["announce_type"] = announce_type
    return data
