"""Reading WARC and ARC files robustly, on top of warcio's ArchiveIterator.

Size: just over 600 lines: reading WARC and ARC records from any tool, with every tolerance for
other tools' files, is one job.

warcache must read its own captures and files made by other tools (wget, pywb, browsertrix,
warcprox, Heritrix, Common Crawl), including damaged ones: a capture cut short by a crash, a
file with a wrong Content-Length, a gzip file that is not record-per-member.  warcio is the
only parser here; this module adds what a long-lived archive needs around it:

* every readable record is yielded, then reading stops with a `ReadStop` naming the file,
  the byte offset and the reason -- never a warcio traceback, never a hang;
* each record is read to its end before it is handed out (spooled to memory or a temporary
  file), so its offset, length, truncation and digest check are known up front, and the
  record stays readable after the iterator moves on;
* a file that is not an archive at all (a web page, a licence text, random bytes, an empty
  file, a directory) is refused with one line instead of being "parsed" as ARC records,
  which warcio would otherwise happily do with any text whose lines have five words;
* gzip files that hold several records in one member are still read (as one decompressed
  stream) but flagged as not seekable, because replay cannot jump into them.

warcio prints some diagnostics straight to stderr (bad Content-Length, broken deflate
data, spaces in URIs); they are collected into `WarcReader.warnings` instead.  That uses
`contextlib.redirect_stderr`, which is process-wide: read archives from one thread at a time
if other threads write to stderr.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import re
import stat
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from warcio.archiveiterator import ArchiveIterator
from warcio.limitreader import LimitReader
from warcio.recordloader import ArcWarcRecord

from warcache.collection import OPEN_SUFFIX
from warcache.errors import ArchiveError

ARCHIVE_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz")

# Records up to this size stay in memory while spooled; bigger ones go to a temporary file.
SPOOL_IN_MEMORY = 4 * 1024 * 1024
_COPY_BLOCK = 64 * 1024
_SNIFF_BYTES = 8192

# An ARC record header line: URL IP-address 14-digit-date mime length.
_ARC_LINE = re.compile(rb"^\S+ \S+ \d{14} \S+ \d+\s*$")


@dataclass(frozen=True)
class ReadStop:
    """Where and why reading a file stopped before its end (all records before were yielded)."""

    path: Path
    offset: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: reading stopped at byte {self.offset}: {self.reason}"


class ReadStopped(ArchiveError):
    """Raised by `iter_records` after the last readable record of a damaged file."""

    def __init__(self, stop: ReadStop) -> None:
        super().__init__(str(stop))
        self.stop = stop


@dataclass
class RecordAt:
    """One record and where it lies in its file.

    `offset`/`length` are the compressed bytes of the record's gzip member (or the record's
    bytes in an uncompressed file): what a CDXJ line needs so replay can seek to it.  When
    `seekable` is False the record came from a gzip member holding several records; then
    `offset`/`length` are positions in the decompressed data of the gzip stream that starts at
    `member_offset`, and replay cannot seek to the record.
    """

    record: ArcWarcRecord
    offset: int
    length: int
    seekable: bool = True
    member_offset: int | None = None
    digest_ok: bool | None = None  # None: not checked, or no digest to check
    truncated: int = 0  # content bytes missing at the end of the file (then reading stops)

    @property
    def rec_type(self) -> str:
        return self.record.rec_type

    @property
    def target_uri(self) -> str | None:
        return self.record.rec_headers.get_header("WARC-Target-URI")


class _StopReading(Exception):
    """Internal: reading cannot go on at `offset`."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(reason)
        self.offset = offset
        self.reason = reason


class _NotChunked(Exception):
    """Internal: the gzip member at `offset` holds more than one record."""

    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.offset = offset


def is_archive_name(name: str) -> bool:
    """True for a finished archive file name; `.open` files are still being written."""
    return name.endswith(ARCHIVE_SUFFIXES)


