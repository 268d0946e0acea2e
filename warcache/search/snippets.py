"""Snippets: the best fragment of a page around the query's words, with the words' spans.

The query compiler says what to highlight as a Highlighter (words, word prefixes, CJK
characters, in the query's order); pages are searched for them in an accent-folded copy.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field

from warcache.search.analysis import EXPANSIONS, fold_lowered

__all__ = ["CJK", "PREFIX", "SNIPPET_CHARS", "WORD", "Highlighter", "find_matches", "make_snippet",
           "page_snippet", "snippet"]

SNIPPET_CHARS = 200
"""Length the snippet aims at (it may be a little shorter when cut at word boundaries)."""

_WORD_CHAR = re.compile(r"\w")
_WORD_TAIL = re.compile(r"\w*")

WORD, PREFIX, CJK = "word", "prefix", "cjk"


@dataclass
class Highlighter:
    """What snippets highlight: (kind, folded text) items, the earlier preferred where two overlap.

    A WORD matches between word boundaries, a PREFIX from a word boundary to the end of the
    word, a CJK character anywhere.  `find` gives exactly the matches of the regular expression
    `pattern()` (the alternatives in order, leftmost first, no overlaps), but with str.find per
    word instead of a regex trying every alternative at every position: a query's words occur a
    few times in a page, and the regex costs ~100 µs per 3 KB page (2 ms per page of results).
    """

    items: list[tuple[str, str]] = field(default_factory=list)

    def add(self, kind: str, text: str) -> None:
        if (kind, text) not in self.items:
            self.items.append((kind, text))

    def __bool__(self) -> bool:
        return bool(self.items)

    def pattern(self) -> re.Pattern[str]:
        """The same matches as one regular expression (what `find` is checked against)."""
        parts = []
        for kind, text in self.items:
            word = re.escape(text)
            if kind == CJK:
                parts.append(word)
            else:
                parts.append(rf"(?<!\w){word}\w*" if kind == PREFIX else rf"(?<!\w){word}(?!\w)")
        return re.compile("|".join(parts))

    def find(self, folded: str) -> list[tuple[int, int, str]]:
        """(start, end, text) of each match in `folded` (already lower-cased and accent-folded)."""
        found: list[tuple[int, int, int]] = []  # (start, preference, end)
        word_char = _WORD_CHAR.match
        for rank, (kind, text) in enumerate(self.items):
            size = len(text)
            at = folded.find(text)
            while at >= 0:
                end = at + size
                if kind == CJK:
                    found.append((at, rank, end))
                elif not (at and word_char(folded, at - 1)):
                    if kind == PREFIX:
                        found.append((at, rank, _WORD_TAIL.match(folded, end).end()))  # type: ignore[union-attr]
                    elif not word_char(folded, end):
                        found.append((at, rank, end))
                at = folded.find(text, at + 1)
        if len(found) > 1:
            found.sort()
        out: list[tuple[int, int, str]] = []
        reached = 0
        for start, _, end in found:
            if start >= reached:  # the first (most preferred) match at each place, none overlapping
                out.append((start, end, folded[start:end]))
                reached = end
        return out


_EXPANDING = re.compile("[" + "".join(map(re.escape, EXPANSIONS)) + "]")


def find_matches(text: str, pattern: Highlighter | re.Pattern[str]) -> list[tuple[int, int, str]]:
    """(start, end, folded word) in `text` of each match of the query's words.

    The words are looked for in a folded copy of the text (folded as the index folds it, but
    lower-cased one character to one, so that offsets only move where folding expanded a
    character); offsets are then mapped back through the characters that expanded.
    """
    lowered = text.lower()
    if len(lowered) != len(text):  # rare: "İ" lower-cases to two characters
        lowered = "".join(c.lower()[:1] for c in text)
    folded = fold_lowered(lowered)
    if isinstance(pattern, Highlighter):
        matches = pattern.find(folded)
    else:
        matches = [(m.start(), m.end(), m.group()) for m in pattern.finditer(folded) if m.end() > m.start()]
    if len(folded) == len(text) or not matches:
        return matches
    starts: list[int] = []  # where each expanded character begins in the folded text
    origins: list[int] = []  # ... and where it is in the original
    sizes: list[int] = []  # ... and how many folded characters it became
    grown = 0
    for m in _EXPANDING.finditer(lowered):
        size = len(EXPANSIONS[m.group()])
        starts.append(m.start() + grown)
        origins.append(m.start())
        sizes.append(size)
        grown += size - 1

    def back(offset: int) -> int:
        k = bisect_right(starts, offset) - 1
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
        k = bisect_right(run_ends, offset) - 1
        return offset + (shifts[k] if k >= 0 else first)

    return "".join(pieces), [(move(s - lo), move(e - lo)) for s, e in spans]


def make_snippet(
    text: str, pattern: Highlighter | re.Pattern[str] | None, width: int = SNIPPET_CHARS
) -> tuple[str, list[tuple[int, int]]]:
    """The best ~`width`-char fragment of `text` around the query's words, and their spans in it.

    Why not Whoosh's highlighter: it re-runs the analyzer over the whole stored text with a Python
    Token per word (about 1 ms per 3 KB page, so 20 ms for a page of results); searching an
    accent-folded copy of the text for the query's words takes a few microseconds.
    """
    matches = find_matches(text, pattern) if pattern is not None and text else []
    return snippet(text, matches, width)


def page_snippet(body: str, rest: str, pattern: Highlighter | None) -> tuple[str, list[tuple[int, int]]]:
    """The snippet of a page: from its article (`body`) if the query's words are in it, else from
    the rest of the page if they are there, else the article's start (the rest's, if no article)."""
    text = body
    matches = find_matches(body, pattern) if pattern is not None and body else []
    if not matches and rest:
        rest_matches = find_matches(rest, pattern) if pattern is not None else []
        if rest_matches or not body:
            text, matches = rest, rest_matches
    return snippet(text, matches)


def snippet(
    text: str, matches: list[tuple[int, int, str]], width: int = SNIPPET_CHARS
) -> tuple[str, list[tuple[int, int]]]:
    """The snippet of `text` around the best window of `matches` (see make_snippet)."""
    if not text:
        return "", []
    if matches:
        start, end = _best_window(matches, width)
    else:
        start, end = 0, 0
    lo, hi = _widen(text, start, end, width)
    inside = [(s, e) for s, e, _ in matches if s >= lo and e <= hi]
    return _tidy(text, lo, hi, inside)
