"""Find the main article of a page: readability-lxml chooses; our code prepares the page and checks it.

readability-lxml (`readability.Document`) scores the page's paragraphs and returns the block it believes is
the article. Alone it loses parts of real articles: an intro that sits outside the block it chose, captions,
lists and sections its conditional clean-up drops, and on some pages it settles on a small fragment
(scripts/bench_extract.py measures this on the mozilla/readability test pages). It also keeps bylines,
author bios and "related" boxes that sit inside the chosen block. So this module wraps it:

1. `strip_clutter` removes, before the library sees the page, what is never article text whatever its
   score: scripts and form controls, hidden elements, navigation and other landmark regions outside the
   article, interactive widgets (by ARIA role), cookie/consent banners, comment threads, share bars.
2. Every element gets a numbered attribute. The library copies the tree, re-tags and wraps elements, but
   keeps their attributes, so the numbers in its answer name the elements of our tree it chose.
3. `_widen` climbs from the chosen block to ancestors while what they add is prose, then to the enclosing
   article root (<article>, itemprop=articleBody, <main>) when it holds a single article.
4. `_Recovery` walks what the library dropped inside that container and takes back what reads like the
   article: paragraphs, captions, list items with few links, headings over recovered text. Blocks before
   the first or after the last chosen block must also look like the chosen blocks (same tag and class),
   so that teasers, author boxes and calls to action around the article stay out. When the library chose
   a mere fragment of an article root, the whole root counts as the article.
5. The container is pruned to the chosen and recovered elements; boxes named as bylines, bios, ads or tag
   lists are dropped, and so is a heading that repeats the headline (the headline is a field of its own).

The rules are written for pages in general: nothing here knows a site. Entry point:
`find_article(root, headline)`; it changes `root` and returns a new <div> holding the article.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import lxml.html
from lxml import etree
from lxml.html import HtmlElement
from readability import Document
from readability.readability import Unparseable

__all__ = ["find_article", "inner_text", "is_caption", "strip_clutter", "tag_of", "word_count"]

_MARK = "data-warcache-n"  # our element numbers, carried through the library's copy of the tree


def _tags(names: str) -> frozenset[str]:
    """A set of names written as one space-separated string (easier to read than a long literal)."""
    return frozenset(names.split())


# Elements whose text is never part of an article: code, styling, form controls, menus, and embedded
# documents (an <iframe>'s text is only the fallback shown when frames are off).
_NEVER_TEXT = _tags(
    "script style noscript template link meta canvas button input select option textarea "
    "nav dialog menu iframe frame frameset object embed"
)
# ARIA roles that mark site furniture (landmarks other than the main content) or interactive controls.
_FURNITURE_ROLES = _tags(
    "navigation banner contentinfo search complementary dialog alertdialog menu menubar toolbar tablist "
    "tooltip button slider progressbar scrollbar switch checkbox"
)
_HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
# Class names that hide an element on every screen size, or show it to screen readers only (Bootstrap,
# WordPress, Tailwind and the like), compared as whole class names with "-" and "_" removed: a word inside
# a name does not hide ("overflow-hidden" clips an overflow, "hidden-xs" hides on small screens only).
_HIDING_CLASSES = _tags(
    "hidden ishidden uhidden hide invisible dnone visuallyhidden sronly screenreadertext screenreaderonly"
)
# Tailwind's "hidden md:block": hidden on small screens, shown from a breakpoint on.
_SHOWN_FROM_BREAKPOINT_RE = re.compile(r":(?:block|flex|grid|table|contents|inline(?:-block|-flex)?)$")
_WORD_RE = re.compile(r"[A-Za-z0-9]+")
_CAMEL_RE = re.compile(r"(?<=[a-z])(?=[A-Z])")
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_SPACES_RE = re.compile(r"\s+")
# An id longer than this many words is a slug made from a heading ("sharing-with-a-single-developer"),
# not a name for a part of the page.
_MAX_ID_WORDS = 3
_MIN_PREFIX = 5  # vocabulary words this long also match as the start of a compound ("relatedposts")
# Clutter rules never remove an element holding this share of the page's text or more: a wrapper whose
# class merely mentions a banner ("has-cookie-notice") is still the page.
_MAX_CLUTTER_SHARE = 0.3
_MAX_STRIP_SHARE = 0.5
_TEASER_LINK_SHARE = 0.6  # a paragraph this much link may be a pointer to another story
_MAX_LABEL_WORDS = 4  # ... when the rest is a label this short ("Read more:")
_MAX_CARD_CHARS = 400  # a nested <article> with a linked heading is a teaser card up to this size
_CARD_LINK_SHARE = 0.8
_MAX_WIDGET_CHARS = 1000  # the box around a form control is a widget up to this size

_NO_TEXT = _tags("script style noscript template")  # elements whose text is not on the page
_BLOCKS = _tags(
    "address article aside blockquote dd details div dl dt fieldset figcaption figure footer form "
    "h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section table tbody thead tfoot tr td th ul"
)
_HEADINGS = _tags("h1 h2 h3 h4 h5 h6")
_MEDIA = ("img", "picture", "video", "audio", "figure")
_CAPTIONS = _tags("figure figcaption caption")

# Recovery thresholds (measured on scripts/bench_extract.py; see the report of the change).
_MAX_LINK_SHARE = 0.35  # a block whose text is more links than this is navigation, not prose
_MAX_SENTENCE_LINK_SHARE = 0.8  # same, for a sentence between the article's paragraphs
_MAX_MIXED_LINK_SHARE = 0.5  # same, for a container of several blocks: beyond it, none is looked at
_MIN_WORDS = 4  # shorter lines are labels ("Share", "Advertisement", "Photo"), not prose
_RECOVERY_SHARE = 0.5  # one recovered block may add at most this share of the library's text
# A choice with less text than both of these is a fragment (a caption, a pull quote) of the article root.
_FRAGMENT_CHARS = 500
_FRAGMENT_SHARE = 0.25
_WIDEN_LEVELS = 3
_WIDEN_PROSE_SHARE = 0.6  # an ancestor is taken when this share of what it adds is prose
_WIDEN_MIN_PROSE = 200  # ... and that prose is at least this many characters
_WIDEN_NOISE = 50  # an ancestor adding no more than a "Read more" label is the same block
_TITLED_ROOT_SHARE = 0.5  # the article carrying the headline wins over a choice outside it with this share

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- small DOM helpers


def tag_of(el: object) -> str:
    """Lower-case tag name, or "" for comments and processing instructions."""
    tag = getattr(el, "tag", None)
    return tag.lower() if isinstance(tag, str) else ""


def inner_text(el: HtmlElement) -> str:
    """The element's text with whitespace runs collapsed."""
    return _SPACES_RE.sub(" ", el.text_content()).strip()


