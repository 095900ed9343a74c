"""The inline viewer's PDF proxy (`GET /api/papers/{id}/pdf`) against the fake arXiv serving a
generated PDF: served inline and frameable by our own pages only, cached on disk (one upstream
request for many readers), arXiv's failures as clear 404/502 answers (never a 500, never a
partial file kept), ids validated, and no way to point it anywhere but arXiv's `/pdf/<id>`.
SQLite and Postgres."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pypdfium2 as pdfium  # type: ignore[import-untyped, unused-ignore]
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import ingest, store
from coolpapers.config import Settings
from coolpapers.db import session_scope
from coolpapers.ingest.pdfs import IN_USE_S, PDF_DIR, PdfCache
from coolpapers.web import create_app
from tests.conftest import RSS, Stock
from tests.fakes.arxiv_server import FakeArxiv, Fault
from tests.hostile_pdfs import MIB, many_pages_pdf, pdf_file

PAPER = "2608.19234"  # in the cs.LG feed of 2026-08-21
PATH = f"/api/papers/{PAPER}/pdf"
PDF = many_pages_pdf(12)  # a real 12-page PDF, 3.8 kB
HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"  # a browser's frame


def big_pdf(size: int) -> bytes:
    """A one-page PDF of about ``size`` bytes (an uncompressed content stream of text)."""
    line = b"BT /F1 11 Tf 72 720 Td (A long paper indeed.) Tj ET\n"
    text = line * (size // len(line))
    return pdf_file(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
    )


@pytest.fixture
def lg(stock: Stock) -> sessionmaker[Session]:
    def build(factory: sessionmaker[Session], settings: Settings) -> None:
        [report] = ingest.ingest_files(factory, [RSS / "rss-cs.LG-2026-08-21-fri.xml"])
        assert not report.failed, report.line()

    return stock("cs.LG", build)


@pytest.fixture
def upstream(lg: sessionmaker[Session]) -> str:
    """arXiv's path of the stored version's PDF: the one URL the proxy may fetch for PAPER."""
    with session_scope(lg) as s:
        paper = store.get_paper(s, PAPER)
        assert paper is not None
        return f"/pdf/{PAPER}v{paper.version}"


@contextmanager
def proxy(settings: Settings, **overrides: object) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update=overrides))
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        yield client


def cached(settings: Settings) -> list[str]:
    """The names in the PDF cache, temporary files included."""
    directory = settings.data_dir / PDF_DIR
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def frameable_by_self(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    policy = headers["content-security-policy"]
    assert "frame-ancestors 'self'" in policy and "'none'; frame" not in policy
    assert headers["x-frame-options"] == "SAMEORIGIN"
    assert "x-coolpapers-frameable" not in headers  # the route's mark never goes out


def test_the_pdf_is_served_inline_and_frameable_by_our_pages(
    settings: Settings, fake_arxiv: FakeArxiv, upstream: str
) -> None:
    fake_arxiv.serve(upstream, PDF, content_type="application/pdf")
    with proxy(settings) as client:
        response = client.get(PATH)
        head = client.head(PATH)
    assert response.status_code == 200
    assert response.content == PDF
    assert len(pdfium.PdfDocument(response.content)) == 12
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == f'inline; filename="{PAPER}.pdf"'
    assert response.headers["cache-control"] == "private, max-age=3600"
    frameable_by_self(response)
    # every other directive as strict as on any page
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "object-src 'none'" in response.headers["content-security-policy"]
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == "application/pdf"
    assert head.headers["content-length"] == str(len(PDF))
    frameable_by_self(head)
    [sent] = fake_arxiv.requests_to(upstream)  # the HEAD was answered from the cache
    assert sent.headers["user-agent"].startswith("coolpapers/")


def test_a_second_reader_and_a_restart_get_it_from_the_disk_cache(
    settings: Settings, fake_arxiv: FakeArxiv, upstream: str
) -> None:
    fake_arxiv.serve(upstream, PDF, content_type="application/pdf")
    with proxy(settings) as client:
        first, second = client.get(PATH), client.get(PATH)
    with proxy(settings) as client:  # a new process: the file is still there
        third = client.get(PATH)
    assert first.content == second.content == third.content == PDF
    assert len(fake_arxiv.requests_to(upstream)) == 1
    assert cached(settings) == [upstream.removeprefix("/pdf/") + ".pdf"]


def test_readers_asking_at_once_share_one_fetch(
    settings: Settings, fake_arxiv: FakeArxiv, lg: sessionmaker[Session], upstream: str
) -> None:
    fake_arxiv.serve(upstream, PDF, content_type="application/pdf")
    fake_arxiv.script(upstream, [Fault.stall(3)])  # the fetch is still running when they ask
    slow = {"fetch_timeout_s": 20.0, "fetch_deadline_s": 20.0}
    pipeline = ingest.Pipeline.open(settings.model_copy(update=slow), lg)
    try:
        with session_scope(lg) as s:
            flights = [ingest.request_pdf(pipeline, s, PAPER) for _ in range(3)]
        assert flights[0] is flights[1] is flights[2]
        pdf = flights[0].result(timeout=30)
    finally:
        pipeline.close()
    assert pdf.path is not None and pdf.path.read_bytes() == PDF
    assert len(fake_arxiv.requests_to(upstream)) == 1


def test_a_pdf_arxiv_does_not_have_is_a_404_with_the_arxiv_link(
    settings: Settings, fake_arxiv: FakeArxiv, upstream: str
) -> None:
    with proxy(settings) as client:
        as_json = client.get(PATH)
        as_page = client.get(PATH, headers={"Accept": HTML})
    assert as_json.status_code == 404
    assert as_json.json() == {
        "error": f"arXiv has no PDF of {upstream.removeprefix('/pdf/')}",
        "status": 404,
        "pdf_url": f"{fake_arxiv.web_url}/pdf/{PAPER}",
    }
    assert as_page.status_code == 404
    assert as_page.headers["content-type"].startswith("text/html")
    assert f'href="{fake_arxiv.web_url}/pdf/{PAPER}"' in as_page.text
    frameable_by_self(as_json)
    frameable_by_self(as_page)  # shown inside the viewer's frame
    assert as_page.headers["cache-control"] == "no-store"
    assert cached(settings) == []


@pytest.mark.parametrize(
    ("fault", "overrides", "says"),
    [
        (Fault.status(500), {"fetch_max_attempts": 1}, "arXiv could not be reached: HTTP 500"),
        (Fault.reset(), {"fetch_max_attempts": 1}, "arXiv could not be reached: transport"),
        (
            Fault.stall(30),
            {"fetch_max_attempts": 1, "fetch_timeout_s": 1.0, "fetch_deadline_s": 10.0},
            "arXiv could not be reached: timeout",
        ),
        (Fault.truncate(1000), {"fetch_max_attempts": 1}, "arXiv could not be reached"),
        (Fault.oversize(2 * MIB), {"pdf_proxy_max_mb": 1}, "This PDF is larger than the 1 MiB"),
        (
            Fault.body(b"<html><p>PDF being generated</p></html>", content_type="text/html"),
            {},
            "arXiv sent text/html instead of the PDF",
        ),
    ],
    ids=["500", "reset", "stall", "truncated", "oversize", "not-a-pdf"],
)
def test_arxiv_failing_is_a_502_that_keeps_nothing_and_clears_up(
    settings: Settings,
    fake_arxiv: FakeArxiv,
    upstream: str,
    fault: Fault,
    overrides: dict[str, object],
    says: str,
) -> None:
    fake_arxiv.serve(upstream, PDF, content_type="application/pdf")
    fake_arxiv.script(upstream, [fault])
    with proxy(settings, **overrides) as client:
        failed = client.get(PATH)
        assert failed.status_code == 502, failed.text
        assert failed.json()["error"].startswith(says), failed.json()
        assert failed.json()["pdf_url"] == f"{fake_arxiv.web_url}/pdf/{PAPER}"
        frameable_by_self(failed)
        fake_arxiv.wait_idle()
        assert cached(settings) == []  # no partial file, no temporary file left
        again = client.get(PATH)  # arXiv is back: nothing of the failure was kept
    assert again.status_code == 200 and again.content == PDF


def test_the_proxy_cap_is_its_own_not_the_fetchers(
    settings: Settings, fake_arxiv: FakeArxiv, upstream: str
) -> None:
    """FETCH_MAX_BYTES caps feeds and API answers; a PDF passes up to PDF_PROXY_MAX_MB."""
    fake_arxiv.serve(upstream, PDF, content_type="application/pdf")
    with proxy(settings, fetch_max_bytes=1024, pdf_proxy_max_mb=1) as client:
        response = client.get(PATH)
    assert len(PDF) > 1024
    assert response.status_code == 200 and response.content == PDF


def test_a_pdf_bigger_than_the_cache_is_served_but_not_kept(
    settings: Settings, fake_arxiv: FakeArxiv, upstream: str
) -> None:
    body = big_pdf(3 * MIB // 2)
    fake_arxiv.serve(upstream, body, content_type="application/pdf")
    with proxy(settings, paper_cache_max_mb=1, pdf_proxy_max_mb=2) as client:
        first, second = client.get(PATH), client.get(PATH)
    assert first.status_code == second.status_code == 200
    assert first.content == second.content == body
    assert first.headers["content-disposition"] == f'inline; filename="{PAPER}.pdf"'
    frameable_by_self(first)
    assert cached(settings) == []
    assert len(fake_arxiv.requests_to(upstream)) == 2


def test_a_retry_after_holds_arxiv_and_the_next_reader_sends_nothing(
    settings: Settings, fake_arxiv: FakeArxiv, upstream: str
) -> None:
    fake_arxiv.serve(upstream, PDF, content_type="application/pdf")
    fake_arxiv.script(upstream, [Fault.status(429, retry_after="120")])
    with proxy(settings, fetch_max_attempts=1) as client:
        first, second = client.get(PATH), client.get(PATH)
    for response in (first, second):
        assert response.status_code == 502
        assert response.json()["error"].startswith("arXiv asked this site to wait")
    assert len(fake_arxiv.requests_to(upstream)) == 1  # the hold: nothing sent the second time


def test_a_slow_fetch_goes_on_after_the_reader_stops_waiting(
    settings: Settings, fake_arxiv: FakeArxiv, upstream: str
) -> None:
    """The reader waits one request's deadline (1 s here); the fetch's retry comes after its 5 s
    backoff, lands in the cache, and the next reader gets it from there."""
    fake_arxiv.serve(upstream, PDF, content_type="application/pdf")
    fake_arxiv.script(upstream, [Fault.status(500)])
    with proxy(settings, fetch_max_attempts=2, fetch_deadline_s=1.0) as client:
        slow = client.get(PATH)
        assert slow.status_code == 502
        assert slow.json()["error"].startswith("arXiv is slow to send this PDF")
        name = upstream.removeprefix("/pdf/") + ".pdf"
        deadline = time.monotonic() + 30
        while cached(settings) != [name]:  # the condition, not a duration
            assert time.monotonic() < deadline, "the fetch never landed in the cache"
            time.sleep(0.05)
        later = client.get(PATH)
    assert later.status_code == 200 and later.content == PDF
    assert len(fake_arxiv.requests_to(upstream)) == 2


@pytest.mark.parametrize(
    ("paper_id", "status"),
    [
        ("not-an-id", 400),
        ("2613.00001", 400),  # month 13
        ("0000.00000", 400),
        ("%2E%2E", 400),  # ".."
        ("2608.999999", 400),  # too wide
        ("2608.99999", 404),  # an id, but no paper of this site
        ("hep-th/9901001", 404),
    ],
)
def test_ids_are_validated_and_unknown_papers_send_nothing(
    settings: Settings, fake_arxiv: FakeArxiv, lg: object, paper_id: str, status: int
) -> None:
    with proxy(settings) as client:
        response = client.get(f"/api/papers/{paper_id}/pdf")
    assert response.status_code == status, response.text
    assert "error" in response.json()
    frameable_by_self(response)
    assert fake_arxiv.requests == []


@pytest.mark.parametrize("spelling", [f"{PAPER}v1", f"arXiv:{PAPER}", f"{PAPER}V3"])
def test_other_spellings_of_an_id_redirect_to_the_one_url(
    settings: Settings, fake_arxiv: FakeArxiv, lg: object, spelling: str
) -> None:
    with proxy(settings) as client:
        response = client.get(f"/api/papers/{spelling}/pdf")
    assert response.status_code == 301
    assert response.headers["location"] == PATH
    assert fake_arxiv.requests == []


def test_no_open_proxy(settings: Settings, fake_arxiv: FakeArxiv, upstream: str) -> None:
    """Nothing in a request chooses what is fetched: only `<ARXIV_WEB_URL>/pdf/<id>v<version>`
    of a stored paper, and a redirect off arXiv's host is refused."""
    with FakeArxiv() as elsewhere:
        elsewhere.serve("/x.pdf", PDF, content_type="application/pdf")
        fake_arxiv.serve(upstream, PDF, content_type="application/pdf")
        fake_arxiv.script(upstream, [Fault.redirect(f"{elsewhere.base_url}/x.pdf")])
        target = f"{elsewhere.base_url}/x.pdf"
        with proxy(settings, fetch_max_attempts=1) as client:
            redirected = client.get(PATH)
            as_id = client.get(f"/api/papers/{target.replace('/', '%2F')}/pdf")
            with_params = client.get(PATH, params={"url": target, "id": "2608.19210"})
        assert elsewhere.requests == []
    assert redirected.status_code == 502
    assert "not allowed" in redirected.json()["error"] or "blocked" in redirected.json()["error"]
    assert as_id.status_code in (400, 404)
    assert with_params.status_code == 200 and with_params.content == PDF
    assert {r.path for r in fake_arxiv.requests} == {upstream}


