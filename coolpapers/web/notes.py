"""Members' notes on papers: private, or shared with the lab; on the cards (static/js/notes.js)
and on ``/notes`` (your notes, searchable, and what the lab shared lately).

JSON (members only: 401 anonymous, 404 when the site has no accounts):

- ``GET /api/notes?ids=a,b`` (at most 200) → ``{"notes": [Note…]}``: your notes on those papers
  and the lab's shared ones; without ``ids``, your own notes, newest first, ``?query=`` keeping
  those whose text or paper title contains it.
- ``GET /api/papers/{id}/note`` → your note (404 when none); ``?author=NAME``: that member's
  note when it is shared, else 404 (a private note and a missing one answer alike).
- ``PUT /api/papers/{id}/note`` ``{"body": str (≤ 10,000 characters), "shared": bool}`` → the
  note (404 for a paper not stored here); ``DELETE`` the same path → ``{"paper_id", "deleted"}``.

``Note`` = ``{"paper_id", "author", "body", "html", "shared", "mine", "updated_at"}``; ``html`` is
the body as Markdown rendered on the server and sanitized by nh3 (``web.markdown``): the one
field the script may insert as markup.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from markupsafe import Markup
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    field_validator,
)
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import store
from coolpapers.db import session_scope
from coolpapers.errors import BadId, BadInput, NotFound
from coolpapers.identifiers import parse_id
from coolpapers.models import utcnow
from coolpapers.store import Member, NoteView
from coolpapers.store.notes import MAX_QUERY_LEN, NOTE_IDS_MAX
from coolpapers.web import bodies, markdown
from coolpapers.web.auth import RequireMember
from coolpapers.web.deps import FactoryDep, SessionDep, TemplatesDep
from coolpapers.web.present import JSONBody, iso_or_none

MAX_NOTE_CHARS = 10_000
# The request's bytes, read before parsing: 10,000 characters of UTF-8 (4 bytes at most, as a
# browser's JSON.stringify sends them) or of \u escapes (6), with room for the JSON around them.
MAX_NOTE_REQUEST_BYTES = 128 * 1024
OWN_NOTES_SHOWN = 200  # /notes and GET /api/notes without ids: the newest
LAB_NOTES_DAYS = 30
LAB_NOTES_SHOWN = 100
# Postgres refuses NUL in text; lone surrogates are not UTF-8: neither is a character of a note
_UNSTORABLE = {chr(0)} | {chr(c) for c in range(0xD800, 0xE000)}


class NoteIn(BaseModel):
    """A note as a member writes it; nothing else is accepted."""

    model_config = ConfigDict(extra="forbid")

    body: StrictStr = Field(max_length=MAX_NOTE_CHARS)
    shared: StrictBool = False

    @field_validator("body")
    @classmethod
    def _storable(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("empty: write something, or DELETE the note")
        if any(ch in _UNSTORABLE for ch in value):
            raise ValueError("contains a NUL or an unpaired surrogate")
        return value


def note_json(note: NoteView, viewer: Member) -> dict[str, Any]:
    data: dict[str, Any] = {
        "paper_id": note.paper_id,
        "author": note.author,
        "body": note.body,
        "html": markdown.render(note.body),
        "shared": note.shared,
        "mine": note.author_id == viewer.id,
        "updated_at": iso_or_none(note.updated_at),
    }
    if note.title:
        data["title"] = note.title
    return data


def _paper_id(text: str) -> str:
    return parse_id(text).id


def parse_note_ids(text: str) -> list[str]:
    """Canonical ids of ``a,b,…`` (at most ``NOTE_IDS_MAX``), each once; 400 when malformed."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise BadInput("ids: give arXiv ids joined by commas, e.g. ids=2401.00001,2401.00002")
    if len(parts) > NOTE_IDS_MAX:
        raise BadInput(f"ids: at most {NOTE_IDS_MAX} papers at once ({len(parts)} given)")
    try:
        return list(dict.fromkeys(_paper_id(p) for p in parts))
    except BadId as exc:
        raise BadInput(f"ids: {exc}") from None


