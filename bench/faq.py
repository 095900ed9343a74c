"""FAQ ([Kimi]) jobs: upstream calls for 50 concurrent clicks, cached reads, chunk → SSE delay.

A SQLite database in a temp dir gets the cs.LG 2026-08-21 listing; the real app (scheduler
off) runs under uvicorn in a thread of this process (127.0.0.1, free port), and the FAQ worker
(``jobs.FaqWorker``, LLM_CONCURRENCY=1, sequential prompts: six requests per FAQ) runs in this
process too, registered on the app the way ``make run``'s embedded worker is, so a click wakes
it. arXiv (the paper's HTML) and the LLM are the fakes of the test suite on 127.0.0.1.

1. 50 threads, each with its own httpx.Client, POST one click at once on one uncached FAQ;
   then wait until it is done and count the requests the fake LLM received. A click that
   fails (a 5xx) is counted and shown with the server's exception, not fatal: the figure here
   is the upstream calls, and the run goes on to the others.
2. The cached FAQ: GET and POST (a click) interleaved, sequential, on one keep-alive connection.
3. A second FAQ streamed slowly by the fake (20 chunks 0.1 s apart per answer, every chunk a
   distinct token) while an SSE client, connected before the first LLM request, records when
   each event arrives; a chunk's delay is the arrival of the first event whose content holds
   it minus the moment the fake wrote it. Same process on purpose: both times come from
   time.monotonic. The worker's flushes to the database are timed too (a wrapper around
   ``jobs._Progress.flush``), to split the delay into chunk → row and row → client.

Everything shares one interpreter (one GIL): server, worker, fakes and clients contend, which is
part of every figure here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from bench._common import REPO, RSS_DIR, sqlite_settings
from coolpapers import ingest, schema
from coolpapers.config import Settings
from coolpapers.db import make_engine, make_sessionmaker, session_scope
from coolpapers.models import Faq
from coolpapers.summarize import jobs
from coolpapers.web import create_app
from tests.fakes.arxiv_server import FakeArxiv, Fault
from tests.fakes.llm_server import FakeLLM, Mode
from tests.live_server import serve

DAY_FILE = RSS_DIR / "rss-cs.LG-2026-08-21-fri.xml"
HTML = REPO / "tests" / "fixtures" / "paper" / "latexml_paper.html"
PAPER = "2608.19234"  # both on the cs.LG 2026-08-21 listing, as v1
OTHER = "2608.19210"
LANG = "en"
CLICKS = 50
CLICK_MODE = Mode.ok(chunks=4, chunk_delay_s=0.05)  # ~1 s per FAQ: the clicks land before done
CLICK_TIMEOUT_S = 60.0  # above the pool timeout (30 s): a click stuck on it ends as the 500
ERRORS_LOGGER = "coolpapers.web.errors"
WARMUP = 20
SEQUENTIAL = 200
STREAM_CHUNKS = 20
STREAM_DELAY_S = 0.1
ARXIV_STALL_S = 0.5  # the paper's HTML comes late: the SSE client is surely connected first
DONE_TIMEOUT_S = 60.0


class BenchError(RuntimeError):
    """The code under measurement did not do what it should have."""


# ---------------------------------------------------------------- helpers


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


def _token(question: int, chunk: int) -> str:
    return f"q{question}c{chunk:02d}. "  # equal lengths: the fake sends exactly one per chunk


def _answer(question: int) -> str:
    return "".join(_token(question, c) for c in range(STREAM_CHUNKS))


@contextlib.contextmanager
def _worker(app: FastAPI, settings: Settings) -> Iterator[jobs.FaqWorker]:
    """The FAQ worker threads on the app's sessionmaker, woken by clicks (as under make run)."""
    worker = jobs.FaqWorker(app.state.sessionmaker, settings)
    worker.start()
    app.state.faq_worker = worker
    try:
        yield worker
    finally:
        app.state.faq_worker = None
        worker.stop()


