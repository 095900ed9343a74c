"""`make demo`: a fresh SQLite in a temporary data dir, the bundled real arXiv days, the site.

Works offline: nothing is fetched (the scheduler stays off).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import uvicorn

from coolpapers import ingest, schema
from coolpapers.config import load_settings
from coolpapers.db import make_engine, make_sessionmaker
from coolpapers.search import sync
from coolpapers.web import create_app

FEEDS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "arxiv" / "rss"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="coolpapers-demo-") as tmp:
        # offline: no LLM (a FAQ needs arXiv's full text), no scheduler
        settings = load_settings(
            data_dir=Path(tmp), database_url="", secret_key="demo", llm_base_url=""
        )
        engine = make_engine(settings)
        schema.upgrade(engine)
        factory = make_sessionmaker(engine)
        for report in ingest.ingest_files(factory, sorted(FEEDS.glob("*.xml"))):
            print(report.line())  # noqa: T201
        print(f"search index: {sync.rebuild(factory, settings.data_dir)} papers")  # noqa: T201
        engine.dispose()
        print(f"demo: http://{args.host}:{args.port}/  (data in {tmp}, removed on exit)")  # noqa: T201
        uvicorn.run(create_app(settings, scheduler=False), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
