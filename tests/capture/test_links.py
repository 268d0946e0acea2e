"""Taking the links out of a document (Markdown, HTML, text, feeds, bookmark files), from a file or a URL."""

from __future__ import annotations

import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from warcache.capture.links import (
    LinkFormat,
    LinkSource,
    collect_links,
    detect_format,
    extract_links,
    fetch_source,
    filter_links,
)
from warcache.errors import UsageError

BLOG = "https://blog.example/posts/2024/hello.html"


def links(content: str | bytes, name: str = "doc", **kw) -> list[str]:
    data = content.encode("utf-8") if isinstance(content, str) else content
    return extract_links(name, content=data, **kw)


# ------------------------------------------------------------------------------------------- Markdown

MARKDOWN = """# Reading list

Inline [one](https://one.example/a) and a [Wikipedia link](https://en.wikipedia.org/wiki/Foo_(bar)).
An autolink <https://auto.example/x?y=1> and a bare URL https://bare.example/path, then a full stop.
Relative: [sibling](other.html), [root](/about/), [up](../2023/old.html "Old post").
Not outbound: [anchor](#top), [mail](mailto:me@blog.example), [phone](tel:+123), [js](javascript:alert(1)),
[data](data:text/html,hi), [ftp](ftp://files.example/x), [self](hello.html#comments).
A [reference link][ref] and a [collapsed one][].
Same page twice: [again](https://one.example/a#section) and [HOST](HTTPS://ONE.EXAMPLE/a).
<a href="https://raw-html.example/page">raw HTML</a>

Code is not a link: `https://code-span.example/` and

    https://indented-code.example/

```
https://fenced-code.example/
```

* [in a list](https://list.example/item)
> quoted https://quote.example/q

[ref]: https://ref.example/target "Title"
[collapsed one]: <https://collapsed.example/with space>
[unused]: https://unused-definition.example/
"""


def test_markdown_links_in_order_resolved_and_filtered():
    assert links(MARKDOWN, "list.md", base_url=BLOG) == [
        "https://one.example/a",
        "https://en.wikipedia.org/wiki/Foo_(bar)",
        "https://auto.example/x?y=1",
        "https://bare.example/path",
        "https://blog.example/posts/2024/other.html",
        "https://blog.example/about/",
        "https://blog.example/posts/2023/old.html",
        "https://ref.example/target",
        "https://collapsed.example/with%20space",
        "https://raw-html.example/page",
        "https://list.example/item",
        "https://quote.example/q",
        "https://unused-definition.example/",
    ]


def test_markdown_without_a_base_url_skips_relative_links_and_says_so():
    source = LinkSource.load("list.md", content=MARKDOWN.encode())
    result = collect_links(source)
    assert result.format is LinkFormat.MARKDOWN
    assert not any("blog.example" in u for u in result.links)
    assert result.skipped["relative"] == 4  # sibling, root, up, and self (no document URL to compare)
    assert result.skipped["duplicate"] == 4  # one.example twice more, and the two used definitions
    assert result.skipped["fragment"] == 1
    assert result.skipped["scheme"] == 3  # mailto, tel, ftp; markdown-it itself drops javascript: and data:
    assert "4 relative links" in result.describe_skipped()


def test_markdown_self_link_with_fragment_is_not_outbound():
    result = collect_links(LinkSource.load("list.md", content=MARKDOWN.encode(), base_url=BLOG))
    assert result.skipped["self"] == 1
    assert BLOG not in result.links


# ------------------------------------------------------------------------------------------- HTML

