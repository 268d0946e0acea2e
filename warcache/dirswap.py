"""Replacing a collection's directory by a rewritten copy, so that a kill at any moment leaves the
collection as it was or as it was meant to become, never in between; and the lock that keeps
writers out meanwhile.

Why: `warcache forget` takes records out of WARC files, and an archived WARC is never edited in
place. So the whole collection is built again beside the live one (untouched WARCs hard-linked,
rewritten ones written under new names, every index rebuilt, everything verified), and then the
two directories are swapped. Every path is inside `collections/`, so on one file system:

    .NAME.rewrite/root/collections/NAME/    the new collection, built while NAME stays live
    .NAME.rewrite/journal.json              written and fsynced once the new one is complete
    rename NAME -> .NAME.rewrite/old        \\  the swap: NAME is missing only between
    rename .NAME.rewrite/root/.../NAME -> NAME  /  these two renames
    delete journal.json, then .NAME.rewrite/

`recover` reads that state back. With a journal, the swap is finished (rolled forward); without
one, the work directory is thrown away (rolled back: NAME was never touched, or the swap had
already been finished and only the clean-up was cut short). Every command runs it where it opens
a collection (`collection.open_collection`, `list_collections`), when no live process holds the
collection's lock.

The lock is `collections/.NAME.lock`, outside NAME so that the swap does not replace it. A rewrite
holds it exclusively and refuses to start while anyone else holds it; commands that write to a
collection (add, retry, import, index) hold it shared for their whole run and wait a while for a
rewrite to finish. Readers take no lock: they see the old directory or the new one, by path. The
`.NAME.*` names start with a dot, so `list_collections` never takes them for a collection.

A lock is an flock, which a forked child shares: the full-text index's writer processes would keep
it held, by a killed command, for as long as they linger. So a forked child closes its copies at
once, and a child forked during a rewrite is killed with its parent (Linux: PR_SET_PDEATHSIG),
so that nothing of a killed rewrite outlives it.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from warcache.errors import ArchiveError, UsageError
from warcache.fsync import fsync_dir

WORK_SUFFIX = ".rewrite"
LOCK_SUFFIX = ".lock"
JOURNAL = "journal.json"
#: How long a command that writes waits for a rewrite of its collection to finish.
WRITER_WAIT = 60.0


def lock_path(collections: Path, name: str) -> Path:
    return collections / f".{name}{LOCK_SUFFIX}"


def work_dir(collections: Path, name: str) -> Path:
    return collections / f".{name}{WORK_SUFFIX}"


def staging_root(collections: Path, name: str) -> Path:
    """A root whose `collections/NAME` is the collection being built (so `Collection(root, NAME)`
    works on it unchanged)."""
    return work_dir(collections, name) / "root"


def _staged(collections: Path, name: str) -> Path:
    return staging_root(collections, name) / "collections" / name


def _aside(collections: Path, name: str) -> Path:
    return work_dir(collections, name) / "old"


def pending_names(collections: Path) -> list[str]:
    """Collections with a work directory left (a rewrite running, or one that was killed)."""
    if not collections.is_dir():
        return []
    return sorted(p.name[1:-len(WORK_SUFFIX)] for p in collections.iterdir()
                  if p.name.startswith(".") and p.name.endswith(WORK_SUFFIX) and p.is_dir())


# -- the lock -------------------------------------------------------------------------------------

_held: set[int] = set()  # descriptors of the collection locks this process holds
_rewrites = 0  # rewrites under way in this process


def _in_forked_child() -> None:
    """See the module docstring: a child must not keep its parent's locks, nor outlive a rewrite."""
    global _rewrites
    for fd in list(_held):
        with contextlib.suppress(OSError):
            os.close(fd)
    _held.clear()
    if _rewrites and sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
            if os.getppid() == 1:  # the parent died before the call
                os._exit(1)
    _rewrites = 0


os.register_at_fork(after_in_child=_in_forked_child)