def _wait_done(client: httpx.Client, paper_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + DONE_TIMEOUT_S
    while True:
        data: dict[str, Any] = client.get(f"/api/papers/{paper_id}/faq?lang={LANG}").json()
        if data["state"] in ("done", "failed"):
            break
        if time.monotonic() > deadline:
            raise BenchError(f"FAQ {paper_id} not done after {DONE_TIMEOUT_S:.0f} s: {data}")
        time.sleep(0.05)
    if data["state"] != "done":
        raise BenchError(f"FAQ {paper_id} failed: {data['error']}")
    return data


# ---------------------------------------------------------------- 1. concurrent clicks


@contextlib.contextmanager
def _errors_logged() -> Iterator[list[str]]:
    """Server errors logged meanwhile (their exceptions, one line each), kept off the report."""
    seen: list[str] = []

    def keep(record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if record.levelno >= logging.ERROR and exc is not None:
            if record.name == ERRORS_LOGGER:  # uvicorn logs the same exception again
                seen.append(f"{type(exc).__module__}.{type(exc).__name__}: {exc}".split("\n")[0])
            return False
        return True

    loggers = [logging.getLogger(name) for name in (ERRORS_LOGGER, "uvicorn.error")]
    for logger in loggers:
        logger.addFilter(keep)
    try:
        yield seen
    finally:
        for logger in loggers:
            logger.removeFilter(keep)


def _clicks(base_url: str, factory: Any, fake_llm: FakeLLM) -> dict[str, Any]:
    """Failed clicks are counted and shown, not fatal: the run goes on to the other figures."""
    fake_llm.default = CLICK_MODE
    fake_llm.reset()
    barrier = threading.Barrier(CLICKS)
    answers: list[tuple[int, str, float]] = []  # (status, FAQ state or "-", seconds)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def click() -> None:
        try:
            with httpx.Client(base_url=base_url, timeout=CLICK_TIMEOUT_S) as client:
                barrier.wait()
                start = time.monotonic()
                r = client.post(f"/api/papers/{PAPER}/faq?lang={LANG}")
                elapsed = time.monotonic() - start
                state = r.json().get("state", "-") if r.status_code in (200, 202) else "-"
                with lock:
                    answers.append((r.status_code, state, elapsed))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=click) for _ in range(CLICKS)]
    with _errors_logged() as logged:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if errors:
        raise BenchError(f"a click got no answer: {errors[0]!r}") from errors[0]
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        done = _wait_done(client, PAPER)
    with session_scope(factory) as s:
        attempts = [row.attempts for row in s.query(Faq).filter_by(paper_id=PAPER, lang=LANG)]
    ok = [(state, seconds) for code, state, seconds in answers if code in (200, 202)]
    failed = [(code, seconds) for code, _, seconds in answers if code not in (200, 202)]
    return {
        "clicks": CLICKS,
        "answered_ok": len(ok),
        "ok_by_state": dict(Counter(state for state, _ in ok)),
        "ok_slowest_s": max((x for _, x in ok), default=None),
        "failed": len(failed),
        "failed_by_status": {str(k): v for k, v in Counter(code for code, _ in failed).items()},
        "failed_fastest_s": min((x for _, x in failed), default=None),
        "failed_slowest_s": max((x for _, x in failed), default=None),
        "server_errors": dict(Counter(logged)),
        "upstream_requests": fake_llm.calls,
        "upstream_max_concurrent": fake_llm.max_concurrent,
        "messages_per_request": [len(req.get("messages", [])) for req in fake_llm.requests],
        "faq_rows": len(attempts),
        "generations": sum(attempts),
        "clicks_counted": done["clicks"],
    }


# ---------------------------------------------------------------- 2. cached reads


def _cached(base_url: str) -> dict[str, Any]:
    url = f"/api/papers/{PAPER}/faq?lang={LANG}"
    calls: dict[str, Callable[[httpx.Client], httpx.Response]] = {
        "get": lambda c: c.get(url),
        "post": lambda c: c.post(url),
    }
    times: dict[str, list[float]] = {name: [] for name in calls}
    size = 0
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        for i in range(WARMUP + SEQUENTIAL):
            for name, call in calls.items():
                start = time.perf_counter()
                r = call(client)
                elapsed = time.perf_counter() - start
                if r.status_code != 200 or r.json()["state"] != "done":
                    raise BenchError(f"cached {name.upper()} {url}: {r.status_code} {r.text[:200]}")
                size = len(r.content)
                if i >= WARMUP:
                    times[name].append(elapsed)
    return {"bytes": size, **{name: _summary(xs) for name, xs in times.items()}}


