"""Tables. Natural keys where arXiv has them; every timestamp is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID_LEN = 40  # longest arXiv id is an old-style one such as "cond-mat.mtrl-sci/0601001" + margin
CATEGORY_LEN = 32


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Paper(Base):
    """The latest known metadata of one arXiv paper (all versions share the versionless id)."""

    __tablename__ = "papers"

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    abstract: Mapped[str] = mapped_column(Text)
    # [{"name": str, "affiliations": [str, ...]}, ...] in author order
    authors: Mapped[list[Any]] = mapped_column(JSON)
    # canonical categories (aliases merged), primary first
    categories: Mapped[list[Any]] = mapped_column(JSON)
    primary_category: Mapped[str] = mapped_column(String(CATEGORY_LEN))
    doi: Mapped[str | None] = mapped_column(Text)
    journal_ref: Mapped[str | None] = mapped_column(Text)
    comments: Mapped[str | None] = mapped_column(Text)
    license: Mapped[str | None] = mapped_column(Text)
    published: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_announced: Mapped[date | None] = mapped_column(Date)
    # submission time of each version, v1 first, ISO 8601 UTC (Kaggle, OAI arXivRaw, API);
    # None when no source has told us (a feed carries only the version number)
    versions: Mapped[list[Any] | None] = mapped_column(JSON)
    # the public counters after [PDF] and [FAQ]: one per visitor, paper and UTC day (Click)
    pdf_clicks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    faq_clicks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # ~10 TF-IDF keywords from title + abstract, set when the paper is indexed ([REL])
    keywords: Mapped[list[Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # the search index follows this: every insert or change of metadata sets it
    modified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    # (modified_at, id): the index's catch-up pages through ties without re-sorting them.
    # (id, primary_category): a day list ranks each listed paper by its primary category, and
    # reads it from this index rather than from the paper's row (migration papers_primary).
    __table_args__ = (
        Index("ix_papers_modified_at_id", "modified_at", "id"),
        Index("ix_papers_id_primary_category", "id", "primary_category"),
    )

    # Never loaded through these (store queries the tables directly); they exist so the unit of
    # work inserts a new paper before rows that point at it, without a flush per paper.
    category_rows: Mapped[list[PaperCategory]] = relationship(
        passive_deletes=True, lazy="raise", viewonly=False
    )
    listing_rows: Mapped[list[Listing]] = relationship(
        passive_deletes=True, lazy="raise", viewonly=False
    )


class PaperCategory(Base):
    """One row per (paper, canonical category): what list specs filter on."""

    __tablename__ = "paper_categories"

    paper_id: Mapped[str] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True
    )
    category: Mapped[str] = mapped_column(String(CATEGORY_LEN), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)  # 0 = primary

    __table_args__ = (Index("ix_paper_categories_category", "category", "paper_id"),)


class Listing(Base):
    """A paper announced on a listing day: ``new`` (first announcement) or ``replace``.

    Whether a row shows as new/cross (replace/replace-cross) depends on the spec a page asks
    for, so that is computed when reading, as arXiv does for multi-category feeds.

    Known limit: a paper cross-listed into a new category on a later day arrives as a second
    announcement; it is stored on that later day only if its version was not listed before,
    so such late cross-lists show on the day of the first announcement.
    """

    __tablename__ = "listings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    paper_id: Mapped[str] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"))
    date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(8))  # "new" | "replace"
    version: Mapped[int] = mapped_column(Integer)
    # placed on its day by arXiv's schedule from the version's submission time (a history
    # import), not read from a feed of that day: the page says so
    derived: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")

    __table_args__ = (
        UniqueConstraint("paper_id", "date", "kind"),
        # the same announcement seen again (a repeated feed) is not a second listing
        UniqueConstraint("paper_id", "kind", "version"),
        # covering a day's listings: their papers and derived marks read from the index alone
        Index("ix_listings_date_kind_paper", "date", "kind", "paper_id", "derived"),
    )


class FeedDay(Base):
    """What one requested feed said about one listing day: listed, empty, or a repeat."""

    __tablename__ = "feed_days"

    feed: Mapped[str] = mapped_column(String(200), primary_key=True)
    date: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # "listed" | "empty" | "repeat"
    items: Mapped[int] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(64))
    fetched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IngestRun(Base):
    """One fetch (or file/API import) and what came of it."""

    __tablename__ = "ingest_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(16))  # "rss" | "api" | "file"
    target: Mapped[str] = mapped_column(Text)  # feed spec, id list or file name
    status: Mapped[str] = mapped_column(String(16), index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    listing_date: Mapped[date | None] = mapped_column(Date)
    n_items: Mapped[int] = mapped_column(Integer, default=0)
    n_new: Mapped[int] = mapped_column(Integer, default=0)
    n_cross: Mapped[int] = mapped_column(Integer, default=0)
    n_replace: Mapped[int] = mapped_column(Integer, default=0)
    n_malformed: Mapped[int] = mapped_column(Integer, default=0)
    n_stored: Mapped[int] = mapped_column(Integer, default=0)  # papers inserted or updated
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_ingest_runs_source_started", "source", "started_at"),)


class FetchState(Base):
    """Validators for conditional GET, per URL."""

    __tablename__ = "fetch_states"

    url: Mapped[str] = mapped_column(String(500), primary_key=True)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Lease(Base):
    """A named lock shared by every process through the database; it expires if its holder dies."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Faq(Base):
    """One FAQ generation per (paper, language, prompt version, model): the single-flight key.

    It is a job and its result at once: ``state`` moves queued → generating → done | failed;
    ``content`` grows while generating so every viewer, in any process, can follow it.
    """

    __tablename__ = "faqs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    paper_id: Mapped[str] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"))
    lang: Mapped[str] = mapped_column(String(8))
    prompt_version: Mapped[str] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(12))  # queued | generating | done | failed
    priority: Mapped[int] = mapped_column(Integer)  # lower runs first: 0 admin, 1 latest, 2 older
    content: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text)
    paper_version: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str | None] = mapped_column(String(8))  # html | pdf
    source_url: Mapped[str | None] = mapped_column(Text)
    truncated_input: Mapped[bool] = mapped_column(Boolean, default=False)
    truncated_output: Mapped[bool] = mapped_column(Boolean, default=False)
    tokens_in: Mapped[int | None] = mapped_column(Integer)
    tokens_out: Mapped[int | None] = mapped_column(Integer)
    tokens_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    requested_by: Mapped[str | None] = mapped_column(String(80))
    lease_holder: Mapped[str | None] = mapped_column(String(128))
    lease_expires: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        UniqueConstraint("paper_id", "lang", "prompt_version", "model"),
        Index("ix_faqs_state_priority", "state", "priority", "id"),
    )


