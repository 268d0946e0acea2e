"""Scoring and matching for the full-text index: BM25F with cached lengths, and the top-k search.

Most queries are conjunctions: every word (or phrase) required, perhaps with filters (site:,
lang:, url:, dates) and exclusions (-word).  `top_docs` answers those without Whoosh's matcher
tree and collector, which cost several Python calls per posting (two common words took ~25 ms
at 100k pages).  It reads warcache's posting lists (warcache.search.postings) a chunk of 128
postings at a time and finds the best pages first (see _search_segment):

* the rarest required part drives; a queue orders its chunks by their exact best score (read
  from each chunk's frontier, without decoding the chunk) plus the other parts' best scores;
* an opened chunk's postings are sifted in bulk through the other parts most pages lack
  (filters such as site: among them) and through the segment's excluded pages (-word, computed
  once per segment), then queued by score; each is looked up in the remaining parts only when it
  comes out of the queue;
* positions (phrases), dates and deletions are checked last, for pages that would enter the
  results, best first, so the threshold rises as fast as it can and the search stops as soon as
  nothing left can enter.

The results are exactly those of scoring every matching page: the same pages, the same scores
(from the same BM25F scorer objects as Whoosh's), ties broken by document number as Whoosh
does.  tests/test_fulltext.py checks this against Whoosh's own matchers and collector scoring
every page.  Prefixes (comp*) take part as the sum over the words they expand to; queries
of other shapes (an OR of several parts, ...) go through Whoosh's own search.
"""

from __future__ import annotations

import heapq
import itertools
import weakref
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from whoosh import query as wq
from whoosh.codec.whoosh3 import LENGTHS_COLUMN as _LENGTHS_COLUMN
from whoosh.matching import Matcher, NullMatcher, ReadTooFar
from whoosh.matching.wrappers import FilterMatcher
from whoosh.scoring import BM25F, BaseScorer, BM25FScorer
from whoosh.util.numeric import byte_to_length

from warcache.search.postings import CHUNK, decode_positions, posting_list

__all__ = ["Clause", "Conjunction", "PhraseMatcher", "Weighting", "decode_positions", "top_docs"]

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


# --------------------------------------------------------------------------- positions


def in_sequence(postings: list[list[int]]) -> bool:
    """Whether some position p has word i of the phrase at p + i for every i."""
    starts = set(postings[0])
    for i, positions in enumerate(postings[1:], 1):
        starts.intersection_update([p - i for p in positions])
        if not starts:
            return False
    return True


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


# --------------------------------------------------------------------------- the top-k search


@dataclass
class Clause:
    """One required part of a conjunction: a word, a word or its variants, a phrase, a prefix.

    `alternatives` are term tuples: one term each for a word and its variants (a document scores
    the sum over the forms it has), several terms in order for a phrase (only one alternative).
    A `prefix` (comp*) stands for every term of the segment starting with it, as alternatives.
    """

    fieldname: str
    alternatives: list[tuple[str, ...]]
    prefix: str | None = None


@dataclass
class Conjunction:
    """Documents with every clause, in every filter, in no exclusion; scored by the clauses."""

    clauses: list[Clause]
    filters: list[wq.Query] = field(default_factory=list)  # unscored restrictions (site:, lang:, url:)
    exclusions: list[wq.Query] = field(default_factory=list)  # -word, -"phrase", -site:...


_EPS = 1e-9  # slack on every "cannot beat" test: bounds are sums in another order than scores


class _Unit:
    """A required list of postings in one segment: its documents and each one's score."""

    size: int
    bound: float  # no posting of it scores more

    def span(self, low: int, high: int) -> list[int]:
        """Its document numbers from low to high (and maybe a few beyond: whole chunks)."""
        raise NotImplementedError

    def find(self, docnum: int) -> int:
        """The index of docnum's posting, or -1."""
        raise NotImplementedError

    def score_at(self, g: int, docnum: int) -> float:
        """The score of posting g (of document docnum)."""
        raise NotImplementedError

    def chunk_count(self) -> int:
        raise NotImplementedError

    def chunk_bounds(self) -> list[float]:
        """The highest score in each chunk of CHUNK postings."""
        raise NotImplementedError

    def chunk(self, c: int) -> tuple[list[int], list[float]]:
        """The document numbers and scores of chunk c's postings."""
        raise NotImplementedError


