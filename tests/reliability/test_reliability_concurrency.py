"""Four `warcache add` processes on one collection at once, ten pages each: all 40 captures land,
every WARC is valid, the URL and full-text indexes hold all 40, and no lock error reaches the user."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from conftest import run_cli
from hostile_site import HostileSite, article_word, children_of, kill_all
from warc_helpers import warcio_check

from warcache.collection import Collection
from warcache.index.cdxj import CdxjIndex
from warcache.index.dedup import DedupIndex, Original
from warcache.index.postprocess import fulltext_index
from warcache.search.archive import search_archive

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PROCESSES, PER_PROCESS = 4, 10


@pytest.fixture(scope="module")
def concurrent(tmp_path_factory, browser_path):
    root = tmp_path_factory.mktemp("concurrent")
    with HostileSite() as site:
        batches = [[site.url(f"/article/{p * 100 + i}?ms={50 * (i % 4)}") for i in range(PER_PROCESS)]
                   for p in range(PROCESSES)]
        procs = [subprocess.Popen([sys.executable, "-m", "warcache", "--root", str(root), "add", "--no-check",
                                   "--no-scroll", "--idle-timeout", "0.3", "-j", "2", *urls],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for urls in batches]
        start = time.monotonic()
        seen: set[int] = set()
        while any(p.poll() is None for p in procs) and time.monotonic() - start < 600:
            for p in procs:
                seen.update(children_of(p.pid))
            time.sleep(0.1)
        results = []
        for p in procs:
            if p.poll() is None:
                p.kill()
            results.append((p.wait(), p.stderr.read()))
            p.stderr.close()
        kill_all(sorted(pid for pid in seen if pid not in {p.pid for p in procs}))
        print(f"{PROCESSES} x {PER_PROCESS} captures in {time.monotonic() - start:.0f} s")
        yield root, batches, results


def test_every_run_succeeds_and_no_lock_error_reaches_the_user(concurrent):
    _, _, results = concurrent
    for code, stderr in results:
        assert code == 0, stderr
        assert f"{PER_PROCESS} of {PER_PROCESS} captured" in stderr
        # (a loaded machine may make the network "still busy" after 0.3 s: that warning is fine)
        for word in ("lock", "Error", "Traceback", "indexing failed", "FAILED", "could not"):
            assert word not in stderr, stderr


def test_all_captures_are_in_valid_warcs_and_every_index(concurrent):
    root, batches, _ = concurrent
    coll = Collection(root, "default")
    files = sorted(coll.archive_dir.glob("*.warc.gz"))
    assert len(files) >= PROCESSES and not list(coll.archive_dir.glob("*.open"))
    assert warcio_check(files).returncode == 0
    urls = [u for batch in batches for u in batch]
    assert sorted(p.url for p in coll.pages()) == sorted(urls)
    index = CdxjIndex(coll.indexes_dir)
    try:
        assert all(index.lookup(u) for u in urls)
    finally:
        index.close()
    assert fulltext_index(coll).count() == PROCESSES * PER_PROCESS
    for p, batch in enumerate(batches):
        for i, url in enumerate(batch):
            hits = search_archive(root, article_word(p * 100 + i))
            assert [h.url for h in hits] == [url]
    verify = run_cli("verify", root=root)
    assert verify.code == 0, verify.stderr


def test_runs_that_create_the_dedup_table_together_wait_for_each_other(tmp_path):
    """Two `add` runs started together on a new collection once failed with "database is locked"
    (SQLite answers at once, busy timeout or not, while another connection switches a new
    database to WAL). Four connections at once, 150 times: none may fail."""
    failures = []
    for trial in range(150):
        path = tmp_path / str(trial) / "dedup.sqlite3"
        barrier = threading.Barrier(4)

        def open_and_add(path=path, barrier=barrier, trial=trial) -> None:
            barrier.wait()
            try:
                index = DedupIndex(path)
                index.add([("sha1:AAAA", Original("http://a.test/", "2024-01-01T00:00:00Z", "<urn:x>"))])
                index.close()
            except Exception as exc:  # noqa: BLE001 - collected and reported below
                failures.append(f"{trial}: {type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=open_and_add) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert failures == []
