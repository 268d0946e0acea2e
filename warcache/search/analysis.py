"""Text analysis and the schema of the full-text index: tokens, accent folding, positions, common grams.

Everything here decides what is written into the index: changing it (the tokenizer, the common
words, the weights of the parts of a page, the fields) requires `warcache index --rebuild`.
The rest of the search package asks this module how text becomes terms (`fold`, `indexed_words`,
`common_gram`, `stem`...) instead of repeating it.

Whoosh: only its public schema and analysis API (fields, formats and the byte layout of their
values, tokenizers, stop lists, the accent map, the Porter2 stemmer).  The schema's classes are
pickled into every index's table of contents under this module's name (and, for indexes written
before the search package existed, warcache.fulltext and warcache.fulltext_analysis: see
warcache.search.store), so WordTokenizer, _Positions and _GramPositions keep their names here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

from whoosh import fields as wf
from whoosh import formats
from whoosh.analysis import Token, Tokenizer
from whoosh.lang import porter2
from whoosh.lang.stopwords import stoplists
from whoosh.support.charset import accent_map
from whoosh.system import pack_uint

__all__ = [
    "COMMON_WORDS",
    "EXPANSIONS",
    "MAX_TOKEN",
    "SCHEMA",
    "TEXT_PARTS",
    "Parts",
    "WordTokenizer",
    "common_gram",
    "fold",
    "fold_lowered",
    "indexed_words",
    "is_cjk",
    "stem",
    "text_analyzer",
]

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

EXPANSIONS: dict[str, str] = {char: folded for char, folded in _FOLD_CHARS.items() if len(folded) > 1}
"""The characters that fold to more than one character ("ß" → "ss"), and what they fold to:
folding them moves every later offset (snippets map highlight spans back through them)."""


def _fold_char(match: re.Match[str]) -> str:
    char = match.group()
    return _FOLD_CHARS.get(char, char)


def fold_lowered(lowered: str) -> str:
    """Accent-fold text that is already lower-cased ("straße café" → "strasse cafe").

    Why not str.translate: with a 700-entry map it is ~40 times slower than this on text that is
    mostly ASCII, and folding runs over every page indexed and every snippet shown.
    """
    return lowered if lowered.isascii() else _NON_ASCII.sub(_fold_char, lowered)


def fold(text: str) -> str:
    """Lower-case and accent-fold text the way the index does ("Straße Café" → "strasse cafe")."""
    return fold_lowered(text.lower())


MAX_TOKEN = 64
"""Longer "words" are base64, hashes or minified code: not indexed (they still take a position)."""

# Han, kana and CJK compatibility ideographs have no spaces between words: index each character
# on its own and let a multi-character query word become a phrase (what Lucene's standard
# tokenizer does too).  Everything else: runs of word characters, keeping "3.11" and "e.g" whole.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN_PATTERN = rf"[{_CJK}]|[^\W{_CJK}]+(?:\.[^\W{_CJK}]+)*"


_WORD_RE = re.compile(_TOKEN_PATTERN)
_ONE_CJK = re.compile(f"[{_CJK}]")


def is_cjk(word: str) -> bool:
    """Whether `word` is one Han or kana character (such text is indexed a character at a time,
    so snippets highlight it with no word boundaries)."""
    return _ONE_CJK.fullmatch(word) is not None


class WordTokenizer(Tokenizer):
    """Tokens for all text fields: words, lower-cased and accent-folded ("Café" → "cafe").

    No stemming and no stop words: both would make quoted phrases inexact (and stemming is wrong
    for non-English pages).  English plurals and tenses are matched at query time instead, from
    the index's own lexicon (see warcache.search.compile), which leaves phrases exact.

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
            if len(word) > MAX_TOKEN:  # base64, hashes, minified code: not words anyone searches
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


def indexed_words(text: str) -> list[str]:
    """The terms the index holds for `text` (a query's words), in order; over-long tokens left out."""
    return [w for w in WordTokenizer.words(text) if len(w) <= MAX_TOKEN]


@lru_cache(maxsize=100_000)
def stem(word: str) -> str:
    """The Porter2 stem of a folded word: what English variants of a searched word share.

    Not applied at indexing time (see WordTokenizer): the query side looks variants up in the
    index's lexicon."""
    return porter2.stem(word)


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


def common_gram(first: str, second: str) -> str | None:
    """The term indexed for two adjacent common words, or None when they are not both common
    (a space never occurs inside a word, so a pair term cannot be mistaken for a word)."""
    if first in COMMON_WORDS and second in COMMON_WORDS:
        return f"{first} {second}"
    return None


class Parts(tuple):
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
    (Parts) as one field.  The bytes are Whoosh's own layout (a 4-byte count, then the gaps
    between positions as 7-bit varints).
    """

    varint_positions = True  # values are a count, then varint gaps: warcache's postings drop the count

    def word_values(self, value: Any, analyzer: Any, **kwargs: Any) -> Iterator[_Posting]:
        if isinstance(value, str):
            value = Parts([(value, 1.0)])
        if not isinstance(value, Parts) or not isinstance(analyzer, WordTokenizer):
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
        return [word if len(word) <= MAX_TOKEN else None for word in words]

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
        return [common_gram(a, b) for a, b in zip(words, words[1:], strict=False)]


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
        full_text=wf.STORED(),  # only what is outside the body (see documents.outside_body)
        domain=wf.KEYWORD(stored=True),  # indexed: the host and each parent domain
        timestamp=wf.NUMERIC(int, bits=64, stored=True, sortable=True),  # signed: unsigned open ranges fail
        collection=wf.ID(stored=True),
        language=wf.KEYWORD(stored=True),  # indexed: "en-gb" and "en"
        warc_filename=wf.STORED(),
        warc_offset=wf.STORED(),
    )


SCHEMA = _schema()
