"""The accounts core (``coolpapers.accounts``) called directly, on SQLite and Postgres: members,
passwords, logins, sessions and their expiry, the brute-force limit, pruning. The clock is an
argument here, so expiry is tested by passing a later ``now`` (the web tests move the rows
back instead)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from argon2 import Type
from argon2 import extract_parameters as argon2_parameters
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import accounts, scheduler, store
from coolpapers.accounts import passwords
from coolpapers.accounts.sessions import ATTEMPT_WINDOW, KEEP_ATTEMPTS, TOUCH_EVERY
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.errors import BadInput, NotFound
from coolpapers.ingest import Pipeline
from coolpapers.models import LoginAttempt, User, UserSession, utcnow
from tests.accounts_kit import (
    PASSWORD,
    PRODUCTION_HASHER,
    Hashes,
    add,
    session_count,
    use_fast_hashes,
)

POLICY = accounts.SessionPolicy(
    idle=timedelta(hours=1), absolute=timedelta(days=2), attempts_per_minute=10
)
HERE = "192.0.2.1"


@pytest.fixture(autouse=True)
def hashes(monkeypatch: pytest.MonkeyPatch) -> Hashes:
    return use_fast_hashes(monkeypatch)


def test_production_hashes_are_argon2id_rfc9106_low_memory() -> None:
    """The real hasher (these tests use a cheap one): argon2id, t=3, 64 MiB, 4 lanes."""
    real = PRODUCTION_HASHER()
    hashed = real.hash(PASSWORD)
    params = argon2_parameters(hashed)
    assert hashed.startswith("$argon2id$")
    assert (params.type, params.time_cost, params.memory_cost, params.parallelism) == (
        Type.ID,
        3,
        64 * 1024,
        4,
    )
    assert real.verify(hashed, PASSWORD)


@pytest.mark.parametrize("bad", ["short", "x" * (accounts.MAX_PASSWORD_LEN + 1)])
def test_password_policy(bad: str) -> None:
    with pytest.raises(BadInput):
        passwords.hash_password(bad)


def test_verify_never_raises_on_odd_input(hashes: Hashes) -> None:
    good = passwords.hash_password(PASSWORD)
    for password in ["", "\x00", "\ud800lone surrogate", "x" * 5000, PASSWORD + "\x00"]:
        assert passwords.verify_password(good, password) is False
    for stored in [None, "", "not a hash", "$argon2id$v=19$garbage"]:
        assert passwords.verify_password(stored, PASSWORD) is False


def test_members_are_stored_with_a_hash_never_the_password(
    factory: sessionmaker[Session], hashes: Hashes
) -> None:
    member = add(factory, "alice", admin=True)
    assert (member.name, member.is_admin, member.disabled) == ("alice", True, False)
    with session_scope(factory) as s:
        stored = s.scalars(select(User.password_hash)).one()
    assert stored is not None and stored.startswith("$argon2id$") and PASSWORD not in stored


@pytest.mark.parametrize(
    "name", ["", " ", "-alice", "al ice", "al/ice", "al\x00ice", "ålice", "a" * 65, "<b>"]
)
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(BadInput, match="a member's name is"):
        accounts.check_name(name)


def test_a_bad_name_is_never_added(factory: sessionmaker[Session], hashes: Hashes) -> None:
    with pytest.raises(BadInput):
        add(factory, "al\x00ice")
    assert accounts.list_members(factory) == []
    assert accounts.check_name(" bob@lab.example ") == "bob@lab.example"


def test_a_name_is_taken_once(factory: sessionmaker[Session], hashes: Hashes) -> None:
    add(factory, "alice")
    with pytest.raises(BadInput, match="exists already"):
        add(factory, "alice", password="another password")
    assert [m.name for m in accounts.list_members(factory)] == ["alice"]


def test_login_opens_a_session_stored_hashed(
    factory: sessionmaker[Session], hashes: Hashes
) -> None:
    alice = add(factory, "alice")
    now = utcnow()
    member, token = accounts.login(factory, "alice", PASSWORD, HERE, now, POLICY)
    assert member == alice and len(token) >= 40
    with session_scope(factory) as s:
        (stored,) = s.scalars(select(UserSession.id_hash)).all()
    assert stored == accounts.token_hash(token) and stored != token
    assert accounts.member_for_token(factory, token, now, POLICY) == alice
    # each login is a session of its own, with a token of its own
    _, second = accounts.login(factory, "alice", PASSWORD, HERE, now, POLICY)
    assert second != token and session_count(factory) == 2


def test_unknown_name_and_wrong_password_fail_alike_after_one_hash_check(
    factory: sessionmaker[Session], hashes: Hashes
) -> None:
    """Same exception, same message, and the same work: an unknown name is checked against a
    dummy hash (counted here), so the answer's time does not tell which names exist."""
    add(factory, "alice")
    failures = []
    for name, password in [("alice", "wrong password"), ("nobody", "wrong password")]:
        before = hashes.verified
        with pytest.raises(accounts.LoginFailed) as caught:
            accounts.login(factory, name, password, HERE, utcnow(), POLICY)
        failures.append((str(caught.value), caught.value.status_code))
        assert hashes.verified == before + 1, name
    assert failures[0] == failures[1] == ("wrong name or password", 401)


