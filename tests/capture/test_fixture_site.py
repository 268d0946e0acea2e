"""Checks that the fixture site answers its routes and that its log is exactly what clients received.

The capture tests trust the log as ground truth, so these tests compare it with bytes read off the socket
by independent clients (raw sockets, http.client, urllib), never with the server's own helpers.
Only the site's own 127.x addresses are contacted.
"""

from __future__ import annotations

import gzip
import http.client
import re
import socket
import ssl
import struct
import threading
import time
import urllib.request
import zlib
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from fixture_site import (
    LATIN1_TEXT,
    MAIN_PAGE_OTHER_PATHS,
    MAIN_PAGE_PATHS,
    MAIN_PAGE_SCROLL_PATHS,
    MARKERS,
    RAW_TITLE,
    RENDERED_TITLE,
    FixtureSite,
    Sent,
)

UNVERIFIED = ssl._create_unverified_context()


@pytest.fixture(scope="module")
def site() -> Iterator[FixtureSite]:
    with FixtureSite(https=True) as running:
        yield running


def _connect(origin: str, context: ssl.SSLContext | None = None) -> http.client.HTTPConnection:
    parts = urlsplit(origin)
    assert parts.hostname is not None and parts.hostname.startswith("127.")
    if parts.scheme == "https":
        context = context or UNVERIFIED
        return http.client.HTTPSConnection(parts.hostname, parts.port, timeout=5, context=context)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)


def _get(origin: str, path: str, method: str = "GET", **kw: object) -> tuple[http.client.HTTPResponse, bytes]:
    conn = _connect(origin)
    try:
        conn.request(method, path, **kw)  # type: ignore[arg-type]
        resp = conn.getresponse()
        return resp, resp.read()
    finally:
        conn.close()


