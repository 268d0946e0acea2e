#!/usr/bin/env python3
"""Benchmark article extraction: warcache vs readability-lxml vs trafilatura, on one or more corpora.

Corpora, each given as `--corpus KIND:DIR` (repeatable; default: the readability corpus in ../shared):

* `readability:DIR`: the 130 pages of mozilla/readability `test/test-pages/` @ ab4027a8b376 (Apache-2.0),
  laid out in `DIR/test-pages/<name>/` (see shared/corpora/README.md): `source.html`, `expected.html`
  (readability.js's article) and `expected-metadata.json`. Only pages marked `readerable` count. Page URL:
  readability's test URL `http://fakehost/test/page.html`.
* `fundus:DIR`: the parser test data of flairNLP/fundus (MIT), DIR being its
  `tests/resources/parser/test_data/` folder, unchanged (README, "Extraction benchmark", says how to get
  it): `<country>/<Publisher>_<date>.html.gz` (a news article as fetched, no script run),
  `<country>/<Publisher>.json` (the article body fundus's hand-written per-publisher parser extracts, per
  parser version) and `<country>/meta.info` (each page's URL). The expected text is the body's summary,
  then each section's headline and paragraphs. Each page is paired with the parser version whose body its
  text contains best; a page whose expected text is mostly not in its static HTML (token recall < 0.9:
  the article is put there by a script) is left out and counted as skipped.

The two disagree about captions: readability.js keeps figure captions in the article, fundus never puts
them in the body (it keeps images and captions in a field of their own). warcache keeps captions as
captions, in `body_html`, and leaves them out of `body_text`; the row "warcache +captions" scores the text
of `body_html` instead, with the captions, from the same extraction.

Input: every extractor gets the same input, the page as text, decoded from UTF-8. Both corpora store their
pages as UTF-8 whatever `<meta charset>` says; a few declare another charset, so handing out bytes would
make an extractor that sniffs `<meta charset>` (as warcache does for WARC bytes) misread them.

Measures, per page and as means over the pages (macro averages):

* body tokens: NFKC-normalise, lowercase, then every run of Unicode word characters (`\\w`) is one token,
  except that each Han ideograph, hiragana or katakana character is a token of its own (CJK text has no
  spaces, so a run would otherwise make a whole sentence one token). The extracted body text and the
  expected text are compared as bags (multisets) of tokens: precision P = |common| / |extracted|, recall
  R = |common| / |expected|, F1 their harmonic mean. Two empty texts score 1.
* title: `Article.headline` (readability-lxml: `short_title()`, trafilatura: metadata title) equal to the
  expected title after whitespace normalisation only.
* time: CPU milliseconds of one extraction per page (parse included), of this process only, so that other
  work on the machine does not count (the extractors do no I/O).

Usage: bench_extract.py [--corpus KIND:DIR ...] [--pages NAME ...] [--only NAME ...] [--per-page] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import logging
import re
import statistics
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import lxml.html

PAGE_URL = "http://fakehost/test/page.html"
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DEFAULT_CORPUS = SHARED / "corpora" / "readability"
FUNDUS_MIN_IN_DOM = 0.9  # a fundus page whose expected tokens are less in its HTML than this is skipped


def _tags(names: str) -> frozenset[str]:
    """A set of tag names written as one space-separated string (easier to read than a long literal)."""
    return frozenset(names.split())


_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
_TOKEN_RE = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+")
_BLOCK_TAGS = _tags(
    "address article aside blockquote br dd details dialog div dl dt fieldset figcaption figure "
    "footer form h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section table tbody td th "
    "thead tfoot tr ul"
)


# ---------------------------------------------------------------- scoring


def tokenize(text: str) -> list[str]:
    """Split text into comparison tokens (see the module docstring for the rule)."""
    return _TOKEN_RE.findall(unicodedata.normalize("NFKC", text).lower())


@dataclass
class Score:
    p: float
    r: float
    f1: float


def score(predicted: str, expected: str) -> Score:
    """Bag-of-tokens precision, recall and F1 of a text against the expected one."""
    pred, gold = Counter(tokenize(predicted)), Counter(tokenize(expected))
    if not pred and not gold:
        return Score(1.0, 1.0, 1.0)
    common = sum((pred & gold).values())
    if not common:
        return Score(0.0, 0.0, 0.0)
    precision, recall = common / sum(pred.values()), common / sum(gold.values())
    return Score(precision, recall, 2 * precision * recall / (precision + recall))


def f1(predicted: str, expected: str) -> float:
    """Bag-of-tokens F1 between two texts."""
    return score(predicted, expected).f1


def html_text(html: str) -> str:
    """Text of an HTML fragment with block boundaries kept as newlines.

    Independent of warcache's own renderer on purpose, so the reference text does not share its bugs.
    """
    if not html or not html.strip():
        return ""
    root = lxml.html.fromstring(html)
    parts: list[str] = []

    def walk(el: lxml.html.HtmlElement) -> None:
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag in ("script", "style", "template"):
            if el.tail:
                parts.append(el.tail)
            return
        block = tag in _BLOCK_TAGS
        if block:
            parts.append("\n")
        if isinstance(el.tag, str) and el.text:
            parts.append(el.text)
        for child in el:
            walk(child)
        if block:
            parts.append("\n")
        if el.tail:
            parts.append(el.tail)

    walk(root)
    return "".join(parts)


def norm_ws(s: str | None) -> str:
    return " ".join((s or "").split())


# ---------------------------------------------------------------- corpora


@dataclass
class Page:
    name: str
    url: str
    source: str
    expected: str
    title: str
    counted: bool = True  # readability: only readerable pages count in the means


def readability_pages(folder: Path) -> Iterator[Page]:
    pages_dir = folder / "test-pages"
    for d in sorted(p for p in pages_dir.iterdir() if p.is_dir()):
        meta = json.loads((d / "expected-metadata.json").read_text(encoding="utf-8"))
        yield Page(
            d.name,
            PAGE_URL,
            (d / "source.html").read_text(encoding="utf-8"),
            html_text((d / "expected.html").read_text(encoding="utf-8")),
            norm_ws(meta.get("title")),
            bool(meta.get("readerable")),
        )


def fundus_body(body: dict) -> str:
    """fundus's article body as text: the summary, then each section's headline and paragraphs."""
    blocks = list(body.get("summary") or [])
    for section in body.get("sections") or []:
        blocks += (section.get("headline") or []) + (section.get("paragraphs") or [])
    return "\n\n".join(b.strip() for b in blocks if b and b.strip())


def _static_text(html: str) -> str:
    """The text of a page's HTML outside scripts and styles, to see whether an expected text is there."""
    try:
        root = lxml.html.document_fromstring(html)
    except (lxml.etree.ParserError, ValueError):
        return ""
    for el in root.xpath("//script|//style|//template|//head"):
        el.drop_tree()
    return root.text_content()


