"""Any real arXiv day fed through the fake server comes out in the JSON API and on the page
exactly as arXiv listed it: same papers, same announce types, arXiv's order."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import http, ingest
from coolpapers.config import Settings
from coolpapers.sources.arxiv import parse_rss
from tests.conftest import RSS
from tests.fakes.arxiv_server import FakeArxiv

DAYS = sorted(p for p in RSS.glob("rss-*.xml") if "empty" not in p.name)


@pytest.mark.parametrize("path", DAYS, ids=[p.stem for p in DAYS])
def test_feed_day_round_trips_through_fake_arxiv(
    path: Path,
    client: TestClient,
    factory: sessionmaker[Session],
    settings: Settings,
    fake_arxiv: FakeArxiv,
) -> None:
    feed = parse_rss(path.read_bytes())
    spec = feed.title.split(" ", 1)[0]
    fake_arxiv.serve_feed(spec, path)
    fetcher = http.arxiv_fetcher(settings)
    try:
        report = ingest.ingest_rss(factory, fetcher, settings, spec)
    finally:
        fetcher.close()
    assert report.status == "ok", report.error
    assert feed.listing_date is not None
    day = feed.listing_date.isoformat()
    got = client.get(f"/api/arxiv/{spec}", params={"date": day, "replace": 1, "show": 1000}).json()
    assert got["date"] == day and got["total"] == len(feed.items)
    expected = [(i.meta.id, i.announce_type) for i in feed.items]
    assert [(p["id"], p["announce_type"]) for p in got["papers"]] == expected
    for item, paper in zip(feed.items, got["papers"], strict=True):
        assert paper["title"] == item.meta.title
        assert paper["abstract"] == item.meta.abstract
        assert paper["authors"] == [a.name for a in item.meta.authors]
        assert paper["version"] == item.meta.version
        assert paper["doi"] == item.meta.doi and paper["journal_ref"] == item.meta.journal_ref
    html = client.get(f"/arxiv/{spec}", params={"date": day, "show": 1000}).text
    listed = [i.meta.id for i in feed.items if not i.announce_type.startswith("replace")]
    positions = [html.index(f'<div id="{pid}" class="panel paper') for pid in listed]
    assert positions == sorted(positions)
