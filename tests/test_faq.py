"""FAQ jobs end to end: the real app, the real worker, a fake arXiv and a fake LLM on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import ingest
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.models import Faq, Paper
from coolpapers.store import faqs as faq_store
from coolpapers.summarize import jobs, prompts
from coolpapers.web import create_app
from tests.conftest import FIXTURES, RSS, make_settings
from tests.fakes.arxiv_server import FakeArxiv
from tests.fakes.llm_server import FakeLLM, Mode
from tests.hostile_pdfs import deflate_bomb_pdf
from tests.live_server import serve

PAPER = "2608.19234"  # on the cs.LG 2026-08-21 listing
OTHER = "2608.19210"
HTML = FIXTURES / "paper" / "latexml_paper.html"


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        yield fake


@pytest.fixture
def faq_settings(
    database_url: str, tmp_path: Path, fake_arxiv: FakeArxiv, fake_llm: FakeLLM
) -> Settings:
    for pid in (PAPER, OTHER):
        for version in ("v1", "v2", "v3"):
            fake_arxiv.serve(f"/html/{pid}{version}", HTML, content_type="text/html")
    return make_settings(
        database_url,
        tmp_path / "data",
        fake_arxiv,
        llm_base_url=fake_llm.base_url,
        llm_model="fake-model",
        llm_api_key="sk-test",
    )


@pytest.fixture
def faq_app(faq_settings: Settings, engine: object) -> Iterator[TestClient]:
    with TestClient(create_app(faq_settings), follow_redirects=False) as c:
        yield c


@pytest.fixture
def stocked(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    ingest.ingest_files(factory, [RSS / "rss-cs.LG-2026-08-21-fri.xml"])
    return factory


@pytest.fixture
def workers() -> Iterator[list[jobs.FaqWorker]]:
    made: list[jobs.FaqWorker] = []
    yield made
    for w in made:
        w.stop()


@pytest.fixture
def worker(workers: list[jobs.FaqWorker]) -> Any:
    def make(factory: sessionmaker[Session], settings: Settings) -> jobs.FaqWorker:
        w = jobs.FaqWorker(factory, settings)
        workers.append(w)
        return w

    return make


def test_faq_is_written_once_from_the_full_text(
    worker: Any,
    faq_app: TestClient,
    stocked: sessionmaker[Session],
    faq_settings: Settings,
    fake_llm: FakeLLM,
    fake_arxiv: FakeArxiv,
) -> None:
    r = faq_app.post(f"/api/papers/{PAPER}/faq", params={"lang": "en"})
    assert r.status_code == 202 and r.json()["state"] == "queued" and r.json()["position"] == 1
    assert fake_llm.calls == 0  # nothing runs inside the request
    assert worker(stocked, faq_settings).run_one() == "done"
    faq = faq_app.get(f"/api/papers/{PAPER}/faq", params={"lang": "en"}).json()
    assert faq["state"] == "done" and faq["model"] == "fake-model"
    assert faq["prompt_version"] == prompts.PROMPT_VERSION
    assert faq["source"] == "html" and faq["tokens_in"] > 0 and faq["tokens_out"] > 0
    for n, question in enumerate(prompts.QUESTIONS["en"], start=1):
        assert f"**Q**: {question}" in faq["content"]
        assert f"Answer {n} about the paper" in faq["content"]
    assert "<strong>Q</strong>" in faq["html"]
    # one question at a time, in one conversation: six requests, each longer than the last
    assert fake_llm.calls == 6
    sizes = [len(req["messages"]) for req in fake_llm.requests]
    assert sizes == [2, 4, 6, 8, 10, 12]
    first = fake_llm.requests[0]["messages"][1]["content"]
    assert first.index("Triangular") < first.index(prompts.QUESTIONS["en"][0])  # data first
    assert "temperature" not in fake_llm.requests[0]
    assert fake_llm.request_headers[0].get("authorization") == "Bearer sk-test"
    # cached: no upstream call; the same visitor's second click today is not counted again
    again = faq_app.post(f"/api/papers/{PAPER}/faq", params={"lang": "en"}).json()
    assert again["state"] == "done" and again["clicks"] == 1
    assert fake_llm.calls == 6
    page = faq_app.get(f"/arxiv/{PAPER}").text
    assert "Answer 6 about the paper" in page and 'id="faq-clicks-2608.19234">1<' in page
    assert len(fake_arxiv.requests_to(f"/html/{PAPER}v1")) == 1


def test_fifty_clicks_one_generation_and_a_second_language(
    worker: Any, stocked: sessionmaker[Session], faq_settings: Settings, fake_llm: FakeLLM
) -> None:
    with serve(create_app(faq_settings)) as base:

        def click(_: int) -> int:
            with httpx.Client(base_url=base, timeout=30) as c:
                return c.post(f"/api/papers/{PAPER}/faq", params={"lang": "zh"}).status_code

        with ThreadPoolExecutor(max_workers=50) as pool:  # all at once
            statuses = list(pool.map(click, range(50)))
        assert set(statuses) <= {200, 202} and statuses.count(202) >= 1
        w = worker(stocked, faq_settings)
        assert w.run_one() == "done"
        assert w.run_one() is None  # nothing else was queued
        assert fake_llm.calls == 6
        with httpx.Client(base_url=base) as c:
            c.post(f"/api/papers/{PAPER}/faq", params={"lang": "en"})
        assert w.run_one() == "done"
        assert fake_llm.calls == 12
        with session_scope(stocked) as s:
            assert faq_store.queue_counts(s)["done"] == 2
            paper = s.get(Paper, PAPER)
            # 51 clicks from one address without a cookie: one visitor, counted once today
            assert paper is not None and paper.faq_clicks == 1


def test_viewer_leaving_mid_stream_does_not_truncate(
    worker: Any, stocked: sessionmaker[Session], faq_settings: Settings, fake_llm: FakeLLM
) -> None:
    fake_llm.default = Mode.ok(chunks=6, chunk_delay_s=0.05)
    app = create_app(faq_settings, scheduler=False)
    with serve(app) as base:
        w = worker(stocked, faq_settings)
        w.start()
        try:
            with httpx.Client(base_url=base, timeout=30) as c:
                c.post(f"/api/papers/{PAPER}/faq", params={"lang": "en"})
                seen = []
                url = f"/api/papers/{PAPER}/faq/stream"
                with c.stream("GET", url, params={"lang": "en"}) as stream:
                    for line in stream.iter_lines():
                        if line.startswith("data: "):
                            seen.append(json.loads(line[6:]))
                        if any(e["state"] == "generating" and e["content"] for e in seen):
                            break  # the viewer leaves while the answer is being written
            deadline = time.monotonic() + 20
            state = ""
            while time.monotonic() < deadline and state != "done":
                time.sleep(0.1)
                state = httpx.get(f"{base}/api/papers/{PAPER}/faq?lang=en").json()["state"]
        finally:
            w.stop()
    assert state == "done"
    with session_scope(stocked) as s:
        faq = s.query(Faq).one()
        assert all(f"Answer {n} about" in faq.content for n in range(1, 7))


def test_stream_replays_then_follows_to_the_end(
    worker: Any, faq_app: TestClient, stocked: sessionmaker[Session], faq_settings: Settings
) -> None:
    faq_app.post(f"/api/papers/{PAPER}/faq", params={"lang": "en"})
    w = worker(stocked, faq_settings)
    runner = threading.Thread(target=w.run_one)
    runner.start()
    with faq_app.stream("GET", f"/api/papers/{PAPER}/faq/stream?lang=en") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(x[6:]) for x in r.iter_lines() if x.startswith("data: ")]
    runner.join()
    lengths = [len(e["content"]) for e in events]
    assert lengths == sorted(lengths) and events[-1]["state"] == "done"
    # a late viewer gets everything at once
    with faq_app.stream("GET", f"/api/papers/{PAPER}/faq/stream?lang=en") as r:
        late = [json.loads(x[6:]) for x in r.iter_lines() if x.startswith("data: ")]
    assert len(late) == 1 and late[0]["content"] == events[-1]["content"]


def test_quota_error_fails_with_the_reason_and_a_click_retries(
    worker: Any,
    faq_app: TestClient,
    stocked: sessionmaker[Session],
    faq_settings: Settings,
    fake_llm: FakeLLM,
) -> None:
    fake_llm.script([Mode.quota()])
    faq_app.post(f"/api/papers/{PAPER}/faq", params={"lang": "en"})
    assert worker(stocked, faq_settings).run_one() == "failed"
    failed = faq_app.get(f"/api/papers/{PAPER}/faq?lang=en").json()
    assert failed["state"] == "failed" and "quota" in failed["error"]
    assert fake_llm.calls == 1  # billing errors are not retried
    assert faq_app.post(f"/api/papers/{PAPER}/faq?lang=en").json()["state"] == "queued"
    assert worker(stocked, faq_settings).run_one() == "done"
    status = faq_app.get("/api/status").json()["faq"]
    assert status["today"]["failures"] == 1 and status["today"]["generations"] == 1
    page = faq_app.get("/status").text
    assert "1 done, 0 failed" in page and "fake-model" in page


def test_cut_stream_is_never_stored_as_done(
    worker: Any,
    faq_app: TestClient,
    stocked: sessionmaker[Session],
    faq_settings: Settings,
    fake_llm: FakeLLM,
) -> None:
    fake_llm.script([Mode.ok(), Mode.cut(after_chunks=2)])  # Q2's answer is cut off
    faq_app.post(f"/api/papers/{PAPER}/faq", params={"lang": "en"})
    w = worker(stocked, faq_settings)
    assert w.run_one() == "queued"  # text had reached viewers: the job restarts from scratch
    requeued = faq_app.get(f"/api/papers/{PAPER}/faq?lang=en").json()
    assert requeued["state"] == "queued" and requeued["content"] == ""
    assert "cut off" in requeued["error"]
    assert w.run_one() == "done"
    done = faq_app.get(f"/api/papers/{PAPER}/faq?lang=en").json()
    assert done["attempts"] == 2 and "Answer 6 about" in done["content"]


def test_hostile_output_is_sanitized(
    worker: Any,
    faq_app: TestClient,
    stocked: sessionmaker[Session],
    faq_settings: Settings,
    fake_llm: FakeLLM,
) -> None:
    fake_llm.default = Mode.hostile()
    faq_app.post(f"/api/papers/{PAPER}/faq", params={"lang": "en"})
    assert worker(stocked, faq_settings).run_one() == "done"
    html = faq_app.get(f"/api/papers/{PAPER}/faq?lang=en").json()["html"]
    page = faq_app.get(f"/arxiv/{PAPER}").text
    section = page.split('id="faq"', 1)[1].split("</section>", 1)[0]
    for text in (html, section):
        assert "<script" not in text and "<img" not in text and "<iframe" not in text
        assert "javascript:" not in text.replace("javascript:alert(1))", "")  # shown as text only
        assert 'href="javascript' not in text
    assert '<math alttext="$a^2 + b^2 = c^2$"><msup><mi>a</mi><mn>2</mn></msup>' in html


def test_without_an_llm_the_button_says_how_to_configure_one(
    client: TestClient, stocked: sessionmaker[Session]
) -> None:
    r = client.post(f"/api/papers/{PAPER}/faq", params={"lang": "en"})
    assert r.status_code == 503 and "COOLPAPERS_LLM_BASE_URL" in r.json()["error"]
    page = client.get(f"/arxiv/{PAPER}").text
    assert "FAQ generation is off" in page and "COOLPAPERS_LLM_MODEL" in page
    assert 'data-off="1"' in client.get("/arxiv/cs.LG").text


def test_daily_quota_and_token_budget(
    worker: Any,
    database_url: str,
    tmp_path: Path,
    fake_arxiv: FakeArxiv,
    fake_llm: FakeLLM,
    faq_settings: Settings,
    engine: object,
    stocked: sessionmaker[Session],
) -> None:
    tight = faq_settings.model_copy(update={"faq_daily_quota": 1, "llm_daily_token_budget": 50})
    with TestClient(create_app(tight)) as c:
        assert c.post(f"/api/papers/{PAPER}/faq?lang=en").status_code == 202
        over = c.post(f"/api/papers/{OTHER}/faq?lang=en")
        assert over.status_code == 429 and "daily limit" in over.json()["error"]
        assert c.get(f"/api/papers/{PAPER}/faq?lang=en").status_code == 200  # reading is free
        assert worker(stocked, tight).run_one() == "done"  # spends more than 50 tokens
        roomy = tight.model_copy(update={"faq_daily_quota": 10})
    with TestClient(create_app(roomy)) as c:
        spent = c.post(f"/api/papers/{OTHER}/faq?lang=en")
        assert spent.status_code == 429 and "budget" in spent.json()["error"]
        assert c.post(f"/api/papers/{PAPER}/faq?lang=en").json()["state"] == "done"  # cached


def _let_time_pass(factory: sessionmaker[Session], faq_id: int | None = None) -> None:
    """Move every lease and not-before time of the FAQ rows into the past, as the clock would:
    tests of expiry then do not race a short real lease on a busy machine."""
    past = datetime.now(UTC) - timedelta(seconds=1)
    with session_scope(factory, write=True) as s:
        q = update(Faq).where(Faq.lease_expires.is_not(None))
        if faq_id is not None:
            q = q.where(Faq.id == faq_id)
        s.execute(q.values(lease_expires=past))


def test_dead_worker_lease_expires_and_the_job_is_retried(
    worker: Any, faq_app: TestClient, stocked: sessionmaker[Session], faq_settings: Settings
) -> None:
    faq_app.post(f"/api/papers/{PAPER}/faq", params={"lang": "en"})
    with session_scope(stocked, write=True) as s:
        dead = faq_store.claim(s, "dead-worker", lease_s=jobs.LEASE_S)
        assert dead is not None
    assert worker(stocked, faq_settings).run_one() is None  # still leased
    _let_time_pass(stocked, dead.id)  # the dead worker's lease runs out
    assert worker(stocked, faq_settings).run_one() == "done"
    assert faq_app.get(f"/api/papers/{PAPER}/faq?lang=en").json()["attempts"] == 2


def test_workers_dying_on_every_run_spend_the_budget_and_fail(
    worker: Any, faq_app: TestClient, stocked: sessionmaker[Session], faq_settings: Settings
) -> None:
    faq_app.post(f"/api/papers/{PAPER}/faq", params={"lang": "en"})
    for n in range(jobs.MAX_ATTEMPTS):
        with session_scope(stocked, write=True) as s:
            assert faq_store.claim(s, f"dead-worker-{n}", lease_s=jobs.LEASE_S) is not None
        _let_time_pass(stocked)
    assert worker(stocked, faq_settings).run_one() == "failed"  # no fourth upstream call
    failed = faq_app.get(f"/api/papers/{PAPER}/faq?lang=en").json()
    assert failed["state"] == "failed" and "gave up after 3 attempts" in failed["error"]


# -- what a failing provider may cost (issue 8: 12 calls on a 429, 8 on a 500) --------------------


class Waits:
    """The client's sleep: records the waits between retries instead of sleeping them."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def _recording_worker(
    workers: list[jobs.FaqWorker], factory: sessionmaker[Session], settings: Settings
) -> tuple[jobs.FaqWorker, Waits]:
    waits = Waits()
    generator = jobs.build_generator(factory, settings, sleep=waits)
    w = jobs.FaqWorker(factory, settings, generator)
    workers.append(w)
    return w, waits


