"""The full-text index of a collection: Whoosh (whoosh-ng) under `collections/<name>/indexes/fulltext`.

One document per capture (url + timestamp): several captures of one URL stay separate documents,
and the CLI groups them.  The query language is parsed by `warcache.query`; this module turns its
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
"""

from __future__ import annotations

import bisect
import contextlib
import heapq
import os
import re
import secrets
import shutil
import time
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from pathlib import Path
from typing import Any

from whoosh import fields as wf
from whoosh import formats
from whoosh import index as wi
from whoosh import query as wq
from whoosh.analysis import Token, Tokenizer
from whoosh.codec.whoosh3 import LENGTHS_COLUMN as _LENGTHS_COLUMN
from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.filedb.filestore import FileStorage
from whoosh.idsets import DocIdSet
from whoosh.lang import porter2
from whoosh.lang.stopwords import stoplists
from whoosh.matching import Matcher, NullMatcher, ReadTooFar
from whoosh.scoring import BM25F, BaseScorer, BM25FScorer
from whoosh.support.charset import accent_map
from whoosh.system import pack_uint, unpack_uint
from whoosh.util.filelock import FileLock
from whoosh.util.numeric import byte_to_length

from warcache import query as wcq
from warcache.errors import ArchiveError, UsageError

__all__ = ["FullTextIndex", "Hit", "PageDoc", "search_collections", "text_analyzer"]

SNIPPET_CHARS = 200
"""Length the snippet aims at (it may be a little shorter when cut at word boundaries)."""

# How much one occurrence of a word counts in each part of a page.  All parts go into one indexed
# field, "text", with these weights on each word (BM25F's weighted term frequency): the extracted
# article (body) is the main evidence, the rest of the page (full_text minus the body: menus,
# footers) counts for less, so boilerplate ranks below articles.  One field means one posting list
# per word, which makes queries several times faster than looking each word up in four fields.
TEXT_PARTS: tuple[tuple[str, float], ...] = (
    ("title", 3.0),
    ("headline", 2.0),
    ("body", 1.0),
    ("full_text", 0.5),
)
_PART_GAP = 100  # positions left between parts, so that no phrase runs from the title into the body

# Accent folding: Whoosh's map, plus the letters it folds to one letter where German, French,
# Danish or Dutch readers type two ("Straße" is searched as "strasse", "œuvre" as "oeuvre").
_FOLD: dict[int, str] = {
    **accent_map,
    ord("ß"): "ss",
    ord("æ"): "ae",
    ord("œ"): "oe",
    ord("ĳ"): "ij",
    ord("ﬁ"): "fi",
    ord("ﬂ"): "fl",
}

_FOLD_CHARS = {chr(k): v for k, v in _FOLD.items()}
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _fold_char(match: re.Match[str]) -> str:
    char = match.group()
    return _FOLD_CHARS.get(char, char)


def fold(text: str) -> str:
    """Lower-case and accent-fold text the way the index does ("Straße Café" → "strasse cafe").

    Why not str.translate: with a 700-entry map it is ~40 times slower than this on text that is
    mostly ASCII, and folding runs over every page indexed and every snippet shown.
    """
    lowered = text.lower()
    return lowered if lowered.isascii() else _NON_ASCII.sub(_fold_char, lowered)


_CURRENT = "CURRENT"
_LOCK = "WRITE.lock"
_MAX_TOKEN = 64  # longer "words" are base64, hashes or minified code: not worth indexing

# Han, kana and CJK compatibility ideographs have no spaces between words: index each character
# on its own and let a multi-character query word become a phrase (what Lucene's standard
# tokenizer does too).  Everything else: runs of word characters, keeping "3.11" and "e.g" whole.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN_PATTERN = rf"[{_CJK}]|[^\W{_CJK}]+(?:\.[^\W{_CJK}]+)*"


_WORD_RE = re.compile(_TOKEN_PATTERN)


