"""A local web server whose pages misbehave on purpose, for warcache's reliability tests.

Why a second fixture server: tests/fixture_site.py builds each response whole and logs its bytes, which
suits fidelity tests. Hostile pages need the opposite: responses that never end, bodies of hundreds of
megabytes generated as they are sent, a WebSocket that chatters forever, header blocks no parser should
accept. Each route here writes to its socket directly, so it can stream, trickle, loop or break the
protocol. Everything listens on 127.0.0.1 only; :meth:`HostileSite.stop` ends every endless response.

Every page carries a marker word from :data:`MARKERS` so a test can find it in an archive.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import json
import os
import random
import signal
import socket
import socketserver
import struct
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

MARKERS = {
    "longpoll": "lynxlongpoll",
    "scroll": "otterscroll",
    "dialogs": "quokkadialog",
    "download": "jackaldownload",
    "navaway": "ibexnavaway",
    "landing": "bisonlanding",
    "popups": "tapirpopup",
    "websocket": "dingowebsocket",
    "malformed": "gerbilmalformed",
    "control": "vicunacontrol",
    "long_url": "alpacalongurl",
    "trickle": "marmottrickle",
    "huge": "walrushuge",
    "navigate": "caracalnavigate",
    "freeze": "pangolinfreeze",
}

#: The title of /control-title.html: control characters, a terminal escape sequence, bidi overrides,
#: and 100 000 characters in all.
CONTROL_TITLE = ("Evil\x1b[31mRED\x1b[0m\x07bell\x00nul\r\nnewline\x7f\x9b2J\u202egnp.exe "
                 + MARKERS["control"] + " " + "x" * 100_000)
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455's fixed handshake GUID


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    path: str = ""
    query: dict[str, list[str]] = field(default_factory=dict)

    def arg(self, name: str, default: str = "") -> str:
        return self.query.get(name, [default])[0]


def page(title: str, body: str, *, head: str = "") -> bytes:
    return (f"<!doctype html><html><head><meta charset=utf-8><title>{title}</title>{head}</head>"
            f"<body>{body}</body></html>").encode()


class _Conn:
    """One client connection, as a route writes to it."""

    def __init__(self, sock: socket.socket, site: HostileSite) -> None:
        self.sock = sock
        self.site = site

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self, status: int, ctype: str, body: bytes, *extra: tuple[str, str]) -> None:
        head = f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in extra)
        self.send(head.encode("latin-1") + b"Connection: close\r\nCache-Control: no-store\r\n\r\n" + body)

    def html(self, body: bytes) -> None:
        self.reply(200, "text/html; charset=utf-8", body)

    def stopping(self, wait: float = 0.0) -> bool:
        """True once the site is stopping; waits up to `wait` seconds for that."""
        return self.site._stopping.wait(wait)


Route = Callable[[_Conn, Request], None]

# --------------------------------------------------------------------------------------------------
# Never-ending requests


def _longpoll_page(c: _Conn, r: Request) -> None:
    c.html(page("long poll", f"<p>{MARKERS['longpoll']}</p><script>"
                "async function poll(){for(;;){try{await (await fetch('/poll?'+Date.now())).text();}"
                "catch(e){await new Promise(r=>setTimeout(r,200));}}}"
                "poll(); setInterval(()=>fetch('/tick?'+Math.random()).catch(()=>0), 100);"
                "</script>"))


def _poll(c: _Conn, r: Request) -> None:
    c.stopping(1.5)  # a long poll: the answer comes late, and the page asks again at once
    c.reply(200, "text/plain", b"nothing new\n")


def _tick(c: _Conn, r: Request) -> None:
    c.reply(200, "text/plain", b"tick\n")


def _trickle_page(c: _Conn, r: Request) -> None:
    c.html(page("trickle", f"<p>{MARKERS['trickle']}</p><img src=/trickle.bin>"))


def _trickle(c: _Conn, r: Request) -> None:
    """A body without end: no length, one byte every `ms` (100) milliseconds until the site stops."""
    pause = int(r.arg("ms", "100") or 100) / 1000
    c.send(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nConnection: close\r\n\r\n")
    while not c.stopping(pause):
        c.send(b"x")


# --------------------------------------------------------------------------------------------------
# Redirects, navigation, popups, dialogs, scrolling


def _redirect_loop(c: _Conn, r: Request) -> None:
    n = int(r.arg("n", "0") or 0)
    body = b"<p>loop</p>"
    c.reply(302, "text/html", body, ("Location", f"/redirect-loop?n={n + 1}"))


def _self_redirect(c: _Conn, r: Request) -> None:
    c.reply(301, "text/html", b"<p>self</p>", ("Location", "/self-redirect"))


def _navaway(c: _Conn, r: Request) -> None:
    n = int(r.arg("n", "0") or 0)
    c.html(page(f"navaway {n}", f"<p>{MARKERS['navaway']} {n}</p><script>"
                f"setTimeout(()=>{{location.href='/navaway.html?n={n + 1}'}}, 150);</script>"))


def _navaway_once(c: _Conn, r: Request) -> None:
    c.html(page("navaway once", f"<p>{MARKERS['navaway']}</p><script>"
                "setTimeout(()=>{location.replace('/landing.html')}, 300);</script>"))


def _landing(c: _Conn, r: Request) -> None:
    c.html(page("landing", f"<p>{MARKERS['landing']}</p>"))


def _nav_script(c: _Conn, r: Request) -> None:
    """/nav-script.html?to=URL: once loaded, the page sends itself to URL by script."""
    to = json.dumps(r.arg("to", "/landing.html"))
    c.html(page("nav script", f"<p>{MARKERS['navigate']} by script</p><script>"
                f"addEventListener('load', ()=>setTimeout(()=>{{location.href={to}}}, 100));</script>"))


def _nav_meta(c: _Conn, r: Request) -> None:
    """/nav-meta.html?to=URL: a meta refresh to URL."""
    to = html.escape(r.arg("to", "/landing.html"), quote=True)
    c.html(page("nav meta", f"<p>{MARKERS['navigate']} by meta refresh</p>",
                head=f'<meta http-equiv="refresh" content="0; url={to}">'))


def _freeze(c: _Conn, r: Request) -> None:
    """/freeze.html: calls the test's `hooks["freeze"]` (which stops the browser) before answering."""
    hook = c.site.hooks.get("freeze")
    if hook is not None:
        hook(r)
    c.html(page("freeze", f"<p>{MARKERS['freeze']}</p>"))