def test_a_proxy_member_has_no_password_to_log_in_with(
    factory: sessionmaker[Session], hashes: Hashes
) -> None:
    member = accounts.proxy_member(factory, "carol", utcnow())
    assert member is not None and member.name == "carol"
    before = hashes.verified
    for password in ["", "not anyone's password", PASSWORD]:
        with pytest.raises(accounts.LoginFailed):
            accounts.login(factory, "carol", password, HERE, utcnow(), POLICY)
    assert hashes.verified == before + 3


def test_odd_names_at_login_fail_like_any_wrong_name(
    factory: sessionmaker[Session], hashes: Hashes
) -> None:
    """Never an error from the database (Postgres refuses NUL in text, both refuse lone
    surrogates), just a failed login, counted against the limit like any other."""
    add(factory, "alice")
    odd = ["al\x00ice", "a" * 300, "\ud800", "al\tice", "ALICE", "é", "alice\x00"]
    for name in odd:
        with pytest.raises(accounts.LoginFailed):
            accounts.login(factory, name, PASSWORD, HERE, utcnow(), POLICY)
    with session_scope(factory) as s:
        assert s.query(LoginAttempt).count() == 2 * len(odd)  # the name's key and the address's
    for address in ["\x00", "", "not an address", "\ud800"]:
        with pytest.raises(accounts.LoginFailed):
            accounts.login(factory, "alice", "wrong password", address, utcnow(), POLICY)


def test_a_name_with_spaces_around_is_the_member(
    factory: sessionmaker[Session], hashes: Hashes
) -> None:
    add(factory, "alice")
    member, _ = accounts.login(factory, "  alice ", PASSWORD, HERE, utcnow(), POLICY)
    assert member.name == "alice"


def test_idle_and_absolute_expiry(factory: sessionmaker[Session], hashes: Hashes) -> None:
    add(factory, "alice")
    t0 = utcnow()
    _, token = accounts.login(factory, "alice", PASSWORD, HERE, t0, POLICY)
    # visits every 50 minutes keep it alive past the idle hour…
    visits = [t0 + timedelta(minutes=50 * k) for k in range(1, 57)]  # ~46.7 h
    for when in visits:
        assert accounts.member_for_token(factory, token, when, POLICY) is not None, when
    # …but not past the absolute two days, visits or not
    end = t0 + POLICY.absolute + timedelta(seconds=1)
    assert accounts.member_for_token(factory, token, end, POLICY) is None
    assert session_count(factory) == 0  # an expired session found is deleted

    _, token = accounts.login(factory, "alice", PASSWORD, HERE, t0, POLICY)
    idle_end = t0 + POLICY.idle + timedelta(seconds=1)
    assert accounts.member_for_token(factory, token, idle_end, POLICY) is None
    # it stays gone, even at a time it would have been alive
    assert accounts.member_for_token(factory, token, t0, POLICY) is None


def test_a_visit_is_written_at_most_once_a_minute(
    factory: sessionmaker[Session], hashes: Hashes
) -> None:
    add(factory, "alice")
    t0 = utcnow()
    _, token = accounts.login(factory, "alice", PASSWORD, HERE, t0, POLICY)

    def last_seen() -> object:
        with session_scope(factory) as s:
            found = store.find_session(s, accounts.token_hash(token))
            assert found is not None
            return found.last_seen_at

    accounts.member_for_token(factory, token, t0 + TOUCH_EVERY / 2, POLICY)
    assert last_seen() == t0
    later = t0 + TOUCH_EVERY + timedelta(seconds=1)
    accounts.member_for_token(factory, token, later, POLICY)
    assert last_seen() == later


@pytest.mark.parametrize("token", ["", "x", "x" * 129, "\x00", "é" * 10, "a b;c"])
def test_unknown_tokens_are_nobody(
    factory: sessionmaker[Session], hashes: Hashes, token: str
) -> None:
    assert accounts.member_for_token(factory, token, utcnow(), POLICY) is None


