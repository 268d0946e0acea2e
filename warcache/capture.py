"""Capturing one page: load it in a fresh browser context behind a recording proxy, let it run.

The steps, each bounded in time: navigate; wait for the `load` event; wait for the network to go
quiet; scroll so lazy content loads; wait again; then take the rendered DOM, the title as the page
shows it, and a full-page screenshot. Dialogs are dismissed and popups closed as they appear.
The proxy has meanwhile recorded every exchange, which is what ends up in the WARC.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urldefrag, urljoin

from playwright.async_api import Browser, BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

from warcache.behaviours import scroll_page
from warcache.proxy import ERROR_HEADER, Exchange, RecordingProxy

HTML_TYPES = ("text/html", "application/xhtml+xml")


@dataclass
class CaptureOptions:
    """How a page is captured. Every wait is bounded; the defaults suit ordinary pages."""

    timeout: float = 60.0  # navigation: from the request until the document has loaded
    idle_timeout: float = 10.0  # waiting for the network to go quiet after load
    quiet: float = 0.5  # how long "quiet" must last
    scroll: bool = True
    scroll_timeout: float = 30.0
    max_scroll_steps: int = 50
    viewport: tuple[int, int] = (1280, 800)
    user_agent: str = ""
    ignore_https_errors: bool = False
    screenshot: bool = True
    max_screenshot_height: int = 16000
    max_resource_size: int = 1 << 30
    resolve: dict[str, str] = field(default_factory=dict)

    def budget(self) -> float:
        """The most a capture may take before it is cut short, whatever the page does."""
        return self.timeout + self.idle_timeout * 2 + (self.scroll_timeout if self.scroll else 0) + 45

    def settings(self) -> dict:
        """The options as recorded in each WARC's warcinfo."""
        return {
            "timeout": self.timeout, "idle_timeout": self.idle_timeout, "scroll": self.scroll,
            "scroll_timeout": self.scroll_timeout, "max_scroll_steps": self.max_scroll_steps,
            "viewport": f"{self.viewport[0]}x{self.viewport[1]}",
            "ignore_https_errors": self.ignore_https_errors, "service_workers": "allowed",
            "accept_encoding": "gzip, deflate",
        }


@dataclass
class PageCapture:
    """Everything one capture produced, before it is written."""

    url: str
    started: datetime
    exchanges: list[Exchange] = field(default_factory=list)
    final_url: str = ""
    status: int = 0
    mime: str = ""
    title: str = ""
    dom: str | None = None
    screenshot: bytes | None = None
    is_page: bool = False  # an HTML page the browser rendered (not a download or a bare file)
    error: str | None = None  # why the capture failed; None when it worked
    warnings: list[str] = field(default_factory=list)
    unfinished: int = 0
    seconds: float = 0.0
    browser_crashed: bool = False

    def main_chain(self) -> list[Exchange]:
        return follow_redirects(self.exchanges, self.url)

    def release(self) -> None:
        for ex in self.exchanges:
            ex.release()


def follow_redirects(exchanges: list[Exchange], url: str) -> list[Exchange]:
    """The exchanges of a navigation to `url`: each redirect hop, then the final response."""
    first: dict[str, Exchange] = {}
    for ex in sorted(exchanges, key=lambda e: e.seq):
        if ex.method == "GET":
            first.setdefault(ex.url, ex)
    chain: list[Exchange] = []
    current, seen = url, set()
    while current in first and current not in seen:
        seen.add(current)
        ex = first[current]
        chain.append(ex)
        location = ex.response_head.get("Location") if ex.response_head else None
        if not (300 <= ex.status < 400 and location):
            break
        current = urldefrag(urljoin(current, location.strip()))[0]
    return chain


async def capture_page(browser: Browser, url: str, opts: CaptureOptions, *,
                       user_agent: str) -> PageCapture:
    """Capture `url` (already normalised). Never raises for a page's failure: see `.error`."""
    result = PageCapture(url=url, started=datetime.now(UTC))
    clock = time.monotonic()
    proxy = RecordingProxy(verify_tls=not opts.ignore_https_errors, max_body=opts.max_resource_size,
                           resolve=opts.resolve, read_timeout=max(opts.timeout, 30))
    await proxy.start()
    context: BrowserContext | None = None
    try:
        context = await browser.new_context(
            proxy={"server": proxy.url},
            ignore_https_errors=True,  # only the proxy's own certificate; the proxy checks the real one
            viewport={"width": opts.viewport[0], "height": opts.viewport[1]},
            user_agent=user_agent,
            service_workers="allow",  # their requests go through the proxy too (fresh, empty caches)
            accept_downloads=True,
        )
        page = await context.new_page()
        _tame(page)
        try:
            await asyncio.wait_for(_drive(page, proxy, url, opts, result), opts.budget())
        except TimeoutError:
            result.warnings.append(f"capture cut short after {opts.budget():.0f} s")
    except PlaywrightError as exc:
        if _is_crash(exc):
            result.browser_crashed = True
            result.error = f"the browser crashed or closed ({_first_line(exc)})"
        else:
            result.error = _first_line(exc)
    finally:
        if context is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(context.close(), 10)
        await proxy.close(grace=1.0)
    result.exchanges = sorted(proxy.exchanges, key=lambda e: e.seq)
    result.unfinished = proxy.unfinished
    _settle_outcome(result, proxy)
    result.seconds = time.monotonic() - clock
    return result