def _run_until_settled(
    workers: list[jobs.FaqWorker], factory: sessionmaker[Session], settings: Settings
) -> list[str | None]:
    """Run the job again each time it goes back to the queue (its waits let pass), until it
    ends; bounded, so a job retried forever fails the test instead of hanging it. Each run is a
    new worker, as after a restart: only what the database keeps carries over."""
    states: list[str | None] = []
    for _ in range(10):
        w, _ = _recording_worker(workers, factory, settings)
        states.append(w.run_one())
        if states[-1] != "queued":
            break
        _let_time_pass(factory)
    return states


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        (Mode.rate_limited(), "rate limiting"),
        (Mode.status(500), "HTTP 500"),
        (Mode.status(503), "HTTP 503"),
        (Mode.stall(60), "stopped answering"),
        (Mode.cut(after_chunks=2), "cut off"),  # text reached viewers: only whole-job retries
        (Mode.midstream_error(after_chunks=0), "provider failed"),
        (Mode.rate_limited(retry_after=3000), "asked us to wait until"),
    ],
    ids=["429", "500", "503", "stall", "cut", "stream-error", "429-retry-after-3000"],
)
def test_a_failing_provider_costs_at_most_three_calls_per_job(
    workers: list[jobs.FaqWorker],
    faq_app: TestClient,
    stocked: sessionmaker[Session],
    faq_settings: Settings,
    fake_llm: FakeLLM,
    mode: Mode,
    reason: str,
) -> None:
    fake_llm.default = mode
    settings = faq_settings.model_copy(update={"llm_stall_timeout_s": 0.3})
    faq_app.post(f"/api/papers/{PAPER}/faq", params={"lang": "en"})
    states = _run_until_settled(workers, stocked, settings)
    assert states[-1] == "failed"
    assert fake_llm.calls <= jobs.MAX_ATTEMPTS == 3  # client and job retries together
    faq = faq_app.get(f"/api/papers/{PAPER}/faq?lang=en").json()
    assert faq["state"] == "failed" and reason in faq["error"]
    assert faq["attempts"] == fake_llm.calls
    print(f"upstream calls for a failing job ({mode.kind} {mode.code}): {fake_llm.calls}")


