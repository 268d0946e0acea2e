#!/usr/bin/env python3
"""Benchmark article extraction: warcache vs readability-lxml vs trafilatura.

Corpus: the 130 pages of mozilla/readability `test/test-pages/` @ ab4027a8b376 (Apache-2.0), laid out in
`../shared/corpora/readability/test-pages/<name>/` (see shared/corpora/README.md). Each page has
`source.html` (fed to the extractors as if it were the rendered DOM, at readability's test URL
`http://fakehost/test/page.html`), `expected.html` (readability.js's article) and `expected-metadata.json`.

Measures, per page and as means over the pages marked `readerable`:

* body F1: token-level F1 between the extracted body text and the text of `expected.html`. Tokens:
  NFKC-normalise, lowercase, then every run of Unicode word characters (`\\w`) is one token, except that each
  Han ideograph, hiragana or katakana character is a token of its own (CJK text has no spaces, so a run
  would otherwise make a whole sentence one token). The texts are compared as bags (multisets) of tokens:
  precision = |common| / |extracted|, recall = |common| / |expected|. Two empty texts score 1.
* title: `Article.headline` (readability-lxml: `short_title()`, trafilatura: metadata title) equal to
  expected-metadata.json "title" after whitespace normalisation only.
* time: wall-clock milliseconds of one extraction per page (parse included).

Usage: bench_extract.py [--pages NAME ...] [--json] [--only warcache] [--corpus DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import statistics
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import lxml.html

PAGE_URL = "http://fakehost/test/page.html"
DEFAULT_CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpora" / "readability"


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


def tokenize(text: str) -> list[str]:
    """Split text into comparison tokens (see the module docstring for the rule)."""
    return _TOKEN_RE.findall(unicodedata.normalize("NFKC", text).lower())


def f1(predicted: str, expected: str) -> float:
    """Bag-of-tokens F1 between two texts."""
    pred, gold = Counter(tokenize(predicted)), Counter(tokenize(expected))
    if not pred and not gold:
        return 1.0
    common = sum((pred & gold).values())
    if not common:
        return 0.0
    precision, recall = common / sum(pred.values()), common / sum(gold.values())
    return 2 * precision * recall / (precision + recall)


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


@dataclass
class Result:
    f1: float
    title: str
    title_ok: bool
    ms: float
    error: str | None = None


@dataclass
class PageResult:
    name: str
    readerable: bool
    expected_title: str
    by_extractor: dict[str, Result] = field(default_factory=dict)


Extractor = Callable[[str], tuple[str, str]]  # source html -> (body text, headline)


def run_warcache(source: str) -> tuple[str, str]:
    from warcache.extract.article import extract_article

    art = extract_article(source, PAGE_URL)
    return art.body_text, art.headline


def run_readability(source: str) -> tuple[str, str]:
    from readability import Document

    doc = Document(source, url=PAGE_URL)
    title = doc.short_title()
    return html_text(doc.summary(html_partial=True)), title


def run_trafilatura(source: str) -> tuple[str, str]:
    import trafilatura

    doc = trafilatura.bare_extraction(source, url=PAGE_URL, with_metadata=True, include_tables=True)
    if doc is None:
        return "", ""
    return doc.text or "", doc.title or ""


EXTRACTORS: dict[str, Extractor] = {
    "warcache": run_warcache,
    "readability-lxml": run_readability,
    "trafilatura": run_trafilatura,
}


def bench_page(page_dir: Path, names: list[str]) -> PageResult:
    meta = json.loads((page_dir / "expected-metadata.json").read_text(encoding="utf-8"))
    source = (page_dir / "source.html").read_text(encoding="utf-8")
    expected = html_text((page_dir / "expected.html").read_text(encoding="utf-8"))
    res = PageResult(page_dir.name, bool(meta.get("readerable")), norm_ws(meta.get("title")))
    for name in names:
        t0 = time.perf_counter()
        try:
            text, title = EXTRACTORS[name](source)
            error = None
        except Exception as exc:  # a benchmark reports failures instead of stopping
            text, title, error = "", "", f"{type(exc).__name__}: {exc}"
        ms = (time.perf_counter() - t0) * 1000
        title = norm_ws(title)
        res.by_extractor[name] = Result(f1(text, expected), title, title == res.expected_title, ms, error)
    return res


def summarise(results: list[PageResult], names: list[str]) -> dict[str, dict[str, float]]:
    readerable = [r for r in results if r.readerable]
    out: dict[str, dict[str, float]] = {}
    for name in names:
        rs = [r.by_extractor[name] for r in readerable]
        all_ms = [r.by_extractor[name].ms for r in results]
        out[name] = {
            "pages": len(rs),
            "mean_f1": statistics.fmean(r.f1 for r in rs) if rs else 0.0,
            "title_exact": statistics.fmean(r.title_ok for r in rs) if rs else 0.0,
            "mean_ms": statistics.fmean(all_ms) if all_ms else 0.0,
            "max_ms": max(all_ms) if all_ms else 0.0,
        }
    return out


def print_table(results: list[PageResult], names: list[str], summary: dict[str, dict[str, float]]) -> None:
    short = {"warcache": "warc", "readability-lxml": "rdlxml", "trafilatura": "trafi"}
    head = f"{'page':<40} {'R':1}"
    for n in names:
        head += f" | {short[n]:>6} F1  T    ms"
    print(head)
    for r in results:
        line = f"{r.name[:40]:<40} {'y' if r.readerable else 'n'}"
        for n in names:
            x = r.by_extractor[n]
            line += f" | {x.f1:9.3f}  {'=' if x.title_ok else 'x'} {x.ms:5.0f}"
        print(line)
        for n in names:
            x = r.by_extractor[n]
            if x.error:
                print(f"    {n}: {x.error}")
    print()
    print(f"means over {int(next(iter(summary.values()))['pages'])} readerable pages:")
    for n in names:
        s = summary[n]
        print(
            f"  {n:<17} body F1 {s['mean_f1']:.4f}   titles exact {s['title_exact'] * 100:5.1f}%"
            f"   time/page mean {s['mean_ms']:6.1f} ms, max {s['max_ms']:6.0f} ms"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--pages", nargs="+", metavar="NAME", help="only these test pages")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--only", nargs="+", choices=list(EXTRACTORS), help="only these extractors")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="readability corpus folder")
    ap.add_argument("--show-titles", action="store_true", help="print titles that do not match")
    args = ap.parse_args(argv)

    pages_dir = args.corpus / "test-pages"
    if not pages_dir.is_dir():
        print(f"corpus not found: {pages_dir}", file=sys.stderr)
        return 2
    logging.disable(logging.CRITICAL)  # the extractors log every failure; the table says it better
    names = args.only or list(EXTRACTORS)
    dirs = sorted(p for p in pages_dir.iterdir() if p.is_dir())
    if args.pages:
        wanted = set(args.pages)
        dirs = [d for d in dirs if d.name in wanted]
        missing = wanted - {d.name for d in dirs}
        if missing:
            print(f"unknown pages: {', '.join(sorted(missing))}", file=sys.stderr)
            return 2
    # Warm imports so the first page's time is not the import time.
    for name in names:
        with contextlib.suppress(Exception):
            EXTRACTORS[name]("<html><head><title>x</title></head><body><p>warm up</p></body></html>")
    results = [bench_page(d, names) for d in dirs]
    summary = summarise(results, names)
    if args.json:
        print(json.dumps({"summary": summary, "pages": [asdict(r) for r in results]}, indent=1))
    else:
        print_table(results, names, summary)
        if args.show_titles:
            for r in results:
                for n in names:
                    x = r.by_extractor[n]
                    if r.readerable and not x.title_ok:
                        print(f"{r.name} [{n}]\n   got {x.title!r}\n  want {r.expected_title!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
