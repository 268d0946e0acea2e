"""End to end: `warcache add` with the real browser against the fixture site, then read the WARCs back
and compare every archived byte with what the server logged as sent."""

from __future__ import annotations

import gzip
import json

import pytest
from conftest import SHARED_PAGES
from fixture_site import MARKERS, RAW_TITLE, RENDERED_TITLE
from warc_helpers import read_collection, warcio_check

pytestmark = [pytest.mark.browser]

PAGES = SHARED_PAGES


@pytest.fixture(scope="module")
def site(shared_capture):
    """The fixture site of the shared capture (its URLs are the ones captured)."""
    return shared_capture.site


@pytest.fixture(scope="module")
def capture(shared_capture):
    """The shared run capturing every kind of page the fixture site has, over http and https."""
    return {"run": shared_capture.run, "root": shared_capture.root, "archive": shared_capture.archive,
            "log": shared_capture.log, "records": read_collection(shared_capture.archive),
            "results": shared_capture.results}


def _http_records(records, url):
    return [r for r in records if r.uri == url and r.type in ("response", "revisit")]


def test_run_succeeds_and_reports_each_url(capture):
    run = capture["run"]
    assert run.code == 0, run.stderr
    assert "Traceback" not in run.stderr
    results = capture["results"]
    assert len(results) == len(PAGES) + 1
    assert all(r["ok"] for r in results), [r for r in results if not r["ok"]]
    by_url = {r["url"]: r for r in results}
    main = by_url[next(u for u in by_url if u.endswith("/") and u.startswith("http://"))]
    assert main["status"] == 200 and main["title"] == RENDERED_TITLE
    assert main["resources"] >= 20 and main["bytes"] > 0 and main["warc"]
    for line in run.stderr.splitlines()[:len(PAGES) + 1]:
        assert line.startswith("[") and " ok " in line


def test_every_warc_passes_warcio_check_and_nothing_is_left_open(capture):
    files = sorted(capture["archive"].iterdir())
    assert files and all(f.name.endswith(".warc.gz") for f in files), files
    check = warcio_check(files)
    assert check.returncode == 0, check.stdout + check.stderr


def test_every_response_the_server_sent_is_archived_byte_for_byte(capture):
    records = capture["records"]
    by_id = {r.id: r for r in records}
    log = capture["log"]
    assert len(log) >= 40
    for sent in log:
        matches = _http_records(records, sent.url)
        assert matches, f"{sent.method} {sent.url} ({sent.status}) was not archived"
        # The record for this exact exchange: same head bytes (Date headers differ between hits).
        rec = next((r for r in matches if r.head == sent.head), None)
        assert rec is not None, f"no record of {sent.url} has the head the server sent:\n{sent.head!r}"
        if rec.type == "revisit":
            original = by_id[rec.headers["WARC-Refers-To"]]
            assert original.payload == sent.body, sent.url
            assert rec.headers["WARC-Payload-Digest"] == original.headers["WARC-Payload-Digest"]
        else:
            assert rec.payload == sent.body, f"payload of {sent.url} differs from the wire bytes"
            assert rec.content == sent.content, f"decoded payload of {sent.url} differs"


def test_response_records_carry_digests_ip_and_a_paired_request(capture):
    records = capture["records"]
    requests = {r.headers.get("WARC-Concurrent-To"): r for r in records if r.type == "request"}
    for rec in records:
        if rec.type not in ("response", "revisit"):
            continue
        assert rec.headers["WARC-Payload-Digest"].startswith("sha1:")
        assert rec.headers["WARC-Block-Digest"].startswith("sha1:")
        assert rec.headers["WARC-IP-Address"] in ("127.0.0.1", "127.0.0.2")
        request = requests.get(rec.id)
        assert request is not None and request.uri == rec.uri, rec.uri
        assert b"Headless" not in request.head


def test_post_body_is_in_the_request_record(capture, site):
    sent = next(s for s in capture["log"] if s.url == site.url("/api/echo"))
    assert sent.method == "POST" and sent.request_body
    request = next(r for r in capture["records"] if r.type == "request" and r.uri == sent.url)
    assert request.head.startswith(b"POST /api/echo HTTP/1.1\r\n")
    assert request.payload == sent.request_body


