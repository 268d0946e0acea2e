"""The replay server: a WSGI application on two origins, served by waitress.

Why two origins.  Replayed pages run the archived sites' own JavaScript.  They are served
from a second port (the *replay port*, by default the listing port + 1), so by the
browser's same-origin policy they cannot script, read or frame the server's own pages (the
*listing origin*: collections, search, reader view), which carry no script at all.  On the
replay port each collection has its own host name, `<coll>.localhost`, so that one
collection's archived scripts cannot read another's captures either (see `origins`).  The
alternative, a `sandbox` policy without `allow-same-origin`, gives every replayed document
an opaque origin: then storage, cookies and workers throw, same-origin iframes cannot talk
to their parent and every fetch becomes a CORS request that the server would have to allow
for any origin, which would let any web site read the archive.  A separate origin keeps the
pages working as they did live, and keeps the archive unreadable to other sites.

Every replayed response carries a Content-Security-Policy allowing the replay origin only
(plus data: and blob:), so a URL the rewriting misses is blocked, never fetched live; the
server also refuses service-worker scripts and requests whose Host header is not one of
its own names (DNS rebinding).

Routes, listing origin:
    /                                   collections
    /<coll>/?q=&page=                   captured pages, newest first, with search
    /<coll>/*/<url>                     every capture of a URL
    /_warcache/reader/<coll>/<ts>/<url> reader view (extracted article)
    /_warcache/screenshot/<coll>/<file>/<offset>   a capture's screenshot
    /<coll>/<ts><mod>/<url>             redirected to the replay origin
    /_warcache/image/<coll>/<ts>/<url>  an archived image, for the reader view
Routes, replay port (host <coll>.localhost):
    /<coll>/<ts><mod>/<url>, /<coll>/<url>  the archived response (pywb's URL scheme); on
                                        another host: a navigation is redirected to the
                                        collection's host, a subresource refused
    /_warcache/static/client.js         the injected client script
    anything else                       routed by its Referer (root-relative URLs that
                                        scripts built at run time), else 404

Why waitress: a production WSGI server in pure Python (no compiler, runs wherever Python
does), HTTP/1.1 keep-alive, a bounded thread pool, and it can listen on several sockets in
one process.  The application itself is a plain WSGI callable built with werkzeug's
request/response objects, so tests drive it in-process with werkzeug's test client.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import socket
import sys
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urljoin, urlsplit

from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request, Response

from warcache import contenttype, timestamps
from warcache.collection import Collection, list_collections, open_collection, root_path, validate_name
from warcache.errors import ArchiveError, UsageError, WarcacheError
from warcache.pagelist import PageEntry
from warcache.replay import ui
from warcache.replay.headers import IMAGE_CSP, UI_CSP, added_headers, is_safe_header, replay_headers
from warcache.replay.origins import LOCALHOST, Origins, foreign_subresource, valid_domain
from warcache.replay.resolve import Capture, Resolver, header
from warcache.replay.rewrite import UrlRewriter, rewrite_bytes
from warcache.replay.wburl import (
    DOC_MODIFIERS,
    IDENTITY,
    WORKER,
    ArchivalUrl,
    parse_archival_path,
    replay_path,
)
from warcache.warc.reader import read_record_at
from warcache.warc.writer import SCREENSHOT_URN

STATIC_DIR = Path(__file__).with_name("static")
PAGE_SIZE = 50
MAX_REWRITE = 64 * 1024 * 1024  # bigger HTML/CSS bodies are served as they are
MAX_REQUEST_BODY = 4 * 1024 * 1024
MAX_IMAGE = 16 * 1024 * 1024  # reader-view images bigger than this are not shown
SMALL_BODY = 4 * 1024 * 1024  # chunked bodies up to this size are de-chunked in memory
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_DOC_DESTS = frozenset({"document", "iframe", "frame", "embed", "object"})


def _read_static(name: str) -> str:
    return (STATIC_DIR / name).read_text(encoding="utf-8")


def client_bundle() -> str:
    """The script injected into replayed pages (clock pinning, URL mapping, the client)."""
    return "\n".join(_read_static(n) for n in ("pin.js", "core.js", "client.js"))


def pin_script(time_ms: int, seed: int) -> str:
    """A script that pins Date and Math.random (used by `warcache open` as an init script)."""
    return _read_static("pin.js") + f"\nself.__warcachePin({time_ms}, {seed}); delete self.__warcachePin;\n"


def seed_for(url: str, timestamp: str) -> int:
    return zlib.crc32(f"{timestamp} {url}".encode()) or 1


# ---------------------------------------------------------------------------------------
# The application
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Where:
    """Who is asking: which of the two origins, and the host name the browser used."""

    replay: bool
    hostname: str
    scheme: str
    coll: str | None = None  # the collection whose host name this is (replay port only)


class ReplayApp:
    """The WSGI application (see the module docstring).

    `ui_port` and `replay_port` are the two ports the server listens on: a request is
    answered as the replay origin when it arrives on `replay_port`.  `allowed_hosts` are the
    host names the browser may use (None: any, for a server bound to a public address).
    `origins` gives each collection its host name on the replay port (see `origins`); a
    server of one collection (`collection`) needs no isolation and uses one origin.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        collection: str | None = None,
        ui_port: int,
        replay_port: int,
        allowed_hosts: Iterable[str] | None = frozenset(LOOPBACK_NAMES),
        origins: Origins | None = None,
    ) -> None:
        if ui_port == replay_port:
            raise UsageError("the listing and replay ports must differ")
        self.root = root_path(root)
        self.collection = validate_name(collection) if collection else None
        if self.collection:
            open_collection(self.root, self.collection)  # must exist
        self.ui_port = ui_port
        self.replay_port = replay_port
        self.origins = Origins(None) if self.collection else (origins or Origins())
        self.allowed_hosts = (
            None if allowed_hosts is None else frozenset(h.lower().strip("[]") for h in allowed_hosts)
        )
        if self.allowed_hosts is not None and self.origins.domain:
            self.allowed_hosts |= {self.origins.domain}
        self._resolvers: dict[str, Resolver] = {}
        self._lock = threading.Lock()
        self._colls_cache: tuple[float, frozenset[str]] = (0.0, frozenset())
        self._pages_cache: dict[str, tuple[tuple[int, int], list[dict]]] = {}
        self._bundle = client_bundle().encode("utf-8")
        self._bundle_version = hashlib.sha1(self._bundle).hexdigest()[:12]
        self._worker_prefix = "\n".join(_read_static(n) for n in ("pin.js", "core.js", "worker.js"))

    # -- WSGI ------------------------------------------------------------------------------
    def __call__(self, environ: dict, start_response):  # noqa: ANN204 - the WSGI signature
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except WarcacheError as exc:
            response = self._html(ui.error_page("Error", str(exc)), 500)
        return response(environ, start_response)

    def close(self) -> None:
        with self._lock:
            for resolver in self._resolvers.values():
                resolver.close()
            self._resolvers.clear()

    def dispatch(self, request: Request) -> Response:
        where = self._where(request)
        if where is None:
            return self._text("421 Misdirected Request: unknown host name (DNS rebinding protection)\n", 421)
        target = _raw_target(request)
        if where.replay:
            return self._replay_origin(request, where, target)
        return self._ui_origin(request, where, target)

    def _where(self, request: Request) -> _Where | None:
        host = request.host or ""
        try:
            hostname = urlsplit("//" + host).hostname or ""
        except ValueError:
            return None
        port = str(request.environ.get("SERVER_PORT", ""))
        replay = port == str(self.replay_port)
        coll = self.origins.collection_of(hostname, self.collections()) if replay else None
        if coll is None and self.origins.is_collection_host(hostname):
            return None  # a collection host name on the listing port, or of no collection
        if coll is None and self.allowed_hosts is not None and hostname.lower() not in self.allowed_hosts:
            return None
        return _Where(replay, hostname, request.scheme, coll)

    def _origin(self, where: _Where, *, replay: bool, coll: str | None = None) -> str:
        """The listing origin, or the replay origin of `coll` (its own host when isolated)."""
        host = where.hostname
        if replay and coll is not None and self.origins.isolated:
            host = self.origins.host(coll) or host
        elif where.coll is not None:  # from a collection's host back to the listing: its parent
            host = self.origins.domain or host
        if ":" in host:
            host = f"[{host}]"
        return f"{where.scheme}://{host}:{self.replay_port if replay else self.ui_port}"

    def replay_origin(self, coll: str, scheme: str = "http", hostname: str = "127.0.0.1") -> str:
        """The origin replaying `coll`, as a browser should be sent to it."""
        return self._origin(_Where(False, hostname, scheme), replay=True, coll=coll)

    # -- collections -----------------------------------------------------------------------
    def collections(self) -> frozenset[str]:
        if self.collection:
            return frozenset({self.collection})
        stamp, names = self._colls_cache
        if time.monotonic() - stamp > 2.0:
            names = frozenset(list_collections(self.root))
            self._colls_cache = (time.monotonic(), names)
        return names

    def _coll(self, name: str) -> Collection:
        return Collection(self.root, name)

    def resolver(self, name: str) -> Resolver:
        with self._lock:
            resolver = self._resolvers.get(name)
            if resolver is None:
                resolver = self._resolvers[name] = Resolver(self._coll(name))
            return resolver

    def page_entries(self, name: str) -> list[PageEntry]:
        """pages.jsonl of a collection, newest first (cached until the file changes)."""
        coll = self._coll(name)
        try:
            st = coll.pages_path.stat()
            ident = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            return []
        cached = self._pages_cache.get(name)
        if cached and cached[0] == ident:
            return cached[1]
        entries = list(coll.pages())
        entries.sort(key=lambda e: e.timestamp, reverse=True)
        self._pages_cache[name] = (ident, entries)
        return entries

    # -- listing origin --------------------------------------------------------------------
    def _ui_origin(self, request: Request, where: _Where, target: str) -> Response:
        path = target.split("?", 1)[0]
        colls = self.collections()
        if path == "/":
            if self.collection:
                return _redirect(f"/{self.collection}/")
            infos = [ui.CollectionInfo(n, len(self.page_entries(n))) for n in sorted(colls)]
            return self._html(ui.collections_page(infos))
        if path.startswith("/_warcache/"):
            return self._ui_special(request, where, target)
        name, sep, rest = path[1:].partition("/")
        if name in colls and sep and not rest:
            return self._listing(request, where, name)
        if name in colls and not sep:
            return _redirect(f"/{name}/")
        if name in colls and target[1:].partition("/")[2].startswith("*/"):
            return self._captures(where, name, target[1:].partition("/")[2][2:])
        wb = parse_archival_path(target, colls)
        if wb is not None:
            return _redirect(self._origin(where, replay=True, coll=wb.coll) + target)
        return self._html(ui.error_page("Not found", "There is nothing at this address."), 404)

    def _ui_special(self, request: Request, where: _Where, target: str) -> Response:
        parts = target.split("?", 1)[0].split("/")  # '', '_warcache', kind, ...
        kind = parts[2] if len(parts) > 2 else ""
        if kind == "screenshot" and len(parts) == 6:
            return self._screenshot(parts[3], unquote(parts[4]), parts[5])
        if kind == "reader" and len(parts) >= 6:
            prefix = "/".join(parts[:5]) + "/"
            return self._reader(where, parts[3], parts[4], target[len(prefix) :])
        if kind == "static":
            return self._static(parts[3] if len(parts) > 3 else "")
        if kind == "image" and len(parts) >= 6:
            prefix = "/".join(parts[:5]) + "/"
            return self._image(parts[3], parts[4], target[len(prefix) :])
        return self._html(ui.error_page("Not found", "There is nothing at this address."), 404)

    def _listing(self, request: Request, where: _Where, name: str) -> Response:
        query = (request.args.get("q") or "").strip()[:500]
        try:
            page = max(1, min(int(request.args.get("page", "1")), 10_000))
        except ValueError:
            page = 1
        entries = self.page_entries(name)
        counts: dict[str, int] = {}
        for e in entries:
            counts[e.url] = counts.get(e.url, 0) + 1
        note = ""
        if query:
            rows, note = self._search(where, name, query, page, entries, counts)
        else:
            start = (page - 1) * PAGE_SIZE
            rows = [self._row(where, name, e, counts) for e in entries[start : start + PAGE_SIZE + 1]]
        has_next = len(rows) > PAGE_SIZE
        html = ui.pages_page(name, rows[:PAGE_SIZE], query=query, page=page, has_next=has_next, note=note)
        return self._html(html)

    def _row(self, where: _Where, name: str, entry: PageEntry, counts: dict[str, int]) -> ui.PageRow:
        url, ts = entry.url, entry.timestamp
        shot = entry.span("screenshot")
        thumb = None
        if shot is not None:
            thumb = f"/_warcache/screenshot/{name}/{quote(entry.warc, safe='')}/{shot[0]}"
        return ui.PageRow(
            url=url,
            title=entry.title,
            timestamp=ts,
            replay_href=self._origin(where, replay=True, coll=name)
            + replay_path(name, ts, "", ui.url_path_quote(url)),
            reader_href=f"/_warcache/reader/{name}/{ts}/{ui.url_path_quote(url)}",
            captures_href=f"/{name}/*/{ui.url_path_quote(url)}",
            captures=counts.get(url, 1),
            thumb_href=thumb,
            status=entry.status,
        )

    def _search(
        self, where: _Where, name: str, query: str, page: int, entries: list[PageEntry],
        counts: dict[str, int],
    ) -> tuple[list[ui.PageRow], str]:
        want = page * PAGE_SIZE + 1
        by_capture = {(e.url, e.timestamp): e for e in entries}
        try:
            if not (self._coll(name).indexes_dir / "fulltext").is_dir():
                raise LookupError("no full-text index")
            from warcache.index.postprocess import fulltext_index  # the full-text index is optional here

            hits = fulltext_index(self._coll(name)).search(query, limit=want)
        except UsageError as exc:
            return [], f"Search: {exc}"
        except Exception:  # noqa: BLE001 - no index (or no search module): fall back to titles
            needle = query.lower()
            found = [
                e for e in entries if needle in e.title.lower() or needle in e.url.lower()
            ]
            rows = [self._row(where, name, e, counts) for e in found[(page - 1) * PAGE_SIZE : want]]
            return rows, "The full-text index is not available: titles and URLs were searched."
        rows = []
        for hit in hits[(page - 1) * PAGE_SIZE :]:
            entry = by_capture.get((hit.url, hit.timestamp)) or PageEntry(
                url=hit.url, timestamp=hit.timestamp, warc=hit.warc_filename, offset=hit.warc_offset,
                title=hit.title)
            row = self._row(where, name, entry, counts)
            row.title = hit.title or row.title
            row.snippet, row.highlights = hit.snippet, list(hit.highlights)
            rows.append(row)
        return rows, ""

    def _captures(self, where: _Where, name: str, url_text: str) -> Response:
        wb = parse_archival_path(f"/{name}/{url_text}", {name})
        if wb is None:
            return self._html(ui.error_page("Not a URL", "Give a URL after /*/."), 400)
        lines = self.resolver(name).candidates(wb.url, limit=1000)
        rows = [
            ui.CaptureRow(
                ln.timestamp,
                ln.status,
                "revisit" if ln.is_revisit else ln.mime,
                self._origin(where, replay=True, coll=name)
                + replay_path(name, ln.timestamp, "", ui.url_path_quote(ln.url)),
                ln.url,
            )
            for ln in lines
        ]
        return self._html(ui.captures_page(name, wb.url, rows), 200 if rows else 404)

    def _screenshot(self, name: str, filename: str, offset_text: str) -> Response:
        if name not in self.collections() or not offset_text.isdigit():
            return self._text("not found\n", 404)
        try:
            record = read_record_at(self._coll(name).warc_path(filename), int(offset_text))
        except ArchiveError:
            return self._text("not found\n", 404)
        uri = record.rec_headers.get_header("WARC-Target-URI") or ""
        if record.rec_type != "resource" or not uri.startswith(SCREENSHOT_URN):
            return self._text("not found\n", 404)
        data = record.raw_stream.read()
        response = Response(data, 200, content_type="image/png")
        response.headers["Cache-Control"] = "private, max-age=86400, immutable"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    def _reader(self, where: _Where, name: str, ts: str, url_text: str) -> Response:
        from warcache.replay.reader_view import load_article  # lxml and the extractor: only when asked

        wb = parse_archival_path(f"/{name}/{ts}/{url_text}", self.collections())
        if wb is None:
            return self._html(ui.error_page("Not found", "No such capture."), 404)
        replay = self._origin(where, replay=True, coll=wb.coll)
        coll = self._coll(wb.coll)
        view = load_article(coll, self.page_entries(wb.coll), self.resolver(wb.coll), wb, replay)
        if view is None:
            return self._html(
                ui.error_page("No article", "This capture has no page text to show."), 404
            )
        return self._html(ui.reader_page(view))

    def _image(self, name: str, ts: str, url_text: str) -> Response:
        """An archived image on the listing origin, for the reader view: the replay origins
        serve nothing to other origins, and only images are served here, inert (sandboxed,
        no sniffing), so no archived script ever runs on the listing origin."""
        wb = parse_archival_path(f"/{name}/{ts}/{url_text}", self.collections())
        if wb is None:
            return self._text("not found\n", 404)
        capture = self.resolver(wb.coll).find(wb.url, timestamp=wb.timestamp)
        if capture is None:
            return self._text("not archived\n", 404)
        with capture:
            mime = contenttype.media_type(header(capture.headers, "Content-Type"))
            if capture.status != 200 or not mime.startswith("image/"):
                return self._text("not an archived image\n", 404)
            length = capture.raw_length
            if length is not None and length > MAX_IMAGE:
                return self._text("image too large for the reader view\n", 404)
            try:
                data = capture.content(MAX_IMAGE)
            except ArchiveError:
                return self._text("unreadable image\n", 404)
        response = Response(data, 200, content_type=mime)
        response.headers["Content-Security-Policy"] = IMAGE_CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "private, max-age=86400"
        return response

    def _static(self, name: str) -> Response:
        if name.split("?", 1)[0] != "client.js":
            return self._text("not found\n", 404)
        response = Response(self._bundle, 200, content_type="text/javascript; charset=utf-8")
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    # -- replay origin ---------------------------------------------------------------------
    def _replay_origin(self, request: Request, where: _Where, target: str) -> Response:
        if foreign_subresource(request.headers.get("Sec-Fetch-Site"), request.headers.get("Sec-Fetch-Mode")):
            return self._text("Forbidden: replayed resources are served only to pages of their own "
                              "collection's origin.\n", 403)
        if target.startswith("/_warcache/static/"):
            return self._static(target.split("/")[3])
        if request.headers.get("Service-Worker"):
            return self._text("service workers are disabled in replay\n", 403)
        colls = self.collections()
        wb = parse_archival_path(target, colls)
        if wb is not None and self.origins.isolated and wb.coll != where.coll:
            return self._elsewhere(request, where, wb, target)
        if wb is not None and urlsplit(wb.url).netloc.lower() == (request.host or "").lower():
            # A URL the page made from `location.origin` and that slipped past the client: it
            # means a path on the page's original origin, which the Referer tells.
            parts = urlsplit(wb.url)
            inner = parts.path + (f"?{parts.query}" if parts.query else "")
            return self._from_referer(request, where, inner, colls) or self._not_archived(request, where, wb)
        if wb is not None:
            return self.replay(request, where, wb)
        path = target.split("?", 1)[0]
        name = path[1:].partition("/")[0]
        if path == "/" or (name in colls and path.rstrip("/") == f"/{name}"):
            return _redirect(self._origin(where, replay=False) + path)
        fallback = self._from_referer(request, where, target, colls)
        if fallback is not None:
            return fallback
        return self._text("Not archived: this address is not a replay URL.\n", 404)

    def _elsewhere(self, request: Request, where: _Where, wb: ArchivalUrl, target: str) -> Response:
        """A replay URL of one collection asked on another host (see `origins`).

        A browser navigation goes to the collection's own host.  A client that sends no fetch
        metadata (curl, a script; current browsers all send it) gets the response on the shared
        host, sandboxed, so that an older browser would give it an opaque origin and run nothing.
        Anything else is a page of one collection asking for another's data: refused.
        """
        if (request.headers.get("Sec-Fetch-Mode") or "").lower() == "navigate":
            return _redirect(self._origin(where, replay=True, coll=wb.coll) + target)
        if where.coll is None and "Sec-Fetch-Site" not in request.headers:
            response = self.replay(request, where, wb)
            policy = response.headers.get("Content-Security-Policy")
            response.headers["Content-Security-Policy"] = f"{policy}; sandbox" if policy else "sandbox"
            return response
        return self._text(f"Forbidden: this is not the host of collection {wb.coll!r}.\n", 403)

    def _from_referer(
        self, request: Request, where: _Where, target: str, colls: frozenset[str]
    ) -> Response | None:
        """Root-relative URLs built by scripts (`import("/x.js")`, `new Image().src = "/y"` in a
        worker): the page that asked is in the Referer, and its original origin gives the URL."""
        referer = request.headers.get("Referer") or ""
        try:
            ref = urlsplit(referer)
        except ValueError:
            return None
        if ref.hostname != where.hostname or (ref.port or 80) != self.replay_port:
            return None
        page = parse_archival_path(ref.path + (f"?{ref.query}" if ref.query else ""), colls)
        if page is None or (self.origins.isolated and page.coll != where.coll):
            return None
        original = urljoin(page.url, target)
        response = _redirect(replay_path(page.coll, page.timestamp, "", original), 307)
        response.headers["Vary"] = "Referer"
        return response

    def replay(self, request: Request, where: _Where, wb: ArchivalUrl) -> Response:
        """Answer one replay request from the archive."""
        method = request.method.upper()
        body = b""
        if method in ("POST", "PUT"):
            body = request.stream.read(MAX_REQUEST_BODY)
        capture = self.resolver(wb.coll).find(
            wb.url,
            timestamp=wb.timestamp,
            method=method,
            content_type=request.headers.get("Content-Type"),
            body=body,
        )
        if capture is None:
            return self._not_archived(request, where, wb)
        if capture.timestamp != wb.timestamp and _is_navigation(request, wb):
            url = capture.url if method in ("GET", "HEAD") else wb.url
            capture.close()
            return _redirect(wb.path(timestamp=capture.timestamp, url=ui.url_path_quote(url)))
        try:
            return self._respond(request, wb, capture)
        except BaseException:
            capture.close()
            raise

    def _respond(self, request: Request, wb: ArchivalUrl, capture: Capture) -> Response:
        stamp = wb.timestamp or capture.timestamp
        rw = UrlRewriter(wb.coll, stamp, wb.url)
        mime = contenttype.media_type(header(capture.headers, "Content-Type"))
        kind = self._kind(wb, mime)
        no_body = request.method.upper() == "HEAD" or capture.status in (204, 304) or capture.status < 200
        payload: bytes | Iterator[bytes] | None = None
        keep_encoding = True
        length: int | None = None
        if no_body:
            capture.close()
        elif kind is not None:
            payload = self._rewritten(request, wb, capture, kind, rw, stamp)
            if payload is not None:
                keep_encoding = False
                length = len(payload)
        if payload is None and not no_body:
            # Served as archived: the body still content-encoded, only de-chunked.
            raw = capture.raw_length
            if not capture.chunked:
                length, payload = raw, capture.iter_entity()
            elif raw is not None and raw <= SMALL_BODY:
                payload = b"".join(capture.iter_entity())  # a length keeps the connection alive
                length = len(payload)
            else:
                payload = capture.iter_entity()
        headers = replay_headers(
            capture.headers,
            keep_encoding=keep_encoding,
            rewrite=lambda u: rw.rewrite(u, wb.modifier if wb.modifier != WORKER else ""),
            cookie_path=f"/{wb.coll}/",
            identity=wb.is_identity,
        )
        headers += added_headers(capture.timestamp, identity=wb.is_identity)
        out = Headers([(k, v) for k, v in headers if is_safe_header(k, v)])
        if length is not None:
            out["Content-Length"] = str(length)
        response = Response(
            payload if payload is not None else b"",
            status=f"{capture.status} {_reason(capture)}",
            headers=out,
            direct_passthrough=True,
        )
        if payload is None or isinstance(payload, bytes):
            capture.close()
        elif length is None:
            response.headers.pop("Content-Length", None)
        return response

    def _kind(self, wb: ArchivalUrl, mime: str) -> str | None:
        if wb.is_identity:
            return None
        if wb.modifier == WORKER and ("javascript" in mime or "ecmascript" in mime or not mime):
            return "worker"
        if mime in contenttype.HTML_TYPES:
            return "html"
        if mime == "text/css":
            return "css"
        return None

    def _rewritten(
        self, request: Request, wb: ArchivalUrl, capture: Capture, kind: str, rw: UrlRewriter, stamp: str
    ) -> bytes | None:
        """The rewritten body, or None to serve the archived one (too big or undecodable)."""
        length = capture.raw_length
        if length is not None and length > MAX_REWRITE:
            return None
        try:
            data = capture.content()
        except ArchiveError:
            return None  # unknown coding: the body goes out as archived, the policy still holds
        finally:
            capture.close()
        if kind == "worker":
            cfg = self._client_config(wb, stamp, capture)
            return (f"self.__warcacheCfg = {cfg};\n{self._worker_prefix}\n").encode() + data
        charset = contenttype.charset(header(capture.headers, "Content-Type"))
        head = self._head(request, wb, stamp, capture) if kind == "html" else None
        return rewrite_bytes(data, kind, rw, charset=charset, head=head)

    def _client_config(self, wb: ArchivalUrl, stamp: str, capture: Capture) -> str:
        cfg = {
            "coll": wb.coll,
            "ts": stamp,
            "url": wb.url,
            "time": timestamps.to_ms(stamp),
            "seed": seed_for(wb.url, stamp),
        }
        return json.dumps(cfg, ensure_ascii=True)

    def _head(self, request: Request, wb: ArchivalUrl, stamp: str, capture: Capture) -> str | None:
        """What goes at the top of a replayed document (None for HTML fetched as data)."""
        dest = request.headers.get("Sec-Fetch-Dest")
        if dest is not None and dest not in _DOC_DESTS:
            return None
        if dest is None and wb.modifier not in DOC_MODIFIERS:
            return None
        parts = urlsplit(wb.url)
        origin = f"{parts.scheme}://{parts.netloc}"
        prefix = f"/{wb.coll}/{stamp}"
        imports = {
            "/": f"{prefix}/{origin}/",
            f"/{wb.coll}/": f"/{wb.coll}/",
            "/_warcache/": "/_warcache/",
            "http://": f"{prefix}/http://",
            "https://": f"{prefix}/https://",
        }
        importmap = json.dumps({"imports": imports}, ensure_ascii=True).replace("</", "<\\/")
        cfg = self._client_config(wb, stamp, capture)
        return (
            f'<script type="importmap" data-warcache="">{importmap}</script>'
            f'<script src="/_warcache/static/client.js?v={self._bundle_version}" '
            f'data-wc="{ui.h(cfg)}"></script>'
        )

    def _not_archived(self, request: Request, where: _Where, wb: ArchivalUrl) -> Response:
        dest = request.headers.get("Sec-Fetch-Dest")
        is_doc = dest in _DOC_DESTS if dest is not None else wb.modifier in DOC_MODIFIERS
        if not is_doc:
            return self._text("Not archived\n", 404, replay=True)
        near = self.resolver(wb.coll).host_captures(wb.url, timestamp=wb.timestamp or None)
        rows = [
            ui.CaptureRow(
                ln.timestamp,
                ln.status,
                ln.mime,
                replay_path(wb.coll, ln.timestamp, "", ui.url_path_quote(ln.url)),
                ln.url,
            )
            for ln in near
        ]
        html = ui.not_archived_page(wb.coll, wb.url, wb.timestamp, rows, self._origin(where, replay=False))
        response = self._html(html, 404)
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'"
        )
        return response

    # -- helpers ---------------------------------------------------------------------------
    def _html(self, html: str, status: int = 200) -> Response:
        response = Response(html.encode("utf-8"), status, content_type="text/html; charset=utf-8")
        response.headers["Content-Security-Policy"] = UI_CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    def _text(self, text: str, status: int, *, replay: bool = False) -> Response:
        response = Response(text, status, content_type="text/plain; charset=utf-8")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = "default-src 'none'"
        return response


