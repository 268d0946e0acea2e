"""Find the main article of a page: readability-lxml chooses; our code prepares the page and checks it.

readability-lxml (`readability.Document`) scores the page's paragraphs and returns the block it believes is
the article. Alone it loses parts of real articles: an intro that sits outside the block it chose, captions,
lists and sections its conditional clean-up drops, and on some pages it settles on a small fragment, a
teaser list or a consent dialog (scripts/bench_extract.py measures this on two corpora). It also keeps
bylines, author bios, "related" boxes and calls to action that sit inside the chosen block. So this module
wraps it:

1. `strip_clutter` (`warcache.extract.clutter`) removes, before the library sees the page, what is never
   article text whatever its score.
2. Every element gets a numbered attribute. The library copies the tree, re-tags and wraps elements, but
   keeps their attributes, so the numbers in its answer name the elements of our tree it chose.
3. `_widen` climbs from the chosen block to ancestors while what they add is prose, then to the enclosing
   article root (<article>, itemprop=articleBody, <main>) when it holds a single article. When the choice
   lies outside the article the markup names (the <article> carrying the headline, or the page's only
   one) and that article has enough prose, the library chose a teaser list, a gate or the next article of
   an endless page: that article is the container (`_misplaced_choice`).
4. Calls to action and teaser cards in the container are removed (`drop_promotions`); then `_Recovery`
   walks what the library dropped inside the container and takes back what reads like the article:
   paragraphs (a sentence may be mostly a link), captions, list items with few links, headings over
   recovered text. Blocks before the first or after the last chosen block must also look like the chosen
   blocks (same tag and class), so that teasers, author boxes and calls to action around the article stay
   out. When the library chose a mere fragment of an article root, the whole root counts as the article.
5. The container is pruned to the chosen and recovered elements; `post_clean` drops the boxes named as
   bylines, bios, ads or players and "read more" paragraphs, and so go headings left with nothing after
   them and a heading that repeats the headline (the headline is a field of its own).

The rules are written for pages in general: nothing here knows a site. Entry point:
`find_article(root, headline)`; it changes `root` and returns a new <div> holding the article.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import lxml.html
from lxml.html import HtmlElement
from readability import Document
from readability.readability import Unparseable

from warcache.extract.clutter import BOX_WORDS, WIDGET_WORDS, drop_promotions, post_clean, strip_clutter
from warcache.extract.dom import (
    HEADINGS,
    MIN_WORDS,
    TextSizes,
    drop,
    inner_text,
    is_article_root,
    is_sentence,
    tag_of,
    tags,
    word_count,
)

__all__ = ["find_article"]

_MARK = "data-warcache-n"  # our element numbers, carried through the library's copy of the tree
_MEDIA = ("img", "picture", "video", "audio", "figure")
_CAPTIONS = tags("figure figcaption caption")

# Recovery thresholds (measured with scripts/bench_extract.py on both of its corpora).
_MAX_LINK_SHARE = 0.35  # a block whose text is more links than this is navigation, not prose
_MAX_SENTENCE_LINK_SHARE = 0.8  # same, for a sentence between the article's paragraphs
_MAX_MIXED_LINK_SHARE = 0.5  # same, for a container of several blocks: beyond it, none is looked at
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


def _widen(anchor: HtmlElement, body: HtmlElement, sizes: TextSizes) -> HtmlElement:
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
        if is_article_root(el):
            if sum(1 for _ in el.iter("article")) <= 1:
                return el
            break
    return container


def _adds_prose(parent: HtmlElement, child: HtmlElement, sizes: TextSizes) -> bool:
    added = sizes.chars(parent) - sizes.chars(child)
    if added <= _WIDEN_NOISE:
        return True
    prose = 0
    for sibling in parent:
        if sibling is child or not isinstance(sibling.tag, str):
            continue
        prose += sum(sizes.chars(b) for b in sizes.leaf_blocks(sibling) if _is_prose(b, sizes))
    return prose >= _WIDEN_MIN_PROSE and prose >= added * _WIDEN_PROSE_SHARE


def _is_prose(block: HtmlElement, sizes: TextSizes) -> bool:
    if sizes.link_share(block) > _MAX_LINK_SHARE:
        return False
    text = inner_text(block)
    return word_count(text) >= 2 * MIN_WORDS and bool(re.search(r"[.!?。！？]", text))


# ---------------------------------------------------------------- 4. recovery


@dataclass
class _Recovery:
    """Decides, for what the library dropped inside the container, what to take back."""

    sizes: TextSizes
    keep: set[int]
    budget: float  # most characters one recovered subtree may bring
    in_article: bool = False  # the container is what the markup calls the article
    trusted: bool = False  # ... and the library chose a mere fragment of it: all of it is the article
    shapes: set[tuple[str, str]] = field(default_factory=set)
    headings: list[HtmlElement] = field(default_factory=list)  # decided once the text after them is

    def consider(self, el: HtmlElement, inside: bool) -> bool:
        """Take back what reads like the article in `el`'s subtree; True when anything was taken."""
        tag = tag_of(el)
        if (not inside and tag in ("header", "h1")) or BOX_WORDS.names(el) or WIDGET_WORDS.names(el):
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
            if tag in HEADINGS:
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
        if (inside or self.in_article) and tag_of(el) == "p" and is_sentence(inner_text(el)):
            return _MAX_SENTENCE_LINK_SHARE
        return _MAX_LINK_SHARE

    def _reads_like_article(self, el: HtmlElement, inside: bool) -> bool:
        if inside and any(tag_of(a) in _CAPTIONS for a in (el, *el.iterancestors())):
            return True
        return word_count(inner_text(el)) >= MIN_WORDS

    def _take(self, el: HtmlElement) -> None:
        self.keep.update(_number_of(d) for d in el.iter() if isinstance(d.tag, str))


