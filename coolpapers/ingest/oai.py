"""``harvest_oai``: arXiv's OAI-PMH metadata since a date (being built)."""

from __future__ import annotations

import threading
from datetime import date

from coolpapers.ingest.imports import ImportProgress, ImportReport
from coolpapers.ingest.pipeline import Pipeline


def harvest_oai(
    pipeline: Pipeline,
    since: date,
    *,
    until: date | None = None,
    set_spec: str | None = None,
    restart: bool = False,
    progress: ImportProgress | None = None,
    stop: threading.Event | None = None,
) -> ImportReport:
    raise NotImplementedError("import oai: being built")
