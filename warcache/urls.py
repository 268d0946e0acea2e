"""Checking and normalising the URLs a user asks warcache to capture.

Browsers normalise what they are given (`http://Example.com` becomes `http://example.com/`), and the
archive must find a capture under the URL the browser actually requested, so warcache normalises the
same way before it starts, and refuses schemes it cannot record.
"""

from __future__ import annotations

import hashlib
from urllib.parse import quote, urlsplit, urlunsplit

from warcache.errors import UsageError

CAPTURE_SCHEMES = ("http", "https")
#: Schemes a page could point a browser at that never go through the network recorder.
LOCAL_SCHEMES = ("file", "chrome", "view-source", "data", "about", "javascript", "blob", "chrome-extension")

# What a browser leaves as it is in a path and in a query (the WHATWG URL standard's percent-encode
# sets for http(s)): every other character, and every non-ASCII one as UTF-8, is percent-encoded.
# "%" stays, so escapes already there are kept as they are, as browsers do.
_PRINTABLE = "".join(chr(c) for c in range(0x21, 0x7F))
_PATH_SAFE = "".join(ch for ch in _PRINTABLE if ch not in '"#<>?`{}')
_QUERY_SAFE = "".join(ch for ch in _PRINTABLE if ch not in "\"#<>'")


def normalize_url(url: str) -> str:
    """Return `url` as a browser would request it, or raise UsageError saying what is wrong.

    Lower-cases scheme and host, encodes international host names (IDNA), percent-encodes
    the path and query as the browser will (`/café` is requested as `/caf%C3%A9`), drops the
    fragment (never sent to a server) and the default port, and gives an empty path `/`.
    """
    text = url.strip()
    if not text:
        raise UsageError("empty URL")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise UsageError(f"invalid URL {text!r}: it contains control characters")
    if "://" not in text and ":" not in text.split("/", 1)[0]:
        raise UsageError(f"invalid URL {text!r}: give a full URL such as https://{text}")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"invalid URL {text!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme in LOCAL_SCHEMES:
        raise UsageError(f"refusing {scheme}: URL {text!r}: only http and https pages can be archived")
    if scheme not in CAPTURE_SCHEMES:
        raise UsageError(f"unsupported URL scheme {scheme!r} in {text!r}: only http and https")
    host = parts.hostname
    if not host:
        raise UsageError(f"invalid URL {text!r}: no host name")
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host.lower()
    except UnicodeError:
        raise UsageError(f"invalid URL {text!r}: bad international host name") from None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host
    if parts.username or parts.password:
        raise UsageError(f"invalid URL {text!r}: credentials in URLs are not supported")
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        netloc = f"{host}:{port}"
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    query = quote(parts.query, safe=_QUERY_SAFE)
    return urlunsplit((scheme, netloc, path, query, ""))


def hash_url(url: str) -> str:
    """md5 hex digest of the URL as UTF-8: a stable, file-name-safe key for one captured URL (the
    `hash_url:` of the cached-articles format, and what `show HASH` accepts)."""
    return hashlib.md5(url.encode("utf-8")).hexdigest()


def host_of(url: str) -> str:
    """The host name of a URL, lower-cased, without port (empty string if there is none)."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
