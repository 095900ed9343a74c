"""What a misbehaving upstream may cost us: the figures of issue 8's closing note.

Everything runs the real code, unpatched, against the fakes of the test suite on 127.0.0.1, each
case on a fresh SQLite database in a temp dir (the cs.LG 2026-08-21 listing stored):

1. Upstream calls per failing FAQ job, for each error kind the fake LLM can play: one job is
   queued (``jobs.request_faq``, what a click does) and run to its end through the worker's
   path (``FaqWorker.run_one``, a new worker each time the job goes back to the queue, as after
   a restart); the fake counts the chat requests. The client's retry waits are real sleeps (its
   backoff: 1 s, then 2 s), so a failing job's wall time is what it holds a worker. A
   Retry-After of 3000 s puts the job back in the queue with a not-before time: the further
   ``run_one`` calls (the same worker, then new workers over new engines, as other processes)
   must make no request while it runs.
2. A runaway provider (ignores max_tokens, offers 64 MB without an end): the bytes the fake got
   into the socket before we hung up, and what was stored (state, truncated flag, characters).
3. arXiv's Retry-After across feeds, runs and processes: the fake answers the first feed of a
   4-feed ingest (``Pipeline.open`` + ``ingest_due``) with 429 Retry-After 3000; then two more
   runs, each with a new engine and Pipeline. Counted: the requests the host got after the 429.

Figures only; a job that never ends, or a fake that saw nothing, stops the run (BenchError).
"""

from __future__ import annotations

import contextlib
import logging
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bench._common import REPO, RSS_DIR, sqlite_settings
from coolpapers import ingest, schema
from coolpapers.config import Settings
from coolpapers.db import make_engine, make_sessionmaker, session_scope
from coolpapers.models import Faq
from coolpapers.summarize import jobs
from coolpapers.summarize.provider import ProviderConfig
from tests.fakes.arxiv_server import FakeArxiv, Fault
from tests.fakes.llm_server import FakeLLM, Mode

DAY_FILE = RSS_DIR / "rss-cs.LG-2026-08-21-fri.xml"
HTML = REPO / "tests" / "fixtures" / "paper" / "latexml_paper.html"
PAPER = "2608.19234"  # on the cs.LG 2026-08-21 listing, as v1
LANG = "en"
STALL_TIMEOUT_S = 0.3  # the client's stall timeout for the "stall" case (the tests' value)
MAX_RUNS = 10  # run_one calls a failing job may take before we call it a job that never ends
HELD_RUNS = 5  # further run_one calls while a Retry-After runs
RETRY_AFTER_S = 3000
RUNAWAY_BYTES = 64 * 1024 * 1024
FEEDS = ("cs.LG", "cs.AI", "cs.CL", "stat.ML")
FRIDAY = datetime(2026, 8, 21, 10, 0, tzinfo=UTC)  # the feeds are due for 2026-08-21
ERROR_KINDS: tuple[tuple[str, Mode], ...] = (
    ("429", Mode.rate_limited()),
    ("500", Mode.status(500)),
    ("503", Mode.status(503)),
    ("stall", Mode.stall(60)),
    ("cut", Mode.cut(after_chunks=2)),
    ("stream error", Mode.midstream_error(after_chunks=0)),
)


class BenchError(RuntimeError):
    """The code under measurement did not do what it should have."""


# ---------------------------------------------------------------- one FAQ case


@dataclass
class _Case:
    settings: Settings
    factory: sessionmaker[Session]
    fake_llm: FakeLLM


@contextlib.contextmanager
def _faq_case(mode: Mode, **overrides: Any) -> Iterator[_Case]:
    """A fresh database with the listing, a fake arXiv serving the paper, a fake LLM answering
    every request with ``mode``, and the job of one FAQ queued."""
    with (
        tempfile.TemporaryDirectory(prefix="coolpapers-bench-limits-") as tmp,
        FakeArxiv() as fake_arxiv,
        FakeLLM() as fake_llm,
    ):
        fake_arxiv.serve(f"/html/{PAPER}v1", HTML, content_type="text/html")
        fake_llm.default = mode
        values: dict[str, Any] = {
            "arxiv_categories": "cs.LG",
            "arxiv_rss_url": fake_arxiv.rss_url,
            "arxiv_api_url": fake_arxiv.api_url,
            "arxiv_web_url": fake_arxiv.web_url,
            "arxiv_min_interval_s": 0.0,
            "fetch_timeout_s": 2.0,
            "fetch_deadline_s": 3.0,
            "allow_private_networks": True,  # the fakes are on 127.0.0.1
            "llm_base_url": fake_llm.base_url,
            "llm_model": "fake-model",
            "llm_api_key": "sk-bench",
        }
        values.update(overrides)
        settings = sqlite_settings(Path(tmp), **values)
        engine = make_engine(settings)
        try:
            schema.upgrade(engine)
            factory = make_sessionmaker(engine)
            report = ingest.ingest_files(factory, [DAY_FILE])
            if any(r.status != "ok" for r in report):
                raise BenchError(f"ingest: {'; '.join(r.line() for r in report)}")
            with session_scope(factory, write=True) as s:
                jobs.request_faq(s, settings, PAPER, LANG, ["bench"])
            yield _Case(settings, factory, fake_llm)
        finally:
            engine.dispose()


