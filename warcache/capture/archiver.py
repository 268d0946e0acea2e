"""`warcache add` as a library: capture URLs into a collection, one page after another.

The archiver owns the browser, the WARC writer and the dedup table for one run. For each URL it
captures the page (capture.py), turns what was recorded into WARC records (request/response pairs,
revisits for payloads the collection already has, the screenshot, the rendered DOM and a page
record), writes them durably, and only then reports the page captured.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from playwright.async_api import Browser, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from warcache import timestamps
from warcache.capture.page import CaptureOptions, PageCapture, capture_page
from warcache.capture.records import build_page_records, cdxj_lines
from warcache.chromium import (
    BrowserChoice,
    browser_version,
    desktop_user_agent,
    instance_arg,
    kill_browser,
    launch_args,
)
from warcache.collection import Collection
from warcache.errors import BrowserNotFound
from warcache.extract.captured import PageHtml
from warcache.index.cdxj import CdxjIndex
from warcache.index.dedup import DedupIndex
from warcache.index.postprocess import index_missing, page_doc, page_entry
from warcache.search.index import fulltext_index
from warcache.urls import normalize_url
from warcache.warc.recovery import Recovered, recover_collection
from warcache.warc.writer import (
    DEFAULT_MAX_SIZE,
    DOM_URN,
    PAGE_URN,
    SCREENSHOT_URN,
    WarcFileWriter,
    WrittenPage,
    default_warcinfo,
)

#: Seconds a browser gets to close before it is taken for hung and killed.
CLOSE_TIMEOUT = 10.0


@dataclass
class PageResult:
    """The outcome of one URL, as shown to the user and printed by `--json`."""

    url: str
    ok: bool
    status: int | None = None
    final_url: str | None = None
    title: str = ""
    timestamp: str = ""  # 14-digit capture time
    resources: int = 0  # responses recorded (revisits included)
    revisits: int = 0
    bytes: int = 0  # WARC bytes written for this page
    seconds: float = 0.0
    warc: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    retryable: bool = True  # False when trying again cannot help (an invalid URL)

    def to_json(self) -> dict:
        return asdict(self)


class Archiver:
    """Capture pages into one collection. Use as `async with Archiver(...) as a: await a.add(url)`."""

    def __init__(self, coll: Collection, opts: CaptureOptions, browser: BrowserChoice, *,
                 max_warc_size: int = DEFAULT_MAX_SIZE, headless: bool = True,
                 on_recovered: Callable[[Recovered], None] | None = None) -> None:
        self.coll = coll
        self.opts = opts
        self.choice = browser
        self.max_warc_size = max_warc_size
        self.headless = headless
        self.on_recovered = on_recovered
        self._pw: Playwright | None = None
        self._browser: Browser | None = None
        self._instances: dict[int, str] = {}  # id(browser) -> its --warcache-instance argument
        self._writer: WarcFileWriter | None = None
        self._dedup: DedupIndex | None = None
        self._cdxj: CdxjIndex | None = None
        self._launch_lock = asyncio.Lock()
        self.user_agent = ""
        self.browser_version = ""

    async def __aenter__(self) -> Archiver:
        self.coll.create()
        def catch_up(path, name) -> None:
            index_missing(self.coll, path, name)

        for item in recover_collection(self.coll, catch_up):
            if self.on_recovered:
                self.on_recovered(item)
        self._dedup = DedupIndex(self.coll.dedup_path)
        self._cdxj = CdxjIndex(self.coll.indexes_dir)
        self._fulltext = fulltext_index(self.coll)
        self._pw = await async_playwright().start()
        try:
            await self._launch()
        except BaseException:
            await self._pw.stop()
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._browser is not None:
            await self._close_browser(self._browser)
        if self._pw is not None:
            with contextlib.suppress(Exception):  # the driver may already be gone (Ctrl-C, crash)
                await asyncio.wait_for(self._pw.stop(), CLOSE_TIMEOUT)
        if self._dedup is not None:
            self._dedup.close()
        if self._cdxj is not None:
            self._cdxj.close()

    @property
    def warc_files(self) -> list[str]:
        return list(self._writer.closed_files) if self._writer else []

    async def _launch(self) -> None:
        if not self.user_agent:
            # Pages get the context's user agent, but service workers and workers only see the
            # browser-wide one: it goes on the command line, so the version must be known first.
            self.user_agent = self.opts.user_agent or desktop_user_agent(await self._version())
        self._browser = await self._start_browser([f"--user-agent={self.user_agent}"])
        self.browser_version = self._browser.version
        if self._writer is None:
            info = default_warcinfo(browser=f"Chromium {self.browser_version}", user_agent=self.user_agent,
                                    settings=self.opts.settings())
            info["isPartOf"] = self.coll.name
            self._writer = WarcFileWriter(self.coll.archive_dir, info=info, max_size=self.max_warc_size)

    async def _version(self) -> str:
        version = browser_version(self.choice.executable)
        if version is None:  # the binary does not say: ask a browser started for that alone
            probe = await self._start_browser([])
            version = probe.version
            await self._close_browser(probe)
        return version

    async def _start_browser(self, extra_args: list[str]) -> Browser:
        assert self._pw is not None
        instance = instance_arg()
        try:
            browser = await self._pw.chromium.launch(
                executable_path=self.choice.executable, headless=self.headless,
                args=launch_args() + extra_args + [instance])
        except PlaywrightError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BrowserNotFound(f"could not start the browser ({self.choice.source}): {first}") from None
        self._instances[id(browser)] = instance
        return browser

    async def _close_browser(self, browser: Browser) -> None:
        """Close a browser; one that does not answer (hung) within CLOSE_TIMEOUT is killed."""
        instance = self._instances.pop(id(browser), None)
        try:
            await asyncio.wait_for(browser.close(), CLOSE_TIMEOUT)
            return
        except PlaywrightError:
            return
        except TimeoutError:
            pass
        if instance is not None:
            kill_browser(instance)
        with contextlib.suppress(PlaywrightError, TimeoutError):
            await asyncio.wait_for(browser.close(), CLOSE_TIMEOUT)

    async def add(self, url: str) -> PageResult:
        """Capture one URL. Failures come back as a result with `ok=False`, never as an exception,
        except ArchiveError when the WARC itself cannot be written (the run must stop)."""
        try:
            url = normalize_url(url)
        except Exception as exc:  # noqa: BLE001 - UsageError; reported per URL, the run goes on
            return PageResult(url=url, ok=False, error=str(exc), retryable=False)
        assert self._browser is not None
        if not self._browser.is_connected():
            await self._relaunch(self._browser)
        browser = self._browser
        capture = await capture_page(browser, url, self.opts, user_agent=self.user_agent)
        try:
            if capture.browser_crashed or not browser.is_connected():
                await self._relaunch(browser)
            return self._store(capture)
        finally:
            capture.release()

    async def _relaunch(self, failed: Browser) -> None:
        """Replace a browser that crashed or hung by a fresh one (once, however many captures
        noticed: a browser already replaced is left alone)."""
        async with self._launch_lock:
            if self._browser is not failed:
                return
            await self._close_browser(failed)
            await self._launch()

    def _store(self, capture: PageCapture) -> PageResult:
        timestamp = timestamps.from_datetime(capture.started)
        result = PageResult(url=capture.url, ok=capture.error is None, status=capture.status or None,
                            final_url=capture.final_url or None, title=capture.title,
                            timestamp=timestamp, seconds=round(capture.seconds, 2),
                            error=capture.error, warnings=list(capture.warnings))
        if (capture.error is not None and not capture.keep) or not capture.exchanges:
            return result
        assert self._writer is not None and self._dedup is not None
        page = build_page_records(capture, self._dedup, browser_version=self.browser_version,
                                  user_agent=self.user_agent, opts=self.opts)
        written = self._writer.write_page(page.records)
        # Only now that the records are on disk may indexes point at them.
        self._dedup.add(page.originals)
        self._cdxj.add(cdxj_lines(page, written))
        result.resources, result.revisits = page.responses, page.revisits
        result.bytes = written.end - written.start
        result.warc = written.filename
        entry = page_entry(page.info, warc=written.filename, records=record_spans(written),
                           size=written.end - written.start)
        assert entry is not None  # the page record's time is the capture's, always valid
        self.coll.append_pages([entry])
        if capture.dom is not None:
            try:
                doc = page_doc(self.coll.name, entry, PageHtml(capture.dom.encode("utf-8"), "utf-8"))
                self._fulltext.add([doc])
            except Exception as exc:  # noqa: BLE001 - the capture is safe; `warcache index` can redo this
                result.warnings.append(f"full-text indexing failed ({type(exc).__name__}: {exc}); "
                                       "run `warcache index` to retry")
        return result


def record_spans(written: WrittenPage) -> dict[str, tuple[int, int]]:
    """Where the page's own records landed: {"screenshot"|"dom"|"page": [offset, length]}."""
    spans = {}
    for ref in written.records:
        for key, prefix in (("screenshot", SCREENSHOT_URN), ("dom", DOM_URN), ("page", PAGE_URN)):
            if ref.uri.startswith(prefix):
                spans[key] = (ref.offset, ref.length)
    return spans
