"""`warcache forget` on pages of WARCs made by other tools: the page's HTML response and its
request go, and the crawler's later visit of the page (a revisit, which the page list never
showed); every other record stays byte for byte; a revisit of another URL that found its payload
through the page (by URI and digest, with no WARC-Refers-To) gets it written into its place; a
damaged file is refused. The WARCs are written here with warcio, not with warcache's writer, gzipped and
plain."""

from __future__ import annotations

import base64
import hashlib
import io
import shutil
from pathlib import Path

import pytest
from conftest import run_cli
from warc_helpers import read_warc, warcio_check
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter
from werkzeug.test import Client

from warcache.replay import make_app

SITE = "http://site.test"
PAGE = b"<html><head><title>Imported page</title></head><body><p>importedword tells this page apart " \
       b"from every other one in the file.</p></body></html>"
OTHER = b"<html><head><title>Other page</title></head><body><p>otherword marks the page that stays.</p>" \
        b"</body></html>"
CSS = b"p { color: teal; }\n" * 10
COPY_TS = "20240517100003"


def _digest(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


def _write(path: Path, gzip: bool) -> None:
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=gzip)

        def exchange(url: str, ctype: str, body: bytes, date: str) -> None:
            response = writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), length=len(body),
                http_headers=StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1"),
                warc_headers_dict={"WARC-Date": date})
            writer.write_record(response)
            path_part = url[len(SITE):]
            request = writer.create_warc_record(
                url, "request", http_headers=StatusAndHeaders(
                    f"GET {path_part} HTTP/1.1", [("Host", "site.test")], is_http_request=True),
                warc_headers_dict={"WARC-Date": date,
                                   "WARC-Concurrent-To": response.rec_headers.get_header("WARC-Record-ID")})
            writer.write_record(request)

        exchange(SITE + "/page.html", "text/html", PAGE, "2024-05-17T10:00:00Z")
        exchange(SITE + "/style.css", "text/css", CSS, "2024-05-17T10:00:01Z")
        exchange(SITE + "/other.html", "text/html", OTHER, "2024-05-17T10:00:02Z")
        # the same bytes again, as revisits found by URI and digest only: under another URL, then
        # the crawler's later visit of the page itself
        for url, date in ((SITE + "/page.html?copy=1", "2024-05-17T10:00:03Z"),
                          (SITE + "/page.html", "2024-05-18T10:00:00Z")):
            writer.write_record(writer.create_warc_record(
                url, "revisit",
                http_headers=StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1"),
                warc_headers_dict={
                    "WARC-Date": date, "WARC-Payload-Digest": _digest(PAGE),
                    "WARC-Profile": "http://netpreserve.org/warc/1.0/revisit/identical-payload-digest",
                    "WARC-Refers-To-Target-URI": SITE + "/page.html",
                    "WARC-Refers-To-Date": "2024-05-17T10:00:00Z"}))


@pytest.fixture(params=[True, False], ids=["gzip", "plain"])
def imported(request, tmp_path) -> dict:
    name = "crawl.warc.gz" if request.param else "crawl.warc"
    source = tmp_path / name
    _write(source, request.param)
    root = tmp_path / "root"
    run = run_cli("import", "-c", "imp", str(source), root=root)
    assert run.code == 0, run.stderr
    return {"root": root, "archive": root / "collections" / "imp" / "archive", "name": name}


def _replay(root: Path, url: str, ts: str):
    """The archived bytes of `url` at `ts` (asked at that very time: werkzeug's test client does
    not keep a query string when it follows replay's redirect to the exact time)."""
    app = make_app(root, ui_port=18080, replay_port=18081)
    try:
        return Client(app).get(f"/imp/{ts}id_/{url}", base_url="http://127.0.0.1:18081")
    finally:
        app.close()


def test_an_imported_page_goes_with_its_request_and_nothing_else(imported):
    root, archive = imported["root"], imported["archive"]
    assert {p["url"] for p in run_cli("list", "--json", root=root).json()} == {SITE + "/page.html",
                                                                             SITE + "/other.html"}
    assert _replay(root, SITE + "/page.html?copy=1", COPY_TS).data == PAGE  # the revisit, before
    before = read_warc(archive / imported["name"])
    run = run_cli("forget", "--yes", SITE + "/page.html", root=root)
    assert run.code == 0, run.stderr
    assert "forgot 1 capture" in run.stderr and "3 records" in run.stderr
    files = sorted(archive.iterdir())
    assert [p.name for p in files] == [imported["name"].replace(".warc", "-f1.warc")]
    after = read_warc(files[0])
    gone = [r for r in before if r.uri == SITE + "/page.html"]
    assert sorted(r.type for r in gone) == ["request", "response", "revisit"]
    kept = [r for r in before if r.uri != SITE + "/page.html"]
    assert [(r.type, r.uri) for r in after] == [(r.type if r.type != "revisit" else "response", r.uri)
                                                 for r in kept]
    for old, new in zip(kept, after, strict=True):
        if old.type != "revisit":
            assert (new.headers, new.head, new.payload) == (old.headers, old.head, old.payload)
    resolved = after[-1]
    assert resolved.payload == PAGE and resolved.head == kept[-1].head
    assert resolved.headers["WARC-Record-ID"] == kept[-1].id
    assert resolved.headers["WARC-Refers-To"] == next(r.id for r in gone if r.type == "response")
    assert warcio_check(files).returncode == 0

    assert {p["url"] for p in run_cli("list", "--json", root=root).json()} == {SITE + "/other.html"}
    assert run_cli("search", "--json", "importedword", root=root).json() == []
    hits = run_cli("search", "--json", "otherword", root=root).json()
    assert [h["url"] for h in hits] == [SITE + "/other.html"]
    for ts in ("20240517100000", "20240518100000"):  # neither visit is left: replay answers with
        # nothing, or (fuzzy matching, same path) sends the browser to the copy, a URL of its own
        # that was not forgotten
        answer = _replay(root, SITE + "/page.html", ts)
        assert answer.status_code == 404 or (
            answer.status_code in (302, 307) and answer.headers["Location"].endswith("/page.html?copy=1")
        ), (answer.status_code, answer.headers.get("Location"))
    copy = _replay(root, SITE + "/page.html?copy=1", COPY_TS)
    assert copy.status_code == 200 and copy.data == PAGE  # still there, now stored in place
    assert _replay(root, SITE + "/style.css", "20240517100001").data == CSS
    verify = run_cli("verify", root=root)
    assert verify.code == 0, verify.stderr


def test_a_damaged_file_is_refused_and_left_as_it_is(imported):
    root, archive = imported["root"], imported["archive"]
    path = archive / imported["name"]
    path.write_bytes(path.read_bytes() + b"WARC/1.0\r\nbroken tail")
    before = {p.name: p.read_bytes() for p in archive.iterdir()}
    run = run_cli("forget", "--yes", SITE + "/page.html", root=root)
    assert run.code == 1 and "is damaged" in run.stderr and "Traceback" not in run.stderr
    assert {p.name: p.read_bytes() for p in archive.iterdir()} == before
    assert not list((root / "collections").glob(".*.rewrite"))
    shutil.rmtree(root)
