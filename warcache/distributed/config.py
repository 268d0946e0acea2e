"""The Celery application of warcache's capture queue: Redis as broker and result backend.

The settings are those that make a job survive a worker's death and a broker's restart, measured
in the research notes behind this package (each value below says why). In short: a job's message is
acknowledged only when its task returns, which is after its WARC is in the store (late ack); a
message delivered and not acknowledged within the visibility timeout goes back to the queue, and
workers look for such messages every second (kombu's default looks every ~100 s, whatever the
timeout).
"""

from __future__ import annotations

#: The queue (a Redis list of that name) and the task's name; a client needs nothing else to
#: queue a job (`send_task`), so it never imports the worker's code.
QUEUE = "warcache.capture"
TASK = "warcache.capture"
#: Jobs that failed, by job id (a Redis hash, JSON values): `warcache queue` lists and retries them.
FAILED_KEY = "warcache:failed"
#: Seconds a job may stay delivered and unacknowledged before it is given to another worker. It
#: must exceed the longest capture plus its delivery, or a slow capture runs again (and again):
#: at least twice the capture budget (155 s with the default options).
DEFAULT_VISIBILITY_TIMEOUT = 600.0
#: How long results (and so what `warcache queue` knows of finished jobs) are kept.
RESULT_EXPIRES = 7 * 86400
BROKER_ENV = "WARCACHE_BROKER"
STORE_ENV = "WARCACHE_STORE"


def make_app(broker_url: str, *, visibility_timeout: float = DEFAULT_VISIBILITY_TIMEOUT):
    """A Celery app for `broker_url` (celery is imported here, not at module level)."""
    from celery import Celery

    app = Celery("warcache", broker=broker_url, backend=broker_url, set_as_current=False)
    app.conf.update(
        broker_transport_options={
            "visibility_timeout": visibility_timeout,
            # kombu >= 5.7: look for messages past their visibility timeout every second, and
            # scan on every look (defaults 10 s and every 10th look: ~100 s whatever the timeout).
            "unacked_restore_interval": 1,
            "unacked_restore_throttle": 1,
            "socket_connect_timeout": 5,
            # A broker that stops answering makes a publish or an ack fail after this long, and
            # the worker then reconnects, instead of waiting forever.
            "socket_timeout": 30,
            "socket_keepalive": True,
            "health_check_interval": 10,
            "retry_on_timeout": True,
        },
        result_backend_transport_options={"visibility_timeout": visibility_timeout},
        # A worker that passed its pre-flight check waits for a broker that went away, and says so
        # at each try; `add` gives up after its publish retries.
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        broker_connection_timeout=5,
        task_acks_late=True,  # acknowledge when the task returns: after the WARC is delivered
        task_acks_on_failure_or_timeout=True,  # a task that raised is a failed job, not a lost one
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,  # a worker holds no more jobs than it captures at once
        # Captures run on after a lost connection; their messages come back and run again, and
        # the ingest ledger keeps one of each (Celery 6 will default to cancelling them).
        worker_cancel_long_running_tasks_on_connection_loss=False,
        task_track_started=True,  # `add` and `queue` see when a job starts
        task_serializer="json", result_serializer="json", accept_content=["json"],
        result_expires=RESULT_EXPIRES,
        result_backend_always_retry=True,
        result_backend_max_retries=10,
        task_default_queue=QUEUE,
        redis_socket_connect_timeout=5,
        redis_socket_timeout=30,
        redis_retry_on_timeout=True,
        redis_backend_health_check_interval=10,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_publish_retry=True,
        task_publish_retry_policy={"max_retries": 3, "interval_start": 0, "interval_step": 0.5,
                                   "interval_max": 1},
    )
    return app
