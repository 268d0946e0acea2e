"""Capturing with a browser profile (`--profile DIR`): one page at a time, each behind its own proxy.

A profile is opened as Playwright's persistent context: one browser, one context, for the whole
run. That changes two things that fresh contexts (browsers.py, page.py) take for granted.

The proxy. A fresh context gets the capture's recording proxy as its own, so everything the proxy
records belongs to that page. A persistent context has one proxy setting, given when the browser
starts, for all its pages, workers and the browser's own requests. Three ways were weighed:

* one recording proxy for the run, routing exchanges to pages: a proxy cannot tell which page a
  request is for (connections are shared, workers and service workers have no page), so pages
  captured at once would get each other's exchanges;
* a new browser per page, with that page's proxy: launching a browser on the profile and closing
  it again takes 1.4-4.1 s (median, scripts/bench_sessions.py), added to every page;
* a **switchboard** (chosen): the browser's proxy address is a listener of warcache's for the whole
  run, which hands each connection the browser opens to the recording proxy of the capture under way
  (`RecordingProxy.adopt`). Between captures nothing is served: the browser's connections are
  refused, so nothing goes out unrecorded and nothing lands in the wrong page. Ending a capture
  closes its proxy, which closes every connection handed to it, so the next capture starts on
  connections of its own. Measured (scripts/bench_sessions.py, 20 pages): 1.2 s per page on a
  profile against 2.0-2.1 s in fresh contexts with the same session, which each cost a context
  and Playwright's filling of its localStorage.

So pages are captured one at a time (`-j 1`): two pages at once in one context cannot be told
apart on the wire.

The state a profile keeps. A fresh context starts with empty caches and no service workers; a
profile keeps its HTTP cache and the service workers sites registered. A response the browser takes
from its cache, or a service worker answers from its own, never goes over the wire, so it would be
missing from the archive. So the browser's cache lives in a temporary directory for the run (the
profile's own is never used or filled), it is emptied before each page, and the service workers and
their caches of the page's origin are removed before it loads: each page is captured as a fresh
context would capture it, with the profile's cookies and storage.

A browser that crashes or hangs is replaced as in browsers.py, on the same profile, once its
processes are gone (Chromium's own lock names the process using a profile).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, Page, Playwright
from playwright.async_api import Error as PlaywrightError

from warcache.capture.browser_errors import first_line
from warcache.capture.browsers import BrowserKeeper, Lease, _Instance
from warcache.capture.page import CaptureOptions, PageCapture, capture_page
from warcache.capture.profile import ProfileLock, keep_session_cookies, wait_released
from warcache.capture.proxy import STREAM_LIMIT, RecordingProxy
from warcache.chromium import BrowserChoice, instance_arg, launch_args
from warcache.errors import UsageError


class Switchboard:
    """The one proxy address of a browser on a profile: each connection goes to the recording proxy
    of the capture under way, if any (see the module docstring)."""

    def __init__(self) -> None:
        self.url = ""
        self.proxy: RecordingProxy | None = None
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._on_client, "127.0.0.1", 0, limit=STREAM_LIMIT)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self.url

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        proxy = self.proxy
        if proxy is None:  # between captures: nothing goes out unrecorded
            with contextlib.suppress(Exception):
                writer.close()
            return
        await proxy.adopt(reader, writer)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)


@dataclass
class ProfileHost:
    """A capture's page in the profile's one context (page.PageHost)."""

    context: BrowserContext
    switchboard: Switchboard
    _before: set = field(default_factory=set)

    async def open(self, proxy: RecordingProxy) -> BrowserContext:
        self._before = set(self.context.pages)
        self.switchboard.proxy = proxy
        return self.context

    async def new_page(self, context: BrowserContext, url: str) -> Page:
        page = await context.new_page()
        session = await context.new_cdp_session(page)
        try:
            await session.send("Network.clearBrowserCache")
            parts = urlsplit(url)
            origin = f"{parts.scheme}://{parts.netloc}"
            await session.send("Storage.clearDataForOrigin",
                               {"origin": origin, "storageTypes": "service_workers,cache_storage"})
        finally:
            with contextlib.suppress(PlaywrightError):
                await session.detach()
        return page

    async def close(self, context: BrowserContext, *, crashed: bool) -> None:
        self.switchboard.proxy = None
        if crashed:
            return
        for page in list(context.pages):
            if page not in self._before:  # the capture's page and any popup it left
                with contextlib.suppress(PlaywrightError):
                    await page.close()


class ProfileKeeper(BrowserKeeper):
    """The browser of a run on a profile: locked for the run, launched on the profile, replaced on
    it. Leases work as in BrowserKeeper; the run captures one page at a time (see run.py)."""

    def __init__(self, pw: Playwright, choice: BrowserChoice, profile: Path, opts: CaptureOptions, *,
                 headless: bool = True, user_agent: str = "") -> None:
        super().__init__(pw, choice, headless=headless, user_agent=user_agent)
        self.profile = profile
        self.opts = opts
        self._lock = ProfileLock(profile)
        self._switchboard = Switchboard()
        self._cache_dir: str | None = None

    async def start(self) -> None:
        self._lock.acquire()
        try:
            await self._switchboard.start()
            self._cache_dir = tempfile.mkdtemp(prefix="warcache-cache-")
            await super().start()
        except BaseException:
            await self._release()
            raise

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            await self._release()

    async def _release(self) -> None:
        await self._switchboard.close()
        if self._cache_dir:
            shutil.rmtree(self._cache_dir, ignore_errors=True)
            self._cache_dir = None
        self._lock.release()

    async def capture(self, lease: Lease, url: str, opts: CaptureOptions) -> PageCapture:
        assert lease.context is not None
        host = ProfileHost(lease.context, self._switchboard)
        return await capture_page(lease.browser, url, opts, user_agent=self.user_agent, host=host)

    async def _launch(self, *, probe: bool = False) -> _Instance:
        if probe:
            return await super()._launch(probe=True)
        await wait_released(self.profile)  # a browser killed a moment ago may still hold it
        instance = instance_arg()
        opts = self.opts
        try:
            context = await self._pw.chromium.launch_persistent_context(
                str(self.profile), **self.choice.launch_options(), headless=self.headless,
                args=[*launch_args(), f"--user-agent={self.user_agent}",
                      f"--disk-cache-dir={self._cache_dir}", instance],
                proxy={"server": self._switchboard.url},
                ignore_https_errors=True,  # only the proxy's own certificate; the proxy checks the real one
                viewport={"width": opts.viewport[0], "height": opts.viewport[1]},
                user_agent=self.user_agent, service_workers="allow", accept_downloads=True)
        except PlaywrightError as exc:
            raise UsageError(f"--profile {self.profile}: the browser could not open it: "
                             f"{first_line(exc)}") from None
        browser = context.browser
        if browser is None:  # pragma: no cover - Playwright gives Chromium's persistent contexts one
            await context.close()
            raise UsageError(f"--profile {self.profile}: this Playwright gives no browser for a profile")
        self.version = self.choice.described(browser.version)
        current = _Instance(browser, instance, context=context)
        current.watchdog = asyncio.ensure_future(self._watch(current))
        return current

    async def _shut(self, current: _Instance) -> None:
        if current.context is not None:
            with contextlib.suppress(PlaywrightError, TimeoutError):
                await asyncio.wait_for(keep_session_cookies(current.context), 5)
            await current.context.close()
        else:
            await super()._shut(current)
