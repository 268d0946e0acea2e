"""`--behavior FILE.js`: a script of the user's own, run in the page after it has loaded.

For what no general behaviour knows: a tab to open, a gallery to step through, a "next" button.
The file holds one JavaScript function expression, which warcache calls with `wc`, a small API
whose waits are warcache's own (the network it watches is the recording proxy's):

    async (wc) => {
      await wc.click('#tab-comments');                   // click the first match, wait for quiet
      await wc.waitForSelector('.comment', 5000);         // until it exists and is visible
      await wc.scroll();                                  // to the bottom, as warcache scrolls
      await wc.waitForIdle();                             // network quiet (optional ms bound)
      await wc.sleep(500);
      wc.log(`${document.querySelectorAll('.comment').length} comments`);
      return 'done';                                      // optional: goes into the report
    }

`wc.click` and `wc.waitForSelector` reject (throw) when the element never comes; `wc.log` lines
and the returned value (as text) go into the behaviour's report in the page record. The script
runs in the page's main frame, as the page's own code would, with the page's DOM and globals; it
is not subject to the page's Content-Security-Policy. It is bounded by `--behavior-timeout`
seconds; a script that throws, or runs past the bound, is a warning on the capture, not a failure.

How `wc` reaches warcache: a binding (`page.expose_binding`) the page can call; it exists only in
captures given `--behavior`, and answers only while the script runs.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from warcache.errors import UsageError

BINDING = "__warcacheBehavior"
MAX_LOG_LINES = 50
MAX_TEXT = 300

_WRAPPER = r"""async ({binding, timeout}) => {
  const call = (action, arg) => window[binding](action, arg === undefined ? null : arg);
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const shown = (el) => el && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  const wc = {
    sleep,
    log: (text) => call('log', String(text)),
    waitForIdle: (ms) => call('idle', ms === undefined ? null : Number(ms)),
    scroll: () => call('scroll'),
    waitForSelector: async (selector, ms = 10000) => {
      const until = Date.now() + ms;
      for (;;) {
        const el = document.querySelector(selector);
        if (shown(el)) return el;
        if (Date.now() >= until) throw new Error(`no visible element matches ${selector} after ${ms} ms`);
        await sleep(100);
      }
    },
    click: async (selector) => {
      const el = typeof selector === 'string' ? document.querySelector(selector) : selector;
      if (!el) throw new Error(`no element matches ${selector}`);
      try { el.scrollIntoView({block: 'center'}); } catch (e) { /* detached */ }
      el.click();
      await call('idle', null);
      return true;
    },
  };
  const behavior = (
/*USER SCRIPT*/
  );
  if (typeof behavior !== 'function') {
    throw new Error('the behavior file must hold one function expression, e.g. async (wc) => { ... }');
  }
  const result = await behavior(wc);
  return result === undefined || result === null ? null : String(result);
}"""


def read_script(path: str | Path) -> str:
    """The script file's text (one-line UsageError when it cannot be read or is empty)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read behavior {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if not text.strip():
        raise UsageError(f"behavior {path} is empty")
    return text


def wrapped(source: str) -> str:
    """The function the page evaluates: `wc`, then the user's function called with it."""
    return _WRAPPER.replace("/*USER SCRIPT*/", source.strip().rstrip(";"))


async def run_script(page, source: str, wait_idle, scroll, *, timeout: float, idle_timeout: float,
                     log: list[str]) -> str:
    """Run the user's function (see the module docstring); `scroll()` is warcache's scrolling.
    Returns the report's text; raises what the page raised (the caller makes it a warning)."""
    deadline = time.monotonic() + timeout
    active = [True]

    async def answer(_source, action: str, arg):
        if not active[0]:
            return None
        remaining = max(0.0, deadline - time.monotonic())
        if action == "log":
            if len(log) < MAX_LOG_LINES:
                log.append(str(arg)[:MAX_TEXT])
            return None
        if action == "idle":
            bound = min(remaining, idle_timeout if arg is None else max(0.0, float(arg) / 1000))
            return await wait_idle(0.5, bound)
        if action == "scroll":
            return await scroll(remaining)
        return None

    with contextlib.suppress(Exception):  # already exposed: a second attempt on the same page
        await page.expose_binding(BINDING, answer)
    try:
        result = await page.main_frame.evaluate(wrapped(source), {"binding": BINDING, "timeout": timeout})
    finally:
        active[0] = False
    parts = [f"ran to the end in {time.monotonic() - (deadline - timeout):.1f} s"]
    if result:
        parts.append(f"returned {result[:MAX_TEXT]!r}")
    return "; ".join(parts)
