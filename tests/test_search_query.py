from __future__ import annotations

import contextlib
import random
import time
from datetime import date

import pytest

from coolpapers.errors import BadInput
from coolpapers.search.ast import FIELDS, AnyOf, InCategory, Node, Phrase, SearchQuery, Term
from coolpapers.search.query import MAX_QUERY_CHARS, MAX_TERMS, parse_query
from coolpapers.taxonomy import canonical


def T(text: str, field: str | None = None, prefix: bool = False) -> Term:
    return Term(text, field, prefix)


def P(*words: str, field: str | None = None) -> Phrase:
    return Phrase(tuple(words), field)


def Any(*items: Node) -> AnyOf:
    return AnyOf(tuple(items))


def must(*nodes: Node) -> SearchQuery:
    return SearchQuery(must=tuple(nodes))


def bad(text: str) -> str:
    with pytest.raises(BadInput) as info:
        parse_query(text)
    return str(info.value)


# --------------------------------------------------------------------------------------------
# Each construct
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("graph", must(T("graph"))),
        ("graph neural network", must(T("graph"), T("neural"), T("network"))),
        ("  graph\tneural\nnetwork  ", must(T("graph"), T("neural"), T("network"))),
        ("Graph GRAPH", must(T("Graph"), T("GRAPH"))),  # as typed; the engine lowercases
        ("graph graph", must(T("graph"))),  # duplicates once
        ("Schrödinger", must(T("Schrödinger"))),
        ("Schro\u0308dinger", must(T("Schro\u0308dinger"))),  # combining accent kept
        ("图神经网络", must(T("图神经网络"))),
        ("or", must(T("or"))),
        ("a or b", must(T("a"), T("or"), T("b"))),
    ],
)
def test_words(text: str, expected: SearchQuery) -> None:
    assert parse_query(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"exact phrase"', must(P("exact", "phrase"))),
        ('"graph neural network" survey', must(P("graph", "neural", "network"), T("survey"))),
        ('"one"', must(T("one"))),
        ('"  one  "', must(T("one"))),
        ('""', SearchQuery()),
        ('"OR"', must(T("OR"))),
        ('"graph*"', must(T("graph"))),  # no prefix inside quotes
        ('"state-of-the-art models"', must(P("state-of-the-art", "models"))),
        ('"a, b!"', must(P("a", "b"))),
        ('x"graph neural"y', must(T("x"), P("graph", "neural"), T("y"))),
        ("\u201cgraph neural\u201d", must(P("graph", "neural"))),  # curly quotes
    ],
)
def test_phrases(text: str, expected: SearchQuery) -> None:
    assert parse_query(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-word", SearchQuery(must_not=(T("word"),))),
        ('-"exact phrase"', SearchQuery(must_not=(P("exact", "phrase"),))),
        ("-cat:cs.CY", SearchQuery(must_not=(InCategory("cs.CY"),))),
        ("-au:smith", SearchQuery(must_not=(T("smith", "au"),))),
        ("-ti:surv*", SearchQuery(must_not=(T("surv", "ti", prefix=True),))),
        ("-cat:cs.CY,econ.GN", SearchQuery(must_not=(InCategory("cs.CY"), InCategory("econ.GN")))),
        ("--word", SearchQuery(must_not=(T("word"),))),
        ("graph -survey", SearchQuery(must=(T("graph"),), must_not=(T("survey"),))),
        ("graph - survey", must(T("graph"), T("survey"))),  # a lone - is ignored
        ("graph -", must(T("graph"))),
        ("e-commerce", must(T("e-commerce"))),  # an inner hyphen is not an exclusion
        ("-OR", SearchQuery(must_not=(T("OR"),))),
    ],
)
def test_exclusions(text: str, expected: SearchQuery) -> None:
    assert parse_query(text) == expected


