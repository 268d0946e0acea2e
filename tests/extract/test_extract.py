"""Tests for warcache.extract.article: article text, titles, charsets, language, safe HTML.

Corpus tests use mozilla/readability `test/test-pages/` @ ab4027a8b376 (Apache-2.0), found in
`../shared/corpora/readability/` (see shared/corpora/README.md); they skip when that folder is absent.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import sys
import time

import lxml.html
import pytest
from conftest import REPO, SHARED

from warcache.extract.article import Article, extract_article
from warcache.extract.clutter import strip_clutter
from warcache.extract.decode import decode_html, detect_charset
from warcache.extract.meta import headline_from_title, page_metadata
from warcache.urls import hash_url

URL = "https://example.org/news/2024/story.html"
CORPUS = SHARED / "corpora" / "readability"
BENCH = REPO / "scripts" / "bench_extract.py"

PARAGRAPHS = [
    "The river rose faster than anyone in the valley had expected, and by Tuesday evening the old stone "
    "bridge, which had stood for three centuries, was under water for the first time in living memory.",
    "Engineers from the regional authority, who had been monitoring the levels since the weekend, said the "
    "combination of melting snow, saturated ground and two days of heavy rain left the river nowhere to go.",
    "Residents of the lower town were evacuated to the school gymnasium, where volunteers served soup, "
    "handed out blankets and kept a list of who had arrived, who was missing, and who had gone to relatives.",
    "By Thursday morning the water had begun to recede, leaving a layer of mud on every street, and the "
    "mayor promised that the clean-up, however long it took, would be paid for by the whole community.",
]


def article_page(extra_body: str = "", head: str = "", lang: str = "en") -> str:
    paras = "\n".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    return f"""<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
<title>Valley floods after record rain - The Daily Example</title>{head}</head>
<body>{extra_body}<main><article class="post"><h1>Valley floods after record rain</h1>
<div class="entry-content">{paras}</div></article></main></body></html>"""


CLUTTER = """
<header class="site-header"><a href="/">The Daily Example</a>
  <nav><ul><li><a href="/world">World desk</a></li>
  <li><a href="/sport">Sport pages</a></li></ul></nav></header>
<div id="cookie-banner" class="consent-popup">
  <p>We use cookies to improve your experience, accept them all.</p>
  <button>Accept cookies</button></div>
<aside class="sidebar"><h3>Most read today</h3><p>Sidebar teaser about celebrity gardening tips.</p></aside>
<script>var trackingSecret = "scriptword";</script>
<div style="display:none">Invisible promotional text nobody sees.</div>
"""
COMMENTS = """
<section id="comments" class="comments-area"><h2>3 comments</h2>
  <div class="comment">
    <p>Commenter Alice wrote: what a dreadful week for the valley, thoughts with everyone.</p></div>
  <div class="comment">
    <p>Commenter Bob wrote: the council should have dredged the river years ago, frankly.</p></div>
