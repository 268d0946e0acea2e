"""Archive from the browser: the 'Archive a URL' form, its capture queue and its guards.

A real replay server with the real capture function (`warcache replay` builds the same) and
a real Chromium: the form captures a page of the fixture site and shows its progress; replayed
pages (on the collection host and on a session host) and a page of another local origin try
every way to start a capture, with and without the form's token, and none may.
"""

from __future__ import annotations

import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright
from werkzeug.test import Client

from warcache.chromium import find_browser, launch_args
from warcache.manage.browser_add import capture_function
from warcache.replay import make_app, start_server
from warcache.replay.adding import ADD_PATH, Adder

pytestmark = [pytest.mark.browser]

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(scope="module")
def root(shared_capture, tmp_path_factory):
    assert shared_capture.run.code == 0, shared_capture.run.stderr
    return shared_capture.copy(tmp_path_factory.mktemp("add"))


@pytest.fixture(scope="module")
def server(root, browser_path):
    adder = Adder(capture_function(root, browser_path=browser_path))
    with start_server(root, adder=adder) as running:
        yield running


@pytest.fixture
def browser():
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=find_browser().executable, args=launch_args())
        yield chromium
        chromium.close()


def _jobs(server) -> int:
    return len(server.app.adder.queue.jobs)


def test_the_form_captures_a_page_and_shows_its_progress(server, root, shared_capture, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(server.ui_url + "default/")
    page.locator("a.add").click()
    page.wait_for_url(f"**{ADD_PATH}")
    url = shared_capture.site.url("/final.html") + "?from=form"
    page.fill("input[name=url]", url)
    page.fill("input[name=tags]", "inbox later")
    before = _jobs(server)
    with page.expect_response(lambda r: r.request.method == "POST" and ADD_PATH in r.url) as posted:
        page.locator("form.add-form button").click()
    assert posted.value.status == 303
    assert _jobs(server) == before + 1
    # The page refreshes itself while the capture runs: wait for it to say done.
    states = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            state = page.locator("#jobs tr.job td").first.inner_text(timeout=5000)
        except PlaywrightError:  # the page was reloading
            continue
        if not states or states[-1] != state:
            states.append(state)
        if state not in ("queued", "running"):
            break
        time.sleep(0.3)
    assert states[-1] == "done" and "running" in states, states  # progress was seen as it went
    row = page.locator("#jobs tr.job").first
    assert row.locator("td").first.inner_text() == "done", row.inner_text()
    assert "captured" in row.inner_text()
    shots = DOCS if os.environ.get("WARCACHE_UPDATE_DOCS") else tmp_path  # see test_wayback_ui
    shots.mkdir(exist_ok=True)
    page.screenshot(path=str(shots / "wayback-add.png"))
    # The capture is in the archive, listed and tagged.
    page.goto(server.ui_url + "default/?q=tag:inbox")
    assert url in page.locator("ul.pages").inner_text()
    assert page.locator("a.bookmarklet").count() == 0  # (the form page has it, not the list)
    page.goto(server.ui_url + ADD_PATH.lstrip("/"))
    href = page.locator("a.bookmarklet").get_attribute("href")
    assert href.startswith("javascript:location.href='" + server.ui_url.rstrip("/") + ADD_PATH + "?url='")


class _Evil(BaseHTTPRequestHandler):
    """A page of another origin that tries to start captures (with the leaked token)."""

    html = b""

    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.html)))
        self.end_headers()
        self.wfile.write(self.html)

    def log_message(self, *args):
        pass


def _attack(listing: str, token: str, target: str = "evil") -> str:
    """Script trying a form POST (into a frame), a no-cors fetch POST, and an image GET."""
    return f"""
      const listing = {listing!r}, token = {token!r};
      const frame = document.createElement('iframe'); frame.name = 'sink'; document.body.appendChild(frame);
      const form = document.createElement('form');
      form.method = 'POST'; form.action = listing + '/_warcache/add'; form.target = 'sink';
      for (const [k, v] of [['url', 'http://127.0.0.1:9/{target}-form'], ['coll', 'default'],
                            ['token', token]]) {{
        const input = document.createElement('input');
        input.name = k; input.value = v; form.appendChild(input);
      }}
      document.body.appendChild(form); form.submit();
      const body = new URLSearchParams({{url: 'http://127.0.0.1:9/{target}-fetch', coll: 'default', token}});
      fetch(listing + '/_warcache/add', {{method: 'POST', mode: 'no-cors', body}}).catch(() => {{}});
      fetch(location.origin + '/_warcache/add', {{method: 'POST', body}}).catch(() => {{}});
      new Image().src = listing + '/_warcache/add?url=http://127.0.0.1:9/{target}-img&token=' + token;
    """


