"""How far a rebuild of the search index has got, for the web processes to say so: a small
JSON file beside the index, written by the rebuilding process (any process), read by any."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

STATUS_STALE_S = 600  # a "building" note this old was left by a process that died


def status_path(data_dir: Path) -> Path:
    return data_dir / "search-status.json"


@dataclass(frozen=True)
class BuildStatus:
    building: bool
    done: int
    total: int


def read_status(data_dir: Path) -> BuildStatus | None:
    """What a rebuild in progress (any process) last wrote; None when none is running."""
    path = status_path(data_dir)
    try:
        raw = json.loads(path.read_text())
        status = BuildStatus(bool(raw["building"]), int(raw["done"]), int(raw["total"]))
        if status.building and time.time() - path.stat().st_mtime > STATUS_STALE_S:
            return None
        return status
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_status(data_dir: Path, status: BuildStatus) -> None:
    """Replace the note (atomically: a reader sees the old one or the new one)."""
    path = status_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(status.__dict__))
    os.replace(tmp, path)
