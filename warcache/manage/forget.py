"""`warcache forget`: remove captures of a page from the archive, for good.

What a capture is. In a WARC warcache wrote, the records of one page are contiguous and end with
its `urn:warcache:page:` metadata record (warc/writer.py): each exchange (response or revisit,
and request; redirects included), then the screenshot, the rendered DOM and that page record.
Forgetting the capture removes the whole span, from the record after the previous page record
(or the file's warcinfo) to its page record, and any `urn:` metadata or resource record anywhere
in the collection that refers to a removed record (by WARC-Concurrent-To or WARC-Refers-To),
such as a note written about the capture later. A page of a WARC made by another tool is its
HTML response: that response, its request and `urn:` records about it (browsertrix's
`urn:pageinfo:`) are removed. The other resources that page loaded stay: nothing in such a file
says which page they belong to. When every capture of the URL goes (no `--at`), so do those the
page list never showed: warcache's failed attempts at it (kept as evidence, with a page record
that says `ok: false`), in other tools' files every other record of the URL (a crawler's
later visits, stored as revisits), and every `urn:warcache:KIND:URL` record about the URL written
outside a capture (such as its tags and note, which belong to the URL, not to one capture).

Revisits elsewhere. A kept capture may have stored a payload as a `revisit` of a response that
is being removed; replay would then have nothing to serve for it. Before anything is removed,
the earliest such revisit becomes a `response` holding that payload, and any others are pointed
at it (warc/rewrite.py), so every other capture still replays the same bytes.

How. Nothing is edited in place (dirswap.py has the protocol): the collection is built again
beside the live one: WARCs with nothing to change are hard-linked, the others are copied without
the removed records under new names (`NAME-f1.warc.gz`; new names, so an index line some reader
still holds can never lead to the wrong bytes), checked record by record, every index is rebuilt
from the WARCs, and `verify` runs on the result. Only then are the directories swapped, and the
old WARCs deleted with the old directory. A kill at any moment leaves the collection as before
or as after; the next command that opens it finishes or undoes the swap.

Refused: forgetting while another command writes to the collection (a capture, an import, an
index run: their lock, and a live `.open` file), a page of a damaged file (forget only rewrites
files that read to their end with every digest right), a record inside a gzip member holding
several records (warcio recompress such files first). Left alone: `setaside/` (leftovers of
killed runs, which may hold copies of the page), and responses for the same URL that belong to
other captures (a page loaded as a frame or a resource of another page).

Cost: the collection is read twice (the scan here, `verify`) and re-indexed whole, with each
page's article extracted again: minutes for thousands of pages.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from warcache import dirswap, timestamps
from warcache.collection import Collection
from warcache.errors import ArchiveError, UsageError
from warcache.index.postprocess import index_missing, rebuild_collection
from warcache.manage.pages import find_captures
from warcache.manage.verify import verify_collection
from warcache.pagelist import PageEntry
from warcache.warc.reader import ARCHIVE_SUFFIXES, OPEN_SUFFIX, WarcReader
from warcache.warc.recovery import being_written, recover_collection
from warcache.warc.rewrite import (
    Edit,
    RecordRef,
    check_copy,
    copy_without,
    record_key,
    repoint_revisit,
    resolve_revisit,
)
from warcache.warc.writer import PAGE_URN

PAGE_INFO_URN = "urn:pageinfo:"
WARCACHE_URN = "urn:warcache:"
#: Index files that a rebuild makes anew; anything else in indexes/ is copied as it is
#: (annotations.jsonl: the tags and notes, rebuilt from their records where warcache has them).
_DERIVED = re.compile(r"^(.*\.cdxj|\.tmp-.*|\.lock|\.pages\.lock|\.pages-.*\.tmp|pages\.jsonl|"
                      r"annotations\.jsonl|dedup\.sqlite3.*|fulltext)$")
_REWRITTEN = re.compile(r"-f(\d+)$")


# -- what to forget --------------------------------------------------------------------------------


@dataclass
class ForgetPlan:
    """The captures `forget` would remove, newest first, as the user should see them first.
    `every_capture`: all of the URL's captures are going (no `--at`)."""

    target: str
    captures: list[tuple[Collection, PageEntry]]
    every_capture: bool = True

    def by_collection(self) -> list[tuple[Collection, list[PageEntry]]]:
        groups: dict[str, tuple[Collection, list[PageEntry]]] = {}
        for coll, entry in self.captures:
            groups.setdefault(coll.name, (coll, []))[1].append(entry)
        return [groups[name] for name in sorted(groups)]


