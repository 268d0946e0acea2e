"""The URL index on disk: sorted CDXJ segment files, appended to without rewriting, searched
by binary search.

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

import contextlib
import fcntl
import heapq
import mmap
import os
import secrets
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from warcache import timestamps
from warcache.errors import ArchiveError
from warcache.fsync import fsync_dir
from warcache.index.cdxj.build import IndexResult, default_filename, index_warc
from warcache.index.cdxj.line import CdxjLine, canonical_key, request_key
from warcache.warc.reader import ReadStop

SEGMENT_SUFFIX = ".cdxj"
LOCK_NAME = ".lock"
TMP_PREFIX = ".tmp-"
DEFAULT_MAX_SEGMENTS = 10


# ---------------------------------------------------------------------------------------
# Sorted files: binary search over an mmap
# ---------------------------------------------------------------------------------------
def first_at_least(buf: mmap.mmap | bytes, key: bytes) -> int:
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


def lines_with_prefix(buf: mmap.mmap | bytes, prefix: bytes) -> Iterator[bytes]:
    pos = first_at_least(buf, prefix)
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
    stamp = timestamps.now()
    return f"{stamp}-{time.time_ns() % 10**9:09d}-{os.getpid()}-{secrets.token_hex(3)}{SEGMENT_SUFFIX}"


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
            found.update(lines_with_prefix(seg.buf, key))
        return [CdxjLine.parse(line) for line in sorted(found)]

    def scan_key_prefix(self, prefixes: Sequence[str], limit: int) -> list[CdxjLine]:
        """Lines whose key starts with one of `prefixes`, at most `limit` of them per segment
        and prefix (in key order): bounded work however many captures a path has."""
        found: set[bytes] = set()
        for seg in self._views():
            for prefix in prefixes:
                for n, line in enumerate(lines_with_prefix(seg.buf, prefix.encode("utf-8"))):
                    if n >= limit:
                        break
                    found.add(line)
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
                fsync_dir(self.dir)
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
        fsync_dir(self.dir)
        for path in chosen:  # only after the merged file is in place: no line goes missing
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        fsync_dir(self.dir)
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
        lines.sort(key=lambda ln: (timestamps.distance(ln.timestamp, timestamp), ln.timestamp, str(ln)))
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
                fsync_dir(directory)
            for path in old:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            fsync_dir(directory)
        finally:
            for run in runs:
                with contextlib.suppress(FileNotFoundError):
                    run.unlink()
    return results
