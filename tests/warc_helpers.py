"""Reading back what warcache wrote, and writing small WARCs for tests, independently of
warcache's own code (warcio only)."""

from __future__ import annotations

import io
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter


def write_responses(path: Path, responses: list[tuple[str, bytes, list[tuple[str, str]]]],
                    date: str = "2024-05-17T10:00:00Z") -> Path:
    """A gzipped WARC of "200 OK" response records: (url, body, HTTP headers) each, one date."""
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for url, body, headers in responses:
            writer.write_record(writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), length=len(body),
                http_headers=StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1"),
                warc_headers_dict={"WARC-Date": date}))
    return path


@dataclass
class Rec:
    file: str
    offset: int
    type: str
    uri: str
    headers: dict[str, str]  # WARC headers (first value of each)
    head: bytes  # raw HTTP head (status/request line and headers) for HTTP records, else b""
    payload: bytes  # raw payload bytes after the HTTP head (or the whole block)
    content: bytes  # payload decoded the way its headers say (de-chunked, gunzipped)

    @property
    def id(self) -> str:
        return self.headers.get("WARC-Record-ID", "")


def read_warc(path: Path) -> list[Rec]:
    raw_blocks = {}
    with open(path, "rb") as fh:
        it = ArchiveIterator(fh, no_record_parse=True)
        for record in it:
            block = record.raw_stream.read()
            raw_blocks[it.get_record_offset()] = block
    out = []
    with open(path, "rb") as fh:
        it = ArchiveIterator(fh)
        for record in it:
            content = record.content_stream().read()  # before get_record_offset(), which skips the record
            offset = it.get_record_offset()
            block = raw_blocks[offset]
            head, payload = b"", block
            if record.http_headers is not None and record.rec_type in ("response", "request", "revisit"):
                end = block.find(b"\r\n\r\n")
                head, payload = block[: end + 4], block[end + 4:]
            headers = {}
            for name, value in record.rec_headers.headers:
                headers.setdefault(name, value)
            out.append(Rec(path.name, offset, record.rec_type,
                           record.rec_headers.get_header("WARC-Target-URI") or "", headers,
                           head, payload, content))
    return out


def read_collection(archive_dir: Path) -> list[Rec]:
    records = []
    for path in sorted(archive_dir.glob("*.warc.gz")):
        records.extend(read_warc(path))
    return records


def warcio_check(paths: list[Path]) -> subprocess.CompletedProcess:
    """Run `warcio check` (the reference reader's own digest and structure check)."""
    return subprocess.run([sys.executable, "-m", "warcio.cli", "check", *map(str, paths)],
                          capture_output=True, text=True)
