"""The reader view of a capture: its article, extracted from the rendered DOM.

warcache stores the DOM the browser rendered next to each page (`urn:warcache:dom:`), which
holds the text a script put on the page; captures made by other tools have only the HTML the
server sent, which is used instead.  The article HTML is sanitised again here (allowlist),
and its links point into the archive on the collection's replay origin; its images are served
by the listing origin (`/_warcache/image/`), since replay origins serve nothing to other origins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urljoin

from warcache.cdxj import _ts_seconds, mime_of
from warcache.errors import ArchiveError
from warcache.replay import ui
from warcache.replay.resolve import header, read_record, safe_archive_path
from warcache.replay.wburl import ArchivalUrl, replay_path

if TYPE_CHECKING:
    from warcache.replay.app import ReplayApp

MAX_PAGE = 32 * 1024 * 1024


def _nearest(entries: list[dict], url: str, timestamp: str) -> dict | None:
    mine = [e for e in entries if url in (e.get("url"), e.get("final_url"))]
    if not mine:
        return None
    if not timestamp:
        return mine[0]  # entries are newest first
    target = _ts_seconds(timestamp)
    return min(mine, key=lambda e: abs(_ts_seconds(str(e.get("timestamp"))) - target))


def _dom(app: ReplayApp, coll: str, entry: dict) -> str | None:
    where = (entry.get("records") or {}).get("dom")
    if not (isinstance(where, list) and len(where) == 2 and entry.get("warc")):
        return None
    try:
        path = safe_archive_path(app._coll(coll), str(entry["warc"]))
        fh, record = read_record(path, int(where[0]))
    except (ArchiveError, ValueError, TypeError):
        return None
    with fh:
        if record.rec_type != "resource":
            return None
        return record.raw_stream.read(MAX_PAGE).decode("utf-8", "replace")


def load_article(app: ReplayApp, wb: ArchivalUrl, replay_origin: str) -> ui.ReaderView | None:
    """The reader view for the capture of `wb.url` nearest `wb.timestamp`, or None."""
    from warcache.extract import extract_article

    entry = _nearest(app.page_entries(wb.coll), wb.url, wb.timestamp)
    html: str | bytes | None = None
    charset = None
    title = None
    base = wb.url
    stamp = wb.timestamp
    if entry is not None:
        html = _dom(app, wb.coll, entry)
        title = str(entry.get("title") or "") or None
        base = str(entry.get("final_url") or entry.get("url"))
        stamp = str(entry.get("timestamp"))
    if html is None:
        capture = app.resolver(wb.coll).find(wb.url, timestamp=wb.timestamp)
        if capture is None:
            return None
        with capture:
            ctype = header(capture.headers, "Content-Type")
            if (mime_of(ctype) or "").lower() not in ("text/html", "application/xhtml+xml"):
                return None
            try:
                html = capture.content(MAX_PAGE)
            except ArchiveError:
                return None
            base, stamp = capture.url, capture.timestamp
            charset = next(
                (
                    p.split("=", 1)[1].strip()
                    for p in (ctype or "").split(";")[1:]
                    if p.strip().lower().startswith("charset=")
                ),
                None,
            )
    article = extract_article(html, base, charset=charset, title=title)

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
