"""Security: what capture refuses, what a captured page cannot make the browser do, and what the
replay server refuses or escapes, each tried. (tests/test_replay_server.py and test_replay_browser.py
hold more replay points: traversal in index entries, encoded paths, the Host check, an archived page
scripting the listing in a real browser.)"""

from __future__ import annotations

import contextlib
import re
import socket
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import run_cli
from hostile_site import HostileSite
from warc_helpers import read_collection, write_responses
from werkzeug.test import Client

from warcache.errors import UsageError
from warcache.replay import make_app
from warcache.replay.server import start_server
from warcache.urls import normalize_url

pytestmark = [pytest.mark.browser]

UI, REPLAY = "http://127.0.0.1:18080", "http://127.0.0.1:18081"
XSS = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(1)</script>"


# -- capture ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["file:///etc/passwd", "chrome://settings", "view-source:http://a.test/",
                                 "data:text/html,<p>x</p>", "javascript:alert(1)", "about:blank",
                                 "blob:http://a.test/1", "chrome-extension://abc/x.html", "FILE:///etc/passwd"])
def test_capture_refuses_local_schemes(url):
    with pytest.raises(UsageError, match="refusing"):
        normalize_url(url)


def test_a_page_cannot_make_the_capture_browser_read_local_files(tmp_path, browser_path):
    """The page puts file:// and chrome:// URLs in frames and images, fetches and opens them, and
    redirects to file://: Chromium refuses each, so nothing local is recorded."""
    secret = Path("/etc/passwd").read_bytes()[:40]
    assert secret
    with HostileSite() as site:
        run = run_cli("add", "--idle-timeout", "2", "--no-scroll", site.url("/local-files.html"),
                      site.url("/redirect-to-file"), root=tmp_path)
    assert "Traceback" not in run.stderr
    records = read_collection(tmp_path / "collections" / "default" / "archive")
    assert records
    for record in records:
        assert secret not in record.payload and secret not in record.content, record.uri
        assert not record.uri.startswith(("file:", "chrome:", "view-source:")), record.uri
    # the redirect itself is archived; the browser did not follow it to the file
    assert any(r.uri == site.url("/redirect-to-file") for r in records if r.type == "response")


# -- replay: escaping ---------------------------------------------------------------------------------

EVIL_URL = f'http://evil.test/p?q="><script>alert(1)</script>&x={quote(XSS)}'


@pytest.fixture(scope="module")
def evil_root(tmp_path_factory) -> Path:
    """A collection whose page has markup in its title, its URL and its text (imported, so that
    the full-text index and its snippets are the real ones)."""
    base = tmp_path_factory.mktemp("evil")
    body = (f"<html><head><title>{XSS}</title></head><body><article><h1>{XSS}</h1>"
            f"<p>Words about alerts: &lt;script&gt;alert(1)&lt;/script&gt; {XSS.replace('<', '&lt;')} and "
            "more words to make an article of it, about the payload and how it is shown.</p>"
            "</article></body></html>").encode()
    warc = write_responses(base / "evil.warc.gz", [(EVIL_URL, body, [("Content-Type", "text/html")])])
    for coll in ("evil", "other"):
        run = run_cli("import", "-c", coll, str(warc), root=base / "root")
        assert run.code == 0, run.stderr
    return base / "root"


def test_archived_markup_is_escaped_in_every_page_the_server_renders(evil_root):
    client = Client(make_app(evil_root, ui_port=18080, replay_port=18081))
    quoted = quote(EVIL_URL, safe=":/?=&%")
    pages = {
        "collections": (UI, "/"),
        "listing": (UI, "/evil/"),
        "search": (UI, "/evil/?q=alert"),
        "search echoing the query": (UI, f"/evil/?q={quote(XSS)}"),
        "captures": (UI, f"/evil/*/{quoted}"),
        "reader": (UI, f"/_warcache/reader/evil/20240517100000/{quoted}"),
        "not found": (UI, f"/nosuch/{quote(SCRIPT)}"),
        "not archived": ("http://evil.localhost:18081", f"/evil/20240517100000/http://evil.test/{quote(SCRIPT)}"),
        "bad page number": (UI, "/evil/?page=%3Cscript%3E"),
    }
    for name, (base, path) in pages.items():
        response = client.get(path, base_url=base, headers={"Sec-Fetch-Dest": "document",
                                                             "Sec-Fetch-Mode": "navigate"})
        html = response.get_data(as_text=True)
        assert response.status_code < 500, (name, response.status_code)
        assert XSS not in html and SCRIPT not in html, name
        assert not re.search(r"<script\b", html, re.I), name  # the server's own pages run no script
        policy = response.headers.get("Content-Security-Policy", "")
        assert policy.startswith("default-src 'none'"), (name, policy)
    search = client.get("/evil/?q=alert", base_url=UI).get_data(as_text=True)
    assert "&lt;img src=x onerror=alert(1)&gt;" in search  # shown, as text


