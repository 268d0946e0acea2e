#!/usr/bin/env python3
"""Compare replay with pywb and ReplayWeb.page on the same captures: what each page shows.

The fixture pages of the replay tests (tests/kinds_site.py: volatile URLs, JSONP, responsive
images, media, subresource integrity; tests/fixture_site.py: the JavaScript app;
tests/replay/real_world_site.py: the 18 pages that look at their own URL) are visited
live in Chromium, captured once by warcache (`warcache add`; the image and media pages also
the way warcache captured before it fetched image candidates and whole files, collection
`old`), and the sites are stopped.  Then the same captures are replayed by

* warcache's replay server, and `warcache open` (request interception);
* pywb's `wayback`: the WARCs copied into a pywb collection (`wb-manager add`), in a
  virtualenv of its own;
* ReplayWeb.page: the npm package's ui.js and sw.js, served on 127.0.0.1 with an embed page
  that loads warcache's WACZ export (`warcache export wacz`),

each in a fresh headless Chromium whose every request to anything but loopback goes to a sink
that refuses it (and is counted).  A page's score is how many of the lines it showed live it
shows replayed (the replayed page is found in whatever frame the engine puts it).

pywb and ReplayWeb.page are not warcache dependencies: they are installed at run time into
--cache (default ~/.cache/warcache-compare): `pip install pywb` into a virtualenv there, and
`npm install replaywebpage` there (warcio pinned to 2.4.11, which the npm registry used here
has; only the prebuilt ui.js and sw.js are used).  Offline, or without npm, the engine that
cannot be installed is left out and the command that installs it is printed.

    python scripts/compare_replay.py                 # every page, every engine
    python scripts/compare_replay.py --markdown      # the table for the README
    python scripts/compare_replay.py --engines warcache,pywb --pages volatile,jsonp
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import json
import mimetypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "replay"))

from fixture_site import MARKERS, FixtureSite  # noqa: E402
from kinds_site import KindsSite  # noqa: E402

try:  # the pages that look at their own URL (kinds 1 and 2), where the test suite has them
    import real_world_site  # type: ignore[import-not-found]
except ImportError:
    real_world_site = None

from warcache.capture.page import CaptureOptions  # noqa: E402
from warcache.capture.run import run_captures  # noqa: E402
from warcache.chromium import find_browser  # noqa: E402
from warcache.collection import Collection, open_collection  # noqa: E402

DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "warcache-compare"
RWP_VERSION = "2.5.3"
ENGINES = ("warcache", "open", "pywb", "rwp")
ENGINE_NAMES = {
    "warcache": "warcache replay",
    "open": "warcache open",
    "pywb": "pywb",
    "rwp": "ReplayWeb.page",
}
TIMEOUT = 60.0


# ---------------------------------------------------------------------------------------
# The pages
# ---------------------------------------------------------------------------------------
KINDS_DONE = "document.documentElement.dataset.done === '1'"
KINDS_LINES = "(document.getElementById('out') || {textContent: ''}).textContent"
APP_SHOWN = ("article", "cross_json", "cross_script", "module", "echo", "xhr", "chunked", "missing", "broken")
APP_DONE = "document.documentElement.dataset.fixture === 'ready'"
APP_LINES = (
    "[" + ", ".join(json.dumps(MARKERS[k]) for k in APP_SHOWN) + "].filter((m) => "
    "document.body.innerText.includes(m)).join('\\n')"
)


@dataclass(frozen=True)
class PageKind:
    name: str  # short name, for --pages
    title: str  # row of the table
    site: str  # "kinds" or "app"
    path: str
    coll: str = "default"
    dpr: float = 1.0
    done: str = KINDS_DONE
    lines: str = KINDS_LINES
    click: bool = True  # click the page once (media plays only after a click)


REAL_DONE = "document.body && document.body.dataset.done === '1'"
REAL_LINES = "(document.getElementById('verdict') || {textContent: ''}).textContent"

PAGES = (
    *(
        PageKind(f"url-{name}", f"1-2. {name}", "real", path, done=REAL_DONE, lines=REAL_LINES, click=False)
        for name, path in (real_world_site.KINDS.items() if real_world_site else ())
    ),
    PageKind("app", "JavaScript app (fixture site)", "app", "/", done=APP_DONE, lines=APP_LINES, click=False),
    PageKind("volatile", "3. cache-busting and random parameters, POST nonces", "kinds", "/volatile.html"),
    PageKind("jsonp", "4. JSONP with run-time callback names", "kinds", "/jsonp.html"),
    PageKind("images", "5. srcset, <picture>, image-set() (DPR 1)", "kinds", "/images.html"),
    PageKind("images2", "5. the same at DPR 2", "kinds", "/images.html", dpr=2.0),
    PageKind(
        "images2-old",
        "5. at DPR 2, capture without the other candidates",
        "kinds",
        "/images.html",
        coll="old",
        dpr=2.0,
    ),
    PageKind("media", "media: play and seek, byte ranges", "kinds", "/media.html"),
    PageKind("media-old", "media, capture holding only the 206 pieces", "kinds", "/media.html", coll="old"),
    PageKind("sri", "scripts and style sheets with integrity", "kinds", "/sri.html"),
)
OLD_PATHS = ("/images.html", "/media.html")


# ---------------------------------------------------------------------------------------
# Processes, ports, the leak sink
# ---------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}) before listening on port {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:g} s")


def stop(proc: subprocess.Popen) -> None:
    """Stop a server this script started (in its own process group)."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


