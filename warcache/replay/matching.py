"""Which archived response answers a request: exactly, fuzzily, or by another candidate of a
responsive image's set.  Shared by the replay server and `warcache open`.

In order, until one answers:

1. the captures of exactly this request (URL, method and body, as the index keys them),
   nearest in time first;
2. fuzzy matching (`fuzzy`, rules from `rules`): captures of the same path whose remaining
   parameters agree once volatile ones (cache-busters, times, random tokens, JSONP callback
   names) are left out;
3. for an image, the nearest archived candidate of the srcset, `<picture>` or `image-set()`
   it belongs to, read from the document that asked for it (`srcsets`), and from that
   page's rendered DOM when warcache captured it (for srcsets scripts set).

Archived 206 pieces of a response are not answers by themselves: when no whole response is
archived, the pieces go to `ranges`, which puts together what a Range request asks for.
Every answer other than an exact one is reported (`Found.note`), so the replay server's log
and `open`'s report say what stood in for what.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from warcache import contenttype
from warcache.errors import ArchiveError
from warcache.index.cdxj import CdxjLine, post_query
from warcache.replay import fuzzy, jsonp, srcsets
from warcache.replay.resolve import MAX_CANDIDATES, Capture, Resolver, header
from warcache.replay.rules import Rules, RulesFiles, UrlRules
from warcache.warc.writer import DOM_URN

#: Fuzzy groups (captures of one other URL) tried before giving up.
MAX_GROUPS = 5
#: Documents read to find a responsive image's set (their first bytes only).
MAX_DOCUMENT = 4 * 1024 * 1024
_SETS_CACHE = 256


def printable(text: str, limit: int = 2000) -> str:
    """`text` with control characters escaped, for a log line or a terminal (URLs are the
    archived sites' and the requesting page's text: never let them drive a terminal)."""
    out = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text[:limit])
    return out + ("..." if len(text) > limit else "")


@dataclass
class Found:
    """The answer to one request (close it, or hand its capture on, when done)."""

    asked: str  # the URL requested
    how: str  # "exact", "fuzzy", or "srcset" (another candidate of the image's set)
    capture: Capture | None  # the whole response; None when only pieces of it are archived
    rules_of: Callable[[], UrlRules]  # the rules of `asked` (read only when needed)
    url: str  # the archived URL that answers
    pieces: list[CdxjLine] = field(default_factory=list)  # archived 206 pieces of `url`
    method: str = "GET"
    asked_body: str = ""  # a POST/PUT body as the index flattens it (`q=x&nonce=...`)
    archived_body: str = ""

    @property
    def fuzzy(self) -> bool:
        return self.how != "exact"

    def note(self) -> str | None:
        """The line that says what answered instead of what was asked (None when exact)."""
        if not self.fuzzy:
            return None
        asked, archived = self.asked, self.url
        if self.method not in ("GET", "HEAD"):
            asked = f"{self.method} {asked} [{self.asked_body[:200]}]"
            archived = f"{self.method} {archived} [{self.archived_body[:200]}]"
        line = f"fuzzy: {printable(asked)} -> {printable(archived)}"
        if self.how == "srcset":
            line += " (nearest archived candidate of its image set)"
        return line

    def callback(self) -> str | None:
        """The JSONP callback name to answer with, when the page asked for another one than
        the capture's (None: serve the body as archived)."""
        if self.capture is None or "?" not in self.asked:
            return None
        rules = self.rules_of()
        wanted = jsonp.requested_callback(self.asked, rules)
        if wanted is None or wanted == jsonp.requested_callback(self.capture.url, rules):
            return None
        mime = contenttype.media_type(header(self.capture.headers, "Content-Type"))
        return wanted if mime in jsonp.SCRIPT_TYPES else None

    def close(self) -> None:
        if self.capture is not None:
            self.capture.close()


