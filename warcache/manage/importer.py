"""`warcache import`: bring WARC/ARC files made by other tools into a collection.

Files are copied byte for byte (never modified: a WARC is the source of truth), under their own
name unless the collection already has a different file of that name. Then they are indexed like
warcache's own captures; a damaged file keeps every record that could be read.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from warcache.collection import Collection
from warcache.errors import ArchiveError
from warcache.index.postprocess import CollectionIndexReport, add_files
from warcache.warc.reader import WarcReader, is_archive_name


@dataclass
class ImportReport:
    imported: list[Path] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    index: CollectionIndexReport = field(default_factory=CollectionIndexReport)


def import_files(coll: Collection, sources: list[Path]) -> ImportReport:
    with coll.writing():  # not while `warcache forget` rewrites the collection
        return _import(coll, sources)


def _import(coll: Collection, sources: list[Path]) -> ImportReport:
    report = ImportReport()
    coll.create()
    for source in sources:
        try:
            target = _copy_in(coll, source)
        except ArchiveError as exc:
            report.failed.append(str(source))
            report.messages.append(f"error: {exc}")
            continue
        if target is None:
            report.messages.append(f"{source}: already in collection {coll.name!r}, skipped")
            continue
        report.imported.append(target)
    if report.imported:
        report.index = add_files(coll, report.imported)
        report.messages.extend(f"warning: {w}" for w in report.index.warnings)
    return report


def _copy_in(coll: Collection, source: Path) -> Path | None:
    """Copy one file into archive/; None if the very same file is already there."""
    if not source.exists():
        raise ArchiveError(f"{source}: no such file")
    if source.is_dir():
        raise ArchiveError(f"{source}: is a directory, not a WARC file")
    WarcReader(source)  # raises ArchiveError naming the file if it is not a WARC/ARC at all
    name = source.name if is_archive_name(source.name) else source.name + _suffix_for(source)
    target = coll.archive_dir / name
    stem, ext = _split_ext(name)
    n = 1
    while target.exists():
        if _same_file(source, target):
            return None
        target = coll.archive_dir / f"{stem}-{n}{ext}"
        n += 1
    tmp = coll.archive_dir / f".{target.name}.importing"
    try:
        shutil.copyfile(source, tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ArchiveError(f"{source}: cannot copy into the collection ({exc.strerror or exc})") from exc
    return target


def _suffix_for(source: Path) -> str:
    """A proper extension for an archive file named otherwise (e.g. `.warc.gz.bad`)."""
    with open(source, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    return ".warc.gz" if gz else ".warc"


def _split_ext(name: str) -> tuple[str, str]:
    for ext in (".warc.gz", ".arc.gz", ".warc", ".arc"):
        if name.endswith(ext):
            return name[: -len(ext)], ext
    return name, ""


def _same_file(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    return _sha256(a) == _sha256(b)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