def _faq_row(factory: sessionmaker[Session]) -> Faq:
    with session_scope(factory) as s:
        row = s.query(Faq).filter_by(paper_id=PAPER, lang=LANG).one()
        s.expunge(row)
    return row


def _run_once(factory: sessionmaker[Session], settings: Settings) -> str | None:
    """One ``run_one`` by a new worker (nothing in memory carries over from the last one)."""
    worker = jobs.FaqWorker(factory, settings)
    try:
        return worker.run_one()
    finally:
        worker.stop()


def _failing_job(name: str, mode: Mode) -> dict[str, Any]:
    with _faq_case(mode, llm_stall_timeout_s=STALL_TIMEOUT_S) as case:
        states: list[str | None] = []
        start = time.monotonic()
        while not states or states[-1] == "queued":
            if len(states) == MAX_RUNS:
                raise BenchError(f"{name}: the job is still queued after {MAX_RUNS} runs")
            states.append(_run_once(case.factory, case.settings))
        seconds = time.monotonic() - start
        row = _faq_row(case.factory)
        if states[-1] != "failed" or row.state != "failed":
            raise BenchError(f"{name}: the job ended {states[-1]} (row {row.state}), not failed")
        return {
            "kind": name,
            "upstream_calls": case.fake_llm.calls,
            "runs": states,
            "attempts": row.attempts,
            "seconds": seconds,
            "error": row.error,
        }


def _retry_after_job() -> dict[str, Any]:
    with _faq_case(Mode.rate_limited(retry_after=RETRY_AFTER_S)) as case:
        worker = jobs.FaqWorker(case.factory, case.settings)
        try:
            first = worker.run_one()
            row = _faq_row(case.factory)
            if first != "queued" or row.lease_expires is None:
                raise BenchError(
                    f"Retry-After {RETRY_AFTER_S}: the job ended {first} (row {row.state}), "
                    "not queued with a not-before time"
                )
            calls = case.fake_llm.calls
            later: list[str | None] = [worker.run_one(), worker.run_one()]  # the same worker
        finally:
            worker.stop()
        while len(later) < HELD_RUNS:  # other processes: their own engine, nothing in memory
            engine = make_engine(case.settings)
            try:
                later.append(_run_once(make_sessionmaker(engine), case.settings))
            finally:
                engine.dispose()
        return {
            "kind": f"Retry-After {RETRY_AFTER_S}",
            "upstream_calls": calls,
            "state": row.state,
            "error": row.error,
            "further_runs": len(later),
            "further_runs_claimed": sum(state is not None for state in later),
            "further_requests": case.fake_llm.calls - calls,
        }


def _runaway() -> dict[str, Any]:
    with _faq_case(Mode.runaway(max_bytes=RUNAWAY_BYTES)) as case:
        start = time.monotonic()
        state = _run_once(case.factory, case.settings)
        seconds = time.monotonic() - start
        again = _run_once(case.factory, case.settings)
        row = _faq_row(case.factory)
        config = ProviderConfig.from_settings(case.settings)
        sent = case.fake_llm.bytes_sent
        return {
            "offered_bytes": RUNAWAY_BYTES,
            "upstream_calls": case.fake_llm.calls,
            "bytes_sent": sent[0] if sent else 0,
            "run": state,
            "run_after": again,
            "seconds": seconds,
            "state": row.state,
            "truncated_output": row.truncated_output,
            "chars_stored": len(row.content),
            "char_cap": config.output_char_cap,
            "byte_cap": config.output_byte_cap,
            "error": row.error,
        }


# ---------------------------------------------------------------- arXiv host hold


def _outcome(report: ingest.RunReport) -> str:
    """A feed's run in a few words: what the host said, or that nothing was sent."""
    error = report.error or ""
    if error.startswith("HostHeld"):
        return "held (nothing sent)"
    if error.startswith("RateLimited"):
        return "429"
    return report.status


def _ingest_run(settings: Settings) -> list[tuple[str, str]]:
    """One run as a separate process would make it: its own engine, pipeline and client."""
    engine = make_engine(settings)
    pipeline = ingest.Pipeline.open(settings, make_sessionmaker(engine))
    try:
        reports = ingest.ingest_due(pipeline, settings, FRIDAY)
    finally:
        pipeline.close()
        engine.dispose()
    return [(r.target, _outcome(r)) for r in reports]