# ---------------------------------------------------------------- the cache itself


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_the_cache_evicts_the_least_recently_used_but_not_a_file_in_use(tmp_path: Path) -> None:
    cache = PdfCache(tmp_path / "pdfs", max_bytes=2500)
    body = b"%PDF-" + b"x" * 995  # 1000 bytes
    a = cache.put("2401.00001v1.pdf", body)
    b = cache.put("2401.00002v1.pdf", body)
    assert a is not None and b is not None
    _age(a, IN_USE_S + 20)
    _age(b, IN_USE_S + 10)
    c = cache.put("2401.00003v1.pdf", body)  # 3000 > 2500: the oldest goes
    assert c is not None
    assert not a.exists() and b.exists() and c.exists()
    assert cache.get("2401.00002v1.pdf") == b  # read: b is in use again
    d = cache.put("2401.00004v1.pdf", body)  # over the cap, but b, c and d are all in use
    assert d is not None and b.exists() and c.exists() and d.exists()
    assert cache.get("2401.00001v1.pdf") is None


def test_the_cache_takes_only_its_own_names(tmp_path: Path) -> None:
    cache = PdfCache(tmp_path / "pdfs", max_bytes=MIB)
    assert cache.name_for("hep-th/9901001", 2) == "hep-th_9901001v2.pdf"
    for name in ("../2401.00001v1.pdf", "x.pdf", "2401.00001.pdf", "/etc/passwd"):
        with pytest.raises(ValueError):
            cache.path(name)
    with pytest.raises(ValueError):
        cache.name_for("../../etc", 1)
    assert PdfCache(tmp_path / "off", max_bytes=0).put("2401.00001v1.pdf", b"%PDF-1") is None
