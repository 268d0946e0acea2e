"""Reading HTTP/1.x messages off a stream, byte for byte.

The recording proxy must archive exactly what the server sent: the status line and header block as
they came (order, duplicates, spelling), and the body with its framing (chunk sizes, trailers) and
its content coding (gzip) intact. So this module never re-serialises anything: it reads raw bytes,
and parses them only to learn where a message ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

MAX_HEAD_BYTES = 256 * 1024
MAX_LINE_BYTES = 64 * 1024
READ_SIZE = 64 * 1024


class WireError(Exception):
    """The peer sent something that is not HTTP/1.x, or stopped in the middle of a message."""


@dataclass
class Head:
    """A request or status line plus header block, as raw bytes and parsed."""

    raw: bytes
    start_line: str
    headers: list[tuple[str, str]] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        """The last value of header `name` (case-insensitive), or None."""
        lname = name.lower()
        for key, value in reversed(self.headers):
            if key.lower() == lname:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [value for key, value in self.headers if key.lower() == lname]

    def tokens(self, name: str) -> list[str]:
        """Comma-separated tokens of every `name` header, lower-cased (for Connection, Transfer-Encoding)."""
        return [t.strip().lower() for v in self.get_all(name) for t in v.split(",") if t.strip()]

    @property
    def status(self) -> int:
        """The status code of a response head (0 if the status line is unreadable)."""
        parts = self.start_line.split(" ", 2)
        try:
            return int(parts[1])
        except (IndexError, ValueError):
            return 0

    @property
    def version(self) -> str:
        """HTTP version of a response (first word) or request (last word)."""
        parts = self.start_line.split(" ")
        return parts[0] if parts[0].startswith("HTTP/") else parts[-1]


def parse_head(raw: bytes) -> Head:
    """Parse a raw head (start line, header lines, blank line). Folded lines join their header."""
    text = raw.decode("latin-1")
    lines = text.split("\n")
    start = lines[0].rstrip("\r")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        line = line.rstrip("\r")
        if not line:
            continue
        if line[0] in " \t" and headers:  # obsolete line folding
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue  # a malformed line: kept in `raw`, ignored for framing
        headers.append((name.strip(), value.strip()))
    return Head(raw=raw, start_line=start, headers=headers)


async def read_head(reader: asyncio.StreamReader) -> Head | None:
    """Read one message head. None on a clean end of stream before its first byte.

    Tolerates bare LF line endings and leading empty lines (RFC 9112 says to ignore them).
    """
    chunks: list[bytes] = []
    total = 0
    while True:
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            if not chunks and not exc.partial:
                return None
            raise WireError("connection closed in the middle of a message head") from None
        except asyncio.LimitOverrunError:
            raise WireError("header line too long") from None
        total += len(line)
        if total > MAX_HEAD_BYTES:
            raise WireError("message head too large")
        if not chunks and line in (b"\r\n", b"\n"):
            continue
        chunks.append(line)
        if line in (b"\r\n", b"\n"):
            break
    return parse_head(b"".join(chunks))


@dataclass(frozen=True)
class Framing:
    """How the body of a message is delimited."""

    kind: str  # "none", "length", "chunked" or "close"
    length: int = 0


def request_framing(head: Head) -> Framing:
    if "chunked" in head.tokens("Transfer-Encoding"):
        return Framing("chunked")
    return _length_framing(head, default=Framing("none"))


def response_framing(head: Head, request_method: str) -> Framing:
    status = head.status
    if request_method == "HEAD" or 100 <= status < 200 or status in (204, 304):
        return Framing("none")
    if request_method == "CONNECT" and 200 <= status < 300:
        return Framing("none")
    if head.tokens("Transfer-Encoding"):
        return Framing("chunked") if head.tokens("Transfer-Encoding")[-1] == "chunked" else Framing("close")
    try:
        return _length_framing(head, default=Framing("close"))
    except WireError:
        # A length that is not a number, or two that disagree: the body can only end when the
        # server closes. Reading to there archives what the server sent (browsers that accept such
        # a response read it the same way); the connection is never reused after it.
        return Framing("close")


def _length_framing(head: Head, default: Framing) -> Framing:
    values = {v.strip() for v in head.get_all("Content-Length")}
    if not values:
        return default
    if len(values) != 1:
        raise WireError("conflicting Content-Length headers")
    value = values.pop()
    if not value.isdigit():
        raise WireError(f"invalid Content-Length {value!r}")
    return Framing("length", int(value))


async def iter_body(reader: asyncio.StreamReader, framing: Framing) -> AsyncIterator[bytes]:
    """Yield the body's bytes exactly as they arrive, framing included, until the message ends.

    Raises WireError if the stream ends before the framing says it should (a "close"-delimited body
    ends with the stream, so it never raises).
    """
    if framing.kind == "none":
        return
    if framing.kind == "length":
        remaining = framing.length
        while remaining:
            data = await reader.read(min(READ_SIZE, remaining))
            if not data:
                raise WireError(f"connection closed with {remaining} body bytes still to come")
            remaining -= len(data)
            yield data
        return
    if framing.kind == "close":
        while True:
            data = await reader.read(READ_SIZE)
            if not data:
                return
            yield data
    # chunked: size line, data, CRLF ... a zero-size chunk, then trailers up to a blank line
    while True:
        line = await _read_line(reader)
        yield line
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise WireError(f"invalid chunk size {size_text[:20]!r}") from None
        if size == 0:
            while True:
                trailer = await _read_line(reader)
                yield trailer
                if trailer in (b"\r\n", b"\n"):
                    return
        remaining = size
        while remaining:
            data = await reader.read(min(READ_SIZE, remaining))
            if not data:
                raise WireError("connection closed inside a chunk")
            remaining -= len(data)
            yield data
        yield await _read_line(reader)  # the CRLF after the chunk data


async def _read_line(reader: asyncio.StreamReader) -> bytes:
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError:
        raise WireError("connection closed inside chunked body") from None
    except asyncio.LimitOverrunError:
        raise WireError("chunk line too long") from None
    if len(line) > MAX_LINE_BYTES:
        raise WireError("chunk line too long")
    return line
