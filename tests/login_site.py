"""A members-only magazine on 127.0.0.1: the article is served only to a logged-in reader.

How a reader gets in, as on real sites:

* `POST /login` (user `reader`, password `letmein`) sets the session cookie `sid` (HttpOnly; a
  session cookie unless `remember` is set, as many logins are) and sends the reader to `/welcome`;
* `/welcome` stores an API token in localStorage by script (`/welcome?store=idb`: in IndexedDB,
  database `members`, store `tokens`, key `api`, as sites that keep more than strings do);
* `/article` is the article (ARTICLE_MARKER) with the cookie, and a "please log in" page
  (LOGGED_OUT_MARKER) without it; it sends the session cookie again (`Set-Cookie`, as sites that
  refresh their sessions do), and its script fetches `/api/extra` with `Authorization: Bearer
  <token from localStorage, else from IndexedDB>`, which answers with a paragraph (EXTRA_MARKER)
  that the script adds;
* `/static/style.css` may be cached for an hour (to see whether a capture takes it from a cache);
* `/live` (members only) fetches `/tick` every 100 ms for as long as it is open: a capture under way
  to break the browser in.

`session_token` and `api_token` are random per site: tests search what warcache wrote for them. The
site never shows either of them in a page a capture loads. `log` keeps, per request, the method,
path and the Cookie and Authorization headers received.
"""

from __future__ import annotations

import html
import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

ARTICLE_MARKER = "kingfisherledger"
EXTRA_MARKER = "dipperappendix"
LOGGED_OUT_MARKER = "pleaseloginwall"
USER, PASSWORD = "reader", "letmein"


@dataclass
class Hit:
    method: str
    path: str
    cookie: str | None
    authorization: str | None


@dataclass
class LoginSite:
    remember: bool = False  # the session cookie lasts a day (else: until the browser closes)
    session_token: str = field(default_factory=lambda: "sid" + secrets.token_hex(16))
    api_token: str = field(default_factory=lambda: "tok" + secrets.token_hex(16))
    log: list[Hit] = field(default_factory=list)

    def start(self) -> LoginSite:
        site = self

        class Handler(_Handler):
            pass

        Handler.site = site
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        self.base = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> LoginSite:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def url(self, path: str) -> str:
        return self.base + path

    @property
    def origin(self) -> str:
        return self.base

    def hits(self, path: str) -> list[Hit]:
        return [h for h in self.log if h.path == path]

    def session_cookie(self) -> str:
        attributes = "; Max-Age=86400" if self.remember else ""
        return f"sid={self.session_token}; Path=/; HttpOnly; SameSite=Lax{attributes}"


_ARTICLE_TEXT = ("The {m} records every heron, egret and kingfisher seen on the estuary this spring, "
                 "counted by members at dawn on the first Sunday of each month. Paragraph {n}.")


def _page(title: str, body: str, head: str = "") -> bytes:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"{head}</head><body>{body}</body></html>").encode()


