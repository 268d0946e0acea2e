"""Capturing on many machines, on loopback: Redis (Debian's redis-server), workers as processes
each with a working directory of its own standing for a machine, deliveries to a shared directory
or to moto's S3 server, ingest on the collection's host.

The claims: every queued URL is captured and indexed exactly once, also when a worker is
SIGKILLed mid-capture (its jobs come back after the visibility timeout and another worker
captures them); every index is complete (it equals a clean rebuild) and `warcache verify` is
clean; every revisit a worker wrote points at a record the collection holds; `add --broker`
prints the lines and exit status a local run prints, and Ctrl-C leaves the queued work queued.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import redis
from conftest import REPO
from hostile_site import HostileSite
from queue_helpers import FAST, S3_ENV, MotoS3, RedisServer, warcache_cmd, workers

sys.path.insert(0, str(REPO / "scripts"))
from chaos_kill import ChaosReport, check  # noqa: E402

from warcache.collection import Collection  # noqa: E402
from warcache.distributed.backlog import read_backlog  # noqa: E402
from warcache.distributed.config import QUEUE  # noqa: E402
from warcache.index.cdxj import CdxjIndex  # noqa: E402
from warcache.warc.reader import WarcReader  # noqa: E402
from warcache.warc.writer import PAGE_URN  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]

OPTIONS = ["--user-agent", "QueueTest/1.0", "--viewport", "1024x700"]
VISIBILITY = 10  # seconds: with kombu's 1 s restore sweep, a dead worker's job is back in ~11 s


@pytest.fixture(scope="module")
def site():
    with HostileSite() as s:
        yield s


@pytest.fixture
def redis_server():
    with RedisServer() as r:
        yield r


def run_add(root: Path, broker: str, urls: list[str], *extra: str,
            timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(warcache_cmd(root, "add", "--broker", broker, *FAST, *extra, *urls),
                          capture_output=True, text=True, timeout=timeout, env={**os.environ, **S3_ENV})


def assert_each_once(root: Path, urls: list[str], work: Path) -> list[str]:
    """Every URL captured and indexed as often as it is in `urls` (once), the indexes complete,
    verify clean, and every revisit pointing at a record the collection holds. Returns the
    revisits' targets."""
    coll = Collection(root, "default")
    pages = Counter(p.url for p in coll.pages())
    assert pages == Counter(urls), f"page list: missing {set(urls) - set(pages)}, " \
                                   f"twice {[u for u, n in pages.items() if n > 1]}"
    index = CdxjIndex(coll.indexes_dir)
    try:
        for url, n in Counter(urls).items():
            lines = index.lookup(url)
            assert len(lines) == n, (url, [str(line) for line in lines])
    finally:
        index.close()
    report = ChaosReport(reported=set(urls))
    work.mkdir(parents=True, exist_ok=True)
    check(root, report, work)  # warcio check, index lines lead to their records, search, verify, rebuild
    assert report.problems == []
    ids, refers = set(), []
    for path in coll.warc_files():
        for item in WarcReader(path):
            ids.add(item.record.rec_headers.get_header("WARC-Record-ID"))
            if item.record.rec_type == "revisit":
                refers.append(item.record.rec_headers.get_header("WARC-Refers-To"))
    assert set(refers) <= ids, f"revisits pointing at records not in the collection: {set(refers) - ids}"
    return refers