def _recall(expected: str, text: str) -> float:
    gold = Counter(tokenize(expected))
    found = sum((gold & Counter(tokenize(text))).values())
    return found / sum(gold.values()) if gold else 0.0


def fundus_pages(folder: Path, skipped: list[str]) -> Iterator[Page]:
    for country in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("_")):
        info_path = country / "meta.info"
        info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
        for gz in sorted(country.glob("*.html.gz")):
            publisher = gz.name.split("_", 1)[0]
            expected_path = country / f"{publisher}.json"
            if not expected_path.exists():
                continue
            versions = json.loads(expected_path.read_text(encoding="utf-8"))
            html = gzip.decompress(gz.read_bytes()).decode("utf-8")
            name = f"{country.name}-{gz.name.removesuffix('.html.gz')}"
            page_text = _static_text(html)
            candidates = [
                (_recall(text, page_text), text, version.get("title"))
                for version in versions.values()
                if isinstance(version, dict) and version.get("body")
                for text in [fundus_body(version["body"])]
            ]
            if not candidates:
                continue
            in_dom, expected, title = max(candidates, key=lambda c: c[0])
            if in_dom < FUNDUS_MIN_IN_DOM:
                skipped.append(name)
                continue
            url = info.get(gz.name, {}).get("url") or f"http://fakehost/{name}.html"
            yield Page(name, url, html, expected, norm_ws(title))


@dataclass
class Corpus:
    label: str
    pages: list[Page]
    skipped: list[str] = field(default_factory=list)


