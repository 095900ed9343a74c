"""A directory of downloaded files kept least-recently-used within a byte cap: the FAQ's paper
texts (``summarize.paper_text``) and the inline viewer's PDFs (``ingest.pdfs``), each in a
directory of its own.

* Names must match the owner's one pattern, and paths must stay inside the directory: a name
  is only ever derived from a validated id, and this checks it again.
* A write goes to a temporary file renamed into place: a reader never sees half a file. Temp
  files a crashed writer left behind are removed after ``STALE_TEMP_S``.
* A read touches the file's mtime: the LRU order is the mtime order. Files read or written in
  the last ``in_use_s`` are not evicted (a response may be about to open one), so the total may
  pass the cap for a while. Files of other names are left alone and not counted.
* A full or read-only disk costs a refetch, never the caller's answer: ``put`` then says None.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

STALE_TEMP_S = 3600.0  # a temporary file this old was left by a crashed writer
_TEMP_PREFIX = ".tmp-"


class DiskCache:
    """Files by name in ``directory``, least recently used evicted past ``max_bytes`` (0: keep
    nothing)."""

    def __init__(
        self, directory: Path, max_bytes: int, names: re.Pattern[str], *, in_use_s: float = 0.0
    ) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0 (0 disables the cache)")
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._names = names
        self._in_use_s = in_use_s
        self._lock = threading.Lock()

    def check_name(self, name: str) -> str:
        if not self._names.fullmatch(name):
            raise ValueError(f"refusing cache file name {name!r}")
        return name

    def path(self, name: str) -> Path:
        root = self.directory.resolve()
        path = (root / self.check_name(name)).resolve()
        if path.parent != root:
            raise ValueError(f"cache path {path} escapes {root}")
        return path

    def get(self, name: str) -> Path | None:
        """The cached file (touched), or None."""
        if self.max_bytes == 0:
            return None
        path = self.path(name)
        try:
            os.utime(path)
        except OSError:
            return None
        return path

    def forget(self, name: str) -> None:
        """Drop a cached file found unusable (the next read fetches it again)."""
        with contextlib.suppress(OSError):
            self.path(name).unlink()

    def put(self, name: str, body: bytes) -> Path | None:
        """Keep ``body`` under ``name``; None when it cannot be kept (bigger than the cache, a
        full or read-only disk: the caller still has the bytes, the next one fetches again)."""
        if self.max_bytes == 0 or len(body) > self.max_bytes:
            return None
        path = self.path(name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=path.parent, prefix=_TEMP_PREFIX, suffix=path.suffix)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(body)
                os.replace(temp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
            self._evict(path)
        except OSError as exc:
            log.warning("could not cache %s: %s", path.name, exc)
            return None
        return path

    def _evict(self, keep: Path) -> None:
        """Delete least recently used files until the total fits ``max_bytes``; ``keep`` (just
        written) and files in use stay."""
        with self._lock:
            now = time.time()
            entries: list[tuple[float, int, Path]] = []
            with os.scandir(keep.parent) as scan:
                for entry in scan:
                    try:
                        if not entry.is_file(follow_symlinks=False):
                            continue
                        stat = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if entry.name.startswith(_TEMP_PREFIX):
                        if now - stat.st_mtime > STALE_TEMP_S:
                            with contextlib.suppress(OSError):
                                os.unlink(entry.path)
                    elif self._names.fullmatch(entry.name):
                        entries.append((stat.st_mtime, stat.st_size, Path(entry.path)))
            total = sum(size for _, size, _ in entries)
            for mtime, size, path in sorted(entries, key=lambda e: e[0]):
                if total <= self.max_bytes:
                    break
                if path == keep or now - mtime < self._in_use_s:
                    continue
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                total -= size