def _reason(capture: Capture) -> str:
    reason = " ".join(capture.reason.split())
    return reason if reason and reason.isascii() else "Archived"


def _is_navigation(request: Request, wb: ArchivalUrl) -> bool:
    """A top-level or frame navigation, which is redirected to the capture's exact time."""
    if request.method.upper() not in ("GET", "HEAD"):
        return False
    mode = request.headers.get("Sec-Fetch-Mode")
    if mode is not None:
        return mode == "navigate"
    return wb.modifier in ("", "mp_", IDENTITY)


def _raw_target(request: Request) -> str:
    """The request target as the client sent it (still percent-encoded), path and query."""
    env = request.environ
    raw = env.get("REQUEST_URI") or env.get("RAW_URI")
    if raw:
        if raw.startswith(("http://", "https://")):  # absolute-form
            parts = urlsplit(raw)
            raw = parts.path + (f"?{parts.query}" if parts.query else "")
        return raw
    path = quote(
        env.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace"), safe="/:@!$&'()*+,;=-._~%"
    )
    query = env.get("QUERY_STRING", "")
    return path + (f"?{query}" if query else "")


def _redirect(location: str, status: int = 302) -> Response:
    response = Response(b"", status)
    response.headers["Location"] = location
    response.headers["Cache-Control"] = "no-store"
    return response


