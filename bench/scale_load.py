"""A closed-loop HTTP load generator for ``bench.scale``: N clients on asyncio, each on its own
keep-alive connection, each sending its next request as soon as the last one is answered (no
think time: the hardest reading of "N concurrent readers").

Requests are bare HTTP/1.1 GETs written and read by hand, as ``bench._common.RawHTTP`` does on
one thread: an httpx client in each of 50 coroutines would spend more of the 2 shared cores than
the server. A request is counted as
  * an error when the answer is not a 200;
  * dropped when the connection fails (refused, reset, closed mid-answer) or the answer takes
    longer than TIMEOUT_S; the client opens a new connection and carries on.
Latency is from writing the request to the last byte of the body.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TIMEOUT_S = 30.0
Picker = Callable[[random.Random], tuple[str, str]]  # (kind, target)


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)  # "kind status" -> count
    dropped: dict[str, int] = field(default_factory=dict)  # "kind reason" -> count
    stamps: list[tuple[float, float]] = field(default_factory=list)  # (started, seconds)

    def add(self, kind: str, started: float, seconds: float) -> None:
        self.latencies.setdefault(kind, []).append(seconds)
        self.stamps.append((started, seconds))


class _Closed(Exception):
    """The server closed the connection (or answered what is not HTTP)."""


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one answer: its status, and whether the server keeps the connection."""
    status_line = await reader.readline()
    parts = status_line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise _Closed(f"not an HTTP answer: {status_line[:60]!r}")
    length, chunked, keep = None, False, True
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection" and b"close" in value.lower():
            keep = False
    if chunked:
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length is not None:
        await reader.readexactly(length)
    else:
        await reader.read()  # until the server closes
        keep = False
    return int(parts[1]), keep


async def _client(
    port: int, pick: Picker, seed: int, start_at: float, stop_at: float, tally: Tally
) -> None:
    rng = random.Random(seed)
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    await asyncio.sleep(max(0.0, start_at - time.perf_counter()))
    while time.perf_counter() < stop_at:
        kind, target = pick(rng)
        request = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        started = time.perf_counter()
        try:
            if conn is None:
                conn = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT_S)
            reader, writer = conn
            writer.write(request)
            await writer.drain()
            status, keep = await asyncio.wait_for(_read_answer(reader), TIMEOUT_S)
        except (OSError, _Closed, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            reason = f"{kind} {type(exc).__name__}"
            tally.dropped[reason] = tally.dropped.get(reason, 0) + 1
            if conn is not None:
                conn[1].close()
            conn = None
            continue
        seconds = time.perf_counter() - started
        if status != 200:
            tally.errors[f"{kind} {status}"] = tally.errors.get(f"{kind} {status}", 0) + 1
        tally.add(kind, started, seconds)
        if not keep:
            conn[1].close()
            conn = None
    if conn is not None:
        conn[1].close()


def run_load(port: int, pick: Picker, clients: int, seconds: float, seed: int) -> Tally:
    """``clients`` closed-loop clients for ``seconds`` (started together after a short ramp so
    that 50 connects do not queue at once); the tally of what they saw."""
    tally = Tally()

    async def main() -> None:
        start_at = time.perf_counter() + 0.2
        stop_at = start_at + seconds
        await asyncio.gather(
            *(_client(port, pick, seed + i, start_at, stop_at, tally) for i in range(clients))
        )

    asyncio.run(main())
    return tally


def _quantiles(samples: list[float]) -> dict[str, float]:
    if len(samples) < 2:
        only = samples[0] if samples else float("nan")
        return {"p50": only, "p99": only, "max": only}
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": q[49], "p90": q[89], "p99": q[98], "max": max(samples)}


def summary(tally: Tally, seconds: float, windows: list[tuple[float, float]]) -> dict[str, Any]:
    """Overall and per-kind latency, errors, dropped; and the latency of the requests that
    started inside ``windows`` (perf_counter intervals: while an ingest ran)."""
    everything = [x for xs in tally.latencies.values() for x in xs]
    during = [s for t, s in tally.stamps if any(a <= t <= b for a, b in windows)]
    return {
        "requests": len(everything),
        "req_per_s": len(everything) / seconds,
        "all": _quantiles(everything),
        "kinds": {k: {"n": len(v), **_quantiles(v)} for k, v in sorted(tally.latencies.items())},
        "during_ingest": {"n": len(during), **_quantiles(during)} if during else None,
        "errors": dict(tally.errors),
        "dropped": dict(tally.dropped),
    }
