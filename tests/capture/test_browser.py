"""Browser discovery: explicit choice, then Playwright's Chromium, then a system one, else a clear error."""

import os
import re
import shutil
import stat

import pytest

from warcache import chromium
from warcache.chromium import desktop_user_agent, find_browser, launch_args
from warcache.errors import BrowserNotFound

pytestmark = [pytest.mark.browser]


def _exe(tmp_path, name="chrome"):
    path = tmp_path / name
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_explicit_path_wins(tmp_path):
    exe = _exe(tmp_path)
    choice = find_browser(exe, env={}, bundled=lambda: "/never", system=lambda: "/never")
    assert choice.executable == exe and choice.source == "--browser"


def test_env_var_then_bundled_then_system(tmp_path):
    exe = _exe(tmp_path)
    from_env = find_browser(env={"WARCACHE_CHROMIUM": exe}, bundled=lambda: None, system=lambda: None)
    assert from_env.executable == exe
    bundled = find_browser(env={}, bundled=lambda: "/pw/chrome", system=lambda: "/usr/bin/x")
    assert bundled.executable is None and "Playwright" in bundled.source
    system = find_browser(env={}, bundled=lambda: None, system=lambda: "/usr/bin/x")
    assert system.executable == "/usr/bin/x"


def test_nothing_found_names_the_fixes():
    with pytest.raises(BrowserNotFound) as info:
        find_browser(env={}, bundled=lambda: None, system=lambda: None)
    message = str(info.value)
    assert "warcache install" in message and "apt-get install chromium" in message
    assert "\n" not in message


def test_explicit_path_must_be_executable(tmp_path):
    with pytest.raises(BrowserNotFound, match="not an executable"):
        find_browser(str(tmp_path / "missing"), env={}, bundled=lambda: None, system=lambda: None)


def test_user_agent_has_no_headless_and_root_gets_no_sandbox():
    ua = desktop_user_agent("156.0.8078.108")
    assert "Headless" not in ua and "Chrome/156.0.0.0" in ua
    assert ("--no-sandbox" in launch_args()) == (os.geteuid() == 0)
    assert "--disable-background-networking" in launch_args()


def test_a_headless_shell_given_for_a_window_is_refused(tmp_path):
    shell = _exe(tmp_path, "chrome-headless-shell")
    assert find_browser(shell, env={}).executable == shell
    with pytest.raises(BrowserNotFound, match="headless shell, which cannot open a window"):
        find_browser(shell, window=True, env={})
    with pytest.raises(BrowserNotFound, match="WARCACHE_CHROMIUM"):
        find_browser(window=True, env={"WARCACHE_CHROMIUM": shell})


def test_playwright_driver_not_asked_when_its_cache_holds_no_chromium(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path), "LOCALAPPDATA": str(tmp_path)}
    assert chromium._no_playwright_chromium(env)  # no ms-playwright directory at all
    (tmp_path / "ms-playwright" / "ffmpeg-1011").mkdir(parents=True)
    cache = chromium._playwright_cache(env)
    if cache is None or cache.parent != tmp_path:
        pytest.skip("Playwright's cache is not under XDG_CACHE_HOME/LOCALAPPDATA on this system")
    assert chromium._no_playwright_chromium(env)
    (tmp_path / "ms-playwright" / "chromium_headless_shell-1200").mkdir()
    assert not chromium._no_playwright_chromium(env)
    assert not chromium._no_playwright_chromium({**env, "PLAYWRIGHT_BROWSERS_PATH": str(tmp_path)})


def test_install_asks_playwright_for_its_chromium_only():
    """`warcache install`'s command, as Playwright's CLI understands it (a dry run: nothing is
    downloaded): the full Chromium, not the headless shell warcache does not use."""
    import subprocess
    import sys

    from warcache.cli import PLAYWRIGHT_INSTALL

    dry = subprocess.run([sys.executable, "-m", "playwright", *PLAYWRIGHT_INSTALL, "--dry-run"],
                         capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    assert "chromium-" in dry.stdout and "headless" not in dry.stdout.lower(), dry.stdout


def test_a_capture_with_a_headless_shell_says_so_in_the_warc(tmp_path):
    """A headless shell given with --browser captures, and the WARC names it: it archives pages
    differently from the full browser (no favicon, "HeadlessChrome" in the Client Hints)."""
    import json

    from conftest import run_cli
    from fixture_site import FixtureSite
    from warc_helpers import read_collection

    shell = shutil.which("chromium-headless-shell")
    if shell is None:
        pytest.skip("no chromium-headless-shell here (Debian: apt-get install chromium-headless-shell)")
    assert chromium.is_headless_shell(chromium._unwrap_debian(shell))
    with FixtureSite() as site:
        run = run_cli("add", "--browser", shell, site.url("/final.html"), root=tmp_path)
    assert run.code == 0, run.stderr
    records = read_collection(tmp_path / "collections" / "default" / "archive")
    info = next(r for r in records if r.type == "warcinfo").content.decode()
    assert re.search(r"^browser: Chromium [\d.]+ \(headless shell\)\r?$", info, re.M), info
    [page] = [json.loads(r.content) for r in records if r.uri.startswith("urn:warcache:page:")]
    assert page["browser"].endswith(" (headless shell)") and "Headless" not in page["user_agent"]


def test_the_full_browser_is_named_plainly():
    choice = chromium.BrowserChoice("/usr/lib/chromium/chromium", "system browser")
    assert choice.described("156.0.8078.114") == "156.0.8078.114"
    shell = chromium.BrowserChoice("/usr/lib/chromium/chromium-headless-shell", "--browser")
    assert shell.described("156.0.8078.114") == "156.0.8078.114 (headless shell)"
