#!/usr/bin/env python3
"""Pages in parallel stay independent: a `-j 2` run where a few pages hang the browser.

Serves PAGES small article pages on 127.0.0.1 (tests/hostile_site.py), HANGS of them replaced by
/freeze.html, a page that stops (SIGSTOP) every browser process of the run each time it is loaded:
a browser that hangs. Runs `warcache add -j 2` over them, and over the same list without the hanging
pages as the baseline, in the same run, and prints side by side: pages captured, pages failed and
which, pages captured again after an interruption, and the time. The target: only the hanging pages
fail.

Then measures what the alternative design, one browser per worker, would cost: starting one
browser and capturing two pages in two of its contexts, against starting two browsers and
capturing one page in each (launch time, and the memory of all browser processes, as PSS so that
shared pages count once).

    .venv/bin/python scripts/bench_parallel_hang.py                 # 100 pages, 3 hang
    .venv/bin/python scripts/bench_parallel_hang.py --pages 20 --hangs 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from hostile_site import HostileSite, browser_processes, children_of, kill_all, run_watched  # noqa: E402

ARGS = ["--json", "-j", "2", "--timeout", "5", "--idle-timeout", "1", "--no-scroll"]


def freeze(pid: int, stopped: list[int]) -> None:
    browsers, _ = browser_processes(pid)
    for browser in browsers:
        for proc in [browser, *children_of(browser)]:
            with contextlib.suppress(OSError):
                os.kill(proc, signal.SIGSTOP)
                stopped.append(proc)


def run(site: HostileSite, urls: list[str]) -> dict:
    stopped: list[int] = []
    watched: dict[str, int] = {}
    site.hooks["freeze"] = lambda _request: freeze(watched["pid"], stopped)
    with tempfile.TemporaryDirectory(prefix="warcache-bench-") as root:
        cmd = [sys.executable, "-m", "warcache", "--root", root, "add", *ARGS, *urls]
        try:
            done = run_watched(cmd, timeout=3600, on_start=lambda proc: watched.update(pid=proc.pid))
        finally:
            kill_all(stopped)
    results = json.loads(done.stdout or "[]")
    return {
        "pages": len(urls), "seconds": done.seconds, "code": done.code,
        "captured": sum(r["ok"] for r in results),
        "failed": sorted((r["url"], r["error"]) for r in results if not r["ok"]),
        "again": sum(r["ok"] and any(w.startswith("captured again") for w in r["warnings"]) for r in results),
    }


def _pss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
    return total / 1024


async def _browsers(site: HostileSite, count: int) -> tuple[float, float]:
    """Launch `count` browsers, capture two article pages across them; (launch s, PSS MiB)."""
    from playwright.async_api import async_playwright

    from warcache.chromium import find_browser, launch_args

    executable = find_browser().executable
    async with async_playwright() as pw:
        start = time.monotonic()
        browsers = await asyncio.gather(*[pw.chromium.launch(executable_path=executable, args=launch_args())
                                          for _ in range(count)])
        launched = time.monotonic() - start
        pages = []
        for i in range(2):
            context = await browsers[i % count].new_context()
            page = await context.new_page()
            await page.goto(site.url(f"/article/{900 + i}"))
            pages.append(page)
        await asyncio.sleep(1)
        pss = _pss_mib([p for p in children_of(os.getpid()) if "chrom" in _exe(p)])
        for browser in browsers:
            await browser.close()
    return launched, pss


def _exe(pid: int) -> str:
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--hangs", type=int, default=3)
    args = parser.parse_args()
    with HostileSite() as site:
        step = args.pages // (args.hangs + 1)
        hanging = {step * (i + 1) for i in range(args.hangs)}
        urls = [site.url(f"/freeze.html?n={n}") if n in hanging else site.url(f"/article/{n}")
                for n in range(args.pages)]
        baseline = run(site, [u for u in urls if "/freeze.html" not in u])
        hung = run(site, urls)
        print(f"warcache add -j 2 over {args.pages} pages, {args.hangs} of which hang the browser "
              f"(--timeout 5 --idle-timeout 1 --no-scroll)\n")
        print(f"{'':46} {'baseline (no hanging page)':>28} {'with hanging pages':>20}")
        rows = (("pages", "pages"), ("captured", "captured"),
                ("of them, captured again after an interruption", "again"))
        for name, key in rows:
            print(f"{name:46} {baseline[key]:>28} {hung[key]:>20}")
        print(f"{'failed':46} {len(baseline['failed']):>28} {len(hung['failed']):>20}")
        print(f"{'seconds':46} {baseline['seconds']:>28.0f} {hung['seconds']:>20.0f}")
        print("\nfailed with hanging pages:")
        for url, error in hung["failed"]:
            print(f"  {url.replace(site.origin, '')}: {error}")
        only_hanging = {u for u, _ in hung["failed"]} == {u for u in urls if "/freeze.html" in u}
        print(f"\nonly the hanging pages failed: {'yes' if only_hanging else 'NO'}")

        one = asyncio.run(_browsers(site, 1))
        two = asyncio.run(_browsers(site, 2))
        print("\none browser for two pages (warcache) against one browser per page (per-worker browsers):")
        print(f"{'':46} {'1 browser, 2 contexts':>28} {'2 browsers':>20}")
        print(f"{'launch, seconds':46} {one[0]:>28.2f} {two[0]:>20.2f}")
        print(f"{'browser processes, PSS MiB':46} {one[1]:>28.0f} {two[1]:>20.0f}")


if __name__ == "__main__":
    main()
