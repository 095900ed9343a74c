"""Reading an untrusted PDF in a child process with limits: ``read_pdf``.

A PDF is a program for PDFium: a 2.7 MB file whose content stream inflates to 800 MB drove the
serving process to 10 GB for a minute. So the server never opens a PDF itself: a child
(``python -m coolpapers.summarize.pdf_sandbox``, started with fork+exec by ``subprocess``, which
is safe in a threaded process, unlike a bare fork) sets its own limits before it reads anything:

- ``RLIMIT_AS``: address space (``memory_mb``); PDFium aborts when an allocation fails;
- ``RLIMIT_CPU``: CPU seconds (``cpu_s``), SIGXCPU then SIGKILL a second later;
- ``RLIMIT_CORE`` 0: a killed reader leaves no core file;

and reads at most ``max_pages`` pages and ``max_chars`` characters (``pdf_text.extract_pdf``).
The parent waits on a pidfd (no polling, no GIL held), kills the child after ``wall_s`` of wall
time, and learns from ``wait4`` how it ended and how much memory and CPU it used. PDF, answer and
diagnostics pass through temporary files, so no pipe can fill up and block either side. At most
``MAX_CHILDREN`` readers run at once, whatever the number of worker threads.

Every failure is a ``PaperTextError``: ``PdfLimitExceeded`` ("PDF over the reader's limits
(…)") for a limit hit, "corrupt PDF (…)" for a crash, the reader's own words otherwise; none is
worth a retry.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from coolpapers.errors import PaperTextError
from coolpapers.summarize.pdf_text import PdfExtract

if TYPE_CHECKING:
    from coolpapers.config import Settings

__all__ = ["MAX_CHILDREN", "PdfLimitExceeded", "PdfLimits", "read_pdf"]

MAX_CHILDREN = 2  # PDF readers running at once (each may take memory_mb)
_STDERR_CAP = 16 * 1024  # bytes of the child's stderr kept for the error message
_ANSWER_CAP_PER_CHAR = 8  # JSON bytes per character of text, at most (UTF-8 + escapes)
_CHILDREN = threading.BoundedSemaphore(MAX_CHILDREN)
_POLL_S = 0.05  # only where pidfd_open is missing (not Linux)


class PdfLimitExceeded(PaperTextError):
    """The PDF needed more memory, CPU or time than its reader may have; ``peak_mb`` and
    ``cpu_s`` are what the reader used (for logs and tests)."""

    def __init__(self, message: str, *, peak_mb: float = 0.0, cpu_s: float = 0.0) -> None:
        super().__init__(message)
        self.peak_mb, self.cpu_s = peak_mb, cpu_s


@dataclass(frozen=True)
class PdfLimits:
    memory_mb: int = 1024
    cpu_s: int = 60
    max_pages: int = 500
    max_chars: int = 2_000_000

    def __post_init__(self) -> None:
        if self.memory_mb < 128:  # the interpreter and PDFium alone take ~70 MB of it
            raise ValueError("memory_mb must be at least 128")
        if min(self.cpu_s, self.max_pages, self.max_chars) < 1:
            raise ValueError("cpu_s, max_pages and max_chars must be positive")

    @property
    def wall_s(self) -> float:
        """Wall-clock time before the child is killed: its CPU time, twice (a busy machine
        shares the cores), and the interpreter's start."""
        return 2.0 * self.cpu_s + 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> PdfLimits:
        return cls(
            memory_mb=settings.pdf_memory_mb,
            cpu_s=settings.pdf_cpu_s,
            max_pages=settings.pdf_max_pages,
            max_chars=settings.pdf_max_chars,
        )


# -- the parent ------------------------------------------------------------------------------------


def read_pdf(body: bytes, limits: PdfLimits | None = None) -> PdfExtract:
    """The text of the PDF ``body``, read by a child process within ``limits``.

    Raises PdfLimitExceeded when the child hit a limit, PaperTextError when the PDF is
    encrypted, corrupt or has no text (or the reader crashed on it).
    """
    limits = limits or PdfLimits()
    with (
        _CHILDREN,
        tempfile.TemporaryFile(prefix="coolpapers-pdf-") as pdf,
        tempfile.TemporaryFile(prefix="coolpapers-pdf-") as out,
        tempfile.TemporaryFile(prefix="coolpapers-pdf-") as err,
    ):
        pdf.write(body)
        pdf.flush()
        pdf.seek(0)
        argv = [
            sys.executable,
            "-m",
            __name__,
            str(limits.memory_mb),
            str(limits.cpu_s),
            str(limits.max_pages),
            str(limits.max_chars),
        ]
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module, no shell
            argv, stdin=pdf, stdout=out, stderr=err, env=_child_env(), close_fds=True
        )
        killed, status, usage = _wait(proc, limits.wall_s)
        out.seek(0)
        answer = out.read(_ANSWER_CAP_PER_CHAR * limits.max_chars + 4096)
        err.seek(0, os.SEEK_END)
        err.seek(max(0, err.tell() - _STDERR_CAP))
        stderr = err.read().decode("utf-8", errors="replace")
    return _outcome(limits, killed, status, usage, answer, stderr)


