"""Site search at 200,000 papers: index build and size, bare engine vs ``/api/search`` latency.

The corpus, its index and the query set: :mod:`bench.search_corpus`.

Measured, every query in every round (after one warm-up pass):
  * bare engine, in this process: ``parse_query`` + ``SearchIndex.search(limit=25)``;
  * the route's own work, in this process, round by round beside the bare engine:
    ``search.find`` and the JSON bytes (parse, engine, the 25 rows from the database, the
    body: all that ``/api/search`` does in its one trip to the thread pool), with its split
    after the engine (``store.paper_rows`` in a fresh session; ``paper_json`` + ``JSONBody``);
  * end to end: ``GET /api/search?query=…`` through the real app (scheduler off) under
    uvicorn in a subprocess (127.0.0.1, one worker): checked once through httpx (every answer
    a 200 with the bare engine's total; the same 25 ids in the same order are counted, not
    required), then timed from a bare HTTP/1.1 client on one keep-alive connection
    (``RawHTTP``: httpx's own Python would be a third of the figure), so the HTTP round trip is
    included. Its floor, ``/api/search?query=`` (empty: no index, no database), is timed too,
    one more round through httpx for comparison, and one of the HTML page the search box opens
    (``/arxiv/search?query=…&highlight=1``);
  * on Postgres (same corpus, same index: the ids are the same), the same route work and end
    to end;
  * the worst case on SQLite: the heaviest query the syntax allows (``worst_query``) alone,
    then FLOOD of them at once while cheap queries are timed (the time limit and its bounded
    slots at work);
  * VmRSS of the server process (from /proc): started, after its first search (the index is
    opened lazily), after the whole query set.
The aims of the issue: p95 ≤ 10 ms at 200k papers on SQLite, end to end / bare ≤ 1.5×.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson

from bench._common import (
    BenchError,
    RawHTTP,
    postgres_schema,
    postgres_url,
    served,
    sqlite_settings,
    timed,
)
from bench.search_corpus import (
    CORPUS,
    KEYWORD_SAMPLE,
    KINDS,
    SEED,
    build_index,
    load,
    make_corpus,
    make_queries,
    real_pool,
    worst_query,
)
from coolpapers import search, store
from coolpapers.config import Settings
from coolpapers.db import make_engine, make_sessionmaker
from coolpapers.search import sync
from coolpapers.search.engine import SearchIndex
from coolpapers.search.query import parse_query
from coolpapers.search.reader import SearchReader
from coolpapers.web.present import JSONBody, found_json, paper_json

QUERIES = sum(KINDS.values())
LIMIT = 25
BARE_ROUNDS = 5
HTTP_ROUNDS = 3
PG_ROUNDS = 2
FLOOR_N = 200
FLOOD = 4  # heavy queries sent at once in the worst case
AIM_P95_S = 0.010
AIM_OVERHEAD = 1.5
DB_ENV = "BENCH_SEARCH_DATABASE_URL"  # the server's database (the Postgres URL has a password)
START_TIMEOUT_S = 60.0


# ---------------------------------------------------------------- statistics


def _summary(samples: list[float]) -> dict[str, Any]:
    """p50/p95/p99 (inclusive quantiles), min, max and n of samples in seconds."""
    if len(samples) < 2:
        raise BenchError("too few samples")
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return {
        "p50": q[49],
        "p95": q[94],
        "p99": q[98],
        "min": min(samples),
        "max": max(samples),
        "n": len(samples),
    }


def _by_kind(queries: list[tuple[str, str]], rounds: list[list[float]]) -> dict[str, Any]:
    """Overall and per-kind summaries of per-query samples (one list per round)."""
    kinds: dict[str, list[float]] = {}
    for samples in rounds:
        for (kind, _), seconds in zip(queries, samples, strict=True):
            kinds.setdefault(kind, []).append(seconds)
    return {
        "all": _summary([x for samples in rounds for x in samples]),
        "kinds": {kind: _summary(xs) for kind, xs in kinds.items()},
    }


# ---------------------------------------------------------------- bare engine, in process


@dataclass(frozen=True)
class Expected:
    total: int
    ids: list[str]


def _timed_calls(call: Callable[[str], object], texts: list[str]) -> list[float]:
    """Seconds taken by ``call(text)``, text by text."""
    times = []
    for text in texts:
        start = time.perf_counter()
        call(text)
        times.append(time.perf_counter() - start)
    return times


class Route:
    """What ``/api/search`` runs in its one trip to the thread pool: ``search.find`` (parse,
    engine, the 25 rows from the database) and the JSON bytes, on one database, in this
    process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine = make_engine(settings)
        self.factory = make_sessionmaker(self._engine)
        self._reader = SearchReader(settings.data_dir)

    def answer(self, text: str) -> bytes:
        with self.factory() as session:
            found = search.find(session, self._reader, text)
            return bytes(JSONBody(found_json(text, found, self.settings)).body)

    def check(self, queries: list[tuple[str, str]], expected: list[Expected]) -> None:
        for (_, text), want in zip(queries, expected, strict=True):
            answer = orjson.loads(self.answer(text))
            if answer["total"] != want.total or [p["id"] for p in answer["papers"]] != want.ids:
                raise BenchError(f"search.find({text!r}) disagrees with the bare engine")

    def split(self, expected: list[Expected]) -> dict[str, Any]:
        """The route's work after the engine: the rows (``store.paper_rows`` in a fresh
        session), then the JSON (``paper_json`` + ``JSONBody``)."""
        rows, dumps = [], []
        for e in expected + expected:  # the first pass warms up
            start = time.perf_counter()
            with self.factory() as session:
                papers = store.paper_rows(session, e.ids)
                loaded = time.perf_counter()
                papers_json = [paper_json(papers[i], self.settings) for i in e.ids]
                body = JSONBody({"papers": papers_json}).body
            done = time.perf_counter()
            if len(papers) != len(e.ids) or not body:
                raise BenchError(f"{len(papers)} rows loaded of {len(e.ids)}")
            rows.append(loaded - start)
            dumps.append(done - loaded)
        n = len(expected)
        return {"rows": _summary(rows[n:]), "json": _summary(dumps[n:])}

    def close(self) -> None:
        self._reader.close()
        self._engine.dispose()

    def __enter__(self) -> Route:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def engine_and_route(
    index: SearchIndex, route: Route, queries: list[tuple[str, str]]
) -> tuple[dict[str, Any], dict[str, Any], list[Expected]]:
    """The bare engine (``parse_query`` + ``SearchIndex.search(limit=25)``) and the route's
    own work, round by round side by side: the issue's "end to end" without the HTTP server."""
    texts = [text for _, text in queries]
    expected = []
    for text in texts:  # warm-up pass: what every other answer must match
        result = index.search(parse_query(text), limit=LIMIT)
        expected.append(Expected(result.total, [h.id for h in result.hits]))
    route.check(queries, expected)

    def bare(text: str) -> None:
        index.search(parse_query(text), limit=LIMIT)

    bare_rounds, route_rounds = [], []
    for _ in range(BARE_ROUNDS):
        bare_rounds.append(_timed_calls(bare, texts))
        route_rounds.append(_timed_calls(route.answer, texts))
    totals = [e.total for e in expected]
    bare_summary = _by_kind(queries, bare_rounds)
    bare_summary["hits"] = {
        "median_total": statistics.median(totals),
        "zero": sum(t == 0 for t in totals),
        "max_total": max(totals),
    }
    route_summary = _by_kind(queries, route_rounds)
    route_summary["split"] = route.split(expected)
    return bare_summary, route_summary, expected


