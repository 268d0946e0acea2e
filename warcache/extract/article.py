"""Article extraction: from a page's HTML to the fields warcache indexes and shows.

`extract_article(html, url)` takes either the DOM the browser rendered (str) or the raw bytes of a WARC
response (bytes, decoded with `warcache.extract.decode`) and returns an `Article`:

* `title`: what the browser showed (document.title), for result lists;
* `headline`: the article's own title, without the site name, as reader modes show it;
* `body_text` / `body_html`: the main article only (what a reader view keeps), for the main search field
  and for a clean reading copy; `body_html` is sanitised (no scripts, frames, event handlers) and its
  links and images are absolute, so it can be shown outside its page;
* `full_text`: every visible text of the page, a second, lower-weight search field so that words in
  navigation or comments are still findable;
* `language`, `byline`, `excerpt`, `site_name`, `published`.

The article is chosen by readability-lxml with our preparation and checks around it
(`warcache.extract.content`, with the clutter rules in `warcache.extract.clutter`); metadata comes from
the page's structured data (`warcache.extract.meta`).
lxml does the parsing: a typical page takes tens of milliseconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urljoin

import lxml.html
from bs4 import BeautifulSoup
from bs4.element import NavigableString, PageElement, PreformattedString, Tag
from lxml import etree
from lxml.html import HtmlElement

from warcache.extract.clutter import is_caption
from warcache.extract.content import find_article
from warcache.extract.decode import decode_html, strip_xml_declaration
from warcache.extract.dom import TextSizes, inner_text, tag_of
from warcache.extract.meta import document_title, page_language, page_metadata

__all__ = ["Article", "extract_article", "html_to_text"]


def _tags(names: str) -> frozenset[str]:
    """A set of tag names written as one space-separated string (easier to read than a long literal)."""
    return frozenset(names.split())


@dataclass
class Article:
    title: str  # the page title as the page showed it (document.title, else og:title / h1)
    headline: str  # the article headline: title without site name, as reader modes show it
    body_text: str  # main article text
    body_html: str  # main article HTML, sanitised, with absolute links
    full_text: str  # all visible text of the page
    language: str | None  # <html lang>, meta content-language, or the Content-Language header
    byline: str | None = None
    excerpt: str | None = None
    site_name: str | None = None
    published: str | None = None


# ---------------------------------------------------------------- text rendering

_SKIP_TEXT = frozenset({"script", "style", "noscript", "template", "head", "title", "meta", "link"})
# Elements after which a reader sees a new paragraph.
_PARAGRAPH = _tags(
    "address article aside blockquote dd details dialog dl fieldset figcaption figure footer "
    "form h1 h2 h3 h4 h5 h6 header hr main nav ol p pre section summary table ul"
)
# Elements after which a reader sees a new line.
_LINE = frozenset(["br", "caption", "div", "dt", "li", "tr", "legend", "option"])
_CELL = frozenset({"td", "th"})
_HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_BREAK = "\x00"  # paragraph break marker while rendering
_NEWLINE = "\x01"  # line break marker while rendering
_BREAKS_RE = re.compile(f"({_BREAK}+)")
_BLANKS_RE = re.compile(r"[ \t\r\f\v]+")


def html_to_text(el: HtmlElement, visible_only: bool = False, captions: bool = True) -> str:
    """Readable text of an element: paragraphs separated by blank lines, lines by newlines.

    `visible_only` skips what a browser would not show (hidden attribute, display:none...), which the
    article tree has already lost but the full page has not. `captions=False` leaves out figure captions
    (the article's body text is its prose; its captions stay in its HTML, as captions).
    """
    parts: list[str] = []
    pre_depth = 0
    sizes = None if captions else TextSizes(el)
    skipped = None  # an element left out: the walk still ends it, and its tail is text of its parent
    walker = etree.iterwalk(el, events=("start", "end"))
    for event, node in walker:
        tag = tag_of(node)
        if event == "start":
            if (
                not tag
                or tag in _SKIP_TEXT
                or (visible_only and node is not el and _is_hidden(node))
                or (not captions and node is not el and is_caption(node, sizes))
            ):
                walker.skip_subtree()
                skipped = node
                continue
            if tag in _PARAGRAPH:
                parts.append(_BREAK)
            elif tag in _LINE:
                parts.append(_NEWLINE)
            if tag == "pre":
                pre_depth += 1
            if node.text:
                parts.append(_inline(node.text, pre_depth))
            continue
        if node is skipped:
            skipped = None
            if tag in _PARAGRAPH:
                parts.append(_BREAK)
            elif tag in _LINE:
                parts.append(_NEWLINE)
            if node is not el and node.tail:
                parts.append(_inline(node.tail, pre_depth))
            continue
        if tag == "pre":
            pre_depth -= 1
        if tag in _PARAGRAPH:
            parts.append(_BREAK)
        elif tag in _LINE:
            parts.append(_NEWLINE)
        elif tag in _CELL:
            parts.append(" ")
        if node is not el and node.tail:
            parts.append(_inline(node.tail, pre_depth))
    return _finish("".join(parts))


def _is_hidden(el: HtmlElement) -> bool:
    """Hidden from everyone (aria-hidden content is still on screen, so it stays)."""
    if el.get("hidden") is not None or tag_of(el) == "dialog" and el.get("open") is None:
        return True
    style = el.get("style")
    return bool(style) and bool(_HIDDEN_STYLE_RE.search(style))


def _inline(text: str, pre_depth: int) -> str:
    """Collapse whitespace as a browser does outside <pre>; an edge space stays one space."""
    if pre_depth:
        return text.replace("\n", _NEWLINE)
    words = text.split()
    if not words:
        return " " if text else ""
    lead = " " if text[0].isspace() else ""
    trail = " " if text[-1].isspace() else ""
    return lead + " ".join(words) + trail


def _finish(text: str) -> str:
    lines: list[str] = []
    blank = True  # no blank line at the start
    for chunk in _BREAKS_RE.split(text):
        if not chunk:
            continue
        if chunk[0] == _BREAK:
            if not blank:
                lines.append("")
                blank = True
            continue
        for line in chunk.split(_NEWLINE):
            line = _BLANKS_RE.sub(" ", line).strip()
            if line:
                lines.append(line)
                blank = False
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines)


# ---------------------------------------------------------------- safe article HTML

_UNSAFE_TAGS = _tags(
    "script style iframe frame frameset object embed applet "
    "link meta base noscript template input button select textarea"
)
_URL_ATTRS = ("href", "src", "poster", "cite", "longdesc", "background", "action")
_BAD_SCHEME_RE = re.compile(r"^\s*(javascript|vbscript|data:text/html)", re.IGNORECASE)


def _absolute(base: str, link: str) -> str:
    try:
        return urljoin(base, link.strip())
    except ValueError:
        return link


def _absolute_srcset(base: str, srcset: str) -> str:
    out = []
    for candidate in srcset.split(","):
        bits = candidate.strip().split(None, 1)
        if bits:
            out.append(" ".join([_absolute(base, bits[0]), *bits[1:]]))
    return ", ".join(out)


def _fix_lazy_image(img: HtmlElement) -> None:
    """Give a lazy-loaded image its real source, which loaders keep in a data-*src / data-*srcset attribute.

    Until a script runs, such an <img> has no src or a data: placeholder; out of its page no script will.
    """
    src = (img.get("src") or "").strip()
    if src and not src.startswith("data:"):
        return
    for name, value in img.attrib.items():
        value = value.strip()
        if not name.startswith("data-") or not value or value.startswith("data:"):
            continue
        if name.endswith("srcset"):
            img.set("srcset", value)
        elif (name.endswith("src") or name == "data-original") and not any(c.isspace() for c in value):
            img.set("src", value)


def sanitize(article: HtmlElement, base: str) -> None:
    """Make the article safe to show out of context and its links absolute against `base` (in place)."""
    for el in reversed([e for e in article.iter() if tag_of(e) in _UNSAFE_TAGS or not tag_of(e)]):
        if el is not article:
            el.drop_tree()
    for el in article.iter():
        tag = tag_of(el)
        if tag == "form":
            el.tag = "div"
        if tag == "img":
            _fix_lazy_image(el)
        for name in list(el.attrib):
            if name.lower().startswith("on") or name.lower() == "style":
                del el.attrib[name]
        href = el.get("href")
        if tag == "a" and href is not None and _BAD_SCHEME_RE.match(href):
            # A script link is not a link in a copy: keep its text.
            el.tag = "span"
            el.attrib.clear()
            continue
        for name in _URL_ATTRS:
            value = el.get(name)
            if value is None:
                continue
            if _BAD_SCHEME_RE.match(value):
                del el.attrib[name]
            else:
                el.set(name, _absolute(base, value))
        if el.get("srcset"):
            el.set("srcset", _absolute_srcset(base, el.get("srcset")))


def _base_url(root: HtmlElement, url: str) -> str:
    for base in root.iter("base"):
        href = base.get("href")
        if href:
            return _absolute(url, href)
    return url


# ---------------------------------------------------------------- entry point


_NOT_XML_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def parse_html(html: bytes | str, charset: str | None = None) -> HtmlElement:
    """Parse a page into an lxml tree (comments and processing instructions dropped).

    libxml2 gives up on elements nested deeper than 2048 (unclosed tags in old pages do that) and
    silently loses the rest of the page; such pages are parsed again with Python's tolerant parser
    through BeautifulSoup, flattening what lies deeper than browsers would ever show nested.
    """
    text = decode_html(html, charset) if isinstance(html, bytes) else html
    # Control characters (binary junk, a body whose content coding is broken) would reach lxml's
    # API, which refuses them in any node's text; browsers show nothing for them either.
    text = _NOT_XML_TEXT.sub("", strip_xml_declaration(text))
    parser = lxml.html.HTMLParser(remove_comments=True, remove_pis=True, huge_tree=True)
    try:
        root = lxml.html.document_fromstring(text, parser=parser) if text.strip() else None
    except (etree.ParserError, ValueError):
        root = None  # "Document is empty": nothing but comments or whitespace
    if root is None:
        return lxml.html.document_fromstring("<html><head></head><body></body></html>")
    if any(e.type_name == "ERR_RESOURCE_LIMIT" for e in parser.error_log):
        return soup_to_lxml(BeautifulSoup(text, "html.parser"))
    return root


_MAX_DEPTH = 512


def soup_to_lxml(soup: BeautifulSoup, max_depth: int = _MAX_DEPTH) -> HtmlElement:
    """Copy a BeautifulSoup tree into lxml without recursion, flattening nesting below `max_depth`."""
    root = lxml.html.Element("html")
    stack: list[tuple[Iterator[PageElement], HtmlElement, int]] = [(iter(soup.contents), root, 0)]
    while stack:
        children, target, depth = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            continue
        if isinstance(child, Tag):
            name = child.name.lower()
            if name == "html" and target is root:
                _copy_attrs(root, child.attrs)
                stack.append((iter(child.contents), root, depth))
            elif depth >= max_depth or not _VALID_NAME_RE.match(name):
                stack.append((iter(child.contents), target, depth))
            else:
                el = etree.SubElement(target, name)
                _copy_attrs(el, child.attrs)
                stack.append((iter(child.contents), el, depth + 1))
        elif isinstance(child, NavigableString) and not isinstance(child, PreformattedString):
            # Text, including script and style text (JSON-LD lives there); not comments or doctypes.
            _append_text(target, str(child))
    if root.find("body") is None:
        body = etree.SubElement(root, "body")
        body.text, root.text = root.text, None
        for el in list(root):
            if el is not body and tag_of(el) != "head":
                body.append(el)
    return root


_VALID_NAME_RE = re.compile(r"^[a-z][a-z0-9._-]*$")


def _copy_attrs(el: HtmlElement, attrs: dict[str, object]) -> None:
    for name, value in attrs.items():
        text = " ".join(value) if isinstance(value, list) else str(value)
        try:
            el.set(name, text)
        except ValueError:  # a name XML cannot hold, e.g. a stray quote
            continue


def _append_text(el: HtmlElement, text: str) -> None:
    if len(el):
        el[-1].tail = (el[-1].tail or "") + text
    else:
        el.text = (el.text or "") + text


def extract_article(
    html: bytes | str,
    url: str,
    *,
    charset: str | None = None,
    title: str | None = None,
    content_language: str | None = None,
) -> Article:
    """Extract the article of one page.

    `html`: the rendered DOM (str) or the raw response body (bytes; `charset` is the one from the HTTP
    Content-Type header, if any). `title`: the rendered document.title when the caller knows it.
    `content_language`: the HTTP Content-Language header, used when the page does not say.
    """
    root = parse_html(html, charset)
    base = _base_url(root, url)
    shown_title = " ".join((title or "").split()) or document_title(root)
    meta = page_metadata(root, shown_title, base)
    language = page_language(root, content_language)
    body = root.find("body")
    full_text = html_to_text(body if body is not None else root, visible_only=True)
    if not shown_title:
        shown_title = meta.title or _first_h1(root)
    headline = meta.title or shown_title

    article = find_article(root, headline)  # changes root: everything about the page is read above
    body_text = html_to_text(article, captions=False)
    sanitize(article, base)
    return Article(
        title=shown_title,
        headline=headline,
        body_text=body_text,
        body_html=lxml.html.tostring(article, encoding="unicode", method="html"),
        full_text=full_text,
        language=language,
        byline=meta.byline,
        excerpt=meta.excerpt or _first_paragraph(article),
        site_name=meta.site_name,
        published=meta.published,
    )


def _first_h1(root: HtmlElement) -> str:
    for h1 in root.iter("h1"):
        text = inner_text(h1)
        if text:
            return text
    return ""


def _first_paragraph(article: HtmlElement) -> str | None:
    for p in article.iter("p"):
        text = inner_text(p)
        if text:
            return text
    return None
