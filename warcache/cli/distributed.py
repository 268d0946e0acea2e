"""The commands of capturing on many machines: worker, queue, ingest (and `add --broker`)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from warcache.cli.options import broker_option, collection_option, default_jobs, store_option
from warcache.cli.output import say, shorten
from warcache.collection import open_collection, root_path
from warcache.errors import UsageError


def _need_broker(broker: str | None) -> str:
    if not broker:
        raise click.UsageError("give the queue's Redis with --broker redis://HOST[:PORT][/DB] "
                               "(or set WARCACHE_BROKER)")
    return broker


@click.command()
@broker_option
@click.option("-j", "--jobs", type=click.IntRange(1, 32), default=default_jobs, show_default="cores, max 4",
              help="Pages captured at once, in one browser.")
@click.option("--spool", type=click.Path(file_okay=False), default=None,
              help="Where WARC files wait to be delivered [default: ROOT/spool].")
@click.option("--name", default="", help="This worker's name [default: warcache-PID@HOST].")
@click.option("--visibility-timeout", type=click.FloatRange(5), default=600, show_default=True,
              help="Seconds a job may run unacknowledged before it goes to another worker; the same "
                   "on every worker, at least twice the capture budget.")
@click.option("--browser", "browser_path", metavar="PATH", envvar="WARCACHE_CHROMIUM",
              help="Chromium or Chrome to drive [env WARCACHE_CHROMIUM].")
@click.pass_context
def worker(ctx: click.Context, broker: str | None, jobs: int, spool: str | None, name: str,
           visibility_timeout: float, browser_path: str | None) -> None:
    """Capture the pages queued by `warcache add --broker`, with one warm browser.

    Each page goes into a WARC file of its own, delivered to the store the job names; a job is
    acknowledged only once its file is there, so a worker killed mid-capture has its jobs done
    again by another. Ctrl-C finishes the pages under way, then exits.

    \b
        warcache worker --broker redis://queue.lan:6379/0 -j 4
    """
    from warcache.distributed import require_extra

    require_extra("worker")
    from warcache.distributed.worker import WorkerSettings, run_worker

    root = root_path(ctx.obj["root"])
    settings = WorkerSettings(broker=_need_broker(broker), jobs=jobs,
                              spool=Path(spool) if spool else root / "spool", name=name,
                              visibility_timeout=visibility_timeout, browser=browser_path)
    ctx.exit(run_worker(settings))


@click.command("queue")
@broker_option
@click.option("--retry", "retry_failed", is_flag=True, help="Queue the failed jobs again.")
@click.option("--visibility-timeout", type=click.FloatRange(5), default=600, show_default=True,
              help="The workers' visibility timeout (running jobs older than this are marked overdue).")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True,
              help="Jobs listed per state (--json lists up to 1000).")
@click.option("--json", "as_json", is_flag=True, help="Print the state of the queue as JSON on stdout.")
def queue_(broker: str | None, retry_failed: bool, visibility_timeout: float, limit: int,
           as_json: bool) -> None:
    """Show what is pending, running and failed in the capture queue; retry the failures.

    \b
        warcache queue --broker redis://queue.lan:6379/0
        warcache queue --retry
    """
    from warcache.distributed.backlog import read_backlog
    from warcache.distributed.backlog import retry_failed as retry
    from warcache.distributed.client import Connection
    from warcache.distributed.config import make_app

    link = Connection(_need_broker(broker), command="queue")
    if retry_failed:
        done = retry(make_app(link.broker), link.redis)
        click.echo(f"queued {len(done)} failed job(s) again; `warcache ingest` (or the next "
                   "`add --broker` of their collection) takes their files in", err=True)
        return
    backlog = read_backlog(link.redis, visibility_timeout=visibility_timeout,
                           limit=1000 if as_json else limit)
    if as_json:
        click.echo(json.dumps(backlog.to_json(), indent=2, ensure_ascii=False))
        return
    say(f"pending: {backlog.pending_total}   running: {len(backlog.running)}   failed: {len(backlog.failed)}")
    states = (("pending", backlog.pending), ("running", backlog.running), ("failed", backlog.failed))
    for title, jobs in states:
        if not jobs:
            continue
        say(f"\n{title}:")
        for job in jobs[:limit]:
            extra = ""
            if title == "running":
                extra = f" on {job.worker}" if job.worker else ""
                if job.overdue:
                    extra += " (overdue: its worker is gone or slow; it is delivered again)"
            elif title == "failed":
                extra = f": {shorten(job.error, 100)}"
            say(f"  {_age(job.age):>6}  {job.id[:8]}  [{job.collection}] {job.url}{extra}")
        if len(jobs) > limit:
            say(f"  ... and {len(jobs) - limit} more")
    if backlog.failed:
        say("\n`warcache queue --retry` queues the failed jobs again", err=True)


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.0f}h"


@click.command()
@collection_option
@store_option
@broker_option
@click.option("--watch", is_flag=True, help="Keep ingesting what arrives until Ctrl-C.")
@click.option("--interval", type=click.FloatRange(0.1), default=2.0, show_default=True,
              help="Seconds between looks at the store, with --watch.")
@click.pass_context
def ingest(ctx: click.Context, collection: str, store: str | None, broker: str | None, watch: bool,
           interval: float) -> None:
    """Take the WARC files workers delivered into the collection (each exactly once).

    `add --broker` does this as results come in; this command takes in what was delivered while
    nobody waited (after a Ctrl-C, or jobs queued again with `warcache queue --retry`). With
    --broker, the payloads now held are published so that workers write revisits for them.
    """
    from warcache.cli.capture import default_store
    from warcache.distributed import require_extra

    require_extra("ingest", modules=())
    from warcache.distributed.client import Connection, describe_ingest, ready_store
    from warcache.distributed.ingest import Ingester

    coll = open_collection(root_path(ctx.obj["root"]), collection, create=True)
    target = ready_store(store or default_store(coll))

    def note(text: str) -> None:
        say(text, err=True)

    if broker:
        ingester = Connection(broker, command="ingest").ingester(coll, target, note)
    else:
        ingester = Ingester(coll, target)
    total = 0
    report = None
    try:
        while True:
            report = ingester.run_once()
            describe_ingest(report, note)
            total += len(report.ingested)
            if report.ingested or not watch:
                say(f"{report.describe()} into collection {coll.name!r} from {target.url}", err=True)
            if not watch:
                break
            time.sleep(interval)
    except KeyboardInterrupt:
        say(f"stopped; {total} file(s) ingested", err=True)
    finally:
        ingester.close()
    if not watch and report is not None and report.problems:
        raise UsageError(f"{len(report.problems)} delivered file(s) could not be ingested (see above)")