class WordTokenizer(Tokenizer):
    """Tokens for all text fields: words, lower-cased and accent-folded ("Café" → "cafe").

    No stemming and no stop words: both would make quoted phrases inexact (and stemming is wrong
    for non-English pages).  English plurals and tenses are matched at query time instead, from
    the index's own lexicon (see _Compiler.variants), which leaves phrases exact.

    Why one class instead of RegexTokenizer | LowercaseFilter | CharsetFilter | StopFilter: the
    chain costs four generator frames per word; folding the whole text first and matching words
    in it is about three times faster, and indexing time is dominated by this.
    """

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))

    @staticmethod
    def words(value: str) -> list[str]:
        """The tokens of `value`, in order (position i is list index i); over-long ones included."""
        return _WORD_RE.findall(fold(value))

    def __call__(
        self,
        value: str,
        positions: bool = False,
        chars: bool = False,
        keeporiginal: bool = False,
        removestops: bool = True,
        start_pos: int = 0,
        start_char: int = 0,
        tokenize: bool = True,
        mode: str = "",
        **kwargs: Any,
    ) -> Iterator[Token]:
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        folded = fold(value)
        if not tokenize:
            spans: Iterable[tuple[str, int, int]] = [(folded, 0, len(value))]
        elif not chars or len(folded) == len(value):
            spans = ((m.group(), m.start(), m.end()) for m in _WORD_RE.finditer(folded))
        else:  # folding changed offsets ("ß" → "ss"): find words in the original, fold each
            spans = ((fold(m.group()), m.start(), m.end()) for m in _WORD_RE.finditer(value))
        for pos, (word, start, end) in enumerate(spans, start_pos):
            if len(word) > _MAX_TOKEN:  # base64, hashes, minified code: not words anyone searches
                continue
            t.text = word
            t.boost = 1.0
            t.stopped = False
            if keeporiginal:
                t.original = value[start:end]
            if positions:
                t.pos = pos
            if chars:
                t.startchar = start_char + start
                t.endchar = start_char + end
            yield t


def text_analyzer() -> WordTokenizer:
    """The analyzer of every text field (see WordTokenizer)."""
    return WordTokenizer()


_Posting = tuple[str, int, float, bytes]  # word, frequency, weight, encoded positions


# Words so frequent that a phrase made only of them ("to be or not to be", "of the") would make
# Whoosh intersect posting lists covering most pages and check positions in each: the stop words
# of the languages Whoosh has lists for.  Each pair of adjacent words that are both common is also
# indexed as one term ("common grams", as in Lucene's CommonGramsFilter), so such a phrase is
# answered from the pairs' short posting lists.  Pairs with one common word are not indexed: that
# would double the indexing time, and their other word already keeps the intersection smaller.
# Changing this set requires a rebuild.
COMMON_WORDS: frozenset[str] = frozenset(
    fold(word) for lang in ("en", "fr", "de", "es", "it", "pt", "nl") for word in stoplists[lang]
)


def _gram(first: str, second: str) -> str | None:
    """The pair term for two adjacent common words (a space never occurs inside a word)."""
    if first in COMMON_WORDS and second in COMMON_WORDS:
        return f"{first} {second}"
    return None


class _Parts(tuple):
    """The value of the text fields: ((text, weight), ...) for the parts of a page, in order.

    It remembers each part's words, so that "grams" and "text" tokenize the page only once.
    """

    def words(self, analyzer: WordTokenizer) -> list[list[str]]:
        cached = self.__dict__.get("_words")
        if cached is None:
            cached = self.__dict__["_words"] = [analyzer.words(text) for text, _ in self]
        return cached


class _Positions(formats.Positions):
    """Whoosh's positions format, with two changes that matter.

    whoosh-ng 5.4 decodes a value ending in b"." as its old pickle format, but its current varint
    encoding ends that way whenever the last gap between positions is 46: a phrase query then dies
    with UnpicklingError.  One padding byte avoids it (the decoder reads only its count of varints).

    `word_values` takes the words straight from WordTokenizer.words() instead of a Token stream,
    which halves the Python work per word at indexing time, and indexes a page's weighted parts
    (_Parts) as one field.  The bytes are Whoosh's own layout (a 4-byte count, then the gaps
    between positions as 7-bit varints).
    """

    def word_values(self, value: Any, analyzer: Any, **kwargs: Any) -> Iterator[_Posting]:
        if isinstance(value, str):
            value = _Parts([(value, 1.0)])
        if not isinstance(value, _Parts) or not isinstance(analyzer, WordTokenizer):
            yield from super().word_values(value, analyzer, **kwargs)
            return
        poses: dict[str, list[int]] = {}
        weights: dict[str, float] = {}
        base = 0
        for words, (_, boost) in zip(value.words(analyzer), value, strict=True):
            for pos, term in enumerate(self.terms(words), base):
                if term is not None:
                    poses.setdefault(term, []).append(pos)
                    weights[term] = weights.get(term, 0.0) + boost
            base += len(words) + _PART_GAP
        field_boost = self.field_boost
        encode = self.encode
        for word, poslist in poses.items():
            yield word, len(poslist), weights[word] * field_boost, encode(poslist)

    @staticmethod
    def terms(words: list[str]) -> list[str | None]:
        """The term at each position (None: not indexed)."""
        return [word if len(word) <= _MAX_TOKEN else None for word in words]

    def encode(self, poslist: list[int]) -> bytes:
        out = bytearray(pack_uint(len(poslist)))
        base = 0
        for pos in poslist:
            gap = pos - base
            base = pos
            while gap > 0x7F:
                out.append((gap & 0x7F) | 0x80)
                gap >>= 7
            out.append(gap)
        if out[-1] == 0x2E:  # b"."
            out.append(0)
        return bytes(out)


