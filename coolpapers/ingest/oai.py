"""``harvest_oai``: arXiv's metadata modified since a date, from its OAI-PMH endpoint.

What it is for: backfilling the last weeks or months of an instance's categories, and keeping
what arXiv changes after the fact (new versions, DOIs, journal refs, licences) current. ``from``
and ``until`` filter on a record's datestamp, its LAST MODIFICATION, not its submission.

The walk: ``ListRecords`` in the ``arXiv`` format (``sources.oai``), page after page by
resumption token, through the pipeline's one arXiv client (one connection, the polite interval,
a 503's Retry-After slept through and retried by ``http.py``, caps on size and time), every wait
ended by a stop. Each page's papers and the checkpoint (``oai:<set|all>:<from>:<until|open>``,
position = the token of the next page) are written in ONE transaction, so a crash loses at most
the page in flight and a re-run resumes at the last token, with no duplicates (upserts).

- ``--restart`` drops the checkpoint and starts at ``from``.
- A finished harvest with an ``until`` is done: a re-run fetches nothing and says so
  (``--restart`` to harvest it again). A finished open-ended harvest (no ``until``) starts a
  fresh pass from ``from`` on a re-run: that is how an instance picks up what changed since.
- arXiv's tokens expire daily: a ``badResumptionToken`` (a resume the next day, or a harvest
  across midnight UTC) restarts the harvest from ``from`` once per run; upserts make the
  repeated pages harmless.
- ``categories`` narrows what is stored to the instance's: a set is an archive (``cs``), so
  a lab following four categories would otherwise keep every paper of it. A paper already
  stored is always updated, whatever its categories: that is what a refresh is for.
- ``noRecordsMatch`` is an empty harvest, finished. Deleted records are skipped and counted; a
  record that cannot be used is counted as bad, never fatal. Any other OAI error, or a page that
  still fails after http.py's retries (a cut response, a 5xx), ends the run with the error; the
  checkpoint holds the last good token.

Version numbers. The arXiv format gives the latest version's metadata with ``<created>`` (v1's
date) and ``<updated>`` (the latest version's date, only when there are several), never the
number. The number stored is the least one the record and the stored row prove together, and a
paper whose number is not proven exact is queued for the API (``store.enqueue_papers``), which
answers with the exact version and its submission times:

- no ``<updated>``: one version, v1 (exact).
- ``<updated>``, paper not stored: at least v2 (stored as 2, queued).
- ``<updated>``, paper stored with a known submission time t of its latest known version
  (``updated``, ``published`` or the last of ``versions``):
  later than t's UTC date → a newer version than the stored one: stored version + 1, queued;
  earlier than t's US-Eastern date → the record is older than the row: nothing written;
  otherwise the stored version is the latest (exact; at least 2).
  (Whichever time zone arXiv's dates are in, UTC's date is the later of the two.)
- ``<updated>``, paper stored without any time (a feed gives only the number): at least
  max(stored, 2), queued.
The metadata itself (title, authors, abstract, DOI, journal ref, comments, licence) is always the
latest version's, so it replaces the row's.

Day lists: none are derived. arXiv's schedule places a version by its submission TIME (the
14:00 ET deadline, ``ingest.derive``), and this format gives v1's date only; a new paper's first
announcement is counted as ``not_derived`` instead. (``arXivRaw`` has the times, but not the
structured authors and affiliations; the API, which the queue asks, has v1's and the latest.)
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import date, datetime
from functools import lru_cache, partial
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from coolpapers import store, taxonomy
from coolpapers.db import session_scope
from coolpapers.errors import BadInput, HostHeld, SourceError
from coolpapers.http import FetchResult
from coolpapers.ingest.due import sync_index
from coolpapers.ingest.imports import ImportProgress, ImportReport
from coolpapers.ingest.pipeline import Pipeline
from coolpapers.ingest.runs import DatabaseFailed, IngestStopped, SessionFactory, describe_db_error
from coolpapers.models import Paper
from coolpapers.sources.oai import (
    OaiPage,
    OaiRecord,
    list_records_params,
    parse_list_records,
    resume_params,
)
from coolpapers.store import bulk
from coolpapers.store.papers import as_utc

log = logging.getLogger(__name__)

START = "start"  # checkpoint position: the harvest's first request
END = "end"  # checkpoint position: the list is done
_TOKEN = "token:"  # checkpoint position: "token:<the next page's resumption token>"

# OAI errors that are the user's argument's fault (a set that does not exist, a bad date)
_BAD_ARGUMENT = frozenset({"badArgument", "noSetHierarchy"})
# OAI setSpecs: letters, digits and -_.!~*'() joined by ":" (OAI-PMH 2.0 §4.6); arXiv's are
# short ("cs:cs:AI"), and the checkpoint's name holds it (300 characters)
_SET_SPEC_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()]+(?::[A-Za-z0-9\-_.!~*'()]+)*", re.ASCII)
_SET_SPEC_MAX = 100  # characters
_STOP_CHECK_S = 0.1  # how late a stop is noticed while waiting out a hold
# arXiv answers an OAI error with 200, but a server may well say 400: both are parsed
_OAI_STATUSES = frozenset({200, 400})


def checkpoint_name(since: date, until: date | None, set_spec: str | None) -> str:
    return f"oai:{set_spec or 'all'}:{since.isoformat()}:{until.isoformat() if until else 'open'}"


def _lease(factory: SessionFactory, ttl_s: float) -> AbstractContextManager[Callable[[], None]]:
    # the package defines the lease; imported at call time, because the package imports us
    from coolpapers.ingest import ingest_lease

    return ingest_lease(factory, ttl_s)


def harvest_oai(
    pipeline: Pipeline,
    since: date,
    *,
    until: date | None = None,
    set_spec: str | None = None,
    restart: bool = False,
    categories: frozenset[str] | None = None,
    analyze: bool = True,
    progress: ImportProgress | None = None,
    stop: threading.Event | None = None,
) -> ImportReport:
    """Harvest records modified from ``since`` (to ``until``) in ``set_spec`` (every set when
    None) and store them; resumable (see the module). ``categories`` (canonical ids): store
    only the papers already stored or in one of them, the others counted as ``outside``.
    ``analyze``: refresh the planner's view at the end, as after an import (a daily refresh's
    few thousand rows do not need it). Raises LeaseHeld when another process is ingesting,
    SourceError when arXiv fails past the retries, BadInput when it refuses the arguments,
    DatabaseFailed when the database does; a stop ends it as ``interrupted``."""
    if set_spec is not None and (
        len(set_spec) > _SET_SPEC_MAX or not _SET_SPEC_RE.fullmatch(set_spec)
    ):
        raise BadInput(f"not an OAI set name (e.g. cs, math, physics:hep-th): {set_spec[:80]!r}")
    report = ImportReport(checkpoint_name(since, until, set_spec))
    began = time.monotonic()
    harvest = _Harvest(pipeline, report, since, until, set_spec, categories, progress, stop)
    try:
        with _lease(pipeline.factory, pipeline.settings.ingest_lease_s) as renew:
            harvest.run(restart, renew)
    except IngestStopped:
        report.interrupted = True
    except SQLAlchemyError as exc:
        raise DatabaseFailed(describe_db_error(exc)) from exc
    finally:
        report.seconds = time.monotonic() - began
    if report.read and not pipeline.stopping(stop):
        report.indexed = sync_index(pipeline)  # what the harvest committed reaches the index
        if analyze:
            # months of a harvest change the tables as an import does; last, after the
            # index, whose [REL] keywords rewrite the rows stored
            bulk.analyze(pipeline.factory)
    report.seconds = time.monotonic() - began
    return report


class _Harvest:
    def __init__(
        self,
        pipeline: Pipeline,
        report: ImportReport,
        since: date,
        until: date | None,
        set_spec: str | None,
        categories: frozenset[str] | None,
        progress: ImportProgress | None,
        stop: threading.Event | None,
    ) -> None:
        self.pipeline = pipeline
        self.report = report
        self.categories = categories
        self.first = list_records_params(since, until, set_spec)
        self.bounded = until is not None
        self.progress = progress
        self.stop = stop

    def run(self, restart: bool, renew: Callable[[], None]) -> None:
        pipeline, report = self.pipeline, self.report
        position, done = self._start(restart)
        if position == END:
            report.finished = report.done_before = True
            return
        restarted = False
        while True:
            if pipeline.stopping(self.stop):
                raise IngestStopped("stopping")
            page = self._fetch(position)
            if page.error is not None:
                code, message = page.error.code, page.error.message
                if code == "noRecordsMatch":
                    self._save(position=END, done=done, finished=True)
                    report.finished = True
                    return
                if code == "badResumptionToken" and position != START and not restarted:
                    log.warning(
                        "%s: arXiv no longer knows the resumption token (they expire daily): "
                        "harvesting again from the start; pages stored already are upserted",
                        report.name,
                    )
                    restarted, position, done = True, START, 0
                    report.resumed_from = 0
                    continue
                error = BadInput if code in _BAD_ARGUMENT else SourceError
                raise error(f"arXiv's OAI-PMH answered {code or 'an error'}: {message}")
            if report.server_time is None:
                report.server_time = page.response_date
            done += page.seen
            following = END if page.token is None else _TOKEN + page.token
            with session_scope(pipeline.factory, write=True) as s:
                _store_page(s, page, report, self.categories)
                store.put_checkpoint(s, report.name, following, done, finished=page.token is None)
            report.read += page.seen
            if self.progress is not None:
                self.progress(done, page.complete_size)
            if page.token is None:
                report.finished = True
                return
            position = following
            renew()  # between pages: a long harvest keeps the lease; LeaseLost if taken over

    def _start(self, restart: bool) -> tuple[str, int]:
        """Where this run begins: (checkpoint position, records done before it)."""
        name = self.report.name
        with session_scope(self.pipeline.factory, write=restart) as s:
            if restart:
                store.drop_checkpoint(s, name)
                return START, 0
            checkpoint = store.get_checkpoint(s, name)
        if checkpoint is None:
            return START, 0
        if checkpoint.finished:
            return (END, checkpoint.done) if self.bounded else (START, 0)
        self.report.resumed_from = checkpoint.done
        log.info("%s: resuming after %d records", name, checkpoint.done)
        return checkpoint.position, checkpoint.done

    def _fetch(self, position: str) -> OaiPage:
        pipeline = self.pipeline
        params = self.first if position == START else resume_params(position[len(_TOKEN) :])
        fetch = partial(
            pipeline.fetcher.get,
            pipeline.settings.arxiv_oai_url,
            params=params,
            accept_statuses=_OAI_STATUSES,
        )
        while True:
            try:
                result: FetchResult = pipeline.call(fetch, self.stop)
            except HostHeld as exc:
                self._wait_out(exc)  # a Retry-After from an earlier run or process still runs
                continue
            return parse_list_records(result.body)

    def _wait_out(self, held: HostHeld) -> None:
        """Wait for arXiv's hold on the host to end, as a stop allows: a harvest is a long
        job, so it waits where a scheduled ingest would skip; a hold longer than a Retry-After
        http.py would sleep through ends the run instead (run it again later)."""
        limit_s = self.pipeline.fetcher.policy.max_retry_after_s
        if held.retry_after_s is None or held.retry_after_s > limit_s:
            raise held
        log.info("%s: %s; waiting", self.report.name, held)
        end = time.monotonic() + held.retry_after_s
        while (left := end - time.monotonic()) > 0:
            if self.pipeline.stopping(self.stop):
                raise IngestStopped("stopping")
            time.sleep(min(left, _STOP_CHECK_S))

    def _save(self, *, position: str, done: int, finished: bool) -> None:
        with session_scope(self.pipeline.factory, write=True) as s:
            store.put_checkpoint(s, self.report.name, position, done, finished=finished)


def _store_page(
    session: Session, page: OaiPage, report: ImportReport, wanted: frozenset[str] | None
) -> None:
    """One page's papers (latest record of an id wins), bad and deleted ones counted; with
    ``wanted``, a paper not stored whose categories miss it is counted ``outside``."""
    for reason in page.malformed:
        report.note_bad("record", reason)
    report.deleted += len(page.deleted)
    records = {r.meta.id: r for r in page.records}
    existing = store.papers_by_id(session, records)
    queue: list[str] = []
    for key, record in records.items():
        stored = existing.get(key)
        categories = taxonomy.canonical_categories(record.meta.categories)
        if stored is None and wanted is not None and wanted.isdisjoint(categories):
            report.outside += 1
            continue
        decided = version_for(record, stored)
        if decided is None:
            report.unchanged += 1
            continue
        version, exact = decided
        meta = replace(record.meta, version=version)
        outcome = store.upsert_paper(session, meta, categories, stored)
        if outcome == "unchanged":
            report.unchanged += 1
        else:
            report.stored += 1
        if outcome == "inserted":
            # its v1 announcement: a <created> date without a time cannot give the listing day
            # (arXiv's 14:00 ET deadline), so derive.derive_listings has nothing to place
            report.not_derived += 1
        if not exact:
            queue.append(key)
    store.enqueue_papers(session, queue)
    report.queued += len(queue)


@lru_cache(maxsize=1)
def _eastern() -> ZoneInfo:
    return ZoneInfo("America/New_York")


def _known_times(paper: Paper) -> Iterator[datetime]:
    for value in (paper.updated, paper.published):
        moment = as_utc(value)
        if moment is not None:
            yield moment
    for text in paper.versions or ():
        try:
            moment = as_utc(datetime.fromisoformat(str(text)))
        except ValueError:
            continue
        if moment is not None:
            yield moment


def version_for(record: OaiRecord, stored: Paper | None) -> tuple[int, bool] | None:
    """(the version number to store, whether it is exact), or None when the record is older
    than the stored row (see the module's rule)."""
    if record.updated is None:  # a single version (a stored higher one is kept: never downgrade)
        return (stored.version if stored is not None else 1), True
    if stored is None:
        return max(record.proven_version, 2), False
    latest = max(_known_times(stored), default=None)
    if latest is None:
        return max(stored.version, 2), False
    if record.updated > latest.date():
        return stored.version + 1, False
    if record.updated < latest.astimezone(_eastern()).date():
        return None
    return max(stored.version, 2), stored.version >= 2
