"""Block lists: requests that match `--block` / `--block-list` rules are neither fetched nor archived.

The rules are in adblock syntax (EasyList, EasyPrivacy, uBlock Origin's lists, or a line of your
own such as `||tracker.example^`), parsed and matched by `adblock`, the Python bindings of Brave's
adblock-rust: it handles the whole syntax (anchors, wildcards, `$third-party`, resource types,
`@@` exceptions, `$badfilter`) and checks a request in microseconds against tens of thousands of
rules (scripts/bench_blocklist.py). Cosmetic rules (`##selector`) are ignored: they hide elements
of a page, which a faithful archive does not do.

Where a request is blocked: in the recording proxy, which every request of the capture browser
passes through (its frames, workers and service workers too). A blocked request is answered by
the proxy itself with a 403 that names the reason, never sent to the server and never recorded;
its URL goes into the page record's `blocked` list.

What a rule sees of a request, as a browser extension would: its URL, the page it is made from
(the `Referer`, else the page captured) for `$third-party` and `$domain`, and its type from the
browser's `Sec-Fetch-Dest` header, or, where the browser sends none (plain http sites), from its
`Accept` header and file extension.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from warcache.capture.httpwire import Head
from warcache.errors import UsageError

#: Sec-Fetch-Dest values, as adblock's request types.
_DEST_TYPES = {
    "document": "document", "iframe": "subdocument", "frame": "subdocument", "embed": "object",
    "object": "object", "script": "script", "worker": "script", "sharedworker": "script",
    "serviceworker": "script", "audioworklet": "script", "paintworklet": "script", "style": "stylesheet",
    "image": "image", "font": "font", "audio": "media", "video": "media", "track": "media",
    "empty": "xmlhttprequest", "report": "csp_report",
}
_EXTENSION_TYPES = {
    "js": "script", "mjs": "script", "css": "stylesheet", "png": "image", "gif": "image", "jpg": "image",
    "jpeg": "image", "webp": "image", "avif": "image", "svg": "image", "ico": "image", "woff": "font",
    "woff2": "font", "ttf": "font", "otf": "font", "mp4": "media", "webm": "media", "mp3": "media",
    "m4a": "media", "ogg": "media", "m3u8": "media", "mpd": "media", "ts": "media", "m4s": "media",
    "html": "document", "htm": "document",
}
#: How many blocked URLs a page record lists (the count is always whole).
MAX_LISTED = 200

#: `blocker(url, request head)`: True when the request must not be fetched.
BlockCheck = Callable[[str, Head], bool]


def read_block_list(path: str | Path) -> list[str]:
    """The rules of a list file (one rule a line; `!` comments and `[Adblock Plus]` headers kept,
    the library skips them). Raises UsageError with one line when the file cannot be read."""
    try:
        text = Path(path).read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise UsageError(f"cannot read block list {path}: {exc.strerror or exc}") from None
    return text.splitlines()


def count_rules(rules: list[str]) -> int:
    """Lines that are rules (not blank, not comments or headers): what `settings()` reports."""
    return sum(1 for r in rules if r.strip() and not r.lstrip().startswith(("!", "[")))


@functools.lru_cache(maxsize=4)
def _engine(rules: tuple[str, ...]):
    """The compiled matcher of a rule set, built once per process (a large list takes ~0.4 s)."""
    import adblock  # only when blocking is asked for

    filters = adblock.FilterSet()
    filters.add_filters(list(rules))
    return adblock.Engine(filters)


def blocker(rules: list[str] | tuple[str, ...], page_url: str) -> BlockCheck | None:
    """The check the recording proxy runs on each request of a capture of `page_url` (None
    without rules)."""
    if not count_rules(list(rules)):
        return None
    engine = _engine(tuple(rules))

    def check(url: str, head: Head) -> bool:
        source = head.get("Referer") or page_url
        return bool(engine.check_network_urls(url, source, request_type(url, head)).matched)

    return check


def request_type(url: str, head: Head) -> str:
    """The adblock request type of a request, from what the browser said about it."""
    if "websocket" in head.tokens("Upgrade"):
        return "websocket"
    dest = (head.get("Sec-Fetch-Dest") or "").strip().lower()
    if dest in _DEST_TYPES:
        if dest == "empty" and head.get("Ping-To"):
            return "ping"
        return _DEST_TYPES[dest]
    accept = (head.get("Accept") or "").lower()
    if accept.startswith("text/css"):
        return "stylesheet"
    if accept.startswith("image/"):
        return "image"
    if accept.startswith("text/html"):
        return "document"
    path = urlsplit(url).path
    extension = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    return _EXTENSION_TYPES.get(extension, "other")