def test_exclusions_alone_are_empty() -> None:
    q = parse_query("-survey -cat:cs.CY")
    assert q.empty
    assert q.must_not == (T("survey"), InCategory("cs.CY"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a OR b", must(Any(T("a"), T("b")))),
        ("a OR b c", must(Any(T("a"), T("b")), T("c"))),
        ("c a OR b", must(T("c"), Any(T("a"), T("b")))),
        ("a OR b OR c", must(Any(T("a"), T("b"), T("c")))),
        ("a OR b c OR d", must(Any(T("a"), T("b")), Any(T("c"), T("d")))),
        ('"graph neural" OR gnn', must(Any(P("graph", "neural"), T("gnn")))),
        ("ti:graph OR abs:graph", must(Any(T("graph", "ti"), T("graph", "abs")))),
        ("cat:cs.AI OR cat:cs.LG", must(Any(InCategory("cs.AI"), InCategory("cs.LG")))),
        (
            "cat:cs.AI,cs.CL OR cat:cs.LG",
            must(Any(*(InCategory(c) for c in ("cs.AI", "cs.CL", "cs.LG")))),
        ),
        ("neur* OR gnn", must(Any(T("neur", prefix=True), T("gnn")))),
        ("a OR a", must(T("a"))),
        # tolerated: leading, trailing, doubled OR
        ("OR a", must(T("a"))),
        ("a OR", must(T("a"))),
        ("a OR OR b", must(Any(T("a"), T("b")))),
        ("OR", SearchQuery()),
        ("OR OR OR", SearchQuery()),
        # OR only joins included items
        ("a OR -b", SearchQuery(must=(T("a"),), must_not=(T("b"),))),
        ("-a OR b", SearchQuery(must=(T("b"),), must_not=(T("a"),))),
        ("a OR after:2025 b", SearchQuery(must=(T("a"), T("b")), after=date(2025, 1, 1))),
        ("a OR !!! b", must(Any(T("a"), T("b")))),  # dropped punctuation is invisible
        # not operators
        ("a or b", must(T("a"), T("or"), T("b"))),
        ("a Or b", must(T("a"), T("Or"), T("b"))),
        ("a ti:OR b", must(T("a"), T("OR", "ti"), T("b"))),
    ],
)
def test_or(text: str, expected: SearchQuery) -> None:
    assert parse_query(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("neur*", must(T("neur", prefix=True))),
        ("ab*", must(T("ab", prefix=True))),
        ("neur**", must(T("neur", prefix=True))),
        ("ti:neur*", must(T("neur", "ti", prefix=True))),
        ("graph-neur*", must(T("graph-neur", prefix=True))),
        ("neur*)", must(T("neur"))),  # * not at the end: punctuation
        ("*", SearchQuery()),
        ("** ***", SearchQuery()),
        ("graph *", must(T("graph"))),
        ("-*", SearchQuery()),
        ("TCP/I*", must(P("TCP", "I"))),  # a split word is a phrase: no prefix
    ],
)
def test_prefix(text: str, expected: SearchQuery) -> None:
    assert parse_query(text) == expected


@pytest.mark.parametrize("text", ["a*", "x*", "ti:a*", "-a*", "graph b*", "é*", "(a*", "a-*"])
def test_prefix_too_short(text: str) -> None:
    assert "prefix too short" in bad(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ti:graph", must(T("graph", "ti"))),
        ("au:bengio", must(T("bengio", "au"))),
        ("abs:diffusion", must(T("diffusion", "abs"))),
        ("TI:graph Au:bengio ABS:x", must(T("graph", "ti"), T("bengio", "au"), T("x", "abs"))),
        ('ti:"graph neural"', must(P("graph", "neural", field="ti"))),
        ('au:"Yoshua Bengio"', must(P("Yoshua", "Bengio", field="au"))),
        ('au:"Bengio"', must(T("Bengio", "au"))),
        ("au:o'neil", must(T("o'neil", "au"))),
        ("ti:", SearchQuery()),  # a field with nothing after it is ignored
        ("ti: graph", must(T("graph"))),
        ('ti:"" graph', must(T("graph"))),
        ("foo:bar", must(T("foo:bar"))),  # unknown field: a plain word
        ("title:graph", must(T("title:graph"))),
        ("foo:", must(T("foo"))),
        ("graph ti:graph", must(T("graph"), T("graph", "ti"))),
    ],
)
def test_fields(text: str, expected: SearchQuery) -> None:
    assert parse_query(text) == expected


