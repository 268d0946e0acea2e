#!/usr/bin/env python3
"""What capturing with a browser profile costs, against fresh contexts with the same session.

Serves the members-only fixture site (tests/login_site.py) on 127.0.0.1, logs in once with
`warcache login`'s own code (headless, scripted) to make a profile, and captures PAGES article pages
(`/article?n=I`, each a full page: the article, its stylesheet, its script and the fetch that script
makes with the token from localStorage) in the same run, three ways:

* `--storage-state FILE -j 1`: a fresh context per page with the session: the baseline;
* `--profile DIR`: the profile's one context, pages one at a time behind the switchboard
  (warcache/capture/profile_browser.py);
* `--storage-state FILE -j JOBS`: what pages in parallel give, which a profile cannot.

It prints, side by side, the wall time of each run, the time per page, and the pages whose DOM has
the article (all of them, or the run is wrong). Then it measures the design a profile's switchboard
avoids, one browser per page: launching the browser on the profile and closing it again (median of
5), which such a design would add to every page.

    .venv/bin/python scripts/bench_sessions.py              # 20 pages
    .venv/bin/python scripts/bench_sessions.py --pages 50 --jobs 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from login_site import ARTICLE_MARKER, EXTRA_MARKER, PASSWORD, USER, LoginSite  # noqa: E402
from warcio.archiveiterator import ArchiveIterator  # noqa: E402

QUICK = ["--no-scroll", "--idle-timeout", "1", "--json"]


async def make_profile(site: LoginSite, profile: Path) -> None:
    from playwright.async_api import async_playwright

    from warcache.capture.profile import login
    from warcache.chromium import find_browser

    async def user(page) -> None:
        await page.fill("input[name=user]", USER)
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button")
        await page.wait_for_selector("#welcome")

    async with async_playwright() as pw:
        await login(pw, find_browser(), site.url("/login"), profile, headless=True, script=user)


async def launch_cost(profile: Path, times: int = 5) -> list[float]:
    """Seconds to launch a browser on the profile and close it, as a browser-per-page design would."""
    from playwright.async_api import async_playwright

    from warcache.chromium import find_browser, launch_args

    choice = find_browser()
    spent = []
    async with async_playwright() as pw:
        for _ in range(times):
            start = time.monotonic()
            context = await pw.chromium.launch_persistent_context(
                str(profile), executable_path=choice.executable, headless=True, args=launch_args())
            page = context.pages[0] if context.pages else await context.new_page()
            await page.goto("about:blank")
            await context.close()
            spent.append(time.monotonic() - start)
    return spent


def capture(urls: list[str], *args: str) -> dict:
    """One `warcache add` run over `urls`: its wall time, the capture time of its pages, and how many
    pages were captured logged in."""
    with tempfile.TemporaryDirectory(prefix="warcache-bench-") as root:
        start = time.monotonic()
        run = subprocess.run([sys.executable, "-m", "warcache", "--root", root, "add", *QUICK, *args, *urls],
                             capture_output=True, text=True, timeout=3600)
        seconds = time.monotonic() - start
        if run.returncode != 0:
            raise SystemExit(f"warcache add {' '.join(args)} failed:\n{run.stderr}")
        results = json.loads(run.stdout)
        logged_in = 0  # pages whose DOM record has the article and the extra paragraph fetched with the token
        for path in Path(root).rglob("*.warc.gz"):
            with open(path, "rb") as fh:
                for record in ArchiveIterator(fh):
                    if record.rec_headers.get_header("WARC-Target-URI", "").startswith("urn:warcache:dom:"):
                        dom = record.content_stream().read()
                        logged_in += ARTICLE_MARKER.encode() in dom and EXTRA_MARKER.encode() in dom
    return {"seconds": seconds, "pages": len(results), "logged_in": logged_in,
            "capture_seconds": sum(r["seconds"] for r in results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with LoginSite() as site, tempfile.TemporaryDirectory(prefix="warcache-bench-profile-") as tmp:
        profile = Path(tmp) / "profile"
        asyncio.run(make_profile(site, profile))
        state = Path(tmp) / "state.json"
        token = {"name": "api_token", "value": site.api_token}
        state.write_text(json.dumps({
            "cookies": [{"name": "sid", "value": site.session_token, "domain": "127.0.0.1", "path": "/",
                         "expires": -1, "httpOnly": True, "secure": False, "sameSite": "Lax"}],
            "origins": [{"origin": site.origin, "localStorage": [token]}]}))
        urls = [site.url(f"/article?n={i}") for i in range(args.pages)]
        runs = [
            ("fresh contexts, --storage-state, -j 1",
             capture(urls, "--storage-state", str(state), "-j", "1")),
            ("profile, --profile (one at a time)", capture(urls, "--profile", str(profile))),
            (f"fresh contexts, --storage-state, -j {args.jobs}",
             capture(urls, "--storage-state", str(state), "-j", str(args.jobs))),
        ]
        launches = asyncio.run(launch_cost(profile))
    print(f"{args.pages} article pages, each: the page, its stylesheet, its script, and an API fetch with "
          "the token from localStorage\n")
    print(f"{'run':44} {'wall s':>8} {'s/page':>8} {'capture s/page':>15} {'logged in':>10}")
    for name, r in runs:
        print(f"{name:44} {r['seconds']:8.1f} {r['seconds'] / r['pages']:8.2f} "
              f"{r['capture_seconds'] / r['pages']:15.2f} {r['logged_in']:>5}/{r['pages']}")
    base, prof = runs[0][1], runs[1][1]
    print(f"\nprofile / fresh contexts (-j 1), wall time: {prof['seconds'] / base['seconds']:.3f}")
    print(f"launching a browser on the profile and closing it (what one browser per page would add to each "
          f"page): median {statistics.median(launches):.2f} s of {len(launches)} "
          f"({', '.join(f'{s:.2f}' for s in launches)})")


if __name__ == "__main__":
    main()
