"""Math render coverage on the bundled arXiv days, and what rendering costs a card.

Every distinct paper of the fixtures (the RSS days, the API answers, the Kaggle snapshot rows;
the newest version of each id) is taken as the site stores it: titles and abstracts with TeX
accents decoded, formulas as written. Each formula the page would find (``web.math.split``) is
converted as the card filter converts it: rendered to MathML, or fell back to its source. The
failures are listed with the converter's reason, and so is every ``$`` left as text (money, or an
author's missing dollar: one the rules paired wrongly would show there).

Cost per card: the ``math`` filter over one paper's title and abstract, fresh caches for the
first pass over the papers (every formula converted once) and warm ones after (what a page
that shows a paper again pays), in µs per card; median of the papers, and of the papers that
hold a formula. Figures only: nothing here passes or fails on timing.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import escape

from bench._common import REPO
from coolpapers.sources.arxiv_parse import parse_api, parse_rss
from coolpapers.sources.tex import decode_tex_accents
from coolpapers.web import math

_UNKNOWN = re.compile(r'<merror class="tex-unknown"><mtext>([^<]*)</mtext>')
FIXTURES = REPO / "tests" / "fixtures" / "arxiv"
WARM_PASSES = 5


@dataclass(frozen=True)
class FixturePaper:
    id: str
    version: int
    title: str
    abstract: str
    origin: str  # the fixture file it was last seen in


def _api_body(path: Path) -> bytes:
    raw = path.read_bytes()
    if path.name.endswith(".wrapped.json"):
        # The recorder decoded the UTF-8 body as Latin-1; encoding back recovers the bytes.
        body: str = json.loads(raw)["body"]
        return body.encode("latin-1")
    return raw


def _kaggle_text(value: object) -> str:
    """A Kaggle snapshot field as the feeds' parser leaves text: accents decoded, whitespace
    collapsed (the snapshot hard-wraps its abstracts)."""
    return " ".join(decode_tex_accents(value if isinstance(value, str) else "").split())


def _all_papers() -> Iterator[FixturePaper]:
    for path in sorted((FIXTURES / "rss").glob("*.xml")):
        for item in parse_rss(path.read_bytes()).items:
            m = item.meta
            yield FixturePaper(m.id, m.version, m.title, m.abstract, path.name)
    for path in sorted((FIXTURES / "api").iterdir()):
        if not path.name.endswith((".xml", ".json")) or "error" in path.name:
            continue
        for m in parse_api(_api_body(path)).entries:
            yield FixturePaper(m.id, m.version, m.title, m.abstract, path.name)
    for path in sorted(FIXTURES.glob("kaggle-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            version = len(row.get("versions") or ()) or 1
            title, abstract = _kaggle_text(row.get("title")), _kaggle_text(row.get("abstract"))
            yield FixturePaper(row["id"], version, title, abstract, path.name)


def fixture_papers() -> list[FixturePaper]:
    """The distinct papers of the bundled fixtures, the newest version of each, by id."""
    newest: dict[str, FixturePaper] = {}
    for paper in _all_papers():
        old = newest.get(paper.id)
        if old is None or paper.version >= old.version:
            newest[paper.id] = paper
    return [newest[pid] for pid in sorted(newest)]


def _reason(formula: math.Formula) -> str:
    """Why a formula fell back: the converter's message, or the allowlist's."""
    try:
        mathml = math.convert(formula.tex, formula.display)
        math.clean_mathml(mathml, formula.source, formula.display)
    except Exception as exc:  # noqa: BLE001 - the reason is the report, whatever it is
        return f"{type(exc).__name__}: {exc}"
    return "?"


def _delimiter(formula: math.Formula) -> str:
    return formula.source[:2] if formula.source.startswith(("$$", "\\(", "\\[")) else "$"


def _kind(origin: str) -> str:
    return "rss" if origin.startswith(("rss-", "old-rss")) else origin.split("-", 1)[0]


def coverage(papers: list[FixturePaper]) -> dict[str, Any]:
    """Formulas found in the papers' titles and abstracts: rendered, fell back, and which.
    A formula with an unknown command (an author's macro, shown by its name as MathJax shows
    it) counts as rendered and is also counted apart, with the commands."""
    rendered = fell_back = 0
    failures: list[dict[str, str]] = []
    unknown: Counter[str] = Counter()
    with_unknown = 0
    by_delimiter: Counter[str] = Counter()
    stray: list[dict[str, str]] = []  # a dollar left as text: money, or a formula missed
    by_origin: dict[str, Counter[str]] = {}
    for paper in papers:
        counts = by_origin.setdefault(_kind(paper.origin), Counter())
        for field, text in (("title", paper.title), ("abstract", paper.abstract)):
            for run in math.split(text):
                if isinstance(run, str) and (at := run.find("$")) >= 0:
                    stray.append({"paper": paper.id, "text": run[max(0, at - 40) : at + 40]})
            for formula in math.formulas(text):
                by_delimiter[_delimiter(formula)] += 1
                counts["formulas"] += 1
                mathml = math.rendered(formula.source, formula.tex, formula.display)
                if mathml is not None:
                    rendered += 1
                    counts["rendered"] += 1
                    if names := _UNKNOWN.findall(mathml):
                        with_unknown += 1
                        counts["with_unknown"] += 1
                        unknown.update(names)
                    continue
                fell_back += 1
                failures.append(
                    {
                        "paper": paper.id,
                        "field": field,
                        "source": formula.source,
                        "reason": _reason(formula),
                    }
                )
    total = rendered + fell_back
    return {
        "by_origin": {
            kind: {
                **c,
                "rendered_pct": 100.0 * c["rendered"] / c["formulas"] if c["formulas"] else 100.0,
            }
            for kind, c in sorted(by_origin.items())
        },
        "with_unknown_commands": with_unknown,
        "unknown_commands": dict(unknown.most_common()),
        "dollars_left_as_text": stray,
        "fully_rendered_pct": 100.0 * (rendered - with_unknown) / total if total else 100.0,
        "papers": len(papers),
        "papers_with_math": sum(
            1 for p in papers if any(True for _ in math.formulas(p.title + "\n\n" + p.abstract))
        ),
        "formulas": total,
        "by_delimiter": dict(by_delimiter),
        "rendered": rendered,
        "fell_back": fell_back,
        "rendered_pct": 100.0 * rendered / total if total else 100.0,
        "failures": failures,
    }


def _card_us(papers: list[FixturePaper], render: Callable[[str], object]) -> list[float]:
    samples = []
    for paper in papers:
        start = time.perf_counter()
        render(paper.title)
        render(paper.abstract)
        samples.append((time.perf_counter() - start) * 1e6)
    return samples


def card_cost(papers: list[FixturePaper]) -> dict[str, Any]:
    """µs per card for the filter over title and abstract, cold caches then warm."""
    with_math = [math.may_hold_math(p.title) or math.may_hold_math(p.abstract) for p in papers]
    math.rendered.cache_clear()
    cold = _card_us(papers, math.text_html)
    passes = [_card_us(papers, math.text_html) for _ in range(WARM_PASSES)]
    warm = [min(samples) for samples in zip(*passes, strict=True)]
    passes = [_card_us(papers, escape) for _ in range(WARM_PASSES)]
    escaped = [min(samples) for samples in zip(*passes, strict=True)]

    def median(samples: list[float], only_math: bool = False) -> float:
        chosen = [s for s, m in zip(samples, with_math, strict=True) if m or not only_math]
        return statistics.median(chosen) if chosen else 0.0

    return {
        "cards": len(papers),
        "cards_with_math": sum(with_math),
        "cold_median_us": median(cold),
        "cold_median_us_with_math": median(cold, True),
        "warm_median_us": median(warm),
        "warm_median_us_with_math": median(warm, True),
        "cold_total_ms": sum(cold) / 1000,
        "escape_only_median_us": median(escaped),
    }


def run() -> dict[str, Any]:
    papers = fixture_papers()
    result = coverage(papers)
    result["cost"] = card_cost(papers)
    return result


def report_lines(result: dict[str, Any]) -> list[str]:
    cost = result["cost"]
    delimiters = ", ".join(f"{d}…: {n}" for d, n in sorted(result["by_delimiter"].items()))
    lines = [
        f"fixture papers: {result['papers']} ({result['papers_with_math']} with formulas)",
        f"formulas: {result['formulas']} ({delimiters})",
        f"rendered: {result['rendered']} ({result['rendered_pct']:.2f} %), "
        f"fell back to source: {result['fell_back']}",
        f"  of the rendered, {result['with_unknown_commands']} show an author's unknown macro "
        f"by its name, as MathJax does ({', '.join(result['unknown_commands'])}); "
        f"fully rendered: {result['fully_rendered_pct']:.2f} %",
        "  by fixture: "
        + "; ".join(
            f"{kind} {c['rendered']}/{c['formulas']} ({c['rendered_pct']:.2f} %, "
            f"{c.get('with_unknown', 0)} with unknown macros)"
            for kind, c in result["by_origin"].items()
        ),
        f"cost per card (title + abstract), median: {cost['warm_median_us']:.1f} µs warm, "
        f"{cost['cold_median_us']:.1f} µs cold; cards with math: "
        f"{cost['warm_median_us_with_math']:.1f} µs warm, "
        f"{cost['cold_median_us_with_math']:.1f} µs cold "
        f"({cost['cards_with_math']} of {cost['cards']}; all cards cold: "
        f"{cost['cold_total_ms']:.0f} ms); escaping alone (the filter before): "
        f"{cost['escape_only_median_us']:.1f} µs",
    ]
    for d in result["dollars_left_as_text"]:
        lines.append(f"  a $ left as text: {d['paper']}: …{' '.join(d['text'].split())}…")
    for f in result["failures"]:
        lines.append(f"  fell back: {f['paper']} {f['field']}: {f['source']}  ({f['reason']})")
    return lines


if __name__ == "__main__":
    for line in report_lines(run()):
        print(line)
