"""FAQ queries: the single-flight row, the job queue with leases, quotas and token spend.

``lease_expires`` on a row nobody holds is a not-before time: the provider asked us to wait
(Retry-After) until then. Such a row is not claimed before it, and while any row of a model
carries one, no job of that model is claimed at all (``provider_hold``): the wait holds for the
provider, across jobs, workers, processes and restarts. ``attempts`` is the job's one budget of
upstream attempts: each claim charges one, each retry inside a run another (``charge_attempt``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from coolpapers.models import Faq, FaqQuota, LlmUsage, utcnow
from coolpapers.store import as_utc

PRIORITY_ADMIN, PRIORITY_LATEST, PRIORITY_OLDER = 0, 1, 2
CONTENT_MAX_CHARS = 400_000  # far beyond six answers; a runaway model is cut here


@dataclass(frozen=True)
class FaqKey:
    paper_id: str
    lang: str
    prompt_version: str
    model: str


def get_faq(session: Session, key: FaqKey) -> Faq | None:
    return session.scalars(
        select(Faq).where(
            Faq.paper_id == key.paper_id,
            Faq.lang == key.lang,
            Faq.prompt_version == key.prompt_version,
            Faq.model == key.model,
        )
    ).first()


def get_faqs(session: Session, keys: Sequence[FaqKey]) -> dict[FaqKey, Faq]:
    """The FAQs of several keys in one statement (a paper page shows every language)."""
    if not keys:
        return {}
    wanted = set(keys)
    rows = session.scalars(
        select(Faq).where(
            Faq.paper_id.in_({k.paper_id for k in keys}),
            Faq.lang.in_({k.lang for k in keys}),
            Faq.prompt_version.in_({k.prompt_version for k in keys}),
            Faq.model.in_({k.model for k in keys}),
        )
    )
    found = {FaqKey(f.paper_id, f.lang, f.prompt_version, f.model): f for f in rows}
    return {k: f for k, f in found.items() if k in wanted}


def enqueue(
    session: Session, key: FaqKey, priority: int, requested_by: str | None
) -> tuple[Faq, bool]:
    """The FAQ for ``key``, created queued if there is none; True when this call created it.

    Racing requests for one key all end up with the same row: the unique key decides.
    """
    existing = get_faq(session, key)
    if existing is not None:
        return existing, False
    faq = Faq(
        paper_id=key.paper_id,
        lang=key.lang,
        prompt_version=key.prompt_version,
        model=key.model,
        state="queued",
        priority=priority,
        content="",
        requested_by=requested_by,
    )
    try:
        with session.begin_nested():
            session.add(faq)
    except IntegrityError:
        raced = get_faq(session, key)
        assert raced is not None
        return raced, False
    return faq, True


def requeue(session: Session, faq: Faq, priority: int | None = None) -> None:
    """A failed (or, for an admin, any) FAQ goes back to the queue from scratch."""
    faq.state, faq.content, faq.error = "queued", "", None
    not_before = as_utc(faq.lease_expires)
    if faq.lease_holder is not None or not_before is None or not_before <= utcnow():
        faq.lease_expires = None  # a provider's wait still running is kept
    faq.lease_holder = None
    faq.attempts = 0  # a new request, a new budget
    faq.started_at = faq.finished_at = None
    faq.tokens_in = faq.tokens_out = None
    faq.truncated_input = faq.truncated_output = False
    faq.queued_at = faq.updated_at = utcnow()
    if priority is not None:
        faq.priority = min(faq.priority, priority)


def queue_position(session: Session, faq: Faq) -> int | None:
    """1 for the next job to start; None when the FAQ is not waiting."""
    if faq.state != "queued":
        return None
    ahead = session.scalar(
        select(func.count())
        .select_from(Faq)
        .where(
            Faq.state == "queued",
            or_(Faq.priority < faq.priority, and_(Faq.priority == faq.priority, Faq.id < faq.id)),
        )
    )
    return int(ahead or 0) + 1


def _claimable(now: datetime) -> object:
    return or_(
        and_(Faq.state == "queued", or_(Faq.lease_expires.is_(None), Faq.lease_expires <= now)),
        and_(Faq.state == "generating", Faq.lease_expires < now),
    )


def provider_hold(session: Session, model: str) -> datetime | None:
    """Until when the provider of ``model`` asked us to wait (the latest not-before time a row
    of that model carries), or None when it did not or the wait is over."""
    until = session.scalar(
        select(func.max(Faq.lease_expires)).where(
            Faq.model == model, Faq.lease_holder.is_(None), Faq.lease_expires > utcnow()
        )
    )
    return as_utc(until)


def charge_attempt(session: Session, faq_id: int, holder: str, limit: int) -> bool:
    """Charge one more upstream attempt to job ``faq_id`` (held by ``holder``); False, charging
    nothing, when it has spent ``limit`` or the lease was lost."""
    result = session.execute(
        update(Faq)
        .where(Faq.id == faq_id, Faq.lease_holder == holder, Faq.attempts < limit)
        .values(attempts=Faq.attempts + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


def claim(
    session: Session, holder: str, lease_s: float, *, faq_id: int | None = None
) -> Faq | None:
    """Take the next job (or job ``faq_id``) for ``holder``: queued, or generating under an
    expired lease (its worker died). One atomic UPDATE decides between racing workers."""
    now = utcnow()
    q = select(Faq.id).where(_claimable(now))  # type: ignore[arg-type]
    if faq_id is not None:
        q = q.where(Faq.id == faq_id)
    q = q.order_by(Faq.priority, Faq.id).limit(1).with_for_update(skip_locked=True)
    candidate = session.scalar(q)
    if candidate is None:
        return None
    result = session.execute(
        update(Faq)
        .where(Faq.id == candidate, _claimable(now))  # type: ignore[arg-type]
        .values(
            state="generating",
            lease_holder=holder,
            lease_expires=now + timedelta(seconds=lease_s),
            started_at=now,
            content="",
            error=None,
            attempts=Faq.attempts + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        return None
    session.expire_all()
    return session.get(Faq, candidate)


def write_progress(
    session: Session, faq_id: int, holder: str, content: str, lease_s: float
) -> bool:
    """Store the text so far and renew the lease; False when the lease was lost."""
    now = utcnow()
    result = session.execute(
        update(Faq)
        .where(Faq.id == faq_id, Faq.lease_holder == holder, Faq.state == "generating")
        .values(
            content=content[:CONTENT_MAX_CHARS],
            lease_expires=now + timedelta(seconds=lease_s),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


def finish(session: Session, faq_id: int, holder: str, **values: object) -> bool:
    """Mark a job done, failed or queued again (``state`` in values; ``lease_expires`` then is
    a not-before time); False when the lease was lost."""
    now = utcnow()
    fields: dict[str, object] = {
        "lease_holder": None,
        "lease_expires": None,
        "finished_at": now,
        "updated_at": now,
    }
    fields.update(values)
    result = session.execute(
        update(Faq)
        .where(Faq.id == faq_id, Faq.lease_holder == holder)
        .values(**fields)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


# ---------------------------------------------------------------- quotas and spend


def take_quota(session: Session, keys: list[str], day: date, limit: int) -> bool:
    """Count one new generation on every key today; False (nothing counted) when any key has
    reached ``limit``."""
    rows = {k: session.get(FaqQuota, (k, day)) for k in keys}
    if limit <= 0 or any(row is not None and row.count >= limit for row in rows.values()):
        return False
    for key, row in rows.items():
        if row is None:
            session.add(FaqQuota(visitor=key[:80], day=day, count=1))
        else:
            row.count += 1
    return True


def tokens_spent(session: Session, day: date) -> int:
    row = session.get(LlmUsage, day)
    return (row.tokens_in + row.tokens_out) if row else 0


def add_usage(
    session: Session, day: date, tokens_in: int, tokens_out: int, *, failed: bool
) -> None:
    row = session.get(LlmUsage, day)
    if row is None:
        row = LlmUsage(day=day, tokens_in=0, tokens_out=0, generations=0, failures=0)
        session.add(row)
    row.tokens_in += tokens_in
    row.tokens_out += tokens_out
    if failed:
        row.failures += 1
    else:
        row.generations += 1


def usage(session: Session, day: date) -> LlmUsage | None:
    return session.get(LlmUsage, day)


def queue_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(Faq.state, func.count()).group_by(Faq.state)).all()
    counts = {"queued": 0, "generating": 0, "done": 0, "failed": 0}
    counts.update({str(state): int(n) for state, n in rows})
    return counts


def recent_faq_failures(session: Session, limit: int = 10) -> list[Faq]:
    return list(
        session.scalars(
            select(Faq).where(Faq.state == "failed").order_by(Faq.updated_at.desc()).limit(limit)
        )
    )


def lease_expired(faq: Faq) -> bool:
    expires = as_utc(faq.lease_expires)
    return expires is not None and expires < utcnow()
