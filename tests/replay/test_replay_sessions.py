"""Session hosts (one host name per original origin, time and collection) and the JavaScript
rewriting that gives scripts their original address: naming, mapping, headers, the parse.

Unit tests of the pure parts; the server's answers on session hosts are tested in
test_replay_server.py, and what pages see in a browser in test_replay_real_world.py."""

from __future__ import annotations

import pytest

from warcache.replay.jsrewrite import MAX_SOURCE, JsRewriter
from warcache.replay.origins import HostNames, Origins, SessionHost, hashed_label
from warcache.replay.sessions import Session

TS = "20240102030405"
COLLS = frozenset({"news", "My_Notes"})


def _session(url: str = "https://www.example.com/a", domain: str = "localhost") -> Session:
    origins, names = Origins(domain), HostNames()
    host = origins.session_of(origins.session_host("news", url, TS, names), COLLS, names)
    return Session(host, origins, names, "http", 8081)


@pytest.mark.parametrize(
    ("url", "host", "session"),
    [
        ("https://news.example/a/b?c=1", "news.example.20240102030405s.news.localhost",
         SessionHost("news", TS, "https", "news.example", None)),
        ("http://127.0.0.1:8000/", "127.0.0.1.20240102030405h8000.news.localhost",
         SessionHost("news", TS, "http", "127.0.0.1", 8000)),
        ("https://Example.COM:443/", "example.com.20240102030405s.news.localhost",
         SessionHost("news", TS, "https", "example.com", None)),
        ("http://bücher.example/", "xn--bcher-kva.example.20240102030405h.news.localhost",
         SessionHost("news", TS, "http", "xn--bcher-kva.example", None)),
    ],
)
def test_session_host_names_round_trip(url, host, session):
    origins, names = Origins("localhost"), HostNames()
    assert origins.session_host("news", url, TS, names) == host
    assert origins.session_of(host, COLLS, names) == session
    assert origins.session_of(host.upper(), COLLS, names) == session  # DNS names ignore case


def test_hosts_that_cannot_be_labels_get_a_hashed_one_the_server_can_map_back():
    origins, names = Origins("localhost"), HostNames()
    for url, host in (("http://[::1]:8080/x", "[::1]"), ("https://" + "a" * 60 + ".b" * 100 + "/", None)):
        name = origins.session_host("news", url, TS, names)
        assert name.startswith("x--") and len(name) <= 253
        session = origins.session_of(name, COLLS, names)
        assert session is not None and session.host == (host or url[8:-1])
    # a label nobody named is unknown until learned (the app reads the index for it)
    other = HostNames()
    name = origins.session_host("news", "http://[::2]/", TS, names)
    assert origins.session_of(name, COLLS, other) is None
    other.learn(["[::2]"])
    assert origins.session_of(name, COLLS, other).host == "[::2]"
    assert hashed_label("[::1]") == "x--3e6true5n2rba"  # core.js computes the same (browser test)


@pytest.mark.parametrize(
    "name",
    [
        "news.localhost",  # the collection's own host
        "a.news.localhost",  # no session label
        "a.2024s.news.localhost",  # not 14 digits
        "a.20240102030405x.news.localhost",  # neither s nor h
        "a.20240102030405s.nosuch.localhost",  # no such collection
        "a.20240102030405s.news.example.com",  # another domain
        "x--unknown.20240102030405s.news.localhost",
        "a..20240102030405s.news.localhost",
    ],
)
def test_other_names_are_not_session_hosts(name):
    assert Origins("localhost").session_of(name, COLLS, HostNames()) is None


def test_without_a_collection_domain_there_are_no_session_hosts():
    assert Origins(None).session_host("news", "https://a.example/", TS, HostNames()) is None
    assert not Origins(None).is_collection_host("a.20240102030405s.news.localhost")
    assert Origins("localhost").site_is_collection and not Origins("arch.lan").site_is_collection


def test_urls_map_to_session_hosts_keeping_path_query_and_fragment():
    s = _session()
    assert s.map_url("https://www.example.com/p/q?x=1#f") == (
        "http://www.example.com.20240102030405s.news.localhost:8081/p/q?x=1#f")
    assert s.map_url("https://cdn.example:8443/lib.js") == (
        "http://cdn.example.20240102030405s8443.news.localhost:8081/lib.js")
    assert s.map_url("//cdn.example/x.js") == "http://cdn.example.20240102030405s.news.localhost:8081/x.js"
    assert s.map_url("http://other.example") == "http://other.example.20240102030405h.news.localhost:8081/"
    for kept in ("data:text/plain,x", "javascript:void(0)", "/relative", "mailto:a@b.c"):
        assert s.map_url(kept) == kept
    rw = s.rewriter("https://www.example.com/dir/page.html")
    assert rw.rewrite("next.html") == "next.html" and rw.rewrite("/root") == "/root"  # resolve natively
    assert rw.rewrite("#top") == "#top"
    assert rw.rewrite("https://x.example/a") == "http://x.example.20240102030405s.news.localhost:8081/a"


def test_cookies_go_to_the_session_hosts_of_their_domain():
    s = _session()
    assert s.set_cookie("a=1; Domain=.example.com; Path=/; Secure; HttpOnly") == (
        "a=1; Domain=example.com.20240102030405s.news.localhost; Path=/; Secure; HttpOnly")
    assert s.set_cookie("b=2; Path=/x") == "b=2; Path=/x"  # host-only stays host-only
    assert s.set_cookie("c=3; Domain=evil.example") is None  # live, the browser refuses it
    assert s.set_cookie("d=4; Domain=localhost") is None


