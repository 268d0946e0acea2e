"""A local site whose pages look at their own URL the ways real sites do, and say what they saw.

Why this exists: replay is only faithful if a replayed page sees the URL it had live.  Each page
here is built the way real sites are (a client-side router reading `location.pathname`, a script
building API addresses from `location.host`, navigations by `location.href =`, messages between
frames checked against `event.origin`, a module reading `import.meta.url`, a service worker...),
compares what it sees with the values the server wrote into it (the site's own host and port, as
a real site hard-codes its domain), and renders one line per check in `#verdict`: `name: ok`, or
`name: BAD <what it got>`.  It sets `data-done` on <body> when it has finished.  "Shows what it
showed live" is then a comparison of that text (and of a screenshot) between the live site and a
replay, and a live page that does not say `ok` everywhere is a broken fixture.

Two origins: the main one on 127.0.0.1 and another on 127.0.0.2 (another loopback address, its
own port), for cross-origin frames, messages and navigations.  Plain HTTP/1.1 with keep-alive;
nothing here needs byte-exact logging (see fixture_site.py for that).

    with RealWorldSite() as site:
        site.url("/app/items/7?tab=info")
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

#: Ports Chromium refuses to connect to that an ephemeral bind could return.
_UNSAFE_PORTS = frozenset(
    {1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6679, 6697, 10080, *range(6665, 6670)}
)

#: The kinds of page, each with the URL (path on the main origin) a test opens.  The `nav-*`
#: pages navigate away at once; the page they land on gives the verdict.
KINDS: dict[str, str] = {
    "router": "/app/items/7?tab=info",
    "location-parts": "/hosturls.html?x=1",
    "document-urls": "/docurl.html?y=2",
    "history": "/history.html",
    "messages": "/messages.html",
    "module": "/module.html",
    "worker": "/worker.html",
    "service-worker": "/sw/page.html",
    "event-source": "/events.html",
    "nav-href": "/nav/start.html#href",
    "nav-location": "/nav/start.html#location",
    "nav-assign": "/nav/start.html#assign",
    "nav-replace": "/nav/start.html#replace",
    "nav-absolute": "/nav/start.html#absolute",
    "nav-cross-origin": "/nav/start.html#cross",
    "nav-reload": "/nav/start.html#reload",
    "frame-bust-href": "/bust/page.html#href",
    "frame-bust-assign": "/bust/page.html#assign",
}


def capture_urls(site: RealWorldSite) -> list[str]:
    """What to capture so that every kind can be replayed: each page once (the navigation pages
    choose what to do by their fragment, so one capture serves them all), and the pages the
    navigations land on, on both origins."""
    paths = dict.fromkeys(p.split("#", 1)[0] for p in KINDS.values())  # /bust/page.html brings its frame
    return [site.url(p) for p in [*paths, "/nav/done.html"]] + [site.other_url("/nav/done.html")]


# ---------------------------------------------------------------------------------------------
# The pages.  {ORIGIN}, {HOST}, {PORT}, {OTHER}, {OTHER_HOST} are filled in when served.
# ---------------------------------------------------------------------------------------------
VERDICT_JS = """// Shared by every page: record checks, render them, say when done.
(function () {
  const lines = [];
  let pending = 0;
  function show() {
    const el = document.getElementById("verdict");
    if (el) el.textContent = lines.join("\\n");
  }
  window.V = {
    check(name, ok, got) {
      lines.push(name + ": " + (ok ? "ok" : "BAD " + String(got).slice(0, 200)));
      show();
    },
    equal(name, got, want) { V.check(name, got === want, got); },
    note(text) { lines.push(text); show(); },
    done() { show(); document.body.dataset.done = "1"; },
    wait(ms) { return new Promise((r) => setTimeout(r, ms)); },
  };
})();
"""

_HEAD = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body {{ font: 16px/1.4 sans-serif; margin: 20px; }} pre {{ font: 15px monospace; }}</style>
<script src="/static/verdict.js"></script></head>"""


def _page(title: str, body: str) -> str:
    return _HEAD.format(title=title) + f"<body><h1>{title}</h1><pre id=\"verdict\"></pre>{body}</body></html>"