def _popups(c: _Conn, r: Request) -> None:
    c.html(page("popups", f"<p>{MARKERS['popups']}</p><script>let i=0;"
                "setInterval(()=>{window.open('/popups.html?child='+(i++), '_blank');}, 150);</script>"))


def _dialogs(c: _Conn, r: Request) -> None:
    c.html(page("dialogs", f"<p id=m>{MARKERS['dialogs']}</p><script>"
                "setInterval(()=>{alert('a'); confirm('b'); prompt('c','d');"
                " window.print && 0;}, 20);</script>"))


def _dialogs_blocking(c: _Conn, r: Request) -> None:
    """Dialogs in a loop that never yields: the page's script runs forever between dialogs."""
    c.html(page("dialogs forever", f"<p>{MARKERS['dialogs']}</p><script>"
                "window.addEventListener('load', ()=>{for(;;){alert('again'); confirm('and again');}});"
                "</script>"))


def _endless_scroll(c: _Conn, r: Request) -> None:
    c.html(page("endless", f"<p>{MARKERS['scroll']}</p><div id=list></div><script>"
                "let n=0; function more(){for(let i=0;i<20;i++){const d=document.createElement('div');"
                "d.style.height='120px'; d.textContent='item '+(n++); list.appendChild(d);}"
                "fetch('/more?n='+n).catch(()=>0);}"
                "more(); addEventListener('scroll', ()=>{"
                "if(innerHeight+scrollY>=document.body.scrollHeight-400) more();});</script>"))


def _more(c: _Conn, r: Request) -> None:
    c.reply(200, "application/json", b'{"more": true}')


# --------------------------------------------------------------------------------------------------
# Big bodies and downloads


def _huge(c: _Conn, r: Request) -> None:
    """`mb` megabytes of generated bytes, streamed with a Content-Length (never held in memory)."""
    size = int(float(r.arg("mb", "300")) * (1 << 20))
    ctype = r.arg("type", "application/octet-stream")
    block = random.Random(7).randbytes(1 << 20)
    c.send(f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {size}\r\n"
           "Connection: close\r\n\r\n".encode())
    sent = 0
    while sent < size and not c.stopping():
        piece = block[: min(len(block), size - sent)]
        c.send(piece)
        sent += len(piece)
        c.site.count(f"huge-bytes:{r.target}", len(piece))


