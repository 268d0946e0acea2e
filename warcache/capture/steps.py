"""The behaviours a capture runs on a loaded page, in order, each bounded in time and reported.

After the page has loaded and its network gone quiet (page.py), and before the snapshot:

    dismiss-consent   --dismiss-consent: answer the consent dialog, hide what remains (consent.py)
    expand            open <details>, click "read more" / "load more" (expand.py); --no-expand
    scroll            to the bottom so lazy content loads (behaviours.py); --no-scroll
    play-media        play <video> and <audio> so they are fetched (media.py); --no-play
    behavior          --behavior FILE.js: the user's own script (userscript.py)

Each runs within `--behavior-timeout` seconds (scrolling within `--scroll-timeout`), and the
capture goes on whatever it does: a behaviour that fails or runs out of time is a warning. Each
adds to the page record's `behaviours` list what it did, e.g.
`{"name": "dismiss-consent", "did": "clicked 'reject all' (reject, OneTrust: #onetrust-reject-all-handler)",
"seconds": 0.4}`. A behaviour that makes the page navigate (a click that reloads it) is followed
like any navigation, before the snapshot.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from playwright.async_api import Error as PlaywrightError

from warcache.capture.behaviours import ScrollReport, scroll_page
from warcache.capture.browser_errors import plain
from warcache.capture.consent import dismiss_consent, load_rules
from warcache.capture.expand import expand_page
from warcache.capture.media import play_media
from warcache.capture.userscript import run_script

if TYPE_CHECKING:
    from warcache.capture.page import CaptureOptions, PageCapture

WaitIdle = Callable[[float, float], Awaitable[bool]]
#: Seconds a behaviour gets past its own bound to come back (a page busy with a script).
GRACE = 5.0


class Behaviours:
    """The behaviours of one capture (see the module docstring); `moved()` says whether the page
    has navigated since the behaviours began."""

    def __init__(self, page, wait_idle: WaitIdle, moved: Callable[[], bool], opts: CaptureOptions,
                 result: PageCapture) -> None:
        self.page, self.wait_idle, self.moved = page, wait_idle, moved
        self.opts, self.result = opts, result

    async def before_scroll(self) -> None:
        opts = self.opts
        if opts.dismiss_consent:
            rules = load_rules(opts.consent_rules)
            await self._run("dismiss-consent", lambda t: dismiss_consent(self.page, rules, self.wait_idle,
                                                                          timeout=t))
        if opts.expand:
            await self._run("expand", lambda t: expand_page(self.page, self.wait_idle, self.moved, timeout=t))

    def scrolled(self, report: ScrollReport, seconds: float) -> None:
        """What scrolling did (it runs in page.py, under its own options)."""
        grew = ", the page grew" if report.grew else ""
        stopped = report.stopped_by or "the page"
        self.add("scroll", f"{report.steps} steps{grew}; stopped by {stopped}", seconds)

    async def after_scroll(self) -> None:
        opts = self.opts
        if opts.play_media:
            await self._run("play-media", lambda t: play_media(self.page, self.wait_idle, timeout=t))
        if opts.behavior_script:
            log: list[str] = []

            async def scroll(remaining: float) -> dict:
                report = await scroll_page(self.page, self.wait_idle,
                                           timeout=min(remaining, opts.scroll_timeout),
                                           max_steps=opts.max_scroll_steps)
                return {"steps": report.steps, "grew": report.grew, "bottom": report.reached_bottom}

            await self._run(f"behavior {opts.behavior_name}",
                            lambda t: run_script(self.page, opts.behavior_script, self.wait_idle, scroll,
                                                 timeout=t, idle_timeout=opts.idle_timeout, log=log),
                            log=log)

    def add(self, name: str, did: str, seconds: float, **extra) -> None:
        self.result.behaviours.append({"name": name, "did": did, "seconds": round(seconds, 2), **extra})

    async def _run(self, name: str, make: Callable[[float], Awaitable[str]],
                   log: list[str] | None = None) -> None:
        bound = self.opts.behavior_timeout
        start = time.monotonic()
        extra = {}
        try:
            did = await asyncio.wait_for(make(bound), bound + GRACE)
        except TimeoutError:
            did = f"stopped: still running after {bound:g} s"
            self.result.warnings.append(f"{name} ran out of time ({bound:g} s)")
        except PlaywrightError as exc:
            if self.moved():
                did = "the page navigated away"
            else:
                did = f"failed: {_first_line(plain(exc))}"
                self.result.warnings.append(f"{name} failed: {_first_line(plain(exc))}")
        except Exception as exc:  # noqa: BLE001 - a page's odd answer must not cost the capture
            did = f"failed: {type(exc).__name__}: {_first_line(str(exc))}"
            self.result.warnings.append(f"{name} failed: {type(exc).__name__}: {_first_line(str(exc))}")
        if log:
            extra["log"] = list(log)
        self.add(name, did, time.monotonic() - start, **extra)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else "no reason given"
