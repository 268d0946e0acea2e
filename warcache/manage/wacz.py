"""Packaging a collection as one WACZ file (Web Archive Collection Zipped, version 1.1.1).

Why: a WACZ is the web archive format that opens by itself: ReplayWeb.page and other players load it
from a disk or a static web server, so a collection can be handed to someone who has no warcache.

    archive/<name>.warc.gz    the collection's WARC files as they are (ZIP "stored": players read
                              records by byte range, which a deflated member would not allow)
    indexes/index.cdxj        one sorted CDXJ index of all of them (pywb's format, as the
                              collection keeps it, with `filename` relative to archive/)
    pages/pages.jsonl         the captured pages: a header line, then one line per capture
    datapackage.json          every file above with its size and sha256 (Frictionless Data Package)
    datapackage-digest.json   the sha256 of datapackage.json

The URL index is the collection's own (all segments merged; its lines already sorted); a WARC in the
archive that the index does not cover yet (imported and not indexed) is indexed on the fly, so the
package is complete either way. One difference: the lines of 206 pieces of a URL whose whole response
is packaged too are left out (their records stay in the WARCs), because ReplayWeb.page 2.5.3 answers
such a URL with 404, media and byte ranges alike, until they are (measured with
scripts/compare_replay.py). ARC files and `.open` files (captures being written) are left out, with
the index lines and pages that point into them. The WACZ is written next to its destination under a
temporary name and renamed in place when complete.

With `redact` (`export wacz --redact`), the package holds redacted copies instead of the WARCs
themselves (warc/redact.py): the values of Cookie and Authorization request headers and of Set-Cookie
response headers are blanked, block digests recomputed, payloads and their digests unchanged. The
copies are made one at a time next to the destination (never in the collection, whose WARCs are only
read), and the package's index is built from the copies, whose offsets differ. What the pages showed
(the DOM, the screenshot, the bodies) is the capture and stays.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from warcache import __version__, timestamps
from warcache.collection import Collection, open_collection
from warcache.errors import ArchiveError, UsageError
from warcache.index.cdxj import CdxjIndex, index_warc
from warcache.urls import hash_url
from warcache.warc.redact import redact_warc

WACZ_VERSION = "1.1.1"
PAGES_FORMAT = "json-pages-1.0"
_COPY = 1024 * 1024
_NAME_CHARS = re.compile(r"[^-a-z0-9._/]")


@dataclass
class WaczReport:
    path: Path
    warcs: list[str] = field(default_factory=list)
    index_lines: int = 0
    pages: int = 0
    bytes: int = 0
    left_out: list[str] = field(default_factory=list)  # archive files not packaged
    warnings: list[str] = field(default_factory=list)
    redacted: bool = False
    redacted_records: int = 0  # records whose secret header values were blanked


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _resource_name(path: str, taken: set[str]) -> str:
    """A Data Package resource name (lower-case letters, digits, `-._/`), unique in the package."""
    base = _NAME_CHARS.sub("-", path.rsplit("/", 1)[-1].lower()) or "file"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    taken.add(name)
    return name


class _Package:
    """A ZIP being filled, remembering each member's size and sha256 for datapackage.json."""

    def __init__(self, zf: zipfile.ZipFile) -> None:
        self.zf = zf
        self.resources: list[dict] = []
        self._names: set[str] = set()

    def _record(self, arcname: str, size: int, digest: str) -> None:
        self.resources.append({"name": _resource_name(arcname, self._names), "path": arcname,
                               "hash": f"sha256:{digest}", "bytes": size})

    def add_file(self, path: Path, arcname: str) -> int:
        """Copy a file in, stored (not deflated), hashing it on the way."""
        size = path.stat().st_size
        info = zipfile.ZipInfo.from_file(path, arcname)
        info.compress_type = zipfile.ZIP_STORED
        sha = hashlib.sha256()
        copied = 0
        with open(path, "rb") as src, self.zf.open(info, "w", force_zip64=size > 0x7FFFFFFF) as out:
            for block in iter(lambda: src.read(_COPY), b""):
                sha.update(block)
                out.write(block)
                copied += len(block)
        self._record(arcname, copied, sha.hexdigest())
        return copied

    def add_bytes(self, arcname: str, data: bytes, *, listed: bool = True) -> None:
        info = zipfile.ZipInfo(arcname, datetime.now(UTC).timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        self.zf.writestr(info, data)
        if listed:
            self._record(arcname, len(data), hashlib.sha256(data).hexdigest())


def _index_lines(coll: Collection, names: set[str], report: WaczReport) -> list[bytes]:
    """Sorted CDXJ lines for exactly the packaged files: the collection's index, completed on the fly."""
    lines: set[bytes] = set()
    covered: set[str] = set()
    with CdxjIndex(coll.indexes_dir) as index:
        for line in index:
            if line.filename in names:
                lines.add(str(line).encode("utf-8"))
                covered.add(line.filename)
    for name in sorted(names - covered):
        try:
            result = index_warc(coll.archive_dir / name, name)
        except ArchiveError as exc:
            report.warnings.append(str(exc))
            continue
        if result.stopped is not None:
            report.warnings.append(f"{name}: indexing stopped at byte {result.stopped.offset} "
                                   f"({result.stopped.reason})")
        lines.update(str(line).encode("utf-8") for line in result.lines)
    return _without_pieces_of_whole(sorted(lines))


def _without_pieces_of_whole(lines: list[bytes]) -> list[bytes]:
    """Sorted lines without those of 206 pieces of a URL that also has a whole (200) capture.

    The lines are `str(CdxjLine)`, so the status is written one way: `"status": "206"`.
    """
    pieces = [line for line in lines if b'"status": "206"' in line]
    if not pieces:
        return lines
    whole = {line.partition(b" ")[0] for line in lines if b'"status": "200"' in line}
    dropped = {line for line in pieces if line.partition(b" ")[0] in whole}
    return [line for line in lines if line not in dropped]


def _pages_jsonl(coll: Collection, names: set[str], title: str) -> tuple[bytes, int]:
    header = {"format": PAGES_FORMAT, "id": "pages", "title": title}
    out = [json.dumps(header, ensure_ascii=False)]
    entries = [e for e in coll.pages() if e.warc in names]
    entries.sort(key=lambda e: (e.timestamp, e.url))
    for e in entries:
        # Two captures of a URL can share a second (parallel captures): the record's place is unique.
        page_id = hash_url(f"{e.warc}#{e.offset}/{e.url}")
        page = {"id": page_id, "url": e.url, "ts": timestamps.to_iso(e.timestamp), "title": e.title or e.url}
        out.append(json.dumps(page, ensure_ascii=False))
    return ("\n".join(out) + "\n").encode("utf-8"), len(entries)


def _add_redacted(package: _Package, files: list[Path], workdir: Path, report: WaczReport) -> list[bytes]:
    """Add a redacted copy of each WARC (made next to the package, never in the collection) and
    return the index of the copies: a redacted record is shorter, so every offset after it moves."""
    lines: set[bytes] = set()
    with tempfile.TemporaryDirectory(prefix=".warcache-redact-", dir=workdir) as scratch:
        for path in files:
            copy = Path(scratch) / path.name
            try:
                result = redact_warc(path, copy)
            except ArchiveError as exc:
                report.left_out.append(path.name)
                report.warnings.append(f"left out of the redacted package: {exc}")
                continue
            if result.dropped_tail:
                report.warnings.append(f"{path.name}: its unreadable end ({result.dropped_tail}) was left "
                                       "out of the redacted copy")
            report.redacted_records += result.redacted
            indexed = index_warc(copy, path.name)
            lines.update(str(line).encode("utf-8") for line in indexed.lines)
            package.add_file(copy, f"archive/{path.name}")
            report.warcs.append(path.name)
            copy.unlink()
    return sorted(lines)


def _destination(dest_file: str | os.PathLike[str], coll: Collection) -> Path:
    dest = Path(dest_file).expanduser()
    if dest.is_dir():
        dest = dest / f"{coll.name}.wacz"
    if dest.suffix.lower() != ".wacz":
        raise UsageError(f"{dest}: a WACZ file name must end in .wacz")
    if not dest.parent.is_dir():
        raise UsageError(f"{dest.parent} is not a directory")
    return dest


def write_wacz(coll: Collection, dest_file: str | os.PathLike[str], *, redact: bool = False) -> WaczReport:
    """Package `coll` as a WACZ at `dest_file` (or `<dest_file>/<collection>.wacz` for a directory).
    With `redact`, the package holds redacted copies of the WARCs (see the module docstring)."""
    dest = _destination(dest_file, coll)
    report = WaczReport(path=dest, redacted=redact)
    files = []
    for path in coll.warc_files():
        if path.name.endswith((".warc", ".warc.gz")):
            files.append(path)
        else:
            report.left_out.append(path.name)
    if not files:
        raise UsageError(f"collection {coll.name!r} has no WARC files to package")
    report.left_out += sorted(p.name for p in coll.archive_dir.iterdir() if p.name.endswith(".open"))
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    try:
        with zipfile.ZipFile(tmp, "w", allowZip64=True) as zf:
            package = _Package(zf)
            if redact:
                lines = _add_redacted(package, files, dest.parent, report)
            else:
                for path in files:
                    package.add_file(path, f"archive/{path.name}")
                    report.warcs.append(path.name)
                lines = _index_lines(coll, set(report.warcs), report)
            names = set(report.warcs)
            package.add_bytes("indexes/index.cdxj", b"".join(line + b"\n" for line in lines))
            report.index_lines = len(lines)
            pages, report.pages = _pages_jsonl(coll, names, f"{coll.name}: all pages")
            package.add_bytes("pages/pages.jsonl", pages)
            datapackage = {
                "profile": "data-package",
                "wacz_version": WACZ_VERSION,
                "title": coll.name,
                "created": _now(),
                "software": f"warcache {__version__}",
                "resources": package.resources,
            }
            data = json.dumps(datapackage, indent=2, ensure_ascii=False).encode("utf-8")
            package.add_bytes("datapackage.json", data, listed=False)
            digest = {"path": "datapackage.json", "hash": "sha256:" + hashlib.sha256(data).hexdigest()}
            package.add_bytes("datapackage-digest.json", json.dumps(digest, indent=2).encode("utf-8"),
                              listed=False)
        os.replace(tmp, dest)
    except OSError as exc:
        raise UsageError(f"cannot write {dest}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    report.bytes = dest.stat().st_size
    return report


def export_wacz(root: str | os.PathLike[str], collection: str | Collection,
                dest_file: str | os.PathLike[str], *, redact: bool = False) -> Path:
    """Package a collection as a WACZ file; returns its path (see `write_wacz` for the details)."""
    coll = collection if isinstance(collection, Collection) else open_collection(Path(root), collection)
    return write_wacz(coll, dest_file, redact=redact).path
