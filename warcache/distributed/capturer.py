"""A worker's warm browser, and writing one job's page into a WARC file of its own.

Celery runs a worker's jobs in a pool of N threads (`-j N`); the browser lives in one asyncio
loop, in a thread of its own, started once. Each job thread hands its capture to that loop and
waits for it, so N pages load at once in one browser, each in its own context, as a local
`add -j N` does. The loop thread only drives the browser: building the records (with the digest
map's answers) and writing the file happen back in the job's thread, so a slow disk or a slow
Redis never stalls the captures of the other threads.

Jobs usually share their options; the browser-wide ones (the executable, the user agent, which
service workers also see) decide which browser a job needs, and a second one is started only
for a job that differs there (at most `KEEP` are kept, the least recently used idle one is
closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path

from warcache.capture.archiver import CLOSE_TIMEOUT, Archiver, PageResult, archivable
from warcache.capture.page import CaptureOptions, PageCapture
from warcache.capture.records import build_page_records
from warcache.chromium import SYSTEM_CANDIDATES, BrowserChoice, find_browser
from warcache.distributed.digests import KnownPayloads, PayloadMap
from warcache.errors import CaptureError
from warcache.warc.writer import WarcFileWriter, default_warcinfo

KEEP = 2
#: On top of a capture's own budget: replacing a browser that hung (closing it, launching anew).
MARGIN = 4 * CLOSE_TIMEOUT + 30


@dataclass
class Captured:
    """A page as the browser recorded it, and which browser did."""

    capture: PageCapture
    browser_version: str
    user_agent: str


class WarmBrowsers:
    """The browser(s) of one worker process, in an asyncio loop thread of their own."""

    def __init__(self, default_browser: str | None = None, *,
                 claim_second: Callable[[str, int], Awaitable[bool]] | None = None) -> None:
        self.default_browser = default_browser
        self.claim_second = claim_second  # see archiver.DistinctSeconds
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="warcache-browser", daemon=True)
        self._archivers: OrderedDict[tuple, Archiver] = OrderedDict()
        self._choices: dict[str | None, BrowserChoice] = {}
        self._busy: dict[tuple, int] = {}
        self._lock: asyncio.Lock | None = None
        self.stopping = False  # the worker is shutting down: the browser's errors are expected

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        def quiet_when_stopping(loop, context) -> None:
            if not self.stopping:
                loop.default_exception_handler(context)

        self.loop.set_exception_handler(quiet_when_stopping)
        self.loop.run_forever()

    def start(self, opts: CaptureOptions, timeout: float = 120) -> str:
        """Start the loop and launch the browser for `opts`; returns its description."""
        self._thread.start()
        archiver = self._call(self._archiver(opts, None), timeout)
        return f"Chromium {archiver.browser_version} ({archiver.choice.executable or 'Playwright'})"

    def _call(self, coro, timeout: float):
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise

    def alive(self, timeout: float = 30) -> bool:
        """Whether the loop still answers (the worker's watchdog asks)."""
        async def nothing() -> bool:
            return True

        try:
            return self._call(nothing(), timeout)
        except (FutureTimeout, RuntimeError):
            return False

    def allowed(self, browser: str) -> bool:
        """Whether a job may name this executable: the worker's own, or a known Chromium or Chrome
        location (a job must not make a worker run any program it names)."""
        return browser == self.default_browser or browser in SYSTEM_CANDIDATES

    async def _archiver(self, opts: CaptureOptions, browser: str | None) -> Archiver:
        if self._lock is None:
            self._lock = asyncio.Lock()
        if browser and not self.allowed(browser):
            raise CaptureError(f"this worker does not drive {browser!r} (a job may name the worker's own "
                               "--browser or a known Chromium location)")
        wanted = browser or self.default_browser
        choice = self._choices.get(wanted)
        if choice is None:  # once per worker: finding Playwright's browser starts its driver
            choice = self._choices[wanted] = find_browser(wanted)
        key = (choice.executable, opts.user_agent)
        async with self._lock:
            archiver = self._archivers.get(key)
            if archiver is None:
                archiver = Archiver(None, opts, choice, claim_second=self.claim_second)
                await archiver.__aenter__()
                self._archivers[key] = archiver
                await self._close_idle()
            self._archivers.move_to_end(key)
            return archiver

    async def _close_idle(self) -> None:
        for key in list(self._archivers):
            if len(self._archivers) <= KEEP:
                return
            if not self._busy.get(key):
                archiver = self._archivers.pop(key)
                with contextlib.suppress(Exception):
                    await archiver.__aexit__(None, None, None)

    async def _capture(self, url: str, opts: CaptureOptions, browser: str | None) -> Captured:
        archiver = await self._archiver(opts, browser)
        key = (archiver.choice.executable, opts.user_agent)
        self._busy[key] = self._busy.get(key, 0) + 1
        try:
            capture = await archiver.capture(url, opts)
        finally:
            self._busy[key] -= 1
        return Captured(capture, archiver.browser_version, archiver.user_agent)

    def capture(self, url: str, opts: CaptureOptions, browser: str | None = None) -> Captured:
        """Capture one normalised URL (from a job's thread). The capture bounds itself by its
        budget; past that and a margin the loop is taken for stuck and CaptureError raised."""
        limit = opts.budget() + MARGIN
        try:
            return self._call(self._capture(url, opts, browser), limit)
        except FutureTimeout:
            raise CaptureError(f"the capture did not end within {limit:.0f} s") from None

    def close(self, timeout: float = 60) -> None:
        async def close_all() -> None:
            for archiver in self._archivers.values():
                with contextlib.suppress(Exception):
                    await archiver.__aexit__(None, None, None)
            self._archivers.clear()

        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                self._call(close_all(), timeout)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)


def write_job_file(captured: Captured, opts: CaptureOptions, directory: Path, *, job: str, collection: str,
                   payloads: PayloadMap | None) -> tuple[PageResult, Path | None]:
    """Write one job's page into a WARC file of its own in `directory`, closed (renamed from
    `.open`, fsynced) before this returns. The warcinfo names the collection and the job, which
    is how the collection's host knows which job a delivered file holds.

    Revisits are written only for digests the collection's host has published (`payloads`)."""
    capture = captured.capture
    result = PageResult.of_capture(capture)
    if not archivable(capture):
        return result, None
    digests = [ex.payload_digest for ex in capture.exchanges
               if ex.response_head is not None and ex.body_length > 0 and ex.truncated is None]
    known = KnownPayloads(payloads.lookup_many(sorted(set(digests))) if payloads is not None else {})
    page = build_page_records(capture, known, browser_version=captured.browser_version,
                              user_agent=captured.user_agent, opts=opts)
    info = default_warcinfo(browser=f"Chromium {captured.browser_version}", user_agent=captured.user_agent,
                            settings=opts.settings())
    info["isPartOf"] = collection
    info["warcache-job"] = job
    writer = WarcFileWriter(directory, info=info)
    try:
        written = writer.write_page(page.records)
    finally:
        name = writer.close()
    result.wrote(page, written)
    assert name is not None
    return result, directory / name