def _next_with_text(el: HtmlElement, container: HtmlElement, sizes: TextSizes) -> HtmlElement | None:
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
    sizes = TextSizes(body)
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
    drop_promotions(container, sizes, chosen_chars)
    keep = set(chosen)
    _close_upwards(container, keep)
    _recover(container, chosen_elements, keep, sizes, chosen_chars)
    _close_upwards(container, keep)
    _prune(container, keep)
    post_clean(container)
    _drop_last_headings(container)
    _drop_headline(container, headline)
    return _wrap(container)


def _misplaced_choice(
    body: HtmlElement, anchor: HtmlElement, headline: str, sizes: TextSizes, chosen_chars: int
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
    container: HtmlElement, chosen: list[HtmlElement], keep: set[int], sizes: TextSizes, chosen_chars: int
) -> None:
    with_text = [_number_of(el) for el in chosen if _has_own_text(el)]
    if not with_text:
        return
    first, last = min(with_text), max(with_text)
    budget = max(chosen_chars, 1) * _RECOVERY_SHARE
    fragment = min(_FRAGMENT_CHARS, sizes.chars(container) * _FRAGMENT_SHARE)
    if is_article_root(container) and chosen_chars < fragment:
        # The library settled on a fragment of what the markup calls the article: trust the markup.
        first, last, budget = -1, len(sizes), sizes.chars(container)
        trusted = True
    else:
        trusted = False
    dropped = _dropped_roots(container, keep)
    in_article = is_article_root(container) and tag_of(container) != "main"
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
    drop(_dropped_roots(container, keep))


def _drop_last_headings(container: HtmlElement) -> None:
    """A heading with no text after it titled something that is no longer there ("More on this story")."""
    for heading in reversed(list(container.iter(*HEADINGS))):
        if _text_follows(heading, container):
            return
        heading.drop_tree()


def _text_follows(el: HtmlElement, container: HtmlElement) -> bool:
    """Whether any text comes after `el`'s subtree, in document order, within `container`."""
    node: HtmlElement | None = el
    while node is not None and node is not container:
        if (node.tail or "").strip():
            return True
        if any(isinstance(s.tag, str) and s.text_content().strip() for s in node.itersiblings()):
            return True
        node = node.getparent()
    return False


def _drop_headline(container: HtmlElement, headline: str) -> None:
    """The headline is shown on its own; a heading repeating it in the body would show it twice."""
    wanted = _comparable(headline)
    if not wanted:
        return
    for heading in container.iter(*HEADINGS):
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
