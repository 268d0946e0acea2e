"""What is never the article: the clutter rules of article extraction, apart from the choice itself.

`strip_clutter` runs before readability-lxml sees the page and removes what is never article text,
whatever a scorer would think of it: scripts and form controls, hidden elements (by attribute, inline style
or class name), navigation and other landmarks outside the article, <aside>s, interactive widgets (by ARIA
role), overlays, the small boxes around form controls (sign-up forms, polls, consent switches for embeds),
the fallback copies of embedded social posts, and boxes whose class, id or aria-label names them as
consent banners, comments, share and follow bars, newsletter sign-ups or related and recommended lists.
Elements that hold an article root or half of the page are spared: the markup is wrong about them then.

Once the article's container is known, `drop_promotions` removes calls to action (the small box around a
link drawn as a button) and teaser cards, and `post_clean` drops from the result the boxes named as
bylines, bios, dates, credits, ads, galleries and players, and "read more" paragraphs. `is_caption`
says which text is a caption: the caption stays in the article's HTML and out of its body text.

Every rule is about pages in general (structure, roles, the words sites use to name boxes), never a site.
"""

from __future__ import annotations

import re

from lxml import etree
from lxml.html import HtmlElement

from warcache.extract.dom import (
    HEADINGS,
    MIN_WORDS,
    TextSizes,
    Vocabulary,
    class_name_words,
    class_words,
    drop,
    inner_text,
    is_article_root,
    is_sentence,
    tag_of,
    tags,
    word_count,
)

__all__ = ["BOX_WORDS", "WIDGET_WORDS", "drop_promotions", "is_caption", "post_clean", "strip_clutter"]

# Elements whose text is never part of an article: code, styling, form controls, menus, and embedded
# documents (an <iframe>'s text is only the fallback shown when frames are off).
_NEVER_TEXT = tags(
    "script style noscript template link meta canvas button input select option textarea "
    "nav dialog menu iframe frame frameset object embed"
)

# ARIA roles that mark site furniture (landmarks other than the main content) or interactive controls.
_FURNITURE_ROLES = tags(
    "navigation banner contentinfo search complementary dialog alertdialog menu menubar toolbar tablist "
    "tooltip button slider progressbar scrollbar switch checkbox"
)
_HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)

# Class names that hide an element on every screen size, or show it to screen readers only (Bootstrap,
# WordPress, Tailwind and the like), compared as whole class names with "-" and "_" removed: a word inside
# a name does not hide ("overflow-hidden" clips an overflow, "hidden-xs" hides on small screens only).
_HIDING_CLASSES = tags(
    "hidden ishidden uhidden hide invisible dnone visuallyhidden sronly screenreadertext screenreaderonly"
)

# Tailwind's "hidden md:block": hidden on small screens, shown from a breakpoint on.
_SHOWN_FROM_BREAKPOINT_RE = re.compile(r":(?:block|flex|grid|table|contents|inline(?:-block|-flex)?)$")

# After the choice, boxes holding this share of the article's text or more are spared: a wrapper whose class
# merely mentions a byline or a gallery is still the article.
_MAX_CLUTTER_SHARE = 0.3

# Before the library, the share of the page an element must hold to be spared by these rules.
_MAX_STRIP_SHARE = 0.5
_MAX_HIDDEN_LINK_SHARE = 0.5  # a hidden element this much link is a menu, not a hidden article
_TEASER_LINK_SHARE = 0.6  # a paragraph this much link may be a pointer to another story
_MAX_LABEL_WORDS = 4  # ... when the rest is a label this short ("Read more:")
_MAX_CARD_CHARS = 400  # a nested <article> with a linked heading is a teaser card up to this size
_CARD_LINK_SHARE = 0.8
_MAX_WIDGET_CHARS = 1000  # the box around a form control is a widget up to this size

