"""One `warcache add` run: capture a list of URLs, several at a time, surviving Ctrl-C.

The event loop, the Ctrl-C handling and the bookkeeping of failures live here, so that the CLI
only prints what it is told: a run reports each page as it lands (`RunEvents`), and returns what
was captured, what failed and, when interrupted, what was never captured. A Ctrl-C stops
starting captures, cancels the ones under way cleanly (their records are written whole or not
at all) and returns; running the same command again picks up the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from dataclasses import dataclass, field

from warcache import timestamps
from warcache.capture.archiver import AfterStoreHook, Archiver, PageResult
from warcache.capture.batch import Progress, capture_many
from warcache.capture.page import CaptureOptions
from warcache.capture.session import PROFILE
from warcache.chromium import find_browser
from warcache.collection import Collection
from warcache.warc.recovery import Recovered


@dataclass
class RunEvents:
    """What a caller is told while a run goes on (each optional)."""

    started: Callable[[int, str], None] | None = None  # (index, url)
    landed: Callable[[int, PageResult], None] | None = None  # (index, result)
    note: Callable[[str], None] | None = None  # a line for the user (recovered files, interruption)
    waiting: Callable[[str], None] | None = None  # the collection is being rewritten: waiting for it


@dataclass
class RunOutcome:
    urls: list[str]
    results: list[PageResult] = field(default_factory=list)  # in the order of `urls`, captured or failed
    interrupted: bool = False
    not_captured: list[str] = field(default_factory=list)  # interrupted before their capture ended

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(r.ok for r in self.results)

    @property
    def captured(self) -> int:
        return sum(r.ok for r in self.results)

    @property
    def bytes(self) -> int:
        return sum(r.bytes for r in self.results)


def run_captures(coll: Collection, opts: CaptureOptions, urls: list[str], *, browser_path: str | None = None,
                 jobs: int = 1, max_warc_size: int, events: RunEvents | None = None,
                 after_store: AfterStoreHook | None = None, retry_below: int | None = None) -> RunOutcome:
    """Capture `urls` into `coll`, `jobs` at a time, and record the failures for `warcache retry`
    (a URL captured now is taken off that list). Raises only for what stops the whole run (no
    browser, a WARC that cannot be written). `after_store` and `retry_below`: see archiver.py."""
    events = events or RunEvents()
    choice = find_browser(browser_path)
    if opts.session is not None and opts.session.kind == PROFILE:
        jobs = 1  # one context for all pages: see profile_browser.py
    progress = Progress(urls)
    extra = {"after_store": after_store, "retry_below": retry_below}
    try:
        waiting = (lambda: events.waiting(f"waiting for `warcache forget` to finish with collection "
                                          f"{coll.name!r} ...")) if events.waiting else None
        with coll.writing(on_wait=waiting):  # not while `warcache forget` rewrites the collection
            asyncio.run(_capture_all(coll, opts, choice, progress, jobs, max_warc_size, events, extra))
    except (KeyboardInterrupt, asyncio.CancelledError):
        progress.interrupted = True
    except Exception:
        if not progress.interrupted:
            raise
    outcome = RunOutcome(urls, [progress.results[i] for i in sorted(progress.results)],
                         interrupted=progress.interrupted,
                         not_captured=progress.not_captured if progress.interrupted else [])
    remember_failures(coll, outcome.results)
    return outcome


def remember_failures(coll: Collection, results: list[PageResult]) -> None:
    """Record the URLs that failed for `warcache retry`, and take those captured now off that list."""
    now = timestamps.to_iso(timestamps.now())
    coll.update_failures({r.url for r in results if r.ok},
                         [{"url": r.url, "reason": r.error, "time": now}
                          for r in results if not r.ok and r.retryable])


async def _capture_all(coll: Collection, opts: CaptureOptions, choice, progress: Progress, jobs: int,
                       max_warc_size: int, events: RunEvents, extra: dict) -> None:
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()

    def note(text: str) -> None:
        if events.note:
            events.note(text)

    def interrupt() -> None:
        # A terminal's Ctrl-C also reaches the browser and its driver, which then die: from here on
        # their errors mean "interrupted", and captures under way are cancelled cleanly.
        if not progress.interrupted and main is not None:
            progress.interrupted = True
            note("interrupting: stopping the captures under way ...")
            main.cancel()

    def quiet_when_interrupted(loop, context) -> None:
        if not progress.interrupted:
            loop.default_exception_handler(context)

    def recovered(item: Recovered) -> None:
        note(f"note: {item.describe()}")

    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, interrupt)
    loop.set_exception_handler(quiet_when_interrupted)
    async with Archiver(coll, opts, choice, max_warc_size=max_warc_size, on_recovered=recovered,
                        **extra) as archiver:
        if opts.session is not None:  # (said once the browser has taken the session whole)
            for line in (opts.session.summary(), *opts.session.notes):
                note(f"note: {line}")
        await capture_many(archiver, progress, jobs=jobs, on_start=events.started, on_result=events.landed)
