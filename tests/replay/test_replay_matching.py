"""Matching a request the archive does not hold exactly: fuzzy rules, JSONP, ranges, image sets.

The ranking is tested on index lines (it reads nothing else), including the choices pywb 2.10
and ReplayWeb.page 2.5.3 were measured to get wrong; the replay server is tested in-process
against archives written with warcio (as in test_replay_server.py).  The browser tests of the
same features are in test_replay_kinds.py.
"""

from __future__ import annotations

import gzip
import json
import logging

import pytest
from test_replay_server import DOC, REPLAY, SCRIPT_FETCH, Archive, enter, session
from werkzeug.test import Client

from warcache.errors import UsageError
from warcache.index.cdxj import CdxjLine, canonical_key, request_key
from warcache.replay import make_app
from warcache.replay.fuzzy import is_identifier, looks_random, looks_volatile, rank
from warcache.replay.jsonp import rename_callback, requested_callback
from warcache.replay.ranges import ByteRange, content_range, parse_range
from warcache.replay.rules import load_rules, parse_rules
from warcache.replay.srcsets import alternatives, css_image_sets, html_sets

SITE = "http://site.test"
RULES = load_rules([])
IMAGE = {"Sec-Fetch-Dest": "image", "Sec-Fetch-Mode": "no-cors"}


def line(
    url: str, ts: str, *, method: str | None = None, body: str | None = None, status: str = "200"
) -> CdxjLine:
    key = (
        canonical_key(url)
        if method is None
        else request_key(url, method, "application/x-www-form-urlencoded", (body or "").encode())
    )
    return CdxjLine(key, ts, url, 100, 0, "x.warc.gz", "application/json", status, "sha1:X", method, body)


def best(url: str, lines: list[CdxjLine], ts: str = "20240601000000", **kw) -> str | None:
    ranked = rank(url, lines, RULES.for_url(url), timestamp=ts, **kw)
    return ranked[0].line.url if ranked else None


# ---------------------------------------------------------------------------------------
# What counts as volatile
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    ["0.6760644288355174", "cef0f899-5bd8-4b0d-ba60-5d907b3a28f4", "8057453d5df6dc98a1", "k3J9x2LmQ7p4Zt0w"],
)
def test_random_values(value):
    assert looks_random(value)


@pytest.mark.parametrize(
    "value", ["12", "summer-sale-2024", "lakes", "1.2.3", "en-GB", "deadbeef", "product_1234", "2024-01-02"]
)
def test_values_that_are_not_random(value):
    assert not looks_random(value)


def test_named_parameters_are_looser():
    assert looks_volatile("ffffffffff") and looks_volatile("1704164645") and looks_volatile("123456")
    assert not looks_volatile("1.2.3") and not looks_volatile("12")


def test_identifiers_for_jsonp():
    assert is_identifier("cb_12") and is_identifier("jQuery3600_1704164645123") and is_identifier("a.b[3]")
    assert not is_identifier("alert(1)//") and not is_identifier("a b") and not is_identifier("")


# ---------------------------------------------------------------------------------------
# Ranking
# ---------------------------------------------------------------------------------------
def test_cache_busters_and_times_near_the_capture_are_left_out():
    lines = [line(f"{SITE}/data.json?_=1717200000123", "20240601000000")]
    assert best(f"{SITE}/data.json?_=1717200000999", lines) == lines[0].url
    clock = [line(f"{SITE}/clock?t=1717200000123&zone=utc", "20240601000000")]
    assert best(f"{SITE}/clock?t=1717200004567&zone=utc", clock) == clock[0].url
    assert best(f"{SITE}/clock?t=1717200004567&zone=cet", clock) is None  # a kept value differs
    since = [line(f"{SITE}/since?from=1717200000", "20240601000000")]
    assert best(f"{SITE}/since?from=1717200003", since) == since[0].url  # any name: a time near it
    assert best(f"{SITE}/since?from=1117200003", since) is None  # a time years away is data


def test_page_two_is_never_answered_with_page_one():
    """ReplayWeb.page answers page=2&token=<new> with page 1 (Levenshtein on the tokens)."""
    one = line(f"{SITE}/list?page=1&token=9f8e7d6c5b", "20240101000000")
    two = line(f"{SITE}/list?page=2&token=0a1b2c3d4e", "20240101000000")
    assert best(f"{SITE}/list?page=2&token=ffffffffff", [one, two]) == two.url
    assert best(f"{SITE}/list?page=1&token=0a1b2c3d4e", [one, two]) == one.url
    assert best(f"{SITE}/list?page=3&token=0a1b2c3d4e", [one, two]) is None
    bare = line(f"{SITE}/items", "20240101000000")
    assert best(f"{SITE}/items?page=2&rnd=abcdef1234", [bare]) is None  # page=2 is not in it