# Words in class or id that name things which are never the article: consent banners and overlays,
# comment threads, breadcrumb trails, share and follow bars, newsletter sign-ups, "related stories" and
# "most popular" boxes, recommendation widgets. Not "subscriber" or "paywall": those name the article's
# own text on many sites (the part for subscribers).
_CLUTTER_WORDS = Vocabulary(
    "cookie consent gdpr onetrust didomi usercentrics sourcepoint modal popup "
    "comments commentlist disqus breadcrumb share sharing social follow newsletter signup regwall "
    "related popular trending mostread recirculation outbrain taboola upnext readmore readnext alsoread"
)

# Words in the class of a <blockquote> that an embed script replaces with a frame (a social media post):
# until then it holds a fallback copy of the post, not text of the article; in the rendered page, a frame.
_EMBED_WORDS = Vocabulary("twitter tweet instagram tiktok facebook bluesky mastodon")

# Words in class or id of boxes that sit inside an article but are not its text: the byline and the
# author's bio (the byline is a field of its own), advertising, promotions, tag lists. Dropped from the
# result whoever chose them, and never recovered.
BOX_WORDS = Vocabulary(
    "author byline bio promo teaser ad ads advert sponsored tags recommended "
    "meta date dateline timestamp published updated readtime credit credits copyright affiliate"
)

# Media widgets: their text is captions mixed with player and pager controls ("1 of 24", "Autoplay").
# The library drops them more often than not; recovery leaves them out.
WIDGET_WORDS = Vocabulary("gallery slideshow carousel slider swiper player jwplayer vjs")
# Words in the class of a link drawn as a button, or of a box around one: a call to action.
_BUTTON_WORDS = Vocabulary("btn button cta")

# A class name with one of these words names a caption when the page does not use <figcaption>
# ("wp-caption-text", "media-caption"); one of the first words says it is something with or without one
# ("no_caption", "hasCaption").
_CAPTION_WORDS = tags("caption captions")
_CAPTION_NEGATIONS = tags("no has with without hide hidden")
_FIGURE_MEDIA = tags("img picture video audio svg canvas iframe")
_FIGURE_CONTENT = tags("blockquote pre table ol ul")
_MAX_CAPTION_WORDS = 30


def is_caption(el: HtmlElement, sizes: TextSizes | None = None) -> bool:
    """A caption: <figcaption>, a box named as a caption, or the text of a figure around a picture or a
    player (credits, "Photo:" lines, a player's title). A figure that holds a quotation, code, a table or
    a list is content. `sizes`, when given, spares looking into every large <div> of a page."""
    tag = tag_of(el)
    if tag == "figcaption" or any(_names_caption(name) for name in (el.get("class") or "").split()):
        return True
    if tag == "div" and sizes is not None and sizes.chars(el) > _MAX_CAPTION_WORDS * 20:
        return False
    if tag not in ("figure", "div") or next(el.iter(*_FIGURE_MEDIA), None) is None:
        return False
    if next(el.iter(*_FIGURE_CONTENT, *HEADINGS), None) is not None:
        return False
    if tag == "figure":
        return True
    # A <div> around a picture is a figure when all it says besides is a caption's worth of words, and
    # it has no <figure> of its own (then the figure holds the picture and the rest is text).
    own_figure = next(el.iter("figure", "figcaption"), None) is not None
    return not own_figure and word_count(inner_text(el)) <= _MAX_CAPTION_WORDS


def _names_caption(class_name: str) -> bool:
    words = class_name_words(class_name)
    return bool(words) and words[0] not in _CAPTION_NEGATIONS and not _CAPTION_WORDS.isdisjoint(words)


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


def strip_clutter(body: HtmlElement) -> None:
    """Remove from the page what is never article text, whatever a scorer would think of it.

    Landmarks and clutter-named blocks are spared when they hold an article root or a large share of the
    page's text: then the markup is wrong about them, and removing them would remove the article.
    """
    sizes = TextSizes(body)
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
    drop(doomed)


