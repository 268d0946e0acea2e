"""Which payloads a collection already holds, so identical ones are stored once.

When a response's payload digest is already in the collection, warcache writes a `revisit` record
(identical-payload-digest profile) pointing at the first copy instead of a second copy. The table
lives in `indexes/dedup.sqlite3`; like every index it can be rebuilt from the WARCs alone.
SQLite's own locking makes it safe for several `warcache add` processes at once.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from warcache.errors import ArchiveError

SCHEMA = """
CREATE TABLE IF NOT EXISTS payloads (
    digest TEXT PRIMARY KEY,
    uri TEXT NOT NULL,
    date TEXT NOT NULL,
    record_id TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class Original:
    """The first stored copy of a payload."""

    uri: str
    date: str  # WARC-Date of the original record
    record_id: str


class PayloadLookup(Protocol):
    """Where a capture asks whether the collection already holds a payload: the collection's own
    table, or on a capture worker the map the collection's host publishes (distributed/digests.py)."""

    def lookup(self, digest: str) -> Original | None: ...


#: How long opening the table waits for other processes that are opening or creating it.
OPEN_TIMEOUT = 60.0


class DedupIndex:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=OPEN_TIMEOUT, isolation_level=None)
        self._set_up(path)

    def _set_up(self, path: Path) -> None:
        """Switch to WAL and create the table, waiting for others doing the same.

        Why a loop: SQLite answers "database is locked" at once, without its busy timeout, when
        another connection is changing the journal mode of a new database or recovering its WAL;
        two `warcache add` started together on a new collection hit that.
        """
        deadline = time.monotonic() + OPEN_TIMEOUT
        delay = 0.01
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute(SCHEMA)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    self._db.close()
                    raise ArchiveError(f"{path} stayed locked by another warcache process for "
                                       f"{OPEN_TIMEOUT:g} s; try again") from None
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def lookup(self, digest: str) -> Original | None:
        row = self._db.execute("SELECT uri, date, record_id FROM payloads WHERE digest = ?",
                               (digest,)).fetchone()
        return Original(*row) if row else None

    def add(self, entries: list[tuple[str, Original]]) -> None:
        """Remember originals. Call only once their records are durably written."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(
                "INSERT OR IGNORE INTO payloads (digest, uri, date, record_id) VALUES (?, ?, ?, ?)",
                [(digest, o.uri, o.date, o.record_id) for digest, o in entries])
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def clear(self) -> None:
        self._db.execute("DELETE FROM payloads")

    def close(self) -> None:
        self._db.close()