def _class_words(el: HtmlElement) -> set[str]:
    """The words of the class and id attributes: "relatedPosts sharedaddy" -> related, posts, sharedaddy.

    A short aria-label names a region as well ("newsletter promotion"); a long one is a sentence.
    """
    classes = (el.get("class") or "").split()
    words = _WORD_RE.findall(_CAMEL_RE.sub(" ", " ".join(classes)))
    # Each class name whole, too: "read-more" and "most_read" name one thing (readmore, mostread).
    words += ("".join(_WORD_RE.findall(c)) for c in classes)
    for name in ("id", "aria-label"):
        name_words = _WORD_RE.findall(_CAMEL_RE.sub(" ", el.get(name) or ""))
        if len(name_words) <= _MAX_ID_WORDS:
            words += name_words
    return {w.lower() for w in words}


class _Vocabulary:
    """Words to look for in class and id attributes.

    A class/id word matches a vocabulary word when equal to it or, for the longer vocabulary words, when
    it starts with it: compounds are common ("sharedaddy", "cookiebanner", "relatedposts"), but "ad" must
    not match "address".
    """

    def __init__(self, words: str) -> None:
        self.words = frozenset(words.split())
        self.stems = tuple(w for w in self.words if len(w) >= _MIN_PREFIX)

    def names(self, el: HtmlElement) -> bool:
        if not el.get("class") and not el.get("id") and not el.get("aria-label"):
            return False
        return any(w in self.words or w.startswith(self.stems) for w in _class_words(el))


