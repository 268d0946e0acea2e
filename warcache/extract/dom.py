"""Small DOM helpers shared by the article finder (`content`) and its clutter rules (`clutter`).

Tag names, an element's text, words counted across scripts, the words a page uses to name a box (its
class, id and aria-label), the markup that says "this is the article", and `TextSizes`, which measures the
text and link text under every element in one walk.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lxml import etree
from lxml.html import HtmlElement

__all__ = [
    "BLOCKS",
    "HEADINGS",
    "MIN_WORDS",
    "TextSizes",
    "Vocabulary",
    "class_name_words",
    "class_words",
    "drop",
    "inner_text",
    "is_article_root",
    "is_sentence",
    "tag_of",
    "tags",
    "word_count",
]


def tags(names: str) -> frozenset[str]:
    """A set of names written as one space-separated string (easier to read than a long literal)."""
    return frozenset(names.split())


_WORD_RE = re.compile(r"[A-Za-z0-9]+")
_CAMEL_RE = re.compile(r"(?<=[a-z])(?=[A-Z])")
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_SPACES_RE = re.compile(r"\s+")
# An id longer than this many words is a slug made from a heading ("sharing-with-a-single-developer"),
# not a name for a part of the page.
_MAX_ID_WORDS = 3
_MIN_PREFIX = 5  # vocabulary words this long also match as the start of a compound ("relatedposts")
_NO_TEXT = tags("script style noscript template")  # elements whose text is not on the page
_SENTENCE_ENDS = (".", "!", "?", "。", "！", "？")

BLOCKS = tags(
    "address article aside blockquote dd details div dl dt fieldset figcaption figure footer form "
    "h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section table tbody thead tfoot tr td th ul"
)
HEADINGS = tags("h1 h2 h3 h4 h5 h6")
MIN_WORDS = 4  # shorter lines are labels ("Share", "Advertisement", "Photo"), not prose


def tag_of(el: object) -> str:
    """Lower-case tag name, or "" for comments and processing instructions."""
    tag = getattr(el, "tag", None)
    return tag.lower() if isinstance(tag, str) else ""


def inner_text(el: HtmlElement) -> str:
    """The element's text with whitespace runs collapsed."""
    return _SPACES_RE.sub(" ", el.text_content()).strip()


def word_count(text: str) -> int:
    """Word count; two CJK characters count as a word (those scripts have no spaces)."""
    return len(text.split()) + len(_CJK_RE.findall(text)) // 2


def is_sentence(text: str) -> bool:
    """Words that end like a sentence."""
    return word_count(text) >= MIN_WORDS and text.rstrip("\"'”’»)").endswith(_SENTENCE_ENDS)


def class_name_words(name: str) -> list[str]:
    """The words of a class name, lower-case: "wp-caption-text" -> wp, caption, text; "hasCaption" too."""
    return [w.lower() for w in _WORD_RE.findall(_CAMEL_RE.sub(" ", name))]


def class_words(el: HtmlElement) -> set[str]:
    """The words of the class and id attributes: "relatedPosts sharedaddy" -> related, posts, sharedaddy.

    A short aria-label names a region as well ("newsletter promotion"); a long one is a sentence.
    """
    if not el.get("class") and not el.get("id") and not el.get("aria-label"):
        return set()
    classes = (el.get("class") or "").split()
    words = class_name_words(" ".join(classes))
    # Each class name whole, too: "read-more" and "most_read" name one thing (readmore, mostread).
    words += ("".join(_WORD_RE.findall(c)).lower() for c in classes)
    for name in ("id", "aria-label"):
        name_words = class_name_words(el.get(name) or "")
        if len(name_words) <= _MAX_ID_WORDS:
            words += name_words
    return set(words)


class Vocabulary:
    """Words to look for in class and id attributes.

    A class/id word matches a vocabulary word when equal to it or, for the longer vocabulary words, when
    it starts with it: compounds are common ("sharedaddy", "cookiebanner", "relatedposts"), but "ad" must
    not match "address".
    """

    def __init__(self, words: str) -> None:
        self.words = frozenset(words.split())
        self.stems = tuple(w for w in self.words if len(w) >= _MIN_PREFIX)

    def names(self, el: HtmlElement) -> bool:
        return self.matches(class_words(el))

    def matches(self, words: set[str]) -> bool:
        """Whether one of an element's `class_words` is in the vocabulary (to look words up once)."""
        return any(w in self.words or w.startswith(self.stems) for w in words)


def is_article_root(el: HtmlElement) -> bool:
    """Markup that says "this is the article" (or the page's main content)."""
    return (
        tag_of(el) in ("article", "main")
        or "articleBody" in (el.get("itemprop") or "").split()
        or (el.get("role") or "").strip().lower() == "main"
    )


def drop(elements: Iterable[HtmlElement]) -> None:
    """Remove elements with their subtree, keeping the text that follows each (it belongs to the parent)."""
    for el in elements:
        if el.getparent() is not None:
            el.drop_tree()


class TextSizes:
    """Characters of text and of link text per element, and whether it holds blocks, in one walk.

    Counting with text_content() at every node of every decision would be quadratic in the page's depth.
    In-page links (href="#...") do not count as links: headings that link to themselves and footnote
    markers are still text. Script and style text is no reader's text and is not counted.
    """

    def __init__(self, root: HtmlElement) -> None:
        self._chars: dict[HtmlElement, int] = {}
        self._links: dict[HtmlElement, int] = {}
        self._blocky: set[HtmlElement] = set()  # elements with a block element below them
        stack: list[list[int]] = [[0, 0, 0]]
        walker = etree.iterwalk(root, events=("start", "end"))
        for event, el in walker:
            if event == "start":
                if el is not root and tag_of(el) in _NO_TEXT:
                    walker.skip_subtree()  # the walk still ends the element, with its tail
                    stack.append([0, 0, 0])
                    continue
                stack.append([_text_chars(el.text), 0, 0])
                continue
            chars, links, blocks = stack.pop()
            if tag_of(el) == "a" and not (el.get("href") or "").startswith("#"):
                links = chars
            self._chars[el] = chars
            self._links[el] = links
            if blocks:
                self._blocky.add(el)
            parent = stack[-1]
            parent[0] += chars + (_text_chars(el.tail) if el is not root else 0)
            parent[1] += links
            parent[2] += blocks + (tag_of(el) in BLOCKS)

    def __len__(self) -> int:
        return len(self._chars)

    def chars(self, el: HtmlElement) -> int:
        return self._chars.get(el, 0)

    def link_share(self, el: HtmlElement) -> float:
        chars = self._chars.get(el, 0)
        return self._links.get(el, 0) / chars if chars else 0.0

    def holds_blocks(self, el: HtmlElement) -> bool:
        return el in self._blocky

    def leaf_blocks(self, el: HtmlElement) -> list[HtmlElement]:
        """The innermost block elements under `el` (or `el` itself when it holds no block)."""
        if el not in self._blocky:
            return [el]
        return [d for d in el.iterdescendants() if tag_of(d) in BLOCKS and d not in self._blocky]


def _text_chars(text: str | None) -> int:
    return len(" ".join(text.split())) if text else 0
