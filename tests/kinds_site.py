"""Fixture pages for what exact replay cannot answer: one page per kind of trouble.

The same raw-socket server as `fixture_site` (every byte logged), with other routes. Each page
runs its requests, writes one line per result into `<pre id="out">` and sets
`data-done` on <html> when finished; what it writes depends only on what the responses said,
never on the clock or on random numbers, so a replay must show exactly what the live page
showed.

    /volatile.html  URLs and POST bodies made at run time: `?_=Date.now()`, `?cb=Math.random()`,
                    `page=2&rnd=<hex>` (page 1 archived too), `t=`, a bare epoch time, a UUID
                    token, a JSON POST with a nonce and a form POST with a cache-buster
    /jsonp.html     JSONP with a random callback name, jQuery's style, a dotted name, Express's
                    `typeof cb === 'function' && cb(...)` guard
    /images.html    srcset densities, <picture> with `w` candidates, image-set() in a style
                    attribute and in a style sheet, a srcset set by script: every image sized,
                    each set one colour at every density (so a picture at another density shows
                    the same)
    /media.html     <audio> the server sends in 16 KiB pieces, seeked, and played once the
                    reader clicks (autoplay policy); byte ranges fetched by script
    /sri.html       scripts and a style sheet with `integrity`: plain, cross-origin (CORS),
                    module, modulepreload, a rewritten style sheet, one created by script with a
                    cache-buster
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
import random
import struct
from collections.abc import Callable

from fixture_site import HTML, JS, JSON_TYPE, Ctx, FixtureSite, Reply, make_png

PAGES = ("/volatile.html", "/jsonp.html", "/images.html", "/media.html", "/sri.html")
DONE = "() => document.documentElement.dataset.done === '1'"
OUT = "() => document.getElementById('out').textContent"

_CORS = ("Access-Control-Allow-Origin", "*")

_HEAD = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<style>body {{ font: 14px sans-serif; margin: 8px; }} pre {{ min-height: 2em; }}</style>
{head}</head><body><h1>{title}</h1><pre id="out"></pre>{body}
<script>
window.out = (line) => {{ document.getElementById("out").textContent += line + "\\n"; }};
window.hex = (n) => Array.from(crypto.getRandomValues(new Uint8Array(n)),
                              (b) => b.toString(16).padStart(2, "0")).join("");
</script>
{script}
</body></html>
"""


def _page(title: str, script: str, *, head: str = "", body: str = "") -> bytes:
    return _HEAD.format(title=title, head=head, body=body, script=script).encode()


def _ok(ctype: str, content: bytes, *extra: tuple[str, str]) -> Reply:
    return Reply(200, [("Content-Type", ctype), ("Cache-Control", "no-store"), *extra], content)


def _json(obj: object) -> Reply:
    return _ok(JSON_TYPE, json.dumps(obj).encode())


def _arg(ctx: Ctx, name: str, default: str = "") -> str:
    return (ctx.query.get(name) or [default])[0]


# ------------------------------------------------------------------------------------------------
# 3. Volatile URLs
# ------------------------------------------------------------------------------------------------
_VOLATILE_JS = """<script>
(async () => {
  const get = (u) => fetch(u).then((r) => r.ok ? r.json() : {text: "HTTP " + r.status});
  const xhr = (u) => new Promise((resolve) => {
    const x = new XMLHttpRequest();
    x.open("GET", u);
    x.onload = () => resolve(x.status === 200 ? JSON.parse(x.responseText) : {text: "HTTP " + x.status});
    x.onerror = () => resolve({text: "xhr failed"});
    x.send();
  });
  // Each line says what was asked and what came back, so a wrong answer never passes for a right one.
  const asked = ["busted", "random", "page 1", "page 2", "clock", "since", "search", "post", "form"];
  const lines = await Promise.all([
    get("/api/busted.json?_=" + Date.now()),
    xhr("/api/random.json?cb=" + Math.random()),
    get("/api/items?page=1&rnd=" + hex(8)),
    get("/api/items?page=2&rnd=" + hex(8)),
    get("/api/clock?t=" + Date.now() + "&zone=utc"),
    get("/api/since?from=" + Math.floor(Date.now() / 1000)),
    get("/api/search?q=lakes&token=" + crypto.randomUUID()),
    fetch("/api/post", {method: "POST", headers: {"Content-Type": "application/json"},
                        body: JSON.stringify({q: "geese", nonce: hex(16), ts: Date.now()})})
      .then((r) => r.ok ? r.json() : {text: "HTTP " + r.status}),
    fetch("/api/form", {method: "POST", body: new URLSearchParams({q: "ice", _: String(Date.now())})})
      .then((r) => r.ok ? r.json() : {text: "HTTP " + r.status}),
  ].map((p) => p.catch((e) => ({text: "failed " + e}))));
  lines.forEach((l, i) => out(asked[i] + " -> " + l.text));
  document.documentElement.dataset.done = "1";
})();
</script>"""