# Words in class or id that name things which are never the article: consent banners and overlays,
# comment threads, breadcrumb trails, share and follow bars, newsletter sign-ups, "related stories" and
# "most popular" boxes, recommendation widgets. Not "subscriber" or "paywall": those name the article's
# own text on many sites (the part for subscribers).
_CLUTTER_WORDS = _Vocabulary(
    "cookie consent gdpr onetrust didomi usercentrics sourcepoint modal popup "
    "comments commentlist disqus breadcrumb share sharing social follow newsletter signup regwall "
    "related popular trending mostread recirculation outbrain taboola upnext readmore readnext alsoread"
)
# Words in the class of a <blockquote> that an embed script replaces with a frame (a social media post):
# until then it holds a fallback copy of the post, not text of the article; in the rendered page, a frame.
_EMBED_WORDS = _Vocabulary("twitter tweet instagram tiktok facebook bluesky mastodon")
# Words in class or id of boxes that sit inside an article but are not its text: the byline and the
# author's bio (the byline is a field of its own), advertising, promotions, tag lists. Dropped from the
# result whoever chose them, and never recovered.
_BOX_WORDS = _Vocabulary(
    "author byline bio promo teaser ad ads advert sponsored tags recommended "
    "meta date dateline timestamp published updated readtime credit credits copyright affiliate"
)
# Media widgets: their text is captions mixed with player and pager controls ("1 of 24", "Autoplay").
# The library drops them more often than not; recovery leaves them out.
_WIDGET_WORDS = _Vocabulary("gallery slideshow carousel slider swiper player jwplayer vjs")


# A class name with one of these words names a caption when the page does not use <figcaption>
# ("wp-caption-text", "media-caption"); one of the first words says it is something with or without one
# ("no_caption", "hasCaption").
_CAPTION_WORDS = _tags("caption captions")
_CAPTION_NEGATIONS = _tags("no has with without hide hidden")
_FIGURE_MEDIA = _tags("img picture video audio svg canvas iframe")
_FIGURE_CONTENT = _tags("blockquote pre table ol ul")
_MAX_CAPTION_WORDS = 30


def is_caption(el: HtmlElement) -> bool:
    """A caption: <figcaption>, a box named as a caption, or the text of a figure around a picture or a
    player (credits, "Photo:" lines, a player's title). A figure that holds a quotation, code, a table or
    a list is content."""
    tag = tag_of(el)
    if tag == "figcaption" or any(_names_caption(name) for name in (el.get("class") or "").split()):
        return True
    if tag not in ("figure", "div") or next(el.iter(*_FIGURE_MEDIA), None) is None:
        return False
    if next(el.iter(*_FIGURE_CONTENT, *_HEADINGS), None) is not None:
        return False
    if tag == "figure":
        return True
    # A <div> around a picture is a figure when all it says besides is a caption's worth of words, and
    # it has no <figure> of its own (then the figure holds the picture and the rest is text).
    own_figure = next(el.iter("figure", "figcaption"), None) is not None
    return not own_figure and word_count(inner_text(el)) <= _MAX_CAPTION_WORDS


def _names_caption(class_name: str) -> bool:
    words = [w.lower() for w in _WORD_RE.findall(_CAMEL_RE.sub(" ", class_name))]
    return bool(words) and words[0] not in _CAPTION_NEGATIONS and not _CAPTION_WORDS.isdisjoint(words)


def _is_article_root(el: HtmlElement) -> bool:
    """Markup that says "this is the article" (or the page's main content)."""
    return (
        tag_of(el) in ("article", "main")
        or "articleBody" in (el.get("itemprop") or "").split()
        or (el.get("role") or "").strip().lower() == "main"
    )


def _is_hidden(el: HtmlElement) -> bool:
    if el.get("hidden") is not None or (el.get("aria-hidden") or "").strip().lower() == "true":
        return True
    style = el.get("style")
    if style and _HIDDEN_STYLE_RE.search(style):
        return True
    classes = (el.get("class") or "").split()
    return any(_hides(c) for c in classes) and not any(_SHOWN_FROM_BREAKPOINT_RE.search(c) for c in classes)


def _hides(class_name: str) -> bool:
    return class_name.replace("-", "").replace("_", "").lower() in _HIDING_CLASSES


def _drop(elements: Iterable[HtmlElement]) -> None:
    """Remove elements with their subtree, keeping the text that follows each (it belongs to the parent)."""
    for el in elements:
        if el.getparent() is not None:
            el.drop_tree()


def word_count(text: str) -> int:
    """Word count; two CJK characters count as a word (those scripts have no spaces)."""
    return len(text.split()) + len(_CJK_RE.findall(text)) // 2


# ---------------------------------------------------------------- 1. clutter


