"""The tantivy search engine on a real arXiv feed (cs.LG, 2026-08-21) plus a few made-up papers
for accents and dates. Expected result sets come from a small Python oracle over the same text."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from coolpapers.errors import BadInput, UnknownCategory
from coolpapers.search import engine, runner, translate
from coolpapers.search.ast import AnyOf, InCategory, Node, Phrase, SearchQuery, Term
from coolpapers.search.engine import (
    IndexCorrupt,
    IndexedPaper,
    IndexLocked,
    IndexMissing,
    QueryTooBroad,
    Result,
    SearchIndex,
    SearchTimeout,
)
from coolpapers.sources.arxiv import parse_rss
from coolpapers.taxonomy import canonical_categories, expand

FEED = Path(__file__).parent / "fixtures" / "arxiv" / "rss" / "rss-cs.LG-2026-08-21-fri.xml"
LISTING = date(2026, 8, 21)
normalise = SearchIndex.normalise


def feed_papers() -> list[IndexedPaper]:
    feed = parse_rss(FEED.read_bytes())
    assert feed.listing_date == LISTING
    return [
        IndexedPaper(
            id=item.meta.id,
            title=item.meta.title,
            abstract=item.meta.abstract,
            authors=tuple(a.name for a in item.meta.authors),
            categories=canonical_categories(item.meta.categories),
            announced=feed.listing_date,
            published=item.meta.published,
        )
        for item in feed.items
    ]


SCHRODINGER = IndexedPaper(
    id="2608.99001",
    title="Neural Solvers for the Schrödinger Equation",
    abstract="We learn the time-dependent Schrödinger equation with a Straße of operators.",
    authors=("Bjørn Ødegård", "Zoë Łukasiewicz"),
    categories=("quant-ph", "cs.LG"),
    announced=date(2026, 8, 19),
    published=datetime(2026, 8, 17, 15, 0, tzinfo=UTC),
)
EXTRAS = [
    SCHRODINGER,
    IndexedPaper(
        id="2608.99002",
        title="Sheaf Cohomology Zebrafish Benchmarks",
        abstract="A synthetic paper announced one day before the feed.",
        authors=("Ada Example",),
        categories=("math.AT",),
        announced=date(2026, 8, 20),
        published=None,
    ),
    IndexedPaper(  # only known from the API: its day falls back to the submission date
        id="2608.99003",
        title="Sheaf Cohomology Without Announcement",
        abstract="Published late on the 18th (UTC), never seen in a listing.",
        authors=("Ada Example",),
        categories=("math.AT",),
        announced=None,
        published=datetime(2026, 8, 18, 23, 30, tzinfo=UTC),
    ),
    IndexedPaper(
        id="2608.99004",
        title="Sheaf Cohomology With No Date At All",
        abstract="Neither announced nor published.",
        authors=("Ada Example",),
        categories=("math.AT",),
        announced=None,
        published=None,
    ),
    IndexedPaper(
        id="hep-th/9901001",
        title="Sheaf Cohomology of Old Strings",
        abstract="An old-style identifier from 1999.",
        authors=("Ada Example",),
        categories=("hep-th",),
        announced=date(1999, 1, 4),
        published=None,
    ),
]


def day_of(paper: IndexedPaper) -> date | None:
    if paper.announced is not None:
        return paper.announced
    return paper.published.astimezone(UTC).date() if paper.published is not None else None


@pytest.fixture(scope="module")
def corpus() -> list[IndexedPaper]:
    return feed_papers() + EXTRAS


@pytest.fixture(scope="module")
def index(
    corpus: list[IndexedPaper], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SearchIndex]:
    built = SearchIndex.open(tmp_path_factory.mktemp("search") / "index")
    assert built.upsert(corpus) == len(corpus)
    built.commit("c1")
    yield built
    built.close()


def ids(result: Result) -> set[str]:
    return {hit.id for hit in result.hits}


def run(
    index: SearchIndex,
    *must: Node,
    must_not: tuple[Node, ...] = (),
    after: date | None = None,
    before: date | None = None,
) -> Result:
    query = SearchQuery(must=must, must_not=must_not, after=after, before=before)
    return index.search(query, limit=1000)


# --- a Python oracle over the same text --------------------------------------------------------


def contains(tokens: Sequence[str], seq: Sequence[str], *, prefix: bool = False) -> bool:
    n = len(seq)
    for i in range(len(tokens) - n + 1):
        window = tokens[i : i + n]
        if prefix:
            if list(window[:-1]) == list(seq[:-1]) and window[-1].startswith(seq[-1]):
                return True
        elif list(window) == list(seq):
            return True
    return False


def field_texts(paper: IndexedPaper, field: str | None) -> list[list[str]]:
    if field == "ti":
        return [normalise(paper.title)]
    if field == "abs":
        return [normalise(paper.abstract)]
    if field == "au":
        return [normalise(a) for a in paper.authors]
    return [normalise(paper.title), normalise(paper.abstract)]


def has(paper: IndexedPaper, words: str, field: str | None = None, prefix: bool = False) -> bool:
    seq = normalise(words)
    return any(contains(toks, seq, prefix=prefix) for toks in field_texts(paper, field))


def expect(corpus: list[IndexedPaper], test: Callable[[IndexedPaper], bool]) -> set[str]:
    return {p.id for p in corpus if test(p)}


# --- ranking sanity ------------------------------------------------------------------------------


def test_an_exact_title_finds_its_paper_first(index: SearchIndex, corpus: list[IndexedPaper]):
    for paper in corpus:
        words = tuple(Term(w) for w in paper.title.split())
        result = index.search(SearchQuery(must=words), limit=3)
        assert result.hits, paper.title
        assert result.hits[0].id == paper.id, paper.title


def test_a_rare_word_of_one_abstract_finds_that_paper(
    index: SearchIndex, corpus: list[IndexedPaper]
):
    seen: dict[str, set[str]] = {}
    for p in corpus:
        for token in set(normalise(p.title)) | set(normalise(p.abstract)):
            seen.setdefault(token, set()).add(p.id)
    rare = sorted(
        (t, next(iter(owners)))
        for t, owners in seen.items()
        if len(owners) == 1 and t.isalpha() and len(t) >= 8
    )
    assert len(rare) > 50
    for token, owner in rare[::10]:
        result = run(index, Term(token.upper()))
        assert [hit.id for hit in result.hits] == [owner], token
        assert result.total == 1


def test_doc_freq(index: SearchIndex, corpus: list[IndexedPaper]):
    for word in ("learning", "estimation", "helicopter", "schrodinger"):
        in_title = sum(word in normalise(p.title) for p in corpus)
        in_abstract = sum(word in normalise(p.abstract) for p in corpus)
        assert index.doc_freq(word) == max(in_title, in_abstract) > 0, word
    assert index.doc_freq("zzzqqq") == 0


def test_title_weighs_more_than_abstract(index: SearchIndex, corpus: list[IndexedPaper]):
    result = run(index, Term("estimation"))
    assert result.total == len(expect(corpus, lambda p: has(p, "estimation")))
    in_title = [
        h.id
        for h in result.hits
        if has(next(p for p in corpus if p.id == h.id), "estimation", "ti")
    ]
    assert in_title and result.hits[0].id in in_title
    assert result.hits == sorted(result.hits, key=lambda h: -h.score)


# --- words, phrases, exclusion, OR, fields -------------------------------------------------------


def test_words_match_anywhere_phrases_in_order(index: SearchIndex, corpus: list[IndexedPaper]):
    words = run(index, Term("language"), Term("model"))
    phrase = run(index, Phrase(("Language", "Model")))
    reversed_phrase = run(index, Phrase(("model", "language")))
    assert ids(words) == expect(corpus, lambda p: has(p, "language") and has(p, "model"))
    assert ids(phrase) == expect(corpus, lambda p: has(p, "language model"))
    assert ids(reversed_phrase) == expect(corpus, lambda p: has(p, "model language"))
    assert ids(phrase) < ids(words)
    assert len(ids(reversed_phrase)) < len(ids(phrase))


def test_a_hyphenated_word_is_a_phrase(index: SearchIndex, corpus: list[IndexedPaper]):
    hyphen = run(index, Term("Black-Box"))
    assert ids(hyphen) == ids(run(index, Phrase(("black", "box"))))
    assert ids(hyphen) == expect(corpus, lambda p: has(p, "black box"))
    assert hyphen.hits[0].id == "2608.19323"  # "... for Black-Box Large Language Models"


def test_exclusion(index: SearchIndex, corpus: list[IndexedPaper]):
    result = run(
        index, Term("learning"), must_not=(Term("language"), Phrase(("neural", "network")))
    )
    wanted = expect(
        corpus,
        lambda p: has(p, "learning") and not has(p, "language") and not has(p, "neural network"),
    )
    assert ids(result) == wanted and result.total == len(wanted)
    only_not = run(index, must_not=(Term("learning"),))
    assert ids(only_not) == expect(corpus, lambda p: not has(p, "learning"))


def test_or(index: SearchIndex, corpus: list[IndexedPaper]):
    either = AnyOf((Term("helicopter"), Term("ECG"), Phrase(("Protein",))))
    result = run(index, either)
    wanted = expect(corpus, lambda p: has(p, "helicopter") or has(p, "ecg") or has(p, "protein"))
    assert ids(result) == wanted and len(wanted) >= 3
    narrowed = run(index, either, Term("benchmark"))
    assert ids(narrowed) == {
        i for i in wanted if has(next(p for p in corpus if p.id == i), "benchmark")
    }


@pytest.mark.parametrize(
    ("field", "word"), [("ti", "estimation"), ("abs", "estimation"), ("ti", "large language")]
)
def test_title_and_abstract_fields(
    index: SearchIndex, corpus: list[IndexedPaper], field: str, word: str
):
    node = Term(word, field=field) if " " not in word else Phrase(tuple(word.split()), field=field)
    assert ids(run(index, node)) == expect(corpus, lambda p: has(p, word, field))
    assert ids(run(index, node)) != expect(corpus, lambda p: has(p, word))


def test_author_field(index: SearchIndex, corpus: list[IndexedPaper]):
    # "Ana Beatriz Hernández-Lara": accents folded, the hyphenated surname a phrase
    hernandez = expect(corpus, lambda p: has(p, "hernandez", "au"))
    assert "2608.19234" in hernandez and len(hernandez) == 2  # and a Hernandez-Martinez
    assert ids(run(index, Term("hernandez", field="au"))) == hernandez
    for word in ("Hernández-Lara", "HERNANDEZ-lara"):
        assert ids(run(index, Term(word, field="au"))) == {"2608.19234"}, word
    assert ids(run(index, Phrase(("beatriz", "hernandez"), field="au"))) == {"2608.19234"}
    assert not run(index, Term("hernandez")).hits  # authors only when asked
    # a phrase never spans two authors ("... Valot", "Ammar ...")
    assert not run(index, Phrase(("valot", "ammar"), field="au")).hits
    assert ids(run(index, Term("valot", field="au"))) == expect(
        corpus, lambda p: has(p, "valot", "au")
    )


def test_categories_and_archives(index: SearchIndex, corpus: list[IndexedPaper]):
    def in_cats(test: Callable[[str], bool]) -> set[str]:
        return expect(corpus, lambda p: any(test(c) for c in canonical_categories(p.categories)))

    assert ids(run(index, InCategory("stat.ML"))) == in_cats(lambda c: c == "stat.ML")
    assert ids(run(index, InCategory("q-bio"))) == in_cats(lambda c: c.startswith("q-bio."))
    # an alias category finds papers filed under its canonical id (cs.NA is math.NA) ...
    alias = run(index, InCategory("cs.NA"))
    assert alias.hits and ids(alias) == in_cats(lambda c: c == "math.NA")
    # ... and the cs archive includes math.NA
    assert ids(run(index, InCategory("cs"))) == in_cats(
        lambda c: c.startswith("cs.") or c == "math.NA" or c == "eess.SY"
    )
    hep_th = run(index, InCategory("hep-th"))  # an archive that is also a category
    assert "hep-th/9901001" in ids(hep_th) and ids(hep_th) == in_cats(lambda c: c == "hep-th")
    assert ids(run(index, Term("learning"), must_not=(InCategory("stat"),))) == expect(
        corpus,
        # stat.TH is an alias of math.ST, so "stat" includes math.ST papers
        lambda p: has(p, "learning") and not set(p.categories) & expand("stat"),
    )
    with pytest.raises(UnknownCategory):
        run(index, InCategory("cs.XX"))


# --- dates, accents, prefixes --------------------------------------------------------------------


def test_date_bounds(index: SearchIndex, corpus: list[IndexedPaper]):
    def between(lo: date | None, hi: date | None) -> set[str]:
        return expect(
            corpus,
            lambda p: (
                (d := day_of(p)) is not None and (lo is None or d >= lo) and (hi is None or d <= hi)
            ),
        )

    sheaf = Term("sheaf")
    assert ids(run(index, sheaf, after=date(2026, 8, 18))) == {"2608.99002", "2608.99003"}
    assert ids(run(index, sheaf, before=date(2026, 8, 18))) == {"2608.99003", "hep-th/9901001"}
    assert ids(run(index, sheaf, after=date(2026, 8, 18), before=date(2026, 8, 18))) == {
        "2608.99003"  # no announcement: the day of its publication (UTC)
    }
    assert ids(run(index, after=date(2026, 8, 21))) == between(date(2026, 8, 21), None)
    assert ids(run(index, before=date(2026, 8, 20))) == between(None, date(2026, 8, 20))
    assert not run(index, after=date(2026, 8, 22), before=date(2026, 8, 1)).hits


def test_accents_fold(index: SearchIndex):
    for word in ("schrodinger", "Schrödinger", "SCHRÖDINGER", "schro\u0308dinger"):
        result = run(index, Term(word))
        assert ids(result) == {SCHRODINGER.id}, word
        assert result.terms == ("schrodinger",)
    assert ids(run(index, Term("strasse"))) == {SCHRODINGER.id}
    assert ids(run(index, Term("Straße", field="abs"))) == {SCHRODINGER.id}
    assert ids(run(index, Phrase(("bjorn", "odegard"), field="au"))) == {SCHRODINGER.id}
    assert ids(run(index, Term("lukasiewicz", field="au"))) == {SCHRODINGER.id}


def test_every_accented_word_of_the_feed_is_found_folded(
    index: SearchIndex, corpus: list[IndexedPaper]
):
    checked = 0
    for paper in corpus:
        for field, texts in (("au", paper.authors), (None, (paper.title, paper.abstract))):
            for text in texts:
                for word in text.split():
                    if word.isascii():
                        continue
                    folded = "".join(normalise(word))
                    assert folded.isascii(), word
                    found = run(index, Term(word, field=field))
                    assert paper.id in ids(found), (word, field)
                    assert ids(found) == ids(
                        run(index, Term(" ".join(normalise(word)), field=field))
                    )
                    checked += 1
    assert checked > 20


def test_normalise():
    assert normalise("Schrödinger's  Straße, Ørsted: naïve-ıdea x² ﬁnd Ｆull") == [
        "schrodinger", "s", "strasse", "orsted", "naive", "idea", "x2", "find", "full",
    ]  # fmt: skip
    assert normalise("Ελληνικά_και  日本語") == ["ελληνικά", "και", "日本語"]  # no ASCII form: kept
    assert normalise("--- ... ***") == []


def test_prefix(index: SearchIndex, corpus: list[IndexedPaper]):
    result = run(index, Term("estimat", prefix=True))
    assert ids(result) == expect(corpus, lambda p: has(p, "estimat", prefix=True))
    assert ids(result) > ids(run(index, Term("estimation")))
    assert result.terms == ("estimat*",)
    titled = run(index, Term("Helicop", field="ti", prefix=True))
    assert ids(titled) == {"2608.19210"}
    multi = run(index, Term("black-bo", prefix=True))
    assert ids(multi) == expect(corpus, lambda p: has(p, "black bo", prefix=True))
    assert multi.terms == ("black", "bo*")
    assert not run(index, Term("zzzqqq", prefix=True)).hits
    assert not run(index, Term("a.b(c", prefix=True)).hits  # regex characters never leak


def test_absurd_prefix_expansions_are_refused(index: SearchIndex, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(engine, "MAX_PREFIX_EXPANSIONS", 5)
    with pytest.raises(QueryTooBroad) as caught:
        run(index, Term("c", prefix=True))
    assert isinstance(caught.value, BadInput)
    assert run(index, Term("helicop", prefix=True)).hits


def test_too_many_clauses_and_deadline(index: SearchIndex, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(engine, "MAX_CLAUSES", 4)
    with pytest.raises(QueryTooBroad):
        run(index, Term("a"), Term("b"), Term("c"))  # each bare word: title + abstract
    monkeypatch.undo()
    with pytest.raises(SearchTimeout):
        index.search(SearchQuery(must=(Term("learning"),)), limit=5, deadline_s=-1)


def test_heavy_queries_run_under_the_time_limit_with_the_same_results(
    index: SearchIndex, monkeypatch: pytest.MonkeyPatch
):
    queries = [
        SearchQuery(must=(Term("learning"),)),
        SearchQuery(must=(Phrase(("neural", "networks")), Term("graph", prefix=True))),
        SearchQuery(must_not=(Term("learning"),)),
        SearchQuery(must=(InCategory("cs.LG"), Term("model"))),
    ]
    inline = [index.search(q, limit=10) for q in queries]
    inline_time = [index.search(q, limit=10, sort="time") for q in queries]
    threads: set[str] = set()
    real = runner.BoundedRunner.run

    def watched(self: runner.BoundedRunner, work: Callable[[], object], deadline: float) -> object:
        def noted() -> object:
            threads.add(threading.current_thread().name)
            return work()

        return real(self, noted, deadline)

    monkeypatch.setattr(runner.BoundedRunner, "run", watched)
    monkeypatch.setattr(translate, "HEAVY_POSTINGS", 0)  # every query is heavy
    assert [index.search(q, limit=10) for q in queries] == inline
    assert [index.search(q, limit=10, sort="time") for q in queries] == inline_time
    assert threads and all(name.startswith("search") for name in threads)


def test_the_work_a_query_will_do_is_estimated(index: SearchIndex):
    searcher = index._live().searcher()

    def estimate(query: SearchQuery) -> int | None:
        translator = translate._Translator(
            index._schema, searcher, index._tokens, time.monotonic() + 5
        )
        translator.query(query)
        return translator.postings

    df = {f: searcher.doc_freq(f, "learning") for f in ("title", "abstract")}
    assert estimate(SearchQuery(must=(Term("learning"),))) == df["title"] + df["abstract"]
    assert estimate(SearchQuery(must=(Term("learning", field="ti"),))) == df["title"]
    phrase = estimate(SearchQuery(must=(Phrase(("learning", "model")),)))
    assert phrase is not None and phrase > df["title"] + df["abstract"]
    assert estimate(SearchQuery(must=(Term("learn", prefix=True),))) is None  # not estimated
    assert estimate(SearchQuery(must_not=(Term("learning"),))) == searcher.num_docs + sum(
        df.values()
    )


def test_words_without_letters_constrain_nothing(index: SearchIndex, corpus: list[IndexedPaper]):
    assert ids(run(index, Term("---"), Term("helicopter"))) == {"2608.19210"}
    assert run(index, Term("+++")).total == len(corpus)
    assert ids(run(index, AnyOf((Term("..."), Term("helicopter"))))) == {"2608.19210"}
    assert run(index, must_not=(Phrase(("!!",)),)).total == len(corpus)


def test_paper_id_and_highlight_terms(index: SearchIndex):
    result = index.search(SearchQuery(paper_id="2608.19210"), limit=5)
    assert [h.id for h in result.hits] == ["2608.19210"]
    query = SearchQuery(
        must=(
            Term("Graph-Neural"),
            Phrase(("Schrödinger", "equation")),
            AnyOf((Term("x"), Term("GRAPH"))),
        ),
        must_not=(Term("excluded"),),
    )
    assert index.search(query, limit=1).terms == ("graph", "neural", "schrodinger", "equation", "x")


# --- sorting and paging --------------------------------------------------------------------------


def test_time_sort_is_newest_day_first_then_id_descending(
    index: SearchIndex, corpus: list[IndexedPaper]
):
    result = index.search(SearchQuery(), limit=1000, sort="time")
    assert result.total == len(corpus)
    expected = sorted(corpus, key=lambda p: (day_of(p) or date.min, p.id), reverse=True)
    assert [h.id for h in result.hits] == [p.id for p in expected]
    assert result.hits[-1].id == "2608.99004"  # no date at all: last
    sheaf = index.search(SearchQuery(must=(Term("sheaf"),)), limit=10, sort="time")
    assert [h.id for h in sheaf.hits] == [
        "2608.99002",
        "2608.99003",
        "hep-th/9901001",
        "2608.99004",
    ]
    with pytest.raises(BadInput):
        index.search(SearchQuery(), limit=10, sort="stars")


def test_sort_key_orders_ids_as_strings():
    ids_ = ["0704.0001", "0704.0002", "1412.9999", "1501.00001", "2608.19210", "2608.20326",
            "astro-ph/0601001", "hep-ph/9901001", "hep-th/9812001", "hep-th/9901001",
            "math-ph/0101001", "math/0101001", "quant-ph/0201082"]  # fmt: skip
    keys = [engine._sort_key(date(2026, 8, 21), i) for i in ids_]
    assert sorted(ids_) == ids_ and sorted(keys) == keys and len(set(keys)) == len(keys)
    assert engine._sort_key(date(2026, 8, 22), "0704.0001") > engine._sort_key(
        date(2026, 8, 21), "quant-ph/0201082"
    )
    assert engine._sort_key(None, "2608.19210") < engine._sort_key(date(1991, 8, 1), "0704.0001")
    assert max(keys) < 2**64


def test_total_limit_offset(index: SearchIndex, monkeypatch: pytest.MonkeyPatch):
    query = SearchQuery(must=(Term("learning"),))
    full = index.search(query, limit=1000, sort="time")
    assert full.total == len(full.hits) > 40
    page = index.search(query, limit=10, offset=20, sort="time")
    assert page.total == full.total and page.hits == full.hits[20:30]
    pages = [index.search(query, limit=7, offset=o).hits for o in range(0, full.total, 7)]
    assert [h.id for p in pages for h in p] == [h.id for h in index.search(query, limit=1000).hits]
    assert (
        index.search(query, limit=0).hits == [] and index.search(query, limit=0).total == full.total
    )
    # only the first MAX_RESULTS matches can be paged through; the total stays exact
    monkeypatch.setattr(engine, "MAX_RESULTS", 30)
    assert len(index.search(query, limit=25, offset=20, sort="time").hits) == 10
    capped = index.search(query, limit=25, offset=30)
    assert capped.hits == [] and capped.total == full.total
    assert len(index.search(query, limit=1000).hits) == 30


# --- writing, cursor, processes, corruption ------------------------------------------------------


def small(corpus: list[IndexedPaper]) -> list[IndexedPaper]:
    return corpus[:5]


def test_a_days_upsert_commits_one_segment(tmp_path: Path, corpus: list[IndexedPaper]):
    """Every search visits every segment: a catch-up's commit adds one, not one per writer
    thread (two on this machine's bulk writer, which left two a day piling up)."""
    with SearchIndex.open(tmp_path / "idx") as idx:
        half = len(corpus) // 2
        idx.upsert(corpus[:half])
        idx.commit("1")
        assert idx.segment_count() == 1
        idx.upsert(corpus[half:])
        idx.commit("2")
        assert idx.segment_count() == 2
        assert idx.doc_count() == len(corpus)


def test_upsert_replaces(tmp_path: Path, corpus: list[IndexedPaper]):
    with SearchIndex.open(tmp_path / "idx") as idx:
        idx.upsert(small(corpus))
        idx.commit("1")
        first = small(corpus)[0]
        renamed = IndexedPaper(
            first.id, "Quokka Dynamics", "Nothing else.", (), ("cs.LG",), LISTING, None
        )
        assert idx.upsert([renamed, renamed]) == 2  # twice in one batch: still one document
        idx.commit("2")
        assert idx.doc_count() == 5
        assert [h.id for h in idx.search(SearchQuery(must=(Term("quokka"),)), limit=5).hits] == [
            first.id
        ]
        assert not idx.search(SearchQuery(must=(Term("helicopter"),)), limit=5).hits
        idx.upsert([first])
        assert idx.search(SearchQuery(must=(Term("quokka"),)), limit=5).total == 1  # not yet
        idx.commit("3")
        assert idx.search(SearchQuery(must=(Term("helicopter"),)), limit=5).total == 1
        assert idx.doc_count() == 5


def test_commit_and_cursor_survive_reopening(tmp_path: Path, corpus: list[IndexedPaper]):
    path = tmp_path / "idx"
    idx = SearchIndex.open(path)
    assert idx.cursor() is None and idx.doc_count() == 0
    idx.upsert(small(corpus))
    assert idx.cursor() is None
    idx.commit("2026-08-21T00:00:00Z")
    idx.upsert(corpus[5:10])  # never committed
    idx.close()

    again = SearchIndex.open(path, create=False)
    assert again.cursor() == "2026-08-21T00:00:00Z"
    assert again.doc_count() == 5
    again.commit("later")  # a commit with nothing new still moves the cursor
    assert again.cursor() == "later"
    again.close()

    # a cursor claiming a later commit than the index holds (index restored from an older
    # copy) is not trusted
    record = json.loads((path / engine.CURSOR_FILE).read_text())
    (path / engine.CURSOR_FILE).write_text(json.dumps({**record, "opstamp": record["opstamp"] + 1}))
    with SearchIndex.open(path) as reopened:
        assert reopened.cursor() is None
        assert reopened.doc_count() == 5


def test_a_fresh_index_does_not_inherit_a_cursor(tmp_path: Path):
    path = tmp_path / "idx"
    path.mkdir()
    (path / engine.CURSOR_FILE).write_text(json.dumps({"cursor": "old", "opstamp": 0}))
    with SearchIndex.open(path) as idx:
        assert idx.cursor() is None


def test_a_reader_sees_the_writers_commits_after_reload(tmp_path: Path, corpus: list[IndexedPaper]):
    path = tmp_path / "idx"
    writer = SearchIndex.open(path)
    reader = SearchIndex.open(path, create=False)
    try:
        assert reader.doc_count() == 0
        writer.upsert(small(corpus))
        reader.reload()
        assert reader.doc_count() == 0  # not committed
        writer.commit("c")
        reader.reload()
        assert reader.doc_count() == 5 and reader.cursor() == "c"
        assert ids(reader.search(SearchQuery(must=(Term("helicopter"),)), limit=5)) == {
            "2608.19210"
        }
        with pytest.raises(IndexLocked):
            reader.upsert(small(corpus))  # one writer at a time
        writer.upsert(corpus[5:8])
        writer.commit("d")
        assert reader.search(SearchQuery(), limit=1).total == 8  # search reloads by itself
        writer.close()
        shutil.rmtree(path)  # e.g. a rebuild starting over
        with pytest.raises(IndexMissing):
            reader.reload()
        with SearchIndex.open(path) as rebuilt:
            rebuilt.upsert(corpus[:2])
            rebuilt.commit("e")
        reader.reload()  # the same reader follows the new index in the same place
        assert reader.doc_count() == 2 and reader.cursor() == "e"
    finally:
        reader.close()
        writer.close()


def test_missing_and_corrupt_indexes(tmp_path: Path, corpus: list[IndexedPaper]):
    with pytest.raises(IndexMissing) as missing:
        SearchIndex.open(tmp_path / "none", create=False)
    assert isinstance(missing.value, IndexCorrupt)  # either way: (re)build
    assert not (tmp_path / "none").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexMissing):
        SearchIndex.open(tmp_path / "empty", create=False)

    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "0a1b2c.idx").write_bytes(os.urandom(64))
    with pytest.raises(IndexCorrupt):
        SearchIndex.open(garbage)

    a_file = tmp_path / "file"
    a_file.write_text("not a directory")
    with pytest.raises(IndexCorrupt):
        SearchIndex.open(a_file)

    def built(name: str) -> Path:
        path = tmp_path / name
        with SearchIndex.open(path) as idx:
            idx.upsert(small(corpus))
            idx.commit("c")
        return path

    bad_meta = built("bad-meta")
    (bad_meta / "meta.json").write_bytes(b"\x00\x01 not json")
    with pytest.raises(IndexCorrupt):
        SearchIndex.open(bad_meta)

    bad_segments = built("bad-segments")
    for file in bad_segments.iterdir():
        if file.suffix in {".term", ".idx", ".store", ".fast"}:
            file.write_bytes(os.urandom(16))
    with pytest.raises(IndexCorrupt):
        SearchIndex.open(bad_segments)


def test_an_index_of_another_analyzer_version_must_be_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    SearchIndex.open(tmp_path / "idx").close()
    monkeypatch.setattr(engine, "ANALYZER", "coolpapers_fold_v999")
    with pytest.raises(IndexCorrupt):
        SearchIndex.open(tmp_path / "idx")


def test_closed_index_refuses_work(tmp_path: Path):
    idx = SearchIndex.open(tmp_path / "idx")
    idx.close()
    with pytest.raises(RuntimeError):
        idx.search(SearchQuery(), limit=1)
