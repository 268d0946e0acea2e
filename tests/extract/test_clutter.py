"""Extraction leaves out what is not the article, and keeps the paragraphs between (issue 15).

One fixture page per kind of clutter in `tests/data/clutter/`, written for these tests: related and
recommended lists, gallery thumbnail strips, captions, share and follow bars, newsletter and subscription
prompts, author bios, "read more" teasers. Each puts its clutter between the article's paragraphs as well as
around the article, some of it named by its class, some only by its structure. In the pages, `data-expect`
marks the article's paragraphs, `data-clutter` what must stay out of the body text and `data-caption` the
captions; the extractor does not look at data-* attributes.

Below them, smaller pages for the structural rules: hidden and screen-reader-only text, hidden articles,
form controls, buttons, embeds, and a library choice beside the article.
"""

from __future__ import annotations

from pathlib import Path

import lxml.html
import pytest

from warcache.extract.article import extract_article, html_to_text

PAGES = Path(__file__).resolve().parents[1] / "data" / "clutter"
URL = "https://example.org/news/2024/story.html"


def _text(el: lxml.html.HtmlElement) -> str:
    return " ".join(el.text_content().split())


def _paragraphs(text: str) -> list[str]:
    return [" ".join(block.split()) for block in text.split("\n\n") if block.strip()]


def _fixture(name: str) -> tuple[str, list[str], list[str], list[str]]:
    """The page, its article's paragraphs, its clutter's texts and its captions' texts."""
    source = (PAGES / f"{name}.html").read_text(encoding="utf-8")
    root = lxml.html.fromstring(source)
    expected = [_text(el) for el in root.xpath("//*[@data-expect]")]
    clutter = [" ".join(" ".join(el.itertext()).split()) for el in root.xpath("//*[@data-clutter]")]
    captions = [_text(el) for el in root.xpath("//*[@data-caption]")]
    assert expected and (clutter or captions), f"{name}: fixture has no markers"
    return source, expected, clutter, captions


def _pieces(text: str) -> list[str]:
    """Phrases of a clutter text that must not be in the body: its sentences and link labels alike."""
    return [p.strip() for p in text.replace("/", ".").split(".") if len(p.split()) >= 2]


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("related", id="related-and-recommended-lists"),
        pytest.param("gallery", id="gallery-thumbnail-strips"),
        pytest.param("share", id="share-and-follow-bars"),
        pytest.param("newsletter", id="newsletter-and-subscription-prompts"),
        pytest.param("bio", id="author-bios"),
        pytest.param("readmore", id="read-more-teasers"),
    ],
)
def test_clutter_is_left_out_and_the_paragraphs_around_it_stay(name: str) -> None:
    source, expected, clutter, _ = _fixture(name)
    art = extract_article(source, URL)
    # Every paragraph of the article, in order, and nothing else.
    assert _paragraphs(art.body_text) == expected
    body = " ".join(art.body_text.split())
    for text in clutter:
        for piece in _pieces(text):
            assert piece not in body, f"{name}: {piece!r} is in the body"
    # Left out of the article, not out of the page: what readers saw stays findable.
    full = "".join(art.full_text.split())  # compared without spaces: inline controls touch their labels
    for text in clutter:
        for piece in _pieces(text):
            assert "".join(piece.split()) in full, f"{name}: {piece!r} is missing from full_text"


def test_captions_stay_with_their_pictures_and_out_of_the_prose() -> None:
    source, expected, _, captions = _fixture("captions")
    art = extract_article(source, URL)
    assert _paragraphs(art.body_text) == expected
    assert len(captions) == 3  # a <figcaption>, a caption named by its class, a credit under a picture
    body = " ".join(art.body_text.split())
    html = lxml.html.fragment_fromstring(art.body_html, create_parent="div")
    reading_copy = " ".join(html_to_text(html).split())
    for caption in captions:
        assert caption not in body
        assert caption in reading_copy  # kept as captions, next to their pictures
    assert [img.get("src") for img in html.iter("img")] == [
        "https://example.org/img/owl.jpg",
        "https://example.org/img/chicks.jpg",
        "https://example.org/img/tower.jpg",
    ]
    assert html.find(".//figure/figcaption") is not None


# ---------------------------------------------------------------- the structural rules, one by one

STORY = [
    f"Paragraph {n} of the story says, in plain words and with commas, what happened in the valley that "
    "week, and why it mattered to the people who live there."
    for n in range(8)
]


def _page(body: str, title: str = "Valley story") -> str:
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><header><a href="/">Site</a><nav><a href="/a">Section A</a> <a href="/b">Section B</a></nav></header>
{body}<footer><p>Site footer text, all rights reserved.</p></footer></body></html>"""


def _paras(indexes: range | list[int]) -> str:
    return "".join(f"<p>{STORY[n]}</p>" for n in indexes)


def _library_text(page: str) -> str:
    """What readability-lxml alone keeps, to show that a case needs our code."""
    from readability import Document

    html = Document(page).summary(html_partial=True)
    return " ".join(lxml.html.fragment_fromstring(html, create_parent="div").text_content().split())


def test_screen_reader_only_and_class_hidden_text_is_left_out() -> None:
    page = _page(
        f"""<main><article><div class="body">{_paras(range(3))}
