"""``coolpapers users add/list/disable/enable/reset`` on SQLite and Postgres: exit codes (0 done,
1 no such member, 2 a bad name or password), messages, and the password: read from standard
input only, never printed, never logged, never stored as given."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import accounts
from coolpapers.cli import main
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.models import User, utcnow
from tests.accounts_kit import Hashes, use_fast_hashes

SECRET = "Tr0ub4dor & 3 canaries"  # a password no message could contain by chance
POLICY = accounts.SessionPolicy.of(Settings(database_url="sqlite://", secret_key="x"))


@pytest.fixture(autouse=True)
def hashes(monkeypatch: pytest.MonkeyPatch) -> Hashes:
    return use_fast_hashes(monkeypatch)


@pytest.fixture
def env(settings: Settings, engine: object, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The command pointed at the test's (migrated) database through the environment."""
    for name, value in settings.model_dump().items():
        monkeypatch.setenv(f"COOLPAPERS_{name.upper()}", str(value))
    return settings


class Run:
    """``coolpapers users …`` in this process, its output and every log record kept."""

    def __init__(
        self,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        self.monkeypatch, self.capsys, self.caplog = monkeypatch, capsys, caplog
        self.seen: list[str] = []  # everything printed or logged, for the password check

    def __call__(self, *args: str, stdin: str = "") -> tuple[int, str, str]:
        self.monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        self.caplog.clear()
        with self.caplog.at_level(logging.DEBUG):
            code = main(["users", *args])
        out, err = self.capsys.readouterr()
        logged = [r.getMessage() + str(r.args) for r in self.caplog.records]
        self.seen += [out, err, *logged]
        return code, out, err


@pytest.fixture
def run(
    env: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> Run:
    return Run(monkeypatch, capsys, caplog)


@pytest.fixture
def users(env: Settings, factory: sessionmaker[Session]) -> sessionmaker[Session]:
    return factory


def test_add_list_disable_enable_reset(run: Run, users: sessionmaker[Session]) -> None:
    assert run("list") == (0, "", "no members yet: coolpapers users add NAME --password-stdin\n")
    assert run("add", "alice", "--password-stdin", stdin=SECRET + "\n") == (0, "added alice\n", "")
    code, out, _ = run("add", "root", "--admin", "--password-stdin", stdin=SECRET)
    assert (code, out) == (0, "added root (admin)\n")
    today = utcnow().date().isoformat()
    code, out, _ = run("list")
    assert code == 0
    assert out.splitlines() == [f"alice\tmember\tactive\t{today}", f"root\tadmin\tactive\t{today}"]

    _, token = accounts.login(users, "alice", SECRET, "192.0.2.1", utcnow(), POLICY)
    assert run("disable", "alice") == (0, "disabled alice\n", "")
    assert accounts.member_for_token(users, token, utcnow(), POLICY) is None  # ended at once
    assert "alice\tmember\tdisabled" in run("list")[1]
    with pytest.raises(accounts.LoginFailed):
        accounts.login(users, "alice", SECRET, "192.0.2.1", utcnow(), POLICY)
    assert run("enable", "alice") == (0, "enabled alice\n", "")
    _, token = accounts.login(users, "alice", SECRET, "192.0.2.1", utcnow(), POLICY)

    new = "a different long password"
    code, out, _ = run("reset", "alice", "--password-stdin", stdin=new + "\r\n")
    assert (code, out) == (0, "new password for alice; their sessions ended\n")
    assert accounts.member_for_token(users, token, utcnow(), POLICY) is None
    accounts.login(users, "alice", new, "192.0.2.1", utcnow(), POLICY)  # CRLF stripped
    assert not any(SECRET in text or new in text for text in run.seen)


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("short\n", "at least 8 characters"),
        ("", "no password on standard input"),
        ("\n", "no password on standard input"),
        ("x" * 1025, "at most 1024 characters"),
    ],
)
def test_bad_passwords_are_usage_errors(
    run: Run, users: sessionmaker[Session], stdin: str, message: str
) -> None:
    code, out, err = run("add", "alice", "--password-stdin", stdin=stdin)
    assert (code, out) == (2, "") and message in err
    assert stdin.strip() == "" or stdin.strip() not in err
    assert accounts.list_members(users) == []


