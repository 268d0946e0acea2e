"""Checking a collection end to end without changing anything: `warcache verify`.

Why: an archive is only worth something if its bytes are still the ones captured, and its indexes
still lead to them. Disks flip bits, copies get cut short, files get moved by hand. This reads it all:

* every WARC/ARC file in `archive/`, record by record, checking each record's `WARC-Block-Digest` and
  `WARC-Payload-Digest` (warcio's digest check) and that the file reads to its end;
* every line of every CDXJ segment in `indexes/`: the file it names exists, a record starts at its
  offset, with its length, for its URL; and the segments are sorted (replay's binary search needs it);
* every entry of `indexes/pages.jsonl`: the WARC exists and the page's own records (page, DOM and
  screenshot records of warcache captures; the response of other tools' pages) are where it says;
* WARC files with captures that no index line points into (replay would never find them), and in
  indexed files, each record the URL index should name but does not, and each page record that
  `pages.jsonl` does not list (a run killed between writing a page and indexing it); page records
  of failed captures, which are never listed (`is_page_record`), are left out of that check;
* `.open` files: a capture still being written (its writer holds a lock) is only noted and not read;
  one left by a killed run is a problem (the next `warcache add` recovers it).

Each problem names the file (relative to the collection) and the byte offset of the record, or the
line of the index file, it is about. Nothing is written, moved or locked exclusively.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from warcache.collection import Collection
from warcache.errors import ArchiveError
from warcache.index.cdxj import CdxjIndex, CdxjLine, line_for
from warcache.index.postprocess import is_page_record
from warcache.pagelist import PageEntry
from warcache.warc.reader import ARCHIVE_SUFFIXES, OPEN_SUFFIX, WarcReader
from warcache.warc.writer import DOM_URN, MEDIA_URN, PAGE_URN, PDF_URN, SCREENSHOT_URN, TEXT_URN

_SPAN_URNS = {"page": PAGE_URN, "dom": DOM_URN, "screenshot": SCREENSHOT_URN, "pdf": PDF_URN,
              "media": MEDIA_URN, "text": TEXT_URN}
_CAPTURE_TYPES = ("response", "revisit", "resource")


@dataclass(frozen=True)
class Problem:
    """Something wrong, where it is: `file` relative to the collection, and a byte `offset` into it
    (a record) or a `line` of it (an index file), when the problem has one."""

    file: str
    message: str
    offset: int | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.offset is not None:
            where += f" byte {self.offset}"
        if self.line is not None:
            where += f" line {self.line}"
        return f"{where}: {self.message}"


@dataclass
class VerifyReport:
    collection: str
    files: int = 0  # archive files read
    records: int = 0
    digests_checked: int = 0  # records that carried a digest and had it checked
    index_lines: int = 0
    pages: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # worth knowing, not wrong

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        state = "OK" if self.ok else f"{len(self.problems)} problems"
        return (f"{self.collection}: {self.files} WARC files, {self.records} records "
                f"({self.digests_checked} digests checked), {self.index_lines} index lines, "
                f"{self.pages} pages: {state}")


@dataclass(frozen=True)
class _Rec:
    uri: str
    rec_type: str
    length: int


@dataclass
class _Archive:
    """What reading the archive directory found, for the index checks."""

    records: dict[str, dict[int, _Rec]] = field(default_factory=dict)  # file name -> offset -> record
    in_progress: set[str] = field(default_factory=set)  # final names of files still being written
    leftovers: set[str] = field(default_factory=set)  # final names of `.open` files of killed runs
    present: set[str] = field(default_factory=set)  # every file name in archive/ (final names)
    referenced: set[str] = field(default_factory=set)  # files some index line points into
    indexable: dict[str, set[int]] = field(default_factory=dict)  # file -> offsets the URL index should name
    page_records: dict[str, dict[int, str]] = field(default_factory=dict)  # file -> offset -> page URL
    indexed: set[tuple[str, int]] = field(default_factory=set)  # (file, offset) of every index line
    listed: set[tuple[str, int]] = field(default_factory=set)  # (file, page offset) in pages.jsonl
    faulty: set[str] = field(default_factory=set)  # files some index line points into wrongly


def _being_written(path: Path) -> bool:
    """True if a live writer holds the file's lock (a shared lock cannot be had then)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return True  # renamed by its writer just now
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _read_archive_file(path: Path, name: str, found: _Archive, report: VerifyReport) -> None:
    rel = f"archive/{path.name}"
    try:
        reader = WarcReader(path, check_digests=True)
    except ArchiveError as exc:
        report.problems.append(Problem(rel, str(exc).removeprefix(f"{path}: ")))
        return
    report.files += 1
    recs = found.records.setdefault(name, {})
    unseekable_from: int | None = None
    doms: dict[str, bytes] = {}  # DOM records waiting for their page record
    for item in reader:
        report.records += 1
        uri = item.target_uri or ""
        checker = getattr(item.record, "digest_checker", None)
        if item.digest_ok is not None:
            report.digests_checked += 1
        if item.digest_ok is False and checker is not None:
            at = item.offset if item.seekable else item.member_offset
            for message in checker.problems or ["digest mismatch"]:
                report.problems.append(Problem(rel, f"{item.rec_type} record of {uri}: {message}", offset=at))
        if item.seekable:
            recs[item.offset] = _Rec(uri, item.rec_type, item.length)
            if (not item.truncated and not item.record.rec_headers.get_header("WARC-Truncated")
                    and line_for(item, name) is not None):
                found.indexable.setdefault(name, set()).add(item.offset)
            if item.rec_type == "resource" and uri.startswith(DOM_URN):
                doms[uri[len(DOM_URN):]] = _payload(item, 4096)
            if item.rec_type == "metadata" and uri.startswith(PAGE_URN):
                url = uri[len(PAGE_URN):]
                if is_page_record(_json(_payload(item, 1 << 20)), doms.pop(url, None)):
                    found.page_records.setdefault(name, {})[item.offset] = url
        elif unseekable_from is None:
            unseekable_from = item.member_offset
        with contextlib.suppress(Exception):
            item.record.raw_stream.close()
    if unseekable_from is not None:
        report.notes.append(f"{rel}: from byte {unseekable_from} on, gzip members hold several records, "
                            "so replay cannot seek to them (`warcio recompress` fixes that)")
    if reader.stopped is not None:
        report.problems.append(Problem(rel, f"reading stopped: {reader.stopped.reason}",
                                       offset=reader.stopped.offset))


