"""Wayback-style replay URLs, as pywb writes them: `/<coll>/<timestamp><modifier>/<url>`.

The timestamp is 1-14 digits (a prefix means "nearest to the start of that period"), the
modifier says how the resource is used (pywb's names: `id_` raw bytes, `mp_` main page,
`if_`/`fr_` frames, `im_`, `js_`, `cs_`, `oe_` embeds; warcache adds `wk_` for worker scripts).
Both parts are optional: `/<coll>/<url>` is the latest capture.

Parsing works on the raw request target (still percent-encoded), so an archived URL with
`%2F` or `?` in it comes back unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from warcache.collection import NAME_RE

#: Modifiers that mean "a document the user sees": HTML gets the client script.
DOC_MODIFIERS = frozenset({"", "mp_", "if_", "fr_", "oe_"})
IDENTITY = "id_"
WORKER = "wk_"

_TS_MOD = re.compile(r"^(\d{0,14})([a-z]{2,3}_)?$")
_SCHEME = re.compile(r"^(https?):/*", re.IGNORECASE)
# A bare host at the start of a scheme-less URL: a dotted name, an IPv4/IPv6 address or
# localhost, optionally with a port. Anything else is not taken for a URL.
_BARE_HOST = re.compile(
    r"^(?:\[[0-9a-fA-F:.]+\]|localhost|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)(?::\d{1,5})?(?:[/?#]|$)"
)


@dataclass(frozen=True)
class ArchivalUrl:
    """One parsed replay URL."""

    coll: str
    timestamp: str  # "" for the latest capture
    modifier: str  # "" or e.g. "id_"
    url: str  # the archived URL, absolute http(s)

    @property
    def is_identity(self) -> bool:
        return self.modifier == IDENTITY

    def path(
        self, *, timestamp: str | None = None, modifier: str | None = None, url: str | None = None
    ) -> str:
        """This URL's path, with some parts replaced."""
        return replay_path(
            self.coll,
            self.timestamp if timestamp is None else timestamp,
            self.modifier if modifier is None else modifier,
            self.url if url is None else url,
        )


def replay_path(coll: str, timestamp: str, modifier: str, url: str) -> str:
    """`/<coll>/<timestamp><modifier>/<url>`; without timestamp and modifier, `/<coll>/<url>`."""
    stamp = f"{timestamp}{modifier}"
    return f"/{coll}/{stamp}/{url}" if stamp else f"/{coll}/{url}"


def normalize_target(text: str) -> str | None:
    """The archived URL in the tail of a replay path, or None if it does not look like one.

    Accepts what browsers and proxies do to URLs inside paths: `http:/host` (slashes merged),
    a missing scheme (`example.com/page` means http), `//host/path`.
    """
    if not text:
        return None
    match = _SCHEME.match(text)
    if match:
        rest = text[match.end() :]
        url = f"{match.group(1).lower()}://{rest}"
    elif text.startswith("//"):
        url = "http:" + text
    elif _BARE_HOST.match(text):
        url = "http://" + text
    else:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return url


def parse_archival_path(
    target: str, collections: frozenset[str] | set[str] | None = None
) -> ArchivalUrl | None:
    """Parse a raw request target (path and query) into an ArchivalUrl, or None.

    `collections`, when given, are the names that exist: anything else is not a replay URL.
    """
    if not target.startswith("/"):
        return None
    coll, sep, rest = target[1:].partition("/")
    if not sep or not NAME_RE.match(coll) or (collections is not None and coll not in collections):
        return None
    timestamp, modifier = "", ""
    first, slash, tail = rest.partition("/")
    match = _TS_MOD.match(first)
    if slash and match and first and not _SCHEME.match(rest):
        timestamp, modifier = match.group(1), match.group(2) or ""
        rest = tail
    url = normalize_target(rest)
    if url is None:
        return None
    return ArchivalUrl(coll, timestamp, modifier, url)
