"""What a list page shows: a category spec, a day, a slice — shared by HTML, Atom and JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session

from coolpapers import schedule, search, store, taxonomy
from coolpapers.errors import BadInput, BadSpec
from coolpapers.models import FeedDay
from coolpapers.search.reader import SearchReader
from coolpapers.store.listings import day_derivation, first_feed_day, has_papers_of_year
from coolpapers.web import urls
from coolpapers.web.sorts import LAB, LIST_ORDERS, PREFERENCE, Sort, parse_sort

MAX_SHOW = 1000


@dataclass(frozen=True)
class ListParams:
    day: date | None
    show: int
    skip: int
    replacements: bool
    sort: str  # arxiv | time | clicks | lab | preference
    keywords: tuple[str, ...] = ()  # the preference sort's (❤), in the reader's order

    @property
    def sort_param(self) -> str | None:
        """``sort=`` of links that keep this order (None: arXiv's, the default)."""
        return Sort(self.sort, self.keywords).param


def parse_params(
    date_text: str | None,
    show: str | None,
    skip: str | None,
    replace: str | None,
    sort: str | None,
    default_show: int,
) -> ListParams:
    """Query parameters of list pages and their JSON twins; anything odd is a 400."""
    day = None
    if date_text:
        try:
            day = date.fromisoformat(date_text)
        except ValueError:
            raise BadInput(f"date must be YYYY-MM-DD, not {date_text[:40]!r}") from None
    n_show = _int_param("show", show, default_show, 1, MAX_SHOW)
    n_skip = _int_param("skip", skip, 0, 0, 10_000_000)
    if replace not in (None, "", "0", "1"):
        raise BadInput("replace must be 0 or 1")
    order = parse_sort(sort, LIST_ORDERS)
    return ListParams(day, n_show, n_skip, replace == "1", order.name, order.keywords)


def parse_fragment(text: str | None) -> bool:
    """``?fragment=1``: the page's cards alone (lazy loading); ``0`` or absent: the page."""
    if text not in (None, "", "0", "1"):
        raise BadInput("fragment must be 0 or 1")
    return text == "1"


def _int_param(name: str, text: str | None, default: int, low: int, high: int) -> int:
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadInput(f"{name} must be a whole number, not {text[:40]!r}") from None
    if not low <= value <= high:
        raise BadInput(f"{name} must be between {low} and {high}")
    return value


def spec_filter(spec: taxonomy.Spec) -> store.SpecFilter:
    return store.SpecFilter(spec.categories(), spec.excluded())


def spec_title(spec: taxonomy.Spec) -> str:
    if len(spec.include) == 1 and not spec.exclude:
        term = spec.include[0]
        return f"{taxonomy.category_name(term)} ({term})"
    return spec.text()


def feeds_coverage(feeds: list[str]) -> set[str]:
    """Canonical categories that these ingested feeds (``cs``, ``cs.AI+cs.LG``) cover whole."""
    covered: set[str] = set()
    for feed in feeds:
        for term in feed.split("+"):
            if taxonomy.canonical(term):
                covered |= taxonomy.expand(term)
    return covered


@dataclass
class DayPage:
    spec: taxonomy.Spec
    params: ListParams
    day: date | None  # the day shown (None: nothing stored for this spec at all)
    listing: store.DayListing | None
    previous: date | None = None
    following: date | None = None
    feed_days: list[FeedDay] = field(default_factory=list)  # what arXiv's feeds said that day
    # Why the page is not in the order asked for (the preference sort without a search index).
    sort_fallback: str | None = None
    # (derived, all) of the day's listings shown: placed by a history import from submission
    # times by arXiv's schedule, not reported by that day's feed (``store.day_derivation``)
    derivation: tuple[int, int] = (0, 0)
    # The day asked for has no listing and lies where this instance cannot place papers on
    # days (``calendar_unknown``): the page says so rather than "nothing was announced".
    calendar_unknown: bool = False

    @property
    def partial(self) -> bool:
        """True when no ingested feed covered the spec's categories that day: what shows came
        in through other categories' feeds (cross-lists), not the whole listing. Not said of a
        day a history import placed papers on (it has no feed reports: its own note says what
        may be missing) nor of a period without a known calendar."""
        if not self.day or self.derived or self.calendar_unknown:
            return False
        covered = feeds_coverage([row.feed for row in self.feed_days])
        return not self.spec.categories() <= covered

    @property
    def derived(self) -> int:
        """How many of the day's listings shown were placed by arXiv's schedule (0: none)."""
        return self.derivation[0]

    @property
    def wholly_derived(self) -> bool:
        placed, listed = self.derivation
        return placed > 0 and placed == listed

    @property
    def period_search(self) -> str:
        """A search for the spec's papers of the asked day's month (the day cannot be shown)."""
        day = self.day or date.min
        month = f"{day.year:04d}-{day.month:02d}"
        cats = f"cat:{','.join(self.spec.include)}"
        excluded = "".join(f" -cat:{term}" for term in self.spec.exclude)
        return f"{cats}{excluded} after:{month} before:{month}"

    @property
    def title(self) -> str:
        return spec_title(self.spec)

    @property
    def more_skip(self) -> int | None:
        if self.listing is None:
            return None
        shown = self.params.skip + len(self.listing.papers)
        return shown if shown < self.listing.total else None

    @property
    def sort(self) -> str:
        """The order the papers are in: the one asked for, or arXiv's when it fell back."""
        return "arxiv" if self.sort_fallback else self.params.sort

    def cards(self) -> list[tuple[store.PaperView, str, int]]:
        """(paper, announce type, its #number on the day) of the page's slice."""
        if self.listing is None:
            return []
        first = self.params.skip + 1
        return [(p, kind, first + n) for n, (p, kind) in enumerate(self.listing.papers)]

    def sort_url(self, sort: str | None) -> str:
        """This day in another order (``sort``: its URL value), from #1; the day stays what
        the reader asked for (the latest, or a date), so do the replacements."""
        p = self.params
        return urls.day_list(self.spec.text(), date=p.day, replace=p.replacements, sort=sort)

    def more_url(self, *, fragment: bool = False) -> str | None:
        """The next slice of the day (None at the end): a page, or the cards alone."""
        if self.more_skip is None:
            return None
        return urls.day_list(
            self.spec.text(),
            date=self.day,
            skip=self.more_skip,
            show=self.params.show,
            replace=self.params.replacements,
            sort=self.params.sort_param,
            fragment=fragment,
        )


def load_day(
    session: Session,
    spec: taxonomy.Spec,
    params: ListParams,
    reader: SearchReader | None = None,
    *,
    surroundings: bool = True,
) -> DayPage:
    """The day's slice for ``params``; ``reader`` ranks the preference sort (without it, or
    without an index, the day stays in arXiv's order and the page says why). Without
    ``surroundings`` (the cards alone: lazy loading) the neighbouring days and the feeds'
    reports are not read."""
    filt = spec_filter(spec)
    day = params.day or store.latest_day(session, filt)
    if day is None:
        return DayPage(spec, params, None, None)
    fallback = None
    listing = None
    if params.sort == PREFERENCE:
        try:
            listing = _preferred_listing(session, filt, day, params, reader)
        except search.IndexUnavailable as exc:
            fallback = f"In arXiv's order: the preference sort needs the search index ({exc})."
    elif params.sort == LAB:
        listing = _lab_listing(session, filt, day, params)
    if listing is None:
        listing = store.day_listing(
            session,
            filt,
            day,
            replacements=params.replacements,
            show=params.show,
            skip=params.skip,
            sort="arxiv" if fallback else params.sort,
        )
    page = DayPage(spec, params, day, listing, sort_fallback=fallback)
    if surroundings:
        page.previous = store.latest_day(session, filt, before=day)
        # the latest day has none after it: had the spec listed a later one, that was the latest
        latest = params.day is None
        page.following = None if latest else store.next_day(session, filt, day)
        page.feed_days = store.feed_days(session, day)
        page.derivation = listing.derivation or day_derivation(
            session, filt, day, replacements=params.replacements
        )
        page.calendar_unknown = (
            params.day is not None
            and not any(listing.counts.values())
            and calendar_unknown(session, day)
        )
    return page


def calendar_unknown(session: Session, day: date) -> bool:
    """Whether papers of ``day``'s period are stored but cannot be placed on days: a weekday of
    a year whose arXiv holidays this instance does not know (``schedule.CALENDAR_YEARS``: a
    history import derives no day there), before the first day a feed reported (after it, a
    missing day is a gap in the feeds, which the page tells apart). Days are never guessed."""
    if day.weekday() >= 5 or day.year in schedule.CALENDAR_YEARS:
        return False
    first = first_feed_day(session)
    if first is not None and day >= first:
        return False
    return has_papers_of_year(session, day.year)


def _preferred_listing(
    session: Session,
    filt: store.SpecFilter,
    day: date,
    params: ListParams,
    reader: SearchReader | None,
) -> store.DayListing:
    """The day ranked by the preference keywords: the whole day's ids (arXiv's order) scored by
    the search engine, best first, those matching no keyword after them in arXiv's order; then
    the slice, whose rows alone are loaded."""
    if reader is None:
        raise search.IndexUnavailable("no search index is at hand", None)
    order = store.day_order(session, filt, day, replacements=params.replacements)
    ranked = search.preference_order(reader, params.keywords, [i for i, _ in order.listed])
    return _listing_of(session, order, ranked, params)


def _lab_listing(
    session: Session, filt: store.SpecFilter, day: date, params: ListParams
) -> store.DayListing:
    """The day most starred by the lab first, ties in arXiv's order (``store.lab_day_order``);
    then the slice, whose rows alone are loaded."""
    order = store.lab_day_order(session, filt, day, replacements=params.replacements)
    return _listing_of(session, order, [i for i, _ in order.listed], params)


def _listing_of(
    session: Session, order: store.DayOrder, ranked: list[str], params: ListParams
) -> store.DayListing:
    """The slice ``params`` asks for of the day's ``ranked`` ids, its rows loaded."""
    kinds = dict(order.listed)
    shown = ranked[params.skip : params.skip + params.show]
    rows = store.papers_by_id(session, shown)
    return store.DayListing(
        total=len(order.listed),
        counts=order.counts,
        papers=[(rows[i], kinds[i]) for i in shown if i in rows],
    )


def parse_list_spec(text: str) -> taxonomy.Spec:
    spec = taxonomy.parse_spec(text)
    if not spec.include:
        raise BadSpec("a list needs at least one category to include")
    return spec
