"""A local site for the capture behaviours: a consent wall, "load more", a user script's page,
media served with byte ranges (a file, an HLS stream), and a page that loads trackers.

Why its own server: these pages test what warcache does to a page (clicks, plays, blocks), not
byte fidelity, so http.server's handler suffices; what matters is the log of every request it
received (method, path, Host, Range), which proves that a blocked tracker never reached it and
that the browser asked for media in pieces. It listens on 127.0.0.1 only. The tracker is the
same server under another name: captures map `tracker.test` to 127.0.0.1 with `--resolve`.

Every page carries marker words from MARKERS so a test can find each part in an archive.
"""

from __future__ import annotations

import io
import json
import math
import struct
import threading
import time
import wave
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

MEDIA_DIR = Path(__file__).parent / "data" / "media"
TRACKER_HOST = "tracker.test"
CMP_HOST = "cmp.test"  # serves a consent dialog in an iframe, as Sourcepoint does

MARKERS = {
    "consent_article": "puffinconsent",  # text under the consent wall
    "consent_lazy": "puffinlazyscroll",  # loaded when the page is scrolled (locked by the wall)
    "generic_article": "grebegeneric",  # text under the generic (non-CMP) dialog
    "generic_lazy": "grebelazyscroll",
    "loadmore": "curlewload",  # + page number: items loaded by "Load more"
    "readmore": "ospreyreadmore",  # the rest of the text, fetched by "Read more"
    "details": "avocetdetails",  # inside a closed <details>
    "behavior": "shrikecomment",  # comments shown only after the user script clicks the tab
    "video": "egretvideo",
    "tracked": "ploverpage",  # the page that loads trackers
    "elsewhere": "snipeelsewhere",  # a page linked as "Read more" that must not be followed
    "framed_article": "wagtailframed",  # text under a consent dialog served in an iframe
}
LOADMORE_PAGES = 3


def make_wav(seconds: float = 1.0, rate: int = 8000) -> bytes:
    """A mono 16-bit tone, made here (no encoder needed)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
                               for i in range(int(seconds * rate))))
    return out.getvalue()


def _page(title: str, body: str, head: str = "") -> bytes:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>{head}</head>"
            f"<body>{body}</body></html>").encode()


_LAZY_JS = """<script>
  // Loaded only when the reader scrolls near the end (a scroll-locked page never gets it).
  addEventListener('scroll', function once() {
    if (scrollY + innerHeight < document.body.scrollHeight - 200) return;
    removeEventListener('scroll', once);
    fetch('/api/lazy.json?page=%s').then(r => r.json()).then(d => {
      const p = document.createElement('p'); p.textContent = d.text; document.body.append(p);
    });
  });
