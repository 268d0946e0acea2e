"""Real news pages from the fundus corpus, and how scripts/bench_extract.py reads that corpus.

The corpus is the parser test data of flairNLP/fundus @ 18da6e53592f (MIT), folder
`tests/resources/parser/test_data/` (README, "Article extraction", says how to get it). It is not in this
repository nor in CI: set WARCACHE_FUNDUS to that folder, or put it at ../shared/corpora/fundus; the page
tests skip with the reason when it is absent. The loader test makes its own tiny folder in that layout.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest
from conftest import REPO, SHARED

from warcache.extract.article import extract_article

FUNDUS = Path(os.environ.get("WARCACHE_FUNDUS", SHARED / "corpora" / "fundus"))
BENCH = REPO / "scripts" / "bench_extract.py"


@functools.cache
def _bench():
    spec = importlib.util.spec_from_file_location("bench_extract", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@functools.cache
def _fundus_pages() -> dict:
    if not any(FUNDUS.glob("*/*.html.gz")):
        pytest.skip(f"fundus test data not found at {FUNDUS} (set WARCACHE_FUNDUS)")
    return {page.name: page for page in _bench().fundus_pages(FUNDUS, [])}


# Pages where the article was lost or drowned before issue 15, each by a different kind of trouble, with
# the body F1 each must keep (warcache's F1 before the change in brackets).
PAGES = {
    "es-ABC_2026_04_25": 0.95,  # the paywalled body in a hidden element (0.14)
    "tr-AnadoluAjansi_2026_04_20": 0.95,  # the article in a streamed, hidden segment (0.0)
    "de-Golem_2024_04_28": 0.95,  # the library chose a teaser list beside the article (0.20)
    "no-Dagbladet_2026_01_06": 0.9,  # the library chose the next article of an endless page (0.25)
    "jp-Nikkei_2025_01_27": 0.85,  # the library chose a newsletter gate (0.20)
    "de-Gamestar_2024_04_28": 0.7,  # a consent dialog chosen as the article (0.12)
    "uk-TheGuardian_2024_02_24": 0.95,  # an inline newsletter promotion (0.86)
    "us-APNews_2023_04_28": 0.95,  # captions named as captions (0.78)
    "ca-TheProvince_2026_06_06": 0.95,  # a registration wall hidden by class names (0.75)
    "uk-TechRadar_2026_05_21": 0.95,  # paywalled paragraphs hidden from screen readers only (0.90)
    "us-TheGatewayPundit_2026_07_19": 0.93,  # embedded posts' fallback copies (0.80)
    "us-BusinessInsider_2024_02_14": 0.9,  # a slideshow article (0.19)
}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_fundus_page_body_f1(name: str) -> None:
    page = _fundus_pages()[name]
    art = extract_article(page.source, page.url)
    assert _bench().score(art.body_text, page.expected).f1 >= PAGES[name]


def test_fundus_loader_pairs_each_page_with_its_parser_version(tmp_path: Path) -> None:
    bench = _bench()
    country = tmp_path / "xx"
    country.mkdir()
    article = "<p>The river rose faster than anyone expected, and the bridge closed.</p>"
    pages = {
        "Daily_2024_01_02": f"<html><body><h1>Flood</h1>{article}<p>Second paragraph here.</p></body></html>",
        "Daily_2025_03_04": "<html><body><div id=app></div><script>render()</script></body></html>",
    }
    for stem, html in pages.items():
        (country / f"{stem}.html.gz").write_bytes(gzip.compress(html.encode()))
    versions = {
        "V1": {"title": "Old", "body": {"summary": ["Unrelated old text."], "sections": []}},
        "V2": {
            "title": "Flood",
            "body": {
                "summary": ["The river rose faster than anyone expected, and the bridge closed."],
                "sections": [{"headline": [], "paragraphs": ["Second paragraph here."]}],
            },
        },
    }
    (country / "Daily.json").write_text(json.dumps(versions), encoding="utf-8")
    (country / "meta.info").write_text(
        json.dumps({"Daily_2024_01_02.html.gz": {"url": "https://daily.example/flood"}}), encoding="utf-8"
    )
    corpus = bench.load_corpus(f"fundus:{tmp_path}")
    assert [p.name for p in corpus.pages] == ["xx-Daily_2024_01_02"]
    page = corpus.pages[0]
    assert page.expected == (
        "The river rose faster than anyone expected, and the bridge closed.\n\nSecond paragraph here."
    )
    assert (page.url, page.title) == ("https://daily.example/flood", "Flood")
    # A page whose article a script puts there has no expected text in its HTML: skipped, and said so.
    assert corpus.skipped == ["xx-Daily_2025_03_04"]


def test_bench_rejects_a_missing_corpus(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="fundus test data not found"):
        _bench().load_corpus(f"fundus:{tmp_path}")
    with pytest.raises(SystemExit, match="unknown corpus kind"):
        _bench().load_corpus(f"other:{tmp_path}")
