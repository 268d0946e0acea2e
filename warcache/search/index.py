"""The full-text index of a collection: Whoosh (whoosh-ng) under `collections/<name>/indexes/fulltext`.

One document per capture (url + timestamp): several captures of one URL stay separate documents,
and the CLI groups them.  The query language is parsed by `warcache.search.query`; this module turns its
syntax tree into Whoosh queries, runs them, and cuts plain-text snippets with match spans.

Layout of the index directory, and why:

    CURRENT          the name of the live Whoosh index, e.g. "ix3f9a0c2b71d4" (replaced atomically)
    WRITE.lock       our writer lock (fcntl/msvcrt through Whoosh's FileLock); all writers take it
    _<name>_<gen>.toc, <name>_<segment>.seg   Whoosh's own files for the named index

Whoosh already gives readers a consistent view: a commit writes new segment files, then renames a
new TOC into place, so a searcher sees either the old generation or the new one.  `rebuild` needs
more than a commit (a new schema, or an old index that cannot be read at all), so it builds a
second Whoosh index under a new name beside the live one and then swaps the one-line CURRENT file
with `os.replace`, which is atomic.  Readers that opened the old index keep their open files
(POSIX keeps unlinked files readable); readers that race with the swap re-read CURRENT and retry.

Writers (`add`, `rebuild`) hold WRITE.lock for the whole transaction, so an `add` that runs during
a rebuild waits (bounded, with backoff) instead of writing into an index that is about to be
replaced.  Searches never take the lock.

The parts, by responsibility: warcache.search.analysis (tokens, folding, the schema: what is
written), warcache.search.postings (the on-disk posting lists), warcache.search.match
(BM25F scoring and the top-k search of conjunctions), warcache.search.snippets (snippets).
"""

from __future__ import annotations

import bisect
import contextlib
import heapq
import os
import re
import secrets
import shutil
import sys
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from whoosh import index as wi
from whoosh import query as wq
from whoosh.filedb.filestore import FileStorage
from whoosh.idsets import DocIdSet
from whoosh.lang import porter2
from whoosh.matching import AndNotMatcher, ListMatcher, NullMatcher
from whoosh.util.filelock import FileLock

from warcache.collection import Collection
from warcache.errors import ArchiveError, UsageError, WarcacheError
from warcache.search import analysis, postings
from warcache.search import query as wcq
from warcache.search.analysis import _CJK, _MAX_TOKEN, SCHEMA, TEXT_PARTS, WordTokenizer, _gram, _Parts
from warcache.search.analysis import _GramPositions as _GramPositions  # noqa: F401 (see below)
from warcache.search.analysis import _Positions as _Positions  # noqa: F401
from warcache.search.analysis import fold as fold
from warcache.search.analysis import text_analyzer as text_analyzer
from warcache.search.match import Clause, Conjunction, PhraseMatcher, Weighting, top_docs
from warcache.search.postings import PostingsCodec
from warcache.search.snippets import CJK, PREFIX, WORD, Highlighter, find_matches, snippet
from warcache.search.snippets import make_snippet as make_snippet

# An index names the modules of its schema and codec classes in its table of contents (a
# pickle). Indexes written before warcache had one package per layer name them
# warcache.fulltext (before that module was split), warcache.fulltext_analysis and
# warcache.fulltext_postings: those names stay importable, so such indexes still open.
for _old, _module in (("warcache.fulltext", analysis), ("warcache.fulltext_analysis", analysis),
                      ("warcache.fulltext_postings", postings)):
    sys.modules.setdefault(_old, _module)

__all__ = ["FullTextIndex", "Hit", "PageDoc", "search_collections", "text_analyzer"]

_CURRENT = "CURRENT"
_LOCK = "WRITE.lock"


# --------------------------------------------------------------------------- documents and hits


@dataclass
class PageDoc:
    """One capture of one page, as the extractor produced it."""

    url: str
    hash_url: str
    title: str
    headline: str
    body: str
    full_text: str
    domain: str
    timestamp: str  # 14-digit capture time YYYYMMDDhhmmss (UTC)
    collection: str
    language: str | None
    warc_filename: str
    warc_offset: int  # where the capture's page record lives


