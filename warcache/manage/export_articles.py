"""The cached-articles site: a static copy of every captured article, readable without warcache.

This is what warcache grew out of: a blog keeps a copy of each article it links to, so a reader still
finds the text when the original moves or disappears. `export_cache` writes it from a collection:

    DEST/index.html                     every cached article, newest capture first
    DEST/<YYYY>/<hash_url>/index.md     the article, for a static site generator (format below)
    DEST/<YYYY>/<hash_url>/index.html   the article as a readable page, openable from disk

`YYYY` is the year of the capture, `hash_url` the md5 hex digest of the captured URL (UTF-8), as
`warcache.urls.hash_url` makes it, so a blog can link to `/<YYYY>/<hash_url>/` knowing only the URL
and when it was cached. Each URL appears once, from its newest capture.

`index.md` is, byte for byte (UTF-8, `\\n` line ends):

    title: <the article headline, on one line>
    url: <the URL as captured>
    hash_url: <md5 hex of that URL>
    <one empty line>
    <the article's HTML>
    <a final newline>

The article HTML is the main text as `warcache.extract.article` finds it in the rendered DOM, sanitised (no
scripts, frames, event handlers or inline styles) with every link and image absolute. It never holds
an empty line: in Markdown an empty line would end the HTML block and turn indented lines after it into
code, so a newline that would start one is written as the character reference `&#10;`, which means the
same thing in HTML (the three header lines are what the seed site used; the empty line after them keeps
Markdown from reading them into the HTML block).

Everything taken from the archive (titles, URLs, bylines) is HTML-escaped where it is written into a
page, and each page carries a Content-Security-Policy that forbids scripts, so an archived page cannot
run code when its copy is opened. Images still load from their original servers.

Nothing of the session a page was captured with (`--cookies`, `--storage-state`, `--profile`) is in
the site: it holds no HTTP headers, cookies or storage, only what the page showed, so `export cache
--redact` is accepted and changes nothing.

Pages are skipped (and reported) when they are not HTML (PDF, JSON...), were error pages (HTTP 4xx/5xx),
or their records cannot be read. Re-exporting compares each file's new content with what is on disk and
writes only what differs; article folders of an earlier export whose URL is no longer exported (or whose
newest capture moved to another year) are removed, but only folders holding nothing but these files.
"""

from __future__ import annotations

import html
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from warcache import contenttype, timestamps
from warcache.collection import Collection, open_collection
from warcache.errors import ArchiveError, UsageError
from warcache.extract.captured import page_article
from warcache.pagelist import PageEntry
from warcache.urls import hash_url

ARTICLE_FILES = ("index.md", "index.html")
_YEAR_RE = re.compile(r"^\d{4}$")
_HASH_RE = re.compile(r"^[0-9a-f]{32}$")
_BLANK_LINE_AHEAD = re.compile(r"\n(?=[ \t]*(?:\n|$))")


@dataclass
class ExportReport:
    """What an export did. `written`/`unchanged` count files; `removed` counts stale article folders."""

    dest: Path
    articles: int = 0
    written: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (url, why)


@dataclass
class CachedArticle:
    url: str
    timestamp: str  # 14 digits, UTC
    headline: str
    body_html: str
    language: str | None = None
    byline: str | None = None
    site_name: str | None = None

    @property
    def hash(self) -> str:
        return hash_url(self.url)

    @property
    def year(self) -> str:
        return self.timestamp[:4]

    @property
    def folder(self) -> str:
        """Relative to the export's root, with `/` (also the link from the top index)."""
        return f"{self.year}/{self.hash}"


# -------------------------------------------------------------------------------- choosing pages


def newest_pages(coll: Collection) -> list[PageEntry]:
    """The newest page entry of each captured URL, newest first (ties: the later line wins)."""
    newest: dict[str, tuple[str, int, PageEntry]] = {}
    for n, entry in enumerate(coll.pages()):
        key = (entry.timestamp, n)
        if entry.url not in newest or key > newest[entry.url][:2]:
            newest[entry.url] = (entry.timestamp, n, entry)
    chosen = sorted(newest.values(), key=lambda item: (item[0], item[1]), reverse=True)
    return [entry for _, _, entry in chosen]


def _why_not(entry: PageEntry) -> str | None:
    """Why this capture is not an article to cache, or None if it may be one."""
    if entry.status is not None and entry.status >= 400:
        return f"the page answered HTTP {entry.status}"
    mime = contenttype.media_type(entry.mime)
    if mime and mime not in contenttype.HTML_TYPES:
        return f"not an HTML page ({mime})"
    return None


def load_article(coll: Collection, entry: PageEntry) -> CachedArticle:
    """Extract the article of one page entry (ArchiveError if its records cannot be read)."""
    article = page_article(coll, entry)
    headline = _one_line(article.headline or article.title or entry.url)
    return CachedArticle(url=entry.url, timestamp=entry.timestamp, headline=headline,
                         body_html=article.body_html, language=article.language,
                         byline=_one_line(article.byline or "") or None,
                         site_name=_one_line(article.site_name or "") or None)


def _one_line(text: str) -> str:
    return " ".join(text.split())


# -------------------------------------------------------------------------------- rendering


def markdown_safe_html(fragment: str) -> str:
    """`fragment` with no empty line: each newline that would begin one becomes `&#10;` (same HTML)."""
    return _BLANK_LINE_AHEAD.sub("&#10;", fragment.strip())


def render_markdown(article: CachedArticle) -> str:
    """The `index.md` of an article (format in the module docstring)."""
    return (f"title: {article.headline}\nurl: {article.url}\nhash_url: {article.hash}\n\n"
            f"{markdown_safe_html(article.body_html)}\n")


def _e(text: str | None) -> str:
    return html.escape(text or "", quote=True)