class _TermUnit(_Unit):
    """One term's postings, scored with its BM25F scorer (a TableScorer)."""

    def __init__(self, plist: Any, scorer: TableScorer):
        self.plist = plist
        self.size = len(plist)
        self.idf = scorer.idf
        self.k1p1 = scorer.k1p1
        self.norms = scorer.norms
        self.by_byte = scorer.by_byte
        self._bounds: list[float] | None = None
        self.bound = self._best(plist.chunks)

    def chunk_count(self) -> int:
        return int(self.plist.chunks)

    def _best(self, c: int) -> float:
        """The highest score in chunk c (c = chunks: in the term), from its frontier."""
        idf, k1p1, by_byte = self.idf, self.k1p1, self.by_byte
        return max((idf * ((w * k1p1) / (w + by_byte[lb])) for w, lb in self.plist.frontier(c)), default=0.0)

    def chunk_bounds(self) -> list[float]:
        """The highest score in each chunk (from the chunk's frontier: see fulltext_postings)."""
        if self._bounds is None:
            self._bounds = [self._best(c) for c in range(self.plist.chunks)]
        return self._bounds

    def chunk(self, c: int) -> tuple[list[int], list[float]]:
        ids = self.plist.ids(c)
        idf, k1p1, norms = self.idf, self.k1p1, self.norms
        scores = [
            idf * ((w * k1p1) / (w + norms[d])) for d, w in zip(ids, self.plist.weights(c), strict=True)
        ]
        return ids, scores

    def span(self, low: int, high: int) -> list[int]:
        plist = self.plist
        first = bisect_left(plist.last_ids, low)
        stop = bisect_right(plist.first_ids, high, first)
        if stop - first == 1:
            return plist.ids(first)  # type: ignore[no-any-return]
        ids: list[int] = []
        for c in range(first, stop):
            ids += plist.ids(c)
        return ids

    def find(self, docnum: int) -> int:
        return int(self.plist.find(docnum))

    def score_at(self, g: int, docnum: int) -> float:
        w = self.plist.weight(g)
        return self.idf * ((w * self.k1p1) / (w + self.norms[docnum]))

    def positions(self, g: int) -> list[int]:
        return self.plist.positions(g)  # type: ignore[no-any-return]


class _ListUnit(_Unit):
    """Documents with precomputed scores: a word's variants (summed per document), or a filter (0)."""

    def __init__(self, ids: list[int], scores: list[float]):
        self.ids = ids
        self.scores = scores
        self.size = len(ids)
        self.bound = max(scores, default=0.0)

    def chunk_count(self) -> int:
        return (self.size + CHUNK - 1) // CHUNK

    def chunk_bounds(self) -> list[float]:
        return [max(self.scores[s : s + CHUNK]) for s in range(0, self.size, CHUNK)]

    def chunk(self, c: int) -> tuple[list[int], list[float]]:
        s = c * CHUNK
        return self.ids[s : s + CHUNK], self.scores[s : s + CHUNK]

    def span(self, low: int, high: int) -> list[int]:
        first = bisect_left(self.ids, low)
        return self.ids[first : bisect_right(self.ids, high, first)]

    def find(self, docnum: int) -> int:
        g = bisect_left(self.ids, docnum)
        return g if g < self.size and self.ids[g] == docnum else -1

    def score_at(self, g: int, docnum: int) -> float:
        return self.scores[g]


class _NoMatch(Exception):
    """A required part has no posting in this segment: nothing here can match."""


class _Fallback(Exception):
    """The query is not for top_docs after all (an unusual scorer): use Whoosh's search."""


@dataclass
class _Segment:
    """The units of one segment and what the checks need."""

    units: list[_Unit]  # the clauses' units (they score), then the filters' (they do not)
    scoring: int  # how many units come from clauses
    phrases: list[list[int]]  # unit indices of each phrase, in phrase order
    reader: Any
    exclusions: list[wq.Query]
    searcher: Any
    _excluded: set[int] | None = None

    def excluded(self) -> set[int]:
        """The documents of this segment that an exclusion (-word, ...) removes."""
        if self._excluded is None:
            self._excluded = set()
            for q in self.exclusions:
                self._excluded.update(doc_ids(self.searcher, q))
        return self._excluded

    def driver(self) -> int:
        """The unit whose postings are walked: the rarest scoring one, unless a filter is far rarer.

        A filter scores nothing, so walking it gives no order (every page of a site:com would be
        looked at); a scoring part walked best first finds the best pages first, and is sifted
        through the filter in bulk.  A filter on a few pages (a small site) is still cheaper.
        """
        units = self.units
        best = min(range(self.scoring), key=lambda i: (units[i].size, i))
        rarest_filter = min(range(self.scoring, len(units)), key=lambda i: (units[i].size, i), default=None)
        if rarest_filter is not None and units[rarest_filter].size * _FILTER_DRIVES < units[best].size:
            return rarest_filter
        return best


def _leaf(searcher: Any, fieldname: str, text: str) -> tuple[Any, Any]:
    """(postings, scorer) of a term in one segment; _NoMatch if the segment lacks it."""
    reader = searcher.reader()
    if fieldname not in searcher.schema:
        raise _NoMatch
    btext = searcher.schema[fieldname].to_bytes(text)
    if (fieldname, btext) not in reader:
        raise _NoMatch
    scorer = searcher.weighting.scorer(searcher, fieldname, btext)
    if not isinstance(scorer, TableScorer):
        raise _Fallback
    plist = _postings(searcher, fieldname, btext)
    if not len(plist):
        raise _NoMatch
    return plist, scorer