def test_the_longest_password_and_spaces_are_kept(run: Run, users: sessionmaker[Session]) -> None:
    longest = " " + "x" * 1022 + " "
    assert run("add", "alice", "--password-stdin", stdin=longest + "\n")[0] == 0
    accounts.login(users, "alice", longest, "192.0.2.1", utcnow(), POLICY)
    # only the first line counts
    assert run("add", "bob", "--password-stdin", stdin=SECRET + "\nsecond line\n")[0] == 0
    accounts.login(users, "bob", SECRET, "192.0.2.1", utcnow(), POLICY)


def test_a_name_is_taken_once(run: Run, users: sessionmaker[Session]) -> None:
    run("add", "alice", "--password-stdin", stdin=SECRET)
    code, out, err = run("add", "alice", "--password-stdin", stdin="another password")
    assert (code, out) == (2, "") and "a member named 'alice' exists already" in err
    accounts.login(users, "alice", SECRET, "192.0.2.1", utcnow(), POLICY)  # unchanged


@pytest.mark.parametrize("name", ["al ice", "x" * 65, "ålice", "<b>", "al/ice"])
def test_bad_names_are_usage_errors(run: Run, users: sessionmaker[Session], name: str) -> None:
    code, _, err = run("add", name, "--password-stdin", stdin=SECRET)
    assert code == 2 and "a member's name is" in err
    assert accounts.list_members(users) == []


@pytest.mark.parametrize(
    "args", [("disable", "nobody"), ("enable", "nobody"), ("reset", "nobody", "--password-stdin")]
)
def test_unknown_members_exit_1(run: Run, args: tuple[str, ...]) -> None:
    code, out, err = run(*args, stdin=SECRET)
    assert (code, out, err) == (1, "", "coolpapers: no member named 'nobody'\n")


def test_a_reset_with_a_short_password_changes_nothing(
    run: Run, users: sessionmaker[Session]
) -> None:
    run("add", "alice", "--password-stdin", stdin=SECRET)
    _, token = accounts.login(users, "alice", SECRET, "192.0.2.1", utcnow(), POLICY)
    code, _, err = run("reset", "alice", "--password-stdin", stdin="short")
    assert code == 2 and "at least 8" in err
    assert accounts.member_for_token(users, token, utcnow(), POLICY) is not None


@pytest.mark.parametrize("args", [("add", "alice"), ("reset", "alice"), ("add",), ("disable",)])
def test_a_password_only_from_stdin(run: Run, args: tuple[str, ...]) -> None:
    """No --password-stdin, no password: argparse's usage error (2); there is no option that
    takes a password as an argument."""
    with pytest.raises(SystemExit) as done:
        run(*args, stdin=SECRET)
    assert done.value.code == 2
    with pytest.raises(SystemExit):
        run("add", "alice", "--password", SECRET)


def test_the_stored_hash_is_argon2id_not_the_password(
    run: Run, users: sessionmaker[Session]
) -> None:
    run("add", "alice", "--password-stdin", stdin=SECRET)
    with session_scope(users) as s:
        stored = s.scalars(select(User.password_hash)).one()
    assert stored is not None and stored.startswith("$argon2id$") and SECRET not in stored


def test_a_real_process(tmp_path: Path) -> None:
    """The console entry point as its own process on SQLite, with the production hasher: the
    password through a pipe, in neither output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COOLPAPERS_")}
    env["COOLPAPERS_DATA_DIR"] = str(tmp_path)
    cmd = [sys.executable, "-m", "coolpapers", "users"]

    def call(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cmd, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120
        )

    added = call("add", "alice", "--admin", "--password-stdin", stdin=SECRET + "\n")
    assert (added.returncode, added.stdout) == (0, "added alice (admin)\n"), added.stderr
    listed = call("list")
    assert listed.returncode == 0 and listed.stdout.startswith("alice\tadmin\tactive\t")
    short = call("reset", "alice", "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "at least 8 characters" in short.stderr
    missing = call("disable", "nobody")
    assert missing.returncode == 1 and "no member named 'nobody'" in missing.stderr
    for done in (added, listed, short, missing):
        assert SECRET not in done.stdout + done.stderr


def test_at_a_terminal_the_password_is_not_echoed(
    run: Run, users: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    def no_echo(prompt: str = "") -> str:
        asked.append(prompt)
        return SECRET

    monkeypatch.setattr("getpass.getpass", no_echo)
    monkeypatch.setattr(sys, "stdin", Terminal("typed where it would show\n"))
    code = main(["users", "add", "alice", "--password-stdin"])
    assert code == 0 and asked == ["password (not shown): "]
    accounts.login(users, "alice", SECRET, "192.0.2.1", utcnow(), POLICY)
