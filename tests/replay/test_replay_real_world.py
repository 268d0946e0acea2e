"""Pages that look at their own URL come back whole: live, then replayed both ways, compared.

The site (real_world_site.py) has one page per way a page looks at its URL (a client-side
router, addresses built from `location.host`, navigations by `location.href =` & co, document
and request URLs, history, messages between frames, modules, workers, a service worker, an
event stream and a WebSocket).  Each renders its own verdict.  The test

1. loads every page live in Chromium and keeps what it showed (text and screenshot);
2. captures them with the real `warcache add`;
3. stops the site and puts a trap on its addresses (a listener that records any connection),
   and points Chromium's proxy at a sink, so a request that leaves the replay by any road is
   seen: loopback ones reach the trap, every other one the sink;
4. replays every page in the rewriting server and in `warcache open`, and compares.

One capture and one browser per mode serve all the tests of the module.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image, ImageChops
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright
from real_world_site import KINDS, RealWorldSite, capture_urls

from warcache.chromium import find_browser, launch_args
from warcache.replay import start_server

pytestmark = [pytest.mark.browser]

VIEWPORT = {"width": 900, "height": 700}
DONE = "() => document.body && document.body.dataset.done === '1'"
MAX_DIFFERENT = 0.002  # share of pixels allowed to differ between live and replay
PAGE_TIMEOUT = 10.0


class Trap:
    """TCP listeners that record every connection made to them (and answer nothing useful)."""

    def __init__(self, addresses: list[tuple[str, int]]) -> None:
        self.hits: list[str] = []
        self._socks: list[socket.socket] = []
        for host, port in addresses:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(16)
            self._socks.append(sock)
            threading.Thread(target=self._accept, args=(sock, f"{host}:{port}"), daemon=True).start()

    def _accept(self, sock: socket.socket, where: str) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    first = conn.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
                except OSError:
                    first = ""
                self.hits.append(f"{where} {first}")
                with contextlib.suppress(OSError):
                    conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    @property
    def port(self) -> int:
        return self._socks[0].getsockname()[1]

    def close(self) -> None:
        for sock in self._socks:
            sock.close()


@dataclass
class Shown:
    """What one page showed: its verdict text, a screenshot, the requests the browser made."""

    text: str
    shot: bytes | None
    requests: list[str] = field(default_factory=list)
    url: str = ""


def _wait_done(page, timeout: float = PAGE_TIMEOUT) -> None:
    """Wait for the page (or the page it navigated to) to say it is done."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            page.wait_for_function(DONE, timeout=max(100, (deadline - time.monotonic()) * 1000))
            return
        except PlaywrightError as exc:
            if "Timeout" in str(exc):
                return
            page.wait_for_timeout(50)  # a navigation destroyed the context: look again


def _show(page, url: str, requests: list[str]) -> Shown:
    start = len(requests)
    try:
        page.goto(url, wait_until="load", timeout=PAGE_TIMEOUT * 1000)
    except PlaywrightError as exc:
        return Shown(f"navigation failed: {str(exc).splitlines()[0]}", None, requests[start:], page.url)
    _wait_done(page)
    try:
        text = page.inner_text("#verdict", timeout=2000)
        done = page.evaluate(DONE)
    except PlaywrightError as exc:
        return Shown(f"no verdict: {str(exc).splitlines()[0]}", None, requests[start:], page.url)
    if not done:
        text += "\n(not done)"
    page.wait_for_timeout(100)
    return Shown(text, page.screenshot(), requests[start:], page.url)


def _pixels_differing(a: bytes, b: bytes) -> float:
    one, two = Image.open(io.BytesIO(a)).convert("RGB"), Image.open(io.BytesIO(b)).convert("RGB")
    if one.size != two.size:
        return 1.0
    diff = ImageChops.difference(one, two).convert("L").point(lambda v: 255 if v > 24 else 0)
    return diff.histogram()[255] / (one.size[0] * one.size[1])


def _browser_args(sink_port: int) -> list[str]:
    # Everything that is not loopback goes to the sink (Chromium keeps loopback and *.localhost
    # direct); loopback requests to the stopped site reach the trap.
    return launch_args() + [f"--proxy-server=http://127.0.0.1:{sink_port}",
                            "--disable-features=NetworkPrediction"]


@dataclass
class RealWorld:
    site: RealWorldSite
    root: Path
    live: dict[str, Shown]
    trap: Trap
    sink: Trap