def _try_lock(collections: Path, name: str, *, shared: bool) -> int | None:
    """The descriptor holding the lock, or None if another holder is in the way."""
    fd = os.open(lock_path(collections, name), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    _held.add(fd)
    return fd


def _unlock(fd: int) -> None:
    _held.discard(fd)
    os.close(fd)  # releases the lock


@contextlib.contextmanager
def rewriting(collections: Path, name: str) -> Iterator[None]:
    """Hold the collection alone, for a rewrite: UsageError at once if anything else holds it."""
    global _rewrites
    fd = _try_lock(collections, name, shared=False)
    if fd is None:
        raise UsageError(f"collection {name!r} is in use by another warcache command that writes to it "
                         "(add, retry, import, index or forget); try again when it has finished")
    _rewrites += 1
    try:
        yield
    finally:
        _rewrites -= 1
        _unlock(fd)


@contextlib.contextmanager
def writing(collections: Path, name: str, *, wait: float = WRITER_WAIT,
            on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the collection shared for a command that writes to it (several may at once).

    What a killed rewrite left is finished first. A rewrite in progress is waited for, up to
    `wait` seconds (`on_wait` is called when the wait begins); then UsageError.
    """
    collections.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait
    waiting = False
    while True:
        if work_dir(collections, name).exists():
            recover_if_idle(collections, name)
        fd = None
        if not work_dir(collections, name).exists():
            fd = _try_lock(collections, name, shared=True)
            if fd is not None and work_dir(collections, name).exists():
                _unlock(fd)  # a rewrite began and died between the check and the lock: recover it
                fd = None
                continue
        if fd is not None:
            break
        if time.monotonic() > deadline:
            raise UsageError(f"collection {name!r} is being rewritten by `warcache forget`; "
                             "try again when it has finished")
        if not waiting and on_wait is not None:
            on_wait()
        waiting = True
        time.sleep(0.1)
    try:
        yield
    finally:
        _unlock(fd)


# -- building, committing, recovering ----------------------------------------------------------------


def begin(collections: Path, name: str) -> Path:
    """Start a rewrite (the caller holds `rewriting`): an empty work directory; returns the
    staging root to build the new collection under."""
    recover(collections, name)
    root = staging_root(collections, name)
    (root / "collections").mkdir(parents=True)
    return root


def abandon(collections: Path, name: str) -> None:
    """Throw away a rewrite that was not committed (the live collection was never touched)."""
    journal = work_dir(collections, name) / JOURNAL
    if journal.exists():
        raise ArchiveError(f"the rewrite of collection {name!r} is committed; it cannot be abandoned")
    shutil.rmtree(work_dir(collections, name), ignore_errors=True)


def commit(collections: Path, name: str, details: dict) -> None:
    """Swap the built collection in (the caller holds `rewriting`, and every file of the new
    collection is complete and fsynced). From the journal's rename on, the swap is decided: a
    kill anywhere after it is finished by the next `recover`."""
    work = work_dir(collections, name)
    if not _staged(collections, name).is_dir():
        raise ArchiveError(f"nothing was built to replace collection {name!r}")
    tmp = work / (JOURNAL + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump({"collection": name, **details}, fh, ensure_ascii=False, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.rename(tmp, work / JOURNAL)
    fsync_dir(work)
    _roll_forward(collections, name)


def recover(collections: Path, name: str) -> str | None:
    """Finish or undo a rewrite a killed process left (the caller holds the lock exclusively).
    Returns what was done, for the user, or None if there was nothing to do."""
    work = work_dir(collections, name)
    if not work.exists():
        return None
    if (work / JOURNAL).exists():
        _roll_forward(collections, name)
        return f"finished an interrupted rewrite of collection {name!r} (`warcache forget`)"
    live = collections / name
    if not live.is_dir():
        raise ArchiveError(f"collection {name!r} is missing and {work} holds an unfinished rewrite "
                           "with no journal; nothing was deleted: look inside before removing it")
    swapped = _aside(collections, name).exists()
    _remove_tree(work)
    fsync_dir(collections)
    if swapped:
        return f"removed what an interrupted rewrite of collection {name!r} left behind"
    return f"undid an interrupted rewrite of collection {name!r} (`warcache forget`): nothing had changed"


def recover_if_idle(collections: Path, name: str) -> str | None:
    """`recover`, if there is a work directory and no live process holds the collection."""
    if not work_dir(collections, name).exists() or not collections.is_dir():
        return None
    try:
        fd = _try_lock(collections, name, shared=False)
    except OSError:  # a reader that may not write here (another user's archive): leave it
        return None
    if fd is None:
        return None  # a rewrite is running, or writers are (then there is nothing to recover)
    try:
        return recover(collections, name)
    finally:
        _unlock(fd)


def _roll_forward(collections: Path, name: str) -> None:
    live, staged, aside = collections / name, _staged(collections, name), _aside(collections, name)
    work = work_dir(collections, name)
    if staged.exists():
        if live.exists():
            if aside.exists():
                raise ArchiveError(f"cannot finish the rewrite of collection {name!r}: {live}, {staged} "
                                   f"and {aside} all exist; nothing was changed")
            os.rename(live, aside)
            fsync_dir(collections)
            fsync_dir(work)
        os.rename(staged, live)
        fsync_dir(collections)
        fsync_dir(staged.parent)
    elif not live.exists():
        raise ArchiveError(f"cannot finish the rewrite of collection {name!r}: the new collection is "
                           f"missing from {work}; nothing was deleted")
    (work / JOURNAL).unlink()
    fsync_dir(work)
    _remove_tree(work)  # a kill here leaves a work directory without a journal: recover removes it
    fsync_dir(collections)


def _remove_tree(path: Path) -> None:
    """Delete a work directory; a child of a killed rewrite may be dying in it still: retry a while."""
    for attempt in range(50):
        try:
            shutil.rmtree(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            if attempt == 49:
                raise
            time.sleep(0.1)


def fsync_tree(top: Path) -> None:
    """fsync every file and directory under `top` (before a journal says the tree is complete)."""
    for dirpath, _dirnames, filenames in os.walk(top):
        for filename in filenames:
            path = os.path.join(dirpath, filename)
            if os.path.islink(path):
                continue
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(dirpath))