# ---------------------------------------------------------------------------------------
# Serving
# ---------------------------------------------------------------------------------------
def make_app(
    root: str | Path,
    *,
    collection: str | None = None,
    ui_port: int = 8080,
    replay_port: int | None = None,
    host: str = "127.0.0.1",
    collection_domain: str | None = None,
    shared_origin: bool = False,
) -> ReplayApp:
    """The WSGI application for a root, without a server (tests call it in-process)."""
    return ReplayApp(
        root,
        collection=collection,
        ui_port=ui_port,
        replay_port=ui_port + 1 if replay_port is None else replay_port,
        allowed_hosts=_allowed_hosts(host),
        origins=choose_origins(host, collection_domain, shared_origin)[0],
    )


def choose_origins(
    host: str, collection_domain: str | None, shared_origin: bool
) -> tuple[Origins, str | None]:
    """The replay host names for a server bound to `host`, and a warning to print, if any.

    `*.localhost` only leads to this server from this machine, so a server bound to another
    address isolates collections only under a domain the user gives (a wildcard DNS name).
    """
    if shared_origin:
        return Origins(None), (
            "warning: --shared-origin: all collections are replayed from one origin, so an archived "
            "script in one collection can read the others"
        )
    if collection_domain:
        domain = collection_domain.lower().strip().rstrip(".")
        if not valid_domain(domain):
            raise UsageError(f"--collection-domain: {collection_domain!r} is not a DNS name")
        return Origins(domain), None
    if _is_loopback(host):
        return Origins(LOCALHOST), None
    return Origins(None), (
        f"warning: listening on {host}: collections are replayed from one shared origin; give "
        "--collection-domain NAME (with DNS answering *.NAME) to isolate them from each other"
    )


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _allowed_hosts(host: str) -> frozenset[str] | None:
    if host in ("", "0.0.0.0", "::"):
        return None  # reachable under any name: the user asked for it
    return frozenset(LOOPBACK_NAMES | {host.lower().strip("[]")})


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