def test_files_may_take_a_conflicting_version_sharing_the_most_parameters():
    """pywb answers a.js?v=new&k=2 with the first capture in index order (v=mmm&k=1)."""
    lines = [
        line(f"{SITE}/a.js?v=zzz&k=1", "20240101000000"),
        line(f"{SITE}/a.js?v=aaa&k=2", "20240601000000"),
        line(f"{SITE}/a.js?v=mmm&k=1", "20241201000000"),
    ]
    assert best(f"{SITE}/a.js?v=new&k=2", lines, ts="20240101000000") == f"{SITE}/a.js?v=aaa&k=2"
    # Not a file: a conflicting value is never answered.
    assert best(f"{SITE}/api?v=new&k=2", [line(f"{SITE}/api?v=aaa&k=1", "20240101000000")]) is None


def test_nearest_in_time_among_equals():
    lines = [
        line(f"{SITE}/d?_=1", "20240101000000"),
        line(f"{SITE}/d?_=2", "20240605000000"),
        line(f"{SITE}/d?_=3", "20241201000000"),
    ]
    assert best(f"{SITE}/d?_=9", lines, ts="20240601000000") == f"{SITE}/d?_=2"
    # A capture sharing the left-out value too wins over a nearer one.
    assert best(f"{SITE}/d?_=3", lines[:2], ts="20240601000000") == f"{SITE}/d?_=2"


def test_post_bodies_are_matched_like_parameters():
    body = "q=geese&nonce=8f3e9a0b1c2d3e4f5a6b&ts=1717200000123"
    lines = [
        line(f"{SITE}/api/post", "20240601000000", method="POST", body=body),
        line(f"{SITE}/api/post", "20240601000000", method="POST", body="q=ducks&nonce=1234567890abcdef12"),
        line(f"{SITE}/api/post?q=geese", "20240601000000"),
    ]
    asked = b"q=geese&nonce=00aa11bb22cc33dd44ee&ts=1717200001999"
    ranked = rank(
        f"{SITE}/api/post",
        lines,
        RULES.for_url(SITE),
        timestamp="20240601000000",
        method="POST",
        content_type="application/x-www-form-urlencoded",
        body=asked,
    )
    assert [r.line.request_body for r in ranked] == [body]


def test_jsonp_callback_names_are_left_out():
    lines = [
        line(
            f"{SITE}/jsonp?topic=tides&callback=jQuery0132342636748285_1717200000834&_=1717200000837",
            "20240601000000",
        )
    ]
    asked = f"{SITE}/jsonp?topic=tides&callback=jQuery0819787433603778_1717200000003&_=1717200000005"
    assert best(asked, lines) == lines[0].url
    assert best(f"{SITE}/jsonp?topic=winds&callback=cb_1", lines) is None


def test_site_rules_from_a_user_file(tmp_path):
    (tmp_path / "rules.toml").write_text(
        '[params]\nignore = ["session"]\n\n'
        '[[site]]\nid = "example-api"\nhost = ["*.example.com"]\npath = "/api/"\nkey_params = ["page"]\n'
        "allow_conflicts = true\n"
    )
    rules = load_rules([tmp_path / "rules.toml"])
    assert rules.for_url("http://example.com/api/x").site == "example-api"
    assert rules.for_url("http://example.com/other").site is None
    url = "http://www.example.com/api/list"
    lines = [
        line(f"{url}?page=1&sort=a&session=1", "20240101000000"),
        line(f"{url}?page=2&sort=b&session=2", "20240101000000"),
    ]
    ranked = rank(f"{url}?page=2&sort=a&session=3", lines, rules.for_url(url), timestamp="20240101000000")
    assert [r.line.url for r in ranked] == [lines[1].url]  # conflicts allowed, the key parameter not
    off = parse_rules('[[site]]\nid = "example-api"\nenabled = false\n', "off.toml", rules)
    assert off.for_url("http://example.com/api/x").site is None


@pytest.mark.parametrize(
    "text, message",
    [
        ('[params]\nignor = ["x"]\n', "unknown key params.ignor"),
        ('[[site]]\nhost = ["a"]\n', "needs an id"),
        ('[[site]]\nid = "x"\npost_body = "some"\n', "post_body"),
        ('[matching]\nnear_days = "ten"\n', "near_days"),
        ("format = 2\n", "format 2"),
        ("[params\n", "not valid TOML"),
    ],
)
def test_rules_files_with_mistakes_are_refused(text, message):
    with pytest.raises(UsageError, match=message):
        parse_rules(text, "user.toml")