def load_corpus(spec: str) -> Corpus:
    """A corpus from `KIND:DIR` (see the module docstring)."""
    kind, _, folder_name = spec.partition(":")
    folder = Path(folder_name) if folder_name else DEFAULT_CORPUS
    if kind == "readability":
        if not (folder / "test-pages").is_dir():
            raise SystemExit(f"readability corpus not found: {folder / 'test-pages'}")
        return Corpus("readability", list(readability_pages(folder)))
    if kind == "fundus":
        if not folder.is_dir() or not any(folder.glob("*/*.html.gz")):
            raise SystemExit(
                f"fundus test data not found in {folder}: want <country>/<Publisher>_<date>.html.gz"
                " (flairNLP/fundus tests/resources/parser/test_data)"
            )
        skipped: list[str] = []
        pages = list(fundus_pages(folder, skipped))
        return Corpus("fundus", pages, skipped)
    raise SystemExit(f"unknown corpus kind {kind!r} in {spec!r} (readability or fundus)")


# ---------------------------------------------------------------- extractors


@dataclass
class Extraction:
    text: str
    title: str
    variants: dict[str, str] = field(default_factory=dict)  # more rows scored from the same extraction


def run_warcache(source: str, url: str = PAGE_URL) -> Extraction:
    from warcache.extract.article import extract_article, html_to_text

    art = extract_article(source, url)
    with_captions = html_to_text(lxml.html.fragment_fromstring(art.body_html, create_parent="div"))
    return Extraction(art.body_text, art.headline, {"warcache +captions": with_captions})


def run_readability(source: str, url: str = PAGE_URL) -> tuple[str, str]:
    from readability import Document

    doc = Document(source, url=url)
    title = doc.short_title()
    return html_text(doc.summary(html_partial=True)), title


def run_trafilatura(source: str, url: str = PAGE_URL) -> tuple[str, str]:
    import trafilatura

    doc = trafilatura.bare_extraction(source, url=url, with_metadata=True, include_tables=True)
    if doc is None:
        return "", ""
    return doc.text or "", doc.title or ""


Extractor = Callable[[str, str], "Extraction | tuple[str, str]"]
EXTRACTORS: dict[str, Extractor] = {
    "warcache": run_warcache,
    "readability-lxml": run_readability,
    "trafilatura": run_trafilatura,
}
SHORT = {
    "warcache": "warc",
    "warcache +captions": "warc+c",
    "readability-lxml": "rdlxml",
    "trafilatura": "trafi",
}


# ---------------------------------------------------------------- running


@dataclass
class Result:
    p: float
    r: float
    f1: float
    title: str
    title_ok: bool
    ms: float
    error: str | None = None


@dataclass
class PageResult:
    name: str
    counted: bool
    expected_title: str
    by_extractor: dict[str, Result] = field(default_factory=dict)


def bench_page(page: Page, names: list[str]) -> PageResult:
    res = PageResult(page.name, page.counted, page.title)
    for name in names:
        t0 = time.process_time()
        try:
            out = EXTRACTORS[name](page.source, page.url)
            error = None
        except Exception as exc:  # a benchmark reports failures instead of stopping
            out, error = ("", ""), f"{type(exc).__name__}: {exc}"
        ms = (time.process_time() - t0) * 1000
        extraction = out if isinstance(out, Extraction) else Extraction(*out)
        title = norm_ws(extraction.title)
        rows = {name: extraction.text, **extraction.variants}
        for row, text in rows.items():
            s = score(text, page.expected)
            res.by_extractor[row] = Result(s.p, s.r, s.f1, title, title == page.title, ms, error)
    return res


def summarise(results: list[PageResult]) -> dict[str, dict[str, float]]:
    counted = [r for r in results if r.counted]
    rows = list(results[0].by_extractor) if results else []
    out: dict[str, dict[str, float]] = {}
    for row in rows:
        rs = [r.by_extractor[row] for r in counted]
        all_ms = [r.by_extractor[row].ms for r in results]
        out[row] = {
            "pages": len(rs),
            "mean_f1": statistics.fmean(x.f1 for x in rs) if rs else 0.0,
            "mean_p": statistics.fmean(x.p for x in rs) if rs else 0.0,
            "mean_r": statistics.fmean(x.r for x in rs) if rs else 0.0,
            "pages_p_below_95": sum(x.p < 0.95 for x in rs),
            "title_exact": statistics.fmean(x.title_ok for x in rs) if rs else 0.0,
            "mean_ms": statistics.fmean(all_ms) if all_ms else 0.0,
            "max_ms": max(all_ms) if all_ms else 0.0,
        }
    return out