ROUTER_HTML = _page("Router app", """<nav><a data-link id="to-about" href="/app/about">About</a>
<a data-link href="/app/items/7?tab=info">Item 7</a></nav><main id="view"></main>
<script src="/static/router.js"></script>""")

# A small router that behaves like React Router's BrowserRouter: the route comes from
# location.pathname and location.search, link clicks push history entries, popstate re-renders.
ROUTER_JS = """(async function () {
  const view = document.getElementById("view");
  async function render() {
    const path = location.pathname, params = new URLSearchParams(location.search);
    let m;
    if ((m = /^\\/app\\/items\\/(\\d+)$/.exec(path))) {
      const item = await (await fetch("/api/items/" + m[1] + ".json")).json();
      view.textContent = "item " + item.name + " tab=" + params.get("tab");
    } else if (path === "/app/about") {
      view.textContent = "about page";
    } else {
      view.textContent = "not found: " + path;
    }
    return view.textContent;
  }
  document.addEventListener("click", (e) => {
    const a = e.target.closest("a[data-link]");
    if (!a) return;
    e.preventDefault();
    history.pushState({route: a.pathname}, "", a.href);
    render();
  });
  const first = await render();
  V.equal("initial route", first, "item seven tab=info");
  document.getElementById("to-about").click();
  await V.wait(50);
  V.equal("after a link click", view.textContent, "about page");
  V.equal("pathname after push", location.pathname, "/app/about");
  V.equal("history.state", history.state && history.state.route, "/app/about");
  const back = new Promise((r) => addEventListener("popstate", r, {once: true}));
  history.back();
  await back;
  V.equal("after back", await render(), first);
  V.equal("href after back", location.href, "{ORIGIN}/app/items/7?tab=info");
  V.done();
})();
"""

HOSTURLS_HTML = _page("Addresses built from location", "<script src=\"/static/hosturls.js\"></script>")

HOSTURLS_JS = """(async function () {
  const ORIGIN = "{ORIGIN}", HOST = "{HOST}", PORT = "{PORT}";
  V.equal("protocol", location.protocol, "http:");
  V.equal("hostname", location.hostname, HOST);
  V.equal("host", location.host, HOST + ":" + PORT);
  V.equal("port", location.port, PORT);
  V.equal("origin", location.origin, ORIGIN);
  V.equal("href", location.href, ORIGIN + "/hosturls.html?x=1");
  V.equal("pathname", location.pathname, "/hosturls.html");
  V.equal("search", location.search, "?x=1");
  V.equal("String(location)", String(location), ORIGIN + "/hosturls.html?x=1");
  V.equal("template", `${location}`, ORIGIN + "/hosturls.html?x=1");
  V.equal("document.location.hostname", document.location.hostname, HOST);
  V.equal("window.location.host", window.location.host, HOST + ":" + PORT);
  V.equal("self.location.origin", self.location.origin, ORIGIN);
  const {hostname, port} = location;
  V.equal("destructured", hostname + ":" + port, HOST + ":" + PORT);
  const loc = window.location;
  V.equal("location in a variable", loc.host, HOST + ":" + PORT);
  V.check("site guard", location.hostname === HOST, "wrong domain");
  const api = location.protocol + "//" + location.host + "/api/config.json";
  V.equal("built address", api, ORIGIN + "/api/config.json");
  V.equal("fetch of the built address", (await (await fetch(api)).json()).name, "config");
  const viaOrigin = new URL("/api/config.json", location.origin).href;
  V.equal("fetch from location.origin", (await (await fetch(viaOrigin)).json()).name, "config");
  const a = document.createElement("a");
  a.href = "/somewhere?q=1";
  V.equal("a.href", a.href, ORIGIN + "/somewhere?q=1");
  V.equal("a.hostname", a.hostname, HOST);
  V.equal("a.origin", a.origin, ORIGIN);
  V.equal("baseURI host", new URL(document.baseURI).host, HOST + ":" + PORT);
  V.done();
})();
"""

