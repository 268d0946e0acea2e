"""The index files: Whoosh indexes in a directory, created, opened and written in transactions.

Documents go in here (fields from warcache.search.documents); warcache.search.match reads them
out.  Only Whoosh's public index API is used (storage, create and open, writers); the posting
layout the writers use is warcache.search.postings'.  Which index of the directory is live, the
write lock and atomic rebuilds are warcache.search.index's job.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from whoosh import index as wi
from whoosh.filedb.filestore import FileStorage

from warcache.errors import ArchiveError
from warcache.search import analysis, postings
from warcache.search.analysis import SCHEMA
from warcache.search.postings import PostingsCodec

__all__ = ["DocumentWriter", "create_index", "open_index", "writing"]

# An index names the modules of its schema and codec classes in its table of contents (a
# pickle): warcache.search.analysis and warcache.search.postings.  Indexes written before
# warcache had one package per layer name them warcache.fulltext (before that module was split),
# warcache.fulltext_analysis and warcache.fulltext_postings: those names stay importable, so
# such indexes still open.
for _old, _module in (("warcache.fulltext", analysis), ("warcache.fulltext_analysis", analysis),
                      ("warcache.fulltext_postings", postings)):
    sys.modules.setdefault(_old, _module)


def _storage(directory: Path) -> FileStorage:
    # No mmap: with it, whoosh-ng 5.4 copies each file of a segment into a BytesIO when a
    # reader opens it (~0.4 s for the first search of a process at 100k pages, i.e. every
    # `warcache search`); without it, the files are read where needed, and searches are as fast.
    return FileStorage(str(directory), supports_mmap=False)


def create_index(directory: Path, name: str) -> Any:
    """A new, empty index called `name` in `directory` (beside any others there)."""
    return _storage(directory).create_index(SCHEMA, indexname=name)


def open_index(directory: Path, name: str) -> Any:
    """The index called `name` in `directory`; FileNotFoundError when its files are not there."""
    try:
        return _storage(directory).open_index(name, schema=SCHEMA)
    except wi.EmptyIndexError as exc:
        raise FileNotFoundError(f"no index {name!r} in {directory}") from exc


class DocumentWriter:
    """Writes documents (fields from documents.index_fields) in one transaction (see `writing`)."""

    def __init__(self, writer: Any):
        self._writer = writer

    def add(self, fields: dict[str, Any]) -> None:
        """Add a document (the caller knows that no other has its capture key)."""
        self._writer.add_document(**fields)

    def replace(self, fields: dict[str, Any]) -> None:
        """Add a document, deleting those with the same capture key (the schema's unique field)."""
        self._writer.update_document(**fields)


@contextlib.contextmanager
def writing(
    ix: Any, *, procs: int = 1, limitmb: int = 256, multisegment: bool = True
) -> Iterator[DocumentWriter]:
    """A transaction on index `ix`: committed when the block ends, cancelled if it raises.

    New segments (and segments merged by a commit) get warcache's posting layout; segments of an
    index written before it keep Whoosh's and are still searched, more slowly.  With `procs` > 1
    Whoosh's writer runs in that many processes, each keeping its own segment if `multisegment`.
    """
    kwargs: dict[str, Any] = {"limitmb": limitmb, "codec": PostingsCodec()}
    if procs > 1:
        kwargs.update(procs=procs, multisegment=multisegment, batchsize=64)
    try:
        writer = ix.writer(**kwargs)
    except wi.LockError as exc:  # only if something bypassed warcache's own write lock
        raise ArchiveError(f"full-text index {ix.storage.folder} is locked by another writer") from exc
    try:
        yield DocumentWriter(writer)
    except BaseException:
        writer.cancel()
        raise
    writer.commit()