class _GramPositions(_Positions):
    """Indexes the common-word pairs of the text (see COMMON_WORDS); a pair sits at its first word."""

    @staticmethod
    def terms(words: list[str]) -> list[str | None]:
        return [_gram(a, b) for a, b in zip(words, words[1:], strict=False)]


def _text(analyzer: Any, *, stored: bool, grams: bool = False) -> wf.TEXT:
    field = wf.TEXT(analyzer=analyzer, stored=stored)
    field.format = (_GramPositions if grams else _Positions)(field_boost=1.0)
    return field


def _schema() -> wf.Schema:
    ana = text_analyzer()
    return wf.Schema(
        capture=wf.ID(unique=True),  # "<timestamp> <url>": the identity that `add` replaces on
        url=wf.ID(stored=True),
        urlkey=wf.ID(),  # normalize_url_key(url), for url: prefixes
        hash_url=wf.ID(stored=True),
        text=_text(ana, stored=False),  # all parts of the page, weighted (see TEXT_PARTS)
        grams=_text(ana, stored=False, grams=True),  # the same, as common-word pairs
        title=_text(ana, stored=True),  # also on its own, for title:
        headline=wf.STORED(),
        body=wf.STORED(),
        full_text=wf.STORED(),  # only what is outside the body (see _outside_body)
        domain=wf.KEYWORD(stored=True),  # indexed: the host and each parent domain
        timestamp=wf.NUMERIC(int, bits=64, stored=True, sortable=True),  # signed: unsigned open ranges fail
        collection=wf.ID(stored=True),
        language=wf.KEYWORD(stored=True),  # indexed: "en-gb" and "en"
        warc_filename=wf.STORED(),
        warc_offset=wf.STORED(),
    )


SCHEMA = _schema()


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


def _filter(q: wq.Query) -> wq.Query:
    """Filters (site:, url:, …) restrict the results but must not change their ranking."""
    return wq.ConstantScoreQuery(q, score=0.0)


class _LengthTable:
    """BM25's length normalisation for every document of one segment, in a list.

    Whoosh's BM25F scorer asks for a document's field length through five calls (searcher,
    reader, per-document reader, column, byte decoding) for every document it scores; scoring
    is most of the cost of a query on a common word.  The lengths are one byte per document in
    a column, read here in one go; the normalisation per distinct byte is computed once.
    """

    _cache: weakref.WeakKeyDictionary[Any, dict[tuple[str, float, float, float], list[float]]] = (
        weakref.WeakKeyDictionary()
    )

    @classmethod
    def norms(cls, reader: Any, fieldname: str, avgfl: float, b: float, k1: float) -> list[float] | None:
        """K1 * ((1 - B) + B * length / avgfl) per document number; None if the column is unreadable."""
        per_reader = cls._cache.setdefault(reader, {})
        key = (fieldname, avgfl, b, k1)
        if key not in per_reader:
            lengths = cls._length_bytes(reader, fieldname)
            if lengths is None:
                return None
            by_byte = [
                k1 * ((1 - b) + b * (byte_to_length(byte) if byte else 1) / avgfl) for byte in range(256)
            ]
            per_reader[key] = [by_byte[byte] for byte in lengths]
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


class _TableScorer(BaseScorer):
    """BM25F with the length part from _LengthTable: the same score as Whoosh's, bit for bit."""

    def __init__(self, base: Any, norms: list[float]):
        self.base = base
        self.norms = norms
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


class _Weighting(BM25F):
    """Whoosh's BM25F (same B and K1, same scores), with the faster per-document scorer."""

    def scorer(self, searcher: Any, fieldname: str, text: Any, qf: int = 1) -> Any:
        base = super().scorer(searcher, fieldname, text, qf=qf)
        if type(base) is not BM25FScorer:
            return base
        norms = _LengthTable.norms(searcher.reader(), fieldname, base.avgfl, base.B, base.K1)
        return base if norms is None else _TableScorer(base, norms)


