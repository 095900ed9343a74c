"""A Kaggle-format arXiv snapshot of any size, recombined from the real fixtures.

``write_corpus(path, n, seed)`` writes ``n`` JSON lines shaped as the Kaggle snapshot's
(arxiv-data.md §4; ``coolpapers import kaggle`` reads them): every text is a real one, from the
200 lines of the real snapshot and the items of the recorded RSS feeds
(tests/fixtures/arxiv/rss), recombined under new ids with a seeded RNG, so field sizes, TeX,
math and missing values are as arXiv's are. What is made up is only what a recombination needs:

- ids: new style ``YYMM.NNNNN``, months 2023-01 … 2026-12 (later months fuller, as arXiv
  grows), written in id order as the real file is;
- versions: 1 to 4 (weights as arXiv's), v1 submitted in the id's month (a paper submitted late
  in a month may be announced in the next: the import's id check then holds it, as it should),
  later versions days to months after;
- a paper's title, abstract, authors and categories come from different real papers.

Plain JSON lines, or gzip when ``path`` ends in ``.gz``. Deterministic for a seed.
"""

from __future__ import annotations

import calendar
import gzip
import io
import random
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from bench._common import REPO, RSS_DIR
from coolpapers.sources.arxiv import parse_rss

KAGGLE_FIXTURE = (
    REPO / "tests" / "fixtures" / "arxiv" / "kaggle-arxiv-metadata-oai-snapshot-first200.jsonl"
)
FIRST_YEAR, LAST_YEAR = 2023, 2026
MONTH_CAPACITY = 99_999  # a 5-digit sequence number per month
VERSION_WEIGHTS = (60, 28, 9, 3)  # 1, 2, 3, 4 versions: roughly arXiv's shares
WRAP_COLUMNS = 80  # the snapshot's hard wrap of titles and abstracts
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class Parts:
    """The real pieces papers are recombined from (raw, as the snapshot spells them)."""

    titles: list[str]
    abstracts: list[str]
    authors: list[tuple[str, list[list[str]]]]  # (raw ``authors``, ``authors_parsed``)
    categories: list[str]
    # (comments, journal-ref, doi, report-no, license) of one real paper, nulls included
    extras: list[tuple[str | None, ...]]


def _wrap(text: str, indent: str = "") -> str:
    lines = textwrap.wrap(
        text, WRAP_COLUMNS, initial_indent=indent, break_long_words=False, break_on_hyphens=False
    )
    return "\n".join(lines) or text


def _kaggle_abstract(paragraphs: str) -> str:
    """An abstract as the snapshot writes it: two leading spaces per paragraph, hard-wrapped,
    a trailing newline."""
    return "\n".join(_wrap(p, "  ") for p in paragraphs.split("\n") if p) + "\n"


def _parsed_name(name: str) -> list[str]:
    """``"Ana María Lara"`` -> ``["Lara", "Ana María", ""]`` ([surname, forenames, suffix])."""
    forenames, _, surname = name.rpartition(" ")
    return [surname, forenames, ""] if forenames else [name, "", ""]


def real_parts() -> Parts:
    """Every real paper of the fixtures, split into its parts."""
    parts = Parts([], [], [], [], [])
    for line in KAGGLE_FIXTURE.read_bytes().splitlines():
        row = orjson.loads(line)
        parts.titles.append(row["title"])
        parts.abstracts.append(row["abstract"])
        parts.authors.append((row["authors"], row["authors_parsed"]))
        parts.categories.append(row["categories"])
        parts.extras.append(
            tuple(row[k] for k in ("comments", "journal-ref", "doi", "report-no", "license"))
        )
    for path in sorted(RSS_DIR.glob("*.xml")):
        for item in parse_rss(path.read_bytes()).items:
            meta = item.meta
            names = [a.name for a in meta.authors]
            if not names or not meta.abstract:
                continue
            parts.titles.append(_wrap(meta.title))
            parts.abstracts.append(_kaggle_abstract(meta.abstract))
            parts.authors.append((", ".join(names), [_parsed_name(n) for n in names]))
            parts.categories.append(" ".join(meta.categories))
            parts.extras.append((meta.comments, meta.journal_ref, meta.doi, None, meta.license))
    return parts


