"""What warcache does to a loaded page so that it shows everything it would show a reader.

Lazy images, infinite lists and "load more on scroll" sections only fetch their content when the
reader scrolls near them. So warcache scrolls step by step to the bottom, letting the network go
quiet between steps, until the page stops growing, within a bound on steps and time.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

WaitIdle = Callable[[float, float], Awaitable[bool]]

_SCROLL_STEP_JS = """(fraction) => {
  const el = document.scrollingElement || document.documentElement || document.body;
  if (!el) { return {y: 0, height: 0, view: 0}; }
  const view = window.innerHeight || 800;
  window.scrollBy({top: Math.max(100, Math.round(view * fraction)), left: 0, behavior: 'instant'});
  return {y: window.scrollY, height: el.scrollHeight, view: view};
}"""
_HEIGHT_JS = "() => { const el = document.scrollingElement || document.documentElement;" \
             " return el ? el.scrollHeight : 0; }"
_TOP_JS = "() => window.scrollTo({top: 0, left: 0, behavior: 'instant'})"


@dataclass
class ScrollReport:
    steps: int = 0
    height: int = 0
    grew: bool = False  # the page got taller while scrolling (lazy or infinite content)
    reached_bottom: bool = False
    stopped_by: str = ""  # "bottom", "steps" or "time"


async def scroll_page(page, wait_idle: WaitIdle, *, timeout: float = 30.0, max_steps: int = 50,
                      step_fraction: float = 0.85, settle: float = 0.3) -> ScrollReport:
    """Scroll `page` to its bottom and back to the top; `wait_idle(quiet, timeout)` between steps.

    Stops when the bottom is reached twice without the page growing, or at `max_steps`, or after
    `timeout` seconds, whichever comes first.
    """
    report = ScrollReport()
    deadline = time.monotonic() + timeout
    first_height = None
    quiet_bottoms = 0
    report.stopped_by = "time"
    while time.monotonic() < deadline:
        if report.steps >= max_steps:
            report.stopped_by = "steps"
            break
        state = await page.evaluate(_SCROLL_STEP_JS, step_fraction)
        report.steps += 1
        if first_height is None:
            first_height = state["height"]
        remaining = max(0.0, deadline - time.monotonic())
        await wait_idle(settle, min(3.0, remaining))
        height = await page.evaluate(_HEIGHT_JS)
        report.height = height
        if height > (first_height or 0):
            report.grew = True
        at_bottom = state["y"] + state["view"] >= state["height"] - 2
        if at_bottom and height <= state["height"]:
            report.reached_bottom = True
            quiet_bottoms += 1
            if quiet_bottoms >= 2:
                report.stopped_by = "bottom"
                break
        else:
            quiet_bottoms = 0
    await page.evaluate(_TOP_JS)
    return report
