"""An index written by an earlier warcache opens and answers exactly as it did when written.

tests/data/fulltext-28bd5fe holds a small full-text index written by warcache at commit 28bd5fe
(the layout of one package per layer, before the search package was split into documents,
compile, topk...): its table of contents names warcache.search.analysis and
warcache.search.postings classes. expected.json is what that version answered for QUERIES, with
exact scores, snippets and highlights. Both were made by running this file:

    .venv/bin/python tests/search/test_index_compat.py     # (re)writes tests/data/fulltext-<commit>

It uses only the index's public interface (FullTextIndex, PageDoc, Hit), which both versions have.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from warcache.search.index import FullTextIndex, PageDoc

DATA = Path(__file__).resolve().parents[1] / "data" / "fulltext-28bd5fe"

_VOCAB = (
    *("harbour", "quiet", "ships", "morning", "light", "water", "town", "market", "river"),
    *("stone", "bridge", "bridges", "road", "roads", "people", "evening", "bridged", "computing"),
    *("the", "of", "and", "to", "in", "a", "is", "that", "for", "on", "with", "computer"),
)

SPECIAL = [
    ("https://news.example.com/climate", "20240105093000", "en", "Climate talks resume in Paris",
     "Delegates met in Paris on Monday. The climate negotiations resumed after a long pause."),
    ("https://blog.other.org/cafe", "20240630235959", "fr-FR", "Le café du coin",
     "Le café était fermé. Nous avons bu un thé à la Straße, près de l'œuvre."),
    ("https://jp.example/tower", "20230101000000", "ja", "東京タワー",
     "東京タワーは東京都港区にある電波塔です。"),
    ("https://h.example/hamlet", "20220202020202", "en", "Hamlet",
     "To be, or not to be, that is the question."),
]


def pages() -> list[PageDoc]:
    """A few hundred deterministic pages: words on most pages, phrases on some, several hosts,
    languages and dates, and a few pages with accents, CJK and common-word phrases."""
    rng = random.Random(11)
    out = []
    for url, stamp, lang, title, body in SPECIAL:
        out.append(_page(url, stamp, title, body, lang, f"Home | Menu\n{title}\n{body}\nCopyright"))
    for i in range(170):
        words = rng.choices(_VOCAB, k=rng.randint(20, 90))
        if i % 29 == 0:
            words[rng.randrange(len(words)) :] = ["quiet", "harbour"]
        title = " ".join(rng.choices(_VOCAB, k=4))
        stamp = f"20{rng.randint(19, 25)}0{rng.randint(1, 9)}1{rng.randint(0, 9)}120000"
        menu = " ".join(rng.choices(_VOCAB, k=6))
        body = " ".join(words) + "."
        lang = rng.choice(["en", "en-GB", "de"])
        out.append(_page(f"https://p{i % 6}.example/{i}", stamp, title, body, lang, f"{menu}\n{body}"))
    return out


def _page(url: str, stamp: str, title: str, body: str, lang: str, full_text: str) -> PageDoc:
    return PageDoc(url=url, hash_url=f"h{len(url)}-{stamp}", title=title, headline=title[:12], body=body,
                   full_text=full_text, domain=url.split("/")[2], timestamp=stamp, collection="compat",
                   language=lang, warc_filename="rec-00001.warc.gz", warc_offset=len(body))


def replacements(all_pages: list[PageDoc]) -> list[PageDoc]:
    """New versions of some captures (same url and time): deleted documents in the first segment."""
    return [_page(p.url, p.timestamp, "replaced page", "bridge road replaced " * 5, p.language or "en", "")
            for p in all_pages[10:100:9]]


QUERIES = [
    "harbour", "the", "quiet ships", "bridge", "bridges", "comput*", "to* market", '"quiet harbour"',
    '"of the"', '"to be or not to be"', '"the river" stone', "river -stone", "water -the",
    'light -"the road"', "water OR stone", "(market OR river) -stone", "market after:2022",
    "light before:2021-06", "title:bridge town", 'title:"replaced page"', "ships site:p1.example",
    "ships lang:de", "water url:p2.example", "replaced bridge", "negotiation", "strasse cafe", "oeuvre",
    "東京", "電波塔", "after:2024", "-harbour before:2021", "site:example.com", "lang:en-gb",
]


def build(directory: Path) -> FullTextIndex:
    """The index of the fixture: a rebuild, then two batches added (three segments, deletions)."""
    everything = pages()
    ix = FullTextIndex(directory, "compat", procs=1)
    ix.rebuild(everything[:100])
    ix.add(everything[100:])
    ix.add(replacements(everything))
    return ix


def answers(ix: FullTextIndex) -> dict[str, list[list]]:
    """Per query: the first hits in full, then every hit's capture and exact score."""
    out = {}
    for query in QUERIES:
        out[f"top {query}"] = [
            [h.url, h.timestamp, h.score, h.snippet, [list(s) for s in h.highlights], h.title, h.headline,
             h.domain, h.hash_url, h.collection, h.warc_filename, h.warc_offset]
            for h in ix.search(query, limit=4)
        ]
        out[f"all {query}"] = [[h.url, h.timestamp, h.score] for h in ix.search(query, limit=1000)]
    return out


@pytest.fixture
def old_index(tmp_path: Path) -> FullTextIndex:
    copy = tmp_path / "fulltext"
    shutil.copytree(DATA / "fulltext", copy)
    ix = FullTextIndex(copy, "compat", procs=1)
    yield ix
    ix.close()


def test_the_fixture_was_written_by_the_old_modules() -> None:
    """What makes this a compatibility test: the index's pickled classes name the old modules."""
    toc = next((DATA / "fulltext").glob("_*.toc")).read_bytes()
    assert b"warcache.search.analysis" in toc and b"warcache.search.postings" in toc
    assert b"WordTokenizer" in toc and b"PostingsCodec" in toc and b"_GramPositions" in toc


def test_an_index_written_by_the_previous_layout_answers_identically(old_index: FullTextIndex) -> None:
    expected = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))
    got = answers(old_index)
    assert got.keys() == expected.keys()
    for key in expected:
        assert got[key] == expected[key], key
    assert sum(len(v) for v in expected.values()) > 1000  # the queries found things
    assert not old_index.outdated() and old_index.count() == len(pages())


def test_a_fresh_index_of_the_same_pages_answers_identically(tmp_path: Path) -> None:
    """Indexing did not change either: this code writes an index that answers the same."""
    expected = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))
    with build(tmp_path / "fresh") as ix:
        assert answers(ix) == expected


def test_the_old_index_takes_new_captures(old_index: FullTextIndex) -> None:
    late = _page("https://late.example/x", "20260101000000", "Keepers", "lamp lighthouse", "en", "")
    assert old_index.add([late]) == 1
    assert [h.url for h in old_index.search("lighthouse")] == [late.url]
    assert len(old_index.search("quiet harbour", limit=1000)) > 10


def _write_fixture() -> None:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=DATA.parent, check=True).stdout.strip()
    target = DATA.parent / f"fulltext-{commit}"
    shutil.rmtree(target, ignore_errors=True)
    with build(target / "fulltext") as ix:
        (target / "expected.json").write_text(json.dumps(answers(ix), ensure_ascii=False, indent=0) + "\n",
                                              encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    sys.exit(_write_fixture())
