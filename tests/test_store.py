"""The store's own functions, called directly on SQLite and Postgres: listings (repeats and
out-of-order days), day navigation (gaps, exclusions, unions, against a brute-force reading of
the same rows, and what it touches as the history grows), ingest runs."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import store
from coolpapers.db import session_scope
from coolpapers.models import IngestRun, Listing, PaperCategory, utcnow
from coolpapers.records import Author, PaperMeta

SpecFilter = store.SpecFilter
MON = date(2026, 3, 2)  # a Monday: days below are MON + n


def spec(include: str, exclude: str = "") -> SpecFilter:
    return SpecFilter(frozenset(include.split(",")), frozenset(filter(None, exclude.split(","))))


def meta(paper_id: str, categories: str, version: int = 1) -> PaperMeta:
    return PaperMeta(
        id=paper_id,
        version=version,
        title=f"Paper {paper_id}",
        abstract="An abstract.",
        authors=(Author("A. Author"),),
        categories=tuple(categories.split(",")),
    )


def put_day(
    factory: sessionmaker[Session], day: date, items: list[tuple[str, str, str, int]]
) -> list[bool]:
    """Store one day as a feed does: (id, categories, kind, version) per item, then index it."""
    with session_scope(factory, write=True) as s:
        ids = [i[0] for i in items]
        existing = store.papers_by_id(s, ids)
        known = store.listings_by_paper(s, ids)
        written = []
        for paper_id, categories, kind, version in items:
            m = meta(paper_id, categories, version)
            store.upsert_paper(s, m, m.categories, existing.get(paper_id), announced=day)
            rows = known.setdefault(paper_id, [])
            written.append(store.add_listing(s, rows, paper_id, day, kind, version))
        store.index_listing_day(s, day)
        return written


def listings(factory: sessionmaker[Session], paper_id: str) -> list[tuple[date, str, int]]:
    with session_scope(factory) as s:
        return [(r.date, r.kind, r.version) for r in store.paper_listings(s, paper_id)]


# ---------------------------------------------------------------- add_listing


def test_a_repeat_on_a_later_day_changes_nothing(factory: sessionmaker[Session]) -> None:
    assert put_day(factory, MON, [("2603.00001", "cs.LG", "new", 1)]) == [True]
    assert put_day(factory, MON + timedelta(1), [("2603.00001", "cs.LG", "new", 1)]) == [False]
    assert listings(factory, "2603.00001") == [(MON, "new", 1)]


def test_an_earlier_day_ingested_late_takes_the_listing(factory: sessionmaker[Session]) -> None:
    later = MON + timedelta(3)
    put_day(factory, later, [("2603.00001", "cs.LG", "new", 1)])
    assert put_day(factory, MON, [("2603.00001", "cs.LG", "new", 1)]) == [True]
    assert listings(factory, "2603.00001") == [(MON, "new", 1)]
    with session_scope(factory) as s:  # the later day is gone from navigation too
        assert store.latest_day(s, spec("cs.LG")) == MON
        assert store.next_day(s, spec("cs.LG"), MON) is None


def test_versions_on_one_day_and_replacements(factory: sessionmaker[Session]) -> None:
    put_day(factory, MON, [("2603.00001", "cs.LG", "replace", 2)])
    # a higher version the same day replaces the row's version; a lower one changes nothing
    assert put_day(factory, MON, [("2603.00001", "cs.LG", "replace", 3)]) == [True]
    assert put_day(factory, MON, [("2603.00001", "cs.LG", "replace", 2)]) == [False]
    assert put_day(factory, MON + timedelta(1), [("2603.00001", "cs.LG", "replace", 4)]) == [True]
    assert listings(factory, "2603.00001") == [
        (MON, "replace", 3),
        (MON + timedelta(1), "replace", 4),
    ]


# ---------------------------------------------------------------- day navigation and lists


def test_navigation_across_gaps_exclusions_and_unions(factory: sessionmaker[Session]) -> None:
    days = [MON, MON + timedelta(1), MON + timedelta(7), MON + timedelta(8)]  # a week's gap
    put_day(factory, days[0], [("2603.00001", "cs.LG", "new", 1)])
    put_day(factory, days[1], [("2603.00002", "cs.LG,cs.AI", "new", 1)])
    put_day(factory, days[2], [("2603.00003", "cs.CL", "new", 1)])
    put_day(factory, days[3], [("2603.00001", "cs.LG", "replace", 2)])
    with session_scope(factory) as s:
        lg = spec("cs.LG")
        assert store.latest_day(s, lg) == days[3]  # a replacement is a listed day
        assert store.latest_day(s, lg, before=days[3]) == days[1]  # across the gap
        assert store.next_day(s, lg, days[1]) == days[3]
        assert store.latest_day(s, lg, before=days[0]) is None
        assert store.next_day(s, lg, days[3]) is None
        # an exclusion empties day 1 for cs.LG-cs.AI: navigation steps over it
        no_ai = spec("cs.LG", "cs.AI")
        assert store.latest_day(s, no_ai, before=days[3]) == days[0]
        assert store.next_day(s, no_ai, days[0]) == days[3]
        assert store.latest_day(s, spec("cs.AI", "cs.LG")) is None
        assert store.latest_day(s, spec("cs.LG", "cs.LG")) is None
        union = spec("cs.AI,cs.CL")
        assert store.latest_day(s, union) == days[2]
        assert store.latest_day(s, union, before=days[2]) == days[1]
        assert store.next_day(s, union, days[0]) == days[1]
        assert store.latest_day(s, spec("astro-ph.EP")) is None


def test_a_new_version_moves_the_paper_between_categories(factory: sessionmaker[Session]) -> None:
    put_day(factory, MON, [("2603.00001", "cs.LG", "new", 1)])
    put_day(factory, MON + timedelta(1), [("2603.00002", "cs.CL", "new", 1)])
    # v2 is in cs.CL instead of cs.LG: its first day now shows under cs.CL, not cs.LG
    put_day(factory, MON + timedelta(2), [("2603.00001", "cs.CL", "replace", 2)])
    with session_scope(factory) as s:
        assert store.latest_day(s, spec("cs.CL"), before=MON + timedelta(1)) == MON
        assert store.latest_day(s, spec("cs.LG")) is None


def test_union_day_types_follow_the_union(factory: sessionmaker[Session]) -> None:
    put_day(factory, MON, [("2603.00001", "cs.LG", "new", 1)])
    put_day(
        factory,
        MON + timedelta(1),
        [
            ("2603.00002", "cs.AI,cs.LG", "new", 1),  # new in the union (primary cs.AI)
            ("2603.00003", "stat.ML,cs.LG", "new", 1),  # cross
            ("2603.00004", "cs.CL", "new", 1),  # neither
            ("2603.00001", "cs.LG", "replace", 2),  # replace
            ("2603.00005", "math.OC,cs.AI", "replace", 2),  # replace-cross
        ],
    )
    with session_scope(factory) as s:
        union = spec("cs.AI,cs.LG")
        listing = store.day_listing(s, union, MON + timedelta(1), replacements=True, show=9, skip=0)
        assert listing.counts == {"new": 1, "cross": 1, "replace": 1, "replace-cross": 1}
        assert [(p.id, t) for p, t in listing.papers] == [
            ("2603.00002", "new"),
            ("2603.00003", "cross"),
            ("2603.00001", "replace"),
            ("2603.00005", "replace-cross"),
        ]
        short = store.day_listing(s, union, MON + timedelta(1), replacements=False, show=9, skip=0)
        assert short.total == 2 and len(short.papers) == 2
        no_ml = spec("cs.AI,cs.LG", "stat.ML")
        assert (
            store.day_listing(
                s, no_ml, MON + timedelta(1), replacements=False, show=9, skip=0
            ).total
            == 1
        )


CATEGORIES = ["cs.AI", "cs.CL", "cs.LG", "stat.ML", "q-bio.NC"]


def test_navigation_agrees_with_the_rows_on_a_shuffled_history(
    factory: sessionmaker[Session],
) -> None:
    """Days ingested out of order, repeats, new versions that change categories: every
    previous/next day any spec shows is what the listings and categories say."""
    rng = random.Random(8)
    days = [MON + timedelta(n) for n in range(24) if (MON + timedelta(n)).weekday() < 5]
    plan: dict[date, list[tuple[str, str, str, int]]] = {d: [] for d in days}
    versions: dict[str, int] = {}
    for n in range(70):
        paper_id = f"2603.{n:05d}"
        first = rng.choice(days[:-3])
        cats = ",".join(rng.sample(CATEGORIES, rng.choice([1, 1, 2, 3])))
        plan[first].append((paper_id, cats, "new", 1))
        if rng.random() < 0.2:  # a repeated feed lists it again a few days later
            plan[rng.choice([d for d in days if d > first])].append((paper_id, cats, "new", 1))
        if rng.random() < 0.3:  # a new version, maybe in other categories
            versions[paper_id] = 2
            cats2 = ",".join(rng.sample(CATEGORIES, rng.choice([1, 2])))
            plan[rng.choice([d for d in days if d > first])].append((paper_id, cats2, "replace", 2))
    order = list(days)
    rng.shuffle(order)
    for d in order:
        put_day(factory, d, plan[d])
    with session_scope(factory) as s:
        rows = s.execute(select(Listing.paper_id, Listing.date)).all()
        cats_of: dict[str, set[str]] = {}
        for paper_id, category in s.execute(select(PaperCategory.paper_id, PaperCategory.category)):
            cats_of.setdefault(paper_id, set()).add(category)
        specs = [spec(c) for c in CATEGORIES] + [
            spec("cs.AI,cs.CL"),
            spec("cs.LG,q-bio.NC"),
            spec("cs.LG", "cs.AI"),
            spec("cs.AI,cs.CL,cs.LG", "stat.ML"),
            spec("q-bio.NC", "cs.LG,cs.CL"),
        ]
        probes = [days[0] - timedelta(1), *days, days[-1] + timedelta(1)]
        for f in specs:
            listed = sorted(
                {d for p, d in rows if cats_of[p] & f.include and not cats_of[p] & f.exclude}
            )
            assert store.latest_day(s, f) == (listed[-1] if listed else None), f
            for probe in probes:
                before = [d for d in listed if d < probe]
                after = [d for d in listed if d > probe]
                assert store.latest_day(s, f, before=probe) == (before[-1] if before else None)
                assert store.next_day(s, f, probe) == (after[0] if after else None)


# ---------------------------------------------------------------- what navigation touches


def _statements(engine: Engine, call: Callable[[], Any]) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []

    def keep(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    return seen


def _rows_touched(plan: dict[str, Any]) -> Iterator[tuple[str, float]]:
    """(table, rows read) for every scan node of a Postgres JSON plan."""
    if "Relation Name" in plan:
        loops = plan.get("Actual Loops", 1)
        read = plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)
        yield plan["Relation Name"], read * loops
    for child in plan.get("Plans", []):
        yield from _rows_touched(child)


HISTORY_TABLES = ("listings", "paper_categories")


def _navigation(factory: sessionmaker[Session], last: date) -> Callable[[], None]:
    def run() -> None:
        with session_scope(factory) as s:
            rare, busy = spec("q-bio.NC"), spec("cs.LG,cs.AI", "stat.ML")
            assert store.latest_day(s, rare, before=last) == MON
            assert store.next_day(s, rare, MON) is None
            assert store.latest_day(s, spec("astro-ph.EP")) is None
            assert store.latest_day(s, busy) == last
            assert store.latest_day(s, busy, before=last) is not None
            store.day_listing(s, busy, last, replacements=True, show=25, skip=0)

    return run


def _cost(engine: Engine, run: Callable[[], None]) -> float:
    """Rows read from the history's tables (Postgres, seq scans off so the planner shows the
    plan a big history gets); on SQLite, fails on any plan step that walks those tables
    instead of seeking one day's rows."""
    statements = _statements(engine, run)
    total = 0.0
    with engine.connect() as c:
        if engine.dialect.name == "postgresql":
            c.exec_driver_sql("SET enable_seqscan = off")
            for statement, params in statements:
                explained = c.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", params)
                raw = explained.scalar_one()
                plan = json.loads(raw) if isinstance(raw, str) else raw
                total += sum(n for t, n in _rows_touched(plan[0]["Plan"]) if t in HISTORY_TABLES)
            return total
        for statement, params in statements:
            for *_, detail in c.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params):
                assert not re.match(r"SCAN (listings|paper_categories|day_categories)", detail)
                if detail.startswith("SEARCH listings"):
                    assert "(date=?" in detail, detail  # one day's rows, never a range of days
                if detail.startswith("SEARCH day_categories"):
                    assert "(category=?" in detail, detail
    return total


