"""The capture browser crashing or hanging in the middle of a capture.

Chromium's processes are killed (SIGKILL: a crash) or stopped (SIGSTOP: a hang) while a page is being
captured. Promised: that URL fails with a clear reason, the run goes on with the next URL in a fresh
browser, nothing is left running, and the WARCs stay valid.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time

import pytest
from hostile_site import HostileSite, browser_processes, children_of, kill_all, run_watched
from warc_helpers import read_collection, warcio_check

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARGS = ["--json", "-j", "1", "--timeout", "8", "--idle-timeout", "3", "--scroll-timeout", "2"]


def _wait(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the run to reach the point of the fault")
        time.sleep(0.05)


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


@pytest.fixture
def site():
    with HostileSite() as s:
        yield s


def _command(root, urls):
    return [sys.executable, "-m", "warcache", "--root", str(root), "add", "--no-check", *ARGS, *urls]


def _check_archive(root, urls_ok):
    archive = root / "collections" / "default" / "archive"
    files = sorted(archive.glob("*.warc.gz"))
    assert files and warcio_check(files).returncode == 0
    assert not list(archive.glob("*.open"))
    records = read_collection(archive)
    pages = {r.uri.removeprefix("urn:warcache:page:") for r in records if r.type == "metadata"}
    assert pages == set(urls_ok)


def test_a_crashed_renderer_or_browser_fails_its_url_and_the_next_one_gets_a_fresh_browser(site, tmp_path,
                                                                                            browser_path):
    urls = [site.url("/longpoll.html"), site.url("/article/1"), site.url("/longpoll.html?again"),
            site.url("/article/2")]
    killed: dict[str, list[int]] = {}

    def fault(proc) -> None:
        _wait(lambda: site.hits["/tick"] >= 3)  # the first page is running
        browsers, renderers = browser_processes(proc.pid)
        kill_all(renderers)
        killed["renderers"] = renderers
        ticks = site.hits["/tick"]
        _wait(lambda: site.hits["/longpoll.html"] >= 2 and site.hits["/tick"] >= ticks + 3)
        browsers, _ = browser_processes(proc.pid)
        killed["browser"] = browsers
        kill_all(browsers)

    run = run_watched(_command(tmp_path, urls), timeout=300, on_start=fault)
    assert killed["renderers"] and len(killed["browser"]) == 1
    assert "Traceback" not in run.stderr
    results = {r["url"]: r for r in json.loads(run.stdout)}
    assert run.code == 1
    assert results[urls[0]]["error"] == "the page crashed (a browser process died)"
    assert results[urls[2]]["error"] == "the browser crashed or was killed during the capture"
    assert results[urls[1]]["ok"] and results[urls[3]]["ok"]
    assert f"FAILED {urls[0]}: the page crashed" in run.stderr
    _check_archive(tmp_path, [urls[1], urls[3]])
    # failed URLs are remembered for `warcache retry`
    failures = (tmp_path / "collections" / "default" / "failures.jsonl").read_text()
    assert urls[0] in failures and urls[2] in failures


def test_a_hung_browser_is_killed_and_replaced(site, tmp_path, browser_path):
    urls = [site.url("/longpoll.html"), site.url("/article/1"), site.url("/article/2")]
    stopped: list[int] = []

    def fault(proc) -> None:
        _wait(lambda: site.hits["/tick"] >= 3)
        browsers, _ = browser_processes(proc.pid)
        stopped.extend(p for p in children_of(browsers[0]) + browsers)
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)

    try:
        run = run_watched(_command(tmp_path, urls), timeout=300, on_start=fault)
    finally:
        kill_all(stopped)  # if warcache did not
    assert "Traceback" not in run.stderr
    results = {r["url"]: r for r in json.loads(run.stdout)}
    assert results[urls[0]]["error"] == "the browser stopped responding during the capture"
    assert results[urls[1]]["ok"] and results[urls[2]]["ok"], run.stderr
    assert run.seconds < 90, run.seconds
    assert [pid for pid in stopped if _state(pid) not in ("gone", "Z")] == []  # killed, not left behind
    _check_archive(tmp_path, urls[1:])


def freeze_browsers_of(pid: int, stopped: list[int]) -> None:
    """SIGSTOP every browser process (and its helpers) under the process `pid`: a hung browser."""
    browsers, _ = browser_processes(pid)
    for browser in browsers:
        for proc in [browser, *children_of(browser)]:
            with contextlib.suppress(OSError):
                os.kill(proc, signal.SIGSTOP)
                stopped.append(proc)


def test_with_pages_in_parallel_a_page_that_hangs_the_browser_fails_alone(site, tmp_path, browser_path):
    """-j 2: /freeze.html hangs the whole browser every time it is loaded. The pages captured beside
    it are interrupted when the browser is replaced, and captured again; only it fails."""
    urls = [site.url(f"/article/{n}") for n in range(1, 4)] + [site.url("/freeze.html")] + [
        site.url(f"/article/{n}") for n in range(4, 8)]
    stopped: list[int] = []
    watched: dict[str, int] = {}
    site.hooks["freeze"] = lambda _request: freeze_browsers_of(watched["pid"], stopped)
    cmd = [sys.executable, "-m", "warcache", "--root", str(tmp_path), "add", "--no-check", "--json",
           "-j", "2", "--timeout", "5", "--idle-timeout", "1", "--no-scroll", *urls]
    try:
        run = run_watched(cmd, timeout=300, on_start=lambda proc: watched.update(pid=proc.pid))
    finally:
        kill_all(stopped)
    assert "Traceback" not in run.stderr
    results = {r["url"]: r for r in json.loads(run.stdout)}
    frozen = results.pop(site.url("/freeze.html"))
    assert not frozen["ok"] and frozen["error"] == "the browser stopped responding during the capture"
    assert all(r["ok"] for r in results.values()), run.stderr
    assert site.hits["/freeze.html"] == 2  # tried twice: beside a neighbour, then alone
    again = [u for u, r in results.items() if any(w.startswith("captured again") for w in r["warnings"])]
    assert again, run.stderr  # the neighbour it took down was captured again
    assert run.code == 1 and f"{len(urls) - 1} of {len(urls)} captured" in run.stderr
    for line in run.stderr.splitlines():
        assert "Protocol error" not in line and "BrowserContext." not in line and "Page." not in line, line
    assert [pid for pid in stopped if _state(pid) not in ("gone", "Z")] == []
    _check_archive(tmp_path, list(results))
    print(f"-j 2 with a page that hangs the browser: {len(urls)} pages in {run.seconds:.0f} s")