def test_origin_headers_mean_what_they_meant_live():
    s = _session()
    assert s.kept_header("Access-Control-Allow-Origin", "*") == "*"
    assert s.kept_header("Access-Control-Allow-Origin", "https://app.example.com") == (
        "http://app.example.com.20240102030405s.news.localhost:8081")
    assert s.kept_header("Access-Control-Allow-Credentials", "true") == "true"
    assert s.kept_header("Strict-Transport-Security", "max-age=1") is None  # still renamed
    assert s.kept_header("Cache-Control", "max-age=1") is None
    policy = s.csp()
    assert "http://*.news.localhost:8081" in policy and "https:" not in policy
    assert s.same_collection("http://a.example.20240102030405s.news.localhost:8081/x")
    assert s.same_collection("http://news.localhost:8081/")
    assert not s.same_collection("http://a.example.20240102030405s.other.localhost:8081/")
    assert not s.same_collection("http://evilnews.localhost:8081/") and not s.same_collection("null")


# ---------------------------------------------------------------------------------------------
# JavaScript
# ---------------------------------------------------------------------------------------------
def _rw(source: str, map_url=lambda u: f"MAPPED[{u}]") -> str:
    out = JsRewriter().rewrite(source.encode(), map_url=map_url)
    return source if out is None else out.decode()


def _body(source: str) -> str:
    """The rewritten script without its prologue of fallbacks."""
    out = _rw(source)
    return out.split("return x};")[-1] if "return x};" in out else out


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("location.hostname", "__wc$loc(location).hostname"),
        ("window.location.host", "__wc$loc(window.location).host"),
        ("top?.location.origin", "__wc$loc(top?.location).origin"),
        ("String(location)", "String(__wc$loc(location))"),
        ("const {host} = location", "const {host} = __wc$loc(location)"),
        ("x = {location}", "x = {location: __wc$loc(location)}"),
        ("location.href = u", "__wc$loc(location).href = u"),
        ("location = u", "location = __wc$nav(u)"),
        ("top.location = self.location", "top.location = __wc$nav(__wc$loc(self.location))"),
        ("w.postMessage(m, 'https://a.example')", "__wc$pm(w).postMessage(m, 'https://a.example')"),
        ("parent?.postMessage(m, o)", "__wc$pm(parent)?.postMessage(m, o)"),
        ("import.meta.url", "__wc$meta(import.meta).url"),
        ("import('./x.js')", "import(__wc$imp('./x.js'))"),
    ],
)
def test_reads_of_the_address_are_rewritten(source, expected):
    assert _body(source) == expected


@pytest.mark.parametrize(
    "source",
    [
        "var location = 1; function f(location) { return 2; }",  # declarations
        "location++; delete window.location; ({location} = o); [location] = a;",
        "class C { location() {} get location() {} }; o = {location: 1};",  # names, keys
        "s = 'location.href = x'; // location.hostname\n/* top.location */ r = /location/g;",
        "t = `location: ${1}`; super_.x = 1;",
        "var x = 1;",
    ],
)
def test_everything_else_is_left_byte_for_byte(source):
    assert _rw(source) == source


def test_absolute_import_sources_are_mapped_and_relative_ones_kept():
    out = _rw('import a from "https://cdn.example/a.js";\nimport "./b.js";\n'
              'export * from "//cdn.example/c.js";')
    assert 'from "MAPPED[https://cdn.example/a.js]"' in out and 'import "./b.js"' in out
    assert 'from "MAPPED[//cdn.example/c.js]"' in out


def test_the_prologue_comes_after_the_directives():
    out = _rw('#!/usr/bin/env node\n"use strict";\n\'use asm\';\nlocation.host;')
    assert out.startswith('#!/usr/bin/env node\n"use strict";\n\'use asm\';var __wc$loc=')
    assert out.endswith("\n__wc$loc(location).host;")


def test_scripts_that_do_not_parse_or_are_too_big_are_served_as_archived():
    rw = JsRewriter()
    assert rw.rewrite(b"location.href = (;") is None
    assert rw.rewrite(b"/* " + b"x" * MAX_SOURCE + b" */ location.host") is None
    assert rw.rewrite(b"var nothing = 'here';") is None  # nothing to change: not even parsed


def test_plans_are_cached_by_digest_and_applied_per_request():
    rw = JsRewriter(max_entries=2)
    source = b'import "https://cdn.example/x.js"; location.host;'
    plan = rw.plan(source, key="sha1:abc")
    assert rw.plan(source, key="sha1:abc") is plan
    first = rw.rewrite(source, key="sha1:abc", map_url=lambda u: "ONE")
    second = rw.rewrite(source, key="sha1:abc", map_url=lambda u: "TWO")
    assert b'import "ONE"' in first and b'import "TWO"' in second
    rw.plan(b"location.a", key="k2")
    rw.plan(b"location.b", key="k3")  # the oldest goes
    assert rw.plan(source, key="sha1:abc") is not plan


def test_inline_scripts_keep_bytes_of_any_charset():
    text = "location.host; s = '\xe9\xe8';"  # Latin-1-decoded bytes of some charset
    out = JsRewriter().rewrite_text(text)
    assert out.endswith("__wc$loc(location).host; s = '\xe9\xe8';")
