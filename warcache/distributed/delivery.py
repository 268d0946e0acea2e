"""Shipping a closed WARC file to the collection's store, so the collection's host sees it only
once it is whole.

The protocol is the same for both stores: under `<store>/<collection>/`, the data `<name>` first,
then the marker `<name>.sha256` (JSON: name, size, sha256, job, worker). The marker is the commit
point: ingest lists markers, never data, and checks size and sha256 before it uses a file. A
worker killed while shipping leaves at most a hidden `.part` (directory), or data without a marker:
neither is ever ingested, and ingest sweeps them away after a day.

- A shared directory (`file:///mnt/warcache-store` or a plain absolute path): the data is copied
  under a hidden temporary name, fsynced, renamed; the marker likewise; the directory is fsynced
  after each rename.
- An S3-compatible bucket (`s3://bucket/prefix`, endpoint from `?endpoint=http://host:9000` or
  AWS_ENDPOINT_URL, for MinIO, Ceph or R2; credentials from the usual AWS environment or profile,
  never in a job): a PUT, or a completed multipart upload, is atomic, so a half upload is never
  visible; the marker is PUT only after the data PUT returned. A killed multipart upload leaves
  invisible parts: give the bucket an AbortIncompleteMultipartUpload lifecycle rule.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import time
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from warcache.errors import UsageError, WarcacheError
from warcache.fsync import fsync_dir

MARKER = ".sha256"
#: What a delivered file may be called: a marker is data from another machine, and its name
#: becomes a path on this one.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.warc\.gz$")
#: Data without a marker (or a temporary part) older than this is a killed shipper's leftover.
ORPHAN_AGE = 86400.0


class DeliveryError(WarcacheError):
    """The store cannot be reached or written; the message says which and why."""


def file_digest(path: Path) -> tuple[int, str]:
    """(size, sha256 hex) of a file."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def make_marker(path: Path, *, job: str, collection: str) -> dict:
    size, sha = file_digest(path)
    return {"name": path.name, "size": size, "sha256": sha, "job": job, "collection": collection,
            "worker": f"{socket.gethostname()}:{os.getpid()}", "shipped_at": time.time()}


class Store(Protocol):
    """Where workers deliver WARC files and the collection's host takes them from."""

    url: str

    def check(self) -> None:
        """Raise DeliveryError (one line) if the store cannot be used."""

    def ship(self, path: Path, marker: dict, collection: str) -> None:
        """Deliver `path` whole, then its marker."""

    def ready(self, collection: str) -> list[str]:
        """Names of the files whose marker is there, oldest name first."""

    def read_marker(self, collection: str, name: str) -> dict: ...

    def fetch(self, collection: str, name: str, dest: Path) -> None: ...

    def remove(self, collection: str, name: str) -> None:
        """Remove a file and its marker (the data first: a marker alone is skipped as done)."""

    def orphans(self, collection: str, older_than: float) -> list[str]:
        """Leftovers of killed shippers: data without a marker, temporary parts."""

    def remove_orphan(self, collection: str, name: str) -> None: ...


def open_store(url: str) -> Store:
    """The store a URL names: `file:///dir` or `/dir`, or `s3://bucket/prefix[?endpoint=URL]`."""
    parts = urlsplit(url)
    if parts.scheme in ("", "file"):
        path = parts.path if parts.scheme == "file" else url
        if not path or not os.path.isabs(path) or parts.netloc not in ("", "localhost"):
            raise UsageError(f"invalid store {url!r}: a directory is file:///ABSOLUTE/PATH or /ABSOLUTE/PATH")
        return DirStore(Path(path), url)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise UsageError(f"invalid store {url!r}: use s3://BUCKET[/PREFIX][?endpoint=http://HOST:PORT]")
        query = parse_qs(parts.query)
        endpoint, region = (query.get("endpoint") or [None])[0], (query.get("region") or [None])[0]
        return S3Store(url, parts.netloc, parts.path.strip("/"), endpoint=endpoint, region=region)
    raise UsageError(f"invalid store {url!r}: use a directory (file:///PATH) or s3://BUCKET/PREFIX")


