"""The full-text index of a collection, under `collections/<name>/indexes/fulltext`: FullTextIndex.

Documents in (`add`, `rebuild`: PageDoc), ranked hits out (`search`: Hit).  This module looks after
the index's life: which index of the directory is live, the write lock, atomic rebuilds, readers
that follow commits, and damage reported as such.  It does not touch Whoosh; the parts, by
responsibility:

    warcache.search.query      the query language, parsed into a syntax tree
    warcache.search.compile    syntax tree -> plan: what matching runs on one index
    warcache.search.documents  PageDoc -> indexed and stored fields; stored fields -> Hit
    warcache.search.analysis   tokens, accent folding, the schema (what is written)
    warcache.search.store      the index files: create, open, write in transactions (Whoosh)
    warcache.search.postings   warcache's posting layout on disk (Whoosh's codec)
    warcache.search.match      the open index, BM25F scoring, running a plan (Whoosh's readers)
    warcache.search.topk       the top-k search of conjunctions over posting lists
    warcache.search.snippets   snippets and their highlights
    warcache.search.archive    every collection's index, searched together

Layout of the index directory, and why:

    CURRENT          the name of the live Whoosh index, e.g. "ix3f9a0c2b71d4" (replaced atomically)
    WRITE.lock       our writer lock (fcntl.flock); all writers take it
    _<name>_<gen>.toc, <name>_<segment>.seg   Whoosh's own files for the named index

Whoosh already gives readers a consistent view: a commit writes new segment files, then renames a
new TOC into place, so a searcher sees either the old generation or the new one.  `rebuild` needs
more than a commit (a new schema, or an old index that cannot be read at all), so it builds a
second Whoosh index under a new name beside the live one and then swaps the one-line CURRENT file
with `os.replace`, which is atomic.  Readers that opened the old index keep their open files
(POSIX keeps unlinked files readable); readers that race with the swap re-read CURRENT and retry.

Writers (`add`, `rebuild`) hold WRITE.lock for the whole transaction, so an `add` that runs during
a rebuild waits (bounded, with backoff) instead of writing into an index that is about to be
replaced.  Searches never take the lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from warcache.collection import Collection
from warcache.errors import ArchiveError, WarcacheError
from warcache.search import store
from warcache.search.compile import Plan, check_query, plan_query
from warcache.search.documents import Hit, PageDoc, capture_key, index_fields, to_hit
from warcache.search.match import Reader, SegmentInfo

__all__ = ["FullTextIndex", "Hit", "PageDoc", "fulltext_index"]

_CURRENT = "CURRENT"
_LOCK = "WRITE.lock"


def _default_procs() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def fulltext_index(coll: Collection) -> FullTextIndex:
    """The full-text index of a collection (opened lazily: nothing is read until it is used)."""
    return FullTextIndex(coll.indexes_dir / "fulltext", coll.name, tagged=lambda tag: _tagged(coll, tag))


def _tagged(coll: Collection, tag: str) -> list[str]:
    """The URLs of `coll` bearing `tag` (for tag: in queries)."""
    return [url for url, a in coll.annotations().items() if tag in a.tags]


class FullTextIndex:
    """The full-text index of one collection.  Not for sharing between threads; one per process is fine.

    `procs`, `limitmb` and `multisegment` are Whoosh writer options for rebuilds and large batches.
    On two cores, two writer processes that each keep their own segment (multisegment) are the
    fastest; merging their output into one segment (multisegment=False) costs more than the
    second process saves (see the report of scripts/bench_search.py for the figures).
    `lock_timeout` bounds how long a writer waits for another process's write lock.
    """

    def __init__(
        self,
        index_dir: Path,
        collection: str,
        *,
        procs: int | None = None,
        limitmb: int = 256,
        multisegment: bool = True,
        lock_timeout: float = 60.0,
        tagged: Callable[[str], Iterable[str]] | None = None,
    ):
        self.index_dir = Path(index_dir)
        self.collection = collection
        self.procs = procs or _default_procs()
        self.limitmb = limitmb
        self.multisegment = multisegment
        self.lock_timeout = lock_timeout
        self.tagged = tagged
        self._reader: Reader | None = None
        self._reader_name: str | None = None

    def __repr__(self) -> str:
        return f"FullTextIndex({str(self.index_dir)!r}, {self.collection!r})"

    def __enter__(self) -> FullTextIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the open reader (its files); the object can still be used afterwards."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None
            self._reader_name = None

    # ----------------------------------------------------------------- files, names, lock

    def _current_name(self) -> str | None:
        try:
            name = (self.index_dir / _CURRENT).read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise ArchiveError(f"cannot read {self.index_dir / _CURRENT}: {exc}") from exc
        return name or None

    def _set_current(self, name: str) -> None:
        tmp = self.index_dir / f"{_CURRENT}.{secrets.token_hex(4)}.tmp"
        with open(tmp, "w", encoding="ascii") as fh:
            fh.write(name + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.index_dir / _CURRENT)

    @contextlib.contextmanager
    def write_lock(self) -> Iterator[None]:
        """Hold the index's write lock (WRITE.lock), waiting up to `lock_timeout` seconds with
        exponential backoff; ArchiveError if another process holds it longer.

        `add` and `rebuild` take it themselves (do not call them inside): it is for work that
        must not run beside a writer.
        """
        try:
            self.index_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.index_dir / _LOCK, os.O_CREAT | os.O_WRONLY, 0o644)
        except OSError as exc:
            raise ArchiveError(f"cannot create {self.index_dir}: {exc.strerror}") from exc
        try:
            deadline = time.monotonic() + self.lock_timeout
            delay = 0.02
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ArchiveError(
                        f"full-text index {self.index_dir} is busy: another warcache process has held "
                        f"its write lock for over {self.lock_timeout:g} s; try again later"
                    )
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, 1.0)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _sweep(self, keep: str) -> None:
        """Delete files of every index but `keep`, and writers' leftover temp dirs (lock held)."""
        for entry in os.scandir(self.index_dir):
            name = entry.name
            if name in (_LOCK, _CURRENT):
                continue
            if name.startswith((f"_{keep}_", f"{keep}_")) and not name.endswith(".tmp"):
                continue
            with contextlib.suppress(OSError):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)

    def _open_for_write(self) -> Any:
        """The live index, created on first write (call with the lock held)."""
        name = self._current_name()
        if name is not None:
            try:
                return store.open_index(self.index_dir, name)
            except FileNotFoundError as exc:
                raise ArchiveError(
                    f"full-text index {self.index_dir} names {name!r} in CURRENT but its files are "
                    "missing; run a rebuild"
                ) from exc
        name = "ix" + secrets.token_hex(6)
        ix = store.create_index(self.index_dir, name)
        self._set_current(name)
        return ix

    def _writing(self, ix: Any, procs: int) -> contextlib.AbstractContextManager[store.DocumentWriter]:
        return store.writing(ix, procs=procs, limitmb=self.limitmb, multisegment=self.multisegment)

    # ----------------------------------------------------------------- writing

    def add(self, docs: Iterable[PageDoc]) -> int:
        """Add captures in one transaction; a capture already indexed (same url+timestamp) is replaced.

        Returns the number of documents written (a capture given twice counts once: the last wins).
        The batch is held in memory; to index a whole collection, use rebuild(), which streams.
        """
        batch = {capture_key(doc): doc for doc in docs}
        if not batch:
            return 0
        prepared = [index_fields(doc) for doc in batch.values()]
        procs = self.procs if len(prepared) >= 2000 else 1
        with self.write_lock(), self._writing(self._open_for_write(), procs) as writer:
            for fields in prepared:
                writer.replace(fields)
        return len(prepared)

    def rebuild(self, docs: Iterable[PageDoc]) -> int:
        """Index `docs` into a fresh index beside the live one, then swap it in atomically.

        Searches keep using the old index until the swap; other writers wait for the lock.
        A failure leaves the old index untouched.  Returns the number of documents indexed.
        """
        with self.write_lock():
            name = "ix" + secrets.token_hex(6)
            ix = store.create_index(self.index_dir, name)
            try:
                count = self._fill(ix, docs)
            except BaseException:
                self._sweep(keep=self._current_name() or "-")
                raise
            self._set_current(name)
            self._sweep(keep=name)
        return count

    def _fill(self, ix: Any, docs: Iterable[PageDoc]) -> int:
        """Stream docs into a new (unpublished) index; repeated captures: the last one wins."""
        seen: set[str] = set()
        late: dict[str, PageDoc] = {}
        with self._writing(ix, self.procs) as writer:
            for doc in docs:
                key = capture_key(doc)
                if key in seen:
                    late[key] = doc  # replaced below, once the first version is committed
                    continue
                seen.add(key)
                writer.add(index_fields(doc))
        if late:
            with self._writing(ix, 1) as writer:
                for doc in late.values():
                    writer.replace(index_fields(doc))
        return len(seen)

    # ----------------------------------------------------------------- reading

    def reader(self) -> Reader | None:
        """The live index open for reading (None before its first write), reopened when a commit
        or a rebuild happened since it was opened.  What `search` uses; also for looking inside
        (segments, lexicon) in tools and tests."""
        for _attempt in range(5):
            name = self._current_name()
            if name is None:
                self.close()
                return None
            try:
                if self._reader is not None and self._reader_name == name and self._reader.up_to_date():
                    return self._reader
                # Reopen rather than refresh: whoosh-ng 5.4 reuses segment readers whose deletions
                # changed, so a refreshed searcher still finds replaced captures.
                self.close()
                self._reader = Reader(store.open_index(self.index_dir, name))
                self._reader_name = name
                return self._reader
            except OSError:  # FileNotFoundError included
                # A rebuild swapped CURRENT and deleted this index's files under us: re-read.
                self.close()
                if self._current_name() == name:
                    time.sleep(0.05)
        raise ArchiveError(f"full-text index {self.index_dir} cannot be opened; run a rebuild")

    def segments(self) -> list[SegmentInfo]:
        """The index's segments: documents, deletions, and whether in warcache's posting layout."""
        with self._damage_is_an_archive_error():
            reader = self.reader()
            return [] if reader is None else reader.segments()

    def outdated(self) -> bool:
        """True when some of the index was written before warcache's own posting layout: it is
        searched correctly but much more slowly (every posting read in Python) until rebuilt."""
        return any(not segment.own_layout for segment in self.segments())

    def captures(self) -> set[str]:
        """The captures the index holds, as `"<timestamp> <url>"` (see documents.capture_key): read
        from the `capture` field's term list, without loading a single stored document (0.1-0.3 s
        for 10k captures). A capture is only ever deleted to be replaced under the same key, or
        with the whole index by a rebuild, so every term is a capture the index holds."""
        with self._damage_is_an_archive_error():
            reader = self.reader()
            if reader is None or reader.doc_count() == 0:
                return set()
            return set(reader.field_terms("capture"))

    def count(self) -> int:
        """Number of captures in the index (0 when it has never been written)."""
        reader = self.reader()
        return 0 if reader is None else reader.count()

    def plan(self, query: str) -> Plan | None:
        """How this index runs `query` (see warcache.search.compile.Plan: the compiled query,
        whether it is ranked, its dates, what snippets highlight); None before the first write.
        UsageError for a malformed query."""
        node = check_query(query)
        with self._damage_is_an_archive_error():
            reader = self.reader()
            return None if reader is None else plan_query(node, reader, self.tagged)

    def search(self, query: str, *, limit: int = 20, exhaustive: bool = False) -> list[Hit]:
        """Best captures for `query` (see warcache.search.query for the language), best first.

        Queries without words (only site:, after:, -word, …) have no ranking: newest first.
        `exhaustive` scores every matching capture with Whoosh's own matchers instead of the top-k
        search: the same hits, slower (what tests check the top-k search against).
        Raises UsageError for a malformed query, whether or not the index exists yet, and
        ArchiveError when the index files are damaged.
        """
        node = check_query(query)
        with self._damage_is_an_archive_error():
            reader = self.reader()
            if reader is None or limit <= 0 or reader.doc_count() == 0:
                return []  # (an index rebuilt from no pages has no segments, and no columns to read)
            plan = plan_query(node, reader, self.tagged)
            found = reader.search(plan, limit, exhaustive=exhaustive)
            return [to_hit(stored, score, plan.highlight, self.collection) for score, stored in found]

    @contextlib.contextmanager
    def _damage_is_an_archive_error(self) -> Iterator[None]:
        """Damaged index files surface as whatever failed to parse them: struct, pickle or zlib
        errors, arrays of the wrong size, indexes out of range, wrong types, or Whoosh's bare
        Exception("Block tag error").  The index is derived data and a rebuild mends it, so any
        of these becomes one ArchiveError that says so (with the original, for a bug report)."""
        try:
            yield
        except WarcacheError:
            raise
        except Exception as exc:  # noqa: BLE001 - see above
            raise ArchiveError(
                f"the full-text index of collection {self.collection!r} is damaged or unreadable "
                f"({type(exc).__name__}: {str(exc)[:100]}); "
                f"`warcache index -c {self.collection} --rebuild` rebuilds it from the WARCs"
            ) from exc