@dataclass
class Hit:
    """One matching capture.  `highlights` are (start, end) character spans of `snippet`."""

    url: str
    title: str
    timestamp: str
    score: float
    snippet: str
    highlights: list[tuple[int, int]]
    collection: str
    hash_url: str
    domain: str
    headline: str
    warc_filename: str
    warc_offset: int


def _domain_terms(host: str) -> list[str]:
    """Host and parent domains (a.b.co.uk → a.b.co.uk, b.co.uk, co.uk, uk): site: is one term lookup."""
    parts = host.split(".")
    return [".".join(parts[i:]) for i in range(len(parts)) if parts[i]]


def _language_terms(language: str | None) -> list[str]:
    if not language:
        return []
    code = language.strip().lower().replace("_", "-")
    primary = code.split("-", 1)[0]
    return [code] if primary == code else [code, primary]


def _host_of(doc: PageDoc) -> str:
    return wcq.normalize_host(doc.domain or doc.url)


def _capture_key(doc: PageDoc) -> str:
    return f"{doc.timestamp} {doc.url}"


def _timestamp(doc: PageDoc) -> int:
    if len(doc.timestamp) != 14 or not doc.timestamp.isdigit():
        raise ArchiveError(f"capture of {doc.url} has timestamp {doc.timestamp!r}, not 14 digits")
    return int(doc.timestamp)


def _outside_body(full_text: str, body: str) -> str:
    """The page text that is not the article: navigation, sidebars, footers, comments.

    Why: full_text usually contains the body, and indexing the body twice costs half the indexing
    time for nothing.  The body is cut out whole when it appears verbatim, else paragraph by
    paragraph; what cannot be matched up stays (indexing it twice is harmless, only slower).
    """
    if not body or not full_text:
        return full_text
    at = full_text.find(body)
    if at >= 0:
        return full_text[:at] + "\n" + full_text[at + len(body) :]
    rest = full_text
    for para in body.split("\n"):
        para = para.strip()
        if len(para) >= 20:
            rest = rest.replace(para, "\n", 1)
    return rest


def _fields(doc: PageDoc) -> dict[str, Any]:
    """The Whoosh document for a capture.  Lists bypass the analyzer (one term per item)."""
    host = _host_of(doc)
    langs = _language_terms(doc.language)
    parts = (
        doc.title or "",
        doc.headline or "",
        doc.body or "",
        _outside_body(doc.full_text or "", doc.body or ""),
    )
    text = _Parts(zip(parts, (weight for _, weight in TEXT_PARTS), strict=True))
    fields: dict[str, Any] = {
        "capture": _capture_key(doc),
        "url": doc.url,
        "urlkey": wcq.normalize_url_key(doc.url),
        "hash_url": doc.hash_url or "",
        "text": text,
        "grams": text,
        "title": parts[0],
        "headline": parts[1],
        "body": parts[2],
        "full_text": parts[3],
        "domain": _domain_terms(host) or [""],
        "_stored_domain": host,
        "timestamp": _timestamp(doc),
        "collection": doc.collection or "",
        "warc_filename": doc.warc_filename,
        "warc_offset": int(doc.warc_offset),
    }
    if langs:
        fields["language"] = langs
        fields["_stored_language"] = doc.language
    return fields


# --------------------------------------------------------------------------- query compilation

COMMON_FRACTION = 0.01
"""A word's variants are searched too only while the pages they cover stay under this share of the
index: common words match plenty of pages as typed, and merging several long posting lists is
what makes a Whoosh query slow."""
COMMON_MIN_DOCS = 500  # ... but in a small index every word gets its variants
_MAX_VARIANT_SCAN = 400  # lexicon entries examined when looking for a word's variants


def _analyze(text: str) -> list[str]:
    return [w for w in WordTokenizer.words(text) if len(w) <= _MAX_TOKEN]


@lru_cache(maxsize=100_000)
def _stem(word: str) -> str:
    return porter2.stem(word)


def _is_empty(node: wcq.Node) -> bool:
    """Whether nothing searchable is left (words that are all punctuation), index aside."""
    if isinstance(node, wcq.Word | wcq.Phrase):
        return not _analyze(node.text)
    if isinstance(node, wcq.Not):
        return _is_empty(node.item)
    if isinstance(node, wcq.And | wcq.Or):
        return all(_is_empty(item) for item in node.items)
    return False


