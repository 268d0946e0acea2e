"""Range requests: media plays and seeks from an archived whole response or archived pieces.

`<video>` and `<audio>` ask for `Range: bytes=0-` and then for the part they seek to, and
accept nothing but 206 for a seek.  The archive may hold the file whole (a 200, or the
whole file fetched again at capture, see `warcache.capture.proxy`), or only the pieces the
browser asked for at capture (206 responses with `Content-Range`, often several, as servers
cap the size of each), or both.  So:

* a whole archived response answers any single range with 206 (decoded first when it was
  stored content-encoded: ranges address the bytes the page sees);
* without one, the pieces of the same URL with the same total length are put together:
  a range is answered from the run of pieces that covers its start (shorter than asked if
  the run ends first, which media players handle by asking for the rest), and a request
  without Range gets a 200 only when the pieces cover the whole file;
* a range past the end is a 416 with the length; several ranges in one request, or another
  unit, get the whole response (RFC 9110 allows a server to ignore Range).

pywb serves stored pieces as they are whatever was asked, and wabac.js ignores them; neither
puts them together.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from warcache.errors import ArchiveError
from warcache.index.cdxj import CdxjLine
from warcache.replay.resolve import Capture, header

#: Archived headers that described the stored body, not the one a range answer sends.
DESCRIBED_HEADERS = frozenset({"content-range", "accept-ranges", "content-encoding"})
#: Bodies stored chunked or content-encoded are decoded in memory to be sliced, up to this size.
MAX_DECODED = 64 * 1024 * 1024
_BLOCK = 64 * 1024
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)\s*-\s*(\d+)\s*/\s*(\d+|\*)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class ByteRange:
    """One range of a Range header: `first-last`, `first-` (last None) or `-suffix`."""

    first: int | None
    last: int | None

    def span(self, total: int) -> tuple[int, int] | None:
        """(start, end) inclusive within a body of `total` bytes, or None if unsatisfiable."""
        if self.first is None:  # the last N bytes
            if not self.last or total == 0:
                return None
            return max(0, total - self.last), total - 1
        if self.first >= total:
            return None
        end = total - 1 if self.last is None else min(self.last, total - 1)
        return self.first, end


def parse_range(value: str | None) -> ByteRange | None:
    """The single byte range asked for, or None (no Range, several ranges, another unit)."""
    if not value:
        return None
    match = _RANGE.match(value)
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first = int(match.group(1)) if match.group(1) else None
    last = int(match.group(2)) if match.group(2) else None
    if first is not None and last is not None and last < first:
        return None
    return ByteRange(first, last)


def content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """(start, end, total) of a Content-Range header (total None when `*`)."""
    match = _CONTENT_RANGE.match(value or "")
    if not match:
        return None
    start, end = int(match.group(1)), int(match.group(2))
    total = None if match.group(3) == "*" else int(match.group(3))
    if end < start or (total is not None and end >= total):
        return None
    return start, end, total


@dataclass
class Ranged:
    """What to send: status, the headers replay adds for it, and the body."""

    status: int  # 206, 416, or 200 for a whole body put together from pieces
    headers: list[tuple[str, str]]
    body: Iterator[bytes]
    length: int
    template: Capture  # whose archived headers describe the response
    closers: list[Capture] = field(default_factory=list)

    def close(self) -> None:
        for capture in self.closers:
            capture.close()

    def read(self) -> bytes:
        try:
            return b"".join(self.body)
        finally:
            self.close()


def _skip(stream, count: int) -> None:  # noqa: ANN001 - a readable stream
    while count > 0:
        block = stream.read(min(_BLOCK, count))
        if not block:
            raise ArchiveError("the archived body is shorter than its length")
        count -= len(block)


def _limited(stream, count: int) -> Iterator[bytes]:  # noqa: ANN001
    while count > 0:
        block = stream.read(min(_BLOCK, count))
        if not block:
            return
        count -= len(block)
        yield block


def _identity(capture: Capture) -> bool:
    coding = (capture.content_encoding or "").strip().lower()
    return coding in ("", "identity") and not capture.chunked


def _not_satisfiable(capture: Capture, total: int, closers: list[Capture] | None = None) -> Ranged:
    return Ranged(416, [("Content-Range", f"bytes */{total}")], iter(()), 0, capture, closers or [capture])


def from_whole(capture: Capture, asked: ByteRange) -> Ranged | None:
    """`asked` from a whole archived body; None when it cannot be sliced here (stored encoded
    and too big to decode), before anything is read: then the whole body is sent, as the
    Range header allows."""
    if _identity(capture) and capture.raw_length is not None:
        total = capture.raw_length
        where = asked.span(total)
        if where is None:
            return _not_satisfiable(capture, total)
        start, end = where
        stream = capture.entity()
        _skip(stream, start)
        body = _limited(stream, end - start + 1)
    else:
        if capture.raw_length is not None and capture.raw_length > MAX_DECODED:
            return None
        data = capture.content(limit=MAX_DECODED + 1)
        whole = len(data) <= MAX_DECODED  # else a body that decodes to more: its length is unknown
        where = asked.span(len(data)) if whole else asked.span(MAX_DECODED)
        if where is None and whole:
            return _not_satisfiable(capture, len(data))
        if where is None:
            capture.close()
            raise ArchiveError(f"cannot answer this range: the body decodes to over {MAX_DECODED} bytes")
        start, end = where
        body = iter([data[start : end + 1]])
        total = len(data) if whole else None
    size = "*" if total is None else str(total)
    headers = [("Content-Range", f"bytes {start}-{end}/{size}"), ("Accept-Ranges", "bytes")]
    return Ranged(206, headers, body, end - start + 1, capture, [capture])


@dataclass
class _Piece:
    start: int
    end: int
    capture: Capture


def _pieces(lines: list[CdxjLine], load: Callable[[CdxjLine], Capture]) -> tuple[list[_Piece], int] | None:
    """The loaded pieces that belong with the first (nearest in time) one: same total length,
    same ETag when they have one.  Pieces that do not fit are closed."""
    pieces: list[_Piece] = []
    total: int | None = None
    etag: str | None = None
    for line in lines:
        try:
            capture = load(line)
        except ArchiveError:
            continue
        where = content_range(header(capture.headers, "Content-Range"))
        tag = header(capture.headers, "ETag")
        fits = (
            capture.status == 206
            and where is not None
            and where[2] is not None
            and _identity(capture)
            and capture.raw_length == where[1] - where[0] + 1
        )
        if fits and total is None:
            total, etag = where[2], tag  # type: ignore[index]
        if not fits or where[2] != total or (etag and tag and tag != etag):  # type: ignore[index]
            capture.close()
            continue
        pieces.append(_Piece(where[0], where[1], capture))  # type: ignore[index]
    if total is None or not pieces:
        return None
    return pieces, total


def _chain(pieces: list[_Piece], start: int, end: int) -> list[tuple[_Piece, int, int]]:
    """Pieces covering `start` onwards without a gap, as (piece, from, to), up to `end`."""
    chain = []
    at = start
    while at <= end:
        best = max((p for p in pieces if p.start <= at <= p.end), key=lambda p: p.end, default=None)
        if best is None:
            break
        to = min(best.end, end)
        chain.append((best, at, to))
        at = to + 1
    return chain


def _chain_body(chain: list[tuple[_Piece, int, int]]) -> Iterator[bytes]:
    for piece, first, last in chain:
        stream = piece.capture.entity()
        _skip(stream, first - piece.start)
        yield from _limited(stream, last - first + 1)


def from_pieces(
    lines: list[CdxjLine], load: Callable[[CdxjLine], Capture], asked: ByteRange | None
) -> Ranged | None:
    """A response put together from archived 206 pieces (lines nearest in time first), or None
    when they do not hold what was asked (then the URL is "not archived")."""
    found = _pieces(lines, load)
    if found is None:
        return None
    pieces, total = found
    captures = [p.capture for p in pieces]
    if asked is None:
        chain = _chain(pieces, 0, total - 1)
        if not chain or chain[-1][2] != total - 1:
            for capture in captures:
                capture.close()
            return None
        body = _chain_body(chain)
        return Ranged(200, [("Accept-Ranges", "bytes")], body, total, pieces[0].capture, captures)
    where = asked.span(total)
    chain = _chain(pieces, *where) if where is not None else []
    if not chain:
        return _not_satisfiable(pieces[0].capture, total, captures)
    start, end = chain[0][1], chain[-1][2]
    headers = [("Content-Range", f"bytes {start}-{end}/{total}"), ("Accept-Ranges", "bytes")]
    return Ranged(206, headers, _chain_body(chain), end - start + 1, pieces[0].capture, captures)
