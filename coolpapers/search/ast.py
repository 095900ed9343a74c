"""What a parsed search query means, independent of any engine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

# Fields a term may be limited to; None means title + abstract (authors only when asked).
FIELDS = ("ti", "abs", "au")


@dataclass(frozen=True)
class Term:
    text: str  # one user word as typed (the engine normalises: lower case, accents folded)
    field: str | None = None  # "ti" | "abs" | "au" | None
    prefix: bool = False  # word* : every indexed word starting with text


@dataclass(frozen=True)
class Phrase:
    words: tuple[str, ...]  # "exact phrase": these words adjacent, in order
    field: str | None = None


@dataclass(frozen=True)
class InCategory:
    term: str  # canonical category ("cs.AI") or archive ("cs"): the paper has it anywhere


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Node, ...]  # a OR b OR c


Node = Term | Phrase | InCategory | AnyOf


@dataclass(frozen=True)
class SearchQuery:
    must: tuple[Node, ...] = ()  # every one matches
    must_not: tuple[Node, ...] = ()  # none matches (-word, -"phrase", -cat:x)
    after: date | None = None  # announced/published on or after
    before: date | None = None  # on or before
    paper_id: str | None = None  # the query is a bare arXiv id: go straight to that paper

    @property
    def empty(self) -> bool:
        return (
            not self.must and self.paper_id is None and self.after is None and (self.before is None)
        )