def _has_text(node: wcq.Node) -> bool:
    """Whether the query has words that score (outside NOT); if not, results list newest first."""
    if isinstance(node, wcq.Word | wcq.Phrase):
        return bool(_analyze(node.text))
    if isinstance(node, wcq.And | wcq.Or):
        return any(_has_text(item) for item in node.items)
    return False


def _field(field: str | None) -> str:
    return "title" if field == "title" else "text"


def _any(parts: list[wq.Query]) -> wq.Query:
    return parts[0] if len(parts) == 1 else wq.Or(parts)


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


def _filter(q: wq.Query) -> wq.Query:
    """Filters (site:, url:, …) restrict the results but must not change their ranking."""
    return _Filter(q)


class _Word(wq.Term):
    """A searched word (one form).  Whoosh's own term matcher; top_docs reads these directly."""


class _Variants(wq.Or):
    """A word and its English variants (_Word each): a page scores the sum over the forms it has."""


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


def _conjunction(q: wq.Query) -> Conjunction | None:
    """The query as a Conjunction for top_docs, or None if it has another shape (an OR of parts, ...)."""
    conj = Conjunction([])
    if not _collect(q, conj) or not conj.clauses:
        return None
    return conj


def _collect(q: wq.Query, conj: Conjunction) -> bool:
    """Add q's parts to conj; False if q has a part top_docs does not take."""
    kind = type(q)
    if kind is _Word:
        conj.clauses.append(Clause(q.fieldname, [(q.text,)]))
    elif kind is _Variants and all(type(form) is _Word for form in q.subqueries):
        conj.clauses.append(Clause(q.subqueries[0].fieldname, [(form.text,) for form in q.subqueries]))
    elif kind is wq.Prefix:
        conj.clauses.append(Clause(q.fieldname, [], prefix=q.text))
    elif kind is _ExactPhrase:
        conj.clauses.append(Clause(q.fieldname, [tuple(q.words)]))
    elif kind is wq.And:
        return all(_collect(part, conj) for part in q.subqueries)
    elif kind is _AndNot:
        conj.exclusions.append(q.b)
        return _collect(q.a, conj)
    elif kind is _Filter:
        conj.filters.append(q.child)
    elif kind is not wq.Every:
        return False
    return True