def route_alone(
    route: Route, queries: list[tuple[str, str]], expected: list[Expected], rounds: int
) -> dict[str, Any]:
    """The route's work on another database (Postgres): its figures and split."""
    route.check(queries, expected)
    texts = [text for _, text in queries]
    summary = _by_kind(queries, [_timed_calls(route.answer, texts) for _ in range(rounds)])
    summary["split"] = route.split(expected)
    return summary


# ---------------------------------------------------------------- the server (child process)


def serve(data_dir: Path) -> None:
    """Run the app (database from DB_ENV, else SQLite in ``data_dir``); print the port."""
    import uvicorn

    from coolpapers.web import create_app

    settings = sqlite_settings(data_dir, database_url=os.environ.get(DB_ENV, ""))
    app = create_app(settings, scheduler=False)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # NODELAY
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app, host="127.0.0.1", workers=1, log_level="warning", access_log=False, lifespan="on"
    )
    print(sock.getsockname()[1], flush=True)
    uvicorn.Server(config).run(sockets=[sock])


def _memory(pid: int) -> dict[str, int]:
    """VmRSS, RssAnon and RssFile of a process in bytes (empty where /proc has none)."""
    found = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                found[key] = int(value.split()[0]) * 1024
    return found


@contextlib.contextmanager
def server(data_dir: Path, database_url: str = "") -> Iterator[tuple[str, int]]:
    """``serve`` in a subprocess; yields its base URL and pid once /status answers."""
    args = ["bench.search", "--serve", "--data-dir", str(data_dir)]
    with served(args, START_TIMEOUT_S, {DB_ENV: database_url}) as found:
        yield found


