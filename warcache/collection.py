"""Where things live on disk: a root holding collections in pywb's layout.

    ROOT/collections/<name>/archive/*.warc.gz     the WARC files (the source of truth)
    ROOT/collections/<name>/indexes/               everything derived from them (rebuildable)
    ROOT/collections/<name>/setaside/              leftovers of killed runs, never read as archive
    ROOT/collections/.<name>.lock                  held by commands that write (see dirswap.py)

pywb run in ROOT serves these collections as they are.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from warcache import dirswap
from warcache.errors import ArchiveError, UsageError
from warcache.pagelist import Annotation, PageEntry, latest_annotations

ROOT_ENV = "WARCACHE_ROOT"
#: A WARC file still being written (or left by a killed run) carries this suffix until it is closed.
OPEN_SUFFIX = ".open"
DEFAULT_COLLECTION = "default"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
#: Names pywb uses for its own URL space under the server root.
RESERVED_NAMES = {"static", "collinfo.json", "proxy", "record", "api"}


def validate_name(name: str) -> str:
    """Return `name` if it can be a collection name, else raise UsageError saying why."""
    if not NAME_RE.match(name or ""):
        raise UsageError(
            f"invalid collection name {name!r}: use 1-64 letters, digits, '-' or '_', "
            "starting with a letter or digit")
    if name.lower() in RESERVED_NAMES:
        raise UsageError(f"invalid collection name {name!r}: the name is reserved")
    return name


@dataclass(frozen=True)
class Collection:
    root: Path
    name: str

    @property
    def path(self) -> Path:
        return self.root / "collections" / self.name

    @property
    def archive_dir(self) -> Path:
        return self.path / "archive"

    @property
    def indexes_dir(self) -> Path:
        return self.path / "indexes"

    @property
    def setaside_dir(self) -> Path:
        return self.path / "setaside"

    @property
    def pages_path(self) -> Path:
        return self.indexes_dir / "pages.jsonl"

    @property
    def dedup_path(self) -> Path:
        return self.indexes_dir / "dedup.sqlite3"

    def warc_path(self, filename: str) -> Path:
        """The WARC file `filename` of this collection, or ArchiveError if the name could point
        elsewhere. A file still being written is found under its `.open` name.

        File names come from indexes and page lists, which are data (other tools write them
        too): a name with a separator, a `..`, a NUL or an absolute path is refused, and so is
        a symlink leading out of the collections root.
        """
        name = filename or ""
        if (not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name
                or name.startswith("~")):
            raise ArchiveError(f"refusing WARC file name {name[:80]!r} from the index")
        path = self.archive_dir / name
        if not path.exists() and (self.archive_dir / (name + OPEN_SUFFIX)).exists():
            path = self.archive_dir / (name + OPEN_SUFFIX)
        real = Path(os.path.realpath(path))
        if Path(os.path.realpath(self.root / "collections")) not in real.parents:
            raise ArchiveError(f"refusing WARC file {name[:80]!r}: it resolves outside the collections root")
        return path

    def exists(self) -> bool:
        return self.archive_dir.is_dir()

    def create(self) -> Collection:
        self.archive_dir.mkdir(parents=True, exist_ok=True)
        self.indexes_dir.mkdir(parents=True, exist_ok=True)
        return self

    def writing(self, on_wait: Callable[[], None] | None = None) -> contextlib.AbstractContextManager[None]:
        """Hold the collection for a command that writes to it (add, import, index): several may
        at once, but not while `warcache forget` rewrites it (see dirswap.py; `on_wait` is called
        if it has to wait for one)."""
        return dirswap.writing(self.root / "collections", self.name, on_wait=on_wait)

    def warc_files(self) -> list[Path]:
        """Closed WARC/ARC files, oldest name first (never the `.open` ones being written)."""
        if not self.archive_dir.is_dir():
            return []
        return sorted(p for p in self.archive_dir.iterdir()
                      if p.is_file() and p.name.endswith((".warc", ".warc.gz", ".arc", ".arc.gz")))

    def append_pages(self, entries: list[PageEntry]) -> None:
        """Append page entries to pages.jsonl under a lock (several writers may run at once)."""
        if not entries:
            return
        self.indexes_dir.mkdir(parents=True, exist_ok=True)
        with self._pages_lock():
            _append_synced(self.pages_path, "".join(e.to_line() for e in entries))

    def replace_pages(self, entries: list[PageEntry]) -> None:
        """Write pages.jsonl anew (a rebuild), atomically, under the same lock as appends."""
        self.indexes_dir.mkdir(parents=True, exist_ok=True)
        with self._pages_lock():
            _write_anew(self.pages_path, "".join(e.to_line() for e in entries))

    def update_pages(self, change: Callable[[list[PageEntry]], bool]) -> None:
        """Change entries of pages.jsonl in place: `change(entries)` edits the list and says
        whether it changed anything; the file is then written anew, atomically. Why under the
        lock from read to write: a capture appending meanwhile must not be lost."""
        with self._pages_lock():
            entries = list(self.pages())
            if not change(entries):
                return
            _write_anew(self.pages_path, "".join(e.to_line() for e in entries))

    @property
    def failures_path(self) -> Path:
        """Captures that failed, for `warcache retry` (a log, not an index: WARCs hold no failures)."""
        return self.path / "failures.jsonl"

    def failures(self) -> list[dict]:
        try:
            lines = self.failures_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def update_failures(self, succeeded: set[str], failed: list[dict]) -> None:
        """Forget failures of URLs that have now been captured; remember new ones (one per URL)."""
        self.path.mkdir(parents=True, exist_ok=True)
        with self._pages_lock():
            before = self.failures()
            kept: dict[str, dict] = {}
            for entry in before + failed:
                url = entry.get("url")
                if url and url not in succeeded:
                    kept[url] = entry
            if list(kept.values()) == before:
                return  # nothing changed: the file is left as it is (or absent)
            tmp = self.failures_path.with_name(f".failures-{os.getpid()}.tmp")
            with open(tmp, "w", encoding="utf-8") as fh:
                for entry in kept.values():
                    fh.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")
            os.replace(tmp, self.failures_path)

    @contextlib.contextmanager
    def _pages_lock(self) -> Iterator[None]:
        self.indexes_dir.mkdir(parents=True, exist_ok=True)
        with open(self.indexes_dir / ".pages.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def pages(self) -> Iterator[PageEntry]:
        """The page entries recorded so far (a torn last line from a crash, or a line that is not
        a page entry, is skipped), with their URL's tags and note."""
        notes = self.annotations()
        try:
            fh = open(self.pages_path, encoding="utf-8")
        except FileNotFoundError:
            return
        with fh:
            for line in fh:
                entry = PageEntry.from_line(line)
                if entry is not None:
                    note = notes.get(entry.url)
                    if note is not None:
                        entry.tags, entry.note = note.tags, note.note
                    yield entry

    # -- tags and notes: derived from the annotation records of the WARCs ----------------------
    @property
    def annotations_path(self) -> Path:
        return self.indexes_dir / "annotations.jsonl"

    def annotations(self) -> dict[str, Annotation]:
        """The tags and note of each annotated URL (its latest annotation; damaged lines skipped)."""
        try:
            lines = self.annotations_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return {}
        found = []
        for line in lines:
            try:
                a = Annotation.from_json(json.loads(line))
            except ValueError:
                continue
            if a is not None:
                found.append(a)
        return latest_annotations(found)

    def append_annotations(self, annotations: list[Annotation]) -> None:
        """Add annotations to the derived list (after their records are in a WARC)."""
        if not annotations:
            return
        self.indexes_dir.mkdir(parents=True, exist_ok=True)
        with self._pages_lock():
            _append_synced(self.annotations_path, "".join(a.to_line() for a in annotations))

    def replace_annotations(self, annotations: list[Annotation]) -> None:
        """Write the derived list anew (a rebuild), atomically."""
        self.indexes_dir.mkdir(parents=True, exist_ok=True)
        with self._pages_lock():
            _write_anew(self.annotations_path,
                        "".join(a.to_line() for a in latest_annotations(annotations).values()))