# The frame's message is listened for before the frame exists: it may post before docurl.js runs.
DOCURL_HTML = _page("Document addresses", """<script>
window.FROM_FRAME = new Promise((r) => addEventListener("message", (e) => r(e), {once: true}));
</script><iframe src="/docurl-frame.html" width="300" height="60">
</iframe><script src="/static/docurl.js"></script>""")

DOCURL_JS = """(async function () {
  const ORIGIN = "{ORIGIN}", HOST = "{HOST}", HERE = ORIGIN + "/docurl.html?y=2";
  const fromFrame = window.FROM_FRAME;
  V.equal("document.URL", document.URL, HERE);
  V.equal("document.documentURI", document.documentURI, HERE);
  V.equal("document.baseURI", document.baseURI, HERE);
  V.equal("document.referrer", document.referrer, "");
  V.equal("document.domain", document.domain, HOST);
  V.equal("window.origin", window.origin, ORIGIN);
  V.equal("Request.url", new Request("/api/config.json").url, ORIGIN + "/api/config.json");
  const response = await fetch("/api/config.json");
  V.equal("Response.url", response.url, ORIGIN + "/api/config.json");
  const xhr = new XMLHttpRequest();
  await new Promise((r) => { xhr.onloadend = r; xhr.open("GET", "/api/config.json"); xhr.send(); });
  V.equal("XMLHttpRequest.responseURL", xhr.responseURL, ORIGIN + "/api/config.json");
  document.cookie = "visited=yes; path=/";
  V.check("cookie", document.cookie.includes("visited=yes"), document.cookie);
  const e = await fromFrame;
  V.equal("message origin", e.origin, ORIGIN);
  V.equal("frame's document.referrer", e.data.referrer, HERE);
  V.equal("frame's document.URL", e.data.url, ORIGIN + "/docurl-frame.html");
  V.done();
})();
"""

DOCURL_FRAME_HTML = """<!doctype html><html><body><p>frame</p><script>
parent.postMessage({referrer: document.referrer, url: document.URL}, "{ORIGIN}");
</script></body></html>"""

HISTORY_HTML = _page("History", "<script src=\"/static/history.js\"></script>")

HISTORY_JS = """(async function () {
  const ORIGIN = "{ORIGIN}";
  history.pushState({n: 1}, "", ORIGIN + "/history.html?step=2");
  V.equal("pushState with an absolute URL", location.href, ORIGIN + "/history.html?step=2");
  V.equal("history.state", history.state.n, 1);
  history.replaceState({n: 2}, "", "?step=3");
  V.equal("replaceState with a relative URL", location.href, ORIGIN + "/history.html?step=3");
  history.pushState({n: 3}, "", "/history/deep/path");
  V.equal("pushState with a path", location.pathname, "/history/deep/path");
  V.equal("document.URL after push", document.URL, ORIGIN + "/history/deep/path");
  try {
    history.pushState(null, "", "http://elsewhere.invalid/x");
    V.check("pushState to another origin throws", false, "did not throw");
  } catch (e) {
    V.equal("pushState to another origin throws", e.name, "SecurityError");
  }
  const popped = new Promise((r) => addEventListener("popstate", (e) => r(e), {once: true}));
  history.back();
  const e = await popped;
  V.equal("popstate state", e.state && e.state.n, 2);
  V.equal("location after back", location.href, ORIGIN + "/history.html?step=3");
  V.done();
})();
"""

MESSAGES_HTML = _page("Messages between frames", """<script src="/static/messages.js"></script>
<iframe id="same" src="/msg/same.html" width="300" height="60"></iframe>
<iframe id="cross" src="{OTHER}/msg/cross.html" width="300" height="60"></iframe>""")

