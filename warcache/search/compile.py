"""Query compilation: a parsed query (warcache.search.query) → what matching runs on one index.

The result is a Plan: a tree of plain dataclasses saying which terms of which fields a page needs
(Clause: scored words, variants, phrases, prefixes; Filter: unscored restrictions; AllOf, AnyOf,
AndNot, Negated, Everything), the capture-time bounds pulled out of it, whether results are ranked,
and what snippets highlight.  It does not depend on Whoosh: warcache.search.match runs it, on the
top-k search (warcache.search.topk) when it is a conjunction (`conjunction`), else on Whoosh's own
matchers.

Compiling needs the index for one thing, its lexicon: English variants of a bare word
("negotiation" → "negotiations", "negotiated") are the index's terms that share the word's Porter2
stem.  Only existing words are added, quoted words and phrases stay exact, and very common words
are left alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol, TypeAlias

from warcache.errors import UsageError
from warcache.search import query as wcq
from warcache.search.analysis import MAX_TOKEN, common_gram, indexed_words, is_cjk, stem
from warcache.search.snippets import CJK, PREFIX, WORD, Highlighter

__all__ = [
    "COMMON_FRACTION",
    "COMMON_MIN_DOCS",
    "AllOf",
    "AndNot",
    "AnyOf",
    "Clause",
    "Conjunction",
    "Dates",
    "Everything",
    "Filter",
    "Lexicon",
    "Negated",
    "Node",
    "Plan",
    "check_query",
    "conjunction",
    "plan_query",
]

COMMON_FRACTION = 0.01
"""A word's variants are searched too only while the pages they cover stay under this share of the
index: common words match plenty of pages as typed, and merging several long posting lists is
what makes a query slow."""
COMMON_MIN_DOCS = 500  # ... but in a small index every word gets its variants
_MAX_VARIANT_SCAN = 400  # lexicon entries examined when looking for a word's variants


# --------------------------------------------------------------------------- what matching runs


@dataclass
class Clause:
    """One scored part that a page must have: a word, a word or its variants, a phrase, a prefix.

    `alternatives` are term tuples: one term each for a word and its variants (a page scores the
    sum over the forms it has), several terms in order for a phrase (then the only alternative).
    A `prefix` (comp*) stands for every term of the index starting with it, as alternatives.
    """

    fieldname: str
    alternatives: list[tuple[str, ...]]
    prefix: str | None = None


@dataclass(frozen=True)
class Filter:
    """A restriction that selects pages but adds nothing to their score: the pages with `term`
    in the field (site:, lang:), with a term starting with `prefix` (url:), or else with a number
    from `low` to `high` (dates; None: open)."""

    fieldname: str
    term: str | None = None
    prefix: str | None = None
    low: int | None = None
    high: int | None = None


@dataclass
class AllOf:
    items: list[Node]


@dataclass
class AnyOf:
    items: list[Node]


@dataclass
class AndNot:
    """The pages of `positive` without those of `negative` (-word, NOT ...)."""

    positive: Node
    negative: Node


@dataclass
class Negated:
    """NOT item where it cannot become an AndNot: inside an OR ("a OR -b")."""

    item: Node


@dataclass
class Everything:
    """Every page (what an AND of only exclusions starts from)."""


Node: TypeAlias = Clause | Filter | AllOf | AnyOf | AndNot | Negated | Everything


@dataclass
class Conjunction:
    """Pages with every clause, in every filter, in no exclusion; scored by the clauses."""

    clauses: list[Clause]
    filters: list[Filter] = field(default_factory=list)  # unscored restrictions (site:, lang:, url:)
    exclusions: list[Node] = field(default_factory=list)  # -word, -"phrase", -site:...


def conjunction(node: Node | None) -> Conjunction | None:
    """`node` as a Conjunction for the top-k search, or None if it has another shape (an OR, ...)."""
    conj = Conjunction([])
    if node is None or not _collect(node, conj) or not conj.clauses:
        return None
    return conj


def _collect(node: Node, conj: Conjunction) -> bool:
    """Add node's parts to conj; False if it has a part a conjunction cannot hold."""
    if isinstance(node, Clause):
        conj.clauses.append(node)
    elif isinstance(node, AllOf):
        return all(_collect(part, conj) for part in node.items)
    elif isinstance(node, AndNot):
        conj.exclusions.append(node.negative)
        return _collect(node.positive, conj)
    elif isinstance(node, Filter):
        conj.filters.append(node)
    elif not isinstance(node, Everything):
        return False
    return True