</script>"""

_FILLER = "<p style='height:2400px'>Long article body.</p>"

CONSENT_PAGE = _page("Consent wall", f"""
  <h1>Article</h1><p>{MARKERS['consent_article']} is the text under the wall.</p>{_FILLER}
  <div id="onetrust-consent-sdk">
    <div class="onetrust-pc-dark-filter"
         style="position:fixed;inset:0;background:rgba(0,0,0,.6);z-index:9"></div>
    <div id="onetrust-banner-sdk"
         style="position:fixed;bottom:0;left:0;right:0;background:#fff;z-index:10">
      <p>We use cookies.</p>
      <button id="onetrust-accept-btn-handler">Accept all</button>
      <button id="onetrust-reject-all-handler">Reject all</button>
    </div>
  </div>
  <script>
    // The lock scroll-lock libraries use: a fixed body cannot be scrolled, even by script.
    document.documentElement.style.overflow = 'hidden';
    document.body.style.position = 'fixed'; document.body.style.width = '100%';
    const buttons = [['onetrust-accept-btn-handler', 'accept'], ['onetrust-reject-all-handler', 'reject']];
    for (const [id, choice] of buttons) {{
      document.getElementById(id).addEventListener('click', () => {{
        fetch('/consent/answer?choice=' + choice);
        document.getElementById('onetrust-banner-sdk').remove();  // the backdrop and the lock stay
      }});
    }}
  </script>
  {_LAZY_JS % 'consent'}""")

GENERIC_PAGE = _page("Generic consent", f"""
  <h1>Article</h1><p>{MARKERS['generic_article']} is the text under the dialog.</p>{_FILLER}
  <div class="privacy-prompt" role="dialog" aria-modal="true"
       style="position:fixed;inset:20% 20%;background:#fff;z-index:10">
    <p>Wir verwenden Cookies, um Inhalte zu personalisieren.</p>
    <a href="/privacy.html">Datenschutzerklärung</a>
    <button type="button" class="b1">Alle akzeptieren</button>
    <button type="button" class="b2">Alle ablehnen</button>
  </div>
  <script>
    document.body.style.overflow = 'hidden';
    document.body.style.position = 'fixed'; document.body.style.width = '100%';
    document.querySelector('.b1').onclick = () => {{ fetch('/consent/answer?choice=accept'); }};
    document.querySelector('.b2').onclick = () => {{
      fetch('/consent/answer?choice=reject');
      document.querySelector('.privacy-prompt').remove();
    }};
  </script>
  {_LAZY_JS % 'generic'}""")

LOADMORE_PAGE = _page("Load more", f"""
  <h1>Comments</h1><ul id="items"></ul>
  <button id="more" type="button">Load more</button>
  <p id="intro">The beginning of the story. <a href="#" id="readmore">Read more</a></p>
  <p><a href="/elsewhere.html">Read more</a> about something else (a link: never clicked).</p>
  <form action="/submitted"><button>Show more</button></form>
  <details><summary>Notes</summary><p>{MARKERS['details']} folded away.</p></details>
  <script>
    let page = 0;
    document.getElementById('more').onclick = async () => {{
      page += 1;
      const data = await (await fetch('/api/items.json?page=' + page)).json();
      for (const text of data.items) {{
        const li = document.createElement('li');
        li.textContent = text;
        document.getElementById('items').append(li);
      }}
      if (!data.more) document.getElementById('more').remove();
    }};
    document.getElementById('readmore').onclick = async (event) => {{
      event.preventDefault();
      const data = await (await fetch('/api/rest.json')).json();
      event.target.replaceWith(document.createTextNode(data.text));
    }};
  </script>""")

BEHAVIOR_PAGE = _page("Behaviour", """
  <h1>Post</h1><div id="tabs"><button id="show-comments">Comments (2)</button></div>
  <div id="comments"></div>
  <script>
    document.getElementById('show-comments').onclick = async () => {
      await new Promise(r => setTimeout(r, 300));
      const data = await (await fetch('/api/comments.json')).json();
      for (const text of data) {
        const p = document.createElement('p'); p.className = 'comment'; p.textContent = text;
        document.getElementById('comments').append(p);
      }
    };
  </script>""")

VIDEO_PAGE = _page("Video", f"""
  <h1>{MARKERS['video']}</h1>
  <video id="clip" src="/media/clip.webm" preload="none" controls width="96" height="64"></video>
  <audio src="/media/tone.wav" preload="none" controls></audio>""")

# A video whose file comes a byte at a time: no download of it ends within a short --media-timeout.
SLOW_VIDEO_PAGE = _page("Slow video", f"""
  <h1>{MARKERS['video']} slowly</h1>
  <video src="/media/slow.webm" preload="none" controls width="96" height="64"></video>""")

HLS_PAGE = _page("Stream", """
  <h1>Stream</h1>
  <video src="/media/hls/index.m3u8" preload="none" controls width="96" height="64"></video>""")

TRACKED_PAGE = b""  # built per server (it names the server's port)

FRAMED_CONSENT_PAGE = b""  # built per server (its iframe names the server's port)

CMP_FRAME = _page("Consent", """
  <div class="message"><p>Your privacy matters to us.</p>
    <button class="accept">Accept</button><button class="reject">Reject</button></div>
  <script>
    for (const choice of ['accept', 'reject']) {
      document.querySelector('button.' + choice).onclick = async () => {
        await fetch('/consent/answer?choice=' + choice + '-in-frame');
        parent.postMessage('consent-done', '*');
      };
    }
  </script>""")

ELSEWHERE_PAGE = _page("Elsewhere", f"<p>{MARKERS['elsewhere']}</p>")


@dataclass
class Received:
    method: str
    path: str
    host: str
    headers: dict[str, str]


class BehaviourSite:
    """Start with `with BehaviourSite() as site:`; `site.url(path)`, `site.received`."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self.media = {"/media/clip.webm": (MEDIA_DIR / "clip.webm").read_bytes(),
                      "/media/tone.wav": make_wav(),
                      "/media/hls/index.m3u8": (MEDIA_DIR / "hls" / "index.m3u8").read_bytes(),
                      "/media/hls/seg0.ts": (MEDIA_DIR / "hls" / "seg0.ts").read_bytes(),
                      "/media/hls/seg1.ts": (MEDIA_DIR / "hls" / "seg1.ts").read_bytes()}
        self._server: ThreadingHTTPServer | None = None
        self.port = 0
        self.trickled: list[float] = []  # how long each slow download lasted before its client went

    def __enter__(self) -> BehaviourSite:
        site = self

        class Handler(_Handler):
            owner = site

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def tracker_url(self, path: str) -> str:
        return f"http://{TRACKER_HOST}:{self.port}{path}"

    def requests_for(self, path: str, host: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path.split("?")[0] == path
                    and (host is None or r.host.split(":")[0] == host)]

    def hosts(self) -> set[str]:
        with self._lock:
            return {r.host.split(":")[0] for r in self.received}

    def clear(self) -> None:
        with self._lock:
            self.received.clear()