def plan_forget(root: Path, target: str, *, at: str | None = None,
                collection: str | None = None) -> ForgetPlan:
    """The captures of a URL (or of the URL whose md5 is `target`) to forget: all of them, in
    every collection unless `collection` says which, or with `at` the one made at that time.

    `at` is matched as a prefix (`20240517` names every capture of that day) and must name one
    capture, or several made within the same second: a deletion never guesses the nearest one.
    """
    found = find_captures(root, target, collection=collection)
    if at is None:
        return ForgetPlan(target, found)
    ts = timestamps.parse_user_timestamp(at)
    chosen = [(c, e) for c, e in found if e.timestamp.startswith(ts)]
    times = ", ".join(f"{timestamps.display(e.timestamp, seconds=True)} [{c.name}]" for c, e in found[:8])
    if not chosen:
        raise UsageError(f"no capture of {target} at {at}; its captures: {times}"
                         + (" ..." if len(found) > 8 else ""))
    if len(chosen) > 1 and len(ts) < 14:
        listed = ", ".join(f"{timestamps.display(e.timestamp, seconds=True)} [{c.name}]"
                           for c, e in chosen[:8])
        raise UsageError(f"{len(chosen)} captures of {target} match --at {at} ({listed}); give the time "
                         "to the second, or -c COLLECTION")
    return ForgetPlan(target, chosen, every_capture=False)


@dataclass
class ForgetReport:
    """What `forget` did in one collection."""

    collection: str
    captures: list[PageEntry] = field(default_factory=list)
    records: int = 0  # records removed
    bytes: int = 0  # bytes of WARC removed
    resolved: list[str] = field(default_factory=list)  # revisits made responses ("URL at TIME")
    repointed: int = 0  # revisits pointed at the new copy
    rewritten: list[tuple[str, str | None]] = field(default_factory=list)  # (old, new; new None: dropped)
    notes: list[str] = field(default_factory=list)


def forget(plan: ForgetPlan, *, progress: Callable[[str], None] | None = None) -> list[ForgetReport]:
    """Forget the planned captures, one collection after another (each one is swapped on its own:
    a kill leaves each as before or as after)."""
    return [forget_captures(coll, entries, every_capture=plan.every_capture, progress=progress)
            for coll, entries in plan.by_collection()]


# -- one collection --------------------------------------------------------------------------------


@dataclass
class _Rec:
    """One record of a scanned file: where it is and what the rewrite must know of it."""

    offset: int
    length: int
    seekable: bool
    rec_type: str
    uri: str
    record_id: str
    date: str
    concurrent: tuple[str, ...]
    refers_to: str
    refers_uri: str
    payload_digest: str
    truncated: bool
    key: tuple[str, str, str]

    def ref(self, path: Path) -> RecordRef:
        return RecordRef(path, self.offset, self.record_id, self.uri, self.date)


@dataclass
class _File:
    path: Path
    records: list[_Rec] = field(default_factory=list)
    problem: str | None = None  # why it cannot be rewritten (damaged), if it cannot

    def at(self, offset: int) -> int | None:
        return next((i for i, r in enumerate(self.records) if r.seekable and r.offset == offset), None)