def _payload(item, limit: int) -> bytes:
    with contextlib.suppress(Exception):
        data = item.record.raw_stream.read(limit)
        item.record.raw_stream.seek(0)
        return data
    return b""


def _json(data: bytes) -> dict:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def _read_archive(coll: Collection, report: VerifyReport) -> _Archive:
    found = _Archive()
    for path in sorted(coll.archive_dir.iterdir()):
        rel = f"archive/{path.name}"
        if not path.is_file():
            report.notes.append(f"{rel}: not a file, ignored")
            continue
        if path.name.endswith(OPEN_SUFFIX):
            name = path.name.removesuffix(OPEN_SUFFIX)
            found.present.add(name)
            if _being_written(path):
                found.in_progress.add(name)
                report.notes.append(f"{rel}: a capture is writing it now; not checked")
                continue
            report.problems.append(Problem(rel, "left by a capture that was interrupted; the next "
                                                "`warcache add` recovers its complete pages"))
            found.leftovers.add(name)
            if (coll.archive_dir / name).exists():
                continue
            _read_archive_file(path, name, found, report)
        elif path.name.endswith(ARCHIVE_SUFFIXES):
            found.present.add(path.name)
            _read_archive_file(path, path.name, found, report)
        else:
            report.notes.append(f"{rel}: not a WARC or ARC file name, ignored (replay ignores it too)")
    return found


class _Missing:
    """References to archive files that do not exist: one problem per missing file, at its first mention."""

    def __init__(self) -> None:
        self.refs: dict[str, tuple[str, int, int]] = {}  # file name -> (index file, first line, count)

    def add(self, index_file: str, filename: str, line: int) -> None:
        first_file, first_line, count = self.refs.get(filename, (index_file, line, 0))
        self.refs[filename] = (first_file, first_line, count + 1)

    def problems(self, what: str) -> Iterator[Problem]:
        for filename, (index_file, line, count) in self.refs.items():
            message = f"{count} {what} point at archive/{filename}, which does not exist"
            yield Problem(index_file, message, line=line)


def _check_index(coll: Collection, found: _Archive, report: VerifyReport) -> None:
    index = CdxjIndex(coll.indexes_dir)
    try:
        segments = index.segments()
        for seg in index.check_sorted():
            report.problems.append(Problem(f"indexes/{seg.name}", "lines not sorted: lookups miss captures"))
    finally:
        index.close()
    missing = _Missing()
    seen: set[tuple[str, int, str, int]] = set()
    for seg in segments:
        rel = f"indexes/{seg.name}"
        try:
            fh = open(seg, "rb")
        except OSError as exc:
            report.problems.append(Problem(rel, f"cannot read: {exc.strerror or exc}"))
            continue
        with fh:
            for n, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                try:
                    line = CdxjLine.parse(raw)
                except ArchiveError as exc:
                    report.problems.append(Problem(rel, str(exc), line=n))
                    continue
                key = (line.filename, line.offset, line.url, line.length)
                if key in seen:  # the same line in two segments (a merge in progress) is fine
                    continue
                seen.add(key)
                report.index_lines += 1
                found.referenced.add(line.filename)
                found.indexed.add((line.filename, line.offset))
                problem = _check_line(line, found, rel, n, missing)
                if problem:
                    report.problems.append(problem)
                    found.faulty.add(line.filename)
    report.problems.extend(missing.problems("index lines"))