# --------------------------------------------------------------------------- plans

EARLIEST = -(2**63)
LATEST = 2**63 - 1  # the timestamp field is a signed 64-bit number


@dataclass(frozen=True)
class Dates:
    """Capture-time bounds, inclusive, as 14-digit numbers (YYYYMMDDhhmmss); open ends are the
    smallest and largest numbers the timestamp field holds."""

    low: int = EARLIEST
    high: int = LATEST

    @property
    def bounded(self) -> bool:
        return self.low != EARLIEST or self.high != LATEST


@dataclass
class Plan:
    """How to run one query on one index."""

    query: Node | None  # None: every capture (only dates restrict it)
    scored: bool  # rank by relevance; otherwise newest first
    dates: Dates  # from top-level after:/before:, checked per page rather than as a query
    highlight: Highlighter | None  # what snippets highlight


class Lexicon(Protocol):
    """What compiling asks of an index: its size and its terms (for variants)."""

    def doc_count(self) -> int:
        """Documents in the index, deleted ones included."""

    def doc_frequency(self, fieldname: str, text: str) -> int: ...

    def expand_prefix(self, fieldname: str, prefix: str) -> Iterable[str]:
        """The field's terms starting with `prefix`, in order."""


def check_query(text: str) -> wcq.Node:
    """Parse a query and make sure something in it can be searched for (UsageError if not)."""
    node = wcq.parse_query(text)
    if _is_empty(node):
        raise UsageError(
            f"nothing to search for in {text!r}: no words (punctuation and words over "
            f"{MAX_TOKEN} characters are not indexed)"
        )
    return node


def plan_query(node: wcq.Node, lexicon: Lexicon,
               tagged: Callable[[str], Iterable[str]] | None = None) -> Plan:
    """The plan for a parsed query on one index.  Top-level date bounds are pulled out of the
    query: they become a cheap per-page check instead of a range query.  `tagged(tag)` gives
    the URLs bearing a tag (tags live beside the index, not in it: see `_Compiler`)."""
    items = list(node.items) if isinstance(node, wcq.And) else [node]
    dates = [item for item in items if isinstance(item, wcq.DateRange)]
    rest = [item for item in items if not isinstance(item, wcq.DateRange)]
    bounds = Dates(
        max((d.low for d in dates if d.low is not None), default=EARLIEST),
        min((d.high for d in dates if d.high is not None), default=LATEST),
    )
    compiler = _Compiler(lexicon, tagged)
    q = compiler.compile(rest[0] if len(rest) == 1 else wcq.And(tuple(rest))) if rest else None
    if isinstance(q, Negated):
        q = AndNot(Everything(), q.item)
    return Plan(q, _has_text(node), bounds, compiler.highlight or None)


def _is_empty(node: wcq.Node) -> bool:
    """Whether nothing searchable is left (words that are all punctuation), index aside."""
    if isinstance(node, wcq.Word | wcq.Phrase):
        return not indexed_words(node.text)
    if isinstance(node, wcq.Not):
        return _is_empty(node.item)
    if isinstance(node, wcq.And | wcq.Or):
        return all(_is_empty(item) for item in node.items)
    return False


def _has_text(node: wcq.Node) -> bool:
    """Whether the query has words that score (outside NOT); if not, results list newest first."""
    if isinstance(node, wcq.Word | wcq.Phrase):
        return bool(indexed_words(node.text))
    if isinstance(node, wcq.And | wcq.Or):
        return any(_has_text(item) for item in node.items)
    return False


def _field(field: str | None) -> str:
    return "title" if field == "title" else "text"


def _any(parts: list[Node]) -> Node:
    return parts[0] if len(parts) == 1 else AnyOf(parts)


