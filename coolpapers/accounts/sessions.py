"""Logins and the sessions they open (ASVS 7): a fresh random token on every login (a cookie
planted before it is worth nothing after), stored hashed; gone on logout, on disable and on a
password reset; expired after ``idle`` without a visit and ``absolute`` after the login.

Failed logins are limited per account and per address: ``attempts_per_minute`` failures of
either in the last minute and the next try is refused (429) before any password is checked. An
unknown name and a wrong password get the same answer after the same work."""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from coolpapers import store
from coolpapers.accounts.members import NAME_RE
from coolpapers.accounts.passwords import verify_password
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.errors import CoolpapersError
from coolpapers.store import Member

# auth events (ASVS 16.3.1): who, from where, the outcome; never a password nor a token
log = logging.getLogger("coolpapers.accounts")

ATTEMPT_WINDOW = timedelta(minutes=1)
# last_seen_at is written at most this often per session: a page view is not a write each time
TOUCH_EVERY = timedelta(minutes=1)
KEEP_ATTEMPTS = timedelta(days=1)
TOKEN_BYTES = 32
LOGGED_NAME_CHARS = 80
GENERIC_FAILURE = "wrong name or password"


class LoginFailed(CoolpapersError):
    """Unknown name, wrong password or disabled member: one message for all three."""

    status_code = 401

    def __init__(self) -> None:
        super().__init__(GENERIC_FAILURE)


class TooManyLogins(CoolpapersError):
    status_code = 429

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed logins: try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta
    absolute: timedelta
    attempts_per_minute: int

    @classmethod
    def of(cls, settings: Settings) -> SessionPolicy:
        return cls(
            idle=timedelta(hours=settings.session_idle_h),
            absolute=timedelta(days=settings.session_max_days),
            attempts_per_minute=settings.login_attempts_per_minute,
        )


def token_hash(token: str) -> str:
    """What is stored of a token (a session's, a feed's): sha256, hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "backslashreplace")).hexdigest()[:32]


def _keys(name: str, address: str) -> list[str]:
    """The limit's keys: the account (any case) and the address. What is no name (NUL bytes,
    lone surrogates: Postgres and SQLite refuse them) or no address is counted under its
    digest, so an odd login is one more failure, never a database error."""
    account = name.lower() if NAME_RE.fullmatch(name) else "#" + _digest(name)
    try:
        where = str(ipaddress.ip_address(address))
    except ValueError:
        where = "#" + _digest(address)
    return [f"u:{account}", f"ip:{where}"]


def _retry_after_s(session: Session, keys: list[str], now: datetime, limit: int) -> int:
    """0 when a try is allowed; else about how long until it would be. The try being decided
    is among the rows counted (recorded first), so ``limit`` others mean no."""
    since = now - ATTEMPT_WINDOW
    waits = [
        max(1, math.ceil((oldest - since).total_seconds()))
        for count, oldest in store.failures_since(session, keys, since).values()
        if count > limit
    ]
    return max(waits, default=0)


def login(
    factory: sessionmaker[Session],
    name: str,
    password: str,
    address: str,
    now: datetime,
    policy: SessionPolicy,
) -> tuple[Member, str]:
    """(member, the new session's token). Raises TooManyLogins or LoginFailed."""
    name = name.strip()
    keys = _keys(name, address)
    # The try counts as a failure from the start, committed before the limit is checked: of
    # concurrent tries each sees those committed before it, so no more than the limit reach a
    # password check however many arrive at once. A refused try and a success then take their
    # rows back; a failure leaves them.
    with session_scope(factory, write=True) as s:
        attempt = store.record_failure(s, keys, now)
    with session_scope(factory) as s:
        wait_s = _retry_after_s(s, keys, now, policy.attempts_per_minute)
        # a string that is no member's name is not looked up (it may not even be storable)
        found = store.user_by_name(s, name) if not wait_s and NAME_RE.fullmatch(name) else None
    # logged with %r: quoted, control characters and lone surrogates escaped
    shown, where = name[:LOGGED_NAME_CHARS], address[:LOGGED_NAME_CHARS]
    if wait_s:
        with session_scope(factory, write=True) as s:
            store.delete_attempts(s, attempt)
        log.warning("login refused: %r from %r, too many failures (%d s)", shown, where, wait_s)
        raise TooManyLogins(wait_s)
    member, password_hash = found if found is not None else (None, None)
    # outside any transaction: the hash takes ~0.1 s and holds no lock meanwhile
    matches = verify_password(password_hash, password)
    if member is None or member.disabled or not matches:
        why = "no such member" if member is None else "disabled" if member.disabled else "password"
        log.warning("login failed: %r from %r (%s)", shown, where, why)
        raise LoginFailed()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with session_scope(factory, write=True) as s:
        store.delete_attempts(s, attempt)
        store.create_session(s, token_hash(token), member.id, now)
    log.info("login: %r from %r", shown, where)
    return member, token


def member_for_token(
    factory: sessionmaker[Session], token: str, now: datetime, policy: SessionPolicy
) -> Member | None:
    """The member logged in with ``token``, or None (unknown, expired, ended, disabled)."""
    if not token or len(token) > 128:
        return None
    id_hash = token_hash(token)
    with session_scope(factory) as s:
        found = store.find_session(s, id_hash)
    if found is None:
        return None
    expired = now - found.last_seen_at > policy.idle or now - found.created_at > policy.absolute
    if expired or now - found.last_seen_at > TOUCH_EVERY:
        with session_scope(factory, write=True) as s:
            if expired:
                store.delete_session(s, id_hash)
            else:
                store.touch_session(s, id_hash, now)
    return None if expired else found.member


def logout(factory: sessionmaker[Session], token: str) -> None:
    if token:
        with session_scope(factory, write=True) as s:
            store.delete_session(s, token_hash(token))


def prune_sessions(factory: sessionmaker[Session], now: datetime, policy: SessionPolicy) -> int:
    """Delete expired sessions and day-old failed logins (a scheduler job); sessions gone."""
    with session_scope(factory, write=True) as s:
        store.prune_login_attempts(s, now - KEEP_ATTEMPTS)
        return store.prune_sessions(
            s, idle_before=now - policy.idle, created_before=now - policy.absolute
        )