HTML = """<!doctype html><html><head><title>Links</title></head><body>
<nav><a href="/">Home</a> <a href="#main">Skip</a> <a href="">Reload</a></nav>
<article>
<p><a href="https://ext.example/one">one</a>, <a href=" https://ext.example/two?a=1&amp;b=2 ">two</a>,
<a href="part3.html">three</a>, <a href="//cdn.example/lib.html">protocol-relative</a>,
<a href="hello.html#comments">comments on this page</a>,
<a href="https://ext.example/one#again">one again</a>,
<a href="https://ext.exa
mple/split">split over lines</a>, <a>no href</a>, <a href="mailto:x@y.z">mail</a>,
<a href="JavaScript:void(0)">js</a>, <a href="https://user:pw@creds.example/">credentials</a>,
<a href="https://bücher.example/ü">international</a></p>
<map name="m"><area href="https://area.example/" alt="area"></map>
<!-- <a href="https://commented-out.example/">no</a> -->
</article></body></html>"""


def test_html_links_resolve_against_the_document_url():
    assert links(HTML, "page.html", base_url=BLOG) == [
        "https://blog.example/",
        "https://ext.example/one",
        "https://ext.example/two?a=1&b=2",
        "https://blog.example/posts/2024/part3.html",
        "https://cdn.example/lib.html",
        "https://ext.example/split",
        "https://xn--bcher-kva.example/%C3%BC",  # as the browser requests it
        "https://area.example/",
    ]


def test_html_base_element_wins_over_the_document_url():
    page = '<html><head><base href="https://cdn.example/docs/"></head><body>' \
           '<a href="guide.html">g</a><a href="#top">top</a><a href="https://blog.example/x">x</a></body></html>'
    assert links(page, "page.html", base_url=BLOG) == ["https://cdn.example/docs/guide.html",
                                                       "https://blog.example/x"]
    # A relative <base> resolves against the document's URL.
    page = page.replace("https://cdn.example/docs/", "/static/")
    assert links(page, "page.html", base_url=BLOG)[0] == "https://blog.example/static/guide.html"


def test_html_in_a_legacy_charset_is_decoded():
    page = '<html><head><meta charset="windows-1252"></head><body><a href="https://x.example/caf\xe9">c</a>'
    # decoded as windows-1252, then requested as browsers do: the path in UTF-8
    assert links(page.encode("cp1252"), "page.html") == ["https://x.example/caf%C3%A9"]


# ------------------------------------------------------------------------------------------- text

TEXT = """https://list.example/one
  https://list.example/two
https://en.wikipedia.org/wiki/Foo_(bar)
https://list.example/one

A sentence with https://prose.example/a, and (https://prose.example/b). Also www.no-scheme.example
# comment https://comment.example/c
not a url: example.com/path
"""


def test_plain_text_takes_url_lines_and_bare_urls():
    assert links(TEXT, "urls.txt") == [
        "https://list.example/one",
        "https://list.example/two",
        "https://en.wikipedia.org/wiki/Foo_(bar)",
        "https://prose.example/a",
        "https://prose.example/b",
        "https://comment.example/c",
    ]


def test_plain_text_with_crlf_and_bom():
    data = b"\xef\xbb\xbfhttps://a.example/\r\nhttps://b.example/x\r\n"
    assert links(data, "urls.txt") == ["https://a.example/", "https://b.example/x"]


# ------------------------------------------------------------------------------------------- feeds

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">
<channel>
  <title>A blog</title>
  <link>https://blog.example/</link>
  <atom:link href="https://blog.example/feed.xml" rel="self" type="application/rss+xml"/>
  <item><title>First</title><link>https://blog.example/first</link>
        <description>&lt;a href="https://in-description.example/"&gt;x&lt;/a&gt;</description></item>
  <item><title>Second</title><link>
      https://blog.example/second
  </link><comments>https://blog.example/second#comments</comments></item>
  <item><title>Permalink only</title><guid>https://blog.example/third</guid></item>
  <item><title>Not a permalink</title><guid isPermaLink="false">https://blog.example/guid-4</guid></item>
  <item><title>Relative</title><link>/fifth</link></item>