def list_archive_files(directory: str | os.PathLike[str]) -> list[Path]:
    """The finished WARC/ARC files in `directory`, sorted by name (`.open` ones left out)."""
    base = Path(directory)
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if is_archive_name(p.name) and p.is_file())


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _reason(exc: BaseException) -> str:
    """A one-line reason from any exception warcio or zlib may raise."""
    msg = _one_line(str(exc))
    name = type(exc).__name__
    return f"{name}: {msg}" if msg else name


@contextlib.contextmanager
def _collect_stderr(sink: list[str]) -> Iterator[io.StringIO]:
    """Keep warcio's direct stderr writes out of the user's terminal, as warnings."""
    buf = io.StringIO()
    try:
        with contextlib.redirect_stderr(buf):
            yield buf
    finally:
        text = buf.getvalue().strip()
        if text:
            sink.append(_one_line(text, 500))


def _gzip_error(text: str) -> str | None:
    """warcio reports broken deflate data only on stderr, then reads on: catch it there."""
    for line in text.splitlines():
        if "while decompressing" in line:
            return _one_line(line)
    return None


def _header_problem(record: ArcWarcRecord) -> str | None:
    """Why a parsed record cannot be a real one (garbage that happened to start with WARC/)."""
    if not record.rec_type:
        return "record has no WARC-Type"
    if record.length is None:
        return "record has no Content-Length"
    return None


def _check_regular_file(path: Path) -> os.stat_result:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ArchiveError(f"{path}: no such file") from None
    except OSError as exc:
        raise ArchiveError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ArchiveError(f"{path}: is a directory, not a WARC/ARC file")
    if not stat.S_ISREG(st.st_mode):
        # A FIFO or device could block forever or never end.
        raise ArchiveError(f"{path}: not a regular file, not a WARC/ARC file")
    if st.st_size == 0:
        raise ArchiveError(f"{path}: empty file, not a WARC/ARC file")
    return st


def sniff_format(path: str | os.PathLike[str]) -> tuple[str, bool]:
    """Return (`"warc"` or `"arc"`, gzip-compressed?) or raise ArchiveError naming the file.

    Looks only at the first bytes, so it is cheap enough to run before every read.
    """
    p = Path(path)
    _check_regular_file(p)
    try:
        with open(p, "rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError as exc:
        raise ArchiveError(f"{p}: cannot read: {exc.strerror or exc}") from None
    compressed = head[:2] == b"\x1f\x8b"
    if compressed:
        try:
            text = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, _SNIFF_BYTES)
        except zlib.error as exc:
            raise ArchiveError(f"{p}: broken gzip data at the start of the file ({exc})") from None
    else:
        text = head
    text = text.lstrip(b"\r\n")
    first_line = text.split(b"\n", 1)[0]
    if text.startswith(b"WARC/"):
        return "warc", compressed
    if text.startswith(b"filedesc://") or _ARC_LINE.match(first_line):
        return "arc", compressed
    if not text and compressed:
        raise ArchiveError(f"{p}: gzip file with no data at its start, not a WARC/ARC file")
    shown = _one_line(first_line[:40].decode("utf-8", "replace"), 60)
    kind = "gzip data" if compressed else "file"
    raise ArchiveError(f"{p}: not a WARC or ARC file ({kind} starts with {shown!r})")


class _DiskSpool:
    """A big record's bytes in an (already unlinked) temporary file.

    Its lifetime is the record's, which the caller holds without knowing it should close
    anything, so it closes itself quietly when dropped.
    """

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()/__del__

    def __getattr__(self, name: str) -> object:
        return getattr(self._file, name)

    def close(self) -> None:
        self._file.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._file.close()


def _spool(stream: IO[bytes] | LimitReader) -> IO[bytes]:
    """Copy the rest of a record stream to a seekable buffer (memory, or disk when large)."""
    spool: IO[bytes] | _DiskSpool = io.BytesIO()
    size = 0
    while True:
        block = stream.read(_COPY_BLOCK)
        if not block:
            break
        size += len(block)
        if size > SPOOL_IN_MEMORY and isinstance(spool, io.BytesIO):
            disk = _DiskSpool()
            disk.write(spool.getvalue())
            spool = disk
        spool.write(block)
    spool.seek(0)
    return spool  # type: ignore[return-value]


