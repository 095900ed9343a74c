"""Make sure the browser tests find Chromium at /usr/bin/chromium (``make test`` runs this first).

The tests drive the system's Chromium through Playwright and never download a browser build. As
root on Debian this installs the ``chromium`` package (quietly; apt's output is shown only if it
fails); as anyone else it prints the one command to run and exits 1. Standard library only: it
runs with the system Python, before or without the virtualenv.

    python3 tests/ensure_chromium.py [--dry-run] [--path /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
APT = [
    ["apt-get", "update", "-qq"],
    ["apt-get", "install", "-y", "-qq", "chromium"],
]
USER_COMMAND = "sudo apt-get update && sudo apt-get install -y chromium"


def plan(chromium: Path, *, root: bool, has_apt: bool) -> tuple[list[list[str]], str | None]:
    """The commands to run, or the message to fail with (neither when Chromium is there)."""
    if chromium.exists():
        return [], None
    if not has_apt:
        return [], (
            f"{chromium} is missing: the browser tests need Chromium there "
            "(Debian's package `chromium`)."
        )
    if not root:
        return [], (
            f"{chromium} is missing: the browser tests need Debian's Chromium. Run\n"
            f"    {USER_COMMAND}\n"
            "then `make test` again."
        )
    return APT, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, default=CHROMIUM, help="where Chromium must be")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the commands instead of running them"
    )
    args = parser.parse_args(argv)
    commands, problem = plan(
        args.path, root=os.geteuid() == 0, has_apt=shutil.which("apt-get") is not None
    )
    if problem:
        print(problem, file=sys.stderr)
        return 1
    if not commands:
        return 0
    if args.dry_run:
        for command in commands:
            print(" ".join(command))
        return 0
    print(f"{args.path} is missing: installing Debian's chromium for the browser tests", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in commands:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.stderr.write(done.stdout + done.stderr)
            print(f"`{' '.join(command)}` failed (exit {done.returncode})", file=sys.stderr)
            return 1
    if not args.path.exists():
        print(f"chromium is installed but {args.path} is still missing", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