def test_field_values_are_fields_of_ast() -> None:
    q = parse_query('ti:a1 au:"b c" abs:dd*')
    fields = {getattr(n, "field", None) for n in q.must}
    assert fields <= set(FIELDS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cat:cs.AI", must(InCategory("cs.AI"))),
        ("cat:cs.ai", must(InCategory("cs.AI"))),
        ("CAT:CS.AI", must(InCategory("cs.AI"))),
        ("cat:cs", must(InCategory("cs"))),  # an archive
        ("cat:hep-th", must(InCategory("hep-th"))),
        ("cat:cs.NA", must(InCategory("math.NA"))),  # alias -> canonical
        ("cat:cmp-lg", must(InCategory("cs.CL"))),  # defunct archive
        ('cat:"cs.LG"', must(InCategory("cs.LG"))),
        ("cat:cs.AI,cs.LG", must(Any(InCategory("cs.AI"), InCategory("cs.LG")))),
        ("cat:cs.AI,cs.ai", must(InCategory("cs.AI"))),
        ("(cat:cs.AI)", must(T("cat:cs.AI"))),  # not at a token start: a plain word
        ("cat:cs.AI)", must(InCategory("cs.AI"))),
        ("cat:", SearchQuery()),
        ("graph cat:cs.LG", must(T("graph"), InCategory("cs.LG"))),
    ],
)
def test_categories(text: str, expected: SearchQuery) -> None:
    assert parse_query(text) == expected


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("cat:cs.XX", "'cs.XX'"),
        ("graph cat:nonsense", "'nonsense'"),
        ("cat:cs.AI,cs.XX", "'cs.XX'"),
        ("-cat:foo", "'foo'"),
        ("cat:" + "z" * 500, "..."),
    ],
)
def test_unknown_category(text: str, named: str) -> None:
    message = bad(text)
    assert message.startswith("unknown category ")
    assert message.endswith(" in cat:")
    assert named in message
    assert len(message) < 120


def test_unknown_category_message_exact() -> None:
    assert bad("cat:cs.XX") == "unknown category 'cs.XX' in cat:"


# --------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "after", "before"),
    [
        ("after:2025-01-01", date(2025, 1, 1), None),
        ("before:2025-12-31", None, date(2025, 12, 31)),
        ("after:2025-03", date(2025, 3, 1), None),
        ("before:2025-02", None, date(2025, 2, 28)),
        ("before:2024-02", None, date(2024, 2, 29)),
        ("before:2025-04", None, date(2025, 4, 30)),
        ("after:2025", date(2025, 1, 1), None),
        ("before:2025", None, date(2025, 12, 31)),
        ("after:2025-1-5", date(2025, 1, 5), None),
        ("AFTER:2025 Before:2025", date(2025, 1, 1), date(2025, 12, 31)),
        ("after:2025-06-01 before:2025-06-01", date(2025, 6, 1), date(2025, 6, 1)),
        ("after:2024 after:2025-03", date(2025, 3, 1), None),  # the tighter bound wins
        ("before:2025 before:2024-06", None, date(2024, 6, 30)),
        ('after:"2025-01-01"', date(2025, 1, 1), None),
        ("after:", None, None),
    ],
)
def test_dates(text: str, after: date | None, before: date | None) -> None:
    q = parse_query(text)
    assert (q.after, q.before) == (after, before)
    assert q.must == ()


def test_dates_with_words() -> None:
    q = parse_query("graph after:2025-01 -survey before:2025-06-15")
    assert q == SearchQuery(
        must=(T("graph"),),
        must_not=(T("survey"),),
        after=date(2025, 1, 1),
        before=date(2025, 6, 15),
    )
    assert not parse_query("after:2025").empty