class LeakSink:
    """An HTTP proxy on 127.0.0.1 that refuses every request and remembers its target.

    Chromium is told to use it as its proxy; Chromium never proxies loopback (127.0.0.1,
    localhost, *.localhost), so all that reaches the sink is what would have left the machine.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.hits: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _handler(self):  # noqa: ANN202
        sink = self

        class Refuse(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _refuse(self) -> None:
                sink.hits.append(f"{self.command} {self.path}")
                self.send_response(403)
                self.send_header("Content-Length", "0")
                self.send_header("Connection", "close")
                self.end_headers()

            do_GET = do_POST = do_HEAD = do_PUT = do_CONNECT = do_OPTIONS = _refuse  # noqa: N815

        return Refuse

    def __enter__(self) -> LeakSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


#: Hosts only the browser itself talks to (its component updater, time and safe-browsing
#: services): counted apart, they are not a page's requests.
BROWSER_NOISE = (".google.com", ".googleapis.com", ".gvt1.com", ".gstatic.com", ".googleusercontent.com")


def is_noise(hit: str) -> bool:
    target = hit.split(" ")[1] if " " in hit else hit
    host = (urlsplit(target).hostname if "://" in target else target.rsplit(":", 1)[0]) or ""
    return any(host == h[1:] or host.endswith(h) for h in BROWSER_NOISE)


def chromium_args(sink: int) -> list[str]:
    return [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-sync",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-pings",
        "--disable-default-apps",
        "--disable-domain-reliability",
        "--disable-breakpad",
        "--disable-client-side-phishing-detection",
        f"--proxy-server=http://127.0.0.1:{sink}",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE *.localhost, EXCLUDE 127.0.0.1",
        "--disable-features=NetworkPrediction,Prerender2,OptimizationHints,MediaRouter,Translate,"
        "AutofillServerCommunication,NetworkTimeServiceQuerying,CertificateTransparencyComponentUpdater",
    ]


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("127.0.0.1", "localhost", "::1") or host.endswith(".localhost") or host.startswith("127.")


# ---------------------------------------------------------------------------------------
# Installing the other engines
# ---------------------------------------------------------------------------------------
def ensure_pywb(cache: Path, given: Path | None) -> Path | None:
    """pywb's `wayback` in a virtualenv of its own, installed on first use."""
    if given is not None:
        return given if given.is_file() else None
    venv = cache / "pywb-venv"
    wayback = venv / "bin" / "wayback"
    if wayback.is_file():
        return wayback
    print(f"installing pywb into {venv} (pip, once) ...", file=sys.stderr)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", "pywb"], check=True, capture_output=True, timeout=900
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        out = getattr(exc, "stderr", b"") or b""
        print(
            f"pywb left out: it could not be installed ({out.decode(errors='replace').strip()[-300:]}).\n"
            f"  Online, run: python3 -m venv {venv} && {venv}/bin/pip install pywb",
            file=sys.stderr,
        )
        shutil.rmtree(venv, ignore_errors=True)
        return None
    return wayback


