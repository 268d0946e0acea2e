"""The run's browser: launching it, watching it, replacing it, and sharing it between pages.

One Chromium serves all the pages of a run, each page in a browser context of its own (`-j N`
pages at once). Why one browser rather than one per worker: a second browser costs another ~2 s to
start and another browser process, GPU and network service (scripts/bench_parallel_hang.py
measures both ways), while pages in contexts of one browser are already kept apart (cookies,
storage, caches, and renderer processes are never shared between contexts). What sharing costs is
that a browser that crashes or hangs takes down every page on it, not only the page that caused
it. Two things make up for that:

* A watchdog asks the browser for its version every WATCH_INTERVAL seconds while pages are being
  captured. A browser that gives no answer within BROWSER_ANSWER_TIMEOUT is taken for hung. It is
  killed at once and replaced, so the pages on it fail within seconds instead of each waiting out
  its own timeouts.
* A capture that failed on a browser that was replaced while it ran, and that shared that browser
  with another capture, was *interrupted*. Its failure may be its neighbour's fault, so it is
  captured again once, alone on the fresh browser (`lease(alone=True)`: no other capture runs
  meanwhile). Then its outcome is its own. A capture that had the browser to itself is not retried,
  because the trouble was its own. So a page that hangs the browser fails alone (its retry, alone,
  hangs a browser that serves nothing else), and the pages beside it are captured.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from playwright.async_api import Browser, BrowserContext, CDPSession, Playwright
from playwright.async_api import Error as PlaywrightError

from warcache.capture.browser_errors import first_line
from warcache.capture.page import BROWSER_ANSWER_TIMEOUT, CaptureOptions, PageCapture, capture_page
from warcache.chromium import (
    BrowserChoice,
    desktop_user_agent,
    instance_arg,
    kill_browser,
    launch_args,
)
from warcache.errors import BrowserNotFound

#: Seconds a browser gets to close before it is taken for hung and killed.
CLOSE_TIMEOUT = 10.0
#: Seconds between two questions of the watchdog to a browser with captures under way.
WATCH_INTERVAL = 2.0
HUNG = "the browser stopped responding during the capture"


@dataclass(eq=False)
class Lease:
    """One capture's use of the browser. After the capture: was the browser replaced meanwhile
    (`replaced`), did another capture share it (`shared`), was it found hung (`hung`)."""

    browser: Browser
    _instance: _Instance
    shared: bool = False

    @property
    def replaced(self) -> bool:
        return self._instance.retired

    @property
    def hung(self) -> bool:
        return self._instance.hung

    @property
    def connected(self) -> bool:
        return self.browser.is_connected()

    @property
    def context(self) -> BrowserContext | None:
        """The browser's one context, for a browser launched on a profile (profile_browser.py)."""
        return self._instance.context


@dataclass(eq=False)
class _Instance:
    browser: Browser
    instance: str  # the --warcache-instance argument it was launched with (to kill it)
    leases: set[Lease] = field(default_factory=set)
    retired: bool = False  # replaced by a fresh browser
    hung: bool = False  # the watchdog got no answer from it
    watchdog: asyncio.Task | None = None
    context: BrowserContext | None = None  # the persistent context of a browser on a profile