MESSAGES_JS = """(async function () {
  const ORIGIN = "{ORIGIN}", OTHER = "{OTHER}";
  const got = {};
  const waiters = {};
  addEventListener("message", (e) => {
    const key = e.data && e.data.from;
    if (!key) return;
    got[key] = e;
    if (waiters[key]) waiters[key](e);
  });
  const wait = (key) => got[key] ? Promise.resolve(got[key]) :
    Promise.race([new Promise((r) => { waiters[key] = r; }), V.wait(5000).then(() => null)]);
  const same = await wait("same");
  V.equal("same-origin frame: event.origin", same && same.origin, ORIGIN);
  V.equal("same-origin frame: its location.origin", same && same.data.origin, ORIGIN);
  const cross = await wait("cross");
  V.equal("cross-origin frame: event.origin", cross && cross.origin, OTHER);
  V.equal("cross-origin frame: its location.hostname", cross && cross.data.hostname, "{OTHER_HOST}");
  V.equal("cross-origin frame: its href", cross && cross.data.href, OTHER + "/msg/cross.html");
  document.getElementById("cross").contentWindow.postMessage({from: "parent"}, OTHER);
  const reply = await wait("cross-reply");
  V.equal("cross-origin frame saw the parent's origin", reply && reply.data.sawOrigin, ORIGIN);
  window.postMessage({from: "self"}, location.origin);
  const self = await wait("self");
  V.equal("message to itself: event.origin", self && self.origin, ORIGIN);
  window.postMessage({from: "nobody"}, "http://elsewhere.invalid");
  await V.wait(300);
  V.check("message with another targetOrigin is dropped", !got.nobody, "delivered");
  V.done();
})();
"""

MSG_SAME_HTML = """<!doctype html><html><body><p>same-origin frame</p><script>
parent.postMessage({from: "same", origin: location.origin}, "{ORIGIN}");
</script></body></html>"""

MSG_CROSS_HTML = """<!doctype html><html><body><p>cross-origin frame</p><script>
addEventListener("message", (e) => {
  if (e.origin !== "{ORIGIN}") return;
  parent.postMessage({from: "cross-reply", sawOrigin: e.origin}, "{ORIGIN}");
});
parent.postMessage({from: "cross", hostname: location.hostname, href: location.href}, "{ORIGIN}");
</script></body></html>"""

MODULE_HTML = _page("Modules", """<script type="module" src="/static/mod-main.js"></script>
<script type="module">
window.inlineMeta = import.meta.url;
</script>""")

MOD_MAIN_JS = """import {value} from "./mod-dep.js";
import {absolute} from "{ORIGIN}/static/mod-abs.js";
const ORIGIN = "{ORIGIN}";
V.equal("import.meta.url", import.meta.url, ORIGIN + "/static/mod-main.js");
V.equal("relative static import", value, "dep");
V.equal("absolute static import", absolute, "abs");
const data = await (await fetch(new URL("./mod-data.json", import.meta.url))).json();
V.equal("fetch relative to import.meta.url", data.name, "module data");
const dyn = await import("./mod-dyn.js");
V.equal("dynamic import", dyn.dynamic, "dyn");
const dyn2 = await import(ORIGIN + "/static/mod-dyn2.js");
V.equal("dynamic import of an absolute URL", dyn2.dynamic, "dyn2");
V.equal("location in a module", location.href, ORIGIN + "/module.html");
V.equal("inline module's import.meta.url", window.inlineMeta, ORIGIN + "/module.html");
V.done();
"""

WORKER_HTML = _page("Workers", "<script src=\"/static/worker-page.js\"></script>")

WORKER_PAGE_JS = """(async function () {
  const run = (url, options) => new Promise((resolve) => {
    const w = new Worker(url, options);
    w.onmessage = (e) => resolve(e.data);
    w.onerror = (e) => resolve({error: String(e.message || e)});
  });
  for (const [label, result] of [["worker", await run("/static/w.js")],
                                 ["module worker", await run("/static/mw.js", {type: "module"})]]) {
    if (result.error) { V.check(label, false, result.error); continue; }
    for (const [name, ok, got] of result.checks) V.check(label + ": " + name, ok, got);
  }
  V.done();
})();
"""

W_JS = """const ORIGIN = "{ORIGIN}", checks = [];
const eq = (name, got, want) => checks.push([name, got === want, String(got)]);
eq("location.href", self.location.href, ORIGIN + "/static/w.js");
eq("location.hostname", location.hostname, "{HOST}");
eq("location.origin", location.origin, ORIGIN);
eq("self.origin", self.origin, ORIGIN);
importScripts(ORIGIN + "/static/w-lib.js");
eq("importScripts of an absolute URL", self.libValue, "lib");
fetch(self.location.origin + "/api/config.json").then((r) => r.json()).then((j) => {
  eq("fetch from location.origin", j.name, "config");
  postMessage({checks});
}, (e) => { checks.push(["fetch", false, String(e)]); postMessage({checks}); });
"""