class _FastLeaf(W3LeafMatcher):
    """Whoosh's on-disk posting reader with its per-posting loops moved into C or into bulk.

    skip_to() (how an AND leaps along a long posting list to the next document of a short one)
    steps through a block one posting at a time in Whoosh; here it bisects the block's sorted
    document numbers.  Decoding a block's delta-coded document numbers uses itertools.accumulate
    instead of a Python generator.  Same answers, same blocks read; "that" AND "shows" goes from
    walking ~100k postings to ~6k bisections at 100k pages.
    """

    def skip_to(self, targetid: int) -> None:
        if not self.is_active():
            raise ReadTooFar
        if targetid <= self.id():
            return
        if targetid > self._maxid:
            while self.is_active() and targetid > self._maxid:
                self._next_block()
            if not self.is_active():
                return
        if self._ids is None:
            self._read_ids()
        # The block's last id is >= targetid, so this stays inside the block.
        self._i = bisect.bisect_left(self._ids, targetid, self._i)

    def block_scores(self) -> list[float] | None:
        """The score of every posting of the current block (None without a _TableScorer).

        One list comprehension per block instead of one scorer call per document; the numbers
        are exactly what score() returns for each.  Cached until the matcher changes block.
        """
        scorer = self.scorer
        if not isinstance(scorer, _TableScorer):
            return None
        cached = self.__dict__.get("_wc_scores")
        if cached is not None and cached[0] == self._dataoffset:
            return cached[1]  # type: ignore[no-any-return]
        if self._ids is None:
            self._read_ids()
        if self._weights is None:
            self._read_weights()
        idf, k1p1, norms = scorer.idf, scorer.k1p1, scorer.norms
        scores = [idf * ((w * k1p1) / (w + norms[d])) for d, w in zip(self._ids, self._weights, strict=True)]
        self.__dict__["_wc_scores"] = (self._dataoffset, scores)
        return scores

    def _read_ids(self) -> None:
        if self._data is None:
            self._read_data()
        ids = self._data[0]
        self._ids = ids if self._byteids else tuple(accumulate(ids))


def _fast(m: Any) -> Any:
    """Make Whoosh's on-disk matcher a _FastLeaf: same object, faster methods (see _FastLeaf).

    Swapping the class keeps the object Whoosh built (its file, offsets, scorer) as it is;
    _FastLeaf only overrides methods and adds one cache attribute.
    """
    if type(m) is W3LeafMatcher:
        m.__class__ = _FastLeaf
    return m


class _Term(wq.Term):
    """wq.Term whose on-disk matcher is a _FastLeaf (for filters: site:, lang:)."""

    def matcher(self, searcher: Any, context: Any = None) -> Any:
        return _fast(super().matcher(searcher, context))


class _Word(wq.Term):
    """A searched word: its posting list under _PrunedAnd's top-k pruning."""

    def matcher(self, searcher: Any, context: Any = None) -> Any:
        m = _fast(super().matcher(searcher, context))
        if not isinstance(m, _FastLeaf) or not m.is_active():
            return m
        return _PrunedAnd([m], phrase=False)


_COUNT_SIZE = len(pack_uint(0))  # the count of positions that starts a posting's value


def _decode_positions(value: bytes) -> list[int]:
    """The positions in a posting of the text fields (the layout _Positions.encode writes).

    Most gaps between one word's occurrences in a page fit one byte: then the positions are the
    running sum of those bytes, without a Python loop per byte.
    """
    count = unpack_uint(value[:_COUNT_SIZE])[0]
    head = value[_COUNT_SIZE : _COUNT_SIZE + count]
    if len(head) == count and (not head or max(head) < 0x80):
        return list(accumulate(head))
    positions: list[int] = []
    at = _COUNT_SIZE
    pos = 0
    for _ in range(count):
        gap = shift = 0
        while True:
            byte = value[at]
            at += 1
            gap |= (byte & 0x7F) << shift
            if byte < 0x80:
                break
            shift += 7
        pos += gap
        positions.append(pos)
    return positions


def _in_sequence(postings: list[list[int]]) -> bool:
    """Whether some position p has word i of the phrase at p + i for every i."""
    starts = set(postings[0])
    for i, positions in enumerate(postings[1:], 1):
        starts.intersection_update([p - i for p in positions])
        if not starts:
            return False
    return True