# ---------------------------------------------------------------- 3. chunk → SSE client


@contextlib.contextmanager
def _flush_times() -> Iterator[list[tuple[float, str]]]:
    """(time.monotonic() after the commit, content) of every flush of streamed text to the row."""
    flushes: list[tuple[float, str]] = []
    original = jobs._Progress.flush

    def timed_flush(self: jobs._Progress) -> None:
        original(self)
        flushes.append((time.monotonic(), self.content))

    jobs._Progress.flush = timed_flush  # type: ignore[method-assign]
    try:
        yield flushes
    finally:
        jobs._Progress.flush = original  # type: ignore[method-assign]


def _first_holding(text: str, timeline: list[tuple[float, str]]) -> float | None:
    return next((t for t, content in timeline if text in content), None)


def _stream(base_url: str, fake_arxiv: FakeArxiv, fake_llm: FakeLLM) -> dict[str, Any]:
    fake_llm.reset()
    fake_llm.script(
        Mode.ok(_answer(q), chunks=STREAM_CHUNKS, chunk_delay_s=STREAM_DELAY_S) for q in range(1, 7)
    )
    fake_arxiv.script(f"/html/{OTHER}v1", [Fault.stall(ARXIV_STALL_S)])
    events: list[tuple[float, str, str]] = []  # (arrival, state, content)
    with _flush_times() as flushes, httpx.Client(base_url=base_url, timeout=60.0) as client:
        queued = client.post(f"/api/papers/{OTHER}/faq?lang={LANG}")
        if queued.status_code != 202:
            raise BenchError(f"POST {OTHER}: {queued.status_code} {queued.text[:200]}")
        with client.stream("GET", f"/api/papers/{OTHER}/faq/stream?lang={LANG}") as r:
            for line in r.iter_lines():
                if not line.startswith("data: "):
                    continue
                arrival = time.monotonic()
                data = json.loads(line[6:])
                events.append((arrival, data["state"], data["content"]))
        flush_log = list(flushes)
    if not events or events[-1][1] != "done":
        raise BenchError(f"the stream ended in {events[-1][1] if events else 'nothing'}")
    chunks = fake_llm.chunk_times
    if fake_llm.calls != 6 or len(chunks) != 6 * STREAM_CHUNKS:
        raise BenchError(f"{fake_llm.calls} LLM requests, {len(chunks)} chunks")
    if events[0][0] >= fake_llm.request_times[0]:
        raise BenchError("the SSE client connected after the generation started")
    timeline = [(t, content) for t, _, content in events]
    delays, to_row, row_to_client = [], [], []
    held = 0  # chunks first written to the row only after the next chunk had come
    for i, (written, piece) in enumerate(chunks):
        text = piece.strip()
        arrived, flushed = _first_holding(text, timeline), _first_holding(text, flush_log)
        if arrived is None:
            raise BenchError(f"chunk {text!r} never reached the SSE client")
        delays.append(arrived - written)
        if flushed is not None:
            to_row.append(flushed - written)
            row_to_client.append(arrived - flushed)
            held += i + 1 < len(chunks) and flushed >= chunks[i + 1][0]
    arrivals = [t for t, _, _ in events]
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    return {
        "chunks": len(chunks),
        "chunk_interval_s": STREAM_DELAY_S,
        "events": len(events),
        "flushes": len(flush_log),
        "event_gap": _summary(gaps) if gaps else None,
        "delay": _summary(delays),
        "chunk_to_row": _summary(to_row) if to_row else None,
        "held_for_next_chunk": held,
        "row_to_client": _summary(row_to_client) if row_to_client else None,
        "flush_every_s": jobs.FLUSH_EVERY_S,
        "clock": "time.monotonic, one process",
    }


# ---------------------------------------------------------------- the run