def test_headers_keep_order_duplicates_and_encodings(capture, site):
    main = next(r for r in capture["records"] if r.type == "response" and r.uri == site.url("/"))
    lines = main.head.split(b"\r\n")
    names = [ln.split(b":")[0].lower() for ln in lines[1:] if b":" in ln]
    assert names.count(b"set-cookie") == 2 and names.count(b"x-dup") == 2
    assert names.index(b"set-cookie") < names.index(b"x-dup")  # as sent, not sorted
    app = _http_records(capture["records"], site.url("/static/app.js"))[0]
    assert b"Content-Encoding: gzip" in app.head and app.payload[:2] == b"\x1f\x8b"
    chunked = _http_records(capture["records"], site.url("/chunked.txt"))[0]
    assert b"Transfer-Encoding: chunked" in chunked.head
    assert MARKERS["chunked"].encode() in chunked.content


@pytest.mark.parametrize("path", [
    "/static/app.js", "/static/mod.js", "/static/style.css", "/static/font.woff2", "/static/bg.png",
    "/frame.html", "/img/frame.png", "/api/article.json", "/api/missing", "/broken", "/api/xhr.txt",
    "/img/lazy.png", "/api/more.json?page=1", "/api/more.json?page=2", "/api/more.json?page=3",
    "/favicon.ico", "/static/worker.js", "/api/worker.json", "/static/sw.js", "/api/sw-data.json",
    "/static/sw-precache.txt",
])
def test_each_kind_of_subresource_is_recorded(capture, site, path):
    assert _http_records(capture["records"], site.url(path)), path


def test_cross_origin_and_https_requests_are_recorded(capture, site):
    records = capture["records"]
    for path in ("/api/cross.json", "/img/cross.png", "/static/cross.js"):
        assert _http_records(records, site.other_url(path)), path
    https_main = _http_records(records, site.https_url("/"))
    assert https_main and https_main[0].type == "response"
    assert _http_records(records, site.https_other_origin + "/api/cross.json")


def test_redirect_hops_are_each_recorded_with_their_bodies(capture, site):
    records = capture["records"]
    hop1 = _http_records(records, site.url("/redirect"))[0]
    hop2 = _http_records(records, site.url("/redirect2"))[0]
    assert hop1.head.startswith(b"HTTP/1.1 302") and MARKERS["redirect"].encode() in hop1.content
    assert hop2.head.startswith(b"HTTP/1.1 301")
    result = next(r for r in capture["results"] if r["url"] == site.url("/redirect"))
    assert result["final_url"] == site.url("/final.html") and result["status"] == 200


def test_rendered_dom_screenshot_and_page_record(capture, site):
    records = capture["records"]
    url = site.url("/")
    dom = next(r for r in records if r.uri == "urn:warcache:dom:" + url)
    raw = _http_records(records, url)[0]
    for key in ("article", "cross_json", "module", "echo", "chunked", "xhr", "more1", "more3"):
        assert MARKERS[key].encode() in dom.content, key
        assert MARKERS[key].encode() not in raw.content  # only JavaScript put it there
    assert RENDERED_TITLE.encode() in dom.content and RAW_TITLE.encode() in raw.content
    shot = next(r for r in records if r.uri == "urn:warcache:screenshot:" + url)
    assert shot.content.startswith(b"\x89PNG\r\n\x1a\n") and len(shot.content) > 5000
    assert shot.headers["Content-Type"] == "image/png"
    page = next(r for r in records if r.uri == "urn:warcache:page:" + url)
    info = json.loads(page.content)
    assert info["status"] == 200 and info["title"] == RENDERED_TITLE and info["final_url"] == url
    assert "Headless" not in info["user_agent"] and info["viewport"] == "1280x800"
    assert page.headers["WARC-Concurrent-To"] == raw.id


