"""Ranked pages out of the full-text index: Whoosh's readers, matchers and scorers, behind `Reader`.

A Reader is an open index: index.py compiles a query against its lexicon (warcache.search.compile)
and gets back (score, stored fields) for the best captures of the plan (`Reader.search`):

* a conjunction (every word or phrase required, with filters and exclusions) goes to the top-k
  search (warcache.search.topk), which reads warcache's posting lists (warcache.search.postings)
  through one Source per segment of the index, made here from Whoosh's segment readers;
* other shapes (an OR of parts, NOT inside an OR, ...) run on Whoosh's own matchers and
  collector, with the fixes and the exact phrase matcher below;
* queries without words (only site:, after:, -word...) list captures newest first.

Scores are BM25F, Whoosh's, with its per-document length lookups replaced by a table
(Weighting): the same numbers, bit for bit, whichever of the two paths scores a page.

This module and warcache.search.postings are the two that use Whoosh's internals (see the import
contracts in pyproject.toml).
"""

from __future__ import annotations

import bisect
import weakref
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from whoosh import index as wi
from whoosh import query as wq
from whoosh.codec.whoosh3 import LENGTHS_COLUMN as _LENGTHS_COLUMN
from whoosh.idsets import DocIdSet
from whoosh.matching import AndNotMatcher, ListMatcher, Matcher, NullMatcher, ReadTooFar
from whoosh.matching.wrappers import FilterMatcher
from whoosh.scoring import BM25F, BaseScorer, BM25FScorer
from whoosh.util.numeric import byte_to_length

from warcache.search.compile import (
    AllOf,
    AndNot,
    AnyOf,
    Clause,
    Dates,
    Everything,
    Filter,
    Negated,
    Node,
    Plan,
    conjunction,
)
from warcache.search.postings import decode_positions, own_layout, posting_list
from warcache.search.topk import Fallback, in_sequence, top_docs

__all__ = ["Reader", "SegmentInfo", "TableScorer", "Weighting", "whoosh_query"]

# --------------------------------------------------------------------------- scoring


class _LengthTable:
    """BM25's length normalisation for every document of one segment, in a list.

    Whoosh's BM25F scorer asks for a document's field length through five calls (searcher,
    reader, per-document reader, column, byte decoding) for every document it scores.  The
    lengths are one byte per document in a column, read here in one go; the normalisation per
    distinct byte is computed once (`by_byte`, also what chunk bounds are computed from).
    """

    _cache: weakref.WeakKeyDictionary[
        Any, dict[tuple[str, float, float, float], tuple[list[float], list[float]]]
    ] = weakref.WeakKeyDictionary()

    @classmethod
    def norms(
        cls, reader: Any, fieldname: str, avgfl: float, b: float, k1: float
    ) -> tuple[list[float], list[float]] | None:
        """(K1 * ((1 - B) + B * length / avgfl) per document number, the same per length byte)."""
        per_reader = cls._cache.setdefault(reader, {})
        key = (fieldname, avgfl, b, k1)
        if key not in per_reader:
            lengths = cls._length_bytes(reader, fieldname)
            if lengths is None:
                return None
            by_byte = [
                k1 * ((1 - b) + b * (byte_to_length(byte) if byte else 1) / avgfl) for byte in range(256)
            ]
            per_reader[key] = ([by_byte[byte] for byte in lengths], by_byte)
        return per_reader[key]

    @staticmethod
    def _length_bytes(reader: Any, fieldname: str) -> bytes | None:
        """The length byte of each document, checked against Whoosh's own answer for two of them.

        This reads Whoosh's per-document column directly (not public API): if a later Whoosh
        lays it out differently, the check fails and scoring falls back to Whoosh's own path.
        """
        count = reader.doc_count_all()
        try:
            column = reader._perdoc._cached_reader(f"_{fieldname}_len", _LENGTHS_COLUMN)
            raw = bytes(column._dbfile.get(column._basepos, column._count)) if column is not None else b""
        except (AttributeError, TypeError, OSError):
            return None
        lengths = raw[:count].ljust(count, b"\0")
        for docnum in {0, count - 1} if count else ():
            byte = lengths[docnum]
            if reader.doc_field_length(docnum, fieldname, 1) != (byte_to_length(byte) if byte else 1):
                return None
        return lengths


