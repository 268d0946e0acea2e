"""`warcache worker`: a Celery worker that captures jobs with one warm browser, `-j N` at once.

A job's life here: its message is delivered to one of N threads; the page is captured by the warm
browser (capturer.py) and written into a WARC file of its own under the worker's spool directory;
the file is shipped to the job's store (delivery.py) and removed locally; only then does the task
return, and Celery acknowledges the message. A worker killed before that leaves the message
unacknowledged: after the visibility timeout another worker gets the job again.

What the worker says goes to stderr, one line per event: ready, each job's outcome, Celery's own
warnings (a lost broker connection, each reconnection attempt). It never hangs on a browser that
stopped answering: a watchdog exits the process (its jobs come back to the queue), and a capture
that outlives its budget is a failed job.

Ctrl-C (or SIGTERM) lets the pages under way finish, deliver and be acknowledged, then exits; a
page whose browser went down with the terminal's Ctrl-C is put back in the queue rather than
reported failed. A second Ctrl-C stops at once; unacknowledged jobs come back after the
visibility timeout.

A job whose page could not be captured, or whose file could not be delivered, is a result with
`ok: false` (the client prints FAILED and the reason, `warcache queue` lists it), not a failed
task: Celery's FAILURE, with a traceback in the log, is left for bugs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import shutil
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from warcache.capture.archiver import PageResult, checked_url
from warcache.capture.page import CaptureOptions
from warcache.collection import validate_name
from warcache.distributed.capturer import WarmBrowsers, write_job_file
from warcache.distributed.config import FAILED_KEY, QUEUE, TASK, make_app
from warcache.distributed.delivery import Store, make_marker, open_store
from warcache.distributed.digests import PayloadMap
from warcache.distributed.jobs import Job
from warcache.distributed.preflight import check_broker
from warcache.errors import WarcacheError

log = logging.getLogger("warcache.worker")
#: Redis keys of the seconds workers took for a URL's captures (see claim_second), and how long
#: one is kept: long enough for every worker's clock to have passed that second.
SECOND_KEY = "warcache:second:"
SECOND_CLAIM_TTL = 60
#: How often the watchdog asks the browser loop to answer, and how long it waits.
WATCH_EVERY = 15.0
WATCH_TIMEOUT = 60.0


@dataclass
class WorkerSettings:
    broker: str
    jobs: int = 2
    spool: Path = Path("spool")
    name: str = ""
    visibility_timeout: float = 600.0
    browser: str | None = None


class WorkerRuntime:
    """What the task needs: the warm browsers, the stores, Redis, the spool directory."""

    def __init__(self, settings: WorkerSettings, hostname: str) -> None:
        import redis

        self.settings = settings
        self.hostname = hostname
        self.redis = redis.Redis.from_url(settings.broker, socket_connect_timeout=5, socket_timeout=10)
        self.browsers = WarmBrowsers(settings.browser, claim_second=self.claim_second)
        self.spool = settings.spool / f"{socket.gethostname()}-{os.getpid()}"
        self.shutting_down = False
        self._stores: dict[str, Store] = {}
        self._lock = threading.Lock()

    async def claim_second(self, url: str, second: int) -> bool:
        """Take `second` for a capture of `url`, unless another worker has (archiver.DistinctSeconds):
        two captures of a URL that begin in one second would be one capture to every index. A
        broker that fails or is slow to answer is DistinctSeconds' business (it goes on without)."""
        key = f"{SECOND_KEY}{hashlib.sha1(url.encode()).hexdigest()}:{second}"
        return bool(await asyncio.to_thread(self.redis.set, key, self.hostname, nx=True, ex=SECOND_CLAIM_TTL))

    def store(self, url: str) -> Store:
        with self._lock:
            if url not in self._stores:
                self._stores[url] = open_store(url)
            return self._stores[url]

    def clean_spool(self) -> int:
        """Remove what killed workers left in the spool: files of jobs never acknowledged, which
        the queue delivers again (so nothing reported captured is lost). Returns how many."""
        removed = 0
        if not self.settings.spool.is_dir():
            return 0
        for directory in self.settings.spool.iterdir():
            host, _, pid = directory.name.rpartition("-")
            if host != socket.gethostname() or not pid.isdigit() or _alive(int(pid)):
                continue
            removed += sum(1 for p in directory.iterdir() if p.is_file())
            shutil.rmtree(directory, ignore_errors=True)
        return removed

    def run(self, request, kwargs: dict) -> dict:
        """The task: capture, write, deliver; the returned dict is the job's result."""
        job = Job.from_kwargs(kwargs)
        job_id = request.id
        started = time.time()
        redelivered = bool((request.delivery_info or {}).get("redelivered"))
        log.info("job %s: capturing %s%s", job_id, job.url, " (delivered again)" if redelivered else "")
        try:
            result, delivered = self._capture_and_ship(job, job_id)
        except WarcacheError as exc:  # a store that cannot be written, a browser that cannot start...
            result, delivered = PageResult(url=job.url, ok=False, error=str(exc)), None
        except Exception as exc:  # a bug: the task fails, and Celery logs the traceback
            if not self.shutting_down:
                self._remember_failure(job_id, job, f"{type(exc).__name__}: {exc}")
                raise
            result, delivered = PageResult(url=job.url, ok=False, error=str(exc)), None
        if not result.ok and self.shutting_down:
            # A terminal's Ctrl-C also stops the browser: not the page's fault, so not a failure.
            _requeue(job_id, "its capture went down with the worker")
        if result.ok:
            self._forget_failure(job_id)
        elif result.retryable:  # not an invalid URL: trying again may help
            self._remember_failure(job_id, job, result.error or "failed")
        log.info("job %s: %s %s%s", job_id, "ok" if result.ok else "FAILED", job.url,
                 f" -> {delivered} delivered to {job.store}" if delivered else f": {result.error}")
        return {"result": result.to_json(), "job": job_id, "file": delivered, "worker": self.hostname,
                "enqueued_at": job.enqueued_at, "started_at": started, "redelivered": redelivered}

    def _capture_and_ship(self, job: Job, job_id: str) -> tuple[PageResult, str | None]:
        validate_name(job.collection)  # it becomes a directory of the store
        url, invalid = checked_url(job.url)
        if invalid is not None:
            return invalid, None
        opts = job.capture_options()
        store = self.store(job.store)
        captured = self.browsers.capture(url, opts, job.browser)
        try:
            payloads = PayloadMap(self.redis, job.payloads) if job.payloads else None
            self.spool.mkdir(parents=True, exist_ok=True)
            result, path = write_job_file(captured, opts, self.spool, job=job_id, collection=job.collection,
                                          payloads=payloads)
        finally:
            captured.capture.release()
        if path is None:
            return result, None
        try:
            if not result.ok and self.shutting_down:
                return result, None  # put back in the queue (see run): its evidence is not shipped
            store.ship(path, make_marker(path, job=job_id, collection=job.collection), job.collection)
        finally:
            path.unlink(missing_ok=True)
        return result, path.name

    def _remember_failure(self, job_id: str, job: Job, reason: str) -> None:
        entry = {"url": job.url, "collection": job.collection, "error": reason, "at": time.time(),
                 "worker": self.hostname, "job": job.to_kwargs()}
        try:
            self.redis.hset(FAILED_KEY, job_id, json.dumps(entry))
        except Exception as exc:  # noqa: BLE001 - the result still says it failed
            log.warning("could not record the failure of job %s in Redis: %s", job_id, exc)

    def _forget_failure(self, job_id: str) -> None:
        with contextlib.suppress(Exception):  # a stale entry only shows in `warcache queue`
            self.redis.hdel(FAILED_KEY, job_id)

    def watchdog(self) -> None:
        """Exit the process if the browser loop stops answering: its jobs then come back to the
        queue after the visibility timeout, instead of a worker that holds them for ever."""
        while True:
            time.sleep(WATCH_EVERY)
            if not self.browsers.alive(WATCH_TIMEOUT):
                log.critical("the browser loop has not answered for %.0f s: exiting so that this "
                             "worker's jobs go to other workers", WATCH_TIMEOUT)
                os._exit(70)


