"""The reading page in a real browser: the 1,000-paper union day's first paint, the time until all
its cards are on the page, the JS and CSS it loads, in-page search per keystroke.

The day is the test suite's union day (tests/union_day.py: every distinct paper of the bundled
feeds, 1,007 real papers, announced again on one day in one feed of cs.AI+cs.CL+cs.CV+cs.LG),
ingested into SQLite. The real app (scheduler off) runs under uvicorn in a subprocess (one worker,
127.0.0.1), with the bench-only ``/benchstatic`` mount (``bench.serve_list``): the browser and
the server do not share a GIL. Headless system Chromium driven by Playwright, 1280 × 900.

  * first paint: ``first-contentful-paint`` (performance.getEntriesByType('paint')) of
    /arxiv/cs.AI,cs.CL,cs.CV,cs.LG, against the same HTML bytes served as a static file from the
    same server (its stylesheets and scripts are the same /static/ files), LOADS loads each after
    WARMUP, interleaved, each in a fresh browser context (a first visit: nothing cached);
  * all batches: from the navigation's start (performance.now()) until every card of the day is
    on the page, scrolling to the bottom at each frame so that lazy loading fetches the next
    batch; ALL_RUNS runs. Without lazy loading (no new card LAZY_PROBE_MS after a scroll to the
    bottom) it says so and measures ?show=1000, the most one page shows, instead;
  * JS + CSS: every .js and .css response of that page, its raw bytes and gzip at level 6 (what
    a compressing proxy would send), and whether the server itself compressed them;
  * in-page search: with every card on the page, a word typed letter by letter into the search
    panel's include box, REPEATS times per word, highlighting only and with "filter" (the others
    hidden). static/js/insearch.js writes each update's duration to #search-panel: data-last-ms
    (input event to the DOM updated) and data-frame-ms (to the next frame, layout included).
    Measured from outside too: performance.now() around a synchronous dispatch of the input event
    plus a forced layout. The target is ≤ 50 ms a keystroke.

Figures only: nothing passes or fails on timing. A page that is not 200, or lazy loading that
stops short of the day's last card, stops the run.
"""

from __future__ import annotations

import gzip
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import Browser, Page, Response, ViewportSize, sync_playwright

from bench._common import (
    BenchError,
    Stats,
    ingest_files_into,
    main_with_server,
    serve_app_with_static,
    served,
    sqlite_settings,
)
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.union_day import write_union_feed

SPEC = "cs.AI,cs.CL,cs.CV,cs.LG"
PAGE = f"/arxiv/{SPEC}"
API = f"/api/arxiv/{SPEC}"
SHOW_ALL = 1000  # the most one page shows (coolpapers.web.lists.MAX_SHOW)
STATIC_NAME = "list.html"
STATIC = f"/benchstatic/{STATIC_NAME}"
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}
WARMUP = 2
LOADS = 15
ALL_RUNS = 5
LAZY_PROBE_MS = 5000  # no new card this long after a scroll to the bottom: no lazy loading
ALL_TIMEOUT_MS = 120_000
WORDS = ("language", "diffusion")
REPEATS = 3
TARGET_MS = 50.0
GZIP_LEVEL = 6
START_TIMEOUT_S = 60.0


# ---------------------------------------------------------------- the server (child process)


def serve(data_dir: Path, static_dir: Path) -> None:
    """Run the app with the bench mount on a free port; print the port, then serve."""
    serve_app_with_static(sqlite_settings(data_dir), static_dir)


def build_database(data_dir: Path) -> dict[str, Any]:
    """The union day, ingested as the test suite does."""
    [report], elapsed = ingest_files_into(data_dir, [write_union_feed(data_dir)])
    return {"listing_date": str(report.listing_date), "ingest_s": elapsed}


# ---------------------------------------------------------------- in the browser

