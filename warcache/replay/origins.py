"""Which origin replays which collection, and which requests an origin accepts.

Why one origin per collection.  Replayed pages run the archived sites' own scripts.  Served
from one shared origin (as pywb does), a script archived in one collection could fetch and
read every other collection's captures (`fetch("/other/2024id_/https://bank.example/")` is a
same-origin request), and cookies, localStorage and IndexedDB written while replaying one
collection would be seen by the others.  So each collection is replayed from its own host
name on the replay port, `http://<label>.localhost:<port>/` by default: browsers answer every
`*.localhost` name with the loopback address themselves (RFC 6761 section 6.3; Chromium and
Firefox never ask DNS for them), and `a.localhost` and `b.localhost` are different *sites*,
so the browser's same-origin policy, CORS, cookie and storage partitioning keep collections
apart without any setup.  A server reachable from other machines needs a wildcard DNS name
instead (`--collection-domain`), or gives isolation up (`--shared-origin`).

The paths stay pywb's (`/<coll>/<ts><mod>/<url>`), so a URL still says which collection it
is; the host must agree with it.  Requests for a collection arriving on another host are
refused (or, for a browser navigation, redirected to the right host): that is the check.

Fetch metadata (`Sec-Fetch-Site`, `Sec-Fetch-Mode`) adds a second wall: a replayed resource
is only ever loaded by pages of its own origin, so a subresource request that the browser
says came from another site or origin is refused before the archive is read.  Every replayed
response also carries `Cross-Origin-Resource-Policy: same-origin`, which stops the requests
fetch metadata cannot (`<script src>` or `<img>` pointed at another collection).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

#: The default parent domain: every browser resolves its subdomains to the loopback address.
LOCALHOST = "localhost"

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def host_label(name: str) -> str:
    """The DNS label of a collection's host name.

    A lower-case name that is already a valid label is used as is (`news` -> `news`).  Other
    names (capitals, `_`, 64 characters) would clash once lower-cased or be refused by URL
    parsers, so they get a label derived from a hash, marked by `--`, which no name used as
    is contains: `My_Notes` -> `c--3f0c...`.
    """
    if _LABEL.fullmatch(name) and "--" not in name:
        return name
    return "c--" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:24]


def valid_domain(domain: str) -> bool:
    """True for a DNS name that collection host names can be made under (`localhost`, `arch.lan`)."""
    return len(domain) <= 200 and _DOMAIN.fullmatch(domain) is not None


@dataclass(frozen=True)
class Origins:
    """The host names of the replay port.

    `domain`: collections are replayed from `<label>.<domain>`; None replays every collection
    from the host name the browser used (one shared origin, as pywb does).
    """

    domain: str | None = LOCALHOST

    @property
    def isolated(self) -> bool:
        return self.domain is not None

    def host(self, name: str) -> str | None:
        """The host name replaying collection `name` (None: any host, the origins are shared)."""
        if self.domain is None:
            return None
        return f"{host_label(name)}.{self.domain}"

    def collection_of(self, hostname: str, names: frozenset[str]) -> str | None:
        """The collection whose host name `hostname` is, if any (case-insensitive, as DNS)."""
        if self.domain is None:
            return None
        label, dot, parent = hostname.lower().rstrip(".").partition(".")
        if not dot or parent != self.domain:
            return None
        return next((n for n in names if host_label(n) == label), None)

    def is_collection_host(self, hostname: str) -> bool:
        """True for a name under the collection domain (known collection or not)."""
        if self.domain is None:
            return False
        label, dot, parent = hostname.lower().rstrip(".").partition(".")
        return bool(dot) and parent == self.domain and _LABEL.fullmatch(label) is not None


def foreign_subresource(site: str | None, mode: str | None) -> bool:
    """True for a request a browser made from a page of another origin, other than a navigation.

    `site`/`mode` are the Sec-Fetch-Site / Sec-Fetch-Mode headers.  Clients that send none
    (curl, scripts, old browsers) are not judged here: CORS and CORP still hold for them.
    """
    if site is None:
        return False
    if site.lower() in ("same-origin", "none"):
        return False
    return (mode or "").lower() != "navigate"
