"""Finding and launching the Chromium that warcache drives.

Order of preference: an explicit `--browser PATH` (or `WARCACHE_CHROMIUM`), then Playwright's own
Chromium when `playwright install chromium` has put one in place, then a system Chromium or Chrome.
Debian's `/usr/bin/chromium` is a shell wrapper around `/usr/lib/chromium/chromium`; the binary is
preferred because the wrapper adds flags from /etc and prints noise on stderr.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import secrets
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from warcache.errors import BrowserNotFound

ENV_VAR = "WARCACHE_CHROMIUM"

#: Known places of system browsers, most specific first.
SYSTEM_CANDIDATES = (
    "/usr/lib/chromium/chromium",
    "/usr/lib/chromium-browser/chromium-browser",
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome-stable",
    "/usr/bin/google-chrome",
    "/opt/google/chrome/chrome",
    "/snap/bin/chromium",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
)
PATH_NAMES = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome", "chrome")

#: Flags for a quiet, reproducible, headless capture browser. Background networking, component
#: updates and sync make the browser itself contact Google; those requests are not the page's.
LAUNCH_ARGS = (
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-breakpad",
    "--mute-audio",
    "--hide-scrollbars",
)

INSTALL_HINT = (
    "run `warcache install` (Playwright's own Chromium), or install a system one "
    "(Debian/Ubuntu: `sudo apt-get install chromium`), or pass --browser PATH"
)


@dataclass(frozen=True)
class BrowserChoice:
    """Which executable to launch, and why it was chosen (shown with --debug and in warcinfo)."""

    executable: str | None  # None: Playwright's own bundled Chromium
    source: str


def _is_executable(path: str | os.PathLike[str]) -> bool:
    p = Path(path)
    return p.is_file() and os.access(p, os.X_OK)


def _unwrap_debian(path: str) -> str:
    """Debian's /usr/bin/chromium wrapper execs /usr/lib/chromium/chromium: use the binary."""
    real = os.path.realpath(path)
    if real.endswith("/usr/bin/chromium") and _is_executable("/usr/lib/chromium/chromium"):
        return "/usr/lib/chromium/chromium"
    return path


def playwright_chromium() -> str | None:
    """The path of Playwright's installed Chromium, or None when `playwright install` has not run."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is a dependency
        return None
    try:
        with sync_playwright() as pw:
            path = pw.chromium.executable_path
    except Exception:  # noqa: BLE001 - a broken driver means "not available", nothing more
        return None
    return path if path and _is_executable(path) else None


def system_chromium() -> str | None:
    """The first system Chromium or Chrome found in well-known places or on PATH."""
    for candidate in SYSTEM_CANDIDATES:
        if _is_executable(candidate):
            return _unwrap_debian(candidate)
    for name in PATH_NAMES:
        found = shutil.which(name)
        if found:
            return _unwrap_debian(found)
    return None


def find_browser(explicit: str | None = None, *, env: dict[str, str] | None = None,
                 bundled=playwright_chromium, system=system_chromium) -> BrowserChoice:
    """Choose the browser to drive, or raise BrowserNotFound naming the commands that fix it.

    `bundled` and `system` are injectable so the order of preference can be tested without
    installing browsers.
    """
    env = os.environ if env is None else env
    for value, source in ((explicit, "--browser"), (env.get(ENV_VAR), ENV_VAR)):
        if value:
            path = shutil.which(value) or value
            if not _is_executable(path):
                raise BrowserNotFound(f"{source} {value!r} is not an executable file")
            return BrowserChoice(_unwrap_debian(path), source)
    path = bundled()
    if path:
        return BrowserChoice(None, f"Playwright's Chromium ({path})")
    path = system()
    if path:
        return BrowserChoice(path, "system browser")
    raise BrowserNotFound(f"no Chromium or Chrome found: {INSTALL_HINT}")


def launch_args() -> list[str]:
    """Command-line flags for the capture browser (with --no-sandbox only when running as root)."""
    args = list(LAUNCH_ARGS)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.insert(0, "--no-sandbox")  # Chromium refuses to start its sandbox as root
    return args


#: A switch Chromium ignores, naming one launch: how a hung browser's processes are found to be killed.
INSTANCE_SWITCH = "--warcache-instance="


def instance_arg() -> str:
    """A fresh `--warcache-instance=TOKEN` argument for one browser launch."""
    return INSTANCE_SWITCH + secrets.token_hex(8)


def kill_browser(instance: str) -> int:
    """SIGKILL the browser launched with `instance` on its command line, with its process group.

    Why: a browser that stopped responding (hung, or stopped by a signal) never answers Playwright's
    close, so it must be killed; Playwright does not say which process it is. Playwright starts the
    browser as a process group leader, so the group holds its renderers and helpers too. Linux only
    (/proc); elsewhere nothing is found and 0 is returned. Returns how many browsers were killed.
    """
    killed = 0
    wanted = instance.encode()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0
    for entry in entries:
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                args = fh.read().replace(b"\0", b" ").split()  # zygote children use spaces
        except OSError:
            continue
        if wanted not in args or any(a.startswith(b"--type=") for a in args):
            continue
        pid = int(entry)
        with contextlib.suppress(OSError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
            killed += 1
    return killed


_VERSION = re.compile(r"(\d+\.\d+\.\d+\.\d+)")


def browser_version(executable: str) -> str | None:
    """The version `EXECUTABLE --version` prints (`156.0.8078.114`), or None if it prints none.

    Why: the user agent warcache sends depends on the version, and service workers and workers
    only see the one on the browser's command line, so it must be known before the browser
    starts; asking the binary costs ~0.1 s where a probe launch costs ~2 s. (Chrome on Windows
    prints nothing here; callers then fall back to a probe launch.)
    """
    try:
        proc = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=15,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(proc.stdout)
    return match.group(1) if match and proc.returncode == 0 else None


def desktop_user_agent(browser_version: str) -> str:
    """A user agent string as a desktop Chrome of this version sends it, without "Headless".

    Sites serve headless browsers differently (or not at all); what gets archived should be what a
    reader sees. Chrome's reduced user agent only carries the major version.
    """
    major = browser_version.split(".", 1)[0] or "0"
    system = platform.system()
    if system == "Darwin":
        os_part = "Macintosh; Intel Mac OS X 10_15_7"
    elif system == "Windows":
        os_part = "Windows NT 10.0; Win64; x64"
    else:
        os_part = "X11; Linux x86_64"
    return (f"Mozilla/5.0 ({os_part}) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{major}.0.0.0 Safari/537.36")
