"""What warcache does to a loaded page so that it shows everything it would show a reader.

Lazy images, infinite lists and "load more on scroll" sections only fetch their content when the
reader scrolls near them. So warcache scrolls step by step to the bottom, letting the network go
quiet between steps, until the page stops growing, within a bound on steps and time.  Then it
has the page load the responsive-image candidates its own screen did not pick, so the page
also replays on screens of another pixel density.
"""

from __future__ import annotations

import asyncio
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


# ---------------------------------------------------------------------------------------
# Responsive images: every candidate, not only the one this screen picked
# ---------------------------------------------------------------------------------------
# The browser loads one candidate of each srcset, <picture> and image-set(): the one that
# suits the capture's screen. A reader with another pixel density would ask for another, so
# the page fetches the rest itself (as images, through the recording proxy), up to 3x the
# density (or 3x the viewport's width for `w` candidates). browsertrix-behaviors' autofetch
# does the same; this is warcache's own, bounded in time and in number.
_CANDIDATES_JS = r"""async ({maxDensity, maxUrls, timeout, concurrency}) => {
  const started = performance.now();
  const width = Math.max(window.innerWidth || 0, 320);
  const seen = new Set(), urls = [];
  const add = (raw, base) => {
    if (!raw || urls.length >= maxUrls) return;
    let url;
    try { url = new URL(raw.trim(), base || document.baseURI).href; } catch (e) { return; }
    if (!/^https?:/.test(url) || seen.has(url)) return;
    seen.add(url); urls.push(url);
  };
  const wanted = (descriptors) => {
    const w = /(^|\s)(\d+)w(\s|$)/.exec(descriptors);
    if (w) return Number(w[2]) <= maxDensity * width;
    const x = /(^|\s)([\d.]+)(x|dppx)(\s|$)/.exec(descriptors);
    return !x || Number(x[2]) <= maxDensity;
  };
  // srcset: a URL is a run of non-spaces (trailing commas end it), descriptors run to a comma.
  const srcset = (value, base) => {
    let pos = 0;
    while (pos < value.length) {
      while (pos < value.length && /[\s,]/.test(value[pos])) pos++;
      let start = pos;
      while (pos < value.length && !/\s/.test(value[pos])) pos++;
      let url = value.slice(start, pos), descriptors = "";
      if (!/,$/.test(url)) {
        start = pos;
        let depth = 0;
        while (pos < value.length && (value[pos] !== "," || depth)) {
          if (value[pos] === "(") depth++; else if (value[pos] === ")") depth--;
          pos++;
        }
        descriptors = value.slice(start, pos);
      }
      url = url.replace(/,+$/, "");
      if (url && !url.startsWith("data:") && wanted(descriptors)) add(url, base);
    }
  };
  // image-set(): items split at commas outside parentheses and quotes; the URL comes first.
  const imageSets = (text, base) => {
    const re = /image-set\(/gi;
    let m;
    while ((m = re.exec(text))) {
      const items = [];
      let depth = 1, quote = "", item = "", i = re.lastIndex;
      for (; i < text.length && depth; i++) {
        const ch = text[i];
        if (quote) { if (ch === quote) quote = ""; }
        else if (ch === '"' || ch === "'") quote = ch;
        else if (ch === "(") depth++;
        else if (ch === ")" && --depth === 0) break;
        else if (ch === "," && depth === 1) { items.push(item); item = ""; continue; }
        item += ch;
      }
      items.push(item);
      re.lastIndex = i;
      for (const part of items) {
        const u = /^\s*(?:url\(\s*)?(?:"([^"]*)"|'([^']*)'|([^\s)"']+))/.exec(part);
        const raw = u && (u[1] || u[2] || u[3]);
        if (raw && !raw.startsWith("data:") && wanted(part.replace(/type\([^)]*\)/g, " "))) add(raw, base);
      }
    }
  };
  for (const el of document.querySelectorAll("img[srcset], source[srcset], link[imagesrcset]")) {
    srcset(el.getAttribute("srcset") || el.getAttribute("imagesrcset") || "");
  }
  for (const el of document.querySelectorAll("[style*='image-set' i]")) imageSets(el.getAttribute("style"));
  const walk = (rules, base) => {
    for (const rule of rules) {
      if (rule.cssRules) { walk(rule.cssRules, base); }
      if (rule.style && /image-set\(/i.test(rule.style.cssText)) imageSets(rule.style.cssText, base);
    }
  };
  for (const sheet of document.styleSheets) {
    try { walk(sheet.cssRules, sheet.href || document.baseURI); } catch (e) { /* another origin's */ }
  }
  const load = (url) => new Promise((resolve) => {
    const img = new Image();
    const done = () => { clearTimeout(timer); resolve(); };
    const timer = setTimeout(done, Math.max(0, timeout - (performance.now() - started)));
    img.onload = img.onerror = done;
    img.src = url;
  });
  const queue = urls.slice();
  const workers = Array.from({length: concurrency}, async () => {
    while (queue.length && performance.now() - started < timeout) await load(queue.shift());
  });
  await Promise.all(workers);
  return urls.length;
}"""


async def fetch_image_candidates(page, wait_idle: WaitIdle, *, timeout: float = 10.0,
                                 max_density: float = 3.0, max_urls: int = 300) -> int:
    """Have every frame of `page` load all its responsive-image candidates up to `max_density`
    (see above), then wait for the network to go quiet. Returns how many URLs were found."""
    deadline = time.monotonic() + timeout
    found = 0
    args = {"maxDensity": max_density, "maxUrls": max_urls, "timeout": timeout * 1000, "concurrency": 6}
    for frame in list(page.frames):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        args["timeout"] = remaining * 1000
        try:
            found += int(await asyncio.wait_for(frame.evaluate(_CANDIDATES_JS, args), remaining + 1))
        except Exception:  # noqa: BLE001 - a detached, navigating or stuck frame: the others still count
            continue
    await wait_idle(0.3, max(0.5, deadline - time.monotonic()))
    return found
