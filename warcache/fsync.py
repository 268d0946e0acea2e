"""Making a new name in a directory durable: fsync of the directory itself.

After a file is written, fsynced and renamed into place, the rename is only on disk once the
directory is fsynced too. Every writer of the project (WARC files, CDXJ segments, delivered and
ingested files, the collection swap of `forget`) does this; this is the one copy.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    """fsync `directory`, best effort: the files in it were fsynced already, and some filesystems
    and platforms refuse to open or fsync a directory (EINVAL, EISDIR, EACCES), which must not turn
    a completed write into an error."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
