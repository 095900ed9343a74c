"""web.page_cache: a day list is answered from memory until a commit anywhere changes what it
shows (store.generations), never for a member, and byte for byte what a render would say."""

from __future__ import annotations

import asyncio
import gc
import gzip
import warnings
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import Message, Receive, Scope, Send

from coolpapers import ingest, store
from coolpapers.config import Settings
from coolpapers.db import make_engine, make_sessionmaker, session_scope
from coolpapers.models import Generation, Paper
from coolpapers.store import generations
from coolpapers.web import create_app, page_cache
from coolpapers.web.page_cache import PageCache, PageStore, takes_gzip
from tests.accounts_kit import add, app_client, login, member_of, password_settings
from tests.conftest import RSS
from tests.fakes.arxiv_server import FakeArxiv

CL_FEED = RSS / "rss-cs.CL-2026-08-20-thu.xml"
LG_FEED = RSS / "rss-cs.LG-2026-08-21-fri.xml"
SPEC = "cs.CL,cs.LG"
PAGES = (
    f"/arxiv/{SPEC}",
    f"/arxiv/{SPEC}?date=2026-08-20",
    f"/arxiv/{SPEC}?date=2026-08-20&sort=time&show=5&skip=5",
    f"/arxiv/{SPEC}?date=2026-08-20&fragment=1&skip=25",
    f"/arxiv/{SPEC}?date=2026-08-20&replace=1&sort=1",
    f"/arxiv/{SPEC}/feed",
    f"/api/arxiv/{SPEC}?date=2026-08-20",
)


def ingested(factory: sessionmaker[Session], *paths: object) -> None:
    reports = ingest.ingest_files(factory, list(paths))  # type: ignore[arg-type]
    assert not any(r.failed for r in reports), [r.line() for r in reports]


def cache(client: TestClient) -> PageStore:
    store: PageStore = client.app.state.page_cache  # type: ignore[attr-defined]
    return store


@pytest.fixture
def cl_day(factory: sessionmaker[Session]) -> None:
    ingested(factory, CL_FEED)


def test_a_copy_is_the_render_byte_for_byte(
    client: TestClient, settings: Settings, cl_day: None
) -> None:
    first = {path: client.get(path) for path in PAGES}
    assert all(r.status_code == 200 for r in first.values())
    assert (cache(client).hits, cache(client).misses) == (0, len(PAGES))
    again = {path: client.get(path) for path in PAGES}
    assert cache(client).hits == len(PAGES)
    with TestClient(create_app(settings)) as fresh:  # another process: renders each anew
        rendered = {path: fresh.get(path) for path in PAGES}
    for path in PAGES:
        assert again[path].content == first[path].content == rendered[path].content, path
        assert again[path].headers["content-type"] == rendered[path].headers["content-type"]
        assert again[path].headers["etag"] == rendered[path].headers["etag"]
        assert again[path].headers["cache-control"] == "no-cache"
        # web.security's headers are added to a copy as to a render
        policy = again[path].headers["content-security-policy"]
        assert policy == rendered[path].headers["content-security-policy"]


def test_a_reader_holding_the_copy_gets_a_304(client: TestClient, cl_day: None) -> None:
    page = client.get(PAGES[1])
    etag = page.headers["etag"]
    same = client.get(PAGES[1], headers={"If-None-Match": etag})
    assert (same.status_code, same.content, same.headers["etag"]) == (304, b"", etag)
    other = client.get(PAGES[1], headers={"If-None-Match": '"something else"'})
    assert other.status_code == 200 and other.content == page.content


