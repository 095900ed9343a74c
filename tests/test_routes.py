"""The route table: every path has one meaning whatever the order the routers are registered
in, and HEAD answers like GET without a body."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Match

from coolpapers.config import Settings
from coolpapers.web import create_app, pages
from tests.fakes.arxiv_server import FakeArxiv
from tests.test_web import stocked  # noqa: F401 - the fixture

# Every kind of page, good and bad input; each one's answer must not depend on router order.
URLS = [
    "/",
    "/go?spec=cs.LG&date=2026-08-21",
    "/go?spec=arXiv:2608.19234v1",
    "/arxiv/cs.LG",
    "/arxiv/cs.LG?date=2026-08-21&sort=1&show=5",
    "/arxiv/cs.LG/feed",
    "/arxiv/cs.CL+cs.LG-cs.AI?date=2026-08-21",
    "/arxiv/cs.XX",
    "/arxiv/-cs.AI",
    "/arxiv/search",
    "/arxiv/search?query=fuzzy",
    "/arxiv/search/feed?query=fuzzy",
    "/arxiv/2608.19234",
    "/arxiv/2608.19234v1",
    "/arxiv/arXiv:2608.19234",
    "/arxiv/arxiv:cs.AI",
    "/arxiv/2608.19234,2608.19210",
    "/arxiv/2401.99999999",
    "/arxiv/hep-th/9901001v2",
    "/arxiv/hep-th/feed",
    "/api/arxiv/cs.LG?show=3",
    "/api/arxiv/2608.19234,2608.19210",
    "/api/papers/2608.19234",
    "/api/papers/2608.19234/faq",
    "/api/papers/not-an-id",
    "/api/search?query=fuzzy",
    "/abs/2608.19234v1",
    "/abs/hep-th/9901001v2",
    "/pdf/2608.19234",
    "/abs/not-an-id",
    "/status",
    "/nope",
]
VOLATILE = {"/status"}  # says what time it is: its status code is compared, not its body


def _answers(client: TestClient) -> dict[str, tuple[object, ...]]:
    answers: dict[str, tuple[object, ...]] = {}
    for url in URLS:
        r = client.get(url)
        body = b"" if url in VOLATILE else r.content
        answers[url] = (
            r.status_code,
            r.headers.get("location"),
            r.headers.get("content-type"),
            body,
        )
    return answers


def _reordered(
    order: Callable[[list[APIRouter]], list[APIRouter]],
) -> Callable[[], list[APIRouter]]:
    """``pages.routers`` in another order, each router's own routes reversed too (copies: the
    status router is one object shared by every app)."""
    original = pages.routers

    def routers() -> list[APIRouter]:
        copies = []
        for router in order(original()):
            copy = APIRouter()
            copy.routes.extend(reversed(router.routes))
            copies.append(copy)
        return copies

    return routers


def _shuffled(seed: int) -> Callable[[list[APIRouter]], list[APIRouter]]:
    return lambda routers: random.Random(seed).sample(routers, len(routers))


@pytest.fixture
def app_answers(
    settings: Settings,
    stocked: object,  # noqa: F811 - the fixture imported above
    fake_arxiv: FakeArxiv,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[[Callable[[list[APIRouter]], list[APIRouter]]], dict[str, object]]]:
    def answers(order: Callable[[list[APIRouter]], list[APIRouter]]) -> dict[str, object]:
        with monkeypatch.context() as m:
            m.setattr(pages, "routers", _reordered(order))
            app = create_app(settings)
        with TestClient(app, follow_redirects=False) as client:
            return dict(_answers(client))

    yield answers


def test_answers_do_not_depend_on_router_order(
    app_answers: Callable[[Callable[[list[APIRouter]], list[APIRouter]]], dict[str, object]],
) -> None:
    expected = app_answers(lambda routers: routers)
    # the search page (its index is not built here), not a list spec named "search"
    assert expected["/arxiv/search?query=fuzzy"][0] == 503  # type: ignore[index]
    assert expected["/arxiv/hep-th/feed"][0] == 200  # type: ignore[index]  # a feed, not an id
    for order in (lambda routers: routers[::-1], _shuffled(1), _shuffled(2)):
        got = app_answers(order)
        assert [u for u in URLS if got[u] != expected[u]] == []


# ---------------------------------------------------------------- shapes: disjoint by regex

PREFIXES = ["/arxiv/", "/api/arxiv/", "/api/papers/", "/abs/", "/pdf/"]
PIECES = [
    "cs.AI",
    "cs.AI,cs.LG-cs.CY",
    "-cs.AI",
    "search",
    "Search",
    "feed",
    "faq",
    "stream",
    "2401.00001",
    "2401.00001v2,2401.00002",
    "arxiv:2401.00001",
    "arXiv:cs.AI",
    "hep-th",
    "hep-th/9901001",
    "math.CA/0611800v2",
    "9901001",
    "x,y",
    "",
]


def _paths() -> Iterator[str]:
    for prefix in PREFIXES:
        for n in (1, 2, 3):
            for parts in itertools.product(PIECES, repeat=n):
                yield prefix + "/".join(parts)


def test_no_two_routes_take_one_path(settings: Settings) -> None:
    routes = [r for router in pages.routers() for r in router.routes if isinstance(r, APIRoute)]
    overlaps = []
    for path in _paths():
        for method in ("GET", "POST"):
            scope = {"type": "http", "path": path, "root_path": "", "method": method}
            full = [r.path for r in routes if r.matches(scope)[0] == Match.FULL]
            if len(full) > 1:
                overlaps.append((method, path, full))
    assert overlaps == []


# ---------------------------------------------------------------- HEAD

HEAD_PATHS = [
    "/",
    "/arxiv/cs.LG",
    "/arxiv/cs.LG/feed",
    "/arxiv/2608.19234",
    "/arxiv/2608.19234,2608.19210",
    "/arxiv/2608.19234v1",
    "/arxiv/search?query=fuzzy",
    "/arxiv/search/feed?query=fuzzy",
    "/api/arxiv/cs.LG",
    "/api/papers/2608.19234",
    "/api/papers/2608.19234/faq",
    "/api/papers/2608.19234/faq/stream",
    "/api/search?query=fuzzy",
    "/api/status",
    "/status",
    "/abs/2608.19234",
    "/static/app.css",
    "/docs",
    "/openapi.json",
    "/arxiv/cs.XX",
    "/nope",
]


@pytest.mark.usefixtures("stocked")
def test_head_answers_like_get_without_a_body(client: TestClient) -> None:
    for path in HEAD_PATHS:  # one stocked database for the whole table
        get = client.get(path)
        head = client.head(path)
        assert head.status_code == get.status_code != 405, path
        assert head.content == b"", path
        for name in ("content-type", "location"):
            assert head.headers.get(name) == get.headers.get(name), (path, name)
        if "content-length" in head.headers and path not in ("/status", "/api/status"):
            assert int(head.headers["content-length"]) == len(get.content), path


def test_head_is_refused_where_get_is(client: TestClient) -> None:
    """A POST-only path: 405 to HEAD, as to GET."""
    assert client.head("/arxiv/2608.19234/faq").status_code == 405
    assert client.get("/arxiv/2608.19234/faq").status_code == 405
