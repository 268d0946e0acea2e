"""A capture with Playwright's own Chromium (what `warcache install` sets up) behaves as one with a
system Chromium: the full browser, not Playwright's headless shell, and the favicon and Client
Hints a reader's browser sends.

`playwright install` cannot download here, so the install is made by hand: Playwright is asked where
its Chromium would be under a fresh PLAYWRIGHT_BROWSERS_PATH, and a script that notes each start and
runs the system Chromium is put there. Nothing is put where Playwright's headless shell would be: a
launch that asks for it fails.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from warc_helpers import read_collection

pytestmark = [pytest.mark.browser]


def _fake_playwright_install(browsers: Path, system_chromium: str, starts: Path, monkeypatch) -> Path:
    from playwright.sync_api import sync_playwright

    with monkeypatch.context() as env:
        env.setenv("PLAYWRIGHT_BROWSERS_PATH", str(browsers))
        with sync_playwright() as pw:
            expected = Path(pw.chromium.executable_path)
    if browsers not in expected.parents:
        pytest.skip(f"Playwright does not keep its Chromium under PLAYWRIGHT_BROWSERS_PATH here ({expected})")
    expected.parent.mkdir(parents=True)
    expected.write_text(f'#!/bin/sh\necho "$@" >> "{starts}"\nexec "{system_chromium}" "$@"\n')
    expected.chmod(0o755)
    top = browsers / expected.relative_to(browsers).parts[0]
    (top / "INSTALLATION_COMPLETE").touch()
    return expected


def test_playwrights_own_chromium_captures_as_the_full_browser(site, tmp_path, browser_path, cli,
                                                              monkeypatch):
    from warcache.chromium import find_browser, is_headless_shell

    if browser_path is None or is_headless_shell(browser_path):
        pytest.skip("needs a system Chromium to stand in for Playwright's")
    browsers = tmp_path / "ms-playwright"
    starts = tmp_path / "starts"
    chrome = _fake_playwright_install(browsers, browser_path, starts, monkeypatch)
    env = {"PLAYWRIGHT_BROWSERS_PATH": str(browsers), "WARCACHE_CHROMIUM": ""}
    run = cli("add", site.url("/final.html"), root=tmp_path / "root", env=env)
    assert run.code == 0, run.stderr
    records = read_collection(tmp_path / "root" / "collections" / "default" / "archive")
    # Playwright's Chromium ran, not the system one: asked its version, then started once (no probe).
    starts_seen = starts.read_text().splitlines()
    assert [line for line in starts_seen if line == "--version"] == ["--version"], starts_seen
    assert len([line for line in starts_seen if "--remote-debugging-pipe" in line]) == 1, starts_seen
    requests = [r for r in records if r.type == "request"]
    assert site.url("/favicon.ico") in {r.uri for r in requests}  # a headless shell never asks
    for request in requests:
        assert b"sec-ch-ua: " in request.head.lower() and b"Headless" not in request.head, request.head

    # `open` (and `check`, and workers) look for the browser inside an event loop, where
    # Playwright's sync API refuses to run: they find Playwright's Chromium all the same.
    with monkeypatch.context() as patched:
        patched.setenv("PLAYWRIGHT_BROWSERS_PATH", str(browsers))
        patched.delenv("WARCACHE_CHROMIUM", raising=False)

        async def found():
            return find_browser()

        assert asyncio.run(found()).binary == str(chrome)
    shot = tmp_path / "replayed.png"
    opened = cli("open", site.url("/final.html"), "--screenshot", str(shot), root=tmp_path / "root", env=env)
    assert opened.code == 0 and shot.stat().st_size > 0, opened.stderr
    assert len([line for line in starts.read_text().splitlines() if "--remote-debugging-pipe" in line]) == 2
