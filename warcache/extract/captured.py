"""The article of a captured page, got the same way by every part of warcache.

Search, `show`, the reader view and the cached-articles export all show "the article of this
capture", so they all get it here: from the rendered DOM record that capture stored next to the
page (what scripts put on the page is there), or, for pages of WARCs made by other tools, from
the archived HTML response; with the page's final URL (after redirects) as the base for its
links, and the title the page showed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from warcache import contenttype
from warcache.collection import Collection
from warcache.errors import ArchiveError
from warcache.extract.article import Article, extract_article
from warcache.pagelist import PageEntry
from warcache.warc.reader import read_record_at
from warcache.warc.writer import DOM_URN

#: A bigger "page" is not an article worth extracting; only this much of it is read.
MAX_HTML_BYTES = 20 * 1024 * 1024


@dataclass
class PageHtml:
    """A captured page's HTML, and what its response said about it."""

    data: bytes
    charset: str | None = None
    language: str | None = None  # the HTTP Content-Language header


def page_html(coll: Collection, entry: PageEntry) -> PageHtml:
    """The HTML of a captured page (ArchiveError if its records cannot be read)."""
    path = coll.warc_path(entry.warc)
    dom = entry.span("dom")
    if dom is not None:
        record = read_record_at(path, dom[0])
        uri = record.rec_headers.get_header("WARC-Target-URI") or ""
        if record.rec_type != "resource" or uri != DOM_URN + entry.url:
            raise ArchiveError(f"{entry.warc}: no DOM record of {entry.url} at byte {dom[0]}")
        return PageHtml(record.raw_stream.read(MAX_HTML_BYTES), "utf-8")
    record = read_record_at(path, entry.offset)
    if record.rec_type != "response" or record.http_headers is None:
        raise ArchiveError(f"{entry.warc}: no HTML response at byte {entry.offset}")
    headers = record.http_headers
    try:
        data = record.content_stream().read(MAX_HTML_BYTES)
    except Exception as exc:  # noqa: BLE001 - a body that does not decode (bad gzip) has no text
        raise ArchiveError(f"{entry.warc}: the response at byte {entry.offset} does not decode: {exc}") \
            from None
    return PageHtml(data, contenttype.charset(headers.get_header("Content-Type")),
                    headers.get_header("Content-Language"))


def article_of(entry: PageEntry, html: PageHtml) -> Article:
    """The article in a captured page's HTML."""
    return extract_article(html.data, entry.page_url, charset=html.charset, title=entry.title or None,
                           content_language=html.language)


def page_article(coll: Collection, entry: PageEntry) -> Article:
    """The article of a captured page (ArchiveError if its records cannot be read)."""
    return article_of(entry, page_html(coll, entry))


def article_text(article: Article) -> str:
    """The text two captures of a page are compared by (`warcache diff`, "changed" in `list`): the
    headline, unless the body already begins with it, then the article body."""
    body = article.body_text.strip()
    headline = article.headline.strip()
    if headline and not body.startswith(headline):
        return f"{headline}\n\n{body}" if body else headline
    return body


def text_digest(text: str) -> str:
    """A digest of the words of a text: equal exactly when a word diff of two texts finds no
    change (spacing and line breaks do not count)."""
    return "sha1:" + hashlib.sha1(" ".join(text.split()).encode("utf-8")).hexdigest()