_VOLATILE: dict[str, Callable[[Ctx], Reply]] = {
    "/volatile.html": lambda ctx: _ok(HTML, _page("Volatile URLs", _VOLATILE_JS)),
    "/api/busted.json": lambda ctx: _json({"text": "busted: cormorant cache-busted JSON"}),
    "/api/random.json": lambda ctx: _json({"text": "random: pipit fetched with a random number"}),
    "/api/items": lambda ctx: _json({"text": f"items: page {_arg(ctx, 'page')} of the vole list"}),
    "/api/clock": lambda ctx: _json({"text": f"clock: zone {_arg(ctx, 'zone')} (tern)"}),
    "/api/since": lambda ctx: _json({"text": "since: plover items since a moment"}),
    "/api/search": lambda ctx: _json({"text": f"search: {_arg(ctx, 'q')} found by the dipper"}),
}


def _post(ctx: Ctx) -> Reply:
    data = json.loads(ctx.body or b"{}")
    return _json({"text": f"post: {data.get('q')} answered to the grebe"})


def _form(ctx: Ctx) -> Reply:
    from urllib.parse import parse_qs

    data = parse_qs(ctx.body.decode())
    return _json({"text": f"form: {data.get('q', ['?'])[0]} answered to the shag"})


_VOLATILE["/api/post"] = _post
_VOLATILE["/api/form"] = _form


# ------------------------------------------------------------------------------------------------
# 4. JSONP
# ------------------------------------------------------------------------------------------------
_JSONP_JS = """<script>
window.__cbs = {};
const jsonp = (url, name, assign) => new Promise((resolve) => {
  assign((data) => resolve(data.text));
  const s = document.createElement("script");
  s.src = url + (url.includes("?") ? "&" : "?") + "callback=" + encodeURIComponent(name);
  s.onerror = () => resolve("script failed: " + url.split("?")[0]);
  document.head.appendChild(s);
  setTimeout(() => resolve("no call: " + url.split("?")[0]), 8000);
});
(async () => {
  const random = "cb_" + hex(6);
  const jq = "jQuery" + String(Math.random()).replace(/\\D/g, "").slice(0, 16) + "_" + Date.now();
  const dotted = "c" + hex(4);
  const guarded = "g_" + hex(5);
  const asked = ["weather, random name", "tides, jQuery's name", "winds, dotted name", "currents, guarded"];
  const lines = await Promise.all([
    jsonp("/api/jsonp?topic=weather", random, (f) => { window[random] = f; }),
    jsonp("/api/jsonp?topic=tides&_=" + Date.now(), jq, (f) => { window[jq] = f; }),
    jsonp("/api/jsonp?topic=winds", "__cbs." + dotted, (f) => { window.__cbs[dotted] = f; }),
    jsonp("/api/jsonp-guarded?topic=currents", guarded, (f) => { window[guarded] = f; }),
  ]);
  lines.forEach((line, i) => out(asked[i] + " -> " + line));
  document.documentElement.dataset.done = "1";
})();
</script>"""

_JSONP_WORDS = {"weather": "avocet", "tides": "curlew", "winds": "godwit", "currents": "knot"}


def _jsonp(guarded: bool) -> Callable[[Ctx], Reply]:
    def route(ctx: Ctx) -> Reply:
        name = _arg(ctx, "callback", "callback")
        topic = _arg(ctx, "topic")
        data = json.dumps({"text": f"jsonp: {topic} from the {_JSONP_WORDS.get(topic, '?')}"})
        body = f"/**/ typeof {name} === 'function' && {name}({data});" if guarded else f"{name}({data});"
        return _ok("application/javascript; charset=utf-8", body.encode())

    return route


