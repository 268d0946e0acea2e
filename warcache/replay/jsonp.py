"""JSONP: answer with the callback name the page asks for now, not the one it asked at capture.

A JSONP response is a script calling a function whose name the page chose, often at run time
(`cb_83af1c`, jQuery's `jQuery3600_1704164645123`): `cb_83af1c({"items": [...]})`.  Replayed,
the page has defined another name, so the archived body would call a function that does not
exist.  Fuzzy matching finds the capture (callback parameters are left out when comparing);
this module puts the requested name into the body.

Only a name that is a script identifier path is ever written into a body (neither pywb nor
wabac.js checks it), and only in place of the name the body already calls, found after
leading whitespace and comments, with Express's `typeof cb === 'function' && cb(` form too.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

from warcache.replay.fuzzy import IDENTIFIER, is_identifier
from warcache.replay.rules import UrlRules

_NAME = IDENTIFIER
_CALL = re.compile(
    rb"^(?P<lead>(?:\xef\xbb\xbf)?(?:\s|/\*[^*]*\*+(?:[^/*][^*]*\*+)*/|//[^\n]*\n)*)"
    rb"(?:(?P<guard>typeof\s+)(?P<guarded>" + _NAME.encode() + rb")"
    rb"(?P<mid>\s*===?\s*['\"]function['\"]\s*&&\s*))?"
    rb"(?P<name>" + _NAME.encode() + rb")(?P<open>\s*\()"
)
#: Media types a JSONP answer comes with (servers are careless: JSON and text too).
SCRIPT_TYPES = frozenset(
    {
        "application/javascript",
        "text/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "text/ecmascript",
        "application/json",
        "text/json",
        "text/plain",
        "",
    }
)


def requested_callback(url: str, rules: UrlRules) -> str | None:
    """The callback name a request asks for (first JSONP parameter that is an identifier)."""
    try:
        pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    except ValueError:
        return None
    for name, value in pairs:
        if rules.is_listed(rules.jsonp, name.lower()) and is_identifier(value):
            return value
    return None


def rename_callback(body: bytes, name: str) -> bytes | None:
    """`body` calling `name` instead of the function it calls, or None if it is not JSONP."""
    if not is_identifier(name):
        return None
    match = _CALL.match(body[:4096])
    if match is None:
        return None
    old = match.group("name")
    new = name.encode("ascii")
    if old == new:
        return body
    out = match.group("lead")
    if match.group("guard"):
        guarded = match.group("guarded")
        out += match.group("guard") + (new if guarded == old else guarded) + match.group("mid")
    out += new + match.group("open")
    return out + body[match.end() :]
