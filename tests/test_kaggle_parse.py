"""The Kaggle import's fast paths (``sources.kaggle.parse_fields``, ``derive.place_versions``,
``store.bulk.new_row``) against the general code they stand for: same values, on the real
sample and on the spellings the fast paths turn away."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from coolpapers import schedule
from coolpapers.ingest.derive import derive_listings, place_versions
from coolpapers.records import PaperMeta
from coolpapers.sources import kaggle
from coolpapers.sources.arxiv_parse import strip_controls
from coolpapers.sources.tex import decode_tex_accents
from coolpapers.store import bulk
from tests.conftest import FIXTURES

SAMPLE = FIXTURES / "arxiv" / "kaggle-arxiv-metadata-oai-snapshot-first200.jsonl"
LINES = SAMPLE.read_bytes().splitlines()
ROWS = [orjson.loads(line) for line in LINES]


def _paragraphs(text: str) -> str:
    """What an abstract becomes, the long way: split at every paragraph mark, each paragraph's
    controls stripped, whitespace collapsed, TeX accents decoded."""
    paragraphs = kaggle._PARAGRAPH_RE.split(text.strip())
    cleaned = (decode_tex_accents(" ".join(strip_controls(p).split())) for p in paragraphs)
    return "\n".join(p for p in cleaned if p)


@pytest.mark.parametrize(
    "abstract",
    [
        *(row["abstract"] for row in ROWS),
        "  One paragraph,\nhard-wrapped, with an accent: Erd\\H{o}s and math $\\alpha$.\n",
        "  First paragraph.\n  Second one,\nwrapped.\n",
        "  Blank line\n\nbetween paragraphs\n",
        "  A tab\tinside  and double  spaces\n",
        "  A control\x0bcharacter, a trailing space \nbefore a wrap\n",
        "  Indented by a tab\n\tsecond paragraph\n",
        "",
    ],
)
def test_abstracts_as_the_long_way_makes_them(abstract: str) -> None:
    assert kaggle._abstract(abstract) == _paragraphs(abstract)


@pytest.mark.parametrize(
    "created",
    [
        *(v["created"] for row in ROWS for v in row["versions"]),
        "Tue, 02 Apr 2024 09:08:07 UTC",
        "Mon, 2 Apr 2007 9:18:42 GMT",  # an hour not zero-padded
        "Mon, 2 Apr 2007 19:18:42 +0200",  # an offset: RFC 2822
        "2 Apr 2007 19:18:42 -0500",
        "Mon, 2 Apr 2007 24:00:00 GMT",
        "Mon, 30 Feb 2007 10:00:00 GMT",
        "Mon, 2 Apr 2007 10:60:00 GMT",
        "Mon, 2 Apr 2007 10:00:61 GMT",
        "Mon, 2 Apr 2007 1٠:00:00 GMT",  # a non-ASCII digit
        "Mon, 2 Apr 2007 10:00 GMT",
        "yesterday",
    ],
)
def test_submission_times_as_the_datetime_spells_them(created: str) -> None:
    try:
        expected = kaggle._created(created).isoformat()
    except (TypeError, ValueError, IndexError):
        with pytest.raises((TypeError, ValueError, IndexError)):
            kaggle._created_iso(created)
    else:
        assert kaggle._created_iso(created) == expected


def test_fields_and_record_agree_on_the_sample() -> None:
    for line, row in zip(LINES, ROWS, strict=True):
        fields, meta = kaggle.parse_fields(line), kaggle.parse_line(line)
        assert isinstance(fields, kaggle.Fields) and isinstance(meta, PaperMeta)
        assert fields.versions == tuple(v.isoformat() for v in meta.versions)
        assert len(fields.versions) == len(row["versions"]) == meta.version
        # the authors' JSON is what the records serialise to
        assert orjson.dumps(fields.authors) == orjson.dumps(meta.authors)
        assert fields.abstract == meta.abstract == _paragraphs(row["abstract"])


@pytest.mark.parametrize("postgres", [False, True])
def test_new_rows_spell_times_as_the_drivers_do(postgres: bool) -> None:
    for line in LINES:
        fields, meta = kaggle.parse_fields(line), kaggle.parse_line(line)
        assert isinstance(fields, kaggle.Fields) and isinstance(meta, PaperMeta)
        row = bulk.new_row(*fields[:5], fields.categories, *fields[6:], postgres=postgres)
        published, updated = row[11], row[12]
        if postgres:
            assert datetime.fromisoformat(published) == meta.published
            assert datetime.fromisoformat(updated) == meta.updated
        else:
            assert published == bulk._sqlite_datetime(meta.published)
            assert updated == bulk._sqlite_datetime(meta.updated)
        assert orjson.loads(row[13]) == [v.isoformat() for v in meta.versions]
    moment = datetime(2026, 3, 10, 17, 59, 1, 250, tzinfo=UTC)
    assert bulk._sqlite_time(moment.isoformat()) == bulk._sqlite_datetime(moment)


def test_placed_versions_as_derive_places_them() -> None:
    """Random papers over the years with and without a known calendar, held ones included
    (an id month before v1's), against ``derive_listings`` on their records."""
    rng = random.Random(11)
    start = datetime(2023, 11, 1, tzinfo=UTC)
    placed = 0
    for number in range(3_000):
        v1 = start + timedelta(seconds=rng.randrange(3 * 365 * 86_400))
        times = [v1]
        for _ in range(rng.choice((0, 0, 1, 2, 3))):
            times.append(times[-1] + timedelta(seconds=rng.randrange(600, 40 * 86_400)))
        month = v1 if rng.random() < 0.9 else v1 - timedelta(days=40)
        paper_id = f"{month:%y%m}.{number + 1:05d}"
        meta = PaperMeta(
            paper_id, len(times), "t", "a", (), ("cs.LG",), versions=tuple(times)
        )  # fmt: skip
        derived = derive_listings(meta)
        listings, unplaced = place_versions(paper_id, [t.isoformat() for t in times])
        assert listings == [(p.day, p.kind, p.version) for p in derived.listings]
        assert unplaced == derived.unplaced
        days = [schedule.listing_day_of(t) for t in times]  # by the minute, not the hour
        assert all(day == days[version - 1] for day, _, version in listings)
        placed += len(listings)
    assert placed > 1_000  # the calendar years were reached