MW_JS = """const ORIGIN = "{ORIGIN}", checks = [];
const eq = (name, got, want) => checks.push([name, got === want, String(got)]);
eq("import.meta.url", import.meta.url, ORIGIN + "/static/mw.js");
eq("location.host", location.host, "{HOST}:{PORT}");
const j = await (await fetch(new URL("/api/config.json", import.meta.url))).json();
eq("fetch relative to import.meta.url", j.name, "config");
postMessage({checks});
"""

SW_HTML = _page("Service worker", "<script src=\"/static/sw-page.js\"></script>")

SW_PAGE_JS = """(async function () {
  const ORIGIN = "{ORIGIN}";
  try {
    const reg = await navigator.serviceWorker.register("/sw/sw.js", {scope: "/sw/"});
    V.equal("registration.scope", reg.scope, ORIGIN + "/sw/");
    await navigator.serviceWorker.ready;
    if (!navigator.serviceWorker.controller) {
      await new Promise((r) => navigator.serviceWorker.addEventListener("controllerchange", r, {once: true}));
    }
    V.equal("controller.scriptURL", navigator.serviceWorker.controller.scriptURL, ORIGIN + "/sw/sw.js");
    const made = await (await fetch("/sw/made.json")).json();
    V.equal("answered by the worker", made.by, "service worker");
    V.equal("the worker's location.hostname", made.hostname, "{HOST}");
    V.equal("the worker's self.origin", made.origin, ORIGIN);
    V.equal("the request url the worker saw", made.url, ORIGIN + "/sw/made.json");
    V.equal("precached by the worker", await (await fetch("/sw/cached.txt")).text(), "cached text");
    const through = await (await fetch("/sw/passthrough.json")).json();
    V.equal("fetched through the worker", through.name, "through");
  } catch (e) {
    V.check("service worker", false, e);
  }
  V.done();
})();
"""

SW_JS = """self.addEventListener("install", (e) => {
  e.waitUntil(caches.open("v1").then((c) => c.add("/sw/cached.txt")).then(() => self.skipWaiting()));
});
self.addEventListener("activate", (e) => e.waitUntil(self.clients.claim()));
self.addEventListener("fetch", (e) => {
  const url = new URL(e.request.url);
  if (url.pathname === "/sw/made.json") {
    const body = JSON.stringify({by: "service worker", hostname: self.location.hostname,
                                 origin: self.origin, url: e.request.url});
    e.respondWith(new Response(body, {headers: {"Content-Type": "application/json"}}));
  } else if (url.pathname === "/sw/cached.txt") {
    e.respondWith(caches.match(e.request).then((r) => r || fetch(e.request)));
  } else if (url.pathname === "/sw/passthrough.json") {
    e.respondWith(fetch(e.request));
  }
});
"""

EVENTS_HTML = _page("Event stream and WebSocket", "<script src=\"/static/events.js\"></script>")

EVENTS_JS = """(async function () {
  const messages = [];
  const es = new EventSource("/events/stream");
  const two = new Promise((r) => {
    es.onmessage = (e) => { messages.push(e.data); if (messages.length === 2) r(); };
  });
  await Promise.race([two, V.wait(5000)]);
  es.close();
  V.equal("event stream", messages.join(","), "one,two");
  const tryOpen = (url) => new Promise((resolve) => {
    let ws;
    try { ws = new WebSocket(url); } catch (e) { resolve("refused"); return; }
    ws.onopen = () => resolve("open");
    ws.onerror = ws.onclose = () => resolve("failed");
    setTimeout(() => resolve("no answer"), 5000);
  });
  V.equal("WebSocket to its own host", await tryOpen("ws://" + location.host + "/ws"), "failed");
  V.equal("WebSocket to another origin", await tryOpen("ws://{OTHER_HOST}:{OTHER_PORT}/ws"), "failed");
  V.done();
})();
"""

NAV_START_HTML = _page("Navigation", "<p id=\"how\"></p><script src=\"/static/nav.js\"></script>")