def test_retry_after_holds_every_job_until_it_ends(
    workers: list[jobs.FaqWorker],
    faq_app: TestClient,
    stocked: sessionmaker[Session],
    faq_settings: Settings,
    fake_llm: FakeLLM,
) -> None:
    fake_llm.script([Mode.rate_limited(retry_after=3000)])
    faq_app.post(f"/api/papers/{PAPER}/faq", params={"lang": "en"})
    w, waits = _recording_worker(workers, stocked, faq_settings)
    assert w.run_one() == "queued"  # waits in the queue: nobody sleeps 50 minutes in a thread
    assert fake_llm.calls == 1 and waits.delays == []
    held = faq_app.get(f"/api/papers/{PAPER}/faq?lang=en").json()
    assert held["state"] == "queued" and "asked us to wait until" in held["error"]
    # during the wait: no call for this job, nor for another one, in this worker or another
    # process's (a new generator: nothing shared in memory)
    faq_app.post(f"/api/papers/{OTHER}/faq", params={"lang": "en"})
    other, _ = _recording_worker(workers, stocked, faq_settings)
    assert w.run_one() is None and other.run_one() is None
    assert faq_app.post(f"/api/papers/{PAPER}/faq", params={"lang": "en"}).json()["state"] == (
        "queued"
    )
    assert w.run_one() is None
    assert fake_llm.calls == 1
    _let_time_pass(stocked)  # the wait is over (a new worker: the old one's clock did not move)
    later, _ = _recording_worker(workers, stocked, faq_settings)
    assert later.run_one() == "done" and later.run_one() == "done"
    assert fake_llm.calls == 1 + 12


