"""Replay URL parsing, HTML/CSS rewriting and header rules, without a server or a browser."""

from __future__ import annotations

import json

import pytest

from warcache.replay.headers import replay_headers, rewrite_set_cookie
from warcache.replay.rewrite import UrlRewriter, rewrite_bytes, rewrite_css, rewrite_html, rewrite_srcset
from warcache.replay.wburl import parse_archival_path

RW = UrlRewriter("c", "20240101000000", "http://site.test:8000/dir/page.html")
P = "/c/20240101000000"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/c/20240101000000/http://x.test/a?b=1", ("20240101000000", "", "http://x.test/a?b=1")),
        ("/c/2024id_/https://x.test/", ("2024", "id_", "https://x.test/")),
        ("/c/http://x.test/", ("", "", "http://x.test/")),
        ("/c/http:/x.test/p", ("", "", "http://x.test/p")),  # slashes merged by a client
        ("/c/x.test/p", ("", "", "http://x.test/p")),
        ("/c/20240101im_/http://127.0.0.1:9/a%2Fb", ("20240101", "im_", "http://127.0.0.1:9/a%2Fb")),
    ],
)
def test_parse_archival_path(target, expected):
    wb = parse_archival_path(target, {"c"})
    assert wb is not None
    assert (wb.timestamp, wb.modifier, wb.url) == expected


@pytest.mark.parametrize(
    "target",
    [
        "/c/",
        "/c/static/app.js",
        "/other/2024/http://x.test/",
        "/c/2024/",
        "/../c/2024/http://x.test/",
        "/c%2F2024/http://x.test/",
    ],
)
def test_non_replay_paths_are_refused(target):
    assert parse_archival_path(target, {"c"}) is None


def test_urls_in_attributes_point_into_the_archive():
    doc = (
        "<!doctype html><html><head><title>T</title>"
        '<link rel="stylesheet" href="/s.css"><script src="http://cdn.test/x.js"></script></head>'
        '<body><a href="next.html">n</a><a href="#top">t</a><a href="javascript:void(0)">j</a>'
        '<img src=//img.test/a.png srcset="a.png 1x, /b.png 2x"><iframe src="/f.html"></iframe>'
        '<form action="/post"></form><video poster="/p.jpg"></video></body></html>'
    )
    out = rewrite_html(doc, RW)
    assert f'href="{P}cs_/http://site.test:8000/s.css"' in out
    assert f'src="{P}js_/http://cdn.test/x.js"' in out
    assert f'href="{P}/http://site.test:8000/dir/next.html"' in out
    assert 'href="#top"' in out and 'href="javascript:void(0)"' in out
    assert f'src="{P}im_/http://img.test/a.png"' in out  # unquoted value, now quoted
    assert f'srcset="{P}im_/http://site.test:8000/dir/a.png 1x, {P}im_/http://site.test:8000/b.png 2x"' in out
    assert f'src="{P}if_/http://site.test:8000/f.html"' in out
    assert f'action="{P}/http://site.test:8000/post"' in out
    assert f'poster="{P}im_/http://site.test:8000/p.jpg"' in out


def test_everything_else_is_kept_byte_for_byte():
    doc = (
        '<!DOCTYPE html>\n<!-- <img src="/in-comment.png"> -->\n<HTML Lang=en><Body CLASS="a  b">\n'
        '<script>var s = "<img src=\'/in-script.png\'>";</script>\n<textarea><img src="/t.png"></textarea>'
        '<p title="x &amp; y">caf\xc3\xa9 &eacute;</p></body></HTML>'
    )
    assert rewrite_html(doc, RW) == doc


def test_head_is_inserted_after_head_or_before_first_element():
    assert rewrite_html("<!doctype html><html><head><title>x</title>", RW, "<X>") == (
        "<!doctype html><html><head><X><title>x</title>"
    )
    assert rewrite_html("<!doctype html>\n<p>hi", RW, "<X>") == "<!doctype html>\n<X><p>hi"
    assert rewrite_html("", RW, "<X>") == "<X>"


def test_base_href_changes_how_later_urls_resolve():
    out = rewrite_html('<base href="http://other.test/root/"><img src="a.png"><img src="/b.png">', RW)
    assert f'<base href="{P}/http://other.test/root/">' in out
    assert f'src="{P}im_/http://other.test/root/a.png"' in out
    assert f'src="{P}im_/http://other.test/b.png"' in out


def test_entities_in_urls_keep_their_meaning():
    out = rewrite_html('<a href="/q?a=1&amp;b=2">x</a><img src="/caf&eacute;.png">', RW)
    assert f'href="{P}/http://site.test:8000/q?a=1&amp;b=2"' in out
    assert f'src="{P}im_/http://site.test:8000/caf&eacute;.png"' in out