class LlmUsage(Base):
    """Tokens spent on FAQ generations per UTC day: the global budget reads this."""

    __tablename__ = "llm_usage"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
    generations: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)


class FaqQuota(Base):
    """New generations a visitor (signed cookie, else address) started on a UTC day."""

    __tablename__ = "faq_quota"

    visitor: Mapped[str] = mapped_column(String(80), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class HostHold(Base):
    """A host's Retry-After, binding every feed, run and process until it ends (http.py)."""

    __tablename__ = "host_holds"

    host: Mapped[str] = mapped_column(String(300), primary_key=True)  # "host:port"
    until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(String(500))


class DayCategory(Base):
    """A canonical category had a listing (any kind) on a listing day: what day navigation
    (a spec's latest, previous and next day) seeks, so that it costs the same whatever the
    history length. Written on ingest (``store.index_listing_day``); it may keep a day that a
    paper has since left (a listing moved earlier, a category dropped by a new version), so
    readers confirm a day on ``listings`` before showing it."""

    __tablename__ = "day_categories"

    category: Mapped[str] = mapped_column(String(CATEGORY_LEN), primary_key=True)
    date: Mapped[date] = mapped_column(Date, primary_key=True)


class QueuedPaper(Base):
    """A paper to fetch by key, left to the worker: one asked for that is not stored yet (a
    request fetches a handful on demand and queues the rest, ``ingest.ensure_papers``), or a
    stored one known to be behind (an OAI harvest saw a newer version than it can number)."""

    __tablename__ = "paper_queue"

    paper_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # failed fetches so far
    last_error: Mapped[str | None] = mapped_column(Text)

    # the worker takes the fewest-tried, oldest first
    __table_args__ = (Index("ix_paper_queue_attempts_requested", "attempts", "requested_at"),)


class Click(Base):
    """A visitor's [PDF] or [FAQ] click on a paper on a UTC day, kept for a couple of days: the
    key makes a second click that day (a reload) no second count, and the visitor's rows of
    the last minute are its rate limit (``store.clicks``)."""

    __tablename__ = "clicks"

    # day first: the prune deletes old days by a range on the key's leading column
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    paper_id: Mapped[str] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # "pdf" | "faq"
    visitor: Mapped[str] = mapped_column(String(80), primary_key=True)  # visitors.identify
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("kind IN ('pdf', 'faq')", name="kind"),
        Index("ix_clicks_visitor_created", "visitor", "created_at"),
    )


