"""Showing a capture again from the archive alone, both ways it is replayed, and noting what it shows.

* `intercept`: as `warcache open` does. The page loads under its own URL in a fresh context of the
  browser, and every request is answered from the archive by request interception; anything the
  archive lacks is refused (warcache.replay.intercept).
* `replay`: through the rewriting replay server people browse (warcache.replay), entered at its
  public URL `/<collection>/<timestamp>/<url>`, which sends the browser on as needed.

Each replay is seen as the capture saw the page live: the same viewport, the same scrolling (as
far as the capture scrolled, no further), then a full-page screenshot, the visible text and the
console errors. The waits are short (an archive answers at once): what the capture waited for the
network to bring, the archive has. So the replay scrolls inside the page, a whole viewport per
step (the capture's steps overlap by 15%: as far, in fewer steps, and every part of the page is
still on screen once) and a frame apart (scroll events and IntersectionObservers are worked out
in the frame after a scroll, before the next step), and waits for the network only at the
bottom, going on while the page grows. And it is drawn at half scale (SCALE: the same layout, a
quarter of the pixels to take, encode and compare; the comparison averages cells of 8 CSS pixels
anyway), a picture small enough to keep as it is for the side-by-side page.

Opening a page is the browser's slowest step of a replay (a new renderer process: about a
second each on a busy machine), so the check after a capture opens the pages of the next
check ahead (`FreshPages`), blank, each alone in a fresh context made with the options a
replay gets, while the next capture mostly waits for the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import time
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

from playwright.async_api import Error as PlaywrightError

from warcache.capture.page import VISIBLE_TEXT_JS
from warcache.collection import Collection
from warcache.errors import WarcacheError
from warcache.fidelity.compare import Seen
from warcache.replay.intercept import offline_context_options, offline_page_in

#: How long the network of a replay must stay quiet to count as settled, and how long to wait for it.
QUIET = 0.05
SETTLE_TIMEOUT = 5.0
SCROLL_TIMEOUT = 15.0
#: How far a step of the capture's scrolling goes, in viewports (capture.behaviours.scroll_page).
CAPTURE_STEP = 0.85
#: The device scale factor of the replays (see the module docstring).
SCALE = 0.5
#: Scrolls down a viewport per step, a frame apart, until at the bottom or `max` steps;
#: returns the steps taken.
_SCROLL_JS = """async (max) => {
  const el = document.scrollingElement || document.documentElement || document.body;
  if (!el || max <= 0) { return 0; }
  const frame = () => new Promise((done) => {
    const t = setTimeout(done, 100);
    requestAnimationFrame(() => { clearTimeout(t); setTimeout(done, 0); });
  });
  const view = window.innerHeight || 800;
  let steps = 0;
  while (steps < max) {
    window.scrollBy({top: view, left: 0, behavior: 'instant'});
    steps += 1;
    await frame();
    if (window.scrollY + view >= el.scrollHeight - 2) { break; }
  }
  return steps;
}"""
_HEIGHT_JS = ("() => Math.max(document.documentElement ? document.documentElement.scrollHeight : 0,"
              " document.body ? document.body.scrollHeight : 0)")
MAX_SCREENSHOT_HEIGHT = 16000  # as the capture (capture.page.CaptureOptions.max_screenshot_height)
_OLD_STYLE_PATH = re.compile(r"^/[^/]+/\d{1,14}(?:[a-z]{2}_)?/(https?:/.*)$", re.IGNORECASE)


@dataclass
class Replayed:
    """What one replay of a capture showed."""

    mode: str  # "intercept" or "replay"
    seen: Seen = field(default_factory=Seen)
    error: str | None = None  # the replay did not load
    seconds: float = 0.0
    requested: list[str] = field(default_factory=list)  # URLs the page asked for (intercept: originals)


class _Watch:
    """A context's requests in flight and its console errors."""

    def __init__(self, context) -> None:  # noqa: ANN001 - a Playwright BrowserContext
        self.inflight = 0
        self.last = time.monotonic()
        self.errors: list[str] = []
        self.requested: list[str] = []
        context.on("request", self._start)
        context.on("requestfinished", self._end)
        context.on("requestfailed", self._end)
        context.on("console", self._console)
        context.on("weberror", lambda e: self.errors.append(f"uncaught: {str(e.error)[:500]}"))

    def _start(self, request) -> None:  # noqa: ANN001
        self.inflight += 1
        self.last = time.monotonic()
        self.requested.append(request.url)

    def _end(self, _request) -> None:  # noqa: ANN001
        self.inflight = max(0, self.inflight - 1)
        self.last = time.monotonic()

    def _console(self, message) -> None:  # noqa: ANN001
        if message.type == "error":
            self.errors.append(message.text[:500])

    async def wait_idle(self, quiet: float, timeout: float) -> bool:
        start = time.monotonic()
        while True:
            now = time.monotonic()
            if self.inflight == 0 and now - max(self.last, start) >= quiet:
                return True
            if now - start >= timeout:
                return False
            await asyncio.sleep(0.02)


