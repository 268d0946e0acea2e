"""Capturing one page: load it in a fresh browser context behind a recording proxy, let it run.

Size: over 600 lines, because the steps of one capture and their time budget are read in order here;
what each step does at length lives in navigation, steps, behaviours and records.

The steps, each bounded in time: navigate; wait for the `load` event; wait for the network to go
quiet; follow the page wherever it goes next; scroll so lazy content loads; wait again; then take
the rendered DOM, the title as the page shows it, and a full-page screenshot. Dialogs are dismissed
and popups closed as they appear. The proxy has meanwhile recorded every exchange, which is what
ends up in the WARC.

Following the page: a page may navigate after it has loaded (a script, a meta refresh, a consent
page; see navigation.py for how each navigation is seen). The capture waits for such a navigation
and for the document it brings as it waited for the first one (its load event, a quiet network),
before scrolling and again before the snapshot; a snapshot taken while the page moved on is taken
again. What is captured is the document shown at the end:

* a page that moves on to a working second page is captured under its final URL (`ok 200 <url> ->
  <final>`), whatever host that is: a consent page on another host is the document the page ended
  on, and is captured as such;
* a page whose last navigation failed (the proxy could not fetch it: TLS to a plain-HTTP port, a
  DNS failure; or the browser shows its own error page) is a failed capture, `FAILED <url>: after
  loading, the page went by script to <where>, which failed: <why>`. Its exchanges are archived (they
  are real traffic, and say what the site did), but no DOM or screenshot is taken: they would show
  warcache's error text, not a page;
* a page that keeps navigating is followed for at most MAX_DOCUMENTS documents and `timeout`
  seconds, then the document shown is captured with a warning.

A navigation scheduled for later than the capture lasts (a refresh after five minutes) is not waited
for; the page is captured as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import urldefrag, urljoin

from playwright.async_api import Browser, BrowserContext, Page, Response
from playwright.async_api import Error as PlaywrightError

from warcache.capture.behaviours import fetch_image_candidates, scroll_page
from warcache.capture.blocklist import blocker
from warcache.capture.browser_errors import first_line, is_crash, net_error, plain
from warcache.capture.navigation import Hop, NavigationLog, document_exchanges
from warcache.capture.proxy import ERROR_HEADER, Exchange, RecordingProxy
from warcache.capture.session import Session
from warcache.capture.steps import Behaviours
from warcache.capture.ytdlp import download as download_media

HTML_TYPES = ("text/html", "application/xhtml+xml")
#: How long the page's main thread gets to run a trivial script before it is taken for stuck.
PAGE_ANSWER_TIMEOUT = 5.0
#: How long the browser itself gets to answer (open a context, a page, a version query).
BROWSER_ANSWER_TIMEOUT = 10.0
#: How many documents after the first a capture follows a page through before it stops following.
MAX_DOCUMENTS = 10
#: Seconds Chromium gets to print a page to PDF.
PDF_TIMEOUT = 30.0
#: What a capture keeps of what the page showed for the fidelity check: at most this many
#: console errors and failed requests, and this many characters of visible text.
MAX_NOTED = 100
MAX_VISIBLE_TEXT = 1_000_000


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
    # What a reader on another screen, or seeking in a video, would need that this load did not
    # fetch: responsive-image candidates up to 3x, the whole file of a response sent in pieces.
    fetch_extras: bool = True
    extras_timeout: float = 10.0
    # Behaviours on the loaded page (steps.py), each bounded by behavior_timeout.
    dismiss_consent: bool = False
    consent_rules: dict | None = None  # a user's rules file, checked (consent.read_rules_file)
    expand: bool = True
    play_media: bool = True
    behavior_script: str = ""  # the text of --behavior FILE.js
    behavior_name: str = ""  # its file name, for the report
    behavior_timeout: float = 20.0
    pdf: bool = False  # also print the page to PDF
    media: bool = False  # also download the page's video with yt-dlp (ytdlp.py)
    media_timeout: float = 300.0
    block_rules: tuple[str, ...] = ()  # adblock-syntax rules (blocklist.py)
    block_sources: tuple[str, ...] = ()  # where they came from, for the warcinfo record
    session: Session | None = None  # a logged-in session (session.py); its values are never shown

    def behaviours(self) -> int:
        """How many behaviours bounded by behavior_timeout run on each page."""
        return sum((self.dismiss_consent, self.expand, self.play_media, bool(self.behavior_script)))

    def budget(self) -> float:
        """The most a capture may take before it is cut short, whatever the page does (the page's
        load, following where it goes after, the waits, scrolling, the behaviours, fetching the
        extras and the snapshot)."""
        return (self.timeout * 2 + self.idle_timeout * 2 + (self.scroll_timeout if self.scroll else 0)
                + self.behaviours() * (self.behavior_timeout + 5) + (PDF_TIMEOUT if self.pdf else 0)
                + (self.extras_timeout if self.fetch_extras else 0) + 45)

    def longer(self) -> CaptureOptions:
        """The options for a second try at a page whose first capture was not faithful enough
        (`add --retry-below`): twice the waits for a quiet network and for scrolling, and twice
        the scroll steps, so slow and lazy content has the time to arrive."""
        return dataclasses.replace(self, idle_timeout=self.idle_timeout * 2, quiet=self.quiet * 2,
                                   scroll_timeout=self.scroll_timeout * 2,
                                   max_scroll_steps=self.max_scroll_steps * 2)

    def settings(self) -> dict:
        """The options as recorded in each WARC's warcinfo."""
        return {
            "timeout": self.timeout, "idle_timeout": self.idle_timeout, "scroll": self.scroll,
            "scroll_timeout": self.scroll_timeout, "max_scroll_steps": self.max_scroll_steps,
            "viewport": f"{self.viewport[0]}x{self.viewport[1]}",
            "ignore_https_errors": self.ignore_https_errors, "service_workers": "allowed",
            "accept_encoding": "gzip, deflate", "fetch_extras": self.fetch_extras,
            "behaviours": [name for name, on in (("dismiss-consent", self.dismiss_consent),
                                                 ("expand", self.expand), ("scroll", self.scroll),
                                                 ("play-media", self.play_media),
                                                 (f"behavior {self.behavior_name}", self.behavior_script))
                           if on],
            "behavior_timeout": self.behavior_timeout, "pdf": self.pdf, "media": self.media,
            "blocked_by": [*self.block_sources], "consent_rules": "own and shipped" if self.consent_rules
            else "shipped",
            **({"session": self.session.describe()} if self.session else {}),
        }