def _append_synced(path: Path, text: str) -> None:
    """Append `text` to a derived list and fsync it (the caller holds the collection's list lock)."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _write_anew(path: Path, text: str) -> None:
    """Replace a derived list with `text` atomically: a reader sees the old file or the new one,
    never a part (the caller holds the collection's list lock)."""
    tmp = path.with_name(f".{path.stem}-{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def root_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The storage root: --root, else $WARCACHE_ROOT, else the current directory."""
    value = explicit or os.environ.get(ROOT_ENV) or "."
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        raise UsageError(f"root {str(path)!r} is not a directory")
    return path.resolve()


def open_collection(root: Path, name: str, *, create: bool = False) -> Collection:
    """The collection `name` under `root`; created on first use when `create`, else must exist.

    A rewrite of it that a killed `warcache forget` left is finished or undone first."""
    coll = Collection(root, validate_name(name))
    dirswap.recover_if_idle(root / "collections", coll.name)
    if create:
        return coll.create()
    if not coll.exists():
        known = ", ".join(list_collections(root)) or "none yet"
        raise UsageError(f"no collection {name!r} in {root} (collections: {known})")
    return coll


def list_collections(root: Path) -> list[str]:
    base = root / "collections"
    if not base.is_dir():
        return []
    for name in dirswap.pending_names(base):
        if NAME_RE.match(name):
            dirswap.recover_if_idle(base, name)
    return sorted(p.name for p in base.iterdir() if p.is_dir() and NAME_RE.match(p.name)
                  and (p / "archive").is_dir())