def test_navigation_costs_the_same_whatever_the_history(
    engine: Engine, factory: sessionmaker[Session]
) -> None:
    """q-bio.NC listed on the first day only; cs.LG/cs.AI every day. Navigating from the last
    day back to the first reads as many rows with 2 days between them as with 30."""

    def busy_day(d: date, n: int) -> list[tuple[str, str, str, int]]:
        tag = f"{(d - MON).days:03d}"
        return [
            (f"2603.{tag}{k:02d}", ["cs.LG", "cs.AI,cs.LG", "stat.ML,cs.LG"][k % 3], "new", 1)
            for k in range(n)
        ]

    put_day(factory, MON, [("2603.99999", "q-bio.NC,cs.LG", "new", 1), *busy_day(MON, 5)])
    last = MON + timedelta(40)
    put_day(factory, last, busy_day(last, 12))
    for n in (1, 2):
        put_day(factory, MON + timedelta(n), busy_day(MON + timedelta(n), 12))
    run = _navigation(factory, last)
    short = _cost(engine, run)
    for n in range(3, 33):
        put_day(factory, MON + timedelta(n), busy_day(MON + timedelta(n), 12))
    if engine.dialect.name == "postgresql":
        with engine.begin() as c:
            c.exec_driver_sql("ANALYZE")
    assert _cost(engine, run) <= short + 3  # the 30 days between add ~360 listings


