"""Finding and launching the Chromium that warcache drives.

Order of preference: an explicit `--browser PATH` (or `WARCACHE_CHROMIUM`), then Playwright's own
Chromium when `playwright install chromium` has put one in place, then a system Chromium or Chrome.
Debian's `/usr/bin/chromium` is a shell wrapper around `/usr/lib/chromium/chromium`; the binary is
preferred because the wrapper adds flags from /etc and prints noise on stderr.

Chromium's headless shell (Debian's `chromium-headless-shell`, Playwright's `chromium_headless_shell`)
is used only when given with --browser: it costs about half the CPU per page
(scripts/bench_browsers.py), but it never asks for the favicon and its Client Hints name it
"HeadlessChrome" whatever the user agent says, so pages are not archived as a reader's browser
gets them. It cannot open a window (`window`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
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
#: How headless shells are named (Debian's, Google's Chrome for Testing, Playwright's).
HEADLESS_SHELL_NAMES = ("chromium-headless-shell", "chrome-headless-shell", "headless_shell")

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
    # navigator.webdriver false, as in a reader's browser: sites withhold content from browsers
    # that say they are automated (tests/capture/test_reader_signals.py).
    "--disable-blink-features=AutomationControlled",
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
    binary: str | None = None  # Playwright's Chromium: the file, to ask its version

    def version(self) -> str | None:
        """The browser's version from its binary, or None when it does not say (see browser_version)."""
        path = self.executable or self.binary
        return browser_version(path) if path else None

    def described(self, version: str) -> str:
        """`version` as the WARC names the browser (warcinfo, page records): a headless shell says
        so, as it archives pages differently (see the module docstring)."""
        return f"{version} (headless shell)" if is_headless_shell(self.executable) else version

    def launch_options(self) -> dict[str, str | None]:
        """How Playwright is told which browser to launch.

        Playwright's own Chromium is asked for by channel: without one, Playwright's headless
        launches take its headless shell instead of the Chromium `playwright install chromium` put
        beside it (see the module docstring for what that shell archives differently).
        """
        if self.executable is None:
            return {"channel": "chromium"}
        return {"executable_path": self.executable}


def _is_executable(path: str | os.PathLike[str]) -> bool:
    p = Path(path)
    return p.is_file() and os.access(p, os.X_OK)


def _unwrap_debian(path: str) -> str:
    """Debian's /usr/bin wrappers exec the binaries in /usr/lib/chromium: use the binary."""
    real = os.path.realpath(path)
    for name in ("chromium", "chromium-headless-shell"):
        if real.endswith(f"/usr/bin/{name}") and _is_executable(f"/usr/lib/chromium/{name}"):
            return f"/usr/lib/chromium/{name}"
    return path


def is_headless_shell(path: str | None) -> bool:
    """Whether `path` is a Chromium headless shell, which cannot open a window."""
    return path is not None and Path(path).name.startswith(HEADLESS_SHELL_NAMES)


def _playwright_cache(env: dict[str, str]) -> Path | None:
    """Where Playwright keeps its browsers by default on this system, or None when that is not
    known here (PLAYWRIGHT_BROWSERS_PATH set, an unknown system): then only its driver can say."""
    if env.get("PLAYWRIGHT_BROWSERS_PATH"):
        return None
    try:
        home = Path.home()
    except RuntimeError:  # no HOME and no password entry: leave it to the driver
        return None
    system = platform.system()
    if system == "Linux":
        return Path(env.get("XDG_CACHE_HOME") or home / ".cache") / "ms-playwright"
    if system == "Darwin":
        return home / "Library" / "Caches" / "ms-playwright"
    if system == "Windows":
        return Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local") / "ms-playwright"
    return None


def _no_playwright_chromium(env: dict[str, str]) -> bool:
    """True when Playwright has certainly installed no Chromium: its default cache holds none.

    Why: asking Playwright's driver starts a Node.js process (~0.4 s and as much CPU, on every
    `warcache add`); on machines with a system Chromium only, the answer is known without it."""
    cache = _playwright_cache(env)
    if cache is None:
        return False
    try:
        return not any(entry.name.startswith("chromium") for entry in cache.iterdir())
    except OSError:
        return True  # no cache directory: nothing installed


def playwright_chromium() -> str | None:
    """The path of Playwright's installed Chromium, or None when `playwright install` has not run.

    Callers inside an event loop (`open`, `check`, workers) are answered too: Playwright's sync API
    refuses to run in one, so the question is then asked from a thread of its own."""
    if _no_playwright_chromium(dict(os.environ)):
        return None
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _ask_playwright()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(_ask_playwright).result()


def _ask_playwright() -> str | None:
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


def find_browser(explicit: str | None = None, *, window: bool = False, env: dict[str, str] | None = None,
                 bundled=playwright_chromium, system=system_chromium) -> BrowserChoice:
    """Choose the browser to drive, or raise BrowserNotFound naming the commands that fix it.

    `window`: the browser will show a window, so a headless shell given explicitly is refused
    with one line rather than failing in Playwright. `bundled` and `system`
    are injectable so the order of preference can be tested without installing browsers.
    """
    env = os.environ if env is None else env
    for value, source in ((explicit, "--browser"), (env.get(ENV_VAR), ENV_VAR)):
        if value:
            path = shutil.which(value) or value
            if not _is_executable(path):
                raise BrowserNotFound(f"{source} {value!r} is not an executable file")
            path = _unwrap_debian(path)
            if window and is_headless_shell(path):
                raise BrowserNotFound(f"{source} {value!r} is a headless shell, which cannot open a "
                                      "window: give a full Chromium or Chrome")
            return BrowserChoice(path, source)
    path = bundled()
    if path:
        return BrowserChoice(None, f"Playwright's Chromium ({path})", binary=path)
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