class _Compiler:
    """Turns a syntax tree into a Whoosh query for one index, collecting what snippets highlight.

    English variants of a bare word ("negotiation" → "negotiations", "negotiated") are looked up
    in the index's own lexicon: the terms sharing the word's Porter2 stem.  Only existing words
    are added, quoted words and phrases stay exact, and very common words are left alone.
    """

    def __init__(self, searcher: Any):
        self.reader = searcher.reader()
        self.total = max(1, searcher.doc_count_all())
        self.highlight = Highlighter()  # in query order
        self._negated = 0

    def pattern(self) -> Highlighter | None:
        return self.highlight or None

    def _mark(self, kind: str, text: str) -> None:
        if not self._negated:
            self.highlight.add(kind, text)

    def _mark_words(self, words: Iterable[str]) -> None:
        for word in words:
            # no word boundaries inside CJK text
            self._mark(CJK if re.fullmatch(f"[{_CJK}]", word) else WORD, word)

    def compile(self, node: wcq.Node) -> wq.Query | None:
        """The Whoosh query for `node`; None when nothing searchable is left in it."""
        if isinstance(node, wcq.Word):
            return self._word(node)
        if isinstance(node, wcq.Phrase):
            return self._phrase(_analyze(node.text), node.field)
        if isinstance(node, wcq.Site):
            return _filter(wq.Term("domain", node.host))
        if isinstance(node, wcq.Url):
            return _filter(wq.Prefix("urlkey", node.prefix))
        if isinstance(node, wcq.DateRange):
            return _filter(wq.NumericRange("timestamp", node.low, node.high))
        if isinstance(node, wcq.Lang):
            return _filter(wq.Term("language", node.code))
        if isinstance(node, wcq.Not):
            self._negated += 1
            try:
                inner = self.compile(node.item)
            finally:
                self._negated -= 1
            return None if inner is None else wq.Not(inner)
        if isinstance(node, wcq.Or):
            parts = [q for q in map(self.compile, node.items) if q is not None]
            return _any(parts) if parts else None
        return self._and(node)

    def _and(self, node: wcq.And) -> wq.Query | None:
        """AND with its NOTs pulled out into one AndNot: far cheaper than Whoosh's inverse matchers."""
        pos: list[wq.Query] = []
        neg: list[wq.Query] = []
        for item in node.items:
            q = self.compile(item)
            if isinstance(q, wq.Not):
                neg.append(q.query)
            elif q is not None:
                pos.append(q)
        if not pos and not neg:
            return None
        positive = (wq.And(pos) if len(pos) > 1 else pos[0]) if pos else wq.Every()
        return _AndNot(positive, _any(neg)) if neg else positive

    def _word(self, node: wcq.Word) -> wq.Query | None:
        tokens = _analyze(node.text)
        if len(tokens) != 1:  # "e-mail", "東京": the pieces as a phrase
            return self._phrase(tokens, node.field)
        token = tokens[0]
        field = _field(node.field)
        if node.prefix:
            self._mark(PREFIX, token)
            return wq.Prefix(field, token)
        forms = self.variants(token, field)
        self._mark_words(sorted(forms, key=len, reverse=True))
        words = [_Word(field, form) for form in forms]
        return words[0] if len(words) == 1 else _Variants(words)

    def _phrase(self, tokens: list[str], field: str | None) -> wq.Query | None:
        if not tokens:
            return None
        self._mark_words(tokens)
        if len(tokens) == 1:
            return _Word(_field(field), tokens[0])
        grams = [_gram(a, b) for a, b in zip(tokens, tokens[1:], strict=False)]
        if field != "title" and all(grams):  # every pair indexed: look the pairs up instead
            return _Word("grams", grams[0]) if len(grams) == 1 else _ExactPhrase("grams", grams)
        return _ExactPhrase(_field(field), tokens)

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
        used = self.reader.doc_frequency(field, token)
        root = _stem(token)
        prefix = os.path.commonprefix([root, token])
        if used > budget or len(prefix) < 3:
            return [token]
        candidates = []
        for i, term in enumerate(self.reader.expand_prefix(field, prefix)):
            if i >= _MAX_VARIANT_SCAN:
                break
            text = term.decode("utf-8") if isinstance(term, bytes) else term
            shared = len(os.path.commonprefix([text, token]))
            if text != token and max(len(text), len(token)) - shared <= 3 and _stem(text) == root:
                candidates.append((abs(len(text) - len(token)), text))
        forms = [token]
        for _, text in sorted(candidates):
            df = self.reader.doc_frequency(field, text)
            if used + df > budget:
                break
            used += df
            forms.append(text)
        return forms


def check_query(text: str) -> wcq.Node:
    """Parse a query and make sure something in it can be searched for (UsageError if not)."""
    node = wcq.parse_query(text)
    if _is_empty(node):
        raise UsageError(
            f"nothing to search for in {text!r}: no words (punctuation and words over "
            f"{_MAX_TOKEN} characters are not indexed)"
        )
    return node


@dataclass
class _Plan:
    """How to run one query on one index."""

    query: wq.Query | None  # None: every capture (only dates restrict it)
    scored: bool  # rank by relevance; otherwise newest first
    low: int | None  # capture-time bounds from top-level after:/before:
    high: int | None
    pattern: Highlighter | None  # what snippets highlight


def _plan(node: wcq.Node, searcher: Any) -> _Plan:
    """Pull top-level date bounds out of the query (they become a cheap per-document check)."""
    items = list(node.items) if isinstance(node, wcq.And) else [node]
    dates = [item for item in items if isinstance(item, wcq.DateRange)]
    rest = [item for item in items if not isinstance(item, wcq.DateRange)]
    low = max((d.low for d in dates if d.low is not None), default=None)
    high = min((d.high for d in dates if d.high is not None), default=None)
    compiler = _Compiler(searcher)
    q = compiler.compile(rest[0] if len(rest) == 1 else wcq.And(tuple(rest))) if rest else None
    if isinstance(q, wq.Not):
        q = _AndNot(wq.Every(), q.query)
    return _Plan(q, _has_text(node), low, high, compiler.pattern())


