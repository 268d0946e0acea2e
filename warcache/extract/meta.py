"""Page metadata for extraction: headline, byline, excerpt, site name, publication date, language.

Publishers describe their articles in several vocabularies at once; we read them in order of how
deliberately they describe *the article* (rather than a share card or the browser tab):

1. schema.org JSON-LD, the object whose @type is an article or a posting (NewsArticle, BlogPosting...);
2. Dublin Core <meta> (dc:title, dcterms.creator...), bibliographic by design;
3. Open Graph and Twitter cards, written for share previews (they are sometimes a shorter teaser title);
4. other common <meta> names (parsely-*, author, description, title);
5. the <title> element, and the page's <h1>.

The headline is the article's own title: a site name stuck to it with a separator ("Story | Site",
"Site - Story") is removed when we can tell which part is the site (it matches the declared site name or
the host name, or the page's <h1> is the other part, or for a bare <title> it is a short tail after a long
title). When in doubt the title is kept whole: a missing site name is cheaper than a cut headline.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from lxml.html import HtmlElement

from warcache.extract.dom import inner_text, word_count

__all__ = ["Metadata", "document_title", "headline_from_title", "page_language", "page_metadata"]

# Separators between a title and a site or section name, when written with spaces around them.
_SEPARATOR_RE = re.compile(r"\s+(?:[|\-–—·•»/\\]|::)\s+")
_CDATA_RE = re.compile(r"^\s*(?:<!--|<!\[CDATA\[)|(?:-->|\]\]>)\s*$")
_URL_RE = re.compile(r"^\s*https?://", re.IGNORECASE)
_MIN_TITLE_WORDS = 4  # a bare <title>'s short tail is cut only when this many words remain
_MAX_SITE_WORDS = 3  # ... and the tail is at most this long
_MAX_BYLINE_CHARS = 100  # longer "author" elements are bios, not bylines
_GENERIC_HOST_LABELS = frozenset({"www", "com", "org", "net", "co", "uk", "de", "fr", "news", "blog", "m"})


@dataclass
class Metadata:
    title: str | None = None  # the headline, site name removed
    byline: str | None = None
    excerpt: str | None = None
    site_name: str | None = None
    published: str | None = None


def _clean(value: object) -> str | None:
    """Whitespace-collapsed text, with entities that CMSs escaped twice ("&amp;quot;") undone."""
    if not isinstance(value, str):
        return None
    text = " ".join(html.unescape(value).split())
    return text or None


# ---------------------------------------------------------------- <meta> tags


def _meta_tags(root: HtmlElement) -> dict[str, str]:
    """<meta> contents by lower-case key ("og:title", "dc:creator", "description"...).

    RDFa `property` may list several keys at once ("og:title twitter:title"). Dublin Core is written
    "dc.title", "DC.title", "dcterms:title": all become "dc:title". A key set through `property` wins over
    the same key set through `name` (property is the attribute those vocabularies define).
    """
    by_property: dict[str, str] = {}
    by_name: dict[str, str] = {}
    for meta in root.iter("meta"):
        content = _clean(meta.get("content"))
        if not content:
            continue
        for attr, target in (("property", by_property), ("name", by_name)):
            for key in (meta.get(attr) or "").split():
                target.setdefault(_meta_key(key), content)
    return {**by_name, **by_property}


def _meta_key(key: str) -> str:
    key = key.strip().lower()
    for prefix in ("dcterms.", "dcterms:", "dc."):
        if key.startswith(prefix):
            return "dc:" + key[len(prefix) :]
    return key


def _first(tags: dict[str, str], *keys: str, urls: bool = True) -> str | None:
    for key in keys:
        value = tags.get(key)
        if value and (urls or not _URL_RE.match(value)):
            return value
    return None


# ---------------------------------------------------------------- JSON-LD


def _json_ld_objects(root: HtmlElement) -> Iterator[dict]:
    """Every JSON object in the page's application/ld+json scripts, nested ones and @graph members too."""
    for script in root.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        raw = _CDATA_RE.sub("", script.text_content() or "")
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        stack = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(reversed(item))
            elif isinstance(item, dict):
                yield item
                graph = item.get("@graph")
                if isinstance(graph, list):
                    stack.extend(reversed(graph))


