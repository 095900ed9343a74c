"""``import_kaggle``: the Kaggle arXiv snapshot into the database, in bulk (being built)."""

from __future__ import annotations

import threading
from pathlib import Path

from coolpapers.ingest.imports import ImportProgress, ImportReport
from coolpapers.ingest.pipeline import Pipeline


def import_kaggle(
    pipeline: Pipeline,
    path: Path,
    *,
    restart: bool = False,
    progress: ImportProgress | None = None,
    stop: threading.Event | None = None,
) -> ImportReport:
    raise NotImplementedError("import kaggle: being built")