class _PrunedAnd(Matcher):
    """The AND of posting lists (with `phrase`: also in sequence), top-k pruned, exact.

    Used for phrases (the words in sequence) and, with one list, for every searched word: the
    pruning below then skips the postings of a common word that cannot enter the results, which
    is most of them ("make" at 100k pages: ~40k postings, a few hundred scored one by one).

    Why not Whoosh's own phrase matcher (SpanNear2 over an IntersectionMatcher): it builds Span
    objects for every position of every document that has all the words, and visits every such
    document, which for a phrase of ordinary words ("shows that") is thousands per query.  Here:

    * the rarest word drives; the others leap to its documents (bisecting their blocks);
    * the score is Whoosh's phrase score (the sum of the words' BM25F), and once the collector's
      threshold is known (it passes it to replace()), a document whose driver score plus the
      other words' maximum score cannot beat it is passed over from the driver's block scores
      alone, without touching the other lists ("MaxScore"); the others' maxima are global,
      so this is exact, unlike mixing block bounds of lists whose blocks do not line up;
    * positions are decoded only for documents that could still enter the results.

    The answer is exactly Whoosh's (same documents, same scores, same order); only work is
    saved.  (Whoosh's SpanNear2 also forgets to re-check positions after skip_to_quality(), so in
    a large index it can return documents without the phrase; this matcher checks every time.)
    """

    def __init__(
        self,
        leaves: list[Any],
        minquality: float = 0.0,
        *,
        phrase: bool = True,
        sizes: list[int] | None = None,
    ):
        self.leaves = leaves  # in phrase order, for the position check
        self.phrase = phrase
        self.sizes = sizes or [0] * len(leaves)  # documents per list: the rarest drives
        ordered = [leaf for _, _, leaf in sorted(zip(self.sizes, range(len(leaves)), leaves, strict=True))]
        self.driver = ordered[0]
        self.others = ordered[1:]
        self.rest_max = sum(leaf.max_quality() for leaf in self.others)
        self.minquality = minquality
        self._done = False
        self._find_next()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.leaves!r})"

    # -- state

    def is_active(self) -> bool:
        return not self._done and self.driver.is_active()

    def reset(self) -> None:
        for leaf in self.leaves:
            leaf.reset()
        self._done = False
        self._find_next()

    def copy(self) -> _PrunedAnd:
        copies = [leaf.copy() for leaf in self.leaves]
        return type(self)(copies, self.minquality, phrase=self.phrase, sizes=self.sizes)

    def children(self) -> list[Any]:
        return list(self.leaves)

    def is_leaf(self) -> bool:
        return False

    def id(self) -> int:
        return int(self.driver.id())

    def value(self) -> Any:
        if len(self.leaves) == 1:
            return self.driver.value()
        raise NotImplementedError("an AND of several lists has no single posting value")

    def supports(self, astype: str) -> bool:
        return len(self.leaves) == 1 and bool(self.driver.supports(astype))

    def value_as(self, astype: str) -> Any:
        if len(self.leaves) == 1:
            return self.driver.value_as(astype)
        raise NotImplementedError("an AND of several lists has no single posting value")

    def spans(self) -> list[Any]:
        if len(self.leaves) == 1:
            return self.driver.spans()  # type: ignore[no-any-return]
        raise NotImplementedError("an AND of several lists does not compute spans")

    def all_ids(self) -> Iterator[int]:
        while self.is_active():
            yield self.id()
            self.next()

    # -- scores and quality

    def weight(self) -> float:
        return float(sum(leaf.weight() for leaf in self.leaves))

    def score(self) -> float:
        if not self.others:
            return float(self.driver.score())
        total = 0.0
        for leaf in self.leaves:
            total += leaf.score()
        return total

    def supports_block_quality(self) -> bool:
        return all(leaf.supports_block_quality() for leaf in self.leaves)

    def max_quality(self) -> float:
        return float(self.driver.max_quality() + self.rest_max)

    def block_quality(self) -> float:
        # The others' blocks do not line up with the driver's: only their global maxima are safe.
        return float(self.driver.block_quality() + self.rest_max)

    def replace(self, minquality: float = 0) -> Any:
        """Remember the score a document must beat (a global bound from the collector or a parent).

        Only replace() carries such a bound: skip_to_quality()'s argument can be relative to a
        sibling's current block, so it is not kept.
        """
        if not self.is_active() or (minquality and self.max_quality() < minquality):
            return NullMatcher()
        if minquality and minquality > self.minquality:
            self.minquality = minquality
        return self

    # -- moving

    def next(self) -> bool:
        moved = bool(self.driver.next())
        return self._find_next() or moved

    def skip_to(self, id: int) -> bool:  # noqa: A002 (Whoosh's name)
        if not self.is_active():
            raise ReadTooFar
        self.driver.skip_to(id)
        self._find_next()
        return False  # like Whoosh's leaves: block changes are reported by next() only

    def skip_to_quality(self, minquality: float) -> int:
        skipped = int(self.driver.skip_to_quality(minquality - self.rest_max) or 0)
        if skipped:
            self._find_next()
        return skipped

    def _find_next(self) -> bool:
        """Move to the first document from here on that has the phrase and could enter the results."""
        driver, others = self.driver, self.others
        moved = False
        while driver.is_active():
            need = self.minquality - self.rest_max
            above = _advance_above(driver, need) if self.minquality > 0 and need > 0 else None
            if above is False:
                moved = True
                continue  # the rest of the driver's block cannot win: it moved to the next block
            if not others and not self.phrase:
                return moved  # one word: the block scores already said it can win (or no threshold)
            docnum = driver.id()
            behind = None
            for leaf in others:
                if leaf.id() < docnum:
                    leaf.skip_to(docnum)
                    if not leaf.is_active():
                        self._done = True
                        return moved
                if leaf.id() != docnum:
                    behind = leaf.id()
                    break
            if behind is not None:
                driver.skip_to(behind)
                moved = True
                continue
            if self._matches_here():
                return moved
            moved = bool(driver.next()) or moved
        return moved

    def _matches_here(self) -> bool:
        if self.minquality > 0 and self.score() <= self.minquality:
            return False  # cannot enter the results: not worth decoding positions
        return not self.phrase or _in_sequence([_decode_positions(leaf.value()) for leaf in self.leaves])