</channel>
</rss>"""


def test_rss_items_links_not_the_channel_link():
    result = collect_links(LinkSource.load("https://blog.example/feed.xml", content=RSS.encode()))
    assert result.format is LinkFormat.FEED
    assert result.links == ["https://blog.example/first", "https://blog.example/second",
                            "https://blog.example/third", "https://blog.example/fifth"]
    assert result.skipped["empty"] == 1  # the item whose only id is not a permalink


ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://atom.example/blog/">
  <title>Atom blog</title>
  <link href="https://atom.example/blog/" rel="alternate"/>
  <link href="https://atom.example/blog/atom.xml" rel="self"/>
  <id>urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6</id>
  <entry>
    <title>One</title>
    <link rel="edit" href="https://atom.example/api/1"/>
    <link rel="enclosure" href="https://atom.example/audio.mp3"/>
    <link rel="alternate" type="text/html" href="posts/one.html"/>
    <id>tag:atom.example,2024:1</id>
  </entry>
  <entry xml:base="https://other.example/x/">
    <title>Two</title><link href="two.html"/>
  </entry>
  <entry><title>Three</title>
    <link rel="alternate" type="application/json" href="https://atom.example/three.json"/>
    <link rel="alternate" type="text/html" href="https://atom.example/three.html"/>
  </entry>
</feed>"""


def test_atom_entries_alternate_links_with_xml_base():
    assert links(ATOM, "feed.atom") == ["https://atom.example/blog/posts/one.html",
                                        "https://other.example/x/two.html",
                                        "https://atom.example/three.html"]


RSS1 = """<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">
  <channel rdf:about="https://rdf.example/"><title>RDF</title><link>https://rdf.example/</link></channel>
  <item rdf:about="https://rdf.example/a"><title>A</title><link>https://rdf.example/a</link></item>
  <item rdf:about="https://rdf.example/b"><title>B</title><link>https://rdf.example/b</link></item>
</rdf:RDF>"""


def test_rss_1_0_feed():
    assert links(RSS1, "index.rdf") == ["https://rdf.example/a", "https://rdf.example/b"]


def test_feed_with_entities_does_not_expand_them():
    tens = "".join(f'<!ENTITY {b} "{("&" + a + ";") * 10}">' for a, b in zip("abc", "bcd", strict=True))
    bomb = (f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">{tens}]>'
            '<rss><channel><item><link>https://ok.example/&d;</link></item></channel></rss>')
    found = links(bomb, "feed.xml")  # expanded, &d; would be 10,000 characters
    assert found and all(len(u) < 200 for u in found)


# ------------------------------------------------------------------------------------------- bookmarks

BOOKMARKS = """<!DOCTYPE NETSCAPE-Bookmark-file-1>
<!-- This is an automatically generated file.
     It will be read and overwritten.
     DO NOT EDIT! -->
<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=UTF-8">
<TITLE>Bookmarks</TITLE>
<H1>Bookmarks</H1>
<DL><p>
    <DT><H3 ADD_DATE="1700000000" LAST_MODIFIED="1700000001" PERSONAL_TOOLBAR_FOLDER="true">Bookmarks bar</H3>
    <DL><p>
        <DT><A HREF="https://news.example/story?id=1" ADD_DATE="17000002" ICON="data:image/png;base64,A">S</A>
        <DT><H3 ADD_DATE="1700000003">Reading</H3>
        <DL><p>
            <DT><A HREF="https://essay.example/long-read" ADD_DATE="1700000004" TAGS="a,b">Essay</A>
            <DD>A description with https://not-a-bookmark.example/ in it
            <DT><A HREF="javascript:(function(){alert(1)})()" ADD_DATE="1700000005">Bookmarklet</A>
            <DT><A HREF="place:sort=8&maxResults=10">Most visited</A>
        </DL><p>
    </DL><p>
    <DT><A HREF="https://news.example/story?id=1">Dupe</A>
    <DT><A HREF="http://plain-http.example/">HTTP</A>
</DL><p>
"""


def test_netscape_bookmarks_export():
    result = collect_links(LinkSource.load("bookmarks.html", content=BOOKMARKS.encode()))
    assert result.format is LinkFormat.BOOKMARKS
    assert result.links == ["https://news.example/story?id=1", "https://essay.example/long-read",
                            "http://plain-http.example/"]
    assert result.skipped == {"scheme": 2, "duplicate": 1}


