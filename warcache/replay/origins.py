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

Which origins a server uses depends on the address it listens on (`choose_origins`), and so
do the host names it answers to at all (`allowed_hosts`, against DNS rebinding).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass

from warcache.errors import UsageError

#: The default parent domain: every browser resolves its subdomains to the loopback address.
LOCALHOST = "localhost"

#: The names a server bound to a loopback address always answers to.
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})

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
    if is_loopback(host):
        return Origins(LOCALHOST), None
    return Origins(None), (
        f"warning: listening on {host}: collections are replayed from one shared origin; give "
        "--collection-domain NAME (with DNS answering *.NAME) to isolate them from each other"
    )


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses (only this machine can reach them)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str) -> frozenset[str] | None:
    """The host names a server bound to `host` answers to (None: any)."""
    if host in ("", "0.0.0.0", "::"):
        return None  # reachable under any name: the user asked for it
    return frozenset(LOOPBACK_NAMES | {host.lower().strip("[]")})
