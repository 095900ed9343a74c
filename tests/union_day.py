"""A real 1,000-paper union day for the reading-page tests and the reading bench.

Every distinct paper of the bundled arXiv feeds (RSS 2.0 and the old RDF day: 1,007 real papers,
their real titles, authors, abstracts and formulas) announced again on one Tuesday, in one feed
of ``cs.AI+cs.CL+cs.CV+cs.LG``. What is recombined is only the day and the announce type: an item
arXiv had announced as a replacement comes back as new (or cross, for a cross-list), so the
default list shows every one of them.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

from coolpapers.config import Settings
from coolpapers.records import FeedItem
from coolpapers.sources.arxiv_parse import parse_rss
from tests.fakes.arxiv_server import FakeArxiv

RSS_DIR = Path(__file__).parent / "fixtures" / "arxiv" / "rss"
UNION_FEEDS = ("cs.AI", "cs.CL", "cs.CV", "cs.LG")
UNION_SPEC = ",".join(UNION_FEEDS)
UNION_DAY = date(2026, 9, 1)  # a Tuesday after the newest bundled feed
EASTERN = timezone(timedelta(hours=-4))
FIRST_CARDS = 25  # what the page renders before lazy loading


def union_items() -> list[FeedItem]:
    """The distinct real papers of the bundled feeds, newest version of each, in id order."""
    seen: dict[str, FeedItem] = {}
    for path in sorted(RSS_DIR.glob("*.xml")):
        for item in parse_rss(path.read_bytes()).items:
            old = seen.get(item.meta.id)
            if old is None or item.meta.version >= old.meta.version:
                seen[item.meta.id] = item
    return [seen[pid] for pid in sorted(seen)]


def _kind(item: FeedItem) -> str:
    """new when the paper's primary is one of the union's categories, else cross."""
    return "new" if item.meta.primary_category in UNION_FEEDS else "cross"


def _item_xml(item: FeedItem, stamp: str) -> str:
    meta = item.meta
    kind = _kind(item)
    lines = [
        "    <item>",
        f"      <title>{escape(meta.title)}</title>",
        f"      <link>https://arxiv.org/abs/{meta.id}</link>",
        f"      <description>arXiv:{meta.id}v{meta.version} Announce Type: {kind} \n"
        f"Abstract: {escape(meta.abstract)}</description>",
        f'      <guid isPermaLink="false">oai:arXiv.org:{meta.id}v{meta.version}</guid>',
        *(f"      <category>{escape(c)}</category>" for c in meta.categories),
        f"      <pubDate>{stamp}</pubDate>",
        f"      <arxiv:announce_type>{kind}</arxiv:announce_type>",
    ]
    if meta.license:
        lines.append(f"      <dc:rights>{escape(meta.license)}</dc:rights>")
    if meta.journal_ref:
        ref = escape(meta.journal_ref)
        lines.append(f"      <arxiv:journal_reference>{ref}</arxiv:journal_reference>")
    if meta.doi:
        lines.append(f"      <arxiv:DOI>{escape(meta.doi)}</arxiv:DOI>")
    names = ", ".join(a.name for a in meta.authors)
    lines += [f"      <dc:creator>{escape(names)}</dc:creator>", "    </item>"]
    return "\n".join(lines)


def union_feed_bytes() -> bytes:
    spec = "+".join(UNION_FEEDS)
    stamp = format_datetime(datetime.combine(UNION_DAY, datetime.min.time(), EASTERN))
    head = f"""\
<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" \
version="2.0">
  <channel>
    <title>{spec} updates on arXiv.org</title>
    <link>http://rss.arxiv.org/rss/{spec}</link>
    <description>{spec} updates on the arXiv.org e-print archive.</description>
    <language>en-us</language>
    <pubDate>{stamp}</pubDate>
"""
    items = "\n".join(_item_xml(item, stamp) for item in union_items())
    return (head + items + "\n  </channel>\n</rss>\n").encode()


def write_union_feed(directory: Path) -> Path:
    path = directory / "union-day.xml"
    path.write_bytes(union_feed_bytes())
    return path


@dataclass(frozen=True)
class UnionSite:
    url: str  # the app's base URL
    fake: FakeArxiv  # the arXiv behind it (PDFs, ids fetched on demand)
    settings: Settings

    @property
    def list_url(self) -> str:
        return f"{self.url}/arxiv/{UNION_SPEC}"


_BUILT: dict[str, Path] = {}  # this process's built union day: database file and data dir


def _built() -> Path:
    """The union day ingested and indexed once per test process (3 s), copied for each site."""
    if "root" not in _BUILT:
        from coolpapers import ingest, schema
        from coolpapers.db import make_engine, make_sessionmaker
        from coolpapers.search import sync
        from tests.conftest import make_settings

        root = Path(tempfile.mkdtemp(prefix="union-day-"))
        atexit.register(shutil.rmtree, root, True)
        with FakeArxiv() as fake:  # never asked: the day comes from a file
            settings = make_settings(f"sqlite:///{root / 'union.db'}", root / "data", fake)
        engine = make_engine(settings)
        schema.upgrade(engine)
        try:
            factory = make_sessionmaker(engine)
            [report] = ingest.ingest_files(factory, [write_union_feed(root)])
            assert not report.failed, report.line()
            sync.sync_job(factory, settings.data_dir)
        finally:
            engine.dispose()
        _BUILT["root"] = root
    return _BUILT["root"]


@contextmanager
def union_site(tmp: Path, **overrides: object) -> Iterator[UnionSite]:
    """The real app on SQLite over HTTP, stocked with the union day and its search index (a copy:
    the site's tests may write, e.g. click counts)."""
    from coolpapers.web import create_app
    from tests.conftest import make_settings
    from tests.live_server import serve

    built = _built()
    shutil.copyfile(built / "union.db", tmp / "union.db")
    shutil.copytree(built / "data", tmp / "data")
    with FakeArxiv() as fake:
        settings = make_settings(f"sqlite:///{tmp / 'union.db'}", tmp / "data", fake, **overrides)
        with serve(create_app(settings)) as base_url:
            yield UnionSite(base_url, fake, settings)