def _huge_page(c: _Conn, r: Request) -> None:
    mb = r.arg("mb", "300")
    c.html(page("huge", f"<p>{MARKERS['huge']}</p><script>fetch('/huge.bin?mb={mb}')"
                ".then(x=>x.arrayBuffer()).then(b=>{document.title='got '+b.byteLength}).catch(()=>0);"
                "</script>"))


DOWNLOAD_NAME = "warcache-hostile-download.txt"
DOWNLOAD_BODY = f"{MARKERS['download']} the body of a download\n".encode() * 100


def _download(c: _Conn, r: Request) -> None:
    c.reply(200, "text/plain", DOWNLOAD_BODY,
            ("Content-Disposition", f'attachment; filename="{DOWNLOAD_NAME}"'))


def _download_page(c: _Conn, r: Request) -> None:
    c.html(page("download page", f"<p>{MARKERS['download']}</p>"
                "<a id=a href=/download.txt download>get</a><script>"
                "setTimeout(()=>document.getElementById('a').click(), 100);</script>"))


# --------------------------------------------------------------------------------------------------
# WebSocket chatter


def _ws_page(c: _Conn, r: Request) -> None:
    c.html(page("websocket", f"<p>{MARKERS['websocket']}</p><p id=n>0</p><script>"
                "const ws = new WebSocket('ws://'+location.host+'/ws'); let n=0;"
                "ws.onmessage = (e)=>{n++; document.getElementById('n').textContent=n; ws.send('echo '+n);};"
                "</script>"))