def strip_clutter(body: HtmlElement) -> None:
    """Remove from the page what is never article text, whatever a scorer would think of it.

    Landmarks and clutter-named blocks are spared when they hold an article root or a large share of the
    page's text: then the markup is wrong about them, and removing them would remove the article.
    """
    sizes = _TextSizes(body)
    page_chars = max(sizes.chars(body), 1)
    doomed = _control_boxes(body, sizes, page_chars)
    walker = etree.iterwalk(body, events=("start",))
    for _, el in walker:
        tag = tag_of(el)
        if el is body:
            continue
        if not tag or tag in _NEVER_TEXT:
            doomed.append(el)
            walker.skip_subtree()
            continue
        large = sizes.chars(el) >= page_chars * _MAX_STRIP_SHARE
        if _is_hidden(el):
            # Hidden, unless it is marked "not yet shown" (the hidden attribute, which scripts switch)
            # and holds most of the page or of its article: a paywalled body that the page's scripts
            # reveal, a streamed segment (<div hidden id="S:1">) that a script moves into place. Or
            # unless only screen readers are told to skip it (aria-hidden) and it is a paragraph of
            # prose: that is on the screen (a paywalled paragraph), unlike the icons aria-hidden marks.
            if el.get("hidden") is not None and _holds_hidden_article(el, sizes, large):
                _unhide(el)  # the library drops hidden elements too
            elif _is_prose_hidden_from_screen_readers(el):
                continue
            else:
                doomed.append(el)
                walker.skip_subtree()
            continue
        furniture = (
            (el.get("role") or "").strip().lower() in _FURNITURE_ROLES
            or (el.get("aria-modal") or "").strip().lower() == "true"
            or tag == "aside"
            or tag in ("header", "footer")
            and not _inside_article_root(el)
            or _CLUTTER_WORDS.names(el)
            or tag == "blockquote"
            and _EMBED_WORDS.names(el)
        )
        if furniture and not large and not _holds_article_root(el):
            doomed.append(el)
            walker.skip_subtree()
    _drop(doomed)


def _control_boxes(body: HtmlElement, sizes: _TextSizes, page_chars: int) -> list[HtmlElement]:
    """The small boxes around form controls: a newsletter sign-up, a poll, the consent switch that stands
    in for an embedded video. Prose has no text fields or checkboxes; the box is the largest ancestor of
    the control that is still small, so the paragraphs around an inline sign-up form stay."""
    boxes = []
    for control in body.iter("input", "select", "textarea", "label"):
        if (control.get("type") or "").lower() == "hidden":
            continue
        box = _small_box(control, body, sizes)
        if box is not None and sizes.chars(box) < page_chars * _MAX_STRIP_SHARE:
            boxes.append(box)
    return boxes


def _is_prose_hidden_from_screen_readers(el: HtmlElement) -> bool:
    if tag_of(el) != "p" or (el.get("aria-hidden") or "").strip().lower() != "true":
        return False
    if el.get("hidden") is not None or _HIDDEN_STYLE_RE.search(el.get("style") or ""):
        return False
    if any(_hides(c) for c in (el.get("class") or "").split()):
        return False
    text = inner_text(el)
    return word_count(text) >= 2 * _MIN_WORDS and _is_sentence(text)


def _holds_hidden_article(el: HtmlElement, sizes: _TextSizes, large: bool) -> bool:
    if sizes.link_share(el) > _MAX_MIXED_LINK_SHARE:
        return False
    if large:
        return True
    root = next((a for a in el.iterancestors() if _is_article_root(a)), None)
    return root is not None and sizes.chars(el) >= sizes.chars(root) * _MAX_STRIP_SHARE


def _unhide(el: HtmlElement) -> None:
    for name in ("hidden", "aria-hidden", "style"):
        el.attrib.pop(name, None)
    el.set("class", " ".join(c for c in (el.get("class") or "").split() if not _hides(c)))


def _inside_article_root(el: HtmlElement) -> bool:
    return any(_is_article_root(a) for a in el.iterancestors())


def _holds_article_root(el: HtmlElement) -> bool:
    return any(_is_article_root(d) for d in el.iter())


# ---------------------------------------------------------------- text measurements


