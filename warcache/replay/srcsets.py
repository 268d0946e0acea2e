"""Responsive images: the candidate sets of srcset, `<picture>` and `image-set()`, and which
archived candidate stands in for one that was not archived.

The browser, not the page, picks a candidate from a set, by its own pixel density and
viewport.  A capture made at one density holds the candidates that density picked; replayed on
another screen, the browser asks for one that was never archived (pywb and ReplayWeb.page then
show a broken image).  New captures fetch every candidate up to 3x (see
`warcache.capture.behaviours`), but old captures exist, so replay answers such a request with
the nearest archived candidate of the same set: found in the document (or style sheet) that
asked for the image, which the Referer names.

Sets, per document:

* `<img srcset>` with its `src` (the 1x candidate when the set has no densities of its own);
* `<picture>`: each `<source srcset>` and the `<img>`, one set, its own `<source>` first;
* `<link imagesrcset>`;
* `image-set()` / `-webkit-image-set()` in `<style>`, `style=""` and style sheets.

"Nearest": the same descriptor kind (density or width) closest to the one asked for, the
larger on a tie (scaled down looks better than scaled up), candidates of the same source
element before the rest of the `<picture>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin

from warcache.index.cdxj import canonical_key

_WS = "\t\n\r\f "


def srcset_spans(value: str) -> list[tuple[int, int, int, int]]:
    """Where each candidate of a srcset is: (URL start, URL end, descriptors start, end).

    Follows the HTML srcset parser: a URL is a run of non-space characters (so a `data:` URL
    keeps its comma), trailing commas end a candidate, descriptors run to the next comma
    outside parentheses.
    """
    spans: list[tuple[int, int, int, int]] = []
    pos, size = 0, len(value)
    while pos < size:
        while pos < size and (value[pos] in _WS or value[pos] == ","):
            pos += 1
        start = pos
        while pos < size and value[pos] not in _WS:
            pos += 1
        end = pos
        while end > start and value[end - 1] == ",":
            end -= 1
        if end == start:
            continue
        if end < pos:  # "a.png," : no descriptors
            spans.append((start, end, end, end))
            continue
        described = pos
        depth = 0
        while pos < size and (value[pos] != "," or depth):
            depth += {"(": 1, ")": -1}.get(value[pos], 0)
            pos += 1
        spans.append((start, end, described, pos))
    return spans


@dataclass(frozen=True)
class Candidate:
    url: str  # absolute
    density: float | None = None  # `2x` (and image-set's dppx/dpi)
    width: float | None = None  # `640w`
    member: int = 0  # which source element of the set it came from


_DESCRIPTOR = re.compile(r"^([0-9]*\.?[0-9]+(?:e[+-]?\d+)?)(x|w|dppx|dpi|dpcm)$", re.IGNORECASE)


def _descriptor(text: str) -> tuple[float | None, float | None]:
    density = width = None
    for word in text.split():
        match = _DESCRIPTOR.match(word.strip())
        if not match:
            continue
        number, unit = float(match.group(1)), match.group(2).lower()
        if unit == "w":
            width = number
        elif unit in ("x", "dppx"):
            density = number
        elif unit == "dpi":
            density = number / 96
        elif unit == "dpcm":
            density = number * 2.54 / 96
    return density, width


def parse_srcset(value: str, base: str, member: int = 0) -> list[Candidate]:
    out = []
    for us, ue, ds, de in srcset_spans(value):
        url = _absolute(value[us:ue], base)
        if url is not None:
            density, width = _descriptor(value[ds:de])
            out.append(Candidate(url, density, width, member))
    return out


def _absolute(url: str, base: str) -> str | None:
    text = url.strip(_WS)
    if not text or text.startswith(("data:", "blob:", "#", "javascript:")):
        return None
    try:
        joined = urljoin(base, text)
    except ValueError:
        return None
    return joined if joined.startswith(("http://", "https://")) else None


# ---------------------------------------------------------------------------------------
# image-set() in CSS
# ---------------------------------------------------------------------------------------
_IMAGE_SET = re.compile(r"(?:-webkit-)?image-set\(", re.IGNORECASE)
_CSS_URL = re.compile(r"""^url\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([^\s"')]*))\s*\)""", re.I)
_CSS_STRING = re.compile(r"""^(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")


def _balanced(text: str, pos: int) -> int:
    """Index of the `)` closing the parenthesis opened just before `pos` (len(text) if none)."""
    depth, quote = 1, ""
    while pos < len(text):
        ch = text[pos]
        if quote:
            if ch == "\\":
                pos += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return pos
        pos += 1
    return len(text)


def _split_top(text: str) -> list[str]:
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote and text[i - 1] != "\\":
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def css_image_sets(text: str, base: str) -> list[list[Candidate]]:
    """The candidates of every `image-set()` in a style sheet or style attribute."""
    sets: list[list[Candidate]] = []
    for match in _IMAGE_SET.finditer(text):
        end = _balanced(text, match.end())
        group = []
        for item in _split_top(text[match.end() : end]):
            item = item.strip()
            found = _CSS_URL.match(item) or _CSS_STRING.match(item)
            if not found:
                continue
            raw = next((g for g in found.groups() if g is not None), "")
            url = _absolute(raw.replace("\\", ""), base)
            if url is None:
                continue
            rest = re.sub(r"type\([^)]*\)", " ", item[found.end() :], flags=re.I)
            density, width = _descriptor(rest)
            group.append(Candidate(url, density if density is not None else 1.0, width))
        if len(group) > 1:
            sets.append(group)
    return sets


# ---------------------------------------------------------------------------------------
# Sets in HTML
# ---------------------------------------------------------------------------------------
class _SetCollector(HTMLParser):
    def __init__(self, base: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = base
        self.based = False
        self.sets: list[list[Candidate]] = []
        self.picture: list[Candidate] | None = None
        self.members = 0
        self.in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: (v or "") for k, v in attrs}
        if tag == "base" and not self.based and values.get("href"):
            self.based = True
            self.base = _absolute(values["href"], self.base) or self.base
        if "image-set(" in values.get("style", "").lower():
            self.sets.extend(css_image_sets(values["style"], self.base))
        if tag == "picture":
            self.picture, self.members = [], 0
        elif tag == "source" and self.picture is not None and values.get("srcset"):
            self.members += 1
            self.picture.extend(parse_srcset(values["srcset"], self.base, self.members))
        elif tag == "img":
            group = self._img(values, self.members + 1 if self.picture is not None else 0)
            if self.picture is not None:
                self.picture.extend(group)
            elif len(group) > 1:
                self.sets.append(group)
        elif tag == "link" and values.get("imagesrcset"):
            group = parse_srcset(values["imagesrcset"], self.base)
            if len(group) > 1:
                self.sets.append(group)
        elif tag == "style":
            self.in_style = True

    def _img(self, values: dict[str, str], member: int) -> list[Candidate]:
        group = parse_srcset(values.get("srcset", ""), self.base, member)
        src = _absolute(values.get("src", ""), self.base)
        if src is not None and not any(c.url == src for c in group):
            has_width = any(c.width is not None for c in group)
            has_1x = any((c.density or 1.0) == 1.0 and c.width is None for c in group)
            density = None if has_width or has_1x else 1.0
            group.append(Candidate(src, density, None, member))
        return group

    def handle_endtag(self, tag: str) -> None:
        if tag == "picture" and self.picture is not None:
            if len(self.picture) > 1:
                self.sets.append(self.picture)
            self.picture = None
        elif tag == "style":
            self.in_style = False

    def handle_data(self, data: str) -> None:
        if self.in_style and "image-set(" in data.lower():
            self.sets.extend(css_image_sets(data, self.base))


def html_sets(text: str, base: str) -> list[list[Candidate]]:
    """Every candidate set of an HTML document whose URL is `base`."""
    collector = _SetCollector(base)
    try:
        collector.feed(text)
        collector.close()
    except (AssertionError, ValueError):  # the parser gives up on some broken markup: keep what it had
        pass
    if collector.picture and len(collector.picture) > 1:
        collector.sets.append(collector.picture)
    return collector.sets


def _closeness(asked: Candidate, other: Candidate) -> tuple:
    if asked.width is not None and other.width is not None:
        gap = abs(other.width - asked.width) / max(asked.width, 1.0)
        size = other.width
    elif asked.width is None and other.width is None:
        a, o = asked.density or 1.0, other.density or 1.0
        gap, size = abs(o - a) / a, o
    else:
        gap, size = 1.0, other.width or other.density or 0.0
    return (other.member != asked.member, gap, -size)


def alternatives(sets: list[list[Candidate]], url: str) -> list[str]:
    """Other candidates of the sets holding `url`, the nearest first (see the docstring)."""
    key = canonical_key(url)
    out: list[str] = []
    for group in sets:
        asked = next((c for c in group if canonical_key(c.url) == key), None)
        if asked is None:
            continue
        others = sorted((c for c in group if canonical_key(c.url) != key), key=lambda c: _closeness(asked, c))
        out.extend(c.url for c in others if c.url not in out)
    return out