_JSONP: dict[str, Callable[[Ctx], Reply]] = {
    "/jsonp.html": lambda ctx: _ok(HTML, _page("JSONP", _JSONP_JS)),
    "/api/jsonp": _jsonp(False),
    "/api/jsonp-guarded": _jsonp(True),
}


# ------------------------------------------------------------------------------------------------
# 5. Responsive images
# ------------------------------------------------------------------------------------------------
#: name -> (css width, css height, colour); files exist at 1x/2x/3x (`w` files by width).
IMAGE_SETS = {
    "dens": (120, 60, (200, 40, 40)),
    "bg": (100, 50, (40, 160, 60)),
    "bg2": (90, 45, (40, 60, 200)),
    "js": (80, 40, (200, 160, 20)),
    "pic": (300, 100, (120, 40, 160)),
}

_IMAGES_BODY = """
<p><img id="dens" alt="" width="120" height="60"
  srcset="/img/dens-1x.png 1x, /img/dens-2x.png 2x, /img/dens-3x.png 3x" src="/img/dens-1x.png"></p>
<p><picture id="picture">
  <source media="(min-width: 5000px)" srcset="/img/pic-wide.png">
  <source srcset="/img/pic-300w.png 300w, /img/pic-600w.png 600w, /img/pic-900w.png 900w" sizes="300px">
  <img id="pic" alt="" width="300" height="100" src="/img/pic-300w.png">
</picture></p>
<div id="bg" style="width: 100px; height: 50px; background-size: 100px 50px;
  background-image: image-set(url('/img/bg-1x.png') 1x, url('/img/bg-2x.png') 2x)"></div>
<div id="bg2" class="bg2"></div>
<p id="jsimg"></p>
"""

_IMAGES_JS = """<script>
(async () => {
  const img = new Image(80, 40);
  img.id = "js";
  img.srcset = "/img/js-1x.png 1x, /img/js-2x.png 2x";
  document.getElementById("jsimg").appendChild(img);
  const loaded = (el) => new Promise((resolve) => {
    if (el.complete && el.naturalWidth) return resolve(true);
    el.addEventListener("load", () => resolve(true));
    el.addEventListener("error", () => resolve(false));
    setTimeout(() => resolve(el.naturalWidth > 0), 8000);
  });
  const background = (id) => new Promise((resolve) => {
    const url = getComputedStyle(document.getElementById(id)).backgroundImage;
    const m = /url\\("?([^")]+)"?\\)/.exec(url);
    if (!m) return resolve(false);
    const probe = new Image();
    probe.onload = () => resolve(true);
    probe.onerror = () => resolve(false);
    setTimeout(() => resolve(false), 8000);
    probe.src = m[1];
  });
  const names = ["dens", "pic", "js", "bg", "bg2"];
  const results = await Promise.all([
    loaded(document.getElementById("dens")), loaded(document.getElementById("pic")), loaded(img),
    background("bg"), background("bg2"),
  ]).then((oks) => oks.map((ok, i) => [names[i], ok]));
  results.forEach(([name, ok]) => out(name + ": " + (ok ? "shown" : "BROKEN")));
  document.documentElement.dataset.done = "1";
})();
</script>"""

_IMAGES_CSS = """.bg2 { width: 90px; height: 45px; background-size: 90px 45px;
  background-image: -webkit-image-set("/img/bg2-1x.png" 1x, "/img/bg2-2x.png" 2x); }
"""


@functools.cache
def image_bytes(name: str) -> bytes | None:
    """The PNG of /img/<name>.png: `<set>-<n>x` or `pic-<w>w` (or pic-wide), one colour per set."""
    base, _, variant = name.rpartition("-")
    if base not in IMAGE_SETS:
        return None
    width, height, colour = IMAGE_SETS[base]
    if variant.endswith("x") and variant[:-1].isdigit():
        scale = int(variant[:-1])
        w, h = width * scale, height * scale
    elif variant.endswith("w") and variant[:-1].isdigit():
        w = int(variant[:-1])
        h = w * height // width
    elif variant == "wide":
        w, h = width * 4, height * 4
    else:
        return None
    return make_png(w, h, lambda x, y: colour)


