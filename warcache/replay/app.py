"""The replay server's WSGI application: which origin a request is for, and the replays.

Size: over 600 lines, because which origin a request is for and how its replayed response is built
share one request's state (the origin, the session host, the collection's resolver and matcher); the
response path (`_respond` and what it calls) is the seam to split along next.

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

A replayed page runs on a *session host* of its collection, named for its original origin
and capture time, with its original path (`origins`): so it sees its own URL, and its other
origins stay other origins (`sessions`).  Every replayed response carries a
Content-Security-Policy allowing the collection's hosts only (plus data: and blob:), so a
URL the rewriting misses is blocked, never fetched live; the server also refuses requests
whose Host header is not one of its own names (DNS rebinding).

Routes, listing port: the server's own pages (see `listing`), and replay URLs
(/<coll>/<ts><mod>/<url>) redirected to the replay origin.
Routes, replay port, collection host (<coll>.localhost):
    /<coll>/<ts><mod>/<url>, /<coll>/<url>  pywb's URL scheme: a navigation is redirected to
                                        the session host of the capture nearest that time;
                                        anything else (curl, `id_`) gets the archived
                                        response; on another host: a navigation is
                                        redirected to the collection's host, the rest refused
Routes, replay port, session host (<orig host>.<ts><s|h>[port].<coll>.localhost):
    /_warcache/static/client.js         the injected client script (see `client`)
    anything else                       the original path: the archived response nearest
                                        the session's time (preflights answered here)
With one shared origin (`--shared-origin`, or a public address without a domain) there are
no session hosts: pages are replayed at pywb's URLs, and root-relative URLs that scripts
built at run time are routed by their Referer.

The application is a plain WSGI callable built with werkzeug's request/response objects;
`server` runs it with waitress on both ports, tests drive it in-process too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit

from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request, Response

from warcache import contenttype
from warcache.collection import Collection, list_collections, open_collection, root_path, validate_name
from warcache.errors import ArchiveError, UsageError, WarcacheError
from warcache.pagelist import PageEntry
from warcache.replay import jsonp, ranges, ui
from warcache.replay.adding import ADD_PATH, Adder
from warcache.replay.client import ClientScript
from warcache.replay.headers import (
    added_headers,
    is_safe_header,
    page_response,
    redirect,
    replay_headers,
    text_response,
)
from warcache.replay.jsrewrite import JsRewriter
from warcache.replay.listing import Listing
from warcache.replay.matching import Found, Matcher
from warcache.replay.origins import LOOPBACK_NAMES, HostNames, Origins, foreign_subresource, original_origin
from warcache.replay.resolve import Capture, Resolver, header
from warcache.replay.rewrite import UrlRewriter, rewrite_bytes
from warcache.replay.rules import RulesFiles, rule_files
from warcache.replay.sessions import Session, is_worker_destination
from warcache.replay.wburl import (
    DOC_MODIFIERS,
    IDENTITY,
    WORKER,
    ArchivalUrl,
    parse_archival_path,
    replay_path,
)

MAX_REWRITE = 64 * 1024 * 1024  # bigger HTML/CSS bodies are served as they are
MAX_JS_REWRITE = 8 * 1024 * 1024  # bigger scripts too (see jsrewrite.MAX_SOURCE)
MAX_REQUEST_BODY = 4 * 1024 * 1024
SMALL_BODY = 4 * 1024 * 1024  # chunked bodies up to this size are de-chunked in memory
_DOC_DESTS = frozenset({"document", "iframe", "frame", "embed", "object"})
_PARTIAL_REASONS = {200: "OK", 206: "Partial Content", 416: "Range Not Satisfiable"}
#: One line per request answered by something else than what it asked for (see `matching`).
log = logging.getLogger("warcache.replay")


@dataclass(frozen=True)
class _Where:
    """Who is asking: which of the two origins, and the host name the browser used."""

    replay: bool
    hostname: str
    scheme: str
    coll: str | None = None  # the collection whose host name this is (replay port only)
    session: Session | None = None  # a session host's (see `origins`)


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
        adder: Adder | None = None,
        differ: Callable[[str, str, str, str], dict] | None = None,
    ) -> None:
        if ui_port == replay_port:
            raise UsageError("the listing and replay ports must differ")
        self.root = root_path(root)
        self.collection = validate_name(collection) if collection else None
        if self.collection:
            open_collection(self.root, self.collection)  # must exist
        self.ui_port = ui_port
        self.replay_port = replay_port
        self.origins = origins or Origins()
        self.allowed_hosts = (
            None if allowed_hosts is None else frozenset(h.lower().strip("[]") for h in allowed_hosts)
        )
        if self.allowed_hosts is not None and self.origins.domain:
            self.allowed_hosts |= {self.origins.domain}
        self._resolvers: dict[str, Resolver] = {}
        self._matchers: dict[str, Matcher] = {}
        self._lock = threading.Lock()
        self._colls_cache: tuple[float, frozenset[str]] = (0.0, frozenset())
        self._pages_cache: dict[str, tuple[tuple[int, int], list[PageEntry]]] = {}
        self.client = ClientScript()
        self.listing = Listing(self, self.client)
        self.adder = adder
        self.listing.differ = differ
        if adder is not None:
            self.listing.add_href = lambda request: ADD_PATH if adder.client_allowed(request) else None
        self.hostnames = HostNames()
        self.js = JsRewriter()
        self._learned: dict[str, float] = {}

    # -- WSGI ------------------------------------------------------------------------------
    def __call__(self, environ: dict, start_response):  # noqa: ANN204 - the WSGI signature
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except WarcacheError as exc:
            response = page_response(ui.error_page("Error", str(exc)), 500)
        return response(environ, start_response)

    def close(self) -> None:
        if self.adder is not None:
            self.adder.close()
        with self._lock:
            for resolver in self._resolvers.values():
                resolver.close()
            self._resolvers.clear()
            self._matchers.clear()

    def dispatch(self, request: Request) -> Response:
        where = self._where(request)
        if where is None:
            return text_response(
                "421 Misdirected Request: unknown host name (DNS rebinding protection)\n", 421
            )
        target = _raw_target(request)
        if where.replay:
            return self._replay_origin(request, where, target)
        if target.split("?", 1)[0] == ADD_PATH and self.adder is not None:
            # The listing origin only (see `adding`): as the browser names it, for the Origin check.
            return self.adder.respond(request, f"{request.scheme}://{request.host}", self.collections())
        return self.listing.respond(request, target, lambda coll: self._origin(where, replay=True, coll=coll))

    def _where(self, request: Request) -> _Where | None:
        host = request.host or ""
        try:
            hostname = urlsplit("//" + host).hostname or ""
        except ValueError:
            return None
        port = str(request.environ.get("SERVER_PORT", ""))
        replay = port == str(self.replay_port)
        coll = self.origins.collection_of(hostname, self.collections()) if replay else None
        session = self._session(request, hostname) if replay and coll is None else None
        if session is not None:
            coll = session.host.coll
        if coll is None and self.origins.is_collection_host(hostname):
            return None  # a collection host name on the listing port, or of no collection
        if coll is None and self.allowed_hosts is not None and hostname.lower() not in self.allowed_hosts:
            return None
        return _Where(replay, hostname, request.scheme, coll, session)

    def _session(self, request: Request, hostname: str) -> Session | None:
        if not self.origins.isolated:
            return None
        colls = self.collections()
        host = self.origins.session_of(hostname, colls, self.hostnames)
        if host is None and ".x--" in "." + hostname.lower():
            self._learn_hashed_hosts(colls)  # a hashed label a client made: look in the indexes
            host = self.origins.session_of(hostname, colls, self.hostnames)
        if host is None:
            return None
        return Session(host, self.origins, self.hostnames, request.scheme, self.replay_port)

    def _learn_hashed_hosts(self, colls: frozenset[str]) -> None:
        """Teach `hostnames` every host of the collections' indexes (at most once a minute each)."""
        for name in colls:
            if time.monotonic() - self._learned.get(name, -1e9) < 60:
                continue
            self._learned[name] = time.monotonic()
            hosts = {parts[1] for url in self.resolver(name).urls() if (parts := original_origin(url))}
            self.hostnames.learn(hosts)

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

    # -- the archive, as both origins read it (see `listing.Archive`) -----------------------
    @property
    def isolated(self) -> bool:
        return self.origins.isolated

    def collections(self) -> frozenset[str]:
        """The names of the collections served (re-listed at most every 2 s)."""
        if self.collection:
            return frozenset({self.collection})
        stamp, names = self._colls_cache
        if time.monotonic() - stamp > 2.0:
            names = frozenset(list_collections(self.root))
            self._colls_cache = (time.monotonic(), names)
        return names

    def get_collection(self, name: str) -> Collection:
        """Collection `name` of the root (a name from `collections()`)."""
        return Collection(self.root, name)

    def resolver(self, name: str) -> Resolver:
        """The capture finder of collection `name`, opened once and shared by all requests."""
        with self._lock:
            resolver = self._resolvers.get(name)
            if resolver is None:
                resolver = self._resolvers[name] = Resolver(self.get_collection(name))
            return resolver

    def matcher(self, name: str) -> Matcher:
        """What answers requests in collection `name`: exact, fuzzy and responsive-image
        matching, with the collection's rules (re-read when their files change)."""
        resolver = self.resolver(name)
        with self._lock:
            matcher = self._matchers.get(name)
            if matcher is None:
                coll = self.get_collection(name)
                rules = RulesFiles(rule_files(self.root, coll.path))
                matcher = self._matchers[name] = Matcher(resolver, rules)
            return matcher

    def page_entries(self, name: str) -> list[PageEntry]:
        """pages.jsonl of a collection, newest first (cached until the file changes)."""
        coll = self.get_collection(name)
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

    # -- replay origin ---------------------------------------------------------------------
    def _replay_origin(self, request: Request, where: _Where, target: str) -> Response:
        if where.session is not None:
            return self._session_request(request, where, where.session, target)
        if foreign_subresource(request.headers.get("Sec-Fetch-Site"), request.headers.get("Sec-Fetch-Mode")):
            return text_response("Forbidden: replayed resources are served only to pages of their own "
                                 "collection's origin.\n", 403)
        if target.startswith("/_warcache/static/"):
            return self.client.response(target.split("/")[3])
        if request.headers.get("Service-Worker"):
            return text_response("service workers are disabled in replay\n", 403)
        colls = self.collections()
        wb = parse_archival_path(target, colls)
        if wb is not None and self.origins.isolated and wb.coll != where.coll:
            return self._elsewhere(request, where, wb, target)
        if wb is not None and self.origins.isolated and _enters(request, wb):
            return self._enter(request, where, wb)
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
            return redirect(self._origin(where, replay=False) + path)
        fallback = self._from_referer(request, where, target, colls)
        if fallback is not None:
            return fallback
        return text_response("Not archived: this address is not a replay URL.\n", 404)

    def _enter(self, request: Request, where: _Where, wb: ArchivalUrl) -> Response:
        """A navigation to a pywb-style URL on the collection's host: on to the session host of
        the capture nearest the time asked, where the page sees its own URL (see `origins`).  A
        URL the archive holds only under other volatile parameters goes to the one that answers
        it (see `matching`), so the page's URL and what it shows agree."""
        found = self.matcher(wb.coll).find(wb.url, timestamp=wb.timestamp or None)
        if found is None or found.capture is None:
            if found is not None:
                found.close()
            return self._not_archived(request, where, wb)
        note = found.note()
        if note:
            log.info(note)
        url, stamp = found.capture.url, found.capture.timestamp
        found.close()
        host = self.origins.session_host(wb.coll, url, stamp, self.hostnames)
        if host is None:
            return self.replay(request, where, wb)
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        port = "" if self.replay_port == (443 if where.scheme == "https" else 80) else f":{self.replay_port}"
        return redirect(f"{where.scheme}://{host}{port}{target}")

    def _session_request(self, request: Request, where: _Where, session: Session, target: str) -> Response:
        """A request to a session host: its path is the original path, nothing else."""
        if not session.allows(request.headers, self.origins.site_is_collection):
            return text_response("Forbidden: replayed resources are served only to pages of their own "
                                 "collection.\n", 403)
        if target.startswith("/_warcache/static/"):
            return self.client.response(target.split("/")[3])
        if request.method.upper() == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            return session.preflight(request.headers)
        worker = is_worker_destination(request.headers.get("Sec-Fetch-Dest")) or bool(
            request.headers.get("Service-Worker"))
        host = session.host
        wb = ArchivalUrl(host.coll, host.timestamp, WORKER if worker else "", session.url_of(target))
        return self.replay(request, where, wb)

    def _elsewhere(self, request: Request, where: _Where, wb: ArchivalUrl, target: str) -> Response:
        """A replay URL of one collection asked on another host (see `origins`).

        A browser navigation goes to the collection's own host.  A client that sends no fetch
        metadata (curl, a script; current browsers all send it) gets the response on the shared
        host, sandboxed, so that an older browser would give it an opaque origin and run nothing.
        Anything else is a page of one collection asking for another's data: refused.
        """
        if (request.headers.get("Sec-Fetch-Mode") or "").lower() == "navigate":
            return redirect(self._origin(where, replay=True, coll=wb.coll) + target)
        if where.coll is None and "Sec-Fetch-Site" not in request.headers:
            response = self.replay(request, where, wb)
            policy = response.headers.get("Content-Security-Policy")
            response.headers["Content-Security-Policy"] = f"{policy}; sandbox" if policy else "sandbox"
            return response
        return text_response(f"Forbidden: this is not the host of collection {wb.coll!r}.\n", 403)

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
        response = redirect(replay_path(page.coll, page.timestamp, "", original), 307)
        response.headers["Vary"] = "Referer"
        return response

    def replay(self, request: Request, where: _Where, wb: ArchivalUrl) -> Response:
        """Answer one replay request from the archive."""
        method = request.method.upper()
        body = b""
        if method in ("POST", "PUT"):
            body = request.stream.read(MAX_REQUEST_BODY)
        found = self.matcher(wb.coll).find(
            wb.url,
            timestamp=wb.timestamp,
            method=method,
            content_type=request.headers.get("Content-Type"),
            body=body,
            image=_wants_image(request, wb),
            referrers=lambda: self._referrers(request, where, wb),
        )
        if found is None:
            return self._not_archived(request, where, wb)
        note = found.note()
        if note:
            log.info(note)
        capture = found.capture
        if (
            where.session is None
            and capture is not None
            and (capture.timestamp != wb.timestamp or found.fuzzy)
            and _is_navigation(request, wb)
        ):
            url = capture.url if method in ("GET", "HEAD") else wb.url
            found.close()
            return redirect(wb.path(timestamp=capture.timestamp, url=ui.url_path_quote(url)))
        try:
            if capture is None or _range_of(request, wb, capture) is not None:
                response = self._partial(request, wb, found, where.session)
                if response is not None:
                    return response
                if capture is None:
                    return self._not_archived(request, where, wb)
            return self._respond(request, wb, capture, found, session=where.session)
        except BaseException:
            found.close()
            raise

    def _referrers(self, request: Request, where: _Where, wb: ArchivalUrl) -> list[tuple[str, str | None]]:
        """The archived URL and timestamp of the page (or style sheet) that made a request: on a
        session host, the original URL its Referer stands for; else the Referer's replay URL."""
        try:
            ref = urlsplit(request.headers.get("Referer") or "")
            if ref.port != self.replay_port:
                return []
            target = (ref.path or "/") + (f"?{ref.query}" if ref.query else "")
            if where.session is not None:
                session = self._session(request, ref.hostname or "")
                if session is None or session.host.coll != wb.coll:
                    return []
                return [(session.url_of(target), session.host.timestamp)]
            if ref.hostname != urlsplit("//" + (request.host or "")).hostname:
                return []
        except ValueError:
            return []
        page = parse_archival_path(target, self.collections())
        if page is None or page.coll != wb.coll:
            return []
        return [(page.url, page.timestamp or None)]

    def _partial(
        self, request: Request, wb: ArchivalUrl, found: Found, session: Session | None = None
    ) -> Response | None:
        """A Range request, or a response archived only in pieces (see `ranges`); None to
        answer with the whole archived response (or "not archived" when there is none)."""
        asked = ranges.parse_range(request.headers.get("Range"))
        if found.capture is None:
            partial = ranges.from_pieces(found.pieces, self.resolver(wb.coll).load, asked)
        elif asked is not None:
            partial = ranges.from_whole(found.capture, asked)
        else:
            partial = None
        if partial is None:
            return None
        try:
            return self._respond(request, wb, partial.template, found, partial, session)
        except BaseException:
            partial.close()
            raise

    def _respond(
        self, request: Request, wb: ArchivalUrl, capture: Capture, found: Found,
        partial: ranges.Ranged | None = None, session: Session | None = None,
    ) -> Response:
        """The archived response; `partial`: a range of it, or its pieces put together
        (`capture` is then the piece whose headers describe it)."""
        stamp = wb.timestamp or capture.timestamp
        rw = session.rewriter(wb.url) if session else UrlRewriter(wb.coll, stamp, wb.url)
        mime = contenttype.media_type(header(capture.headers, "Content-Type"))
        kind = self._kind(wb, mime) if partial is None else None
        callback = (
            found.callback() if kind in (None, "js") and partial is None and not wb.is_identity else None
        )
        if callback is not None:
            kind = "jsonp"
        status = partial.status if partial is not None else capture.status
        no_body = request.method.upper() == "HEAD" or status in (204, 304) or status < 200
        payload: bytes | Iterator[bytes] | None = None
        keep_encoding = True
        length: int | None = None
        archived = capture.headers
        if partial is not None:
            archived = [(k, v) for k, v in archived if k.lower() not in ranges.DESCRIBED_HEADERS]
            keep_encoding, length = False, partial.length
            if no_body:
                partial.close()
            else:
                payload = _closing(partial)
        elif no_body:
            capture.close()
        elif kind is not None:
            payload = self._rewritten(request, wb, capture, kind, rw, stamp, session, callback)
            if payload is not None:
                keep_encoding = False
                length = len(payload)
        if payload is None and not no_body and partial is None:
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
            archived,
            keep_encoding=keep_encoding,
            rewrite=lambda u: rw.rewrite(u, wb.modifier if wb.modifier != WORKER else ""),
            cookie_path=f"/{wb.coll}/",
            identity=wb.is_identity,
            keep=session.kept_header if session else None,
            set_cookie=session.set_cookie if session else None,
        )
        headers += added_headers(
            capture.timestamp,
            identity=wb.is_identity,
            csp=session.csp() if session else None,
            session=session is not None,
        )
        headers += partial.headers if partial is not None else []
        out = Headers([(k, v) for k, v in headers if is_safe_header(k, v)])
        if length is not None:
            out["Content-Length"] = str(length)
        reason = _reason(capture) if partial is None else _PARTIAL_REASONS[partial.status]
        response = Response(
            payload if payload is not None else b"",
            status=f"{status} {reason}",
            headers=out,
            direct_passthrough=True,
        )
        if partial is None and (payload is None or isinstance(payload, bytes)):
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
        if "javascript" in mime or "ecmascript" in mime:
            return "js"
        return None

    def _rewritten(
        self,
        request: Request,
        wb: ArchivalUrl,
        capture: Capture,
        kind: str,
        rw: UrlRewriter,
        stamp: str,
        session: Session | None = None,
        callback: str | None = None,
    ) -> bytes | None:
        """The rewritten body, or None to serve the archived one (too big or undecodable)."""
        length = capture.raw_length
        limit = MAX_JS_REWRITE if kind == "js" else MAX_REWRITE  # a worker gets its shim regardless
        if length is not None and length > limit:
            return None
        try:
            data = capture.content()
        except ArchiveError:
            return None  # unknown coding: the body goes out as archived, the policy still holds
        finally:
            capture.close()
        map_url = session.map_url if session else (lambda u: rw.rewrite(u, "js_"))
        suffix = self.origins.host(wb.coll) if session else None
        if kind in ("js", "worker", "jsonp"):
            key = f"{capture.line.digest}:{len(data)}" if capture.line.digest else None
            if kind == "jsonp":  # the name the page asked for; then the same rewriting as any script
                data = jsonp.rename_callback(data, callback or "") or data
                key = f"{key}:{callback}" if key else None
            script = self.js.rewrite(data, key=key, map_url=map_url)
            data = data if script is None else script
            if kind == "worker":
                csp = session.csp() if session else None
                return self.client.worker(wb.coll, stamp, wb.url, data, suffix, csp)
            return data
        charset = contenttype.charset(header(capture.headers, "Content-Type"))
        head = self._head(request, wb, stamp, suffix) if kind == "html" else None
        inline = lambda text: self.js.rewrite_text(text, map_url)  # noqa: E731
        keeps = lambda url: self._script_kept(wb, url)  # noqa: E731
        return rewrite_bytes(data, kind, rw, charset=charset, head=head, keeps_bytes=keeps, script=inline)

    def _script_kept(self, wb: ArchivalUrl, url: str) -> bool:
        """True when the script at `url` is served byte for byte: the archive holds its exact URL
        (not another capture `matching` would answer with) and the JS rewriting leaves it as it is
        (it does not read its own address, see `jsrewrite`).  Otherwise a page's `integrity` for
        it would block it."""
        capture = self.resolver(wb.coll).find(url, timestamp=wb.timestamp or None)  # exact URLs only
        if capture is None:
            return False
        try:
            mime = contenttype.media_type(header(capture.headers, "Content-Type"))
            length = capture.raw_length
            if "javascript" not in mime and "ecmascript" not in mime or (length or 0) > MAX_JS_REWRITE:
                return True
            data = capture.content()
        except ArchiveError:
            return True
        finally:
            capture.close()
        key = f"{capture.line.digest}:{len(data)}" if capture.line.digest else None
        plan = self.js.plan(data, key=key)
        return plan is None or not plan.edits

    def _head(self, request: Request, wb: ArchivalUrl, stamp: str, suffix: str | None = None) -> str | None:
        """What goes at the top of a replayed document (None for HTML fetched as data)."""
        dest = request.headers.get("Sec-Fetch-Dest")
        if dest is not None and dest not in _DOC_DESTS:
            return None
        if dest is None and wb.modifier not in DOC_MODIFIERS:
            return None
        return self.client.head(wb.coll, stamp, wb.url, suffix,
                                self.listing_origins(request) if dest in (None, "iframe") else None)

    def listing_origins(self, request: Request) -> list[str]:
        """The origins the listing pages may have been opened at, as a replayed page's client
        addresses the banner (see `timeline`): each loopback name and the domain on the listing
        port, or, for a server on a public address, the one the browser used."""
        where = self._where(request)
        if self.allowed_hosts is None or where is None:
            return [self._origin(where, replay=False)] if where is not None else []
        scheme = where.scheme
        hosts = (f"[{h}]" if ":" in h else h for h in sorted(self.allowed_hosts))
        return [f"{scheme}://{host}:{self.ui_port}" for host in hosts]

    def _not_archived(self, request: Request, where: _Where, wb: ArchivalUrl) -> Response:
        dest = request.headers.get("Sec-Fetch-Dest")
        is_doc = dest in _DOC_DESTS if dest is not None else wb.modifier in DOC_MODIFIERS
        if not is_doc:
            return text_response("Not archived\n", 404)
        near = self.resolver(wb.coll).host_captures(wb.url, timestamp=wb.timestamp or None)
        # Absolute links to the collection's host: a session host's paths are the original ones.
        home = self._origin(where, replay=True, coll=wb.coll) if where.session else ""
        rows = [
            ui.CaptureRow(
                ln.timestamp,
                ln.status,
                ln.mime,
                home + replay_path(wb.coll, ln.timestamp, "", ui.url_path_quote(ln.url)),
                ln.url,
            )
            for ln in near
        ]
        html = ui.not_archived_page(wb.coll, wb.url, wb.timestamp, rows, self._origin(where, replay=False))
        response = page_response(html, 404)
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'"
        )
        return response