def _truncated_by(record: ArcWarcRecord) -> int:
    """How many declared content bytes were missing after reading the record to its end."""
    stream = record.raw_stream
    if isinstance(stream, LimitReader):
        return max(stream.limit, 0)
    return 0


def _truncated_reason(missing: int) -> str:
    return f"record truncated: the file ends {missing} bytes before the end of its content"


def _digest_result(record: ArcWarcRecord, checked: bool) -> bool | None:
    checker = getattr(record, "digest_checker", None)
    if not checked or checker is None:
        return None
    return checker.passed


class _SafeGzip:
    """A decompressed view of a gzip stream that reports, instead of raises, a broken end.

    warcio reads `EOFError` as "no more records", so a truncated gzip stream would end
    reading silently; here the error is kept for the caller to report.
    """

    def __init__(self, fh: IO[bytes]) -> None:
        self._gz = gzip.GzipFile(fileobj=fh, mode="rb")
        self.error: BaseException | None = None

    def read(self, size: int = -1) -> bytes:
        if self.error is not None:
            return b""
        try:
            # read1: one decompression step at a time, so the data decoded before a broken
            # end is still handed out (read() would drop it along with the exception).
            return self._gz.read1(size)
        except (EOFError, OSError, zlib.error) as exc:
            self.error = exc
            return b""

    def tell(self) -> int:
        return self._gz.tell()

    def close(self) -> None:
        self._gz.close()


