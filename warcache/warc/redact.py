"""Redacted copies of WARC files: the session's secrets blanked, everything else as it was.

Why: a capture made with a logged-in session (`--cookies`, `--storage-state`, `--profile`) keeps,
in its request records, the Cookie and Authorization headers the browser sent, and in its response
records the Set-Cookie headers the server sent. That is the archive, and the collection keeps it.
A copy handed to someone else (`export wacz --redact`) must not let them log in as the user.

What changes, per record:

* `request` records: the values of Cookie, Authorization and Proxy-Authorization are blanked;
* `response` and `revisit` records: the values of Set-Cookie (and the obsolete Set-Cookie2);
* the header's name and its place stay (`Cookie:`), so a reader still sees that one was sent;
* the record's Content-Length and WARC-Block-Digest are recomputed for the new block (the digest
  in the algorithm and encoding the record used); the payload is untouched, so
  WARC-Payload-Digest, revisits, and every other WARC header stay byte for byte;
* records without such headers, and the bytes between records, are copied unchanged, still one
  gzip member per record.

Offsets change where a record shrank, so whatever indexes the copy must index the copy. A file
whose records share gzip members cannot be rewritten record by record, and a damaged tail cannot be
read to be redacted: both are reported (`RedactError`, `RedactReport.dropped_tail`) rather than
copied as they are.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from warcache.errors import ArchiveError
from warcache.warc.reader import WarcReader

#: Request headers whose values are blanked: what authenticates the user to the server.
REQUEST_SECRETS = frozenset({b"cookie", b"authorization", b"proxy-authorization"})
#: Response headers whose values are blanked: what the server gave the user to authenticate with.
RESPONSE_SECRETS = frozenset({b"set-cookie", b"set-cookie2"})
_SECRETS = {b"request": REQUEST_SECRETS, b"response": RESPONSE_SECRETS, b"revisit": RESPONSE_SECRETS}
_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\n|\r(?!\n)|$)")
_HASHES = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512, "md5": hashlib.md5}
_COPY = 1024 * 1024
#: How much of a record is read to find its WARC head and HTTP head (larger heads are not HTTP).
HEAD_LIMIT = 1024 * 1024


class RedactError(ArchiveError):
    """A file that cannot be redacted record by record."""


@dataclass
class RedactReport:
    records: int = 0
    redacted: int = 0  # records with at least one value blanked
    dropped_tail: str | None = None  # why the unreadable end of the file was left out


def _lines(data: bytes) -> list[bytes]:
    """`data` cut into lines, each with its own line ending, so that joining them gives it back."""
    return [m.group(0) for m in _LINE.finditer(data) if m.group(0)]


def redact_http_head(head: bytes, names: frozenset[bytes]) -> bytes:
    """An HTTP request or response head with the values of the headers `names` (lower case) blanked:
    `Cookie: a=b` becomes `Cookie:`; a folded continuation of such a header goes with its value.
    Every other byte stays where it was."""
    out: list[bytes] = []
    blanking = False
    for i, line in enumerate(_lines(head)):
        body = line.rstrip(b"\r\n")
        ending = line[len(body):]
        if i == 0 or not body:
            blanking = False
            out.append(line)
            continue
        if body[:1] in (b" ", b"\t"):  # obs-fold: more of the header above
            if not blanking:
                out.append(line)
            continue
        name, colon, _value = body.partition(b":")
        blanking = bool(colon) and name.strip().lower() in names
        out.append(name + b":" + ending if blanking else line)
    return b"".join(out)


def _split_head(block: bytes) -> int:
    """Where an HTTP message's head ends in `block` (after its blank line), or -1."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        end = block.find(sep)
        if end >= 0:
            return end + len(sep)
    return -1