def test_non_pages_are_archived_as_their_response(capture, site):
    by_url = {r["url"]: r for r in capture["results"]}
    for path, marker in (("/doc.pdf", None), ("/data.json", "data_json"), ("/download.bin", None)):
        result = by_url[site.url(path)]
        assert result["ok"] and result["status"] == 200, result
        rec = _http_records(capture["records"], site.url(path))[0]
        sent = site.sent_for(path)[0] if site.sent_for(path) else None
        assert sent is None or rec.payload == sent.body or rec.type == "revisit"
        if marker:
            assert MARKERS[marker].encode() in rec.content
    assert by_url[site.url("/notfound")]["status"] == 404


def test_warcinfo_describes_the_capture(capture):
    first = sorted(capture["archive"].iterdir())[0]
    with gzip.open(first) as fh:
        head = fh.read(4000).decode("utf-8", "replace")
    assert "WARC/1.1" in head.splitlines()[0]
    assert "WARC-Type: warcinfo" in head
    for field in ("software: warcache/", "browser: Chromium", "http-header-user-agent:",
                  "warcache-capture-settings:"):
        assert field in head, field


def test_pages_jsonl_lists_the_pages(capture, site):
    pages_path = capture["root"] / "collections" / "default" / "indexes" / "pages.jsonl"
    pages = [json.loads(line) for line in pages_path.read_text().splitlines()]
    urls = {p["url"] for p in pages}
    assert site.url("/") in urls and site.url("/redirect") in urls
    main = next(p for p in pages if p["url"] == site.url("/"))
    assert main["title"] == RENDERED_TITLE and main["final_url"] == site.url("/")
    assert len(main["timestamp"]) == 14 and main["records"]["screenshot"]


def test_a_second_capture_stores_identical_payloads_as_revisits(shared_capture, site, tmp_path):
    from conftest import run_cli

    root = shared_capture.copy(tmp_path)
    archive = root / "collections" / "default" / "archive"
    before = {p.name: p.read_bytes() for p in archive.iterdir()}
    run = run_cli("add", "--json", site.url("/"), root=root)
    assert run.code == 0, run.stderr
    result = run.json()[0]
    assert result["revisits"] >= 10, result
    for name, data in before.items():  # earlier files untouched
        assert (archive / name).read_bytes() == data
    new = [p for p in archive.iterdir() if p.name not in before]
    assert len(new) == 1
    from warc_helpers import read_warc

    revisits = [r for r in read_warc(new[0]) if r.type == "revisit"]
    assert revisits
    for rec in revisits:
        assert rec.headers["WARC-Profile"].endswith("/revisit/identical-payload-digest")
        assert rec.headers["WARC-Refers-To-Target-URI"] and rec.headers["WARC-Refers-To-Date"]
    assert warcio_check(new).returncode == 0


def test_latin1_page_is_archived_as_sent(capture, site):
    rec = _http_records(capture["records"], site.url("/charset-latin1.html"))[0]
    assert b"charset=windows-1252" in rec.head
    assert "Café".encode("cp1252") in rec.content


def test_url_index_written_at_capture_equals_a_rebuild_from_the_warcs(capture, site):
    from warcache.index.cdxj import CdxjIndex, index_warc
    from warcache.warc.reader import read_record_at

    index = CdxjIndex(capture["root"] / "collections" / "default" / "indexes")
    live = sorted(str(line) for line in index)
    rebuilt = sorted(str(line) for f in sorted(capture["archive"].glob("*.warc.gz"))
                     for line in index_warc(f).lines)
    assert live and live == rebuilt
    hit = index.lookup(site.url("/"))[0]
    record = read_record_at(capture["archive"] / hit.filename, hit.offset)
    assert record.rec_headers.get_header("WARC-Target-URI") == site.url("/")
    echo = index.lookup(site.url("/api/echo"))
    assert not echo  # a POST never answers a GET lookup


def test_dialogs_are_dismissed_and_the_page_goes_on(capture, site):
    url = site.url("/dialogs.html")
    dom = next(r for r in capture["records"] if r.uri == "urn:warcache:dom:" + url)
    assert (MARKERS["dialogs"] + " false null").encode() in dom.content