def _reason(capture: Capture) -> str:
    reason = " ".join(capture.reason.split())
    return reason if reason and reason.isascii() else "Archived"


def _wants_image(request: Request, wb: ArchivalUrl) -> bool:
    dest = request.headers.get("Sec-Fetch-Dest")
    return dest == "image" if dest is not None else wb.modifier == "im_"


def _range_of(request: Request, wb: ArchivalUrl, capture: Capture) -> ranges.ByteRange | None:
    """The byte range to answer from a whole archived 200 (never for pages that are rewritten:
    their bytes change)."""
    if capture.status != 200 or "Range" not in request.headers:
        return None
    mime = contenttype.media_type(header(capture.headers, "Content-Type"))
    rewritten = mime in contenttype.HTML_TYPES or mime == "text/css" or "javascript" in mime
    if not wb.is_identity and (rewritten or "ecmascript" in mime or wb.modifier == WORKER):
        return None
    return ranges.parse_range(request.headers.get("Range"))


def _closing(partial: ranges.Ranged) -> Iterator[bytes]:
    try:
        yield from partial.body
    finally:
        partial.close()


def _enters(request: Request, wb: ArchivalUrl) -> bool:
    """A browser navigation to a pywb-style URL (or, without fetch metadata, a document GET)."""
    if request.method.upper() not in ("GET", "HEAD") or wb.is_identity:
        return False
    mode = request.headers.get("Sec-Fetch-Mode")
    if mode is not None:
        return mode == "navigate"
    return wb.modifier in ("", "mp_", "if_", "fr_")


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