def print_pages(corpus: Corpus, results: list[PageResult]) -> None:
    rows = list(results[0].by_extractor) if results else []
    head = f"{corpus.label + ' page':<44} {'c':1}"
    for n in rows:
        head += f" | {SHORT.get(n, n):>6}  F1    P    R"
    print(head)
    for r in results:
        line = f"{r.name[:44]:<44} {'y' if r.counted else 'n'}"
        for n in rows:
            x = r.by_extractor[n]
            line += f" | {x.f1:10.3f} {x.p:4.2f} {x.r:4.2f}"
        print(line)
        for n in rows:
            if r.by_extractor[n].error:
                print(f"    {n}: {r.by_extractor[n].error}")
    print()


def print_summary(summaries: dict[str, dict[str, dict[str, float]]], skipped: dict[str, list[str]]) -> None:
    print(f"{'corpus':<12} {'extractor':<19} {'pages':>5} {'body F1':>8} {'P':>7} {'R':>7} {'P<.95':>6} "
          f"{'titles':>7} {'CPU ms':>8} {'max ms':>7}")
    for label, summary in summaries.items():
        for name, s in summary.items():
            print(f"{label:<12} {name:<19} {int(s['pages']):>5} {s['mean_f1']:8.4f} {s['mean_p']:7.4f} "
                  f"{s['mean_r']:7.4f} {int(s['pages_p_below_95']):>6} {s['title_exact'] * 100:6.1f}% "
                  f"{s['mean_ms']:8.1f} {s['max_ms']:7.0f}")
        if skipped.get(label):
            print(f"{label:<12} skipped (expected text not in the static HTML): {', '.join(skipped[label])}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--corpus", action="append", metavar="KIND:DIR",
                    help=f"readability:DIR or fundus:DIR, repeatable (default readability:{DEFAULT_CORPUS})")
    ap.add_argument("--pages", nargs="+", metavar="NAME", help="only these pages (of any corpus)")
    ap.add_argument("--only", nargs="+", choices=list(EXTRACTORS), help="only these extractors")
    ap.add_argument("--per-page", action="store_true", help="print every page's scores")
    ap.add_argument("--json", action="store_true", help="print JSON instead of tables")
    ap.add_argument("--show-titles", action="store_true", help="print titles that do not match")
    args = ap.parse_args(argv)

    corpora = [load_corpus(spec) for spec in args.corpus or [f"readability:{DEFAULT_CORPUS}"]]
    if args.pages:
        wanted = set(args.pages)
        for corpus in corpora:
            corpus.pages = [p for p in corpus.pages if p.name in wanted]
        missing = wanted - {p.name for c in corpora for p in c.pages}
        if missing:
            print(f"unknown pages: {', '.join(sorted(missing))}", file=sys.stderr)
            return 2
    logging.disable(logging.CRITICAL)  # the extractors log every failure; the table says it better
    names = args.only or list(EXTRACTORS)
    # Warm imports so the first page's time is not the import time.
    warm_up = "<html><head><title>x</title></head><body><p>warm up</p></body></html>"
    for name in names:
        with contextlib.suppress(Exception):
            EXTRACTORS[name](warm_up, PAGE_URL)
    summaries: dict[str, dict[str, dict[str, float]]] = {}
    everything: dict[str, list[dict]] = {}
    for corpus in corpora:
        results = [bench_page(page, names) for page in corpus.pages]
        summaries[corpus.label] = summarise(results)
        everything[corpus.label] = [asdict(r) for r in results]
        if args.per_page and not args.json:
            print_pages(corpus, results)
        if args.show_titles:
            for r in results:
                for n, x in r.by_extractor.items():
                    if r.counted and not x.title_ok and n in names:
                        print(f"{r.name} [{n}]\n   got {x.title!r}\n  want {r.expected_title!r}")
    skipped = {c.label: c.skipped for c in corpora}
    if args.json:
        print(json.dumps({"summary": summaries, "skipped": skipped, "pages": everything}, indent=1))
    else:
        print_summary(summaries, skipped)
    return 0


if __name__ == "__main__":
    sys.exit(main())
