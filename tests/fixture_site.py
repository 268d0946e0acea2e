"""A local web site with the awkward features real pages have, and a log of the exact bytes it sent.

Why this exists: warcache's claim is fidelity, i.e. the archive holds what the server sent. Tests can only
check that if the server itself records its output byte for byte, so this server writes every response by
hand on a raw socket (no http.server, which adds headers of its own) and logs, per response, the status
line and header block, the body as it went on the wire, the body without chunk framing, and the decoded
content. The pages exercise what a browser capture must not lose: text rendered by JavaScript from
same- and cross-origin JSON, gzip and chunked responses, duplicate headers, redirects with bodies, error
statuses, a POST, a dynamic import, an iframe, fonts and CSS images, a lazy image and content loaded on
scroll, a dedicated worker, a service worker, a non-UTF-8 page, a PDF and a download.

Two hosts: the main one on 127.0.0.1 and a cross-origin one on 127.0.0.2 (another loopback address and
another port). With ``https=True`` both are also served over TLS with a self-signed certificate made at
start. Nothing listens after :meth:`FixtureSite.stop`, which replay tests rely on to prove they are offline.

Every text a page shows carries a unique marker word from :data:`MARKERS`, so tests can search an
archive, an extracted text or a search index for exactly one feature.

Usage::

    with FixtureSite() as site:
        ...  # load site.url("/") in a browser
        sent = site.sent_for(site.url("/static/app.js"))[0]
        assert sent.headers contains ("Content-Encoding", "gzip")
"""

from __future__ import annotations

import contextlib
import datetime
import gzip
import io
import ipaddress
import itertools
import json
import random
import socket
import socketserver
import ssl
import struct
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

RAW_TITLE = "Fixture: JS rendered article"
"""The <title> of the main page's raw HTML."""

RENDERED_TITLE = "Rendered Title \u2014 Fixture Site"
"""The title the main page's JavaScript sets: a capture of the rendered DOM has this one."""

MARKERS: dict[str, str] = {
    "reader": "lanternreader",  # /reader-check.html, shown only to a browser not flagged as automated
    "article": "quasarmarmalade",  # /api/article.json, rendered into the main page by app.js
    "cross_json": "tangerinecrossing",  # OTHER/api/cross.json (CORS), rendered by app.js
    "cross_script": "ibiscrossscript",  # OTHER/static/cross.js, a cross-origin classic script
    "module": "narwhalmodule",  # /static/mod.js, loaded with import()
    "echo": "pelicanecho",  # POST /api/echo response, shown by app.js
    "missing": "mothmissing",  # /api/missing (404 JSON), shown by app.js
    "broken": "beetlebroken",  # /broken (500), shown by app.js
    "chunked": "kestrelchunk",  # /chunked.txt (chunked), shown by app.js
    "xhr": "ossifragexhr",  # /api/xhr.txt fetched with XMLHttpRequest, shown by app.js
    "more1": "walrusmoreone",  # /api/more.json?page=1, appended after scrolling to the bottom
    "more2": "walrusmoretwo",  # page 2, after scrolling again
    "more3": "walrusmorethree",  # page 3 (the last one)
    "frame": "platypusframe",  # /frame.html, in an iframe of the main page
    "redirect": "ferretredirect",  # bodies of /redirect (302) and /redirect2 (301)
    "final": "badgerfinal",  # /final.html, end of the redirect chain
    "notfound": "geckonotfound",  # /notfound (404 HTML page)
    "pdf": "cormorantpdf",  # text inside /doc.pdf
    "data_json": "heronjson",  # /data.json (top-level JSON)
    "slow": "snailslow",  # /slow?ms=N
    "sw_page": "mongooseswpage",  # static text of /sw.html
    "sw_data": "oryxswdata",  # /api/sw-data.json, fetched through the service worker
    "sw_cached": "yakswcache",  # /static/sw-precache.txt, precached by the service worker
    "worker": "lemurworker",  # /api/worker.json, fetched by a dedicated worker, shown by /worker.html
    "latin1": "umbrellalatin",  # /charset-latin1.html (windows-1252)
    "dialogs": "toucandialog",  # /dialogs.html, shown only after alert/confirm/prompt return
}

LATIN1_TEXT = (
    f"{MARKERS['latin1']}: Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e, na\u00efve fa\u00e7ade \u2014 "
    "\u201cquoted\u201d, costs 5 \u20ac."
)
"""The paragraph of /charset-latin1.html; its bytes are windows-1252 (the dash, quotes and euro are not
Latin-1 proper, so a decoder that guesses ISO-8859-1 or UTF-8 gets them wrong)."""

MORE_PAGES = 3
"""How many pages the scroll-loaded list has."""

SERVER_NAME = "warcache-fixture/1"

# Subresources the main page fetches without any scrolling, by host. The favicon (linked with
# <link rel=icon>) is separate: the browser itself asks for it, not the page, so some capture methods
# (Playwright's response events) never see it. Chromium 156 headless does fetch it.
MAIN_PAGE_PATHS = (
    "/",
    "/static/style.css",
    "/static/app.js",
    "/static/font.woff2",
    "/static/bg.png",
    "/frame.html",
    "/img/frame.png",
    "/static/mod.js",
    "/api/article.json",
    "/api/echo",
    "/api/missing",
    "/broken",
    "/chunked.txt",
    "/api/xhr.txt",
)
MAIN_PAGE_OTHER_PATHS = ("/static/cross.js", "/api/cross.json", "/img/cross.png")
MAIN_PAGE_SCROLL_PATHS = ("/img/lazy.png", *(f"/api/more.json?page={n}" for n in range(1, MORE_PAGES + 1)))