def test_no_other_origin_can_start_a_capture(server, browser):
    token = server.app.adder.token
    listing = server.ui_url.rstrip("/")
    port = urlsplit(server.ui_url).port
    _Evil.html = (f"<!doctype html><body><script>{_attack(listing, token)}</script></body>").encode()
    evil = ThreadingHTTPServer(("127.0.0.1", 0), _Evil)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    seen: list[tuple[str, int]] = []
    try:
        page = browser.new_page()
        page.on("response", lambda r: seen.append((r.url, r.status))
                if ADD_PATH in r.url and r.request.method == "POST" else None)
        before = _jobs(server)
        page.goto(f"http://127.0.0.1:{evil.server_port}/")
        page.wait_for_timeout(2000)
        assert _jobs(server) == before
        posted = [s for u, s in seen if urlsplit(u).port == port]
        assert posted and all(s == 403 for s in posted), seen  # the server saw them, and refused
    finally:
        evil.shutdown()


def test_no_replayed_page_can_start_a_capture(server, root, shared_capture, browser):
    token = server.app.adder.token
    listing = server.ui_url.rstrip("/")
    page = browser.new_page()
    before = _jobs(server)
    final = shared_capture.site.url("/final.html")
    from warcache.collection import Collection

    ts = next(e.timestamp for e in Collection(root, "default").pages() if e.url == final)
    # A session host (the page on its own original origin's host) ...
    page.goto(server.replay_url_for("default") + f"default/{ts}/{final}")
    assert urlsplit(page.url).hostname.endswith(".default.localhost")
    page.evaluate(f"() => {{ {_attack(listing, token, 'session')} }}")
    page.wait_for_timeout(1500)
    # ... and the collection's own host (what a replayed page's shared-origin script would be).
    page.goto(server.replay_url_for("default") + "_warcache/static/client.js")
    page.evaluate(f"() => {{ document.body.innerHTML = ''; {_attack(listing, token, 'coll')} }}")
    page.wait_for_timeout(1500)
    # And the banner's frame: the replay in it cannot reach its parent's form either.
    page.goto(f"{listing}/default/{ts}/{final}")
    page.frame_locator("#wb-frame").locator("body").wait_for()
    page.frames[1].evaluate(f"() => {{ {_attack(listing, token, 'framed')} }}")
    page.wait_for_timeout(1500)
    assert _jobs(server) == before


def test_the_replay_origins_have_no_add_endpoint(server):
    client = Client(server.app)
    token = server.app.adder.token
    replay = urlsplit(server.replay_url_for("default"))
    for host in (replay.netloc, f"127.0.0.1.0s9.default.localhost:{replay.port}"):
        r = client.post(ADD_PATH, base_url=f"http://{host}",
                        data={"url": "http://127.0.0.1:9/x", "token": token},
                        headers={"Origin": f"http://{host}"},
                        environ_overrides={"SERVER_PORT": str(replay.port), "REMOTE_ADDR": "127.0.0.1"})
        assert r.status_code in (403, 404, 421)
        assert b"Archive a URL" not in r.get_data()


def test_form_and_endpoint_are_for_this_machine_unless_allowed(tmp_path):
    calls = []
    adder = Adder(lambda *a: calls.append(a) or "ok")
    client = Client(make_app(tmp_path, ui_port=18080, replay_port=18081, adder=adder))
    base = "http://127.0.0.1:18080"
    near, far = {"REMOTE_ADDR": "127.0.0.1"}, {"REMOTE_ADDR": "192.0.2.7"}
    form = {"url": "http://127.0.0.1:9/x", "token": adder.token, "coll": "default"}

    def post(data=form, origin=base, who=near, **headers):
        if origin:
            headers["Origin"] = origin
        return client.post(ADD_PATH, base_url=base, data=data, headers=headers, environ_overrides=who)

    assert client.get(ADD_PATH, base_url=base, environ_overrides=near).status_code == 200
    assert client.get(ADD_PATH, base_url=base, environ_overrides=far).status_code == 403
    assert post(who=far).status_code == 403
    # Same machine: the Origin and the token are both needed, and a GET never captures.
    assert post(origin=None).status_code == 403
    assert post(origin="http://127.0.0.1:18081").status_code == 403
    assert post(data={**form, "token": "x"}).status_code == 403
    assert post(**{"Sec-Fetch-Site": "cross-site"}).status_code == 403
    r = client.get(f"{ADD_PATH}?url=http://127.0.0.1:9/y&token={adder.token}", base_url=base,
                   environ_overrides=near)
    assert r.status_code == 200
    assert adder.queue.jobs == []
    r = post(**{"Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 303 and len(adder.queue.jobs) == 1
    assert adder.queue.wait(10) and calls and calls[0][:2] == ("default", "http://127.0.0.1:9/x")
    # --allow-add-from names another host: it may add too.
    allowed = Adder(lambda *a: "ok", allow_from=["192.0.2.7"])
    client = Client(make_app(tmp_path, ui_port=18080, replay_port=18081, adder=allowed))
    assert client.get(ADD_PATH, base_url=base, environ_overrides=far).status_code == 200
    assert post(data={**form, "token": allowed.token}, who=far).status_code == 303
    adder.close()
    allowed.close()