# Until `total` cards are on the page: a scroll to the bottom at each frame (lazy loading fetches
# the next batch as the reader nears it). performance.now() counts from the navigation's start.
ALL_CARDS = """
async ([total, probeMs, timeoutMs]) => {
  const count = () => document.querySelectorAll("div.paper").length;
  const frame = () => new Promise((r) => requestAnimationFrame(r));
  if (document.readyState === "loading") {
    await new Promise((r) => document.addEventListener("DOMContentLoaded", r, { once: true }));
  }
  const first = count();
  let last = first;
  let changed = performance.now();
  while (count() < total) {
    window.scrollTo(0, document.documentElement.scrollHeight);
    await frame();
    const n = count();
    const now = performance.now();
    if (n !== last) {
      last = n;
      changed = now;
    } else if (now - changed > (n === first ? probeMs : timeoutMs)) {
      return { first, cards: n, ms: null };
    }
  }
  return { first, cards: count(), ms: performance.now() };
}
"""
FCP = "() => performance.getEntriesByName('first-contentful-paint').length > 0"
FCP_MS = "() => performance.getEntriesByName('first-contentful-paint')[0].startTime"
# The include box emptied, and the panel's pending marks done: the next word starts clean.
CLEAR = """
() => {
  const box = document.getElementById("search-include");
  box.value = "";
  box.dispatchEvent(new Event("input", { bubbles: true }));
}
"""
IDLE = "() => !document.getElementById('search-panel').dataset.busy"
FORGET = """
() => {
  const panel = document.getElementById("search-panel");
  delete panel.dataset.lastMs;
  delete panel.dataset.frameMs;
}
"""
UPDATED = "() => document.getElementById('search-panel').dataset.frameMs !== undefined"
READ = """
() => {
  const d = document.getElementById("search-panel").dataset;
  return [Number(d.lastMs), Number(d.frameMs)];
}
"""
# From outside the module: the input event dispatched synchronously, then a forced style and
# layout; a frame between keystrokes lets the page paint as it would between real ones.
EXTERNAL = """
async (word) => {
  const box = document.getElementById("search-include");
  const out = [];
  for (let i = 1; i <= word.length; i++) {
    box.value = word.slice(0, i);
    const t0 = performance.now();
    box.dispatchEvent(new Event("input", { bubbles: true }));
    void document.body.offsetHeight;
    out.push(performance.now() - t0);
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  }
  return out;
}
"""


def _ms_stats(samples_ms: list[float]) -> dict[str, Any]:
    return Stats.of([x / 1000 for x in samples_ms]).as_dict()


def _new_page(browser: Browser, base_url: str) -> Page:
    context = browser.new_context(base_url=base_url, viewport=VIEWPORT)
    context.set_default_timeout(ALL_TIMEOUT_MS)
    return context.new_page()


def _goto(page: Page, path: str, wait_until: Literal["commit", "load"] = "load") -> None:
    response = page.goto(path, wait_until=wait_until)
    if response is None or response.status != 200:
        raise BenchError(f"GET {path}: {None if response is None else response.status}")


def first_paint(browser: Browser, base_url: str) -> dict[str, Any]:
    """FCP of the page and of its static copy, fresh contexts, interleaved."""
    samples: dict[str, list[float]] = {PAGE: [], STATIC: []}
    for round_ in range(WARMUP + LOADS):
        for path, times in samples.items():
            page = _new_page(browser, base_url)
            try:
                _goto(page, path)
                page.wait_for_function(FCP)
                if round_ >= WARMUP:
                    times.append(page.evaluate(FCP_MS))
            finally:
                page.context.close()
    dynamic, static = samples[PAGE], samples[STATIC]
    return {
        "loads": LOADS,
        "page": _ms_stats(dynamic),
        "static": _ms_stats(static),
        "ratio": statistics.median(dynamic) / statistics.median(static),
    }


def _assets(page: Page) -> Callable[[], list[tuple[str, bytes, str | None]]]:
    """Record every .js and .css response of ``page``: (path, body, content-encoding)."""
    seen: list[Response] = []

    def on_response(response: Response) -> None:
        if urlsplit(response.url).path.endswith((".js", ".css")):
            seen.append(response)

    page.on("response", on_response)

    def collected() -> list[tuple[str, bytes, str | None]]:
        return [(urlsplit(r.url).path, r.body(), r.headers.get("content-encoding")) for r in seen]

    return collected


def _bytes(assets: list[tuple[str, bytes, str | None]]) -> dict[str, Any]:
    by_kind: dict[str, dict[str, int]] = {}
    for path, body, _ in assets:
        kind = by_kind.setdefault(path.rsplit(".", 1)[1], {"files": 0, "raw": 0, "gzip": 0})
        kind["files"] += 1
        kind["raw"] += len(body)
        kind["gzip"] += len(gzip.compress(body, GZIP_LEVEL))
    return {
        "by_kind": by_kind,
        "files": [path for path, _, _ in assets],
        "raw": sum(k["raw"] for k in by_kind.values()),
        "gzip": sum(k["gzip"] for k in by_kind.values()),
        "server_compressed": sorted({enc for _, _, enc in assets if enc}),
    }