class TableScorer(BaseScorer):
    """BM25F with the length part from _LengthTable: the same score as Whoosh's, bit for bit."""

    def __init__(self, base: Any, norms: list[float], by_byte: list[float]):
        self.base = base
        self.norms = norms
        self.by_byte = by_byte
        self.idf = base.idf
        self.k1p1 = base.K1 + 1

    def supports_block_quality(self) -> bool:
        return True

    def max_quality(self) -> float:
        return float(self.base.max_quality())

    def block_quality(self, matcher: Any) -> float:
        return float(self.base.block_quality(matcher))

    def score(self, matcher: Any) -> float:
        weight = matcher.weight()
        return self.idf * ((weight * self.k1p1) / (weight + self.norms[matcher.id()]))


class Weighting(BM25F):
    """Whoosh's BM25F (same B and K1, same scores), with the faster per-document scorer."""

    def scorer(self, searcher: Any, fieldname: str, text: Any, qf: int = 1) -> Any:
        base = super().scorer(searcher, fieldname, text, qf=qf)
        if type(base) is not BM25FScorer:
            return base
        table = _LengthTable.norms(searcher.reader(), fieldname, base.avgfl, base.B, base.K1)
        return base if table is None else TableScorer(base, *table)


# ------------------------------------------------------------------ Whoosh's matchers, for other shapes


class PhraseMatcher(Matcher):
    """Whoosh matcher for a phrase (the words in sequence), for queries top_docs does not take.

    Why not Whoosh's own (SpanNear2 over an IntersectionMatcher): it builds Span objects for
    every position of every document that has all the words, and it forgets to re-check
    positions after skip_to_quality(), so in a large index it can return documents without the
    phrase.  Here the rarest word drives, the others leap to its documents, and positions are
    decoded only for documents that have every word.  The score is Whoosh's phrase score, the
    sum of the words' BM25F.
    """

    def __init__(self, leaves: list[Any], sizes: list[int]):
        self.leaves = leaves  # in phrase order, for the position check
        self.sizes = sizes
        ordered = [leaf for _, _, leaf in sorted(zip(sizes, range(len(leaves)), leaves, strict=True))]
        self.driver = ordered[0]
        self.others = ordered[1:]
        self._done = False
        self._find_next()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.leaves!r})"

    def is_active(self) -> bool:
        return not self._done and self.driver.is_active()

    def reset(self) -> None:
        for leaf in self.leaves:
            leaf.reset()
        self._done = False
        self._find_next()

    def copy(self) -> PhraseMatcher:
        return type(self)([leaf.copy() for leaf in self.leaves], self.sizes)

    def children(self) -> list[Any]:
        return list(self.leaves)

    def is_leaf(self) -> bool:
        return False

    def id(self) -> int:
        return int(self.driver.id())

    def weight(self) -> float:
        return float(sum(leaf.weight() for leaf in self.leaves))

    def score(self) -> float:
        total = 0.0
        for leaf in self.leaves:
            total += leaf.score()
        return total

    def supports_block_quality(self) -> bool:
        return False

    def max_quality(self) -> float:
        return float(sum(leaf.max_quality() for leaf in self.leaves))

    def replace(self, minquality: float = 0) -> Any:
        if not self.is_active() or (minquality and self.max_quality() < minquality):
            return NullMatcher()
        return self

    def next(self) -> bool:
        self.driver.next()
        self._find_next()
        return False

    def skip_to(self, id: int) -> bool:  # noqa: A002 (Whoosh's name)
        if not self.is_active():
            raise ReadTooFar
        self.driver.skip_to(id)
        self._find_next()
        return False

    def _find_next(self) -> None:
        """Move to the first document from here on that has the phrase."""
        driver = self.driver
        while driver.is_active():
            docnum = driver.id()
            behind = None
            for leaf in self.others:
                if leaf.id() < docnum:
                    leaf.skip_to(docnum)
                    if not leaf.is_active():
                        self._done = True
                        return
                if leaf.id() != docnum:
                    behind = leaf.id()
                    break
            if behind is not None:
                driver.skip_to(behind)
                continue
            if in_sequence([decode_positions(leaf.value()) for leaf in self.leaves]):
                return
            driver.next()


