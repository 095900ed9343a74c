"""The cost of a login: the argon2id parameters in use, the hash and the check alone, and
``POST /login`` end to end.

  * parameters: those of ``coolpapers.accounts.passwords.hasher()`` (argon2-cffi's
    ``PasswordHasher`` defaults, RFC 9106's low-memory profile): passes, memory, lanes, hash and
    salt lengths, variant;
  * hash and verify: ``hasher().hash`` of a new password and ``hasher().verify`` of the right
    one, in this process, RUNS times each after WARMUP;
  * ``POST /login``: the real app (``AUTH=password``, scheduler off) under uvicorn in a
    subprocess on a fresh SQLite database with one member, one worker on 127.0.0.1, driven by
    httpx on one keep-alive connection: the right password (303, a new session each time), a
    wrong password and an unknown name (401 both), interleaved, RUNS times each after WARMUP.
    The failure limit is raised for the run (it would answer 429 after 10 a minute without
    checking any password). An unknown name is checked against a dummy hash so that it costs
    what a wrong password costs (reliability.md F3: within ~20%); the report puts the two
    medians side by side.

Figures only: nothing passes or fails on timing. An answer other than the expected status
stops the run.
"""

from __future__ import annotations

import logging
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench._common import BenchError, main_with_server, serve_app, served, sqlite_settings
from coolpapers.config import Settings

RUNS = 20
WARMUP = 2
START_TIMEOUT_S = 60.0
MEMBER = "alice"
PASSWORD = "correct horse battery staple"
ATTEMPTS_PER_MINUTE = 1_000_000  # no 429 during the run: every attempt checks a password
CASES = {  # name: (username, password, expected status)
    "right password": (MEMBER, PASSWORD, 303),
    "wrong password": (MEMBER, "not the password", 401),
    "unknown user": ("nobody-here", "not the password", 401),
}


def _settings(data_dir: Path) -> Settings:
    return sqlite_settings(data_dir, auth="password", login_attempts_per_minute=ATTEMPTS_PER_MINUTE)


def _summary(samples: list[float]) -> dict[str, Any]:
    """Median, p95 (inclusive quantiles), min, max and n of samples in seconds."""
    if not samples:
        raise BenchError("no samples")
    p95 = statistics.quantiles(samples, n=20, method="inclusive")[18] if samples[1:] else samples[0]
    return {
        "median": statistics.median(samples),
        "p95": p95,
        "min": min(samples),
        "max": max(samples),
        "n": len(samples),
    }


# ---------------------------------------------------------------- argon2 alone


def parameters() -> dict[str, Any]:
    from coolpapers.accounts.passwords import hasher

    h = hasher()
    return {
        "type": h.type.name.lower(),  # ID -> "id": argon2id
        "time_cost": h.time_cost,
        "memory_cost_kib": h.memory_cost,
        "parallelism": h.parallelism,
        "hash_len": h.hash_len,
        "salt_len": h.salt_len,
    }


def hash_and_verify() -> dict[str, Any]:
    from coolpapers.accounts.passwords import hasher

    h = hasher()
    hashes: list[float] = []
    verifies: list[float] = []
    for i in range(WARMUP + RUNS):
        password = secrets.token_urlsafe(16)
        start = time.perf_counter()
        encoded = h.hash(password)
        hashed = time.perf_counter()
        ok = h.verify(encoded, password)
        verified = time.perf_counter()
        if not ok:
            raise BenchError("argon2 did not verify its own hash")
        if i >= WARMUP:
            hashes.append(hashed - start)
            verifies.append(verified - hashed)
    return {"hash": _summary(hashes), "verify": _summary(verifies)}


# ---------------------------------------------------------------- over HTTP


def serve(data_dir: Path, _static_dir: Path | None) -> None:
    """In the child: the app with AUTH=password on the SQLite database of ``data_dir`` on a
    free port; print the port, then serve until SIGTERM."""
    from coolpapers.web import create_app

    app = create_app(_settings(data_dir), scheduler=False)
    # the bench fails logins on purpose, hundreds: their audit lines are not its report
    logging.getLogger("coolpapers.accounts").setLevel(logging.ERROR)
    serve_app(app)


def build_database(data_dir: Path) -> None:
    """A fresh SQLite database, migrated, with one member."""
    from coolpapers import accounts, schema
    from coolpapers.db import make_engine, make_sessionmaker
    from coolpapers.models import utcnow

    engine = make_engine(_settings(data_dir))
    try:
        schema.upgrade(engine)
        accounts.add_member(make_sessionmaker(engine), MEMBER, PASSWORD, admin=False, now=utcnow())
    finally:
        engine.dispose()


def http_logins(data_dir: Path) -> dict[str, Any]:
    build_database(data_dir)
    args = ["bench.login", "--serve", "--data-dir", str(data_dir)]
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    names = list(CASES)
    with (
        served(args, START_TIMEOUT_S) as (base_url, _),
        httpx.Client(base_url=base_url, timeout=30.0, follow_redirects=False) as client,
    ):
        for round_ in range(WARMUP + RUNS):
            # each round in another order: a drift of the machine does not favour one case
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for name in order:
                username, password, want = CASES[name]
                form = {"username": username, "password": password, "next": "/"}
                start = time.perf_counter()
                response = client.post("/login", data=form)
                elapsed = time.perf_counter() - start
                if response.status_code != want:
                    raise BenchError(f"POST /login ({name}): {response.status_code}, not {want}")
                client.cookies.clear()  # every login a first one
                if round_ >= WARMUP:
                    samples[name].append(elapsed)
    return {name: _summary(values) for name, values in samples.items()}


# ---------------------------------------------------------------- the run


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="coolpapers-bench-login-") as tmp:
        http = http_logins(Path(tmp))
    wrong, unknown = http["wrong password"]["median"], http["unknown user"]["median"]
    return {
        "argon2": parameters(),
        "direct": hash_and_verify(),
        "http": http,
        "unknown_over_wrong": unknown / wrong,
    }


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def report_lines(result: dict[str, Any]) -> list[str]:
    p = result["argon2"]
    lines = [
        f"argon2{p['type']}: time_cost {p['time_cost']}, memory_cost {p['memory_cost_kib']} KiB "
        f"({p['memory_cost_kib'] // 1024} MiB), parallelism {p['parallelism']}, "
        f"hash_len {p['hash_len']}, salt_len {p['salt_len']}"
    ]
    for name, s in result["direct"].items():
        lines.append(
            f"{name:<6} (in process): median {_ms(s['median'])}, p95 {_ms(s['p95'])} "
            f"(min {_ms(s['min'])}, n {s['n']})"
        )
    for name, s in result["http"].items():
        lines.append(
            f"POST /login, {name:<14}: median {_ms(s['median'])}, p95 {_ms(s['p95'])} "
            f"(min {_ms(s['min'])}, n {s['n']})"
        )
    ratio = result["unknown_over_wrong"]
    lines.append(
        f"unknown user / wrong password (medians): {ratio:.2f} "
        f"({'within' if abs(ratio - 1) <= 0.2 else 'NOT within'} 20%: F3's timing check)"
    )
    return lines


if __name__ == "__main__":
    main_with_server(__doc__, serve, run, report_lines)