class _Compiler:
    """Turns a syntax tree into a plan's query for one index, collecting what snippets highlight."""

    def __init__(self, lexicon: Lexicon, tagged: Callable[[str], Iterable[str]] | None = None):
        self.lexicon = lexicon
        self.tagged = tagged
        self.total = max(1, lexicon.doc_count())
        self.highlight = Highlighter()  # in query order
        self._negated = 0

    def _mark(self, kind: str, text: str) -> None:
        if not self._negated:
            self.highlight.add(kind, text)

    def _mark_words(self, words: Iterable[str]) -> None:
        for word in words:
            self._mark(CJK if is_cjk(word) else WORD, word)  # no word boundaries inside CJK text

    def compile(self, node: wcq.Node) -> Node | None:
        """The query for `node`; None when nothing searchable is left in it."""
        if isinstance(node, wcq.Word):
            return self._word(node)
        if isinstance(node, wcq.Phrase):
            return self._phrase(indexed_words(node.text), node.field)
        if isinstance(node, wcq.Site):
            return Filter("domain", term=node.host)
        if isinstance(node, wcq.Url):
            return Filter("urlkey", prefix=node.prefix)
        if isinstance(node, wcq.DateRange):
            return Filter("timestamp", low=node.low, high=node.high)
        if isinstance(node, wcq.Lang):
            return Filter("language", term=node.code)
        if isinstance(node, wcq.Tag):
            # tag: is the set of URLs bearing the tag, each one exact `url` term: the index keeps
            # its format (tags change without re-indexing), and the top-k search stays exact,
            # as a post-filter of its k hits would not be.
            urls = sorted(set(self.tagged(node.name))) if self.tagged else []
            return _any([Filter("url", term=u) for u in urls]) if urls else Filter("url", term="")
        if isinstance(node, wcq.Not):
            self._negated += 1
            try:
                inner = self.compile(node.item)
            finally:
                self._negated -= 1
            return None if inner is None else Negated(inner)
        if isinstance(node, wcq.Or):
            parts = [q for q in map(self.compile, node.items) if q is not None]
            return _any(parts) if parts else None
        return self._and(node)

    def _and(self, node: wcq.And) -> Node | None:
        """AND with its NOTs pulled out into one AndNot: far cheaper than matching each NOT's inverse."""
        pos: list[Node] = []
        neg: list[Node] = []
        for item in node.items:
            q = self.compile(item)
            if isinstance(q, Negated):
                neg.append(q.item)
            elif q is not None:
                pos.append(q)
        if not pos and not neg:
            return None
        positive = (AllOf(pos) if len(pos) > 1 else pos[0]) if pos else Everything()
        return AndNot(positive, _any(neg)) if neg else positive

    def _word(self, node: wcq.Word) -> Node | None:
        tokens = indexed_words(node.text)
        if len(tokens) != 1:  # "e-mail", "東京": the pieces as a phrase
            return self._phrase(tokens, node.field)
        token = tokens[0]
        field = _field(node.field)
        if node.prefix:
            self._mark(PREFIX, token)
            return Clause(field, [], prefix=token)
        forms = self.variants(token, field)
        self._mark_words(sorted(forms, key=len, reverse=True))
        return Clause(field, [(form,) for form in forms])

    def _phrase(self, tokens: list[str], field: str | None) -> Node | None:
        if not tokens:
            return None
        self._mark_words(tokens)
        if len(tokens) == 1:
            return Clause(_field(field), [(tokens[0],)])
        grams = [common_gram(a, b) for a, b in zip(tokens, tokens[1:], strict=False)]
        if field != "title" and all(grams):  # every pair indexed: look the pairs up instead
            return Clause("grams", [tuple(grams)])  # type: ignore[arg-type]
        return Clause(_field(field), [tuple(tokens)])

    def variants(self, token: str, field: str) -> list[str]:
        """`token` and the inflections of it the index has ("negotiation" → "negotiations").

        Candidates are lexicon words with the same Porter2 stem that differ from `token` only in
        the last few letters (so "represent" brings "represents", "represented", but not
        "representative").  They are added while the pages they add up to stay under
        COMMON_FRACTION of the index: each variant is one more posting list to merge.
        """
        if len(token) < 4 or not token.isalpha():
            return [token]
        budget = max(COMMON_MIN_DOCS, self.total * COMMON_FRACTION)
        used = self.lexicon.doc_frequency(field, token)
        root = stem(token)
        prefix = os.path.commonprefix([root, token])
        if used > budget or len(prefix) < 3:
            return [token]
        candidates = []
        for i, text in enumerate(self.lexicon.expand_prefix(field, prefix)):
            if i >= _MAX_VARIANT_SCAN:
                break
            shared = len(os.path.commonprefix([text, token]))
            if text != token and max(len(text), len(token)) - shared <= 3 and stem(text) == root:
                candidates.append((abs(len(text) - len(token)), text))
        forms = [token]
        for _, text in sorted(candidates):
            df = self.lexicon.doc_frequency(field, text)
            if used + df > budget:
                break
            used += df
            forms.append(text)
        return forms
