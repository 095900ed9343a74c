"""`make bench`: every benchmark, a readable report on stdout, JSON in bench/results/latest.json.

`python -m bench NAME ...` runs only those (JSON in bench/results/NAME.json).

Figures only: nothing here passes or fails on timing. A benchmark whose code under measurement
misbehaves (an ingest that is not idempotent, a page that is not 200) stops the run.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bench import (
    faq,
    history,
    index_build,
    ingest_day,
    kaggle_import,
    limits,
    login,
    math_coverage,
    page_cache,
    reading,
    scale,
    search,
    serve_list,
    stars,
)
from bench._common import REPO

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
# the pace loop: a round takes ~0.1 s here, long enough to time, short enough to repeat
PACE_LOOP, PACE_ROUNDS = 2_000_000, 5
PACKAGES = ("sqlalchemy", "fastapi", "starlette", "uvicorn", "jinja2", "feedparser", "httpx")
BENCHMARKS: tuple[tuple[str, Callable[[], dict[str, Any]], Callable[[Any], list[str]]], ...] = (
    ("ingest_day", ingest_day.run, ingest_day.report_lines),
    ("kaggle_import", kaggle_import.run, kaggle_import.report_lines),
    ("serve_list", serve_list.run, serve_list.report_lines),
    ("history", history.run, history.report_lines),
    ("page_cache", page_cache.run, page_cache.report_lines),
    ("faq", faq.run, faq.report_lines),
    ("search", search.run, search.report_lines),
    ("index_build", index_build.run, index_build.report_lines),
    ("limits", limits.run, limits.report_lines),
    ("math_coverage", math_coverage.run, math_coverage.report_lines),
    ("reading", reading.run, reading.report_lines),
    ("login", login.run, login.report_lines),
    ("stars", stars.run, stars.report_lines),
    ("scale", scale.run, scale.report_lines),
)


def _commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def _loadavg() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def pace_ms() -> float:
    """The median time of a fixed pure-Python loop: how fast this machine runs Python now. A
    shared host's speed drifts from day to day (the same commit's figures have doubled), and
    the load average does not show it; compare runs by this first."""
    times = []
    for _ in range(PACE_ROUNDS):
        start = time.perf_counter()
        total = 0
        for i in range(PACE_LOOP):
            total += i
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def environment() -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cores": os.cpu_count(),
        "loadavg_1min": _loadavg(),
        "pace_ms": pace_ms(),
        "commit": _commit(),
        "packages": _versions(),
    }


def main(names: list[str]) -> int:
    known = [name for name, _, _ in BENCHMARKS]
    if unknown := [name for name in names if name not in known]:
        print(f"unknown benchmark {', '.join(unknown)} (known: {', '.join(known)})")
        return 2
    out = RESULTS.with_name(f"{'+'.join(names)}.json") if names else RESULTS
    env = environment()
    print(
        f"coolpapers bench  ({env['date'][:10]}, Python {env['python']}, {env['cores']} cores"
        f"{', commit ' + env['commit'] if env['commit'] else ''})\n"
        f"pace: a reference loop of {PACE_LOOP:,} additions in {env['pace_ms']:.0f} ms "
        "(slower: every figure below is too; compare runs by it)"
    )
    results: dict[str, Any] = {"environment": env}
    started = time.perf_counter()
    for name, run, lines in BENCHMARKS:
        if names and name not in names:
            continue
        print(f"\n[{name}]", flush=True)
        t0 = time.perf_counter()
        result = run()
        result["wall_s"] = time.perf_counter() - t0
        results[name] = result
        for line in lines(result):
            print(line, flush=True)
    results["wall_s"] = time.perf_counter() - started
    results["loadavg_1min_end"] = _loadavg()
    results["pace_ms_end"] = pace_ms()
    busy = [x for x in (env["loadavg_1min"], results["loadavg_1min_end"]) if x is not None]
    if busy and env["cores"] and max(busy) > 0.75 * env["cores"]:
        print(
            f"\nnote: 1-min load average {max(busy):.1f} on {env['cores']} cores "
            "(start/end): other processes were busy, the figures are noisy"
        )
    print(f"\npace at the end: {results['pace_ms_end']:.0f} ms (at the start {env['pace_ms']:.0f})")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\ntotal {results['wall_s']:.0f} s; JSON: {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
