"""FAQ jobs: enqueue (single-flight), claim with a lease, generate, stream into the database.

A generation never runs inside a web request. Workers (threads of ``coolpapers worker`` or of
``coolpapers serve``'s embedded scheduler) claim queued rows; the text is written to the row as
it streams in, so any web process can follow it. A worker that dies leaves a lease that expires,
and the job is taken again from scratch.

What a failing provider may cost: one budget of ``MAX_ATTEMPTS`` upstream attempts per job, kept
on the row (``attempts``) so it survives restarts: the claim pays the first call of a run, each
client retry one more; a job whose budget is spent fails. A wait the provider asks for
(Retry-After) is kept on the row as a not-before time and holds every job of that model until it
ends (``store.faqs.provider_hold``): no call is made before it. An answer streaming past our own
output cap (a provider ignoring max_tokens) is cut, stored as done with ``truncated_output``,
and nothing more is asked of that provider for the job.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from coolpapers import http, store
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.errors import (
    BlockedAddress,
    CoolpapersError,
    FetchError,
    LimitReached,
    LLMAuthError,
    LLMBadRequest,
    LLMError,
    LLMIncomplete,
    LLMQuotaExceeded,
    LLMRateLimited,
    LLMTimeout,
    NotConfigured,
    PaperTextError,
    SourceError,
)
from coolpapers.http import Fetcher
from coolpapers.models import Faq, Paper
from coolpapers.store import faqs as faq_store
from coolpapers.summarize import prompts
from coolpapers.summarize.client import ChatClient
from coolpapers.summarize.paper_text import PaperTextSource, estimate_tokens, fit_to_budget
from coolpapers.summarize.pdf_sandbox import PdfLimits
from coolpapers.summarize.provider import ProviderConfig, make_http_client

log = logging.getLogger(__name__)

LEASE_S = 120.0  # renewed on every flush; a dead worker's job is retried after this
FLUSH_EVERY_S = 0.1  # how often streamed text reaches the database (and so the viewers)
MAX_ATTEMPTS = 3  # upstream attempts one job may spend on errors: client and job retries together
MAX_HOLD_S = 7 * 86400.0  # a longer Retry-After is taken as this long (a broken header)
IDLE_POLL_S = 1.0

SessionFactory = sessionmaker[Session]


def faq_key(settings: Settings, paper_id: str, lang: str) -> faq_store.FaqKey:
    return faq_store.FaqKey(paper_id, lang, prompts.PROMPT_VERSION, settings.llm_model)


def utc_today() -> datetime:
    return datetime.now(UTC)


def priority_for(session: Session, paper_id: str) -> int:
    """Papers on the newest listing day go first, then older ones (papers.cool's order)."""
    newest = store.newest_listing_day(session)
    listings = store.paper_listings(session, paper_id)
    if newest is not None and any(row.date == newest for row in listings):
        return faq_store.PRIORITY_LATEST
    return faq_store.PRIORITY_OLDER


@dataclass(frozen=True)
class Enqueued:
    faq: Faq
    created: bool
    position: int | None


def request_faq(
    session: Session,
    settings: Settings,
    paper_id: str,
    lang: str,
    visitor: list[str],
    *,
    regenerate: bool = False,
) -> Enqueued:
    """A click on the FAQ button: return the existing FAQ or queue a new generation.

    Only a new generation (or a retry of a failed one) costs quota; cached FAQs are free.
    Call inside a write scope.
    """
    if not settings.llm_configured:
        raise NotConfigured("no LLM is configured: set COOLPAPERS_LLM_BASE_URL and LLM_MODEL")
    if lang not in prompts.LANGS:
        raise ValueError(lang)
    key = faq_key(settings, paper_id, lang)
    faq = faq_store.get_faq(session, key)
    needs_run = faq is None or faq.state == "failed" or (regenerate and faq.state == "done")
    if needs_run:
        _check_limits(session, settings, visitor, admin=regenerate)
    priority = faq_store.PRIORITY_ADMIN if regenerate else priority_for(session, paper_id)
    created = False
    if faq is None:
        faq, created = faq_store.enqueue(session, key, priority, visitor[-1])
    elif needs_run:
        faq_store.requeue(session, faq, priority)
        created = True
    session.flush()
    return Enqueued(faq, created, faq_store.queue_position(session, faq))


def _check_limits(session: Session, settings: Settings, visitor: list[str], *, admin: bool) -> None:
    today = utc_today().date()
    budget = settings.llm_daily_token_budget
    if budget and faq_store.tokens_spent(session, today) >= budget:
        raise LimitReached(
            "today's token budget for new FAQs is spent; cached FAQs still open, "
            "new ones can be asked for again tomorrow (UTC)"
        )
    if not admin and not faq_store.take_quota(session, visitor, today, settings.faq_daily_quota):
        raise LimitReached(
            f"you have asked for {settings.faq_daily_quota} new FAQs today, the daily limit; "
            "cached FAQs still open"
        )


# ---------------------------------------------------------------- generation


class _Progress:
    """The text so far, written to the row at most every FLUSH_EVERY_S.

    Text that arrives inside that interval is written by a timer when it ends, so a slow
    stream reaches viewers after at most one interval, not after the next chunk.
    """

    def __init__(self, factory: SessionFactory, faq_id: int, holder: str) -> None:
        self.factory, self.faq_id, self.holder = factory, faq_id, holder
        self.content = ""
        self.lost = False
        self._flushed_at = 0.0
        self._flushed_len = -1
        self._write_lock = threading.Lock()  # the stream's thread and the timer both write
        self._timer: threading.Timer | None = None

    def set(self, content: str, *, force: bool = False) -> None:
        if self.lost:
            raise _LeaseLost()
        self.content = content
        wait = FLUSH_EVERY_S - (time.monotonic() - self._flushed_at)
        if force or wait <= 0:
            self.flush()
        elif self._timer is None:
            self._timer = threading.Timer(wait, self._timed_flush)
            self._timer.daemon = True
            self._timer.start()

    def _timed_flush(self) -> None:
        self._timer = None
        with contextlib.suppress(_LeaseLost):  # seen by the stream's thread via ``lost``
            self.flush()

    def flush(self) -> None:
        with self._write_lock:
            content = self.content
            if self.lost or len(content) == self._flushed_len:
                return
            with session_scope(self.factory, write=True) as s:
                ok = faq_store.write_progress(s, self.faq_id, self.holder, content, LEASE_S)
            self._flushed_at = time.monotonic()
            self._flushed_len = len(content)
            if not ok:
                self.lost = True
                raise _LeaseLost()

    def close(self) -> None:
        timer = self._timer
        if timer is not None:
            timer.cancel()


class _LeaseLost(Exception):
    """Another worker owns the job now (ours expired); stop without writing anything."""


class _JobBudget:
    """The job's retry budget, on its row: each retry charges ``attempts`` (the claim paid the
    run's first call), up to MAX_ATTEMPTS, so a restarted worker cannot spend it again."""

    def __init__(self, factory: SessionFactory, faq_id: int, holder: str) -> None:
        self.factory, self.faq_id, self.holder = factory, faq_id, holder

    def take(self) -> bool:
        with session_scope(self.factory, write=True) as s:
            return faq_store.charge_attempt(s, self.faq_id, self.holder, MAX_ATTEMPTS)


@dataclass
class _Tokens:
    tokens_in: int = 0
    tokens_out: int = 0
    estimated: bool = False


@dataclass
class _Asking:
    """One run's conversation state: where text goes, what it cost, what pays for retries."""

    progress: _Progress
    tokens: _Tokens
    budget: _JobBudget
    runaway: bool = False  # the last answer was cut at our own output cap


class FaqGenerator:
    """Runs claimed FAQ jobs. Thread-safe: one instance serves every worker thread."""

    def __init__(
        self,
        factory: SessionFactory,
        settings: Settings,
        client: ChatClient,
        texts: PaperTextSource,
        fetcher: Fetcher,
    ) -> None:
        self.factory, self.settings, self.client, self.texts = factory, settings, client, texts
        self.fetcher = fetcher

    def close(self) -> None:
        self.client.close()
        self.fetcher.close()

    def run(self, faq: Faq, holder: str) -> str:
        """Generate ``faq`` (already claimed by ``holder``); returns the final state."""
        if faq.attempts > MAX_ATTEMPTS:  # its budget went on runs whose workers stopped
            reason = f"gave up after {MAX_ATTEMPTS} attempts (the workers running it stopped)"
            with session_scope(self.factory, write=True) as s:
                faq_store.finish(s, faq.id, holder, state="failed", content="", error=reason)
            return "failed"
        progress = _Progress(self.factory, faq.id, holder)
        tokens = _Tokens()
        budget = _JobBudget(self.factory, faq.id, holder)
        try:
            self._generate(faq, progress, tokens, budget)
        except _LeaseLost:
            log.warning("FAQ %s: lease lost, another worker has it", faq.id)
            return "lost"
        except (LLMError, PaperTextError, SourceError) as exc:
            return self._failed(faq, holder, exc, tokens, progress)
        finally:
            progress.close()
        with session_scope(self.factory, write=True) as s:
            faq_store.finish(
                s,
                faq.id,
                holder,
                state="done",
                content=progress.content,
                tokens_in=tokens.tokens_in,
                tokens_out=tokens.tokens_out,
                tokens_estimated=tokens.estimated,
            )
            faq_store.add_usage(
                s, utc_today().date(), tokens.tokens_in, tokens.tokens_out, failed=False
            )
        return "done"

    def _generate(self, faq: Faq, progress: _Progress, tokens: _Tokens, budget: _JobBudget) -> None:
        with session_scope(self.factory) as s:
            paper = s.get(Paper, faq.paper_id)
            if paper is None:
                raise PaperTextError(f"{faq.paper_id} is not stored")
            title, version = paper.title, paper.version
        text = self.texts.get(faq.paper_id, version)
        body, truncated = fit_to_budget(
            prompts.clean_paper_text(text.text), self.settings.llm_input_token_budget
        )
        truncated = truncated or text.truncated
        with session_scope(self.factory, write=True) as s:
            row = s.get(Faq, faq.id)
            if row is not None:
                row.source, row.source_url, row.paper_version = text.source, text.url, version
                row.truncated_input = truncated
        paper_msg = prompts.paper_message(title, body, faq.lang, truncated)
        asking = _Asking(progress, tokens, budget)
        if self.settings.llm_prompt_mode == "single":
            self._single(faq.lang, paper_msg, truncated, asking)
        else:
            self._sequential(faq.lang, paper_msg, truncated, asking)
        progress.flush()

    def _ask(self, messages: list[dict[str, str]], shown_before: str, asking: _Asking) -> str:
        progress, tokens = asking.progress, asking.tokens
        parts: list[str] = []

        def on_delta(delta: str) -> None:
            parts.append(delta)
            progress.set(shown_before + "".join(parts))

        result = self.client.stream_chat(messages, on_delta, budget=asking.budget)
        asking.runaway = result.runaway
        if result.tokens_in is None or result.tokens_out is None:
            tokens.estimated = True
            tokens.tokens_in += estimate_tokens("\n".join(m["content"] for m in messages))
            tokens.tokens_out += estimate_tokens(result.text)
        else:
            tokens.tokens_in += result.tokens_in
            tokens.tokens_out += result.tokens_out
        if result.truncated:
            with session_scope(self.factory, write=True) as s:
                row = s.get(Faq, progress.faq_id)
                if row is not None:
                    row.truncated_output = True
        return result.text

    def _sequential(self, lang: str, paper_msg: str, truncated: bool, asking: _Asking) -> None:
        answers: list[tuple[str, str]] = []
        messages = [{"role": "system", "content": prompts.system_prompt(lang)}]
        for i, question in enumerate(prompts.QUESTIONS[lang]):
            content = f"{paper_msg}\n\n{question}" if i == 0 else question
            messages.append({"role": "user", "content": content})
            shown = prompts.format_faq(lang, answers, truncated_input=truncated)
            shown += f"**Q**: {question}\n\n**A**: "
            answer = self._ask(messages, shown, asking)
            messages.append({"role": "assistant", "content": answer})
            answers.append((question, answer.strip()))
            progress = asking.progress
            progress.set(prompts.format_faq(lang, answers, truncated_input=truncated), force=True)
            if asking.runaway:  # it ignores max_tokens: every further question would run away
                break

    def _single(self, lang: str, paper_msg: str, truncated: bool, asking: _Asking) -> None:
        messages = [
            {"role": "system", "content": prompts.system_prompt(lang)},
            {"role": "user", "content": f"{paper_msg}\n\n{prompts.single_message_questions(lang)}"},
        ]
        head = prompts.format_faq(lang, [], truncated_input=truncated)
        answer = self._ask(messages, head, asking)
        asking.progress.set(head + answer.strip() + "\n", force=True)

    def _failed(
        self, faq: Faq, holder: str, exc: CoolpapersError, tokens: _Tokens, progress: _Progress
    ) -> str:
        # provider hiccups and arXiv being unreachable pass; a refusal or a bad PDF does not
        transient = getattr(exc, "retryable", False) or (
            isinstance(exc, FetchError) and not isinstance(exc, BlockedAddress)
        )
        wait = getattr(exc, "retry_after_s", None) if isinstance(exc, LLMRateLimited) else None
        not_before = None
        if wait is not None and wait > 0:
            not_before = utc_today() + timedelta(seconds=min(wait, MAX_HOLD_S))
        reason = _reason(exc, not_before)
        with session_scope(self.factory, write=True) as s:
            row = s.get(Faq, faq.id)
            spent = row.attempts if row is not None else MAX_ATTEMPTS
            retry = transient and spent < MAX_ATTEMPTS
            if transient and not retry:
                reason = f"gave up after {spent} attempts: {reason}"[:2000]
            log.warning("FAQ %s (%s, %s) failed: %s", faq.id, faq.paper_id, faq.lang, reason)
            if retry:
                # back to the queue, from scratch: a half answer is never kept as done; not
                # before the provider's wait ends
                faq_store.finish(
                    s,
                    faq.id,
                    holder,
                    state="queued",
                    content="",
                    error=reason,
                    lease_expires=not_before,
                )
            else:
                faq_store.finish(
                    s,
                    faq.id,
                    holder,
                    state="failed",
                    content=progress.content,
                    error=reason,
                    lease_expires=not_before,  # the wait still holds the provider
                )
            faq_store.add_usage(
                s, utc_today().date(), tokens.tokens_in, tokens.tokens_out, failed=not retry
            )
        return "queued" if retry else "failed"


_REASONS: tuple[tuple[type[CoolpapersError], str], ...] = (
    (LLMQuotaExceeded, "the LLM provider refused: quota or balance exhausted"),
    (LLMAuthError, "the LLM provider refused the API key"),
    (LLMRateLimited, "the LLM provider is rate limiting us"),
    (LLMTimeout, "the LLM provider stopped answering"),
    (LLMIncomplete, "the LLM's answer was cut off"),
    (LLMBadRequest, "the LLM provider rejected the request"),
    (LLMError, "the LLM provider failed"),
    (PaperTextError, "no usable text of the paper"),
    (SourceError, "arXiv could not be reached"),
)


def _reason(exc: CoolpapersError, not_before: datetime | None = None) -> str:
    if not_before is not None:
        head = f"the LLM provider asked us to wait until {not_before:%Y-%m-%d %H:%M:%S} UTC"
        head += " (no call before then)"
        detail = str(exc)  # the client's own hold already says so in its words
        return head if detail.startswith("the LLM provider asked") else f"{head}: {detail}"[:2000]
    head = next((text for kind, text in _REASONS if isinstance(exc, kind)), "failed")
    return f"{head}: {exc}"[:2000]


# ---------------------------------------------------------------- workers


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def build_generator(
    factory: SessionFactory, settings: Settings, *, sleep: Callable[[float], None] = time.sleep
) -> FaqGenerator:
    """A generator with its own LLM client and arXiv fetcher; ``close()`` it when done.
    ``sleep`` is how the client waits between retries (tests record the waits instead)."""
    config = ProviderConfig.from_settings(settings)
    client = ChatClient(make_http_client(config), config, sleep=sleep)
    fetcher = http.arxiv_fetcher(settings)
    texts = PaperTextSource(
        fetcher,
        settings.arxiv_web_url,
        settings.data_dir / "papers",
        settings.paper_cache_max_mb * 1024 * 1024,
        pdf_limits=PdfLimits.from_settings(settings),
    )
    return FaqGenerator(factory, settings, client, texts, fetcher)


class FaqWorker:
    """``LLM_CONCURRENCY`` threads that claim and run FAQ jobs until stopped."""

    def __init__(
        self,
        factory: SessionFactory,
        settings: Settings,
        generator: FaqGenerator | None = None,
        *,
        idle_poll_s: float = IDLE_POLL_S,
    ) -> None:
        self.factory, self.settings = factory, settings
        self.generator = generator or build_generator(factory, settings)
        self.idle_poll_s = idle_poll_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for n in range(self.settings.llm_concurrency):
            thread = threading.Thread(target=self._loop, name=f"faq-worker-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the threads (a job in progress is left to its lease) and close the clients."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout_s)
        if not any(t.is_alive() for t in self._threads):
            self.generator.close()

    def wake(self) -> None:
        self._wake.set()

    def run_one(
        self, *, faq_id: int | None = None, on_claim: Callable[[Faq], None] | None = None
    ) -> str | None:
        """Claim and run one job (or job ``faq_id``); None when there was nothing to claim."""
        budget = self.settings.llm_daily_token_budget
        holder = worker_id()
        with session_scope(self.factory, write=True) as s:
            if budget and faq_store.tokens_spent(s, utc_today().date()) >= budget:
                return None  # jobs wait in the queue for tomorrow's budget
            if faq_store.provider_hold(s, self.settings.llm_model) is not None:
                return None  # the provider asked us to wait: no job calls it before then
            faq = faq_store.claim(s, holder, LEASE_S, faq_id=faq_id)
        if faq is None:
            return None
        if on_claim is not None:
            on_claim(faq)
        return self.generator.run(faq, holder)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ran = self.run_one()
            except Exception:  # noqa: BLE001 - a worker thread must survive any one job
                log.exception("FAQ worker error")
                ran = None
            if ran is None:
                self._wake.wait(self.idle_poll_s)
                self._wake.clear()