def _tame(page: Page) -> None:
    """Dismiss the page's dialogs; let popups it opens make their first requests, then close them."""
    page.on("dialog", _dismiss)
    page.on("popup", _on_popup)


def _on_popup(popup: Page) -> None:
    _tame(popup)
    asyncio.ensure_future(_close_quietly(popup))


async def _dismiss(dialog) -> None:
    with contextlib.suppress(Exception):
        await dialog.dismiss()


async def _close_quietly(page: Page) -> None:
    await asyncio.sleep(0.5)  # let the popup's first requests be recorded, then stop it
    with contextlib.suppress(Exception):
        await page.close()


async def _drive(page: Page, proxy: RecordingProxy, url: str, opts: CaptureOptions,
                 result: PageCapture) -> None:
    async def wait_idle(quiet: float, timeout: float) -> bool:
        return await proxy.wait_idle(quiet=quiet, timeout=timeout)

    response = None
    try:
        response = await page.goto(url, wait_until="domcontentloaded", timeout=opts.timeout * 1000)
    except PlaywrightError as exc:
        message = _first_line(exc)
        if "Download is starting" in message:
            # Not a page: the proxy is receiving the file. Wait until it has it all.
            await proxy.wait_idle(quiet=0.5, timeout=opts.timeout)
            return
        if "Timeout" in message and proxy.exchanges:
            result.warnings.append(f"the page did not finish loading within {opts.timeout:g} s")
        else:
            result.error = _navigation_error(message, proxy, url)
            return
    if response is not None:
        error = await response.header_value(ERROR_HEADER)
        if error:
            result.error = error
            return
        result.final_url = response.url
        result.status = response.status
        result.mime = (await response.header_value("content-type") or "").split(";")[0].strip().lower()
    try:
        await page.wait_for_load_state("load", timeout=opts.timeout * 1000)
    except PlaywrightError:
        result.warnings.append(f"the load event did not fire within {opts.timeout:g} s")
    if not await wait_idle(opts.quiet, opts.idle_timeout):
        result.warnings.append(f"the network was still busy after {opts.idle_timeout:g} s")
    result.is_page = result.mime in HTML_TYPES or (not result.mime and response is not None)
    if opts.scroll and result.is_page:
        try:
            report = await scroll_page(page, wait_idle, timeout=opts.scroll_timeout,
                                       max_steps=opts.max_scroll_steps)
            if report.stopped_by != "bottom":
                result.warnings.append(
                    f"stopped scrolling after {report.steps} steps ({report.stopped_by} limit)")
        except PlaywrightError as exc:
            result.warnings.append(f"scrolling failed: {_first_line(exc)}")
        await wait_idle(opts.quiet, min(opts.idle_timeout, 5.0))
    await _snapshot(page, opts, result)


async def _snapshot(page: Page, opts: CaptureOptions, result: PageCapture) -> None:
    """Title, rendered DOM and screenshot, each allowed to fail on its own."""
    try:
        result.title = await page.title()
    except PlaywrightError as exc:
        result.warnings.append(f"no title: {_first_line(exc)}")
    if result.is_page:
        try:
            result.dom = await asyncio.wait_for(page.content(), 20)
        except (PlaywrightError, TimeoutError) as exc:
            result.warnings.append(f"no rendered DOM: {_first_line(exc) or 'timed out'}")
    if opts.screenshot:
        try:
            height = await page.evaluate(
                "() => Math.max(document.documentElement ? document.documentElement.scrollHeight : 0,"
                " document.body ? document.body.scrollHeight : 0)")
            kwargs: dict = {"full_page": True, "type": "png", "timeout": 20000, "animations": "disabled"}
            if height > opts.max_screenshot_height:
                kwargs["clip"] = {"x": 0, "y": 0, "width": opts.viewport[0],
                                  "height": opts.max_screenshot_height}
                result.warnings.append(f"screenshot cut at {opts.max_screenshot_height} px of {height}")
            result.screenshot = await page.screenshot(**kwargs)
        except PlaywrightError as exc:
            result.warnings.append(f"no screenshot: {_first_line(exc)}")


def _settle_outcome(result: PageCapture, proxy: RecordingProxy) -> None:
    """Work out status, final URL and type from what the proxy recorded (downloads included)."""
    chain = result.main_chain()
    if chain:
        last = chain[-1]
        if not result.final_url:
            result.final_url = last.url
        if not result.status:
            result.status = last.status
        if not result.mime and last.response_head is not None:
            result.mime = (last.response_head.get("Content-Type") or "").split(";")[0].strip().lower()
        if result.error and last.response_head is not None and not result.browser_crashed:
            # The document arrived; the browser failed later. Keep the capture, note the failure.
            result.warnings.append(result.error)
            result.error = None
    elif result.error is None:
        reason = next((r for u, r in proxy.errors if u == result.url), None)
        result.error = reason or "nothing was received for this URL"


def _navigation_error(message: str, proxy: RecordingProxy, url: str) -> str:
    for failed_url, reason in proxy.errors:
        if failed_url == url:
            return reason
    if "Timeout" in message:
        return f"timed out waiting for {url}"
    if "net::ERR_" in message:
        code = message.split("net::", 1)[1].split()[0]
        return f"the browser could not load the page ({code})"
    return message


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _is_crash(exc: BaseException) -> bool:
    text = str(exc)
    signs = ("Target crashed", "Browser has been closed", "browser has been closed",
             "browser has disconnected", "Connection closed")
    return any(s in text for s in signs)
