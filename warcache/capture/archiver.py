"""`warcache add` as a library: capture URLs into a collection, several pages at once.

The archiver owns the browser (browsers.py), the WARC writer and the dedup table for one run. For
each URL it captures the page (page.py), turns what was recorded into WARC records (request/response
pairs, revisits for payloads the collection already has, the screenshot, the rendered DOM and a page
record), writes them durably, and only then reports the page captured. A capture interrupted
because the browser it shared with another page was replaced is captured again, alone (see
browsers.py). With a session (session.py), every page is captured with it: cookies and storage in
each fresh context, or all pages in the one context of a browser profile (profile_browser.py). A
capture that failed but whose exchanges are kept (a redirect loop, a page whose last navigation
failed) is written to the WARC but is not a page: not listed, not searchable, not
exported, and its URL goes to `failures.jsonl` for `warcache retry`.

After a page is written, and before it is listed, an `after_store` hook may look at it (the CLI
passes the fidelity check, warcache.fidelity, which capture may not import): it gets the page as
written and a browser lease of its own, and gives back records to write right after the page's,
and the scores it found. A hook that fails costs only its own result: the page is listed anyway.
With `retry_below`, a page whose fidelity is under it is captured once more with longer waits
(`CaptureOptions.longer`); both captures are kept, and the hook marks the better one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, fields

from playwright.async_api import Browser, Playwright, async_playwright

from warcache import timestamps
from warcache.capture.browsers import HUNG, BrowserKeeper
from warcache.capture.page import BROWSER_ANSWER_TIMEOUT, CaptureOptions, PageCapture
from warcache.capture.profile_browser import ProfileKeeper
from warcache.capture.records import IndexHint, PageRecords, build_page_records, cdxj_lines
from warcache.capture.session import PROFILE, check_in_browser
from warcache.chromium import BrowserChoice
from warcache.collection import Collection
from warcache.extract.captured import PageHtml
from warcache.index.cdxj import CdxjIndex
from warcache.index.checks import mark_preferred
from warcache.index.dedup import DedupIndex
from warcache.index.postprocess import index_missing, indexing_failed, page_doc, page_entry
from warcache.pagelist import PageEntry
from warcache.search.index import fulltext_index
from warcache.urls import normalize_url
from warcache.warc.recovery import Recovered, recover_collection
from warcache.warc.writer import (
    DEFAULT_MAX_SIZE,
    DOM_URN,
    MEDIA_URN,
    PAGE_URN,
    PDF_URN,
    SCREENSHOT_URN,
    TEXT_URN,
    PendingRecord,
    WarcFileWriter,
    WrittenPage,
    default_warcinfo,
)

#: Seconds the Playwright driver gets to stop at the end of a run.
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
    blocked: int = 0  # requests the block list kept from being fetched
    fidelity: int | None = None  # the fidelity check's scores (None: not checked)
    replay_fidelity: int | None = None
    first_fidelity: int | None = None  # with --retry-below: the first capture's, captured again

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> PageResult:
        """The result `to_json` gave (a capture worker sends results this way); unknown keys, from
        another warcache version, are left out."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def of_capture(cls, capture: PageCapture) -> PageResult:
        """What the user is told about a capture, before its records are written."""
        return cls(url=capture.url, ok=capture.error is None, status=capture.status or None,
                   final_url=capture.final_url or None, title=capture.title,
                   timestamp=timestamps.from_datetime(capture.started), seconds=round(capture.seconds, 2),
                   error=capture.error, warnings=list(capture.warnings), blocked=len(capture.blocked))

    def wrote(self, page: PageRecords, written: WrittenPage) -> None:
        """Note where the page's records went."""
        self.resources, self.revisits = page.responses, page.revisits
        self.bytes = written.end - written.start
        self.warc = written.filename


def checked_url(url: str) -> tuple[str, PageResult | None]:
    """The URL as it is captured, or a failed result saying why it cannot be (trying again would
    not help)."""
    try:
        return normalize_url(url), None
    except Exception as exc:  # noqa: BLE001 - UsageError; reported per URL, the run goes on
        return url, PageResult(url=url, ok=False, error=str(exc), retryable=False)


def archivable(capture: PageCapture) -> bool:
    """Whether a capture has records to write: it worked, or it failed with exchanges that are the
    evidence of how (kept), and in both cases something was exchanged."""
    return bool(capture.exchanges) and (capture.error is None or capture.keep)