<h2 class="visually-hidden">Article continues below</h2><div class="sr-only">Author of the article:</div>
{_paras(range(3, 6))}<div class="d-none">Invisible promotional text nobody sees.</div>
<div class="overflow-hidden md:flex">{_paras(range(6, 8))}</div></div></article></main>"""
    )
    art = extract_article(page, URL)
    # Class names that hide count whole: overflow-hidden clips, it does not hide.
    assert _paragraphs(art.body_text) == STORY
    for gone in ("Article continues below", "Author of the article", "Invisible promotional"):
        assert gone not in art.body_text


def test_a_hidden_article_that_a_script_would_reveal_is_kept() -> None:
    # A paywalled body or a streamed segment: the hidden attribute on most of the article's text.
    page = _page(
        f"""<main><article><h1>Valley story</h1>{_paras(range(1))}
<div class="paywall" hidden>{_paras(range(1, 8))}</div>
<div hidden><p>Your session has expired, please log in again to continue.</p></div></article></main>"""
    )
    art = extract_article(page, URL)
    assert _paragraphs(art.body_text) == STORY
    assert "session has expired" not in art.body_text


def test_the_box_around_a_form_control_is_a_widget() -> None:
    # The switch that stands in for an embedded video until the reader allows it, and a poll.
    consent = """<div class="embed-box"><p class="h3">Recommended external content</p>
<p>Here you will find a video from an external platform that complements the article.</p>
<input type="checkbox" id="allow"><label for="allow">Show external content</label>
<p>I agree that external content is shown to me; personal data may be sent to the platform.</p></div>"""
    poll = """<div class="box"><p>What do you think about the new bridge, and should the city pay?</p>
<label><input type="radio" name="q"> Yes, it should</label>
<label><input type="radio" name="q"> No</label></div>"""
    page = _page(f"<main><article>{_paras(range(3))}{consent}{_paras(range(3, 6))}{poll}{_paras(range(6, 8))}"
                 "</article></main>")
    art = extract_article(page, URL)
    assert _paragraphs(art.body_text) == STORY
    for gone in ("external content", "personal data", "new bridge"):
        assert gone not in art.body_text


def test_embedded_posts_fallback_copies_are_left_out() -> None:
    tweet = """<blockquote class="twitter-tweet"><p lang="en">Huge queues at the valley station this
morning, nobody knows when the next train leaves, thanks for nothing.</p>&mdash; A Commuter (@commuter)
<a href="https://twitter.com/commuter/status/1">May 2, 2024</a></blockquote>"""
    quote = "<blockquote><p>We have never seen the river this high, said the mayor, and we hope never to.</p>"
    page = _page(f"<main><article>{_paras(range(4))}{tweet}{_paras(range(4, 6))}{quote}</blockquote>"
                 f"{_paras(range(6, 8))}</article></main>")
    art = extract_article(page, URL)
    assert "Huge queues" not in art.body_text and "@commuter" not in art.body_text
    # A quotation the article makes is the article's.
    said = "We have never seen the river this high, said the mayor, and we hope never to."
    assert _paragraphs(art.body_text) == [*STORY[:6], said, *STORY[6:]]


def test_the_article_wins_when_the_library_chooses_a_teaser_list_beside_it() -> None:
    # A list of long teasers outside the <article> outscores a shorter article: the article carrying the
    # headline is the container (when it has at least half as much prose as the library's choice).
    teasers = "".join(
        f'<p><a href="/t{n}">Teaser {n}</a>, a long summary of another story, with commas, clauses and '
        "enough words, so that it reads, to a scorer, like the text of an article.</p>"
        for n in range(10)
    )
    page = _page(
        f"""<div class="layout"><div class="col-a"><article><h1>Valley floods after rain</h1>
<div class="text">{_paras(range(6))}</div></article></div><div class="col-b">{teasers}</div></div>""",
        title="Valley floods after rain",
    )
    assert "Teaser 0" in _library_text(page)  # readability-lxml alone takes the teasers
    art = extract_article(page, URL)
    assert _paragraphs(art.body_text) == STORY[:6]
    assert "Teaser" not in art.body_text


def test_text_after_a_left_out_element_comes_once() -> None:
    page = _page(f"<main><article><div>{STORY[0]}<script>var x = 1;</script> and after the script.</div>"
                 f"{_paras(range(1, 5))}</article></main>")
    art = extract_article(page, URL)
    assert art.full_text.count("and after the script.") == 1
    assert art.body_text.count("and after the script.") == 1
