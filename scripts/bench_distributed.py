#!/usr/bin/env python3
"""Capturing through the queue: pages per minute with 1, 2 and 3 workers, next to a local `add`,
and the queue's own cost per page.

Everything runs on this machine, on loopback: tests/hostile_site.py serves small article pages,
Debian's redis-server is the broker, each worker is a `warcache worker` process with a working
directory of its own, deliveries go to a shared directory and `add --broker` ingests them.

* Throughput: the same URLs captured by `warcache add -j J` (the baseline, browser launch
  included, as a user runs it), then by `add --broker` with 1, 2 and 3 workers of `-j J` each
  (their browsers already warm, as running workers' are), from the command's start to its last
  page ingested and reported. Each is the median of --runs runs. Next to it, the CPU seconds a
  page costs, counted on every process of the capture (the workers, their browsers, Redis, the
  `add` and its ingest), sampled from /proc: the machine's cores divided by that cost is the most pages
  per minute it can capture, whatever the number of workers, and shows where the curve flattens
  even on a machine that other work keeps busy.
* Queue cost: jobs sent one at a time to one idle worker; from enqueue to the task's start (the
  worker's own clock, same machine), in ms. Then per page, one page at a time (-j 1): a local
  `add` against `add --broker` with one worker, whose difference is what queueing, delivering
  and ingesting add to a page.

    .venv/bin/python scripts/bench_distributed.py                 # 30 URLs, -j 2, 1 run each
    .venv/bin/python scripts/bench_distributed.py --runs 3 --urls 30 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from hostile_site import HostileSite, children_of  # noqa: E402
from queue_helpers import RedisServer, warcache_cmd, workers  # noqa: E402

CAPTURE_ARGS = ["--no-scroll", "--idle-timeout", "0.5", "--timeout", "30"]


TICK = os.sysconf("SC_CLK_TCK")


def _own_cpu(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])  # utime + stime, in ticks


class CpuSampler:
    """CPU used by process trees during a window, sampled from /proc every 20 ms: every process
    seen (a browser's renderers come and go) counts from its first sample in the window, or from
    0 if it was born in it, to its last one. Counting the same way for a local run and a queued one
    keeps them comparable (rusage would miss the browser processes nobody reaps)."""

    def __init__(self, roots: list[int]) -> None:
        self.roots = roots
        self.first: dict[int, int] = {}
        self.last: dict[int, int] = {}
        self._stop = threading.Event()
        self._sample(initial=True)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def add_root(self, pid: int) -> None:
        self.roots = [*self.roots, pid]

    def _sample(self, initial: bool = False) -> None:
        for pid in {p for root in self.roots for p in [root, *children_of(root)]}:
            cpu = _own_cpu(pid)
            if cpu is None:
                continue
            self.first.setdefault(pid, cpu if initial else 0)
            self.last[pid] = cpu

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self._sample()

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return sum(self.last[p] - self.first[p] for p in self.last) / TICK


@dataclass
class Run:
    seconds: float
    cpu: float  # CPU seconds the capture took, on every process of it (browsers included)


def timed(cmd: list[str], others: list[int] = ()) -> Run:
    """Run a command; its wall time, and the CPU it and `others` (process trees) used meanwhile."""
    sampler = CpuSampler(list(others))
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler.add_root(proc.pid)
    _out, err = proc.communicate()
    elapsed = time.monotonic() - start
    cpu = sampler.stop()
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd[:6])} ...\n{err[-2000:]}")
    return Run(elapsed, cpu)


def local_add(work: Path, urls: list[str], jobs: int) -> Run:
    return timed(warcache_cmd(work, "add", *CAPTURE_ARGS, "-j", str(jobs), *urls))


def queued_add(work: Path, urls: list[str], n_workers: int, jobs: int) -> Run:
    with RedisServer() as broker, \
            workers(n_workers, broker.url, work, jobs=jobs, visibility_timeout=600) as ws:
        assert broker.proc is not None
        return timed(warcache_cmd(work / "host", "add", "--broker", broker.url, *CAPTURE_ARGS,
                                  "--store", (work / "store").as_uri(), *urls),
                     others=[w.proc.pid for w in ws] + [broker.proc.pid])


def enqueue_to_start(work: Path, urls: list[str]) -> list[float]:
    """ms from enqueue to the task's start, one job at a time on an idle worker."""
    import redis

    from warcache.capture.page import CaptureOptions
    from warcache.distributed.config import QUEUE, TASK, make_app
    from warcache.distributed.jobs import Job, options_to_json

    opts = options_to_json(CaptureOptions(scroll=False, idle_timeout=0.5, timeout=30))
    out = []
    with RedisServer() as broker, workers(1, broker.url, work, jobs=1, visibility_timeout=600):
        app = make_app(broker.url)
        app.backend.on_task_call = lambda *args, **kwargs: None
        client = redis.Redis.from_url(broker.url)
        store = (work / "store").as_uri()
        for url in urls:
            job = Job(url, "default", store, opts)
            job_id = app.send_task(TASK, kwargs=job.to_kwargs(), queue=QUEUE).id
            key = app.backend.get_key_for_task(job_id)
            while True:
                raw = client.get(key)
                meta = json.loads(raw) if raw else {}
                if meta.get("status") == "SUCCESS":
                    result = meta["result"]
                    out.append((result["started_at"] - result["enqueued_at"]) * 1000)
                    break
                if meta.get("status") == "FAILURE":
                    raise SystemExit(f"job failed: {meta.get('result')}")
                time.sleep(0.02)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--urls", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=2,
                        help="pages at once per worker (and for the local add)")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--sequential", type=int, default=10, help="pages for the one-at-a-time comparison")
    args = parser.parse_args()
    rows: list[tuple[str, list[Run]]] = []
    with HostileSite() as site, tempfile.TemporaryDirectory(prefix="bench-distributed-") as tmp:
        base = Path(tmp)
        n = 0

        def batch(count: int) -> list[str]:
            nonlocal n
            n += count
            return [site.url(f"/article/{i}") for i in range(n - count + 1, n + 1)]

        print(f"{args.urls} small article pages on 127.0.0.1, capture args {' '.join(CAPTURE_ARGS)}, "
              f"-j {args.jobs}; {os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.1f}",
              flush=True)
        runs = [local_add(base / f"local-{r}", batch(args.urls), args.jobs) for r in range(args.runs)]
        rows.append((f"local add -j {args.jobs}", runs))
        print(f"  {rows[-1][0]}: {', '.join(f'{r.seconds:.1f} s' for r in runs)}", flush=True)
        for count in args.workers:
            runs = [queued_add(base / f"w{count}-{r}", batch(args.urls), count, args.jobs)
                    for r in range(args.runs)]
            rows.append((f"{count} worker{'s' if count > 1 else ''} x -j {args.jobs}", runs))
            print(f"  {rows[-1][0]}: {', '.join(f'{r.seconds:.1f} s' for r in runs)}", flush=True)
        latency = enqueue_to_start(base / "latency", batch(20))
        one_local = local_add(base / "seq-local", batch(args.sequential), 1).seconds / args.sequential
        one_queued = queued_add(base / "seq-queued", batch(args.sequential), 1, 1).seconds / args.sequential
    cores = os.cpu_count() or 1
    print()
    print(f"{'setup':<22} {'seconds (median)':>17} {'pages/min':>10} {'vs local':>9} {'CPU s/page':>11} "
          f"{'ceiling pages/min':>18}")
    base_rate = None
    for label, runs in rows:
        seconds = statistics.median(r.seconds for r in runs)
        cpu = statistics.median(r.cpu for r in runs) / args.urls
        rate = args.urls / seconds * 60
        base_rate = base_rate or rate
        print(f"{label:<22} {seconds:>17.1f} {rate:>10.1f} {rate / base_rate:>8.2f}x {cpu:>11.2f} "
              f"{cores * 60 / cpu:>18.0f}")
    print(f"(CPU s/page: every process of the capture, browsers included; ceiling: {cores} cores' "
          "worth of pages at that cost)")
    latency.sort()
    p95 = latency[min(len(latency) - 1, int(0.95 * len(latency)))]
    print(f"\nqueue cost, enqueue -> task start on an idle worker: p50 {statistics.median(latency):.1f} ms, "
          f"p95 {p95:.1f} ms, max {latency[-1]:.1f} ms (n={len(latency)})")
    print(f"one page at a time (-j 1, {args.sequential} pages): local add {one_local:.2f} s/page, "
          f"through the queue {one_queued:.2f} s/page ({(one_queued - one_local) * 1000:+.0f} ms/page: "
          "queue, delivery, ingest, minus the local browser launch)")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