def _postings(searcher: Any, fieldname: str, text: Any) -> Any:
    """A term's postings in one segment, deleted documents included (top_docs checks those)."""
    m = searcher.reader().postings(fieldname, text)
    if isinstance(m, FilterMatcher):  # Whoosh's wrapper hiding deleted documents
        m = m.child
        m.reset()  # the wrapper moved it past the deleted documents at the start
    return posting_list(m)


def doc_ids(searcher: Any, q: wq.Query) -> list[int]:
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
            found.update(doc_ids(searcher, part))
        return sorted(found)
    return list(q.matcher(searcher, searcher.boolean_context()).all_ids())


def _filter_unit(searcher: Any, q: wq.Query) -> _ListUnit:
    ids = doc_ids(searcher, q)
    if not ids:
        raise _NoMatch
    return _ListUnit(ids, [0.0] * len(ids))


def _variants_unit(searcher: Any, fieldname: str, forms: list[tuple[str, ...]]) -> _Unit:
    """A word and its variants (or a prefix's words): a document scores the sum over the forms it
    has, as with Whoosh's OR of them; read in bulk, where Whoosh's OR of 100 words ("comp*") costs
    tens of microseconds per posting."""
    found: list[_TermUnit] = []
    for (text,) in forms:
        try:
            found.append(_TermUnit(*_leaf(searcher, fieldname, text)))
        except _NoMatch:
            continue
    if not found:
        raise _NoMatch
    if len(found) == 1:
        return found[0]
    totals: dict[int, float] = {}
    for unit in found:
        for c in range(unit.chunk_count()):
            ids, scores = unit.chunk(c)
            for d, s in zip(ids, scores, strict=True):
                totals[d] = totals.get(d, 0.0) + s
    ids = sorted(totals)
    return _ListUnit(ids, [totals[d] for d in ids])


def _segment(searcher: Any, conj: Conjunction) -> _Segment:
    units: list[_Unit] = []
    phrases: list[list[int]] = []
    for clause in conj.clauses:
        if clause.prefix is not None:
            words = searcher.reader().expand_prefix(clause.fieldname, clause.prefix)
            forms = [(w.decode("utf-8") if isinstance(w, bytes) else w,) for w in words]
            units.append(_variants_unit(searcher, clause.fieldname, forms))
            continue
        if len(clause.alternatives) > 1:
            units.append(_variants_unit(searcher, clause.fieldname, clause.alternatives))
            continue
        terms = clause.alternatives[0]
        cache: dict[str, tuple[Any, Any]] = {}
        first = len(units)
        for text in terms:
            if text not in cache:
                cache[text] = _leaf(searcher, clause.fieldname, text)
            units.append(_TermUnit(*cache[text]))
        if len(terms) > 1:
            phrases.append(list(range(first, len(units))))
    scoring = len(units)
    units += [_filter_unit(searcher, q) for q in conj.filters]
    return _Segment(units, scoring, phrases, searcher.reader(), conj.exclusions, searcher)


class _TopK:
    """The best `limit` (score, -global docnum) pairs seen, as Whoosh's TopCollector keeps them."""

    def __init__(self, limit: int):
        self.limit = limit
        self.heap: list[tuple[float, int]] = []

    def full(self) -> bool:
        return len(self.heap) >= self.limit

    def threshold(self) -> float:
        """What a score must reach to enter (minus infinity until the heap is full)."""
        return self.heap[0][0] if len(self.heap) >= self.limit else float("-inf")

    def offer(self, score: float, docnum: int) -> None:
        item = (score, -docnum)
        if len(self.heap) < self.limit:
            heapq.heappush(self.heap, item)
        elif item > self.heap[0]:
            heapq.heapreplace(self.heap, item)

    def would_enter(self, score: float, docnum: int) -> bool:
        return len(self.heap) < self.limit or (score, -docnum) > self.heap[0]

    def results(self) -> list[tuple[float, int]]:
        return [(score, -neg) for score, neg in sorted(self.heap, reverse=True)]


_SIFT_DENSITY = 0.5  # other parts on fewer than this share of the pages are sifted in bulk
_FILTER_DRIVES = 8  # a filter drives when it has this many times fewer pages than any word


