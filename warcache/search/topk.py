"""The top-k search of conjunctions over posting lists: the best pages first, without scoring them all.

Most queries are conjunctions (compile.Conjunction): every word (or phrase) required, perhaps
with filters (site:, lang:, url:, dates) and exclusions (-word).  `top_docs` answers those without
Whoosh's matcher tree and collector, which cost several Python calls per posting (two common
words took ~25 ms at 100k pages).  It reads posting lists (warcache.search.postings) a chunk of
128 postings at a time and finds the best pages first (see _search_segment):

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
(from the same BM25F numbers as Whoosh's), ties broken by document number as Whoosh does.
tests/search/test_fulltext.py checks this against Whoosh's own matchers and collector scoring
every page.  Prefixes (comp*) take part as the sum over the words they expand to.

This module does not touch Whoosh: each segment of the index comes as a Source (which
warcache.search.match makes from Whoosh's segment readers), and a term's scores come from its
posting list's weights and the numbers of its BM25F scorer (match.TableScorer).
"""

from __future__ import annotations

import heapq
import itertools
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from warcache.search.compile import Conjunction, Filter, Node
from warcache.search.postings import CHUNK

__all__ = ["Fallback", "Source", "TermUnit", "in_sequence", "top_docs"]


def in_sequence(postings: list[list[int]]) -> bool:
    """Whether some position p has word i of the phrase at p + i for every i."""
    starts = set(postings[0])
    for i, positions in enumerate(postings[1:], 1):
        starts.intersection_update([p - i for p in positions])
        if not starts:
            return False
    return True


class Fallback(Exception):
    """The query is not for top_docs after all (an unusual scorer): run it another way."""


class Source(Protocol):
    """One segment of the index, as the top-k search reads it."""

    offset: int  # the segment's first document number in the whole index
    size: int  # documents in the segment, deleted ones included
    deleted: Callable[[int], bool] | None  # whether a document is deleted (None: none are)
    allowed: Callable[[int], bool] | None  # whether a document is within the query's dates (None: all)

    def term(self, fieldname: str, text: str) -> tuple[Any, Any] | None:
        """(posting list, BM25F numbers: idf, k1p1, norms, by_byte) of a term; None when the
        segment has no posting of it.  Raises Fallback when the term is not scored with BM25F."""

    def words(self, fieldname: str, prefix: str) -> list[str]:
        """The segment's terms starting with `prefix`."""

    def doc_ids(self, node: Node) -> list[int]:
        """The live documents matching an unscored part (a filter, an exclusion), in order."""


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


class TermUnit(_Unit):
    """One term's postings in one segment, scored with its BM25F numbers (a match.TableScorer).

    `chunk_bounds()` gives each chunk's best score from the chunk's frontier (see
    warcache.search.postings) without decoding it: what the search prunes with, so it must be
    exactly the chunk's highest score.
    """

    def __init__(self, plist: Any, scorer: Any):
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
        """The highest score in each chunk (from the chunk's frontier: see warcache.search.postings)."""
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


@dataclass
class _Segment:
    """The units of one segment and what the checks need."""

    units: list[_Unit]  # the clauses' units (they score), then the filters' (they do not)
    scoring: int  # how many units come from clauses
    phrases: list[list[int]]  # unit indices of each phrase, in phrase order
    source: Source
    exclusions: list[Node]
    _excluded: set[int] | None = None

    def excluded(self) -> set[int]:
        """The documents of this segment that an exclusion (-word, ...) removes."""
        if self._excluded is None:
            self._excluded = set()
            for q in self.exclusions:
                self._excluded.update(self.source.doc_ids(q))
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


def _term(source: Source, fieldname: str, text: str) -> tuple[Any, Any]:
    """(postings, scorer) of a term in the segment; _NoMatch if it has none."""
    got = source.term(fieldname, text)
    if got is None:
        raise _NoMatch
    return got


def _filter_unit(source: Source, q: Filter) -> _ListUnit:
    ids = source.doc_ids(q)
    if not ids:
        raise _NoMatch
    return _ListUnit(ids, [0.0] * len(ids))


def _variants_unit(source: Source, fieldname: str, forms: list[tuple[str, ...]]) -> _Unit:
    """A word and its variants (or a prefix's words): a document scores the sum over the forms it
    has, as with Whoosh's OR of them; read in bulk, where Whoosh's OR of 100 words ("comp*") costs
    tens of microseconds per posting."""
    found: list[TermUnit] = []
    for (text,) in forms:
        try:
            found.append(TermUnit(*_term(source, fieldname, text)))
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


def _segment(source: Source, conj: Conjunction) -> _Segment:
    units: list[_Unit] = []
    phrases: list[list[int]] = []
    for clause in conj.clauses:
        if clause.prefix is not None:
            forms = [(word,) for word in source.words(clause.fieldname, clause.prefix)]
            units.append(_variants_unit(source, clause.fieldname, forms))
            continue
        if len(clause.alternatives) > 1:
            units.append(_variants_unit(source, clause.fieldname, clause.alternatives))
            continue
        terms = clause.alternatives[0]
        cache: dict[str, tuple[Any, Any]] = {}
        first = len(units)
        for text in terms:
            if text not in cache:
                cache[text] = _term(source, clause.fieldname, text)
            units.append(TermUnit(*cache[text]))
        if len(terms) > 1:
            phrases.append(list(range(first, len(units))))
    scoring = len(units)
    units += [_filter_unit(source, q) for q in conj.filters]
    return _Segment(units, scoring, phrases, source, conj.exclusions)


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


def _search_segment(seg: _Segment, top: _TopK) -> None:
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
    source = seg.source
    offset = source.offset
    allowed = source.allowed or _always
    deleted = source.deleted
    drv_i = seg.driver()
    driver = units[drv_i]
    others = sorted((i for i in range(len(units)) if i != drv_i), key=lambda i: (units[i].size, i))
    pages = max(1, source.size)
    sifted = [i for i in others if units[i].size < _SIFT_DENSITY * pages]
    rest = [0.0] * (len(others) + 1)  # rest[n]: the most the units others[n:] can add
    for n in range(len(others) - 1, -1, -1):
        rest[n] = rest[n + 1] + units[others[n]].bound
    most = rest[0]
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
        if deleted is not None and deleted(docnum):
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


def top_docs(sources: Iterable[Source], conj: Conjunction, limit: int) -> list[tuple[float, int]] | None:
    """The best `limit` (score, document number in the whole index) of a conjunction, best first;
    None when a Source raised Fallback (the query must be run another way)."""
    top = _TopK(limit)
    try:
        for source in sources:
            try:
                seg = _segment(source, conj)
            except _NoMatch:
                continue
            _search_segment(seg, top)
    except Fallback:
        return None
    return top.results()


def _always(docnum: int) -> bool:
    return True