class DirStore:
    """A directory every machine sees at the same path (NFS, CIFS, a bind mount...)."""

    def __init__(self, root: Path, url: str) -> None:
        self.root = root
        self.url = url

    def _dir(self, collection: str) -> Path:
        return self.root / collection

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".probe-{os.getpid()}-{secrets.token_hex(3)}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise DeliveryError(f"cannot write to the store {self.root}: {exc.strerror or exc}") from None

    def _write_atomically(self, directory: Path, name: str, source: Path | None, data: bytes = b"") -> None:
        tmp = directory / f".{name}.{secrets.token_hex(4)}.part"
        with open(tmp, "wb") as dst:
            if source is not None:
                with open(source, "rb") as src:
                    shutil.copyfileobj(src, dst, 1 << 20)
            else:
                dst.write(data)
            dst.flush()
            os.fsync(dst.fileno())
        os.rename(tmp, directory / name)
        fsync_dir(directory)

    def ship(self, path: Path, marker: dict, collection: str) -> None:
        directory = self._dir(collection)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._write_atomically(directory, path.name, path)
            self._write_atomically(directory, path.name + MARKER, None, json.dumps(marker).encode())
        except OSError as exc:
            raise DeliveryError(f"could not deliver {path.name} to {directory}: "
                                f"{exc.strerror or exc}") from None

    def ready(self, collection: str) -> list[str]:
        directory = self._dir(collection)
        if not directory.is_dir():
            return []
        return sorted(p.name[: -len(MARKER)] for p in directory.iterdir()
                      if p.name.endswith(MARKER) and not p.name.startswith("."))

    def read_marker(self, collection: str, name: str) -> dict:
        return json.loads((self._dir(collection) / (name + MARKER)).read_bytes())

    def fetch(self, collection: str, name: str, dest: Path) -> None:
        src = self._dir(collection) / name
        with open(src, "rb") as s, open(dest, "wb") as d:
            shutil.copyfileobj(s, d, 1 << 20)
            d.flush()
            os.fsync(d.fileno())

    def remove(self, collection: str, name: str) -> None:
        for n in (name, name + MARKER):
            (self._dir(collection) / n).unlink(missing_ok=True)

    def orphans(self, collection: str, older_than: float) -> list[str]:
        directory = self._dir(collection)
        if not directory.is_dir():
            return []
        now = time.time()
        marked = set(self.ready(collection))
        out = []
        for p in directory.iterdir():
            leftover = p.name.endswith(".part") or (not p.name.endswith(MARKER) and p.name not in marked)
            try:
                old = now - p.stat().st_mtime > older_than
            except FileNotFoundError:
                continue
            if leftover and old:
                out.append(p.name)
        return sorted(out)

    def remove_orphan(self, collection: str, name: str) -> None:
        (self._dir(collection) / name).unlink(missing_ok=True)


class S3Store:
    """An S3-compatible bucket, through boto3."""

    def __init__(self, url: str, bucket: str, prefix: str, *, endpoint: str | None,
                 region: str | None) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            from warcache.distributed import EXTRA_HINT

            raise UsageError(f"an s3:// store needs boto3, which is not installed: {EXTRA_HINT}") from None
        self.url = url
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        self.s3 = boto3.client(
            "s3", endpoint_url=endpoint,
            region_name=region or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
            config=Config(
                retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=60,
                # boto3 >= 1.36 adds CRC32 checksums by default, which several S3-compatible
                # stores (older MinIO and Ceph, some R2 paths) reject; ours is the sha256 marker.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                s3={"addressing_style": "path"}))

    def _key(self, collection: str, name: str) -> str:
        return f"{self.prefix}{collection}/{name}"

    def _fail(self, doing: str, exc: Exception) -> DeliveryError:
        text = str(exc).strip().splitlines()
        reason = text[0] if text else type(exc).__name__
        return DeliveryError(f"{doing} s3://{self.bucket}/{self.prefix}: {reason}")

    def check(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.s3.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("cannot use the store", exc) from None

    def ship(self, path: Path, marker: dict, collection: str) -> None:
        from boto3.s3.transfer import TransferConfig
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            # One PUT below the threshold, a multipart upload above it: either way the object
            # appears whole or not at all.
            self.s3.upload_file(str(path), self.bucket, self._key(collection, path.name),
                                ExtraArgs={"Metadata": {"sha256": marker["sha256"]}},
                                Config=TransferConfig(multipart_threshold=64 << 20, use_threads=False))
            self.s3.put_object(Bucket=self.bucket, Key=self._key(collection, path.name + MARKER),
                               Body=json.dumps(marker).encode(), ContentType="application/json")
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(f"could not deliver {path.name} to", exc) from None

    def _list(self, collection: str):
        base = self._key(collection, "")
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base):
            for obj in page.get("Contents", []):
                name = obj["Key"][len(base):]
                if name and "/" not in name:
                    yield name, obj["LastModified"].timestamp()

    def ready(self, collection: str) -> list[str]:
        return sorted(n[: -len(MARKER)] for n, _ in self._list(collection) if n.endswith(MARKER))

    def read_marker(self, collection: str, name: str) -> dict:
        body = self.s3.get_object(Bucket=self.bucket, Key=self._key(collection, name + MARKER))["Body"]
        return json.loads(body.read())

    def fetch(self, collection: str, name: str, dest: Path) -> None:
        self.s3.download_file(self.bucket, self._key(collection, name), str(dest))

    def remove(self, collection: str, name: str) -> None:
        for n in (name, name + MARKER):
            self.s3.delete_object(Bucket=self.bucket, Key=self._key(collection, n))

    def orphans(self, collection: str, older_than: float) -> list[str]:
        listed = dict(self._list(collection))
        now = time.time()
        return sorted(n for n, modified in listed.items()
                      if not n.endswith(MARKER) and n + MARKER not in listed and now - modified > older_than)

    def remove_orphan(self, collection: str, name: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=self._key(collection, name))