def _search_segment(seg: _Segment, offset: int, top: _TopK, allowed: Callable[[int], bool]) -> None:
    """Add the segment's matches that enter the top to `top`, from the best down.

    A queue holds three kinds of entries, each keyed by the best score it can lead to: the
    driver's chunks (their best score, from the frontier, plus the others' best), cursors over
    the postings of opened chunks (sorted by score: the next one's score plus the others' best)
    and documents with every part, keyed by their exact scores.  Taking the best entry each time
    meets the matches from the best down, so the threshold rises as fast as it can and phrases,
    filters and exclusions are checked for the fewest pages; the search stops when nothing left
    in the queue can enter.  When a chunk is opened, its postings are sifted in bulk (a set of
    document numbers) through the other parts that most pages lack; the parts on most pages
    ("this", "that") are looked up one posting at a time, only for postings that can still enter:
    a set of their documents in the chunk's range would cost more than it removes.
    """
    units = seg.units
    reader = seg.reader
    drv_i = seg.driver()
    driver = units[drv_i]
    others = sorted((i for i in range(len(units)) if i != drv_i), key=lambda i: (units[i].size, i))
    pages = max(1, reader.doc_count_all())
    sifted = [i for i in others if units[i].size < _SIFT_DENSITY * pages]
    rest = [0.0] * (len(others) + 1)  # rest[n]: the most the units others[n:] can add
    for n in range(len(others) - 1, -1, -1):
        rest[n] = rest[n + 1] + units[others[n]].bound
    most = rest[0]
    deletions = reader.has_deletions()
    phrases = seg.phrases
    order = itertools.count()  # ties between keys: first queued, first out (no payload comparisons)
    CHUNK_, CURSOR, MATCH = 0, 1, 2
    queue: list[tuple[float, int, int, Any]] = [
        (-(bound + most), CHUNK_, next(order), c) for c, bound in enumerate(driver.chunk_bounds())
    ]
    heapq.heapify(queue)
    push, pop = heapq.heappush, heapq.heappop

    def accept(total: float, docnum: int, row: list[int]) -> None:
        """Offer a page with every part to the top, if it passes the checks left."""
        gdoc = offset + docnum
        if not top.would_enter(total, gdoc):
            return
        if deletions and reader.is_deleted(docnum):
            return
        if not allowed(docnum):
            return
        for phrase in phrases:
            if not in_sequence([units[i].positions(row[i]) for i in phrase]):  # type: ignore[attr-defined]
                return
        top.offer(total, gdoc)

    while queue:
        threshold = top.threshold() - _EPS
        if -queue[0][0] < threshold:
            break
        negkey, kind, _, item = pop(queue)
        if kind == CHUNK_:
            ids, scores = driver.chunk(item)
            need = threshold - most
            cands = [(-s, k) for k, s in enumerate(scores) if s >= need]
            if seg.exclusions:
                excluded = seg.excluded()
                cands = [(s, k) for s, k in cands if ids[k] not in excluded]
            for i in sifted:
                if not cands:
                    break
                members = set(units[i].span(ids[cands[0][1]], ids[cands[-1][1]]))
                cands = [(s, k) for s, k in cands if ids[k] in members]
            if cands:
                cands.sort()  # (-score, k): best first
                cursor = [cands, 0, ids, item * CHUNK]
                push(queue, (cands[0][0] - most, CURSOR, next(order), cursor))
        elif kind == CURSOR:
            cands, at, ids, base = item
            k = cands[at][1]
            item[1] = at + 1
            if at + 1 < len(cands):
                push(queue, (cands[at + 1][0] - most, CURSOR, next(order), item))
            docnum = ids[k]
            row = [0] * len(units)
            row[drv_i] = base + k
            partial = -cands[at][0]
            for n, i in enumerate(others):
                g = units[i].find(docnum)
                if g < 0:
                    break
                row[i] = g
                partial += units[i].score_at(g, docnum)
                if partial + rest[n + 1] < threshold:
                    break  # even the best of the parts left cannot lift it into the results
            else:
                total = sum(unit.score_at(g, docnum) for unit, g in zip(units, row, strict=True))
                if not top.full():
                    accept(total, docnum, row)  # order does not matter until the top is full
                elif total >= threshold:
                    push(queue, (-total, MATCH, next(order), (docnum, row)))
        else:
            accept(-negkey, *item)


def top_docs(
    searcher: Any, conj: Conjunction, limit: int, dates: Callable[[Any], Callable[[int], bool]] | None = None
) -> list[tuple[float, int]] | None:
    """The best `limit` (score, global docnum) of a conjunction, best first; None: use Whoosh.

    `dates`, given a segment's reader, returns the per-document date check (or is None).
    """
    top = _TopK(limit)
    try:
        for sub, offset in searcher.leaf_searchers():
            try:
                seg = _segment(sub, conj)
            except _NoMatch:
                continue
            allowed = dates(sub.reader()) if dates is not None else _always
            _search_segment(seg, offset, top, allowed)
    except _Fallback:
        return None
    return top.results()


def _always(docnum: int) -> bool:
    return True