#: The text a page shows, as laid out (hidden elements left out). The fidelity check reads the
#: replays of a capture with the same expression.
VISIBLE_TEXT_JS = "() => document.body ? document.body.innerText : ''"

REDIRECT_LOOP = "ERR_TOO_MANY_REDIRECTS"  # Chromium's reason when a navigation redirects 20 times


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
    keep: bool = False  # a failure whose exchanges are archived all the same (they are the evidence)
    warnings: list[str] = field(default_factory=list)
    unfinished: int = 0
    seconds: float = 0.0
    browser_crashed: bool = False
    navigations: list[Hop] = field(default_factory=list)  # the hops to the document captured, in order
    behaviours: list[dict] = field(default_factory=list)  # what each behaviour did (steps.py)
    pdf: bytes | None = None
    blocked: list[str] = field(default_factory=list)  # URLs the block list kept from being fetched
    media: list = field(default_factory=list)  # ytdlp.MediaFile: what --media downloaded
    # What the page showed live, for the fidelity check (which replays the capture and compares):
    visible_text: str | None = None  # document.body.innerText at the snapshot
    console_errors: list[str] = field(default_factory=list)  # console.error and uncaught exceptions
    failed_requests: list[str] = field(default_factory=list)  # requests that failed live (not archived)
    scroll_steps: int = 0  # scroll steps taken (the check scrolls its replays as far)

    def main_chain(self) -> list[Exchange]:
        """The exchanges of the hops to the document captured (HTTP redirects, and navigations the
        page made after loading), last the document itself; without a document shown (a download,
        a redirect loop), the HTTP redirects of the first request."""
        if self.navigations:
            return document_exchanges(self.navigations, self.exchanges)
        return follow_redirects(self.exchanges, self.url)

    def release(self) -> None:
        for ex in self.exchanges:
            ex.release()
        for item in self.media:
            item.cleanup()


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


class PageHost(Protocol):
    """Where a capture opens its page: a fresh context of the run's browser (FreshContext), or the
    one context of a browser profile (profile_browser.py). `close` undoes what `open` did, and
    touches the browser only when `crashed` is False (a dead or hung browser is replaced whole)."""

    async def open(self, proxy: RecordingProxy) -> BrowserContext: ...

    async def new_page(self, context: BrowserContext, url: str) -> Page: ...

    async def close(self, context: BrowserContext, *, crashed: bool) -> None: ...