def _scan_file(path: Path) -> _File:
    scanned = _File(path)
    try:
        reader = WarcReader(path, check_digests=True)
    except ArchiveError as exc:
        scanned.problem = str(exc)
        return scanned
    for item in reader:
        headers = item.record.rec_headers
        if item.digest_ok is False and scanned.problem is None:
            scanned.problem = f"the {item.rec_type} record of {item.target_uri} fails its digest check"
        scanned.records.append(_Rec(
            offset=item.offset, length=item.length, seekable=item.seekable, rec_type=item.rec_type,
            uri=item.target_uri or "", record_id=headers.get_header("WARC-Record-ID") or "",
            date=headers.get_header("WARC-Date") or "",
            concurrent=tuple(v for k, v in headers.headers if k.lower() == "warc-concurrent-to"),
            refers_to=headers.get_header("WARC-Refers-To") or "",
            refers_uri=headers.get_header("WARC-Refers-To-Target-URI") or "",
            payload_digest=headers.get_header("WARC-Payload-Digest") or "",
            truncated=bool(item.truncated or headers.get_header("WARC-Truncated")), key=record_key(item)))
        with contextlib.suppress(Exception):
            item.record.raw_stream.close()
    if reader.stopped is not None:
        scanned.problem = f"reading stopped at byte {reader.stopped.offset}: {reader.stopped.reason}"
    return scanned


@dataclass
class _Work:
    """Everything decided before anything is written."""

    files: dict[str, _File]
    removed: dict[str, set[int]] = field(default_factory=dict)  # file -> indexes of removed records
    replaced: dict[str, dict[int, Edit]] = field(default_factory=dict)  # file -> record index -> edit
    resolved: list[str] = field(default_factory=list)
    repointed: int = 0

    def is_removed(self, name: str, i: int) -> bool:
        return i in self.removed.get(name, ())

    def remove(self, name: str, indexes: Iterable[int]) -> None:
        indexes = set(indexes)
        if indexes:  # a file with nothing removed is linked, not rewritten
            self.removed.setdefault(name, set()).update(indexes)

    def kept(self) -> Iterable[tuple[str, int, _Rec]]:
        for name, scanned in self.files.items():
            for i, rec in enumerate(scanned.records):
                if not self.is_removed(name, i):
                    yield name, i, rec


def _page_span(scanned: _File, entry: PageEntry) -> list[int]:
    """The record indexes of one capture (see the module docstring)."""
    where = f"archive/{entry.warc} byte {entry.offset}"
    i = scanned.at(entry.offset)
    if entry.span("page") is not None:
        rec = scanned.records[i] if i is not None else None
        if rec is None or rec.rec_type != "metadata" or rec.uri != PAGE_URN + entry.url:
            raise ArchiveError(f"{where}: no page record of {entry.url} there (is indexes/pages.jsonl out of "
                               "date? `warcache index --rebuild` remakes it)")
        return _span_ending_at(scanned, i)
    rec = scanned.records[i] if i is not None else None
    if rec is None or rec.rec_type != "response" or rec.uri != entry.url:
        raise ArchiveError(f"{where}: no response of {entry.url} there (is indexes/pages.jsonl out of date? "
                           "`warcache index --rebuild` remakes it)")
    info = [j for j, other in enumerate(scanned.records)
            if other.rec_type in ("resource", "metadata") and other.uri == PAGE_INFO_URN + entry.url]
    return [i, *info]  # its request goes with it (see _decide)


def _is_page_record(rec: _Rec) -> bool:
    return rec.rec_type == "metadata" and rec.uri.startswith(PAGE_URN)


def _about_url(uri: str) -> str | None:
    """The URL a `urn:warcache:KIND:URL` record is about (None for any other URI)."""
    if not uri.startswith(WARCACHE_URN):
        return None
    kind, sep, url = uri[len(WARCACHE_URN):].partition(":")
    return url if sep and kind and ":" in url else None