# ---------------------------------------------------------------- runs


def test_runs_finish_fail_and_die(factory: sessionmaker[Session]) -> None:
    with session_scope(factory, write=True) as s:
        ok = store.start_run(s, "rss", "cs.LG").id
        store.finish_run(s, ok, "ok", n_items=3, listing_date=MON)
        bad = store.start_run(s, "rss", "cs.LG").id
        store.finish_run(s, bad, "failed", error="x" * 5000)
        other = store.start_run(s, "rss", "cs.AI").id
        store.finish_run(s, other, "skipped", error="held")
        dead = store.start_run(s, "api", "2603.00001").id
    with session_scope(factory, write=True) as s:
        assert store.mark_interrupted(s, utcnow() - timedelta(hours=1)) == 0  # too young
        assert store.mark_interrupted(s, utcnow() + timedelta(seconds=1)) == 1
    with session_scope(factory) as s:
        run = s.get(IngestRun, dead)
        assert run is not None and run.status == "interrupted"
        failed = s.get(IngestRun, bad)
        assert failed is not None and len(failed.error or "") == 4000  # capped
        assert [r.id for r in store.recent_failures(s)] == [bad]
        # per target the newest run that did something: the skip does not hide cs.AI's silence
        latest = {(r.source, r.target): r.id for r in store.last_run_per_target(s)}
        assert latest == {("rss", "cs.LG"): bad, ("api", "2603.00001"): dead}
        assert [r.id for r in store.recent_runs(s, limit=2)] == [dead, other]