def test_logout_ends_that_session_only(factory: sessionmaker[Session], hashes: Hashes) -> None:
    add(factory, "alice")
    now = utcnow()
    _, laptop = accounts.login(factory, "alice", PASSWORD, HERE, now, POLICY)
    _, phone = accounts.login(factory, "alice", PASSWORD, HERE, now, POLICY)
    accounts.logout(factory, laptop)
    assert accounts.member_for_token(factory, laptop, now, POLICY) is None
    assert accounts.member_for_token(factory, phone, now, POLICY) is not None
    accounts.logout(factory, "")  # nothing to end: no error
    accounts.logout(factory, laptop)


def test_disable_ends_every_session_and_refuses_logins(
    factory: sessionmaker[Session], hashes: Hashes
) -> None:
    add(factory, "alice")
    add(factory, "bob")
    now = utcnow()
    tokens = [accounts.login(factory, "alice", PASSWORD, HERE, now, POLICY)[1] for _ in range(3)]
    _, bobs = accounts.login(factory, "bob", PASSWORD, HERE, now, POLICY)
    assert accounts.disable_member(factory, "alice", now).disabled
    assert all(accounts.member_for_token(factory, t, now, POLICY) is None for t in tokens)
    assert accounts.member_for_token(factory, bobs, now, POLICY) is not None
    with pytest.raises(accounts.LoginFailed, match="wrong name or password"):
        accounts.login(factory, "alice", PASSWORD, HERE, now, POLICY)
    # enabled again: the password works again, the old sessions stay ended
    assert not accounts.enable_member(factory, "alice").disabled
    accounts.login(factory, "alice", PASSWORD, HERE, now, POLICY)
    assert all(accounts.member_for_token(factory, t, now, POLICY) is None for t in tokens)


def test_a_disabled_members_session_row_is_never_honoured(
    factory: sessionmaker[Session], hashes: Hashes
) -> None:
    """Even a session row that survived the disable (a race with a login) names nobody."""
    alice = add(factory, "alice")
    now = utcnow()
    accounts.disable_member(factory, "alice", now)
    with session_scope(factory, write=True) as s:
        store.create_session(s, accounts.token_hash("planted"), alice.id, now)
    assert accounts.member_for_token(factory, "planted", now, POLICY) is None


def test_a_reset_ends_the_sessions_and_changes_the_password(
    factory: sessionmaker[Session], hashes: Hashes
) -> None:
    add(factory, "alice")
    now = utcnow()
    _, token = accounts.login(factory, "alice", PASSWORD, HERE, now, POLICY)
    accounts.reset_password(factory, "alice", "a brand new password")
    assert accounts.member_for_token(factory, token, now, POLICY) is None
    with pytest.raises(accounts.LoginFailed):
        accounts.login(factory, "alice", PASSWORD, HERE, now, POLICY)
    accounts.login(factory, "alice", "a brand new password", HERE, now, POLICY)
    with pytest.raises(BadInput):
        accounts.reset_password(factory, "alice", "short")


@pytest.mark.parametrize("action", ["disable", "enable", "reset"])
def test_unknown_members_are_not_found(
    factory: sessionmaker[Session], hashes: Hashes, action: str
) -> None:
    with pytest.raises(NotFound, match="nobody"):
        if action == "disable":
            accounts.disable_member(factory, "nobody", utcnow())
        elif action == "enable":
            accounts.enable_member(factory, "nobody")
        else:
            accounts.reset_password(factory, "nobody", PASSWORD)


def test_a_disabled_proxy_member_is_nobody(factory: sessionmaker[Session], hashes: Hashes) -> None:
    now = utcnow()
    assert accounts.proxy_member(factory, "dave@lab.example", now) is not None
    accounts.disable_member(factory, "dave@lab.example", now)
    assert accounts.proxy_member(factory, "dave@lab.example", now) is None
    assert [m.name for m in accounts.list_members(factory)] == ["dave@lab.example"]
    for bad in ["", "   ", "../admin", "a b", "x" * 65, "al\x00ice"]:
        assert accounts.proxy_member(factory, bad, now) is None
    assert len(accounts.list_members(factory)) == 1


# ---------------------------------------------------------------- the brute-force limit


def _fail(factory: sessionmaker[Session], name: str, address: str, when: datetime) -> None:
    with pytest.raises(accounts.LoginFailed):
        accounts.login(factory, name, "wrong password", address, when, POLICY)


