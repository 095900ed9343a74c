"""``coolpapers faq ID``: queue a paper's FAQ at admin priority and write it here, printing the
text as it arrives; if a running worker takes the job first, follow that one instead."""

from __future__ import annotations

import sys
import threading
import time

from sqlalchemy.orm import Session, sessionmaker

from coolpapers import http, ingest
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.http import Fetcher
from coolpapers.identifiers import parse_id
from coolpapers.models import Faq
from coolpapers.store import get_paper
from coolpapers.summarize import jobs

FOLLOW_POLL_S = 0.2


def run_faq(
    settings: Settings, factory: sessionmaker[Session], paper_id: str, lang: str, regenerate: bool
) -> int:
    fetcher = http.arxiv_fetcher(settings)
    try:
        pid = _ensure_paper(settings, factory, fetcher, paper_id)
    finally:
        fetcher.close()
    with session_scope(factory, write=True) as s:
        asked = jobs.request_faq(s, settings, pid, lang, ["cli"], regenerate=regenerate)
        faq_id, state = asked.faq.id, asked.faq.state
    if state == "done":
        return _show(factory, faq_id)
    worker = jobs.FaqWorker(factory, settings)
    claimed = threading.Event()
    writer = threading.Thread(
        target=worker.run_one,
        kwargs={"faq_id": faq_id, "on_claim": lambda _: claimed.set()},
        name="faq-cli",
    )
    writer.start()
    code = _follow(factory, faq_id)
    writer.join()
    worker.stop()
    if not claimed.is_set():
        _note("a running worker wrote this FAQ")
    return code


def _ensure_paper(
    settings: Settings, factory: sessionmaker[Session], fetcher: Fetcher, paper_id: str
) -> str:
    pid = parse_id(paper_id).id
    with session_scope(factory) as s:
        if get_paper(s, pid) is not None:
            return pid
    ingest.fetch_paper(factory, fetcher, settings, pid)
    return pid


def _note(text: str) -> None:  # progress notes go to stderr, the FAQ itself to stdout
    print(f"[{text}]", file=sys.stderr)


def _follow(factory: sessionmaker[Session], faq_id: int) -> int:
    """Print the content as it grows until the job ends."""
    shown = 0
    while True:
        with session_scope(factory) as s:
            faq = s.get(Faq, faq_id)
            assert faq is not None
            content, state, error = faq.content, faq.state, faq.error
        if len(content) > shown and content.startswith(content[:shown]):
            print(content[shown:], end="", flush=True)
            shown = len(content)
        if state in ("done", "failed"):
            print()
            if state == "failed":
                print(f"coolpapers: the FAQ failed: {error}", file=sys.stderr)
                return 1
            return _provenance(factory, faq_id)
        time.sleep(FOLLOW_POLL_S)


def _show(factory: sessionmaker[Session], faq_id: int) -> int:
    with session_scope(factory) as s:
        faq = s.get(Faq, faq_id)
        assert faq is not None
        print(faq.content)
    return _provenance(factory, faq_id)


def _provenance(factory: sessionmaker[Session], faq_id: int) -> int:
    with session_scope(factory) as s:
        f = s.get(Faq, faq_id)
        assert f is not None
        tokens = (f.tokens_in or 0) + (f.tokens_out or 0)
        print(
            f"[{f.model} · {f.prompt_version} · from the {f.source} · {tokens} tokens"
            f"{' (estimated)' if f.tokens_estimated else ''}]",
            file=sys.stderr,
        )
    return 0
