"""Papers by key: what a page, the FAQ or the CLI asks for, and the queue the worker drains.

``ensure_papers`` is the one entry for "I need these papers": a request may fetch a handful it
does not have yet (``ON_DEMAND_MAX``, as papers.cool does), in one call to the source; more are
queued (``paper_queue``) and fetched by the worker in batches of the source's ``max_ids_per_call``
(arXiv: 100 ids per API call, its polite gap between calls), never inside the request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from coolpapers import store, taxonomy
from coolpapers.db import session_scope
from coolpapers.errors import CoolpapersError, NotFound, SourceError
from coolpapers.ingest import runs
from coolpapers.ingest.pipeline import Pipeline
from coolpapers.ingest.runs import RunReport
from coolpapers.models import Paper
from coolpapers.records import PaperMeta
from coolpapers.sources import Source

log = logging.getLogger(__name__)

ON_DEMAND_MAX = 5  # a request may fetch a handful on demand (papers.cool does); more is queued
QUEUE_MAX_ATTEMPTS = 5  # failed batches before the queue gives up on a key
QUEUE_TARGET = "queue"  # ``ingest_runs.target`` of the worker's queue batches


@dataclass(frozen=True)
class Ensured:
    # every asked key we now have (stored before, or fetched now), in the asked order, rows of
    # the caller's session
    papers: dict[str, Paper]
    queued: tuple[str, ...]  # unknown keys left to the worker (more than ON_DEMAND_MAX asked)
    not_found: tuple[str, ...]  # keys the source says it does not have (or no source knows)


def store_papers(session: Session, entries: Sequence[PaperMeta]) -> int:
    """Upsert papers fetched by key (no listing: that is a feed's business)."""
    existing = store.papers_by_id(session, (e.id for e in entries))
    written = 0
    for meta in entries:
        cats = taxonomy.canonical_categories(meta.categories)
        outcome = store.upsert_paper(session, meta, cats, existing.get(meta.id))
        written += outcome != "unchanged"
    return written


def _by_source(pipeline: Pipeline, keys: Sequence[str]) -> tuple[dict[int, list[str]], list[str]]:
    """Keys grouped by the index of the source that owns them, and the keys nobody owns."""
    groups: dict[int, list[str]] = {}
    orphans: list[str] = []
    for key in keys:
        try:
            source = pipeline.source_for(key)
        except NotFound:
            orphans.append(key)
            continue
        groups.setdefault(pipeline.sources.index(source), []).append(key)
    return groups, orphans


def stored_papers(session: Session, ids: Sequence[str]) -> Ensured | None:
    """The papers of ``ids`` (canonical keys) when every one is stored: :func:`ensure_papers`'s
    answer without asking arXiv; None when one is not (it is for ``ensure_papers`` to fetch)."""
    wanted = list(dict.fromkeys(ids))
    found = store.papers_by_id(session, wanted)
    if len(found) < len(wanted):
        return None
    return Ensured({k: found[k] for k in wanted}, (), ())


def ensure_papers(pipeline: Pipeline, session: Session, ids: Sequence[str]) -> Ensured:
    """The papers of ``ids`` (canonical keys), fetching up to ON_DEMAND_MAX unknown ones now.

    Reads the asked rows once with the caller's session; fetched papers are written in a
    transaction of their own and attached to the caller's session without reading them again.
    Unknown keys past ON_DEMAND_MAX are queued for the worker. When the source fails, every
    unknown key is queued; with none of the asked papers at hand its SourceError is raised (the
    page says arXiv could not be reached), else what is at hand is returned with the rest queued.
    """
    wanted = list(dict.fromkeys(ids))
    found = store.papers_by_id(session, wanted)
    unknown = [k for k in wanted if k not in found]
    if not unknown:
        return Ensured({k: found[k] for k in wanted}, (), ())
    groups, not_found = _by_source(pipeline, unknown)
    owned = [k for k in unknown if k not in not_found]
    now, later = owned[:ON_DEMAND_MAX], owned[ON_DEMAND_MAX:]
    fetched: list[PaperMeta] = []
    try:
        for index, keys in groups.items():
            batch = [k for k in keys if k in now]
            if batch:
                source = pipeline.sources[index]
                got = pipeline.call(partial(source.fetch_papers, batch))
                fetched.extend(got.papers)
                not_found.extend(got.missing)
    except SourceError:
        _write(pipeline, [], done=[], queue=now + later)
        if not found:
            raise
        return Ensured({k: found[k] for k in wanted if k in found}, tuple(now + later), ())
    rows = _write(pipeline, fetched, done=[*(m.id for m in fetched), *not_found], queue=later)
    for key, paper in rows.items():
        found[key] = session.merge(paper, load=False)
    missing = tuple(k for k in wanted if k in not_found)
    in_order = {k: found[k] for k in wanted if k in found}
    return Ensured(in_order, tuple(later), missing)


def _write(
    pipeline: Pipeline, fetched: Sequence[PaperMeta], *, done: list[str], queue: list[str]
) -> dict[str, Paper]:
    """Store fetched papers, drop answered keys from the queue, queue the rest: one write."""
    with session_scope(pipeline.factory, write=True) as s:
        store_papers(s, fetched)
        store.dequeue_papers(s, done)
        store.enqueue_papers(s, queue)
        # the rows just written, as this session holds them: no second read
        return store.papers_by_id(s, [m.id for m in fetched])


def _chunks(keys: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(keys), size):
        yield list(keys[start : start + size])


def fetch_papers(
    pipeline: Pipeline,
    source: Source,
    keys: Sequence[str],
    stop: threading.Event | None = None,
    *,
    target: str | None = None,
) -> RunReport:
    """Fetch these keys from ``source`` (batches of its max_ids_per_call) and store them, as one
    run; answered keys leave the queue. ``coolpapers ingest --ids`` and the queue's worker."""
    factory = pipeline.factory
    label = source.papers_label
    target = target or ",".join(keys)
    run_id = runs.start(factory, label, target)
    entries: list[PaperMeta] = []
    missing: list[str] = []
    try:
        for batch in _chunks(keys, source.max_ids_per_call):
            got = pipeline.call(partial(source.fetch_papers, batch), stop)
            entries.extend(got.papers)
            missing.extend(got.missing)
        error = f"not found: {', '.join(missing)}" if missing else None
        status = "failed" if missing and not entries else "ok"
        with session_scope(factory, write=True) as s:
            written = store_papers(s, entries)
            store.dequeue_papers(s, [*(e.id for e in entries), *missing])
            store.finish_run(s, run_id, status, n_items=len(entries), n_stored=written, error=error)
    except (CoolpapersError, SQLAlchemyError) as exc:
        return runs.fail(factory, run_id, label, target, exc)
    return RunReport(
        run_id, label, target, status, n_items=len(entries), n_stored=written, error=error
    )


def drain_queue(pipeline: Pipeline, stop: threading.Event | None = None) -> list[RunReport]:
    """Fetch queued keys until the queue is empty, a batch fails or a stop is asked for.
    Call under the ingest lease (the scheduler's job does)."""
    reports: list[RunReport] = []
    last: list[str] = []
    while not pipeline.stopping(stop):
        with session_scope(pipeline.factory) as s:
            keys = store.queued_papers(s, 1000, max_attempts=QUEUE_MAX_ATTEMPTS)
        if not keys or keys == last:  # empty, or a round that changed nothing
            break
        last = keys
        # A stored key is fetched too: it was queued because its row is behind (an OAI harvest
        # saw a version newer than it proves); a request that fetched a key dequeued it.
        groups, orphans = _by_source(pipeline, keys)
        if orphans:
            with session_scope(pipeline.factory, write=True) as s:
                store.dequeue_papers(s, orphans)  # a key no source knows any more
        if not groups:
            continue
        index, group = next(iter(groups.items()))
        source = pipeline.sources[index]
        batch = group[: source.max_ids_per_call]
        target = f"{QUEUE_TARGET}: {len(batch)} papers"
        report = fetch_papers(pipeline, source, batch, stop, target=target)
        reports.append(report)
        if report.status == "interrupted":
            break
        if report.status == "failed" and report.n_items == 0 and report.error:
            if report.error.startswith("not found"):
                continue  # answered: those keys left the queue
            with session_scope(pipeline.factory, write=True) as s:
                store.note_queue_failure(s, batch, report.error)
            break  # the source is failing: the next run tries again
    return reports