def api_notes(
    member: RequireMember,
    session: SessionDep,
    ids: Annotated[str | None, Query(max_length=NOTE_IDS_MAX * 40)] = None,
    query: Annotated[str, Query(max_length=MAX_QUERY_LEN)] = "",
) -> Response:
    """Notes on the papers `ids=a,b,…` (at most 200) that you may read: yours and the lab's
    shared ones. Without `ids`: your own notes, newest first; `query` keeps those whose text or
    paper title contains it."""
    if ids is not None:
        notes = store.notes_for(session, member.id, parse_note_ids(ids))
    else:
        notes = store.search_notes(session, member.id, query, OWN_NOTES_SHOWN)
    return JSONBody({"notes": [note_json(n, member) for n in notes]})


def api_get_note(
    paper_id: str,
    member: RequireMember,
    session: SessionDep,
    author: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Your note on the paper; with `author`, that member's note if they shared it (a private
    note answers 404, like a missing one)."""
    pid = _paper_id(paper_id)
    if author is None or author == member.name:
        note = store.get_note(session, member.id, pid)
        if note is None:
            raise NotFound(f"you have no note on {pid}")
    else:
        note = store.shared_note(session, author, pid)
        if note is None:
            raise NotFound(f"no note of {author!r} on {pid} is shared with the lab")
    return JSONBody(note_json(note, member))


def _put(
    factory: sessionmaker[Session], member: Member, paper_id: str, note: NoteIn
) -> NoteView | None:
    with session_scope(factory, write=True) as s:
        return store.put_note(s, member.id, paper_id, note.body, note.shared, utcnow())


async def api_put_note(
    paper_id: str, request: Request, member: RequireMember, factory: FactoryDep
) -> Response:
    """Write your note on the paper: `{"body": Markdown (at most 10,000 characters), "shared":
    true for the lab, false (the default) for you alone}`. 404 when the paper is not stored."""
    pid = _paper_id(paper_id)
    note = await bodies.read_json(request, NoteIn, MAX_NOTE_REQUEST_BYTES)
    written = await run_in_threadpool(_put, factory, member, pid, note)
    if written is None:
        raise NotFound(f"paper {pid} is not stored here")
    return JSONBody(note_json(written, member))


def api_delete_note(paper_id: str, member: RequireMember, factory: FactoryDep) -> Response:
    """Remove your note on the paper (idempotent: `deleted` says whether there was one)."""
    pid = _paper_id(paper_id)
    with session_scope(factory, write=True) as s:
        deleted = store.delete_note(s, member.id, pid)
    return JSONBody({"paper_id": pid, "deleted": deleted})


def _shown(notes: list[NoteView], member: Member) -> list[dict[str, Any]]:
    return [
        {
            "note": n,
            "html": Markup(markdown.render(n.body)),  # sanitized by nh3
            "mine": n.author_id == member.id,
        }
        for n in notes
    ]


def notes_page(
    request: Request,
    member: RequireMember,
    session: SessionDep,
    templates: TemplatesDep,
    query: Annotated[str, Query(max_length=MAX_QUERY_LEN)] = "",
) -> Response:
    """Your notes, newest first (``?query=`` searches them), and the lab's shared notes of the
    last 30 days."""
    mine = store.search_notes(session, member.id, query, OWN_NOTES_SHOWN)
    since = utcnow() - timedelta(days=LAB_NOTES_DAYS)
    lab = store.lab_notes(session, since, LAB_NOTES_SHOWN)
    context = {
        "query": query.strip(),
        "mine": _shown(mine, member),
        "lab": _shown(lab, member),
        "own_cap": OWN_NOTES_SHOWN,
        "lab_days": LAB_NOTES_DAYS,
        "max_query": MAX_QUERY_LEN,
    }
    return templates.TemplateResponse(request, "notes.html", context)


def router() -> APIRouter:
    """Built on demand: the path shapes are registered by ``create_app`` first."""
    r = APIRouter()
    r.get("/api/notes", tags=["notes"], response_class=Response)(api_notes)
    r.get("/api/papers/{paper_id:paper_id}/note", tags=["notes"], response_class=Response)(
        api_get_note
    )
    r.put(
        "/api/papers/{paper_id:paper_id}/note",
        tags=["notes"],
        openapi_extra=bodies.openapi_body(NoteIn),
    )(api_put_note)
    r.delete("/api/papers/{paper_id:paper_id}/note", tags=["notes"], response_class=Response)(
        api_delete_note
    )
    r.get("/notes", include_in_schema=False)(notes_page)
    return r
