"""Fuzzy matching: which capture answers a request the archive does not hold exactly.

A replayed page asks for URLs it makes at run time: `data.json?_=<Date.now()>`,
`items?page=2&rnd=<random hex>`, a POST whose JSON body carries a nonce, a JSONP URL whose
callback name is random.  Replay pins Date and Math.random, but not to the millisecond the
capture saw, and not crypto's random numbers, so these URLs were never archived.

After an exact miss, the captures of the same path (same host and path, any query; same
method) are compared with the request on their parameters (query, and the fields of a POST
body, as pywb flattens them), once the volatile ones are left out on both sides:

* parameters the rules list as cache-busters (`_`, `cb`, `utm_*` ...), whatever their value;
* parameters the rules list as often volatile (`t`, `v`, `token` ...) when their value looks
  like a time or a random token;
* any parameter whose value is a time near the capture (epoch seconds, milliseconds or
  microseconds), a `Math.random()` number, a UUID, or a long random-looking token;
* JSONP callback parameters whose value is a script identifier (see `jsonp`).

What remains must agree: every remaining parameter of the request must be in the capture
with the same value (a capture of `items?page=1` never answers `items?page=2`, which is the
mistake ReplayWeb.page makes), and the `key_params` of a site rule must agree both ways.
Among the captures that agree, the one with the fewest extra parameters wins, then the one
sharing most of the left-out values, then the one nearest in time.  Only files (paths with
a static extension, such as `app.js?v=3`) or site rules with `allow_conflicts` may be
answered by a capture whose parameters conflict, ranked by the parameters they share.

Everything here works on index lines: nothing is read from WARCs.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from warcache import timestamps
from warcache.index.cdxj import CdxjLine, canonical_key, post_query
from warcache.replay.rules import UrlRules

#: A script identifier path (`cb_12`, `jQuery.cb`, `a.b[3]`): what a JSONP callback name is.
IDENTIFIER = r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*|\[\d+\])*"
_IDENTIFIER = re.compile(IDENTIFIER)
_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.IGNORECASE)
_RANDOM_FLOAT = re.compile(r"0\.\d{8,}")
_HEX = re.compile(r"[0-9a-f]+", re.IGNORECASE)
_TOKEN = re.compile(r"[A-Za-z0-9_\-]+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_INTERNAL = "__wb_"  # pywb's names for the method and binary bodies: never volatile
#: Epoch times before this (2000-01-01) are not taken for times at all.
_EARLIEST = 946_684_800
_LATEST = 4_102_444_800  # 2100-01-01


def is_identifier(value: str) -> bool:
    """A script identifier path (`cb_12`, `jQuery.cb`, `a.b[3]`): what a JSONP callback is."""
    return 0 < len(value) <= 200 and bool(_IDENTIFIER.fullmatch(value))


def _epoch_seconds(value: str) -> float | None:
    if not _NUMBER.fullmatch(value):
        return None
    whole = value.split(".", 1)[0]
    digits = len(whole)
    if digits == 10:
        seconds = float(value)
    elif digits == 13 and "." not in value:
        seconds = int(value) / 1000
    elif digits == 16 and "." not in value:
        seconds = int(value) / 1_000_000
    else:
        return None
    return seconds if _EARLIEST <= seconds <= _LATEST else None


def looks_like_time(value: str, near: float | None, days: float) -> bool:
    """An epoch time (s, ms or us); within `days` of `near` (epoch seconds) when given."""
    seconds = _epoch_seconds(value)
    if seconds is None:
        return False
    return near is None or abs(seconds - near) <= days * 86400


def _class_changes(value: str) -> int:
    """How often letters and digits alternate (separators skipped): high for random tokens,
    low for words and slugs (`summer-sale-2024`: 1)."""
    changes = 0
    previous = None
    for ch in value:
        if not ch.isalnum():
            continue
        kind = ch.isdigit()
        if previous is not None and kind != previous:
            changes += 1
        previous = kind
    return changes


def looks_random(value: str) -> bool:
    """A value no person or stable scheme would write: Math.random(), a UUID, a long token.

    Conservative on purpose: it applies to parameters of any name, so a slug
    (`summer-sale-2024`) or a number (`page=12`) must never pass for random.
    """
    if _RANDOM_FLOAT.fullmatch(value) or _UUID.fullmatch(value):
        return True
    digits = sum(ch.isdigit() for ch in value)
    letters = sum(ch.isalpha() for ch in value)
    if len(value) >= 12 and _HEX.fullmatch(value) and digits and letters:
        return True
    return bool(
        len(value) >= 12 and _TOKEN.fullmatch(value) and digits >= 2 and letters >= 2
        and _class_changes(value) >= 4
    )


def looks_volatile(value: str) -> bool:
    """Looser test for parameters the rules name as often volatile (`t`, `v`, `token` ...):
    any epoch time, a number of 6 digits or more, hex of 8 or more, a token of 16 or more."""
    if looks_random(value) or _epoch_seconds(value) is not None:
        return True
    if value.isdigit() and len(value) >= 6:
        return True
    if len(value) >= 8 and _HEX.fullmatch(value):
        return True
    return len(value) >= 16 and bool(_TOKEN.fullmatch(value))


@dataclass(frozen=True)
class Params:
    """The parameters of one request or capture, split into compared and left out."""

    kept: dict[str, tuple[str, ...]]
    dropped: dict[str, tuple[str, ...]]


def volatile(name: str, value: str, rules: UrlRules, near: float | None) -> bool:
    """True if parameter `name=value` is left out before comparing (see the module docstring)."""
    lname = name.lower()
    if lname.startswith(_INTERNAL) or rules.kept(lname):
        return False
    if rules.is_listed(rules.ignore, lname):
        return True
    if rules.is_listed(rules.jsonp, lname) and is_identifier(value):
        return True
    if rules.is_listed(rules.ignore_if_random, lname) and looks_volatile(value):
        return True
    return looks_like_time(value, near, rules.near_days) or looks_random(value)


def split_params(pairs: list[tuple[str, str]], rules: UrlRules, near: float | None) -> Params:
    """Group `pairs` by name (values sorted, compared without case as the index keys are)."""
    kept: dict[str, list[str]] = {}
    dropped: dict[str, list[str]] = {}
    for name, value in pairs:
        target = dropped if volatile(name, value, rules, near) else kept
        target.setdefault(name.lower(), []).append(value.lower())
    return Params(
        {k: tuple(sorted(v)) for k, v in kept.items()}, {k: tuple(sorted(v)) for k, v in dropped.items()}
    )


def _query_pairs(url: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(urlsplit(url).query, keep_blank_values=True)
    except ValueError:
        return []


def request_pairs(url: str, method: str, content_type: str | None, body: bytes) -> list[tuple[str, str]]:
    """Query parameters, plus a POST/PUT body's fields flattened as the index keys them."""
    pairs = _query_pairs(url)
    if method.upper() in ("POST", "PUT"):
        pairs += parse_qsl(post_query(content_type, body), keep_blank_values=True)
    return pairs