@pytest.fixture(scope="module")
def real_world(tmp_path_factory) -> RealWorld:
    root = tmp_path_factory.mktemp("real-world")
    site = RealWorldSite().start()
    try:
        # The capture (the real CLI, in its own process) runs while the pages are looked at live.
        cmd = [sys.executable, "-m", "warcache", "--root", str(root), "add", "--no-check", "--no-scroll",
               "--idle-timeout", "1", "--no-screenshot", "-j", "4", *capture_urls(site)]
        env = {k: v for k, v in os.environ.items() if k != "WARCACHE_ROOT"}
        capture = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        live: dict[str, Shown] = {}
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=find_browser().executable, args=launch_args())
                page = browser.new_context(viewport=VIEWPORT).new_page()
                for kind, path in KINDS.items():
                    live[kind] = _show(page, site.url(path), [])
                browser.close()
        finally:
            _, stderr = capture.communicate(timeout=600)
        assert capture.returncode == 0, stderr
    finally:
        site.stop()
    trap = Trap(site.addresses)
    sink = Trap([("127.0.0.1", 0)])
    yield RealWorld(site, root, live, trap, sink)
    trap.close()
    sink.close()


#: URLs whose session host names the client (core.js) must make exactly as origins.py does.
NAMED_URLS = ["https://www.example.com/", "http://127.0.0.1:8080/", "https://[::1]:8443/",
              "http://bücher.example/", "https://" + "a" * 60 + ".b" * 100 + "/", "https://example.com:443/"]
NAME_THEM = """([urls, ts]) => {
  const core = self.__warcacheCore({coll: "default", ts: ts, mode: "host", suffix: "default.localhost"},
                                   () => location.href);
  return urls.map((u) => new URL(core.sessionOrigin(new URL(u))).hostname);
}"""


@pytest.fixture(scope="module")
def replays(real_world) -> dict:
    """Both replays, at once (the open one in a thread of its own: they wait on timers more
    than they compute, and the suite's time matters)."""
    out: dict = {}

    def open_all() -> None:
        try:
            out["opened"] = _open_all(real_world)
        except BaseException as exc:  # noqa: BLE001 - raised again in the test thread
            out["error"] = exc

    thread = threading.Thread(target=open_all)
    thread.start()
    try:
        out["served"] = _serve_all(real_world)
    finally:
        thread.join()
    if "error" in out:
        raise out["error"]
    return out


@pytest.fixture(scope="module")
def served(replays) -> tuple[dict[str, Shown], set[str], tuple[str, list[str] | None]]:
    return replays["served"]


@pytest.fixture(scope="module")
def opened(replays) -> dict[str, Shown]:
    return replays["opened"]


def _serve_all(real_world: RealWorld) -> tuple[dict[str, Shown], set[str], tuple[str, list[str] | None]]:
    """Every page through the rewriting replay server, entered by its pywb-style URL; and the
    names core.js gives NAMED_URLS' hosts."""
    from warcache.replay.client import STATIC_DIR

    shown: dict[str, Shown] = {}
    with start_server(real_world.root) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=find_browser().executable, args=_browser_args(real_world.sink.port)
        )
        context = browser.new_context(viewport=VIEWPORT)
        requests: list[str] = []
        context.on("request", lambda r: requests.append(r.url))
        page = context.new_page()
        entry = server.replay_url_for("default") + "default/"
        for kind, path in KINDS.items():
            shown[kind] = _show(page, entry + real_world.site.url(path), requests)
        page.goto(entry + real_world.site.url(KINDS["history"]))
        session = re.search(r"\.(\d{14})h\d+\.default\.localhost", page.url)
        ts, names = (session.group(1) if session else ""), None
        if session:  # (a page on a session host: see test_the_client_names_session_hosts...)
            page.add_script_tag(content=(STATIC_DIR / "core.js").read_text())
            names = page.evaluate(NAME_THEM, [NAMED_URLS, ts])
        browser.close()
        replay_port = urlsplit(server.replay_url).port
    allowed = {f"default.localhost:{replay_port}", f"*.default.localhost:{replay_port}"}
    return shown, allowed, (ts, names)