def _ws(c: _Conn, r: Request) -> None:
    key = r.headers.get("sec-websocket-key", "")
    accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    c.send(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
    c.sock.settimeout(0.02)
    n = 0
    while not c.stopping(0.02):
        n += 1
        payload = f"{MARKERS['websocket']} message {n}".encode()
        c.send(struct.pack("!BB", 0x81, len(payload)) + payload)  # unmasked text frame
        with contextlib.suppress(TimeoutError, BlockingIOError):
            if not c.sock.recv(65536):
                return
        c.site.count("ws-frames")


# --------------------------------------------------------------------------------------------------
# Malformed responses


def _body(kind: str) -> bytes:
    return f"<p>{MARKERS['malformed']} {kind}</p>".encode()


def _len(kind: str) -> bytes:
    return str(len(_body(kind))).encode()


MALFORMED: dict[str, bytes] = {
    # a header line without a colon, one with spaces before the colon, one with a NUL
    "garbage-lines": (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nthis is not a header\r\n"
                      b"Bad Name : v\r\nX-Nul: a\x00b\r\nContent-Length: " + _len("garbage-lines")
                      + b"\r\nConnection: close\r\n\r\n" + _body("garbage-lines")),
    # Content-Length that is not a number
    "bad-length": (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: lots\r\n"
                   b"Connection: close\r\n\r\n" + _body("bad-length")),
    # two Content-Lengths that disagree (request smuggling's favourite)
    "two-lengths": (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: " + _len("two-lengths")
                    + b"\r\nContent-Length: 5\r\nConnection: close\r\n\r\n" + _body("two-lengths")),
    # a status line that is not HTTP
    "bad-status": b"SPDY/9 OK maybe\r\nContent-Type: text/html\r\n\r\n" + _body("bad-status"),
    # bytes that are not Latin-1 text in names and values, and bare LF line ends
    "binary-headers": (b"HTTP/1.1 200 OK\nContent-Type: text/html\nX-\xff\xfe: \xc3\x28\x80\n"
                       b"Content-Length: " + _len("binary-headers") + b"\nConnection: close\n\n"
                       + _body("binary-headers")),
    # a 200 KB header value (under the proxy's 256 KB limit for a whole head)
    "long-header": (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Long: " + b"a" * 200_000
                    + b"\r\nContent-Length: " + _len("long-header") + b"\r\nConnection: close\r\n\r\n"
                    + _body("long-header")),
    # a head larger than the proxy accepts (600 KB)
    "huge-head": (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                  + b"".join(b"X-H%d: %s\r\n" % (i, b"c" * 1000) for i in range(600))
                  + b"Connection: close\r\n\r\n" + _body("huge-head")),
    # a good chunk, then a chunk size that is not hex
    "bad-chunk": (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n"
                  b"Connection: close\r\n\r\n%x\r\n%s\r\nzz\r\nmore\r\n"
                  % (len(_body("bad-chunk")), _body("bad-chunk"))),
    # Content-Length promises more than is sent, then the connection closes
    "short-body": (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5000\r\n"
                   b"Connection: close\r\n\r\n" + _body("short-body")),
    # nothing at all: the connection closes at once
    "empty": b"",
}


def _malformed(c: _Conn, r: Request) -> None:
    kind = r.path.rsplit("/", 1)[-1]
    c.send(MALFORMED.get(kind, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))


def _malformed_page(c: _Conn, r: Request) -> None:
    frames = "".join(f"<iframe src=/malformed/{k}></iframe>" for k in MALFORMED)
    c.html(page("malformed", f"<p>{MARKERS['malformed']}</p>{frames}"))


# --------------------------------------------------------------------------------------------------
# Hostile strings


def _control_title(c: _Conn, r: Request) -> None:
    title = CONTROL_TITLE.replace("<", "&lt;")
    c.html(page(title, f"<p>{MARKERS['control']}</p><script>document.title = {CONTROL_TITLE!r};</script>"))


def _long_url(c: _Conn, r: Request) -> None:
    c.html(page("long url", f"<p>{MARKERS['long_url']} {len(r.target)}</p>"))


# --------------------------------------------------------------------------------------------------
# Pages that try to make the capture browser read local files or its own pages


def _local_files(c: _Conn, r: Request) -> None:
    c.html(page("local files", "<p>lemminglocal</p>"
                "<iframe src='file:///etc/passwd'></iframe><img src='file:///etc/hostname'>"
                "<iframe src='chrome://version'></iframe><iframe src='view-source:file:///etc/passwd'></iframe>"
                "<script>fetch('file:///etc/passwd').then(r=>r.text()).then(t=>{document.title=t}).catch(()=>0);"
                "window.open('file:///etc/passwd'); window.open('chrome://settings');"
                "setTimeout(()=>{location.href='/redirect-to-file'}, 300);</script>"))


def _redirect_to_file(c: _Conn, r: Request) -> None:
    c.reply(302, "text/html", b"<p>to a file</p>", ("Location", "file:///etc/passwd"))


# --------------------------------------------------------------------------------------------------
# Well-behaved pages, many of them: the ordinary load of the kill and concurrency tests


def article_word(n: int) -> str:
    """The word only /article/<n> holds (a search for it finds that page alone)."""
    return f"quill{n:04d}word"


def _article(c: _Conn, r: Request) -> None:
    """/article/<n>[?ms=delay][&held=1]: a small page with a word of its own, answered after `ms`
    ms; with `held`, not before the test lets it through (HostileSite.let_through)."""
    try:
        n = int(r.path.rsplit("/", 1)[-1])
    except ValueError:
        n = 0
    if r.arg("held", ""):
        while not c.site.held.acquire(timeout=0.05):
            if c.stopping():
                return
    c.stopping(int(r.arg("ms", "0") or 0) / 1000)
    c.html(page(f"Article {n}", f"<article><h1>Article {n}</h1><p>{article_word(n)} is the word of "
                f"article {n}. " + "Some ordinary text of a reasonable length for extraction. " * 20
                + "</p></article>"))


ROUTES: dict[str, Route] = {
    "/longpoll.html": _longpoll_page, "/poll": _poll, "/tick": _tick,
    "/trickle.html": _trickle_page, "/trickle.bin": _trickle,
    "/redirect-loop": _redirect_loop, "/self-redirect": _self_redirect,
    "/navaway.html": _navaway, "/navaway-once.html": _navaway_once, "/landing.html": _landing,
    "/nav-script.html": _nav_script, "/nav-meta.html": _nav_meta, "/freeze.html": _freeze,
    "/popups.html": _popups, "/dialogs.html": _dialogs, "/dialogs-blocking.html": _dialogs_blocking,
    "/endless-scroll.html": _endless_scroll, "/more": _more,
    "/huge.bin": _huge, "/huge.html": _huge_page,
    "/download.txt": _download, "/download.html": _download_page,
    "/ws.html": _ws_page, "/ws": _ws,
    "/malformed.html": _malformed_page,
    "/control-title.html": _control_title,
    "/local-files.html": _local_files, "/redirect-to-file": _redirect_to_file,
}
PREFIX_ROUTES: dict[str, Route] = {"/malformed/": _malformed, "/long/": _long_url, "/article/": _article}


# --------------------------------------------------------------------------------------------------
# The server


def _read_request(sock: socket.socket) -> Request | None:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            return None
        data += piece
        if data[:1] == b"\x16":  # a TLS handshake on this plain-HTTP port: answer as web servers do
            sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return None
        if len(data) > 4 << 20:
            return None
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    words = lines[0].split(" ")
    if len(words) != 3:
        return None
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    parts = urlsplit(words[1])
    return Request(words[0], words[1], headers, parts.path, parse_qs(parts.query))


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        self.server.site._serve(self.request)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, site: HostileSite) -> None:
        self.site = site
        super().__init__(("127.0.0.1", 0), _Handler)