def _raw_exchange(origin: str, path: str, method: str = "GET", body: bytes = b"") -> bytes:
    """Everything the server wrote on a fresh connection for one request, read until it closes."""
    parts = urlsplit(origin)
    assert parts.hostname is not None and parts.hostname.startswith("127.")
    request = (
        f"{method} {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    received = bytearray()
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as raw:
        sock = UNVERIFIED.wrap_socket(raw, server_hostname=parts.hostname) if parts.scheme == "https" else raw
        sock.sendall(request)
        while chunk := sock.recv(65536):
            received += chunk
    return bytes(received)


def _last_sent(site: FixtureSite, url: str) -> Sent:
    sent = site.sent_for(url)
    assert sent, f"nothing logged for {url}"
    return sent[-1]


def _dechunk(body: bytes) -> tuple[bytes, int]:
    """Independent chunked decoder: (payload, number of data chunks)."""
    out, count, pos = bytearray(), 0, 0
    while True:
        end = body.index(b"\r\n", pos)
        size = int(body[pos:end], 16)
        pos = end + 2
        if size == 0:
            assert body[pos:] == b"\r\n"
            return bytes(out), count
        out += body[pos:pos + size]
        assert body[pos + size:pos + size + 2] == b"\r\n"
        pos += size + 2
        count += 1


ROUTES = [
    ("/", 200, "text/html", MARKERS["article"], False),  # marker must NOT be in the raw HTML
    ("/static/app.js", 200, "text/javascript", "Rendered Title", True),
    ("/static/style.css", 200, "text/css", "font.woff2", True),
    ("/static/mod.js", 200, "text/javascript", MARKERS["module"], True),
    ("/api/article.json", 200, "application/json", MARKERS["article"], True),
    ("/api/missing", 404, "application/json", MARKERS["missing"], True),
    ("/broken", 500, "text/plain", MARKERS["broken"], True),
    ("/chunked.txt", 200, "text/plain", MARKERS["chunked"], True),
    ("/api/xhr.txt", 200, "text/plain", MARKERS["xhr"], True),
    ("/api/more.json?page=3", 200, "application/json", MARKERS["more3"], True),
    ("/api/more.json?page=4", 404, "application/json", "no such page", True),
    ("/frame.html", 200, "text/html", MARKERS["frame"], True),
    ("/final.html", 200, "text/html", MARKERS["final"], True),
    ("/notfound", 404, "text/html", MARKERS["notfound"], True),
    ("/doc.pdf", 200, "application/pdf", "%PDF-1.4", True),
    ("/data.json", 200, "application/json", MARKERS["data_json"], True),
    ("/img/big.png", 200, "image/png", "PNG", True),
    ("/img/lazy.png", 200, "image/png", "PNG", True),
    ("/favicon.ico", 200, "image/x-icon", "PNG", True),
    ("/static/font.woff2", 200, "font/woff2", "wOF2", True),
    ("/download.bin", 200, "application/octet-stream", "", True),
    ("/sw.html", 200, "text/html", MARKERS["sw_page"], True),
    ("/static/sw.js", 200, "text/javascript", "respondWith", True),
    ("/api/sw-data.json", 200, "application/json", MARKERS["sw_data"], True),
    ("/worker.html", 200, "text/html", "new Worker", True),
    ("/static/worker.js", 200, "text/javascript", "/api/worker.json", True),
    ("/api/worker.json", 200, "application/json", MARKERS["worker"], True),
    ("/charset-latin1.html", 200, "text/html; charset=windows-1252", "", True),
    ("/no/such/route", 404, "text/plain", "no fixture route", True),
]


@pytest.mark.parametrize(("path", "status", "ctype", "needle", "present"), ROUTES)
def test_routes_answer(
    site: FixtureSite, path: str, status: int, ctype: str, needle: str, present: bool
) -> None:
    resp, entity = _get(site.origin, path)
    content = gzip.decompress(entity) if resp.getheader("Content-Encoding") == "gzip" else entity
    assert resp.status == status
    assert (resp.getheader("Content-Type") or "").startswith(ctype)
    assert (needle.encode() in content) is present


def test_main_page_subresources_all_have_routes(site: FixtureSite) -> None:
    urls = site.main_page_urls(scrolled=True, favicon=True)
    assert len(urls) == len(MAIN_PAGE_PATHS) + len(MAIN_PAGE_SCROLL_PATHS) + len(MAIN_PAGE_OTHER_PATHS) + 1
    for url in urls:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        method = "POST" if parts.path == "/api/echo" else "GET"
        resp, body = _get(origin, url[len(origin):], method, body=b"{}")
        assert b"no fixture route" not in body, url
        assert resp.status in (200, 404, 500), url


def test_raw_html_holds_none_of_the_rendered_text(site: FixtureSite) -> None:
    _, html = _get(site.origin, "/")
    rendered_only = [m for k, m in MARKERS.items() if k not in {"frame", "redirect", "final", "notfound",
                                                                "pdf", "data_json", "slow", "sw_page",
                                                                "sw_data", "sw_cached", "worker", "latin1"}]
    assert f"<title>{RAW_TITLE}</title>".encode() in html
    assert b'<div id="app"></div>' in html
    assert RENDERED_TITLE.encode() not in html
    assert [m for m in rendered_only if m.encode() in html] == []
    _, app_js = _get(site.origin, "/static/app.js")
    assert MARKERS["article"].encode() not in gzip.decompress(app_js)  # the text comes from the JSON


WIRE_PATHS = ["/", "/static/app.js", "/chunked.txt", "/api/more.json?page=1", "/img/big.png", "/redirect",
              "/api/missing", "/broken", "/charset-latin1.html"]


@pytest.mark.parametrize("path", WIRE_PATHS)
def test_log_is_exactly_the_bytes_on_the_wire(site: FixtureSite, path: str) -> None:
    received = _raw_exchange(site.origin, path)
    sent = _last_sent(site, site.url(path))
    assert received == sent.head + sent.body
    assert sent.head.endswith(b"\r\n\r\n") and sent.head.count(b"\r\n\r\n") == 1
    status_line, *header_lines = sent.head[:-4].decode("latin-1").split("\r\n")
    assert status_line.startswith(f"HTTP/1.1 {sent.status} ")
    assert [tuple(line.split(": ", 1)) for line in header_lines] == sent.headers


@pytest.mark.parametrize("path", WIRE_PATHS)
def test_entity_and_content_match_what_a_client_decodes(site: FixtureSite, path: str) -> None:
    resp, entity = _get(site.origin, path)  # http.client removes chunking, keeps gzip
    sent = _last_sent(site, site.url(path))
    assert entity == sent.entity
    assert resp.getheaders() == sent.headers
    if sent.header("Transfer-Encoding") == "chunked":
        assert _dechunk(sent.body)[0] == sent.entity != sent.body
    else:
        assert sent.body == sent.entity
    if sent.header("Content-Encoding") == "gzip":
        assert gzip.decompress(sent.entity) == sent.content != sent.entity
    else:
        assert sent.content == sent.entity


def test_gzip_is_really_on_the_wire(site: FixtureSite) -> None:
    received = _raw_exchange(site.origin, "/static/app.js")
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"\r\nContent-Encoding: gzip\r\n" in head
    assert body[:2] == b"\x1f\x8b"
    assert int(re.search(rb"\r\nContent-Length: (\d+)\r\n", head).group(1)) == len(body)  # type: ignore[union-attr]
    assert b"document.title" in gzip.decompress(body)


def test_chunked_is_really_on_the_wire(site: FixtureSite) -> None:
    head, _, body = _raw_exchange(site.origin, "/chunked.txt").partition(b"\r\n\r\n")
    assert b"\r\nTransfer-Encoding: chunked\r\n" in head and b"Content-Length" not in head
    payload, chunks = _dechunk(body)
    assert chunks == 5
    assert payload.count(MARKERS["chunked"].encode()) == 5
    # gzip inside chunked: the chunks carry gzip bytes.
    head, _, body = _raw_exchange(site.origin, "/api/more.json?page=2").partition(b"\r\n\r\n")
    payload, chunks = _dechunk(body)
    assert chunks == 3 and payload[:2] == b"\x1f\x8b"
    assert MARKERS["more2"].encode() in gzip.decompress(payload)


def test_duplicate_headers_kept_in_sent_order(site: FixtureSite) -> None:
    for path, expected in [
        ("/", [("Set-Cookie", "fx_visit=main; Path=/"), ("X-Dup", "zulu"),
               ("Set-Cookie", "fx_theme=dark; Path=/"), ("X-Dup", "alpha")]),
        ("/api/article.json", [("X-Dup", "yankee"), ("Set-Cookie", "fx_article=seen; Path=/"),
                               ("X-Dup", "bravo"), ("Set-Cookie", "fx_article_count=1; Path=/")]),
    ]:
        resp, _ = _get(site.origin, path)
        got = [(k, v) for k, v in resp.getheaders() if k in ("Set-Cookie", "X-Dup")]
        assert got == expected
        sent = _last_sent(site, site.url(path))
        assert [(k, v) for k, v in sent.headers if k in ("Set-Cookie", "X-Dup")] == expected
        assert sent.header_values("x-dup") == [v for k, v in expected if k == "X-Dup"]


def test_keep_alive_serves_several_requests_on_one_connection(site: FixtureSite) -> None:
    conn = _connect(site.origin)
    try:
        requests = [("GET", "/", None), ("POST", "/api/echo", b'{"n": 7}'), ("GET", "/chunked.txt", None)]
        for method, path, body in requests:
            conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            assert not resp.will_close
    finally:
        conn.close()
    sent = [_last_sent(site, site.url(p)) for p in ("/", "/api/echo", "/chunked.txt")]
    assert len({s.connection for s in sent}) == 1
    assert sent[1].method == "POST" and sent[1].request_body == b'{"n": 7}'
    assert b'"received": {"n": 7}' in sent[1].content


def test_chunked_request_body_is_read(site: FixtureSite) -> None:
    conn = _connect(site.origin)
    try:
        conn.request("POST", "/api/echo", body=iter([b'{"parts"', b': "two"}']), encode_chunked=True)
        content = conn.getresponse().read()
    finally:
        conn.close()
    assert b'"received": {"parts": "two"}' in content
    assert _last_sent(site, site.url("/api/echo")).request_body == b'{"parts": "two"}'


def test_head_has_headers_but_no_body(site: FixtureSite) -> None:
    resp, body = _get(site.origin, "/data.json", "HEAD")
    _, full = _get(site.origin, "/data.json")
    assert body == b"" and resp.getheader("Content-Length") == str(len(full))
    head_sent = [s for s in site.sent_for("/data.json") if s.method == "HEAD"][-1]
    assert head_sent.body == head_sent.entity == head_sent.content == b""


def test_https_serves_with_a_generated_certificate(site: FixtureSite) -> None:
    assert site.https_origin is not None and site.https_origin.startswith("https://127.0.0.1:")
    resp, body = _get(site.https_origin, "/")
    assert resp.status == 200 and RAW_TITLE.encode() in body
    assert _last_sent(site, site.https_url("/")).url.startswith("https://")
    assert _raw_exchange(site.https_origin, "/chunked.txt") == (
        lambda s: s.head + s.body)(_last_sent(site, site.https_url("/chunked.txt")))
    # The certificate really is the one served: it verifies against itself, for the IP address.
    assert site.cert_path is not None
    verified = ssl.create_default_context(cafile=site.cert_path)
    conn = _connect(site.https_origin, verified)
    try:
        conn.request("GET", "/data.json")
        assert MARKERS["data_json"].encode() in conn.getresponse().read()
    finally:
        conn.close()
    strict = _connect(site.https_origin, ssl.create_default_context())
    with pytest.raises(ssl.SSLCertVerificationError):
        strict.request("GET", "/")
    strict.close()


def test_cross_origin_host(site: FixtureSite) -> None:
    main, other = urlsplit(site.origin), urlsplit(site.other_origin)
    assert other.hostname == "127.0.0.2" and other.port != main.port
    resp, body = _get(site.other_origin, "/api/cross.json")
    assert resp.getheader("Access-Control-Allow-Origin") == "*"
    assert MARKERS["cross_json"].encode() in body
    assert _get(site.other_origin, "/img/cross.png")[1].startswith(b"\x89PNG")
    assert _get(site.other_origin, "/")[0].status == 404  # the main pages live on the main host only
    _, html = _get(site.origin, "/")
    assert f'src="{site.other_origin}/img/cross.png"'.encode() in html
    _, html = _get(site.https_origin or "", "/")
    assert f'src="{site.https_other_origin}/img/cross.png"'.encode() in html  # no mixed content over TLS
    preflight, _ = _get(site.other_origin, "/api/cross.json", "OPTIONS")
    assert preflight.status == 204 and preflight.getheader("Access-Control-Allow-Origin") == "*"


def test_redirect_chain_has_bodies(site: FixtureSite) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never an environment proxy
    with opener.open(site.url("/redirect"), timeout=5) as resp:
        assert resp.url == site.url("/final.html")
        assert MARKERS["final"].encode() in resp.read()
    first, second = _last_sent(site, site.url("/redirect")), _last_sent(site, site.url("/redirect2"))
    assert (first.status, first.header("Location")) == (302, "/redirect2")
    assert (second.status, second.header("Location")) == (301, "/final.html")
    assert MARKERS["redirect"].encode() in first.content and MARKERS["redirect"].encode() in second.content


def test_latin1_page_is_windows_1252(site: FixtureSite) -> None:
    resp, body = _get(site.origin, "/charset-latin1.html")
    assert resp.getheader("Content-Type") == "text/html; charset=windows-1252"
    assert LATIN1_TEXT in body.decode("cp1252")
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")


def _png_pixels(png: bytes) -> tuple[int, int, bytes]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", (0, 0)
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos:pos + 4])
        kind, data = png[pos + 4:pos + 8], png[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + data)
        if kind == b"IHDR":
            size = struct.unpack(">II", data[:8])
        elif kind == b"IDAT":
            idat += data
        pos += 12 + length
    return size[0], size[1], zlib.decompress(idat)


