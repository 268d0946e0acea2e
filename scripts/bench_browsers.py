#!/usr/bin/env python3
"""What does a capture cost in each browser? `warcache add` with the full Chromium against the same
with Chromium's headless shell, alternating runs, same pages.

Each run is one `warcache add` process capturing the pages (with its fidelity check, as by
default). CPU is the user+system time of that process and every process under it (Playwright's
driver, the browser and its renderers), read from the kernel when the process is reaped; wall
is the time to its exit. The full browser is the baseline: the ratio is headless shell / full.
Pages come from the test fixture site, started here on 127.0.0.1 (nothing else is contacted).

    .venv/bin/python scripts/bench_browsers.py [--runs 5] [--full PATH] [--shell PATH] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from fixture_site import FixtureSite  # noqa: E402

PAGES = ("/", "/final.html", "/sw.html")  # the JavaScript app (lazy images, a frame), plain, a service worker


def one_run(browser: str, urls: list[str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one `warcache add --browser BROWSER URLS` in a new collection."""
    with tempfile.TemporaryDirectory() as root:
        env = dict(os.environ, WARCACHE_ROOT=root)
        env.pop("WARCACHE_NO_CHECK", None)
        start = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "warcache", "add", "--browser", browser, *urls],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"warcache add with {browser} failed: {proc.stderr.read().decode()[-500:]}")
        proc.stderr.close()
        return usage.ru_utime + usage.ru_stime, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--full", default="/usr/lib/chromium/chromium")
    parser.add_argument("--shell", default="/usr/lib/chromium/chromium-headless-shell")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sides = {"full": args.full, "shell": args.shell}
    for name, path in sides.items():
        if not os.access(path, os.X_OK):
            raise SystemExit(f"--{name} {path}: not an executable (Debian: apt-get install chromium "
                             "chromium-headless-shell)")
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
    with FixtureSite() as site:
        urls = [site.url(p) for p in PAGES]
        one_run(args.full, urls[:1])  # warm the disk cache for both
        for _ in range(args.runs):
            for name, path in sides.items():
                figures[name].append(one_run(path, urls))
    report = {"pages": list(PAGES), "runs": args.runs, "browsers": sides}
    for name in sides:
        report[f"{name}_cpu_s"] = round(statistics.median(c for c, _ in figures[name]), 2)
        report[f"{name}_wall_s"] = round(statistics.median(w for _, w in figures[name]), 2)
    report["cpu_ratio"] = round(report["shell_cpu_s"] / report["full_cpu_s"], 3)
    report["wall_ratio"] = round(report["shell_wall_s"] / report["full_wall_s"], 3)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"`warcache add` of {len(PAGES)} fixture pages, fidelity check on, median of {args.runs} "
          "alternating runs")
    print(f"{'browser':<16} {'CPU s':>8} {'wall s':>8}")
    for name in sides:
        print(f"{name:<16} {report[f'{name}_cpu_s']:>8.2f} {report[f'{name}_wall_s']:>8.2f}")
    print(f"{'ratio shell/full':<16} {report['cpu_ratio']:>8.3f} {report['wall_ratio']:>8.3f}")


if __name__ == "__main__":
    main()
