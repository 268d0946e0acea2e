"""Replays in a real browser, offline: the session's shared capture of the fixture site (made
with the real CLI), compared with a screenshot of the live page.

Both ways of looking at a capture are tested: the rewriting replay server and `warcache open`
(request interception, no rewriting).  Every request the browser makes during a replay is
recorded; not one may go anywhere but the replay server (the fixture site is still running for
other tests, so a request that reached it would be seen here and fail the test), and `open`
answers every request itself, refusing what is not archived.
"""

from __future__ import annotations

import asyncio
import io
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fixture_site import MARKERS
from PIL import Image, ImageChops
from playwright.sync_api import sync_playwright

from warcache.chromium import find_browser, launch_args
from warcache.errors import UsageError
from warcache.replay import start_server
from warcache.replay.intercept import offline_page, open_capture

pytestmark = [pytest.mark.browser]

VIEWPORT = {"width": 1280, "height": 800}
#: What the main page shows once its scripts ran (markers from separate responses).
SHOWN = ("article", "cross_json", "cross_script", "module", "echo", "xhr", "chunked", "missing", "broken")
# The order in which responses arrive decides the order of the paragraphs the page appends: sort
# them the same way on both sides before comparing pictures (the content is what is compared).
NORMALIZE = """() => {
  for (const id of ["app", "status"]) {
    const el = document.getElementById(id);
    [...el.children].sort((a, b) => (a.id || a.tagName).localeCompare(b.id || b.tagName) ||
      a.textContent.localeCompare(b.textContent)).forEach((c) => el.appendChild(c));
  }
  window.scrollTo(0, 0);
}"""
READY = "() => document.documentElement.dataset.fixture === 'ready'"
MAX_DIFFERENT = 0.002  # share of pixels allowed to differ between live and replay


def _pixels_differing(a: bytes, b: bytes) -> float:
    one, two = Image.open(io.BytesIO(a)).convert("RGB"), Image.open(io.BytesIO(b)).convert("RGB")
    assert one.size == two.size
    diff = ImageChops.difference(one, two).convert("L").point(lambda v: 255 if v > 24 else 0)
    return diff.histogram()[255] / (one.size[0] * one.size[1])


def _settle(page) -> None:
    page.wait_for_function(READY, timeout=15000)
    page.wait_for_function("() => document.fonts.status === 'loaded'", timeout=5000)
    page.evaluate(NORMALIZE)
    page.wait_for_timeout(200)


def _scroll_to_end(page) -> None:
    for _ in range(40):
        if page.evaluate("document.documentElement.dataset.morePages") == "3":
            break
        page.mouse.wheel(0, 4000)
        page.wait_for_timeout(150)


@pytest.fixture(scope="module")
def captured(shared_capture):
    """(root, urls, live screenshot): the shared capture, and the live page as it looks."""
    site = shared_capture.site
    assert shared_capture.run.code == 0, shared_capture.run.stderr
    urls = {
        "main": site.url("/"),
        "redirect": site.url("/redirect"),
        "worker": site.url("/worker.html"),
        "other": site.other_url("/"),
    }
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=find_browser().executable, args=launch_args())
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(urls["main"])
        _settle(page)
        live = page.screenshot()
        browser.close()
    return shared_capture.root, urls, live


@pytest.fixture(scope="module")
def server(captured):
    root, _, _ = captured
    with start_server(root) as running:
        yield running


@pytest.fixture
def browser_page():
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=find_browser().executable, args=launch_args())
        context = browser.new_context(viewport=VIEWPORT)
        # Anything the rewriting missed would be blocked by the policy: count those too.
        context.add_init_script(
            "window.__violations = []; document.addEventListener("
            "'securitypolicyviolation', (e) => window.__violations.push(e.blockedURI));"
        )
        requests: list[str] = []
        context.on("request", lambda r: requests.append(r.url))
        yield context.new_page(), requests
        browser.close()


def _on_replay_server(url: str, server) -> bool:
    """True for the listing, the collection's host and its session hosts (see origins.py)."""
    parts, home = urlsplit(url), urlsplit(server.replay_url_for("default"))
    if parts.netloc in (urlsplit(server.ui_url).netloc, home.netloc):
        return True
    return parts.port == home.port and (parts.hostname or "").endswith("." + home.hostname)


