"""The corpus of the search benchmark (``bench.search``): 200,000 papers made of real text,
their index, and the query set.

The corpus (issue 4 §5: at least 200,000 papers with real text) is made of the real feeds
bundled in tests/fixtures/arxiv/rss/*.xml (~1,000 distinct papers, parsed with ``parse_rss``),
recombined with a seeded random generator. Each synthetic paper gets
  * a title spliced from two real titles (the first half of one, the second half of another,
    cut at the middle word); 30 % of them are led by a coined method name, two real title
    words run together (``SparseBridge: …``), as arXiv titles often are: the long tail of
    rare words (document frequency 1-3) that recombined sentences alone would not have;
  * an abstract of 4-8 real abstract sentences drawn from the pool of all of them;
  * 2-8 distinct real author names; the category list of a random real paper;
  * an announcement day spread over the two years up to 2026-08-21 (weekdays, in id order),
    published the day before at 18:00 UTC, and a new-style id ``YYMM.NNNNN`` numbered within
    the month of that day; ``modified_at`` 1 ms apart in id order (ingest stamps every row).
The rows go into a fresh SQLite database with bulk Core inserts (``executemany`` into
``papers`` and ``paper_categories``), and into a throwaway Postgres schema as well when
COOLPAPERS_TEST_DATABASE_URL is set.

Index: ``sync.rebuild`` from the SQLite database, timed, and the index's size on disk. Its
last step, the TF-IDF keywords of [REL] (``sync._store_keywords``: a pass over every paper
that writes each one's keywords back), takes ~0.8 ms per paper, ~150 s at 200,000 papers:
longer than all the rest of this run. So the rebuild runs with that step deferred, then the
real step runs on the newest KEYWORD_SAMPLE papers (document frequencies from the full index)
and the whole is projected from it (KEYWORD_SAMPLE = CORPUS runs it all: 148 s, against
150 s projected, once on 2 cores).

Queries: as many texts as ``KINDS`` asks for, seeded, from the corpus: common phrases
(frequent bigrams/trigrams of the real abstracts, quoted), single common words, 2-3 words of a
real title, rare words (coined names whose document frequency in the index is 1-3), authors
(``au:"Name"``), and syntax (``ti:`` ``abs:`` ``-word`` ``OR`` ``prefix*`` ``cat:``
``after:``); all sorted by relevance.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select

from bench._common import RSS_DIR, BenchError, timed
from coolpapers import schema, taxonomy
from coolpapers.config import Settings
from coolpapers.db import make_engine, make_sessionmaker, session_scope
from coolpapers.models import Paper, PaperCategory
from coolpapers.search import keywords, sync
from coolpapers.search.engine import SearchIndex
from coolpapers.sources.arxiv import parse_rss

CORPUS = 200_000
SEED = 4
COINED_SHARE = 0.3
LAST_DAY = date(2026, 8, 21)  # the newest bundled feed
SPAN_DAYS = 731
INSERT_CHUNK = 20_000
KEYWORD_SAMPLE = 10_000
KINDS = {"phrase": 40, "word": 40, "words": 30, "rare": 30, "author": 30, "syntax": 30}
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


# ---------------------------------------------------------------- the corpus


@dataclass(frozen=True)
class Pool:
    """What the real feeds give: the raw material of every synthetic paper."""

    texts: list[str]  # title + abstract of each real paper
    titles: list[list[str]]  # words of each real title
    sentences: list[str]
    authors: list[str]
    categories: list[tuple[str, ...]]  # canonical, primary first
    coin_words: list[str]  # title words that coined names are made of


def real_pool() -> Pool:
    papers = {}
    for path in sorted(RSS_DIR.glob("*.xml")):
        for item in parse_rss(path.read_bytes()).items:
            papers[item.meta.id] = item.meta
    metas = [papers[pid] for pid in sorted(papers)]
    sentences = {s for m in metas for s in _SENTENCE_END.split(m.abstract) if len(s) >= 20}
    words = {w.lower() for m in metas for w in m.title.split()}
    return Pool(
        texts=[f"{m.title} {m.abstract}" for m in metas],
        titles=[m.title.split() for m in metas],
        sentences=sorted(sentences),
        authors=sorted({a.name for m in metas for a in m.authors if '"' not in a.name}),
        categories=[taxonomy.canonical_categories(m.categories) for m in metas],
        coin_words=sorted(
            w for w in words if w.isalpha() and 4 <= len(w) <= 10 and w not in keywords.STOPWORDS
        ),
    )


@dataclass
class Corpus:
    papers: list[dict[str, Any]]
    categories: list[dict[str, Any]]
    coined: Counter[str]  # coined name -> papers led by it


def make_corpus(pool: Pool, n: int, seed: int = SEED) -> Corpus:
    rng = random.Random(seed)
    first = LAST_DAY - timedelta(days=SPAN_DAYS - 1)
    days = [first + timedelta(d) for d in range(SPAN_DAYS)]
    days = [d for d in days if d.weekday() < 5]
    base = datetime.now(UTC) - timedelta(days=1)  # older than catch_up's late-commit margin
    papers: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    coined: Counter[str] = Counter()
    per_month: Counter[str] = Counter()
    for i in range(n):
        day = days[i * len(days) // n]
        month = f"{day.year % 100:02d}{day.month:02d}"
        per_month[month] += 1
        pid = f"{month}.{per_month[month]:05d}"
        a, b = rng.choice(pool.titles), rng.choice(pool.titles)
        title = " ".join(a[: max(1, len(a) // 2)] + b[len(b) // 2 :])
        if rng.random() < COINED_SHARE:
            name = "".join(w.capitalize() for w in rng.sample(pool.coin_words, 2))
            coined[name] += 1
            title = f"{name}: {title}"
        categories = rng.choice(pool.categories)
        published = datetime(day.year, day.month, day.day, 18, tzinfo=UTC) - timedelta(days=1)
        modified = base + timedelta(milliseconds=i)
        papers.append(
            {
                "id": pid,
                "version": 1,
                "title": title,
                "abstract": " ".join(rng.sample(pool.sentences, rng.randint(4, 8))),
                "authors": [
                    {"name": author, "affiliations": []}
                    for author in rng.sample(pool.authors, rng.randint(2, 8))
                ],
                "categories": list(categories),
                "primary_category": categories[0],
                "published": published,
                "updated": published,
                "first_announced": day,
                "faq_clicks": 0,
                "created_at": modified,
                "modified_at": modified,
            }
        )
        rows.extend(
            {"paper_id": pid, "category": c, "position": j} for j, c in enumerate(categories)
        )
    if len(per_month) * 99_999 < n or max(per_month.values()) > 99_999:
        raise BenchError("more papers in a month than 5-digit ids")
    return Corpus(papers, rows, coined)


def load(settings: Settings, corpus: Corpus) -> dict[str, float]:
    """Migrate a fresh database (not timed), then bulk-insert the corpus in one transaction."""
    engine = make_engine(settings)
    try:
        migrate_s, _ = timed(lambda: schema.upgrade(engine))

        def bulk() -> None:
            with engine.begin() as conn:
                for start in range(0, len(corpus.papers), INSERT_CHUNK):
                    conn.execute(insert(Paper), corpus.papers[start : start + INSERT_CHUNK])
                for start in range(0, len(corpus.categories), INSERT_CHUNK):
                    conn.execute(
                        insert(PaperCategory), corpus.categories[start : start + INSERT_CHUNK]
                    )

        insert_s, _ = timed(bulk)
        with engine.connect() as conn:
            stored = conn.scalar(select(func.count()).select_from(Paper))
    finally:
        engine.dispose()
    if stored != len(corpus.papers):
        raise BenchError(f"{stored} papers stored of {len(corpus.papers)}")
    return {"migrate_s": migrate_s, "insert_s": insert_s}


# ---------------------------------------------------------------- the index


def build_index(settings: Settings, sample_from: datetime) -> dict[str, Any]:
    """``sync.rebuild`` with the keyword step deferred, then that step on the newest papers."""
    engine = make_engine(settings)
    factory = make_sessionmaker(engine)
    deferred: list[object] = []
    original = sync._store_keywords

    def defer(factory: sync.SessionFactory, index: SearchIndex, start: object, **_: object) -> int:
        deferred.append(start)
        return 0

    sync._store_keywords = defer
    try:
        rebuild_s, indexed = timed(lambda: sync.rebuild(factory, settings.data_dir))
    finally:
        sync._store_keywords = original
    try:
        if indexed != CORPUS or len(deferred) != 1:
            raise BenchError(f"rebuild indexed {indexed} papers, keyword steps {len(deferred)}")
        path = sync.index_path(settings.data_dir)
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        with SearchIndex.open(path, create=False) as index:
            docs = index.doc_count()
            keywords_s, _ = timed(lambda: sync._store_keywords(factory, index, sample_from))
        with session_scope(factory) as s:
            done = s.scalar(select(func.count()).where(Paper.keywords.is_not(None)))
    finally:
        engine.dispose()
    if docs != CORPUS or done != KEYWORD_SAMPLE:
        raise BenchError(f"{docs} papers in the index, keywords stored for {done}")
    projected = keywords_s * CORPUS / KEYWORD_SAMPLE
    return {
        "papers": docs,
        "rebuild_without_keywords_s": rebuild_s,
        "keywords_sample": KEYWORD_SAMPLE,
        "keywords_sample_s": keywords_s,
        "keywords_projected_s": projected,
        "rebuild_projected_s": rebuild_s + projected,
        "size_bytes": size,
    }


# ---------------------------------------------------------------- the query set


def _content(word: str) -> bool:
    return len(word) >= 4 and word.isalpha() and word not in keywords.STOPWORDS


def make_queries(pool: Pool, coined: Counter[str], index: SearchIndex) -> list[tuple[str, str]]:
    """(kind, text) pairs, seeded, in a shuffled order."""
    rng = random.Random(SEED + 1)
    docs = [SearchIndex.normalise(text) for text in pool.texts]
    df = Counter(w for doc in docs for w in set(doc))
    common = [w for w, _ in df.most_common() if _content(w)][:150]
    grams: dict[int, Counter[tuple[str, ...]]] = {2: Counter(), 3: Counter()}
    for text in pool.texts:
        for piece in re.split(r"[^\w\s-]", text):  # a phrase never spans punctuation
            words = SearchIndex.normalise(piece)
            for n, counts in grams.items():
                for i in range(len(words) - n + 1):
                    gram = tuple(words[i : i + n])
                    if _content(gram[0]) and _content(gram[-1]):
                        counts[gram] += 1
    top = grams[2].most_common(60) + grams[3].most_common(40)
    phrases = [" ".join(g) for g, _ in top]
    rare = [
        name
        for name, count in sorted(coined.items())
        if count <= 3 and 1 <= index.doc_freq(name.lower()) <= 3
    ]

    def title_words() -> str:
        words = [w for w in SearchIndex.normalise(" ".join(rng.choice(pool.titles))) if _content(w)]
        n = min(len(words), rng.randint(2, 3))
        start = rng.randint(0, len(words) - n)
        return " ".join(words[start : start + n]) or rng.choice(common)

    syntax = [
        lambda: f"ti:{rng.choice(common)}",
        lambda: f'abs:"{rng.choice(phrases)}"',
        lambda: f"{rng.choice(common)} -{rng.choice(common)}",
        lambda: f"{rng.choice(common)} OR {rng.choice(common)}",
        lambda: f"{rng.choice([w for w in common if len(w) >= 6])[:5]}*",
        lambda: f"cat:{rng.choice(pool.categories)[0]} {rng.choice(common)}",
        lambda: f"{rng.choice(common)} after:2026-01-01",
    ]
    made = {
        "phrase": [f'"{p}"' for p in rng.sample(phrases, KINDS["phrase"])],
        "word": rng.sample(common, KINDS["word"]),
        "words": [title_words() for _ in range(KINDS["words"])],
        "rare": rng.sample(rare, KINDS["rare"]),
        "author": [f'au:"{a}"' for a in rng.sample(pool.authors, KINDS["author"])],
        "syntax": [syntax[i % len(syntax)]() for i in range(KINDS["syntax"])],
    }
    queries = [(kind, text) for kind, texts in made.items() for text in texts]
    rng.shuffle(queries)
    return queries


def worst_query(pool: Pool) -> str:
    """The heaviest query the syntax lets through: the 64 terms allowed, as 32 OR'd phrases of
    two of the 8 commonest words of the real text (each phrase read in title and abstract)."""
    df = Counter(w for text in pool.texts for w in set(SearchIndex.normalise(text)))
    common = [w for w, _ in df.most_common(8)]
    pairs = [(a, b) for a in common for b in common if a != b][:32]
    return " OR ".join(f'"{a} {b}"' for a, b in pairs)