def all_batches(browser: Browser, base_url: str, total: int) -> tuple[dict[str, Any], Page]:
    """ALL_RUNS runs until every card is on the page; returns the figures and the last run's
    page (every card on it, still open) for the in-page search."""
    lazy = True
    path, want = PAGE, total
    times: list[float] = []
    assets: dict[str, Any] = {}
    first = 0
    page: Page | None = None
    for run in range(ALL_RUNS):
        if page is not None:
            page.context.close()
        page = _new_page(browser, base_url)
        collected = _assets(page)
        _goto(page, path, wait_until="commit")
        got = page.evaluate(ALL_CARDS, [want, LAZY_PROBE_MS, ALL_TIMEOUT_MS])
        if got["ms"] is None and run == 0 and lazy and got["cards"] == got["first"]:
            lazy = False  # no batch came: measure the longest page instead
            path, want = f"{PAGE}?show={SHOW_ALL}", min(total, SHOW_ALL)
            page.context.close()
            page = _new_page(browser, base_url)
            collected = _assets(page)
            _goto(page, path, wait_until="commit")
            got = page.evaluate(ALL_CARDS, [want, LAZY_PROBE_MS, ALL_TIMEOUT_MS])
        if got["ms"] is None:
            raise BenchError(f"{path}: the cards stopped at {got['cards']} of {want}")
        times.append(got["ms"])
        first = got["first"]
        page.wait_for_load_state("networkidle")
        assets = _bytes(collected())
    assert page is not None
    return {
        "lazy_loading": lazy,
        "path": path,
        "first_cards": first,
        "cards": want,
        "runs": ALL_RUNS,
        "time": _ms_stats(times),
        "js_css": assets,
    }, page


def in_page_search(page: Page) -> dict[str, Any]:
    """Per keystroke, over every card on ``page``: the module's own figures and the external one."""
    if not page.locator("#bar-search").is_visible():
        return {"found": False, "why": "no visible #bar-search"}
    page.click("#bar-search")
    box = page.locator("#search-include")
    box.wait_for(state="visible")
    cards = page.evaluate("() => document.querySelectorAll('div.paper').length")
    modes: dict[str, Any] = {}
    for mode, filtered in (("highlight", False), ("filter", True)):
        page.locator("#search-filter").set_checked(filtered)
        last: list[float] = []
        frame: list[float] = []
        external: list[float] = []
        for word in WORDS:
            for _ in range(REPEATS):
                page.evaluate(CLEAR)
                page.wait_for_function(IDLE)
                box.focus()
                for letter in word:
                    page.evaluate(FORGET)
                    page.keyboard.type(letter)
                    try:
                        page.wait_for_function(UPDATED, timeout=10_000)
                    except Exception:  # noqa: BLE001 - reported as "not found", not a crash
                        return {"found": False, "why": "#search-panel has no data-frame-ms"}
                    a, b = page.evaluate(READ)
                    last.append(a)
                    frame.append(b)
                page.evaluate(CLEAR)
                page.wait_for_function(IDLE)
                external += page.evaluate(EXTERNAL, word)
        page.evaluate(CLEAR)
        page.wait_for_function(IDLE)
        modes[mode] = {
            "module_ms": _ms_stats(last),
            "frame_ms": _ms_stats(frame),
            "external_ms": _ms_stats(external),
        }
    return {"found": True, "cards": cards, "words": list(WORDS), "repeats": REPEATS, **modes}


