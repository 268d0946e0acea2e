"""The URL index: CDXJ files in pywb's format, kept sorted, appended to without rewriting.

Each line is `urlkey timestamp {json}`: the SURT key of the URL, the 14-digit capture time,
and the fields pywb reads (`url`, `mime`, `status`, `digest`, `length`, `offset`,
`filename`; POST/PUT captures add `method` and `requestBody`).  Lines are made as
webrecorder's cdxj-indexer makes them, so pywb can serve a warcache collection as it is.

Storage is a directory of sorted segment files (`collections/<name>/indexes/*.cdxj`):

* a batch of new captures becomes one small sorted segment, written under a temporary name
  (not ending in `.cdxj`, so pywb never sees it half-written) and renamed in atomically;
* when there are too many segments, the smallest are merged into one and then removed; the
  merged file is renamed in *before* its inputs are removed, so a reader may briefly see a
  line twice but never misses one (lookups drop duplicates);
* every rename/merge/removal holds an exclusive `fcntl.flock` on `indexes/.lock`, so several
  processes can add at once without losing lines;
* a lookup is a binary search in each mmapped segment, not a scan.

The WARC files are the source of truth: `rebuild` re-derives all of it from them.
"""

from __future__ import annotations

import base64
import contextlib
import email.policy
import fcntl
import hashlib
import heapq
import json
import mmap
import os
import re
import secrets
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesParser
from pathlib import Path
from urllib.parse import unquote_plus, urlencode

import surt
from warcio.timeutils import iso_date_to_timestamp

from warcache.errors import ArchiveError
from warcache.warcreader import OPEN_SUFFIX, ReadStop, RecordAt, WarcReader

SEGMENT_SUFFIX = ".cdxj"
LOCK_NAME = ".lock"
TMP_PREFIX = ".tmp-"
DEFAULT_MAX_SEGMENTS = 10

INDEXED_TYPES = ("response", "revisit", "resource", "metadata")
# As cdxj-indexer: the body of a POST/PUT becomes part of the key, at most this long.
MAX_QUERY_LENGTH = 4096
MAX_REQUEST_BODY = 64 * 1024

_FIELD_ORDER = ("url", "mime", "status", "digest", "length", "offset", "filename", "requestBody", "method")
_MIME_SPLIT = re.compile(r"[;\s]")
_WHITESPACE = re.compile(r"\s")
_TS_PAD = "19700101000000"


# ---------------------------------------------------------------------------------------
# Lines
# ---------------------------------------------------------------------------------------
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


def _timestamp(warc_date: str | None) -> str | None:
    if not warc_date:
        return None
    try:
        ts = iso_date_to_timestamp(warc_date)
    except (ValueError, TypeError, IndexError):
        return None
    return ts if len(ts) == 14 and ts.isdigit() else None


def pad_timestamp(ts: str) -> str:
    """Make a partial timestamp (`2024`, `202403`) a full 14-digit one at the period's start."""
    digits = "".join(ch for ch in ts if ch.isdigit())[:14]
    return digits + _TS_PAD[len(digits) :]


def _ts_seconds(ts: str) -> float:
    try:
        return datetime.strptime(pad_timestamp(ts), "%Y%m%d%H%M%S").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return 0.0


# ---------------------------------------------------------------------------------------
# Indexing a WARC
# ---------------------------------------------------------------------------------------
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
    return mime_of(value)


def mime_of(content_type: str | None) -> str | None:
    """The `mime` field for a Content-Type value (parameters dropped, case kept, as cdxj-indexer)."""
    if not content_type:
        return None
    return _MIME_SPLIT.split(content_type, 1)[0].strip() or None


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
    ts = _timestamp(item.record.rec_headers.get_header("WARC-Date"))
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


# ---------------------------------------------------------------------------------------
# Sorted files: binary search over an mmap
# ---------------------------------------------------------------------------------------
def _first_at_least(buf: mmap.mmap | bytes, key: bytes) -> int:
    """Offset of the first line >= `key` in a sorted buffer of lines (len(buf) if none)."""
    lo, hi = 0, len(buf)  # lo is always a line start
    while lo < hi:
        mid = (lo + hi) // 2
        start = buf.rfind(b"\n", lo, mid) + 1
        if start == 0:
            start = lo
        end = buf.find(b"\n", start)
        if end < 0:
            end = len(buf)
        if buf[start:end] < key:
            lo = end + 1
        else:
            hi = start
    return min(lo, len(buf))


def _lines_with_prefix(buf: mmap.mmap | bytes, prefix: bytes) -> Iterator[bytes]:
    pos = _first_at_least(buf, prefix)
    size = len(buf)
    while pos < size:
        end = buf.find(b"\n", pos)
        if end < 0:
            end = size
        line = buf[pos:end]
        if not line.startswith(prefix):
            return
        yield line
        pos = end + 1


def _is_sorted_file(path: Path) -> bool:
    previous = b""
    with open(path, "rb") as fh:
        for raw in fh:
            line = raw.rstrip(b"\n")
            if line < previous:
                return False
            previous = line
    return True