def _child_env() -> dict[str, str]:
    """The parent's environment, with the directory this package was imported from first on
    the path: the child runs the same code, however the parent found it."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


def _wait(proc: subprocess.Popen[bytes], timeout_s: float) -> tuple[bool, int, Any]:
    """Wait for the child at most ``timeout_s`` (then kill it); (killed by us, wait status,
    rusage). Reaps the child with wait4, for its resource usage."""
    killed = False
    try:
        pidfd: int | None = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        pidfd = None
    if pidfd is not None:
        try:
            ready, _, _ = select.select([pidfd], [], [], timeout_s)
        finally:
            os.close(pidfd)
        if not ready:
            killed = True
            proc.kill()
        _, status, usage = os.wait4(proc.pid, 0)
    else:
        end = time.monotonic() + timeout_s
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() >= end:
                killed = True
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(_POLL_S)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return killed, status, usage


def _outcome(
    limits: PdfLimits, killed: bool, status: int, usage: Any, answer: bytes, stderr: str
) -> PdfExtract:
    cpu = float(usage.ru_utime + usage.ru_stime)
    peak_mb = usage.ru_maxrss / 1024  # KiB on Linux
    used = {"peak_mb": peak_mb, "cpu_s": cpu}
    memory = f"PDF over the reader's limits (more than {limits.memory_mb} MB of memory)"
    if killed:
        raise PdfLimitExceeded(
            f"PDF over the reader's limits (still reading after {limits.wall_s:g} s; stopped)",
            **used,
        )
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= limits.cpu_s):
            raise PdfLimitExceeded(
                f"PDF over the reader's limits (more than {limits.cpu_s} s of CPU)", **used
            )
        # PDFium aborts when an allocation fails under RLIMIT_AS; the peak tells it apart from
        # a crash elsewhere
        if peak_mb >= limits.memory_mb / 2:
            raise PdfLimitExceeded(memory, **used)
        raise PaperTextError(f"corrupt PDF (the reader crashed on it: {signal.Signals(sig).name})")
    if "MemoryError" in stderr:
        raise PdfLimitExceeded(memory, **used)
    try:
        result = json.loads(answer)
    except ValueError:
        last = stderr.strip().splitlines()[-1:] or ["no answer"]
        raise PaperTextError(f"corrupt PDF (the reader failed: {last[0][:200]})") from None
    if not isinstance(result, dict):
        raise PaperTextError("corrupt PDF (the reader gave no usable answer)")
    if "error" in result:
        raise PaperTextError(str(result["error"]))
    return PdfExtract(
        text=str(result["text"]),
        pages=int(result["pages"]),
        pages_read=int(result["pages_read"]),
        truncated=bool(result["truncated"]),
    )


# -- the child ---------------------------------------------------------------------------------


def _limit_self(memory_mb: int, cpu_s: int) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


def _child(args: list[str], stdin: IO[bytes], stdout: IO[bytes]) -> int:
    memory_mb, cpu_s, max_pages, max_chars = (int(a) for a in args)
    _limit_self(memory_mb, cpu_s)
    from coolpapers.summarize.pdf_text import extract_pdf

    body = stdin.read()
    try:
        extract = extract_pdf(body, max_pages=max_pages, max_chars=max_chars)
    except PaperTextError as exc:
        answer: dict[str, object] = {"error": str(exc)}
    else:
        answer = {
            "text": extract.text,
            "pages": extract.pages,
            "pages_read": extract.pages_read,
            "truncated": extract.truncated,
        }
    del body
    stdout.write(json.dumps(answer, ensure_ascii=False).encode("utf-8"))  # whatever the locale
    stdout.flush()
    return 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(_child(sys.argv[1:], sys.stdin.buffer, sys.stdout.buffer))
