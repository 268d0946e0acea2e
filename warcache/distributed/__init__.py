"""Capturing on many machines: workers on Celery and Redis, WARC files delivered through a store
and ingested exactly once on the collection's host.

How a page travels:

1. `warcache add --broker redis://HOST/0 URL...` runs on the collection's host. It plans what to
   capture as a local run does, and queues one job per URL (the URL, the collection, every
   capture option, where to deliver) on Redis (`client.py`).
2. `warcache worker --broker ...` runs anywhere: one process, one warm browser, `-j N` pages at
   once (`worker.py`, `capturer.py`). A job's page goes into a WARC file of its own, named after
   nothing but itself, with the job id in its warcinfo. The file is closed, then shipped to the
   store (`delivery.py`: a shared directory or an S3-compatible bucket), data first and a
   `.sha256` marker last. Only then does the task return, and only then is its message
   acknowledged: a worker killed at any point leaves its job to be delivered again, after the
   visibility timeout, to another worker.
3. The collection's host ingests each delivered file whose marker is there and whose bytes
   match it (`ingest.py`): into `archive/`, then the URL index, the page list, the full-text
   index and the revisit table, as for a local capture. A ledger keyed by file name and sha256,
   and by job id, makes this exactly once: a job captured twice (its worker died after shipping,
   before the acknowledgement) has its second file set aside, never indexed.
4. `add` prints each URL's line once its file is in the collection, so "ok" means what it means
   locally. `warcache ingest` takes in what was delivered while nobody waited (after a Ctrl-C);
   `warcache queue` shows what is pending, running and failed, and retries the failures.

Revisits across workers (`digests.py`): the host publishes, after each ingest, the payload
digests the collection now holds to a Redis hash; workers read it and write a revisit only for
a digest found there. A worker never trusts a digest another worker wrote: that worker's file may
never be ingested.

Celery, redis-py and boto3 are an optional extra; nothing in this package imports them at module
level, so the rest of warcache (and `warcache --help`) never loads them.
"""

from __future__ import annotations

import importlib

from warcache.errors import UsageError

EXTRA_HINT = "pip install 'warcache[distributed]'"


def require_extra(command: str, modules: tuple[str, ...] = ("celery", "redis")) -> None:
    """Raise a one-line UsageError naming the install command when the extra is missing."""
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise UsageError(f"warcache {command} needs {' and '.join(missing)}, which are not installed: "
                         f"{EXTRA_HINT}")