# ---------------------------------------------------------------------------------------
# JSONP bodies, byte ranges, image sets
# ---------------------------------------------------------------------------------------
def test_jsonp_body_gets_the_requested_name():
    assert rename_callback(b'cb_1({"a": 1});', "cb_2") == b'cb_2({"a": 1});'
    assert rename_callback(b"/**/ typeof cb_1 === 'function' && cb_1([1]);", "x.y") == (
        b"/**/ typeof x.y === 'function' && x.y([1]);"
    )
    assert rename_callback(b'{"a": 1}', "cb") is None
    assert rename_callback(b"cb_1({});", "alert(1)//") is None
    assert requested_callback(f"{SITE}/j?callback=alert(1)//", RULES.for_url(SITE)) is None


def test_range_headers():
    assert parse_range("bytes=10-19") == ByteRange(10, 19)
    assert parse_range("bytes=10-") == ByteRange(10, None)
    assert parse_range("bytes=-5") == ByteRange(None, 5)
    assert parse_range("bytes=1-2, 4-5") is None and parse_range("items=1-2") is None
    assert parse_range("bytes=5-1") is None
    assert ByteRange(None, 5).span(100) == (95, 99) and ByteRange(99, 200).span(100) == (99, 99)
    assert ByteRange(100, None).span(100) is None
    assert content_range("bytes 0-99/1000") == (0, 99, 1000) and content_range("bytes 5-1/9") is None


def test_image_sets_in_html_and_css():
    html = (
        '<base href="http://site.test/i/"><img src="a-1x.png" srcset="a-2x.png 2x, a-3x.png 3x">'
        '<picture><source srcset="p-600.png 600w, p-300.png 300w"><img src="p.png"></picture>'
        "<div style=\"background: image-set(url(b1.png) 1x, 'b2.png' 2x)\"></div>"
    )
    sets = html_sets(html, "http://site.test/page")
    assert alternatives(sets, "http://site.test/i/a-2x.png") == [
        "http://site.test/i/a-3x.png",
        "http://site.test/i/a-1x.png",
    ]
    assert alternatives(sets, "http://site.test/i/p-600.png")[0] == "http://site.test/i/p-300.png"
    assert alternatives(sets, "http://site.test/i/b2.png") == ["http://site.test/i/b1.png"]
    css = 'a { background: -webkit-image-set("x1.png" 1x, "x2.png" 2x type("image/png")) }'
    assert alternatives(css_image_sets(css, "http://site.test/s/c.css"), "http://site.test/s/x2.png") == [
        "http://site.test/s/x1.png"
    ]