class Matcher:
    """Finds answers in one collection (thread-safe: the replay server shares one)."""

    def __init__(self, resolver: Resolver, rules: RulesFiles | Rules) -> None:
        self.resolver = resolver
        self._rules = rules
        self._sets: OrderedDict[tuple[str, str | None], list[list[srcsets.Candidate]]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def rules(self) -> Rules:
        return self._rules.get() if isinstance(self._rules, RulesFiles) else self._rules

    def find(
        self,
        url: str,
        *,
        timestamp: str | None = None,
        method: str = "GET",
        content_type: str | None = None,
        body: bytes = b"",
        image: bool = False,
        referrers: Callable[[], Sequence[tuple[str, str | None]]] | None = None,
    ) -> Found | None:
        """The answer to a request for `url`, or None if the archive has none.

        `image`: the browser asked for an image; then `referrers()`, the URL and timestamp of
        the documents or style sheets that may have asked, are searched for its candidate set.
        """
        method = method.upper()
        exact = self.resolver.candidates(
            url, timestamp=timestamp, method=method, content_type=content_type, body=body,
            limit=MAX_CANDIDATES,
        )
        def rules_of() -> UrlRules:
            return self.rules.for_url(url)

        if exact:
            found = self._load(exact, url, url, "exact", rules_of)
            if found is not None:
                return found
        found = self._fuzzy(url, timestamp, method, content_type, body, rules_of)
        for referrer in referrers() if image and referrers is not None else ():
            if found is not None:
                break
            found = self._sibling(url, timestamp, referrer, rules_of)
        if found is not None and method in ("POST", "PUT"):
            found.method = method
            found.asked_body = post_query(content_type, body)
        return found

    def _load(
        self, lines: list[CdxjLine], asked: str, url: str, how: str, rules: Callable[[], UrlRules]
    ) -> Found | None:
        whole = [ln for ln in lines if ln.status != "206"]
        pieces = [ln for ln in lines if ln.status == "206"]
        capture = self.resolver.first(whole, url) if whole else None
        if capture is None and not pieces:
            return None
        return Found(asked, how, capture, rules, capture.url if capture else pieces[0].url, pieces)

    def _fuzzy(
        self, url: str, timestamp: str | None, method: str, content_type: str | None, body: bytes,
        rules: Callable[[], UrlRules],
    ) -> Found | None:
        lines = self.resolver.same_path(url, self.rules.max_candidates)
        if not lines:
            return None
        ranked = fuzzy.rank(
            url, lines, rules(), timestamp=timestamp, method=method, content_type=content_type, body=body
        )
        tried: set[str] = set()
        for choice in ranked:
            key = choice.line.urlkey
            if key in tried:
                continue
            tried.add(key)
            if len(tried) > MAX_GROUPS:
                break
            group = self.resolver.lookup_key(key, timestamp or None)
            found = self._load(group, url, choice.line.url, "fuzzy", rules)
            if found is not None:
                found.archived_body = choice.line.request_body or ""
                return found
        return None

    def _sibling(
        self, url: str, timestamp: str | None, referrer: tuple[str, str | None], rules: Callable[[], UrlRules]
    ) -> Found | None:
        for other in srcsets.alternatives(self._sets_of(*referrer), url):
            lines = self.resolver.candidates(other, timestamp=timestamp, limit=MAX_CANDIDATES)
            found = self._load(lines, url, other, "srcset", rules) if lines else None
            if found is not None:
                return found
        return None

    def _sets_of(self, doc_url: str, doc_timestamp: str | None) -> list[list[srcsets.Candidate]]:
        """The candidate sets of an archived document or style sheet (cached)."""
        key = (doc_url, doc_timestamp)
        with self._lock:
            if key in self._sets:
                self._sets.move_to_end(key)
                return self._sets[key]
        sets = self._read_sets(doc_url, doc_timestamp)
        with self._lock:
            self._sets[key] = sets
            while len(self._sets) > _SETS_CACHE:
                self._sets.popitem(last=False)
        return sets

    def _read_sets(self, doc_url: str, doc_timestamp: str | None) -> list[list[srcsets.Candidate]]:
        """Sets of the archived document, and of its rendered DOM when warcache captured it
        (srcsets that scripts set are only there)."""
        sets = self._document_sets(doc_url, doc_url, doc_timestamp)
        if sets is not None:
            sets += self._document_sets(DOM_URN + doc_url, doc_url, doc_timestamp) or []
        return sets or []

    def _document_sets(
        self, record_url: str, base: str, timestamp: str | None
    ) -> list[list[srcsets.Candidate]] | None:
        capture = self.resolver.find(record_url, timestamp=timestamp)
        if capture is None:
            return None
        with capture:
            content_type = header(capture.headers, "Content-Type")
            mime = contenttype.media_type(content_type)
            if mime not in contenttype.HTML_TYPES and mime != "text/css":
                return None
            try:
                data = capture.content(limit=MAX_DOCUMENT)
            except ArchiveError:
                return None
        try:
            text = data.decode(contenttype.charset(content_type) or "utf-8", "replace")
        except LookupError:  # a charset Python does not know
            text = data.decode("utf-8", "replace")
        if mime == "text/css":
            return srcsets.css_image_sets(text, base)
        return srcsets.html_sets(text, base)