def test_a_short_retry_after_is_waited_out_before_the_next_call(
    worker: Any,
    faq_app: TestClient,
    stocked: sessionmaker[Session],
    faq_settings: Settings,
    fake_llm: FakeLLM,
) -> None:
    fake_llm.script([Mode.rate_limited(retry_after=1), Mode.status(503, retry_after=1)])
    faq_app.post(f"/api/papers/{PAPER}/faq", params={"lang": "en"})
    assert worker(stocked, faq_settings).run_one() == "done"  # really sleeps
    first, second, third = fake_llm.request_times[:3]
    assert second - first >= 1.0 and third - second >= 1.0  # nothing before the wait ended
    assert fake_llm.calls == 3 + 5
    assert faq_app.get(f"/api/papers/{PAPER}/faq?lang=en").json()["attempts"] == 3


def test_a_runaway_provider_is_cut_by_our_output_cap(
    workers: list[jobs.FaqWorker],
    faq_app: TestClient,
    stocked: sessionmaker[Session],
    faq_settings: Settings,
    fake_llm: FakeLLM,
) -> None:
    # ignores max_tokens and would stream 64 MB (a 30-minute deadline away) without an end
    fake_llm.default = Mode.runaway(max_bytes=64 * 1024 * 1024)
    faq_app.post(f"/api/papers/{PAPER}/faq", params={"lang": "en"})
    w, waits = _recording_worker(workers, stocked, faq_settings)
    assert w.run_one() == "done"
    faq = faq_app.get(f"/api/papers/{PAPER}/faq?lang=en").json()
    assert faq["state"] == "done" and faq["truncated_output"] and faq["attempts"] == 1
    cap = 8 * faq_settings.llm_max_output_tokens  # the derived default
    assert cap < len(faq["content"]) < cap + 2000  # the cut answer, with its question
    assert fake_llm.calls == 1 and waits.delays == []  # not retried, no other question asked
    sent = fake_llm.bytes_sent[0]
    # what we read: the cap's worth of small SSE events; what the fake got into the socket
    # buffers on top before we closed stays small next to the 64 MB offered
    assert sent < 8 * 1024 * 1024
    print(f"bytes a runaway provider sent before we hung up: {sent}")
    assert w.run_one() is None  # nothing left to retry