# ------------------------------------------------------------------------------------------- detection


@pytest.mark.parametrize(("content", "name", "ctype", "expected"), [
    (BOOKMARKS, "bookmarks.html", "text/html", LinkFormat.BOOKMARKS),
    (RSS, "feed", "text/xml", LinkFormat.FEED),
    (RSS, "https://blog.example/feed/", "application/rss+xml", LinkFormat.FEED),
    ("\ufeff  " + ATOM, "whatever.txt", None, LinkFormat.FEED),
    (RSS1, "x", None, LinkFormat.FEED),
    ("<!-- made by hand -->\n" + RSS[RSS.index("<rss"):], "feed", "application/rss+xml", LinkFormat.FEED),
    ("<p>A fragment with <a href='https://x.example/'>a link</a></p>", "frag", None, LinkFormat.HTML),
    (HTML, "page.htm", None, LinkFormat.HTML),
    (HTML, "https://blog.example/page", "text/html; charset=utf-8", LinkFormat.HTML),
    (HTML, "noext", None, LinkFormat.HTML),
    (MARKDOWN, "README.md", None, LinkFormat.MARKDOWN),
    (MARKDOWN, "https://git.example/raw/README.md", "text/plain; charset=utf-8", LinkFormat.MARKDOWN),
    (MARKDOWN, "notes", None, LinkFormat.MARKDOWN),
    (MARKDOWN, "x", "text/markdown", LinkFormat.MARKDOWN),
    (TEXT, "urls", None, LinkFormat.TEXT),
    (TEXT, "urls.txt", "text/plain", LinkFormat.TEXT),
    ("<?xml version='1.0'?><html xmlns='http://www.w3.org/1999/xhtml'><body/></html>", "a.xhtml", None,
     LinkFormat.HTML),
])
def test_format_detection(content, name, ctype, expected):
    assert detect_format(content.encode(), name=name, content_type=ctype) is expected


def test_xml_that_is_not_a_feed_is_refused():
    sitemap = '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"></urlset>'
    with pytest.raises(UsageError, match="not an RSS or Atom feed.*<urlset>"):
        links(sitemap, "sitemap.xml")
    with pytest.raises(UsageError, match="not an RSS or Atom feed"):
        links("just text https://x.example/", "feed.rss")


# ------------------------------------------------------------------------------------------- filtering


def test_filter_links_globs_and_regexes():
    urls = ["https://a.example/blog/1", "https://a.example/blog/2.pdf", "https://b.example/blog/3",
            "http://a.example/about"]
    assert filter_links(urls, include=["https://a.example/*"]) == urls[:2]
    assert filter_links(urls, exclude=["*.pdf"]) == [urls[0], urls[2], urls[3]]
    assert filter_links(urls, include=["re:/blog/"], exclude=[r"re:\.pdf$"]) == [urls[0], urls[2]]
    assert filter_links(urls, include=["*://a.example/*", "*b.example*"], exclude=["http:*"]) == urls[:3]
    assert filter_links(urls) == urls
    assert filter_links(urls, include=["a.example"]) == []  # a glob matches the whole URL
    with pytest.raises(UsageError, match="invalid regular expression"):
        filter_links(urls, include=["re:(unclosed"])


# ------------------------------------------------------------------------------------------- bad input


def test_bad_sources_are_one_line_usage_errors(tmp_path):
    cases = {
        str(tmp_path / "missing.md"): "no such file",
        str(tmp_path): "is a directory",
        "ftp://files.example/list.txt": "give a file or an http",
    }
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n\n")
    cases[str(empty)] = "is empty"
    if os.geteuid() != 0:  # root reads anything
        locked = tmp_path / "locked.md"
        locked.write_text("https://x.example/")
        locked.chmod(0)
        cases[str(locked)] = "cannot read"
    for source, message in cases.items():
        with pytest.raises(UsageError, match=message) as info:
            extract_links(source)
        assert "\n" not in str(info.value)
    with pytest.raises(UsageError, match="base URL"):
        extract_links("x.md", content=b"[a](b)", base_url="not a url")


