"""Members' notes on papers (``notes``): one per member and paper, private (only its author
reads it) or shared with the lab.

Every read here takes the reader (``viewer_id``/``author_id``) and filters on it in SQL: no
function hands out another member's private note, so a caller cannot leak one by forgetting
a check."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, or_, select
from sqlalchemy.orm import Session

from coolpapers.models import Note, Paper, User
from coolpapers.store.papers import as_utc, on_conflict_insert

MAX_QUERY_LEN = 200  # a search of one's notes: words, not documents
NOTE_IDS_MAX = 200  # papers asked about at once (a page's cards come in batches of 25)


@dataclass(frozen=True)
class NoteView:
    """A note as the pages and the API show it: with its author's name (and, from the
    searches, the paper's title)."""

    paper_id: str
    author_id: int
    author: str
    body: str
    shared: bool
    created_at: datetime
    updated_at: datetime
    title: str = ""


_COLUMNS: tuple[Any, ...] = (
    Note.paper_id,
    Note.user_id,
    User.name,
    Note.body,
    Note.shared,
    Note.created_at,
    Note.updated_at,
)


def _view(row: Any, title: str = "") -> NoteView:
    created, updated = as_utc(row.created_at), as_utc(row.updated_at)
    assert created is not None and updated is not None
    return NoteView(
        row.paper_id, row.user_id, row.name, row.body, bool(row.shared), created, updated, title
    )


def _with_titles(query: Select[Any]) -> Select[Any]:
    return query.add_columns(Paper.title).join(Paper, Paper.id == Note.paper_id)


def _base() -> Select[Any]:
    return select(*_COLUMNS).join(User, User.id == Note.user_id)


def put_note(
    session: Session, user_id: int, paper_id: str, body: str, shared: bool, now: datetime
) -> NoteView | None:
    """Write the member's note on a paper (a new one, or the one they had: its first time is
    kept); None when the paper is not stored. One statement, so two tabs saving at once both
    succeed and the last one's text stays."""
    if session.scalar(select(Paper.id).where(Paper.id == paper_id)) is None:
        return None
    insert = on_conflict_insert(session, Note).values(
        user_id=user_id,
        paper_id=paper_id,
        body=body,
        shared=shared,
        created_at=now,
        updated_at=now,
    )
    session.execute(
        insert.on_conflict_do_update(
            index_elements=["user_id", "paper_id"],
            set_={"body": body, "shared": shared, "updated_at": now},
        )
    )
    return get_note(session, user_id, paper_id)


def delete_note(session: Session, user_id: int, paper_id: str) -> bool:
    """Remove the member's note; False when there was none."""
    result = session.execute(
        delete(Note)
        .where(Note.user_id == user_id, Note.paper_id == paper_id)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def get_note(session: Session, user_id: int, paper_id: str) -> NoteView | None:
    """The member's own note on the paper, private or shared."""
    row = session.execute(
        _base().where(Note.user_id == user_id, Note.paper_id == paper_id)
    ).one_or_none()
    return _view(row) if row is not None else None


def shared_note(session: Session, author: str, paper_id: str) -> NoteView | None:
    """``author``'s note on the paper when it is shared with the lab; None when it is private
    or missing (the same answer for both)."""
    row = session.execute(
        _base().where(User.name == author, Note.paper_id == paper_id, Note.shared.is_(True))
    ).one_or_none()
    return _view(row) if row is not None else None


def notes_for(session: Session, viewer_id: int, paper_ids: Sequence[str]) -> list[NoteView]:
    """What ``viewer_id`` may read on these papers: their own notes and the lab's shared ones;
    by paper, the viewer's own first, then the newest."""
    ids = list(dict.fromkeys(paper_ids))[:NOTE_IDS_MAX]
    if not ids:
        return []
    query = (
        _base()
        .where(
            Note.paper_id.in_(ids),
            or_(Note.user_id == viewer_id, Note.shared.is_(True)),
        )
        .order_by(Note.paper_id, (Note.user_id != viewer_id), Note.updated_at.desc(), User.name)
    )
    return [_view(row) for row in session.execute(query)]


def search_notes(session: Session, author_id: int, query: str, limit: int) -> list[NoteView]:
    """The author's own notes (private and shared), newest first, with the paper's title;
    ``query`` (cut to ``MAX_QUERY_LEN``) keeps those whose text or paper title contains it,
    case-insensitively (SQLite folds ASCII letters only). ``%`` and ``_`` are plain text."""
    wanted = _with_titles(_base()).where(Note.user_id == author_id)
    words = query.strip()[:MAX_QUERY_LEN]
    if words:
        wanted = wanted.where(
            or_(
                Note.body.icontains(words, autoescape=True),
                Paper.title.icontains(words, autoescape=True),
            )
        )
    wanted = wanted.order_by(Note.updated_at.desc(), Note.paper_id).limit(limit)
    return [_view(row, row.title) for row in session.execute(wanted)]


def lab_notes(session: Session, since: datetime, limit: int) -> list[NoteView]:
    """The lab's shared notes written or changed since ``since``, newest first, with titles."""
    query = (
        _with_titles(_base())
        .where(Note.shared.is_(True), Note.updated_at >= since)
        .order_by(Note.updated_at.desc(), Note.paper_id, User.name)
        .limit(limit)
    )
    return [_view(row, row.title) for row in session.execute(query)]