def ensure_rwp(cache: Path, given: Path | None) -> Path | None:
    """The npm package `replaywebpage` (its ui.js and sw.js), installed on first use."""
    if given is not None:
        return given if (given / "sw.js").is_file() else None
    home = cache / "rwp"
    package = home / "node_modules" / "replaywebpage"
    if (package / "sw.js").is_file():
        return package
    npm = shutil.which("npm")
    if npm is None:
        print("ReplayWeb.page left out: npm is not installed (Debian: apt-get install npm).", file=sys.stderr)
        return None
    home.mkdir(parents=True, exist_ok=True)
    (home / "package.json").write_text(
        json.dumps(
            {
                "name": "warcache-compare-rwp",
                "private": True,
                "dependencies": {"replaywebpage": RWP_VERSION},
                # wabac.js asks for warcio ^2.4.12; the registry used here has 2.4.11. Only the
                # prebuilt ui.js and sw.js are used, so the pin changes nothing that runs.
                "overrides": {"warcio": "2.4.11"},
            },
            indent=1,
        )
    )
    print(f"installing replaywebpage {RWP_VERSION} into {home} (npm, once) ...", file=sys.stderr)
    try:
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=home,
            check=True,
            capture_output=True,
            timeout=900,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        out = getattr(exc, "stderr", b"") or b""
        print(
            "ReplayWeb.page left out: npm could not install it "
            f"({out.decode(errors='replace').strip()[-300:]})."
            f"\n  Online, run: cd {home} && npm install",
            file=sys.stderr,
        )
        return None
    return package if (package / "sw.js").is_file() else None


# ---------------------------------------------------------------------------------------
# Capturing once
# ---------------------------------------------------------------------------------------
@dataclass
class Captured:
    root: Path
    urls: dict[tuple[str, str], str]  # (site, path) -> URL
    live: dict[str, list[str]]  # page name -> lines shown live
    stamps: dict[tuple[str, str], str] = field(default_factory=dict)  # (coll, url) -> timestamp


def _lines(text: str) -> list[str]:
    return [ln.strip() for ln in (text or "").splitlines() if ln.strip()]