class _Filter(wq.ConstantScoreQuery):
    """A restriction (site:, url:, …): it selects pages but adds nothing to their score.

    Why not wq.ConstantScoreQuery(q, score=0.0) as it is: whoosh-ng 5.4 hands the 0.0 to a
    ListMatcher that reads a zero weight as "none given" and scores every page 1.0 (and when
    the context asks for current matchers it returns the child's own, BM25-scored matcher).
    """

    def __init__(self, child: wq.Query):
        super().__init__(child, score=0.0)

    def _rewrap(self, child: wq.Query) -> _Filter:
        return _Filter(child)

    def __str__(self) -> str:
        return f"filter({self.child})"

    def matcher(self, searcher: Any, context: Any = None) -> Any:
        m = self.child.matcher(searcher, searcher.boolean_context())
        if not m.is_active():
            return NullMatcher()
        ids = array("I", m.all_ids())
        return ListMatcher(ids, weights=array("f", bytes(4 * len(ids))), term=m.term())


class _ExactPhrase(wq.Phrase):
    """wq.Phrase (same terms, size estimates, normalisation) with PhraseMatcher, which is exact."""

    def matcher(self, searcher: Any, context: Any = None) -> Any:
        if self.fieldname not in searcher.schema:
            return NullMatcher()
        reader = searcher.reader()
        leaves, sizes = [], []
        for word in self.words:
            m = wq.Term(self.fieldname, word).matcher(searcher, context)
            if not m.is_active():
                return NullMatcher()
            leaves.append(m)
            sizes.append(int(reader.doc_frequency(self.fieldname, word)))
        return PhraseMatcher(leaves, sizes)


class _AndNotMatcher(AndNotMatcher):
    """Whoosh's AndNotMatcher, with its first document checked against the excluded ones.

    whoosh-ng 5.4 checks the first document only when both lists start on the same document:
    "his -government" returned a page with "government" whenever that page was the first with
    "his" and another page with "government" came before it.
    """

    def _find_first(self) -> None:
        if self.a.is_active() and self.b.is_active():
            self._find_next()


class _AndNot(wq.AndNot):
    """wq.AndNot with _AndNotMatcher."""

    def matcher(self, searcher: Any, context: Any = None) -> Any:
        return _AndNotMatcher(
            self.a.matcher(searcher, context), self.b.matcher(searcher, searcher.boolean_context())
        )


class _TimeFilter(DocIdSet):
    """Documents whose capture time is within bounds, checked one by one in the timestamp column.

    Why not a NumericRange query: for a wide range it is a union of dozens of long posting lists,
    which costs more than the text query it restricts; a column lookup per candidate is cheap.
    """

    def __init__(self, within: Callable[[int], bool]):
        self.within = within

    def __contains__(self, docnum: object) -> bool:
        return self.within(docnum)  # type: ignore[arg-type]

    def __bool__(self) -> bool:
        return True

    def __len__(self) -> int:  # unknown without a scan; only truthiness is used
        return 1

    def __iter__(self) -> Iterator[int]:
        raise NotImplementedError("a _TimeFilter only answers membership")


def _within(reader: Any, dates: Dates) -> Callable[[int], bool]:
    """Whether document d of `reader` was captured within `dates` (from its timestamp column):
    the one date check, for the top-k search, Whoosh's collector and the newest-first listing."""
    column = reader.column_reader("timestamp")
    low, high = dates.low, dates.high
    return lambda docnum: low <= column[docnum] <= high


def _filter_query(f: Filter) -> wq.Query:
    if f.term is not None:
        return wq.Term(f.fieldname, f.term)
    if f.prefix is not None:
        return wq.Prefix(f.fieldname, f.prefix)
    return wq.NumericRange(f.fieldname, f.low, f.high)


def whoosh_query(node: Node) -> wq.Query:
    """The Whoosh query for a compiled query (what Whoosh's own search runs)."""
    if isinstance(node, Clause):
        if node.prefix is not None:
            return wq.Prefix(node.fieldname, node.prefix)
        if len(node.alternatives) > 1:  # a word and its variants: a page scores the sum of the forms
            return wq.Or([wq.Term(node.fieldname, form) for (form,) in node.alternatives])
        terms = node.alternatives[0]
        if len(terms) == 1:
            return wq.Term(node.fieldname, terms[0])
        return _ExactPhrase(node.fieldname, list(terms))
    if isinstance(node, Filter):
        return _Filter(_filter_query(node))
    if isinstance(node, AllOf):
        return wq.And([whoosh_query(item) for item in node.items])
    if isinstance(node, AnyOf):
        return wq.Or([whoosh_query(item) for item in node.items])
    if isinstance(node, AndNot):
        return _AndNot(whoosh_query(node.positive), whoosh_query(node.negative))
    if isinstance(node, Negated):
        return wq.Not(whoosh_query(node.item))
    assert isinstance(node, Everything)
    return wq.Every()


