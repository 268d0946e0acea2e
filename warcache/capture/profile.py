"""A browser profile of warcache's own: made by `warcache login`, used by `warcache add --profile`.

A profile is a Chromium user-data directory. It keeps what a logged-in browser keeps (cookies,
localStorage, IndexedDB), and the site's updates to them during captures (a refreshed session
token) are written back, so it stays logged in across runs. What is here:

* `check_profile`: a directory that is not a profile is refused with one line, before anything
  starts: the browser would otherwise fill any directory it is given (a home directory by mistake)
  with a profile of its own, and capture logged out.
* `ProfileLock`: one user of a profile at a time. Two browsers writing one profile corrupt it, and
  Chromium started on a profile another one holds hands its work over to that one and exits; so a
  second warcache run, or a browser the user left open on it, is a one-line error.
* `keep_session_cookies`: a cookie the site set without an expiry (a "session cookie", as many
  logins are) lives until the browser closes, so it would be gone from the profile the next time.
  warcache keeps such cookies for KEEP_SESSION_DAYS, renewed each time the profile is used: the
  server still decides how long the session is valid.
* `login`: a Chromium window on the user's display, with the profile and no proxy (nothing is
  recorded), to log in once.

Capturing with a profile (one browser context for all pages, so one page at a time) is in
profile_browser.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from playwright.async_api import BrowserContext, Page, Playwright
from playwright.async_api import Error as PlaywrightError

from warcache.capture.browser_errors import first_line, plain
from warcache.chromium import BrowserChoice, desktop_user_agent, launch_args
from warcache.errors import UsageError

#: The file every Chromium user-data directory has (the browser-wide settings), as a JSON object.
LOCAL_STATE = "Local State"
#: Chromium's own lock: a symbolic link to "<host>-<pid>" of the browser using the profile.
SINGLETON_LOCK = "SingletonLock"
KEEP_SESSION_DAYS = 400  # the longest Chromium keeps any cookie
LOGIN_HINT = "make one with `warcache login URL --profile DIR`"


def check_profile(path: Path, *, create: bool = False) -> Path:
    """`path` as a usable profile directory (with `create`, it may also be missing or empty:
    `warcache login` makes it). UsageError, one line, otherwise."""
    where = f"--profile {path}"
    if path.exists() and not path.is_dir():
        raise UsageError(f"{where}: is a file, not a browser profile directory")
    if not path.exists():
        if create:
            return path.absolute()
        raise UsageError(f"{where}: no such directory: {LOGIN_HINT}")
    try:
        entries = os.listdir(path)
    except OSError as exc:
        raise UsageError(f"{where}: cannot read it: {exc.strerror or exc}") from None
    if not entries:
        if create:
            return path.absolute()
        raise UsageError(f"{where}: is empty, not a browser profile: {LOGIN_HINT}")
    state = path / LOCAL_STATE
    if not state.is_file():
        raise UsageError(f"{where}: not a Chromium profile (it has no {LOCAL_STATE!r} file), and warcache "
                         f"will not write a browser's files into it: {LOGIN_HINT} in a new directory")
    try:
        settings = json.loads(state.read_bytes())
    except OSError as exc:
        raise UsageError(f"{where}: cannot read its {LOCAL_STATE!r}: {exc.strerror or exc}") from None
    except ValueError:
        raise UsageError(f"{where}: its {LOCAL_STATE!r} file is damaged (not JSON): not a usable "
                         f"profile: {LOGIN_HINT} in a new directory") from None
    if not isinstance(settings, dict):
        raise UsageError(f"{where}: its {LOCAL_STATE!r} file is damaged: not a usable profile")
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"{where}: not writable (the browser must write into its profile)")
    return path.absolute()


class ProfileLock:
    """An exclusive lock on a profile directory for the time of a run (flock on the directory itself,
    so nothing is written into it); a browser already running on the profile is refused too."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> ProfileLock:
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UsageError(f"--profile {self.path}: in use by another warcache run (a profile serves "
                             "one run at a time)") from None
        self._fd = fd
        pid = _browser_holding(self.path)
        if pid is not None:
            self.release()
            raise UsageError(f"--profile {self.path}: open in a running browser (process {pid}): "
                             "close that browser first")
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None

    def __enter__(self) -> ProfileLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _browser_holding(path: Path) -> int | None:
    """The process id of a live browser on this machine that holds the profile, per Chromium's own lock."""
    try:
        target = os.readlink(path / SINGLETON_LOCK)
    except OSError:
        return None
    host, _, pid_text = target.rpartition("-")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None  # a browser that crashed or was killed: Chromium takes its lock over
    except PermissionError:
        pass  # alive, another user's
    cmdline = Path(f"/proc/{pid}/cmdline")
    with contextlib.suppress(OSError):
        if b"chrom" not in cmdline.read_bytes().lower():
            return None  # the process id was reused by something else
    return pid