@dataclass
class FreshContext:
    """A new browser context per capture, behind the capture's own proxy: nothing is shared
    between captures (cookies, storage, caches), except the cookies and storage of a session."""

    browser: Browser
    opts: CaptureOptions
    user_agent: str

    async def open(self, proxy: RecordingProxy) -> BrowserContext:
        return await self.browser.new_context(
            proxy={"server": proxy.url},
            ignore_https_errors=True,  # only the proxy's own certificate; the proxy checks the real one
            viewport={"width": self.opts.viewport[0], "height": self.opts.viewport[1]},
            user_agent=self.user_agent,
            service_workers="allow",  # their requests go through the proxy too (fresh, empty caches)
            accept_downloads=True,
            **(self.opts.session.context_args() if self.opts.session else {}),
        )

    async def new_page(self, context: BrowserContext, url: str) -> Page:
        return await context.new_page()

    async def close(self, context: BrowserContext, *, crashed: bool) -> None:
        if not crashed:
            await context.close()


async def capture_page(browser: Browser, url: str, opts: CaptureOptions, *,
                       user_agent: str, host: PageHost | None = None) -> PageCapture:
    """Capture `url` (already normalised) in a page `host` opens (by default a fresh context of
    `browser`). Never raises for a page's failure: see `.error`."""
    host = host or FreshContext(browser, opts, user_agent)
    result = PageCapture(url=url, started=datetime.now(UTC))
    clock = time.monotonic()
    proxy = RecordingProxy(verify_tls=not opts.ignore_https_errors, max_body=opts.max_resource_size,
                           resolve=opts.resolve, read_timeout=max(opts.timeout, 30),
                           block=blocker(opts.block_rules, url), fetch_whole=opts.fetch_extras)
    await proxy.start()
    context: BrowserContext | None = None
    crashed: list[bool] = []
    try:
        context = await asyncio.wait_for(host.open(proxy), BROWSER_ANSWER_TIMEOUT)
        page = await asyncio.wait_for(host.new_page(context, url), BROWSER_ANSWER_TIMEOUT)
        page.on("crash", lambda _page: crashed.append(True))
        _tame(page)
        _note_trouble(page, result)
        nav = NavigationLog(page)
        await nav.listen_for_reasons(context, BROWSER_ANSWER_TIMEOUT)
        try:
            await asyncio.wait_for(_drive(page, proxy, nav, url, opts, result), opts.budget())
        except TimeoutError:
            result.warnings.append(f"capture cut short after {opts.budget():.0f} s")
        finally:
            nav.detach()
        _take_document(result, nav)
        trouble = await _browser_trouble(browser, crashed=bool(crashed))
        if trouble is not None:
            result.browser_crashed = True
            result.error = trouble
    except TimeoutError:  # new_context or new_page got no answer
        result.browser_crashed = True
        result.error = "the browser stopped responding; a fresh one is started for the next page"
    except PlaywrightError as exc:
        if is_crash(exc):
            result.browser_crashed = True
            result.error = "the browser crashed or closed during the capture"
        else:
            result.error = plain(exc)
    finally:
        if context is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(host.close(context, crashed=result.browser_crashed), 10)
        await proxy.close(grace=1.0)
    result.exchanges = sorted(proxy.exchanges, key=lambda e: e.seq)
    result.unfinished = proxy.unfinished
    result.blocked = list(proxy.blocked)
    _settle_outcome(result, proxy)
    if opts.media and result.error is None and result.is_page:
        result.media, why = await download_media(
            result.final_url or url, user_agent=user_agent, max_size=opts.max_resource_size,
            timeout=opts.media_timeout, ignore_https_errors=opts.ignore_https_errors)
        if why:
            result.warnings.append(f"--media: {why}")
    result.seconds = time.monotonic() - clock
    return result


def _note_trouble(page: Page, result: PageCapture) -> None:
    """Keep the page's console errors and failed requests: the fidelity check tells errors and
    refusals of its replays from those the page had live."""
    def console(message) -> None:
        if message.type == "error" and len(result.console_errors) < MAX_NOTED:
            result.console_errors.append(message.text[:500])

    def page_error(error) -> None:
        if len(result.console_errors) < MAX_NOTED:
            result.console_errors.append(f"uncaught: {str(error)[:500]}")

    def failed(request) -> None:
        if len(result.failed_requests) < MAX_NOTED:
            result.failed_requests.append(request.url)

    page.on("console", console)
    page.on("pageerror", page_error)
    page.on("requestfailed", failed)


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