# --------------------------------------------------------------------------- segments, for the top-k search


def _postings(searcher: Any, fieldname: str, text: Any) -> Any:
    """A term's postings in one segment, deleted documents included (top_docs checks those)."""
    m = searcher.reader().postings(fieldname, text)
    if isinstance(m, FilterMatcher):  # Whoosh's wrapper hiding deleted documents
        m = m.child
        m.reset()  # the wrapper moved it past the deleted documents at the start
    return posting_list(m)


def _doc_ids(searcher: Any, q: wq.Query) -> list[int]:
    """The documents of one segment matching q (unscored), in order.

    Terms and ORs of terms (site:, lang:, -word) read the posting lists a chunk at a time; other
    queries go through Whoosh's matchers, a Python call per document.
    """
    if isinstance(q, wq.Term):
        btext = searcher.schema[q.fieldname].to_bytes(q.text) if q.fieldname in searcher.schema else None
        if btext is None or (q.fieldname, btext) not in searcher.reader():
            return []
        reader = searcher.reader()
        ids = _postings(searcher, q.fieldname, btext).all_ids()
        return [d for d in ids if not reader.is_deleted(d)] if reader.has_deletions() else ids
    if isinstance(q, wq.Or):
        found: set[int] = set()
        for part in q.subqueries:
            found.update(_doc_ids(searcher, part))
        return sorted(found)
    return list(q.matcher(searcher, searcher.boolean_context()).all_ids())


class _Source:
    """One segment of the index as the top-k search reads it (topk.Source), from Whoosh's reader."""

    def __init__(self, searcher: Any, offset: int, dates: Dates):
        self.searcher = searcher
        self.reader = searcher.reader()
        self.offset = offset
        self.size = self.reader.doc_count_all()
        self.deleted = self.reader.is_deleted if self.reader.has_deletions() else None
        self._dates = dates

    @cached_property
    def allowed(self) -> Callable[[int], bool] | None:
        return _within(self.reader, self._dates) if self._dates.bounded else None

    def term(self, fieldname: str, text: str) -> tuple[Any, TableScorer] | None:
        searcher = self.searcher
        if fieldname not in searcher.schema:
            return None
        btext = searcher.schema[fieldname].to_bytes(text)
        if (fieldname, btext) not in self.reader:
            return None
        scorer = searcher.weighting.scorer(searcher, fieldname, btext)
        if not isinstance(scorer, TableScorer):
            raise Fallback
        plist = _postings(searcher, fieldname, btext)
        return (plist, scorer) if len(plist) else None

    def words(self, fieldname: str, prefix: str) -> list[str]:
        words = self.reader.expand_prefix(fieldname, prefix)
        return [w.decode("utf-8") if isinstance(w, bytes) else w for w in words]

    def doc_ids(self, node: Node) -> list[int]:
        query = _filter_query(node) if isinstance(node, Filter) else whoosh_query(node)
        return _doc_ids(self.searcher, query)


# --------------------------------------------------------------------------- the reader


@dataclass
class SegmentInfo:
    """One segment of an index: its documents, how many are deleted, and whether it is in
    warcache's posting layout (a segment written by an earlier warcache is not: slower)."""

    documents: int
    deleted: int
    own_layout: bool