def _is_article_type(obj: dict) -> bool:
    """schema.org names its article types "...Article" (NewsArticle, TechArticle...) and "...Posting"."""
    types = obj.get("@type")
    names = [types] if isinstance(types, str) else types if isinstance(types, list) else []
    return any(isinstance(t, str) and t.endswith(("Article", "Posting")) for t in names)


def _names(value: object) -> str | None:
    """A person or organisation as JSON-LD writes it: a string, {"name": ...}, or a list of those."""
    items = value if isinstance(value, list) else [value]
    names = []
    for item in items:
        name = _clean(item.get("name")) if isinstance(item, dict) else _clean(item)
        if name and not _URL_RE.match(name) and name not in names:
            names.append(name)
    return ", ".join(names) or None


def _json_ld_metadata(root: HtmlElement, shown: list[str]) -> Metadata:
    article = next((obj for obj in _json_ld_objects(root) if _is_article_type(obj)), None)
    if article is None:
        return Metadata()
    published = article.get("datePublished")
    return Metadata(
        title=_pick_title([_clean(article.get("headline")), _clean(article.get("name"))], shown),
        byline=_names(article.get("author")),
        excerpt=_clean(article.get("description")),
        site_name=_names(article.get("publisher")),
        published=_clean(published) if isinstance(published, str) else None,
    )


def _pick_title(candidates: list[str | None], shown: list[str]) -> str | None:
    """The first candidate that the page shows (in its <title> or an <h1>), else the first one.

    Some sites put a description in `headline` and the title in `name` (or the reverse); the one the
    reader sees on the page is the title.
    """
    present = [c for c in candidates if c]
    shown_forms = [_comparable(s) for s in shown if s]
    for candidate in present:
        form = _comparable(candidate)
        if form and any(form in s for s in shown_forms):
            return candidate
    return present[0] if present else None


# ---------------------------------------------------------------- the page itself


def document_title(root: HtmlElement) -> str:
    """What a browser shows as document.title: the <title> of the head (not one inside an <svg>)."""
    for title in root.iter("title"):
        if not any(a.tag == "svg" for a in title.iterancestors()):
            return " ".join((title.text_content() or "").split())
    return ""


def _headings(root: HtmlElement) -> list[str]:
    return [text for h in root.iter("h1") if (text := inner_text(h))]


def _page_byline(root: HtmlElement) -> str | None:
    """An author named in the page with microdata (itemprop=author) or a rel=author link."""
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        if "author" in (el.get("itemprop") or "").split() or "author" in (el.get("rel") or "").split():
            names = [inner_text(n) for n in el.iter() if "name" in (n.get("itemprop") or "").split()]
            text = next((n for n in names if n), None) or inner_text(el)
            if 0 < len(text) <= _MAX_BYLINE_CHARS:
                return text
    return None


def page_metadata(root: HtmlElement, doc_title: str, url: str = "") -> Metadata:
    """The article's metadata from the sources listed in the module docstring, best first."""
    headings = _headings(root)
    ld = _json_ld_metadata(root, [doc_title, *headings])
    tags = _meta_tags(root)
    site_name = ld.site_name or _first(tags, "og:site_name", "application-name")
    raw_title = ld.title or _first(tags, "dc:title", "og:title", "twitter:title", "parsely-title", "title")
    if raw_title:
        title = _without_site_name(raw_title, _site_names(site_name, url), headings, bare=False)
    else:
        title = headline_from_title(doc_title, site_name, url, headings) or None
    return Metadata(
        title=title,
        byline=ld.byline
        or _first(tags, "dc:creator", "author", "article:author", "parsely-author", urls=False)
        or _page_byline(root),
        excerpt=ld.excerpt
        or _first(tags, "dc:description", "og:description", "twitter:description", "description"),
        site_name=site_name,
        published=ld.published
        or _first(tags, "article:published_time", "dc:date", "parsely-pub-date", "date"),
    )