@pytest.mark.parametrize(
    "value",
    ["2025-13-01", "2025-02-30", "2025-13", "2025-00", "0000", "25", "2025/01/01", "yesterday",
     "2025-01-01T00:00", "20250101", "２０２５", "2025-1-1-1"],
)  # fmt: skip
def test_bad_dates(value: str) -> None:
    for field in ("after", "before"):
        message = bad(f"graph {field}:{value}")
        assert message.startswith(f"invalid date {value!r} in {field}:")


def test_after_later_than_before() -> None:
    message = bad("after:2025-06-02 before:2025-06-01")
    assert "2025-06-02" in message and "2025-06-01" in message
    assert "later" in bad("after:2026 before:2025")
    assert "later" in bad("before:2025-01 after:2025-02")


def test_negated_date_is_refused() -> None:
    assert "after:" in bad("-after:2025")
    assert "before:" in bad("-before:2025")


# --------------------------------------------------------------------------------------------
# arXiv ids
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "paper_id"),
    [
        ("2401.00001", "2401.00001"),
        ("2401.00001v2", "2401.00001"),
        ("arXiv:2401.00001v2", "2401.00001"),
        ("arxiv:2401.00001", "2401.00001"),
        ("  2401.00001\n", "2401.00001"),
        ("2401.1", None),  # shaped like an id but not one: a text search
        ("hep-th/9901001", "hep-th/9901001"),
        ("hep-th/9901001v3", "hep-th/9901001"),
        ("math.CA/0611800v2", "math/0611800"),
        ("https://arxiv.org/abs/2401.00001", "2401.00001"),
        ("https://arxiv.org/abs/2401.00001v3", "2401.00001"),
        ("http://arxiv.org/pdf/2401.00001v1.pdf", "2401.00001"),
        ("arxiv.org/abs/2401.00001", "2401.00001"),
        ("1406.02661", "1406.2661"),
        ("2401.00001\x00", "2401.00001"),
    ],
)
def test_id_jump(text: str, paper_id: str | None) -> None:
    q = parse_query(text)
    assert q.paper_id == paper_id
    if paper_id is not None:
        assert q == SearchQuery(paper_id=paper_id)
        assert not q.empty


@pytest.mark.parametrize(
    "text", ["1234.5678", "2401.00001 graph", "see 2401.00001", "2401.00001,2401.00002"]
)
def test_not_an_id_jump(text: str) -> None:
    q = parse_query(text)
    assert q.paper_id is None
    assert q.must


# --------------------------------------------------------------------------------------------
# papers.cool's comma keyword lists ([REL])
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("graph,neural,network", must(Any(T("graph"), T("neural"), T("network")))),
        ("graph, neural, network", must(Any(T("graph"), T("neural"), T("network")))),
        ("graph,neural,graph", must(Any(T("graph"), T("neural")))),
        ("graph neural,transformer", must(Any(P("graph", "neural"), T("transformer")))),
        ("e-commerce,recommendation", must(Any(T("e-commerce"), T("recommendation")))),
        (",graph,,neural,", must(Any(T("graph"), T("neural")))),
        ("graph,", must(T("graph"))),  # one part: ordinary words
        (",,,", SearchQuery()),
        # other syntax present: commas just separate words
        (
            "graph,neural -survey",
            SearchQuery(must=(T("graph"), T("neural")), must_not=(T("survey"),)),
        ),
        ('"graph neural",gnn', must(P("graph", "neural"), T("gnn"))),
        ("ti:graph,neural", must(T("graph", "ti"), T("neural"))),
        ("neur*,graph", must(T("neur", prefix=True), T("graph"))),
        # a comma inside a number is not a separator
        ("1,000 papers", must(P("1", "000"), T("papers"))),
        ("1,000,graph", must(Any(P("1", "000"), T("graph")))),
    ],
)
def test_comma_lists(text: str, expected: SearchQuery) -> None:
    assert parse_query(text) == expected