class HostileSite:
    """The hostile server on 127.0.0.1. `hits` counts requests per path; `counters` other events."""

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self.held = threading.Semaphore(0)  # one release per held request let through
        self._lock = threading.Lock()
        self._socks: set[socket.socket] = set()
        self.hits: Counter[str] = Counter()
        self.counters: Counter[str] = Counter()
        self.hooks: dict[str, Callable[[Request], None]] = {}  # a test's code run by some routes
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.origin = ""

    def let_through(self, n: int = 1) -> None:
        """Let `n` requests for held articles (?held=1) be answered, now or when they come."""
        self.held.release(n)

    def __enter__(self) -> HostileSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> HostileSite:
        self._server = _Server(self)
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="hostile-site")
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and end every response under way (endless ones included)."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        with self._lock:
            socks = list(self._socks)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(5)

    def url(self, path: str) -> str:
        return self.origin + path

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counters[name] += n

    def _serve(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.add(sock)
        try:
            sock.settimeout(30)
            request = _read_request(sock)
            if request is None:
                return
            with self._lock:
                self.hits[request.path] += 1
            route = ROUTES.get(request.path)
            if route is None:
                route = next((r for p, r in PREFIX_ROUTES.items() if request.path.startswith(p)), None)
            conn = _Conn(sock, self)
            if route is None:
                conn.reply(404, "text/plain", b"no such hostile route\n")
            else:
                route(conn, request)
        except OSError:
            pass  # the client went away: the point of several routes
        finally:
            with self._lock:
                self._socks.discard(sock)
            with contextlib.suppress(OSError):
                sock.close()


# --------------------------------------------------------------------------------------------------
# Watching and killing the processes of a run (Linux /proc), for the fault and hostile-page tests


def children_of(pid: int) -> list[int]:
    """Every descendant of `pid` (the Playwright driver, Chromium and its helpers)."""
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for kid in kids.get(todo.pop(), []):
            out.append(kid)
            todo.append(kid)
    return out


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            # Zygote-forked processes rewrite theirs as one string with spaces: split on both.
            return fh.read().decode(errors="replace").replace("\0", " ").split()
    except OSError:
        return []


def browser_processes(pid: int) -> tuple[list[int], list[int]]:
    """(browser main processes, renderer processes) under the process `pid`."""
    main, renderers = [], []
    for kid in children_of(pid):
        args = cmdline(kid)
        if not args or "chrom" not in os.path.basename(args[0]):
            continue
        if "--type=renderer" in args:
            renderers.append(kid)
        elif not any(a.startswith("--type=") for a in args):
            main.append(kid)
    return main, renderers


def free_port_pair() -> int:
    """A free port on 127.0.0.1 whose next port is free too (the replay server takes both)."""
    for _ in range(100):
        with socket.socket() as a, socket.socket() as b:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            try:
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise RuntimeError("no two free ports in a row")


def peak_rss_mb(pid: int) -> float | None:
    """The peak resident memory of one process so far (VmHWM), in MiB; None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@dataclass
class Watched:
    code: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mb: float  # of the warcache process itself, not its browser


def run_watched(cmd: list[str], *, timeout: float, env: dict | None = None, cwd: str | None = None,
                on_start: Callable[[subprocess.Popen], None] | None = None) -> Watched:
    """Run `cmd`, sampling its peak memory until it ends; on timeout kill it and all it started."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)
    out: list[tuple[str, str]] = []
    reader = threading.Thread(target=lambda: out.append(proc.communicate()), daemon=True)
    reader.start()
    peak = 0.0
    seen: set[int] = set()
    try:
        if on_start is not None:
            on_start(proc)
        while proc.poll() is None:
            if time.monotonic() - start > timeout:
                raise TimeoutError(f"{cmd[:6]} still running after {timeout:g} s")
            peak = max(peak, peak_rss_mb(proc.pid) or 0.0)
            seen.update(children_of(proc.pid))
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            kill_all([proc.pid, *children_of(proc.pid), *seen])
        reader.join(30)
    stdout, stderr = out[0] if out else ("", "")
    return Watched(proc.returncode, stdout, stderr, time.monotonic() - start, peak)


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