class _TextSizes:
    """Characters of text and of link text per element, and whether it holds blocks, in one walk.

    Counting with text_content() at every node of every decision would be quadratic in the page's depth.
    In-page links (href="#...") do not count as links: headings that link to themselves and footnote
    markers are still text.
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
                    # Script and style text is no reader's text (nor is a comment's); the walk still
                    # ends the element, with its tail.
                    walker.skip_subtree()
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
            parent[2] += blocks + (tag_of(el) in _BLOCKS)

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
        return [d for d in el.iterdescendants() if tag_of(d) in _BLOCKS and d not in self._blocky]


def _text_chars(text: str | None) -> int:
    return len(" ".join(text.split())) if text else 0


# ---------------------------------------------------------------- 2. the library's choice


def _number(body: HtmlElement) -> list[HtmlElement]:
    """Number the elements in document order; returns them, so that a number is an index."""
    elements = [el for el in body.iter() if isinstance(el.tag, str)]
    for n, el in enumerate(elements):
        el.set(_MARK, str(n))
    return elements


def _library_choice(root: HtmlElement) -> tuple[set[int], int]:
    """Numbers of the elements readability-lxml kept, and the length of its text."""
    try:
        summary = Document(root).summary(html_partial=True)
    except Unparseable as exc:
        log.debug("readability-lxml gave up: %s", exc)
        return set(), 0
    if not summary.strip():
        return set(), 0
    chosen = lxml.html.fragment_fromstring(summary, create_parent="div")
    numbers = {int(n) for n in chosen.xpath(f"//@{_MARK}") if n.isdigit()}
    return numbers, len(inner_text(chosen))


def _common_ancestor(elements: list[HtmlElement]) -> HtmlElement:
    paths = [[*reversed(list(el.iterancestors())), el] for el in elements]
    common = paths[0][0]
    for level in zip(*paths, strict=False):
        if any(node is not level[0] for node in level):
            break
        common = level[0]
    return common


# ---------------------------------------------------------------- 3. widening


def _widen(anchor: HtmlElement, body: HtmlElement, sizes: _TextSizes) -> HtmlElement:
    """Climb to ancestors that add prose (an intro outside the chosen block), then to the article root."""
    container = anchor
    for _ in range(_WIDEN_LEVELS):
        parent = container.getparent()
        if parent is None or container is body:
            break
        if not _adds_prose(parent, container, sizes):
            break
        container = parent
    for el in [container, *container.iterancestors()]:
        if _is_article_root(el):
            if sum(1 for _ in el.iter("article")) <= 1:
                return el
            break
    return container


def _adds_prose(parent: HtmlElement, child: HtmlElement, sizes: _TextSizes) -> bool:
    added = sizes.chars(parent) - sizes.chars(child)
    if added <= _WIDEN_NOISE:
        return True
    prose = 0
    for sibling in parent:
        if sibling is child or not isinstance(sibling.tag, str):
            continue
        prose += sum(sizes.chars(b) for b in sizes.leaf_blocks(sibling) if _is_prose(b, sizes))
    return prose >= _WIDEN_MIN_PROSE and prose >= added * _WIDEN_PROSE_SHARE


def _is_prose(block: HtmlElement, sizes: _TextSizes) -> bool:
    if sizes.link_share(block) > _MAX_LINK_SHARE:
        return False
    text = inner_text(block)
    return word_count(text) >= 2 * _MIN_WORDS and bool(re.search(r"[.!?。！？]", text))


# ---------------------------------------------------------------- 4. recovery


@dataclass
class _Recovery:
    """Decides, for what the library dropped inside the container, what to take back."""

    sizes: _TextSizes
    keep: set[int]
    budget: float  # most characters one recovered subtree may bring
    in_article: bool = False  # the container is what the markup calls the article
    trusted: bool = False  # ... and the library chose a mere fragment of it: all of it is the article
    shapes: set[tuple[str, str]] = field(default_factory=set)
    headings: list[HtmlElement] = field(default_factory=list)  # decided once the text after them is

    def consider(self, el: HtmlElement, inside: bool) -> bool:
        """Take back what reads like the article in `el`'s subtree; True when anything was taken."""
        tag = tag_of(el)
        if (not inside and tag in ("header", "h1")) or _BOX_WORDS.names(el) or _WIDGET_WORDS.names(el):
            return False
        chars = self.sizes.chars(el)
        if chars == 0:
            if tag in _MEDIA or next(el.iter(*_MEDIA), None) is not None:
                self._take(el)  # pictures: no text, but part of the reading copy
            return False
        if chars > self.budget and not ((inside or self.in_article) and self.sizes.holds_blocks(el)):
            # Too much at once. Between the library's blocks, or within what the markup calls the article,
            # each block inside is judged on its own (live-blog entries, long runs of sections).
            return False
        if not self.sizes.holds_blocks(el):
            if not (inside or _shape(el) in self.shapes) or self.sizes.link_share(el) > self._link_limit(
                el, inside
            ):
                return False
            if tag in _HEADINGS:
                if tag != "h1":
                    self.headings.append(el)
                return False
            if self._reads_like_article(el, inside):
                self._take(el)
                return True
            return False
        if (
            not self.trusted
            and self.sizes.link_share(el) > _MAX_MIXED_LINK_SHARE
            and len(self.sizes.leaf_blocks(el)) > 1
        ):
            return False  # a list of links (a wrapper around one block is judged by that block)
        taken = False
        for child in el:
            if isinstance(child.tag, str) and self.consider(child, inside):
                taken = True
        return taken

    def settle_headings(self, container: HtmlElement) -> None:
        """A heading comes back when the text that follows it is in the article: a title over a list of
        teasers, or over a box the library dropped, stays out."""
        for heading in self.headings:
            following = _next_with_text(heading, container, self.sizes)
            if following is not None and any(_number_of(d) in self.keep for d in following.iter()):
                self._take(heading)

    def _link_limit(self, el: HtmlElement, inside: bool) -> float:
        """Most link text a block may have. A sentence between the article's paragraphs may link most of
        its words ("It also <a>co-ordinates military plans</a>.") and still be the article's."""
        if self.trusted and tag_of(el) in ("li", "dd", "dt", "td"):
            return 1.0  # the article's own lists of links (contributors, references)
        if (inside or self.in_article) and tag_of(el) == "p" and _is_sentence(inner_text(el)):
            return _MAX_SENTENCE_LINK_SHARE
        return _MAX_LINK_SHARE

    def _reads_like_article(self, el: HtmlElement, inside: bool) -> bool:
        if inside and any(tag_of(a) in _CAPTIONS for a in (el, *el.iterancestors())):
            return True
        return word_count(inner_text(el)) >= _MIN_WORDS

    def _take(self, el: HtmlElement) -> None:
        self.keep.update(_number_of(d) for d in el.iter() if isinstance(d.tag, str))