def test_a_hostile_pdf_ends_the_faq_with_a_clear_error(
    worker: Any,
    faq_app: TestClient,
    stocked: sessionmaker[Session],
    faq_settings: Settings,
    fake_arxiv: FakeArxiv,
    fake_llm: FakeLLM,
) -> None:
    bomb = deflate_bomb_pdf()  # 2.5 MB inflating to 800 MB: it took the server to 10 GB
    for version in ("v1", "v2", "v3"):
        fake_arxiv.serve(f"/html/{PAPER}{version}", b"gone", status=404, content_type="text/html")
        fake_arxiv.serve(f"/pdf/{PAPER}{version}", bomb, content_type="application/pdf")
    settings = faq_settings.model_copy(update={"pdf_memory_mb": 512})
    faq_app.post(f"/api/papers/{PAPER}/faq", params={"lang": "en"})
    w = worker(stocked, settings)
    assert w.run_one() == "failed"
    assert w.run_one() is None  # no retry loop on a hostile file
    faq = faq_app.get(f"/api/papers/{PAPER}/faq?lang=en").json()
    assert faq["state"] == "failed" and faq["attempts"] == 1
    assert "no usable text of the paper" in faq["error"]
    assert "over the reader's limits (more than 512 MB of memory)" in faq["error"]
    assert fake_llm.calls == 0