def _raw(client: TestClient, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """The answer's status, headers and bytes as sent (httpx's decoding bypassed)."""
    with client.stream("GET", path, headers=headers) as answer:
        return answer.status_code, dict(answer.headers), b"".join(answer.iter_raw())


@pytest.mark.parametrize("inline_max", [page_cache.UNPACK_INLINE_MAX, 0])
@pytest.mark.parametrize("path", [PAGES[1], PAGES[-1]])
def test_a_reader_that_takes_gzip_gets_the_packed_copy(
    client: TestClient, path: str, inline_max: int, monkeypatch: pytest.MonkeyPatch, cl_day: None
) -> None:
    monkeypatch.setattr(page_cache, "UNPACK_INLINE_MAX", inline_max)  # 0: unpacked on a thread
    for round_ in ("render", "copy"):
        status, plain_headers, plain = _raw(client, path, **{"Accept-Encoding": "identity"})
        assert status == 200 and "content-encoding" not in plain_headers, round_
        status, headers, packed = _raw(client, path, **{"Accept-Encoding": "br, gzip"})
        assert status == 200 and headers["content-encoding"] == "gzip", round_
        assert gzip.decompress(packed) == plain and len(packed) < len(plain) / 2, round_
        assert int(headers["content-length"]) == len(packed), round_
        assert headers["vary"] == plain_headers["vary"] == "Accept-Encoding", round_
        assert headers["etag"] == plain_headers["etag"][:-1] + '-gzip"', round_
        assert headers["content-type"] == plain_headers["content-type"], round_
    assert cache(client).hits == 3  # every answer but the first, which rendered

    gzip_etag = headers["etag"]
    status, _, body = _raw(client, path, **{"Accept-Encoding": "gzip", "If-None-Match": gzip_etag})
    assert (status, body) == (304, b"")
    # the packed representation's tag does not validate the plain one
    status, _, body = _raw(
        client, path, **{"Accept-Encoding": "identity", "If-None-Match": gzip_etag}
    )
    assert (status, body) == (200, plain)


@pytest.mark.parametrize(
    ("accept", "takes"),
    [
        ("gzip", True),
        ("GZip;Q=0.5", True),
        ("deflate, gzip;q=1.0, *;q=0.5", True),
        ("x-gzip", True),
        ("*", True),
        ("", False),
        ("identity", False),
        ("br, zstd", False),
        ("gzip;q=0", False),
        ("gzip;q=0, *", False),
        ("*;q=0", False),
        ("gzip;q=much", False),
    ],
)
def test_takes_gzip_reads_accept_encoding(accept: str, takes: bool) -> None:
    scope = {"headers": [(b"accept-encoding", accept.encode())]}
    assert takes_gzip(scope) is takes


def test_an_ingest_elsewhere_is_seen_at_the_next_request(
    client: TestClient, settings: Settings, engine: Engine, cl_day: None
) -> None:
    """The worker's ingest goes through an engine of its own (another process's view)."""
    latest = client.get(f"/api/arxiv/{SPEC}").json()
    assert latest["date"] == "2026-08-20"
    day_page = client.get(f"/arxiv/{SPEC}?date=2026-08-20").text
    assert 'class="next"' not in day_page
    before = client.get(f"/api/arxiv/{SPEC}").json()
    assert before == latest and cache(client).hits == 1

    worker = make_engine(settings)
    try:
        ingested(make_sessionmaker(worker), LG_FEED)
    finally:
        worker.dispose()

    assert client.get(f"/api/arxiv/{SPEC}").json()["date"] == "2026-08-21"
    assert (
        'class="next" href="/arxiv/cs.CL,cs.LG?date=2026-08-21"'
        in client.get(f"/arxiv/{SPEC}?date=2026-08-20").text
    )


def test_a_click_or_a_change_of_a_paper_elsewhere_shows_at_once(
    client: TestClient, settings: Settings, cl_day: None
) -> None:
    page = client.get(f"/api/arxiv/{SPEC}").json()
    first = page["papers"][0]["id"]
    assert page["papers"][0]["pdf_clicks"] == 0
    client.get(f"/api/arxiv/{SPEC}")
    assert cache(client).hits == 1
    other = make_engine(settings)
    try:
        with session_scope(make_sessionmaker(other), write=True) as s:
            s.execute(
                update(Paper)
                .where(Paper.id == first)
                .values(pdf_clicks=Paper.pdf_clicks + 3, title="A title changed elsewhere")
            )
    finally:
        other.dispose()
    shown = client.get(f"/api/arxiv/{SPEC}").json()["papers"][0]
    assert (shown["pdf_clicks"], shown["title"]) == (3, "A title changed elsewhere")
    html = client.get(f"/arxiv/{SPEC}").text
    assert f'<sup id="pdf-clicks-{first}">3</sup>' in html


def test_writes_that_pages_do_not_show_keep_the_copies(
    client: TestClient, factory: sessionmaker[Session], cl_day: None
) -> None:
    client.get(PAGES[0])
    with session_scope(factory) as s:
        generation = s.scalar(select(Generation.value))
    add(factory, "ada")  # a member: not on any page
    with session_scope(factory) as s:
        assert s.scalar(select(Generation.value)) == generation
    client.get(PAGES[0])
    assert cache(client).hits == 1


def test_a_run_raises_the_generation_when_it_ends_not_when_it_starts(
    client: TestClient, factory: sessionmaker[Session], cl_day: None
) -> None:
    """A run is inserted "running", which no page shows: an ingest raises the generation once,
    at its end, and the copies rendered while it ran are not thrown away."""

    def generation() -> int | None:
        with session_scope(factory) as s:
            return s.scalar(select(Generation.value))

    client.get(PAGES[0])
    before = generation()
    with session_scope(factory, write=True) as s:
        run = store.start_run(s, "rss", "https://rss.arxiv.org/rss/cs.CL")
    assert generation() == before
    client.get(PAGES[0])
    assert cache(client).hits == 1
    with session_scope(factory, write=True) as s:
        store.finish_run(s, run.id, "failed", error="arXiv answered 503")
    assert generation() == before + 1  # type: ignore[operator]
    client.get(PAGES[0])
    assert cache(client).hits == 1  # rendered again: the failure may show


def generation(factory: sessionmaker[Session]) -> int | None:
    with session_scope(factory) as s:
        return s.scalar(select(Generation.value))


def test_a_held_block_raises_the_generation_once_as_it_ends(
    client: TestClient,
    settings: Settings,
    engine: Engine,
    factory: sessionmaker[Session],
    cl_day: None,
) -> None:
    """An ingest's commits (a feed, then its keywords) raise the generation once, at the end:
    the copies made before are served until the ingest is whole."""
    client.get(f"/api/arxiv/{SPEC}")
    before = generation(factory)
    assert before is not None
    with generations.held(engine):
        ingested(factory, LG_FEED)
        with session_scope(factory, write=True) as s:  # as the [REL] keywords' write
            s.execute(update(Paper).values(pdf_clicks=Paper.pdf_clicks + 1))
        assert generation(factory) == before
        assert client.get(f"/api/arxiv/{SPEC}").json()["date"] == "2026-08-20"  # the copy
        with generations.held(engine):  # nested: the outer block raises
            ingested(factory, CL_FEED)
        assert generation(factory) == before
        # another database connection pool (another process's view) is not held
        other = make_engine(settings)
        try:
            with session_scope(make_sessionmaker(other), write=True) as s:
                s.execute(update(Paper).values(pdf_clicks=Paper.pdf_clicks + 1))
        finally:
            other.dispose()
        assert generation(factory) == before + 1
    assert generation(factory) == before + 2
    assert client.get(f"/api/arxiv/{SPEC}").json()["date"] == "2026-08-21"
    with generations.held(engine):  # no change: nothing to raise
        client.get(PAGES[0])
    assert generation(factory) == before + 2


def test_a_held_block_that_fails_still_raises_what_it_committed(
    engine: Engine, factory: sessionmaker[Session], cl_day: None
) -> None:
    before = generation(factory)
    assert before is not None
    with pytest.raises(RuntimeError, match="the index failed"), generations.held(engine):
        ingested(factory, LG_FEED)
        raise RuntimeError("the index failed")
    assert generation(factory) == before + 1


def test_a_long_held_block_shows_its_changes_every_hold_max_s(
    engine: Engine, factory: sessionmaker[Session], cl_day: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(generations, "HOLD_MAX_S", 0.0)  # every commit is past the bound
    before = generation(factory)
    assert before is not None
    with generations.held(engine):
        ingested(factory, LG_FEED)
        assert generation(factory) == before + 1
    assert generation(factory) == before + 1  # raised already: nothing left to raise


def test_a_scheduled_ingest_shows_on_the_pages_once(
    client: TestClient,
    settings: Settings,
    factory: sessionmaker[Session],
    fake_arxiv: FakeArxiv,
    cl_day: None,
) -> None:
    """ingest_due: two feeds stored, the index caught up and the keywords written, one raise."""
    client.get(f"/api/arxiv/{SPEC}")
    before = generation(factory)
    assert before is not None
    fake_arxiv.serve_feed("cs.CL", CL_FEED.read_bytes())
    fake_arxiv.serve_feed("cs.LG", LG_FEED.read_bytes())
    reports = ingest.ingest_due(factory, settings, specs=["cs.CL", "cs.LG"], every=True)
    assert [(r.target, r.status) for r in reports] == [("cs.CL", "ok"), ("cs.LG", "ok")]
    with session_scope(factory) as s:
        keywords = s.scalars(select(Paper.keywords).where(Paper.primary_category == "cs.LG"))
        assert any(keywords)  # the keywords' writes were among the commits held
    assert generation(factory) == before + 1
    assert client.get(f"/api/arxiv/{SPEC}").json()["date"] == "2026-08-21"


def test_an_ingest_whose_last_raise_fails_says_so_and_keeps_its_papers(
    settings: Settings, factory: sessionmaker[Session], fake_arxiv: FakeArxiv
) -> None:
    with session_scope(factory, write=True) as s:
        s.execute(text("DROP TABLE generations"))  # the raise as the ingest ends will fail
    fake_arxiv.serve_feed("cs.LG", LG_FEED.read_bytes())
    with pytest.raises(ingest.DatabaseFailed) as failed:
        ingest.ingest_due(factory, settings, specs=["cs.LG"], every=True)
    assert "generations" in str(failed.value) and "UPDATE" not in str(failed.value)
    with session_scope(factory) as s:  # what the ingest committed stays
        assert s.scalar(select(func.count()).select_from(Paper)) == 200


def test_orders_that_follow_stars_or_keywords_are_rendered_each_time(
    client: TestClient, cl_day: None
) -> None:
    for path in (f"/arxiv/{SPEC}?sort=lab", f"/arxiv/{SPEC}?sort=language,model"):
        assert client.get(path).status_code == 200
        assert client.get(path).status_code == 200
    assert (cache(client).hits, cache(client).misses, len(cache(client).copies)) == (0, 0, 0)


def test_a_members_page_never_comes_from_nor_goes_into_the_cache(
    settings: Settings, factory: sessionmaker[Session], cl_day: None
) -> None:
    add(factory, "ada")
    path = PAGES[1]
    with app_client(password_settings(settings)) as client:
        anonymous = client.get(path)
        assert member_of(anonymous) is None and len(cache(client).copies) == 1
        assert login(client, "ada").status_code == 303
        mine = client.get(path)
        assert member_of(mine) == "ada"
        assert mine.headers["cache-control"] == "private, no-store"
        assert (cache(client).hits, cache(client).misses) == (0, 1)
        client.cookies.clear()  # logged out: the anonymous copy again, not the member's page
        again = client.get(path)
        assert member_of(again) is None and again.content == anonymous.content
        assert cache(client).hits == 1


def test_a_lab_that_is_not_public_caches_nothing(
    settings: Settings, factory: sessionmaker[Session], cl_day: None
) -> None:
    with app_client(password_settings(settings, public_read=False)) as client:
        for _ in range(2):
            assert client.get(PAGES[1]).status_code == 303  # to the login page
            assert client.get(PAGES[-1]).status_code == 401
        assert (cache(client).hits, cache(client).misses) == (0, 0)


def test_copies_stay_within_their_bytes(client: TestClient, cl_day: None) -> None:
    store = cache(client)
    client.get(PAGES[1])
    (kept,) = store.copies.values()
    store.capacity = 3 * kept.size
    for path in PAGES:
        client.get(path)
    assert store.size <= store.capacity
    assert 0 < len(store.copies) < len(PAGES)
    assert list(store.copies)[-1][2:] == (f"/api/arxiv/{SPEC}", b"date=2026-08-20")


@pytest.fixture
def two_apps(settings: Settings, engine: Engine) -> Iterator[tuple[TestClient, TestClient]]:
    with TestClient(create_app(settings)) as a, TestClient(create_app(settings)) as b:
        yield a, b


def test_two_web_processes_keep_their_own_copies_of_one_truth(
    two_apps: tuple[TestClient, TestClient], factory: sessionmaker[Session]
) -> None:
    a, b = two_apps
    ingested(factory, CL_FEED)
    assert a.get(PAGES[0]).content == b.get(PAGES[0]).content
    ingested(factory, LG_FEED)
    assert a.get(f"/api/arxiv/{SPEC}").json()["date"] == "2026-08-21"
    assert a.get(PAGES[0]).content == b.get(PAGES[0]).content
    assert cache(a).hits == cache(b).hits == 0


def test_without_a_generation_to_read_every_page_is_rendered(
    client: TestClient, factory: sessionmaker[Session], cl_day: None
) -> None:
    with session_scope(factory, write=True) as s:
        s.execute(delete(Generation))
    pages = [client.get(PAGES[1]) for _ in range(2)]
    assert [p.status_code for p in pages] == [200, 200] and pages[0].content == pages[1].content
    assert (cache(client).hits, cache(client).misses, len(cache(client).copies)) == (0, 0, 0)
    assert "etag" not in pages[0].headers


def test_readers_of_a_page_being_rendered_wait_for_that_one_render(
    settings: Settings, factory: sessionmaker[Session]
) -> None:
    """After an ingest, the readers of a page share its first render (the layer alone, around
    a route that renders only when told to)."""
    store = PageStore()
    app = SimpleNamespace(
        state=SimpleNamespace(settings=settings, page_cache=store, sessionmaker=factory)
    )
    renders = 0
    answers: list[list[Message]] = [[], []]

    async def scenario() -> None:
        nonlocal renders
        entered, release = asyncio.Event(), asyncio.Event()

        async def route(_scope: Scope, _receive: Receive, send: Send) -> None:
            nonlocal renders
            renders += 1
            entered.set()
            await release.wait()
            start = {"type": "http.response.start", "status": 200, "headers": [(b"x-kind", b"a")]}
            await send(start)
            await send({"type": "http.response.body", "body": b"<p>the day</p>"})

        layer = PageCache(route)

        async def reader(index: int) -> None:
            scope = {
                "type": "http",
                "method": "GET",
                "scheme": "http",
                "path": "/arxiv/cs.LG",
                "query_string": b"date=2026-08-20",
                "headers": [(b"host", b"testserver")],
                "app": app,
            }

            async def receive() -> Message:
                return {"type": "http.request", "body": b""}

            async def send(message: Message) -> None:
                answers[index].append(message)

            await layer(scope, receive, send)

        first = asyncio.create_task(reader(0))
        await entered.wait()
        second = asyncio.create_task(reader(1))
        while store.joined == 0 and renders == 1:  # until the second waits, or renders too
            await asyncio.sleep(0.001)
        release.set()
        await asyncio.gather(first, second)

    try:
        asyncio.run(scenario())
    finally:
        store.close()
    assert renders == 1 and (store.misses, store.hits, store.joined) == (1, 1, 1)
    for messages in answers:
        assert messages[0]["status"] == 200 and messages[1]["body"] == b"<p>the day</p>"
        assert (b"x-kind", b"a") in messages[0]["headers"]


def test_a_closed_reader_reads_nothing_and_leaves_no_connection(engine: Engine) -> None:
    """The app's shutdown closes the reader while a read may be about to connect on its
    thread: whatever connection that read makes is closed, never left for the collector (a
    psycopg connection collected open warns, and the warning surfaced in another test)."""
    reader = generations.PagesReader(engine)
    assert reader.read() is not None
    reader.close()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert reader.read() is None  # it connects, finds itself closed, closes that
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


def test_a_reader_never_closed_closes_its_connection_when_collected(engine: Engine) -> None:
    """An app whose shutdown never ran (a killed server, an app a test left open) never
    closes its reader: the connection is closed when the reader is collected, quietly."""
    reader = generations.PagesReader(engine)
    assert reader.read() is not None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del reader
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