@dataclass
class StoredPage:
    """A page just written, as the `after_store` hook sees it. `entry` is its page-list entry,
    listed once the hook returns (it may change it); `retry_of`, the entry of the first capture
    when this one is a retry."""

    coll: Collection
    capture: PageCapture
    info: dict  # the page record's JSON
    entry: PageEntry
    written: WrittenPage
    browser: Browser
    user_agent: str
    retry_of: PageEntry | None = None

    @property
    def page_record_id(self) -> str:
        return self.written.records[-1].record_id


@dataclass
class AfterStore:
    """What the hook gives back: records to write right after the page's (with their index hints;
    none is fine), and `finish(entry, written)`, called once they are written, which completes
    the page's entry."""

    records: list[PendingRecord] = field(default_factory=list)
    hints: list[IndexHint | None] = field(default_factory=list)
    finish: Callable[[PageEntry, WrittenPage], None] | None = None
    fidelity: int | None = None
    replay_fidelity: int | None = None
    warnings: list[str] = field(default_factory=list)


AfterStoreHook = Callable[[StoredPage], Awaitable[AfterStore | None]]


#: How long DistinctSeconds waits for a claim's answer (see there).
CLAIM_TIMEOUT = 0.3


@dataclass
class DistinctSeconds:
    """Keeps two captures of one URL in a run from starting in the same second.

    A capture is named by its URL and 14-digit timestamp (page list, full-text index, replay,
    calendar), so two captures of one URL begun in one second (the URL twice in a run with -j 2)
    would be one capture to every index. The capture's time is taken as it starts, with no wait
    in between (capture_page), so the second it gets is the one seen here; at a hair from the
    next second, this waits for that one too.

    `claim(url, second)`, when given, also asks whoever else captures into the same collection
    (capture workers, through their broker) whether that second of that URL is still free: True
    takes it. A second that passed while asking is not taken, and the next one is tried. A claim
    that fails or takes over CLAIM_TIMEOUT (a broker away or slow) is not waited for: the capture
    goes on with this process's rule alone. Waits for one URL take turns, so two of them cannot
    both pass the check while a claim is under way."""

    last: dict[str, float] = field(default_factory=dict)  # URL -> when its latest capture began
    claim: Callable[[str, int], Awaitable[bool]] | None = None
    _turns: dict[str, asyncio.Lock] = field(default_factory=dict)

    async def wait(self, url: str) -> None:
        turn = self._turns.setdefault(url, asyncio.Lock())
        async with turn:
            while True:
                now = time.time()
                last = self.last.get(url)
                if (last is None or int(last) != int(now)) and now % 1 < 0.99:
                    taken = await self._claimed(url, int(now))
                    later = time.time()
                    if taken and int(later) == int(now) and later % 1 < 0.99:
                        now = later
                        break
                await asyncio.sleep(max(0.001, int(now) + 1.001 - time.time()))
            self.last[url] = now

    async def _claimed(self, url: str, second: int) -> bool:
        if self.claim is None:
            return True
        try:
            return await asyncio.wait_for(self.claim(url, second), CLAIM_TIMEOUT)
        except Exception:  # noqa: BLE001 - no answer in time: this process's rule alone
            return True