# Ports Chromium refuses to connect to (net/base/port_util.cc) that an ephemeral bind could return.
_UNSAFE_PORTS = frozenset(
    {1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6679, 6697, 10080, *range(6665, 6670)}
)
_MAX_LINE = 65536
_IDLE_TIMEOUT = 120.0  # an abandoned keep-alive connection frees its thread eventually even without stop()


# --------------------------------------------------------------------------------------------------
# What went out, and what came in


@dataclass
class Sent:
    """One response as it went out on the wire, with the request it answered."""

    method: str
    url: str  # absolute, as the client asked for it: scheme://host:port/path?query
    status: int
    headers: list[tuple[str, str]]  # in the order sent, duplicates kept
    head: bytes  # status line + header block, ending with \r\n\r\n
    body: bytes  # body bytes on the wire (gzip bytes if gzip-encoded, chunk framing if chunked)
    entity: bytes  # body without transfer-coding (de-chunked), still content-encoded
    content: bytes  # decoded content: what the page sees
    request_body: bytes = b""
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    connection: int = 0  # serial number of the TCP connection, to see keep-alive reuse
    complete: bool = True  # False if the client went away before the last byte was written
    time: float = 0.0  # time.time() when the response was logged

    def header(self, name: str) -> str | None:
        """The first value of a header, case-insensitively (None if absent)."""
        return _first_header(self.headers, name)

    def header_values(self, name: str) -> list[str]:
        """Every value of a header, in the order sent."""
        return [v for k, v in self.headers if k.lower() == name.lower()]


@dataclass
class Received:
    """One request as it arrived, logged before it is answered (so /hang and /slow show up too)."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes
    connection: int
    time: float


@dataclass
class Reply:
    """What a route wants to send; the server turns it into exact wire bytes."""

    status: int
    headers: list[tuple[str, str]]
    content: bytes = b""
    gzip: bool = False  # send Content-Encoding: gzip
    chunks: int = 0  # >0: Transfer-Encoding: chunked, in this many chunks
    chunk_delay: float = 0.0  # pause between chunks, so they really are separate on the wire
    delay: float = 0.0  # wait before answering
    hang: bool = False  # never answer (until stop)


@dataclass
class Ctx:
    """The request as a route sees it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: list[tuple[str, str]]
    body: bytes
    origin: str  # this server's origin
    other: str  # the cross-origin host for the same scheme


@dataclass
class _Request:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes


class _BadRequest(Exception):
    """The client sent something this server will not parse."""


def _first_header(headers: list[tuple[str, str]], name: str) -> str | None:
    lname = name.lower()
    return next((v for k, v in headers if k.lower() == lname), None)


# --------------------------------------------------------------------------------------------------
# Binary assets, generated so the repository holds no binaries


def make_png(
    width: int, height: int, pixel: Callable[[int, int], tuple[int, ...]], *, alpha: bool = False
) -> bytes:
    """A valid PNG (8-bit RGB or RGBA, no filtering) whose pixels come from ``pixel(x, y)``."""
    rows = b"".join(
        b"\x00" + bytes(c for x in range(width) for c in pixel(x, y)) for y in range(height)
    )
    color_type = 6 if alpha else 2
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return _png_from_rows(ihdr, rows)


def _png_from_rows(ihdr: bytes, rows: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    idat = zlib.compress(rows, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _noise_png(size: int, seed: int) -> bytes:
    """A PNG of random pixels: incompressible, so its size is predictable (~3 bytes per pixel)."""
    noise = random.Random(seed).randbytes(size * size * 3)
    rows = b"".join(b"\x00" + noise[y * size * 3:(y + 1) * size * 3] for y in range(size))
    return _png_from_rows(struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0), rows)


def make_ico(png: bytes, size: int) -> bytes:
    """An ICO file holding one PNG image (the format browsers accept since Windows Vista icons)."""
    header = struct.pack("<HHH", 0, 1, 1)
    entry = struct.pack("<BBBBHHII", size % 256, size % 256, 0, 0, 1, 32, len(png), 6 + 16)
    return header + entry + png


def make_pdf(text: str) -> bytes:
    """A one-page PDF 1.4 showing ``text``, with a correct cross-reference table."""
    stream = f"BT /F1 18 Tf 20 70 Td ({text}) Tj ET\n".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 400 144] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"endstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref_at)
    return bytes(out)


def _solid(rgb: tuple[int, int, int]) -> Callable[[int, int], tuple[int, int, int]]:
    return lambda x, y: rgb