def _advance_above(leaf: Any, need: float) -> bool | None:
    """Move `leaf` to its next posting in this block scoring above `need` (True), or past the block.

    Exact: it uses the block's real scores (_FastLeaf.block_scores), not a bound.  Leaves
    without a score table are left where they are (None: not known).
    """
    scores = leaf.block_scores() if isinstance(leaf, _FastLeaf) else None
    if scores is None:
        return None
    i = leaf._i
    n = len(scores)
    while i < n and scores[i] <= need:
        i += 1
    if i < n:
        leaf._i = i
        return True
    leaf._next_block()
    return False


def _leaves(searcher: Any, terms: list[tuple[str, str]], context: Any) -> tuple[list[Any], list[int]] | None:
    """The on-disk matchers of (field, word) pairs and their document counts; None if one is absent."""
    reader = searcher.reader()
    leaves, sizes = [], []
    for fieldname, word in terms:
        m = _fast(wq.Term(fieldname, word).matcher(searcher, context))
        if not m.is_active():
            return None
        leaves.append(m)
        sizes.append(int(reader.doc_frequency(fieldname, word)))
    return leaves, sizes


class _AllWords(wq.And):
    """wq.And of plain words (one form each), matched by one _PrunedAnd instead of Whoosh's tree
    of IntersectionMatchers: the rarest word drives, and its postings that cannot enter the
    results even with the other words' best scores are passed over from its block scores."""

    def matcher(self, searcher: Any, context: Any = None) -> Any:
        found = _leaves(searcher, [(word.fieldname, word.text) for word in self.subqueries], context)
        if found is None:
            return NullMatcher()
        return _PrunedAnd(found[0], phrase=False, sizes=found[1])


class _ExactPhrase(wq.Phrase):
    """wq.Phrase (same terms, size estimates, normalisation) with the faster _PrunedAnd."""

    def matcher(self, searcher: Any, context: Any = None) -> Any:
        if self.fieldname not in searcher.schema:
            return NullMatcher()
        found = _leaves(searcher, [(self.fieldname, word) for word in self.words], context)
        if found is None:
            return NullMatcher()
        return _PrunedAnd(found[0], sizes=found[1])