def _session_stamp(url: str) -> str:
    """The capture time a session host replays (`<host>.<ts><s|h>[port].default.localhost`)."""
    match = re.search(r"\.(\d{14})[sh]\d*\.default\.localhost$", urlsplit(url).hostname or "")
    assert match, url
    return match.group(1)


def _only_replay_server(requests: list[str], server) -> None:
    assert requests
    strays = [
        u
        for u in requests
        if urlsplit(u).scheme in ("http", "https", "ws", "wss") and not _on_replay_server(u, server)
    ]
    assert strays == [], f"requests left the replay server: {strays}"
    assert all(urlsplit(u).scheme in ("http", "data", "blob") for u in requests), requests


# ---------------------------------------------------------------------------------------
# The rewriting replay server
# ---------------------------------------------------------------------------------------
def test_js_app_replays_offline_from_the_server_only(captured, server, browser_page):
    _, urls, _ = captured
    page, requests = browser_page
    page.goto(f"{server.replay_url_for('default')}default/{urls['main']}")
    page.wait_for_function(READY, timeout=15000)
    text = page.inner_text("body")
    for key in SHOWN:
        assert MARKERS[key] in text, key
    assert page.evaluate("document.getElementById('crossimg').naturalWidth") == 16  # cross-origin image
    frame = page.frame_locator("#frame")
    assert MARKERS["frame"] in frame.locator("body").inner_text()
    _scroll_to_end(page)
    page.wait_for_function("document.getElementById('lazyimg').naturalWidth === 32", timeout=10000)
    text = page.inner_text("body")
    for key in ("more1", "more2", "more3"):
        assert MARKERS[key] in text, key
    # The page was sent to the session host of the capture's exact time, with its original
    # path, and runs at the capture's time.
    stamp = _session_stamp(page.url)
    assert urlsplit(page.url).path == urlsplit(urls["main"]).path
    assert page.evaluate("new Date().getUTCFullYear()") == int(stamp[:4])
    assert (
        page.evaluate("Date.now()") // 1000
        - int(time.mktime(time.strptime(stamp, "%Y%m%d%H%M%S")) - time.timezone)
        < 120
    )
    _only_replay_server(requests, server)
    assert page.evaluate("window.__violations") == []  # nothing was missed and blocked


def test_replay_looks_like_the_live_page(captured, server, browser_page):
    _, urls, live = captured
    page, _ = browser_page
    page.goto(f"{server.replay_url_for('default')}default/{urls['main']}")
    _settle(page)
    assert _pixels_differing(live, page.screenshot()) < MAX_DIFFERENT


def test_redirect_chain_replays(captured, server, browser_page):
    _, urls, _ = captured
    page, requests = browser_page
    page.goto(f"{server.replay_url_for('default')}default/{urls['redirect']}")
    assert page.url.endswith("/final.html")
    assert MARKERS["final"] in page.inner_text("body")
    _only_replay_server(requests, server)


def test_a_replay_url_on_the_shared_host_leads_to_the_collection_host(captured, server, browser_page):
    """Links made before collections had their own host names (127.0.0.1:<port>/<coll>/...)
    still work: the browser is sent to <coll>.localhost, and from there to the page's session
    host, <host>.<ts><s|h>[port].default.localhost, which Chromium resolves itself."""
    _, urls, _ = captured
    page, requests = browser_page
    page.goto(f"{server.replay_url}default/{urls['redirect']}")
    assert urlsplit(page.url).hostname.endswith(".default.localhost")
    assert urlsplit(page.url).path == "/final.html"
    assert MARKERS["final"] in page.inner_text("body")
    assert any(urlsplit(u).hostname == "default.localhost" for u in requests)  # by the collection's host
    strays = [u for u in requests
              if urlsplit(u).hostname != "127.0.0.1" and not _on_replay_server(u, server)]
    assert strays == []


def test_worker_fetches_replay(captured, server, browser_page):
    _, urls, _ = captured
    page, requests = browser_page
    page.goto(f"{server.replay_url_for('default')}default/{urls['worker']}")
    page.wait_for_function(READY, timeout=10000)
    assert MARKERS["worker"] in page.inner_text("#out")
    _only_replay_server(requests, server)


