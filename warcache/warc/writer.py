"""Writing captures into WARC 1.1 files.

Files are written as `NAME.warc.gz.open` and renamed to `NAME.warc.gz` when closed, so no reader
takes a file still being written (or left behind by a killed run) for a complete one. A file is
closed when it passes a size limit and at the end of a run. Each page's records are written
together and end with the page's `metadata` record: a crash leaves complete pages followed by at
most one incomplete page, which `recovery.py` knows how to set aside. The writer holds an exclusive
lock on its open file so a concurrent run never mistakes it for a leftover.

Everything goes through warcio; the only thing added on top is keeping the HTTP header block byte
for byte as the server sent it (warcio would re-serialise it).
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Protocol

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from warcache import __version__, timestamps
from warcache.collection import OPEN_SUFFIX
from warcache.errors import ArchiveError
from warcache.fsync import fsync_dir
from warcache.pagelist import Annotation

DEFAULT_MAX_SIZE = 1 << 30
PAGE_URN = "urn:warcache:page:"
SCREENSHOT_URN = "urn:warcache:screenshot:"
DOM_URN = "urn:warcache:dom:"
PDF_URN = "urn:warcache:pdf:"  # the page printed to PDF (--pdf)
MEDIA_URN = "urn:warcache:media:"  # a file yt-dlp downloaded from the page (--media)
MEDIA_INFO_URN = "urn:warcache:media-info:"  # yt-dlp's description of that file
#: The text the page showed (its visible text, as the browser laid it out), for the fidelity check.
TEXT_URN = "urn:warcache:text:"
#: A fidelity check of a capture (JSON), and the screenshots of its replays (`<mode>:<url>`).
CHECK_URN = "urn:warcache:check:"
CHECK_SHOT_URN = "urn:warcache:check-screenshot:"
ANNOTATION_URN = "urn:warcache:annotation:"  # the user's tags and note of a URL (`Annotation`)


class RawHead(Protocol):
    """An HTTP request or status line and header block as it went over the wire (the capture
    proxy's `httpwire.Head` is one): the parsed parts, and the bytes to write back."""

    raw: bytes
    start_line: str
    headers: list[tuple[str, str]]


class RawHttpHeaders(StatusAndHeaders):
    """warcio headers that write back the exact bytes they were parsed from."""

    def __init__(self, head: RawHead, *, is_request: bool) -> None:
        if is_request:
            super().__init__(head.start_line, list(head.headers), protocol="", is_http_request=True)
        else:
            protocol, _, status = head.start_line.partition(" ")
            super().__init__(status, list(head.headers), protocol=protocol)
        self._raw = head.raw

    def compute_headers_buffer(self, header_filter=None) -> None:  # noqa: ARG002 - warcio's signature
        self.headers_buff = self._raw


@dataclass
class RecordRef:
    """Where a record landed: enough to find it again (and to build a CDXJ line)."""

    filename: str
    offset: int
    length: int
    record_id: str
    record_type: str
    uri: str


@dataclass
class WrittenPage:
    """The records of one page, as written."""

    filename: str
    start: int
    end: int
    records: list[RecordRef] = field(default_factory=list)


def new_warc_name(prefix: str = "warcache") -> str:
    """A file name no other writer picks: time, process id and a random part."""
    now = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
    return f"{prefix}-{now}-{os.getpid()}-{secrets.token_hex(3)}.warc.gz"


class WarcFileWriter:
    """Appends pages to a rolling series of WARC files in one directory."""

    def __init__(self, directory: Path, *, info: dict[str, str], max_size: int = DEFAULT_MAX_SIZE,
                 prefix: str = "warcache") -> None:
        self.directory = Path(directory)
        self.info = info
        self.max_size = max_size
        self.prefix = prefix
        self.closed_files: list[str] = []
        self._fh: IO[bytes] | None = None
        self._name = ""
        self._writer: WARCWriter | None = None

    # -- file life cycle ----------------------------------------------------------------------

    @property
    def current_name(self) -> str:
        return self._name

    def _open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = new_warc_name(self.prefix)
        path = self.directory / (name + OPEN_SUFFIX)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._fh = os.fdopen(fd, "wb")
        self._name = name
        self._writer = WARCWriter(self._fh, gzip=True, warc_version="1.1")
        record = self._writer.create_warcinfo_record(name, self.info)
        self._writer.write_record(record)
        self._sync()

    def close(self) -> str | None:
        """Close the current file and give it its final name. Returns that name."""
        if self._fh is None:
            return None
        self._sync()
        final = self.directory / self._name
        os.rename(self.directory / (self._name + OPEN_SUFFIX), final)
        fsync_dir(self.directory)
        self._fh.close()  # releases the lock only after the rename
        self._fh = None
        self._writer = None
        self.closed_files.append(self._name)
        return self._name

    def _sync(self) -> None:
        assert self._fh is not None
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def __enter__(self) -> WarcFileWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writing ------------------------------------------------------------------------------

    def write_page(self, records: list[PendingRecord]) -> WrittenPage:
        """Write one page's records contiguously and durably (flushed and fsynced).

        Raises ArchiveError on a write failure (a full disk): the open file is then set aside by
        the caller's recovery and earlier files are untouched.
        """
        if self._fh is None:
            self._open()
        assert self._fh is not None and self._writer is not None
        start = self._fh.tell()
        page = WrittenPage(filename=self._name, start=start, end=start)
        try:
            for pending in records:
                offset = self._fh.tell()
                record = pending.build(self._writer)
                self._writer.write_record(record)
                end = self._fh.tell()
                page.records.append(RecordRef(self._name, offset, end - offset,
                                              record.rec_headers.get_header("WARC-Record-ID"),
                                              pending.record_type, pending.uri))
            self._sync()
        except OSError as exc:
            # Leave the file as `.open` (never renamed, so never taken for complete) and release its
            # lock: the next run's recovery keeps the pages before this one and sets it aside.
            name = self._name + OPEN_SUFFIX
            with contextlib.suppress(OSError):
                self._fh.close()
            self._fh = None
            self._writer = None
            raise ArchiveError(
                f"writing {name} failed ({exc.strerror or exc}); the pages written before this one "
                "are kept and the next `warcache add` recovers them") from exc
        page.end = self._fh.tell()
        if page.end >= self.max_size:
            self.close()
        return page


@dataclass
class PendingRecord:
    """A record to write, described without warcio objects so it can be built at write time."""

    record_type: str  # response, request, revisit, resource, metadata
    uri: str
    date: datetime
    headers: dict[str, str] = field(default_factory=dict)  # extra WARC headers
    http_head: RawHead | None = None
    payload: IO[bytes] | None = None
    payload_length: int = 0
    content_type: str = ""  # for resource and metadata records
    record_id: str = ""

    def build(self, writer: WARCWriter):
        headers = {"WARC-Date": timestamps.warc_date(self.date)}
        if self.record_id:
            headers["WARC-Record-ID"] = self.record_id
        headers.update(self.headers)
        payload = self.payload if self.payload is not None else io.BytesIO(b"")
        http_headers = None
        if self.http_head is not None:
            http_headers = RawHttpHeaders(self.http_head, is_request=self.record_type == "request")
        if self.record_type == "revisit":
            record = writer.create_warc_record(self.uri, "revisit", http_headers=http_headers,
                                               warc_headers_dict=headers)
            return record
        return writer.create_warc_record(
            self.uri, self.record_type, payload=payload, length=self.payload_length,
            http_headers=http_headers, warc_headers_dict=headers,
            warc_content_type=self.content_type or "")


def make_record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def default_warcinfo(*, browser: str, user_agent: str, settings: dict) -> dict[str, str]:
    """The warcinfo fields of a warcache file: who made it, with what, and how."""
    return {
        "software": f"warcache/{__version__} (warcio, Playwright)",
        "format": "WARC File Format 1.1",
        "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
        "browser": browser,
        "http-header-user-agent": user_agent,
        "warcache-capture-settings": json.dumps(settings, sort_keys=True),
    }


def write_annotations(directory: Path, annotations: list[Annotation]) -> str:
    """Write annotation records into a new small WARC file of their own; returns its name.

    Why a file per change: closed WARC files are never appended to or rewritten, and the file
    a capture is writing belongs to that capture's process.  A small file, written as `.open`
    and renamed once complete, keeps the change in the WARCs (so `index --rebuild` finds it)
    without touching any other file.
    """
    now = datetime.now(UTC)
    info = {"software": f"warcache/{__version__}", "format": "WARC File Format 1.1",
            "description": "tags and notes (warcache annotation records)"}
    records = []
    for a in annotations:
        body = json.dumps(a.to_json(), ensure_ascii=False, sort_keys=True).encode("utf-8")
        records.append(PendingRecord("metadata", ANNOTATION_URN + a.url, now, payload=io.BytesIO(body),
                                     payload_length=len(body), content_type="application/json"))
    with WarcFileWriter(directory, info=info, prefix="warcache-annotation") as writer:
        writer.write_page(records)
        return writer.current_name