class _Compiler:
    """Turns a syntax tree into a Whoosh query for one index, collecting what snippets highlight.

    English variants of a bare word ("negotiation" → "negotiations", "negotiated") are looked up
    in the index's own lexicon: the terms sharing the word's Porter2 stem.  Only existing words
    are added, quoted words and phrases stay exact, and very common words are left alone.
    """

    def __init__(self, searcher: Any):
        self.reader = searcher.reader()
        self.total = max(1, searcher.doc_count_all())
        self.highlight: list[str] = []  # regex alternatives, in query order
        self._negated = 0

    def pattern(self) -> re.Pattern[str] | None:
        parts = list(dict.fromkeys(self.highlight))
        return re.compile("|".join(parts)) if parts else None

    def _mark(self, regex: str) -> None:
        if not self._negated:
            self.highlight.append(regex)

    def _mark_words(self, words: Iterable[str]) -> None:
        for word in words:
            if re.fullmatch(f"[{_CJK}]", word):  # no word boundaries inside CJK text
                self._mark(re.escape(word))
            else:
                self._mark(rf"(?<!\w){re.escape(word)}(?!\w)")

    def compile(self, node: wcq.Node) -> wq.Query | None:
        """The Whoosh query for `node`; None when nothing searchable is left in it."""
        if isinstance(node, wcq.Word):
            return self._word(node)
        if isinstance(node, wcq.Phrase):
            return self._phrase(_analyze(node.text), node.field)
        if isinstance(node, wcq.Site):
            return _filter(_Term("domain", node.host))
        if isinstance(node, wcq.Url):
            return _filter(wq.Prefix("urlkey", node.prefix))
        if isinstance(node, wcq.DateRange):
            return _filter(wq.NumericRange("timestamp", node.low, node.high))
        if isinstance(node, wcq.Lang):
            return _filter(_Term("language", node.code))
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
        words = [q for q in pos if type(q) is _Word]
        if len(words) > 1:  # plain words: one pruned AND instead of Whoosh's nested intersections
            pos = [_AllWords(words)] + [q for q in pos if type(q) is not _Word]
        positive = (wq.And(pos) if len(pos) > 1 else pos[0]) if pos else wq.Every()
        return wq.AndNot(positive, _any(neg)) if neg else positive

    def _word(self, node: wcq.Word) -> wq.Query | None:
        tokens = _analyze(node.text)
        if len(tokens) != 1:  # "e-mail", "東京": the pieces as a phrase
            return self._phrase(tokens, node.field)
        token = tokens[0]
        field = _field(node.field)
        if node.prefix:
            self._mark(rf"(?<!\w){re.escape(token)}\w*")
            return wq.Prefix(field, token)
        forms = self.variants(token, field)
        self._mark_words(sorted(forms, key=len, reverse=True))
        return _any([_Word(field, form) for form in forms])

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
    pattern: re.Pattern[str] | None  # what snippets highlight


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
        q = wq.AndNot(wq.Every(), q.query)
    return _Plan(q, _has_text(node), low, high, compiler.pattern())