def test_ui_pages_can_be_neither_read_nor_framed_by_replayed_pages(evil_root):
    """The UI origin (another port) sends no CORS permission and forbids framing, so a replayed
    page's script cannot read or frame it (tried in a browser in test_replay_browser.py)."""
    client = Client(make_app(evil_root, ui_port=18080, replay_port=18081))
    headers = {"Origin": REPLAY, "Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "cors",
               "Referer": f"{REPLAY}/evil/20240517100000/{EVIL_URL}"}
    for path in ("/", "/evil/", "/evil/?q=alert", f"/evil/*/{quote(EVIL_URL, safe=':/?=&%')}"):
        response = client.get(path, base_url=UI, headers=headers)
        assert "Access-Control-Allow-Origin" not in response.headers, path
        assert response.headers.get("X-Frame-Options") == "DENY", path
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"], path


def test_a_replayed_page_cannot_read_another_collection(evil_root):
    """Each collection is replayed from its own host name; the server checks the host against the
    collection in the path, and refuses what a browser says came from another origin."""
    client = Client(make_app(evil_root, ui_port=18080, replay_port=18081))
    path = f"/other/20240517100000id_/{quote(EVIL_URL, safe=':/?=&%')}"
    evil_page = f"http://evil.localhost:18081/evil/20240517100000/{EVIL_URL}"
    fetch = {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty", "Referer": evil_page}
    # a script of "evil" asking its own host for another collection's path
    r = client.get(path, base_url="http://evil.localhost:18081",
                   headers={**fetch, "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 403 and b"Words about alerts" not in r.get_data()
    # ... or asking the other collection's host, or the shared address (another site each)
    for base in ("http://other.localhost:18081", REPLAY, "http://localhost:18081"):
        for site in ("cross-site", "same-site"):
            r = client.get(path, base_url=base, headers={**fetch, "Sec-Fetch-Site": site})
            assert r.status_code == 403 and b"Words about alerts" not in r.get_data(), (base, site)
    # no-cors loads (<script src>, <img>) the same, and every replayed response forbids them to others
    r = client.get(path, base_url="http://other.localhost:18081",
                   headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors",
                            "Sec-Fetch-Dest": "script"})
    assert r.status_code == 403
    own = client.get(path, base_url="http://other.localhost:18081", headers={"Sec-Fetch-Site": "same-origin"})
    assert own.status_code == 200 and b"Words about alerts" in own.get_data()
    assert own.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    assert "Access-Control-Allow-Origin" not in own.headers
    # a navigation to the shared address goes to the collection's host (a new origin: nothing to read)
    r = client.get(path, base_url=REPLAY, headers={"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate"})
    assert r.status_code == 302 and r.headers["Location"] == "http://other.localhost:18081" + path
    # a client without fetch metadata (curl) is answered there, sandboxed: opaque origin, no script
    r = client.get(path, base_url=REPLAY)
    assert r.status_code == 200 and r.headers["Content-Security-Policy"].endswith("; sandbox")
    # a collection host name that is no collection, or on the listing port: refused
    assert client.get(path, base_url="http://nosuch.localhost:18081").status_code == 421
    assert client.get("/", base_url="http://evil.localhost:18080").status_code == 421
    # session hosts (one per original origin and time): another collection's pages are refused,
    # and pywb's paths are only ever original paths there
    other_session = "http://evil.test.20240517100000h.other.localhost:18081"
    evil_session = "http://evil.test.20240517100000h.evil.localhost:18081"
    target = "/p?" + EVIL_URL.split("?", 1)[1]
    for site in ("same-site", "cross-site"):
        r = client.get(target, base_url=other_session,
                       headers={**fetch, "Sec-Fetch-Site": site, "Referer": evil_session + "/p"})
        assert r.status_code == 403 and b"Words about alerts" not in r.get_data(), site
    r = client.get(path, base_url=evil_session, headers={**fetch, "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 404 and b"Words about alerts" not in r.get_data()
    preflight = {"Origin": evil_session, "Access-Control-Request-Method": "GET", **fetch,
                 "Sec-Fetch-Site": "same-site"}
    assert client.options(target, base_url=other_session, headers=preflight).status_code == 403


ALICE_SECRET = "alice-secret-7431"
#: An archived page of collection "mallory" that tries every way to read collection "alice" and to
#: leave state for it, with the browser's own functions (a fresh frame, untouched by the client).
MALLORY_PAGE = """<!doctype html><html><head><title>mallory</title></head><body><pre id="out"></pre><script>
(async () => {
  const port = location.port, coll = "/alice/20240517100000";
  const frame = document.createElement("iframe");
  document.body.appendChild(frame);
  const w = frame.contentWindow;
  const targets = {
    path_on_own_host: coll + "id_/http://alice.test/data.json",
    own_origin_absolute: location.origin + coll + "id_/http://alice.test/data.json",
    alice_host: "http://alice.localhost:" + port + coll + "id_/http://alice.test/data.json",
    shared_ip: "http://127.0.0.1:" + port + coll + "id_/http://alice.test/data.json",
    shared_name: "http://localhost:" + port + coll + "id_/http://alice.test/data.json",
    // alice's session host, where alice's pages run (mallory's page runs on its own, so
    // path_on_own_host asks mallory's session host for alice's capture by pywb's path)
    alice_session: "http://alice.test.20240517100000h.alice.localhost:" + port + "/data.json",
  };
  const out = {};
  for (const [name, url] of Object.entries(targets)) {
    try {
      const r = await w.fetch(url, {credentials: "include"});
      out["fetch " + name] = r.status + " " + (await r.text());
    } catch (e) { out["fetch " + name] = "blocked"; }
    await new Promise((done) => {
      const s = w.document.createElement("script");
      s.src = url.replace("data.json", "secret.js");
      s.onload = s.onerror = done;
      w.document.head.appendChild(s);
    });
    out["script " + name] = String(w.SECRET || window.SECRET || "");
    out["frame " + name] = await new Promise((done) => {
      const f = w.document.createElement("iframe");
      f.onload = () => { try { done(f.contentDocument.body.innerText); } catch (e) { done("blocked"); } };
      f.src = url.replace("id_/", "/").replace("data.json", "");
      w.document.body.appendChild(f);
      setTimeout(() => done("timeout"), 4000);
    });
  }
  localStorage.setItem("left-by", "mallory");
  document.cookie = "planted=mallory; path=/";
  document.cookie = "wide=mallory; domain=localhost; path=/";  // a cookie for every *.localhost, if it took
  document.getElementById("out").textContent = JSON.stringify(out);
  document.documentElement.dataset.done = "1";
})();
</script></body></html>"""
ALICE_PAGE = ("<!doctype html><html><head><title>alice</title><script src='/secret.js'></script></head><body>"
              "<p id='p'>alice's page</p><script>document.getElementById('p').dataset.storage = "
              "String(localStorage.getItem('left-by')); document.getElementById('p').dataset.cookie = "
              "document.cookie;</script></body></html>")


@pytest.fixture(scope="module")
def two_collections(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("colls")
    records = {
        "alice": [("http://alice.test/", "text/html", ALICE_PAGE),
                  ("http://alice.test/secret.js", "text/javascript", f'window.SECRET = "{ALICE_SECRET}";'),
                  ("http://alice.test/data.json", "application/json", f'{{"secret": "{ALICE_SECRET}"}}')],
        "mallory": [("http://mallory.test/", "text/html", MALLORY_PAGE)],
    }
    for coll, items in records.items():
        warc = write_responses(base / f"{coll}.warc.gz", [
            (url, text.encode(), [("Content-Type", ctype), ("Access-Control-Allow-Origin", "*")])
            for url, ctype, text in items])
        run = run_cli("import", "-c", coll, str(warc), root=base / "root")
        assert run.code == 0, run.stderr
    return base / "root"


def _mallory_results(root: Path, browser_path: str, **server_options) -> tuple[dict, dict]:
    """Replay mallory's page in Chromium, then alice's: what mallory read, and what alice saw."""
    import json

    from playwright.sync_api import sync_playwright

    from warcache.chromium import launch_args

    with start_server(root, **server_options) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path, args=launch_args())
        page = browser.new_page()
        page.goto(server.replay_url_for("mallory") + "mallory/20240517100000/http://mallory.test/")
        page.wait_for_function("document.documentElement.dataset.done === '1'", timeout=60000)
        results = json.loads(page.inner_text("#out"))
        page.goto(server.replay_url_for("alice") + "alice/20240517100000/http://alice.test/")
        seen = page.evaluate("({...document.getElementById('p').dataset, secret: String(window.SECRET)})")
        browser.close()
    return results, seen


def test_in_a_browser_one_collection_cannot_read_or_touch_another(two_collections, browser_path):
    results, seen = _mallory_results(two_collections, browser_path)
    assert len(results) == 18, results
    leaks = {name: value for name, value in results.items() if ALICE_SECRET in value}
    assert leaks == {}
    assert seen["secret"] == ALICE_SECRET  # alice's own page still loads its own script
    assert seen["storage"] == "null" and "mallory" not in seen["cookie"], seen


def test_with_a_shared_origin_the_same_page_does_read_the_other_collection(two_collections, browser_path):
    """The control: the attack above is real, and --shared-origin (pywb's model) lets it through."""
    results, seen = _mallory_results(two_collections, browser_path, shared_origin=True)
    assert any(ALICE_SECRET in value for value in results.values()), results
    assert seen["storage"] == "mallory"  # and state leaks between collections


# -- replay: absurd requests --------------------------------------------------------------------------

def _raw(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(data)  # the server may close before reading it all
        chunks = []
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while piece := sock.recv(65536):
                chunks.append(piece)
    return b"".join(chunks)


HOST = b"Host: 127.0.0.1\r\nConnection: close\r\n"
#: Absurd requests, each with the answers allowed: status classes ("4" for 4xx) or "" (closed).
ABSURD = {
    "100 KB URL": (b"GET /evil/2024/http://a.test/" + b"a" * 100_000 + b" HTTP/1.1\r\n" + HOST + b"\r\n",
                   ("3", "4", "")),
    "1 MB header": (b"GET /evil/ HTTP/1.1\r\n" + HOST + b"X-Big: " + b"b" * 1_000_000 + b"\r\n\r\n",
                    ("4", "")),
    "10 000 small headers (80 KB, under the limit)": (
        b"GET /evil/ HTTP/1.1\r\n" + HOST + b"".join(b"X-%d: y\r\n" % i for i in range(10_000)) + b"\r\n",
        ("2", "3", "4")),
    "binary request line": (b"\x00\xff\x16\x03\x01 garbage\r\n\r\n", ("4", "")),
    "dot segments": (b"GET /evil/../../../../etc/passwd HTTP/1.1\r\n" + HOST + b"\r\n", ("2", "3", "4")),
    "encoded traversal": (b"GET /_warcache/screenshot/evil/..%2f..%2f..%2fetc%2fpasswd/0 HTTP/1.1\r\n"
                          + HOST + b"\r\n", ("4",)),
    "absolute form for another host": (b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n"
                                       b"Connection: close\r\n\r\n", ("4",)),
}


def test_absurd_urls_and_headers_get_an_answer_and_the_server_goes_on(evil_root):
    secret = Path("/etc/passwd").read_bytes()[:30]
    with start_server(evil_root) as server:
        ports = [int(url.rstrip("/").rsplit(":", 1)[1]) for url in (server.ui_url, server.replay_url)]
        for name, (request, allowed) in ABSURD.items():
            for port in ports:
                start = time.monotonic()
                answer = _raw(port, request)
                assert time.monotonic() - start < 20, name
                assert secret not in answer, name
                status = answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/1.") else ""
                assert status[:1] in allowed, (name, port, answer[:300])
        answer = _raw(ports[0], b"GET /evil/ HTTP/1.1\r\n" + HOST + b"\r\n")
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]  # and it still serves


if sys.platform != "linux":  # pragma: no cover - /etc/passwd and /proc are Linux assumptions
    pytestmark = pytest.mark.skip("Linux only")