def _span_ending_at(scanned: _File, i: int) -> list[int]:
    """The records of the warcache capture whose page record is record `i`."""
    start = i
    while start > 0:
        before = scanned.records[start - 1]
        if before.rec_type == "warcinfo" or _is_page_record(before):
            break
        start -= 1
    return list(range(start, i + 1))


def _decide(files: dict[str, _File], entries: list[PageEntry], *, every_capture: bool = False) -> _Work:
    work = _Work(files)
    for entry in entries:
        scanned = files.get(entry.warc)
        if scanned is None:
            raise ArchiveError(f"archive/{entry.warc} (listed for {entry.url}) is not in the collection; "
                               "see `warcache verify`")
        work.remove(entry.warc, _page_span(scanned, entry))
    if every_capture:
        urls = {e.url for e in entries}
        for name, scanned in files.items():
            if any(r.uri.startswith(PAGE_URN) for r in scanned.records):
                # warcache's files: failed attempts too (their page record says `ok: false`, unlisted)
                for i, r in enumerate(scanned.records):
                    if _is_page_record(r) and r.uri[len(PAGE_URN):] in urls:
                        work.remove(name, _span_ending_at(scanned, i))
            else:  # other tools' files: every record of the URL was one of its visits
                work.remove(name, [i for i, r in enumerate(scanned.records) if r.uri in urls])
            # records about the URL written apart from its captures (its tags and note, say)
            work.remove(name, [i for i, r in enumerate(scanned.records) if _about_url(r.uri) in urls])
    # Requests of removed exchanges, and records about removed records, go with them (and so on).
    while True:
        removed = [rec for name, scanned in files.items() for i, rec in enumerate(scanned.records)
                   if work.is_removed(name, i)]
        gone = {rec.record_id for rec in removed if rec.record_id}
        named = {target for rec in removed for target in rec.concurrent}
        about = [(name, i) for name, i, rec in work.kept()
                 if (rec.uri.startswith("urn:") and rec.rec_type in ("metadata", "resource")
                     and ({*rec.concurrent, rec.refers_to} & gone))
                 or (rec.rec_type == "request" and (set(rec.concurrent) & gone or rec.record_id in named))]
        if not about:
            break
        for name, i in about:
            work.remove(name, [i])
    _fix_revisits(work)
    for name in set(work.removed) | set(work.replaced):
        scanned = files[name]
        touched = work.removed.get(name, set()) | set(work.replaced.get(name, {}))
        if any(not scanned.records[i].seekable for i in touched):
            raise UsageError(f"archive/{name} holds several records per gzip member, so records cannot be "
                             "taken out of it one by one (`warcio recompress` it first)")
        if scanned.problem:
            raise UsageError(f"archive/{name} is damaged ({scanned.problem}); forget only rewrites files "
                             "that read cleanly: see `warcache verify`")
    return work