</section>
<footer class="site-footer"><p>Copyright Daily Example Media Group, all rights reserved.</p></footer>
"""


def cluttered_page() -> str:
    page = article_page(extra_body=CLUTTER)
    return page.replace("</main>", "</main>" + COMMENTS)


# ---------------------------------------------------------------- hash_url


def test_hash_url_is_md5_of_utf8_url() -> None:
    assert hash_url("https://tcrouzet.com/2018/03/09/pourquoi-internet-il-est-brutal/") == (
        "604ff936abe62108a87486dd1bc8a6e0"
    )
    assert hash_url("https://example.org/é") != hash_url("https://example.org/e")
    assert len(hash_url("")) == 32


# ---------------------------------------------------------------- body text and full text


def test_clutter_is_excluded_from_body_and_visible_clutter_kept_in_full_text() -> None:
    art = extract_article(cluttered_page(), URL)
    for para in PARAGRAPHS:
        assert para in " ".join(art.body_text.split())
    clutter = [
        "World desk",  # nav
        "We use cookies",  # cookie banner
        "celebrity gardening",  # aside
        "Commenter Alice",  # comments
        "Copyright Daily Example",  # footer
    ]
    for text in clutter:
        assert text not in art.body_text, text
        assert text in art.full_text, text
    for text in ("scriptword", "trackingSecret", "Invisible promotional"):
        assert text not in art.body_text
        assert text not in art.full_text
    assert PARAGRAPHS[0] in " ".join(art.full_text.split())


def test_short_article_keeps_clutter_out() -> None:
    # A one-paragraph article: the library retries with fewer removal rules; clutter must stay out anyway.
    page = cluttered_page()
    for para in PARAGRAPHS[1:]:
        page = page.replace(f"<p>{para}</p>", "")
    art = extract_article(page, URL)
    assert " ".join(art.body_text.split()) == PARAGRAPHS[0]
    # Even a consent notice injected inside the article container.
    notice = (
        '<div class="cookie-notice"><p>This site stores cookies on your device so that we can remember '
        "your preferences, measure the audience and show you content you may like.</p></div>"
    )
    art = extract_article(
        page.replace('<div class="entry-content">', '<div class="entry-content">' + notice), URL
    )
    assert " ".join(art.body_text.split()) == PARAGRAPHS[0]
    assert "stores cookies" in art.full_text


def test_body_text_keeps_paragraphs_apart() -> None:
    art = extract_article(article_page(), URL)
    chunks = art.body_text.split("\n\n")
    assert [" ".join(c.split()) for c in chunks if c.strip()] == PARAGRAPHS


def test_short_page_still_gives_its_text() -> None:
    art = extract_article("<html><body><p>Just one short line of text here.</p></body></html>", URL)
    assert art.body_text == "Just one short line of text here."
    assert art.full_text == "Just one short line of text here."


def test_empty_input_gives_empty_article() -> None:
    art = extract_article(b"", URL)
    assert isinstance(art, Article)
    assert (art.title, art.body_text, art.full_text) == ("", "", "")


def test_comment_only_document_is_empty_not_an_error() -> None:
    assert extract_article(b"<!-- nothing here -->", URL).full_text == ""


def test_nesting_deeper_than_libxml2_allows_keeps_the_text() -> None:
    page = (
        "<html lang=de><body><p>Intro paragraph.</p>"
        + "<div><font>" * 3000
        + "These deep words are still part of the page."
        + "</div>" * 3000
    )
    art = extract_article(page, URL)
    assert "deep words" in art.full_text
    assert "These deep words are still part of the page." in art.body_text
    assert art.language == "de"


# ---------------------------------------------------------------- what our code adds to readability-lxml


def _library_text(page: str) -> str:
    """What readability-lxml alone keeps, to show that the cases below need our code."""
    from readability import Document

    html = Document(page).summary(html_partial=True)
    return " ".join(lxml.html.fragment_fromstring(html, create_parent="div").text_content().split())


STORY = [
    f"Paragraph {n} of the story says, in plain words and with commas, what happened next, and why it "
    "mattered to the people of the valley."
    for n in range(12)
]


def test_intro_outside_the_chosen_block_is_recovered() -> None:
    # Sites that hide the rest of a story behind "Read more" put the intro and the rest in sibling blocks;
    # the library takes the larger one only.
    intro = "".join(f"<p>{p}</p>" for p in STORY[:2])
    rest = "".join(f"<p>{p}</p>" for p in STORY[2:])
    teasers = "".join(f'<li><a href="/t{n}">Teaser headline number {n} here</a></li>' for n in range(8))
    page = f"""<html><head><title>Story</title></head><body><div class="page"><div class="story-body">
<div class="intro">{intro}</div><div class="more"><a href="#">Read more</a><div>{rest}</div></div></div>
<div class="teasers"><h3>Elsewhere</h3><ul>{teasers}</ul></div></div></body></html>"""
    assert "Paragraph 0 " not in _library_text(page)
    art = extract_article(page, URL)
    assert [" ".join(c.split()) for c in art.body_text.split("\n\n")] == STORY
    assert "Teaser" not in art.body_text


def test_article_markup_wins_when_the_library_settles_on_a_caption() -> None:
    items = [
        f"Item {n}: the team fixed a long-standing bug in the parser, so pages load faster" for n in range(10)
    ]
    figure = (
        '<div class="entry"><div class="wrap"><div class="caption">'
        '<img src="/chart.png" alt="A table showing the number of remaining bugs" '
        'srcset="/chart-300.png 300w, /chart-600.png 600w, /chart-900.png 900w, /chart-1200.png 1200w">'
        "<p>A chart of the remaining bugs, by team and by week.</p></div></div></div>"
    )
    page = f"""<html><head><title>Weekly notes</title></head><body><main><article>