def test_ten_failures_a_minute_lock_the_account_before_any_hash(
    factory: sessionmaker[Session], hashes: Hashes
) -> None:
    add(factory, "alice")
    t0 = utcnow()
    for k in range(POLICY.attempts_per_minute):  # from ten addresses
        _fail(factory, "alice", f"198.51.100.{k}", t0 + timedelta(seconds=k))
    checked = hashes.verified
    for password in ["wrong password", PASSWORD]:  # the right one too
        with pytest.raises(accounts.TooManyLogins) as caught:
            accounts.login(
                factory, "alice", password, "203.0.113.7", t0 + timedelta(seconds=30), POLICY
            )
        # the first failure leaves the window at t0 + 60 s: 30 s from now
        assert caught.value.status_code == 429 and caught.value.retry_after_s == 30
    assert hashes.verified == checked  # refused before the password was looked at
    # another account from those addresses is not locked by alice's failures… only the
    # addresses that failed ten times would be (none did here)
    add(factory, "bob")
    accounts.login(factory, "bob", PASSWORD, "198.51.100.1", t0 + timedelta(seconds=30), POLICY)
    # a minute after the first failure, one more try is allowed
    later = t0 + ATTEMPT_WINDOW + timedelta(seconds=1)
    member, _ = accounts.login(factory, "alice", PASSWORD, HERE, later, POLICY)
    assert member.name == "alice"


def test_ten_failures_from_one_address_lock_it_across_names(
    factory: sessionmaker[Session], hashes: Hashes
) -> None:
    add(factory, "alice")
    t0 = utcnow()
    for k in range(POLICY.attempts_per_minute):
        _fail(factory, f"guess{k}", HERE, t0)
    with pytest.raises(accounts.TooManyLogins):
        accounts.login(factory, "alice", PASSWORD, HERE, t0, POLICY)
    member, _ = accounts.login(factory, "alice", PASSWORD, "192.0.2.2", t0, POLICY)
    assert member.name == "alice"


def test_nine_failures_do_not_lock(factory: sessionmaker[Session], hashes: Hashes) -> None:
    add(factory, "alice")
    t0 = utcnow()
    for _ in range(POLICY.attempts_per_minute - 1):
        _fail(factory, "alice", HERE, t0)
    accounts.login(factory, "alice", PASSWORD, HERE, t0, POLICY)


def test_the_account_key_ignores_case_and_spaces(
    factory: sessionmaker[Session], hashes: Hashes
) -> None:
    add(factory, "alice")
    t0 = utcnow()
    for k in range(POLICY.attempts_per_minute):
        _fail(factory, [" alice", "ALICE", "Alice "][k % 3], f"198.51.100.{k}", t0)
    with pytest.raises(accounts.TooManyLogins):
        accounts.login(factory, "alice", PASSWORD, HERE, t0, POLICY)


def test_prune_removes_expired_sessions_and_day_old_attempts(
    factory: sessionmaker[Session], hashes: Hashes
) -> None:
    add(factory, "alice")
    t0 = utcnow()
    _, old = accounts.login(factory, "alice", PASSWORD, HERE, t0 - POLICY.absolute, POLICY)
    _, idle = accounts.login(factory, "alice", PASSWORD, HERE, t0 - 2 * POLICY.idle, POLICY)
    _, live = accounts.login(factory, "alice", PASSWORD, HERE, t0, POLICY)
    _fail(factory, "alice", HERE, t0 - KEEP_ATTEMPTS - timedelta(minutes=1))
    _fail(factory, "alice", HERE, t0)
    assert accounts.prune_sessions(factory, t0 + timedelta(seconds=1), POLICY) == 2
    assert session_count(factory) == 1
    assert accounts.member_for_token(factory, live, t0, POLICY) is not None
    with session_scope(factory) as s:
        assert s.query(LoginAttempt).count() == 2  # the recent failure under its two keys


def test_policy_from_settings(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'x.db'}",
        data_dir=tmp_path,
        secret_key="test",
        session_idle_h=2.5,
        session_max_days=7,
        login_attempts_per_minute=3,
    )
    policy = accounts.SessionPolicy.of(settings)
    assert policy == accounts.SessionPolicy(timedelta(hours=2.5), timedelta(days=7), 3)