class Reader:
    """An open index (from warcache.search.store): its lexicon, its segments, and the search.

    It keeps Whoosh's searcher open; `up_to_date()` says whether a commit has happened since.
    """

    def __init__(self, ix: Any):
        try:
            self.searcher = ix.searcher(weighting=Weighting())  # Whoosh's (tests read the layout with it)
        except wi.EmptyIndexError as exc:  # its files went away since it was opened
            raise FileNotFoundError(str(exc)) from exc
        self._order: tuple[list[int], list[int]] | None = None

    def close(self) -> None:
        self.searcher.close()

    def up_to_date(self) -> bool:
        return bool(self.searcher.up_to_date())

    def count(self) -> int:
        """Live documents (captures)."""
        return int(self.searcher.doc_count())

    # ------------------------------------------------------------- the lexicon (compile.Lexicon)

    def doc_count(self) -> int:
        """Documents, deleted ones included."""
        return int(self.searcher.doc_count_all())

    def doc_frequency(self, fieldname: str, text: str) -> int:
        return int(self.searcher.reader().doc_frequency(fieldname, text))

    def expand_prefix(self, fieldname: str, prefix: str) -> Iterator[str]:
        # Whoosh gives terms as UTF-8 bytes; map() decodes them without a Python call per term
        # (compiling scans up to a few hundred for a word's variants).
        return map(bytes.decode, self.searcher.reader().expand_prefix(fieldname, prefix))

    def field_terms(self, fieldname: str) -> Iterator[str]:
        """Every term of a field (deleted documents' too, until a merge drops them)."""
        return iter(self.searcher.reader().field_terms(fieldname))

    # ------------------------------------------------------------- segments

    def segments(self) -> list[SegmentInfo]:
        found = self.searcher.ixreader.segments() or []  # None for an index of no segments
        return [SegmentInfo(seg.doc_count_all(), seg.deleted_count(), own_layout(seg)) for seg in found]

    def sources(self, dates: Dates | None = None) -> list[_Source]:
        """The segments as the top-k search reads them (topk.Source), with `dates` checked."""
        dates = dates or Dates()
        return [_Source(sub, offset, dates) for sub, offset in self.searcher.leaf_searchers()]

    # ------------------------------------------------------------- searching

    def search(
        self, plan: Plan, limit: int, *, exhaustive: bool = False
    ) -> list[tuple[float, dict[str, Any]]]:
        """(score, stored fields) of the best `limit` captures for `plan`, best first; newest first
        when it is not ranked.

        `exhaustive` scores every matching capture with Whoosh's own matchers and collector (no
        top-k search, no pruning): the same results, slower; the reference tests compare with.
        The index must hold documents (one rebuilt from none has no columns to read).
        """
        searcher = self.searcher
        if not plan.scored:
            return [(0.0, searcher.stored_fields(docnum)) for docnum in self._newest(plan, limit)]
        conj = None if exhaustive else conjunction(plan.query)
        if conj is not None:
            best = top_docs(self.sources(plan.dates), conj, limit)
            if best is not None:
                return [(score, searcher.stored_fields(docnum)) for score, docnum in best]
        query = wq.Every() if plan.query is None else whoosh_query(plan.query)
        dates = _TimeFilter(_within(searcher.reader(), plan.dates)) if plan.dates.bounded else None
        if not exhaustive:
            return [(hit.score, hit.fields()) for hit in searcher.search(query, limit=limit, filter=dates)]
        ranked = sorted(((hit.score, hit.docnum) for hit in searcher.search(query, limit=None, filter=dates)),
                        key=lambda item: (-item[0], item[1]))
        return [(score, searcher.stored_fields(docnum)) for score, docnum in ranked[:limit]]

    def _newest(self, plan: Plan, limit: int) -> list[int]:
        """Document numbers of the newest captures matching an unranked plan."""
        searcher = self.searcher
        if plan.query is not None:
            column = searcher.reader().column_reader("timestamp")
            within = _within(searcher.reader(), plan.dates)
            allowed = [d for d in searcher.docs_for_query(whoosh_query(plan.query)) if within(d)]
            allowed.sort(key=lambda d: (column[d], d), reverse=True)
            return allowed[:limit]
        # Only dates: every live document in range, newest first, from a sorted copy of the column.
        stamps, order = self._time_order()
        reader = searcher.reader()
        out: list[int] = []
        i = bisect.bisect_right(stamps, plan.dates.high) - 1
        stop = bisect.bisect_left(stamps, plan.dates.low)
        while i >= stop and len(out) < limit:
            docnum = order[i]
            if not reader.is_deleted(docnum):
                out.append(docnum)
            i -= 1
        return out

    def _time_order(self) -> tuple[list[int], list[int]]:
        """(timestamps ascending, their document numbers), computed once per open reader."""
        if self._order is None:
            values = list(self.searcher.reader().column_reader("timestamp"))
            order = sorted(range(len(values)), key=values.__getitem__)
            self._order = ([values[d] for d in order], order)
        return self._order
