"""The reader view of a capture: its article, extracted from the rendered DOM.

warcache stores the DOM the browser rendered next to each page (`urn:warcache:dom:`), which
holds the text a script put on the page; captures made by other tools have only the HTML the
server sent, which is used instead.  The article HTML is sanitised again here (allowlist),
and its links point into the archive on the collection's replay origin; its images are served
by the listing origin (`/_warcache/image/`), since replay origins serve nothing to other origins.
"""

from __future__ import annotations

from urllib.parse import urljoin

from warcache import contenttype, timestamps
from warcache.collection import Collection
from warcache.errors import ArchiveError
from warcache.extract.captured import PageHtml, article_of, page_article
from warcache.pagelist import PageEntry
from warcache.replay import ui
from warcache.replay.resolve import Resolver, header
from warcache.replay.wburl import ArchivalUrl, replay_path

MAX_PAGE = 32 * 1024 * 1024


def _nearest(entries: list[PageEntry], url: str, timestamp: str) -> PageEntry | None:
    mine = [e for e in entries if url in (e.url, e.page_url)]
    if not mine:
        return None
    if not timestamp:
        return mine[0]  # entries are newest first
    return min(mine, key=lambda e: timestamps.distance(e.timestamp, timestamp))


def load_article(coll: Collection, entries: list[PageEntry], resolver: Resolver, wb: ArchivalUrl,
                 replay_origin: str) -> ui.ReaderView | None:
    """The reader view for the capture of `wb.url` nearest `wb.timestamp`, or None.

    `entries`: the collection's page list, newest first. A URL that is not a captured page
    (an HTML response of another tool's WARC, say) is read from its archived response.
    """
    entry = _nearest(entries, wb.url, wb.timestamp)
    article = None
    if entry is not None:
        try:
            article = page_article(coll, entry)
        except ArchiveError:
            article = None
    if article is None:
        capture = resolver.find(wb.url, timestamp=wb.timestamp)
        if capture is None:
            return None
        with capture:
            ctype = header(capture.headers, "Content-Type")
            if not contenttype.is_html(ctype):
                return None
            try:
                html = PageHtml(capture.content(MAX_PAGE), contenttype.charset(ctype))
            except ArchiveError:
                return None
            entry = PageEntry(url=capture.url, timestamp=capture.timestamp, warc=capture.line.filename,
                              offset=capture.line.offset)
        article = article_of(entry, html)
    base, stamp = entry.page_url, entry.timestamp

    def rewrite(url: str, kind: str) -> str | None:
        try:
            absolute = urljoin(base, url.strip())
        except ValueError:
            return None
        if not absolute.lower().startswith(("http://", "https://")):
            return None
        if kind == "image":  # served by the listing origin itself: replay origins serve only their own pages
            return f"/_warcache/image/{wb.coll}/{stamp}/{ui.url_path_quote(absolute)}"
        return replay_origin + replay_path(wb.coll, stamp, "", ui.url_path_quote(absolute))

    body = ui.sanitize_article(article.body_html, rewrite)
    return ui.ReaderView(
        coll=wb.coll,
        title=article.title or article.headline,
        url=base,
        timestamp=stamp,
        article_html=body,
        replay_href=replay_origin + replay_path(wb.coll, stamp, "", ui.url_path_quote(base)),
        byline=article.byline,
        site_name=article.site_name,
    )
