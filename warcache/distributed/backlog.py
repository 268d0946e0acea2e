"""`warcache queue`: what is pending, running and failed, read straight from Redis.

Pending jobs are the messages in the queue's list; running ones are the messages delivered to a
worker and not yet acknowledged (kombu's `unacked` hash, across all workers), which includes
those of a worker that died: one older than the visibility timeout is about to be delivered
again. Failed jobs are those the workers recorded (`config.FAILED_KEY`): a capture that failed,
or a task that did (a budget overrun, a store that could not be written). Retrying queues the same
job again under a new id. Reading all of it takes a few Redis commands and no worker's answer.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from dataclasses import dataclass, field

from warcache.distributed.config import FAILED_KEY, QUEUE, TASK
from warcache.distributed.jobs import Job

#: kombu's names: priority sub-queues are QUEUE + SEP + step; unacknowledged messages by tag.
PRIORITY_SEP = "\x06\x16"
PRIORITY_STEPS = (3, 6, 9)
UNACKED = "unacked"
UNACKED_INDEX = "unacked_index"
#: The Redis lists a capture job can be queued in (kombu makes one per priority step).
QUEUES = (QUEUE, *(f"{QUEUE}{PRIORITY_SEP}{step}" for step in PRIORITY_STEPS))


@dataclass
class QueuedJob:
    id: str
    url: str
    collection: str
    age: float  # seconds since it was queued (pending), delivered (running) or failed
    worker: str = ""
    error: str = ""
    overdue: bool = False  # running longer than the visibility timeout: to be delivered again

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v not in ("", None)}


@dataclass
class Backlog:
    pending: list[QueuedJob] = field(default_factory=list)
    pending_total: int = 0
    running: list[QueuedJob] = field(default_factory=list)
    failed: list[QueuedJob] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"pending": self.pending_total, "running": len(self.running), "failed": len(self.failed),
                "jobs": {"pending": [j.to_json() for j in self.pending],
                         "running": [j.to_json() for j in self.running],
                         "failed": [j.to_json() for j in self.failed]}}


def _job_of(message: dict) -> tuple[str, Job | None]:
    """(job id, job) of a kombu message holding a capture task; (id, None) for anything else."""
    headers = message.get("headers") or {}
    job_id = str(headers.get("id") or "")
    if headers.get("task") != TASK:
        return job_id, None
    try:
        body = message["body"]
        if (message.get("properties") or {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        _args, kwargs, _embed = json.loads(body)
        return job_id, Job.from_kwargs(kwargs)
    except (KeyError, ValueError, TypeError):
        return job_id, None


def read_backlog(client, *, visibility_timeout: float, limit: int = 1000) -> Backlog:
    """Pending (the oldest `limit`), running and failed jobs."""
    now = time.time()
    backlog = Backlog()
    backlog.pending_total = sum(client.llen(q) for q in QUEUES)
    for queue in QUEUES:
        # kombu pushes on the left and takes from the right: the oldest are at the end.
        for raw in reversed(client.lrange(queue, -limit, -1)):
            job_id, job = _job_of(json.loads(raw))
            if job is not None:
                backlog.pending.append(QueuedJob(job_id, job.url, job.collection, now - job.enqueued_at))
    delivered = {tag.decode() if isinstance(tag, bytes) else tag: score
                 for tag, score in client.zrange(UNACKED_INDEX, 0, -1, withscores=True)}
    for tag, raw in client.hgetall(UNACKED).items():
        tag = tag.decode() if isinstance(tag, bytes) else tag
        try:
            message = json.loads(raw)[0]
        except (ValueError, IndexError, TypeError):
            continue
        job_id, job = _job_of(message)
        if job is None:
            continue
        age = now - delivered.get(tag, now)
        backlog.running.append(QueuedJob(job_id, job.url, job.collection, age,
                                         overdue=age > visibility_timeout))
    _add_workers(client, backlog.running)
    for job_id, raw in client.hgetall(FAILED_KEY).items():
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        backlog.failed.append(QueuedJob(
            job_id.decode() if isinstance(job_id, bytes) else job_id, str(entry.get("url", "")),
            str(entry.get("collection", "")), now - float(entry.get("at", now)),
            worker=str(entry.get("worker", "")), error=str(entry.get("error", ""))))
    backlog.running.sort(key=lambda j: -j.age)
    backlog.failed.sort(key=lambda j: j.age)
    return backlog


def held_job_ids(client, *, most: int = 5000) -> set[str] | None:
    """The ids of every job the broker holds: queued (in any priority list) or delivered to a
    worker and not yet acknowledged. None when more than `most` are queued (too many to read)."""
    if sum(client.llen(q) for q in QUEUES) > most:
        return None
    held = set()
    for queue in QUEUES:
        for raw in client.lrange(queue, 0, -1):
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                held.add(_job_of(json.loads(raw))[0])
    for raw in client.hvals(UNACKED):
        with contextlib.suppress(ValueError, IndexError, TypeError, AttributeError):
            held.add(_job_of(json.loads(raw)[0])[0])
    return held


def _add_workers(client, jobs: list[QueuedJob]) -> None:
    """The worker each running job started on (from its STARTED result), when known."""
    if not jobs:
        return
    for job, raw in zip(jobs, client.mget([f"celery-task-meta-{j.id}" for j in jobs]), strict=True):
        try:
            meta = json.loads(raw) if raw else {}
        except ValueError:
            continue
        if meta.get("status") == "STARTED" and isinstance(meta.get("result"), dict):
            job.worker = str(meta["result"].get("hostname") or "")


def retry_failed(app, client, ids: list[str] | None = None) -> list[tuple[str, str]]:
    """Queue the failed jobs (those of `ids`, or all) again; returns (old id, new id) pairs."""
    app.backend.on_task_call = lambda *args, **kwargs: None
    done = []
    entries = client.hgetall(FAILED_KEY)
    with app.producer_or_acquire() as producer:
        for raw_id, raw in entries.items():
            old = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
            if ids is not None and old not in ids:
                continue
            try:
                kwargs = dict(json.loads(raw)["job"])
            except (ValueError, KeyError, TypeError):
                continue
            kwargs["enqueued_at"] = time.time()
            job = Job.from_kwargs(kwargs)
            new = app.send_task(TASK, kwargs=job.to_kwargs(), producer=producer, queue=QUEUE).id
            client.hdel(FAILED_KEY, old)
            done.append((old, new))
    return done