def capture(work: Path, pages: list[PageKind]) -> Captured:
    """Visit the pages live, capture them with warcache, stop the sites."""
    from playwright.sync_api import sync_playwright

    root = work / "root"
    sites = {"kinds": KindsSite().start(), "app": FixtureSite().start()}
    if any(p.site == "real" for p in pages):
        sites["real"] = real_world_site.RealWorldSite().start()
    try:
        urls = {(p.site, p.path): sites[p.site].url(p.path) for p in pages}
        live: dict[str, list[str]] = {}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=find_browser().executable, args=["--no-sandbox"])
            for page_kind in pages:
                context = browser.new_context(device_scale_factor=page_kind.dpr)
                page = context.new_page()
                page.goto(urls[page_kind.site, page_kind.path])
                if page_kind.click:
                    page.click("h1")
                page.wait_for_function(page_kind.done, timeout=TIMEOUT * 1000)
                live[page_kind.name] = _lines(page.evaluate(f"() => {page_kind.lines}"))
                context.close()
            browser.close()
        new = sorted({urls[p.site, p.path].split("#", 1)[0] for p in pages if p.coll == "default"
                      and p.site != "real"})
        if "real" in sites:
            new += real_world_site.capture_urls(sites["real"])
        run = subprocess.run(
            [sys.executable, "-m", "warcache", "--root", str(root), "add", *new],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        if run.returncode:
            raise SystemExit(f"warcache add failed:\n{run.stderr}")
        old = sorted({urls[p.site, p.path] for p in pages if p.coll == "old"})
        if old:
            outcome = run_captures(
                open_collection(root, "old", create=True),
                CaptureOptions(fetch_extras=False),
                old,
                max_warc_size=1 << 30,
            )
            if not outcome.ok:
                raise SystemExit(
                    f"capture of the old-style collection failed: {[r.error for r in outcome.results]}"
                )
    finally:
        for site in sites.values():
            site.stop()
    captured = Captured(root, urls, live)
    for coll in ("default", "old"):
        for entry in Collection(root, coll).pages():
            captured.stamps[coll, entry.url] = entry.timestamp
    return captured


# ---------------------------------------------------------------------------------------
# The engines
# ---------------------------------------------------------------------------------------
@dataclass
class Run:
    lines: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0


def _replayed_frame(page, done: str):  # noqa: ANN001, ANN202 - Playwright objects
    """The frame, at any depth, that holds the replayed page and has finished."""
    for frame in page.frames:
        with contextlib.suppress(Exception):
            if frame.evaluate(f"() => {done}"):
                return frame
    return None


def _has_heading(page):  # noqa: ANN001, ANN202
    for frame in page.frames:
        with contextlib.suppress(Exception):
            if frame.evaluate("() => !!document.querySelector('h1') && document.readyState !== 'loading'"):
                return frame
    return None


def browse(url: str, kind: PageKind) -> Run:
    """Load `url` in a fresh Chromium behind the leak sink; read the replayed page's lines."""
    from playwright.sync_api import sync_playwright

    run = Run()
    started = time.monotonic()
    with LeakSink() as sink, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=find_browser().executable, args=chromium_args(sink.port))
        context = browser.new_context(device_scale_factor=kind.dpr, service_workers="allow")
        context.on(
            "request",
            lambda r: (
                run.leaks.append(r.url)
                if r.url.startswith(("http:", "https:", "ws:", "wss:")) and not is_loopback(r.url)
                else None
            ),
        )
        page = context.new_page()
        try:
            page.goto(url, wait_until="load", timeout=TIMEOUT * 1000)
            deadline = started + TIMEOUT
            clicked = not kind.click
            frame = None
            while time.monotonic() < deadline:
                if not clicked and (target := _has_heading(page)) is not None:
                    with contextlib.suppress(Exception):
                        target.click("h1", timeout=2000)
                        clicked = True
                frame = _replayed_frame(page, kind.done)
                if frame is not None:
                    break
                page.wait_for_timeout(250)
            if frame is None:
                run.error = "the replayed page did not finish"
                for candidate in page.frames:
                    with contextlib.suppress(Exception):
                        run.lines = run.lines or _lines(candidate.evaluate(f"() => {kind.lines}"))
            else:
                run.lines = _lines(frame.evaluate(f"() => {kind.lines}"))
        except Exception as exc:  # noqa: BLE001 - an engine failing is a result, not a crash
            run.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200]
        finally:
            page.wait_for_timeout(300)
            run.leaks += [h for h in sink.hits if not is_noise(h)]
            browser.close()
    run.seconds = time.monotonic() - started
    return run