async def _look(page, watch: _Watch, out: Replayed, scroll_steps: int) -> None:  # noqa: ANN001
    """Scroll as the capture did, let the network settle, then take what the comparison needs."""
    await watch.wait_idle(QUIET, SETTLE_TIMEOUT)
    if scroll_steps:
        with contextlib.suppress(PlaywrightError, TimeoutError):
            await asyncio.wait_for(_scroll(page, watch, scroll_steps), SCROLL_TIMEOUT)
        with contextlib.suppress(PlaywrightError):
            await page.evaluate("() => window.scrollTo({top: 0, left: 0, behavior: 'instant'})")
        await watch.wait_idle(QUIET, SETTLE_TIMEOUT)
    height = await page.evaluate(_HEIGHT_JS)
    # JPEG: encoded several times faster than PNG, and the comparison (cell averages) cannot tell.
    kwargs: dict = {"full_page": True, "type": "jpeg", "quality": 80, "timeout": 20000,
                    "animations": "disabled"}
    if height > MAX_SCREENSHOT_HEIGHT:
        size = page.viewport_size or {"width": 1280}
        kwargs["clip"] = {"x": 0, "y": 0, "width": size["width"], "height": MAX_SCREENSHOT_HEIGHT}
    out.seen.screenshot = await page.screenshot(**kwargs)
    out.seen.scale = SCALE
    text = await page.evaluate(VISIBLE_TEXT_JS)
    out.seen.text = text if isinstance(text, str) else ""


async def _scroll(page, watch: _Watch, steps: int) -> None:  # noqa: ANN001
    """Scroll down at most `steps` steps, waiting for the network at the bottom and going on while
    the page grows (see the module docstring)."""
    left = math.ceil(steps * CAPTURE_STEP)
    height = await page.evaluate(_HEIGHT_JS)
    quiet_bottoms = 0
    while left > 0:
        left -= max(1, await page.evaluate(_SCROLL_JS, left))
        await watch.wait_idle(QUIET, SETTLE_TIMEOUT)
        grown = await page.evaluate(_HEIGHT_JS)
        if grown > height:
            height, quiet_bottoms = grown, 0
            continue
        quiet_bottoms += 1  # at the bottom, unchanged: once more (on a busy machine a page's
        if quiet_bottoms >= 2:  # answer to the scroll may come after the first look), then stop
            return


@dataclass
class FreshPages:
    """A blank page for each replay, each alone in a fresh context of `browser`, opened ahead
    for replays at `key` (viewport, user agent). A page is taken once (set to None)."""

    browser: object
    key: tuple[tuple[int, int], str | None]
    intercept: object | None
    replay: object | None

    async def close(self) -> None:
        """Close the pages not taken (with their contexts)."""
        for page in (self.intercept, self.replay):
            if page is not None:
                with contextlib.suppress(Exception):
                    await page.context.close()
        self.intercept = self.replay = None


async def open_fresh_pages(browser, viewport: tuple[int, int],  # noqa: ANN001 - a Playwright Browser
                           user_agent: str | None) -> FreshPages:
    """Open a blank page for each replay of a capture seen at `viewport` with `user_agent`."""
    pages = FreshPages(browser, (viewport, user_agent), None, None)
    contexts = []
    try:
        contexts.append(await browser.new_context(**offline_context_options(viewport, scale=SCALE)))
        pages.intercept = await contexts[-1].new_page()
        contexts.append(await browser.new_context(**_served_options(viewport, user_agent)))
        pages.replay = await contexts[-1].new_page()
    except BaseException:
        for context in contexts:
            with contextlib.suppress(Exception):
                await context.close()
        raise
    return pages


def _served_options(viewport: tuple[int, int], user_agent: str | None) -> dict:
    options: dict = {"viewport": {"width": viewport[0], "height": viewport[1]}, "device_scale_factor": SCALE}
    if user_agent:
        options["user_agent"] = user_agent
    return options