async def wait_released(path: Path, timeout: float = 10.0) -> None:
    """Wait until no live browser holds the profile (after one was killed, its processes take a moment
    to go); a browser started earlier would hand its work over to the dying one and exit."""
    deadline = time.monotonic() + timeout
    while _browser_holding(path) is not None and time.monotonic() < deadline:
        await asyncio.sleep(0.1)


async def keep_session_cookies(context: BrowserContext) -> int:
    """Give the session cookies of `context` an expiry (see the module docstring), so the profile
    still has them next time; returns how many. Their values and everything else stay as they are."""
    cookies = await context.cookies()
    return await _keep(context, cookies)


async def _keep(context: BrowserContext, cookies: list) -> int:
    until = time.time() + KEEP_SESSION_DAYS * 86400
    session = [{**c, "expires": until} for c in cookies if c.get("expires", -1) < 0]
    if session:
        await context.add_cookies(session)  # type: ignore[arg-type]
    return len(session)


# -- warcache login ---------------------------------------------------------------------------------


def display_problem(env: dict[str, str] | None = None, platform: str | None = None) -> str | None:
    """Why no browser window can be shown here, or None. Only X11 and Wayland systems need a
    display named in the environment; macOS and Windows always have one where a user is logged in."""
    env = os.environ if env is None else env
    platform = platform or sys.platform
    if platform.startswith(("linux", "freebsd", "openbsd", "netbsd")) and not (
            env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        return ("no display to open a browser window on (neither DISPLAY nor WAYLAND_DISPLAY is set): "
                "run `warcache login` in a desktop session, or bring the session with --cookies FILE or "
                "--storage-state FILE")
    return None


@dataclass
class LoginReport:
    profile: Path
    cookies: int  # cookies in the profile when the window was closed
    kept: int  # session cookies given an expiry so that they outlive the window
    warning: str | None = None  # the page did not load (the window stayed open all the same)


#: What a scripted login does with the page (tests); without one, the user logs in by hand.
LoginScript = Callable[[Page], Awaitable[None]]


async def login(pw: Playwright, choice: BrowserChoice, url: str, profile: str | os.PathLike[str], *,
                headless: bool = False, script: LoginScript | None = None,
                on_ready: Callable[[], None] | None = None, poll: float = 1.0) -> LoginReport:
    """Open `url` in a browser on `profile` and wait until the user closes the window (or presses
    Enter in the terminal, when it is one), or until `script` has run. The cookies are watched
    while the window is open, so that session cookies can be kept once it is closed: the browser
    drops them as it closes, and a window the user closes cannot be asked anything any more."""
    profile = check_profile(Path(profile).expanduser(), create=True)
    with ProfileLock(profile):
        args, user_agent = launch_args(), None
        version = choice.version()
        if version:  # the user agent captures send: some sites tie a session to it
            user_agent = desktop_user_agent(version)
            args.append(f"--user-agent={user_agent}")
        try:
            context = await pw.chromium.launch_persistent_context(
                str(profile), **choice.launch_options(), headless=headless, args=args,
                user_agent=user_agent, no_viewport=not headless)
        except PlaywrightError as exc:
            raise UsageError(f"--profile {profile}: the browser could not open it: "
                             f"{first_line(exc)}") from None
        warning = None
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            try:
                await page.goto(url, timeout=60_000)
            except PlaywrightError as exc:
                warning = f"{url} did not load ({plain(exc)}); the window stayed open to try again"
            if on_ready:
                on_ready()
            done = asyncio.Event()
            watcher = asyncio.ensure_future(_watch_until_closed(context, done, poll))
            if script is not None:
                try:
                    await script(page)  # it may close the window itself, as a user would
                finally:
                    done.set()
            cookies = await watcher
            alive = False
            with contextlib.suppress(PlaywrightError, TimeoutError):  # Enter, or a script: still open
                cookies = await asyncio.wait_for(context.cookies(), 5)
                alive = True
            kept = await _keep(context, cookies) if alive else 0
        finally:
            with contextlib.suppress(PlaywrightError, TimeoutError):
                await asyncio.wait_for(context.close(), 10)
        if not alive:
            kept = await _restore_session_cookies(pw, choice, profile, cookies)
        return LoginReport(profile, len(cookies), kept, warning)


#: The shortest time between two looks at the cookies that responses bring (see _watch_until_closed).
MIN_COOKIE_GAP = 0.1


async def _watch_until_closed(context: BrowserContext, done: asyncio.Event, poll: float) -> list:
    """The cookies as last seen before the user closed the window, pressed Enter (when the terminal
    is one), or `done` was set otherwise.

    They are read every `poll` seconds, and again after each response: the response that logs the
    user in sets the session cookie, and a user may close the window right after it, before the
    next look by the clock (the session would then be lost)."""
    loop = asyncio.get_running_loop()
    context.on("close", lambda _c: done.set())
    answered = asyncio.Event()
    context.on("response", lambda _r: answered.set())
    if sys.stdin is not None and sys.stdin.isatty():
        def read_enter() -> None:
            with contextlib.suppress(Exception):
                sys.stdin.readline()
            loop.call_soon_threadsafe(done.set)

        threading.Thread(target=read_enter, daemon=True).start()  # a daemon: never waited for at exit
    last: list = []
    read_at = 0.0
    while not done.is_set():
        gap = loop.time() - read_at
        if gap < MIN_COOKIE_GAP:  # a page busy with requests: a look every MIN_COOKIE_GAP at most
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), MIN_COOKIE_GAP - gap)
            if done.is_set():
                break
        answered.clear()
        read_at = loop.time()
        with contextlib.suppress(PlaywrightError, TimeoutError):
            last = await asyncio.wait_for(context.cookies(), 5)
        waits = [asyncio.ensure_future(done.wait()), asyncio.ensure_future(answered.wait())]
        await asyncio.wait(waits, timeout=poll, return_when=asyncio.FIRST_COMPLETED)
        for waiting in waits:
            waiting.cancel()  # responses that come during a read bring one more read, not one each
    return last


