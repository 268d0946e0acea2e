"""What changes when a page is replayed on its session host (see `origins`): URLs, headers.

One `Session` per request to a session host: it names the session host of any original URL
(same collection and time), and so maps the absolute URLs of markup, style sheets, headers
and scripts; relative URLs are left alone, since the session host keeps the original path.
It also decides the headers that are about origins, which on session hosts are real again:

* Content-Security-Policy: the session hosts of the collection (`http://*.<coll>.<domain>:<port>`)
  besides 'self', so a page loads its other origins' resources and nothing from the live web;
* Cross-Origin-Resource-Policy: same-site (the collection's hosts, one site), not same-origin;
* CORS: archived `Access-Control-Allow-Origin` values are mapped to session origins (`*`
  stays), the other Access-Control-* headers are kept as archived, and preflights, which
  the archive seldom holds, are answered for the collection's own hosts;
* cookies: `Domain=example.com` becomes the domain of the session hosts of example.com
  (cookies the browser would have refused live are dropped), Path and the rest are kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from werkzeug.wrappers import Response

from warcache.replay.headers import text_response
from warcache.replay.origins import HostNames, Origins, SessionHost, original_origin
from warcache.replay.rewrite import UrlRewriter

#: Archived headers about origins that a session host sends as archived (possibly mapped);
#: on a shared origin `headers` renames them X-Archive-Orig-*.
KEPT_ORIGIN_HEADERS = frozenset({
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-expose-headers",
    "access-control-max-age",
    "timing-allow-origin",
    "service-worker-allowed",
    "referrer-policy",
})

_WORKER_DESTS = frozenset({"worker", "sharedworker", "serviceworker"})


@dataclass
class Session:
    """The session of one request: its host, and how its collection's other hosts are named."""

    host: SessionHost
    origins: Origins
    names: HostNames
    scheme: str  # how the browser reaches the replay port ("http")
    port: int  # the replay port
    _netlocs: dict[str, str] = field(default_factory=dict)

    # -- URLs ------------------------------------------------------------------------------
    def session_origin(self, url: str) -> str | None:
        """`http://<session host>:<port>` for the origin of an absolute http(s) URL."""
        key = url[: url.find("/", url.find("//") + 2)] if url.count("/") >= 3 else url
        cached = self._netlocs.get(key)
        if cached is not None:
            return cached
        name = self.origins.session_host(self.host.coll, url, self.host.timestamp, self.names)
        if name is None:
            return None
        default = 443 if self.scheme == "https" else 80
        origin = f"{self.scheme}://{name}" + ("" if self.port == default else f":{self.port}")
        self._netlocs[key] = origin
        return origin

    def map_url(self, url: str) -> str:
        """An absolute original URL on its session host (path, query and fragment as written)."""
        text = url.strip()
        if text.startswith("//"):
            text = f"{self.host.scheme}:{text}"
        try:
            parts = urlsplit(text)
        except ValueError:
            return url
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            return url
        origin = self.session_origin(text)
        if origin is None:
            return url
        rest = text.split("//", 1)[1][len(parts.netloc):]
        return origin + (rest if rest.startswith("/") else "/" + rest if rest else "/")

    def url_of(self, target: str) -> str:
        """The original URL a request target of this session host stands for."""
        return self.host.url(target)

    def rewriter(self, base: str) -> OriginRewriter:
        return OriginRewriter(UrlRewriter(self.host.coll, self.host.timestamp, base), self)

    # -- headers ---------------------------------------------------------------------------
    @property
    def collection_sources(self) -> str:
        """The CSP source of every session host of the collection."""
        default = 443 if self.scheme == "https" else 80
        port = "" if self.port == default else f":{self.port}"
        return f"{self.scheme}://*.{self.origins.host(self.host.coll)}{port}"

    def csp(self) -> str:
        hosts = self.collection_sources
        return (
            f"default-src 'self' {hosts} data: blob: 'unsafe-inline' 'unsafe-eval'; "
            f"form-action 'self' {hosts}; base-uri 'self' {hosts} data: blob:"
        )

    def kept_header(self, name: str, value: str) -> str | None:
        """The value an archived origin header is sent with here (None: renamed, as elsewhere)."""
        lname = name.lower()
        if lname not in KEPT_ORIGIN_HEADERS:
            return None
        if lname != "access-control-allow-origin":
            return value
        text = value.strip()
        if text in ("*", "null"):
            return text
        mapped = self.session_origin(text + "/") if original_origin(text) else None
        return mapped

    def set_cookie(self, value: str) -> str | None:
        """An archived Set-Cookie for the session host (None: the browser would refuse it)."""
        parts = value.split(";")
        out = [parts[0]]
        host = self.host.host.lower()
        own = self.origins.session_host(
            self.host.coll, self.host.origin + "/", self.host.timestamp, self.names)
        for attr in parts[1:]:
            key, _, val = attr.strip().partition("=")
            if key.strip().lower() != "domain":
                out.append(attr)
                continue
            domain = val.strip().lstrip(".").lower()
            if not domain:
                continue
            if domain != host and not host.endswith("." + domain):
                return None  # live, the browser refuses a cookie for another domain
            if own is None or not own.startswith(host + "."):
                continue  # a hashed host name: a host-only cookie is the best we can do
            out.append(f" Domain={domain}{own[len(host):]}")
        return ";".join(out)

    # -- requests --------------------------------------------------------------------------
    def allows(self, headers: Mapping[str, str], site_is_collection: bool) -> bool:
        """Fetch metadata: navigations from anywhere; other requests from pages of the same
        collection only (its session hosts are one site, see `origins`).  Without an Origin
        or Referer to tell, `same-site` is enough only where a site is one collection."""
        site = (headers.get("Sec-Fetch-Site") or "").lower()
        mode = (headers.get("Sec-Fetch-Mode") or "").lower()
        if site in ("", "same-origin", "none") or mode == "navigate":
            return True
        if site != "same-site":
            return False
        asker = headers.get("Origin") or headers.get("Referer")
        if asker and asker != "null":
            return self.same_collection(asker)
        return site_is_collection

    def preflight(self, headers: Mapping[str, str]) -> Response:
        """A CORS preflight between hosts of one collection: the archive seldom holds them, and
        the archived response still has to grant the actual request (`kept_header`)."""
        origin = headers.get("Origin") or ""
        if not self.same_collection(origin):
            return text_response("Forbidden: not a page of this collection.\n", 403)
        response = Response(b"", 204)
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        method = headers.get("Access-Control-Request-Method") or "GET"
        response.headers["Access-Control-Allow-Methods"] = method
        asked = headers.get("Access-Control-Request-Headers")
        if asked:
            response.headers["Access-Control-Allow-Headers"] = asked
        response.headers["Access-Control-Max-Age"] = "600"
        response.headers["Vary"] = "Origin"
        return response

    def same_collection(self, url: str | None) -> bool:
        """True when `url` (an Origin or Referer) is on a host of this session's collection."""
        if not url or url == "null":
            return False
        try:
            hostname = (urlsplit(url).hostname or "").lower()
        except ValueError:
            return False
        own = self.origins.host(self.host.coll) or ""
        return bool(own) and (hostname == own or hostname.endswith("." + own))


@dataclass(frozen=True)
class OriginRewriter:
    """`rewrite.UrlRewriter`'s interface for session hosts: absolute URLs go to their session
    host, relative ones stay as written (they resolve against the session host, which keeps
    the original path)."""

    base_rw: UrlRewriter
    session: Session

    @property
    def base(self) -> str:
        return self.base_rw.base

    def absolute(self, url: str) -> str | None:
        return self.base_rw.absolute(url)

    def rewrite(self, url: str, modifier: str = "") -> str:
        text = url.strip("\t\n\r\f ")
        if not text or text.startswith("#"):
            return url
        lowered = text.lower()
        if lowered.startswith(("http://", "https://", "//", "\\\\", "http:\\", "https:\\")):
            absolute = self.base_rw.absolute(text)
            return url if absolute is None else self.session.map_url(absolute)
        return url

    def with_base(self, base: str) -> OriginRewriter:
        return OriginRewriter(self.base_rw.with_base(base), self.session)


def is_worker_destination(dest: str | None) -> bool:
    return (dest or "").lower() in _WORKER_DESTS
