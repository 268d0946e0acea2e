"""Dealing with what a killed run left behind.

A run killed while writing leaves `NAME.warc.gz.open`. Its pages were written one after another,
each ending with its `metadata` page record and an fsync, and a page is only reported captured
after that. So the file is a run of complete pages, perhaps followed by an incomplete one. A
fidelity check is written the same way, as a group of records ending with its `metadata` check
record (after its page at capture time, or alone in a file `warcache check` writes): a complete
check counts as a complete unit too.

Recovery never edits that file. It copies the complete pages (whole gzip members, byte for byte)
to `NAME.warc.gz` under a temporary name, renames it into place, and moves the `.open` original to
`setaside/` for inspection. Offsets are unchanged, so whatever indexes already point into the file
stay right. A file whose writer is still alive (it holds a lock) is left alone.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from warcache.collection import Collection
from warcache.errors import ArchiveError
from warcache.warc.writer import CHECK_URN, OPEN_SUFFIX, PAGE_URN

#: Called with (a complete WARC file, the name it is indexed under) before recovery commits it:
#: brings the indexes up to date with its pages (see indexer.index_missing).
CatchUp = Callable[[Path, str], object]


@dataclass
class Recovered:
    """What recovery did with one leftover file."""

    open_name: str
    final_name: str | None  # None when nothing could be kept
    pages_kept: int
    bytes_kept: int
    set_aside: str | None  # where the original went (relative to the collection)
    error: str | None = None  # recovery could not finish (the leftover stays as it was)

    def describe(self) -> str:
        if self.error:
            return f"could not recover {self.open_name} yet ({self.error}); it is left as it was"
        if self.final_name and self.set_aside is None:
            return f"recovered {self.final_name} from an interrupted run ({self.pages_kept} pages)"
        kept = (f"kept {self.pages_kept} complete pages as {self.final_name}"
                if self.final_name else "no complete page in it")
        return (f"recovered {self.open_name} from an interrupted run: {kept}; "
                f"the original is set aside as {self.set_aside}")


def complete_prefix(path: Path) -> tuple[int, int]:
    """(bytes, pages): the length of the run of complete pages (and checks) at the start of an open
    WARC, and how many pages it holds."""
    good_end = 0
    pages = 0
    try:
        with open(path, "rb") as fh:
            it = ArchiveIterator(fh, no_record_parse=True)
            for record in it:
                uri = record.rec_headers.get_header("WARC-Target-URI") or ""
                is_page_end = record.rec_type == "metadata" and uri.startswith(PAGE_URN)
                is_check_end = record.rec_type == "metadata" and uri.startswith(CHECK_URN)
                record.raw_stream.read()  # consume the whole member so the offset is exact
                it.read_to_end(record)
                if is_page_end or is_check_end:
                    good_end = it.get_record_offset() + it.get_record_length()
                    pages += is_page_end
    except Exception:  # noqa: BLE001 - a torn tail ends the readable part, whatever warcio says
        pass
    return good_end, pages


def _is_locked(path: Path) -> bool:
    """True if a live writer holds the file's lock."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return True  # it was just closed and renamed by its writer
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases the lock if we got it
    return False


def being_written(path: Path) -> bool:
    """True if a live writer holds this `.open` file (a capture is writing it now)."""
    return _is_locked(path)


def recover_collection(coll: Collection, catch_up: CatchUp | None = None) -> list[Recovered]:
    """Recover every abandoned `.open` file of a collection. Returns what was done, for the user.

    `catch_up` indexes what the indexes lack of each file kept; it runs before the file is
    committed (renamed, or its original set aside), so a run killed during it does it again."""
    results = []
    if not coll.archive_dir.is_dir():
        return results
    for path in sorted(coll.archive_dir.glob("*" + OPEN_SUFFIX)):
        if _is_locked(path):
            continue
        try:
            results.append(recover_file(coll, path, catch_up))
        except (OSError, ArchiveError) as exc:  # a full disk, permissions, a busy index: next run
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            results.append(Recovered(path.name, None, 0, 0, None, error=reason))
    return results


def recover_file(coll: Collection, path: Path, catch_up: CatchUp | None = None) -> Recovered:
    final_name = path.name[: -len(OPEN_SUFFIX)]
    final = coll.archive_dir / final_name
    size = path.stat().st_size
    good_end, pages = complete_prefix(path)
    kept_name = None
    if final.exists():  # never overwrite a closed file
        if good_end and final.stat().st_size == good_end:
            # An earlier recovery of this very file was killed after writing the kept copy.
            if catch_up is not None:
                catch_up(final, final_name)
            kept_name = final_name
        else:
            good_end, pages = 0, 0
    elif good_end and good_end == size:
        if catch_up is not None:
            catch_up(path, final_name)
        os.rename(path, final)
        return Recovered(path.name, final_name, pages, good_end, None)
    elif good_end:
        tmp = coll.archive_dir / (final_name + ".recovering")
        try:
            _copy_prefix(path, tmp, good_end)
            if catch_up is not None:
                catch_up(tmp, final_name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.rename(tmp, final)
        kept_name = final_name
    coll.setaside_dir.mkdir(parents=True, exist_ok=True)
    target = coll.setaside_dir / path.name
    n = 1
    while target.exists():
        target = coll.setaside_dir / f"{path.name}.{n}"
        n += 1
    shutil.move(path, target)
    return Recovered(path.name, kept_name, pages, good_end,
                     str(target.relative_to(coll.path)))


def _copy_prefix(src_path: Path, dst_path: Path, length: int) -> None:
    with open(src_path, "rb") as src, open(dst_path, "wb") as dst:
        remaining = length
        while remaining:
            data = src.read(min(1 << 20, remaining))
            if not data:
                break
            dst.write(data)
            remaining -= len(data)
        dst.flush()
        os.fsync(dst.fileno())
