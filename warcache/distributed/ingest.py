"""Taking delivered WARC files into a collection, each exactly once, on the collection's host.

For each file whose marker is in the store (oldest name first), under a lock per collection:

1. The ledger (`indexes/ingest.sqlite3`) already has this name with this sha256, done or set
   aside: it was delivered again, or its removal from the store was cut short. Remove it, next.
2. Fetch it to `indexes/incoming/<name>.part` (not `archive/`, where recovery would take a
   `.open` for a killed capture) and check its size and sha256 against the marker. A mismatch
   is counted and tried again on the next run, and the file is left alone after three.
3. Read its job id from its warcinfo. A job already in the ledger was captured twice (its
   worker died after shipping, before the acknowledgement, or the broker connection dropped):
   the file goes to `setaside/duplicates/`, is recorded, and is never indexed.
4. Record it as `ingesting`; move it into `archive/` as `NAME.open` under an exclusive lock, as
   a capture writes its own files; index it (URL index, page list, full-text index, revisit
   table); rename it to `NAME`; then in one transaction record its job and mark it `done`.
5. Remove it from the store, and publish its payload digests to the workers' map.

A run killed at any step is finished by the next: a file found `ingesting` and already in
`archive/` (as `.open` or not) has only what its indexes lack added (`index_missing`,
idempotent), and a file not yet moved is fetched again. A local `add` that runs first recovers
the `.open` file as it recovers its own (indexing what is missing), and the ingest then only
records it.

The ledger is not an index of the WARCs: its job table is seeded from the warcinfo records of
`archive/` when it has to be made anew, so losing it does not let an old job in twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from warcache.collection import OPEN_SUFFIX, Collection
from warcache.distributed.delivery import NAME_RE, ORPHAN_AGE, Store, file_digest
from warcache.distributed.digests import PayloadMap
from warcache.errors import ArchiveError
from warcache.fsync import fsync_dir
from warcache.index.postprocess import FileIndexResult, add_files, index_missing
from warcache.warc.reader import read_record_at

log = logging.getLogger("warcache.distributed")
#: Checksum mismatches after which a delivered file is left alone (and reported).
MAX_BAD = 3
JOB_FIELD = "warcache-job"

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    name TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    state TEXT NOT NULL,          -- ingesting | done | duplicate | retry | bad
    tries INTEGER NOT NULL DEFAULT 0,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    job TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    at REAL NOT NULL
);
"""


@dataclass
class IngestReport:
    ingested: list[str] = field(default_factory=list)
    pages: int = 0
    duplicates: list[str] = field(default_factory=list)  # a job captured twice: set aside
    again: int = 0  # delivered again after being ingested: removed from the store
    problems: list[str] = field(default_factory=list)  # one line each: a bad checksum, a bad name
    swept: int = 0  # leftovers of killed shippers removed from the store

    def describe(self) -> str:
        text = f"ingested {len(self.ingested)} file(s), {self.pages} page(s)"
        if self.duplicates:
            text += f"; {len(self.duplicates)} duplicate job(s) set aside"
        if self.again:
            text += f"; {self.again} delivered again, removed"
        return text


def file_job(path: Path) -> str | None:
    """The job id a worker's WARC file names in its warcinfo (None for other files)."""
    try:
        record = read_record_at(path, 0)
    except (ArchiveError, OSError):
        return None
    if record.rec_type != "warcinfo":
        return None
    for line in record.content_stream().read(65536).decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == JOB_FIELD:
            return value.strip() or None
    return None