# ---------------------------------------------------------------- the headline


def headline_from_title(
    doc_title: str, site_name: str | None = None, url: str = "", headings: list[str] | None = None
) -> str:
    """The article's title from a <title>: "Story - Site" -> "Story" when the site part is clear."""
    return _without_site_name(doc_title, _site_names(site_name, url), headings or [], bare=True)


def _without_site_name(title: str, site_names: set[str], headings: list[str], bare: bool) -> str:
    """Remove the site or section name that a separator joins to the title, when we can tell which it is.

    A part that names the site (declared site name or host name) goes. Otherwise a page <h1> equal to a
    run of parts that is at least half of the title is the title. Otherwise, only for a bare <title>
    (structured titles rarely carry a site name that is not declared), a short first or last part after a
    long one goes.
    """
    title = " ".join(title.split())
    parts = _SEPARATOR_RE.split(title)
    if len(parts) < 2:
        return title
    seps = _SEPARATOR_RE.findall(title)

    def join(lo: int, hi: int) -> str:
        out = parts[lo]
        for i in range(lo + 1, hi):
            out += seps[i - 1] + parts[i]
        return out

    if _comparable(parts[-1]) in site_names:
        return join(0, len(parts) - 1)
    if _comparable(parts[0]) in site_names:
        return join(1, len(parts))
    wanted = {_comparable(h) for h in headings}
    total = word_count(title)
    for lo in range(len(parts)):
        for hi in range(len(parts), lo, -1):
            run = join(lo, hi)
            # The heading must be the larger part: a site logo in an <h1> is not the headline.
            if (lo, hi) != (0, len(parts)) and _comparable(run) in wanted and 2 * word_count(run) >= total:
                return run
    if bare:
        head, tail = join(0, len(parts) - 1), join(1, len(parts))
        if word_count(parts[-1]) <= _MAX_SITE_WORDS and word_count(head) >= _MIN_TITLE_WORDS:
            return head
        if word_count(parts[0]) <= _MAX_SITE_WORDS and word_count(tail) >= _MIN_TITLE_WORDS:
            return tail
    return title


def _site_names(site_name: str | None, url: str) -> set[str]:
    """Comparable forms of the site's names: the declared one and the distinctive labels of the host."""
    names = set()
    if site_name:
        names.add(_comparable(site_name))
        names.add(_comparable(re.sub(r"\.(com|org|net)$", "", site_name.strip(), flags=re.IGNORECASE)))
    host = urlsplit(url).hostname or ""
    labels = [label for label in host.split(".") if label and not label.isdigit()]
    names.update(label for label in labels if label not in _GENERIC_HOST_LABELS)
    names.discard("")
    return names


def _comparable(text: str) -> str:
    """Lower case, letters and digits only: "The Verge" and "theverge" compare equal."""
    return "".join(ch for ch in text.lower() if ch.isalnum())


# ---------------------------------------------------------------- language


def page_language(root: HtmlElement, header: str | None = None) -> str | None:
    """<html lang> (or xml:lang), then <meta http-equiv=content-language>, then the HTTP header."""
    lang = root.get("lang") or root.get("xml:lang")
    if not lang:
        for meta in root.iter("meta"):
            key = (meta.get("http-equiv") or meta.get("name") or "").strip().lower()
            if key in ("content-language", "language", "dc.language") and meta.get("content"):
                lang = meta.get("content")
                break
    lang = lang or header
    if not lang:
        return None
    first = lang.split(",")[0].strip()
    return first or None
