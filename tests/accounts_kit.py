"""Helpers of the accounts tests: cheap argon2id hashes, members, logins through the real form,
reading who a response was made for, and moving a session's clock back in the database.

Hashing with the production parameters costs about half a second a hash on CI's cores, and
these tests log in a few hundred times: ``fast_hashes`` swaps in argon2id with the smallest
parameters (same code paths, same hash format). ``test_accounts`` checks the production
parameters themselves."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from http.cookies import SimpleCookie
from typing import Literal

import httpx
import pytest
from argon2 import PasswordHasher, Type
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import accounts
from coolpapers.accounts import passwords
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.models import LoginAttempt, UserSession, utcnow
from coolpapers.store import Member
from coolpapers.web import create_app

PASSWORD = "correct horse battery"
FAST = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1, type=Type.ID)
MEMBER_RE = re.compile(r'<body [^>]*data-member="([^"]*)"')


class Hashes:
    """Counts the argon2 verifications (the work a login does whatever its outcome)."""

    def __init__(self) -> None:
        self.verified = 0
        self.dummy = FAST.hash("not anyone's password")

    def verify(self, password_hash: str, password: str | bytes) -> Literal[True]:
        self.verified += 1
        return FAST.verify(password_hash, password)


PRODUCTION_HASHER = passwords.hasher  # before any test swaps it


def use_fast_hashes(monkeypatch: pytest.MonkeyPatch) -> Hashes:
    """Argon2id with the smallest parameters for this test, every verification counted. A test
    module makes it an autouse fixture named ``hashes``."""
    hashes = Hashes()

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:  # noqa: A002
            assert isinstance(hash, str)
            return hashes.verify(hash, password)

    counting = Counting(time_cost=1, memory_cost=64, parallelism=1, type=Type.ID)
    monkeypatch.setattr(passwords, "hasher", lambda: counting)
    monkeypatch.setattr(passwords, "_dummy_hash", lambda: hashes.dummy)
    return hashes


def add(
    factory: sessionmaker[Session], name: str, *, admin: bool = False, password: str = PASSWORD
) -> Member:
    return accounts.add_member(factory, name, password, admin=admin, now=utcnow())


def password_settings(settings: Settings, **overrides: object) -> Settings:
    return settings.model_copy(update={"auth": "password", **overrides})


def app_client(settings: Settings, **kwargs: object) -> TestClient:
    """A client of a new app on ``settings`` (use it in a ``with``); redirects not followed."""
    return TestClient(create_app(settings), follow_redirects=False, **kwargs)  # type: ignore[arg-type]


def login(
    client: TestClient,
    name: str,
    password: str = PASSWORD,
    *,
    next_path: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    data = {"username": name, "password": password}
    if next_path is not None:
        data["next"] = next_path
    response: httpx.Response = client.post("/login", data=data, headers=headers or {})
    return response


def set_cookies(response: httpx.Response) -> dict[str, dict[str, str]]:
    """name -> {"value": …, attribute (lower case): value or ""} of every Set-Cookie."""
    found: dict[str, dict[str, str]] = {}
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        for name, morsel in jar.items():
            attrs = {k.lower(): str(v) for k, v in morsel.items() if v}
            # SimpleCookie keeps flags as True: record them present
            for flag in ("httponly", "secure"):
                if re.search(rf";\s*{flag}\b", header, re.IGNORECASE):
                    attrs[flag] = "yes"
            found[name] = {"value": morsel.value, **attrs}
    return found


def member_of(response: httpx.Response) -> str | None:
    """The member a page was rendered for (body[data-member]), None when anonymous."""
    found = MEMBER_RE.search(response.text)
    return found.group(1) if found else None


def who(client: TestClient, cookie: str | None = None, *, name: str = "cp_session") -> str | None:
    """Who the site takes this client (or, given ``cookie``, that cookie alone) to be."""
    if cookie is None:
        response = client.get("/stars")
    else:
        response = client.get("/stars", headers={"Cookie": f"{name}={cookie}"})
    assert response.status_code == 200, response.text[:300]
    return member_of(response)


def age_sessions(
    factory: sessionmaker[Session],
    *,
    created: timedelta = timedelta(0),
    last_seen: timedelta = timedelta(0),
) -> None:
    """Move every session's clock back: as if it was made ``created`` ago, last used
    ``last_seen`` ago."""
    now = utcnow()
    with session_scope(factory, write=True) as s:
        values: dict[str, datetime] = {}
        if created:
            values["created_at"] = now - created
        if last_seen:
            values["last_seen_at"] = now - last_seen
        s.execute(update(UserSession).values(**values))


def age_attempts(factory: sessionmaker[Session], ago: timedelta) -> None:
    """Every failed login recorded so far: as if made ``ago``."""
    with session_scope(factory, write=True) as s:
        s.execute(update(LoginAttempt).values(at=utcnow() - ago))


def session_count(factory: sessionmaker[Session]) -> int:
    with session_scope(factory) as s:
        return s.query(UserSession).count()
