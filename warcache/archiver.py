"""`warcache add` as a library: capture URLs into a collection, one page after another.

The archiver owns the browser, the WARC writer and the dedup table for one run. For each URL it
captures the page (capture.py), turns what was recorded into WARC records (request/response pairs,
revisits for payloads the collection already has, the screenshot, the rendered DOM and a page
record), writes them durably, and only then reports the page captured.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime

from playwright.async_api import Browser, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from warcache.browser import BrowserChoice, desktop_user_agent, launch_args
from warcache.capture import CaptureOptions, PageCapture, capture_page
from warcache.collection import Collection
from warcache.dedup import DedupIndex, Original
from warcache.errors import BrowserNotFound
from warcache.httpwire import parse_head
from warcache.recovery import Recovered, recover_collection
from warcache.urls import normalize_url
from warcache.warcwriter import (
    DEFAULT_MAX_SIZE,
    DOM_URN,
    PAGE_URN,
    SCREENSHOT_URN,
    PendingRecord,
    WarcFileWriter,
    WrittenPage,
    default_warcinfo,
    make_record_id,
    warc_date,
)

REVISIT_PROFILE = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"


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
        self._writer: WarcFileWriter | None = None
        self._dedup: DedupIndex | None = None
        self.user_agent = ""
        self.browser_version = ""

    async def __aenter__(self) -> Archiver:
        self.coll.create()
        for item in recover_collection(self.coll):
            if self.on_recovered:
                self.on_recovered(item)
        self._dedup = DedupIndex(self.coll.dedup_path)
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
            with contextlib.suppress(PlaywrightError):
                await self._browser.close()
        if self._pw is not None:
            await self._pw.stop()
        if self._dedup is not None:
            self._dedup.close()

    @property
    def warc_files(self) -> list[str]:
        return list(self._writer.closed_files) if self._writer else []

    async def _launch(self) -> None:
        if not self.user_agent:
            # The user agent depends on the browser's version, known once it runs. Pages get the
            # context's user agent, but service workers and workers only see the browser-wide
            # one, so the browser is started again with it on its command line.
            probe = await self._start_browser([])
            self.browser_version = probe.version
            self.user_agent = self.opts.user_agent or desktop_user_agent(self.browser_version)
            with contextlib.suppress(PlaywrightError):
                await probe.close()
        self._browser = await self._start_browser([f"--user-agent={self.user_agent}"])
        if self._writer is None:
            info = default_warcinfo(browser=f"Chromium {self.browser_version}", user_agent=self.user_agent,
                                    settings=self.opts.settings())
            info["isPartOf"] = self.coll.name
            self._writer = WarcFileWriter(self.coll.archive_dir, info=info, max_size=self.max_warc_size)

    async def _start_browser(self, extra_args: list[str]) -> Browser:
        assert self._pw is not None
        try:
            return await self._pw.chromium.launch(
                executable_path=self.choice.executable, headless=self.headless,
                args=launch_args() + extra_args)
        except PlaywrightError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BrowserNotFound(f"could not start the browser ({self.choice.source}): {first}") from None

    async def add(self, url: str) -> PageResult:
        """Capture one URL. Failures come back as a result with `ok=False`, never as an exception,
        except ArchiveError when the WARC itself cannot be written (the run must stop)."""
        try:
            url = normalize_url(url)
        except Exception as exc:  # noqa: BLE001 - UsageError; reported per URL, the run goes on
            return PageResult(url=url, ok=False, error=str(exc))
        assert self._browser is not None
        if not self._browser.is_connected():
            await self._launch()
        capture = await capture_page(self._browser, url, self.opts, user_agent=self.user_agent)
        try:
            if capture.browser_crashed or not self._browser.is_connected():
                await self._relaunch()
            return self._store(capture)
        finally:
            capture.release()

    async def _relaunch(self) -> None:
        if self._browser is not None:
            with contextlib.suppress(PlaywrightError):
                await self._browser.close()
        await self._launch()

    def _store(self, capture: PageCapture) -> PageResult:
        timestamp = capture.started.strftime("%Y%m%d%H%M%S")
        result = PageResult(url=capture.url, ok=capture.error is None, status=capture.status or None,
                            final_url=capture.final_url or None, title=capture.title,
                            timestamp=timestamp, seconds=round(capture.seconds, 2),
                            error=capture.error, warnings=list(capture.warnings))
        if capture.error is not None or not capture.exchanges:
            return result
        assert self._writer is not None and self._dedup is not None
        records, originals, counts = build_records(capture, self._dedup, self.browser_version,
                                                   self.user_agent, self.opts)
        written = self._writer.write_page(records)
        self._dedup.add(originals)  # only now: the originals are on disk
        result.resources, result.revisits = counts
        result.bytes = written.end - written.start
        result.warc = written.filename
        self.coll.append_pages([page_entry(capture, written, result)])
        return result


def build_records(
    capture: PageCapture, dedup: DedupIndex, browser_version: str, user_agent: str, opts: CaptureOptions,
) -> tuple[list[PendingRecord], list[tuple[str, Original]], tuple[int, int]]:
    """WARC records for one capture, in order: response/request pairs, screenshot, DOM, page record.

    Returns the records, the payloads stored for the first time (for the dedup table once written),
    and (responses, revisits) counts.
    """
    records: list[PendingRecord] = []
    new_originals: dict[str, Original] = {}
    responses = revisits = 0
    main_ids: dict[int, str] = {}
    for ex in capture.exchanges:
        if ex.response_head is None:
            continue
        response_id, request_id = make_record_id(), make_record_id()
        main_ids[ex.seq] = response_id
        date = warc_date(ex.started)
        common = {"WARC-IP-Address": ex.remote_ip} if ex.remote_ip else {}
        digest = ex.payload_digest
        original = None
        if ex.body_length > 0 and ex.truncated is None:
            original = new_originals.get(digest) or dedup.lookup(digest)
        if original is not None:
            records.append(PendingRecord(
                "revisit", ex.url, ex.started, record_id=response_id, http_head=ex.response_head,
                headers={**common, "WARC-Profile": REVISIT_PROFILE, "WARC-Refers-To-Target-URI": original.uri,
                         "WARC-Refers-To-Date": original.date, "WARC-Refers-To": original.record_id,
                         "WARC-Payload-Digest": digest}))
            revisits += 1
        else:
            headers = {**common, "WARC-Payload-Digest": digest}
            if ex.truncated:
                headers["WARC-Truncated"] = ex.truncated
            records.append(PendingRecord(
                "response", ex.url, ex.started, record_id=response_id, http_head=ex.response_head,
                payload=ex.body_stream(), payload_length=ex.body_length, headers=headers))
            if ex.body_length > 0 and ex.truncated is None:
                new_originals.setdefault(digest, Original(ex.url, date, response_id))
        responses += 1
        records.append(PendingRecord(
            "request", ex.url, ex.started, record_id=request_id, http_head=parse_head(ex.request_head),
            payload=_bytes_io(ex.request_body), payload_length=len(ex.request_body),
            headers={**common, "WARC-Concurrent-To": response_id}))
    chain = capture.main_chain()
    main_id = main_ids.get(chain[-1].seq) if chain else None
    tie = {"WARC-Concurrent-To": main_id} if main_id else {}
    now = datetime.now(capture.started.tzinfo)
    if capture.screenshot:
        records.append(PendingRecord("resource", SCREENSHOT_URN + capture.url, now, headers=dict(tie),
                                     payload=_bytes_io(capture.screenshot),
                                     payload_length=len(capture.screenshot), content_type="image/png"))
    if capture.dom is not None:
        dom = capture.dom.encode("utf-8")
        records.append(PendingRecord("resource", DOM_URN + capture.url, now, headers=dict(tie),
                                     payload=_bytes_io(dom), payload_length=len(dom),
                                     content_type="text/html; charset=utf-8"))
    info = {
        "url": capture.url, "final_url": capture.final_url, "status": capture.status,
        "title": capture.title, "mime": capture.mime, "is_page": capture.is_page,
        "started": warc_date(capture.started), "seconds": round(capture.seconds, 3),
        "responses": responses, "revisits": revisits, "unfinished_requests": capture.unfinished,
        "warnings": capture.warnings, "browser": f"Chromium {browser_version}", "user_agent": user_agent,
        "viewport": f"{opts.viewport[0]}x{opts.viewport[1]}",
        "redirects": [ex.url for ex in chain[:-1]],
    }
    body = json.dumps(info, ensure_ascii=False, indent=1).encode("utf-8")
    records.append(PendingRecord("metadata", PAGE_URN + capture.url, now, headers=dict(tie),
                                 payload=_bytes_io(body), payload_length=len(body),
                                 content_type="application/json"))
    return records, list(new_originals.items()), (responses, revisits)


def page_entry(capture: PageCapture, written: WrittenPage, result: PageResult) -> dict:
    """The line for pages.jsonl: what a listing needs, and where the records are."""
    offsets = {}
    for ref in written.records:
        if ref.uri.startswith(SCREENSHOT_URN):
            offsets["screenshot"] = [ref.offset, ref.length]
        elif ref.uri.startswith(DOM_URN):
            offsets["dom"] = [ref.offset, ref.length]
        elif ref.uri.startswith(PAGE_URN):
            offsets["page"] = [ref.offset, ref.length]
    return {
        "url": capture.url, "final_url": capture.final_url, "status": capture.status,
        "title": capture.title, "mime": capture.mime, "timestamp": result.timestamp,
        "warc": written.filename, "offset": written.start, "length": written.end - written.start,
        "records": offsets, "resources": result.resources, "revisits": result.revisits,
    }


def _bytes_io(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)