async def _restore_session_cookies(pw: Playwright, choice: BrowserChoice, profile: Path,
                                   cookies: list) -> int:
    """Open the closed profile once more, without a window, and put its session cookies back, kept."""
    if not any(c.get("expires", -1) < 0 for c in cookies):
        return 0
    await wait_released(profile)
    try:
        context = await pw.chromium.launch_persistent_context(
            str(profile), **choice.launch_options(), headless=True, args=launch_args())
    except PlaywrightError as exc:
        raise UsageError(f"--profile {profile}: could not keep the session cookies: "
                         f"{first_line(exc)}") from None
    try:
        return await _keep(context, cookies)
    finally:
        with contextlib.suppress(PlaywrightError, TimeoutError):
            await asyncio.wait_for(context.close(), 10)


def login_profile(url: str, profile: str | os.PathLike[str], *, browser_path: str | None = None,
                  on_ready: Callable[[], None] | None = None) -> LoginReport:
    """`warcache login URL --profile DIR`: the checks (a display, the URL, the profile), then `login`."""
    from playwright.async_api import async_playwright

    from warcache.chromium import find_browser
    from warcache.urls import normalize_url

    problem = display_problem()
    if problem:
        raise UsageError(problem)
    url = normalize_url(url)
    path = check_profile(Path(profile).expanduser(), create=True)
    choice = find_browser(browser_path, window=True)

    async def run() -> LoginReport:
        async with async_playwright() as pw:
            return await login(pw, choice, url, path, on_ready=on_ready)

    return asyncio.run(run())