def line_pairs(line: CdxjLine) -> list[tuple[str, str]]:
    pairs = _query_pairs(line.url)
    if line.request_body:
        pairs += parse_qsl(line.request_body, keep_blank_values=True)
    return pairs


def path_key(url: str) -> str:
    """The index key of `url` without its query: the part fuzzy candidates share."""
    return canonical_key(url).split("?", 1)[0]


def is_static(url: str, rules: UrlRules) -> bool:
    try:
        path = urlsplit(url).path
    except ValueError:
        return False
    name = path.rsplit("/", 1)[-1]
    return "." in name and name.rsplit(".", 1)[1].lower() in rules.static_extensions


@dataclass(frozen=True)
class Ranked:
    """One candidate and why it ranks where it does (lower `score` is better)."""

    line: CdxjLine
    score: tuple


def _reference_seconds(timestamp: str | None) -> float:
    """The moment a request is replayed at (its pinned clock), or a capture was made."""
    seconds = timestamps.to_seconds(timestamp) if timestamp else 0.0
    return seconds or time.time()


def rank(
    url: str,
    lines: list[CdxjLine],
    rules: UrlRules,
    *,
    timestamp: str | None = None,
    method: str = "GET",
    content_type: str | None = None,
    body: bytes = b"",
) -> list[Ranked]:
    """The captures among `lines` that may answer this request, best first (see the docstring).

    `lines` are captures of the same path (`path_key`); lines of another method, and 304s,
    never answer.
    """
    method = "GET" if method.upper() in ("GET", "HEAD", "OPTIONS") else method.upper()
    if method != "GET" and rules.post_body == "exact":
        return []
    near = _reference_seconds(timestamp)
    asked = split_params(request_pairs(url, method, content_type, body), rules, near)
    static = is_static(url, rules) or rules.allow_conflicts
    want_key = path_key(url)
    out: list[Ranked] = []
    for line in lines:
        if (line.method or "GET").upper() != method or line.status == "304":
            continue
        if line.urlkey.split("?", 1)[0] != want_key:
            continue
        when = _reference_seconds(line.timestamp)
        have = split_params(line_pairs(line), rules, when)
        if any(asked.kept.get(k) != have.kept.get(k) for k in rules.key_params):
            continue
        common = sum(1 for k, v in asked.kept.items() if have.kept.get(k) == v)
        conflicts = sum(1 for k, v in asked.kept.items() if k in have.kept and have.kept[k] != v)
        missing = sum(1 for k in asked.kept if k not in have.kept)
        extra = sum(1 for k in have.kept if k not in asked.kept)
        if (conflicts or missing) and not static:
            continue
        same_dropped = sum(1 for k, v in asked.dropped.items() if have.dropped.get(k) == v)
        status = line.status or ""
        status_rank = 0 if status.startswith(("2", "3")) else 1
        distance = abs(when - near)
        score = (
            1 if conflicts or missing else 0,
            -common,
            conflicts,
            missing,
            extra,
            -same_dropped,
            status_rank,
            distance,
        )
        out.append(Ranked(line, score))
    out.sort(key=lambda r: (r.score, str(r.line)))
    return out