# ---------------------------------------------------------------------------------------
# The replay server
# ---------------------------------------------------------------------------------------
WAV = bytes(range(256)) * 40  # 10240 bytes


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> Client:
    root = tmp_path_factory.mktemp("matching")
    a = Archive(root)
    a.response(
        f"{SITE}/api/items?page=1&rnd=8057453d5df6dc98",
        "20240601000000",
        b'{"page": 1}',
        headers=[("Content-Type", "application/json")],
    )
    a.response(
        f"{SITE}/api/items?page=2&rnd=e52f9af03ed00bb6",
        "20240601000001",
        b'{"page": 2}',
        headers=[("Content-Type", "application/json")],
    )
    a.response(
        f"{SITE}/feed?callback=cb_5733ff&_=1717200000893",
        "20240601000002",
        b'cb_5733ff({"items": []});',
        headers=[("Content-Type", "application/javascript")],
    )
    a.response(
        f"{SITE}/page.html?utm_source=mail",
        "20240601000003",
        b"<p>the page</p>",
        headers=[("Content-Type", "text/html")],
    )
    a.response(f"{SITE}/whole.wav", "20240601000004", WAV, headers=[("Content-Type", "audio/wav")])
    a.response(
        f"{SITE}/gz.bin",
        "20240601000005",
        gzip.compress(WAV),
        headers=[("Content-Type", "application/octet-stream"), ("Content-Encoding", "gzip")],
    )

    def piece(url: str, ts: str, start: int, end: int) -> None:
        where = ("Content-Range", f"bytes {start}-{end}/{len(WAV)}")
        a.response(
            url,
            ts,
            WAV[start : end + 1],
            status="206 Partial Content",
            headers=[("Content-Type", "audio/wav"), where],
        )

    for start, end in ((0, 4095), (4096, 8191), (6000, 10239)):  # the last overlaps
        piece(f"{SITE}/pieces.wav", "20240601000006", start, end)
    piece(f"{SITE}/gap.wav", "20240601000007", 0, 999)
    piece(f"{SITE}/gap.wav", "20240601000007", 2000, 2999)
    img = b'<img srcset="/i-1x.png 1x, /i-2x.png 2x" src="/i-1x.png">'
    a.response(f"{SITE}/img.html", "20240601000008", img, headers=[("Content-Type", "text/html")])
    a.response(f"{SITE}/i-1x.png", "20240601000008", b"\x89PNG one", headers=[("Content-Type", "image/png")])
    a.response(
        f"{SITE}/session?id=7&session=aa",
        "20240601000009",
        b"seven",
        headers=[("Content-Type", "text/plain")],
    )
    sri = (
        b'<script src="/lib.js" integrity="sha384-A"></script>'
        b'<script src="/app.js?v=2" integrity="sha384-B"></script>'
        b'<link rel="modulepreload" href="/mod.js?v=9" integrity="sha384-C">'
        b'<script src="/loc.js" integrity="sha384-D"></script>'
    )
    a.response(f"{SITE}/sri.html", "20240601000010", sri, headers=[("Content-Type", "text/html")])
    for name in ("lib.js", "app.js?v=1", "mod.js?v=1"):
        a.response(f"{SITE}/{name}", "20240601000010", b"1;", headers=[("Content-Type", "text/javascript")])
    a.response(f"{SITE}/loc.js", "20240601000010", b"var h = location.host;",
               headers=[("Content-Type", "text/javascript")])
    a.finish()
    (root / "collections" / "t" / "rules.toml").write_text('[params]\nignore = ["session"]\n')
    return Client(make_app(root, ui_port=18080, replay_port=18081))


def fetch(client, path, headers=None):
    return client.get(path, base_url=REPLAY, headers={**SCRIPT_FETCH, **(headers or {})})


def test_server_answers_volatile_urls_and_logs_it(client, caplog):
    with caplog.at_level(logging.INFO, logger="warcache.replay"):
        r = fetch(client, f"/t/20240601000000/{SITE}/api/items?page=2&rnd=0011223344556677")
    assert r.status_code == 200 and json.loads(r.get_data()) == {"page": 2}
    assert caplog.messages == [
        f"fuzzy: {SITE}/api/items?page=2&rnd=0011223344556677 -> {SITE}/api/items?page=2&rnd=e52f9af03ed00bb6"
    ]
    assert fetch(client, f"/t/20240601000000/{SITE}/api/items?page=3&rnd=00112233").status_code == 404


def test_collection_rules_apply(client):
    r = fetch(client, f"/t/20240601000000/{SITE}/session?id=7&session=bb")
    assert r.status_code == 200 and r.get_data() == b"seven"


def test_a_fuzzy_navigation_is_redirected_to_what_answers_it(client):
    r = client.get(f"/t/20240601000003/{SITE}/page.html?utm_source=feed", base_url=REPLAY, headers=DOC)
    assert r.status_code == 302  # on to the session host, at the URL that answers it
    assert r.headers["Location"] == f"{session('20240601000003')}/page.html?utm_source=mail"


def test_a_session_host_answers_volatile_urls_and_logs_it(client, caplog):
    with caplog.at_level(logging.INFO, logger="warcache.replay"):
        r = client.get("/api/items?page=2&rnd=0011223344556677", base_url=session("20240601000000"),
                       headers=SCRIPT_FETCH)
    assert r.status_code == 200 and json.loads(r.get_data()) == {"page": 2}
    assert caplog.messages == [
        f"fuzzy: {SITE}/api/items?page=2&rnd=0011223344556677 -> {SITE}/api/items?page=2&rnd=e52f9af03ed00bb6"
    ]
    r = client.get("/page.html?utm_source=feed", base_url=session("20240601000003"), headers=DOC)
    assert r.status_code == 200  # a navigation on the page's own host is answered in place


def test_jsonp_answers_with_the_name_asked_for(client):
    r = fetch(client, f"/t/20240601000002/{SITE}/feed?callback=jQuery12_34&_=1717200000999")
    assert r.get_data() == b'jQuery12_34({"items": []});'
    assert int(r.headers["Content-Length"]) == len(r.get_data())