def _check_line(line: CdxjLine, found: _Archive, rel: str, n: int, missing: _Missing) -> Problem | None:
    if line.filename in found.in_progress:
        return None
    recs = found.records.get(line.filename)
    if recs is None:
        if line.filename not in found.present:
            missing.add(rel, line.filename, n)
        return None  # present but unreadable: reported with the file
    where = f"archive/{line.filename}"
    rec = recs.get(line.offset)
    if rec is None:
        return Problem(rel, f"{line.url}: no record starts at byte {line.offset} of {where}", line=n)
    if rec.uri != line.url:
        return Problem(rel, f"{line.url}: the record at byte {line.offset} of {where} is for {rec.uri}",
                       line=n)
    if rec.length != line.length:
        return Problem(rel, f"{line.url}: the record at byte {line.offset} of {where} is {rec.length} bytes "
                            f"long, the index says {line.length}", line=n)
    return None


def _check_pages(coll: Collection, found: _Archive, report: VerifyReport) -> None:
    path = coll.pages_path
    rel = "indexes/pages.jsonl"
    try:
        fh = open(path, encoding="utf-8", errors="replace")
    except FileNotFoundError:
        if any(found.records.values()):
            report.notes.append(f"{rel} does not exist: `warcache index --rebuild` makes it")
        return
    missing = _Missing()
    with fh:
        for n, text in enumerate(fh, 1):
            if not text.strip():
                continue
            entry = PageEntry.from_line(text)
            if entry is None:
                report.problems.append(Problem(rel, "not a page entry (torn or edited line)", line=n))
                continue
            url, warc, spans, offset = entry.url, entry.warc, entry.records, entry.offset
            report.pages += 1
            found.referenced.add(warc)
            found.listed.add((warc, offset))
            if warc in found.in_progress:
                continue
            recs = found.records.get(warc)
            if recs is None:
                if warc not in found.present:
                    missing.add(rel, warc, n)
                continue
            for problem in _page_problems(url, warc, spans, offset, recs):
                report.problems.append(Problem(rel, problem, line=n))
    report.problems.extend(missing.problems("page entries"))


def _page_problems(url: str, warc: str, spans: dict[str, tuple[int, int]], offset: int,
                   recs: dict[int, _Rec]) -> Iterator[str]:
    where = f"archive/{warc}"
    wanted: list[tuple[int, int | None, str | None]] = [(offset, None, url)] if not spans else []
    page = spans.get("page")
    if page and page[0] != offset:
        yield f"{url}: offset {offset} is not where its page record is ({page[0]})"
    for kind, (at, length) in spans.items():
        urn = _SPAN_URNS.get(kind)
        wanted.append((at, length, urn + url if urn else None))
    for at, length, uri in wanted:
        rec = recs.get(at)
        if rec is None:
            yield f"{url}: no record starts at byte {at} of {where}"
        elif uri is not None and rec.uri != uri:
            yield f"{url}: the record at byte {at} of {where} is for {rec.uri}, not {uri}"
        elif length is not None and rec.length != length:
            yield f"{url}: the record at byte {at} of {where} is {rec.length} bytes long, not {length}"


def _check_unindexed(found: _Archive, report: VerifyReport) -> None:
    for name, recs in sorted(found.records.items()):
        if name in found.referenced or name in found.leftovers:
            continue
        if any(r.rec_type in _CAPTURE_TYPES for r in recs.values()):
            report.problems.append(Problem(f"archive/{name}", "no index line points into it: replay and "
                                                             "search miss it (run `warcache index`)"))


def _check_complete(found: _Archive, report: VerifyReport, *, pages_listed: bool) -> None:
    """Records of indexed files that the URL index, or pages.jsonl, does not know (a run killed
    between writing a page and indexing it leaves such a page; replay and search miss it)."""
    for name in sorted(found.referenced):
        if name in found.in_progress or name in found.leftovers or name not in found.records:
            continue
        rel = f"archive/{name}"
        missing = sorted(o for o in found.indexable.get(name, ()) if (name, o) not in found.indexed)
        if missing and name not in found.faulty:  # a wrong line is reported once, as itself
            report.problems.append(Problem(
                rel, f"{len(missing)} records have no URL index line, from this one on: replay cannot "
                     "find them (run `warcache index --rebuild`)", offset=missing[0]))
        if not pages_listed:
            continue
        for offset, url in sorted(found.page_records.get(name, {}).items()):
            if (name, offset) not in found.listed:
                report.problems.append(Problem(rel, f"the page record of {url} is not in indexes/pages.jsonl "
                                                    "(run `warcache index --rebuild`)", offset=offset))


def verify_collection(coll: Collection) -> VerifyReport:
    """Check every record, digest and index entry of a collection; see the module docstring."""
    report = VerifyReport(coll.name)
    if not coll.archive_dir.is_dir():
        report.problems.append(Problem("archive", "the archive directory is missing"))
        return report
    found = _read_archive(coll, report)
    if coll.indexes_dir.is_dir():
        _check_index(coll, found, report)
        _check_pages(coll, found, report)
    _check_unindexed(found, report)
    _check_complete(found, report, pages_listed=coll.pages_path.exists())
    return report