def test_priority_latest_listing_first_and_queue_positions(
    faq_app: TestClient, stocked: sessionmaker[Session], fake_arxiv: FakeArxiv
) -> None:
    fake_arxiv.serve_wrapped(
        FIXTURES / "arxiv" / "api" / "api-2026-idlist-oldstyle-astro-ph_0601001.wrapped.json"
    )
    old = faq_app.post("/api/papers/astro-ph/0601001/faq?lang=en").json()
    new = faq_app.post(f"/api/papers/{PAPER}/faq?lang=en").json()
    assert old["position"] == 1 and new["position"] == 1  # the new listing jumps the queue
    assert faq_app.get("/api/papers/astro-ph/0601001/faq?lang=en").json()["position"] == 2


def test_bad_faq_requests(faq_app: TestClient, stocked: sessionmaker[Session]) -> None:
    assert faq_app.post(f"/api/papers/{PAPER}/faq?lang=fr").status_code == 400
    assert faq_app.post("/api/papers/not-an-id/faq?lang=en").status_code == 400
    assert faq_app.get(f"/api/papers/{PAPER}/faq?lang=en").json()["state"] == "none"


def test_form_path_without_javascript(
    faq_app: TestClient, stocked: sessionmaker[Session], faq_settings: Settings
) -> None:
    r = faq_app.post(f"/arxiv/{PAPER}/faq?lang=en")
    assert r.status_code == 303 and r.headers["location"] == f"/arxiv/{PAPER}?faq=en#faq"
    assert "Queued" in faq_app.get(f"/arxiv/{PAPER}").text


