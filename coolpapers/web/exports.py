"""``GET /api/export?ids=a,b&format=bibtex|ris|csl-json``: a list of papers (a member's stars,
a reader's browser stars, any comma-id list) as a file for a reference manager. Open to anyone,
like ``/api/bibtex``: the ids are in the URL, nothing of a member's is read.

The papers come in the order given, each once; ids the site does not know are left out (BibTeX
says so in an ``@comment``; RIS and CSL-JSON have no comment to say it in)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from coolpapers import store
from coolpapers.errors import BadInput
from coolpapers.store import PaperView
from coolpapers.web import bibtex, csl, ris
from coolpapers.web.deps import SessionDep, SettingsDep
from coolpapers.web.stars import BIBTEX_TYPE, parse_bibtex_ids
from coolpapers.web.urls import ArxivLinks


@dataclass(frozen=True)
class ExportFormat:
    media_type: str
    extension: str
    write: Callable[[list[PaperView | str], Callable[[str], str]], str | bytes]


def _bibtex(papers: list[PaperView | str], abs_url: Callable[[str], str]) -> str:
    return bibtex.bibliography(papers, abs_url=abs_url)


def _ris(papers: list[PaperView | str], abs_url: Callable[[str], str]) -> str:
    return ris.document((p for p in papers if not isinstance(p, str)), abs_url=abs_url)


def _csl(papers: list[PaperView | str], abs_url: Callable[[str], str]) -> bytes:
    return csl.document((p for p in papers if not isinstance(p, str)), abs_url=abs_url)


FORMATS: dict[str, ExportFormat] = {
    "bibtex": ExportFormat(BIBTEX_TYPE, "bib", _bibtex),
    "ris": ExportFormat("application/x-research-info-systems; charset=utf-8", "ris", _ris),
    "csl-json": ExportFormat("application/vnd.citationstyles.csl+json", "json", _csl),
}


def export_filename(ids: Sequence[str], extension: str) -> str:
    """``2401.00001.ris`` for one paper, ``coolpapers-3-papers.ris`` for several (ASCII by
    construction: canonical ids; an old-style id's slash becomes a dash)."""
    stem = ids[0].replace("/", "-") if len(ids) == 1 else f"coolpapers-{len(ids)}-papers"
    return f"{stem}.{extension}"


def export_file(
    ids: str,
    session: SessionDep,
    settings: SettingsDep,
    fmt: Annotated[str, Query(alias="format", max_length=20)],
) -> Response:
    """The papers `ids=a,b,…` (at most 500) as `format=bibtex`, `ris` or `csl-json`, in that
    order, as a download; ids this site does not know are left out."""
    chosen = FORMATS.get(fmt.strip().lower())
    if chosen is None:
        raise BadInput(f"format: one of {', '.join(FORMATS)} (not {fmt[:20]!r})")
    wanted = parse_bibtex_ids(ids)
    found = store.paper_rows(session, wanted)
    papers: list[PaperView | str] = [found.get(i, i) for i in wanted]
    body = chosen.write(papers, ArxivLinks(settings.arxiv_web_url).abs)
    disposition = f'attachment; filename="{export_filename(wanted, chosen.extension)}"'
    return Response(
        body, media_type=chosen.media_type, headers={"Content-Disposition": disposition}
    )


def router() -> APIRouter:
    r = APIRouter()
    r.get("/api/export", tags=["papers"], response_class=Response)(export_file)
    return r
