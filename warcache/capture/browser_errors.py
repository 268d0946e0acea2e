"""What the browser's errors mean, in one sentence a user understands: the one place they are worded.

Why: Playwright's messages name its own API and Chrome's protocol ("BrowserContext.new_page:
Protocol error (Target.createTarget): Failed to open a new tab", "Page.goto: net::ERR_UNSAFE_PORT
at http://...", followed by a call log). They mean something to whoever debugs warcache, not to
whoever reads `FAILED <url>: <reason>`. Every error or warning a capture reports that comes from the
browser goes through `plain()` (or `net_error()` for Chromium's `net::ERR_` codes), so none of them
reaches the user raw, and a new one is worded here once.
"""

from __future__ import annotations

import re

#: Chromium's network errors, as a user would say them (the code stays in brackets for a search).
NET_ERRORS = {
    "ERR_TOO_MANY_REDIRECTS": "it redirected too many times (a redirect loop)",
    "ERR_UNSAFE_PORT": "the browser refuses to connect to that port",
    "ERR_UNSAFE_REDIRECT": "it redirected to an address the browser refuses to load",
    "ERR_INVALID_REDIRECT": "it redirected to an invalid address",
    "ERR_ABORTED": "the browser cancelled it (another navigation replaced it, or it was a download)",
    "ERR_NAME_NOT_RESOLVED": "the host name could not be resolved",
    "ERR_CONNECTION_REFUSED": "the server refused the connection",
    "ERR_CONNECTION_RESET": "the server reset the connection",
    "ERR_CONNECTION_CLOSED": "the server closed the connection",
    "ERR_EMPTY_RESPONSE": "the server closed the connection without answering",
    "ERR_TIMED_OUT": "it timed out",
    "ERR_INVALID_RESPONSE": "the server's response could not be read",
    "ERR_INVALID_HTTP_RESPONSE": "the server's response could not be read",
    "ERR_CONTENT_LENGTH_MISMATCH": "the response was shorter than it said",
    "ERR_INCOMPLETE_CHUNKED_ENCODING": "the response broke off in the middle",
    "ERR_INVALID_CHUNKED_ENCODING": "the response's chunked framing is broken",
    "ERR_RESPONSE_HEADERS_TOO_BIG": "the response headers are too large",
    "ERR_BLOCKED_BY_RESPONSE": "the server's headers forbid showing it here",
    "ERR_BLOCKED_BY_CLIENT": "the browser blocked it",
    "ERR_INVALID_URL": "the address is invalid",
    "ERR_DISALLOWED_URL_SCHEME": "the browser does not load that kind of address",
    "ERR_UNKNOWN_URL_SCHEME": "the browser does not load that kind of address",
    "ERR_FILE_NOT_FOUND": "the file does not exist",
    "ERR_ACCESS_DENIED": "the browser was not allowed to load it",
    "ERR_PROXY_CONNECTION_FAILED": "the browser lost its connection to warcache's recording proxy",
    "ERR_TUNNEL_CONNECTION_FAILED": "the browser lost its connection to warcache's recording proxy",
    "ERR_SSL_PROTOCOL_ERROR": "the TLS connection failed",
}

#: Playwright and protocol messages, most specific first: (a pattern found in the message, the sentence).
_MESSAGES: list[tuple[str, str]] = [
    ("Failed to open a new tab", "the browser could not open a tab for the page"),
    ("Target page, context or browser has been closed",
     "the browser closed the page before the capture ended"),
    ("Target crashed", "the page crashed"),
    ("Browser has been closed", "the browser closed or crashed"),
    ("browser has been closed", "the browser closed or crashed"),
    ("browser has disconnected", "the browser closed or crashed"),
    ("Connection closed", "the browser closed or crashed"),
    ("Execution context was destroyed", "the page navigated away meanwhile"),
    ("Cannot find context with specified id", "the page navigated away meanwhile"),
    ("page is navigating and changing the content", "the page navigated away meanwhile"),
    ("interrupted by another navigation", "another navigation replaced it"),
    ("Download is starting", "the address is a download, not a page"),
    ("Unable to capture screenshot", "the browser could not take the screenshot"),
]
_CRASH_SIGNS = ("Target crashed", "Browser has been closed", "browser has been closed",
                "browser has disconnected", "Connection closed")
_TIMEOUT = re.compile(r"Timeout (\d+)ms exceeded")
_NET_CODE = re.compile(r"net::(ERR_[A-Z0-9_]+)")
_API_PREFIX = re.compile(r"^(?:[A-Z][A-Za-z]*\.[a-z_]+: )+")  # "Page.goto: ", "BrowserContext.new_page: "
_PROTOCOL = re.compile(r"Protocol error \([^)]*\):\s*")


def first_line(exc: BaseException | str) -> str:
    """The first line of an error's text (Playwright appends a call log below it)."""
    lines = str(exc).strip().splitlines()
    return lines[0].strip() if lines else type(exc).__name__


def net_error(code_or_text: str) -> str:
    """`net::ERR_UNSAFE_PORT` (or just `ERR_UNSAFE_PORT`) as a sentence, with the code in brackets."""
    found = _NET_CODE.search(code_or_text) or re.search(r"(ERR_[A-Z0-9_]+)", code_or_text)
    if found is None:
        return code_or_text.strip() or "it failed in the browser"
    code = found.group(1)
    if code.startswith("ERR_CERT_"):
        return f"its TLS certificate was refused ({code})"
    meaning = NET_ERRORS.get(code)
    return f"{meaning} ({code})" if meaning else f"the browser could not load it ({code})"


def plain(exc: BaseException | str) -> str:
    """One sentence for an error the browser (Playwright, Chrome's protocol) raised."""
    text = str(exc)
    line = first_line(exc)
    for sign, sentence in _MESSAGES:
        if sign in text:
            return sentence
    timeout = _TIMEOUT.search(line)
    if timeout:
        return f"timed out after {int(timeout.group(1)) / 1000:g} s"
    if _NET_CODE.search(line):
        return net_error(line)
    rest = _PROTOCOL.sub("", _API_PREFIX.sub("", line)).strip().rstrip(".")
    if not rest:
        return "the browser reported an error"
    return f"the browser reported: {rest[:200]}"


def is_crash(exc: BaseException | str) -> bool:
    """True when the error means the browser (or the page's process) is gone."""
    text = str(exc)
    return any(sign in text for sign in _CRASH_SIGNS)