<h1>Weekly notes</h1><h2>Highlights</h2><ul>{"".join(f"<li>{t}</li>" for t in items[:5])}</ul>
{figure}<h2>Performance</h2><ul>{"".join(f"<li>{t}</li>" for t in items[5:])}</ul>
</article></main></body></html>"""
    assert "Item 0" not in _library_text(page)
    art = extract_article(page, URL)
    for item in items:
        assert item in art.body_text
    assert art.body_text.startswith("Highlights")  # the <h1> repeats the headline: not in the body
    # The caption stays with its picture in the article's HTML, and out of its prose.
    assert "A chart of the remaining bugs" in art.body_html
    assert "A chart of the remaining bugs" not in art.body_text


def test_recovery_leaves_link_lists_and_named_boxes_out() -> None:
    paras = "".join(f"<p>{p}</p>" for p in STORY[:6])
    links = "".join(f'<li><a href="/r{n}">Another story you may like, number {n}</a></li>' for n in range(6))
    page = f"""<html><head><title>Story</title></head><body><article><div class="body">{paras}
<ul class="more-stories">{links}</ul>
<div class="author-box"><p>Jo Writer has covered the valley for twenty years, and lives there.</p></div>
{"".join(f"<p>{p}</p>" for p in STORY[6:])}</div></article></body></html>"""
    art = extract_article(page, URL)
    assert [" ".join(c.split()) for c in art.body_text.split("\n\n")] == STORY
    assert "Another story" in art.full_text


def test_strip_clutter_spares_wrappers_that_hold_the_page() -> None:
    body = lxml.html.fromstring(
        f"""<html><body><div class="has-cookie-banner"><nav>Menu</nav>