async def _drive(page: Page, proxy: RecordingProxy, nav: NavigationLog, url: str, opts: CaptureOptions,
                 result: PageCapture) -> None:
    async def wait_idle(quiet: float, timeout: float) -> bool:
        return await proxy.wait_idle(quiet=quiet, timeout=timeout)

    response = None
    broken = None  # why the document failed after its response began (cut short, bad framing)
    try:
        response, broken = await _navigate(page, url, opts)
        if broken is not None and REDIRECT_LOOP in broken:
            result.error = broken  # see _settle_outcome
            return
    except PlaywrightError as exc:
        message = first_line(exc)
        if "Download is starting" in message:
            # Not a page: the proxy is receiving the file. Wait until it has it all.
            await proxy.wait_idle(quiet=0.5, timeout=opts.timeout)
            return
        if "interrupted by another navigation" in message and nav.commits:
            pass  # the page moved on before it finished loading: followed below
        elif "Timeout" in message and proxy.exchanges:
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
    if broken is not None:
        # What arrived is recorded (marked truncated) and shown; the load event will never come.
        result.warnings.append(f"the page's document arrived broken ({broken}); kept what was received")
        chain = follow_redirects(list(proxy.exchanges), url)
        if chain and chain[-1].response_head is not None:
            result.mime = (chain[-1].response_head.get("Content-Type") or "").split(";")[0].strip().lower()
    else:
        try:
            await page.wait_for_load_state("load", timeout=opts.timeout * 1000)
        except PlaywrightError:
            result.warnings.append(f"the load event did not fire within {opts.timeout:g} s")
    if not await wait_idle(opts.quiet, opts.idle_timeout):
        result.warnings.append(f"the network was still busy after {opts.idle_timeout:g} s")
    nav.settled = min(nav.commits, 1)
    if not await _follow(page, nav, proxy, opts, result):
        return
    result.is_page = result.mime in HTML_TYPES or (not result.mime and response is not None)
    if not await _responsive(page):
        # A script that never yields (or a hung renderer): every later step would wait out its
        # own timeout for nothing. What the proxy recorded is kept.
        result.warnings.append(f"the page did not respond within {PAGE_ANSWER_TIMEOUT:g} s (a script "
                               "that never ends?): no scrolling, title, DOM or screenshot")
        return
    behaviours = Behaviours(page, wait_idle, lambda: nav.commits != nav.settled, opts, result)
    if result.is_page:
        await behaviours.before_scroll()
    if opts.scroll and result.is_page:
        try:
            began = time.monotonic()
            report = await asyncio.wait_for(
                scroll_page(page, wait_idle, timeout=opts.scroll_timeout, max_steps=opts.max_scroll_steps),
                opts.scroll_timeout + PAGE_ANSWER_TIMEOUT)
            behaviours.scrolled(report, time.monotonic() - began)
            result.scroll_steps = report.steps
            if report.stopped_by != "bottom":
                result.warnings.append(
                    f"stopped scrolling after {report.steps} steps ({report.stopped_by} limit)")
        except PlaywrightError as exc:
            if nav.commits == nav.settled:  # (the page moving on stops scrolling: not worth a warning)
                result.warnings.append(f"scrolling failed: {plain(exc)}")
        except TimeoutError:
            result.warnings.append("scrolling stopped: the page stopped responding")
        await wait_idle(opts.quiet, min(opts.idle_timeout, 5.0))
    if result.is_page:
        await behaviours.after_scroll()
    if opts.fetch_extras and result.is_page:
        with contextlib.suppress(PlaywrightError, TimeoutError):
            await asyncio.wait_for(fetch_image_candidates(page, wait_idle, timeout=opts.extras_timeout),
                                   opts.extras_timeout + PAGE_ANSWER_TIMEOUT)
    for _attempt in range(3):
        if not await _follow(page, nav, proxy, opts, result):
            return
        shown, noted = nav.commits, len(result.warnings)
        await _snapshot(page, opts, result, quick=broken is not None)
        if nav.restless or (nav.commits == shown and not nav.in_flight()):
            return
        # The page moved on while it was being taken: what was taken may be of either document.
        del result.warnings[noted:]
        result.title, result.dom, result.screenshot, result.pdf = "", None, None, None
        result.visible_text = None
    result.warnings.append("the page kept navigating while it was being captured: no title, DOM or "
                           "screenshot")