# ---------------------------------------------------------------- end to end (this process)


def _ask(client: httpx.Client, text: str, want: Expected) -> bool:
    """GET /api/search; checks the status and the total; True when the ids are the same."""
    response = client.get("/api/search", params={"query": text})
    if response.status_code != 200:
        raise BenchError(f"/api/search?query={text}: {response.status_code} {response.text[:200]}")
    data = response.json()
    if data["total"] != want.total:
        raise BenchError(f"/api/search?query={text}: total {data['total']}, engine {want.total}")
    return [p["id"] for p in data["papers"]] == want.ids


def end_to_end(
    data_dir: Path,
    queries: list[tuple[str, str]],
    expected: list[Expected],
    rounds: int,
    database_url: str = "",
) -> dict[str, Any]:
    """Checked through httpx, then timed from a bare keep-alive client (``RawHTTP``); one
    more round through httpx says what that client would have added."""
    targets = [f"/api/search?{urlencode({'query': text})}" for _, text in queries]

    def raw_get(target: str) -> None:
        status, _ = raw.get(target)
        if status != 200:
            raise BenchError(f"{target}: {status}")

    with (
        server(data_dir, database_url) as (base_url, pid),
        httpx.Client(base_url=base_url, timeout=30.0) as client,
        RawHTTP("127.0.0.1", httpx.URL(base_url).port or 80) as raw,
    ):
        memory = {"started": _memory(pid)}
        _ask(client, queries[0][1], expected[0])
        memory["index_open"] = _memory(pid)
        same = [_ask(client, text, e) for (_, text), e in zip(queries, expected, strict=True)]
        samples = [_timed_calls(raw_get, targets) for _ in range(rounds)]
        through_httpx = _timed_calls(client.get, targets)
        pages = [
            f"/arxiv/search?{urlencode({'query': text, 'highlight': '1'})}" for _, text in queries
        ]
        page = _timed_calls(raw_get, pages)  # what the search box opens: the HTML, highlighted
        memory["after_queries"] = _memory(pid)
        floor = _timed_calls(raw_get, ["/api/search?query="] * FLOOR_N)
    summary = _by_kind(queries, samples)
    summary.update(
        {
            "floor": _summary(floor),
            "httpx": _summary(through_httpx),
            "page": _summary(page),
            "same_ids": sum(same),
            "requests": len(queries) * (rounds + 3) + FLOOR_N + 1,
            "memory": memory,
        }
    )
    return summary


def worst_case(data_dir: Path, heavy: str, cheap: list[str]) -> dict[str, Any]:
    """The heaviest query alone, then FLOOD of them at once (each from its own connection)
    while cheap queries are timed: what the time limit and the bounded slots leave them."""
    target = f"/api/search?{urlencode({'query': heavy})}"
    with server(data_dir) as (base_url, _):
        port = httpx.URL(base_url).port or 80
        with RawHTTP("127.0.0.1", port) as raw:
            start = time.perf_counter()
            alone_status, _ = raw.get(target)
            alone_s = time.perf_counter() - start
        answers: list[tuple[int, float]] = []

        def heavy_client() -> None:
            with RawHTTP("127.0.0.1", port) as own:
                start = time.perf_counter()
                status, _ = own.get(target)
                answers.append((status, time.perf_counter() - start))

        flood = [threading.Thread(target=heavy_client) for _ in range(FLOOD)]
        for thread in flood:
            thread.start()
        with RawHTTP("127.0.0.1", port) as raw:
            during = _timed_calls(
                lambda t: raw.get(t), [f"/api/search?{urlencode({'query': q})}" for q in cheap]
            )
        for thread in flood:
            thread.join()
    return {
        "phrases": heavy.count(" OR ") + 1,
        "alone": {"status": alone_status, "s": alone_s},
        "flood": sorted(answers, key=lambda a: a[1]),
        "cheap_during_flood": _summary(during),
    }


# ---------------------------------------------------------------- the run