NAV_JS = """(function () {
  const ORIGIN = "{ORIGIN}", OTHER = "{OTHER}";
  const how = location.hash.slice(1);
  document.getElementById("how").textContent = how;
  setTimeout(() => {
    switch (how) {
      case "href": location.href = "/nav/done.html#via=href"; break;
      case "location": location = "done.html#via=location"; break;
      case "assign": location.assign("/nav/done.html#via=assign"); break;
      case "replace": location.replace("/nav/done.html#via=replace"); break;
      case "absolute": window.location = ORIGIN + "/nav/done.html#via=absolute"; break;
      case "cross": location.href = OTHER + "/nav/done.html#via=cross"; break;
      case "reload":
        if (!sessionStorage.getItem("reloaded")) {
          sessionStorage.setItem("reloaded", "1");
          location.reload();
        } else {
          sessionStorage.removeItem("reloaded");
          V.check("reloaded", true);
          V.equal("href after reload", location.href, ORIGIN + "/nav/start.html#reload");
          V.done();
        }
        break;
      default:
        V.done();
    }
  }, 30);
})();
"""

NAV_DONE_HTML = _page("Arrived", "<script src=\"/static/nav-done.js\"></script>")

NAV_DONE_JS = """(function () {
  const HERE = location.port === "{PORT}" ? "{ORIGIN}" : "{OTHER}";
  const via = location.hash.slice(5);
  V.note("arrived via " + via);
  V.equal("href", location.href, HERE + "/nav/done.html#via=" + via);
  V.equal("origin", location.origin, HERE);
  const from = via === "cross" ? "{ORIGIN}/" :
    via.startsWith("bust") ? "{OTHER}/" : "{ORIGIN}/nav/start.html";
  V.equal("document.referrer", document.referrer, from);
  V.done();
})();
"""

# A cross-origin frame that sends the top window somewhere ("frame busting"): the navigation is
# the frame's, so the top window's own client never sees it.
BUST_HTML = _page("Frame busting", """<p>the frame sends this window away</p><script>
const frame = document.createElement("iframe");
frame.src = "{OTHER}/bust/frame.html#" + location.hash.slice(1);
document.body.appendChild(frame);
if (!location.hash) V.done();
</script>""")

BUST_FRAME_HTML = """<!doctype html><html><body><p>frame</p><script>
const how = location.hash.slice(1), to = "{ORIGIN}/nav/done.html#via=bust-" + how;
if (how === "href") top.location.href = to;
if (how === "assign") top.location = to;
</script></body></html>"""

EVENT_STREAM = b"retry: 600000\n\ndata: one\n\ndata: two\n\n"


def _json(obj: object) -> bytes:
    return json.dumps(obj).encode()


