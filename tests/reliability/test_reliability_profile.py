"""A browser on a profile crashing or hanging in the middle of a capture (`--profile`).

As with fresh contexts (test_reliability_browser.py): the page under way fails with a clear reason
and the run goes on in a fresh browser. Here the fresh browser must be started on the same profile
(once the dead one's processes are gone, or Chromium would hand its work over to them and exit),
so the pages after it are still captured logged in.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import pytest
from hostile_site import browser_processes, children_of, kill_all, run_watched
from login_site import ARTICLE_MARKER, LOGGED_OUT_MARKER, PASSWORD, USER, LoginSite
from warc_helpers import read_collection, warcio_check

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def members():
    """The members-only site, and a profile logged in to it by `warcache login`'s own code."""
    import asyncio
    import tempfile

    from playwright.async_api import async_playwright

    from warcache.capture.profile import login
    from warcache.chromium import find_browser

    async def user(page) -> None:
        await page.fill("input[name=user]", USER)
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button")
        await page.wait_for_selector("#welcome")

    async def make(site, profile) -> None:
        async with async_playwright() as pw:
            await login(pw, find_browser(), site.url("/login"), profile, headless=True, script=user)

    with LoginSite() as site, tempfile.TemporaryDirectory(prefix="warcache-profile-") as tmp:
        profile = os.path.join(tmp, "profile")
        asyncio.run(make(site, profile))
        yield site, profile


def _wait(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the run to reach the point of the fault")
        time.sleep(0.05)


def _ticks(site) -> int:
    return sum(1 for hit in list(site.log) if hit.path.startswith("/tick"))


def _run(root, profile, urls, fault):
    cmd = [sys.executable, "-m", "warcache", "--root", str(root), "add", "--no-check", "--json", "--timeout",
           "8", "--idle-timeout", "2", "--no-scroll", "--profile", profile, *urls]
    return run_watched(cmd, timeout=300, on_start=fault)


def _doms(root) -> dict[str, bytes]:
    archive = root / "collections" / "default" / "archive"
    files = sorted(archive.glob("*.warc.gz"))
    assert files and warcio_check(files).returncode == 0 and not list(archive.glob("*.open"))
    return {r.uri.removeprefix("urn:warcache:dom:"): r.payload for r in read_collection(archive)
            if r.uri.startswith("urn:warcache:dom:")}


def test_a_crashed_browser_is_replaced_on_the_same_profile(members, tmp_path):
    site, profile = members
    urls = [site.url("/live"), site.url("/article?1"), site.url("/article?2")]
    killed: list[int] = []
    ticks = _ticks(site)

    def fault(proc) -> None:
        _wait(lambda: _ticks(site) >= ticks + 3)  # /live is being captured
        browsers, _ = browser_processes(proc.pid)
        killed.extend(browsers)
        kill_all(browsers)

    run = _run(tmp_path, profile, urls, fault)
    assert len(killed) == 1 and "Traceback" not in run.stderr
    results = {r["url"]: r for r in json.loads(run.stdout)}
    assert results[urls[0]]["error"] in ("the page crashed (a browser process died)",
                                         "the browser crashed or was killed during the capture")
    assert results[urls[1]]["ok"] and results[urls[2]]["ok"], run.stderr
    doms = _doms(tmp_path)
    for url in urls[1:]:  # captured in the fresh browser, on the profile: still logged in
        assert ARTICLE_MARKER.encode() in doms[url] and LOGGED_OUT_MARKER.encode() not in doms[url]


def test_a_hung_browser_is_killed_and_replaced_on_the_same_profile(members, tmp_path):
    site, profile = members
    urls = [site.url("/live"), site.url("/article?3"), site.url("/article?4")]
    stopped: list[int] = []
    ticks = _ticks(site)

    def fault(proc) -> None:
        _wait(lambda: _ticks(site) >= ticks + 3)
        browsers, _ = browser_processes(proc.pid)
        stopped.extend(p for p in children_of(browsers[0]) + browsers)
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)

    try:
        run = _run(tmp_path, profile, urls, fault)
    finally:
        kill_all(stopped)  # if warcache did not
    assert "Traceback" not in run.stderr
    results = {r["url"]: r for r in json.loads(run.stdout)}
    assert results[urls[0]]["error"] == "the browser stopped responding during the capture"
    assert results[urls[1]]["ok"] and results[urls[2]]["ok"], run.stderr
    assert run.seconds < 90, run.seconds
    doms = _doms(tmp_path)
    for url in urls[1:]:
        assert ARTICLE_MARKER.encode() in doms[url] and LOGGED_OUT_MARKER.encode() not in doms[url]