def test_rel_link_of_ten_keywords() -> None:
    keywords = ["diffusion", "denoising", "score", "sampling", "guidance", "latent", "image",
                "generation", "variance", "schedule"]  # fmt: skip
    q = parse_query(",".join(keywords))
    assert q == must(AnyOf(tuple(T(k) for k in keywords)))


# --------------------------------------------------------------------------------------------
# Words and punctuation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("!!!", SearchQuery()),
        ("&& || ... ??? ---", SearchQuery()),
        ("graph !!! neural", must(T("graph"), T("neural"))),
        ("(graph)", must(T("graph"))),
        ("graph.", must(T("graph"))),
        ("e.g. U.S.A.", must(T("e.g"), T("U.S.A"))),
        ("3.14 v1.2.3", must(T("3.14"), T("v1.2.3"))),
        ("don't", must(T("don't"))),
        ("don\u2019t", must(T("don\u2019t"))),
        ("'quoted'", must(T("quoted"))),
        ("c++ c#", must(T("c"))),
        ("TCP/IP", must(P("TCP", "IP"))),
        ("foo&bar", must(P("foo", "bar"))),
        ("snake_case", must(P("snake", "case"))),
        ("+graph", must(T("graph"))),
        ("https://example.com/page", must(P("https", "example.com", "page"))),
    ],
)
def test_punctuation(text: str, expected: SearchQuery) -> None:
    assert parse_query(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("gra\x00ph", must(T("graph"))),
        ("\x00\x00\x00", SearchQuery()),
        ("graph\x00 neural", must(T("graph"), T("neural"))),
        ("\x1b[31mred\x1b[0m", must(P("31mred", "0m"))),  # ESC removed, "[" splits
        ("graph\x7fneural", must(T("graphneural"))),
        ("graph\rneural\x0bnet\x0cwork", must(T("graph"), T("neural"), T("net"), T("work"))),
        ("graph\u2028neural", must(T("graph"), T("neural"))),
        ("\u202egraph\u202c", must(T("graph"))),  # RTL override, pop
        ("\u200fgraph \u2067neural\u2069", must(T("graph"), T("neural"))),  # RLM, isolates
        ("gra\u200bph", must(T("graph"))),  # zero-width space
        ("\ufeffgraph", must(T("graph"))),  # BOM
        ("graph\u00a0neural", must(T("graph"), T("neural"))),  # no-break space
        ("graph\u3000neural", must(T("graph"), T("neural"))),  # ideographic space
        ("\ud800graph", must(T("graph"))),  # lone surrogate
        ("-\u202e-word", SearchQuery(must_not=(T("word"),))),
    ],
)
def test_control_and_invisible_characters(text: str, expected: SearchQuery) -> None:
    assert parse_query(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("🚀", SearchQuery()),
        ("🚀🔥 👩‍🔬", SearchQuery()),
        ("graph 🚀", must(T("graph"))),
        ("graph🚀neural", must(P("graph", "neural"))),
        ('"🚀 graph"', must(T("graph"))),
        ("🚀*", SearchQuery()),
        ("ti:🚀", SearchQuery()),
    ],
)
def test_emoji(text: str, expected: SearchQuery) -> None:
    assert parse_query(text) == expected


