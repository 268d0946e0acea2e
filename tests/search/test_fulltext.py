"""The full-text index: add/replace/rebuild, the query language, snippets, locking and concurrency."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from warcache.errors import ArchiveError, UsageError
from warcache.search.archive import search_collections
from warcache.search.index import FullTextIndex, PageDoc
from warcache.search.snippets import make_snippet

FILLER = (
    "Readers of this page will find a long discussion of many things, most of them unrelated to "
    "anything in particular, written so that the article has a realistic length and vocabulary. "
)


def doc(
    url: str,
    timestamp: str = "20240315120000",
    *,
    title: str = "A page",
    body: str = "",
    headline: str = "",
    full_text: str | None = None,
    language: str | None = "en",
    collection: str = "main",
) -> PageDoc:
    host = url.split("/")[2]
    body = body or FILLER
    return PageDoc(
        url=url,
        hash_url=f"h-{abs(hash((url, timestamp))):x}",
        title=title,
        headline=headline,
        body=body,
        full_text=full_text if full_text is not None else f"Home | Menu\n{title}\n{body}\nCopyright footer",
        domain=host,
        timestamp=timestamp,
        collection=collection,
        language=language,
        warc_filename="rec-001.warc.gz",
        warc_offset=1234,
    )


CORPUS = [
    doc(
        "https://news.example.com/climate",
        "20240105093000",
        title="Climate talks resume in Paris",
        body="Delegates met in Paris on Monday. The climate negotiations resumed after a long pause. "
        + FILLER,
    ),
    doc(
        "https://www.example.com/dogs",
        "20230620080000",
        title="Running dogs",
        body="Running dogs are fast animals. A dog runs faster than most people think. " + FILLER,
    ),
    doc(
        "https://blog.other.org/cafe",
        "20240630235959",
        title="Le café du coin",
        body="Le café était fermé. Nous avons bu un thé à la Straße. " + FILLER,
        language="fr-FR",
    ),
    doc(
        "https://notexample.com/weather",
        "20240701000000",
        title="Weather report",
        body="The weather in Paris will be sunny, with no climate surprises. " + FILLER,
    ),
    doc(
        "https://example.com.evil.org/phish",
        "20220101000000",
        title="Totally legit",
        body="Enter your password for example.com here. " + FILLER,
    ),
]


@pytest.fixture
def index(tmp_path: Path) -> FullTextIndex:
    ix = FullTextIndex(tmp_path / "indexes" / "fulltext", "main", procs=1)
    assert ix.add(CORPUS) == len(CORPUS)
    yield ix
    ix.close()


def urls(hits) -> set[str]:
    return {h.url for h in hits}


def path_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def found(ix: FullTextIndex, query: str) -> set[str]:
    return {path_of(h.url) for h in ix.search(query)}


# --------------------------------------------------------------------------- add, replace, count


def test_empty_index_counts_zero_and_finds_nothing(tmp_path: Path) -> None:
    ix = FullTextIndex(tmp_path / "fulltext", "main")
    assert ix.count() == 0
    assert ix.search("anything") == []
    assert not (tmp_path / "fulltext").exists()  # reading does not create the index


def test_add_and_search_returns_complete_hits(index: FullTextIndex) -> None:
    assert index.count() == len(CORPUS)
    (hit,) = index.search("negotiations")
    assert hit.url == "https://news.example.com/climate"
    assert hit.title == "Climate talks resume in Paris"
    assert hit.timestamp == "20240105093000"
    assert hit.domain == "news.example.com"
    assert hit.collection == "main"
    assert (hit.warc_filename, hit.warc_offset) == ("rec-001.warc.gz", 1234)
    assert hit.score > 0


def test_same_capture_is_replaced_not_duplicated(index: FullTextIndex) -> None:
    again = doc("https://www.example.com/dogs", "20230620080000", title="Updated", body="Cats now.")
    assert index.add([again]) == 1
    assert index.count() == len(CORPUS)
    assert index.search("running") == []  # the old text is gone
    assert [h.title for h in index.search("cats")] == ["Updated"]


def test_same_capture_twice_in_one_batch_keeps_the_last(tmp_path: Path) -> None:
    ix = FullTextIndex(tmp_path / "ft", "main", procs=1)
    first = doc("https://a.example/x", body="alpha version")
    second = doc("https://a.example/x", body="beta version")
    assert ix.add([first, second]) == 1
    assert ix.count() == 1
    assert ix.search("alpha") == [] and len(ix.search("beta")) == 1


def test_captures_of_one_url_at_different_times_are_separate(index: FullTextIndex) -> None:
    later = doc("https://www.example.com/dogs", "20250101000000", title="Running dogs, 2025 edition")
    index.add([later])
    assert index.count() == len(CORPUS) + 1
    hits = index.search("title:running")
    assert sorted(h.timestamp for h in hits) == ["20230620080000", "20250101000000"]


def test_captures_lists_what_the_index_holds(index: FullTextIndex, tmp_path: Path) -> None:
    assert FullTextIndex(tmp_path / "none", "main").captures() == set()
    expected = {f"{d.timestamp} {d.url}" for d in CORPUS}
    assert index.captures() == expected
    index.add([doc("https://www.example.com/dogs", "20230620080000", title="Replaced")])  # same capture
    index.add([doc("https://www.example.com/dogs", "20250101000000")])  # a new one
    assert index.captures() == expected | {"20250101000000 https://www.example.com/dogs"}


def test_bad_timestamp_is_an_archive_error(tmp_path: Path) -> None:
    ix = FullTextIndex(tmp_path / "ft", "main")
    with pytest.raises(ArchiveError, match="14 digits"):
        ix.add([doc("https://a.example/", "2024-01-01")])


# --------------------------------------------------------------------------- the query language


def test_words_must_all_match(index: FullTextIndex) -> None:
    assert found(index, "paris") == {"climate", "weather"}
    assert found(index, "paris sunny") == {"weather"}
    assert found(index, "paris AND sunny") == {"weather"}


def test_or_not_minus_and_parentheses(index: FullTextIndex) -> None:
    assert found(index, "delegates OR sunny") == {"climate", "weather"}
    assert found(index, "paris -sunny") == {"climate"}
    assert found(index, "paris NOT sunny") == {"climate"}
    assert found(index, "(delegates OR password) paris") == {"climate"}
    assert found(index, "-paris -filler -readers") == set()
    # A query of only negations lists everything else.
    assert found(index, "-paris") == {"dogs", "cafe", "phish"}


def test_excluded_words_exclude_the_first_page_too(tmp_path: Path) -> None:
    """Regression: Whoosh's AndNotMatcher let through the first page with the wanted words when
    a page with the excluded word (only) came before it."""
    ix = FullTextIndex(tmp_path / "ft", "main", procs=1)
    ix.add(
        [
            doc("https://g.example/0", body="government only"),
            doc("https://g.example/1", body="his government"),
            doc("https://g.example/2", body="his hat"),
            doc("https://g.example/3", body="hers alone"),
        ]
    )
    assert found(ix, "his -government") == {"2"}  # a conjunction: warcache's own top-k search
    assert found(ix, "(his OR hers) -government") == {"2", "3"}  # an OR: Whoosh's matchers
    assert found(ix, "-government") == {"2", "3"}  # no words: newest first, Whoosh's matchers


def test_lower_case_or_and_are_ordinary_words(index: FullTextIndex) -> None:
    assert found(index, "paris or sunny") == set()  # "or" appears in no page


def test_phrases_are_exact_and_ordered(index: FullTextIndex) -> None:
    assert found(index, '"running dogs"') == {"dogs"}
    assert found(index, '"dogs running"') == set()
    assert found(index, '"climate negotiations"') == {"climate"}
    assert found(index, '"negotiations climate"') == set()


def test_phrases_of_common_words(tmp_path: Path) -> None:
    ix = FullTextIndex(tmp_path / "ft", "main", procs=1)
    ix.add(
        [
            doc("https://h.example/1", title="Hamlet", body="To be, or not to be, that is the question."),
            doc("https://h.example/2", title="Other", body="Not to be confused with what is to be or not."),
        ]
    )
    assert found(ix, '"to be or not to be"') == {"1"}
    assert found(ix, '"is the"') == {"1"}
    assert found(ix, '"the is"') == set()
    assert found(ix, '"to be or not"') == {"1", "2"}


# A few hundred pages of random sentences: every word's posting list spans several of Whoosh's
# 128-posting blocks, so top-k pruning (scores of whole blocks, skipping postings that cannot enter
# the results) really runs, unlike in the five-page CORPUS.
_VOCAB = (
    *("harbour", "quiet", "ships", "morning", "light", "water", "town", "market", "river"),
    *("stone", "bridge", "road", "people", "evening"),
    *("the", "of", "and", "to", "in", "a", "is", "that", "for", "on", "with"),
)


def _random_pages(count: int) -> list[PageDoc]:
    import random

    rng = random.Random(7)
    pages = []
    for i in range(count):
        words = rng.choices(_VOCAB, k=rng.randint(30, 120))
        if i % 37 == 0:  # the phrase itself, in a few pages
            words[rng.randrange(len(words)) :] = ["quiet", "harbour"]
        title = " ".join(rng.choices(_VOCAB, k=4))
        stamp = f"20{rng.randint(19, 25)}0{rng.randint(1, 9)}1{rng.randint(0, 9)}120000"
        pages.append(doc(f"https://p{i % 5}.example/{i}", stamp, title=title, body=" ".join(words) + "."))
    return pages


@pytest.fixture(scope="module")
def big_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[FullTextIndex, list[PageDoc]]:
    pages = _random_pages(700)
    ix = FullTextIndex(tmp_path_factory.mktemp("big") / "ft", "main", procs=1)
    ix.rebuild(pages)
    yield ix, pages
    ix.close()


def test_phrase_of_words_on_most_pages_finds_exactly_the_pages_with_it(big_index) -> None:
    ix, pages = big_index
    import re as _re

    def has(text: str, phrase: str) -> bool:
        return _re.search(rf"(?<!\w){phrase}(?!\w)", text.lower()) is not None

    expected = {path_of(p.url) for p in pages if has(f"{p.title}. {p.body}", "quiet harbour")}
    both = {path_of(p.url) for p in pages if {"quiet", "harbour"} <= set(p.body.lower().split())}
    assert len(both) > 300 and 10 < len(expected) < len(both) / 3  # words everywhere, phrase not
    assert {path_of(h.url) for h in ix.search('"quiet harbour"', limit=1000)} == expected
    # Top 5 (pruned: positions checked only where the score can still win) = the full ranking's first 5.
    top = [(h.url, h.score) for h in ix.search('"quiet harbour"', limit=5)]
    assert top == [(h.url, h.score) for h in ix.search('"quiet harbour"', limit=1000)][:5]
    assert all(path_of(url) in expected for url, _ in top)


@pytest.mark.parametrize(
    "query",
    [
        "harbour",
        "the",
        "quiet ships",
        '"of the"',
        '"the river"',
        "river -bridge",
        "water OR stone",
        "market after:2022",
        "title:bridge town",
        "ships site:p1.example",
    ],
)
def test_pruned_top_results_equal_the_full_ranking(big_index, query: str) -> None:
    """With a small limit the matchers skip postings that cannot enter the top; nothing else changes."""
    ix, _ = big_index
    full = [(h.url, h.timestamp, h.score) for h in ix.search(query, limit=1000)]
    assert len(full) > 8
    for limit in (1, 3, 8):
        assert [(h.url, h.timestamp, h.score) for h in ix.search(query, limit=limit)] == full[:limit]


def test_phrases_do_not_run_across_parts_of_a_page(index: FullTextIndex) -> None:
    # Title "Weather report", body "The weather in Paris ...": no phrase "report the".
    assert found(index, '"weather report"') == {"weather"}
    assert found(index, '"report the"') == set()


def test_english_variations_for_bare_words_only(index: FullTextIndex) -> None:
    assert found(index, "dog") == {"dogs"}  # "dogs", "dog" both count
    assert found(index, "negotiation") == {"climate"}
    assert found(index, '"negotiation"') == set()  # quoted: exactly this word
    assert found(index, "delegate") == {"climate"}


def test_variations_are_inflections_not_derivations(tmp_path: Path) -> None:
    ix = FullTextIndex(tmp_path / "ft", "main", procs=1)
    ix.add(
        [
            doc("https://v.example/1", body="A representative spoke."),
            doc("https://v.example/2", body="It represents us."),
        ]
    )
    assert found(ix, "represent") == {"2"}


def test_accents_and_case_are_folded(index: FullTextIndex) -> None:
    assert found(index, "CAFE") == {"cafe"}
    assert found(index, "etait ferme") == {"cafe"}
    assert found(index, "strasse") == {"cafe"}


def test_title_field(index: FullTextIndex) -> None:
    assert found(index, "title:weather") == {"weather"}
    assert found(index, "title:sunny") == set()  # only in the body
    assert found(index, 'title:"talks resume"') == {"climate"}


def test_site_matches_host_and_subdomains_only(index: FullTextIndex) -> None:
    assert found(index, "site:example.com") == {"climate", "dogs"}
    assert found(index, "domain:example.com") == {"climate", "dogs"}
    assert found(index, "site:news.example.com") == {"climate"}
    assert found(index, "site:https://WWW.Example.com/some/path") == {"dogs"}
    assert found(index, "site:other.org paris") == set()
    assert found(index, "-site:example.com paris") == {"weather"}


def test_url_prefix_ignores_scheme_and_www(index: FullTextIndex) -> None:
    assert found(index, "url:example.com/dogs") == {"dogs"}
    assert found(index, "url:https://www.example.com/d") == {"dogs"}
    assert found(index, "url:news.example.com") == {"climate"}


def test_language(index: FullTextIndex) -> None:
    assert found(index, "lang:fr") == {"cafe"}
    assert found(index, "language:fr-fr") == {"cafe"}
    assert found(index, "lang:de") == set()


def test_prefix_wildcard(index: FullTextIndex) -> None:
    assert found(index, "negotia*") == {"climate"}
    assert found(index, "deleg* paris") == {"climate"}


def test_dates_are_inclusive_periods(index: FullTextIndex) -> None:
    assert found(index, "after:2024") == {"climate", "cafe", "weather"}
    assert found(index, "before:2023") == {"phish", "dogs"}  # to the end of 2023
    assert found(index, "before:2021-12-31") == set()
    assert found(index, "after:2024-06-30 before:2024-06-30") == {"cafe"}  # ends 23:59:59
    assert found(index, "after:2024-07") == {"weather"}
    assert found(index, "before:2024-01-05") == {"dogs", "phish", "climate"}
    assert found(index, "after:20240105093000 before:20240105093000") == {"climate"}
    assert found(index, "paris after:2024-02") == {"weather"}


def test_filter_only_queries_list_newest_first(index: FullTextIndex) -> None:
    hits = index.search("after:2022")
    stamps = [h.timestamp for h in hits]
    assert stamps == sorted(stamps, reverse=True) and len(stamps) == len(CORPUS)
    assert all(h.score == 0 for h in hits)
    assert [path_of(h.url) for h in index.search("site:example.com")] == ["climate", "dogs"]
    assert [path_of(h.url) for h in index.search("-paris before:2024-06")] == ["cafe", "dogs", "phish"]
    assert len(index.search("after:2022", limit=2)) == 2


def test_replaced_captures_are_not_listed_twice(index: FullTextIndex) -> None:
    index.add([doc("https://www.example.com/dogs", "20230620080000", title="Dogs again")])
    assert len(index.search("after:2000")) == len(CORPUS)
    assert len(index.search("site:www.example.com")) == 1


def test_dates_inside_or(index: FullTextIndex) -> None:
    assert found(index, "(paris after:2024-02) OR delegates") == {"weather", "climate"}
    assert found(index, "delegates OR (sunny before:2024-01)") == {"climate"}


def test_title_matches_rank_above_body_matches(tmp_path: Path) -> None:
    ix = FullTextIndex(tmp_path / "ft", "main", procs=1)
    ix.add(
        [
            doc("https://a.example/body", body="We mention volcanoes once. " + FILLER),
            doc("https://a.example/title", title="Volcanoes", body="Nothing else here. " + FILLER),
        ]
    )
    assert [path_of(h.url) for h in ix.search("volcanoes")] == ["title", "body"]


def test_limit(index: FullTextIndex) -> None:
    assert len(index.search("readers", limit=2)) == 2
    assert index.search("readers", limit=0) == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('"unclosed phrase', "unbalanced quote"),
        ('title:"unclosed', "unbalanced quote"),
        ("(paris OR london", "unbalanced parenthesis"),
        ("paris)", "unbalanced parenthesis"),
        ("()", "empty parentheses"),
        ("paris OR", "'OR' needs a search term"),
        ("OR paris", "'OR' needs a search term"),
        ("paris AND", "'AND' needs a search term"),
        ("paris NOT", "'NOT'"),
        ("after:2024-13-01", "bad date"),
        ("before:2024-02-30", "bad date"),
        ("after:yesterday", "bad date"),
        ("site:", "site: needs a value"),
        ("", "empty query"),
        ("   ", "empty query"),
        ("a*", "at least 2 characters"),
        ("!!! ---", "nothing to search for"),
        ("-!!!", "nothing to search for"),
    ],
)
def test_malformed_queries_are_one_line_usage_errors(index: FullTextIndex, query: str, message: str) -> None:
    with pytest.raises(UsageError) as err:
        index.search(query)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_field_names_are_plain_text(index: FullTextIndex) -> None:
    # "for:" is not an operator: the text is searched as words (a phrase).
    assert found(index, "for:example.com") == {"phish"}
    assert found(index, "https://news.example.com/climate") == set()  # not in any page's text


# --------------------------------------------------------------------------- snippets


def test_snippet_is_plain_text_around_the_match_with_spans(tmp_path: Path) -> None:
    body = FILLER * 4 + "Here the Zebra-crossing ZEBRAS appear.\n\nThen more." + FILLER * 4
    ix = FullTextIndex(tmp_path / "ft", "main", procs=1)
    ix.add([doc("https://z.example/", body=body)])
    (hit,) = ix.search("zebra")
    assert "\n" not in hit.snippet and "  " not in hit.snippet
    assert 100 <= len(hit.snippet) <= 205
    assert hit.snippet.startswith("…") and hit.snippet.endswith("…")
    words = [hit.snippet[s:e] for s, e in hit.highlights]
    assert words == ["Zebra", "ZEBRAS"]


def test_snippet_prefers_the_window_with_most_distinct_words(tmp_path: Path) -> None:
    text = "alpha " + "x " * 300 + "alpha beta gamma here " + "y " * 300 + "beta"
    ix = FullTextIndex(tmp_path / "ft", "main", procs=1)
    ix.add([doc("https://s.example/", body=text)])
    (hit,) = ix.search("alpha beta gamma")
    assert [hit.snippet[s:e] for s, e in hit.highlights] == ["alpha", "beta", "gamma"]


def test_snippet_highlights_accented_and_expanded_letters(index: FullTextIndex) -> None:
    pattern = index.plan("strasse cafe").highlight
    snippet, spans = make_snippet("Über die Straße ins Café gehen.", pattern)
    assert snippet == "Über die Straße ins Café gehen."
    assert [snippet[s:e] for s, e in spans] == ["Straße", "Café"]


def test_snippet_highlights_the_variants_found(index: FullTextIndex) -> None:
    (hit,) = index.search("negotiation")
    assert [hit.snippet[s:e] for s, e in hit.highlights] == ["negotiations"]


def test_snippet_without_a_body_match_uses_the_rest_of_the_page(tmp_path: Path) -> None:
    ix = FullTextIndex(tmp_path / "ft", "main", procs=1)
    page = doc(
        "https://n.example/", body="The article itself.", full_text="Sitemap Newsletter\nThe article itself."
    )
    ix.add([page])
    (hit,) = ix.search("newsletter")
    assert [hit.snippet[s:e] for s, e in hit.highlights] == ["Newsletter"]
    (hit,) = ix.search("title:page")  # matched only in the title: the body's start, unmarked
    assert hit.snippet == "The article itself." and hit.highlights == []


def test_negated_words_are_not_highlighted(index: FullTextIndex) -> None:
    (hit,) = index.search("paris -sunny")
    assert {hit.snippet[s:e].lower() for s, e in hit.highlights} == {"paris"}


# --------------------------------------------------------------------------- tokenizing details


def test_phrase_with_a_gap_of_46_positions(tmp_path: Path) -> None:
    """Regression: whoosh-ng 5.4 misreads positions whose encoding ends in b'.' (gap 46)."""
    words = ["alpha", "beta"] + [f"w{i}" for i in range(44)] + ["alpha"]
    ix = FullTextIndex(tmp_path / "ft", "main", procs=1)
    ix.add([doc("https://p.example/", body=" ".join(words))])
    assert len(ix.search('"alpha beta"')) == 1


def test_cjk_text_is_searchable_by_character_runs(tmp_path: Path) -> None:
    ix = FullTextIndex(tmp_path / "ft", "main", procs=1)
    ix.add([doc("https://jp.example/", title="東京タワー", body="東京タワーは東京都港区にある電波塔です。")])
    assert len(ix.search("東京")) == 1
    assert len(ix.search("港区")) == 1
    assert ix.search("京東") == []
    (hit,) = ix.search("電波塔")
    assert [hit.snippet[s:e] for s, e in hit.highlights] == ["電", "波", "塔"]


def test_very_long_tokens_are_not_indexed(tmp_path: Path) -> None:
    blob = "A" * 200
    ix = FullTextIndex(tmp_path / "ft", "main", procs=1)
    ix.add([doc("https://b.example/", body=f"before {blob} after")])
    with pytest.raises(UsageError, match="not indexed"):
        ix.search(blob)
    assert len(ix.search('"before after"')) == 0  # the blob still takes a position
    assert len(ix.search("before after")) == 1


# --------------------------------------------------------------------------- several collections


def test_search_collections_merges_by_score(tmp_path: Path) -> None:
    a = FullTextIndex(tmp_path / "a", "a", procs=1)
    b = FullTextIndex(tmp_path / "b", "b", procs=1)
    a.add([doc("https://a.example/1", title="Orchids", body="Orchids orchids. " + FILLER, collection="a")])
    a.add([doc("https://a.example/2", body="Orchids once. " + FILLER, collection="a")])
    b.add(
        [doc("https://b.example/1", title="Orchids and orchids", body="Orchids! " + FILLER, collection="b")]
    )
    hits = search_collections([a, b], "orchids", limit=10)
    assert {h.collection for h in hits} == {"a", "b"}
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[-1].url == "https://a.example/2"
    assert len(search_collections([a, b], "orchids", limit=2)) == 2
    with pytest.raises(UsageError):
        search_collections([a, b], '"open')


# --------------------------------------------------------------------------- rebuild


def test_rebuild_swaps_in_a_fresh_index(index: FullTextIndex) -> None:
    old_name = (index.index_dir / "CURRENT").read_text().strip()
    before = index.search("paris")  # keeps a searcher open on the old index
    assert before
    fresh = [doc("https://new.example/1", title="Only this"), doc("https://new.example/2")]
    assert index.rebuild(fresh) == 2
    assert index.count() == 2
    assert index.search("paris") == []
    assert urls(index.search("title:only")) == {"https://new.example/1"}
    new_name = (index.index_dir / "CURRENT").read_text().strip()
    assert new_name != old_name
    leftovers = [p.name for p in index.index_dir.iterdir() if old_name in p.name]
    assert leftovers == []  # the old index's files were removed


def test_rebuild_keeps_the_last_of_repeated_captures(tmp_path: Path) -> None:
    ix = FullTextIndex(tmp_path / "ft", "main", procs=1)
    docs = [
        doc("https://r.example/", body="first text"),
        doc("https://r.example/other", body="unrelated"),
        doc("https://r.example/", body="second text"),
    ]
    assert ix.rebuild(docs) == 2
    assert ix.count() == 2
    assert ix.search("first") == [] and len(ix.search("second")) == 1


def test_failed_rebuild_leaves_the_old_index(index: FullTextIndex) -> None:
    def broken():
        yield doc("https://x.example/")
        raise RuntimeError("extractor crashed")

    files_before = sorted(p.name for p in index.index_dir.iterdir())
    with pytest.raises(RuntimeError):
        index.rebuild(broken())
    assert index.count() == len(CORPUS)
    assert found(index, "paris") == {"climate", "weather"}
    assert sorted(p.name for p in index.index_dir.iterdir()) == files_before


def test_rebuild_with_two_writer_processes(tmp_path: Path) -> None:
    ix = FullTextIndex(tmp_path / "ft", "main", procs=2)
    docs = [doc(f"https://m.example/{i}", body=f"page number{i} " + FILLER) for i in range(300)]
    assert ix.rebuild(docs) == 300
    assert ix.count() == 300
    assert urls(ix.search("number123")) == {"https://m.example/123"}
    assert len(ix.search('"page number7"')) == 1


# --------------------------------------------------------------------------- locking and concurrency

HOLD_LOCK = """
import sys, time
from pathlib import Path
from warcache.search.index import FullTextIndex
ix = FullTextIndex(Path(sys.argv[1]), "main")
with ix.write_lock():
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _hold_lock(index_dir: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(index_dir), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_writer_waits_for_another_process_lock(index: FullTextIndex) -> None:
    holder = _hold_lock(index.index_dir, 1.0)
    try:
        start = time.monotonic()
        index.add([doc("https://late.example/", title="Waited")])
        waited = time.monotonic() - start
    finally:
        holder.wait(timeout=30)
    assert waited >= 0.5
    assert urls(index.search("title:waited")) == {"https://late.example/"}


def test_writer_gives_up_after_the_lock_timeout(index: FullTextIndex) -> None:
    impatient = FullTextIndex(index.index_dir, "main", lock_timeout=0.3)
    holder = _hold_lock(index.index_dir, 3.0)
    try:
        start = time.monotonic()
        with pytest.raises(ArchiveError, match="busy") as err:
            impatient.add([doc("https://never.example/")])
        assert time.monotonic() - start < 2.0
        assert "\n" not in str(err.value)
        assert index.search("url:never.example") == []  # searching needs no lock
    finally:
        holder.kill()
        holder.wait(timeout=30)


WRITER = """
import sys, time
from pathlib import Path
from warcache.search.index import FullTextIndex, PageDoc
ix = FullTextIndex(Path(sys.argv[1]), "main", procs=1)
BATCH = 4
def page(n):
    return PageDoc(url=f"https://c.example/{n}", hash_url=str(n), title=f"Page {n}", headline="",
                   body=f"shared words and unique{n} " * 40, full_text="", domain="c.example",
                   timestamp="20240101000000", collection="main", language="en",
                   warc_filename="w.warc.gz", warc_offset=n)
written = []
for b in range(int(sys.argv[2])):
    batch = [page(b * BATCH + i) for i in range(BATCH)]
    ix.add(batch)
    written += batch
    if b == int(sys.argv[2]) // 2:
        ix.rebuild(written)  # swap the whole index while the reader reads
print("writer done", flush=True)
"""

READER = """
import json, sys, time
from pathlib import Path
from warcache.search.index import FullTextIndex
ix = FullTextIndex(Path(sys.argv[1]), "main")
stop = Path(sys.argv[2])
Path(sys.argv[3]).touch()  # imports done: the writer may start
counts, searches, errors = set(), 0, []
while not stop.exists() or searches < 5:
    try:
        c = ix.count()
        hits = ix.search("shared words", limit=50)
        counts.add(c)
        searches += 1
        if c % 4 or any(not h.url or not h.title.startswith("Page") for h in hits):
            errors.append(f"torn view: count={c}")
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
print(json.dumps({"counts": sorted(counts), "searches": searches, "errors": errors[:5]}))
"""


def test_concurrent_writer_and_reader_processes(tmp_path: Path) -> None:
    """A reader never sees a half-written transaction, even across a rebuild swap."""
    index_dir = tmp_path / "ft"
    stop, ready = tmp_path / "stop", tmp_path / "ready"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(index_dir), str(stop), str(ready)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        writer = subprocess.run(
            [sys.executable, "-c", WRITER, str(index_dir), "24"],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert writer.returncode == 0, writer.stderr
    finally:
        stop.touch()
        out, _ = reader.communicate(timeout=60)
    report = json.loads(out)
    assert report["errors"] == []
    assert report["searches"] >= 5
    assert len(report["counts"]) >= 3, report  # it really read while the writer wrote
    assert all(c % 4 == 0 for c in report["counts"])
    assert FullTextIndex(index_dir, "main").count() == 96


def test_fold_matches_the_index() -> None:
    from warcache.search.analysis import fold

    assert fold("Straße CAFÉ Œuvre ﬁn") == "strasse cafe oeuvre fin"
    assert fold("plain ascii") == "plain ascii"


def test_snippet_helper_without_pattern_is_the_start_of_the_text() -> None:
    text = textwrap.fill(FILLER * 3, 50)
    snippet, spans = make_snippet(text, None)
    assert spans == [] and snippet.startswith("Readers of this page") and snippet.endswith("…")
    assert len(snippet) <= 201


# --------------------------------------------------------------------------- posting lists and top-k search
#
# The index stores posting lists in its own layout (warcache.search.postings) and answers
# conjunctions with its own top-k search (warcache.search.topk.top_docs).  These tests compare
# both with independent answers: Whoosh's own block layout, Whoosh's own matchers and collector
# scoring every matching page, and the pages' text.


def _all_postings(ix: FullTextIndex) -> dict[tuple[str, bytes], list[tuple[int, float, bytes]]]:
    """Every posting of the index, read through Whoosh's own reader interface."""
    reader = ix.reader().searcher.reader()
    out = {}
    for fieldname, btext in reader.all_terms():
        m = reader.postings(fieldname, btext)
        items = []
        while m.is_active():
            items.append((m.id(), m.weight(), m.value() or b""))
            m.next()
        out[(fieldname, btext)] = items
    return out


@pytest.fixture(scope="module")
def twin_indexes(tmp_path_factory: pytest.TempPathFactory):
    """The same 700 pages indexed in warcache's layout and in Whoosh's own (W3Codec)."""
    from whoosh.codec.whoosh3 import W3Codec

    from warcache.search import store

    pages = _random_pages(700)
    new = FullTextIndex(tmp_path_factory.mktemp("new") / "ft", "main", procs=1)
    new.rebuild(pages)
    old = FullTextIndex(tmp_path_factory.mktemp("old") / "ft", "main", procs=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(store, "PostingsCodec", W3Codec)  # Whoosh's own layout, as before warcache's
        old.rebuild(pages)
    yield new, old
    new.close()
    old.close()


def test_posting_lists_read_back_as_whoosh_wrote_them(twin_indexes) -> None:
    from warcache.search.postings import ArrayLeaf

    new, old = twin_indexes
    ours, theirs = _all_postings(new), _all_postings(old)
    assert ours == theirs
    long_lists = [key for key, items in ours.items() if len(items) > 300]
    assert len(long_lists) > 10  # several chunks of 128 postings each
    # skip_to lands on the first posting at or after the target, across chunk boundaries.
    reader = new.reader().searcher.reader()
    for key in long_lists[:5]:
        ids = [d for d, _, _ in ours[key]]
        m = reader.postings(*key)
        assert isinstance(m, ArrayLeaf)
        for target in range(0, ids[-1] + 2, 37):
            if not m.is_active():
                break
            m.skip_to(target)
            expected = [d for d in ids if d >= max(target, 0)]
            assert (m.id() if m.is_active() else None) == (expected[0] if expected else None)


def test_chunk_bounds_are_the_chunks_best_scores(twin_indexes) -> None:
    """The frontier of each chunk gives its highest score exactly (what pruning relies on)."""
    from warcache.search.topk import TermUnit

    new, _ = twin_indexes
    checked = 0
    for source in new.reader().sources():
        for word in ("harbour", "the", "quiet", "evening"):
            unit = TermUnit(*source.term("text", word))
            for c, bound in enumerate(unit.chunk_bounds()):
                _, scores = unit.chunk(c)
                assert bound == pytest.approx(max(scores), rel=1e-12)
                checked += 1
    assert checked > 20


def test_old_layout_index_gives_the_same_results(twin_indexes) -> None:
    new, old = twin_indexes
    queries = ("harbour", "quiet ships", '"quiet harbour"', '"of the"', "title:bridge town", "river -bridge")
    for query in queries:
        a = [(h.url, h.score) for h in new.search(query, limit=50)]
        b = [(h.url, h.score) for h in old.search(query, limit=50)]
        assert a == b and a, query
    # the old one is said to be outdated (`warcache search` then suggests a rebuild), the new one not
    assert old.outdated() and not new.outdated()


def _whoosh_ranking(ix: FullTextIndex, query: str) -> list[tuple[str, float]]:
    """Every matching page, scored by Whoosh's own matchers and collector: (url, score), best first."""
    return [(hit.url, hit.score) for hit in ix.search(query, limit=10**6, exhaustive=True)]


@pytest.fixture(scope="module")
def segmented_index(tmp_path_factory: pytest.TempPathFactory):
    """Three segments (Whoosh leaves three of these sizes unmerged), with captures replaced:
    deleted documents in older segments."""
    pages = _random_pages(900)
    ix = FullTextIndex(tmp_path_factory.mktemp("seg") / "ft", "main", procs=1)
    ix.rebuild(pages[:400])
    body = "bridge road replaced " * 5
    replaced = [doc(p.url, p.timestamp, title="replaced page", body=body) for p in pages[:400:9]]
    for batch in (pages[400:650] + replaced[:20], pages[650:] + replaced[20:]):
        ix.add(batch)
    segments = ix.segments()
    assert len(segments) == 3 and any(segment.deleted for segment in segments)
    live = {p.url: p for p in pages} | {p.url: p for p in replaced}
    yield ix, list(live.values())
    ix.close()


SHAPES = [
    "harbour",
    "the",
    "quiet ships",
    "the of and",
    "harbour harbour",
    "market river stone",
    '"quiet harbour"',
    '"of the"',
    '"the river"',
    '"in the market"',
    '"to the" water',
    "bridge",  # its variants: "bridges"? (none here: one form), replaced pages rank high
    "river -bridge",
    "water -the",
    "market after:2022",
    "light before:2021-06",
    "title:bridge town",
    "ships site:p1.example",
    "ships lang:en",
    "water url:p2.example",
    'light -"the road"',
    "replaced bridge",
]


@pytest.mark.parametrize("query", SHAPES)
def test_top_results_equal_whoosh_scoring_every_page(segmented_index, query: str) -> None:
    """top_docs' best pages (multi-segment, deletions, filters) = Whoosh's full ranking's best."""
    from warcache.search.compile import conjunction

    ix, _ = segmented_index
    full = _whoosh_ranking(ix, query)
    assert len(full) > 3, query
    assert conjunction(ix.plan(query).query) is not None  # top_docs answers it
    score_of = dict(full)
    for limit in (1, 5, 20, 1000):
        hits = ix.search(query, limit=limit)
        assert len(hits) == min(limit, len(full))
        expected = [s for _, s in full[:limit]]
        assert [h.score for h in hits] == pytest.approx(expected, rel=1e-12)
        for hit in hits:  # the same pages (ties may order differently only within 1e-12)
            assert hit.score == pytest.approx(score_of[hit.url], rel=1e-12)


def _words_of(page: PageDoc) -> list[list[str]]:
    """The words of each part of a page as indexed (the rest of the page is full_text minus the body)."""
    from warcache.search.analysis import WordTokenizer
    from warcache.search.documents import outside_body

    rest = outside_body(page.full_text, page.body)
    return [WordTokenizer.words(part) for part in (page.title, page.headline, page.body, rest)]


@pytest.mark.parametrize(
    ("query", "needs"),
    [
        ("market river", [("market",), ("river",)]),
        ('"the river" stone', [("the", "river"), ("stone",)]),
        ('"water of the"', [("water", "of", "the")]),
    ],
)
def test_matches_are_exactly_the_pages_with_every_word_and_phrase(segmented_index, query, needs) -> None:
    """Checked against the pages' own text, not against any index."""
    ix, pages = segmented_index

    def has(parts: list[list[str]], seq: tuple[str, ...]) -> bool:
        n = len(seq)
        return any(tuple(words[i : i + n]) == seq for words in parts for i in range(len(words) - n + 1))

    expected = {p.url for p in pages if all(has(_words_of(p), seq) for seq in needs)}
    assert 2 < len(expected) < len(pages)
    assert {h.url for h in ix.search(query, limit=2000)} == expected


def test_highlighter_finds_what_its_regular_expression_finds() -> None:
    import random
    import re

    from warcache.search.snippets import CJK, PREFIX, WORD, Highlighter

    rng = random.Random(3)
    alphabet = ["ab", "a", "b", "abc", "e.g", "e", "g", "東", "京", " ", " ", ".", "-", "_", "é"]
    for _ in range(400):
        text = "".join(rng.choices(alphabet, k=rng.randint(0, 40)))
        h = Highlighter()
        for _ in range(rng.randint(1, 4)):
            kind = rng.choice([WORD, WORD, PREFIX, CJK])
            words = ["東", "京"] if kind == CJK else ["ab", "a", "b", "e.g", "e", "g"]
            h.add(kind, rng.choice(words))
        expected = [(m.start(), m.end(), m.group()) for m in h.pattern().finditer(text)]
        assert h.find(text) == expected, (text, h.items)
        assert isinstance(h.pattern(), re.Pattern)


def test_prefix_scores_as_the_sum_over_its_words(segmented_index) -> None:
    """to* stands for "to" and "town": a page scores what "(to OR town)" gives it, the sum over the
    words it has (top_docs reads a prefix in bulk; Whoosh's own OR of a prefix's words scored
    pages 1.0 or BM25 depending on the size of a segment)."""
    ix, _ = segmented_index
    cases = (
        ("to*", "(to OR town)"),
        ("to* market", "(to OR town) market"),
        ("ma* ri* -bridge", "market river -bridge"),
    )
    for query, same in cases:
        ours = {h.url: h.score for h in ix.search(query, limit=1000)}
        theirs = {h.url: h.score for h in ix.search(same, limit=1000)}
        assert ours.keys() == theirs.keys() and len(ours) > 20
        assert all(ours[url] == pytest.approx(theirs[url], rel=1e-12) for url in ours)
        top = [h.score for h in ix.search(query, limit=10)]
        assert top == pytest.approx(sorted(theirs.values(), reverse=True)[:10], rel=1e-12)


def test_search_says_when_an_index_predates_the_posting_layout(tmp_path: Path, monkeypatch) -> None:
    """An index written by an earlier warcache is searched, and the CLI names the command that
    rebuilds it (it is correct but slow until then)."""
    from conftest import run_cli
    from whoosh.codec.whoosh3 import W3Codec

    from warcache.search import store

    coll_dir = tmp_path / "collections" / "old"
    (coll_dir / "archive").mkdir(parents=True)
    ix = FullTextIndex(coll_dir / "indexes" / "fulltext", "old", procs=1)
    monkeypatch.setattr(store, "PostingsCodec", W3Codec)
    ix.rebuild(CORPUS)
    ix.close()
    run = run_cli("search", "climate", root=tmp_path)
    assert run.code == 0 and "Climate talks resume in Paris" in run.stdout, run.stderr
    assert "older, slower layout" in run.stderr and "warcache index -c old --rebuild" in run.stderr
    monkeypatch.undo()
    FullTextIndex(coll_dir / "indexes" / "fulltext", "old", procs=1).rebuild(CORPUS)
    run = run_cli("search", "climate", root=tmp_path)
    assert run.code == 0 and "older" not in run.stderr


def test_an_index_rebuilt_from_no_pages_answers_every_kind_of_query(tmp_path: Path) -> None:
    """Found in review: an empty collection's index (rebuilt from nothing) made `outdated()` and
    word-less queries raise, which failed `warcache search` for every collection."""
    ix = FullTextIndex(tmp_path / "ft", "empty", procs=1)
    ix.rebuild([])
    for query in ("climate", "-climate", "after:2020", "site:example.com", '"a b"', "a OR b"):
        assert ix.search(query) == [], query
    assert not ix.outdated() and ix.count() == 0


def test_minus_before_a_phrase_or_a_group_excludes_it(index: FullTextIndex) -> None:
    """Found in review: `-"a phrase"` and `-(a OR b)` made the phrase or group required."""
    every = {h.url for h in index.search("the", limit=100)}
    with_phrase = {h.url for h in index.search('"climate negotiations"', limit=100)}
    assert with_phrase and every - with_phrase
    assert {h.url for h in index.search('the -"climate negotiations"', limit=100)} == every - with_phrase
    with_either = {h.url for h in index.search("climate OR paris", limit=100)}
    assert with_either and every - with_either
    assert {h.url for h in index.search("the -(climate OR paris)", limit=100)} == every - with_either


@pytest.mark.parametrize("damage", ["truncate segment", "zero segment middle", "flip segment bytes",
                                    "truncate toc"])
def test_a_damaged_index_is_reported_as_such_with_the_way_to_mend_it(tmp_path: Path, damage: str) -> None:
    """Found in review: damaged index files surfaced as KeyError, struct.error, IndexError... Now
    each search either answers or raises ArchiveError naming the rebuild command."""
    ix = FullTextIndex(tmp_path / "ft", "main", procs=1)
    ix.rebuild(_random_pages(300))
    ix.close()
    seg = max((tmp_path / "ft").glob("*.seg"), key=lambda p: p.stat().st_size)
    toc = next((tmp_path / "ft").glob("*.toc"))
    data = bytearray(seg.read_bytes())
    if damage == "truncate segment":
        seg.write_bytes(data[: len(data) // 2])
    elif damage == "zero segment middle":
        mid = len(data) // 2
        seg.write_bytes(data[:mid] + bytes(4096) + data[mid + 4096 :])
    elif damage == "flip segment bytes":
        for at in range(64, len(data), 997):
            data[at] ^= 0xFF
        seg.write_bytes(data)
    else:
        toc.write_bytes(toc.read_bytes()[:20])
    damaged = FullTextIndex(tmp_path / "ft", "main", procs=1)
    errors = 0
    queries = ("harbour", "quiet ships", '"quiet harbour"', "river -bridge", "bridge OR town", "title:bridge",
               "after:2020")
    for query in queries:
        try:
            assert isinstance(damaged.search(query), list)
        except ArchiveError as exc:
            errors += 1
            assert "damaged" in str(exc) and "warcache index -c main --rebuild" in str(exc)
    if damage.startswith("truncate"):  # changed bytes may land where nothing reads them (no checksums)
        assert errors
