"""Browser discovery: explicit choice, then Playwright's Chromium, then a system one, else a clear error."""

import os
import stat

import pytest

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