@dataclass
class RunningServer:
    """A replay server running in a background thread (see `start_server`)."""

    app: ReplayApp
    ui_url: str
    replay_url: str
    _server: object
    _thread: threading.Thread

    def close(self) -> None:
        """Stop serving: the sockets are closed by the server's own loop thread (closing them
        from here would pull them from under its select), then its workers are stopped."""
        from waitress import wasyncore
        from waitress.trigger import trigger

        server = self._server
        socket_map = server.map  # type: ignore[attr-defined]
        waker = next((o for o in list(socket_map.values()) if isinstance(o, trigger)), None)
        if waker is not None and self._thread.is_alive():
            waker.pull_trigger(lambda: wasyncore.close_all(socket_map))
            self._thread.join(10)
        else:
            wasyncore.close_all(socket_map)
        server.task_dispatcher.shutdown()  # type: ignore[attr-defined]
        self.app.close()

    def replay_url_for(self, coll: str) -> str:
        """Where collection `coll` is replayed (its own host name unless origins are shared)."""
        parts = urlsplit(self.replay_url)
        return self.app.replay_origin(coll, parts.scheme, parts.hostname or "127.0.0.1") + "/"

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _create(
    root: str | Path,
    host: str,
    port: int,
    collection: str | None,
    replay_port: int | None,
    threads: int,
    origins: Origins,
) -> tuple[ReplayApp, object, str, str]:
    from waitress.server import create_server

    ui_sock = _bind(host, port)
    try:
        if replay_port is None:
            replay_port = ui_sock.getsockname()[1] + 1 if port else 0
        replay_sock = _bind(host, replay_port)
    except BaseException:
        ui_sock.close()
        raise
    ui_port, replay_port = ui_sock.getsockname()[1], replay_sock.getsockname()[1]
    try:
        app = ReplayApp(
            root,
            collection=collection,
            ui_port=ui_port,
            replay_port=replay_port,
            allowed_hosts=_allowed_hosts(host),
            origins=origins,
        )
        server = create_server(
            app,
            sockets=[ui_sock, replay_sock],
            threads=threads,
            ident="warcache",
            clear_untrusted_proxy_headers=True,
            channel_timeout=60,
            connection_limit=200,
        )
    except BaseException:
        ui_sock.close()
        replay_sock.close()
        raise
    shown = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::", ""):
        shown = "127.0.0.1"
    return app, server, f"http://{shown}:{ui_port}/", f"http://{shown}:{replay_port}/"