class Archiver:
    """Capture pages into one collection. Use as `async with Archiver(...) as a: await a.add(url)`.

    Without a collection (`coll=None`) it only drives the browser: `capture()` returns each page as
    recorded, and the caller writes it. A capture worker does that: each page goes into a WARC file
    of its own, which is shipped to the collection's host and indexed there
    (warcache.distributed).
    """

    def __init__(self, coll: Collection | None, opts: CaptureOptions, browser: BrowserChoice, *,
                 max_warc_size: int = DEFAULT_MAX_SIZE, headless: bool = True,
                 on_recovered: Callable[[Recovered], None] | None = None,
                 after_store: AfterStoreHook | None = None, retry_below: int | None = None,
                 claim_second: Callable[[str, int], Awaitable[bool]] | None = None) -> None:
        self.coll = coll
        self.after_store = after_store
        self.retry_below = retry_below
        self.opts = opts
        self.choice = browser
        self.max_warc_size = max_warc_size
        self.headless = headless
        self.on_recovered = on_recovered
        self._pw: Playwright | None = None
        self._browsers: BrowserKeeper | None = None
        self._writer: WarcFileWriter | None = None
        self._dedup: DedupIndex | None = None
        self._cdxj: CdxjIndex | None = None
        self._seconds = DistinctSeconds(claim=claim_second)  # see DistinctSeconds

    async def __aenter__(self) -> Archiver:
        if self.coll is not None:
            self._open_collection(self.coll)
        self._pw = await async_playwright().start()
        self._browsers = self._keeper(self._pw)
        try:
            await self._browsers.start()
            if self.opts.session is not None and self._browsers.browser is not None:
                # The whole session, or nothing captured (session.py).
                await check_in_browser(self._browsers.browser, self.opts.session, BROWSER_ANSWER_TIMEOUT)
        except BaseException:
            with contextlib.suppress(Exception):
                await self._browsers.close()
            self._browsers = None
            await self._pw.stop()
            raise
        if self.coll is not None:
            info = default_warcinfo(browser=f"Chromium {self.browser_version}", user_agent=self.user_agent,
                                    settings=self.opts.settings())
            info["isPartOf"] = self.coll.name
            self._writer = WarcFileWriter(self.coll.archive_dir, info=info, max_size=self.max_warc_size)
        return self

    def _keeper(self, pw: Playwright) -> BrowserKeeper:
        session = self.opts.session
        if session is not None and session.kind == PROFILE:
            return ProfileKeeper(pw, self.choice, session.source, self.opts, headless=self.headless,
                                 user_agent=self.opts.user_agent)
        return BrowserKeeper(pw, self.choice, headless=self.headless, user_agent=self.opts.user_agent)

    def _open_collection(self, coll: Collection) -> None:
        coll.create()

        def catch_up(path, name) -> None:
            index_missing(coll, path, name)

        for item in recover_collection(coll, catch_up):
            if self.on_recovered:
                self.on_recovered(item)
        self._dedup = DedupIndex(coll.dedup_path)
        self._cdxj = CdxjIndex(coll.indexes_dir)
        self._fulltext = fulltext_index(coll)

    @property
    def user_agent(self) -> str:
        return self._browsers.user_agent if self._browsers else ""

    @property
    def browser_version(self) -> str:
        return self._browsers.version if self._browsers else ""

    async def __aexit__(self, *exc) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._browsers is not None:
            await self._browsers.close()
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

    async def add(self, url: str) -> PageResult:
        """Capture one URL. Failures come back as a result with `ok=False`, never as an exception,
        except ArchiveError when the WARC itself cannot be written (the run must stop)."""
        url, invalid = checked_url(url)
        if invalid is not None:
            return invalid
        capture = await self.capture(url)
        try:
            result, entry = await self._store(capture)
        finally:
            capture.release()
        if (entry is not None and self.retry_below is not None and result.fidelity is not None
                and result.fidelity < self.retry_below):
            result = await self._retry(url, result, entry)
        return result

    async def _retry(self, url: str, first: PageResult, first_entry: PageEntry) -> PageResult:
        """Capture `url` again with longer waits; both captures are kept (see the module docstring)."""
        capture = await self.capture(url, self.opts.longer())
        try:
            result, _entry = await self._store(capture, retry_of=first_entry)
        finally:
            capture.release()
        if not result.ok:
            first.warnings.append(f"captured again (fidelity {first.fidelity} < {self.retry_below}), "
                                  f"which failed: {result.error}")
            return first
        result.first_fidelity = first.fidelity
        result.seconds = round(result.seconds + first.seconds, 2)
        result.bytes += first.bytes
        result.warnings[:0] = first.warnings
        return result

    async def capture(self, url: str, opts: CaptureOptions | None = None) -> PageCapture:
        """Capture one (normalised) URL with `opts` (default: the archiver's), writing nothing; a
        capture interrupted by another page's trouble with the shared browser is captured again,
        alone. The caller releases the capture."""
        opts = opts or self.opts
        capture, interrupted = await self._capture(url, opts, alone=False)
        if interrupted:
            first = capture.error
            capture.release()
            capture, _ = await self._capture(url, opts, alone=True)
            capture.warnings.insert(0, f"captured again, alone on a fresh browser: the browser was replaced "
                                       f"during the first attempt ({first})")
        return capture

    async def _capture(self, url: str, opts: CaptureOptions, *, alone: bool) -> tuple[PageCapture, bool]:
        """Capture `url` once; also say whether it was interrupted (it failed on a browser that it
        shared with other captures and that was replaced meanwhile: see browsers.py)."""
        assert self._browsers is not None
        async with self._browsers.lease(alone=alone) as lease:
            await self._seconds.wait(url)
            capture = await self._browsers.capture(lease, url, opts)
            if capture.browser_crashed or not lease.connected:
                await self._browsers.replace(lease)
            if lease.hung and capture.error is not None:
                # What a hung browser left says nothing about the page: nothing of it is kept.
                capture.error, capture.browser_crashed, capture.keep = HUNG, True, False
        return capture, capture.error is not None and lease.replaced and lease.shared

    async def _store(self, capture: PageCapture, *,
                     retry_of: PageEntry | None = None) -> tuple[PageResult, PageEntry | None]:
        result = PageResult.of_capture(capture)
        if not archivable(capture):
            return result, None
        assert self._writer is not None and self._dedup is not None and self.coll is not None
        page = build_page_records(capture, self._dedup, browser_version=self.browser_version,
                                  user_agent=self.user_agent, opts=self.opts)
        written = self._writer.write_page(page.records)
        # Only now that the records are on disk may indexes point at them.
        self._dedup.add(page.originals)
        self._cdxj.add(cdxj_lines(page, written))
        result.wrote(page, written)
        if capture.error is not None:
            return result, None  # archived as evidence, but not a page: see the module docstring
        entry = page_entry(page.info, warc=written.filename, records=record_spans(written),
                           size=written.end - written.start)
        assert entry is not None  # the page record's time is the capture's, always valid
        if self.after_store is not None:
            await self._after_store(StoredPage(self.coll, capture, page.info, entry, written,
                                               self._browsers.browser, self.user_agent, retry_of), result)
        doc, failure = None, None
        if capture.dom is not None:
            try:  # before the entry is listed: extracting the article notes its text digest in it
                doc = page_doc(self.coll.name, entry, PageHtml(capture.dom.encode("utf-8"), "utf-8"))
            except Exception as exc:  # noqa: BLE001 - the capture is safe; `warcache index` can redo this
                failure = exc
        self.coll.append_pages([entry])
        if retry_of is not None:
            self.coll.update_pages(mark_preferred)  # the first capture's mark, as a rebuild sets it
        if doc is not None:
            try:
                self._fulltext.add([doc])
            except Exception as exc:  # noqa: BLE001 - as above
                failure = exc
        if failure is not None:
            result.warnings.append(f"{indexing_failed(capture.url, failure)}; it is archived, and "
                                   "`warcache index` makes it searchable")
        return result, entry

    async def _after_store(self, stored: StoredPage, result: PageResult) -> None:
        """Run the hook on a page just written and write what it gives back after it. Its failure
        is a warning: the page is archived, and is listed whatever the hook did."""
        assert self._browsers is not None and self._writer is not None and self.after_store is not None
        try:
            async with self._browsers.lease() as lease:
                stored.browser = lease.browser
                after = await self.after_store(stored)
        except Exception as exc:  # noqa: BLE001 - the capture is safe; the hook's trouble is its own
            result.warnings.append(f"the fidelity check failed: {type(exc).__name__}: {exc}")
            return
        if after is None:
            return
        result.warnings.extend(after.warnings)
        if after.records:
            extra = PageRecords(records=after.records, hints=after.hints)
            written = self._writer.write_page(after.records)
            self._cdxj.add(cdxj_lines(extra, written))
            if after.finish is not None:
                after.finish(stored.entry, written)
        result.fidelity, result.replay_fidelity = after.fidelity, after.replay_fidelity


def record_spans(written: WrittenPage) -> dict[str, tuple[int, int]]:
    """Where the page's own records landed: {"screenshot"|"dom"|"pdf"|"media"|"page": [offset, length]}
    (the first media file, when there are several)."""
    spans = {}
    for ref in written.records:
        for key, prefix in (("screenshot", SCREENSHOT_URN), ("dom", DOM_URN), ("text", TEXT_URN),
                            ("pdf", PDF_URN), ("media", MEDIA_URN), ("page", PAGE_URN)):
            if ref.uri.startswith(prefix):
                spans.setdefault(key, (ref.offset, ref.length))
    return spans