def _created(moment: datetime) -> str:
    """``Mon, 2 Apr 2007 19:18:42 GMT``: the snapshot's spelling (day not zero-padded)."""
    return (
        f"{_DAYS[moment.weekday()]}, {moment.day} {_MONTHS[moment.month - 1]} {moment.year} "
        f"{moment:%H:%M:%S} GMT"
    )


def _month_counts(n: int, rng: random.Random) -> list[tuple[int, int, int]]:
    """(year, month, papers) for every month, ``n`` in all, later months fuller."""
    months = [(y, m) for y in range(FIRST_YEAR, LAST_YEAR + 1) for m in range(1, 13)]
    if n > MONTH_CAPACITY * len(months):
        raise ValueError(f"at most {MONTH_CAPACITY * len(months):,} papers")
    weights = [1.0 + 0.02 * i for i in range(len(months))]  # ~2% growth a month
    counts = [0] * len(months)
    for index in rng.choices(range(len(months)), weights, k=n):
        counts[index] += 1
    # a month past capacity hands its surplus to the next one with room
    surplus = 0
    for i in range(len(months)):
        counts[i] += surplus
        surplus = max(0, counts[i] - MONTH_CAPACITY)
        counts[i] -= surplus
    for i in range(len(months) - 1, -1, -1):
        room = MONTH_CAPACITY - counts[i]
        counts[i] += min(room, surplus)
        surplus -= min(room, surplus)
    return [(y, m, c) for (y, m), c in zip(months, counts, strict=True)]


def _paper(
    paper_id: str, year: int, month: int, parts: Parts, rng: random.Random
) -> dict[str, Any]:
    last_day = calendar.monthrange(year, month)[1]
    v1 = datetime(
        year, month, rng.randint(1, last_day), rng.randrange(24), rng.randrange(60),
        rng.randrange(60), tzinfo=UTC,
    )  # fmt: skip
    times = [v1]
    for _ in range(rng.choices(range(4), VERSION_WEIGHTS)[0]):
        times.append(times[-1] + timedelta(seconds=rng.randrange(3_600, 120 * 86_400)))
    raw_authors, parsed = parts.authors[rng.randrange(len(parts.authors))]
    comments, journal_ref, doi, report_no, license_ = parts.extras[rng.randrange(len(parts.extras))]
    first = parsed[0] if parsed else ["", "", ""]
    return {
        "id": paper_id,
        "submitter": f"{first[1]} {first[0]}".strip(),
        "authors": raw_authors,
        "title": parts.titles[rng.randrange(len(parts.titles))],
        "comments": comments,
        "journal-ref": journal_ref,
        "doi": doi,
        "report-no": report_no,
        "categories": parts.categories[rng.randrange(len(parts.categories))],
        "license": license_,
        "abstract": parts.abstracts[rng.randrange(len(parts.abstracts))],
        "versions": [{"version": f"v{i}", "created": _created(t)} for i, t in enumerate(times, 1)],
        "update_date": times[-1].date().isoformat(),
        "authors_parsed": parsed,
    }


def _open(path: Path) -> io.BufferedIOBase:
    if path.suffix == ".gz":
        return gzip.open(path, "wb", compresslevel=1)
    return path.open("wb")


def write_corpus(path: Path, n: int, seed: int) -> Path:
    """Write ``n`` papers in the Kaggle snapshot's format to ``path`` (gzip when it ends in
    ``.gz``), in id order; the same ``seed`` writes the same file. Returns ``path``."""
    rng = random.Random(seed)
    parts = real_parts()
    path.parent.mkdir(parents=True, exist_ok=True)
    with _open(path) as out:
        for year, month, count in _month_counts(n, rng):
            prefix = f"{year % 100:02d}{month:02d}"
            lines = [
                orjson.dumps(_paper(f"{prefix}.{num:05d}", year, month, parts, rng)) + b"\n"
                for num in range(1, count + 1)
            ]
            out.write(b"".join(lines))
    return path