def _requeue(job_id: str, why: str):
    from celery.exceptions import Reject

    log.warning("job %s: back to the queue (%s)", job_id, why)
    raise Reject(why, requeue=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_worker(settings: WorkerSettings) -> int:
    """Check the broker, start the browser, then serve jobs until stopped. Returns the exit code.
    Raises WarcacheError (one line) for a broker or browser that cannot be used."""
    from celery import signals

    check_broker(settings.broker)
    _quiet_celery()
    hostname = settings.name or f"warcache-{os.getpid()}@{socket.gethostname()}"
    if "@" not in hostname:
        hostname = f"{hostname}@{socket.gethostname()}"
    app = make_app(settings.broker, visibility_timeout=settings.visibility_timeout)
    runtime = WorkerRuntime(settings, hostname)
    removed = runtime.clean_spool()
    if removed:
        log.info("removed %d file(s) killed workers left in %s (their jobs are delivered again)",
                 removed, settings.spool)
    browser = runtime.browsers.start(CaptureOptions())
    budget = CaptureOptions().budget()
    if settings.visibility_timeout < 2 * budget:
        log.warning("visibility timeout %.0f s is less than twice a capture's budget (%.0f s): a slow "
                    "capture may be delivered to a second worker while it still runs",
                    settings.visibility_timeout, budget)

    @app.task(name=TASK, bind=True)
    def capture(task, **kwargs):
        return runtime.run(task.request, kwargs)

    def ready(**_):
        log.info("worker %s ready: %d page(s) at once with %s, broker %s, visibility timeout %.0f s",
                 hostname, settings.jobs, browser, _safe(settings.broker), settings.visibility_timeout)

    stopped_by: list[str] = []

    def shutting_down(sig: str = "", **_):
        runtime.shutting_down = True
        runtime.browsers.stopping = True
        stopped_by.append(sig)

    signals.worker_ready.connect(ready, weak=False)
    signals.worker_shutting_down.connect(shutting_down, weak=False)
    threading.Thread(target=runtime.watchdog, name="warcache-watchdog", daemon=True).start()
    worker = app.Worker(hostname=hostname, pool="threads", concurrency=settings.jobs, queues=[QUEUE],
                        without_gossip=True, without_mingle=True, without_heartbeat=True,
                        optimization="fair", quiet=True, loglevel="WARNING")
    try:
        worker.start()
    finally:
        runtime.shutting_down = True
        runtime.browsers.close()
    if stopped_by and stopped_by[0] == "SIGINT":
        return 130  # Ctrl-C, as for other commands (Celery would say 1)
    return worker.exitcode or 0


def _quiet_celery() -> None:
    """One line per event on stderr: warcache's own at INFO, Celery's warnings and errors (a lost
    broker connection, each attempt to reconnect), and none of Celery's start-up banner."""
    import warnings

    from celery import signals
    from celery.exceptions import CPendingDeprecationWarning, SecurityWarning

    def setup(**_):
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                            force=True)
        logging.getLogger("warcache").setLevel(logging.INFO)
        # A job put back in the queue is said once, by warcache (Celery adds a traceback).
        logging.getLogger("celery.app.trace").setLevel(logging.ERROR)

    setup()
    signals.setup_logging.connect(setup, weak=False)  # Celery then leaves logging as it is
    # Root may run a worker (a container): the warning is about pickled messages, which this
    # app never accepts (JSON only).
    warnings.filterwarnings("ignore", category=SecurityWarning)
    # Said at every lost connection about a setting made explicitly here (see config.py).
    warnings.filterwarnings("ignore", category=CPendingDeprecationWarning,
                            message=".*worker_cancel_long_running_tasks_on_connection_loss.*")


def _safe(url: str) -> str:
    from warcache.distributed.preflight import broker_address

    return broker_address(url)