@dataclass
class _Plan:
    """How one record is rewritten: its new heads, and where its unchanged rest begins."""

    warc_lines: list[bytes]  # the WARC header lines, as they were
    http_head: bytes  # the new HTTP head
    skip: int  # bytes of the old record before the unchanged rest (WARC head and old HTTP head)
    block_rest: int  # bytes of the block after the HTTP head (then come the record's closing lines)
    block_length: int  # the new block's length


def _plan(prefix: bytes) -> _Plan | None:
    """What to do with a record that starts with `prefix` (its WARC head and HTTP head at least),
    or None when it has no secret to blank."""
    head_end = prefix.find(b"\r\n\r\n")
    if not prefix.startswith(b"WARC/") or head_end < 0:
        return None
    warc_lines = _lines(prefix[:head_end + 2])
    fields = {}
    for line in warc_lines[1:]:
        name, _, value = line.partition(b":")
        fields[name.strip().lower()] = value.strip()
    names = _SECRETS.get(fields.get(b"warc-type", b"").lower())
    if names is None or not fields.get(b"content-type", b"").lower().startswith(b"application/http"):
        return None
    try:
        length = int(fields.get(b"content-length", b""))
    except ValueError:
        return None
    start = head_end + 4
    block = prefix[start:start + length]
    http_end = _split_head(block)
    if http_end < 0:
        if len(block) < length:
            return None  # a head longer than HEAD_LIMIT: not an HTTP message warcache can read
        http_end = len(block)  # a head without a body (a revisit), ending at the end of the block
    old_head = block[:http_end]
    new_head = redact_http_head(old_head, names)
    if new_head == old_head:
        return None
    rest = length - http_end
    return _Plan(warc_lines, new_head, start + http_end, rest, len(new_head) + rest)


def _new_warc_head(plan: _Plan, block_digest: dict[str, object]) -> bytes | None:
    out = []
    for line in plan.warc_lines:
        name, colon, value = line.partition(b":")
        key = name.strip().lower()
        ending = line[len(line.rstrip(b"\r\n")):]
        if colon and key == b"content-length":
            line = name + b": " + str(plan.block_length).encode() + ending
        elif colon and key == b"warc-block-digest":
            digest = block_digest.get("value")
            if digest is None:
                continue  # a digest that cannot be recomputed is left out rather than left wrong
            line = name + b": " + str(digest).encode("ascii") + ending
        out.append(line)
    return b"".join(out) + b"\r\n"


def _digest_spec(plan: _Plan) -> tuple[str, str, object] | None:
    """The algorithm and encoding of the record's block digest, and a fresh hash object for it."""
    for line in plan.warc_lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"warc-block-digest":
            algorithm, _, encoded = value.strip().decode("ascii", "replace").partition(":")
            make = _HASHES.get(algorithm.lower())
            return (algorithm, encoded, make()) if make else None
    return None


def _encode(algorithm: str, encoded: str, raw: bytes) -> str:
    """A digest as `algorithm:value`, in the encoding the record used (hex, or base32 as warcio writes)."""
    if re.fullmatch(r"[0-9a-fA-F]+", encoded) and len(encoded) == 2 * len(raw):
        return f"{algorithm}:{raw.hex()}"
    return f"{algorithm}:{base64.b32encode(raw).decode('ascii')}"


def redact_record(record: bytes) -> bytes | None:
    """One whole WARC record (uncompressed) with its secrets blanked, or None when it has none."""
    plan = _plan(record[:HEAD_LIMIT])
    if plan is None:
        return None
    digest: dict[str, object] = {}
    spec = _digest_spec(plan)
    if spec is not None:
        algorithm, encoded, hasher = spec
        hasher.update(plan.http_head)  # type: ignore[attr-defined]
        hasher.update(record[plan.skip:plan.skip + plan.block_rest])  # type: ignore[attr-defined]
        digest["value"] = _encode(algorithm, encoded, hasher.digest())  # type: ignore[attr-defined]
    return _new_warc_head(plan, digest) + plan.http_head + record[plan.skip:]