# --- a lab's instance: members, their sessions, stars, notes, seen papers (issue 10) ---

NAME_LEN = 64  # a member's name: what they type to log in (and what a proxy's header carries)
HASH_LEN = 64  # sha256 hex: session ids and feed tokens are stored hashed, never as given


class User(Base):
    """A member of the lab. Never deleted (their stars and notes stay the lab's history):
    disabled, which ends their sessions and refuses their logins."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(NAME_LEN), unique=True)
    # argon2id (accounts.passwords); None for members who only ever come through the proxy
    password_hash: Mapped[str | None] = mapped_column(Text)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # FAQ language, categories, preference keywords: what the browser keeps for a visitor
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # the personal Atom feed's token, hashed; None: no feed (revoked or never made)
    feed_token_hash: Mapped[str | None] = mapped_column(String(HASH_LEN), unique=True)


class UserSession(Base):
    """A logged-in browser. The cookie holds a random token; the row holds its hash, so a
    leaked database does not hand out live sessions."""

    __tablename__ = "sessions"

    id_hash: Mapped[str] = mapped_column(String(HASH_LEN), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # absolute expiry
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # idle expiry


class LoginAttempt(Base):
    """A failed login, under each key it counts against (``u:<name>``, ``ip:<address>``): the
    last minute's rows are the brute-force limit. Pruned after a day."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(NAME_LEN + 16))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_login_attempts_key_at", "key", "at"),)


class Star(Base):
    """A member's star on a paper. The key makes starring twice (two tabs) one star."""

    __tablename__ = "stars"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    paper_id: Mapped[str] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True
    )
    starred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    # the lab's week (/lab) and the count on a card read by paper and time
    __table_args__ = (
        Index("ix_stars_paper_starred", "paper_id", "starred_at"),
        Index("ix_stars_starred_at", "starred_at"),
    )


class Note(Base):
    """A member's note on a paper: private (only its author reads it) or shared with the lab."""

    __tablename__ = "notes"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    paper_id: Mapped[str] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True
    )
    body: Mapped[str] = mapped_column(Text)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_notes_paper_id", "paper_id"),)


class Seen(Base):
    """A paper a member has read past (on any list: seen in cs.LG is seen in cs.AI)."""

    __tablename__ = "seen"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    paper_id: Mapped[str] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True
    )
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ImportCheckpoint(Base):
    """How far a history import got (``coolpapers import kaggle|oai``), written in the same
    transaction as the batch it covers: a killed import resumes exactly after its last commit."""

    __tablename__ = "import_checkpoints"

    name: Mapped[str] = mapped_column(String(300), primary_key=True)  # "kaggle:<file>", "oai:<set>"
    position: Mapped[str] = mapped_column(Text)  # a byte offset, a resumption token…
    done: Mapped[int] = mapped_column(Integer, default=0)  # records read so far
    finished: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Generation(Base):
    """A counter that tells every process something changed: ``pages`` goes up with each commit
    that writes what list pages show (``store.generations``), so a web process's cache of
    rendered pages (``web.page_cache``) knows when its copies are stale, whoever wrote."""

    __tablename__ = "generations"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