class RunningAdd:
    """`warcache add ...` started in the background, its stderr lines collected as they come."""

    def __init__(self, cmd: list[str], env: dict | None = None) -> None:
        self.start = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: list[str] = []
        self.times: list[float] = []  # when each line came, from the start (shown when a test fails)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.times.append(time.monotonic() - self.start)
            self.lines.append(line)

    def signal(self, signum: int) -> None:
        self.lines.append(f"(test: signal {signum} sent at {time.monotonic() - self.start:.2f} s)\n")
        self.times.append(time.monotonic() - self.start)
        self.proc.send_signal(signum)

    def wait_for_line(self, prefix: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(ln.startswith(prefix) for ln in self.lines) and time.monotonic() < deadline:
            time.sleep(0.05)

    def wait(self, timeout: float) -> int:
        """The exit code; all of stderr has been read."""
        code = self.proc.wait(timeout)
        self._reader.join(10)
        return code

    @property
    def text(self) -> str:
        return "".join(self.lines)

    @property
    def timed(self) -> str:
        """The lines with the second each came at (for failure messages)."""
        return "".join(f"{t:7.2f} {line}" for t, line in zip(self.times, self.lines, strict=False))


def urls_of(site, n: int, ms: int = 0) -> list[str]:
    return [site.url(f"/article/{i}" + (f"?ms={ms}" if ms else "")) for i in range(1, n + 1)]


def test_three_workers_capture_thirty_urls_once_each_through_a_shared_directory(site, redis_server, tmp_path):
    host = tmp_path / "host"
    store = tmp_path / "shared-store"
    urls = urls_of(site, 30)
    with workers(3, redis_server.url, tmp_path, visibility_timeout=60) as ws:
        run = run_add(host, redis_server.url, urls, "--json", "--store", store.as_uri())
        logs = {w.name: w.jobs("ok") for w in ws}
        # Revisits across workers: the host published the digests it ingested, so a page captured
        # again by any worker is stored as a revisit of the record the collection holds.
        again = run_add(host, redis_server.url, urls[:4], "--json", "--store", store.as_uri())
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(run.stdout)
    assert sorted(r["url"] for r in results) == sorted(urls) and all(r["ok"] for r in results)
    lines = [ln for ln in run.stderr.splitlines() if ln.startswith("[")]
    assert len(lines) == 30 and all(" ok 200 http://127.0.0.1:" in ln for ln in lines), lines
    assert "30 of 30 captured into collection 'default'" in run.stderr
    assert all(logs.values()), f"a worker captured nothing: { {k: len(v) for k, v in logs.items()} }"
    assert sum(len(v) for v in logs.values()) == 30  # no job ran twice
    held = {r["warc"] for r in results}
    assert held | {r["warc"] for r in json.loads(again.stdout)} == {
        p.name for p in Collection(host, "default").warc_files()}  # one file per page
    assert again.returncode == 0, again.stderr[-3000:]
    assert all(r["revisits"] >= 1 for r in json.loads(again.stdout)), again.stdout
    refers = assert_each_once(host, urls + urls[:4], tmp_path / "check")
    assert len(refers) >= 4  # ... and each points at a record the collection holds
    assert list((store / "default").iterdir()) == []  # everything delivered was taken in
    for w in ("w1", "w2", "w3"):  # and nothing waits in the workers' spools
        assert [p for p in (tmp_path / w / "spool").rglob("*") if p.is_file()] == []


def test_a_worker_killed_mid_capture_loses_nothing_and_duplicates_nothing_s3(site, redis_server, tmp_path):
    host = tmp_path / "host"
    urls = urls_of(site, 30, ms=400)
    with MotoS3() as s3:
        s3.create_bucket("warcs")
        with workers(3, redis_server.url, tmp_path, visibility_timeout=VISIBILITY) as ws:
            proc = subprocess.Popen(warcache_cmd(host, "add", "--broker", redis_server.url, *FAST,
                                                 "--store", s3.store_url("warcs"), *urls),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env={**os.environ, **S3_ENV})
            victim = ws[0]
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # kill it with captures under way, after one delivery
                if victim.jobs("ok") and set(victim.jobs("capturing")) - set(victim.jobs("ok")):
                    break
                time.sleep(0.02)
            in_flight = set(victim.jobs("capturing")) - set(victim.jobs("ok"))
            victim.kill()
            out, err = proc.communicate(timeout=240)
            redone = {job for w in ws[1:] for job in w.jobs("ok")} & in_flight
            again = "".join(w.log for w in ws[1:]).count("(delivered again)")
        keys = s3.keys("warcs")
    assert in_flight, "the worker was killed with no capture under way"
    assert proc.returncode == 0, err[-3000:]
    assert err.count(" ok 200 ") == 30 and "30 of 30 captured" in err
    assert redone == in_flight, "a job of the killed worker was not captured by another"
    assert again >= len(in_flight)
    # Everything delivered was taken in. Only the killed worker may have left data behind, an
    # upload it had not given its marker yet: never ingested, swept by the ingest after a day.
    assert [k for k in keys if f"-{victim.proc.pid}-" not in k or k.endswith(".sha256")] == [], keys
    assert_each_once(host, urls, tmp_path)


def test_add_broker_ctrl_c_leaves_jobs_queued_and_queue_and_ingest_take_over(site, redis_server, tmp_path):
    host = tmp_path / "host"
    # One worker, one page at a time, and the site holds the pages until the test lets them
    # through: one to begin with, the others after Ctrl-C. So jobs are left at Ctrl-C however late
    # add reports its first result (twice, on a loaded machine, slow pages were not enough: add
    # printed all four results at once, the queue drained by then).
    urls = [site.url(f"/article/{i}?held=1") for i in range(1, 4)]
    refused = "http://127.0.0.1:9/nothing-listens-here"
    broker = redis_server.url
    site.let_through(1)
    with workers(1, broker, tmp_path, jobs=1, visibility_timeout=60) as ws:
        # --timeout 90: the page under way waits at the site until add has ended, however long
        add = RunningAdd(warcache_cmd(host, "add", "--broker", broker, *FAST, "--timeout", "90", *OPTIONS,
                                      *urls, refused))
        # The first result (any of the four: the queue need not keep their order), then Ctrl-C.
        add.wait_for_line("[1/4] ", 120)
        add.signal(signal.SIGINT)
        assert add.wait(30) == 130, add.timed
        text = add.text
        assert "stay queued" in text and "Traceback" not in text, text
        client = redis.Redis.from_url(broker)
        backlog = read_backlog(client, visibility_timeout=60)
        assert 1 <= backlog.pending_total + len(backlog.running) <= 3, backlog
        site.let_through(3)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # the worker goes on without anyone waiting
            backlog = read_backlog(client, visibility_timeout=60)
            if backlog.pending_total == len(backlog.running) == 0:
                break
            time.sleep(0.2)
        state = json.loads(subprocess.run(warcache_cmd(host, "queue", "--broker", broker, "--json"),
                                          capture_output=True, text=True, check=True).stdout)
        assert state["pending"] == state["running"] == 0 and state["failed"] == 1, state
        assert state["jobs"]["failed"][0]["url"] == refused
        ingest = subprocess.run(warcache_cmd(host, "ingest", "--broker", broker), capture_output=True,
                                text=True)
        assert ingest.returncode == 0, ingest.stderr
        retried = subprocess.run(warcache_cmd(host, "queue", "--broker", broker, "--retry"),
                                 capture_output=True, text=True)
        assert "queued 1 failed job(s) again" in retried.stderr
        old = state["jobs"]["failed"][0]["id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            failed = read_backlog(client, visibility_timeout=60).failed
            if len(failed) == 1 and failed[0].id != old:
                break
            time.sleep(0.2)
        assert len(failed) == 1 and failed[0].id != old, "the retry did not run"
        assert len(ws[0].jobs("FAILED")) == 2
    coll = Collection(host, "default")
    assert Counter(p.url for p in coll.pages()) == Counter(urls)
    assert subprocess.run(warcache_cmd(host, "verify"), capture_output=True).returncode == 0
    for path in coll.warc_files():  # the options went with the jobs
        info = [json.loads(item.record.content_stream().read()) for item in WarcReader(path)
                if (item.target_uri or "").startswith(PAGE_URN)]
        assert [(i["user_agent"], i["viewport"]) for i in info] == [("QueueTest/1.0", "1024x700")]


def test_two_workers_capturing_one_url_at_once_give_it_two_seconds(site, redis_server, tmp_path):
    """A capture is named by its URL and second: two workers that begin the same URL in one
    second would make one capture to every index. They claim the second through the broker."""
    host = tmp_path / "host"
    url = site.url("/article/1")
    with workers(2, redis_server.url, tmp_path, jobs=1, visibility_timeout=60) as ws:
        run = run_add(host, redis_server.url, [url, url], "--json")
    assert run.returncode == 0, run.stderr[-3000:]
    assert all(w.jobs("ok") for w in ws), "one worker took both jobs"
    stamps = sorted(e.timestamp for e in Collection(host, "default").pages() if e.url == url)
    assert len(stamps) == 2 and stamps[0] != stamps[1], stamps
    assert subprocess.run(warcache_cmd(host, "verify"), capture_output=True).returncode == 0


def test_a_job_the_broker_lost_is_found_and_queued_again(site, redis_server, tmp_path):
    """kombu takes a message off the queue before it records it as delivered, so a worker killed
    in between loses it for good (seen when a worker was killed right after a job: `add` waited
    forever). Here the oldest message is taken off the queue by hand, as such a worker would,
    before any worker runs: `add` notices that the broker holds the job nowhere, queues it again
    under its id, and every page is captured and indexed once."""
    host = tmp_path / "host"
    urls = urls_of(site, 3)
    add = RunningAdd(warcache_cmd(host, "add", "--broker", redis_server.url, *FAST, *urls))
    add.wait_for_line("queued 3 URL(s)", 60)
    client = redis.Redis.from_url(redis_server.url)
    taken = client.rpop(QUEUE)  # kombu pushes on the left and takes the oldest from the right
    assert taken is not None
    with workers(1, redis_server.url, tmp_path, visibility_timeout=60):
        assert add.wait(120) == 0, add.text
    text = add.text
    again = [ln for ln in add.lines if "the broker lost the job for" in ln]
    assert len(again) == 1 and again[0].rstrip().endswith("queued again"), text
    assert f"lost the job for {urls[0]} " in again[0]  # the first queued, the one taken
    assert "3 of 3 captured" in text, text
    assert_each_once(host, urls, tmp_path / "check")


def test_a_lost_broker_connection_is_reported_and_retried(site, tmp_path):
    """Redis killed while pages are captured, back 3 s later (with its append-only file, as a
    production broker runs): the worker says so and reconnects, `add` says so and goes on, and
    every page is indexed once although the jobs under way ran again."""
    host = tmp_path / "host"
    urls = urls_of(site, 6, ms=700)
    with RedisServer(appendonly=True) as broker, workers(1, broker.url, tmp_path, jobs=2,
                                                          visibility_timeout=60) as ws:
        add = RunningAdd(warcache_cmd(host, "add", "--broker", broker.url, *FAST, *urls))
        add.wait_for_line("[1/6] ok", 60)
        broker.kill()
        time.sleep(3)
        broker.start()
        assert add.wait(120) == 0, add.text[-3000:]
        log = ws[0].log
        assert ws[0].proc.poll() is None  # the worker lives on
    text = add.text
    assert "lost the connection to the broker" in text and "connection to the broker is back" in text, text
    assert text.count(" ok 200 ") == 6 and "Traceback" not in text
    assert "Connection to broker lost" in log or "Cannot connect to redis" in log, log[-3000:]
    coll = Collection(host, "default")
    assert Counter(p.url for p in coll.pages()) == Counter(urls)
    assert subprocess.run(warcache_cmd(host, "verify"), capture_output=True).returncode == 0