# --------------------------------------------------------------------------------------------
# Tolerance
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"graph neural', must(P("graph", "neural"))),
        ('survey "graph neural', must(T("survey"), P("graph", "neural"))),
        ('"graph', must(T("graph"))),
        ('"', SearchQuery()),
        ('"""', SearchQuery()),
        ('"a" "b', must(T("a"), T("b"))),
        ('ti:"graph neural', must(P("graph", "neural", field="ti"))),
        ('-"graph neural', SearchQuery(must_not=(P("graph", "neural"),))),
        ('"graph OR neural', must(P("graph", "OR", "neural"))),  # OR inside a phrase: a word
        ('"after:2025 cat:cs.XX a*', must(P("after:2025", "cat:cs.XX", "a"))),
    ],
)
def test_unbalanced_quotes(text: str, expected: SearchQuery) -> None:
    assert parse_query(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", " ", "\n\t", "-", "*", "OR", "- * OR", '""', '"', "ti:", "au: abs:", "cat:", "after:",
     "-ti:", ":", "::", ",", "-,", "!!!", "&&", "()", "[]", "{}", "\\", "/", "'", "~", "^",
     "-*", '-"', '-""'],
)  # fmt: skip
def test_operators_alone_are_empty(text: str) -> None:
    q = parse_query(text)
    assert q == SearchQuery()
    assert q.empty


def test_parse_query_returns_search_query() -> None:
    assert isinstance(parse_query("graph"), SearchQuery)


# --------------------------------------------------------------------------------------------
# Limits and speed
# --------------------------------------------------------------------------------------------


def _timed(text: str) -> float:
    """Best of three runs of the CPU time this thread spent: the parser's own time, whatever
    else a busy machine runs meanwhile."""
    times = []
    for _ in range(3):
        start = time.thread_time()
        with contextlib.suppress(BadInput):
            parse_query(text)
        times.append(time.thread_time() - start)
    return min(times)


@pytest.mark.parametrize(
    "text",
    [
        "graph " * 2000,
        "a" * 10_000,
        '"' + "neural " * 1500,
        "x" * 10_000 + " graph",
        "-" * 10_000,
        "*" * 10_000,
        '"' * 10_000,
        "OR " * 3500,
        "\x00" * 10_000,
        "\u202e" * 10_000,
        "🚀" * 10_000,
        "a,b," * 2500,
        "cat:" + "cs.AI," * 2000,
        "".join(random.Random(1).choice('"-*:OR ab,\x00') for _ in range(10_000)),
    ],
)
def test_ten_kilobytes_parse_fast(text: str) -> None:
    assert len(text) >= 10_000
    parse_query(text[:100])  # warm up imports and lazily built tables
    assert _timed(text) < 0.05


def test_long_input_is_cut_not_refused() -> None:
    q = parse_query("graph " * 2000)
    assert q == must(T("graph"))
    # the word running over the limit is dropped, unless it is the only one
    assert parse_query("neural " + "x" * 20_000) == must(T("neural"))
    assert parse_query("x" * 20_000) == must(T("x" * MAX_QUERY_CHARS))


def test_cut_does_not_leave_half_a_word() -> None:
    head = "graph " + "-" * (MAX_QUERY_CHARS - 10)  # a lone "-…" run: ignored
    text = head + " neural network"
    assert len(head) < MAX_QUERY_CHARS < len(text)
    assert parse_query(text) == must(T("graph"))  # "neu" of "neural" is not searched
    assert "invalid date" not in str(parse_query("graph " * 330 + "after:2025-01-01"))


def test_cut_keeps_the_first_max_chars() -> None:
    words = [f"w{i}" for i in range(1000)]
    text = " ".join(words)
    with pytest.raises(BadInput, match="too many terms"):
        parse_query(text)
    fits = " ".join(words[:MAX_TERMS])
    assert len(parse_query(fits).must) == MAX_TERMS


@pytest.mark.parametrize(
    "text",
    [
        " ".join(f"w{i}" for i in range(MAX_TERMS + 1)),
        " ".join(f"-w{i}" for i in range(MAX_TERMS + 1)),
        '"' + " ".join(f"w{i}" for i in range(MAX_TERMS + 1)) + '"',
        " OR ".join(f"w{i}" for i in range(MAX_TERMS + 1)),
        ",".join(f"w{i}" for i in range(MAX_TERMS + 1)),
        '"' + "neural " * 100,  # every word of a phrase counts
    ],
)
def test_too_many_terms(text: str) -> None:
    assert bad(text).startswith("too many terms")