def _build_assets() -> dict[str, bytes]:
    favicon_png = make_png(16, 16, lambda x, y: (200, 40, 40, 255) if (x + y) % 4 else (255, 255, 255, 0),
                           alpha=True)
    return {
        "bg.png": make_png(24, 24, lambda x, y: (240 - x, 240 - y, 230)),
        "frame.png": make_png(8, 8, _solid((0, 128, 128))),
        "cross.png": make_png(16, 16, lambda x, y: (220, 30, 30) if (x // 4 + y // 4) % 2 else (250, 250, 0)),
        "lazy.png": make_png(32, 32, _solid((30, 60, 220))),
        "big.png": _noise_png(128, seed=1729),  # ~49 KB
        "favicon.ico": make_ico(favicon_png, 16),
        # Not a decodable font (the browser logs "failed to decode"), but it is requested and archived
        # like one: the woff2 signature, then filler.
        "font.woff2": b"wOF2\x00\x01\x00\x00" + bytes(range(256)) * 2,
        "doc.pdf": make_pdf(f"{MARKERS['pdf']} fixture document"),
        "download.bin": random.Random(4242).randbytes(4096),
    }


ASSETS = _build_assets()


# --------------------------------------------------------------------------------------------------
# Texts of the pages


def _article() -> dict[str, object]:
    m = MARKERS["article"]
    return {
        "headline": f"The {m} expedition reaches the northern lakes",
        "paragraphs": [
            f"After eleven days on the tundra the {m} expedition reached the first of the northern lakes, "
            "where the team measured ice thickness, counted migrating geese and repaired two sledges "
            "damaged in the crossing of the frozen river.",
            "The expedition leader said the weather had been kinder than forecast, although the wind "
            "turned sharply on the ninth day and forced the group to camp for a full afternoon behind "
            "a ridge of wind-packed snow.",
            "Scientists travelling with the group collected water samples at six depths. The samples "
            f"will be flown south next week, and the {m} field notes will be published with them in the "
            "spring, together with the photographs taken from the ridge.",
            "Local guides, who have crossed the same lakes for decades, noted that the ice formed two "
            "weeks later than usual this year, a pattern they have observed increasingly often.",
        ],
    }


_MAIN_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{raw_title}</title>
<link rel="icon" href="/favicon.ico">
<link rel="stylesheet" href="/static/style.css">
<script src="/static/app.js" defer></script>
<script src="{other}/static/cross.js" defer></script>
</head>
<body>
<div id="app"></div>
<div id="status"></div>
<iframe id="frame" src="/frame.html" title="embedded frame" width="420" height="160"></iframe>
<p><img id="crossimg" src="{other}/img/cross.png" alt="cross-origin image" width="16" height="16"></p>
<div id="spacer" style="height:5200px"></div>
<img id="lazyimg" loading="lazy" src="/img/lazy.png" alt="lazy image" width="32" height="32">
<div id="more"></div>
<div id="end" style="height:20px"></div>
</body>
</html>
"""

# Renders the article from JSON so that the raw HTML holds none of its text; everything it shows comes
# from a separate response, so a test can tell which responses reached the page.
_APP_JS = r"""// Fixture app: builds the visible page from separate responses.
(function () {
  "use strict";
  const OTHER = "{other}";
  const app = document.getElementById("app");
  const status = document.getElementById("status");
  const root = document.documentElement;

  function add(parent, tag, id, text) {
    const el = document.createElement(tag);
    if (id) el.id = id;
    el.textContent = text;
    parent.appendChild(el);
    return el;
  }

  document.title = "Rendered Title \u2014 Fixture Site";

  const article = fetch("/api/article.json").then((r) => r.json()).then((a) => {
    add(app, "h1", "headline", a.headline);
    a.paragraphs.forEach((p) => add(app, "p", null, p));
  });
  const cross = fetch(OTHER + "/api/cross.json").then((r) => r.json())
    .then((c) => add(app, "p", "cross", c.text));
  const mod = import("/static/mod.js").then((m) => m.render(app));
  const echo = fetch("/api/echo", {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({greeting: "hello from the fixture page", n: 42}),
  }).then((r) => r.json()).then((e) => add(status, "p", "echo", e.marker + ": " + e.received.greeting));
  const missing = fetch("/api/missing").then((r) => r.json()
    .then((j) => add(status, "p", "missing", j.marker + ": status " + r.status)));
  const broken = fetch("/broken").then((r) => r.text()
    .then((t) => add(status, "p", "broken", t.trim() + " (status " + r.status + ")")));
  const chunked = fetch("/chunked.txt").then((r) => r.text()).then((t) => add(status, "pre", "chunked", t));
  const xhr = new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open("GET", "/api/xhr.txt");
    x.onload = () => resolve(add(status, "p", "xhr", x.responseText));
    x.onerror = () => reject(new Error("xhr failed"));
    x.send();
  });

  Promise.allSettled([article, cross, mod, echo, missing, broken, chunked, xhr]).then((results) => {
    const failed = results.filter((r) => r.status === "rejected");
    failed.forEach((r) => console.error("fixture:", r.reason));
    root.dataset.fixture = failed.length ? "failed-" + failed.length : "ready";
  });

  // Infinite list: scrolling near the end loads the next page, up to MORE_PAGES pages.
  const more = document.getElementById("more");
  const end = document.getElementById("end");
  const MAX_PAGES = {more_pages};
  let page = 0;
  let loading = false;
  root.dataset.morePages = "0";

  function nearBottom() {
    return end.getBoundingClientRect().top < window.innerHeight + 300;
  }
  function loadMore() {
    if (loading || page >= MAX_PAGES || !nearBottom()) return;
    loading = true;
    page += 1;
    const n = page;
    fetch("/api/more.json?page=" + n).then((r) => r.json()).then((d) => {
      const block = add(more, "section", "more-" + n, "");
      block.style.minHeight = "1500px";
      d.items.forEach((item) => add(block, "p", null, item));
    }).catch((e) => console.error("fixture more:", e)).finally(() => {
      loading = false;
      root.dataset.morePages = String(n);
      loadMore();
    });
  }
  window.addEventListener("scroll", loadMore, {passive: true});
  new IntersectionObserver(loadMore, {rootMargin: "300px"}).observe(end);
})();
"""

_STYLE_CSS = """@font-face {
  font-family: "FixtureFont";
  src: url("/static/font.woff2") format("woff2");
  font-display: swap;
}
body {
  font-family: "FixtureFont", Georgia, serif;
  background: #fbfaf6 url("/static/bg.png") repeat;
  margin: 2em auto;
  max-width: 44em;
}
"""

_MOD_JS = """// Loaded with import(): inserts its own text when render() is called.
export const MARKER = "{marker}";
export function render(parent) {
  const p = document.createElement("p");
  p.id = "module";
  p.textContent = MARKER + " says hello from a dynamically imported module.";
  parent.appendChild(p);
}
""".replace("{marker}", MARKERS["module"])

_CROSS_JS = """// A classic script from the cross-origin host.
(function () {
  const p = document.createElement("p");
  p.id = "cross-script";
  p.textContent = "{marker}: written by a cross-origin script.";
  (document.getElementById("status") || document.body).appendChild(p);
})();
""".replace("{marker}", MARKERS["cross_script"])

_FRAME_HTML = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Fixture frame</title></head>
<body><p id="frametext">The {MARKERS['frame']} paragraph lives inside an iframe.</p>
<img src="/img/frame.png" alt="frame image" width="8" height="8"></body></html>
"""