def _safe_href(url: str) -> str:
    """An attribute value for a link to `url`; archived URLs are http(s), anything else links nowhere."""
    return _e(url) if urlsplit(url).scheme.lower() in ("http", "https") else "#"


_CSP = ("default-src 'none'; img-src * data:; media-src *; style-src 'unsafe-inline'; "
        "form-action 'none'; base-uri 'none'")
_STYLE = """body{max-width:42em;margin:2em auto;padding:0 1em;font:18px/1.6 Georgia,serif;color:#222}
nav,.meta,.source{font:14px/1.5 system-ui,sans-serif;color:#555}
h1{line-height:1.25}img,video{max-width:100%;height:auto}pre{overflow:auto}
ol.cached{padding-left:0;list-style:none}ol.cached li{margin:.7em 0}
ol.cached time,ol.cached .host{font:14px system-ui,sans-serif;color:#666}"""


def _page(title: str, body: str, *, lang: str | None = None) -> str:
    lang_attr = f' lang="{_e(lang)}"' if lang else ""
    return (f'<!DOCTYPE html>\n<html{lang_attr}>\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
            f'<meta name="referrer" content="no-referrer">\n'
            f"<title>{_e(title)}</title>\n<style>\n{_STYLE}\n</style>\n</head>\n<body>\n{body}</body>\n</html>\n")


def render_article_page(article: CachedArticle) -> str:
    """The readable `index.html` of an article."""
    meta = " · ".join(_e(x) for x in (article.byline, article.site_name) if x)
    body = (
        '<nav><a href="../../index.html">All cached articles</a></nav>\n<header>\n'
        f"<h1>{_e(article.headline)}</h1>\n"
        + (f'<p class="meta">{meta}</p>\n' if meta else "")
        + f'<p class="source">Original: <a href="{_safe_href(article.url)}">{_e(article.url)}</a><br>\n'
        f'Cached <time datetime="{_e(article.timestamp)}">'
        f'{timestamps.display(article.timestamp)}</time></p>\n'
        f"</header>\n<article>\n{article.body_html.strip()}\n</article>\n"
    )
    return _page(article.headline, body, lang=article.language)


def render_index(articles: list[CachedArticle], *, collection: str) -> str:
    """The top `index.html`: every cached article, in the order given (newest first)."""
    items = []
    for a in articles:
        host = urlsplit(a.url).hostname or ""
        items.append(
            f'<li><time datetime="{_e(a.timestamp)}">{_e(timestamps.display(a.timestamp)[:10])}</time> '
            f'<a href="{_e(a.folder)}/index.html">{_e(a.headline)}</a> '
            f'<span class="host">{_e(host)} · <a href="{_safe_href(a.url)}">original</a></span></li>\n')
    title = f"Cached articles ({collection})"
    body = (f"<h1>{_e(title)}</h1>\n<p class=\"meta\">{len(articles)} articles</p>\n"
            f'<ol class="cached">\n{"".join(items)}</ol>\n')
    return _page(title, body)


# -------------------------------------------------------------------------------- writing


def write_if_changed(path: Path, text: str) -> bool:
    """Write `text` (UTF-8) unless the file already holds exactly that; True if it was written."""
    data = text.encode("utf-8")
    try:
        if path.read_bytes() == data:
            return False
    except (FileNotFoundError, NotADirectoryError):
        pass
    except IsADirectoryError:
        raise UsageError(f"cannot write {path}: it is a directory") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    return True


def _remove_stale(dest: Path, keep: set[str]) -> int:
    """Remove article folders of earlier exports that this one did not write; only pure ones."""
    removed = 0
    for year in sorted(p for p in dest.iterdir() if p.is_dir() and _YEAR_RE.match(p.name)):
        for folder in sorted(p for p in year.iterdir() if p.is_dir() and _HASH_RE.match(p.name)):
            if f"{year.name}/{folder.name}" in keep:
                continue
            names = {p.name for p in folder.iterdir()}
            if names and names <= set(ARTICLE_FILES) and all((folder / n).is_file() for n in names):
                shutil.rmtree(folder)
                removed += 1
        if not any(year.iterdir()):
            year.rmdir()
    return removed


def _prepare_dest(dest: Path) -> Path:
    dest = Path(dest).expanduser()
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"{dest} exists and is not a directory")
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {dest}: {exc.strerror or exc}") from None
    return dest


def export_cache(root: str | os.PathLike[str], collection: str | Collection,
                 dest_dir: str | os.PathLike[str]) -> ExportReport:
    """Write (or bring up to date) the cached-articles site of a collection in `dest_dir`."""
    coll = collection if isinstance(collection, Collection) else open_collection(Path(root), collection)
    dest = _prepare_dest(Path(dest_dir))
    report = ExportReport(dest=dest)
    articles: list[CachedArticle] = []
    for entry in newest_pages(coll):
        why = _why_not(entry)
        if why is None:
            try:
                articles.append(load_article(coll, entry))
                continue
            except ArchiveError as exc:
                why = str(exc)
            except (ValueError, TypeError, KeyError, IndexError) as exc:  # a hand-edited pages.jsonl line
                why = f"unusable page entry ({type(exc).__name__}: {exc})"
        report.skipped.append((entry.url, why))

    def put(path: Path, text: str) -> None:
        if write_if_changed(path, text):
            report.written += 1
        else:
            report.unchanged += 1

    for article in articles:
        folder = dest / article.year / article.hash
        put(folder / "index.md", render_markdown(article))
        put(folder / "index.html", render_article_page(article))
    put(dest / "index.html", render_index(articles, collection=coll.name))
    report.articles = len(articles)
    report.removed = _remove_stale(dest, {a.folder for a in articles})
    return report