def _image(ctx: Ctx) -> Reply:
    name = ctx.path.removeprefix("/img/").removesuffix(".png")
    data = image_bytes(name)
    if data is None:
        return Reply(404, [("Content-Type", "text/plain")], b"no such image\n")
    return _ok("image/png", data)


_IMAGES: dict[str, Callable[[Ctx], Reply]] = {
    "/images.html": lambda ctx: _ok(
        HTML,
        _page(
            "Responsive images",
            _IMAGES_JS,
            head='<link rel="stylesheet" href="/static/images.css">',
            body=_IMAGES_BODY,
        ),
    ),
    "/static/images.css": lambda ctx: _ok("text/css", _IMAGES_CSS.encode()),
}


# ------------------------------------------------------------------------------------------------
# Media and byte ranges
# ------------------------------------------------------------------------------------------------
PIECE = 16 * 1024  # the most the server sends per range, as many media servers cap it


@functools.cache
def tone_wav(seconds: float = 4.0, rate: int = 8000) -> bytes:
    """A mono 16-bit WAV of a 440 Hz tone."""
    frames = int(seconds * rate)
    samples = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * n / rate))) for n in range(frames)
    )
    header = b"RIFF" + struct.pack("<I", 36 + len(samples)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    header += b"data" + struct.pack("<I", len(samples))
    return header + samples


DATA_BIN = random.Random(2024).randbytes(4096)


def _ranged(data: bytes, ctype: str, cap: int | None) -> Callable[[Ctx], Reply]:
    def route(ctx: Ctx) -> Reply:
        value = next((v for k, v in ctx.headers if k.lower() == "range"), None)
        headers = [("Content-Type", ctype), ("Accept-Ranges", "bytes"), ("ETag", '"fixture-1"')]
        total = len(data)
        if not value or not value.startswith("bytes="):
            return Reply(200, headers, data)
        first, _, last = value[6:].partition("-")
        if first:
            start = int(first)
            end = min(int(last), total - 1) if last else total - 1
        else:
            start, end = max(0, total - int(last)), total - 1
        if start >= total:
            return Reply(416, [("Content-Range", f"bytes */{total}")])
        if cap is not None:
            end = min(end, start + cap - 1)
        return Reply(
            206, [*headers, ("Content-Range", f"bytes {start}-{end}/{total}")], data[start : end + 1]
        )

    return route


_MEDIA_BODY = '<audio id="audio" src="/media/tone.wav" preload="auto" muted></audio>'
_MEDIA_JS = """<script>
const clicked = new Promise((resolve) => document.addEventListener("click", resolve, {once: true}));
(async () => {
  const sum = (buf) => new Uint8Array(buf).reduce((a, b) => (a * 31 + b) >>> 0, 7);
  const ranged = (range) => fetch("/media/data.bin", {headers: {Range: range}})
    .then(async (r) => range + " -> " + r.status + " " + (r.headers.get("Content-Range") || "") +
                       " sum " + sum(await r.arrayBuffer()))
    .catch((e) => range + " -> failed");
  out(await ranged("bytes=100-199"));
  out(await ranged("bytes=-50"));
  const audio = document.getElementById("audio");
  const once = (name, ms) => new Promise((resolve) => {
    audio.addEventListener(name, () => resolve(true), {once: true});
    setTimeout(() => resolve(false), ms);
  });
  if (audio.readyState < 1) await once("loadedmetadata", 10000);
  out("duration: " + (audio.duration ? audio.duration.toFixed(1) : "none"));
  audio.currentTime = 3.0;
  const seeked = await once("seeked", 10000);
  out("seeked: " + (seeked ? audio.currentTime.toFixed(1) : "no"));
  // Playing needs the reader's click (the browser's autoplay policy): the test clicks.
  await clicked;
  audio.muted = true;
  let played = false;
  try { await audio.play(); played = true; } catch (e) { out("play: " + e.name); }
  if (played) {
    const start = audio.currentTime;
    const moved = await new Promise((resolve) => {
      const tick = () => audio.currentTime > start + 0.2 ? resolve(true) : setTimeout(tick, 50);
      tick();
      setTimeout(() => resolve(false), 8000);
    });
    out("played: " + (moved ? "yes" : "stalled"));
    audio.pause();
  }
  out("error: " + (audio.error ? audio.error.code : "none"));
  document.documentElement.dataset.done = "1";
})();
</script>"""

_MEDIA: dict[str, Callable[[Ctx], Reply]] = {
    "/media.html": lambda ctx: _ok(HTML, _page("Media", _MEDIA_JS, body=_MEDIA_BODY)),
    "/media/tone.wav": _ranged(tone_wav(), "audio/wav", PIECE),
    "/media/data.bin": _ranged(DATA_BIN, "application/octet-stream", None),
}


# ------------------------------------------------------------------------------------------------
# Subresource integrity
# ------------------------------------------------------------------------------------------------
def _sri_script(word: str) -> bytes:
    return f'out("sri: {word} ran");\n'.encode()


SRI_SCRIPTS = {
    "/static/sri-plain.js": _sri_script("plain script (heron)"),
    "/static/sri-dyn.js": _sri_script("script made by script, cache-busted (egret)"),
    "/static/sri-cross.js": _sri_script("cross-origin script with CORS (bittern)"),
    "/static/sri-mod.js": b'out("sri: module script (ibis)");\nexport {};\n',
}
SRI_CSS = b"#sri-css { width: 20px; height: 20px; background: url('/img/dens-1x.png'); }\n"


def integrity(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def _script(data: bytes, ctx: Ctx) -> Reply:
    return _ok(JS, data)


def _sri_page(ctx: Ctx) -> Reply:
    sums = {path: integrity(data) for path, data in SRI_SCRIPTS.items()}
    head = (
        f'<link rel="stylesheet" href="/static/sri.css" integrity="{integrity(SRI_CSS)}">'
        f'<link rel="modulepreload" href="/static/sri-mod.js" integrity="{sums["/static/sri-mod.js"]}">'
    )
    body = '<div id="sri-css"></div>'
    script = f"""<script src="/static/sri-plain.js" integrity="{sums["/static/sri-plain.js"]}"
  crossorigin="anonymous"></script>
<script src="{ctx.other}/static/sri-cross.js" integrity="{sums["/static/sri-cross.js"]}"
  crossorigin="anonymous"></script>
<script type="module" src="/static/sri-mod.js" integrity="{sums["/static/sri-mod.js"]}"></script>
<script>
(async () => {{
  // The module script runs before DOMContentLoaded: the lines come in one order, live or replayed.
  if (document.readyState === "loading") {{
    await new Promise((resolve) => document.addEventListener("DOMContentLoaded", resolve));
  }}
  await new Promise((resolve) => {{
    const s = document.createElement("script");
    s.src = "/static/sri-dyn.js?_=" + Date.now();
    s.integrity = "{sums["/static/sri-dyn.js"]}";
    s.onload = s.onerror = resolve;
    document.body.appendChild(s);
  }});
  await new Promise((resolve) => setTimeout(resolve, 300));
  const box = getComputedStyle(document.getElementById("sri-css"));
  out("sri: style sheet " + (box.width === "20px" ? "applied" : "BLOCKED"));
  document.documentElement.dataset.done = "1";
}})();
</script>"""
    return _ok(HTML, _page("Subresource integrity", script, head=head, body=body))


_SRI: dict[str, Callable[[Ctx], Reply]] = {
    "/sri.html": _sri_page,
    "/static/sri.css": lambda ctx: _ok("text/css", SRI_CSS),
    **{
        path: functools.partial(_script, data)
        for path, data in SRI_SCRIPTS.items()
        if path != "/static/sri-cross.js"
    },
}
_SRI_OTHER: dict[str, Callable[[Ctx], Reply]] = {
    "/static/sri-cross.js": lambda ctx: _ok(JS, SRI_SCRIPTS["/static/sri-cross.js"], _CORS),
}

MAIN = {**_VOLATILE, **_JSONP, **_IMAGES, **_MEDIA, **_SRI}
OTHER = dict(_SRI_OTHER)


class KindsSite(FixtureSite):
    """The kinds pages on the fixture server (main host and a cross-origin one)."""

    @staticmethod
    def _route(ctx: Ctx, role: str) -> Reply:
        if ctx.path.startswith("/img/") and role == "main":
            return _image(ctx)
        routes = MAIN if role == "main" else OTHER
        route = routes.get(ctx.path)
        if route is None:
            return Reply(404, [("Content-Type", "text/plain")], f"no route {ctx.path}\n".encode())
        return route(ctx)
