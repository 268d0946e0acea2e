"""`warcache add --broker`: queue the URLs, then report each one as a local run would.

The caller's `RunEvents` are told as jobs start and land, so the CLI prints the same lines, the
same `--json` and the same exit status as for a local run. A page is reported once its file is
in the collection: when a result arrives, whatever the store holds for the collection is
ingested first (ingest.py), so "ok" means, as locally, archived and indexed.

Results are polled (one MGET for every job still out, four times a second) rather than awaited
through Celery's pub/sub: a broker that restarts or drops the connection then only delays
them, with one line saying so and one when it is back (Celery's result consumer gives up for
good after ~20 s of connection errors).

Ctrl-C stops waiting and revokes nothing: the jobs stay queued, workers capture them, and their
files are ingested by `warcache ingest` or by the next `add --broker` of the collection.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from warcache.capture.archiver import PageResult
from warcache.capture.page import CaptureOptions
from warcache.capture.run import RunEvents, RunOutcome, remember_failures
from warcache.collection import Collection
from warcache.distributed import require_extra
from warcache.distributed.backlog import held_job_ids
from warcache.distributed.config import QUEUE, TASK, make_app
from warcache.distributed.delivery import Store, open_store
from warcache.distributed.digests import PayloadMap, payloads_key
from warcache.distributed.ingest import Ingester, IngestReport
from warcache.distributed.jobs import Job, options_to_json
from warcache.distributed.preflight import BrokerError, broker_address, check_broker
from warcache.errors import UsageError

POLL_INTERVAL = 0.25
#: After this long with no job started, say that no worker seems to be running.
NO_WORKER_NOTE = 30.0
#: Seconds without any job of the run beginning or ending before `add` looks for lost jobs, and
#: between two looks (see LostJobs).
LOST_AFTER = 10.0
LOST_CHECK = 5.0
FINISHED = ("SUCCESS", "FAILURE", "REVOKED")


class Connection:
    """What `add --broker`, `ingest` and `queue` share: the checked broker, a Redis client, the
    store, the collection's digest map."""

    def __init__(self, broker: str, *, command: str) -> None:
        require_extra(command)
        import redis

        check_broker(broker)
        self.broker = broker
        self.redis = redis.Redis.from_url(broker, socket_connect_timeout=3, socket_timeout=10)

    def ingester(self, coll: Collection, store: Store, note: Callable[[str], None]) -> Ingester:
        payloads = PayloadMap(self.redis, payloads_key(coll))
        try:
            seeded = payloads.seed_if_empty(coll.dedup_path)
            if seeded:
                note(f"published {seeded} payload digests of collection {coll.name!r} "
                     "for the workers' revisits")
        except Exception as exc:  # noqa: BLE001 - the map is a cache; workers then store payloads whole
            note(f"note: could not publish the collection's payload digests: {exc}")
        return Ingester(coll, store, payloads)


def ready_store(url: str) -> Store:
    store = open_store(url)
    store.check()
    return store


def describe_ingest(report: IngestReport, note: Callable[[str], None]) -> None:
    for problem in report.problems:
        note(f"ingest: {problem}")
    if report.duplicates:
        note(f"ingest: {len(report.duplicates)} job(s) captured twice: the second file is set aside "
             "(setaside/duplicates/), not indexed")


def run_queued(coll: Collection, opts: CaptureOptions, urls: list[str], *, broker: str, store: str,
               browser_path: str | None = None, events: RunEvents | None = None) -> RunOutcome:
    """Queue `urls` for capture into `coll`, wait for each, ingest what the workers deliver, and
    return the outcome as `run_captures` does. Raises WarcacheError (one line) for a broker or a
    store that cannot be used."""
    if opts.session is not None:
        raise UsageError(f"{opts.session.option} cannot be used with --broker: the session's cookies would "
                         "travel through the broker to every worker; capture pages behind a login with "
                         "a local `warcache add`")
    events = events or RunEvents()

    def note(text: str) -> None:
        if events.note:
            events.note(text)

    link = Connection(broker, command="add --broker")
    target = ready_store(store)
    ingester = link.ingester(coll, target, note)
    try:
        earlier = ingester.run_once()
        describe_ingest(earlier, note)
        if earlier.ingested:
            note(f"ingest: {earlier.describe()} (delivered for earlier runs)")
        return _queue_and_wait(link, coll, opts, urls, store, browser_path, ingester, events, note)
    finally:
        ingester.close()


def _queue_and_wait(link: Connection, coll: Collection, opts: CaptureOptions, urls: list[str], store: str,
                    browser_path: str | None, ingester: Ingester, events: RunEvents,
                    note: Callable[[str], None]) -> RunOutcome:
    app = make_app(link.broker)
    # No result subscription per job: results are polled (see module docstring).
    app.backend.on_task_call = lambda *args, **kwargs: None
    payloads = payloads_key(coll)
    options = options_to_json(opts)
    ids: list[str] = []
    jobs: dict[str, Job] = {}
    results: dict[int, PageResult] = {}
    interrupted = False

    def send_again(job_id: str) -> None:
        app.send_task(TASK, kwargs=jobs[job_id].to_kwargs(), queue=QUEUE, task_id=job_id)

    try:
        try:
            with app.producer_or_acquire() as producer:
                for url in urls:
                    job = Job(url, coll.name, store, options, payloads, browser_path)
                    ids.append(app.send_task(TASK, kwargs=job.to_kwargs(), producer=producer, queue=QUEUE).id)
                    jobs[ids[-1]] = job
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # kombu's OperationalError once its publish retries are spent
            if not ids:
                raise BrokerError(f"could not queue the URLs on {broker_address(link.broker)}: "
                                  f"{_first_line(exc)}") from None
            note(f"the broker went away after {len(ids)} of {len(urls)} URL(s) were queued: "
                 f"{_first_line(exc)}")
        note(f"queued {len(ids)} URL(s) on {broker_address(link.broker)}; waiting for the workers")
        _wait(link, app, ids, urls, ingester, events, results, note, send_again)
    except KeyboardInterrupt:
        interrupted = True
    interrupted = interrupted or len(ids) < len(urls)  # the broker went away while queueing
    left = [u for i, u in enumerate(urls) if i not in results] if interrupted else []
    outcome = RunOutcome(urls, [results[i] for i in sorted(results)], interrupted=interrupted,
                         not_captured=left)
    remember_failures(coll, outcome.results)
    return outcome