def run() -> dict[str, Any]:
    if not CHROMIUM.exists():
        return {"skipped": f"{CHROMIUM} is missing (make chromium, or apt-get install chromium)"}

    with (
        tempfile.TemporaryDirectory(prefix="coolpapers-bench-") as data,
        tempfile.TemporaryDirectory(prefix="coolpapers-bench-static-") as static,
    ):
        db = build_database(Path(data))
        args = ["bench.reading", "--serve", "--data-dir", data, "--static-dir", static]
        with (
            served(args, START_TIMEOUT_S) as (base_url, _),
            httpx.Client(base_url=base_url, timeout=30.0) as client,
            sync_playwright() as pw,
        ):
            first = client.get(PAGE)
            if first.status_code != 200:
                raise BenchError(f"GET {PAGE}: {first.status_code}")
            (Path(static) / STATIC_NAME).write_bytes(first.content)
            total = client.get(API).json()["total"]
            browser = pw.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            try:
                paint = first_paint(browser, base_url)
                batches, page = all_batches(browser, base_url, total)
                search = in_page_search(page)
                page.context.close()
            finally:
                chromium_version = browser.version
                browser.close()
    return {
        "chromium": chromium_version,
        "database": db,
        "path": PAGE,
        "papers_total": total,
        "html_bytes": len(first.content),
        "html_gzip": len(gzip.compress(first.content, GZIP_LEVEL)),
        "first_paint": paint,
        "all_batches": batches,
        "in_page_search": search,
        "target_ms": TARGET_MS,
    }


# ---------------------------------------------------------------- the report


def _ms(stats: dict[str, Any]) -> str:
    median, low, high = (1000 * stats[k] for k in ("median", "min", "max"))
    return f"{median:.1f} ms (min {low:.1f}, max {high:.1f}, n={stats['n']})"


def _kb(n: int) -> str:
    return f"{n / 1024:.1f} KB"


def report_lines(result: dict[str, Any]) -> list[str]:
    if "skipped" in result:
        return [f"reading: skipped ({result['skipped']})"]
    paint, batches, search = result["first_paint"], result["all_batches"], result["in_page_search"]
    assets = batches["js_css"]
    kinds = ", ".join(
        f"{k}: {v['files']} files {_kb(v['raw'])} ({_kb(v['gzip'])} gzip)"
        for k, v in sorted(assets["by_kind"].items())
    )
    compressed = ", ".join(assets["server_compressed"]) or "none"
    lines = [
        f"Chromium {result['chromium']} (headless, 1280×900); {result['path']}: "
        f"{result['papers_total']:,} papers, first page {_kb(result['html_bytes'])} HTML "
        f"({_kb(result['html_gzip'])} gzip)",
        f"first contentful paint: page {_ms(paint['page'])}",
        f"  vs static copy of the same HTML {_ms(paint['static'])} → ratio {paint['ratio']:.2f}×",
    ]
    if batches["lazy_loading"]:
        lines.append(
            f"all batches (lazy loading, {batches['first_cards']} cards first, scrolled to the "
            f"bottom until {batches['cards']:,}): {_ms(batches['time'])} from navigation"
        )
    else:
        lines.append(
            f"all batches: lazy loading not found (no card after {batches['first_cards']} "
            f"within {LAZY_PROBE_MS} ms at the bottom); {batches['path']} instead, until "
            f"{batches['cards']:,} cards: {_ms(batches['time'])} from navigation"
        )
    lines.append(
        f"JS + CSS loaded: {_kb(assets['raw'])} raw, {_kb(assets['gzip'])} gzip -{GZIP_LEVEL} "
        f"({kinds}; the server compressed: {compressed})"
    )
    if not search["found"]:
        lines.append(f"in-page search: not found ({search['why']})")
        return lines
    lines.append(
        f"in-page search per keystroke over {search['cards']:,} cards, "
        f"{'/'.join(search['words'])} typed letter by letter ×{search['repeats']}, "
        f"target ≤ {result['target_ms']:.0f} ms:"
    )
    target = result["target_ms"]

    def verdict(stats: dict[str, Any]) -> str:
        median, worst = 1000 * stats["median"], 1000 * stats["max"]
        return (
            f"median {'within' if median <= target else 'OVER'}, "
            f"max {'within' if worst <= target else 'OVER'} the target"
        )

    for mode in ("highlight", "filter"):
        m = search[mode]
        pad = " " * len(mode)
        lines += [
            f"  {mode}: data-last-ms {_ms(m['module_ms'])} → {verdict(m['module_ms'])}",
            f"  {pad}  external (dispatch + forced layout) {_ms(m['external_ms'])}"
            f" → {verdict(m['external_ms'])}",
            f"  {pad}  to the next frame (paint included) {_ms(m['frame_ms'])}",
        ]
    return lines


def main() -> None:
    main_with_server(__doc__, serve, run, report_lines)


if __name__ == "__main__":
    main()
