"""Which archived response headers a replay sends, and which it adds.

The archive holds the headers exactly as the site sent them.  Replaying them as they are
would be wrong in three ways, so each header falls in one of these groups:

* framing (`Transfer-Encoding`, `Content-Length`, `Connection`, ...) describes the bytes on
  the original connection, not the body replay sends: dropped, and the server sets its own;
  `Content-Encoding` is kept only when the body really is sent still encoded;
* state of the replay origin (`Set-Cookie`, `Strict-Transport-Security`, `Clear-Site-Data`,
  CORS grants, reporting endpoints, ...) would act on the replay server's origin, where all
  archived sites share one: renamed `X-Archive-Orig-<name>` (pywb's convention) so they stay
  visible, and cookies are re-scoped to the collection instead.  On a session host, which
  replays one original origin (see `origins`), cookies, CORS grants and a few others mean
  what they meant live again: `sessions` maps them (the `keep` and `set_cookie` hooks);
* URLs (`Location`, `Content-Location`, `Link`, `Refresh`) point into the archive.

Every replayed response gets a Content-Security-Policy that allows loading from the replay
origin only (plus `data:` and `blob:`), so whatever rewriting misses is blocked in the
browser instead of being fetched live.

The server's own responses (its pages, plain-text errors, redirects) are built here too, so
that every route sends them with the same security headers.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from werkzeug.wrappers import Response

from warcache import timestamps

ORIG_PREFIX = "X-Archive-Orig-"

#: Headers about one connection (RFC 9110 section 7.6.1), never about the body we send.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)

#: Headers that would change the state or the security of the replay origin.
ORIGIN_STATE = frozenset(
    {
        "set-cookie",
        "set-cookie2",
        "strict-transport-security",
        "public-key-pins",
        "expect-ct",
        "clear-site-data",
        "alt-svc",
        "nel",
        "report-to",
        "reporting-endpoints",
        "service-worker-allowed",
        "access-control-allow-origin",
        "access-control-allow-credentials",
        "access-control-allow-methods",
        "access-control-allow-headers",
        "access-control-expose-headers",
        "access-control-max-age",
        "access-control-allow-private-network",
        "timing-allow-origin",
        "content-security-policy",
        "cross-origin-resource-policy",
        "content-security-policy-report-only",
        "referrer-policy",
        "cache-control",
        "expires",
        "pragma",
        "age",
        "accept-ch",
        "critical-ch",
        "origin-agent-cluster",
        "supports-loading-mode",
        "speculation-rules",
        "observe-browsing-topics",
    }
)

#: The policy of every replayed response: nothing but the replay origin, data: and blob:.
REPLAY_CSP = (
    "default-src 'self' data: blob: 'unsafe-inline' 'unsafe-eval'; "
    "form-action 'self'; base-uri 'self' data: blob:"
)

#: The policy of the server's own pages: no script at all, images from itself (and replays).
UI_CSP = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

#: The policy of an archived image served on the listing origin (reader view): inert even when
#: opened on its own (an SVG's scripts do not run, nothing loads).
IMAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


def memento_datetime(timestamp: str) -> str | None:
    """The HTTP date of a 14-digit timestamp (Memento-Datetime), or None if it is not one."""
    return timestamps.to_http_date(timestamp)


def _connection_tokens(headers: list[tuple[str, str]]) -> set[str]:
    tokens: set[str] = set()
    for name, value in headers:
        if name.lower() == "connection":
            tokens.update(t.strip().lower() for t in value.split(",") if t.strip())
    return tokens


def rewrite_set_cookie(value: str, path: str) -> str:
    """Re-scope an archived cookie to the collection's path on the replay origin.

    Domain would name the original site (rejected here), Secure cannot be set over http,
    SameSite=None needs Secure: those attributes go; Path becomes the collection's prefix.
    """
    parts = [p.strip() for p in value.split(";")]
    out = [parts[0]]
    for attr in parts[1:]:
        key = attr.split("=", 1)[0].strip().lower()
        if key in ("domain", "path", "secure", "partitioned", "priority") or not key:
            continue
        if key == "samesite" and attr.split("=", 1)[-1].strip().lower() == "none":
            continue
        out.append(attr)
    out.append(f"Path={path}")
    return "; ".join(out)


_LINK_URL = re.compile(r"<([^>]*)>")


def rewrite_link_header(value: str, rewrite: Callable[[str], str]) -> str:
    return _LINK_URL.sub(lambda m: "<" + rewrite(m.group(1)) + ">", value)


def rewrite_refresh(value: str, rewrite: Callable[[str], str]) -> str:
    match = re.match(r"^(\s*[\d.]*\s*[;,]\s*(?:url\s*=\s*)?)(['\"]?)(.*?)(\2\s*)$", value, re.I | re.S)
    if not match or not match.group(3):
        return value
    return match.group(1) + match.group(2) + rewrite(match.group(3)) + match.group(4)


def replay_headers(
    archived: list[tuple[str, str]],
    *,
    keep_encoding: bool,
    rewrite: Callable[[str], str],
    cookie_path: str,
    identity: bool = False,
    keep: Callable[[str, str], str | None] | None = None,
    set_cookie: Callable[[str], str | None] | None = None,
) -> list[tuple[str, str]]:
    """The archived headers as replay sends them (without the ones replay adds itself).

    `keep_encoding`: the body goes out still content-encoded, so Content-Encoding stays.
    `rewrite`: maps a URL from a header to its replay URL.  `identity` (the `id_` modifier)
    keeps every header that is safe to send as archived, URLs included.  `keep(name, value)`
    gives the value to send an origin-state header with (None: rename it as usual), and
    `set_cookie(value)` a cookie's (None: drop it); a session host passes both.
    """
    dropped = HOP_BY_HOP | _connection_tokens(archived) | {"content-length"}
    out: list[tuple[str, str]] = []
    for name, value in archived:
        lname = name.lower()
        if lname in dropped:
            continue
        if lname == "content-encoding" and not keep_encoding:
            continue
        if lname in ("set-cookie", "set-cookie2") and not identity:
            cookie = set_cookie(value) if set_cookie else rewrite_set_cookie(value, cookie_path)
            if cookie is not None:
                out.append(("Set-Cookie", cookie))
            continue
        kept = keep(lname, value) if keep is not None and lname in ORIGIN_STATE and not identity else None
        if kept is not None:
            out.append((name, kept))
            continue
        if lname in ORIGIN_STATE:
            if identity and lname in ("cache-control", "expires", "pragma", "age", "referrer-policy"):
                out.append((name, value))
            else:
                out.append((ORIG_PREFIX + name, value))
            continue
        if identity:
            out.append((name, value))
        elif lname in ("location", "content-location"):
            out.append((name, rewrite(value.strip())))
        elif lname == "link":
            out.append((name, rewrite_link_header(value, rewrite)))
        elif lname == "refresh":
            out.append((name, rewrite_refresh(value, rewrite)))
        else:
            out.append((name, value))
    return out


def added_headers(
    timestamp: str, *, identity: bool = False, csp: str | None = None, session: bool = False
) -> list[tuple[str, str]]:
    """What replay adds to every archived response (`csp` and `session`: on a session host)."""
    # CORP: a replayed resource is for pages of its own collection's origin only (of its own
    # collection's session hosts, one site); `<script src>` or `<img>` pointed at another
    # collection is refused by the browser.
    out = [
        ("Content-Security-Policy", csp or REPLAY_CSP),
        ("Cross-Origin-Resource-Policy", "same-site" if session else "same-origin"),
        ("X-DNS-Prefetch-Control", "off"),
    ]
    if not identity:
        # Replayed URLs are re-resolved against the archive at each request (a new capture
        # may be nearer); on a shared origin, root-relative requests are routed by their Referer.
        out += [("Cache-Control", "no-cache")] if session else [
            ("Referrer-Policy", "same-origin"), ("Cache-Control", "no-cache")]
    memento = memento_datetime(timestamp)
    if memento:
        out.append(("Memento-Datetime", memento))
    return out


def is_safe_header(name: str, value: str) -> bool:
    """False for a header WSGI would refuse (control characters, bad names)."""
    if not name or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
        return False
    return not any(ord(ch) < 0x20 and ch != "\t" or ord(ch) == 0x7F for ch in value)


def page_response(html: str, status: int = 200) -> Response:
    """One of the server's own HTML pages: no script, not framed, not cached, no Referer."""
    response = Response(html.encode("utf-8"), status, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = UI_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def text_response(text: str, status: int) -> Response:
    """A plain-text answer (errors, refusals), inert whatever it says."""
    response = Response(text, status, content_type="text/plain; charset=utf-8")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    return response


def redirect(location: str, status: int = 302) -> Response:
    """A redirect that no cache keeps (the capture a URL leads to can change)."""
    response = Response(b"", status)
    response.headers["Location"] = location
    response.headers["Cache-Control"] = "no-store"
    return response