def _is_sentence(text: str) -> bool:
    """Words that end like a sentence."""
    return word_count(text) >= _MIN_WORDS and text.rstrip("\"'”’»)").endswith(_SENTENCE_ENDS)


_SENTENCE_ENDS = (".", "!", "?", "。", "！", "？")


def _next_with_text(el: HtmlElement, container: HtmlElement, sizes: _TextSizes) -> HtmlElement | None:
    """The first element after `el`'s subtree, in document order, that has text (within `container`)."""
    node: HtmlElement | None = el
    while node is not None and node is not container:
        for sibling in node.itersiblings():
            if isinstance(sibling.tag, str) and sizes.chars(sibling):
                return sibling
        node = node.getparent()
    return None


def _shape(el: HtmlElement) -> tuple[str, str]:
    return tag_of(el), " ".join((el.get("class") or "").split())


def _number_of(el: HtmlElement) -> int:
    return int(el.get(_MARK, "-1"))


# ---------------------------------------------------------------- 5. assembling


def find_article(root: HtmlElement, headline: str) -> HtmlElement:
    """The article of the page as a new <div>. Changes `root` (clutter removed, the article moved out)."""
    body = root.find("body")
    if body is None:
        return root.makeelement("div", {})
    strip_clutter(body)
    elements = _number(body)
    chosen, chosen_chars = _library_choice(root)
    chosen_elements = [elements[n] for n in sorted(chosen) if 0 <= n < len(elements)]
    if not chosen_elements:
        return _wrap(body)
    sizes = _TextSizes(body)
    anchor = _common_ancestor(chosen_elements)
    container = _widen(anchor, body, sizes)
    article = _misplaced_choice(body, anchor, headline, sizes, chosen_chars)
    if article is not None:
        # The library chose something beside the article the markup names (a consent dialog, a teaser
        # list, the next article of an endless page): start again from that article's prose.
        chosen_elements = [b for b in sizes.leaf_blocks(article) if _is_prose(b, sizes)]
        chosen = {_number_of(d) for b in chosen_elements for d in b.iter() if isinstance(d.tag, str)}
        chosen_chars = sum(sizes.chars(b) for b in chosen_elements)
        container = article
    _drop_promotions(container, sizes, chosen_chars)
    keep = set(chosen)
    _close_upwards(container, keep)
    _recover(container, chosen_elements, keep, sizes, chosen_chars)
    _close_upwards(container, keep)
    _prune(container, keep)
    _post_clean(container)
    _drop_last_headings(container)
    _drop_headline(container, headline)
    return _wrap(container)


