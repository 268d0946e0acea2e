"""Building URL index lines from a WARC: which records are indexed, and how a POST is keyed.

The record choice is pywb's (responses, revisits, resources, metadata that is not about an
http(s) page); a POST/PUT response is keyed with its request body, as cdxj-indexer does, so it
never shadows a GET of the same URL.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from warcache import timestamps
from warcache.index.cdxj.line import CdxjLine, canonical_key, cdxj_mime, post_query, request_key
from warcache.warc.reader import OPEN_SUFFIX, ReadStop, RecordAt, WarcReader

INDEXED_TYPES = ("response", "revisit", "resource", "metadata")
MAX_REQUEST_BODY = 64 * 1024


@dataclass
class IndexResult:
    """The lines of one WARC, and where reading it stopped if it did."""

    path: Path
    filename: str
    lines: list[CdxjLine] = field(default_factory=list)
    stopped: ReadStop | None = None
    unindexed: int = 0  # records that were read but cannot be replayed (see `stopped`)


def default_filename(path: str | os.PathLike[str]) -> str:
    """The `filename` pywb expects: the name in `archive/`, final even while `.open`."""
    return Path(path).name.removesuffix(OPEN_SUFFIX)


def _payload_digest(item: RecordAt) -> str | None:
    record = item.record
    value = record.rec_headers.get_header("WARC-Payload-Digest")
    if value or record.rec_type == "revisit":
        return value
    # cdxj-indexer computes a missing payload digest the way warcio's writer does: sha1
    # of the bytes after the HTTP headers, base32.
    stream = record.raw_stream
    sha1 = hashlib.sha1()
    for block in iter(lambda: stream.read(65536), b""):
        sha1.update(block)
    stream.seek(0)
    return "sha1:" + base64.b32encode(sha1.digest()).decode("ascii")


def _mime(item: RecordAt) -> str | None:
    record = item.record
    if record.rec_type == "revisit":
        return "warc/revisit"
    if record.rec_type in ("response", "request"):
        value = record.http_headers.get_header("Content-Type") if record.http_headers else None
    else:
        value = record.rec_headers.get_header("Content-Type")
    return cdxj_mime(value)


def _status(item: RecordAt) -> str | None:
    record = item.record
    if record.rec_type in ("response", "revisit") and record.http_headers:
        code = record.http_headers.get_statuscode() or ""
        return code if code.isdigit() else None  # a status line that is not HTTP has no code
    return None


def _wanted(item: RecordAt) -> bool:
    """pywb's record choice, plus: a metadata record about an http(s) page is not a capture.

    (wget and Heritrix metadata, and warcache's own, describe a capture; indexed under the
    page's URL it would be replayed instead of the page.  `urn:`/`metadata:` ones are kept.)
    """
    record = item.record
    if record.rec_type not in INDEXED_TYPES:
        return False
    content_type = (record.rec_headers.get_header("Content-Type") or "").lower()
    if record.rec_type in ("resource", "metadata") and content_type.startswith("application/warc-fields"):
        return False
    uri = item.target_uri or ""
    return not (record.rec_type == "metadata" and uri.lower().startswith(("http:", "https:")))


def line_for(item: RecordAt, filename: str) -> CdxjLine | None:
    """The index line for one record, or None for records pywb does not index."""
    if not _wanted(item):
        return None
    url = item.target_uri
    ts = timestamps.from_warc_date(item.record.rec_headers.get_header("WARC-Date"))
    if not url or ts is None:
        return None
    return CdxjLine(
        urlkey=canonical_key(url),
        timestamp=ts,
        url=url,
        mime=_mime(item),
        status=_status(item),
        digest=_payload_digest(item),
        length=item.length,
        offset=item.offset,
        filename=filename,
    )


@dataclass
class _Seen:
    """What pairing a request with its response needs to remember about a record."""

    line: CdxjLine | None
    rec_type: str
    record_id: str | None
    concurrent_to: tuple[str, ...]
    uri: str | None
    method: str | None = None
    query_key: str | None = None
    request_body: str | None = None


def _seen(item: RecordAt, line: CdxjLine | None) -> _Seen:
    record = item.record
    headers = record.rec_headers
    concurrent = tuple(v for k, v in headers.headers if k.lower() == "warc-concurrent-to")
    seen = _Seen(line, record.rec_type, headers.get_header("WARC-Record-ID"), concurrent, item.target_uri)
    if record.rec_type == "request" and record.http_headers and item.target_uri:
        method = (record.http_headers.protocol or "").upper()
        if method in ("POST", "PUT"):
            body = record.content_stream().read(MAX_REQUEST_BODY)
            content_type = record.http_headers.get_header("Content-Type")
            seen.method = method
            seen.request_body = post_query(content_type, body)
            seen.query_key = request_key(item.target_uri, method, content_type, body)
    return seen


def _pair(a: _Seen, b: _Seen) -> tuple[_Seen, _Seen] | None:
    """(request, response) if `a` and `b` are the two halves of one exchange."""
    if a.uri != b.uri:
        return None
    linked = (a.record_id and a.record_id in b.concurrent_to) or (
        b.record_id and b.record_id in a.concurrent_to
    )
    if not linked:
        return None
    if a.rec_type == "request" and b.rec_type in ("response", "revisit"):
        return a, b
    if b.rec_type == "request" and a.rec_type in ("response", "revisit"):
        return b, a
    return None


def _with_method(line: CdxjLine, request: _Seen) -> CdxjLine:
    return CdxjLine(
        urlkey=request.query_key or line.urlkey,
        timestamp=line.timestamp,
        url=line.url,
        length=line.length,
        offset=line.offset,
        filename=line.filename,
        mime=line.mime,
        status=line.status,
        digest=line.digest,
        method=request.method,
        request_body=request.request_body,
    )


def index_warc(path: str | os.PathLike[str], filename: str | None = None) -> IndexResult:
    """Index one WARC/ARC file: a line per response, revisit, resource (and non-page metadata).

    A POST/PUT response is keyed with its request body (pywb's `__wb_method=post&...`), so
    it never shadows a GET of the same URL.  A record marked WARC-Truncated is not indexed
    (capture does not index the bodies it cuts either, so a rebuild gives what capture wrote).
    Records inside a non-chunked gzip member or
    cut short are read but not indexed (replay could not seek to them); `stopped` says so.
    Raises ArchiveError if `path` is not an archive at all.
    """
    reader = WarcReader(path)
    result = IndexResult(Path(path), filename or default_filename(path))
    pending: _Seen | None = None
    for item in reader:
        if not item.seekable or item.truncated:
            result.unindexed += 1
            continue
        line = line_for(item, result.filename)
        if line is not None and item.record.rec_headers.get_header("WARC-Truncated"):
            line = None  # a body cut short (size, time) is kept, not offered for replay: as capture does
        current = _seen(item, line)
        pair = _pair(pending, current) if pending else None
        if pair:
            request, response = pair
            if request.method and response.line is not None:
                response.line = _with_method(response.line, request)
            for done in (pending, current):
                if done.line is not None:
                    result.lines.append(done.line)
            pending = None
            continue
        if pending and pending.line is not None:
            result.lines.append(pending.line)
        pending = current
    if pending and pending.line is not None:
        result.lines.append(pending.line)
    result.stopped = _index_stop(reader, result.unindexed)
    return result


def _index_stop(reader: WarcReader, unindexed: int) -> ReadStop | None:
    if reader.not_chunked_at is None:
        return reader.stopped
    reason = (
        f"gzip members do not hold one record each from here on: {unindexed} records were read "
        "but cannot be indexed for replay (fix with `warcio recompress`)"
    )
    if reader.stopped is not None:
        reason += f"; then {reader.stopped.reason}"
    return ReadStop(reader.path, reader.not_chunked_at, reason)