def test_a_file_on_disk(tmp_path):
    path = tmp_path / "post.md"
    path.write_text("[a](https://a.example/) [b](b.html)\n")
    assert extract_links(path) == ["https://a.example/"]
    assert extract_links(str(path), base_url="https://site.example/dir/") == ["https://a.example/",
                                                                              "https://site.example/dir/b.html"]


# ------------------------------------------------------------------------------------------- URLs


class _Handler(BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, str, bytes, dict[str, str]]] = {}

    def do_GET(self):  # noqa: N802 - http.server's name
        status, ctype, body, headers = self.routes.get(self.path, (404, "text/plain", b"no", {}))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    """A local server with documents of links (only 127.0.0.1 is ever contacted)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    _Handler.routes = {
        "/feed": (200, "application/rss+xml; charset=utf-8",
                  RSS.replace("/fifth", "relative/fifth").encode(), {}),
        "/blog/post": (200, "text/html; charset=utf-8",
                       b'<a href="next.html">next</a><a href="https://ext.example/">ext</a>'
                       b'<a href="#x">x</a><a href="post#comments">self</a>', {}),
        "/old": (301, "text/plain", b"moved", {"Location": "/blog/post"}),
        "/notes.md": (200, "text/plain; charset=utf-8", b"* [rel](sub/page)\n* <https://md.example/>\n", {}),
        "/gone": (410, "text/plain", b"gone", {}),
        "/to-ftp": (302, "text/plain", b"", {"Location": "ftp://127.0.0.1:9/list.txt"}),
    }
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield base
    httpd.shutdown()
    httpd.server_close()


def test_fetch_source_returns_body_and_content_type(server):
    body, ctype = fetch_source(server + "/feed")
    assert body.startswith(b"<?xml") and ctype == "application/rss+xml; charset=utf-8"


def test_links_of_a_url_resolve_against_the_url_after_redirects(server):
    assert extract_links(server + "/old") == [server + "/blog/next.html", "https://ext.example/"]
    result = collect_links(LinkSource.load(server + "/old"))
    assert result.format is LinkFormat.HTML and result.skipped == {"fragment": 1, "self": 1}


def test_links_of_a_served_feed_and_markdown(server):
    assert extract_links(server + "/feed")[-1] == server + "/relative/fifth"
    assert extract_links(server + "/notes.md") == [server + "/sub/page", "https://md.example/"]


def test_unfetchable_urls_are_usage_errors(server):
    with pytest.raises(UsageError, match=r"could not fetch .*/gone: HTTP 410"):
        extract_links(server + "/gone")
    with pytest.raises(UsageError, match="redirect to a non-http"):
        extract_links(server + "/to-ftp")
    port = server.rsplit(":", 1)[1]
    with pytest.raises(UsageError, match="could not fetch"):
        fetch_source(f"http://127.0.0.1:{int(port) + 1 if int(port) < 65535 else 1}/x", timeout=5)


# ------------------------------------------------------------------------------------------- real pages


def test_real_article_pages(shared_dir):
    """mozilla/readability's test pages (see ../shared/corpora/README.md): every link found is an
    absolute, normalised, fragment-free http(s) URL, found once, and none is the page itself."""
    pages = sorted((shared_dir / "corpora" / "readability" / "test-pages").glob("*/source.html"))
    assert len(pages) >= 100
    total = 0
    for page in pages:
        url = f"http://fakehost/{page.parent.name}/"
        found = extract_links(page, base_url=url)
        assert len(found) == len(set(found)), page
        for link in found:
            assert link.startswith(("http://", "https://")) and "#" not in link and " " not in link, link
            assert link != url
        total += len(found)
    assert total > 1000