def compile_query(text: str, searcher: Any) -> tuple[wq.Query | None, bool, re.Pattern[str] | None]:
    """Parse and compile a query against an open searcher: (query, scored, highlight pattern).

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


# --------------------------------------------------------------------------- snippets


_EXPANDING = re.compile("[" + "".join(re.escape(chr(k)) for k, v in _FOLD.items() if len(v) > 1) + "]")


def _find(text: str, pattern: re.Pattern[str]) -> list[tuple[int, int, str]]:
    """(start, end, folded word) in `text` of each match of the highlight pattern.

    The pattern runs over a folded copy of the text; when folding made it longer, offsets are
    mapped back through the characters that expanded.
    """
    lowered = text.lower()
    if len(lowered) != len(text):  # rare: "İ" lower-cases to two characters
        lowered = "".join(c.lower()[:1] for c in text)
    folded = lowered if lowered.isascii() else _NON_ASCII.sub(_fold_char, lowered)
    matches = [(m.start(), m.end(), m.group()) for m in pattern.finditer(folded) if m.end() > m.start()]
    if len(folded) == len(text) or not matches:
        return matches
    starts: list[int] = []  # where each expanded character begins in the folded text
    origins: list[int] = []  # ... and where it is in the original
    sizes: list[int] = []  # ... and how many folded characters it became
    grown = 0
    for m in _EXPANDING.finditer(lowered):
        size = len(_FOLD[ord(m.group())])
        starts.append(m.start() + grown)
        origins.append(m.start())
        sizes.append(size)
        grown += size - 1

    def back(offset: int) -> int:
        k = bisect.bisect_right(starts, offset) - 1
        if k < 0:
            return offset
        if offset < starts[k] + sizes[k]:
            return origins[k]
        return origins[k] + 1 + (offset - starts[k] - sizes[k])

    return [(back(start), back(end - 1) + 1, word) for start, end, word in matches]


def _best_window(matches: list[tuple[int, int, str]], width: int) -> tuple[int, int]:
    """The run of matches fitting in `width` chars with the most distinct words, then the most hits."""
    best = (-1, 0, 0)
    j = 0
    for i, (start, _, _) in enumerate(matches):
        j = max(j, i)
        while j + 1 < len(matches) and matches[j + 1][1] - start <= width:
            j += 1
        words = {m[2] for m in matches[i : j + 1]}
        score = len(words) * 100 + (j - i + 1)
        if score > best[0]:
            best = (score, start, matches[j][1])
    return best[1], best[2]


def _widen(text: str, start: int, end: int, width: int) -> tuple[int, int]:
    """Grow [start, end) to about `width` chars of context, then cut at word boundaries."""
    slack = max(0, width - (end - start))
    lo = max(0, start - slack // 3)
    hi = min(len(text), end + (slack - (start - lo)))
    lo = max(0, min(lo, hi - width))
    if lo > 0:
        space = text.find(" ", lo, start)
        lo = space + 1 if space >= 0 else lo
    if hi < len(text):
        space = text.rfind(" ", end, hi)
        hi = space if space >= 0 else hi
    return lo, hi


_SPACES = re.compile(r"[\s\x00-\x1f\x7f]+")


def _tidy(text: str, lo: int, hi: int, spans: list[tuple[int, int]]) -> tuple[str, list[tuple[int, int]]]:
    """Collapse whitespace runs to one space, add ellipses where cut, and move the spans to match."""
    segment = text[lo:hi]
    pieces: list[str] = ["…"] if lo > 0 else []
    run_ends: list[int] = []  # offset in `segment` just past each collapsed run
    shifts: list[int] = []  # output offset minus segment offset after that run
    shift = len(pieces)
    last = 0
    for m in _SPACES.finditer(segment):
        if m.group() == " ":
            continue
        pieces.append(segment[last : m.start()])
        pieces.append(" ")
        shift += 1 - (m.end() - m.start())
        last = m.end()
        run_ends.append(last)
        shifts.append(shift)
    pieces.append(segment[last:])
    if hi < len(text):
        pieces.append("…")
    first = 1 if lo > 0 else 0

    def move(offset: int) -> int:
        k = bisect.bisect_right(run_ends, offset) - 1
        return offset + (shifts[k] if k >= 0 else first)

    return "".join(pieces), [(move(s - lo), move(e - lo)) for s, e in spans]


def make_snippet(
    text: str, pattern: re.Pattern[str] | None, width: int = SNIPPET_CHARS
) -> tuple[str, list[tuple[int, int]]]:
    """The best ~`width`-char fragment of `text` around the query's words, and their spans in it.

    Why not Whoosh's highlighter: it re-runs the analyzer over the whole stored text with a Python
    Token per word (about 1 ms per 3 KB page, so 20 ms for a page of results); one regex over an
    accent-folded copy of the text finds the same words in a few microseconds.
    """
    matches = _find(text, pattern) if pattern is not None and text else []
    return _snippet(text, matches, width)


def _snippet(
    text: str, matches: list[tuple[int, int, str]], width: int = SNIPPET_CHARS
) -> tuple[str, list[tuple[int, int]]]:
    if not text:
        return "", []
    if matches:
        start, end = _best_window(matches, width)
    else:
        start, end = 0, 0
    lo, hi = _widen(text, start, end, width)
    inside = [(s, e) for s, e, _ in matches if s >= lo and e <= hi]
    return _tidy(text, lo, hi, inside)


def _hit(stored: dict[str, Any], score: float, pattern: re.Pattern[str] | None, collection: str) -> Hit:
    # The article if the query's words are in it, else the rest of the page if they are there.
    text = stored.get("body") or ""
    matches = _find(text, pattern) if pattern is not None and text else []
    if not matches and (rest := stored.get("full_text") or ""):
        rest_matches = _find(rest, pattern) if pattern is not None else []
        if rest_matches or not text:
            text, matches = rest, rest_matches
    snippet, spans = _snippet(text, matches)
    return Hit(
        url=stored.get("url", ""),
        title=stored.get("title", ""),
        timestamp=f"{int(stored.get('timestamp', 0)):014d}",
        score=float(score or 0.0),
        snippet=snippet,
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
        return FileStorage(str(self.index_dir))

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
        kwargs: dict[str, Any] = {"limitmb": self.limitmb}
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
                self._searcher = ix.searcher(weighting=_Weighting())
                self._searcher_name = name
                return self._searcher
            except (wi.EmptyIndexError, OSError):
                # A rebuild swapped CURRENT and deleted this index's files under us: re-read.
                self.close()
                if self._current_name() == name:
                    time.sleep(0.05)
        raise ArchiveError(f"full-text index {self.index_dir} cannot be opened; run a rebuild")

    def count(self) -> int:
        """Number of captures in the index (0 when it has never been written)."""
        searcher = self._fresh_searcher()
        return 0 if searcher is None else int(searcher.doc_count())

    def search(self, query: str, *, limit: int = 20) -> list[Hit]:
        """Best captures for `query` (see warcache.query for the language), best first.

        Queries without words (only site:, after:, -word, …) have no ranking: newest first.
        Raises UsageError for a malformed query, whether or not the index exists yet.
        """
        return self._search(check_query(query), limit)

    def _search(self, node: wcq.Node, limit: int) -> list[Hit]:
        searcher = self._fresh_searcher()
        if searcher is None or limit <= 0:
            return []
        plan = _plan(node, searcher)
        if not plan.scored:
            return [
                _hit(searcher.stored_fields(docnum), 0.0, plan.pattern, self.collection)
                for docnum in self._newest(searcher, plan, limit)
            ]
        dates = None
        if plan.low is not None or plan.high is not None:
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
