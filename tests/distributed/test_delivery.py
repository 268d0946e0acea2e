"""Delivery and ingest without a browser: a half-shipped file is never ingested, a file is ingested
exactly once whatever step an ingest is killed at, a job captured twice is indexed once, and bad
broker URLs get one line.

The WARC files here are small real ones written with warcio (a warcinfo naming the job, as a
worker's does, and one HTML page); the shippers and ingests that die do so in real processes,
killed at the step under test.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from queue_helpers import S3_ENV, MotoS3, RedisServer, warcache_cmd
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from warcache import dirswap
from warcache.collection import Collection
from warcache.distributed.delivery import MARKER, DirStore, make_marker, open_store
from warcache.distributed.ingest import Ingester
from warcache.index.cdxj import CdxjIndex
from warcache.index.postprocess import index_missing
from warcache.manage.verify import verify_collection
from warcache.warc.recovery import recover_collection
from warcache.warc.writer import PAGE_URN

pytestmark = pytest.mark.slow  # processes started and killed, a few seconds in all

URL = "http://127.0.0.1:9/article"


def worker_warc(directory: Path, name: str, job: str, url: str = URL, size: int = 0) -> Path:
    """A WARC as a worker ships it: a warcinfo naming its job, the page's response (padded to
    `size`), and the page record that ends every page warcache writes."""
    path = directory / name
    body = (f"<!doctype html><title>Delivered</title><p>deliveredword {job}</p>"
            + "<!-- pad -->" * (size // 12)).encode()
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True, warc_version="1.1")
        writer.write_record(writer.create_warcinfo_record(name, {"software": "test", "warcache-job": job}))
        writer.write_record(writer.create_warc_record(
            url, "response", payload=io.BytesIO(body), length=len(body),
            http_headers=StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                                          protocol="HTTP/1.1"),
            warc_headers_dict={"WARC-Date": "2024-05-17T10:00:00Z"}))
        info = json.dumps({"url": url, "final_url": url, "status": 200, "title": "Delivered",
                           "mime": "text/html", "started": "2024-05-17T10:00:00Z"}).encode()
        writer.write_record(writer.create_warc_record(  # a worker's page ends with its page record
            PAGE_URN + url, "metadata", payload=io.BytesIO(info), length=len(info),
            warc_content_type="application/json", warc_headers_dict={"WARC-Date": "2024-05-17T10:00:00Z"}))
    return path


def ship(store, path: Path, job: str) -> None:
    store.ship(path, make_marker(path, job=job, collection="default"), "default")


def pages(root: Path) -> list[str]:
    return [p.url for p in Collection(root, "default").pages()]


def index_lines(root: Path, url: str = URL) -> int:
    index = CdxjIndex(Collection(root, "default").indexes_dir)
    try:
        return len(index.lookup(url))
    finally:
        index.close()


def ingest(root: Path, store) -> object:
    ingester = Ingester(Collection(root, "default"), store)
    try:
        return ingester.run_once()
    finally:
        ingester.close()


#: Runs one shipping or ingest step in a process that dies (os._exit, as under SIGKILL) at `step`.
DIE = textwrap.dedent("""
    import os, shutil, sys
    from pathlib import Path
    from warcache.collection import Collection
    from warcache.distributed import delivery, ingest
    from warcache.distributed.delivery import make_marker, open_store
    step, store_url, root, path, job = sys.argv[1:6]
    store = open_store(store_url)

    def die(*args, **kwargs):
        os._exit(9)

    def after(function):
        def wrapped(*args, **kwargs):
            function(*args, **kwargs)
            os._exit(9)
        return wrapped

    if step == "mid-copy":  # half the bytes copied, then killed
        def half(src, dst, length=0):
            dst.write(src.read(os.path.getsize(path) // 2)); dst.flush(); os._exit(9)
        shutil.copyfileobj = half
    elif step == "before-marker":  # the data delivered whole, killed before the marker
        if store_url.startswith("s3:"):
            store.s3.upload_file = after(store.s3.upload_file)
        else:
            original = delivery.DirStore._write_atomically
            calls = []
            def once(self, *args):
                calls.append(1)
                if len(calls) == 2:
                    os._exit(9)
                return original(self, *args)
            delivery.DirStore._write_atomically = once
    elif step == "fetched":
        ingest.file_digest = die
    elif step in ("staged", "named"):  # moved in as NAME.open / renamed to NAME, nothing after
        calls = []
        def count(*args):
            calls.append(1)
            if len(calls) == (1 if step == "staged" else 2):
                os._exit(9)
        ingest.fsync_dir = count
    elif step == "indexed":
        ingest.add_files = after(ingest.add_files)
    elif step == "committed":
        type(store).remove = die
    if step in ("mid-copy", "before-marker"):
        p = Path(path)
        store.ship(p, make_marker(p, job=job, collection="default"), "default")
    else:
        ingest.Ingester(Collection(Path(root), "default"), store).run_once()
    os._exit(0)
""")


def die_at(step: str, store_url: str, root: Path, path: Path | str = "", job: str = "") -> None:
    proc = subprocess.run([sys.executable, "-c", DIE, step, store_url, str(root), str(path), job],
                          capture_output=True, text=True, timeout=60, env={**os.environ, **S3_ENV})
    assert proc.returncode == 9, f"{step}: exited {proc.returncode}: {proc.stderr[-2000:]}"


def test_a_delivery_cut_short_is_not_ingested_until_it_is_complete_dir(tmp_path):
    root, spool = tmp_path / "root", tmp_path / "spool"
    spool.mkdir()
    store_url = (tmp_path / "store").as_uri()
    store = open_store(store_url)
    path = worker_warc(spool, "warcache-1-1-a.warc.gz", "job-a", size=3 << 20)
    die_at("mid-copy", store_url, root, path, "job-a")
    leftovers = sorted(p.name for p in (tmp_path / "store" / "default").iterdir())
    assert len(leftovers) == 1 and leftovers[0].startswith(".") and leftovers[0].endswith(".part")
    assert ingest(root, store).ingested == [] and pages(root) == []
    die_at("before-marker", store_url, root, path, "job-a")
    assert (tmp_path / "store" / "default" / path.name).stat().st_size == path.stat().st_size
    assert not (tmp_path / "store" / "default" / (path.name + MARKER)).exists()
    assert ingest(root, store).ingested == [] and pages(root) == []
    ship(store, path, "job-a")  # the worker, or the one the job went to next, delivers it whole
    assert ingest(root, store).ingested == [path.name]
    assert pages(root) == [URL] and index_lines(root) == 1
    assert verify_collection(Collection(root, "default")).ok
    # The killed shipper's hidden part is swept once it is old enough; nothing else is left.
    part = tmp_path / "store" / "default" / leftovers[0]
    os.utime(part, (1, 1))
    assert ingest(root, store).swept == 1
    assert list((tmp_path / "store" / "default").iterdir()) == []


def test_a_delivery_cut_short_is_not_ingested_until_it_is_complete_s3(tmp_path, monkeypatch):
    root, spool = tmp_path / "root", tmp_path / "spool"
    spool.mkdir()
    with MotoS3() as s3:
        s3.create_bucket("warcs")
        store_url = s3.store_url("warcs")
        for name, value in S3_ENV.items():
            monkeypatch.setenv(name, value)
        store = open_store(store_url)
        path = worker_warc(spool, "warcache-1-1-a.warc.gz", "job-a")
        die_at("before-marker", store_url, root, path, "job-a")
        assert s3.keys("warcs") == [f"deliveries/default/{path.name}"]
        assert ingest(root, store).ingested == [] and pages(root) == []
        ship(store, path, "job-a")
        assert ingest(root, store).ingested == [path.name]
        assert s3.keys("warcs") == []
    assert pages(root) == [URL] and index_lines(root) == 1


def test_bytes_that_do_not_match_their_marker_are_never_ingested(tmp_path):
    root, spool = tmp_path / "root", tmp_path / "spool"
    spool.mkdir()
    store = DirStore(tmp_path / "store", (tmp_path / "store").as_uri())
    path = worker_warc(spool, "warcache-1-1-b.warc.gz", "job-b")
    ship(store, path, "job-b")
    delivered = tmp_path / "store" / "default" / path.name
    data = bytearray(delivered.read_bytes())
    data[len(data) // 2] ^= 0xFF
    delivered.write_bytes(bytes(data))
    for _ in range(4):
        report = ingest(root, store)
        assert report.ingested == []
    assert "do not match its marker" in report.problems[0] if report.problems else True
    assert pages(root) == [] and delivered.exists()  # left for a person to look at


@pytest.mark.parametrize("step,recovered", [
    ("fetched", False), ("staged", False), ("staged", True), ("indexed", False), ("indexed", True),
    ("named", False), ("committed", False)])
def test_an_ingest_killed_at_any_step_indexes_the_file_exactly_once(tmp_path, step, recovered):
    """Killed at a step, then ingested again; with `recovered`, a local run's recovery finds the
    `.open` file the killed ingest left before the next ingest does."""
    root, spool = tmp_path / "root", tmp_path / "spool"
    spool.mkdir()
    store_url = (tmp_path / "store").as_uri()
    store = open_store(store_url)
    path = worker_warc(spool, "warcache-1-1-c.warc.gz", "job-c")
    ship(store, path, "job-c")
    die_at(step, store_url, root)
    coll = Collection(root, "default")
    if step in ("staged", "indexed"):
        assert (coll.archive_dir / (path.name + ".open")).exists()
        assert coll.warc_files() == []  # never taken for a complete, unindexed file meanwhile
    if recovered:
        done = recover_collection(coll, lambda p, name: index_missing(coll, p, name))
        assert [r.final_name for r in done] == [path.name]
    report = ingest(root, store)
    assert report.ingested == [path.name] or report.again == 1
    assert pages(root) == [URL] and index_lines(root) == 1
    assert list((tmp_path / "store" / "default").iterdir()) == []
    assert verify_collection(Collection(root, "default")).ok
    ingester = Ingester(Collection(root, "default"), store)
    assert ingester.job_file("job-c") == path.name
    ingester.close()


def test_a_job_captured_twice_is_indexed_once_and_a_file_delivered_again_is_dropped(tmp_path):
    root, spool = tmp_path / "root", tmp_path / "spool"
    spool.mkdir()
    store = DirStore(tmp_path / "store", (tmp_path / "store").as_uri())
    first = worker_warc(spool, "warcache-1-1-d.warc.gz", "job-d")
    second = worker_warc(spool, "warcache-2-2-d.warc.gz", "job-d")  # the job, run again elsewhere
    ship(store, first, "job-d")
    ship(store, second, "job-d")
    report = ingest(root, store)
    assert report.ingested == [first.name] and report.duplicates == [second.name]
    assert (root / "collections" / "default" / "setaside" / "duplicates" / second.name).exists()
    ship(store, first, "job-d")  # a delivery repeated after it was ingested
    report = ingest(root, store)
    assert report.ingested == [] and report.again == 1
    assert pages(root) == [URL] and index_lines(root) == 1
    assert list((tmp_path / "store" / "default").iterdir()) == []
    # The ledger can be lost: made anew, it knows the jobs from the archive's warcinfo records.
    (root / "collections" / "default" / "indexes" / "ingest.sqlite3").unlink()
    third = worker_warc(spool, "warcache-3-3-d.warc.gz", "job-d")
    ship(store, third, "job-d")
    assert ingest(root, store).duplicates == [third.name]
    assert pages(root) == [URL]


def test_an_ingest_waits_for_forget_and_follows_the_collection_it_swapped_in(tmp_path):
    """An ingest writes to the collection as a capture does: not while `warcache forget` rewrites
    it. It waits for the rewrite, then uses the ledger forget carried into the swapped-in
    directory (a job captured again is still known), not the one it had open before."""
    root, spool = tmp_path / "root", tmp_path / "spool"
    spool.mkdir()
    store = DirStore(tmp_path / "store", (tmp_path / "store").as_uri())
    coll = Collection(root, "default")
    ingester = Ingester(coll, store)
    try:
        ship(store, worker_warc(spool, "warcache-1-1-f.warc.gz", "job-f"), "job-f")
        assert ingester.run_once().ingested == ["warcache-1-1-f.warc.gz"]
        ship(store, worker_warc(spool, "warcache-2-2-f.warc.gz", "job-f"), "job-f")  # the job again
        ship(store, worker_warc(spool, "warcache-3-3-g.warc.gz", "job-g", url=URL + "/2"), "job-g")
        held, released = threading.Event(), threading.Event()

        def rewrite() -> None:  # what forget does, in short: hold the collection alone, swap it
            collections = root / "collections"
            with dirswap.rewriting(collections, "default"):
                held.set()
                time.sleep(1.0)
                shutil.copytree(coll.path, collections / ".swapped")
                os.rename(coll.path, collections / ".old")
                os.rename(collections / ".swapped", coll.path)
            released.set()

        thread = threading.Thread(target=rewrite)
        thread.start()
        assert held.wait(10)
        report = ingester.run_once()
        assert released.is_set()  # it waited for the rewrite
        thread.join(10)
        assert report.ingested == ["warcache-3-3-g.warc.gz"]
        assert report.duplicates == ["warcache-2-2-f.warc.gz"]
    finally:
        ingester.close()
    assert sorted(pages(root)) == [URL, URL + "/2"]
    assert not (root / "collections" / ".old" / "archive" / "warcache-3-3-g.warc.gz").exists()
    assert verify_collection(coll).ok


# -- broker errors ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def blackhole():
    """A port that accepts connections and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


@pytest.fixture(scope="module")
def live_redis():
    with RedisServer() as r:
        yield r


@pytest.mark.parametrize("case,command,expect", [  # each command gets several (the check is shared)
    ("refused", "worker", "cannot reach the broker at 127.0.0.1:1: Error 111 connecting to 127.0.0.1:1"),
    ("refused", "add", "cannot reach the broker at 127.0.0.1:1: Error 111 connecting to 127.0.0.1:1"),
    ("scheme", "queue", "invalid broker URL 'http://127.0.0.1:6379/0': use redis://HOST[:PORT][/DB]"),
    ("port", "worker", "invalid broker URL 'redis://127.0.0.1:99999/0': Port out of range"),
    ("bracket", "add", "invalid broker URL 'redis://***@[::1/0': Invalid IPv6 URL"),  # password hidden
    ("silent", "add", "did not answer within 3 s"),
    ("database", "worker", "said: DB index is out of range"),
])
def test_bad_and_unreachable_brokers_get_one_line(tmp_path, blackhole, live_redis, command, case, expect):
    url = {"refused": "redis://127.0.0.1:1/0", "scheme": "http://127.0.0.1:6379/0",
           "port": "redis://127.0.0.1:99999/0", "bracket": "redis://:secret@[::1/0", "silent": f"redis://127.0.0.1:{blackhole}/0",
           "database": f"redis://127.0.0.1:{live_redis.port}/99"}[case]
    args = {"worker": ["worker", "--broker", url], "add": ["add", "--broker", url, "http://127.0.0.1:9/"],
            "queue": ["queue", "--broker", url]}[command]
    proc = subprocess.run(warcache_cmd(tmp_path, *args), capture_output=True, text=True, timeout=30)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("Error: ") and expect in lines[0], lines[0]
    assert proc.stdout == ""


def test_without_the_extra_the_commands_name_the_install_command(tmp_path):
    code = ("import sys; sys.modules['celery'] = None; from warcache.cli import main; "
            f"main(['--root', {str(tmp_path)!r}] + sys.argv[1:])")
    for args in (["worker", "--broker", "redis://127.0.0.1:1/0"],
                 ["add", "--broker", "redis://127.0.0.1:1/0", "http://127.0.0.1:9/"]):
        proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=30)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 1 and len(lines) == 1, proc.stderr
        assert "pip install 'warcache[distributed]'" in lines[0]


def test_marker_is_json_with_size_and_sha256(tmp_path):
    path = worker_warc(tmp_path, "warcache-9-9-e.warc.gz", "job-e")
    marker = make_marker(path, job="job-e", collection="default")
    assert marker["size"] == path.stat().st_size and len(marker["sha256"]) == 64
    assert json.loads(json.dumps(marker)) == marker