def _control_boxes(body: HtmlElement, sizes: TextSizes, page_chars: int) -> list[HtmlElement]:
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
    return word_count(text) >= 2 * MIN_WORDS and is_sentence(text)


def _holds_hidden_article(el: HtmlElement, sizes: TextSizes, large: bool) -> bool:
    if sizes.link_share(el) > _MAX_HIDDEN_LINK_SHARE:
        return False  # a hidden menu
    if large:
        return True
    root = next((a for a in el.iterancestors() if is_article_root(a)), None)
    return root is not None and sizes.chars(el) >= sizes.chars(root) * _MAX_STRIP_SHARE


def _unhide(el: HtmlElement) -> None:
    for name in ("hidden", "aria-hidden", "style"):
        el.attrib.pop(name, None)
    el.set("class", " ".join(c for c in (el.get("class") or "").split() if not _hides(c)))


def _inside_article_root(el: HtmlElement) -> bool:
    return any(is_article_root(a) for a in el.iterancestors())


def _holds_article_root(el: HtmlElement) -> bool:
    return any(is_article_root(d) for d in el.iter())


def post_clean(container: HtmlElement) -> None:
    """Drop the boxes that the library kept but that are not the article's text (bylines, bios, ads,
    players)."""
    sizes = TextSizes(container)
    most = max(sizes.chars(container), 1) * _MAX_CLUTTER_SHARE
    doomed = []
    for el in container.iterdescendants():
        if not isinstance(el.tag, str) or sizes.chars(el) >= most:
            continue
        words = class_words(el)
        if BOX_WORDS.matches(words) or WIDGET_WORDS.matches(words) or _is_teaser(el, sizes):
            doomed.append(el)
    drop(doomed)


def _is_card(el: HtmlElement, sizes: TextSizes) -> bool:
    """An <article> inside the article that is a teaser card: a linked headline over a line or two
    (HTML nests articles for related content; a live blog's posts are longer and their headings are
    not links)."""
    if tag_of(el) != "article" or sizes.chars(el) > _MAX_CARD_CHARS:
        return False
    heading = next(el.iter(*HEADINGS), None)
    if heading is None or not sizes.chars(heading):
        return False
    return sizes.link_share(heading) >= _CARD_LINK_SHARE


def _is_teaser(el: HtmlElement, sizes: TextSizes) -> bool:
    """A paragraph that points to another story: a link after a short label and a colon ("MORE: ...",
    "Read more: ...", "Lesen Sie auch: ..."), or a link set in capitals as a headline."""
    if tag_of(el) != "p" or sizes.link_share(el) < _TEASER_LINK_SHARE:
        return False
    link = "".join(a.text_content() for a in el.iter("a"))
    label = inner_text(el).replace(" ".join(link.split()), "", 1).strip()
    if label.endswith(":") and len(label.split()) <= _MAX_LABEL_WORDS:
        return True
    letters = [c for c in link if c.isalpha()]
    return len(letters) >= MIN_WORDS * 4 and sum(c.isupper() for c in letters) >= len(letters) * 0.9


def drop_promotions(container: HtmlElement, sizes: TextSizes, chosen_chars: int) -> None:
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
    drop(doomed)


def _is_button_link(el: HtmlElement) -> bool:
    """A link drawn as a button ("Subscribe now", "Jetzt bestellen"), or a button-named box around one."""
    if not isinstance(el.tag, str) or not _BUTTON_WORDS.names(el):
        return False
    return tag_of(el) == "a" or next(el.iter("a"), None) is not None


def _small_box(el: HtmlElement, top: HtmlElement, sizes: TextSizes) -> HtmlElement | None:
    """The largest ancestor-or-self of `el` below `top` that is still a small box (not an article root)."""
    box = None
    for candidate in [el, *el.iterancestors()]:
        if candidate is top or is_article_root(candidate) or sizes.chars(candidate) > _MAX_WIDGET_CHARS:
            break
        box = candidate
    return box
