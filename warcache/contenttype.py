"""Reading a Content-Type header: the media type and the charset, the same way everywhere.

Archived headers come from every kind of server, so the parsing is lenient (quoted values,
odd case, empty parameters, a duplicate `charset` where the last one wins as in browsers).
werkzeug's `parse_options_header` does the parsing; this module only says what warcache takes
from it.
"""

from __future__ import annotations

from werkzeug.http import parse_options_header

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


def media_type(content_type: str | None) -> str:
    """`text/html; charset=utf-8` -> `text/html`: lower-cased, parameters dropped ('' if none)."""
    if not content_type:
        return ""
    value, _ = parse_options_header(content_type)
    return value.split(None, 1)[0].strip().lower() if value.strip() else ""


def charset(content_type: str | None) -> str | None:
    """The `charset` parameter, unquoted (None if absent or empty)."""
    if not content_type:
        return None
    _, params = parse_options_header(content_type)
    return (params.get("charset") or "").strip().strip("\"'") or None


def is_html(content_type: str | None) -> bool:
    return media_type(content_type) in HTML_TYPES