def test_unarchived_url_gives_a_not_archived_page(captured, server, browser_page):
    _, urls, _ = captured
    page, requests = browser_page
    response = page.goto(f"{server.replay_url_for('default')}default/{urls['other']}never-captured")
    assert response.status == 404
    assert "Not archived" in page.inner_text("h1")
    _only_replay_server(requests, server)


def test_archived_page_cannot_script_the_listing(captured, server, browser_page):
    _, urls, _ = captured
    page, _ = browser_page
    page.goto(f"{server.replay_url_for('default')}default/{urls['main']}")
    page.wait_for_function(READY, timeout=15000)
    # The listing is another origin: a replayed page can neither read it nor frame it, even
    # with the browser's own functions (taken from a fresh frame, untouched by the client).
    read = page.evaluate(
        """(url) => {
        const blank = document.createElement("iframe");
        document.body.appendChild(blank);
        return blank.contentWindow.fetch(url).then((r) => r.text()).then((t) => t, () => "blocked");
    }""",
        server.ui_url + "default/",
    )
    assert read == "blocked"
    framed = page.evaluate(
        """(url) => new Promise((resolve) => {
        const blank = document.createElement("iframe");
        document.body.appendChild(blank);
        const win = blank.contentWindow;
        const f = win.document.createElement("iframe");
        f.onload = () => { try { resolve(f.contentDocument.body.innerText || "blocked"); }
                           catch (e) { resolve("blocked"); } };
        win.document.body.appendChild(f);
        Object.getOwnPropertyDescriptor(win.HTMLIFrameElement.prototype, "src").set.call(f, url);
        setTimeout(() => resolve("blocked"), 3000);
    })""",
        server.ui_url + "default/",
    )
    assert "Pages in default" not in framed


# ---------------------------------------------------------------------------------------
# warcache open: request interception, no rewriting
# ---------------------------------------------------------------------------------------
def _open(root: Path, url: str, check):
    async def run():
        async with offline_page(root, url) as shown:
            requests: list[str] = []
            shown.page.on("request", lambda r: requests.append(r.url))
            return await check(shown.page, shown.result, requests)

    return asyncio.run(run())


def test_open_runs_the_page_on_its_origin_from_the_archive(captured):
    root, urls, live = captured

    async def check(page, result, requests):
        await page.wait_for_function(READY, timeout=15000)
        text = await page.inner_text("body")
        assert page.url == urls["main"]  # the original URL: nothing rewritten
        for key in SHOWN:
            assert MARKERS[key] in text, key
        assert MARKERS["frame"] in await page.frame_locator("#frame").locator("body").inner_text()
        for _ in range(40):
            if await page.evaluate("document.documentElement.dataset.morePages") == "3":
                break
            await page.mouse.wheel(0, 4000)
            await page.wait_for_timeout(150)
        await page.wait_for_function("document.getElementById('lazyimg').naturalWidth === 32", timeout=10000)
        assert MARKERS["more3"] in await page.inner_text("body")
        await page.evaluate(NORMALIZE)
        await page.wait_for_timeout(200)
        shot = await page.screenshot()
        return result, shot

    result, shot = _open(captured[0], urls["main"], check)
    assert result.served >= 20 and result.refused == []
    assert _pixels_differing(live, shot) < MAX_DIFFERENT


def test_open_refuses_what_is_not_archived(captured):
    root, urls, _ = captured

    async def check(page, result, requests):
        status = await page.evaluate(
            "(u) => fetch(u).then((r) => 'answered ' + r.status, () => 'refused')",
            urls["other"] + "api/never",
        )
        return status, result

    status, result = _open(root, urls["main"], check)
    assert status == "refused"
    assert urls["other"] + "api/never" in result.refused


def test_open_saves_a_screenshot_and_needs_a_display_otherwise(captured, tmp_path, monkeypatch):
    root, urls, _ = captured
    out = tmp_path / "shot.png"
    result = open_capture(root, urls["redirect"], screenshot=out)
    assert out.read_bytes().startswith(b"\x89PNG") and result.refused == []
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(UsageError, match="--screenshot"):
        open_capture(root, urls["main"])
    with pytest.raises(UsageError, match="not archived"):
        open_capture(root, urls["other"] + "never", screenshot=out)
