"""Finding the links of a document, so that every page it points to can be captured.

Why: warcache began as a cache for the links of a blog; `warcache add --links-from SOURCE` must take
the pages a writer links to from whatever they wrote in: Markdown, an HTML page, a plain list of URLs,
an RSS/Atom feed, or the bookmarks a browser exports. SOURCE is a file, `-` (standard input) or an
http(s) URL, which is fetched.

What counts as a link, in every format:

* only http and https targets: `mailto:`, `javascript:`, `tel:`, `data:`, `ftp:`... are skipped;
* relative links are resolved against the document's URL (the URL it was fetched from, `base_url`, or
  an HTML `<base>`, or an Atom `xml:base`); without one they are skipped (counted as "relative");
* in-page anchors (`#x`) and links back to the document itself (`page.html#x` on `page.html`) are
  skipped: they are not outbound;
* each URL is normalised as `warcache add` normalises it (`warcache.urls.normalize_url`, which drops
  the fragment), duplicates are dropped, and the first-seen order is kept.

Per format: Markdown is parsed with markdown-it (CommonMark; inline `[t](url)`, reference links and
every `[t]: url` definition, `<url>` autolinks, bare `http(s)://` URLs via linkify, and `<a href>` in raw
HTML; links inside code are not links). HTML takes `a[href]` and `area[href]`. Plain text takes a line
that is one URL as it stands, and bare `http(s)://` URLs anywhere else (trailing punctuation is not
part of a URL). Feeds take each item's or entry's own link (RSS 2.0 `<link>`, else a permalink `<guid>`;
RSS 1.0 `<link>`; Atom `<link rel="alternate">`), never the channel's. Bookmark files (the
`<!DOCTYPE NETSCAPE-Bookmark-file-1>` format all browsers export) take every `<A HREF>`. Addresses
without a scheme (`www.example.com`) are not taken: in prose too many words look like host names.

`filter_links` narrows a list with shell-style globs matched against the whole URL
(`*://example.com/*`) or, with a `re:` prefix, regular expressions searched anywhere in it
(`re:\\.pdf$`).
"""

from __future__ import annotations

import fnmatch
import re
import sys
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path, PurePosixPath
from urllib.parse import urljoin, urlsplit

from lxml import etree

from warcache import __version__
from warcache.errors import UsageError
from warcache.extract.article import parse_html
from warcache.extract.decode import decode_html
from warcache.urls import normalize_url

MAX_SOURCE_BYTES = 50 * 1024 * 1024  # a link list larger than this is a mistake, not a document
FETCH_TIMEOUT = 30.0

__all__ = [
    "LinkFormat",
    "LinkResult",
    "LinkSource",
    "collect_links",
    "detect_format",
    "extract_links",
    "fetch_source",
    "filter_links",
]


class LinkFormat(StrEnum):
    MARKDOWN = "markdown"
    HTML = "html"
    TEXT = "text"
    FEED = "feed"
    BOOKMARKS = "bookmarks"


# -------------------------------------------------------------------------------- detection

_EXTENSIONS = {
    **dict.fromkeys((".md", ".markdown", ".mdown", ".mkd", ".mkdn", ".mdwn"), LinkFormat.MARKDOWN),
    **dict.fromkeys((".html", ".htm", ".xhtml", ".shtml"), LinkFormat.HTML),
    **dict.fromkeys((".txt", ".text", ".list", ".urls"), LinkFormat.TEXT),
    **dict.fromkeys((".rss", ".atom", ".rdf", ".xml", ".feed"), LinkFormat.FEED),
}
_MIME_TYPES = {
    "text/html": LinkFormat.HTML,
    "application/xhtml+xml": LinkFormat.HTML,
    "text/markdown": LinkFormat.MARKDOWN,
    "text/x-markdown": LinkFormat.MARKDOWN,
    "application/rss+xml": LinkFormat.FEED,
    "application/atom+xml": LinkFormat.FEED,
    "application/rdf+xml": LinkFormat.FEED,
    "application/feed+xml": LinkFormat.FEED,
}
_FEED_ROOTS = {"rss", "feed", "rdf"}
_SNIFF = 4096
_PROLOG_RE = re.compile(rb"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>", re.S | re.I)
_XML_ROOT_RE = re.compile(rb"<([A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)[\s/>]")
_HTML_HINT_RE = re.compile(rb"<!doctype\s+html|<html[\s>]|<body[\s>]|<head[\s>]", re.I)
# Link syntax only: headings and lists look the same in a commented list of URLs.
_MARKDOWN_HINT_RE = re.compile(rb"\[[^\]\n]*\]\([^)\s]+|^ {0,3}\[[^\]\n]+\]:\s*\S|<https?://[^>\s]+>", re.M)