def _fix_revisits(work: _Work) -> None:
    """Plan the revisits that must stand in for a removed original (see the module docstring)."""
    originals: dict[str, tuple[str, _Rec]] = {}  # removed response id -> (file, record)
    by_key: dict[tuple[str, str], tuple[str, _Rec]] = {}
    ids: set[str] = set()
    for name, scanned in work.files.items():
        for i, rec in enumerate(scanned.records):
            ids.add(rec.record_id)
            if (work.is_removed(name, i) and rec.rec_type == "response" and rec.payload_digest
                    and not rec.truncated):
                originals[rec.record_id] = (name, rec)
                by_key.setdefault((rec.uri, rec.payload_digest), (name, rec))
    if not originals:
        return
    kept_keys = {(rec.uri, rec.payload_digest) for _n, _i, rec in work.kept()
                 if rec.rec_type == "response" and rec.payload_digest and not rec.truncated}
    groups: dict[str, list[tuple[str, int, _Rec]]] = {}
    for name, i, rec in work.kept():
        if rec.rec_type != "revisit":
            continue
        if rec.refers_to and rec.refers_to in ids:
            original = originals.get(rec.refers_to)
        else:  # no usable WARC-Refers-To: replay finds the original by URI and payload digest
            key = (rec.refers_uri or rec.uri, rec.payload_digest)
            original = by_key.get(key) if key not in kept_keys else None
        if original is not None:
            groups.setdefault(original[1].record_id, []).append((name, i, rec))
    for original_id, revisits in groups.items():
        orig_name, orig = originals[original_id]
        source = orig.ref(work.files[orig_name].path)
        revisits.sort(key=lambda r: (timestamps.from_warc_date(r[2].date) or "", r[0], r[2].offset))
        first_name, first_i, first = revisits[0]
        first_ref = first.ref(work.files[first_name].path)
        work.replaced.setdefault(first_name, {})[first_i] = Edit(
            first.offset, first.length, resolve_revisit(first_ref, source))
        when = timestamps.display(timestamps.from_warc_date(first.date) or "")
        work.resolved.append(f"{first.uri} at {when}")
        for name, i, rec in revisits[1:]:
            edit = Edit(rec.offset, rec.length, repoint_revisit(rec.ref(work.files[name].path), first_ref))
            work.replaced.setdefault(name, {})[i] = edit
            work.repointed += 1


def _new_name(name: str, taken: set[str]) -> str:
    """A name for the rewritten copy of `name`: `STEM-fN.EXT`, sorted next to the original."""
    ext = next((e for e in sorted(ARCHIVE_SUFFIXES, key=len, reverse=True) if name.endswith(e)), "")
    stem = _REWRITTEN.sub("", name[: len(name) - len(ext)])
    n = 1
    while f"{stem}-f{n}{ext}" in taken:
        n += 1
    return f"{stem}-f{n}{ext}"