def test_range_of_a_whole_response(client):
    r = fetch(client, f"/t/20240601000004/{SITE}/whole.wav", {"Range": "bytes=100-199"})
    assert r.status_code == 206 and r.get_data() == WAV[100:200]
    assert r.headers["Content-Range"] == f"bytes 100-199/{len(WAV)}" and r.headers["Content-Length"] == "100"
    r = fetch(client, f"/t/20240601000004/{SITE}/whole.wav", {"Range": "bytes=-10"})
    assert r.get_data() == WAV[-10:]
    r = fetch(client, f"/t/20240601000004/{SITE}/whole.wav", {"Range": f"bytes={len(WAV)}-"})
    assert r.status_code == 416 and r.headers["Content-Range"] == f"bytes */{len(WAV)}"
    r = fetch(client, f"/t/20240601000004/{SITE}/whole.wav", {"Range": "bytes=0-1,5-6"})
    assert r.status_code == 200 and r.get_data() == WAV  # several ranges: the whole body
    # A body stored gzip-encoded: ranges address the bytes the page sees.
    r = fetch(client, f"/t/20240601000005/{SITE}/gz.bin", {"Range": "bytes=300-309"})
    assert r.status_code == 206 and r.get_data() == WAV[300:310] and "Content-Encoding" not in r.headers


def test_ranges_put_together_from_archived_pieces(client):
    base = f"/t/20240601000006/{SITE}/pieces.wav"
    r = fetch(client, base, {"Range": "bytes=4000-8299"})  # across three pieces
    assert r.status_code == 206 and r.get_data() == WAV[4000:8300]
    assert r.headers["Content-Range"] == f"bytes 4000-8299/{len(WAV)}"
    r = fetch(client, base, {"Range": "bytes=0-"})
    assert r.get_data() == WAV
    r = fetch(client, base)  # no Range: the pieces cover it all
    assert r.status_code == 200 and r.get_data() == WAV
    gap = f"/t/20240601000007/{SITE}/gap.wav"
    r = fetch(client, gap, {"Range": "bytes=500-"})  # shorter than asked: the run ends at 999
    assert r.status_code == 206 and r.headers["Content-Range"] == f"bytes 500-999/{len(WAV)}"
    assert r.get_data() == WAV[500:1000]
    assert fetch(client, gap, {"Range": "bytes=1500-1600"}).status_code == 416
    assert fetch(client, gap).status_code == 404  # not archived whole


def test_image_missing_from_its_set_gets_the_nearest_archived_candidate(client, caplog):
    referer = {"Referer": f"{REPLAY}/t/20240601000008/{SITE}/img.html", **IMAGE}
    with caplog.at_level(logging.INFO, logger="warcache.replay"):
        r = client.get(f"/t/20240601000008im_/{SITE}/i-2x.png", base_url=REPLAY, headers=referer)
    assert r.status_code == 200 and r.get_data() == b"\x89PNG one"
    assert caplog.messages == [
        f"fuzzy: {SITE}/i-2x.png -> {SITE}/i-1x.png (nearest archived candidate of its image set)"
    ]
    # Not an image, or no document naming the set: not archived.
    image = f"{SITE}/i-2x.png"
    assert fetch(client, f"/t/20240601000008/{image}", {"Referer": referer["Referer"]}).status_code == 404
    assert client.get(f"/t/20240601000008im_/{image}", base_url=REPLAY, headers=IMAGE).status_code == 404


def test_integrity_goes_only_where_the_bytes_served_would_differ(client):
    _, r = enter(client, f"/t/20240601000010/{SITE}/sri.html")
    body = r.get_data()
    # Archived at that URL and served byte for byte: its hash holds.
    assert b'<script src="/lib.js" integrity="sha384-A">' in body
    # Not archived at that URL: another version answers, whose hash cannot match.
    assert b'<script src="/app.js?v=2" data-archived-integrity="sha384-B">' in body
    assert b'href="/mod.js?v=9" data-archived-integrity="sha384-C"' in body
    # Archived at that URL, but it reads its own address: rewritten, so its hash cannot match.
    assert b'<script src="/loc.js" data-archived-integrity="sha384-D">' in body
    # The same with one shared origin (pywb's URLs).
    shared = Client(make_app(client.application.root, ui_port=18080, replay_port=18081, shared_origin=True))
    page = f"/t/20240601000010/{SITE}/sri.html"
    body = shared.get(page, base_url="http://127.0.0.1:18081", headers=DOC).get_data()
    js = b'src="/t/20240601000010js_/http://site.test/'
    assert js + b'lib.js" integrity="sha384-A"' in body
    assert js + b'app.js?v=2" data-archived-integrity="sha384-B"' in body
    assert js + b'loc.js" data-archived-integrity="sha384-D"' in body