def _misplaced_choice(
    body: HtmlElement, anchor: HtmlElement, headline: str, sizes: _TextSizes, chosen_chars: int
) -> HtmlElement | None:
    """The article root the library should have chosen from, when its choice lies outside it.

    That root is the <article> (or itemprop=articleBody) whose heading is the headline, else the page's
    only one. It wins when it holds more prose than the library chose, or, when it carries the headline,
    a good share of that.
    """
    roots = [el for el in body.iter() if isinstance(el.tag, str) and _is_named_article(el)]
    if not roots:
        return None
    wanted = _comparable(headline)
    titled = [
        r for r in roots if wanted and any(_comparable(inner_text(h)) == wanted for h in r.iter("h1", "h2"))
    ]
    outermost = [r for r in roots if not any(_is_named_article(a) for a in r.iterancestors())]
    if titled:
        target, needed = titled[-1], chosen_chars * _TITLED_ROOT_SHARE
    elif len(outermost) == 1:
        target, needed = outermost[0], chosen_chars
    else:
        return None
    if anchor is target or any(a is target for a in anchor.iterancestors()):
        return None
    prose = sum(sizes.chars(b) for b in sizes.leaf_blocks(target) if _is_prose(b, sizes))
    return target if prose > max(needed, _WIDEN_MIN_PROSE) else None


def _is_named_article(el: HtmlElement) -> bool:
    return tag_of(el) == "article" or "articleBody" in (el.get("itemprop") or "").split()


def _recover(
    container: HtmlElement, chosen: list[HtmlElement], keep: set[int], sizes: _TextSizes, chosen_chars: int
) -> None:
    with_text = [_number_of(el) for el in chosen if _has_own_text(el)]
    if not with_text:
        return
    first, last = min(with_text), max(with_text)
    budget = max(chosen_chars, 1) * _RECOVERY_SHARE
    fragment = min(_FRAGMENT_CHARS, sizes.chars(container) * _FRAGMENT_SHARE)
    if _is_article_root(container) and chosen_chars < fragment:
        # The library settled on a fragment of what the markup calls the article: trust the markup.
        first, last, budget = -1, len(sizes), sizes.chars(container)
        trusted = True
    else:
        trusted = False
    dropped = _dropped_roots(container, keep)
    in_article = _is_article_root(container) and tag_of(container) != "main"
    recovery = _Recovery(sizes, keep, budget, in_article, trusted)
    for el in dropped:
        if first < _number_of(el) < last:
            recovery.consider(el, inside=True)
    recovery.shapes = {_shape(el) for el in container.iter() if _number_of(el) in keep}
    for el in dropped:
        if not first < _number_of(el) < last:
            recovery.consider(el, inside=False)
    recovery.settle_headings(container)


def _close_upwards(container: HtmlElement, keep: set[int]) -> None:
    """Keep the ancestors (below the container) of everything kept, or pruning would cut it off."""
    for el in container.iter():
        if _number_of(el) not in keep:
            continue
        for ancestor in el.iterancestors():
            n = _number_of(ancestor)
            if ancestor is container or n in keep:
                break
            keep.add(n)


def _has_own_text(el: HtmlElement) -> bool:
    return bool((el.text or "").strip()) or any((c.tail or "").strip() for c in el)


def _dropped_roots(container: HtmlElement, keep: set[int]) -> list[HtmlElement]:
    """The largest subtrees of the container that hold nothing kept."""
    out = []
    for el in container.iterdescendants():
        if not isinstance(el.tag, str) or _number_of(el) in keep:
            continue
        parent = el.getparent()
        if parent is container or _number_of(parent) in keep:
            out.append(el)
    return out


def _prune(container: HtmlElement, keep: set[int]) -> None:
    _drop(_dropped_roots(container, keep))