def _open_all(real_world: RealWorld) -> dict[str, Shown]:
    """Every page in `warcache open` (one browser, navigating from page to page)."""
    from warcache.replay import intercept
    from warcache.replay.intercept import offline_page

    async def run() -> dict[str, Shown]:
        shown: dict[str, Shown] = {}
        first = real_world.site.url(next(iter(KINDS.values())))
        size = (VIEWPORT["width"], VIEWPORT["height"])
        async with offline_page(real_world.root, first, viewport=size) as op:
            page = op.page
            requests: list[str] = []
            page.context.on("request", lambda r: requests.append(r.url))
            for kind, path in KINDS.items():
                shown[kind] = await _show_async(page, real_world.site.url(path), requests)
        return shown

    # `open` sends whatever escapes its interception to a proxy that does not exist (loopback
    # included): here, to the sink, so that an escape is seen.
    sink = f"127.0.0.1:{real_world.sink.port}"
    args = tuple(a.replace("127.0.0.1:9", sink) for a in intercept.OFFLINE_ARGS)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(intercept, "OFFLINE_ARGS", args)
        return asyncio.run(run())


async def _show_async(page, url: str, requests: list[str]) -> Shown:
    from playwright.async_api import Error as AsyncError

    start = len(requests)
    try:
        await page.goto(url, wait_until="load", timeout=PAGE_TIMEOUT * 1000)
    except AsyncError as exc:
        return Shown(f"navigation failed: {str(exc).splitlines()[0]}", None, requests[start:], page.url)
    deadline = time.monotonic() + PAGE_TIMEOUT
    while time.monotonic() < deadline:
        try:
            await page.wait_for_function(DONE, timeout=max(100, (deadline - time.monotonic()) * 1000))
            break
        except AsyncError as exc:
            if "Timeout" in str(exc):
                break
            await page.wait_for_timeout(50)
    try:
        text = await page.inner_text("#verdict", timeout=2000)
        done = await page.evaluate(DONE)
    except AsyncError as exc:
        return Shown(f"no verdict: {str(exc).splitlines()[0]}", None, requests[start:], page.url)
    if not done:
        text += "\n(not done)"
    await page.wait_for_timeout(100)
    return Shown(text, await page.screenshot(), requests[start:], page.url)


def _host_allowed(url: str, allowed: set[str]) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    where = f"{parts.hostname}:{parts.port}"
    return where in allowed or any(
        a.startswith("*.") and where.endswith(a[1:]) for a in allowed
    )


# ---------------------------------------------------------------------------------------------
def test_the_live_pages_pass_their_own_checks(real_world):
    """The fixture is not vacuous: live, every page ran to the end and every check said ok."""
    for kind, shown in real_world.live.items():
        assert "BAD" not in shown.text and "(not done)" not in shown.text and shown.text, (kind, shown.text)
        assert shown.shot is not None


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_server_replays_what_was_live(real_world, served, kind):
    shown, allowed, _ = served
    live = real_world.live[kind]
    assert shown[kind].text == live.text, shown[kind].url
    strays = [u for u in shown[kind].requests if not _host_allowed(u, allowed)]
    assert strays == [], f"requests left the replay server: {strays}"
    assert _pixels_differing(live.shot, shown[kind].shot) < MAX_DIFFERENT


@pytest.mark.parametrize("kind", list(KINDS))
def test_open_replays_what_was_live(real_world, opened, kind):
    live = real_world.live[kind]
    assert opened[kind].text == live.text, opened[kind].url
    assert _pixels_differing(live.shot, opened[kind].shot) < MAX_DIFFERENT


#: Chromium calls these services on its own whatever the page does (network time, component
#: updates, connectivity checks), flags or not: the sink sees them, but they are not the page's.
BROWSER_SERVICES = (".google.com", ".googleapis.com", ".gstatic.com", ".gvt1.com", ".googleusercontent.com")


def _browser_noise(hit: str) -> bool:
    words = hit.split()
    target = words[2] if len(words) > 2 else ""
    host = (urlsplit(target).hostname if "://" in target else target.rsplit(":", 1)[0]) or ""
    return ("." + host).endswith(BROWSER_SERVICES)


def test_no_request_left_the_replay(real_world, served, opened):
    """Nothing reached the stopped site's addresses, nor any other address, in either mode."""
    assert real_world.trap.hits == []
    assert [h for h in real_world.sink.hits if not _browser_noise(h)] == []



def test_the_client_names_session_hosts_as_the_server_does(served):
    """core.js and origins.py must agree on every host name, hashed ones included (the client
    names the hosts of URLs scripts build; the server maps them back)."""
    from warcache.replay.origins import HostNames, Origins

    _, _, (ts, names) = served
    assert names is not None, "the page was not replayed on a session host"
    origins = Origins("localhost")
    assert names == [origins.session_host("default", u, ts, HostNames()) for u in NAMED_URLS]
