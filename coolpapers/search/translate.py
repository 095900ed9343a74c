"""Query translation: our query AST (:mod:`coolpapers.search.ast`) as one tantivy query against
one searcher's snapshot, with the limits that keep a query from expanding too far, an estimate
of the work it will take, and the normalised words a result highlights."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import date

import tantivy

from coolpapers.errors import BadInput
from coolpapers.search.ast import AnyOf, InCategory, Node, Phrase, SearchQuery, Term
from coolpapers.search.documents import _normalise, _yyyymmdd
from coolpapers.search.runner import SearchTimeout
from coolpapers.taxonomy import expand

#: BM25 of a title match is multiplied by this for a word not limited to a field.
TITLE_BOOST = 2.0
#: A prefix (``word*``) matching more distinct indexed words than this is refused.
MAX_PREFIX_EXPANSIONS = 10_000
#: Most leaf clauses (words, phrases, categories) one query may have.
MAX_CLAUSES = 256
#: Postings a query is estimated to read above which it runs under the time limit, on a thread
#: of its own (measured on one core: phrases read 25-40 million a second, plain words ~120
#: million, so a query below this takes 40 ms at most).
HEAVY_POSTINGS = 1_000_000

_TEXT_FIELDS = {"ti": "title", "abs": "abstract", "au": "authors"}
_DEFAULT_FIELDS = (("title", TITLE_BOOST), ("abstract", 1.0))
_REGEX_META = frozenset("\\.+*?()|[]{}^$#&-~")


class QueryTooBroad(BadInput):
    """The query would expand to too much (a short prefix, thousands of words): 400."""


def _words(tokens: list[str]) -> list[str | tuple[int, str]]:
    return list(tokens)  # the stub's element type is a union and list is invariant


def _escape_regex(text: str) -> str:
    return "".join("\\" + c if c in _REGEX_META else c for c in text)


class _Translator:
    """Turns our query AST into one tantivy query against one searcher's snapshot.

    ``tokenise`` turns query text into index terms (the index's own analyzer); a query with
    more than ``max_clauses`` leaf clauses, or a prefix matching more than
    ``max_prefix_expansions`` indexed words, raises QueryTooBroad; past ``deadline`` (a
    ``time.monotonic()`` instant), SearchTimeout."""

    def __init__(
        self,
        schema: tantivy.Schema,
        searcher: tantivy.Searcher,
        tokenise: Callable[[str], list[str]],
        deadline: float,
        *,
        max_clauses: int = MAX_CLAUSES,
        max_prefix_expansions: int = MAX_PREFIX_EXPANSIONS,
    ) -> None:
        self._schema = schema
        self._searcher = searcher
        self._tokenise = tokenise
        self._deadline = deadline
        self._max_clauses = max_clauses
        self._max_prefix_expansions = max_prefix_expansions
        self._clauses = 0
        #: Postings the query will read, about: the document frequencies of its words in the
        #: fields searched (a phrase reads its words' positions too). None: no estimate.
        self.postings: int | None = 0

    @property
    def heavy(self) -> bool:
        """Whether the query may take long enough to need the time limit."""
        return self.postings is None or self.postings > HEAVY_POSTINGS

    def _reads(self, postings: int | None) -> None:
        if postings is None or self.postings is None:
            self.postings = None
        else:
            self.postings += postings

    def query(self, query: SearchQuery) -> tantivy.Query:
        Occur = tantivy.Occur
        must: list[tantivy.Query] = []
        for node in query.must:
            built = self._node(node)
            if built is not None:
                must.append(built)
        must_not = [q for q in map(self._node, query.must_not) if q is not None]
        if query.paper_id is not None:
            must.append(tantivy.Query.term_query(self._schema, "id", query.paper_id))
        if query.after is not None or query.before is not None:
            must.append(self._day_range(query.after, query.before))
        if not must:
            must.append(tantivy.Query.all_query())  # "-word" alone: everything but
            self._reads(self._searcher.num_docs)
        if len(must) == 1 and not must_not:
            return must[0]
        clauses = [(Occur.Must, q) for q in must] + [(Occur.MustNot, q) for q in must_not]
        return tantivy.Query.boolean_query(clauses)

    def _day_range(self, after: date | None, before: date | None) -> tantivy.Query:
        return tantivy.Query.range_query(
            self._schema,
            "day",
            tantivy.FieldType.Integer,
            _yyyymmdd(after) if after is not None else None,
            _yyyymmdd(before) if before is not None else None,
        )

    def _count_clause(self) -> None:
        self._clauses += 1
        if self._clauses > self._max_clauses:
            raise QueryTooBroad(f"the query has too many terms (at most {self._max_clauses})")
        if time.monotonic() > self._deadline:
            raise SearchTimeout("the search took too long to prepare")

    def _node(self, node: Node) -> tantivy.Query | None:
        """None: the node constrains nothing (a word with no letters or digits)."""
        if isinstance(node, Term):
            return self._words(self._tokenise(node.text), node.field, prefix=node.prefix)
        if isinstance(node, Phrase):
            tokens = [t for word in node.words for t in self._tokenise(word)]
            return self._words(tokens, node.field, prefix=False)
        if isinstance(node, InCategory):
            self._count_clause()
            categories = sorted(expand(node.term))
            self._reads(sum(self._searcher.doc_freq("categories", c) for c in categories))
            return tantivy.Query.term_set_query(self._schema, "categories", categories)
        if isinstance(node, AnyOf):
            items = [q for q in map(self._node, node.items) if q is not None]
            if len(items) <= 1:
                return items[0] if items else None
            return tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in items])
        raise TypeError(f"not a query node: {node!r}")

    def _words(
        self, tokens: Sequence[str], field: str | None, *, prefix: bool
    ) -> tantivy.Query | None:
        if not tokens:
            return None
        if field is None:
            fields: Sequence[tuple[str, float]] = _DEFAULT_FIELDS
        elif field in _TEXT_FIELDS:
            fields = ((_TEXT_FIELDS[field], 1.0),)
        else:
            raise BadInput(f"unknown field {field!r}")
        per_field: list[tantivy.Query] = []
        for name, boost in fields:
            self._count_clause()
            built = self._one_field(name, list(tokens), prefix=prefix)
            per_field.append(tantivy.Query.boost_query(built, boost) if boost != 1.0 else built)
        if len(per_field) == 1:
            return per_field[0]
        return tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in per_field])

    def _one_field(self, name: str, tokens: list[str], *, prefix: bool) -> tantivy.Query:
        Query = tantivy.Query
        if prefix:
            self._reads(None)  # a prefix reads every word it expands to: not estimated
            if len(tokens) > 1:  # "graph-neur*": the phrase, its last word a prefix
                return Query.phrase_prefix_query(self._schema, name, _words(tokens))
            found = self._searcher.terms_with_prefix(
                name, tokens[0], limit=self._max_prefix_expansions + 1
            )
            if len(found) > self._max_prefix_expansions:
                raise QueryTooBroad(f"{tokens[0]}* matches too many words: type a few more letters")
            if not found:
                return Query.empty_query()
            return Query.regex_query(self._schema, name, _escape_regex(tokens[0]) + ".*")
        self._reads(sum(self._searcher.doc_freq(name, t) for t in tokens))
        if len(tokens) == 1:  # (tantivy panics on a one-word phrase)
            return Query.term_query(self._schema, name, tokens[0])
        return Query.phrase_query(self._schema, name, _words(tokens))


def _highlight_terms(query: SearchQuery) -> tuple[str, ...]:
    """Normalised words of the positive terms and phrases, first-seen order, no duplicates."""
    seen: dict[str, None] = {}

    def walk(node: Node) -> None:
        if isinstance(node, Term):
            words = _normalise(node.text)
            if node.prefix and words:
                words[-1] += "*"
            seen.update(dict.fromkeys(words))
        elif isinstance(node, Phrase):
            for word in node.words:
                seen.update(dict.fromkeys(_normalise(word)))
        elif isinstance(node, AnyOf):
            for item in node.items:
                walk(item)

    for node in query.must:
        walk(node)
    return tuple(seen)