class _Handler(BaseHTTPRequestHandler):
    owner: BehaviourSite
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        site = self.owner
        split = urlsplit(self.path)
        path, query = split.path, parse_qs(split.query)
        host = self.headers.get("Host", "")
        with site._lock:
            site.received.append(Received("GET", self.path, host, dict(self.headers.items())))
        if host.split(":")[0] == TRACKER_HOST:
            return self._send(200, "application/javascript", b"/* tracker */")
        if host.split(":")[0] == CMP_HOST:
            if path == "/consent/answer":
                return self._json({"ok": True})
            return self._send(200, "text/html; charset=utf-8", CMP_FRAME)
        pages = {"/consent.html": CONSENT_PAGE, "/generic-consent.html": GENERIC_PAGE,
                 "/loadmore.html": LOADMORE_PAGE, "/behavior.html": BEHAVIOR_PAGE, "/video.html": VIDEO_PAGE,
                 "/hls.html": HLS_PAGE, "/elsewhere.html": ELSEWHERE_PAGE, "/tracked.html": self._tracked(),
                 "/framed-consent.html": self._framed_consent(), "/slow-video.html": SLOW_VIDEO_PAGE}
        if path in pages:
            return self._send(200, "text/html; charset=utf-8", pages[path])
        if path == "/api/lazy.json":
            key = query.get("page", ["consent"])[0]
            return self._json({"text": MARKERS[f"{key}_lazy"]})
        if path == "/consent/answer":
            return self._json({"ok": True})
        if path == "/api/items.json":
            n = int(query.get("page", ["1"])[0])
            return self._json({"items": [f"{MARKERS['loadmore']}{n} item {i}" for i in range(3)],
                               "more": n < LOADMORE_PAGES})
        if path == "/api/rest.json":
            return self._json({"text": f"The rest: {MARKERS['readmore']}."})
        if path == "/api/comments.json":
            return self._json([f"{MARKERS['behavior']} one", f"{MARKERS['behavior']} two"])
        if path.startswith("/ads/"):
            return self._send(200, "image/gif", b"GIF89a")
        if path == "/media/slow.webm":
            return self._trickle("video/webm", site.media["/media/clip.webm"])
        if path in site.media:
            return self._media(path, site.media[path])
        return self._send(404, "text/plain", b"not found\n")

    def _tracked(self) -> bytes:
        tracker = self.owner.tracker_url
        return _page("Tracked", f"""
          <h1>{MARKERS['tracked']}</h1>
          <script src="{tracker('/track.js')}"></script>
          <img src="{tracker('/pixel.gif')}" alt=""><img src="/ads/banner.gif" alt="">
          <img src="/ads/ok.gif" alt="">""")

    def _framed_consent(self) -> bytes:
        frame = f"http://{CMP_HOST}:{self.owner.port}/message.html?message_id=7"
        return _page("Framed consent", f"""
          <h1>Article</h1><p>{MARKERS['framed_article']} under a dialog in a frame.</p>
          <div id="sp_message_container_7" style="position:fixed;inset:0;background:rgba(0,0,0,.5)">
            <iframe id="sp_message_iframe_7" src="{frame}" width="300" height="200"></iframe></div>
          <script>
            // Like Sourcepoint: the frame says when it is done; the container only goes on a
            // message the capture may or may not get, so it is hidden by the rules' `hide`.
            addEventListener('message', () => fetch('/consent/answer?choice=frame-said-done'));
          </script>""")

    def _json(self, obj) -> None:
        self._send(200, "application/json", json.dumps(obj).encode())

    def _media(self, path: str, data: bytes) -> None:
        ctype = {"webm": "video/webm", "wav": "audio/wav", "m3u8": "application/vnd.apple.mpegurl",
                 "ts": "video/mp2t"}[path.rsplit(".", 1)[1]]
        wanted = self.headers.get("Range", "")
        if wanted.startswith("bytes="):
            first, _, last = wanted[6:].split(",")[0].partition("-")
            start = int(first) if first else max(0, len(data) - int(last))
            end = min(int(last), len(data) - 1) if first and last else len(data) - 1
            if start >= len(data):
                return self._send(416, "text/plain", b"", [("Content-Range", f"bytes */{len(data)}")])
            return self._send(206, ctype, data[start:end + 1], [
                ("Content-Range", f"bytes {start}-{end}/{len(data)}"), ("Accept-Ranges", "bytes")])
        self._send(200, ctype, data, [("Accept-Ranges", "bytes")])

    def _trickle(self, ctype: str, data: bytes) -> None:
        """The whole file's headers at once, then its bytes one every 50 ms until the client goes."""
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        start = time.monotonic()
        try:
            for i in range(len(data)):
                self.wfile.write(data[i:i + 1])
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass
        finally:
            with self.owner._lock:
                self.owner.trickled.append(time.monotonic() - start)

    def _send(self, status: int, ctype: str, body: bytes, extra: list[tuple[str, str]] = ()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