_WORKER_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Fixture worker page</title></head>
<body><p>This page starts a dedicated worker and shows what it sends back.</p>
<p id="out"></p>
<script>
const worker = new Worker("/static/worker.js");
worker.onmessage = (event) => {
  document.getElementById("out").textContent = event.data;
  document.documentElement.dataset.fixture = "ready";
};
</script></body></html>
"""

_WORKER_JS = """// Dedicated worker: its fetch is made by the worker, not the page.
fetch("/api/worker.json")
  .then((r) => r.json())
  .then((j) => postMessage(j.text), (e) => postMessage("worker error: " + e));
"""

_SW_HTML = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Fixture service worker page</title></head>
<body><p>{MARKERS['sw_page']}: this page registers a service worker, then fetches through it.</p>
<p id="sw-data"></p><p id="sw-cached"></p>
<script>
async function main() {{
  await navigator.serviceWorker.register("/static/sw.js", {{scope: "/sw"}});
  await navigator.serviceWorker.ready;
  if (!navigator.serviceWorker.controller) {{
    await new Promise((r) => navigator.serviceWorker.addEventListener("controllerchange", r, {{once: true}}));
  }}
  const data = await (await fetch("/api/sw-data.json")).json();
  document.getElementById("sw-data").textContent = data.text;
  document.getElementById("sw-cached").textContent = await (await fetch("/static/sw-precache.txt")).text();
  document.documentElement.dataset.fixture = "ready";
}}
main().catch((e) => {{
  document.getElementById("sw-data").textContent = "service worker error: " + e;
  document.documentElement.dataset.fixture = "failed";
}});
</script></body></html>
"""

# Scope /sw (allowed by the Service-Worker-Allowed header) so it controls /sw.html and nothing else.
_SW_JS = """// Precaches one file at install, then answers from the cache or the network.
const CACHE = "fixture-v1";
self.addEventListener("install", (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.add("/static/sw-precache.txt"))
    .then(() => self.skipWaiting()));
});
self.addEventListener("activate", (e) => e.waitUntil(self.clients.claim()));
self.addEventListener("fetch", (e) => {
  e.respondWith(caches.match(e.request).then((hit) => hit || fetch(e.request)));
});
"""


def _page(title: str, body: str) -> bytes:
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>\n'
        f"<body>{body}</body></html>\n"
    ).encode()


# --------------------------------------------------------------------------------------------------
# Routes


HTML = "text/html; charset=utf-8"
JS = "text/javascript; charset=utf-8"
JSON_TYPE = "application/json"
TEXT = "text/plain; charset=utf-8"
NO_STORE = ("Cache-Control", "no-store")


def _ok(ctype: str, content: bytes, *extra: tuple[str, str], **options: Any) -> Reply:
    return Reply(200, [("Content-Type", ctype), *extra], content, **options)