<div role="navigation">Sections</div><span aria-hidden="true">icon</span>
<div id="cookie-consent">We use cookies.</div><header>Site header</header>
<article><header><h1>Own header</h1></header>{"".join(f"<p>{p}</p>" for p in STORY)}</article>
</div></body></html>"""
    ).find("body")
    strip_clutter(body)
    text = " ".join(body.text_content().split())
    for gone in ("Menu", "Sections", "icon", "We use cookies", "Site header"):
        assert gone not in text
    assert "Own header" in text
    assert STORY[-1] in text


# ---------------------------------------------------------------- titles


def test_title_is_document_title_and_headline_drops_site_name() -> None:
    art = extract_article(article_page(), URL)
    assert art.title == "Valley floods after record rain - The Daily Example"
    assert art.headline == "Valley floods after record rain"


def test_rendered_title_argument_wins_for_title() -> None:
    art = extract_article(
        article_page(), URL, title="  (3) Valley floods after record rain - The Daily Example "
    )
    assert art.title == "(3) Valley floods after record rain - The Daily Example"


def test_og_title_is_the_headline_when_present() -> None:
    head = '<meta property="og:title" content="Record rain floods the valley">'
    art = extract_article(article_page(head=head), URL)
    assert art.headline == "Record rain floods the valley"
    assert art.title == "Valley floods after record rain - The Daily Example"


def test_json_ld_headline_wins_over_meta() -> None:
    ld = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": "Valley floods: the full story",
        "author": [{"@type": "Person", "name": "Ada Reporter"}, {"@type": "Person", "name": "Bo Writer"}],
        "description": "What happened in the valley.",
    }
    head = (
        f'<script type="application/ld+json">{json.dumps(ld)}</script>'
        '<meta property="og:title" content="Not this one">'
    )
    art = extract_article(article_page(head=head), URL)
    assert art.headline == "Valley floods: the full story"
    assert art.byline == "Ada Reporter, Bo Writer"
    assert art.excerpt == "What happened in the valley."


def test_short_titles_are_not_cut() -> None:
    # Nothing says which part is the site, and cutting would leave too little: keep the title whole.
    page = "<html><head><title>About us - Acme</title></head><body><p>Some words.</p></body></html>"
    art = extract_article(page, URL)
    assert art.headline == "About us - Acme"


def test_title_falls_back_to_og_title_then_h1() -> None:
    og = '<html><head><meta property="og:title" content="From OG"></head><body><p>x</p></body></html>'
    assert extract_article(og, URL).title == "From OG"
    h1 = "<html><head></head><body><h1>From the heading</h1><p>x</p></body></html>"
    art = extract_article(h1, URL)
    assert art.title == "From the heading"
    assert art.headline == "From the heading"


def _meta(head: str, body: str = "", url: str = URL):
    root = lxml.html.fromstring(f"<html><head>{head}</head><body>{body}</body></html>")
    title = root.findtext(".//title") or ""
    return page_metadata(root, " ".join(title.split()), url)


def test_dublin_core_beats_open_graph_and_property_beats_name() -> None:
    head = (
        '<meta property="og:title twitter:title" content="Share card title">'
        '<meta name="DC.title" content="Name title"><meta property="dc:title" content="Property title">'
        '<meta name="author" content="Not this"><meta property="dc:creator" content="Dee Creator">'
    )
    md = _meta(head)
    assert (md.title, md.byline) == ("Property title", "Dee Creator")


def test_json_ld_title_is_the_one_the_page_shows() -> None:
    ld = {
        "@context": "https://schema.org",
        "@type": "Article",
        "headline": "island country",
        "name": "Kiribati",
    }
    head = (
        f'<title>Kiribati - Encyclopedia</title><script type="application/ld+json">{json.dumps(ld)}</script>'
    )
    assert _meta(head, "<h1>Kiribati</h1>").title == "Kiribati"
    graph = {"@graph": [{"@type": "WebSite", "name": "Site"}, {"@type": ["BlogPosting"], "headline": "Post"}]}
    head = f'<script type="application/ld+json"><!--{json.dumps(graph)}--></script>'
    assert _meta(head).title == "Post"


def test_declared_site_name_is_cut_from_share_titles() -> None:
    head = (
        '<meta property="og:title" content="How to Build a Terrarium | eHow">'
        '<meta property="og:site_name" content="eHow">'
    )
    md = _meta(head)
    assert (md.title, md.site_name) == ("How to Build a Terrarium", "eHow")


def test_site_part_of_a_bare_title() -> None:
    # The host names the site.
    assert headline_from_title("Dune review - Filmblog", url="https://www.filmblog.net/x") == "Dune review"
    # An <h1> equal to one part is the title...
    assert headline_from_title("Home | Dune review", headings=["Dune review"]) == "Dune review"
    # ... unless it is the smaller part (a site logo in an <h1>).
    long = "Walking the coast from Brest to Nantes in ten days :: Pixblog ::"
    assert (
        headline_from_title(long, headings=["Pixblog ::"])
        == "Walking the coast from Brest to Nantes in ten days"
    )
    # A short tail after a long title is a site name; a long tail is not.
    assert headline_from_title("Lorem ipsum dolor sit amet – My website") == "Lorem ipsum dolor sit amet"
    kept = "On Recent Controversial Events - Bradley M. Kuhn ( Brad ) ( bkuhn )"
    assert headline_from_title(kept) == kept
    assert headline_from_title("Evolve: Shared Mutable History") == "Evolve: Shared Mutable History"


# ---------------------------------------------------------------- charsets


def _cp1252_page() -> bytes:
    text = "Caf\u00e9 cr\u00e8me \u2013 \u201cna\u00efve\u201d r\u00e9sum\u00e9 \u20ac5"
    return f"<html><head><title>{text}</title></head><body><p>{text}</p></body></html>".encode("cp1252")


def test_windows_1252_from_header_charset() -> None:
    art = extract_article(_cp1252_page(), URL, charset="windows-1252")
    assert art.title == "Caf\u00e9 cr\u00e8me \u2013 \u201cna\u00efve\u201d r\u00e9sum\u00e9 \u20ac5"


def test_iso_8859_1_label_decodes_as_windows_1252_like_browsers() -> None:
    art = extract_article(_cp1252_page(), URL, charset="ISO-8859-1")
    assert "\u201cna\u00efve\u201d" in art.body_text


def test_meta_charset_used_when_no_header() -> None:
    page = _cp1252_page().replace(
        b"<head>", b'<head><meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
    )
    assert "\u20ac5" in extract_article(page, URL).body_text


def test_header_charset_beats_meta() -> None:
    text = "\u65e5\u672c\u8a9e\u306e\u8a18\u4e8b"
    page = f'<html><head><meta charset="utf-8"><title>{text}</title></head><body><p>{text}</p></body></html>'
    art = extract_article(page.encode("shift_jis"), URL, charset="Shift_JIS")
    assert art.title == text


def test_shift_jis_detected_without_any_declaration() -> None:
    text = (
        "\u4eca\u65e5\u306f\u3068\u3066\u3082\u826f\u3044\u5929\u6c17\u3067\u3059\u3002"
        "\u79c1\u305f\u3061\u306f\u516c\u5712\u3078\u6563\u6b69\u306b\u884c\u304d\u307e\u3057\u305f\u3002"
        "\u685c\u306e\u82b1\u304c\u304d\u308c\u3044\u306b\u54b2\u3044\u3066\u3044\u307e\u3057\u305f\u3002"
    )
    page = f"<html><body><p>{text * 4}</p></body></html>".encode("shift_jis")
    assert detect_charset(page) in ("cp932", "shift_jis")
    assert text in extract_article(page, URL).body_text


def test_bom_and_valid_utf8() -> None:
    assert decode_html(b"\xef\xbb\xbf<p>caf\xc3\xa9</p>") == "<p>caf\u00e9</p>"
    assert detect_charset("<p>\u00fcber</p>".encode()) == "utf-8"
    assert decode_html("<p>\u00fcber</p>".encode("utf-16"), None) == "<p>\u00fcber</p>"


def test_undecodable_bytes_do_not_fail() -> None:
    art = extract_article(b"<html><body><p>ok \xff\xfe\xfa text</p></body></html>", URL, charset="utf-8")
    assert art.body_text.startswith("ok ")


# ---------------------------------------------------------------- language


def test_language_sources_in_order() -> None:
    assert extract_article(article_page(lang="fr-CA"), URL).language == "fr-CA"
    meta = '<meta http-equiv="Content-Language" content="de, en">'
    page = article_page(head=meta).replace(' lang="en"', "")
    assert extract_article(page, URL, content_language="it").language == "de"
    bare = article_page().replace(' lang="en"', "")
    assert extract_article(bare, URL, content_language="it").language == "it"
    assert extract_article(bare, URL).language is None


# ---------------------------------------------------------------- body_html


def test_body_html_is_safe_and_links_absolute() -> None:
    extra = (
        '<p>See <a href="../other.html" onclick="steal()">the other story</a> and '
        '<a href="javascript:alert(1)">this script link</a>, with a picture '
        '<img src="/img/flood.jpg" srcset="/img/flood-2x.jpg 2x, small.jpg 300w" onerror="x()">'
        '<iframe src="https://ads.example.com/frame"></iframe><script>alert("body")</script></p>'
    )
    page = article_page(head='<base href="https://cdn.example.net/site/">').replace(
        "</div></article>", extra + "</div></article>"
    )
    art = extract_article(page, URL)
    root = lxml.html.fragment_fromstring(art.body_html, create_parent="div")
    assert not root.xpath("//script|//iframe|//style")
    assert not [a for el in root.iter() for a in el.attrib if a.startswith("on")]
    hrefs = [a.get("href") for a in root.iter("a")]
    assert hrefs == ["https://cdn.example.net/other.html"]
    img = root.find(".//img")
    assert img.get("src") == "https://cdn.example.net/img/flood.jpg"
    assert (
        img.get("srcset")
        == "https://cdn.example.net/img/flood-2x.jpg 2x, https://cdn.example.net/site/small.jpg 300w"
    )
    assert "this script link" in art.body_text
    assert "alert" not in art.body_html


def test_lazy_image_gets_its_real_source() -> None:
    extra = (
        '<figure><img src="data:image/gif;base64,R0lGOD" data-src="/photos/bridge.jpg" alt="bridge"></figure>'
    )
    page = article_page().replace("</div></article>", extra + "</div></article>")
    root = lxml.html.fragment_fromstring(extract_article(page, URL).body_html, create_parent="div")
    assert root.find(".//img").get("src") == "https://example.org/photos/bridge.jpg"


# ---------------------------------------------------------------- real pages


@functools.cache
def _bench_module():
    """The benchmark script defines the F1 and reference text; the tests use the same definitions."""
    spec = importlib.util.spec_from_file_location("bench_extract", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


CORPUS_PAGES = [
    "001",
    "ars-1",
    "guardian-1",
    "lemonde-1",
    "medium-1",
    "qq",
    "yahoo-4",
    "wikipedia",
    "nytimes-2",
]
# Where our headline differs from the reference on purpose: the part after the separator is the declared
# site name (yahoo-4), or the author's name while the page's <h1> is the part before it (guardian-1).
OUR_HEADLINES = {
    "yahoo-4": "トレンドマイクロ、公衆無線LANを安全に使うためのアプリ"
    "「フリーWi-Fiプロテクション」（CNET Japan）",
    "guardian-1": "'What is the sea telling us?': Māori tribes fearful over whale strandings",
}


def _corpus_page(name: str) -> tuple[str, str, dict]:
    page_dir = CORPUS / "test-pages" / name
    if not page_dir.is_dir():
        pytest.skip(f"readability corpus not found at {CORPUS}")
    bench = _bench_module()
    meta = json.loads((page_dir / "expected-metadata.json").read_text(encoding="utf-8"))
    expected = bench.html_text((page_dir / "expected.html").read_text(encoding="utf-8"))
    return (page_dir / "source.html").read_text(encoding="utf-8"), expected, meta


@pytest.mark.parametrize("name", CORPUS_PAGES)
def test_corpus_page_body_f1_and_headline(name: str) -> None:
    source, expected, meta = _corpus_page(name)
    bench = _bench_module()
    t0 = time.process_time()
    art = extract_article(source, bench.PAGE_URL)
    # CPU seconds, not wall-clock: a guard against a runaway (quadratic) page, ~6x the slowest
    # page's cost (Wikipedia, 0.16 s), that does not depend on how busy the machine is. Speed
    # itself is measured by scripts/bench_extract.py.
    cpu = time.process_time() - t0
    assert bench.f1(art.body_text, expected) >= 0.9
    assert " ".join(art.headline.split()) == OUR_HEADLINES.get(name, " ".join(meta["title"].split()))
    assert cpu < 1.0
    if meta.get("lang"):
        assert art.language == meta["lang"]


@pytest.mark.parametrize(
    "name",
    [
        "003-metadata-preferred",
        "004-metadata-space-separated-properties",
        "metadata-content-missing",
        "parsely-metadata",
        "schema-org-context-object",
    ],
)
def test_corpus_page_metadata(name: str) -> None:
    # Pages made to tell metadata sources apart: several vocabularies, space-separated properties,
    # empty contents, Parse.ly names, JSON-LD with a @vocab context among other JSON-LD objects.
    source, _, meta = _corpus_page(name)
    art = extract_article(source, _bench_module().PAGE_URL)
    assert art.headline == meta["title"]
    assert art.byline == meta["byline"]
    assert art.excerpt == meta["excerpt"]
    assert art.published == meta.get("publishedTime")


# Pages where readability-lxml alone loses part of the article: an intro in a sibling block (herald-sun-1),
# captions and step lists (ehow-1), sections (medium-3), photo captions in lists (guardian-1, nytimes-3).
# readability.js's expected text has the captions; ours are in the article's HTML, as captions, and out of
# its body text: the text of body_html is what is compared.
@pytest.mark.parametrize("name", ["herald-sun-1", "ehow-1", "medium-3", "guardian-1", "nytimes-3"])
def test_corpus_pages_where_our_code_recovers_what_the_library_dropped(name: str) -> None:
    source, expected, _ = _corpus_page(name)
    bench = _bench_module()
    library_f1 = bench.f1(bench.run_readability(source)[0], expected)
    ours = bench.f1(bench.run_warcache(source).variants["warcache +captions"], expected)
    assert ours >= 0.95
    assert ours >= library_f1 + 0.02


def test_tokenizer_splits_cjk_per_character() -> None:
    bench = _bench_module()
    assert bench.tokenize("Hello, World! 日本語 café") == ["hello", "world", "日", "本", "語", "café"]
    assert bench.f1("a b c", "a b c") == 1.0
    assert bench.f1("", "") == 1.0
    assert bench.f1("a b", "c d") == 0.0