def run_open(root: Path, url: str, kind: PageKind) -> Run:
    from warcache.replay.intercept import offline_page

    async def show() -> Run:
        run = Run()
        async with offline_page(root, url, collection=kind.coll, scale=kind.dpr) as shown:
            if "#" in url:  # `open` loads the URL without its fragment: load it again with it
                await shown.page.goto("about:blank")
                await shown.page.goto(url)
            if kind.click:
                with contextlib.suppress(Exception):
                    await shown.page.click("h1", timeout=5000)
            deadline = time.monotonic() + TIMEOUT
            finished = False
            while not finished and time.monotonic() < deadline:
                with contextlib.suppress(Exception):  # a navigation replaced the page: look again
                    finished = bool(await shown.page.evaluate(f"() => {kind.done}"))
                if not finished:
                    await asyncio.sleep(0.25)
            if not finished:
                run.error = "the replayed page did not finish"
            with contextlib.suppress(Exception):
                run.lines = _lines(await shown.page.evaluate(f"() => {kind.lines}"))
            run.leaks = list(shown.result.refused)  # refused, never sent: listed as misses, not leaks
        return run

    started = time.monotonic()
    run = asyncio.run(show())
    run.seconds = time.monotonic() - started
    run.leaks = []  # `open` refuses what is not archived; nothing can leave (see intercept.py)
    return run


PYWB_CONFIG = "collections_root: collections\nframed_replay: true\nenable_memento: true\n"


def start_pywb(wayback: Path, work: Path, captured: Captured) -> tuple[subprocess.Popen, int]:
    """A pywb root holding copies of warcache's WARCs, indexed by pywb itself."""
    root = work / "pywb-root"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    (root / "config.yaml").write_text(PYWB_CONFIG)
    manager = wayback.with_name("wb-manager")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    for coll in ("default", "old"):
        warcs = Collection(captured.root, coll).warc_files()
        if not warcs:
            continue
        for args in (["init", coll], ["add", coll, *map(str, warcs)]):
            done = subprocess.run([str(manager), *args], cwd=root, env=env, capture_output=True, text=True)
            if done.returncode:
                raise RuntimeError(f"wb-manager {args[0]} failed: {done.stderr.strip()[-300:]}")
    port = free_port()
    log = open(work / "pywb.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(
        [str(wayback), "-b", "127.0.0.1", "-p", str(port), "-t", "8", "-d", str(root)],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_port(port, proc)
    return proc, port


EMBED = """<!doctype html>
<html><head><meta charset="utf-8"><title>ReplayWeb.page</title><script src="/ui.js"></script>
<style>html, body {{ margin: 0; height: 100%; }} replay-web-page {{ display: block; height: 100vh; }}</style>
</head><body>
<replay-web-page source="{source}" url="{url}" ts="{ts}" replaybase="/replay/" embed="replayonly">
</replay-web-page></body></html>
"""


def start_rwp(package: Path, data: Path) -> tuple[ThreadingHTTPServer, int]:
    """A static server for ReplayWeb.page: the embed page, ui.js and sw.js, and the WACZ files.

    The service worker (scope /replay/) serves /replay/index.html itself, which loads ./ui.js:
    so ui.js is served under /replay/ too.  wabac.js reads a WACZ by byte ranges, so HEAD and
    single ranges are answered.
    """

    class Static(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:  # noqa: N802
            self._serve(head=True)

        def do_GET(self) -> None:  # noqa: N802
            self._serve(head=False)

        def handle(self) -> None:
            with contextlib.suppress(ConnectionError):  # the service worker gave up a range read
                super().handle()

        def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str], head: bool) -> None:
            self.send_response(status)
            for name, value in {
                "Content-Type": ctype,
                "Content-Length": str(len(body)),
                "Cache-Control": "no-store",
                **extra,
            }.items():
                self.send_header(name, value)
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _serve(self, head: bool) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/embed.html":
                q = {k: v[0] for k, v in parse_qs(parts.query).items()}
                page = EMBED.format(
                    source=html.escape(q.get("source", "")),
                    url=html.escape(q.get("url", "")),
                    ts=html.escape(q.get("ts", "")),
                )
                return self._send(200, page.encode(), "text/html; charset=utf-8", {}, head)
            files = {
                "/ui.js": package / "ui.js",
                "/replay/ui.js": package / "ui.js",
                "/replay/sw.js": package / "sw.js",
            }
            path = files.get(parts.path)
            if path is None and parts.path.startswith("/data/"):
                candidate = (data / unquote(parts.path[6:])).resolve()
                path = candidate if candidate.parent == data.resolve() and candidate.is_file() else None
            if path is None:
                return self._send(404, b"not found\n", "text/plain", {}, head)
            ctype = (
                "text/javascript"
                if path.suffix == ".js"
                else (mimetypes.guess_type(path.name)[0] or "application/octet-stream")
            )
            extra = {"Accept-Ranges": "bytes"}
            if path.name == "sw.js":
                extra["Service-Worker-Allowed"] = "/replay/"
            body = path.read_bytes()
            match = re.fullmatch(r"bytes=(\d*)-(\d*)", (self.headers.get("Range") or "").strip())
            if match and (match.group(1) or match.group(2)):
                size = len(body)
                if match.group(1):
                    start = int(match.group(1))
                    end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
                else:
                    start, end = max(0, size - int(match.group(2))), size - 1
                if start >= size or start > end:
                    return self._send(416, b"", ctype, {"Content-Range": f"bytes */{size}"}, head)
                extra["Content-Range"] = f"bytes {start}-{end}/{size}"
                return self._send(206, body[start : end + 1], ctype, extra, head)
            return self._send(200, body, ctype, extra, head)

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Static)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, port