def compile_query(text: str, searcher: Any) -> tuple[wq.Query | None, bool, Highlighter | None]:
    """Parse and compile a query against an open searcher: (query, scored, what to highlight).

    Top-level dates are not in the returned query (search() applies them as a filter).
    """
    plan = _plan(check_query(text), searcher)
    return plan.query, plan.scored, plan.pattern


class _TimeFilter(DocIdSet):
    """Documents whose capture time is within bounds, checked one by one in the timestamp column.

    Why not a NumericRange query: for a wide range it is a union of dozens of long posting lists,
    which costs more than the text query it restricts; a column lookup per candidate is cheap.
    """

    def __init__(self, column: Any, low: int | None, high: int | None):
        self.column = column
        self.low = -(2**63) if low is None else low
        self.high = 2**63 - 1 if high is None else high

    def __contains__(self, docnum: object) -> bool:
        return self.low <= self.column[docnum] <= self.high

    def __bool__(self) -> bool:
        return True

    def __len__(self) -> int:  # unknown without a scan; only truthiness is used
        return 1

    def __iter__(self) -> Iterator[int]:
        raise NotImplementedError("a _TimeFilter only answers membership")


def _date_check(low: int | None, high: int | None) -> Callable[[Any], Callable[[int], bool]]:
    """For top_docs: given a segment's reader, whether its document number d is within the dates."""
    lo = -(2**63) if low is None else low
    hi = 2**63 - 1 if high is None else high

    def for_reader(reader: Any) -> Callable[[int], bool]:
        column = reader.column_reader("timestamp")
        return lambda docnum: lo <= column[docnum] <= hi

    return for_reader


def _hit(stored: dict[str, Any], score: float, pattern: Highlighter | None, collection: str) -> Hit:
    # The article if the query's words are in it, else the rest of the page if they are there.
    text = stored.get("body") or ""
    matches = find_matches(text, pattern) if pattern is not None and text else []
    if not matches and (rest := stored.get("full_text") or ""):
        rest_matches = find_matches(rest, pattern) if pattern is not None else []
        if rest_matches or not text:
            text, matches = rest, rest_matches
    text, spans = snippet(text, matches)
    return Hit(
        url=stored.get("url", ""),
        title=stored.get("title", ""),
        timestamp=f"{int(stored.get('timestamp', 0)):014d}",
        score=float(score or 0.0),
        snippet=text,
        highlights=spans,
        collection=stored.get("collection") or collection,
        hash_url=stored.get("hash_url", ""),
        domain=stored.get("domain", ""),
        headline=stored.get("headline", ""),
        warc_filename=stored.get("warc_filename", ""),
        warc_offset=int(stored.get("warc_offset", 0)),
    )


# --------------------------------------------------------------------------- the index


def _default_procs() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def fulltext_index(coll: Collection) -> FullTextIndex:
    """The full-text index of a collection (opened lazily: nothing is read until it is used)."""
    return FullTextIndex(coll.indexes_dir / "fulltext", coll.name)