class WarcReader:
    """Iterate over the records of one WARC/ARC file; afterwards `stopped` tells if it ended early.

    Construction checks that the file is an archive (raising ArchiveError otherwise), so a
    directory listing can be filtered before any record is read.
    """

    def __init__(self, path: str | os.PathLike[str], *, check_digests: bool = False) -> None:
        self.path = Path(path)
        self.format, self.compressed = sniff_format(self.path)
        self.check_digests = check_digests
        self.stopped: ReadStop | None = None
        self.warnings: list[str] = []
        self.records_read = 0
        self.not_chunked_at: int | None = None  # member offset where record-per-member ended

    def __iter__(self) -> Iterator[RecordAt]:
        self.stopped = None
        self.records_read = 0
        self.not_chunked_at = None
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - closed in the finally below
        except OSError as exc:
            self.stopped = ReadStop(self.path, 0, f"cannot open: {exc.strerror or exc}")
            return
        try:
            yield from self._iter_members(fh)
        finally:
            fh.close()

    # -- record-per-member files (and uncompressed ones) ---------------------------------
    def _new_iterator(self, fh: IO[bytes] | _SafeGzip) -> ArchiveIterator:
        it = ArchiveIterator(fh, arc2warc=True, check_digests=self.check_digests)
        # Parse only as the sniffed format: otherwise any 5-word text line "is" an ARC record.
        it.known_format = self.format
        return it

    def _iter_members(self, fh: IO[bytes]) -> Iterator[RecordAt]:
        with _collect_stderr(self.warnings):
            it = self._new_iterator(fh)
        last_offset = -1
        while True:
            try:
                item = self._next(it, seekable=True)
            except _StopReading as stop:
                self.stopped = ReadStop(self.path, stop.offset, stop.reason)
                return
            except _NotChunked as nc:
                self.not_chunked_at = nc.offset
                yield from self._iter_decompressed(fh, nc.offset)
                return
            if item is None:
                self._check_end(it)
                return
            if item.offset <= last_offset:
                self.stopped = ReadStop(self.path, item.offset, "no progress (record offset repeats)")
                return
            last_offset = item.offset
            self.records_read += 1
            yield item
            if item.truncated:
                self.stopped = ReadStop(self.path, item.offset, _truncated_reason(item.truncated))
                return

    def _next(self, it: ArchiveIterator, *, seekable: bool) -> RecordAt | None:
        """Read the next record to its end, or None at a clean end of file."""
        start = it.offset
        with _collect_stderr(self.warnings) as err:
            try:
                record = next(it)
            except StopIteration:
                return None
            except Exception as exc:  # warcio raises many kinds; all mean "cannot go on here"
                raise _StopReading(start, _reason(exc)) from None
            problem = _header_problem(record)
            if problem:
                raise _StopReading(start, problem)
            try:
                spool = _spool(record.raw_stream)
                missing = _truncated_by(record)
                offset = it.get_record_offset()
                length = it.get_record_length()
            except Exception as exc:
                raise _StopReading(start, _reason(exc)) from None
            broken = _gzip_error(err.getvalue())
            if broken:
                spool.close()
                raise _StopReading(start, f"broken gzip data: {broken}")
        if seekable and self.compressed and self._member_overflows(it, offset, length, missing):
            spool.close()
            raise _NotChunked(offset)
        record.raw_stream = spool
        return RecordAt(
            record=record,
            offset=offset,
            length=length,
            seekable=seekable,
            digest_ok=_digest_result(record, self.check_digests),
            truncated=missing,
        )

    def _check_end(self, it: ArchiveIterator) -> None:
        """warcio ends quietly on a cut gzip member: bytes left over mean a damaged tail."""
        size = self._current_size()
        if it.offset < size:
            self.stopped = ReadStop(
                self.path,
                it.offset,
                f"the last {size - it.offset} bytes are not a readable record (truncated or damaged)",
            )

    def _member_overflows(self, it: ArchiveIterator, offset: int, length: int, missing: int) -> bool:
        """True if this record and its gzip member do not coincide (so the file is not chunked).

        Either the member goes on after the record (several records in one member), or the
        record goes on after its member (one record split over several members).
        """
        if it.reader is not None and it.reader.decompressor is not None and it.next_line:
            return True
        return bool(missing) and offset + max(length, 0) < self._current_size()

    def _current_size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    # -- gzip files whose members hold several records ------------------------------------
    def _iter_decompressed(self, fh: IO[bytes], member_offset: int) -> Iterator[RecordAt]:
        """Read from `member_offset` on as one decompressed stream (records not seekable)."""
        fh.seek(member_offset)
        gz = _SafeGzip(fh)
        with _collect_stderr(self.warnings):
            it = self._new_iterator(gz)
        last_offset = -1
        while True:
            try:
                item = self._next(it, seekable=False)
            except _StopReading as stop:
                where = f"byte {stop.offset} of the gzip data starting at byte {member_offset}"
                self.stopped = ReadStop(self.path, member_offset, f"{stop.reason} (at {where})")
                return
            if item is None:
                break
            if item.offset <= last_offset:
                self.stopped = ReadStop(self.path, member_offset, "no progress in decompressed data")
                return
            last_offset = item.offset
            item.member_offset = member_offset
            self.records_read += 1
            yield item
            if item.truncated:
                where = f"byte {item.offset} of the gzip data starting at byte {member_offset}"
                reason = f"{_truncated_reason(item.truncated)} (at {where})"
                if gz.error is not None:
                    reason += f": {_reason(gz.error)}"
                self.stopped = ReadStop(self.path, member_offset, reason)
                return
        if gz.error is not None:
            self.stopped = ReadStop(
                self.path,
                member_offset,
                f"gzip data after byte {member_offset} is broken: {_reason(gz.error)}",
            )


def iter_records(path: str | os.PathLike[str], *, check_digests: bool = False) -> Iterator[RecordAt]:
    """Yield every readable record of `path`; raise ReadStopped (an ArchiveError) if it ended early.

    Raises ArchiveError at once for something that is not a WARC/ARC file.
    """
    reader = WarcReader(path, check_digests=check_digests)
    yield from reader
    if reader.stopped is not None:
        raise ReadStopped(reader.stopped)


def resolve_archive_path(path: str | os.PathLike[str]) -> Path:
    """The file to open for `path`: the `.open` twin while a capture is still being written."""
    p = Path(path)
    if p.exists() or p.name.endswith(OPEN_SUFFIX):
        return p
    pending = p.with_name(p.name + OPEN_SUFFIX)
    if pending.exists():
        return pending
    # It may have been renamed from .open to its final name between the two checks.
    return p