def _host_hold() -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="coolpapers-bench-limits-") as tmp,
        FakeArxiv() as fake,
    ):
        for spec in FEEDS:
            fake.serve_feed(spec, DAY_FILE)
        fake.script(f"/rss/{FEEDS[0]}", [Fault.status(429, retry_after=str(RETRY_AFTER_S))])
        settings = sqlite_settings(
            Path(tmp),
            arxiv_categories=",".join(FEEDS),
            arxiv_rss_url=fake.rss_url,
            arxiv_api_url=fake.api_url,
            arxiv_web_url=fake.web_url,
            arxiv_min_interval_s=0.0,
            fetch_timeout_s=2.0,
            fetch_deadline_s=3.0,
            allow_private_networks=True,
        )
        engine = make_engine(settings)
        try:
            schema.upgrade(engine)
        finally:
            engine.dispose()
        runs = [_ingest_run(settings) for _ in range(3)]
        fake.wait_idle()
        requests = fake.requests
    told = [i for i, r in enumerate(requests) if r.status == 429]
    if not told:
        seen = ", ".join(f"{r.path} {r.status}" for r in requests) or "no request"
        raise BenchError(f"the fake arXiv never answered 429 ({seen})")
    after = requests[told[0] + 1 :]
    return {
        "feeds": list(FEEDS),
        "retry_after_s": RETRY_AFTER_S,
        "requests_before_429": told[0],
        "requests_after_429": len(after),
        "paths_after_429": [r.path for r in after],
        "runs": runs,
    }


# ---------------------------------------------------------------- the run


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """What the code logs for the failures provoked here (a warning per failed job, an error per
    failed feed) stays off the report, which shows each outcome; an exception still stops it."""
    logger = logging.getLogger("coolpapers")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def run() -> dict[str, Any]:
    with _quiet():
        return {
            "max_attempts": jobs.MAX_ATTEMPTS,
            "failing_jobs": [_failing_job(name, mode) for name, mode in ERROR_KINDS],
            "retry_after": _retry_after_job(),
            "runaway": _runaway(),
            "host_hold": _host_hold(),
        }


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.2f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"


def _reason(error: str | None, width: int = 100) -> str:
    text = re.sub(r"^gave up after \d+ attempts: ", "", error or "")
    return text if len(text) <= width else text[: width - 1] + "…"


def report_lines(result: dict[str, Any]) -> list[str]:
    jobs_, held, budget = result["failing_jobs"], result["retry_after"], result["max_attempts"]
    calls = ", ".join(f"{j['kind']} → {j['upstream_calls']}" for j in jobs_)
    lines = [
        f"upstream calls per failing FAQ job: {calls}, {held['kind']} → "
        f"{held['upstream_calls']} (then {held['further_requests']} while it runs: "
        f"{held['further_runs']} further run_one calls made {held['further_requests']} requests)",
    ]
    over = [j["kind"] for j in jobs_ if j["upstream_calls"] > budget]
    if held["upstream_calls"] > budget or held["further_requests"]:
        over.append(held["kind"])
    if over:
        lines.append(f"  !! over the budget of {budget} calls per job: {', '.join(over)}")
    for j in jobs_:
        runs = "+".join(str(s) for s in j["runs"])
        lines.append(
            f"  {j['kind']}: {j['attempts']} attempts in {len(j['runs'])} run(s) ({runs}), "
            f"{j['seconds']:.1f} s; {_reason(j['error'])}"
        )
    lines.append(
        f"  {held['kind']}: {held['state']}, {held['further_runs_claimed']} of the further runs "
        f"claimed it; {_reason(held['error'])}"
    )
    r = result["runaway"]
    cut = r["state"] == "done" and r["truncated_output"] and r["upstream_calls"] == 1
    lines += [
        f"runaway LLM provider ({_mb(r['offered_bytes'])} offered, no end): "
        f"{r['bytes_sent']:,} bytes ({_mb(r['bytes_sent'])}) sent before we hung up, "
        f"{r['upstream_calls']} call(s), {r['seconds']:.1f} s" + ("" if cut else "  !! not cut"),
        f"  stored: {r['state']}, truncated_output={r['truncated_output']}, "
        f"{r['chars_stored']:,} chars (cap {r['char_cap']:,} chars, {r['byte_cap']:,} stream "
        f"bytes per call); a further run_one: {r['run_after']}",
    ]
    h = result["host_hold"]
    lines.append(
        f"arXiv host hold (429 Retry-After {h['retry_after_s']} on {h['feeds'][0]}, "
        f"{len(h['feeds'])} feeds, 3 runs on new engines): {h['requests_after_429']} requests "
        "to the host after the 429"
        + (f"  !! {', '.join(h['paths_after_429'])}" if h["requests_after_429"] else "")
    )
    for n, outcomes in enumerate(h["runs"], start=1):
        feeds = ", ".join(f"{target} {outcome}" for target, outcome in outcomes)
        lines.append(f"  run {n}: {feeds or 'nothing due'}")
    return lines


if __name__ == "__main__":
    for line in report_lines(run()):
        print(line)
