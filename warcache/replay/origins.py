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

Why one origin per archived origin (the *session hosts*).  A replayed page should see the URL
it had live: routers read `location.pathname`, scripts build addresses from `location.host`,
frames check `event.origin`.  So a navigation to a pywb-style URL on a collection's host is
sent on to a host name of its own for the page's original origin, at the capture's time:

    https://news.example/a/b?c=1, captured 20240102030405, collection "news"
      -> http://news.example.20240102030405s.news.localhost:8081/a/b?c=1
         <original host> . <timestamp><s|h>[port] . <collection label> . <collection domain>

The path, query and fragment are the original ones, so `location.pathname/search/hash`,
relative URLs, history, routers, modules and workers work natively; the session label keeps
the scheme, the port and the time every request of the page is answered at (a cookie, a
Referer or a path prefix would each be lost for some requests).  Each original origin stays
its own origin, so cross-origin frames stay cross-origin, as live.  All the session hosts of
a collection are under its host name, so they are one *site* (`localhost` acts as a public
suffix): they load each other's resources, and another collection is another site, as before.
Only the host part differs from live; the client and the JS rewriting (`client`, `jsrewrite`)
give scripts the original one.  Original host names that cannot be a DNS label sequence here
(IPv6 literals, or a name that would make the host name longer than 253 characters) get a
hashed label, `x--<13 base32 characters>`, which the server maps back from a table it fills
as it names them (and, failing that, from the collection's index).

pywb-style paths are *not* served on session hosts: there the path is the original path and
nothing else, so an archived script cannot ask its own origin for another capture's bytes.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

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
        """True for a name under the collection domain (a collection's or a session's host)."""
        if self.domain is None:
            return False
        return hostname.lower().rstrip(".").endswith("." + self.domain)

    @property
    def site_is_collection(self) -> bool:
        """True when browsers take each collection's host for a site of its own: under a
        one-label domain (`localhost`), which they treat as a public suffix.  Under a longer
        domain every collection is one site, and `Sec-Fetch-Site: same-site` says nothing."""
        return self.domain is not None and "." not in self.domain

    def session_host(self, coll: str, url: str, timestamp: str, names: HostNames) -> str | None:
        """The host name replaying the origin of `url` at `timestamp` in collection `coll`."""
        parts = original_origin(url)
        if parts is None or self.domain is None:
            return None
        scheme, host, port = parts
        tail = f".{session_label(timestamp, scheme, port)}.{host_label(coll)}.{self.domain}"
        return names.label_for(host, tail) + tail

    def session_of(self, hostname: str, collections: frozenset[str], names: HostNames) -> SessionHost | None:
        """The session a host name of the replay port is for, if it is one."""
        if self.domain is None:
            return None
        name = hostname.lower().rstrip(".")
        if not name.endswith("." + self.domain):
            return None
        labels = name[: -len(self.domain) - 1].split(".")
        if len(labels) < 3:
            return None
        coll = next((n for n in collections if host_label(n) == labels[-1]), None)
        match = _SESSION.fullmatch(labels[-2])
        if coll is None or match is None:
            return None
        host = names.host_for(".".join(labels[:-2]))
        if host is None:
            return None
        ts, letter, port = match.groups()
        return SessionHost(coll, ts, "https" if letter == "s" else "http", host, int(port) if port else None)


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


# ---------------------------------------------------------------------------------------------
# Session hosts: one host name per original origin, time and collection (see the docstring)
# ---------------------------------------------------------------------------------------------
_SESSION = re.compile(r"(\d{14})([sh])(\d{1,5})?")
_HOST_LABEL = re.compile(r"[a-z0-9_-]{1,63}")
_B32 = "abcdefghijklmnopqrstuvwxyz234567"
MAX_HOST_NAME = 253


@dataclass(frozen=True)
class SessionHost:
    """A host name of the replay port: original origin `scheme://host[:port]` of collection
    `coll`, replayed at `timestamp` (every request to it is answered nearest to that time)."""

    coll: str
    timestamp: str
    scheme: str
    host: str  # as in a URL: "example.com", "127.0.0.1", "[::1]"
    port: int | None  # None: the scheme's default

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.host}" + (f":{self.port}" if self.port else "")

    def url(self, target: str) -> str:
        """The original URL of a request target (path and query, as the browser sent them)."""
        return self.origin + (target if target.startswith("/") else "/" + target)


def session_label(timestamp: str, scheme: str, port: int | None) -> str:
    """`20240102030405s` (https, default port), `20240102030405h8080`."""
    return f"{timestamp}{'s' if scheme == 'https' else 'h'}{port or ''}"


def original_origin(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host as in a URL, port or None for the default) of an http(s) URL, or None."""
    try:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if scheme not in ("http", "https") or not host:
        return None
    if ":" in host:
        try:
            host = f"[{ipaddress.IPv6Address(host.split('%')[0]).compressed}]"
        except ValueError:
            return None
    elif not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    if port == (443 if scheme == "https" else 80):
        port = None
    return scheme, host, port


def hashed_label(host: str) -> str:
    """`x--` and the 64-bit FNV-1a hash of the host name in base32 (client.js computes the same)."""
    value = 0xCBF29CE484222325
    for byte in host.encode("utf-8"):
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "x--" + base64.b32encode(value.to_bytes(8, "big")).decode("ascii").rstrip("=").lower()


def _plain(host: str, tail: str) -> bool:
    if len(host) + len(tail) > MAX_HOST_NAME or host.startswith("x--"):
        return False
    return all(_HOST_LABEL.fullmatch(label) for label in host.split("."))


class HostNames:
    """Which original host a host-name prefix stands for: itself, or a hashed label.

    Hashed labels are remembered as they are made (the rewriter makes them before the browser
    asks for them); a label made by the client in a browser, for a host the server never named,
    is looked up in the collection's index by `learn` (the app calls it on a miss).
    """

    def __init__(self) -> None:
        self._hashed: dict[str, str] = {}
        self._lock = threading.Lock()

    def label_for(self, host: str, tail: str) -> str:
        if _plain(host, tail):
            return host
        label = hashed_label(host)
        with self._lock:
            self._hashed[label] = host
        return label

    def host_for(self, prefix: str) -> str | None:
        if prefix.startswith("x--"):
            with self._lock:
                return self._hashed.get(prefix)
        return prefix if all(_HOST_LABEL.fullmatch(label) for label in prefix.split(".")) else None

    def learn(self, hosts: object) -> None:
        """Remember the hashed labels of these host names (an iterable of URL host strings)."""
        with self._lock:
            for host in hosts:  # type: ignore[attr-defined]
                self._hashed.setdefault(hashed_label(host), host)
