"""Browser security headers on every response (pages, errors, JSON, docs, static files,
redirects), the PDF proxy's alone frameable and by our own pages only, and pages that run under
that policy: no Content-Security-Policy violation in a real Chromium, and /docs rendered from our
own files with every other host unreachable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.responses import Response
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, ConsoleMessage, expect

from coolpapers import ingest, schema
from coolpapers.config import Settings
from coolpapers.db import make_engine, make_sessionmaker
from coolpapers.search import sync
from coolpapers.web import create_app
from tests.browser import Tab, chromium, open_tab, require_chromium
from tests.conftest import RSS, make_settings
from tests.fakes.arxiv_server import FakeArxiv
from tests.live_server import serve as serve_app

FEED = "rss-cs.LG-2026-08-21-fri.xml"
PAPER = "2608.19234"


@pytest.fixture(scope="module")
def stocked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings of a SQLite database holding one real feed and its search index (read only)."""
    tmp = tmp_path_factory.mktemp("security")
    with FakeArxiv() as fake:
        settings = make_settings(f"sqlite:///{tmp / 's.db'}", tmp / "data", fake)
        engine = make_engine(settings)
        schema.upgrade(engine)
        try:
            factory = make_sessionmaker(engine)
            reports = ingest.ingest_files(factory, [RSS / FEED])
            sync.sync_job(factory, settings.data_dir)
        finally:
            engine.dispose()
        assert not any(r.failed for r in reports), [r.line() for r in reports]
        yield settings


@pytest.fixture(scope="module")
def client(stocked: Settings) -> Iterator[TestClient]:
    app = create_app(stocked)

    @app.get("/test-boom", include_in_schema=False)
    def boom() -> None:  # an unexpected exception: the 500 page of the outermost handler
        raise RuntimeError("boom")

    @app.get("/test-weaker", include_in_schema=False)
    def weaker() -> Response:  # a route cannot loosen the policy, nor mark itself wrongly
        headers = {
            "Content-Security-Policy": "frame-ancestors *",
            "X-Frame-Options": "ALLOWALL",
            "X-Coolpapers-Frameable": "*",
        }
        return Response("weaker", headers=headers)

    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as c:
        yield c


PATHS = [
    ("/", 200),
    ("/arxiv/cs.LG", 200),
    (f"/arxiv/{PAPER}", 200),
    ("/arxiv/search?query=fuzzy", 200),
    ("/arxiv/cs.LG/feed", 200),
    ("/status", 200),
    ("/api/status", 200),
    ("/api/arxiv/cs.LG", 200),
    (f"/api/papers/{PAPER}", 200),
    ("/docs", 200),
    ("/openapi.json", 200),
    ("/docs/assets/swagger-ui-bundle.js", 200),
    ("/docs/assets/swagger-ui.css", 200),
    ("/static/app.css", 200),
    ("/static/app.js", 200),
    ("/static/docs.js", 200),
    ("/static/favicon.svg", 200),
    (f"/abs/{PAPER}", 301),  # redirects
    ("/no/such/page", 404),
    ("/static/missing.css", 404),
    ("/api/nothing", 404),
    ("/arxiv/cs.LG?date=not-a-date", 400),
    ("/api/arxiv/cs.LG?show=-1", 400),
    ("/arxiv/no.such", 404),
    ("/test-boom", 500),
    ("/test-weaker", 200),
]