def _wait(link: Connection, app, ids: list[str], urls: list[str], ingester: Ingester, events: RunEvents,
          results: dict[int, PageResult], note: Callable[[str], None],
          send_again: Callable[[str], None]) -> None:
    """Poll the jobs' results until each has one, reporting them as they land (see LOST_AFTER for
    jobs the broker lost)."""
    import redis

    keys = {job: app.backend.get_key_for_task(job) for job in ids}
    pending = {job: i for i, job in enumerate(ids)}
    started: set[str] = set()
    since = moved = time.monotonic()
    down = False
    noted_idle = False
    lost = LostJobs()
    while pending:
        order = list(pending)
        try:
            raw = link.redis.mget([keys[job] for job in order])
        except redis.RedisError as exc:
            if not down:
                note(f"lost the connection to the broker ({_first_line(exc)}); retrying")
                down = True
            time.sleep(1)
            continue
        if down:
            note("connection to the broker is back")
            down = False
        finished = []
        unseen = set()  # jobs no worker has begun, as far as their results tell
        for job, value in zip(order, raw, strict=True):
            meta = json.loads(value) if value else {}
            status = meta.get("status")
            if status in FINISHED:
                finished.append((job, meta))
            elif status == "STARTED" and job not in started:
                started.add(job)
                moved = time.monotonic()
                if events.started:
                    events.started(pending[job], urls[pending[job]])
            elif not status:
                unseen.add(job)
        if finished:
            moved = time.monotonic()
            report = ingester.run_once() if any(_delivered(meta) for _, meta in finished) else IngestReport()
            describe_ingest(report, note)
            for job, meta in finished:
                i = pending.pop(job)
                results[i] = _result(urls[i], job, meta, ingester, report)
                if events.landed:
                    events.landed(i, results[i])
        elif not started and not results and not noted_idle and time.monotonic() - since > NO_WORKER_NOTE:
            note(f"no worker has started a job in {NO_WORKER_NOTE:.0f} s: is one running? "
                 f"(warcache worker --broker redis://{broker_address(link.broker)}/...)")
            noted_idle = True
        if unseen and time.monotonic() - moved > LOST_AFTER:
            for job in lost.check(link.redis, unseen):
                try:
                    send_again(job)
                except Exception as exc:  # kombu's OperationalError: the broker went away meanwhile
                    note(f"could not queue the job for {urls[pending[job]]} again: {_first_line(exc)}")
                    lost.suspects.add(job)  # tried again at the next look
                    continue
                note(f"the broker lost the job for {urls[pending[job]]} (a worker died as it took it?): "
                     "queued again")
        if pending:
            time.sleep(POLL_INTERVAL)


class LostJobs:
    """Finds jobs the broker no longer holds although no worker began them.

    kombu's Redis transport takes a message off the queue (BRPOP) and only then records it as
    delivered (the `unacked` hash): a worker killed between the two loses the message, which no
    visibility timeout brings back, and `add` would wait for it forever. A job that no result says
    was begun, and that is neither queued nor delivered in two looks LOST_CHECK seconds apart (the
    gap between the two steps is a few microseconds), is lost. Sending it again under its id is
    safe even if it was not: a job captured twice is taken into the collection once (ingest.py)."""

    def __init__(self) -> None:
        self.suspects: set[str] = set()
        self.last = 0.0

    def check(self, client, unseen: set[str]) -> list[str]:
        import redis

        if time.monotonic() - self.last < LOST_CHECK:
            return []
        self.last = time.monotonic()
        try:
            held = held_job_ids(client)
        except redis.RedisError:
            return []
        if held is None:  # a long queue: looked at again once it is shorter
            return []
        missing = unseen - held
        lost = sorted(missing & self.suspects)
        self.suspects = missing - set(lost)
        return lost


def _delivered(meta: dict) -> bool:
    value = meta.get("result")
    return meta.get("status") == "SUCCESS" and isinstance(value, dict) and bool(value.get("file"))


def _result(url: str, job: str, meta: dict, ingester: Ingester, report: IngestReport) -> PageResult:
    """The job's PageResult as the worker sent it, with the file the collection holds for it."""
    value = meta.get("result")
    if meta.get("status") != "SUCCESS" or not isinstance(value, dict):
        if isinstance(value, dict):
            reason = f"{value.get('exc_type', 'error')}: {' '.join(map(str, value.get('exc_message') or []))}"
        else:
            reason = str(value)
        return PageResult(url=url, ok=False, error=f"the worker failed ({reason.strip()})")
    result = PageResult.from_json(value.get("result") or {"url": url, "ok": False, "error": "no result"})
    delivered = value.get("file")
    if delivered:
        held = ingester.job_file(job)
        if held is None:
            problems = [p for p in report.problems if p.startswith(delivered)]
            result.ok = False
            result.error = (f"delivered as {delivered} but not taken into the collection"
                            f" ({problems[0] if problems else 'not found in the store'})")
            result.warc = None
        else:
            result.warc = held
    return result


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