class BrowserKeeper:
    """The browser of one run. `await start()`, then `async with keeper.lease() as lease:` per capture."""

    def __init__(self, pw: Playwright, choice: BrowserChoice, *, headless: bool = True,
                 user_agent: str = "") -> None:
        self._pw = pw
        self.choice = choice
        self.headless = headless
        self.user_agent = user_agent
        self.version = ""
        self._current: _Instance | None = None
        self._replacing = asyncio.Lock()
        self._turn = asyncio.Condition()
        self._running = 0  # captures under way
        self._alone = False  # a capture has the browser to itself
        self._waiting_alone = 0
        self.replacements = 0

    async def start(self) -> None:
        if not self.user_agent:
            # Pages get the context's user agent, but service workers and workers only see the
            # browser-wide one: it goes on the command line, so the version must be known first.
            self.user_agent = desktop_user_agent(await self._probe_version())
        self._current = await self._launch()

    async def close(self) -> None:
        current, self._current = self._current, None
        if current is not None:
            current.retired = True
            await self._close(current)

    @property
    def browser(self) -> Browser | None:
        return self._current.browser if self._current is not None else None

    @contextlib.asynccontextmanager
    async def lease(self, *, alone: bool = False) -> AsyncIterator[Lease]:
        """The browser for one capture. With `alone`, wait until no other capture runs, and start
        none until this one ends (captures waiting to run alone go before new ones)."""
        async with self._turn:
            if alone:
                self._waiting_alone += 1
                try:
                    await self._turn.wait_for(lambda: self._running == 0 and not self._alone)
                finally:
                    self._waiting_alone -= 1
                self._alone = True
            else:
                await self._turn.wait_for(lambda: not self._alone and self._waiting_alone == 0)
            self._running += 1
        try:
            current = await self._ready()
            lease = Lease(current.browser, current)
            current.leases.add(lease)
            if len(current.leases) > 1:
                for other in current.leases:
                    other.shared = True
            try:
                yield lease
            finally:
                current.leases.discard(lease)
        finally:
            async with self._turn:
                self._running -= 1
                if alone:
                    self._alone = False
                self._turn.notify_all()

    async def capture(self, lease: Lease, url: str, opts: CaptureOptions) -> PageCapture:
        """Capture `url` on the leased browser, in a fresh context of its own."""
        return await capture_page(lease.browser, url, opts, user_agent=self.user_agent)

    async def replace(self, lease: Lease) -> None:
        """Replace the browser of `lease` (it crashed or hung) by a fresh one, once, however many
        captures noticed: a browser already replaced is left alone."""
        await self._replace(lease._instance)

    # -- launching, watching, closing -----------------------------------------------------------

    async def _ready(self) -> _Instance:
        current = self._current
        if current is None or not current.browser.is_connected():
            if current is not None:
                await self._replace(current)
            else:
                async with self._replacing:
                    if self._current is None:
                        self._current = await self._launch()
        assert self._current is not None
        return self._current

    async def _replace(self, old: _Instance, *, hung: bool = False) -> None:
        async with self._replacing:
            if old is not self._current:
                return
            old.hung = old.hung or hung
            old.retired = True
            self._current = None
            await self._close(old, kill=hung)
            self._current = await self._launch()
            self.replacements += 1

    async def _probe_version(self) -> str:
        version = self.choice.version()
        if version is None:  # the binary does not say: ask a browser started for that alone
            probe = await self._launch(probe=True)
            version = probe.browser.version
            await self._close(probe)
        return version

    async def _launch(self, *, probe: bool = False) -> _Instance:
        instance = instance_arg()
        extra = [] if probe else [f"--user-agent={self.user_agent}"]
        try:
            browser = await self._pw.chromium.launch(
                **self.choice.launch_options(), headless=self.headless,
                args=launch_args() + extra + [instance])
        except PlaywrightError as exc:
            raise BrowserNotFound(f"could not start the browser ({self.choice.source}): "
                                  f"{first_line(exc)}") from None
        self.version = self.choice.described(browser.version)
        current = _Instance(browser, instance)
        if not probe:
            current.watchdog = asyncio.ensure_future(self._watch(current))
        return current

    async def _watch(self, current: _Instance) -> None:
        """Ask the browser for its version while captures run on it; replace it if it does not answer."""
        session: CDPSession | None = None
        try:
            while not current.retired:
                await asyncio.sleep(WATCH_INTERVAL)
                if current.retired or not current.leases:
                    continue
                try:
                    if session is None:
                        session = await asyncio.wait_for(current.browser.new_browser_cdp_session(),
                                                         BROWSER_ANSWER_TIMEOUT)
                    await asyncio.wait_for(session.send("Browser.getVersion"), BROWSER_ANSWER_TIMEOUT)
                except TimeoutError:
                    await self._replace(current, hung=True)
                    return
                except PlaywrightError:
                    return  # gone (crashed, or closed): the captures on it notice and replace it
        except asyncio.CancelledError:
            pass

    async def _close(self, current: _Instance, *, kill: bool = False) -> None:
        """Close a browser; one known to be hung, or that does not close within CLOSE_TIMEOUT, is killed."""
        watchdog = current.watchdog
        if watchdog is not None and watchdog is not asyncio.current_task() and not watchdog.done():
            watchdog.cancel()
            await asyncio.wait({watchdog}, timeout=1.0)
        if not kill:
            try:
                await asyncio.wait_for(self._shut(current), CLOSE_TIMEOUT)
                return
            except PlaywrightError:
                return
            except TimeoutError:
                pass
        kill_browser(current.instance)
        with contextlib.suppress(PlaywrightError, TimeoutError):
            await asyncio.wait_for(current.browser.close(), CLOSE_TIMEOUT)

    async def _shut(self, current: _Instance) -> None:
        """Close a browser that still answers (a browser on a profile saves its session first)."""
        await current.browser.close()
