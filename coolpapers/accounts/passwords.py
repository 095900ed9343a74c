"""Passwords: argon2id through argon2-cffi, with its RFC 9106 low-memory profile (3 passes over
64 MiB, 4 lanes: ~50-100 ms a check on one core; ``make bench`` prints it). A password is never
logged nor kept: only its hash is stored."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from coolpapers.errors import BadInput

MIN_PASSWORD_LEN = 8  # ASVS 6.2.1
MAX_PASSWORD_LEN = 1024  # hashing is the cost; a longer "password" is an attack, not a secret


@cache
def hasher() -> PasswordHasher:
    """Built on first use (nothing at import time); its defaults are RFC 9106's low-memory
    profile, argon2id."""
    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    # An unknown member's login checks a password against this, so that it costs what a known
    # member's wrong password costs (no telling which names exist by the answer's time).
    return hasher().hash("not anyone's password")


def check_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LEN:
        raise BadInput(f"a password needs at least {MIN_PASSWORD_LEN} characters")
    if len(password) > MAX_PASSWORD_LEN:
        raise BadInput(f"a password has at most {MAX_PASSWORD_LEN} characters")


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (BadInput when it is too short or too long)."""
    check_policy(password)
    return hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; a member without a password (``None``: the proxy's) never
    matches, after the same work as a wrong one."""
    if len(password) > MAX_PASSWORD_LEN:
        return False
    try:
        secret = password.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no stored password is that; same work
        secret, password_hash = b"", None
    try:
        return hasher().verify(password_hash or _dummy_hash(), secret) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
