"""From a URL and a time to the archived response: index lookup, record loading, revisits.

Replay asks one question per request: "what did the server send for this request, as close
as possible to this time?".  The CDXJ index answers with candidate lines, nearest first; this
module turns the first usable one into a `Capture`:

* the record is read straight from its WARC (or ARC) with warcio, at the offset the index
  gives, and its body is streamed from the open file (a capture can be a video);
* a revisit record gets its payload from the original it refers to (by WARC-Refers-To-*
  headers, else by URL and payload digest), with the revisit's own status and headers;
* a redirect to itself (`http://x/` -> `https://x/`, same canonical key) is skipped in favour
  of the next capture, or replay would loop;
* file names from the index are trusted to name a file in the collection's `archive/`
  directory and nothing else (`Collection.warc_path`).

Thread safety: lookups share one `CdxjIndex` under a lock (its segment cache is a dict);
reading records opens a file per capture, so those run in parallel.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO
from urllib.parse import urljoin, urlsplit

from warcio.bufferedreaders import BufferedReader, ChunkedDataReader
from warcio.recordloader import ArcWarcRecord

from warcache import timestamps
from warcache.collection import Collection
from warcache.errors import ArchiveError
from warcache.index.cdxj import CdxjIndex, CdxjLine, canonical_key
from warcache.warc.reader import open_record_at

#: How many index candidates a lookup tries before it gives up (unreadable or looping ones).
MAX_CANDIDATES = 25
_BLOCK = 64 * 1024
_NOT_MODIFIED_PROFILE = "server-not-modified"


# ---------------------------------------------------------------------------------------
# Captures
# ---------------------------------------------------------------------------------------
def _tokens(value: str | None) -> list[str]:
    return [t.strip().lower() for t in (value or "").split(",") if t.strip()]


def header(headers: list[tuple[str, str]], name: str) -> str | None:
    """First value of a header, case-insensitively."""
    lname = name.lower()
    return next((v for k, v in headers if k.lower() == lname), None)


try:  # brotli is optional: warcache asks servers for gzip/deflate only, other tools may not
    import brotli as _brotli  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the environment
    _brotli = None


def decodable(encoding: str | None) -> bool:
    """True if a body with this Content-Encoding can be decoded here."""
    codings = _tokens(encoding)
    if not codings or codings == ["identity"]:
        return True
    return len(codings) == 1 and codings[0] in BufferedReader.get_supported_decompressors()


@dataclass
class Capture:
    """One archived response (or resource), its body readable once from the open WARC."""

    url: str
    timestamp: str
    status: int
    reason: str
    headers: list[tuple[str, str]]  # archived HTTP headers in order, duplicates kept
    mime: str | None
    line: CdxjLine
    record_type: str
    _stream: IO[bytes] | None = None  # the payload as stored (after the HTTP head)
    _body_headers: list[tuple[str, str]] = field(default_factory=list)  # describe _stream's coding
    _files: list[IO[bytes]] = field(default_factory=list)
    revisit_of: str | None = None  # the original's URL when this came from a revisit

    @property
    def content_encoding(self) -> str | None:
        return header(self._body_headers, "Content-Encoding")

    @property
    def chunked(self) -> bool:
        return "chunked" in _tokens(header(self._body_headers, "Transfer-Encoding"))

    @property
    def raw_length(self) -> int | None:
        """Bytes left in the stored payload, when known without reading it."""
        limit = getattr(self._stream, "limit", None)
        return limit if isinstance(limit, int) and limit >= 0 else None

    def entity(self) -> IO[bytes]:
        """The body without transfer coding (de-chunked), still content-encoded."""
        assert self._stream is not None, "body already consumed or not present"
        stream, self._stream = self._stream, None
        if self.chunked:
            return ChunkedDataReader(stream, decomp_type=None)  # type: ignore[return-value]
        return stream

    def content(self, limit: int | None = None) -> bytes:
        """The body decoded the way its headers say (de-chunked, gunzipped): what a page sees.

        Raises ArchiveError when the coding is unknown or the data is broken.
        """
        encoding = self.content_encoding
        codings = [c for c in _tokens(encoding) if c != "identity"]
        entity = self.entity()
        try:
            if not codings:
                return entity.read() if limit is None else entity.read(limit)
            if codings == ["br"] and _brotli is not None:
                return _brotli.decompress(entity.read())
            if not decodable(encoding):
                raise ArchiveError(f"cannot decode Content-Encoding {encoding!r}")
            reader = BufferedReader(entity, decomp_type=codings[0])
            out = bytearray()
            while limit is None or len(out) < limit:
                block = reader.read(_BLOCK)
                if not block:
                    break
                out += block
            return bytes(out)
        except ArchiveError:
            raise
        except Exception as exc:  # zlib and brotli errors: a broken body
            raise ArchiveError(f"cannot decode the archived body: {type(exc).__name__}: {exc}") from None

    def iter_entity(self) -> Iterator[bytes]:
        """The de-chunked body in blocks; closes the WARC file at the end."""
        try:
            stream = self.entity()
            while True:
                block = stream.read(_BLOCK)
                if not block:
                    break
                yield block
        finally:
            self.close()

    def close(self) -> None:
        for fh in self._files:
            fh.close()
        self._files.clear()
        self._stream = None

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _http_parts(record: ArcWarcRecord) -> tuple[int, str, list[tuple[str, str]]] | None:
    http = record.http_headers
    if http is None or record.rec_type not in ("response", "revisit"):
        return None
    status_line = http.statusline or ""
    code, _, reason = status_line.partition(" ")
    try:
        status = int(code)
    except ValueError:
        return None
    if not 100 <= status <= 999:
        return None
    return status, reason, list(http.headers)


# ---------------------------------------------------------------------------------------
# The resolver
# ---------------------------------------------------------------------------------------
class Resolver:
    """Finds and loads captures of one collection."""

    def __init__(self, coll: Collection) -> None:
        self.coll = coll
        self.index = CdxjIndex(coll.indexes_dir)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self.index.close()

    # -- index ---------------------------------------------------------------------------
    def candidates(
        self,
        url: str,
        *,
        timestamp: str | None = None,
        method: str = "GET",
        content_type: str | None = None,
        body: bytes = b"",
        limit: int | None = None,
    ) -> list[CdxjLine]:
        """Index lines for this request, nearest to `timestamp` first (newest first without)."""
        if method.upper() in ("HEAD", "OPTIONS"):
            method = "GET"
        with self._lock:
            return self.index.lookup(
                url,
                timestamp=timestamp or None,
                method=method,
                content_type=content_type,
                body=body,
                limit=limit,
            )

    def urls(self) -> Iterator[str]:
        """Every URL the index holds (the lock is held while they are read)."""
        with self._lock:
            for line in self.index:
                yield line.url

    def lookup_key(self, urlkey: str, timestamp: str | None) -> list[CdxjLine]:
        with self._lock:
            return self.index.lookup_key(urlkey, timestamp=timestamp)

    def host_captures(self, url: str, *, timestamp: str | None = None, limit: int = 20) -> list[CdxjLine]:
        """Captures of the same host (for the "not archived" page), nearest first."""
        parts = urlsplit(url)
        with self._lock:
            try:
                lines = self.index.lookup_prefix(
                    f"{parts.scheme}://{parts.netloc}/", timestamp=timestamp or "99991231235959", limit=None
                )
            except Exception:  # noqa: BLE001 - a hint only
                return []
        pages = [ln for ln in lines if (ln.mime or "").startswith("text/html") or ln.is_revisit]
        return (pages or lines)[:limit]

    # -- loading -------------------------------------------------------------------------
    def find(
        self,
        url: str,
        *,
        timestamp: str | None = None,
        method: str = "GET",
        content_type: str | None = None,
        body: bytes = b"",
    ) -> Capture | None:
        """The capture to replay for this request, or None if the archive has none."""
        lines = self.candidates(
            url,
            timestamp=timestamp,
            method=method,
            content_type=content_type,
            body=body,
            limit=MAX_CANDIDATES,
        )
        return self.first(lines, url)

    def first(self, lines: list[CdxjLine], url: str) -> Capture | None:
        """The first of `lines` that loads and does not redirect `url` to itself."""
        key = canonical_key(url)
        for line in lines:
            try:
                capture = self.load(line)
            except ArchiveError:
                continue
            if _redirects_to_itself(capture, key):
                capture.close()
                continue
            return capture
        return None

    def same_path(self, url: str, limit: int) -> list[CdxjLine]:
        """Captures of `url`'s host and path with any query (and any method): what fuzzy
        matching compares a request with.  At most `limit` per index segment."""
        key = canonical_key(url).split("?", 1)[0]
        with self._lock:
            return self.index.scan_key_prefix([key + " ", key + "?"], limit)

    def load(self, line: CdxjLine) -> Capture:
        """Load the record an index line points at (following a revisit to its original)."""
        fh, record = open_record_at(self.coll.warc_path(line.filename), line.offset)
        try:
            return self._capture(line, fh, record)
        except BaseException:
            fh.close()
            raise

    def _capture(self, line: CdxjLine, fh: IO[bytes], record: ArcWarcRecord) -> Capture:
        uri = record.rec_headers.get_header("WARC-Target-URI") or line.url
        if record.rec_type == "revisit":
            return self._revisit(line, fh, record, uri)
        parts = _http_parts(record)
        if parts is None:
            if record.rec_type not in ("resource", "metadata", "response"):
                raise ArchiveError(f"{line.filename}: a {record.rec_type} record is not replayable")
            ctype = record.rec_headers.get_header("Content-Type") or "application/octet-stream"
            headers = [("Content-Type", ctype)]
            return Capture(
                uri,
                line.timestamp,
                200,
                "OK",
                headers,
                line.mime,
                line,
                record.rec_type,
                _stream=record.raw_stream,
                _body_headers=[],
                _files=[fh],
            )
        status, reason, headers = parts
        return Capture(
            uri,
            line.timestamp,
            status,
            reason,
            headers,
            line.mime,
            line,
            record.rec_type,
            _stream=record.raw_stream,
            _body_headers=headers,
            _files=[fh],
        )

    def _revisit(self, line: CdxjLine, fh: IO[bytes], record: ArcWarcRecord, uri: str) -> Capture:
        rh = record.rec_headers
        target = rh.get_header("WARC-Refers-To-Target-URI") or uri
        date = rh.get_header("WARC-Refers-To-Date")
        when = timestamps.from_warc_date(date) or line.timestamp
        digest = line.digest or rh.get_header("WARC-Payload-Digest")
        original = self._find_original(line, target, when, digest)
        if original is None:
            raise ArchiveError(f"revisit of {target} at {when}: the original is not in the archive")
        own = _http_parts(record)
        profile = (rh.get_header("WARC-Profile") or "").lower()
        if own is None or own[0] == 304 or _NOT_MODIFIED_PROFILE in profile:
            status, reason, headers = original.status, original.reason, list(original.headers)
        else:
            status, reason, headers = own
            # The body is the original's, so the headers that describe its coding must be too.
            coding = {"content-encoding", "transfer-encoding", "content-length"}
            headers = [(k, v) for k, v in headers if k.lower() not in coding]
            headers += [(k, v) for k, v in original.headers if k.lower() in coding]
        fh.close()
        return Capture(
            uri,
            line.timestamp,
            status,
            reason,
            headers,
            original.mime,
            line,
            "revisit",
            _stream=original._stream,
            _body_headers=original._body_headers,
            _files=original._files,
            revisit_of=original.url,
        )

    def _find_original(self, line: CdxjLine, target: str, when: str, digest: str | None) -> Capture | None:
        if target == line.url:
            lines = self.lookup_key(line.urlkey, when)
        else:
            lines = self.candidates(target, timestamp=when)
        for cand in lines[:MAX_CANDIDATES]:
            if cand.is_revisit or (digest and cand.digest and cand.digest != digest):
                continue
            try:
                capture = self.load(cand)
            except ArchiveError:
                continue
            if capture.record_type == "revisit":
                capture.close()
                continue
            return capture
        return None


def _redirects_to_itself(capture: Capture, key: str) -> bool:
    if not 300 <= capture.status < 400:
        return False
    location = header(capture.headers, "Location")
    if not location:
        return False
    try:
        target = urljoin(capture.url, location.strip())
    except ValueError:
        return False
    return canonical_key(target) == key
