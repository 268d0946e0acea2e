#!/usr/bin/env python3
"""How much does recording cost? warcache capture vs a plain Playwright load, same waits, same page.

Both sides drive the same browser through the same steps: a fresh context, navigate, wait for
`load`, wait until the network is quiet, scroll to the bottom waiting between steps, wait again,
then take the DOM, title and a screenshot. The baseline watches the network through Playwright's
request events and records nothing; warcache goes through its recording proxy and writes the WARC.
Runs alternate so both see the same machine load. Pages come from the test fixture site, started
here on 127.0.0.1 (nothing else is contacted).

With `--check`, a third side: warcache with its fidelity check (as `warcache add` runs by default:
each page replayed from the archive by interception and through the replay server, compared with
the live page), against warcache with `--no-check`, runs alternating too; the check's cost is
the ratio of the two.

    .venv/bin/python scripts/bench_capture.py [--runs 7] [--check] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.async_api import async_playwright

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from fixture_site import FixtureSite  # noqa: E402

from warcache.capture.archiver import Archiver  # noqa: E402
from warcache.capture.behaviours import scroll_page  # noqa: E402
from warcache.capture.page import CaptureOptions  # noqa: E402
from warcache.chromium import desktop_user_agent, find_browser, launch_args  # noqa: E402
from warcache.collection import open_collection  # noqa: E402


class RequestCounter:
    """In-flight requests of a context, from Playwright's events (the baseline's idle signal)."""

    def __init__(self, context) -> None:
        self.inflight = 0
        self.last = time.monotonic()
        context.on("request", self._start)
        context.on("requestfinished", self._end)
        context.on("requestfailed", self._end)

    def _start(self, _request) -> None:
        self.inflight += 1
        self.last = time.monotonic()

    def _end(self, _request) -> None:
        self.inflight = max(0, self.inflight - 1)
        self.last = time.monotonic()

    async def wait_idle(self, quiet: float, timeout: float) -> bool:
        start = time.monotonic()
        while True:
            now = time.monotonic()
            if self.inflight == 0 and now - max(self.last, start) >= quiet:
                return True
            if now - start >= timeout:
                return False
            await asyncio.sleep(0.05)


async def plain_load(browser, url: str, opts: CaptureOptions, user_agent: str) -> float:
    """The baseline: the same steps as a warcache capture, without recording anything."""
    t0 = time.monotonic()
    context = await browser.new_context(viewport={"width": opts.viewport[0], "height": opts.viewport[1]},
                                        user_agent=user_agent)
    counter = RequestCounter(context)
    page = await context.new_page()
    await page.goto(url, wait_until="domcontentloaded", timeout=opts.timeout * 1000)
    await page.wait_for_load_state("load", timeout=opts.timeout * 1000)
    await counter.wait_idle(opts.quiet, opts.idle_timeout)
    await scroll_page(page, counter.wait_idle, timeout=opts.scroll_timeout, max_steps=opts.max_scroll_steps)
    await counter.wait_idle(opts.quiet, min(opts.idle_timeout, 5.0))
    await page.title()
    await page.content()
    await page.screenshot(full_page=True, type="png")
    await context.close()
    return time.monotonic() - t0


async def run_check(runs: int) -> dict:
    """warcache with and without the fidelity check, alternating, in one collection each."""
    from warcache.fidelity.after_capture import FidelityChecker

    choice = find_browser()
    opts = CaptureOptions()
    rows = []
    load_before = os.getloadavg()[0]
    with FixtureSite() as site, tempfile.TemporaryDirectory() as tmp:
        plain_coll = open_collection(Path(tmp), "nocheck", create=True)
        checked_coll = open_collection(Path(tmp), "check", create=True)
        pages = {"fixture main page (JS, 24 requests, scroll-loaded)": site.url("/"),
                 "plain HTML page (3 requests)": site.url("/final.html")}
        with FidelityChecker(checked_coll) as checker:
            async with Archiver(plain_coll, opts, choice) as plain, \
                    Archiver(checked_coll, opts, choice, after_store=checker) as checked:
                for name, url in pages.items():
                    await plain.add(url)  # warm-up, both sides
                    await checked.add(url)
                    base, ours, scores = [], [], []
                    for _ in range(runs):
                        t0 = time.monotonic()
                        result = await plain.add(url)
                        base.append(time.monotonic() - t0)
                        assert result.ok, result.error
                        t0 = time.monotonic()
                        result = await checked.add(url)
                        ours.append(time.monotonic() - t0)
                        assert result.ok, result.error
                        scores.append((result.fidelity, result.replay_fidelity))
                    rows.append({
                        "page": name, "runs": runs,
                        "no_check_median_s": round(statistics.median(base), 3),
                        "check_median_s": round(statistics.median(ours), 3),
                        "ratio": round(statistics.median(ours) / statistics.median(base), 3),
                        "fidelity": [s[0] for s in scores], "replay_fidelity": [s[1] for s in scores],
                    })
    # The check's cost is CPU while a capture mostly waits: the ratio grows with the machine's load.
    return {"rows": rows, "browser": choice.source, "load_average": [round(load_before, 1),
                                                                      round(os.getloadavg()[0], 1)]}


async def run(runs: int) -> dict:
    choice = find_browser()
    opts = CaptureOptions()
    rows = []
    with FixtureSite() as site, tempfile.TemporaryDirectory() as tmp:
        coll = open_collection(Path(tmp), "bench", create=True)
        pages = {"fixture main page (JS, 24 requests, scroll-loaded)": site.url("/"),
                 "plain HTML page (3 requests)": site.url("/final.html")}
        async with Archiver(coll, opts, choice) as archiver, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=choice.executable, args=launch_args())
            ua = desktop_user_agent(browser.version)
            for name, url in pages.items():
                await plain_load(browser, url, opts, ua)  # warm-up, both sides
                await archiver.add(url)
                base, ours, sizes = [], [], []
                for _ in range(runs):
                    base.append(await plain_load(browser, url, opts, ua))
                    t0 = time.monotonic()
                    result = await archiver.add(url)
                    ours.append(time.monotonic() - t0)
                    assert result.ok, result.error
                    sizes.append(result.bytes)
                rows.append({
                    "page": name, "runs": runs,
                    "baseline_median_s": round(statistics.median(base), 3),
                    "warcache_median_s": round(statistics.median(ours), 3),
                    "ratio": round(statistics.median(ours) / statistics.median(base), 3),
                    "warc_bytes_per_page": int(statistics.median(sizes)),
                    "warc_bytes_first_capture": None,
                })
            await browser.close()
        # WARC bytes of a first capture (no revisits) of each page, in a fresh collection.
        first = open_collection(Path(tmp), "first", create=True)
        async with Archiver(first, opts, choice) as archiver:
            for row, url in zip(rows, pages.values(), strict=True):
                row["warc_bytes_first_capture"] = (await archiver.add(url)).bytes
    return {"rows": rows, "browser": choice.source}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--check", action="store_true",
                        help="measure the fidelity check: warcache with it against --no-check")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.check:
        report = asyncio.run(run_check(args.runs))
        if args.json:
            print(json.dumps(report, indent=2))
            return
        print(f"browser: {report['browser']}; {args.runs} alternating runs per page; "
              "target: the check adds at most 30% (ratio <= 1.30) on the fixture main page; "
              "load average (1 min) {} at the start, {} at the end\n".format(*report["load_average"]))
        header = f"{'page':<52} {'--no-check':>11} {'checked':>9} {'ratio':>7}  fidelity (replay server)"
        print(header)
        print("-" * len(header))
        for r in report["rows"]:
            scores = ", ".join(f"{a} ({b})" for a, b in zip(r["fidelity"], r["replay_fidelity"], strict=True))
            print(f"{r['page']:<52} {r['no_check_median_s']:>10.2f}s {r['check_median_s']:>8.2f}s "
                  f"{r['ratio']:>7.3f}  {scores}")
        return
    report = asyncio.run(run(args.runs))
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"browser: {report['browser']}; {args.runs} alternating runs per page; target ratio <= 1.15\n")
    header = f"{'page':<52} {'plain load':>11} {'warcache':>10} {'ratio':>7} {'WARC/page':>11} {'first':>9}"
    print(header)
    print("-" * len(header))
    for r in report["rows"]:
        print(f"{r['page']:<52} {r['baseline_median_s']:>10.2f}s {r['warcache_median_s']:>9.2f}s "
              f"{r['ratio']:>7.3f} {r['warc_bytes_per_page'] / 1024:>9.1f}KB "
              f"{r['warc_bytes_first_capture'] / 1024:>7.1f}KB")
    print("\nWARC/page: median bytes written per capture once payloads are stored (revisits); "
          "first: a first capture.")


if __name__ == "__main__":
    main()