@pytest.mark.parametrize(("path", "channels"), [("/static/bg.png", 3), ("/img/big.png", 3),
                                                ("/img/lazy.png", 3), ("/img/frame.png", 3)])
def test_pngs_are_valid(site: FixtureSite, path: str, channels: int) -> None:
    width, height, raw = _png_pixels(_get(site.origin, path)[1])
    assert len(raw) == height * (1 + width * channels)


def test_favicon_pdf_and_download_are_well_formed(site: FixtureSite) -> None:
    ico = _get(site.origin, "/favicon.ico")[1]
    (count,) = struct.unpack("<4xH", ico[:6])
    width, _, _, _, _, bpp, size, offset = struct.unpack("<BBBBHHII", ico[6:22])
    assert (count, width, bpp, offset, offset + size) == (1, 16, 32, 22, len(ico))
    assert len(_png_pixels(ico[offset:])[2]) == 16 * (1 + 16 * 4)

    pdf = _get(site.origin, "/doc.pdf")[1]
    assert pdf.startswith(b"%PDF-1.4") and pdf.endswith(b"%%EOF\n")
    startxref = int(pdf.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    assert pdf[startxref:].startswith(b"xref\n0 6\n")
    offsets = [int(line[:10]) for line in pdf[startxref:].split(b"\n")[3:8]]
    assert all(pdf[off:].startswith(b"%d 0 obj" % n) for n, off in enumerate(offsets, start=1))
    assert MARKERS["pdf"].encode() in pdf

    resp, data = _get(site.origin, "/download.bin")
    assert resp.getheader("Content-Disposition") == 'attachment; filename="fixture.bin"' and len(data) == 4096


def test_slow_waits_before_answering(site: FixtureSite) -> None:
    start = time.monotonic()
    resp, body = _get(site.origin, "/slow?ms=300")
    assert time.monotonic() - start >= 0.3
    assert MARKERS["slow"].encode() in body


def test_wait_for_sent_and_path_shorthand(site: FixtureSite) -> None:
    timer = threading.Timer(0.1, lambda: _get(site.origin, "/api/xhr.txt?wait=1"))
    timer.start()
    try:
        sent = site.wait_for_sent("/api/xhr.txt?wait=1", timeout=5)
    finally:
        timer.join()
    assert sent.url == site.url("/api/xhr.txt?wait=1") and sent.complete
    assert site.sent_for("/api/xhr.txt?wait=1") == site.sent_for(site.url("/api/xhr.txt?wait=1"))


def test_garbage_gets_400(site: FixtureSite) -> None:
    parts = urlsplit(site.origin)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as raw:
        raw.sendall(b"NOT HTTP\r\n\r\n")
        assert raw.recv(100).startswith(b"HTTP/1.1 400 ")


def test_stop_cuts_connections_and_refuses_new_ones() -> None:
    site = FixtureSite(https=True).start()
    origins = [site.origin, site.other_origin, site.https_origin or "", site.https_other_origin or ""]
    idle = _connect(site.origin)
    idle.request("GET", "/")
    idle.getresponse().read()  # a keep-alive connection left open
    outcomes: dict[str, object] = {}

    def pending(path: str) -> None:
        try:
            outcomes[path] = _get(site.origin, path)[0].status
        except (OSError, http.client.HTTPException) as exc:
            outcomes[path] = type(exc).__name__

    waiters = [threading.Thread(target=pending, args=(p,)) for p in ("/hang", "/slow?ms=60000")]
    for thread in waiters:
        thread.start()
    deadline = time.monotonic() + 5
    while len(site.received) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert {urlsplit(r.url).path for r in site.received} == {"/", "/hang", "/slow"}

    start = time.monotonic()
    site.stop()
    assert time.monotonic() - start < 2
    for thread in waiters:
        thread.join(5)
    assert outcomes == {"/hang": "RemoteDisconnected", "/slow?ms=60000": "RemoteDisconnected"}
    assert not [s for s in site.log if "/hang" in s.url or "/slow" in s.url]  # nothing was sent
    for origin in origins:
        parts = urlsplit(origin)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((parts.hostname, parts.port), timeout=2).close()
    idle.close()
    site.stop()  # idempotent