# ---------------------------------------------------------------------------------------
# The segment store
# ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Exclusive lock over the directory's segment set (renames, merges, removals)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK_NAME, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _new_segment_name() -> str:
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    return f"{stamp}-{time.time_ns() % 10**9:09d}-{os.getpid()}-{secrets.token_hex(3)}{SEGMENT_SUFFIX}"


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_temp(directory: Path, lines: Iterable[bytes]) -> tuple[Path, int]:
    """Write lines (without newlines) to a temporary file pywb will not pick up."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=".part", dir=directory)
    count = 0
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; pywb may run as another user
        with os.fdopen(fd, "wb") as fh:
            for line in lines:
                fh.write(line)
                fh.write(b"\n")
                count += 1
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
    return Path(name), count


def _merged(paths: Sequence[Path]) -> Iterator[bytes]:
    """All lines of sorted files, in order, each distinct line once."""
    files = [open(p, "rb") for p in paths]  # noqa: SIM115 - closed in the finally below
    try:
        streams = [(raw.rstrip(b"\n") for raw in fh) for fh in files]
        previous: bytes | None = None
        for line in heapq.merge(*streams):
            if line and line != previous:
                yield line
            previous = line
    finally:
        for fh in files:
            fh.close()


class _Segment:
    """An mmapped segment file; segments never change once renamed in, so this is cacheable."""

    def __init__(self, path: Path, ident: tuple[int, int, int]) -> None:
        self.path = path
        self.ident = ident
        with open(path, "rb") as fh:
            self.buf = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)

    def close(self) -> None:
        self.buf.close()


class CdxjIndex:
    """The CDXJ index of one collection: `collections/<name>/indexes/`."""

    def __init__(
        self, indexes_dir: str | os.PathLike[str], *, max_segments: int = DEFAULT_MAX_SEGMENTS
    ) -> None:
        self.dir = Path(indexes_dir)
        self.max_segments = max(2, max_segments)
        self._open: dict[Path, _Segment] = {}

    # -- reading ------------------------------------------------------------------------
    def segments(self) -> list[Path]:
        """The segment files pywb would read (every *.cdxj in the directory), by name."""
        if not self.dir.is_dir():
            return []
        return sorted(p for p in self.dir.iterdir() if p.name.endswith(SEGMENT_SUFFIX) and p.is_file())

    def _views(self) -> list[_Segment]:
        views: list[_Segment] = []
        live: set[Path] = set()
        for path in self.segments():
            try:
                st = path.stat()
            except FileNotFoundError:  # merged away since the listing
                continue
            if st.st_size == 0:
                continue
            ident = (st.st_ino, st.st_size, st.st_mtime_ns)
            seg = self._open.get(path)
            if seg is None or seg.ident != ident:
                if seg is not None:
                    seg.close()
                try:
                    seg = _Segment(path, ident)
                except (FileNotFoundError, ValueError):
                    continue
                self._open[path] = seg
            live.add(path)
            views.append(seg)
        for gone in set(self._open) - live:
            self._open.pop(gone).close()
        return views

    def close(self) -> None:
        for seg in self._open.values():
            seg.close()
        self._open.clear()

    def __enter__(self) -> CdxjIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _matching(self, prefix: str) -> list[CdxjLine]:
        key = prefix.encode("utf-8")
        found: set[bytes] = set()
        for seg in self._views():
            found.update(_lines_with_prefix(seg.buf, key))
        return [CdxjLine.parse(line) for line in sorted(found)]

    def lookup_key(
        self, urlkey: str, *, timestamp: str | None = None, limit: int | None = None
    ) -> list[CdxjLine]:
        """Captures indexed under exactly `urlkey` (see `lookup`)."""
        return _ordered(self._matching(urlkey + " "), timestamp, limit)

    def lookup(
        self,
        url: str,
        *,
        timestamp: str | None = None,
        limit: int | None = None,
        method: str = "GET",
        content_type: str | None = None,
        body: bytes = b"",
    ) -> list[CdxjLine]:
        """Captures of exactly this URL (canonicalised): nearest to `timestamp` first, else newest.

        For a POST/PUT, pass `method`, `content_type` and `body` to find that request's capture.
        """
        return self.lookup_key(request_key(url, method, content_type, body), timestamp=timestamp, limit=limit)

    def lookup_prefix(
        self,
        url_or_host_prefix: str,
        *,
        timestamp: str | None = None,
        limit: int | None = None,
        subdomains: bool = False,
    ) -> list[CdxjLine]:
        """Captures whose URL starts with this one (`example.com` = the whole host).

        Sorted nearest to `timestamp` first when given, else in index order (by URL, then
        time).  `subdomains` adds the host's subdomains (`www.` is always folded in by SURT).
        """
        key = canonical_key(url_or_host_prefix)
        host, sep, path = key.partition(")/")
        if sep and not path:
            prefixes = [host + ")/"]
            if subdomains:
                prefixes.append(host + ",")
        elif url_or_host_prefix.endswith("/"):
            # SURT drops a trailing slash: `/blog/` must not match `/blogroll`.
            prefixes = [key + " ", key + "/", key + "?"]
        else:
            prefixes = [key]
        lines: list[CdxjLine] = []
        for prefix in prefixes:
            lines.extend(self._matching(prefix))
        if timestamp is None:
            lines.sort(key=str)
            return lines[:limit] if limit is not None else lines
        return _ordered(lines, timestamp, limit)

    def __iter__(self) -> Iterator[CdxjLine]:
        """Every line of every segment, merged in order, duplicates dropped."""
        for raw in _merged(self.segments()):
            yield CdxjLine.parse(raw)

    def check_sorted(self) -> list[Path]:
        """The segments that are not sorted (pywb's binary search would miss lines in them)."""
        return [p for p in self.segments() if not _is_sorted_file(p)]

    # -- writing ------------------------------------------------------------------------
    def add(self, lines: Iterable[CdxjLine | str]) -> Path | None:
        """Add lines as one new sorted segment (atomically), then merge if there are too many."""
        encoded = sorted({_checked(line).encode("utf-8") for line in lines})
        if not encoded:
            return None
        tmp, _ = _write_temp(self.dir, encoded)
        final = self.dir / _new_segment_name()
        try:
            with _locked(self.dir):
                os.rename(tmp, final)
                _fsync_dir(self.dir)
                self._compact_locked(self.max_segments)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return final

    def add_warc(self, path: str | os.PathLike[str], filename: str | None = None) -> IndexResult:
        """Index one WARC and add its lines; the result's `stopped` tells if it was damaged."""
        result = index_warc(path, filename)
        self.add(result.lines)
        return result

    def compact(self, *, max_segments: int | None = None) -> int:
        """Merge segments until at most `max_segments` remain (1 = everything); return #merged."""
        with _locked(self.dir):
            return self._compact_locked(max_segments or self.max_segments)

    def _compact_locked(self, max_segments: int) -> int:
        _remove_stale_temps(self.dir)
        segments = self.segments()
        if len(segments) <= max_segments:
            return 0
        # Merge the smallest ones (size-tiered), so the big old segment is rarely rewritten.
        keep = max(1, max_segments // 2) if max_segments > 1 else 0
        by_size = sorted(segments, key=lambda p: (p.stat().st_size, p.name))
        chosen = by_size[: len(segments) - keep] if keep else by_size
        if len(chosen) < 2:
            return 0
        tmp, _ = _write_temp(self.dir, _merged(chosen))
        os.rename(tmp, self.dir / _new_segment_name())
        _fsync_dir(self.dir)
        for path in chosen:  # only after the merged file is in place: no line goes missing
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        _fsync_dir(self.dir)
        return len(chosen)


def _checked(line: CdxjLine | str) -> str:
    """A line's text; a string is parsed first so nothing malformed reaches pywb."""
    if isinstance(line, str):
        line = CdxjLine.parse(line)
    return str(line)


def _remove_stale_temps(directory: Path, max_age_s: float = 3600.0) -> None:
    """Temp files of a process that died mid-write; pywb ignores them, but they take space."""
    cutoff = time.time() - max_age_s
    for path in directory.glob(TMP_PREFIX + "*.part"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < cutoff:
                path.unlink()


def _ordered(lines: list[CdxjLine], timestamp: str | None, limit: int | None) -> list[CdxjLine]:
    if timestamp is None:
        lines.sort(key=lambda ln: (ln.timestamp, str(ln)), reverse=True)
    else:
        target = _ts_seconds(timestamp)
        lines.sort(key=lambda ln: (abs(_ts_seconds(ln.timestamp) - target), ln.timestamp, str(ln)))
    return lines[:limit] if limit is not None else lines


# ---------------------------------------------------------------------------------------
# Rebuild from the WARCs
# ---------------------------------------------------------------------------------------
def rebuild(
    indexes_dir: str | os.PathLike[str], warc_paths: Iterable[str | os.PathLike[str]]
) -> list[IndexResult]:
    """Re-derive the whole index from `warc_paths` and swap it in atomically.

    Holds the directory lock throughout, so concurrent `add`s wait and are kept (they land
    after the swap).  Each WARC becomes a sorted run on disk and the runs are merged, so
    memory stays at one WARC's lines.  A file that is not an archive gives a result whose
    `stopped` says why, with no lines.
    """
    directory = Path(indexes_dir)
    results: list[IndexResult] = []
    runs: list[Path] = []
    with _locked(directory):
        try:
            for warc in warc_paths:
                try:
                    result = index_warc(warc)
                except ArchiveError as exc:
                    p = Path(warc)
                    results.append(IndexResult(p, default_filename(p), stopped=ReadStop(p, 0, str(exc))))
                    continue
                results.append(result)
                encoded = sorted({str(line).encode("utf-8") for line in result.lines})
                if encoded:
                    runs.append(_write_temp(directory, encoded)[0])
            old = CdxjIndex(directory).segments()
            if runs:
                merged, _ = _write_temp(directory, _merged(runs))
                os.rename(merged, directory / _new_segment_name())
                _fsync_dir(directory)
            for path in old:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            _fsync_dir(directory)
        finally:
            for run in runs:
                with contextlib.suppress(FileNotFoundError):
                    run.unlink()
    return results
