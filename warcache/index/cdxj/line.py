"""One line of the URL index, in pywb's CDXJ format, and the keys lines are sorted by.

Each line is `urlkey timestamp {json}`: the SURT key of the URL, the 14-digit capture time,
and the fields pywb reads (`url`, `mime`, `status`, `digest`, `length`, `offset`,
`filename`; POST/PUT captures add `method` and `requestBody`), made as webrecorder's
cdxj-indexer makes them, so pywb can serve a warcache collection as it is.
"""

from __future__ import annotations

import base64
import email.policy
import json
import re
from dataclasses import dataclass
from email.parser import BytesParser
from urllib.parse import unquote_plus, urlencode

import surt

from warcache.errors import ArchiveError

# As cdxj-indexer: the body of a POST/PUT becomes part of the key, at most this long.
MAX_QUERY_LENGTH = 4096

_MIME_SPLIT = re.compile(r"[;\s]")
_WHITESPACE = re.compile(r"\s")


@dataclass(frozen=True)
class CdxjLine:
    """One index line.  `str(line)` is the text pywb reads (without the newline)."""

    urlkey: str
    timestamp: str
    url: str
    length: int
    offset: int
    filename: str
    mime: str | None = None
    status: str | None = None
    digest: str | None = None
    method: str | None = None
    request_body: str | None = None
    extra: tuple[tuple[str, object], ...] = ()  # other keys, kept when reading others' lines

    @property
    def is_revisit(self) -> bool:
        return self.mime == "warc/revisit"

    def fields(self) -> dict[str, object]:
        """The JSON object of the line, in cdxj-indexer's key order, values as strings."""
        values: dict[str, object] = {
            "url": self.url,
            "mime": self.mime,
            "status": self.status,
            "digest": self.digest,
            "length": str(self.length),
            "offset": str(self.offset),
            "filename": self.filename,
            "requestBody": self.request_body,
            "method": self.method,
        }
        out = {k: v for k, v in values.items() if v is not None}
        out.update(self.extra)
        return out

    def __str__(self) -> str:
        return f"{self.urlkey} {self.timestamp} {json.dumps(self.fields())}"

    @classmethod
    def parse(cls, line: str | bytes) -> CdxjLine:
        """Parse one line (ours or another tool's); ArchiveError if it is not CDXJ."""
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
        parts = text.rstrip("\r\n").split(" ", 2)
        if len(parts) != 3:
            raise ArchiveError(f"not a CDXJ line: {text[:80]!r}")
        urlkey, timestamp, blob = parts
        try:
            data = json.loads(blob)
            length = int(data.pop("length", 0) or 0)
            offset = int(data.pop("offset", 0) or 0)
        except (ValueError, TypeError, AttributeError):
            raise ArchiveError(f"not a CDXJ line: {text[:80]!r}") from None
        if not isinstance(data, dict):
            raise ArchiveError(f"not a CDXJ line: {text[:80]!r}")
        known = {
            "url": data.pop("url", ""),
            "filename": data.pop("filename", ""),
            "mime": data.pop("mime", None),
            "status": data.pop("status", None),
            "digest": data.pop("digest", None),
            "method": data.pop("method", None),
            "request_body": data.pop("requestBody", None),
        }
        return cls(urlkey, timestamp, length=length, offset=offset, extra=tuple(data.items()), **known)


def canonical_key(url: str) -> str:
    """The SURT key pywb uses for `url` (www. dropped, query sorted, lowercased)."""
    try:
        key = surt.surt(url)
    except Exception:  # surt rejects some odd URIs; pywb then keys by the URI itself
        key = url
    # A space would split the line: percent-encode any whitespace surt left.
    return _WHITESPACE.sub(lambda m: f"%{ord(m.group()):02x}", key)


def _json_query(body: bytes) -> str:
    """Flatten a JSON body to `key=value&...` the way cdxj-indexer does (dupes get `.N_`)."""
    data: dict[str, str] = {}
    dupes: dict[str, int] = {}

    def name_for(name: str) -> str:
        if name not in data:
            return name
        dupes[name] = dupes.get(name, 1) + 1
        return f"{name}.{dupes[name]}_"

    def walk(value: object, name: str = "") -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, key)
        elif isinstance(value, list):
            for item in value:
                walk(item, name)
        elif name:
            data[name_for(name)] = str(value)

    try:
        walk(json.loads(body))
    except json.JSONDecodeError:
        if b"\n" not in body:
            raise
        for part in body.split(b"\n"):
            if part.strip():
                walk(json.loads(part))
    return urlencode(data)


def _multipart_query(content_type: str, body: bytes) -> str | None:
    """`name=value&...` of a multipart form (file parts as raw bytes), or None if unparsable."""
    if "boundary=" not in content_type.lower():
        return None
    head = b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n"
    values: list[tuple[str, str | bytes]] = []
    try:
        message = BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        if not message.is_multipart():
            return None
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str):
                continue
            raw = part.get_payload(decode=True) or b""
            if part.get_filename():
                values.append((name, raw))
            else:
                values.append((name, raw.decode(part.get_content_charset() or "utf-8", "replace")))
    except Exception:  # the email parser is lenient, but a hostile body must not stop indexing
        return None
    return urlencode(values, doseq=True)


def post_query(content_type: str | None, body: bytes) -> str:
    """The query string pywb appends for a POST/PUT body (form, JSON, else base64)."""
    mime = (content_type or "").lower()

    def binary() -> str:
        return "__wb_post_data=" + base64.b64encode(body).decode("ascii")

    query: str
    if mime.startswith("application/x-www-form-urlencoded"):
        try:
            query = unquote_plus(body.decode("utf-8"))
        except UnicodeDecodeError:
            query = binary()
    elif mime.startswith("application/json"):
        try:
            query = _json_query(body)
        except (ValueError, RecursionError):
            query = ""
    elif mime.startswith("text/plain"):
        try:
            query = _json_query(body)
        except (ValueError, RecursionError):
            query = binary()
    elif mime.startswith("multipart/"):
        query = _multipart_query(content_type or "", body)
        if query is None:
            query = binary()
    else:
        query = binary()
    return query[:MAX_QUERY_LENGTH]


def request_key(url: str, method: str = "GET", content_type: str | None = None, body: bytes = b"") -> str:
    """The key a capture of this request is indexed under; GET keys are the plain SURT key.

    Replay calls this with the incoming request so a POST finds its own capture and never
    the GET of the same URL (and the other way round).
    """
    method = method.upper()
    if method not in ("POST", "PUT"):
        return canonical_key(url)
    query = post_query(content_type, body)
    suffix = ("&" if "?" in url else "?") + "__wb_method=" + method
    if query:
        suffix += "&" + query
    return canonical_key(url + suffix)


def cdxj_mime(content_type: str | None) -> str | None:
    """The `mime` field for a Content-Type value: parameters dropped, case kept, as cdxj-indexer
    writes it (what a page's type *is* comes from `warcache.contenttype`)."""
    if not content_type:
        return None
    return _MIME_SPLIT.split(content_type, 1)[0].strip() or None
