"""``coolpapers faq ID``: queue a paper's FAQ at admin priority and write it here, printing the
text as it arrives; if a running worker takes the job first, follow that one instead."""

from __future__ import annotations

import sys
import threading
import time

from sqlalchemy.orm import Session, sessionmaker

from coolpapers import ingest
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.errors import NoSuchPaper
from coolpapers.models import Faq
from coolpapers.store import faqs as faq_store
from coolpapers.summarize import jobs

FOLLOW_POLL_S = 0.2


def run_faq(
    settings: Settings, factory: sessionmaker[Session], paper_id: str, lang: str, regenerate: bool
) -> int:
    pid = _ensure_paper(settings, factory, paper_id)
    with session_scope(factory, write=True) as s:
        asked = jobs.request_faq(s, settings, pid, lang, ["cli"], regenerate=regenerate)
        faq_id, state, key = asked.faq.id, asked.faq.state, _key(asked.faq)
    if state == "done":
        return _show(factory, key)
    worker = jobs.FaqWorker(factory, settings)
    claimed = threading.Event()
    writer = threading.Thread(
        target=worker.run_one,
        kwargs={"faq_id": faq_id, "on_claim": lambda _: claimed.set()},
        name="faq-cli",
    )
    writer.start()
    code = _follow(factory, key, writer)
    writer.join()
    worker.stop()
    if not claimed.is_set():
        _note("a running worker wrote this FAQ")
    return code


def _ensure_paper(settings: Settings, factory: sessionmaker[Session], paper_id: str) -> str:
    """The paper's key; fetched from arXiv first when we don't have it (the pipeline's entry)."""
    pipeline = ingest.Pipeline.open(settings, factory)
    try:
        pid = pipeline.arxiv.parse_id(paper_id)
        with session_scope(factory) as s:
            got = ingest.ensure_papers(pipeline, s, [pid])
    finally:
        pipeline.close()
    if pid not in got.papers:
        raise NoSuchPaper(f"{pid} is not on arXiv")
    return pid


def _key(faq: Faq) -> faq_store.FaqKey:
    return faq_store.FaqKey(faq.paper_id, faq.lang, faq.prompt_version, faq.model)


def _get(factory: sessionmaker[Session], key: faq_store.FaqKey) -> Faq:
    with session_scope(factory) as s:
        faq = faq_store.get_faq(s, key)
    assert faq is not None  # request_faq created it; FAQs are never deleted
    return faq


def _note(text: str) -> None:  # progress notes go to stderr, the FAQ itself to stdout
    print(f"[{text}]", file=sys.stderr)


def _follow(factory: sessionmaker[Session], key: faq_store.FaqKey, writer: threading.Thread) -> int:
    """Print the content as it grows until the job ends. A job our writer has left queued (the
    provider's Retry-After, the day's token budget) is not waited for: no worker may be running."""
    shown = 0
    while True:
        faq = _get(factory, key)
        content, state, error = faq.content, faq.state, faq.error
        if len(content) > shown and content.startswith(content[:shown]):
            print(content[shown:], end="", flush=True)
            shown = len(content)
        if state in ("done", "failed"):
            print()
            if state == "failed":
                print(f"coolpapers: the FAQ failed: {error}", file=sys.stderr)
                return 1
            return _provenance(_get(factory, key))
        if state == "queued" and not writer.is_alive():
            print()
            why = error or "it waits for a worker (`coolpapers worker` or `coolpapers serve`)"
            print(f"coolpapers: the FAQ is queued, not written: {why}", file=sys.stderr)
            return 1
        time.sleep(FOLLOW_POLL_S)


def _show(factory: sessionmaker[Session], key: faq_store.FaqKey) -> int:
    faq = _get(factory, key)
    print(faq.content)
    return _provenance(faq)


def _provenance(f: Faq) -> int:
    tokens = (f.tokens_in or 0) + (f.tokens_out or 0)
    print(
        f"[{f.model} · {f.prompt_version} · from the {f.source} · {tokens} tokens"
        f"{' (estimated)' if f.tokens_estimated else ''}]",
        file=sys.stderr,
    )
    return 0