def _open_archive(path: Path) -> tuple[Path, IO[bytes]]:
    """Open `path`, or its `.open` twin; a capture may be renamed to its final name meanwhile."""
    if path.name.endswith(OPEN_SUFFIX):
        candidates = [path, path.with_name(path.name.removesuffix(OPEN_SUFFIX))]
    else:
        candidates = [path, path.with_name(path.name + OPEN_SUFFIX), path]
    for candidate in candidates:
        try:
            return candidate, open(candidate, "rb")  # noqa: SIM115 - the caller closes it
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise ArchiveError(f"{candidate}: cannot read: {exc.strerror or exc}") from None
    raise ArchiveError(f"{path}: no such file")


def _format_from_name(path: Path) -> str:
    name = path.name.removesuffix(OPEN_SUFFIX)
    return "arc" if name.endswith((".arc", ".arc.gz")) else "warc"


def open_record_at(path: str | os.PathLike[str], offset: int, *,
                   parse_http: bool = True) -> tuple[IO[bytes], ArcWarcRecord]:
    """Open `path` and parse the headers of the record at byte `offset`; its body is read from the
    open file as the caller goes (a record can be a video), and the caller closes the file.
    With `parse_http=False` the HTTP head is not parsed: the body is the whole record block.

    Given a final name that does not exist (yet, or any more), the `NAME.open` twin is read: a
    capture being written, or closed between the index lookup and this call.
    """
    if offset < 0:
        raise ArchiveError(f"{path}: negative record offset {offset}")
    p, fh = _open_archive(Path(path))
    try:
        size = os.fstat(fh.fileno()).st_size
        if offset >= size:
            raise ArchiveError(f"{p}: no record at byte {offset} (file has {size} bytes)")
        fh.seek(offset)
        it = ArchiveIterator(fh, arc2warc=True, no_record_parse=not parse_http)
        it.known_format = _format_from_name(p)
        record = next(it)
        problem = _header_problem(record)
        if problem:
            raise ArchiveError(f"{p}: no readable record at byte {offset}: {problem}")
    except StopIteration:
        fh.close()
        raise ArchiveError(f"{p}: no record at byte {offset}") from None
    except ArchiveError:
        fh.close()
        raise
    except Exception as exc:  # warcio raises many kinds for a damaged file or a wrong offset
        fh.close()
        raise ArchiveError(f"{p}: no readable record at byte {offset}: {_reason(exc)}") from None
    return fh, record


def read_record_at(path: str | os.PathLike[str], offset: int, *, parse_http: bool = True) -> ArcWarcRecord:
    """Read the one record at byte `offset` of `path` (for gzip, just that member), whole.

    The record is read to its end and its content spooled, so the file is closed on return;
    a record cut short or with broken gzip data is an ArchiveError. `parse_http` as for
    `open_record_at`.
    """
    warnings: list[str] = []
    with _collect_stderr(warnings):
        fh, record = open_record_at(path, offset, parse_http=parse_http)
        with fh:
            try:
                spool = _spool(record.raw_stream)
            except Exception as exc:
                raise ArchiveError(f"{path}: no readable record at byte {offset}: {_reason(exc)}") from None
    broken = _gzip_error("\n".join(warnings))
    missing = _truncated_by(record)
    if broken or missing:
        spool.close()
        why = f"has broken gzip data: {broken}" if broken else f"is truncated ({missing} bytes missing)"
        raise ArchiveError(f"{path}: record at byte {offset} {why}")
    record.raw_stream = spool
    return record


@dataclass
class ReadSummary:
    """What reading a whole file gave: counts by record type, and where it stopped if it did."""

    path: Path
    counts: dict[str, int] = field(default_factory=dict)
    stopped: ReadStop | None = None
    seekable: bool = True


def summarize(path: str | os.PathLike[str]) -> ReadSummary:
    """Read a whole file and count its records (a health check; raises for non-archives)."""
    reader = WarcReader(path)
    summary = ReadSummary(Path(path))
    for item in reader:
        summary.counts[item.rec_type] = summary.counts.get(item.rec_type, 0) + 1
        summary.seekable = summary.seekable and item.seekable
    summary.stopped = reader.stopped
    return summary
