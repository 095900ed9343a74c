"""``coolpapers users``: the lab's members from the command line (add, list, disable, enable,
reset). Passwords come on standard input only (``--password-stdin``): never in arguments,
which other users of the machine can read, nor in shell history."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TextIO

from sqlalchemy.orm import Session, sessionmaker

from coolpapers import accounts
from coolpapers.errors import BadInput
from coolpapers.models import utcnow

EXIT_OK = 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = sub.add_parser("users", help="the lab's members (with COOLPAPERS_AUTH=password)")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    add = users_sub.add_parser("add", help="add a member; the password is read from stdin")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="may disable members on /lab/members")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        required=True,
        help="read the password from standard input (the only way to give one)",
    )
    users_sub.add_parser("list", help="every member, with role and state")
    disable = users_sub.add_parser("disable", help="refuse their logins, end their sessions")
    disable.add_argument("name")
    enable = users_sub.add_parser("enable", help="let a disabled member log in again")
    enable.add_argument("name")
    reset = users_sub.add_parser("reset", help="a new password (from stdin); sessions end")
    reset.add_argument("name")
    reset.add_argument(
        "--password-stdin",
        action="store_true",
        required=True,
        help="read the password from standard input",
    )


def read_password(stream: TextIO) -> str:
    """The first line of ``stream`` without its line ending (``echo pw |`` and a file both);
    typed at a terminal, asked for without echo."""
    if stream.isatty():
        line = getpass.getpass("password (not shown): ")[: accounts.MAX_PASSWORD_LEN + 2]
    else:
        line = stream.readline(accounts.MAX_PASSWORD_LEN + 2)
    password = line.rstrip("\r\n")
    if not password:
        raise BadInput("no password on standard input (pipe it: `printf %s PASSWORD | …`)")
    return password


def run(args: argparse.Namespace, factory: sessionmaker[Session]) -> int:
    command = args.users_command
    if command == "list":
        members = accounts.list_members(factory)
        for m in members:
            role = "admin" if m.is_admin else "member"
            state = "disabled" if m.disabled else "active"
            print(f"{m.name}\t{role}\t{state}\t{m.created_at.date().isoformat()}")
        if not members:
            print("no members yet: coolpapers users add NAME --password-stdin", file=sys.stderr)
        return EXIT_OK
    if command == "add":
        member = accounts.add_member(
            factory, args.name, read_password(sys.stdin), admin=args.admin, now=utcnow()
        )
        print(f"added {member.name}" + (" (admin)" if member.is_admin else ""))
    elif command == "disable":
        print(f"disabled {accounts.disable_member(factory, args.name, utcnow()).name}")
    elif command == "enable":
        print(f"enabled {accounts.enable_member(factory, args.name).name}")
    elif command == "reset":
        member = accounts.reset_password(factory, args.name, read_password(sys.stdin))
        print(f"new password for {member.name}; their sessions ended")
    return EXIT_OK