def _routes() -> dict[str, tuple[str, str | bytes]]:
    """Path -> (content type, body) for fixed paths; /app/* is the router's shell."""
    html, js, jsn = "text/html; charset=utf-8", "text/javascript; charset=utf-8", "application/json"
    return {
        "/static/verdict.js": (js, VERDICT_JS),
        "/static/router.js": (js, ROUTER_JS),
        "/api/items/7.json": (jsn, _json({"name": "seven"})),
        "/hosturls.html": (html, HOSTURLS_HTML),
        "/static/hosturls.js": (js, HOSTURLS_JS),
        "/api/config.json": (jsn, _json({"name": "config"})),
        "/docurl.html": (html, DOCURL_HTML),
        "/static/docurl.js": (js, DOCURL_JS),
        "/docurl-frame.html": (html, DOCURL_FRAME_HTML),
        "/history.html": (html, HISTORY_HTML),
        "/static/history.js": (js, HISTORY_JS),
        "/messages.html": (html, MESSAGES_HTML),
        "/static/messages.js": (js, MESSAGES_JS),
        "/msg/same.html": (html, MSG_SAME_HTML),
        "/msg/cross.html": (html, MSG_CROSS_HTML),
        "/module.html": (html, MODULE_HTML),
        "/static/mod-main.js": (js, MOD_MAIN_JS),
        "/static/mod-dep.js": (js, 'export const value = "dep";\n'),
        "/static/mod-abs.js": (js, 'export const absolute = "abs";\n'),
        "/static/mod-dyn.js": (js, 'export const dynamic = "dyn";\n'),
        "/static/mod-dyn2.js": (js, 'export const dynamic = "dyn2";\n'),
        "/static/mod-data.json": (jsn, _json({"name": "module data"})),
        "/worker.html": (html, WORKER_HTML),
        "/static/worker-page.js": (js, WORKER_PAGE_JS),
        "/static/w.js": (js, W_JS),
        "/static/w-lib.js": (js, 'self.libValue = "lib";\n'),
        "/static/mw.js": (js, MW_JS),
        "/sw/page.html": (html, SW_HTML),
        "/static/sw-page.js": (js, SW_PAGE_JS),
        "/sw/sw.js": (js, SW_JS),
        "/sw/cached.txt": ("text/plain", "cached text"),
        "/sw/passthrough.json": (jsn, _json({"name": "through"})),
        "/events.html": (html, EVENTS_HTML),
        "/static/events.js": (js, EVENTS_JS),
        "/events/stream": ("text/event-stream", EVENT_STREAM),
        "/nav/start.html": (html, NAV_START_HTML),
        "/static/nav.js": (js, NAV_JS),
        "/nav/done.html": (html, NAV_DONE_HTML),
        "/static/nav-done.js": (js, NAV_DONE_JS),
        "/bust/page.html": (html, BUST_HTML),
        "/bust/frame.html": (html, BUST_FRAME_HTML),
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        site, path = self.server.site, urlsplit(self.path).path
        site.requests.append(f"{self.server.origin}{self.path}")
        if path.startswith("/app/"):
            ctype, body = "text/html; charset=utf-8", ROUTER_HTML
        elif path in site.routes:
            ctype, body = site.routes[path]
        else:
            self._send(404, "text/plain", b"not found")
            return
        if isinstance(body, str):
            body = site.fill(body).encode()
        self._send(200, ctype, body)

    def _send(self, status: int, ctype: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    site: RealWorldSite
    origin: str


def _bind(host: str) -> _Server:
    for _ in range(20):
        server = _Server((host, 0), _Handler)
        if server.server_address[1] not in _UNSAFE_PORTS:
            return server
        server.server_close()
    raise OSError(f"no usable port on {host}")


def _other_host() -> str:
    """127.0.0.2 is loopback on Linux; elsewhere fall back to 127.0.0.1 (the port still differs)."""
    try:
        with socket.socket() as probe:
            probe.bind(("127.0.0.2", 0))
        return "127.0.0.2"
    except OSError:
        return "127.0.0.1"


class RealWorldSite:
    """The site on two loopback origins (see the module docstring)."""

    def __init__(self) -> None:
        self.routes = _routes()
        self.requests: list[str] = []
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []
        self.host, self.port = "127.0.0.1", 0
        self.other_host, self.other_port = _other_host(), 0

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def other_origin(self) -> str:
        return f"http://{self.other_host}:{self.other_port}"

    def url(self, path: str) -> str:
        return self.origin + path

    def other_url(self, path: str) -> str:
        return self.other_origin + path

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """Where the site listens (or listened): a test puts a trap there once it is stopped."""
        return [(self.host, self.port), (self.other_host, self.other_port)]

    def fill(self, text: str) -> str:
        for key, value in (("{ORIGIN}", self.origin), ("{OTHER}", self.other_origin),
                           ("{OTHER_HOST}", self.other_host), ("{OTHER_PORT}", str(self.other_port)),
                           ("{HOST}", self.host), ("{PORT}", str(self.port))):
            text = text.replace(key, value)
        return text

    def start(self) -> RealWorldSite:
        main = _bind(self.host)
        self.port = main.server_address[1]
        other = _bind(self.other_host)
        while other.server_address[1] == self.port:
            other.server_close()
            other = _bind(self.other_host)
        self.other_port = other.server_address[1]
        for server in (main, other):
            server.site = self
            server.origin = f"http://{server.server_address[0]}:{server.server_address[1]}"
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            self._servers.append(server)
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()

    def __enter__(self) -> RealWorldSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
