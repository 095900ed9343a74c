"""A member's personal feed token (``users.feed_token_hash``): whether one exists. The token
itself is never stored, only its hash (``accounts.token_hash``); setting and looking it up are
``store.users``'s (``set_feed_token_hash``, ``user_by_feed_token``)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from coolpapers.models import User


def has_feed_token(session: Session, user_id: int) -> bool:
    """Whether the member has a feed token (its URL can no longer be shown, only replaced)."""
    query = select(User.feed_token_hash).where(User.id == user_id)
    return session.scalar(query) is not None
