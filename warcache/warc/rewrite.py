"""Copying a WARC file without some of its records: what `warcache forget` writes.

An archived WARC is never edited. To take records out of one, a new file is written under a new
name, and the original is left alone until the caller swaps the copy in:

* every byte of the original is copied as it is: each kept record's gzip member, and whatever
  lies between or after records (an ARC header, a damaged tail); only the byte ranges of the
  records taken out, and of those replaced, are left out;
* a replaced record is a revisit whose original payload is going away. `resolve_revisit` makes
  it a `response` holding that payload; `repoint_revisit` keeps it a revisit but points it at
  another copy of the payload. Both keep its record ID (its request's `WARC-Concurrent-To`
  names it), URI, date and every other header;
* `check_copy` reads the copy back: its records must be exactly the kept and new ones, in
  order, each digest right, the file readable to its end.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from warcio.recordloader import ArcWarcRecord
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from warcache.errors import ArchiveError
from warcache.warc.reader import RecordAt, WarcReader, open_record_at, read_record_at
from warcache.warc.writer import RawHttpHeaders

_BLOCK = 1 << 20
_REFERS = {"warc-refers-to", "warc-refers-to-target-uri", "warc-refers-to-date"}
_BLOCK_HEADERS = {"warc-block-digest", "content-length"}  # warcio computes them from the block
#: Headers a revisit made a response gets anew.
_RESOLVED = {"warc-type", "warc-profile", "warc-payload-digest", "content-type", "warc-truncated",
             *_REFERS, *_BLOCK_HEADERS}
#: Headers a re-pointed revisit gets anew.
_REPOINTED = {*_REFERS, *_BLOCK_HEADERS}
#: HTTP headers that say how the stored body is framed and coded.
_CODING = ("content-encoding", "transfer-encoding", "content-length")
_NOT_MODIFIED_PROFILE = "server-not-modified"


@dataclass(frozen=True)
class RecordRef:
    """A record in a file, with what the rewrite needs of it."""

    path: Path
    offset: int
    record_id: str
    uri: str
    date: str  # its WARC-Date, as written


@dataclass
class NewRecord:
    """A record written in place of another; `build` makes it at write time (its payload may be big)."""

    record_id: str
    rec_type: str
    uri: str
    build: Callable[[WARCWriter], ArcWarcRecord]


@dataclass(frozen=True)
class Edit:
    """The record at `offset` (`length` bytes, as the reader gives them) is left out of the copy,
    or replaced by `record`."""

    offset: int
    length: int
    record: NewRecord | None = None


def record_key(item: RecordAt) -> tuple[str, str, str]:
    """What a record is, for comparing a copy with its original: type, URI and record ID (ARC
    records have no ID of their own: warcio makes one up each time they are read)."""
    rid = (item.record.rec_headers.get_header("WARC-Record-ID") or "") if item.record.format == "warc" else ""
    return item.rec_type, item.target_uri or "", rid


def copy_without(src: Path, dst: Path, edits: list[Edit]) -> None:
    """Write `dst` as `src` with `edits` applied (see the module docstring); `dst` must not exist.
    New records are gzipped when `src` is, with the WARC version of the record they replace."""
    edits = sorted(edits, key=lambda e: e.offset)
    with open(src, "rb") as fin:
        compressed = fin.read(2) == b"\x1f\x8b"
        size = os.fstat(fin.fileno()).st_size
        with open(dst, "xb") as fout:
            pos = 0
            for edit in edits:
                if edit.offset < pos:
                    raise ArchiveError(f"{src.name}: overlapping edits at byte {edit.offset}")
                _copy_range(fin, fout, pos, edit.offset)
                end = edit.offset + edit.length
                if not compressed:  # an uncompressed record's length leaves out its closing CRLFs
                    fin.seek(end)
                    if fin.read(4) == b"\r\n\r\n":
                        end += 4
                if edit.record is not None:
                    writer = WARCWriter(fout, gzip=compressed)
                    writer.write_record(edit.record.build(writer))
                pos = end
            _copy_range(fin, fout, pos, size)
            fout.flush()
            os.fsync(fout.fileno())


def _copy_range(fin: IO[bytes], fout: IO[bytes], start: int, end: int) -> None:
    fin.seek(start)
    left = end - start
    while left > 0:
        block = fin.read(min(_BLOCK, left))
        if not block:
            raise ArchiveError(f"{getattr(fin, 'name', 'a WARC')} ended at byte {end - left} while copying")
        fout.write(block)
        left -= len(block)


def check_copy(path: Path, expected: list[tuple[str, str, str]]) -> None:
    """Read a copy back: ArchiveError unless its records are `expected` (`record_key`s, in order),
    every digest checks, and it reads to its end."""
    reader = WarcReader(path, check_digests=True)
    found = []
    for item in reader:
        if item.digest_ok is False:
            raise ArchiveError(f"{path.name}: the copy's {item.rec_type} record of {item.target_uri} at "
                               f"byte {item.offset} fails its digest check")
        found.append(record_key(item))
        with contextlib.suppress(Exception):
            item.record.raw_stream.close()
    if reader.stopped is not None:
        raise ArchiveError(f"{path.name}: the copy does not read to its end: {reader.stopped.reason}")
    if found != expected:
        first = next((i for i, (a, b) in enumerate(zip(found, expected, strict=False)) if a != b),
                     min(len(found), len(expected)))
        raise ArchiveError(f"{path.name}: the copy holds {len(found)} records where {len(expected)} were "
                           f"meant, differing from record {first} on")


# -- revisits whose original goes away -------------------------------------------------------------


@dataclass
class _Head:
    """An HTTP head as `RawHttpHeaders` writes it: the bytes, and what they say."""

    raw: bytes
    start_line: str
    headers: list[tuple[str, str]]


def _warc_headers(record: ArcWarcRecord, rec_type: str, drop: set[str],
                  extra: list[tuple[str, str]]) -> StatusAndHeaders:
    """A record's WARC headers, in their order, but those in `drop` (lower case), as `rec_type`,
    with `extra` at the end."""
    headers = [(k, v) for k, v in record.rec_headers.headers if k.lower() not in drop | {"warc-type"}]
    at = next((i for i, (k, _v) in enumerate(record.rec_headers.headers) if k.lower() == "warc-type"), 0)
    headers.insert(min(at, len(headers)), ("WARC-Type", rec_type))
    return StatusAndHeaders("", headers + [(k, v) for k, v in extra if v],
                            protocol=record.rec_headers.protocol or "WARC/1.1")


def _http_head(raw: bytes, record: ArcWarcRecord) -> _Head | None:
    http = record.http_headers
    if http is None:
        return None
    start = f"{http.protocol} {http.statusline}".strip() if http.protocol else http.statusline
    return _Head(raw, start, list(http.headers))


def _coding(head: _Head) -> list[tuple[str, str]]:
    return sorted((k.lower(), " ".join(v.lower().split())) for k, v in head.headers if k.lower() in _CODING)


def _status(head: _Head | None) -> int | None:
    if head is None:
        return None
    parts = head.start_line.split()
    try:
        return int(parts[1]) if len(parts) > 1 else None
    except ValueError:
        return None


def read_revisit(ref: RecordRef) -> tuple[ArcWarcRecord, bytes, _Head | None]:
    """A revisit record (headers parsed), its whole block, and the block as an HTTP head when it
    is one and nothing else."""
    block = read_record_at(ref.path, ref.offset, parse_http=False).raw_stream.read()
    record = read_record_at(ref.path, ref.offset)
    rest = record.raw_stream.read(1)
    head = _http_head(block, record)
    return record, block, head if not rest else None


def _refers_to(original: RecordRef) -> list[tuple[str, str]]:
    return [("WARC-Refers-To", original.record_id), ("WARC-Refers-To-Target-URI", original.uri),
            ("WARC-Refers-To-Date", original.date)]


def resolve_revisit(revisit: RecordRef, original: RecordRef) -> NewRecord:
    """The `response` that takes a revisit's place when its original goes: the original's payload
    (byte for byte, as stored), under the revisit's record ID, URI, date and other WARC headers,
    with `WARC-Refers-To*` noting where the payload came from.

    Its HTTP head is the revisit's own when that is a response head framing the body the same
    way (the same Content-Encoding, Transfer-Encoding and Content-Length): replay then shows what
    it showed for the revisit (that status and those headers, the original's body). Else (a 304,
    a "server-not-modified" revisit, no HTTP head, other framing) it is the original's, which
    replay showed for such a revisit anyway.
    """

    def build(writer: WARCWriter) -> ArcWarcRecord:
        own_record, _block, own = read_revisit(revisit)
        orig = read_record_at(original.path, original.offset)
        payload = orig.raw_stream
        payload.seek(0, os.SEEK_END)
        payload_length = payload.tell()
        payload.seek(0)
        block_length = int(orig.rec_headers.get_header("Content-Length") or 0)
        fh, raw = open_record_at(original.path, original.offset, parse_http=False)
        with fh:
            head_bytes = raw.raw_stream.read(block_length - payload_length)
        orig_head = _http_head(head_bytes, orig)
        if orig_head is None or orig.rec_type != "response":
            raise ArchiveError(f"the original of the revisit of {revisit.uri} is not an HTTP response")
        profile = (own_record.rec_headers.get_header("WARC-Profile") or "").lower()
        keep_own = (own is not None and _NOT_MODIFIED_PROFILE not in profile
                    and _status(own) not in (None, 304) and _coding(own) == _coding(orig_head))
        head = own if keep_own and own is not None else orig_head
        digest = orig.rec_headers.get_header("WARC-Payload-Digest") or ""
        return writer.create_warc_record(
            revisit.uri, "response", payload=payload, length=payload_length,
            http_headers=RawHttpHeaders(head, is_request=False),
            warc_headers=_warc_headers(own_record, "response", _RESOLVED,
                                       [("WARC-Payload-Digest", digest), *_refers_to(original)]))

    return NewRecord(revisit.record_id, "response", revisit.uri, build)


def repoint_revisit(revisit: RecordRef, original: RecordRef) -> NewRecord:
    """The revisit, unchanged but for its `WARC-Refers-To*` headers, which name `original`
    (another copy of the same payload) instead of the one going away."""

    def build(writer: WARCWriter) -> ArcWarcRecord:
        record, block, head = read_revisit(revisit)
        if head is None and block:
            raise ArchiveError(f"the revisit of {revisit.uri} at byte {revisit.offset} holds more than an "
                               "HTTP head; it cannot be rewritten")
        return writer.create_warc_record(
            revisit.uri, "revisit", http_headers=RawHttpHeaders(head, is_request=False) if head else None,
            warc_headers=_warc_headers(record, "revisit", _REPOINTED, _refers_to(original)))

    return NewRecord(revisit.record_id, "revisit", revisit.uri, build)