def test_the_scheduler_prunes_sessions_hourly(
    factory: sessionmaker[Session],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    add(factory, "alice")
    policy = accounts.SessionPolicy.of(settings)
    now = utcnow()
    accounts.login(factory, "alice", PASSWORD, HERE, now - policy.idle - timedelta(hours=1), policy)
    _, live = accounts.login(factory, "alice", PASSWORD, HERE, now, policy)
    pipeline = Pipeline.open(settings, factory)
    try:
        job = scheduler.build_scheduler(pipeline).get_job(scheduler.SESSIONS_JOB)
        assert job is not None and job.trigger.interval.total_seconds() == 3600
        assert scheduler.prune_sessions(pipeline, now) == 1
        assert session_count(factory) == 1
        assert accounts.member_for_token(factory, live, now, policy) is not None

        def broken(*args: object) -> int:
            raise OperationalError("DELETE", {}, Exception("database is locked"))

        monkeypatch.setattr(accounts, "prune_sessions", broken)
        assert scheduler.prune_sessions(pipeline, now) == 0  # logged; the next hour tries again
        assert "session pruning: database error: database is locked" in caplog.text
    finally:
        pipeline.close()


def test_concurrent_tries_cannot_pass_the_limit_together(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fifteen wrong passwords at once: each hash check is held until every try has either
    reached it or been refused, so none of them has failed yet when the others are checked.
    At most ten may reach a password check; the rest are 429. (Counted before the check, a
    try sees every concurrent one; nothing here depends on timing.)"""
    add(factory, "alice")
    tries = 15
    lock = threading.Condition()
    entered, refused = [0], [0]
    released = threading.Event()
    real_verify = passwords.verify_password

    def held_verify(password_hash: str | None, password: str) -> bool:
        with lock:
            entered[0] += 1
            lock.notify_all()
        assert released.wait(60), "never released"
        return real_verify(password_hash, password)

    monkeypatch.setattr(accounts.sessions, "verify_password", held_verify)
    outcomes: list[str] = []

    def attempt(k: int) -> None:
        try:
            accounts.login(factory, "alice", "wrong password", f"198.51.100.{k}", utcnow(), POLICY)
        except accounts.TooManyLogins:
            with lock:
                refused[0] += 1
                lock.notify_all()
            outcomes.append("429")
        except accounts.LoginFailed:
            outcomes.append("401")

    threads = [threading.Thread(target=attempt, args=(k,)) for k in range(tries)]
    for t in threads:
        t.start()
    with lock:
        assert lock.wait_for(lambda: entered[0] + refused[0] == tries, timeout=60)
    released.set()
    for t in threads:
        t.join(60)
    assert entered[0] <= POLICY.attempts_per_minute < tries
    assert sorted(outcomes) == ["401"] * entered[0] + ["429"] * (tries - entered[0])
    # the refused tries were not failures: exactly the checked ones count
    with session_scope(factory) as s:
        assert s.query(LoginAttempt).filter(LoginAttempt.key == "u:alice").count() == entered[0]


def test_a_success_is_not_counted_as_a_failure(factory: sessionmaker[Session]) -> None:
    add(factory, "alice")
    t0 = utcnow()
    for _ in range(POLICY.attempts_per_minute + 5):
        accounts.login(factory, "alice", PASSWORD, HERE, t0, POLICY)
    with session_scope(factory) as s:
        assert s.query(LoginAttempt).count() == 0


def test_every_login_attempt_is_logged_without_its_password(
    factory: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    """ASVS 16.3.1 / F3: success, failure and the limit each leave a line naming the account
    and the address; the password never appears, and a name's control characters are escaped
    (no forged log lines)."""
    add(factory, "alice")
    secret = "hunter2-is-not-it"
    caplog.set_level("INFO", logger="coolpapers.accounts")
    accounts.login(factory, "alice", PASSWORD, HERE, utcnow(), POLICY)
    with pytest.raises(accounts.LoginFailed):
        accounts.login(factory, "alice", secret, HERE, utcnow(), POLICY)
    with pytest.raises(accounts.LoginFailed):
        accounts.login(factory, "x\nlogin: 'admin' from 10.0.0.1", secret, HERE, utcnow(), POLICY)
    tight = accounts.SessionPolicy(POLICY.idle, POLICY.absolute, attempts_per_minute=2)
    with pytest.raises(accounts.TooManyLogins):
        accounts.login(factory, "alice", secret, HERE, utcnow(), tight)
    lines = [r.getMessage() for r in caplog.records if r.name == "coolpapers.accounts"]
    assert lines[0] == f"login: 'alice' from '{HERE}'"
    assert lines[1] == f"login failed: 'alice' from '{HERE}' (password)"
    assert lines[2].startswith('login failed: "x\\nlogin:') and "\n" not in lines[2]
    assert lines[3].startswith(f"login refused: 'alice' from '{HERE}', too many failures")
    assert len(lines) == 4
    assert secret not in caplog.text and PASSWORD not in caplog.text
