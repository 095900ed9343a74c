"""``refresh_metadata``: once a day, what arXiv changed after the fact (new versions, DOIs,
journal refs, licences), through the OAI-PMH harvest (``oai.py``). The daily feeds announce a
paper once; its DOI and journal ref come months later, and only this brings them in.

- What: one harvest per OAI set that covers the ingested categories (the archive's set, as
  arXiv's legacy names go: ``cs``, ``math``, ``physics:hep-th``; every set when the instance
  ingests ``all``). It stores the records of papers already stored, and of papers in the
  ingested categories (a cross-list into one counts); the rest of the set is skipped.
- When: a harvest from the day the last finished refresh began, by the server's clock when it
  says the day before ours (around midnight), else by ours (OAI-PMH's rule for incremental
  harvesting: ``from`` the last harvest's response date, no ``until``; the granularity is a
  day, so that day is read twice, harmlessly). A server date further off is a wrong clock,
  not a midnight: trusting it would make every refresh read those days again.
- The first refresh starts a day back: history is the imports' job. A refresh that did not
  finish (arXiv failed, a stop, another process ingesting) is run again by the next call,
  from the same day, and resumes at its last resumption token.
- Its state: a checkpoint per set, ``refresh:<set|all>``, whose position is that day (the
  harvest's own checkpoint is dropped once it finished).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from coolpapers import store, taxonomy
from coolpapers.db import session_scope
from coolpapers.ingest.imports import ImportReport
from coolpapers.ingest.oai import harvest_oai
from coolpapers.ingest.pipeline import Pipeline
from coolpapers.models import utcnow

CHECKPOINT_PREFIX = "refresh:"
_PHYSICS = "Physics"  # the group whose archives' sets are named "physics:<archive>"


def refresh_sets(categories: str) -> list[str | None]:
    """The OAI sets that cover a COOLPAPERS_ARXIV_CATEGORIES value: ``[None]`` (every set)
    for ``all``, else each archive's set once, in the order given."""
    if categories == "all":
        return [None]
    groups = {a.id: a.group for a in taxonomy.archives()}
    sets: dict[str, None] = {}
    for term in categories.split(","):
        archive = taxonomy.archive_of(taxonomy.canonical(term) or term)
        sets[f"physics:{archive}" if groups.get(archive) == _PHYSICS else archive] = None
    return list(sets)


def checkpoint_name(set_spec: str | None) -> str:
    return f"{CHECKPOINT_PREFIX}{set_spec or 'all'}"


def refresh_metadata(pipeline: Pipeline, now: datetime | None = None) -> list[ImportReport]:
    """Run the refreshes that are due (none when each began today already, or when the
    setting is off); their reports. Raises as ``harvest_oai`` does (LeaseHeld, SourceError,
    DatabaseFailed); a stop ends the run with the harvest ``interrupted``."""
    settings = pipeline.settings
    if not settings.metadata_refresh:
        return []
    today = (now or utcnow()).astimezone(UTC).date()
    reports = []
    keep = settings.ingested_categories
    for set_spec in refresh_sets(settings.arxiv_categories):
        since = _last_began(pipeline, set_spec)
        if since is None:  # kept from now on, so that days of failures lose no change
            since = today - timedelta(days=1)
            _mark(pipeline, set_spec, since, 0, finished=False)
        if since >= today:
            continue
        report = harvest_oai(pipeline, since, set_spec=set_spec, categories=keep, analyze=False)
        reports.append(report)
        if not report.finished or report.interrupted:
            break
        began = today
        if report.server_time is not None:
            server_day = report.server_time.astimezone(UTC).date()
            if today - timedelta(days=1) <= server_day < today:  # its midnight is yet to come
                began = server_day
        _mark(pipeline, set_spec, began, report.read, finished=True, harvest=report.name)
    return reports


def _mark(
    pipeline: Pipeline,
    set_spec: str | None,
    began: date,
    records: int,
    *,
    finished: bool,
    harvest: str | None = None,
) -> None:
    """Record the refresh's day; ``harvest``: the finished harvest's own checkpoint, dropped
    (it only matters while unfinished, and one a day would pile up)."""
    with session_scope(pipeline.factory, write=True) as s:
        store.put_checkpoint(
            s, checkpoint_name(set_spec), began.isoformat(), records, finished=finished
        )
        if harvest is not None:
            store.drop_checkpoint(s, harvest)


def _last_began(pipeline: Pipeline, set_spec: str | None) -> date | None:
    with session_scope(pipeline.factory) as s:
        checkpoint = store.get_checkpoint(s, checkpoint_name(set_spec))
    if checkpoint is None:
        return None
    try:
        return date.fromisoformat(checkpoint.position)
    except ValueError:  # not ours to trust: start a day back, as a first refresh does
        return None