@pytest.mark.parametrize(("path", "status"), PATHS)
def test_every_response_carries_the_security_headers(
    client: TestClient, path: str, status: int
) -> None:
    response = client.get(path)
    assert response.status_code == status, (path, response.status_code)
    headers = response.headers
    csp = {
        d.split()[0]: d.split()[1:]
        for d in (p.strip() for p in headers["content-security-policy"].split(";"))
        if d
    }
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval', no CDN
    assert csp["style-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["form-action"] == ["'self'"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert headers["x-frame-options"] == "DENY"
    assert len(headers.get_list("content-security-policy")) == 1
    assert len(headers.get_list("x-frame-options")) == 1
    assert "x-coolpapers-frameable" not in headers


def _policy(response: httpx.Response) -> dict[str, list[str]]:
    return {
        d.split()[0]: d.split()[1:]
        for d in (p.strip() for p in response.headers["content-security-policy"].split(";"))
        if d
    }


# The PDF proxy's answers (the PDF, its 400/404/502 pages, its redirect) are shown in the viewer's
# frame: our own pages may frame them, no one else's. Here the fake arXiv has no PDF: a 404.
FRAMEABLE = [
    (f"/api/papers/{PAPER}/pdf", 404),
    ("/api/papers/not-an-id/pdf", 400),
    ("/api/papers/2608.99999/pdf", 404),
    (f"/api/papers/{PAPER}v1/pdf", 301),
]


@pytest.mark.parametrize(("path", "status"), FRAMEABLE)
def test_only_the_pdf_proxy_may_be_framed_and_only_by_our_pages(
    client: TestClient, path: str, status: int
) -> None:
    page = client.get("/arxiv/cs.LG")
    response = client.get(path, headers={"Accept": "text/html"})
    assert response.status_code == status
    policy = _policy(response)
    assert policy["frame-ancestors"] == ["'self'"]
    assert response.headers["x-frame-options"] == "SAMEORIGIN"
    # every other directive and header exactly as on a page
    assert {k: v for k, v in policy.items() if k != "frame-ancestors"} == {
        k: v for k, v in _policy(page).items() if k != "frame-ancestors"
    }
    for name in ("x-content-type-options", "referrer-policy", "cross-origin-opener-policy"):
        assert response.headers[name] == page.headers[name]
    assert len(response.headers.get_list("content-security-policy")) == 1
    assert "x-coolpapers-frameable" not in response.headers  # the route's mark stays inside
    # and the pages may frame it: no frame-src or child-src narrows default-src 'self'
    assert _policy(page)["default-src"] == ["'self'"]
    assert "frame-src" not in _policy(page) and "child-src" not in _policy(page)


@pytest.mark.parametrize("path", ["/", "/docs", "/static/app.css", "/no/such/page"])
def test_head_answers_carry_them_too(client: TestClient, path: str) -> None:
    response = client.head(path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]


def test_docs_page_names_no_other_host(client: TestClient) -> None:
    body = client.get("/docs").text
    assert "cdn" not in body.lower() and "https://" not in body and "http://" not in body
    assert "<script>" not in body  # only <script src=…>: inline scripts are forbidden
    assert (
        client.get("/docs/assets/swagger-ui-bundle.js")
        .headers["content-type"]
        .startswith(("application/javascript", "text/javascript"))
    )


def test_bodies_pass_through_untouched(client: TestClient) -> None:
    """The wrapper only adds headers: bodies and content types pass through untouched."""
    response = client.get("/static/app.js")
    assert response.content == (Path(__file__).parent.parent / "static" / "app.js").read_bytes()
    assert response.headers["content-length"] == str(len(response.content))


# ---------------------------------------------------------------- in a browser

# Recorded before any page script runs (an init script is not subject to the page's policy).
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture(scope="module")
def site(stocked: Settings) -> Iterator[str]:
    require_chromium()
    with serve_app(create_app(stocked)) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def browser(site: str) -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def tab(browser: Browser, site: str) -> Iterator[Tab]:
    t = open_tab(browser, site)  # every host but 127.0.0.1 is aborted
    t.page.add_init_script(RECORD_VIOLATIONS)
    yield t
    t.page.context.close()


def _console_errors(tab: Tab) -> list[str]:
    errors: list[str] = []

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            errors.append(msg.text)

    tab.page.on("console", on_console)
    tab.page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    return errors


@pytest.mark.browser
@pytest.mark.parametrize(
    "path",
    ["/", "/arxiv/cs.LG", f"/arxiv/{PAPER}", "/arxiv/search?query=fuzzy", "/status"],
)
def test_pages_run_without_a_policy_violation(tab: Tab, path: str) -> None:
    errors = _console_errors(tab)
    response = tab.page.goto(path)
    assert response is not None and response.status == 200
    tab.page.wait_for_load_state("networkidle")
    expect(tab.page.locator("label.faq-lang")).to_be_visible()  # app.js ran
    if path == "/arxiv/cs.LG":  # the FAQ pane: app.js's click handler, no inline handler
        tab.page.locator("a.title-faq").first.click()
        expect(tab.page.locator(".faq-pane:not([hidden])").first).to_be_visible()
    assert tab.page.evaluate("window.__csp") == []
    assert errors == []
    assert tab.offsite == []


@pytest.mark.browser
def test_the_policy_blocks_an_injected_inline_handler(tab: Tab) -> None:
    """The control: markup slipped into a page cannot run script, whatever escaping missed."""
    tab.page.goto("/arxiv/cs.LG")
    tab.page.evaluate(
        """() => document.body.insertAdjacentHTML('beforeend',
             '<img src="/static/none.png" onerror="window.__pwned=1">')"""
    )
    tab.page.wait_for_function("window.__csp.length > 0")
    assert tab.pwned() is None
    assert any("script-src" in v for v in tab.page.evaluate("window.__csp"))


@pytest.mark.browser
def test_docs_render_offline(tab: Tab) -> None:
    """Swagger UI from our own files: the operations are listed though only 127.0.0.1 answers."""
    errors = _console_errors(tab)
    response = tab.page.goto("/docs")
    assert response is not None and response.status == 200
    expect(tab.page.locator(".opblock-summary-path", has_text="/api/status")).to_be_visible()
    expect(tab.page.locator(".opblock").first).to_be_visible()
    assert tab.page.locator(".opblock").count() >= 5
    tab.page.locator(".opblock-summary", has_text="/api/status").click()
    tab.page.locator("button.try-out__btn").click()
    tab.page.locator("button.execute").click()
    expect(tab.page.locator(".live-responses-table tbody .response-col_status").first).to_have_text(
        "200"
    )
    assert tab.page.evaluate("window.__csp") == []
    assert errors == []
    assert tab.offsite == []


def test_a_members_responses_are_never_cached(stocked: Settings) -> None:
    """Pages and JSON made for a logged-in member may name them and hold their stars: neither a
    shared cache nor the browser keeps them (``Cache-Control: private, no-store``), whatever
    the route set; an anonymous reader's pages and the static files are left alone."""
    from coolpapers import accounts
    from coolpapers.models import utcnow

    settings = stocked.model_copy(update={"auth": "password"})
    app = create_app(settings)
    with TestClient(app, follow_redirects=False) as c:
        accounts.add_member(
            app.state.sessionmaker, "nocache", "a long password", admin=False, now=utcnow()
        )
        pages = ["/", f"/arxiv/{PAPER}", f"/api/papers/{PAPER}", "/arxiv/cs.LG"]
        anonymous = {path: c.get(path).headers.get("cache-control") for path in pages}
        assert all(value != "private, no-store" for value in anonymous.values()), anonymous
        login = {"username": "nocache", "password": "a long password"}
        assert c.post("/login", data=login).status_code == 303
        for path in pages:
            response = c.get(path)
            assert response.status_code == 200, path
            assert response.headers.get_list("cache-control") == ["private, no-store"], path
        assert c.get("/static/app.css").headers.get("cache-control") != "private, no-store"
