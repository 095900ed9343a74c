"""Adding, listing, disabling members and resetting their passwords: the CLI's ``coolpapers
users`` and the admin page. Disabling or resetting ends the member's sessions at once."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from coolpapers import store
from coolpapers.accounts.passwords import hash_password
from coolpapers.db import session_scope
from coolpapers.errors import BadInput, NotFound
from coolpapers.models import NAME_LEN
from coolpapers.store import Member

# What a member types to log in; also what a proxy's header may carry (e-mail addresses too).
NAME_RE = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._@+-]{{0,{NAME_LEN - 1}}}")


def check_name(name: str) -> str:
    name = name.strip()
    if not NAME_RE.fullmatch(name):
        raise BadInput(
            f"a member's name is 1-{NAME_LEN} letters, digits and . _ @ + - "
            "(starting with a letter or digit)"
        )
    return name


def add_member(
    factory: sessionmaker[Session], name: str, password: str, *, admin: bool, now: datetime
) -> Member:
    name = check_name(name)
    password_hash = hash_password(password)  # before the transaction: it takes ~0.1 s
    with session_scope(factory, write=True) as s:
        return store.add_user(s, name, password_hash, is_admin=admin, now=now)


def list_members(factory: sessionmaker[Session]) -> list[Member]:
    with session_scope(factory) as s:
        return store.list_users(s)


def _require(member: Member | None, name: str) -> Member:
    if member is None:
        raise NotFound(f"no member named {name!r}")
    return member


def disable_member(factory: sessionmaker[Session], name: str, now: datetime) -> Member:
    """Disabled: logins refused, every live session ended (ASVS 7.4.2)."""
    with session_scope(factory, write=True) as s:
        member = _require(store.set_disabled(s, name, now), name)
        store.delete_user_sessions(s, member.id)
        return member


def enable_member(factory: sessionmaker[Session], name: str) -> Member:
    with session_scope(factory, write=True) as s:
        return _require(store.set_disabled(s, name, None), name)


def reset_password(factory: sessionmaker[Session], name: str, password: str) -> Member:
    """A new password; the sessions made with the old one end."""
    password_hash = hash_password(password)
    with session_scope(factory, write=True) as s:
        member = _require(store.set_password_hash(s, name, password_hash), name)
        store.delete_user_sessions(s, member.id)
        return member


def proxy_member(factory: sessionmaker[Session], name: str, now: datetime) -> Member | None:
    """The member a trusted proxy names, added on their first request; None when the name is
    not one (the request is then anonymous) or the member is disabled."""
    try:
        name = check_name(name)
    except BadInput:
        return None
    with session_scope(factory) as s:
        found = store.user_by_name(s, name)
    if found is None:
        with session_scope(factory, write=True) as s:
            member = store.ensure_user(s, name, now)
    else:
        member = found[0]
    return None if member.disabled else member