def test_style_srcdoc_meta_and_importmap():
    doc = (
        '<meta http-equiv="refresh" content="0; url=/next">'
        '<meta http-equiv="Content-Security-Policy" content="script-src \'none\'">'
        '<meta name="referrer" content="no-referrer">'
        '<div style="background:url(&quot;/bg.png&quot;)"></div>'
        '<style>@import "theme.css"; p{background:url(/p.png)}</style>'
        '<iframe srcdoc="<img src=&quot;/in.png&quot;>"></iframe>'
        '<script type="importmap">{"imports": {"lib": "/js/lib.js"}}</script>'
        '<link rel="stylesheet" href="/s.css" integrity="sha384-x"><script src="/a.js" integrity="sha384-y">'
        "</script>"
    )
    out = rewrite_html(doc, RW)
    assert f'content="0; url={P}/http://site.test:8000/next"' in out
    assert '<meta data-archived-http-equiv="Content-Security-Policy"' in out
    assert '<meta data-archived-name="referrer"' in out
    assert f"url(&quot;{P}im_/http://site.test:8000/bg.png&quot;)" in out
    assert f'@import "{P}cs_/http://site.test:8000/dir/theme.css"' in out
    assert f"url({P}im_/http://site.test:8000/p.png)" in out
    assert f'srcdoc="<img src=&quot;{P}im_/http://site.test:8000/in.png&quot;>"' in out
    importmap = out.split('<script type="importmap">')[1].split("</script>")[0]
    assert json.loads(importmap) == {"imports": {"lib": f"{P}js_/http://site.test:8000/js/lib.js"}}
    assert 'data-archived-integrity="sha384-x"' in out  # the style sheet is rewritten: hash no longer holds
    assert 'integrity="sha384-y"' in out  # scripts are served unchanged: their hash still holds


def test_srcset_keeps_commas_inside_data_urls():
    out = rewrite_srcset("data:image/png;base64,AAA= 1x, /b.png 2x", RW)
    assert out == f"data:image/png;base64,AAA= 1x, {P}im_/http://site.test:8000/b.png 2x"


def test_css_urls():
    css = "a{b:url( 'x.png' )} @import url(/y.css); c{d:url(data:image/png;base64,xx)}"
    out = rewrite_css(css, UrlRewriter("c", "1", "http://s.test/css/main.css"))
    assert "url( '/c/1im_/http://s.test/css/x.png' )" in out
    assert "url(/c/1im_/http://s.test/y.css)" in out
    assert "url(data:image/png;base64,xx)" in out


def test_bytes_in_any_ascii_compatible_charset_survive():
    latin = "<p>Caf\xe9 \u20ac</p><img src='/x.png'>".encode("cp1252")
    out = rewrite_bytes(latin, "html", RW, charset="windows-1252")
    assert out == latin.replace(b"'/x.png'", f"'{P}im_/http://site.test:8000/x.png'".encode())
    utf16 = "\ufeff<img src='/x.png'>".encode("utf-16-le")
    assert f"{P}im_/http://site.test:8000/x.png".encode("utf-16-le") in rewrite_bytes(utf16, "html", RW)


def test_headers_framing_state_and_urls():
    archived = [
        ("Content-Type", "text/html"),
        ("Content-Encoding", "gzip"),
        ("Transfer-Encoding", "chunked"),
        ("Content-Length", "99"),
        ("Connection", "keep-alive, X-Hop"),
        ("X-Hop", "1"),
        ("Location", "/next"),
        ("Set-Cookie", "a=1; Domain=site.test; Path=/; Secure; SameSite=None"),
        ("Access-Control-Allow-Origin", "*"),
        ("Content-Security-Policy", "default-src *"),
        ("Strict-Transport-Security", "max-age=1"),
        ("Link", "</s.css>; rel=preload"),
        ("X-Keep", "yes"),
    ]
    out = replay_headers(archived, keep_encoding=False, rewrite=RW.rewrite, cookie_path="/c/")
    names = [k.lower() for k, _ in out]
    for gone in ("content-encoding", "transfer-encoding", "content-length", "connection", "x-hop"):
        assert gone not in names
    assert ("Location", f"{P}/http://site.test:8000/next") in out
    assert ("Set-Cookie", "a=1; Path=/c/") in out
    assert ("X-Archive-Orig-Access-Control-Allow-Origin", "*") in out
    assert ("X-Archive-Orig-Content-Security-Policy", "default-src *") in out
    assert ("X-Archive-Orig-Strict-Transport-Security", "max-age=1") in out
    assert ("Link", f"<{P}/http://site.test:8000/s.css>; rel=preload") in out
    assert ("X-Keep", "yes") in out
    kept = replay_headers(archived, keep_encoding=True, rewrite=RW.rewrite, cookie_path="/c/", identity=True)
    assert ("Content-Encoding", "gzip") in kept and ("Location", "/next") in kept


def test_cookie_attributes_that_cannot_hold_go():
    assert rewrite_set_cookie("s=v; HttpOnly; SameSite=Lax; Max-Age=60", "/c/") == (
        "s=v; HttpOnly; SameSite=Lax; Max-Age=60; Path=/c/"
    )