async def _follow(page: Page, nav: NavigationLog, proxy: RecordingProxy, opts: CaptureOptions,
                  result: PageCapture) -> bool:
    """Wait for the navigations the page made since the capture last looked, and let each new
    document load and its network go quiet, as the first one did. False when the page ended on an
    error instead of a page (`result.error` says why). A page that keeps navigating is followed
    for MAX_DOCUMENTS documents or `timeout` seconds, once per capture."""
    if nav.commits == 0:
        return True  # nothing shown yet: the first navigation's own outcome stands (see _drive)
    deadline = time.monotonic() + (0 if nav.restless else opts.timeout)
    documents = 0
    while True:
        if nav.in_flight() and not await nav.wait_quiet(max(0.0, deadline - time.monotonic())):
            if documents == 0 and not nav.restless:
                result.error = nav.abandon(f"it did not load within {opts.timeout:g} s")
                result.keep = result.error is not None
                return not result.keep
            break  # it keeps navigating: what is shown now is what is captured
        failure = nav.failure()
        if failure is not None:
            result.error = failure
            result.keep = True  # the exchanges are archived: they say what the site did
            return False
        if nav.commits == nav.settled or nav.restless:
            return True
        nav.settled = nav.commits
        documents += 1
        if documents > MAX_DOCUMENTS or time.monotonic() >= deadline:
            break
        remaining = max(0.1, deadline - time.monotonic())
        with contextlib.suppress(PlaywrightError):
            await page.wait_for_load_state("load", timeout=remaining * 1000)
        await proxy.wait_idle(quiet=opts.quiet, timeout=min(opts.idle_timeout, remaining))
        _take_document(result, nav)
    nav.restless = True
    result.warnings.append(f"the page kept navigating (followed {documents} documents in "
                           f"{opts.timeout:g} s); captured the one shown then")
    return True


def _take_document(result: PageCapture, nav: NavigationLog) -> None:
    """Make the capture's final URL, status and type those of the document shown (kept as they are
    when no document was shown: a download)."""
    hop = nav.document
    if hop is None:
        return
    result.navigations = list(nav.path)
    if result.keep and result.error is not None:  # it ended on an error, not a page
        result.final_url, result.status, result.mime = hop.url, 0, ""
        result.title, result.dom, result.screenshot, result.is_page = "", None, None, False
        return
    if hop.status:
        result.final_url, result.status = hop.url, hop.status
        result.mime = hop.mime or result.mime
    elif not hop.url.startswith(("http:", "https:")):  # about:blank, data:: no status, no type
        result.final_url, result.status, result.mime = hop.url, 0, ""


async def _responsive(page: Page) -> bool:
    """False if the page's main thread does not run a trivial script within PAGE_ANSWER_TIMEOUT."""
    try:
        await asyncio.wait_for(page.evaluate("1"), PAGE_ANSWER_TIMEOUT)
    except TimeoutError:
        return False
    except PlaywrightError:
        pass  # navigating, or closed: the next steps say so
    return True


async def _browser_trouble(browser: Browser, *, crashed: bool) -> str | None:
    """Why the browser cannot be trusted with the next page (crashed, killed, hung), or None."""
    if crashed:
        return "the page crashed (a browser process died)"
    if not browser.is_connected():
        return "the browser crashed or was killed during the capture"
    try:
        session = await asyncio.wait_for(browser.new_browser_cdp_session(), BROWSER_ANSWER_TIMEOUT)
        await asyncio.wait_for(session.send("Browser.getVersion"), BROWSER_ANSWER_TIMEOUT)
        with contextlib.suppress(PlaywrightError, TimeoutError):
            await asyncio.wait_for(session.detach(), BROWSER_ANSWER_TIMEOUT)
    except TimeoutError:
        return "the browser stopped responding during the capture"
    except PlaywrightError:
        return "the browser crashed or was killed during the capture"
    return None


async def _navigate(page: Page, url: str, opts: CaptureOptions) -> tuple[Response | None, str | None]:
    """`page.goto`, but also ending when the document's own request fails after its response began.

    Why: when a server cuts the document short or breaks its framing, Chromium shows what arrived
    but leaves the navigation pending, so `goto` (and the load event) would wait their full
    timeouts. Returns (response, None), or (None, the browser's reason) for such a document.
    Failures that only mean "replaced" (another navigation, a download) do not count.
    """
    failed: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def on_failed(request) -> None:
        reason = request.failure or "failed"
        if (not failed.done() and request.is_navigation_request() and request.frame == page.main_frame
                and "ERR_ABORTED" not in reason):
            failed.set_result(reason)

    page.on("requestfailed", on_failed)
    goto = asyncio.ensure_future(page.goto(url, wait_until="domcontentloaded", timeout=opts.timeout * 1000))
    try:
        await asyncio.wait({goto, failed}, return_when=asyncio.FIRST_COMPLETED)
        if not goto.done():
            await asyncio.wait({goto}, timeout=1.0)  # a failure goto reports itself comes at once
        if goto.done():
            return goto.result(), None
        return None, failed.result()
    finally:
        page.remove_listener("requestfailed", on_failed)
        if not goto.done():
            goto.add_done_callback(lambda t: t.cancelled() or t.exception())  # nothing left unretrieved
            goto.cancel()
            await asyncio.wait({goto}, timeout=1.0)


