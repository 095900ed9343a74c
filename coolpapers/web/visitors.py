"""Who is asking, for per-visitor quotas: a signed random cookie, else the client address.

A request without a valid cookie is counted against its address and gets a fresh cookie, so
minting cookies costs quota too; the global token budget is the hard backstop.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request, Response

COOKIE = "cp_visitor"
COOKIE_MAX_AGE_S = 400 * 24 * 3600


def _sign(secret: str, value: str) -> str:
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]


def identify(request: Request, secret: str) -> tuple[list[str], str | None]:
    """(quota keys to charge, new cookie value to set or None).

    With a valid cookie: its key. Without: the address and the cookie minted now, both
    charged, so a visitor's first generation counts on its cookie like the rest.
    """
    raw = request.cookies.get(COOKIE, "")
    value, _, signature = raw.partition(".")
    if value and hmac.compare_digest(signature, _sign(secret, value)):
        return [f"v:{value}"], None
    host = request.client.host if request.client else "unknown"
    fresh = secrets.token_urlsafe(12)
    return [f"ip:{host}", f"v:{fresh}"], f"{fresh}.{_sign(secret, fresh)}"


def set_cookie(response: Response, cookie: str | None) -> None:
    if cookie is not None:
        response.set_cookie(COOKIE, cookie, max_age=COOKIE_MAX_AGE_S, httponly=True, samesite="lax")