def test_max_terms_counts_distinct_items() -> None:
    assert parse_query("graph " * 300) == must(T("graph"))
    assert len(parse_query(" ".join(f"w{i}" for i in range(MAX_TERMS))).must) == MAX_TERMS


# --------------------------------------------------------------------------------------------
# Combinations
# --------------------------------------------------------------------------------------------


def test_everything_together() -> None:
    q = parse_query(
        'ti:"graph neural" OR gnn* au:bengio -survey -"position paper" cat:cs.LG,stat.ML '
        "-cat:cs.CY after:2024-06 before:2025 message-passing"
    )
    assert q == SearchQuery(
        must=(
            Any(P("graph", "neural", field="ti"), T("gnn", prefix=True)),
            T("bengio", "au"),
            Any(InCategory("cs.LG"), InCategory("stat.ML")),
            T("message-passing"),
        ),
        must_not=(T("survey"), P("position", "paper"), InCategory("cs.CY")),
        after=date(2024, 6, 1),
        before=date(2025, 12, 31),
    )


def test_same_node_in_must_and_or_group() -> None:
    q = parse_query("a a OR b")
    assert q == must(T("a"), Any(T("a"), T("b")))


# --------------------------------------------------------------------------------------------
# Fuzz (plain random with fixed seeds: hypothesis is not a dependency)
# --------------------------------------------------------------------------------------------


def _check_node(node: Node, *, in_any: bool = False) -> None:
    if isinstance(node, Term):
        assert node.text and node.text == node.text.strip()
        assert not any(c.isspace() for c in node.text)
        assert node.field in (None, *FIELDS)
        assert not node.prefix or len(node.text) >= 2
    elif isinstance(node, Phrase):
        assert len(node.words) >= 2 and all(node.words)
        assert node.field in (None, *FIELDS)
    elif isinstance(node, InCategory):
        assert canonical(node.term) == node.term
    else:
        assert isinstance(node, AnyOf)
        assert not in_any and len(node.items) >= 2
        assert len(set(node.items)) == len(node.items)
        for item in node.items:
            _check_node(item, in_any=True)


def _check(text: str) -> None:
    try:
        q = parse_query(text)
    except BadInput as e:
        assert str(e)
        return
    assert isinstance(q, SearchQuery)
    for node in q.must:
        _check_node(node)
    for node in q.must_not:
        assert not isinstance(node, AnyOf)
        _check_node(node)
    if q.paper_id is not None:
        assert q.must == q.must_not == ()


def test_fuzz_small_alphabet() -> None:
    rng = random.Random(20250101)
    alphabet = '"-*:OR ab'
    start = time.thread_time()  # CPU time: a busy machine does not count
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        _check(text)
    assert time.thread_time() - start < 5


def test_fuzz_small_alphabet_errors_are_only_short_prefixes() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        text = "".join(rng.choice('"-*:OR ab') for _ in range(rng.randint(0, 30)))
        try:
            parse_query(text)
        except BadInput as e:
            assert str(e).startswith("prefix too short"), text


def test_fuzz_tokens() -> None:
    rng = random.Random(42)
    pieces = ['"', "-", "*", ":", "OR", "or", " ", ",", "a", "ab", "graph", "ti:", "au:",
              "abs:", "cat:", "cs.AI", "cs", "cs.XX", "after:", "before:", "2025", "2025-02",
              "2025-02-30", "-01", "2401.00001", "arXiv:", "\x00", "\u202e", "🚀", "é", "\t",
              "(", ")", "/", ".", "'", "_"]  # fmt: skip
    start = time.thread_time()  # CPU time: a busy machine does not count
    for _ in range(5000):
        _check("".join(rng.choice(pieces) for _ in range(rng.randint(0, 25))))
    assert time.thread_time() - start < 5


def test_fuzz_any_unicode() -> None:
    rng = random.Random(3)
    for _ in range(2000):
        text = "".join(chr(rng.randrange(0x110000)) for _ in range(rng.randint(0, 30)))
        _check(text)