def test_cli_writes_and_prints_the_faq(
    faq_settings: Settings,
    stocked: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from coolpapers.cli import main

    for name, value in faq_settings.model_dump().items():
        if value is not None:
            monkeypatch.setenv(f"COOLPAPERS_{name.upper()}", str(value))
    assert main(["faq", PAPER, "--lang", "en"]) == 0
    out = capsys.readouterr()
    assert "Answer 6 about the paper" in out.out and "fake-model" in out.err


def test_cli_does_not_wait_forever_for_a_job_the_provider_put_off(
    faq_settings: Settings,
    stocked: sessionmaker[Session],
    fake_llm: FakeLLM,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A Retry-After puts the job back in the queue; with no worker running, the CLI says so and
    exits instead of following a job nobody will take (it used to poll forever)."""
    from coolpapers.cli import main

    for name, value in faq_settings.model_dump().items():
        if value is not None:
            monkeypatch.setenv(f"COOLPAPERS_{name.upper()}", str(value))
    fake_llm.script([Mode.rate_limited(retry_after=3000)])
    assert main(["faq", PAPER, "--lang", "en"]) == 1
    err = capsys.readouterr().err
    assert "queued, not written" in err and "asked us to wait until" in err


def test_on_a_lab_instance_only_members_have_faqs_written(
    worker: Any, stocked: sessionmaker[Session], faq_settings: Settings, fake_llm: FakeLLM
) -> None:
    """With accounts on, an anonymous reader may read a FAQ but not have one written (401, and
    no job, no LLM call); a member may, on their own quota; once written, everyone reads it."""
    from coolpapers import accounts
    from coolpapers.models import utcnow

    settings = faq_settings.model_copy(update={"auth": "password"})
    accounts.add_member(stocked, "writer", "a long password", admin=False, now=utcnow())
    url = f"/api/papers/{PAPER}/faq"
    with TestClient(create_app(settings), follow_redirects=False) as anonymous:
        refused = anonymous.post(url, params={"lang": "en"})
        assert refused.status_code == 401 and "log in" in refused.json()["error"]
        assert anonymous.get(url, params={"lang": "en"}).json()["state"] == "none"
        form = anonymous.post(f"/arxiv/{PAPER}/faq", params={"lang": "en"})
        assert form.status_code == 401
        with TestClient(create_app(settings), follow_redirects=False) as member:
            login = {"username": "writer", "password": "a long password"}
            assert member.post("/login", data=login).status_code == 303
            asked = member.post(url, params={"lang": "en"})
            assert asked.status_code == 202 and asked.json()["state"] == "queued"
            assert "cp_visitor" not in asked.cookies  # the member's quota, not a browser's
        assert worker(stocked, settings).run_one() == "done"
        read = anonymous.post(url, params={"lang": "en"})
        assert read.status_code == 200 and read.json()["state"] == "done"
    assert fake_llm.calls == 6
