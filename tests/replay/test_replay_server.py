"""The replay server in-process (werkzeug's test client): fidelity of what it sends, its own
pages, and the security points.  Archives are written here with warcio (not with warcache's
writer, so the server is tested against records it did not produce), plus other tools' WARCs
from ../shared/corpora/warcs (see that folder's README for their origin)."""

from __future__ import annotations

import gzip
import io
import json
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter
from werkzeug.test import Client

from warcache.errors import UsageError
from warcache.index.cdxj import CdxjIndex, CdxjLine, canonical_key
from warcache.replay import make_app
from warcache.replay.origins import Origins, choose_origins, host_label
from warcache.replay.server import bind_warning, start_server

UI = "http://127.0.0.1:18080"
REPLAY = "http://t.localhost:18081"  # collection "t" is replayed from its own host name
SITE = "http://site.test"
XSS = "<img src=x onerror=alert(1)>"
DOC = {"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate"}
SCRIPT_FETCH = {"Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "cors"}


def _chunked(data: bytes, parts: int = 3) -> bytes:
    size = max(1, len(data) // parts)
    out = b""
    for i in range(0, len(data), size):
        piece = data[i : i + size]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    return out + b"0\r\n\r\n"


class Archive:
    """A WARC written with warcio, indexed into a collection's CDXJ."""

    def __init__(self, root: Path, coll: str = "t", name: str = "test.warc.gz") -> None:
        self.coll_dir = root / "collections" / coll
        (self.coll_dir / "archive").mkdir(parents=True, exist_ok=True)
        self.path = self.coll_dir / "archive" / name
        self.fh = open(self.path, "wb")  # noqa: SIM115 - closed in finish()
        self.writer = WARCWriter(self.fh, gzip=True)
        self.pages: list[dict] = []

    def _write(self, record) -> tuple[int, int, str]:
        start = self.fh.tell()
        self.writer.write_record(record)
        return start, self.fh.tell() - start, record.rec_headers.get_header("WARC-Record-ID")

    def response(
        self,
        url: str,
        ts: str,
        body: bytes = b"",
        *,
        status: str = "200 OK",
        headers: list[tuple[str, str]] | None = None,
    ) -> str:
        http = StatusAndHeaders(status, headers or [("Content-Type", "text/html")], protocol="HTTP/1.1")
        record = self.writer.create_warc_record(
            url,
            "response",
            payload=io.BytesIO(body),
            length=len(body),
            http_headers=http,
            warc_headers_dict={"WARC-Date": _iso(ts)},
        )
        return self._write(record)[2]

    def post(self, url: str, ts: str, request_body: bytes, body: bytes) -> None:
        rid = self.response(url, ts, body, headers=[("Content-Type", "application/json")])
        req = StatusAndHeaders(
            "POST /api HTTP/1.1", [("Content-Type", "application/json")], is_http_request=True
        )
        record = self.writer.create_warc_record(
            url,
            "request",
            payload=io.BytesIO(request_body),
            length=len(request_body),
            http_headers=req,
            warc_headers_dict={"WARC-Date": _iso(ts), "WARC-Concurrent-To": rid},
        )
        self._write(record)

    def revisit(self, url: str, ts: str, original_url: str, original_ts: str, digest: str) -> None:
        http = StatusAndHeaders(
            "200 OK", [("Content-Type", "text/plain"), ("X-Revisit", "yes")], protocol="HTTP/1.1"
        )
        record = self.writer.create_revisit_record(
            url, digest, original_url, _iso(original_ts), http_headers=http
        )
        record.rec_headers.replace_header("WARC-Date", _iso(ts))
        self._write(record)

    def resource(self, url: str, ts: str, data: bytes, ctype: str) -> tuple[int, int]:
        record = self.writer.create_warc_record(
            url,
            "resource",
            payload=io.BytesIO(data),
            length=len(data),
            warc_content_type=ctype,
            warc_headers_dict={"WARC-Date": _iso(ts)},
        )
        start, length, _ = self._write(record)
        return start, length

    def page(
        self, url: str, ts: str, title: str, *, dom: str | None = None, shot: bytes | None = None
    ) -> None:
        entry = {
            "url": url,
            "final_url": url,
            "title": title,
            "timestamp": ts,
            "status": 200,
            "warc": self.path.name,
            "offset": 0,  # where the page's own record would be (these pages have none)
            "records": {},
        }
        if shot is not None:
            where = self.resource("urn:warcache:screenshot:" + url, ts, shot, "image/png")
            entry["records"]["screenshot"] = list(where)
        if dom is not None:
            entry["records"]["dom"] = list(
                self.resource("urn:warcache:dom:" + url, ts, dom.encode(), "text/html")
            )
        self.pages.append(entry)

    def finish(self) -> None:
        self.fh.close()
        CdxjIndex(self.coll_dir / "indexes").add_warc(self.path)
        if self.pages:
            with open(self.coll_dir / "indexes" / "pages.jsonl", "a", encoding="utf-8") as out:
                for entry in self.pages:
                    out.write(json.dumps(entry) + "\n")


def _iso(ts: str) -> str:
    return f"{ts[0:4]}-{ts[4:6]}-{ts[6:8]}T{ts[8:10]}:{ts[10:12]}:{ts[12:14]}Z"


PAGE_HTML = (
    b'<!doctype html><html><head><title>Home</title><link rel="stylesheet" href="/s.css"></head>'
    b'<body><img src="http://cdn.test/logo.png"><a href="/about">about</a></body></html>'
)
PNG = b"\x89PNG\r\n\x1a\n" + b"fake screenshot bytes"
APP_JS = (b"if (location.hostname !== 'site.test') { stop(); } // location.hostname\n"
          b"parent.postMessage(1, '*');\n")
GZIP_BODY = gzip.compress(b'{"items": [1, 2, 3], "marker": "gzipped-and-chunked"}')


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("replayroot")
    a = Archive(root)
    a.response(
        f"{SITE}/",
        "20240101000000",
        PAGE_HTML,
        headers=[
            ("Content-Type", "text/html; charset=utf-8"),
            ("Set-Cookie", "sid=1; Domain=site.test; Path=/; Secure"),
            ("Access-Control-Allow-Origin", "*"),
            ("Content-Security-Policy", "script-src 'none'"),
        ],
    )
    a.response(f"{SITE}/", "20240301000000", PAGE_HTML.replace(b"Home", b"Home in March"))
    a.response(
        f"{SITE}/s.css",
        "20240101000001",
        b"body{background:url(/bg.png)}",
        headers=[("Content-Type", "text/css")],
    )
    a.response(
        f"{SITE}/data.json",
        "20240101000002",
        _chunked(GZIP_BODY),
        headers=[
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
            ("Transfer-Encoding", "chunked"),
        ],
    )
    a.response(
        f"{SITE}/gz.html",
        "20240101000003",
        gzip.compress(PAGE_HTML),
        headers=[("Content-Type", "text/html"), ("Content-Encoding", "gzip")],
    )
    a.response(
        f"{SITE}/old",
        "20240101000004",
        b"moved",
        status="301 Moved Permanently",
        headers=[("Location", f"{SITE}/about"), ("Content-Type", "text/plain")],
    )
    a.response(f"{SITE}/about", "20240101000005", b"<p>about us</p>")
    a.response(
        f"{SITE}/orig.txt",
        "20240101000006",
        b"the original payload",
        headers=[("Content-Type", "text/plain")],
    )
    a.response(f"{SITE}/pic.png", "20240101000009", PNG, headers=[("Content-Type", "image/png")])
    a.response(f"{SITE}/app.js", "20240101000010", APP_JS, headers=[("Content-Type", "text/javascript")])
    a.response("http://[::1]:8080/v6.html", "20240101000011", b"<p>ipv6 page</p>")
    a.response(f"{SITE}/plain.js", "20240101000010", b"var plain = 1;",
               headers=[("Content-Type", "text/javascript")])
    a.response(f"{SITE}/sri.html", "20240101000010", b'<script src="/app.js" integrity="sha384-a"></script>'
               b'<script src="plain.js" integrity="sha384-b"></script>')
    a.response(f"{SITE}/sw.js", "20240101000012", b"self.onfetch = () => {};",
               headers=[("Content-Type", "application/javascript"), ("Service-Worker-Allowed", "/")])
    a.post(f"{SITE}/api", "20240101000007", b'{"q": "one"}', b'{"answer": "for one"}')
    a.post(f"{SITE}/api", "20240101000008", b'{"q": "two"}', b'{"answer": "for two"}')
    a.page(
        f"{SITE}/",
        "20240101000000",
        XSS,
        dom=(
            "<html><head><title>Article</title></head><body><article><h1>Reader headline</h1>"
            "<p>First paragraph of the readable article, long enough to be the article body here.</p>"
            '<p>Second paragraph <script>alert(1)</script><img src="/pic.png" onerror="alert(2)">'
            '<a href="javascript:alert(3)">bad link</a> <a href="/about">good link</a> and more words.'
            "</p></article></body></html>"
        ),
    )
    a.page(f'{SITE}/about?x="><script>alert(1)</script>', "20240101000005", "About", shot=PNG)
    a.finish()
    # The revisit needs the original's digest, known once it is indexed.
    index = CdxjIndex(root / "collections" / "t" / "indexes")
    original = index.lookup(f"{SITE}/orig.txt")[0]
    b = Archive(root, name="revisits.warc.gz")
    b.revisit(f"{SITE}/copy.txt", "20240201000000", f"{SITE}/orig.txt", "20240101000006", original.digest)
    b.finish()
    return root


@pytest.fixture(scope="module")
def client(root) -> Client:
    return Client(make_app(root, ui_port=18080, replay_port=18081))


def get(client: Client, path: str, base: str = REPLAY, **kw):
    return client.get(path, base_url=base, **kw)


def session(ts: str, site: str = "site.test", domain: str = "t.localhost") -> str:
    """The session host replaying http://<site> at <ts> (see warcache/replay/origins.py)."""
    return f"http://{site}.{ts}h.{domain}:18081"


def enter(client: Client, path: str, base: str = REPLAY):
    """A browser navigation to a pywb-style URL: the collection's host sends it on to a session
    host; returns that host's origin and its answer to the navigation."""
    r = get(client, path, base, headers=DOC)
    assert r.status_code == 302, (path, r.status_code)
    where = urlsplit(r.headers["Location"])
    origin = f"{where.scheme}://{where.netloc}"
    return origin, get(client, where.path + (f"?{where.query}" if where.query else ""), origin, headers=DOC)


# ---------------------------------------------------------------------------------------
# Fidelity
# ---------------------------------------------------------------------------------------
def test_html_is_rewritten_and_gets_the_client(client):
    origin, r = enter(client, f"/t/20240101000000/{SITE}/")
    assert origin == session("20240101000000")  # the page runs on its own origin's session host
    assert r.status_code == 200
    body = r.get_data()
    assert b'href="/s.css"' in body  # relative: resolves against the session host, original path
    assert b'src="http://cdn.test.20240101000000h.t.localhost:18081/logo.png"' in body
    assert b"importmap" not in body  # root-relative imports resolve natively there
    assert b"/_warcache/static/client.js" in body
    assert int(r.headers["Content-Length"]) == len(body)
    assert r.headers["Memento-Datetime"] == "Mon, 01 Jan 2024 00:00:00 GMT"


def test_on_a_shared_origin_html_is_rewritten_to_replay_paths(root):
    shared = Client(make_app(root, ui_port=18080, replay_port=18081, shared_origin=True))
    r = get(shared, f"/t/20240101000000/{SITE}/", "http://127.0.0.1:18081", headers=DOC)
    assert r.status_code == 200
    body = r.get_data()
    assert b'href="/t/20240101000000cs_/http://site.test/s.css"' in body
    assert b'src="/t/20240101000000im_/http://cdn.test/logo.png"' in body
    assert b'<script type="importmap" data-warcache="">' in body
    assert b"/_warcache/static/client.js" in body


def test_html_fetched_by_a_script_gets_no_client(client):
    body = get(client, f"/t/20240101000000/{SITE}/", headers=SCRIPT_FETCH).get_data()
    assert b"/_warcache/static/client.js" not in body
    assert b'href="/t/20240101000000cs_/http://site.test/s.css"' in body


def test_gzip_html_is_sent_decoded_without_content_encoding(client):
    _, r = enter(client, f"/t/20240101000003/{SITE}/gz.html")
    assert r.status_code == 200 and "Content-Encoding" not in r.headers
    assert r.get_data().startswith(b"<!doctype html>")
    assert int(r.headers["Content-Length"]) == len(r.get_data())


def test_other_bodies_keep_their_encoding_and_lose_the_chunking(client):
    r = get(client, f"/t/20240101000002/{SITE}/data.json", headers=SCRIPT_FETCH)
    assert r.headers["Content-Encoding"] == "gzip"
    assert r.get_data() == GZIP_BODY
    assert gzip.decompress(r.get_data()).startswith(b'{"items"')


def test_identity_modifier_sends_the_archived_body_and_headers(client):
    r = get(client, f"/t/20240101000002id_/{SITE}/data.json")
    assert r.status_code == 200
    assert r.get_data() == GZIP_BODY  # de-chunked (hop-by-hop), still gzip as archived
    assert r.headers["Content-Encoding"] == "gzip"
    assert "chunked" not in r.headers.get("Transfer-Encoding", "")
    css = get(client, f"/t/20240101000001id_/{SITE}/s.css")
    assert css.get_data() == b"body{background:url(/bg.png)}"  # not rewritten


def test_css_is_rewritten(client):
    r = get(client, f"/t/20240101000001cs_/{SITE}/s.css")
    assert r.get_data() == b"body{background:url(/t/20240101000001im_/http://site.test/bg.png)}"


def test_nearest_capture_and_redirect_to_exact_timestamp(client):
    r = get(client, f"/t/202402/{SITE}/", headers=DOC)
    assert r.status_code == 302
    assert r.headers["Location"] == session("20240301000000") + "/"  # Feb 1 is nearer to Mar 1 than Jan 1
    r = get(client, f"/t/2023/{SITE}/", headers=DOC)
    assert r.headers["Location"] == session("20240101000000") + "/"
    # An embedded resource is served at once, not redirected.
    r = get(client, f"/t/2024/{SITE}/s.css", headers={"Sec-Fetch-Dest": "style", "Sec-Fetch-Mode": "no-cors"})
    assert r.status_code == 200


def test_latest_capture_without_timestamp(client):
    r = get(client, f"/t/{SITE}/", headers=DOC)
    assert r.status_code == 302 and r.headers["Location"] == session("20240301000000") + "/"


def test_redirect_replays_with_rewritten_location(client):
    origin, r = enter(client, f"/t/20240101000004/{SITE}/old")
    assert r.status_code == 301
    assert r.headers["Location"] == session("20240101000004") + "/about"  # the same session
    shared = Client(make_app(client.application.root, ui_port=18080, replay_port=18081, shared_origin=True))
    r = get(shared, f"/t/20240101000004/{SITE}/old", "http://127.0.0.1:18081", headers=DOC)
    assert r.status_code == 301
    assert r.headers["Location"] == f"/t/20240101000004/{SITE}/about"


def test_revisit_resolves_to_the_original_payload(client):
    r = get(client, f"/t/20240201000000/{SITE}/copy.txt", headers=SCRIPT_FETCH)
    assert r.status_code == 200
    assert r.get_data() == b"the original payload"
    assert r.headers["X-Revisit"] == "yes"  # the revisit's own headers


def test_post_finds_the_capture_of_its_own_body(client):
    for q, answer in (("one", b"for one"), ("two", b"for two")):
        r = client.post(
            f"/t/20240101000007/{SITE}/api",
            base_url=REPLAY,
            data=json.dumps({"q": q}),
            headers={"Content-Type": "application/json", **SCRIPT_FETCH},
        )
        assert r.status_code == 200 and answer in r.get_data()


def test_not_archived_is_a_404_page_naming_captures_of_the_host(client):
    r = get(client, f"/t/20240101000000/{SITE}/missing", headers=DOC)
    assert r.status_code == 404
    html = r.get_data(as_text=True)
    assert "Not archived" in html and f"{SITE}/missing" in html
    assert f"/t/20240101000000/{SITE}/" in html  # the host's page, as a replay link
    embed = get(client, f"/t/20240101000000im_/{SITE}/missing.png", headers={"Sec-Fetch-Dest": "image"})
    assert embed.status_code == 404 and b"<html" not in embed.get_data()


def test_root_relative_requests_are_routed_by_referer(client):
    r = get(client, "/api/thing?x=1", headers={"Referer": f"{REPLAY}/t/20240101000000/{SITE}/dir/page"})
    assert r.status_code == 307
    assert r.headers["Location"] == f"/t/20240101000000/{SITE}/api/thing?x=1"
    assert (
        get(
            client, "/api/thing", headers={"Referer": "http://evil.test/t/2024/http://site.test/"}
        ).status_code
        == 404
    )


def test_urls_of_the_replay_origin_itself_are_routed_by_referer(root):
    # A shared origin only: on session hosts the path is the original one (nothing to route).
    shared = Client(make_app(root, ui_port=18080, replay_port=18081, shared_origin=True))
    base = "http://127.0.0.1:18081"
    r = get(
        shared,
        f"/t/20240101000000/{base}/static/x.js",
        base,
        headers={"Referer": f"{base}/t/20240101000000js_/{SITE}/app.js"},
    )
    assert r.status_code == 307 and r.headers["Location"] == f"/t/20240101000000/{SITE}/static/x.js"


def test_cookies_and_origin_state_headers_are_re_scoped(client, root):
    # On the session host of http://site.test: the cookie is for the session hosts of site.test,
    # CORS grants mean what they meant live, the archived CSP would block the replay.
    _, r = enter(client, f"/t/20240101000000/{SITE}/")
    assert r.headers.getlist("Set-Cookie") == [
        "sid=1; Domain=site.test.20240101000000h.t.localhost; Path=/; Secure"]
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["X-Archive-Orig-Content-Security-Policy"] == "script-src 'none'"
    # On a shared origin, every archived site shares one origin: cookies go to the collection's path.
    shared = Client(make_app(root, ui_port=18080, replay_port=18081, shared_origin=True))
    r = get(shared, f"/t/20240101000000/{SITE}/", "http://127.0.0.1:18081", headers=DOC)
    assert r.headers.getlist("Set-Cookie") == ["sid=1; Path=/t/"]
    assert "Access-Control-Allow-Origin" not in r.headers
    assert r.headers["X-Archive-Orig-Access-Control-Allow-Origin"] == "*"
    assert r.headers["X-Archive-Orig-Content-Security-Policy"] == "script-src 'none'"


# ---------------------------------------------------------------------------------------
# Session hosts: one per original origin and time (warcache/replay/origins.py)
# ---------------------------------------------------------------------------------------
S1 = session("20240101000000")
FROM_PAGE = {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}


def test_a_session_host_serves_original_paths_and_never_pywb_paths(client):
    r = get(client, "/orig.txt", S1, headers={**FROM_PAGE, "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200 and r.get_data() == b"the original payload"
    # /t/<ts>id_/<url> on a session host is a path of http://site.test, not a capture
    for path in (f"/t/20240101000006id_/{SITE}/orig.txt", f"/t/{SITE}/orig.txt"):
        r = get(client, path, S1, headers={**FROM_PAGE, "Sec-Fetch-Site": "same-origin"})
        assert r.status_code == 404 and b"the original payload" not in r.get_data()
    assert get(client, "/_warcache/static/client.js", S1).status_code == 200


def test_a_session_host_serves_its_collection_only(client):
    own = {**FROM_PAGE, "Referer": session("20240101000000", "cdn.test") + "/page"}
    assert get(client, "/orig.txt", S1, headers=own).status_code == 200
    other = {**FROM_PAGE, "Referer": "http://site.test.20240101000000h.other.localhost:18081/"}
    assert get(client, "/orig.txt", S1, headers=other).status_code == 403
    cross = {**FROM_PAGE, "Sec-Fetch-Site": "cross-site"}
    assert get(client, "/orig.txt", S1, headers=cross).status_code == 403
    # a navigation comes from anywhere (the listing, a bookmark)
    r = get(client, "/about", S1, headers={**DOC, "Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 200
    # session host names mean nothing on the listing port
    assert get(client, "/", "http://site.test.20240101000000h.t.localhost:18080").status_code == 421


def test_preflights_are_answered_for_the_collection_s_own_hosts(client):
    asking = session("20240101000000", "app.test")
    headers = {"Origin": asking, "Access-Control-Request-Method": "PUT",
               "Access-Control-Request-Headers": "content-type", **FROM_PAGE}
    r = client.options("/api", base_url=S1, headers=headers)
    assert r.status_code == 204 and r.headers["Access-Control-Allow-Origin"] == asking
    assert r.headers["Access-Control-Allow-Methods"] == "PUT"
    headers["Origin"] = "http://site.test.20240101000000h.other.localhost:18081"
    assert client.options("/api", base_url=S1, headers=headers).status_code == 403


def test_scripts_see_their_original_address_and_strings_stay_as_archived(client):
    script = {**FROM_PAGE, "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "script"}
    r = get(client, "/app.js", S1, headers=script)
    body = r.get_data()
    assert b"if (__wc$loc(location).hostname !== 'site.test')" in body
    assert b"// location.hostname\n__wc$pm(parent).postMessage(1, '*')" in body
    assert int(r.headers["Content-Length"]) == len(body)
    raw = get(client, f"/t/20240101000010id_/{SITE}/app.js")  # curl on the collection's host
    assert raw.get_data() == APP_JS


def test_integrity_goes_only_from_scripts_served_changed(client):
    _, r = enter(client, f"/t/20240101000010/{SITE}/sri.html")
    body = r.get_data()
    assert b'<script src="/app.js" data-archived-integrity="sha384-a">' in body  # reads location: rewritten
    assert b'<script src="plain.js" integrity="sha384-b">' in body  # served byte for byte: its hash holds


def test_service_workers_run_on_session_hosts_only(client):
    sw = {"Service-Worker": "script", "Sec-Fetch-Dest": "serviceworker", "Sec-Fetch-Mode": "same-origin",
          "Sec-Fetch-Site": "same-origin"}
    r = get(client, "/sw.js", session("20240101000012"), headers=sw)
    assert r.status_code == 200 and b"__warcacheCfg" in r.get_data() and b"self.onfetch" in r.get_data()
    assert r.headers["Service-Worker-Allowed"] == "/"  # the archived scope grant holds on its own origin
    assert '"csp": "default-src' in r.get_data(as_text=True)  # pages it makes up get the policy too
    assert get(client, f"/t/20240101000012js_/{SITE}/sw.js", headers=sw).status_code == 403


def test_hosts_that_are_not_dns_names_get_a_hashed_label(root, client):
    r = get(client, "/t/20240101000011/http://[::1]:8080/v6.html", headers=DOC)
    where = urlsplit(r.headers["Location"])
    assert where.hostname.startswith("x--") and where.hostname.endswith(".20240101000011h8080.t.localhost")
    page = get(client, where.path, f"http://{where.netloc}", headers=DOC)
    assert page.status_code == 200 and b"ipv6 page" in page.get_data()
    # a server that never named it (a label made by the client, or after a restart) finds it
    fresh = Client(make_app(root, ui_port=18080, replay_port=18081))
    assert b"ipv6 page" in get(fresh, where.path, f"http://{where.netloc}", headers=DOC).get_data()


# ---------------------------------------------------------------------------------------
# No leak: a policy on everything replayed
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        f"/t/20240101000000/{SITE}/",
        f"/t/20240101000001cs_/{SITE}/s.css",
        f"/t/20240101000002/{SITE}/data.json",
        f"/t/20240101000002id_/{SITE}/data.json",
        f"/t/20240101000004/{SITE}/old",
        f"/t/20240101000000/{SITE}/nope",
        f"/t/20240201000000/{SITE}/copy.txt",
        "/unknown/path",
    ],
)
def test_every_replayed_response_carries_a_restrictive_policy(client, path):
    r = get(client, path, headers=DOC)
    if r.status_code == 302:  # a navigation, sent on to its session host: follow it
        where = urlsplit(r.headers["Location"])
        r = get(client, where.path, f"{where.scheme}://{where.netloc}", headers=DOC)
    policy = r.headers.get("Content-Security-Policy", "")
    assert policy.startswith("default-src 'self' ") or policy.startswith("default-src 'none'"), policy
    # Nothing but the collection's own hosts: no scheme-wide source, no host outside it.
    sources = {word for part in policy.split(";") for word in part.split()[1:]}
    allowed = {"'self'", "'none'", "data:", "blob:", "'unsafe-inline'", "'unsafe-eval'", "http://*.t.localhost:18081"}
    assert sources <= allowed, sources - allowed


def test_client_script_is_served(client):
    r = get(client, "/_warcache/static/client.js")
    assert r.status_code == 200 and b"__warcachePin" in r.get_data() and b"__warcacheCore" in r.get_data()


# ---------------------------------------------------------------------------------------
# The server's own pages
# ---------------------------------------------------------------------------------------
def test_collections_and_pages_listing(client):
    r = get(client, "/", base=UI)
    assert r.status_code == 200 and b'href="/t/"' in r.get_data()
    html = get(client, "/t/", base=UI).get_data(as_text=True)
    assert "Pages in t" in html and f"{REPLAY}/t/20240101000000/{SITE}/" in html
    assert f"/_warcache/reader/t/20240101000000/{SITE}/" in html


def test_titles_and_urls_are_escaped_in_listings(client):
    r = get(client, "/t/", base=UI)
    html = r.get_data(as_text=True)
    assert XSS not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script>alert(1)</script>" not in html
    assert "script-src" not in r.headers["Content-Security-Policy"]  # no script allowed at all
    assert r.headers["Content-Security-Policy"].startswith("default-src 'none'")
    found = get(client, "/t/?q=onerror", base=UI).get_data(as_text=True)  # search falls back to titles
    assert "&lt;img src=x onerror=alert(1)&gt;" in found and XSS not in found


def test_listing_shows_screenshots(client):
    html = get(client, "/t/", base=UI).get_data(as_text=True)
    thumbs = re.findall(r'src="(/_warcache/screenshot/t/[^"]+)"', html)
    assert len(thumbs) == 1
    r = get(client, thumbs[0], base=UI)
    assert r.status_code == 200 and r.get_data() == PNG and r.headers["Content-Type"] == "image/png"


def test_captures_list(client):
    html = get(client, f"/t/*/{SITE}/", base=UI).get_data(as_text=True)
    assert "2024-01-01 00:00:00 UTC" in html and "2024-03-01 00:00:00 UTC" in html


def test_reader_view_is_sanitised(client):
    r = get(client, f"/_warcache/reader/t/20240101000000/{SITE}/", base=UI)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "Reader headline" in html and "First paragraph" in html
    assert "<script" not in html.lower() and "javascript:" not in html
    assert not re.search(r"<[^>]*\son[a-z]+\s*=", html)  # no event handler attribute in any tag
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # the archived title, shown as text
    assert f'src="/_warcache/image/t/20240101000000/{SITE}/pic.png"' in html  # served by the listing
    image = get(client, f"/_warcache/image/t/20240101000000/{SITE}/pic.png", base=UI)
    assert image.status_code == 200 and image.get_data() == PNG
    assert image.headers["Content-Type"] == "image/png"
    assert image.headers["Content-Security-Policy"].endswith("sandbox")
    assert image.headers["X-Content-Type-Options"] == "nosniff"
    # only images: the listing origin never serves an archived page or script
    for path in (f"/_warcache/image/t/20240101000000/{SITE}/",
                 f"/_warcache/image/t/20240101000001/{SITE}/s.css"):
        assert get(client, path, base=UI).status_code == 404, path
    assert f'href="{REPLAY}/t/20240101000000/{SITE}/about"' in html


def test_listing_origin_sends_replay_urls_to_the_replay_origin(client):
    r = get(client, f"/t/20240101000000/{SITE}/", base=UI)
    assert r.status_code == 302 and r.headers["Location"] == f"{REPLAY}/t/20240101000000/{SITE}/"
    r = get(client, "/t/", base=REPLAY)
    # from a collection's host name back to the listing, under the parent name (localhost)
    assert r.status_code == 302 and r.headers["Location"] == "http://localhost:18080/t/"


# ---------------------------------------------------------------------------------------
# Security
# ---------------------------------------------------------------------------------------
def test_unknown_host_names_are_refused(client):
    r = client.get(f"/t/20240101000000/{SITE}/", base_url="http://evil.test:18081")
    assert r.status_code == 421
    assert client.get("/", base_url="http://localhost:18080").status_code == 200


def test_service_worker_scripts_are_refused(client):
    r = get(client, f"/t/20240101000001js_/{SITE}/s.css", headers={"Service-Worker": "script"})
    assert r.status_code == 403


def test_index_cannot_point_outside_the_collections(root, client, tmp_path):
    outside = root.parent / "outside.warc.gz"
    shutil.copy(root / "collections" / "t" / "archive" / "test.warc.gz", outside)
    good = CdxjIndex(root / "collections" / "t" / "indexes").lookup(f"{SITE}/orig.txt")[0]
    evil = []
    for i, name in enumerate(["../../../outside.warc.gz", str(outside), "..", "a/../../outside.warc.gz"]):
        url = f"{SITE}/secret{i}"
        evil.append(
            CdxjLine(
                canonical_key(url),
                "20240101000006",
                url,
                good.length,
                good.offset,
                name,
                mime="text/plain",
                status="200",
                digest=good.digest,
            )
        )
    CdxjIndex(root / "collections" / "t" / "indexes").add(evil)
    for i in range(len(evil)):
        r = get(client, f"/t/20240101000006/{SITE}/secret{i}", headers=SCRIPT_FETCH)
        assert r.status_code == 404 and b"the original payload" not in r.get_data()


@pytest.mark.parametrize(
    "path",
    [
        "/_warcache/screenshot/t/..%2F..%2F..%2Foutside.warc.gz/0",
        "/_warcache/screenshot/t/%2Fetc%2Fpasswd/0",
        "/_warcache/screenshot/t/test.warc.gz/0",  # a real file, but not a screenshot record
        "/_warcache/screenshot/..%2Ft/test.warc.gz/0",
        "/..%2F..%2Fetc/passwd",
        "/t/..%2F..%2Fetc%2Fpasswd",
    ],
)
def test_encoded_paths_cannot_escape(client, path):
    r = get(client, path, base=UI)
    assert r.status_code in (400, 404)
    assert b"root:" not in r.get_data() and b"WARC/" not in r.get_data()


def test_listens_on_loopback_by_default_and_warns_otherwise(root):
    with start_server(root) as server:
        assert server.ui_url.startswith("http://127.0.0.1:") and server.replay_url.startswith(
            "http://127.0.0.1:"
        )
    assert bind_warning("127.0.0.1") is None and bind_warning("localhost") is None
    assert "anyone" in bind_warning("0.0.0.0") and "anyone" in bind_warning("192.168.1.5")


def test_collection_host_names_are_dns_labels_and_never_clash():
    assert host_label("news") == "news" and host_label("web-2024") == "web-2024"
    names = ["News", "news", "my_notes", "a--b", "x" * 64, "c--0", "z"]
    labels = [host_label(n) for n in names]
    assert len(set(labels)) == len(labels)  # "News" and "news" are two collections, two hosts
    assert all(re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", lb) for lb in labels)
    assert host_label("News").startswith("c--") and host_label("c--0") != "c--0"


def test_where_collections_are_replayed_depends_on_how_the_server_is_reached(root):
    assert choose_origins("127.0.0.1", None, False) == (Origins("localhost"), None)
    origins, warning = choose_origins("0.0.0.0", None, False)  # *.localhost would not reach it
    assert origins == Origins(None) and "--collection-domain" in warning
    assert choose_origins("0.0.0.0", "Arch.LAN.", False) == (Origins("arch.lan"), None)
    assert choose_origins("127.0.0.1", None, True)[0] == Origins(None)
    with pytest.raises(UsageError, match="not a DNS name"):
        choose_origins("127.0.0.1", "a b", False)
    lan = Client(make_app(root, ui_port=18080, replay_port=18081, host="0.0.0.0",
                          collection_domain="arch.lan"))
    html = get(lan, "/t/", base="http://arch.lan:18080").get_data(as_text=True)
    assert f"http://t.arch.lan:18081/t/20240101000000/{SITE}/" in html
    r = get(lan, f"/t/20240101000001cs_/{SITE}/s.css", base="http://t.arch.lan:18081")
    assert r.status_code == 200
    origin, r = enter(lan, f"/t/20240101000001/{SITE}/s.css", "http://t.arch.lan:18081")
    assert origin == session("20240101000001", domain="t.arch.lan") and r.status_code == 200
    assert "http://*.t.arch.lan:18081" in r.headers["Content-Security-Policy"]
    # one collection served on its own gets session hosts too (they are for fidelity as much
    # as for isolation); the address it is reached by sends navigations to them
    single = Client(make_app(root, collection="t", ui_port=18080, replay_port=18081))
    html = get(single, "/t/", base=UI).get_data(as_text=True)
    assert f"{REPLAY}/t/20240101000000/{SITE}/" in html
    r = get(single, f"/t/20240101000000/{SITE}/", base="http://127.0.0.1:18081", headers=DOC)
    assert r.status_code == 302 and r.headers["Location"] == f"{REPLAY}/t/20240101000000/{SITE}/"
    origin, r = enter(single, f"/t/20240101000000/{SITE}/")
    assert origin == session("20240101000000") and r.status_code == 200
    assert "sandbox" not in r.headers["Content-Security-Policy"]


# ---------------------------------------------------------------------------------------
# Other tools' WARCs
# ---------------------------------------------------------------------------------------
CORPUS = [
    # (file, url, expected bytes in the replayed body)
    ("warcio/data/example.warc.gz", "http://example.com/", b"Example Domain"),  # response, gzip-encoded
    ("warcio/data/example.arc.gz", "http://example.com/", b"Example Domain"),  # ARC
    ("webarchive-commons/IAH-urls-wget.warc.gz", None, None),  # wget crawl with redirects
    ("warcio.js/data/redirect.warc", None, None),
]


@pytest.fixture(scope="module")
def corpus_client(shared_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("corpusroot")
    for i, (rel, _, _) in enumerate(CORPUS):
        coll = root / "collections" / f"c{i}"
        (coll / "archive").mkdir(parents=True)
        target = coll / "archive" / Path(rel).name
        shutil.copy(shared_dir / "corpora" / "warcs" / rel, target)
        CdxjIndex(coll / "indexes").add_warc(target)
    return root, Client(make_app(root, ui_port=18080, replay_port=18081))


def test_other_tools_warcs_replay(corpus_client):
    root, client = corpus_client
    for i, (_, url, expected) in enumerate(CORPUS):
        lines = list(CdxjIndex(root / "collections" / f"c{i}" / "indexes"))
        assert lines, f"nothing indexed in collection c{i}"
        targets = [(url, expected)] if url else [(ln.url, None) for ln in lines if ln.url.startswith("http")]
        for target, want in targets:
            r = get(client, f"/c{i}/{lines[0].timestamp}/{target}", f"http://c{i}.localhost:18081",
                    headers=SCRIPT_FETCH)
            assert r.status_code != 500, target
            if want:
                assert r.status_code == 200 and want in r.get_data()


def test_revisit_from_another_tool_resolves(corpus_client):
    # example.warc.gz holds a revisit of http://example.com/ (uri-agnostic identical payload).
    root, client = corpus_client
    lines = [ln for ln in CdxjIndex(root / "collections" / "c0" / "indexes") if ln.is_revisit]
    assert lines
    r = get(client, f"/c0/{lines[0].timestamp}id_/{lines[0].url}", "http://c0.localhost:18081")
    assert r.status_code == 200
    body = gzip.decompress(r.get_data()) if r.headers.get("Content-Encoding") == "gzip" else r.get_data()
    assert b"Example Domain" in body


def test_redirect_chain_from_wget_replays(corpus_client):
    root, client = corpus_client
    lines = list(CdxjIndex(root / "collections" / "c2" / "indexes"))
    redirects = [ln for ln in lines if (ln.status or "").startswith("3")]
    assert redirects
    origin, r = enter(client, f"/c2/{redirects[0].timestamp}/{redirects[0].url}", "http://c2.localhost:18081")
    assert r.status_code in (301, 302, 303, 307, 308)
    # the archived Location, on a session host of the same collection and time
    location = urlsplit(r.headers["Location"])
    assert location.hostname.endswith(f".{redirects[0].timestamp}h.c2.localhost"), r.headers["Location"]
    assert origin.startswith("http://") and origin.endswith(f".{redirects[0].timestamp}h.c2.localhost:18081")