class Ingester:
    """Takes one collection's delivered files from one store."""

    def __init__(self, coll: Collection, store: Store, payloads: PayloadMap | None = None) -> None:
        self.coll = coll.create()
        self.store = store
        self.payloads = payloads
        self.incoming = coll.indexes_dir / "incoming"
        self.duplicates_dir = coll.setaside_dir / "duplicates"
        self._db: sqlite3.Connection | None = None

    @property
    def db(self) -> sqlite3.Connection:
        """The ledger, opened when first needed after each run (see run_once)."""
        if self._db is None:
            self.coll.indexes_dir.mkdir(parents=True, exist_ok=True)
            path = self.coll.indexes_dir / "ingest.sqlite3"
            new = not path.exists()
            self._db = sqlite3.connect(path, isolation_level=None, timeout=60)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)
            if new:
                self._seed_jobs()
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _seed_jobs(self) -> None:
        rows = []
        for path in self.coll.warc_files():
            job = file_job(path)
            if job:
                rows.append((job, path.name, time.time()))
        if rows:
            self.db.executemany("INSERT OR IGNORE INTO jobs VALUES (?, ?, ?)", rows)

    def job_file(self, job: str) -> str | None:
        """The file in the collection that holds `job`, once ingested."""
        row = self.db.execute("SELECT name FROM jobs WHERE job = ?", (job,)).fetchone()
        return row[0] if row else None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the collection as a capture run does (`warcache forget` waits for the run, and the
        run for a forget), then the ingest's own lock. The ledger is closed at the end of each run:
        a forget between two runs swaps the collection's directory, and the next run must open
        the ledger it copied there, not keep writing to the old one."""
        with self.coll.writing():
            self.coll.indexes_dir.mkdir(parents=True, exist_ok=True)
            self.incoming.mkdir(parents=True, exist_ok=True)
            try:
                with open(self.coll.indexes_dir / "ingest.lock", "a") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)  # one ingest per collection at a time, on this host
                    yield
            finally:
                self.close()

    def run_once(self) -> IngestReport:
        """Ingest every file ready in the store now."""
        report = IngestReport()
        with self._locked():
            for name in self.store.ready(self.coll.name):
                try:
                    self._one(name, report)
                except (OSError, ValueError) as exc:  # the store went away, a marker that is not JSON
                    report.problems.append(f"{name}: {type(exc).__name__}: {exc}")
                except Exception as exc:
                    if not _is_store_error(exc):
                        raise
                    report.problems.append(f"{name}: {str(exc).splitlines()[0] if str(exc) else exc}")
            try:
                report.swept = self._sweep()
            except Exception as exc:  # noqa: BLE001 - hygiene only: next run
                log.warning("sweeping the store failed: %s", exc)
        return report

    def _sweep(self) -> int:
        names = self.store.orphans(self.coll.name, ORPHAN_AGE)
        for name in names:
            self.store.remove_orphan(self.coll.name, name)
        return len(names)

    def _row(self, name: str):
        return self.db.execute("SELECT sha256, state, tries FROM files WHERE name = ?", (name,)).fetchone()

    def _set(self, name: str, sha: str, size: int, state: str, tries: int = 0) -> None:
        self.db.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)",
                        (name, sha, size, state, tries, time.time()))

    def _one(self, name: str, report: IngestReport) -> None:
        if not NAME_RE.match(name):
            report.problems.append(f"{name[:80]!r}: not a name warcache delivers; left in the store")
            return
        marker = self.store.read_marker(self.coll.name, name)
        sha, size = str(marker.get("sha256", "")), int(marker.get("size", -1))
        row = self._row(name)
        if row and row[0] == sha and row[1] in ("done", "duplicate"):
            self.store.remove(self.coll.name, name)
            report.again += 1
            return
        if row and row[1] == "bad" and row[0] == sha:
            return  # reported when it went bad; left for a person to look at
        final = self.coll.archive_dir / name
        staged = self.coll.archive_dir / (name + OPEN_SUFFIX)
        if row and row[1] == "ingesting" and (final.exists() or staged.exists()):
            self._index(name, report, resume=True)
            return
        part = self.incoming / (name + ".part")
        part.unlink(missing_ok=True)
        try:
            self.store.fetch(self.coll.name, name, part)
            got = file_digest(part)
        except FileNotFoundError:
            got = (-1, "")
        if got != (size, sha):
            tries = (row[2] if row else 0) + 1
            self._set(name, sha, size, "bad" if tries >= MAX_BAD else "retry", tries)
            part.unlink(missing_ok=True)
            more = "left in the store" if tries >= MAX_BAD else "tried again on the next run"
            report.problems.append(f"{name}: its bytes do not match its marker ({more})")
            return
        job = file_job(part)
        if job and self.job_file(job):
            self.duplicates_dir.mkdir(parents=True, exist_ok=True)
            os.replace(part, _free_name(self.duplicates_dir / name))
            self._set(name, sha, size, "duplicate")
            self.store.remove(self.coll.name, name)
            report.duplicates.append(name)
            return
        if final.exists() or staged.exists():
            part.unlink(missing_ok=True)
            report.problems.append(f"{name}: a different file of that name is in the archive; "
                                   "left in the store")
            return
        self._set(name, sha, size, "ingesting")
        with _locked_file(part):  # the lock goes with the file: recovery leaves it alone
            os.replace(part, staged)
            fsync_dir(staged.parent)
        self._index(name, report, resume=False)

    def _index(self, name: str, report: IngestReport, *, resume: bool) -> None:
        """Index a file staged as `archive/NAME.open` (or, resuming, already renamed), then give it
        its final name: the same steps as a capture's own file, so `warcache index` never takes
        it for an unindexed file, replay already finds it, and a killed ingest leaves an `.open`
        file that the next ingest, or a local run's recovery, finishes."""
        originals: list = []

        def indexed(result: FileIndexResult) -> None:
            originals.extend(result.originals)
            report.pages += len(result.pages)

        final = self.coll.archive_dir / name
        staged = self.coll.archive_dir / (name + OPEN_SUFFIX)
        path = staged if staged.exists() else final
        with _locked_file(path):
            if resume:
                index_missing(self.coll, path, name, on_indexed=indexed)
            else:
                add_files(self.coll, [path], on_indexed=indexed)
            if path == staged:
                os.rename(staged, final)
                fsync_dir(final.parent)
        job = file_job(final)
        self.db.execute("BEGIN IMMEDIATE")
        try:
            if job:
                self.db.execute("INSERT OR IGNORE INTO jobs VALUES (?, ?, ?)", (job, name, time.time()))
            self.db.execute("UPDATE files SET state = 'done', at = ? WHERE name = ?", (time.time(), name))
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        self.store.remove(self.coll.name, name)
        report.ingested.append(name)
        if self.payloads is not None and originals:
            try:
                self.payloads.publish(originals)
            except Exception as exc:  # noqa: BLE001 - the map is a cache: workers store these whole
                log.warning("could not publish %s's digests to the broker: %s", name, exc)


def _is_store_error(exc: Exception) -> bool:
    """boto3's errors, without importing boto3 here."""
    return type(exc).__module__.startswith(("botocore", "boto3")) or type(exc).__name__ == "DeliveryError"


@contextlib.contextmanager
def _locked_file(path: Path) -> Iterator[None]:
    """An exclusive lock on a file, as a capture's writer holds on its `.open` file."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _free_name(path: Path) -> Path:
    n = 1
    candidate = path
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.{n}")
        n += 1
    return candidate