# ---------------------------------------------------------------------------------------
# Scoring and the table
# ---------------------------------------------------------------------------------------
def score(live: list[str], replayed: list[str]) -> int:
    """How many of the lines shown live the replay shows (each line counted once per time shown)."""
    left = Counter(replayed)
    hits = 0
    for line in live:
        if left[line] > 0:
            left[line] -= 1
            hits += 1
    return hits


def table(
    pages: list[PageKind],
    captured: Captured,
    runs: dict[tuple[str, str], Run],
    engines: list[str],
    markdown: bool,
) -> str:
    head = ["page", "checks"] + [ENGINE_NAMES[e] for e in engines]
    rows = []
    totals = Counter()
    for kind in pages:
        live = captured.live[kind.name]
        row = [kind.title, str(len(live))]
        totals["checks"] += len(live)
        for engine in engines:
            run = runs.get((engine, kind.name))
            if run is None:
                row.append("-")
                continue
            got = score(live, run.lines)
            totals[engine] += got
            row.append(f"{got}/{len(live)}" + (" !" if run.leaks else ""))
        rows.append(row)
    rows.append(
        ["**total**" if markdown else "total", str(totals["checks"])]
        + [f"{totals[e]}/{totals['checks']}" for e in engines]
    )
    leaks = ["requests leaving 127.0.0.1", ""] + [
        str(sum(len(runs[e, k.name].leaks) for k in pages if (e, k.name) in runs)) for e in engines
    ]
    rows.append(leaks)
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [head, *rows])