def redact_warc(src: str | os.PathLike[str], dest: str | os.PathLike[str]) -> RedactReport:
    """Write a redacted copy of the WARC file `src` to `dest` (see the module docstring). `src` is
    only read; records are streamed, never held whole in memory. RedactError when its records share
    gzip members."""
    src, dest = Path(src), Path(dest)
    reader = WarcReader(src)
    if reader.format != "warc":
        raise RedactError(f"{src.name}: not a WARC file (ARC files are not redacted)")
    report = RedactReport()
    cursor = 0
    with open(src, "rb") as fh, open(dest, "wb") as out:
        for item in reader:
            if not item.seekable:
                raise RedactError(f"{src.name}: several records share a gzip member, so they cannot be "
                                  "redacted one by one")
            item.record.raw_stream.close()  # (read again below, as bytes)
            _copy(fh, out, cursor, item.offset)
            cursor = item.offset + item.length
            report.records += 1
            span = _Span(fh, item.offset, item.length, reader.compressed)
            plan = _plan(span.prefix(HEAD_LIMIT))
            if plan is None:
                _copy(fh, out, item.offset, cursor)
                continue
            report.redacted += 1
            _write_redacted(span, plan, out)
        if reader.stopped is not None:
            report.dropped_tail = reader.stopped.reason  # unread, so unredacted: not copied
        else:
            _copy(fh, out, cursor, None)
    return report


class _Span:
    """One record's bytes in the file, read (and decompressed) as a stream, as often as needed."""

    def __init__(self, fh: IO[bytes], offset: int, length: int, compressed: bool) -> None:
        self.fh, self.offset, self.length, self.compressed = fh, offset, length, compressed

    def chunks(self) -> Iterator[bytes]:
        self.fh.seek(self.offset)
        left = self.length
        inflate = zlib.decompressobj(31) if self.compressed else None
        while left > 0:
            raw = self.fh.read(min(_COPY, left))
            if not raw:
                break
            left -= len(raw)
            data = inflate.decompress(raw) if inflate else raw
            if data:
                yield data
        if inflate is not None:
            tail = inflate.flush()
            if tail:
                yield tail

    def prefix(self, size: int) -> bytes:
        got = bytearray()
        for chunk in self.chunks():
            got += chunk
            if len(got) >= size:
                break
        return bytes(got[:size])

    def after(self, skip: int) -> Iterator[bytes]:
        """The record's bytes from `skip` on."""
        for chunk in self.chunks():
            if skip >= len(chunk):
                skip -= len(chunk)
                continue
            yield chunk[skip:]
            skip = 0


def _write_redacted(span: _Span, plan: _Plan, out: IO[bytes]) -> None:
    digest: dict[str, object] = {}
    spec = _digest_spec(plan)
    if spec is not None:  # a first pass for the new block's digest, which goes before the block
        algorithm, encoded, hasher = spec
        hasher.update(plan.http_head)  # type: ignore[attr-defined]
        left = plan.block_rest
        for chunk in span.after(plan.skip):
            hasher.update(chunk[:left])  # type: ignore[attr-defined]
            left -= min(left, len(chunk))
            if not left:
                break
        digest["value"] = _encode(algorithm, encoded, hasher.digest())  # type: ignore[attr-defined]
    deflate = zlib.compressobj(6, zlib.DEFLATED, 31) if span.compressed else None

    def write(data: bytes) -> None:
        out.write(deflate.compress(data) if deflate else data)

    write(_new_warc_head(plan, digest) + plan.http_head)
    for chunk in span.after(plan.skip):
        write(chunk)
    if deflate is not None:
        out.write(deflate.flush())


def _copy(fh: IO[bytes], out: IO[bytes], start: int, end: int | None) -> None:
    fh.seek(start)
    left = None if end is None else end - start
    while left is None or left > 0:
        block = fh.read(_COPY if left is None else min(_COPY, left))
        if not block:
            return
        out.write(block)
        if left is not None:
            left -= len(block)