class _Handler(BaseHTTPRequestHandler):
    site: LoginSite

    def log_message(self, *args) -> None:
        pass

    def _logged_in(self) -> bool:
        cookies = self.headers.get_all("Cookie") or []
        wanted = f"sid={self.site.session_token}"
        return any(wanted in [part.strip() for part in line.split(";")] for line in cookies)

    def _note(self, method: str) -> None:
        self.site.log.append(Hit(method, self.path, self.headers.get("Cookie"),
                                 self.headers.get("Authorization")))

    def _send(self, status: int, ctype: str, body: bytes, headers: list[tuple[str, str]] = ()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self._note("POST")
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        if self.path == "/login" and form.get("user") == [USER] and form.get("password") == [PASSWORD]:
            self._send(303, "text/plain", b"", [("Location", "/welcome"),
                                                ("Set-Cookie", self.site.session_cookie())])
        else:
            self._send(200, "text/html; charset=utf-8", _page("Log in", "<p>Wrong user or password.</p>"))

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._note("GET")
        path = self.path.split("?")[0]
        html_type = "text/html; charset=utf-8"
        if path == "/":
            self._send(200, html_type, _page("The Estuary Members", '<a href="/article">Article</a>'))
        elif path == "/login":
            form = ('<form method=post action="/login"><input name=user><input name=password type=password>'
                    '<button type=submit>Log in</button></form>')
            self._send(200, html_type, _page("Log in", form))
        elif path == "/welcome" and self._logged_in():
            token = json.dumps(self.site.api_token)
            script = f"<script>localStorage.setItem('api_token', {token});</script>"
            if "store=idb" in self.path:
                script = ("<script>const open = indexedDB.open('members', 1);"
                          "open.onupgradeneeded = () => open.result.createObjectStore('tokens');"
                          "open.onsuccess = () => {"
                          " const tx = open.result.transaction('tokens', 'readwrite');"
                          f"tx.objectStore('tokens').put({token}, 'api');"
                          "tx.oncomplete = () => document.body.insertAdjacentHTML('beforeend',"
                          " '<p id=stored>Stored.</p>'); };</script>")
            self._send(200, html_type, _page("Welcome", "<p id=welcome>Welcome, reader.</p>", script))
        elif path == "/article" and self._logged_in():
            paragraphs = "".join(f"<p>{_ARTICLE_TEXT.format(m=ARTICLE_MARKER, n=n)}</p>" for n in range(4))
            body = (f"<article><h1>The heron census</h1>{paragraphs}<p id=extra></p></article>"
                    '<script src="/static/extra.js"></script>')
            head = '<link rel=stylesheet href="/static/style.css">'
            self._send(200, html_type, _page("The heron census", body, head),
                       [("Set-Cookie", self.site.session_cookie()), ("Cache-Control", "no-store")])
        elif path == "/live" and self._logged_in():  # a members' page that keeps fetching (a live blog)
            script = "<script>setInterval(() => fetch('/tick?' + Date.now()), 100);</script>"
            self._send(200, html_type, _page("Live", f"<p>{ARTICLE_MARKER} live</p>{script}"),
                       [("Cache-Control", "no-store")])
        elif path == "/tick":
            self._send(200, "text/plain", b"tick", [("Cache-Control", "no-store")])
        elif path in ("/article", "/welcome", "/live"):
            body = f"<p>{LOGGED_OUT_MARKER}: please log in to read this article.</p>"
            self._send(200, html_type, _page("Please log in", body), [("Cache-Control", "no-store")])
        elif path == "/static/extra.js":
            script = ("const fromIdb = () => new Promise(resolve => {"
                      " const open = indexedDB.open('members');"
                      " open.onupgradeneeded = () => open.transaction.abort();"  # no such database
                      " open.onerror = () => resolve(null);"
                      " open.onsuccess = () => { const db = open.result;"
                      "  if (!db.objectStoreNames.contains('tokens')) return resolve(null);"
                      "  const get = db.transaction('tokens').objectStore('tokens').get('api');"
                      "  get.onsuccess = () => resolve(get.result || null);"
                      "  get.onerror = () => resolve(null); };"
                      "});"
                      "Promise.resolve(localStorage.getItem('api_token') || fromIdb())"
                      ".then(t => t ? fetch('/api/extra', {headers: {Authorization: 'Bearer ' + t}}) : null)"
                      ".then(r => r && r.ok ? r.json() : null)"
                      ".then(j => { if (j) document.getElementById('extra').textContent = j.text; });")
            self._send(200, "text/javascript", script.encode())
        elif path == "/static/style.css":
            self._send(200, "text/css", b"article { font-family: serif; }",
                       [("Cache-Control", "max-age=3600")])
        elif path == "/api/extra":
            if self.headers.get("Authorization") == f"Bearer {self.site.api_token}":
                extra = {"text": f"Members' extra: {EXTRA_MARKER}"}
                self._send(200, "application/json", json.dumps(extra).encode())
            else:
                self._send(401, "application/json", b'{"error": "no token"}')
        elif path == "/favicon.ico":
            self._send(404, "text/plain", b"no icon")
        else:
            self._send(404, "text/plain", b"not here")
