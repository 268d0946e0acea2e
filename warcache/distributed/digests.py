"""Revisits across workers: the payloads a collection holds, published by its host to Redis.

Why the host publishes and workers only read: an original a worker wrote is in the collection
only once its file is ingested, and it may never be (the worker dies before shipping, or its job
ran twice and this file is set aside). A revisit must point at a record the collection holds, so
a worker writes one only for a digest the host has published, which it does after the file
holding the original is committed. Two workers that fetch the same new payload before either file
is ingested both store it whole: a bounded waste, never a revisit pointing at nothing.

The map is a cache of the collection's revisit table (`indexes/dedup.sqlite3`): first original
wins in both, the host fills an empty map from the table, and losing it costs bytes, not
correctness. A Redis error on a worker means "not held": the page is stored whole.
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
from pathlib import Path

from warcache.collection import Collection
from warcache.index.dedup import Original

log = logging.getLogger("warcache.distributed")
SEED_BATCH = 10_000


def payloads_key(coll: Collection) -> str:
    """The map's Redis key: one per collection of one host (two hosts may both have "default")."""
    where = f"{socket.gethostname()}:{coll.path.resolve()}"
    return f"warcache:payloads:{coll.name}:{hashlib.sha1(where.encode()).hexdigest()[:12]}"


def _encode(original: Original) -> str:
    return json.dumps({"uri": original.uri, "date": original.date, "id": original.record_id},
                      separators=(",", ":"), ensure_ascii=False)


def _decode(raw: bytes | str) -> Original | None:
    try:
        value = json.loads(raw)
        return Original(str(value["uri"]), str(value["date"]), str(value["id"]))
    except (ValueError, KeyError, TypeError):
        return None


class PayloadMap:
    """One collection's digest -> original map in Redis."""

    def __init__(self, client, key: str) -> None:
        self.client = client
        self.key = key

    # -- the collection's host ------------------------------------------------------------------

    def publish(self, originals: list[tuple[str, Original]]) -> None:
        """After the file holding these originals is committed. HSETNX: the first one wins, as in
        the revisit table."""
        pipe = self.client.pipeline(transaction=False)
        for digest, original in originals:
            pipe.hsetnx(self.key, digest, _encode(original))
        pipe.execute()

    def seed_if_empty(self, dedup_path: Path) -> int:
        """Fill an empty map from the revisit table (a new broker, or one that lost its data)."""
        import sqlite3

        if self.client.exists(self.key) or not dedup_path.exists():
            return 0
        db = sqlite3.connect(f"file:{dedup_path}?mode=ro", uri=True, timeout=60)
        n = 0
        try:
            rows = db.execute("SELECT digest, uri, date, record_id FROM payloads")
            while batch := rows.fetchmany(SEED_BATCH):
                self.publish([(d, Original(u, t, r)) for d, u, t, r in batch])
                n += len(batch)
        except sqlite3.OperationalError:  # no table yet
            return n
        finally:
            db.close()
        return n

    # -- a worker -------------------------------------------------------------------------------

    def lookup_many(self, digests: list[str]) -> dict[str, Original]:
        """The originals of those digests the collection holds, in one round trip; {} when Redis
        cannot answer (the payloads are then stored whole)."""
        if not digests:
            return {}
        try:
            values = self.client.hmget(self.key, digests)
        except Exception as exc:  # noqa: BLE001 - any Redis trouble: no revisits for this page
            log.warning("digest map unavailable (%s): this page's payloads are stored whole",
                        str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return {}
        found = {}
        for digest, raw in zip(digests, values, strict=True):
            original = _decode(raw) if raw else None
            if original is not None:
                found[digest] = original
        return found


class KnownPayloads:
    """The `lookup` a capture's records are built with on a worker: answers from one HMGET made
    for the page's digests."""

    def __init__(self, found: dict[str, Original]) -> None:
        self.found = found

    def lookup(self, digest: str) -> Original | None:
        return self.found.get(digest)
