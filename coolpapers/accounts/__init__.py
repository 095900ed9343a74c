"""A lab's members: passwords (argon2id), logins and their server-side sessions, the brute-force
limit. The CLI (``coolpapers users``) and the web's login both come through here; every SQL
statement is ``store``'s."""

from coolpapers.accounts.members import (
    add_member,
    check_name,
    disable_member,
    enable_member,
    list_members,
    proxy_member,
    reset_password,
)
from coolpapers.accounts.passwords import (
    MAX_PASSWORD_LEN,
    MIN_PASSWORD_LEN,
    hash_password,
    verify_password,
)
from coolpapers.accounts.sessions import (
    LoginFailed,
    SessionPolicy,
    TooManyLogins,
    login,
    logout,
    member_for_token,
    prune_sessions,
    token_hash,
)

__all__ = [
    "MAX_PASSWORD_LEN",
    "MIN_PASSWORD_LEN",
    "LoginFailed",
    "SessionPolicy",
    "TooManyLogins",
    "add_member",
    "check_name",
    "disable_member",
    "enable_member",
    "hash_password",
    "list_members",
    "login",
    "logout",
    "member_for_token",
    "proxy_member",
    "prune_sessions",
    "reset_password",
    "token_hash",
    "verify_password",
]