# ---------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--engines", default=",".join(ENGINES), help=f"comma-separated, of {', '.join(ENGINES)}"
    )
    parser.add_argument(
        "--pages",
        default="",
        help="comma-separated page names (default: all): " + ", ".join(p.name for p in PAGES),
    )
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where pywb and ReplayWeb.page go")
    parser.add_argument("--pywb", type=Path, help="an installed pywb `wayback` to use instead")
    parser.add_argument(
        "--rwp", type=Path, help="an installed node_modules/replaywebpage directory to use instead"
    )
    parser.add_argument(
        "--work", type=Path, help="keep the captures and logs here (default: a temporary dir)"
    )
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each replay's lines and leaks")
    args = parser.parse_args()
    engines = [e for e in args.engines.split(",") if e]
    unknown = set(engines) - set(ENGINES)
    if unknown:
        parser.error(f"unknown engines: {', '.join(sorted(unknown))}")
    wanted = set(args.pages.split(",")) - {""}
    pages = [p for p in PAGES if not wanted or p.name in wanted]
    if not pages:
        parser.error("no such pages")

    args.cache.mkdir(parents=True, exist_ok=True)
    wayback = ensure_pywb(args.cache, args.pywb) if "pywb" in engines else None
    package = ensure_rwp(args.cache, args.rwp) if "rwp" in engines else None
    engines = [e for e in engines if (e != "pywb" or wayback) and (e != "rwp" or package)]
    if not engines:
        print("nothing to compare: no engine is available", file=sys.stderr)
        return 1

    with contextlib.ExitStack() as stack:
        work = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="compare-replay-")))
        work.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        captured = capture(work, pages)
        print(
            f"captured {len(captured.urls)} pages in {time.monotonic() - started:.0f} s; sites stopped",
            file=sys.stderr,
        )
        runs: dict[tuple[str, str], Run] = {}

        def target(kind: PageKind) -> tuple[str, str]:
            url = captured.urls[kind.site, kind.path]
            return url, captured.stamps.get((kind.coll, url.split("#", 1)[0]), "")

        if "warcache" in engines:
            from warcache.replay import start_server

            server = stack.enter_context(start_server(captured.root))
            for kind in pages:
                url, ts = target(kind)
                runs["warcache", kind.name] = browse(
                    f"{server.replay_url_for(kind.coll)}{kind.coll}/{ts}/{url}", kind
                )
        if "open" in engines:
            for kind in pages:
                runs["open", kind.name] = run_open(captured.root, target(kind)[0], kind)
        if "pywb" in engines and wayback is not None:
            proc, port = start_pywb(wayback, work, captured)
            stack.callback(stop, proc)
            for kind in pages:
                url, ts = target(kind)
                runs["pywb", kind.name] = browse(f"http://127.0.0.1:{port}/{kind.coll}/{ts}/{url}", kind)
        if "rwp" in engines and package is not None:
            data = work / "wacz"
            data.mkdir(exist_ok=True)
            for coll in sorted({k.coll for k in pages}):
                done = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "warcache",
                        "--root",
                        str(captured.root),
                        "export",
                        "wacz",
                        "-c",
                        coll,
                        str(data / f"{coll}.wacz"),
                    ],
                    capture_output=True,
                    text=True,
                )
                if done.returncode:
                    raise SystemExit(f"warcache export wacz failed: {done.stderr}")
            static, port = start_rwp(package, data)
            stack.callback(static.shutdown)
            for kind in pages:
                url, ts = target(kind)
                embed = (
                    f"http://127.0.0.1:{port}/embed.html?source={quote(f'/data/{kind.coll}.wacz')}"
                    f"&url={quote(url, safe='')}&ts={ts}"
                )
                runs["rwp", kind.name] = browse(embed, kind)
        if args.verbose:
            for (engine, name), run in sorted(runs.items()):
                print(
                    f"--- {engine} {name} ({run.seconds:.1f} s) error={run.error} leaks={run.leaks}",
                    file=sys.stderr,
                )
                for line in run.lines:
                    print(f"    {line}", file=sys.stderr)
        print(table(pages, captured, runs, engines, args.markdown))
        if wayback is not None:
            version = subprocess.run(
                [str(wayback.with_name("python")), "-c", "import pywb; print(pywb.__version__)"],
                capture_output=True,
                text=True,
            )
            print(f"\npywb {version.stdout.strip()}", end="")
        if package is not None:
            meta = json.loads((package / "package.json").read_text())
            print(f"; ReplayWeb.page {meta.get('version')}", end="")
        print(f"; Chromium {find_browser().executable}; {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