def _mime(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _charset(content_type: str | None) -> str | None:
    for part in (content_type or "").split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None


def _head(content: bytes) -> bytes:
    """The start of the document, without a byte order mark or leading blank space."""
    head = content[:_SNIFF]
    for bom in (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"):
        head = head.removeprefix(bom)
    return head.lstrip()


def _xml_root(head: bytes) -> str | None:
    """The local name of the root element of a feed, an (X)HTML page or an XML document, else None."""
    body = _PROLOG_RE.sub(b"", head).lstrip()
    match = _XML_ROOT_RE.match(body)
    if match is None:
        return None
    name = match.group(2).decode("ascii").lower()
    return name if name in _FEED_ROOTS or name == "html" or head.startswith(b"<?xml") else None


def _extension(name: str | None) -> str:
    if not name:
        return ""
    path = urlsplit(name).path if _is_url(name) else name
    return PurePosixPath(path).suffix.lower()


def detect_format(content: bytes, *, name: str | None = None, content_type: str | None = None) -> LinkFormat:
    """The format of a link source: from its content when it says (bookmark files, feeds), else from
    the content type, else from the file name's extension, else by sniffing (HTML, Markdown, text).

    Content first for bookmarks and feeds, because they are served and saved as `.html`/`text/html`
    and `.xml`/`text/xml`; the declared type first for the rest, because a Markdown file and a text
    file cannot be told apart reliably by their bytes.
    """
    head = _head(content)
    if head[:64].lower().startswith(b"<!doctype netscape-bookmark-file"):
        return LinkFormat.BOOKMARKS
    root = _xml_root(head)
    if root in _FEED_ROOTS:
        return LinkFormat.FEED
    if root == "html":
        return LinkFormat.HTML
    declared = _MIME_TYPES.get(_mime(content_type)) or _EXTENSIONS.get(_extension(name))
    if root is not None and declared in (None, LinkFormat.FEED):
        raise UsageError(f"{name or 'the source'} is XML but not an RSS or Atom feed "
                         f"(its root element is <{root}>)")
    if declared is LinkFormat.FEED:
        raise UsageError(f"{name or 'the source'} is not an RSS or Atom feed")
    if declared is not None:
        return declared
    if head.startswith(b"<") or _HTML_HINT_RE.search(head):
        return LinkFormat.HTML
    if _MARKDOWN_HINT_RE.search(content[: 64 * 1024]):
        return LinkFormat.MARKDOWN
    return LinkFormat.TEXT


# -------------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class Fetched:
    content: bytes
    content_type: str | None
    url: str  # after redirects: relative links resolve against it


def _is_url(text: str) -> bool:
    return bool(re.match(r"^https?://", text.strip(), re.I))


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http(s) only (urllib would also follow one to ftp:)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if not _is_url(newurl):
            raise urllib.error.HTTPError(newurl, code, f"redirect to a non-http(s) URL {newurl}", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch_document(url: str, *, timeout: float = FETCH_TIMEOUT) -> Fetched:
    """GET `url` (following redirects) and return its body, content type and final URL."""
    if not _is_url(url):
        raise UsageError(f"cannot fetch {url}: only http and https URLs")
    opener = urllib.request.build_opener(_HttpOnlyRedirects)
    request = urllib.request.Request(url, headers={
        "User-Agent": f"warcache/{__version__} (reading a list of links)",
        "Accept": "text/html, application/xhtml+xml, application/rss+xml, application/atom+xml, "
                  "text/markdown, text/plain;q=0.9, */*;q=0.5",
    })
    try:
        with opener.open(request, timeout=timeout) as response:
            content = response.read(MAX_SOURCE_BYTES + 1)
            content_type = response.headers.get("Content-Type")
            final = response.geturl() or url
    except urllib.error.HTTPError as exc:
        raise UsageError(f"could not fetch {url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise UsageError(f"could not fetch {url}: {_one_line(exc.reason)}") from None
    except (TimeoutError, OSError, ValueError) as exc:
        raise UsageError(f"could not fetch {url}: {_one_line(exc)}") from None
    if len(content) > MAX_SOURCE_BYTES:
        raise _too_large(url)
    return Fetched(content, content_type, final)


def fetch_source(url: str, *, timeout: float = FETCH_TIMEOUT) -> tuple[bytes, str | None]:
    """GET `url` and return (body, Content-Type); UsageError with one line if that fails."""
    fetched = fetch_document(url, timeout=timeout)
    return fetched.content, fetched.content_type


def _too_large(name: str) -> UsageError:
    return UsageError(f"{name} is larger than {MAX_SOURCE_BYTES // (1024 * 1024)} MB: not a list of links")


def _one_line(value: object) -> str:
    text = str(value).strip().splitlines()
    return text[0] if text else type(value).__name__


def _read_file(path: Path) -> bytes:
    shown = str(path)
    try:
        if path.is_dir():
            raise UsageError(f"{shown} is a directory, not a file of links")
        with open(path, "rb") as fh:
            content = fh.read(MAX_SOURCE_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(f"no such file: {shown}") from None
    except IsADirectoryError:
        raise UsageError(f"{shown} is a directory, not a file of links") from None
    except OSError as exc:
        raise UsageError(f"cannot read {shown}: {exc.strerror or exc}") from None
    if len(content) > MAX_SOURCE_BYTES:
        raise _too_large(shown)
    return content


@dataclass(frozen=True)
class LinkSource:
    """A document to take links from: its bytes, its format, and the URL its relative links resolve
    against (None for a local file without `base_url`: its relative links are then skipped)."""

    name: str  # the path or URL, for messages
    content: bytes
    format: LinkFormat
    url: str | None = None
    content_type: str | None = None

    @classmethod
    def load(cls, source: str | Path, *, base_url: str | None = None, content: bytes | None = None,
             content_type: str | None = None, link_format: LinkFormat | str | None = None) -> LinkSource:
        """Read (or fetch) `source` and detect its format. `content` given: nothing is read, and
        `source` only names the document (its extension still helps detection)."""
        name = str(source)
        url = base_url
        if content is None:
            if isinstance(source, str) and _is_url(source):
                fetched = fetch_document(source.strip())
                content, content_type = fetched.content, content_type or fetched.content_type
                url = base_url or fetched.url
            elif isinstance(source, str) and "://" in source:
                raise UsageError(f"cannot read links from {name}: give a file or an http(s) URL")
            elif name == "-":
                content = sys.stdin.buffer.read(MAX_SOURCE_BYTES + 1)
                name = "standard input"
                if len(content) > MAX_SOURCE_BYTES:
                    raise _too_large(name)
            else:
                content = _read_file(Path(source).expanduser())
        elif url is None and isinstance(source, str) and _is_url(source):
            url = source.strip()
        if not content.strip():
            raise UsageError(f"{name} is empty: no links to read")
        if url is not None and not _is_url(url):
            raise UsageError(f"base URL {url!r} is not an http(s) URL")
        fmt = (LinkFormat(link_format) if link_format
               else detect_format(content, name=name, content_type=content_type))
        return cls(name=name, content=content, format=fmt, url=url, content_type=content_type)


# -------------------------------------------------------------------------------- collecting

SKIP_REASONS = {
    "fragment": "in-page anchors",
    "self": "links to the document itself",
    "scheme": "links that are not http(s) (mailto:, javascript:, tel:...)",
    "relative": "relative links with no base URL to resolve them",
    "invalid": "malformed URLs",
    "duplicate": "duplicates",
    "empty": "empty links",
}
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_URL_NOISE = re.compile(r"[\t\n\r]")


@dataclass
class LinkResult:
    """The links found, in first-seen order, and what was skipped (reason -> count, see SKIP_REASONS)."""

    links: list[str]
    format: LinkFormat
    skipped: Counter[str] = field(default_factory=Counter)

    def describe_skipped(self) -> str:
        """E.g. `skipped 3 duplicates, 1 in-page anchors` (empty string when nothing was)."""
        parts = [f"{n} {SKIP_REASONS.get(reason, reason)}" for reason, n in self.skipped.most_common() if n]
        return "skipped " + ", ".join(parts) if parts else ""


class _Collector:
    def __init__(self, doc_url: str | None) -> None:
        self.links: list[str] = []
        self.skipped: Counter[str] = Counter()
        self._seen: set[str] = set()
        self._self = _normalized(doc_url) if doc_url else None

    def add(self, href: str | None, base: str | None) -> None:
        # As browsers do: leading/trailing blanks are not part of an href, tabs and newlines inside vanish.
        text = _URL_NOISE.sub("", (href or "").strip(" \t\n\r\f"))
        if not text:
            self.skipped["empty"] += 1
            return
        if text.startswith("#"):
            self.skipped["fragment"] += 1
            return
        if not _SCHEME_RE.match(text):
            if not base:
                self.skipped["relative"] += 1
                return
            try:
                text = urljoin(base, text)
            except ValueError:
                self.skipped["invalid"] += 1
                return
        scheme = _SCHEME_RE.match(text)
        if scheme is None or scheme.group(1).lower() not in ("http", "https"):
            self.skipped["scheme"] += 1
            return
        url = _normalized(text)
        if url is None:
            self.skipped["invalid"] += 1
        elif url == self._self:
            self.skipped["self"] += 1
        elif url in self._seen:
            self.skipped["duplicate"] += 1
        else:
            self._seen.add(url)
            self.links.append(url)


def _normalized(url: str) -> str | None:
    try:
        return normalize_url(url)
    except UsageError:
        return None


def collect_links(source: LinkSource) -> LinkResult:
    """Every outbound http(s) link of `source`, normalised, deduplicated, in first-seen order."""
    collector = _Collector(source.url)
    gatherer = {
        LinkFormat.MARKDOWN: _markdown_links,
        LinkFormat.HTML: _html_links,
        LinkFormat.BOOKMARKS: _html_links,
        LinkFormat.TEXT: _text_links,
        LinkFormat.FEED: _feed_links,
    }[source.format]
    gatherer(source, collector)
    return LinkResult(collector.links, source.format, collector.skipped)


def extract_links(source: str | Path, *, base_url: str | None = None, content: bytes | None = None,
                  content_type: str | None = None) -> list[str]:
    """The outbound http(s) links of a file, `-` (stdin) or URL; see the module docstring for the rules.

    Raises UsageError (one line) for a missing, unreadable, empty or unfetchable source.
    """
    return collect_links(LinkSource.load(source, base_url=base_url, content=content,
                                         content_type=content_type)).links


# -- HTML and bookmarks


def _html_links(source: LinkSource, out: _Collector) -> None:
    root = parse_html(source.content, _charset(source.content_type))
    base = source.url
    for el in root.iter("base"):
        href = (el.get("href") or "").strip()
        if href:
            if _SCHEME_RE.match(href):
                base = href
            elif base:
                base = urljoin(base, href)
            break
    for el in root.iter("a", "area"):
        href = el.get("href")
        if href is not None:
            out.add(href, base)


# -- plain text

_WHOLE_LINE_URL = re.compile(r"^https?://\S+$", re.I)


def _linkifier():
    from linkify_it import LinkifyIt

    # Only URLs with a scheme: `fuzzy` would take "node.js" or "e.g." for host names.
    return LinkifyIt().set({"fuzzy_link": False, "fuzzy_email": False, "fuzzy_ip": False})


def _text_of(source: LinkSource) -> str:
    return decode_html(source.content, _charset(source.content_type)).replace("\x00", "")


def _text_links(source: LinkSource, out: _Collector) -> None:
    linkify = _linkifier()
    for line in _text_of(source).splitlines():
        stripped = line.strip()
        if _WHOLE_LINE_URL.match(stripped):
            out.add(stripped, source.url)  # a line that is one URL is taken whole, even if it ends in ")"
            continue
        for match in linkify.match(line) or ():
            out.add(match.url, source.url)


# -- Markdown


def _markdown_links(source: LinkSource, out: _Collector) -> None:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"linkify": True}).enable("linkify")
    md.linkify = _linkifier()
    env: dict = {}
    tokens = md.parse(_text_of(source), env)
    found: list[tuple[int, int, str]] = []  # (line, order within the line's block, href)
    for block in tokens:
        line = block.map[0] if block.map else 0
        if block.type in ("html_block",):
            found.extend((line, n, href) for n, href in enumerate(_raw_html_hrefs(block.content)))
        for n, token in enumerate(block.children or ()):
            if token.type == "link_open":
                found.append((line, n, str(token.attrGet("href") or "")))
            elif token.type == "html_inline":
                found.extend((line, n, href) for href in _raw_html_hrefs(token.content))
    for ref in env.get("references", {}).values():  # `[label]: url`, used or not
        found.append((ref["map"][0] if ref.get("map") else 0, -1, ref.get("href") or ""))
    found.sort(key=lambda item: (item[0], item[1]))
    for _, _, href in found:
        out.add(href, source.url)


_RAW_HREF_RE = re.compile(r"""<(?:a|area)\b[^>]*?\shref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)


def _raw_html_hrefs(html: str) -> list[str]:
    """`href`s of the `<a>` tags in raw HTML inside Markdown (often single tags, not a document)."""
    from html import unescape

    return [unescape(next(g for g in m.groups() if g is not None)) for m in _RAW_HREF_RE.finditer(html)]


# -- RSS and Atom feeds


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname.lower() if isinstance(el.tag, str) else ""


def _entry_link(entry: etree._Element) -> str | None:
    """The entry's own link: Atom alternate link, RSS <link>, else an RSS permalink <guid>."""
    children = [c for c in entry if isinstance(c.tag, str)]
    atom_links = [c for c in children if _local(c) == "link" and c.get("href")]
    alternates = [c for c in atom_links if (c.get("rel") or "alternate").strip().lower() == "alternate"]
    if alternates:
        html = [c for c in alternates if (c.get("type") or "text/html").lower() in ("text/html",
                                                                                   "application/xhtml+xml")]
        return (html or alternates)[0].get("href")
    for c in children:
        if _local(c) == "link" and (c.text or "").strip():
            return c.text.strip()
    for c in children:
        if _local(c) == "guid" and (c.get("isPermaLink") or "true").strip().lower() != "false":
            text = (c.text or "").strip()
            if _is_url(text):
                return text
    return None


def _feed_links(source: LinkSource, out: _Collector) -> None:
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, remove_comments=True,
                             remove_pis=True)
    try:
        root = etree.fromstring(source.content, parser, base_url=source.url)
    except (etree.XMLSyntaxError, ValueError):
        root = None
    if root is None or _local(root) not in _FEED_ROOTS:
        raise UsageError(f"{source.name} is not a readable RSS or Atom feed")
    for entry in root.iter("{*}item", "{*}entry"):
        href = _entry_link(entry)
        if href is None:
            out.skipped["empty"] += 1
            continue
        out.add(href, entry.base or source.url)  # `base` honours xml:base


# -------------------------------------------------------------------------------- filtering


def _matcher(pattern: str):
    if pattern.startswith("re:"):
        try:
            regex = re.compile(pattern[3:])
        except re.error as exc:
            raise UsageError(f"invalid regular expression {pattern[3:]!r}: {exc}") from None
        return lambda url: regex.search(url) is not None
    if not pattern:
        raise UsageError("empty link pattern")
    return lambda url: fnmatch.fnmatchcase(url, pattern)


def filter_links(urls: list[str], include: list[str] | tuple[str, ...] = (),
                 exclude: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Keep the URLs that match any `include` pattern (all when there is none) and no `exclude` one.

    A pattern is a shell-style glob matched against the whole URL (`*`, `?`, `[abc]`; case matters:
    `https://example.com/blog/*`, `*.pdf`), or a regular expression searched anywhere in the URL when
    it starts with `re:` (`re:/20(19|20)/`). UsageError for an invalid regular expression.
    """
    includes = [_matcher(p) for p in include]
    excludes = [_matcher(p) for p in exclude]
    return [u for u in urls
            if (not includes or any(m(u) for m in includes)) and not any(m(u) for m in excludes)]