def run() -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="coolpapers-bench-faq-") as tmp,
        FakeArxiv() as fake_arxiv,
        FakeLLM() as fake_llm,
    ):
        for pid in (PAPER, OTHER):
            fake_arxiv.serve(f"/html/{pid}v1", HTML, content_type="text/html")
        settings = sqlite_settings(
            Path(tmp),
            arxiv_categories="cs.LG",
            arxiv_rss_url=fake_arxiv.rss_url,
            arxiv_api_url=fake_arxiv.api_url,
            arxiv_web_url=fake_arxiv.web_url,
            arxiv_min_interval_s=0.0,
            allow_private_networks=True,  # the fakes are on 127.0.0.1
            llm_base_url=fake_llm.base_url,
            llm_model="fake-model",
            llm_api_key="k",
        )
        engine = make_engine(settings)
        try:
            schema.upgrade(engine)
            report = ingest.ingest_feed_body(
                make_sessionmaker(engine),
                DAY_FILE.read_bytes(),
                source="file",
                target=DAY_FILE.name,
            )
        finally:
            engine.dispose()
        if report.status != "ok":
            raise BenchError(f"ingest: {report.line()}")
        app = create_app(settings, scheduler=False)
        with serve(app) as base_url, _worker(app, settings):
            clicks = _clicks(base_url, app.state.sessionmaker, fake_llm)
            cached = _cached(base_url)
            stream = _stream(base_url, fake_arxiv, fake_llm)
    return {
        "llm_prompt_mode": settings.llm_prompt_mode,
        "llm_concurrency": settings.llm_concurrency,
        "clicks": clicks,
        "cached": cached,
        "stream": stream,
    }


def _ms(seconds: float) -> str:
    return f"{1000 * seconds:.1f} ms"


def _s(seconds: float) -> str:
    return f"{seconds:.3f} s"


def report_lines(result: dict[str, Any]) -> list[str]:
    c, cached, st = result["clicks"], result["cached"], result["stream"]
    get, post, delay = cached["get"], cached["post"], st["delay"]
    gens = c["generations"]
    states = ", ".join(f"{n} {state}" for state, n in sorted(c["ok_by_state"].items()))
    lines = [
        f"FAQ: {c['clicks']} concurrent clicks → {c['upstream_requests']} upstream requests "
        f"({gens} generation{'' if gens == 1 else 's'}; {result['llm_prompt_mode']} mode)",
        f"  {c['answered_ok']} clicks answered ({states}; slowest "
        f"{_s(c['ok_slowest_s'] or 0)}); {c['clicks_counted']} counted on the paper",
    ]
    if c["failed"]:
        codes = ", ".join(f"{n}× HTTP {code}" for code, n in sorted(c["failed_by_status"].items()))
        lines.append(
            f"  !! {c['failed']} of {c['clicks']} clicks failed: {codes} after "
            f"{c['failed_fastest_s']:.1f}–{c['failed_slowest_s']:.1f} s"
        )
        lines += [f"     server: {n}× {text[:110]}" for text, n in c["server_errors"].items()]
    lines += [
        f"cached FAQ GET: median {_ms(get['median'])} (p95 {_ms(get['p95'])}, "
        f"min {_ms(get['min'])}, max {_ms(get['max'])}, n={get['n']}, {cached['bytes']} B)",
        f"cached FAQ POST (a click): median {_ms(post['median'])} (p95 {_ms(post['p95'])}, "
        f"min {_ms(post['min'])}, max {_ms(post['max'])}, n={post['n']})",
        f"chunk → SSE client: median {_s(delay['median'])} (p95 {_s(delay['p95'])}, "
        f"min {_s(delay['min'])}, max {_s(delay['max'])}, n={delay['n']}; "
        f"a chunk every {st['chunk_interval_s']} s; clock: {st['clock']})",
    ]
    to_row, to_client, gap = st["chunk_to_row"], st["row_to_client"], st["event_gap"]
    if to_row and to_client:
        lines.append(
            f"  split: chunk → database row median {_s(to_row['median'])} "
            f"(p95 {_s(to_row['p95'])}; flushes at most every {st['flush_every_s']} s), "
            f"row → SSE client median {_s(to_client['median'])} (p95 {_s(to_client['p95'])}); "
            f"{st['held_for_next_chunk']} of {to_row['n']} chunks reached the row only after the "
            "next one came"
        )
    if gap:
        lines.append(
            f"  {st['events']} SSE events for {st['chunks']} chunks ({st['flushes']} flushes), "
            f"median gap between events {_s(gap['median'])}"
        )
    return lines


if __name__ == "__main__":
    for line in report_lines(run()):
        print(line)