def _link(src: str, dst: str) -> None:
    """Hard-link a file into the new collection (the same bytes, no copy); copy where links fail."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _settle_open_files(coll: Collection, report: ForgetReport) -> None:
    """Refuse while a capture writes; recover what killed captures left (their pages are listed)."""
    for path in sorted(coll.archive_dir.glob("*" + OPEN_SUFFIX)):
        if being_written(path):
            raise UsageError(f"a capture is writing to collection {coll.name!r} now (archive/{path.name}); "
                             "try again when it has finished")

    def catch_up(path: Path, name: str) -> None:
        index_missing(coll, path, name)

    for item in recover_collection(coll, catch_up):
        report.notes.append(item.describe())
        if item.error:
            raise ArchiveError(f"archive/{item.open_name} is left by an interrupted capture and cannot be "
                               f"recovered yet ({item.error})")


def _still_listed(coll: Collection, entries: list[PageEntry]) -> None:
    listed = {(e.url, e.timestamp, e.warc, e.offset) for e in coll.pages()}
    for entry in entries:
        if (entry.url, entry.timestamp, entry.warc, entry.offset) not in listed:
            raise UsageError(f"collection {coll.name!r} changed since its captures were listed; run "
                             "`warcache forget` again")


def forget_captures(coll: Collection, entries: list[PageEntry], *, every_capture: bool = False,
                    progress: Callable[[str], None] | None = None) -> ForgetReport:
    """Remove these captures (page list entries of `coll`) from the collection, for good.
    `every_capture`: they are all the captures of their URL (see the module docstring)."""
    say = progress or (lambda _text: None)
    report = ForgetReport(coll.name, captures=list(entries))
    collections = coll.root / "collections"
    with dirswap.rewriting(collections, coll.name):
        note = dirswap.recover(collections, coll.name)
        if note:
            report.notes.append(note)
        _settle_open_files(coll, report)
        _still_listed(coll, entries)
        names = [p.name for p in coll.warc_files()]
        say(f"{coll.name}: reading {len(names)} WARC files")
        files = {name: _scan_file(coll.archive_dir / name) for name in names}
        work = _decide(files, entries, every_capture=every_capture)
        staging = dirswap.begin(collections, coll.name)
        try:
            new = Collection(staging, coll.name).create()
            linked = _build(coll, new, work, report, say)
            say(f"{coll.name}: rebuilding the indexes")
            rebuild_collection(new)
            say(f"{coll.name}: verifying the new collection")
            _verify(new, linked)
            dirswap.fsync_tree(new.path)
        except BaseException:
            dirswap.abandon(collections, coll.name)
            raise
        say(f"{coll.name}: swapping it in")
        dirswap.commit(collections, coll.name, {
            "command": "forget", "time": timestamps.to_iso(timestamps.now()),
            "captures": [[e.url, e.timestamp] for e in entries],
            "rewritten": [[old, new_name] for old, new_name in report.rewritten]})
    report.resolved, report.repointed = work.resolved, work.repointed
    return report


def _build(coll: Collection, new: Collection, work: _Work, report: ForgetReport,
           say: Callable[[str], None]) -> set[str]:
    """Fill the new collection's directory; returns the WARC files hard-linked unchanged."""
    linked: set[str] = set()
    taken = {p.name for p in coll.archive_dir.iterdir()}
    for path in sorted(coll.archive_dir.iterdir()):
        name = path.name
        if name not in work.removed and name not in work.replaced:
            if path.is_dir():
                shutil.copytree(path, new.archive_dir / name, copy_function=_link)
            else:
                _link(str(path), str(new.archive_dir / name))
                linked.add(name)
            continue
        scanned = work.files[name]
        removed = work.removed.get(name, set())
        replaced = work.replaced.get(name, {})
        edits = [Edit(scanned.records[i].offset, scanned.records[i].length) for i in sorted(removed)]
        edits += list(replaced.values())
        expected = []
        for i, rec in enumerate(scanned.records):
            if i in replaced:
                edit = replaced[i]
                assert edit.record is not None
                expected.append((edit.record.rec_type, rec.key[1], rec.key[2]))
            elif i not in removed:
                expected.append(rec.key)
        report.records += len(removed)
        report.bytes += sum(scanned.records[i].length for i in removed)
        if all(kind == "warcinfo" for kind, _uri, _id in expected):
            report.rewritten.append((name, None))  # nothing left but the file's own description
            continue
        target = _new_name(name, taken)
        taken.add(target)
        say(f"{coll.name}: writing {target}: {name} without {len(removed)} records"
            + (f", {len(replaced)} revisits rewritten" if replaced else ""))
        copy_without(path, new.archive_dir / target, edits)
        check_copy(new.archive_dir / target, expected)
        report.rewritten.append((name, target))
    for item in sorted(coll.path.iterdir()):
        if item.name in ("archive", "indexes"):
            continue
        if item.is_dir():
            shutil.copytree(item, new.path / item.name, copy_function=_link)  # setaside/: the same files
        else:
            shutil.copy2(item, new.path / item.name)  # failures.jsonl and the like: small
    if coll.indexes_dir.is_dir():
        for item in sorted(coll.indexes_dir.iterdir()):
            if _DERIVED.match(item.name):
                continue
            if item.is_dir():
                shutil.copytree(item, new.indexes_dir / item.name)
            else:
                shutil.copy2(item, new.indexes_dir / item.name)
    return linked


def _verify(new: Collection, linked: set[str]) -> None:
    """`verify` the new collection: any problem but those of files linked unchanged (which the
    live collection has too) stops the forget before anything changed."""
    report = verify_collection(new)
    problems = [p for p in report.problems
                if not (p.file.startswith("archive/") and p.file.removeprefix("archive/") in linked)]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ArchiveError(f"the rewritten collection does not verify, so nothing was changed: "
                           f"{problems[0]}{more}")