async def _snapshot(page: Page, opts: CaptureOptions, result: PageCapture, *, quick: bool = False) -> None:
    """Title, rendered DOM and screenshot, each allowed to fail on its own. `quick`: the document
    is known broken, so a screenshot that does not come at once will not come at all."""
    try:
        result.title = await asyncio.wait_for(page.title(), PAGE_ANSWER_TIMEOUT)
    except (PlaywrightError, TimeoutError) as exc:
        result.warnings.append(f"no title: {_why(exc, PAGE_ANSWER_TIMEOUT)}")
    if result.is_page:
        try:
            result.dom = await asyncio.wait_for(page.content(), 20)
        except (PlaywrightError, TimeoutError) as exc:
            result.warnings.append(f"no rendered DOM: {_why(exc, 20)}")
        with contextlib.suppress(PlaywrightError, TimeoutError):  # only the check needs it
            text = await asyncio.wait_for(page.evaluate(VISIBLE_TEXT_JS), PAGE_ANSWER_TIMEOUT)
            result.visible_text = text[:MAX_VISIBLE_TEXT] if isinstance(text, str) else None
    if opts.screenshot:
        try:
            height = await asyncio.wait_for(page.evaluate(
                "() => Math.max(document.documentElement ? document.documentElement.scrollHeight : 0,"
                " document.body ? document.body.scrollHeight : 0)"), PAGE_ANSWER_TIMEOUT)
            kwargs: dict = {"full_page": True, "type": "png", "timeout": 5000 if quick else 20000,
                            "animations": "disabled"}
            if height > opts.max_screenshot_height:
                kwargs["clip"] = {"x": 0, "y": 0, "width": opts.viewport[0],
                                  "height": opts.max_screenshot_height}
                result.warnings.append(f"screenshot cut at {opts.max_screenshot_height} px of {height}")
            result.screenshot = await page.screenshot(**kwargs)
        except (PlaywrightError, TimeoutError) as exc:
            result.warnings.append(f"no screenshot: {_why(exc, PAGE_ANSWER_TIMEOUT)}")
    if opts.pdf and result.is_page:
        try:  # last: printing applies the page's print styles for a moment
            result.pdf = await asyncio.wait_for(page.pdf(print_background=True), PDF_TIMEOUT)
        except (PlaywrightError, TimeoutError) as exc:
            result.warnings.append(f"no PDF: {_why(exc, PDF_TIMEOUT)}")


def _settle_outcome(result: PageCapture, proxy: RecordingProxy) -> None:
    """Work out status, final URL and type from what the proxy recorded (downloads included)."""
    if result.keep:
        return  # a page that ended on an error: _take_document said where
    chain = result.main_chain()
    if not chain and result.error and REDIRECT_LOOP in result.error:
        # No document was shown: the hops are the first request's redirects, whether or not the
        # navigation log heard of the failed navigation before this runs (it may, or not yet).
        chain = follow_redirects(result.exchanges, result.url)
    if chain:
        last = chain[-1]
        if not result.final_url:
            result.final_url = last.url
        if not result.status:
            result.status = last.status
        if not result.mime and last.response_head is not None:
            result.mime = (last.response_head.get("Content-Type") or "").split(";")[0].strip().lower()
        if result.error and REDIRECT_LOOP in result.error:
            # Not a page, but what the site did is worth keeping: every hop goes into the WARC.
            result.error = (f"redirect loop: the browser gave up after {len(chain)} redirects "
                            "(the hops are archived)")
            result.keep = True
        elif result.error and last.response_head is not None and not result.browser_crashed:
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
        return net_error(message)
    return plain(message)


def _why(exc: BaseException, seconds: float) -> str:
    return f"timed out after {seconds:g} s" if isinstance(exc, TimeoutError) else plain(exc)