def _json(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def _main_page(ctx: Ctx) -> Reply:
    html = _MAIN_HTML.format(raw_title=RAW_TITLE, other=ctx.other)
    # Duplicate headers, deliberately not in alphabetical order.
    return Reply(200, [
        ("Content-Type", HTML),
        ("Set-Cookie", "fx_visit=main; Path=/"),
        ("X-Dup", "zulu"),
        ("Set-Cookie", "fx_theme=dark; Path=/"),
        ("X-Dup", "alpha"),
        ("Cache-Control", "no-cache"),
    ], html.encode())


def _app_js(ctx: Ctx) -> Reply:
    js = _APP_JS.replace("{other}", ctx.other).replace("{more_pages}", str(MORE_PAGES))
    return _ok(JS, js.encode(), ("Vary", "Accept-Encoding"), gzip=True)


def _article_json(ctx: Ctx) -> Reply:
    return Reply(200, [
        ("Content-Type", JSON_TYPE),
        ("X-Dup", "yankee"),
        ("Set-Cookie", "fx_article=seen; Path=/"),
        ("X-Dup", "bravo"),
        ("Set-Cookie", "fx_article_count=1; Path=/"),
        NO_STORE,
    ], _json(_article()))


def _echo(ctx: Ctx) -> Reply:
    try:
        received: object = json.loads(ctx.body)
    except ValueError:
        received = ctx.body.decode("utf-8", "replace")
    payload = {"marker": MARKERS["echo"], "method": ctx.method, "received": received, "bytes": len(ctx.body)}
    return _ok(JSON_TYPE, _json(payload), NO_STORE)


def _more(ctx: Ctx) -> Reply:
    page = ctx.query.get("page", [""])[0]
    if not page.isdigit() or not 1 <= int(page) <= MORE_PAGES:
        return Reply(404, [("Content-Type", JSON_TYPE)], _json({"error": "no such page", "page": page}))
    n = int(page)
    marker = MARKERS[f"more{n}"]
    items = [f"{marker}: item {i} of page {n}, loaded because the reader scrolled to the end."
             for i in range(1, 6)]
    # gzip and chunked together, as many real servers send dynamic responses.
    return _ok(JSON_TYPE, _json({"page": n, "items": items}), NO_STORE, gzip=True, chunks=3, chunk_delay=0.01)


def _chunked(ctx: Ctx) -> Reply:
    text = "".join(f"{MARKERS['chunked']} part {i}: streamed in its own chunk.\n" for i in range(1, 6))
    return _ok(TEXT, text.encode(), NO_STORE, chunks=5, chunk_delay=0.02)


def _redirect(location: str, status: int) -> Callable[[Ctx], Reply]:
    def route(ctx: Ctx) -> Reply:
        link = f'<a href="{location}">{location}</a>'
        body = _page("Moved", f"<p>{MARKERS['redirect']}: this moved to {link}.</p>")
        return Reply(status, [("Location", location), ("Content-Type", HTML)], body)

    return route


def _slow(ctx: Ctx) -> Reply:
    raw = ctx.query.get("ms", ["1000"])[0]
    ms = min(int(raw), 600_000) if raw.isdigit() else 1000
    body = _page("Slow page", f"<p>{MARKERS['slow']}: answered after {ms} ms.</p>")
    return Reply(200, [("Content-Type", HTML)], body, delay=ms / 1000)


def _latin1(ctx: Ctx) -> Reply:
    html = (
        "<!doctype html>\n<html><head><title>Fixture windows-1252 caf\u00e9</title></head>\n"
        f"<body><p id=\"latin\">{LATIN1_TEXT}</p></body></html>\n"
    )
    return _ok("text/html; charset=windows-1252", html.encode("cp1252"))


def _static(ctype: str, content: bytes, *extra: tuple[str, str], **options: Any) -> Callable[[Ctx], Reply]:
    return lambda ctx: _ok(ctype, content, *extra, **options)


def _text_json(marker_key: str, what: str) -> Callable[[Ctx], Reply]:
    content = _json({"text": f"{MARKERS[marker_key]}: {what}"})
    return lambda ctx: _ok(JSON_TYPE, content, NO_STORE)


_Route = Callable[[Ctx], Reply]

# A bot wall as sites build them: the article only for a browser that does not say it is automated
# or headless (navigator.webdriver, the user agent, the Client Hints brands).
_READER_CHECK_HTML = """<!doctype html><html><head><title>Reader check</title></head><body>
<p id="signals"></p><article id="article"></article><script>
const brands = (navigator.userAgentData ? navigator.userAgentData.brands : []).map((b) => b.brand);
const signals = {webdriver: navigator.webdriver === true, headless_ua: /Headless/.test(navigator.userAgent),
                 headless_brand: brands.some((b) => /Headless/.test(b))};
document.getElementById("signals").textContent = JSON.stringify(signals);
document.getElementById("article").textContent = Object.values(signals).some(Boolean)
  ? "automated browser: article withheld" : "READERMARK: the article a reader sees.";
</script></body></html>""".replace("READERMARK", MARKERS["reader"])


MAIN_ROUTES: dict[str, _Route] = {
    "/": _main_page,
    "/static/app.js": _app_js,
    "/static/style.css": _static("text/css; charset=utf-8", _STYLE_CSS.encode()),
    "/static/font.woff2": _static("font/woff2", ASSETS["font.woff2"]),
    "/static/bg.png": _static("image/png", ASSETS["bg.png"]),
    "/static/mod.js": _static(JS, _MOD_JS.encode()),
    "/api/article.json": _article_json,
    "/api/echo": _echo,
    "/api/missing": lambda ctx: Reply(404, [("Content-Type", JSON_TYPE), NO_STORE],
                                      _json({"error": "not found", "marker": MARKERS["missing"]})),
    "/broken": lambda ctx: Reply(500, [("Content-Type", TEXT), NO_STORE],
                                 f"{MARKERS['broken']}: the server failed on purpose.\n".encode()),
    "/chunked.txt": _chunked,
    "/api/xhr.txt": _static(TEXT, f"{MARKERS['xhr']}: text fetched with XMLHttpRequest.".encode(), NO_STORE),
    "/api/more.json": _more,
    "/frame.html": _static(HTML, _FRAME_HTML.encode()),
    "/img/frame.png": _static("image/png", ASSETS["frame.png"]),
    "/img/lazy.png": _static("image/png", ASSETS["lazy.png"]),
    "/img/big.png": _static("image/png", ASSETS["big.png"]),
    "/favicon.ico": _static("image/x-icon", ASSETS["favicon.ico"]),
    "/redirect": _redirect("/redirect2", 302),
    "/redirect2": _redirect("/final.html", 301),
    "/final.html": _static(HTML, _page("Final page",
                                       f"<p>{MARKERS['final']}: the end of the redirect chain.</p>")),
    "/notfound": lambda ctx: Reply(404, [("Content-Type", HTML)],
                                   _page("Not found", f"<p>{MARKERS['notfound']}: nothing lives here.</p>")),
    "/doc.pdf": _static("application/pdf", ASSETS["doc.pdf"]),
    "/data.json": _static(JSON_TYPE, _json({"marker": MARKERS["data_json"], "numbers": [1, 2, 3],
                                            "nested": {"ok": True}})),
    "/download.bin": _static("application/octet-stream", ASSETS["download.bin"],
                             ("Content-Disposition", 'attachment; filename="fixture.bin"')),
    "/slow": _slow,
    "/hang": lambda ctx: Reply(200, [], hang=True),
    "/sw.html": _static(HTML, _SW_HTML.encode()),
    "/dialogs.html": _static(HTML, (
        "<!doctype html><html><head><title>Fixture dialogs</title></head><body><p id=out></p><script>"
        "alert('one'); const ok = confirm('two'); const said = prompt('three', 'x');"
        f"document.getElementById('out').textContent = '{MARKERS['dialogs']} ' + ok + ' ' + said;"
        "</script></body></html>").encode()),
    "/static/sw.js": _static(JS, _SW_JS.encode(), ("Service-Worker-Allowed", "/")),
    "/static/sw-precache.txt": _static(TEXT,
                                       f"{MARKERS['sw_cached']}: precached by the service worker.".encode()),
    "/api/sw-data.json": _text_json("sw_data", "fetched through the service worker."),
    "/worker.html": _static(HTML, _WORKER_HTML.encode()),
    "/static/worker.js": _static(JS, _WORKER_JS.encode()),
    "/api/worker.json": _text_json("worker", "fetched by a dedicated web worker."),
    "/charset-latin1.html": _latin1,
    "/reader-check.html": _static(HTML, _READER_CHECK_HTML.encode()),
}

_CORS = ("Access-Control-Allow-Origin", "*")

OTHER_ROUTES: dict[str, _Route] = {
    "/api/cross.json": _static(JSON_TYPE, _json({"text": f"{MARKERS['cross_json']}: from another origin."}),
                               _CORS, NO_STORE),
    "/img/cross.png": _static("image/png", ASSETS["cross.png"]),
    "/static/cross.js": _static(JS, _CROSS_JS.encode()),
}


def _not_found(ctx: Ctx) -> Reply:
    return Reply(404, [("Content-Type", TEXT)], f"no fixture route for {ctx.path}\n".encode())


def _preflight(ctx: Ctx) -> Reply:
    return Reply(204, [_CORS, ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
                       ("Access-Control-Allow-Headers", "*"), ("Access-Control-Max-Age", "60")])


# --------------------------------------------------------------------------------------------------
# Wire format


@dataclass
class _Wire:
    head: bytes
    parts: list[bytes]  # body pieces, written one by one (chunks)
    headers: list[tuple[str, str]]
    entity: bytes
    content: bytes


def _split(data: bytes, n: int) -> list[bytes]:
    """Split into up to n non-empty pieces of near-equal size."""
    if not data:
        return []
    size = -(-len(data) // n)
    return [data[i:i + size] for i in range(0, len(data), size)]


def encode_reply(reply: Reply, method: str, close: bool) -> _Wire:
    """Turn a Reply into exact bytes: head, then body parts (chunk framing included)."""
    content = reply.content
    entity = gzip.compress(content, mtime=0) if reply.gzip else content
    headers = [("Date", formatdate(usegmt=True)), ("Server", SERVER_NAME), *reply.headers]
    bodyless = reply.status in (204, 304) or reply.status < 200
    parts: list[bytes] = []
    if reply.gzip:
        headers.append(("Content-Encoding", "gzip"))
    if bodyless:
        entity = content = b""
    elif reply.chunks:
        headers.append(("Transfer-Encoding", "chunked"))
        parts = [b"%x\r\n" % len(p) + p + b"\r\n" for p in _split(entity, reply.chunks)] + [b"0\r\n\r\n"]
    else:
        headers.append(("Content-Length", str(len(entity))))
        parts = [entity] if entity else []
    if close:
        headers.append(("Connection", "close"))
    if method == "HEAD":
        parts, entity, content = [], b"", b""
    reason = HTTPStatus(reply.status).phrase
    head = f"HTTP/1.1 {reply.status} {reason}\r\n".encode() + b"".join(
        f"{k}: {v}\r\n".encode("latin-1") for k, v in headers) + b"\r\n"
    return _Wire(head, parts, headers, entity, content)


def _read_line(rfile: io.BufferedIOBase) -> bytes:
    line = rfile.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise _BadRequest("line too long")
    return line


def _read_chunked(rfile: io.BufferedIOBase) -> bytes:
    out = bytearray()
    while True:
        size_line = _read_line(rfile).split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError as exc:
            raise _BadRequest("bad chunk size") from exc
        if size == 0:
            while _read_line(rfile) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return bytes(out)
        out += rfile.read(size)
        _read_line(rfile)


def read_request(rfile: io.BufferedIOBase) -> _Request | None:
    """Parse one HTTP/1.x request; None at a clean end of the connection."""
    line = _read_line(rfile)
    while line in (b"\r\n", b"\n"):  # stray CRLF between requests is allowed
        line = _read_line(rfile)
    if not line:
        return None
    words = line.decode("latin-1").rstrip("\r\n").split(" ")
    if len(words) != 3 or not words[2].startswith("HTTP/1."):
        raise _BadRequest("bad request line")
    headers: list[tuple[str, str]] = []
    while (raw := _read_line(rfile)) not in (b"\r\n", b"\n"):
        if not raw:
            raise _BadRequest("connection closed inside the header block")
        name, sep, value = raw.decode("latin-1").partition(":")
        if not sep:
            raise _BadRequest("bad header line")
        headers.append((name.strip(), value.strip()))
    if "chunked" in (_first_header(headers, "Transfer-Encoding") or "").lower():
        body = _read_chunked(rfile)
    else:
        length = _first_header(headers, "Content-Length") or "0"
        if not length.isdigit():
            raise _BadRequest("bad Content-Length")
        body = rfile.read(int(length))
    return _Request(words[0], words[1], words[2], headers, body)


def _wants_close(req: _Request) -> bool:
    tokens = {t.strip().lower() for t in (_first_header(req.headers, "Connection") or "").split(",")}
    return req.version == "HTTP/1.0" or "close" in tokens


# --------------------------------------------------------------------------------------------------
# Certificates


def make_self_signed(hosts: list[str]) -> tuple[bytes, bytes]:
    """A fresh self-signed certificate (PEM) and its private key (PEM) valid for ``hosts``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "warcache fixture site")])
    now = datetime.datetime.now(datetime.UTC)
    alt: list[x509.GeneralName] = [x509.DNSName("localhost")]
    alt += [x509.IPAddress(ipaddress.ip_address(h)) for h in hosts]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


# --------------------------------------------------------------------------------------------------
# The server


class _Listener(socketserver.ThreadingTCPServer):
    """One listening socket (host, scheme); connections are served by FixtureSite._serve."""

    daemon_threads = True  # FixtureSite joins them itself, with a deadline
    block_on_close = False

    def __init__(self, host: str, site: FixtureSite, role: str, tls: ssl.SSLContext | None) -> None:
        self.site, self.role, self.tls = site, role, tls
        self.scheme = "https" if tls else "http"
        super().__init__((host, 0), _Handler)
        self.port: int = self.server_address[1]
        self.origin = f"{self.scheme}://{host}:{self.port}"


class _Handler(socketserver.BaseRequestHandler):
    server: _Listener

    def handle(self) -> None:
        self.server.site._serve(self.request, self.server)


class FixtureSite:
    """The fixture web site: two (or four, with https) loopback servers and a log of what they sent.

    Start it with ``with FixtureSite() as site:`` (or :meth:`start`); origins exist once started.
    """

    def __init__(self, *, https: bool = False) -> None:
        self._https = https
        self._lock = threading.Condition()
        self._log: list[Sent] = []
        self._received: list[Received] = []
        self._stopping = threading.Event()
        self._conns: dict[int, tuple[socket.socket, threading.Thread]] = {}
        self._conn_ids = itertools.count(1)
        self._listeners: list[_Listener] = []
        self._threads: list[threading.Thread] = []
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._other_of: dict[str, str] = {}
        self.origin = self.other_origin = ""
        self.https_origin: str | None = None
        self.https_other_origin: str | None = None
        self.cert_pem: bytes | None = None
        self.cert_path: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def __enter__(self) -> FixtureSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> FixtureSite:
        """Bind every socket first (no race with clients), then serve each in a thread."""
        if self._listeners:
            raise RuntimeError("FixtureSite already started")
        try:
            self._bind_all()
        except BaseException:
            for listener in self._listeners:
                listener.server_close()
            self._listeners.clear()
            raise
        for listener in self._listeners:
            thread = threading.Thread(target=listener.serve_forever, kwargs={"poll_interval": 0.05},
                                      name=f"fixture-{listener.origin}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _bind_all(self) -> None:
        other_host = self._other_host()
        main = self._listen("127.0.0.1", "main", None)
        other = self._listen(other_host, "other", None, avoid_port=main.port)
        self.origin, self.other_origin = main.origin, other.origin
        self._other_of = {main.origin: other.origin, other.origin: other.origin}
        if self._https:
            tls = self._tls_context(["127.0.0.1", other_host])
            smain = self._listen("127.0.0.1", "main", tls)
            sother = self._listen(other_host, "other", tls, avoid_port=smain.port)
            self.https_origin, self.https_other_origin = smain.origin, sother.origin
            self._other_of.update({smain.origin: sother.origin, sother.origin: sother.origin})

    def stop(self, timeout: float = 5.0) -> None:
        """Close the listening sockets, cut every open connection and wait for the handlers to end."""
        with self._lock:
            if self._stopping.is_set():
                return
            self._stopping.set()
        for listener, _ in zip(self._listeners, self._threads, strict=False):
            listener.shutdown()  # only loops that were started: shutdown() waits for the loop
        for listener in self._listeners:
            listener.server_close()
        for thread in self._threads:
            thread.join(timeout)
        with self._lock:
            conns = list(self._conns.values())
        for conn, _ in conns:
            _cut(conn)
        deadline = time.monotonic() + timeout
        for _, thread in conns:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    @staticmethod
    def _other_host() -> str:
        """127.0.0.2 is loopback on Linux; elsewhere fall back to 127.0.0.1 (the port still differs)."""
        try:
            with socket.socket() as probe:
                probe.bind(("127.0.0.2", 0))
            return "127.0.0.2"
        except OSError:
            return "127.0.0.1"

    def _listen(self, host: str, role: str, tls: ssl.SSLContext | None, avoid_port: int = 0) -> _Listener:
        """Bind an ephemeral port Chromium accepts, other than ``avoid_port`` (the hosts differ in port)."""
        rejected: list[_Listener] = []
        try:
            for _ in range(20):
                listener = _Listener(host, self, role, tls)
                if listener.port not in _UNSAFE_PORTS and listener.port != avoid_port:
                    self._listeners.append(listener)
                    return listener
                rejected.append(listener)
            raise OSError(f"no usable port on {host}")
        finally:
            for spare in rejected:
                spare.server_close()

    def _tls_context(self, hosts: list[str]) -> ssl.SSLContext:
        self.cert_pem, key_pem = make_self_signed(hosts)
        self._tmp = tempfile.TemporaryDirectory(prefix="warcache-fixture-")
        cert_file, key_file = Path(self._tmp.name, "cert.pem"), Path(self._tmp.name, "key.pem")
        cert_file.write_bytes(self.cert_pem)
        key_file.write_bytes(key_pem)
        self.cert_path = str(cert_file)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert_file, key_file)
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    # -- helpers for tests -------------------------------------------------------------------------

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` on the main host."""
        return self._require(self.origin) + path

    def other_url(self, path: str) -> str:
        """Absolute URL of ``path`` on the cross-origin host."""
        return self._require(self.other_origin) + path

    def https_url(self, path: str) -> str:
        """Absolute URL of ``path`` on the main host over TLS (needs https=True)."""
        return self._require(self.https_origin) + path

    def main_page_urls(
        self, *, scrolled: bool = False, favicon: bool = False, https: bool = False
    ) -> list[str]:
        """Every URL loading the main page makes the browser fetch; with ``scrolled``, also what
        scrolling to the end loads (lazy image, scroll-loaded pages); with ``favicon``, /favicon.ico."""
        origin = self._require(self.https_origin if https else self.origin)
        other = self._other_of[origin]
        paths = MAIN_PAGE_PATHS + (MAIN_PAGE_SCROLL_PATHS if scrolled else ())
        paths += ("/favicon.ico",) if favicon else ()
        return [origin + p for p in paths] + [other + p for p in MAIN_PAGE_OTHER_PATHS]

    @property
    def log(self) -> list[Sent]:
        """A snapshot of every response sent so far, in the order their last byte was written."""
        with self._lock:
            return list(self._log)

    @property
    def received(self) -> list[Received]:
        """A snapshot of every request received so far (including unanswered ones)."""
        with self._lock:
            return list(self._received)

    def sent_for(self, url: str) -> list[Sent]:
        """Responses sent for an absolute URL (a bare path means the main http host)."""
        url = self.url(url) if url.startswith("/") else url
        return [s for s in self.log if s.url == url]

    def wait_for_sent(self, url: str, timeout: float = 10.0) -> Sent:
        """Block until a response for ``url`` has been sent; the first one is returned."""
        url = self.url(url) if url.startswith("/") else url
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = next((s for s in self._log if s.url == url), None)
                remaining = deadline - time.monotonic()
                if found is not None:
                    return found
                if remaining <= 0:
                    raise TimeoutError(f"nothing sent for {url} within {timeout} s")
                self._lock.wait(remaining)

    def clear_log(self) -> None:
        """Forget what was sent and received (between two captures in one test)."""
        with self._lock:
            self._log.clear()
            self._received.clear()

    @staticmethod
    def _require(origin: str | None) -> str:
        if not origin:
            raise RuntimeError("FixtureSite is not started (or https=False)")
        return origin

    # -- serving -----------------------------------------------------------------------------------

    def _serve(self, sock: socket.socket, listener: _Listener) -> None:
        """One connection: TLS handshake if needed, then requests until close, error or stop."""
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(_IDLE_TIMEOUT)
        conn_id = self._register(sock)
        if conn_id is None:
            return
        try:
            if listener.tls is not None:
                # Registered before the handshake, so stop() can cut a client that never finishes it.
                sock = listener.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                with self._lock:
                    self._conns[conn_id] = (sock, threading.current_thread())
                    if self._stopping.is_set():
                        return
                sock.settimeout(10)
                sock.do_handshake()
                sock.settimeout(_IDLE_TIMEOUT)
            self._serve_requests(sock, listener, conn_id)
        except (OSError, ValueError, _BadRequest):
            pass  # client went away, stop() cut the connection, or garbage: nothing to answer
        finally:
            with self._lock:
                self._conns.pop(conn_id, None)
            _cut(sock)
            sock.close()

    def _register(self, sock: socket.socket) -> int | None:
        with self._lock:
            if self._stopping.is_set():
                return None
            conn_id = next(self._conn_ids)
            self._conns[conn_id] = (sock, threading.current_thread())
            return conn_id

    def _serve_requests(self, sock: socket.socket, listener: _Listener, conn_id: int) -> None:
        rfile = sock.makefile("rb")
        try:
            while not self._stopping.is_set():
                try:
                    req = read_request(rfile)
                except _BadRequest:
                    self._answer(sock, conn_id, "GET", "", [], b"",
                                 Reply(400, [("Content-Type", TEXT)], b"bad request\n"), close=True)
                    return
                if req is None or not self._handle(sock, listener, conn_id, req):
                    return
        finally:
            rfile.close()

    def _handle(self, sock: socket.socket, listener: _Listener, conn_id: int, req: _Request) -> bool:
        """Answer one request; False when the connection must end."""
        url = self._absolute_url(req, listener)
        with self._lock:
            self._received.append(Received(req.method, url, req.headers, req.body, conn_id, time.time()))
            self._lock.notify_all()
        split = urlsplit(req.target)
        ctx = Ctx(req.method, split.path or "/", parse_qs(split.query), req.headers, req.body,
                  listener.origin, self._other_of[listener.origin])
        reply = self._route(ctx, listener.role)
        if reply.hang:
            self._stopping.wait()
            return False
        if reply.delay and self._stopping.wait(reply.delay):
            return False
        close = _wants_close(req)
        return self._answer(sock, conn_id, req.method, url, req.headers, req.body, reply, close) and not close

    @staticmethod
    def _route(ctx: Ctx, role: str) -> Reply:
        if ctx.method == "OPTIONS":
            return _preflight(ctx)
        routes = MAIN_ROUTES if role == "main" else OTHER_ROUTES
        return routes.get(ctx.path, _not_found)(ctx)

    @staticmethod
    def _absolute_url(req: _Request, listener: _Listener) -> str:
        if req.target.startswith(("http://", "https://")):
            return req.target  # absolute-form, as a proxy may send it
        host = _first_header(req.headers, "Host") or listener.origin.split("://", 1)[1]
        return f"{listener.scheme}://{host}{req.target}"

    def _answer(self, sock: socket.socket, conn_id: int, method: str, url: str,
                req_headers: list[tuple[str, str]], req_body: bytes, reply: Reply, close: bool) -> bool:
        """Write the reply, logging it just before its last byte so that a client holding the whole
        response always finds it in the log; False if the client went away."""
        wire = encode_reply(reply, method, close)
        sent = Sent(method, url, reply.status, wire.headers, wire.head, b"".join(wire.parts), wire.entity,
                    wire.content, req_body, req_headers, conn_id)
        segments = [wire.head, *wire.parts]
        try:
            for i, segment in enumerate(segments[:-1]):
                sock.sendall(segment)
                if i and reply.chunk_delay:
                    time.sleep(reply.chunk_delay)
            sock.sendall(segments[-1][:-1])
        except OSError:
            return False
        sent.time = time.time()
        with self._lock:
            self._log.append(sent)
            self._lock.notify_all()
        try:
            sock.sendall(segments[-1][-1:])
        except OSError:
            sent.complete = False
            return False
        return True


def _cut(sock: socket.socket) -> None:
    """Shut a connection down from another thread, waking any recv/send blocked on it.

    socket.socket.shutdown is called directly so an SSLSocket is cut at the TCP level without
    touching its TLS state, which the handler thread may be using.
    """
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