async def replay_intercept(browser, coll: Collection, url: str, timestamp: str, *,  # noqa: ANN001
                           viewport: tuple[int, int], scroll_steps: int, timeout: float = 30.0,
                           page=None) -> Replayed:  # noqa: ANN001
    """The capture of `url` at `timestamp`, shown by request interception in a fresh context
    (`page`: a blank page of one, opened ahead by `open_fresh_pages`)."""
    out = Replayed("intercept")
    clock = time.monotonic()
    watch: list[_Watch] = []

    async def prepare(context) -> None:  # noqa: ANN001
        watch.append(_Watch(context))

    try:
        async with offline_page_in(browser, coll, url, timestamp, timeout=timeout, viewport=viewport,
                                   prepare=prepare, scale=SCALE, page=page) as shown:
            await _look(shown.page, watch[0], out, scroll_steps)
            out.seen.answered = shown.result.served
            out.seen.not_archived = list(dict.fromkeys(shown.result.refused))
    except (WarcacheError, PlaywrightError, TimeoutError) as exc:
        out.error = _why(exc)
    if watch:
        out.seen.console_errors = list(watch[0].errors)
        out.requested = list(dict.fromkeys(watch[0].requested))
    out.seconds = time.monotonic() - clock
    return out


async def replay_served(browser, entry_url: str, *, viewport: tuple[int, int],  # noqa: ANN001
                        scroll_steps: int, user_agent: str | None = None, timeout: float = 30.0,
                        page=None) -> Replayed:  # noqa: ANN001
    """The page at `entry_url` of a replay server (its `/<coll>/<ts>/<url>`), in a fresh context
    (`page`: a blank page of one made with the same options, opened ahead by `open_fresh_pages`)."""
    out = Replayed("replay")
    clock = time.monotonic()
    server = urlsplit(entry_url)
    context = None
    not_archived: list[str] = []
    answered = [0]

    def on_response(response) -> None:  # noqa: ANN001
        if "/_warcache/" in urlsplit(response.url).path:
            return  # the replay's own client script
        headers = response.headers
        if "memento-datetime" in headers:
            answered[0] += 1
        elif not 300 <= response.status < 400:  # redirects without a date: the server's own
            not_archived.append(response.url)

    def on_failed(request) -> None:  # noqa: ANN001
        if "ERR_ABORTED" not in (request.failure or ""):
            not_archived.append(request.url)

    try:
        if page is None:
            context = await browser.new_context(**_served_options(viewport, user_agent))
        else:
            context = page.context
        watch = _Watch(context)
        context.on("response", on_response)
        context.on("requestfailed", on_failed)
        if page is None:
            page = await context.new_page()
        await page.goto(entry_url, wait_until="load", timeout=timeout * 1000)
        await _look(page, watch, out, scroll_steps)
        out.seen.console_errors = list(watch.errors)
        out.requested = list(dict.fromkeys(watch.requested))
    except (WarcacheError, PlaywrightError, TimeoutError) as exc:
        out.error = _why(exc)
    finally:
        if context is not None:
            with contextlib.suppress(Exception):
                await context.close()
    out.seen.answered = answered[0]
    out.seen.not_archived = [u for u in dict.fromkeys(not_archived) if urlsplit(u).port == server.port]
    out.seconds = time.monotonic() - clock
    return out


_PATH_SAFE = ":/?#[]@!$&'()*+,;=%~"


def entry_url(replay_root: str, coll: str, timestamp: str, url: str) -> str:
    """The public replay URL of a capture on a replay server whose collection root is `replay_root`."""
    return f"{replay_root.rstrip('/')}/{coll}/{timestamp}/{quote(url, safe=_PATH_SAFE)}"


def original_urls(replayed: list[str], known: list[str]) -> list[str]:
    """The original URLs of requests a replay server was asked: from a pywb-style path, or else the
    URL of the capture (`known`: what the page asked for by interception, and live) with the same
    path and query; a URL neither tells is left as the replay server's."""
    by_path: dict[str, str] = {}
    for url in known:
        parts = urlsplit(url)
        by_path.setdefault(parts.path + (f"?{parts.query}" if parts.query else ""), url)
    out = []
    for url in replayed:
        parts = urlsplit(url)
        match = _OLD_STYLE_PATH.match(parts.path)
        if match:
            original = match.group(1)
            if not original.lower().startswith(("http://", "https://")):
                original = original.replace(":/", "://", 1)
            out.append(unquote(original) + (f"?{parts.query}" if parts.query else ""))
            continue
        out.append(by_path.get(parts.path + (f"?{parts.query}" if parts.query else ""), url))
    return list(dict.fromkeys(out))


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