class FullTextIndex:
    """The Whoosh index of one collection.  Not for sharing between threads; one per process is fine.

    `procs`, `limitmb` and `multisegment` are Whoosh writer options for rebuilds and large batches.
    On two cores, two writer processes that each keep their own segment (multisegment) are the
    fastest; merging their output into one segment (multisegment=False) costs more than the
    second process saves (see the report of scripts/bench_search.py for the figures).
    `lock_timeout` bounds how long a writer waits for another process's write lock.
    """

    def __init__(
        self,
        index_dir: Path,
        collection: str,
        *,
        procs: int | None = None,
        limitmb: int = 256,
        multisegment: bool = True,
        lock_timeout: float = 60.0,
    ):
        self.index_dir = Path(index_dir)
        self.collection = collection
        self.procs = procs or _default_procs()
        self.limitmb = limitmb
        self.multisegment = multisegment
        self.lock_timeout = lock_timeout
        self._searcher: Any = None
        self._searcher_name: str | None = None
        self._order_for: Any = None
        self._order: tuple[list[int], list[int]] = ([], [])

    def __repr__(self) -> str:
        return f"FullTextIndex({str(self.index_dir)!r}, {self.collection!r})"

    def __enter__(self) -> FullTextIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the cached searcher (its open files); the object can still be used afterwards."""
        if self._searcher is not None:
            self._searcher.close()
            self._searcher = None
            self._searcher_name = None
            self._order_for = None

    # ----------------------------------------------------------------- files, names, lock

    def _storage(self) -> FileStorage:
        # No mmap: with it, whoosh-ng 5.4 copies each file of a segment into a BytesIO when a
        # reader opens it (~0.4 s for the first search of a process at 100k pages, i.e. every
        # `warcache search`); without it, the files are read where needed, and searches are as fast.
        return FileStorage(str(self.index_dir), supports_mmap=False)

    def _current_name(self) -> str | None:
        try:
            name = (self.index_dir / _CURRENT).read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise ArchiveError(f"cannot read {self.index_dir / _CURRENT}: {exc}") from exc
        return name or None

    def _set_current(self, name: str) -> None:
        tmp = self.index_dir / f"{_CURRENT}.{secrets.token_hex(4)}.tmp"
        with open(tmp, "w", encoding="ascii") as fh:
            fh.write(name + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.index_dir / _CURRENT)

    @contextlib.contextmanager
    def _write_lock(self) -> Iterator[None]:
        """Hold WRITE.lock, waiting up to `lock_timeout` seconds with exponential backoff."""
        try:
            self.index_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ArchiveError(f"cannot create {self.index_dir}: {exc.strerror}") from exc
        lock = FileLock(str(self.index_dir / _LOCK))
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.02
        while not lock.acquire(blocking=False):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ArchiveError(
                    f"full-text index {self.index_dir} is busy: another warcache process has held "
                    f"its write lock for over {self.lock_timeout:g} s; try again later"
                )
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 1.0)
        try:
            yield
        finally:
            lock.release()

    def _sweep(self, keep: str) -> None:
        """Delete files of every index but `keep`, and writers' leftover temp dirs (lock held)."""
        for entry in os.scandir(self.index_dir):
            name = entry.name
            if name in (_LOCK, _CURRENT):
                continue
            if name.startswith((f"_{keep}_", f"{keep}_")) and not name.endswith(".tmp"):
                continue
            with contextlib.suppress(OSError):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)

    def _open_for_write(self) -> Any:
        """The live Whoosh index, created on first write (call with the lock held)."""
        name = self._current_name()
        storage = self._storage()
        if name is not None:
            try:
                return storage.open_index(name, schema=SCHEMA)
            except wi.EmptyIndexError as exc:
                raise ArchiveError(
                    f"full-text index {self.index_dir} names {name!r} in CURRENT but its files are "
                    "missing; run a rebuild"
                ) from exc
        name = "ix" + secrets.token_hex(6)
        ix = storage.create_index(SCHEMA, indexname=name)
        self._set_current(name)
        return ix

    def _writer(self, ix: Any, procs: int) -> Any:
        # New segments (and segments merged by a commit) get warcache's posting layout; segments
        # of an index written before it keep Whoosh's and are still searched, more slowly.
        kwargs: dict[str, Any] = {"limitmb": self.limitmb, "codec": PostingsCodec()}
        if procs > 1:
            kwargs.update(procs=procs, multisegment=self.multisegment, batchsize=64)
        try:
            return ix.writer(**kwargs)
        except wi.LockError as exc:  # only if something bypassed WRITE.lock
            raise ArchiveError(f"full-text index {self.index_dir} is locked by another writer") from exc

    # ----------------------------------------------------------------- writing

    def add(self, docs: Iterable[PageDoc]) -> int:
        """Add captures in one transaction; a capture already indexed (same url+timestamp) is replaced.

        Returns the number of documents written (a capture given twice counts once: the last wins).
        The batch is held in memory; to index a whole collection, use rebuild(), which streams.
        """
        batch = {_capture_key(doc): doc for doc in docs}
        if not batch:
            return 0
        prepared = [_fields(doc) for doc in batch.values()]
        procs = self.procs if len(prepared) >= 2000 else 1
        with self._write_lock():
            ix = self._open_for_write()
            writer = self._writer(ix, procs)
            try:
                for fields in prepared:
                    writer.update_document(**fields)
            except BaseException:
                writer.cancel()
                raise
            writer.commit()
        return len(prepared)

    def rebuild(self, docs: Iterable[PageDoc]) -> int:
        """Index `docs` into a fresh index beside the live one, then swap it in atomically.

        Searches keep using the old index until the swap; other writers wait for the lock.
        A failure leaves the old index untouched.  Returns the number of documents indexed.
        """
        with self._write_lock():
            name = "ix" + secrets.token_hex(6)
            ix = self._storage().create_index(SCHEMA, indexname=name)
            try:
                count = self._fill(ix, docs)
            except BaseException:
                self._sweep(keep=self._current_name() or "-")
                raise
            self._set_current(name)
            self._sweep(keep=name)
        return count

    def _fill(self, ix: Any, docs: Iterable[PageDoc]) -> int:
        """Stream docs into a new (unpublished) index; repeated captures: the last one wins."""
        seen: set[str] = set()
        late: dict[str, PageDoc] = {}
        writer = self._writer(ix, self.procs)
        try:
            for doc in docs:
                key = _capture_key(doc)
                if key in seen:
                    late[key] = doc  # replaced below, once the first version is committed
                    continue
                seen.add(key)
                writer.add_document(**_fields(doc))
        except BaseException:
            writer.cancel()
            raise
        writer.commit()
        if late:
            writer = self._writer(ix, 1)
            for doc in late.values():
                writer.update_document(**_fields(doc))
            writer.commit()
        return len(seen)

    # ----------------------------------------------------------------- reading

    def _fresh_searcher(self) -> Any | None:
        """A searcher on the live index, reopened if a commit or a rebuild happened since."""
        for _attempt in range(5):
            name = self._current_name()
            if name is None:
                self.close()
                return None
            try:
                if self._searcher is not None and self._searcher_name == name and self._searcher.up_to_date():
                    return self._searcher
                # Reopen rather than Searcher.refresh(): whoosh-ng 5.4 reuses segment readers whose
                # deletions changed, so a refreshed searcher still finds replaced captures.
                self.close()
                ix = self._storage().open_index(name, schema=SCHEMA)
                self._searcher = ix.searcher(weighting=Weighting())
                self._searcher_name = name
                return self._searcher
            except (wi.EmptyIndexError, OSError):
                # A rebuild swapped CURRENT and deleted this index's files under us: re-read.
                self.close()
                if self._current_name() == name:
                    time.sleep(0.05)
        raise ArchiveError(f"full-text index {self.index_dir} cannot be opened; run a rebuild")

    def outdated(self) -> bool:
        """True when some of the index was written before warcache's own posting layout: it is
        searched correctly but much more slowly (every posting read in Python) until rebuilt."""
        with self._damage_is_an_archive_error():
            searcher = self._fresh_searcher()
            if searcher is None:
                return False
            segments = searcher.ixreader.segments() or []  # None for an index of no segments
            return any(not isinstance(seg.codec(), PostingsCodec) for seg in segments)

    def captures(self) -> set[str]:
        """The captures the index holds, as `"<timestamp> <url>"` (see `_capture_key`): read from
        the `capture` field's term list, without loading a single stored document (0.1-0.3 s for 10k
        captures). A capture is only ever deleted to be replaced under the same key, or with the
        whole index by a rebuild, so every term is a capture the index holds."""
        with self._damage_is_an_archive_error():
            searcher = self._fresh_searcher()
            if searcher is None or searcher.doc_count_all() == 0:
                return set()
            return set(searcher.ixreader.field_terms("capture"))

    def count(self) -> int:
        """Number of captures in the index (0 when it has never been written)."""
        searcher = self._fresh_searcher()
        return 0 if searcher is None else int(searcher.doc_count())

    def search(self, query: str, *, limit: int = 20) -> list[Hit]:
        """Best captures for `query` (see warcache.search.query for the language), best first.

        Queries without words (only site:, after:, -word, …) have no ranking: newest first.
        Raises UsageError for a malformed query, whether or not the index exists yet, and
        ArchiveError when the index files are damaged.
        """
        node = check_query(query)
        with self._damage_is_an_archive_error():
            return self._search(node, limit)

    @contextlib.contextmanager
    def _damage_is_an_archive_error(self) -> Iterator[None]:
        """Damaged index files surface as whatever failed to parse them: struct, pickle or zlib
        errors, arrays of the wrong size, indexes out of range, wrong types, or Whoosh's bare
        Exception("Block tag error").  The index is derived data and a rebuild mends it, so any
        of these becomes one ArchiveError that says so (with the original, for a bug report)."""
        try:
            yield
        except WarcacheError:
            raise
        except Exception as exc:  # noqa: BLE001 - see above
            raise ArchiveError(
                f"the full-text index of collection {self.collection!r} is damaged or unreadable "
                f"({type(exc).__name__}: {str(exc)[:100]}); "
                f"`warcache index -c {self.collection} --rebuild` rebuilds it from the WARCs"
            ) from exc

    def _search(self, node: wcq.Node, limit: int) -> list[Hit]:
        searcher = self._fresh_searcher()
        if searcher is None or limit <= 0 or searcher.doc_count_all() == 0:
            return []  # (an index rebuilt from no pages has no segments, and no columns to read)
        plan = _plan(node, searcher)
        if not plan.scored:
            return [
                _hit(searcher.stored_fields(docnum), 0.0, plan.pattern, self.collection)
                for docnum in self._newest(searcher, plan, limit)
            ]
        dated = plan.low is not None or plan.high is not None
        conj = _conjunction(plan.query) if plan.query is not None else None
        if conj is not None:
            best = top_docs(searcher, conj, limit, _date_check(plan.low, plan.high) if dated else None)
            if best is not None:
                return [
                    _hit(searcher.stored_fields(docnum), score, plan.pattern, self.collection)
                    for score, docnum in best
                ]
        dates = None
        if dated:
            dates = _TimeFilter(searcher.reader().column_reader("timestamp"), plan.low, plan.high)
        results = searcher.search(plan.query, limit=limit, filter=dates)
        return [_hit(hit.fields(), hit.score, plan.pattern, self.collection) for hit in results]

    def _newest(self, searcher: Any, plan: _Plan, limit: int) -> list[int]:
        """Document numbers of the newest captures matching an unranked query."""
        column = searcher.reader().column_reader("timestamp")
        low = -(2**63) if plan.low is None else plan.low
        high = 2**63 - 1 if plan.high is None else plan.high
        if plan.query is not None:
            allowed = [d for d in searcher.docs_for_query(plan.query) if low <= column[d] <= high]
            allowed.sort(key=lambda d: (column[d], d), reverse=True)
            return allowed[:limit]
        # Only dates: every live document in range, newest first, from a sorted copy of the column.
        stamps, order = self._time_order(searcher, column)
        reader = searcher.reader()
        out: list[int] = []
        i = bisect.bisect_right(stamps, high) - 1
        stop = bisect.bisect_left(stamps, low)
        while i >= stop and len(out) < limit:
            docnum = order[i]
            if not reader.is_deleted(docnum):
                out.append(docnum)
            i -= 1
        return out

    def _time_order(self, searcher: Any, column: Any) -> tuple[list[int], list[int]]:
        """(timestamps ascending, their document numbers), computed once per opened searcher."""
        if self._order_for is not searcher:
            values = list(column)
            order = sorted(range(len(values)), key=values.__getitem__)
            self._order = ([values[d] for d in order], order)
            self._order_for = searcher
        return self._order


def search_collections(indexes: list[FullTextIndex], query: str, *, limit: int = 20) -> list[Hit]:
    """Search several collections and merge their hits: by score, then newest first.

    Scores from different indexes are BM25 against each index's own statistics, so they compare
    well enough for a merged list but not exactly.
    """
    node = check_query(query)
    hits = [hit for ix in indexes for hit in ix._search(node, limit)]
    return heapq.nsmallest(limit, hits, key=lambda h: (-h.score, -int(h.timestamp)))