def start_server(
    root: str | Path,
    host: str = "127.0.0.1",
    port: int = 0,
    collection: str | None = None,
    *,
    replay_port: int | None = None,
    threads: int = 8,
    collection_domain: str | None = None,
    shared_origin: bool = False,
) -> RunningServer:
    """Start a replay server in a background thread (port 0: any free ports)."""
    origins = choose_origins(host, collection_domain, shared_origin)[0]
    app, server, ui_url, replay_url = _create(root, host, port, collection, replay_port, threads, origins)
    thread = threading.Thread(target=server.run, name="warcache-replay", daemon=True)  # type: ignore[attr-defined]
    thread.start()
    return RunningServer(app, ui_url, replay_url, server, thread)


def bind_warning(host: str) -> str | None:
    """The warning to print for a server bound to `host`, or None for a loopback address."""
    if _is_loopback(host):
        return None
    return f"warning: listening on {host}: anyone who can reach this address can read the archive"


def serve(
    root: str | Path,
    host: str = "127.0.0.1",
    port: int = 8080,
    collection: str | None = None,
    *,
    replay_port: int | None = None,
    threads: int = 8,
    collection_domain: str | None = None,
    shared_origin: bool = False,
) -> None:
    """Serve replays until interrupted.  Listens on 127.0.0.1 unless told otherwise; warns on
    stderr when bound to another address (then anyone who can reach it can read the archive)."""
    origins, origin_warning = choose_origins(host, collection_domain, shared_origin)
    for warning in (bind_warning(host), None if collection else origin_warning):
        if warning:
            print(warning, file=sys.stderr)
    app, server, ui_url, replay_url = _create(root, host, port, collection, replay_port, threads, origins)
    if app.origins.isolated:
        rport = urlsplit(replay_url).port
        where = f"http://<collection>.{app.origins.domain}:{rport}/, one host name per collection"
    else:
        where = replay_url
    print(f"warcache replay: {ui_url} (replayed pages are served from {where})", file=sys.stderr)
    try:
        server.run()  # type: ignore[attr-defined]
    except KeyboardInterrupt:
        pass
    finally:
        server.close()  # type: ignore[attr-defined]
        app.close()
