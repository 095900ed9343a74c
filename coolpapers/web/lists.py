"""What a list page shows: a category spec, a day, a slice — shared by HTML, Atom and JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session

from coolpapers import store, taxonomy
from coolpapers.errors import BadInput, BadSpec
from coolpapers.models import FeedDay

MAX_SHOW = 1000
# papers.cool's sort=1 ("by stars") orders by its public [PDF]/[Kimi] counters: our clicks.
# "stars" stays an alias of it in URLs; a reader's stars are another thing (their own list).
SORTS = {
    "": "arxiv",
    "arxiv": "arxiv",
    "0": "time",
    "time": "time",
    "1": "clicks",
    "clicks": "clicks",
    "stars": "clicks",
}


@dataclass(frozen=True)
class ListParams:
    day: date | None
    show: int
    skip: int
    replacements: bool
    sort: str


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
    if (sort or "") not in SORTS:
        raise BadInput("sort must be time (or 0) or clicks (or 1)")
    return ListParams(day, n_show, n_skip, replace == "1", SORTS[sort or ""])


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

    @property
    def partial(self) -> bool:
        """True when no ingested feed covered the spec's categories that day: what shows came
        in through other categories' feeds (cross-lists), not the whole listing."""
        covered = feeds_coverage([row.feed for row in self.feed_days])
        return bool(self.day) and not self.spec.categories() <= covered

    @property
    def title(self) -> str:
        return spec_title(self.spec)

    @property
    def more_skip(self) -> int | None:
        if self.listing is None:
            return None
        shown = self.params.skip + len(self.listing.papers)
        return shown if shown < self.listing.total else None


def load_day(session: Session, spec: taxonomy.Spec, params: ListParams) -> DayPage:
    filt = spec_filter(spec)
    day = params.day or store.latest_day(session, filt)
    if day is None:
        return DayPage(spec, params, None, None)
    listing = store.day_listing(
        session,
        filt,
        day,
        replacements=params.replacements,
        show=params.show,
        skip=params.skip,
        sort=params.sort,
    )
    page = DayPage(
        spec,
        params,
        day,
        listing,
        previous=store.latest_day(session, filt, before=day),
        following=store.next_day(session, filt, day),
        feed_days=store.feed_days(session, day),
    )
    return page


def parse_list_spec(text: str) -> taxonomy.Spec:
    spec = taxonomy.parse_spec(text)
    if not spec.include:
        raise BadSpec("a list needs at least one category to include")
    return spec