def run() -> dict[str, Any]:
    pool = real_pool()
    with (
        tempfile.TemporaryDirectory(prefix="coolpapers-bench-search-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        data_dir = Path(tmp)
        make_s, corpus = timed(lambda: make_corpus(pool, CORPUS))
        sqlite = sqlite_settings(data_dir)
        loads = {"sqlite": load(sqlite, corpus)}
        pg_url, pg_skipped = postgres_url(), None
        if pg_url is None:
            pg_skipped = "COOLPAPERS_TEST_DATABASE_URL not set"
        else:
            try:
                pg_url = stack.enter_context(postgres_schema(pg_url))
                loads["postgres"] = load(sqlite_settings(data_dir, database_url=pg_url), corpus)
            except Exception as exc:  # noqa: BLE001 - an unusable Postgres is reported, not fatal
                pg_url, pg_skipped = None, f"Postgres unusable: {type(exc).__name__}: {exc}"
        sample_from = corpus.papers[-KEYWORD_SAMPLE]["modified_at"]
        coined = corpus.coined
        del corpus  # ~300 MB of rows the collector would walk while we time queries
        gc.collect()
        index_info = build_index(sqlite, sample_from)
        with SearchIndex.open(sync.index_path(data_dir), create=False) as index:
            queries = make_queries(pool, coined, index)
            with Route(sqlite) as route:
                bare, handler, expected = engine_and_route(index, route, queries)
        http = end_to_end(data_dir, queries, expected, HTTP_ROUNDS)
        cheap = [text for kind, text in queries if kind in ("word", "author")][:40]
        worst = worst_case(data_dir, worst_query(pool), cheap)
        pg = pg_handler = None
        if pg_url is not None:
            with Route(sqlite_settings(data_dir, database_url=pg_url)) as route:
                pg_handler = route_alone(route, queries, expected, PG_ROUNDS)
            pg = end_to_end(data_dir, queries, expected, PG_ROUNDS, pg_url)
    ratios = {
        name: {p: figures["all"][p] / bare["all"][p] for p in ("p50", "p95", "p99")}
        for name, figures in (("handler", handler), ("http", http))
    }
    return {
        "corpus": {
            "papers": CORPUS,
            "real_papers": len(pool.texts),
            "sentences": len(pool.sentences),
            "authors": len(pool.authors),
            "coined_names": len(coined),
            "seed": SEED,
            "make_s": make_s,
            "load": loads,
        },
        "index": index_info,
        "queries": {"n": len(queries), "kinds": KINDS, "texts": queries},
        "bare": bare,
        "handler_sqlite": handler,
        "handler_postgres": pg_handler,
        "http_sqlite": http,
        "worst_case_sqlite": worst,
        "http_postgres": pg,
        "postgres_skipped": pg_skipped,
        "ratio": ratios,
        "aims": {
            "p95_le_10ms": http["all"]["p95"] <= AIM_P95_S,
            **{
                f"overhead_le_1_5_{name}_{p}": ratio <= AIM_OVERHEAD
                for name, by_p in ratios.items()
                for p, ratio in by_p.items()
                if p != "p99"
            },
        },
    }


# ---------------------------------------------------------------- the report


def _ms(seconds: float) -> str:
    return f"{1000 * seconds:.2f} ms"


def _pcts(s: dict[str, Any]) -> str:
    return f"p50 {_ms(s['p50'])}, p95 {_ms(s['p95'])}, p99 {_ms(s['p99'])} (n={s['n']})"


def _mb(n: int | None) -> str:
    return "?" if n is None else f"{n / 1e6:.0f} MB"


def _kinds(s: dict[str, Any]) -> str:
    return ", ".join(f"{k} {_ms(v['p50'])}/{_ms(v['p95'])}" for k, v in s["kinds"].items())


def _split_line(split: dict[str, Any]) -> str:
    rows, dumps = split["rows"], split["json"]
    return (
        f"  of which, after the engine: 25 rows {_ms(rows['p50'])} (p95 {_ms(rows['p95'])}), "
        f"paper_json + JSONBody {_ms(dumps['p50'])} (p95 {_ms(dumps['p95'])})"
    )


def _ratio(a: dict[str, Any], b: dict[str, Any]) -> str:
    return f"×{a['p50'] / b['p50']:.2f} the bare engine at p50, ×{a['p95'] / b['p95']:.2f} at p95"


def _handler_lines(name: str, h: dict[str, Any], bare: dict[str, Any]) -> list[str]:
    return [
        f"search.find + JSON in process, {name} (parse, engine, 25 rows, JSON bytes: /api/search"
        f" without HTTP): {_pcts(h['all'])} → {_ratio(h['all'], bare['all'])}",
        f"  p50/p95 by kind: {_kinds(h)}",
        _split_line(h["split"]),
    ]


def _http_lines(name: str, h: dict[str, Any], bare: dict[str, Any]) -> list[str]:
    a = h["all"]
    return [
        f"/api/search end to end, {name} (uvicorn on 127.0.0.1, HTTP round trip included, bare "
        f"keep-alive client): {_pcts(a)} → {_ratio(a, bare['all'])}",
        f"  p50/p95 by kind: {_kinds(h)}",
        f"  floor (/api/search?query=: no index, no database): {_pcts(h['floor'])}; the same "
        f"queries from an httpx client: p50 {_ms(h['httpx']['p50'])}, p95 "
        f"{_ms(h['httpx']['p95'])}; {h['same_ids']} of {QUERIES} answers had the engine's ids "
        "in its order",
        f"  the HTML page of the same queries, highlight=1 (what the search box opens): "
        f"{_pcts(h['page'])}",
    ]


def report_lines(result: dict[str, Any]) -> list[str]:
    c, ix, bare = result["corpus"], result["index"], result["bare"]
    loads = c["load"]
    pg_load = loads.get("postgres")
    lines = [
        f"corpus: {c['papers']:,} papers recombined from {c['real_papers']:,} real ones "
        f"({c['sentences']:,} sentences, {c['authors']:,} authors, {c['coined_names']:,} coined "
        f"names), made in {c['make_s']:.1f} s; bulk insert: SQLite "
        f"{loads['sqlite']['insert_s']:.1f} s"
        + (f", Postgres {pg_load['insert_s']:.1f} s" if pg_load else ""),
        f"index: sync.rebuild {ix['rebuild_without_keywords_s']:.1f} s without its keyword step, "
        f"{ix['size_bytes'] / 1e6:.1f} MB on disk; keywords {ix['keywords_sample_s']:.1f} s for "
        f"{ix['keywords_sample']:,} papers → ≈{ix['keywords_projected_s']:.0f} s for all: "
        f"rebuild ≈{ix['rebuild_projected_s']:.0f} s",
        f"queries: {result['queries']['n']} ({', '.join(f'{n} {k}' for k, n in KINDS.items())}); "
        f"median total {bare['hits']['median_total']:,.0f}, {bare['hits']['zero']} with no hit",
        f"bare engine (parse_query + SearchIndex.search, limit {LIMIT}): {_pcts(bare['all'])}",
        f"  p50/p95 by kind: {_kinds(bare)}",
    ]
    lines += _handler_lines("SQLite", result["handler_sqlite"], bare)
    lines += _http_lines("SQLite", result["http_sqlite"], bare)
    pg = result["http_postgres"]
    if pg is None:
        lines.append(f"Postgres: skipped ({result['postgres_skipped']})")
    else:
        lines += _handler_lines("Postgres", result["handler_postgres"], bare)
        lines += _http_lines("Postgres", pg, bare)
    worst = result["worst_case_sqlite"]
    flood = ", ".join(f"{status} in {seconds:.2f} s" for status, seconds in worst["flood"])
    lines.append(
        f"worst case ({worst['phrases']} OR'd phrases of the commonest words), SQLite: "
        f"{worst['alone']['status']} in {worst['alone']['s']:.2f} s alone; {FLOOD} at once: "
        f"{flood}; cheap queries meanwhile: {_pcts(worst['cheap_during_flood'])}"
    )
    http, ratio, aims = result["http_sqlite"], result["ratio"], result["aims"]

    def verdict(name: str) -> str:
        met = [aims[f"overhead_le_1_5_{name}_{p}"] for p in ("p50", "p95")]
        figures = f"×{ratio[name]['p50']:.2f} at p50, ×{ratio[name]['p95']:.2f} at p95"
        return f"{'met' if all(met) else 'met at p95 only' if met[1] else 'NOT met'} ({figures})"

    lines.append(
        f"aims (issue 4 §5), SQLite: p95 ≤ {_ms(AIM_P95_S)}: "
        f"{'met' if aims['p95_le_10ms'] else 'NOT met'} ({_ms(http['all']['p95'])}); "
        f"overhead ≤ {AIM_OVERHEAD}×: in process {verdict('handler')}, over HTTP {verdict('http')}"
    )
    for name, h in (("SQLite", http), ("Postgres", pg)):
        if h is None:
            continue
        m = h["memory"]
        lines.append(
            f"web process RSS ({name}): started {_mb(m['started'].get('VmRSS'))}, index open "
            f"{_mb(m['index_open'].get('VmRSS'))}, after {h['requests']} requests "
            f"{_mb(m['after_queries'].get('VmRSS'))} (anonymous "
            f"{_mb(m['after_queries'].get('RssAnon'))}, file-backed "
            f"{_mb(m['after_queries'].get('RssFile'))})"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.data_dir)
        return
    for line in report_lines(run()):
        print(line)


if __name__ == "__main__":
    main()