def _post_clean(container: HtmlElement) -> None:
    """Drop the boxes that the library kept but that are not the article's text (bylines, bios, ads,
    players)."""
    sizes = _TextSizes(container)
    most = max(sizes.chars(container), 1) * _MAX_CLUTTER_SHARE
    doomed = [
        el
        for el in container.iterdescendants()
        if isinstance(el.tag, str)
        and (_BOX_WORDS.names(el) or _WIDGET_WORDS.names(el) or _is_teaser(el, sizes))
        and sizes.chars(el) < most
    ]
    _drop(doomed)


def _is_card(el: HtmlElement, sizes: _TextSizes) -> bool:
    """An <article> inside the article that is a teaser card: a linked headline over a line or two
    (HTML nests articles for related content; a live blog's posts are longer and their headings are
    not links)."""
    if tag_of(el) != "article" or sizes.chars(el) > _MAX_CARD_CHARS:
        return False
    heading = next(el.iter(*_HEADINGS), None)
    if heading is None or not sizes.chars(heading):
        return False
    return sizes.link_share(heading) >= _CARD_LINK_SHARE


def _is_teaser(el: HtmlElement, sizes: _TextSizes) -> bool:
    """A paragraph that points to another story: a link after a short label and a colon ("MORE: ...",
    "Read more: ...", "Lesen Sie auch: ..."), or a link set in capitals as a headline."""
    if tag_of(el) != "p" or sizes.link_share(el) < _TEASER_LINK_SHARE:
        return False
    link = "".join(a.text_content() for a in el.iter("a"))
    label = inner_text(el).replace(" ".join(link.split()), "", 1).strip()
    if label.endswith(":") and len(label.split()) <= _MAX_LABEL_WORDS:
        return True
    letters = [c for c in link if c.isalpha()]
    return len(letters) >= _MIN_WORDS * 4 and sum(c.isupper() for c in letters) >= len(letters) * 0.9


def _drop_promotions(container: HtmlElement, sizes: _TextSizes, chosen_chars: int) -> None:
    """Remove the small boxes around links drawn as buttons ("Subscribe now", "Test it for two weeks",
    "Join our programme") and teaser cards (a linked headline over a line). Done before recovery, which
    would take back their paragraphs but not the button or link that tells what they are."""
    most = max(chosen_chars, 1) * _MAX_CLUTTER_SHARE
    doomed = []
    for el in container.iterdescendants():
        if _is_button_link(el):
            box = _small_box(el, container, sizes)
            if box is not None and sizes.chars(box) < most:
                doomed.append(box)
        elif _is_card(el, sizes) and sizes.chars(el) < most:
            doomed.append(el)
    _drop(doomed)


_BUTTON_WORDS = _Vocabulary("btn button cta")


def _is_button_link(el: HtmlElement) -> bool:
    """A link drawn as a button ("Subscribe now", "Jetzt bestellen"), or a button-named box around one."""
    if not isinstance(el.tag, str) or not _BUTTON_WORDS.names(el):
        return False
    return tag_of(el) == "a" or next(el.iter("a"), None) is not None


def _small_box(el: HtmlElement, top: HtmlElement, sizes: _TextSizes) -> HtmlElement | None:
    """The largest ancestor-or-self of `el` below `top` that is still a small box (not an article root)."""
    box = None
    for candidate in [el, *el.iterancestors()]:
        if candidate is top or _is_article_root(candidate) or sizes.chars(candidate) > _MAX_WIDGET_CHARS:
            break
        box = candidate
    return box


def _drop_last_headings(container: HtmlElement) -> None:
    """A heading with no text after it titled something that is no longer there ("More on this story")."""
    sizes = _TextSizes(container)
    for heading in reversed(list(container.iter(*_HEADINGS))):
        if _next_with_text(heading, container, sizes) is not None:
            return
        heading.drop_tree()


def _drop_headline(container: HtmlElement, headline: str) -> None:
    """The headline is shown on its own; a heading repeating it in the body would show it twice."""
    wanted = _comparable(headline)
    if not wanted:
        return
    for heading in container.iter(*_HEADINGS):
        if _comparable(inner_text(heading)) == wanted:
            heading.drop_tree()
            return


def _comparable(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def _wrap(container: HtmlElement) -> HtmlElement:
    """Move the container's content into a new <div>, without our numbers."""
    article = container.makeelement("div", {})
    article.text = container.text
    for child in list(container):
        article.append(child)
    for el in article.iter():
        if isinstance(el.tag, str) and _MARK in el.attrib:
            del el.attrib[_MARK]
    return article
