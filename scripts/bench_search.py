#!/usr/bin/env python3
"""Benchmark warcache's full-text index (Whoosh) against SQLite FTS5 on the same documents.

    .venv/bin/python scripts/bench_search.py                 # 10k documents
    nice .venv/bin/python scripts/bench_search.py --docs 100000
    # build once into a kept directory, then time queries again without rebuilding:
    nice .venv/bin/python scripts/bench_search.py --docs 100000 --workdir /tmp/b100k
    nice .venv/bin/python scripts/bench_search.py --docs 100000 --workdir /tmp/b100k --reuse

Prints, for both engines in the same run: indexing documents/s, query p50/p95 over a fixed mix
of queries (single words, two words, phrases, site:, title:, after:), and the ratio.

Documents: ~3 KB English-like pages generated deterministically from --seed by a word-bigram
(Markov) model.  The model is trained on the article texts of Mozilla Readability's test pages
(`expected.html` in ../shared/corpora/readability/test-pages, from mozilla/readability
test/test-pages @ ab4027a8b376, Apache-2.0), so word frequencies and word pairs are those of real
articles; when that folder is absent a synthetic Zipf vocabulary is used instead (and said so).

What is timed, for fairness:
  * Whoosh: `FullTextIndex.rebuild()` (the real code path, two writer processes by default) and
    `FullTextIndex.search()` (parse, search, stored fields, snippet with highlight spans), all in
    one process that keeps its searcher open, as a server would.  Each `warcache search` is a
    process of its own, so --cold N also runs N queries of the mix in fresh processes and reports
    the first search there (opening the index and reading its per-segment tables included).
  * FTS5: one transaction of INSERTs into an FTS5 table (unicode61, diacritics folded) plus a
    metadata table indexed for site:/after:; queries select the top 20 by bm25() with the same
    field weights, and snippet() of the body.  FTS5 gets no English variations (Whoosh does).
Document generation happens once, before either engine is timed (documents go to a JSONL file).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from warcache.search import query as wcq
from warcache.search.analysis import TEXT_PARTS
from warcache.search.index import FullTextIndex, PageDoc

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpora" / "readability" / "test-pages"
WORD_RE = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*|\d+|[.!?,;:]")
END = {".", "!", "?"}
TLDS = ("com", "org", "net", "co.uk", "de", "io", "fr", "news")
SUBDOMAINS = ("www", "www", "www", "blog", "news", "docs", "", "", "en", "shop")


# --------------------------------------------------------------------------- document generation


class Model:
    """A word-bigram model: for each word, the words that followed it (with repeats, for weights)."""

    def __init__(self, follows: dict[str, list[str]], starts: list[str], counts: Counter[str], origin: str):
        self.follows = follows
        self.starts = starts
        self.counts = counts
        self.origin = origin

    def sentence(self, rng: random.Random, max_words: int = 28) -> list[str]:
        word = rng.choice(self.starts)
        out = [word]
        while len(out) < max_words:
            nxt = self.follows.get(word)
            if not nxt:
                break
            word = rng.choice(nxt)
            out.append(word)
            if word in END:
                break
        if out[-1] not in END:
            out.append(".")
        return out


def _join(words: list[str]) -> str:
    text = " ".join(words)
    text = re.sub(r" ([.!?,;:])", r"\1", text)
    return text[:1].upper() + text[1:]


def corpus_model() -> Model:
    """Train on the readability test pages' expected article texts (all languages, mostly English)."""
    import lxml.html

    follows: dict[str, list[str]] = defaultdict(list)
    starts: list[str] = []
    counts: Counter[str] = Counter()
    for page in sorted(CORPUS.iterdir()):
        expected = page / "expected.html"
        if not expected.is_file():
            continue
        text = lxml.html.fromstring(expected.read_bytes()).text_content()
        words = [w.lower() if not w.isupper() else w for w in WORD_RE.findall(text)]
        counts.update(w for w in words if w not in END and w not in ",;:")
        prev = "."
        for word in words:
            if prev in END and word not in END and word.isalpha():
                starts.append(word)
            follows[prev].append(word)
            prev = word
    return Model(dict(follows), starts, counts, f"bigrams of {CORPUS} (mozilla/readability @ ab4027a8b376)")


def synthetic_model(rng: random.Random) -> Model:
    """Fallback: 20k pseudo-words with Zipf frequencies and random successors."""
    syllables = [c + v for c in "bcdfghklmnprstvwz" for v in "aeiou"] + ["th", "er", "an", "ing", "st"]
    vocab = sorted({"".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(25000)})
    rng.shuffle(vocab)
    weights = [1 / (rank + 1) for rank in range(len(vocab))]
    pool = rng.choices(vocab, weights, k=400_000)
    follows: dict[str, list[str]] = defaultdict(list)
    for a, b in zip(pool, pool[1:], strict=False):
        follows[a].append(b if rng.random() > 0.07 else ".")
    follows["."] = pool[:5000]
    return Model(dict(follows), pool[:5000], Counter(pool), "synthetic Zipf vocabulary (corpus absent)")


def make_hosts(model: Model, rng: random.Random, n: int = 400) -> list[str]:
    words = [w for w, c in model.counts.most_common(4000) if w.isascii() and w.isalpha() and len(w) > 3]
    hosts = set()
    while len(hosts) < n:
        name = rng.choice(words) + rng.choice(["", rng.choice(words)])
        sub = rng.choice(SUBDOMAINS)
        hosts.add(".".join(p for p in (sub, name, rng.choice(TLDS)) if p))
    return sorted(hosts)


def generate(model: Model, n: int, seed: int) -> Iterator[PageDoc]:
    """`n` pages: ~3 KB body, title, headline, boilerplate around the body in full_text."""
    rng = random.Random(seed)
    hosts = make_hosts(model, rng)
    host_weights = [1 / (i + 1) ** 0.8 for i in range(len(hosts))]  # a few big sites, a long tail
    start = time.mktime((2019, 1, 1, 0, 0, 0, 0, 0, 0))
    span = time.mktime((2025, 12, 31, 0, 0, 0, 0, 0, 0)) - start
    for i in range(n):
        host = rng.choices(hosts, host_weights)[0]
        title = _join(model.sentence(rng, max_words=rng.randint(4, 10))[:-1])
        headline = _join(model.sentence(rng, max_words=30))
        paragraphs, size = [], 0
        target = int(rng.gauss(3000, 500))
        while size < target:
            para = " ".join(_join(model.sentence(rng)) for _ in range(rng.randint(2, 6)))
            paragraphs.append(para)
            size += len(para) + 2
        body = "\n\n".join(paragraphs)
        nav = f"{host} Home News Opinion Sport Culture About Contact Subscribe Sign in"
        foot = f"© {host}. All rights reserved. Privacy policy Terms of use Cookie settings"
        ts = time.strftime("%Y%m%d%H%M%S", time.gmtime(start + rng.random() * span))
        path = "-".join(re.findall(r"\w+", title.lower())[:6])
        url = f"https://{host}/{ts[:4]}/{ts[4:6]}/{path}-{i}"
        yield PageDoc(
            url=url,
            hash_url=f"{i:08x}",
            title=title,
            headline=headline,
            body=body,
            full_text=f"{title}\n{nav}\n{headline}\n{body}\n{foot}",
            domain=host,
            timestamp=ts,
            collection="bench",
            language="en",
            warc_filename=f"bench-{i // 1000:05d}.warc.gz",
            warc_offset=i * 4096,
        )


def read_docs(path: Path) -> Iterator[PageDoc]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            yield PageDoc(**json.loads(line))


# --------------------------------------------------------------------------- the query mix


def query_mix(model: Model, hosts: list[str], seed: int, per_kind: int = 10) -> list[tuple[str, str]]:
    """(kind, query) pairs, fixed by the seed: the same queries for both engines."""
    rng = random.Random(seed + 1)
    ranked = [w for w, _ in model.counts.most_common() if w.isalpha() and len(w) > 2]
    common, medium, rare = ranked[30:300], ranked[300:3000], ranked[3000:20000] or ranked[-500:]
    pairs = [
        (a, b)
        for a, nexts in model.follows.items()
        if a.isalpha() and len(a) > 3
        for b in set(nexts)
        if b.isalpha() and len(b) > 3 and nexts.count(b) >= 3
    ]
    pairs.sort()
    mix: list[tuple[str, str]] = []
    for _ in range(per_kind):
        mix.append(("word", rng.choice([rng.choice(common), rng.choice(medium), rng.choice(rare)])))
        mix.append(("two words", f"{rng.choice(common)} {rng.choice(medium)}"))
        a, b = rng.choice(pairs)
        mix.append(("phrase", f'"{a} {b}"'))
        site = ".".join(rng.choice(hosts[:60]).split(".")[-3:]).removeprefix("www.")
        mix.append(("site:", f"{rng.choice(medium)} site:{site}"))
        mix.append(("title:", f"title:{rng.choice(common + medium)}"))
        month = f"{rng.randint(2019, 2025)}-{rng.randint(1, 12):02d}"
        mix.append(("after:", f"{rng.choice(medium)} after:{month}"))
    return mix


# --------------------------------------------------------------------------- engines


Mix = list[tuple[str, str]]


def bench_whoosh(args: argparse.Namespace, docs_path: Path, workdir: Path, mix: Mix) -> dict:
    index = FullTextIndex(
        workdir / "whoosh", "bench", procs=args.procs, limitmb=args.limitmb, multisegment=args.multisegment
    )
    if args.reuse and index.count():
        count, build, cpu = index.count(), float("nan"), float("nan")  # built by an earlier run
    else:
        t0 = time.perf_counter()
        cpu0 = _cpu_seconds()
        count = index.rebuild(read_docs(docs_path))
        build = time.perf_counter() - t0
        cpu = _cpu_seconds() - cpu0
    size = sum(f.stat().st_size for f in (workdir / "whoosh").rglob("*") if f.is_file())
    timings, hits = run_queries(lambda q: len(index.search(q, limit=20)), mix, args.rounds)
    index.close()
    cold = cold_searches(workdir / "whoosh", mix, args.cold)
    return {
        "count": count,
        "build_s": build,
        "cpu_s": cpu,
        "bytes": size,
        "timings": timings,
        "hits": hits,
        "cold": cold,
    }


COLD = """
import sys, time
t0 = time.perf_counter()
from pathlib import Path
from warcache.search.index import FullTextIndex
t1 = time.perf_counter()
index = FullTextIndex(Path(sys.argv[1]), "bench")
index.search(sys.argv[2], limit=20)
t2 = time.perf_counter()
index.search(sys.argv[2], limit=20)
t3 = time.perf_counter()
print((t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000)
"""


def cold_searches(index_dir: Path, mix: Mix, n: int) -> list[tuple[float, float, float]]:
    """(import ms, first search ms, same search again ms) for n queries, each in a fresh process."""
    import subprocess

    out = []
    for _, query in mix[:n]:
        done = subprocess.run(
            [sys.executable, "-c", COLD, str(index_dir), query], capture_output=True, text=True, check=True
        )
        imp, first, again = (float(x) for x in done.stdout.split())
        out.append((imp, first, again))
    return out


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the Whoosh writer processes)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def fts_setup(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
        CREATE VIRTUAL TABLE pages USING fts5(title, headline, body, full_text,
            tokenize='unicode61 remove_diacritics 2');
        CREATE TABLE meta(id INTEGER PRIMARY KEY, url TEXT, rhost TEXT, ts INTEGER);
        CREATE INDEX meta_rhost ON meta(rhost);
        CREATE INDEX meta_ts ON meta(ts);
        """
    )


def fts_build(db: sqlite3.Connection, docs_path: Path) -> tuple[int, float, float]:
    """Index every document in one transaction: (count, wall seconds, CPU seconds)."""
    fts_setup(db)
    t0 = time.perf_counter()
    cpu0 = _cpu_seconds()
    count = 0
    with db:
        for i, doc in enumerate(read_docs(docs_path)):
            db.execute(
                "INSERT INTO pages(rowid, title, headline, body, full_text) VALUES (?,?,?,?,?)",
                (i, doc.title, doc.headline, doc.body, doc.full_text),
            )
            rhost = ".".join(reversed(wcq.normalize_host(doc.domain).split(".")))
            db.execute("INSERT INTO meta VALUES (?,?,?,?)", (i, doc.url, rhost, int(doc.timestamp)))
            count += 1
    return count, time.perf_counter() - t0, _cpu_seconds() - cpu0


def bench_fts5(args: argparse.Namespace, docs_path: Path, workdir: Path, mix: Mix) -> dict:
    path = workdir / "fts5.sqlite"
    if args.reuse and path.is_file():
        db = sqlite3.connect(path)
        count = db.execute("SELECT count(*) FROM meta").fetchone()[0]
        build = cpu = float("nan")
    else:
        for old in workdir.glob("fts5.sqlite*"):
            old.unlink()
        db = sqlite3.connect(path)
        count, build, cpu = fts_build(db, docs_path)
    size = sum(f.stat().st_size for f in workdir.glob("fts5.sqlite*"))
    weights = ", ".join(str(w) for _, w in TEXT_PARTS)

    def search(text: str) -> int:
        match, where, params = fts_translate(wcq.parse_query(text))
        sql = (
            "SELECT meta.url, meta.ts, pages.title, snippet(pages, 2, char(2), char(3), '…', 32) "
            "FROM pages JOIN meta ON meta.id = pages.rowid "
            f"WHERE pages MATCH ? {where} ORDER BY bm25(pages, {weights}) LIMIT 20"
        )
        return len(db.execute(sql, [match, *params]).fetchall())

    timings, hits = run_queries(search, mix, args.rounds)
    db.close()
    return {"count": count, "build_s": build, "cpu_s": cpu, "bytes": size, "timings": timings, "hits": hits}


def _fts_terms(text: str, prefix: bool = False) -> str:
    words = re.findall(r"\w+", text.lower())
    if not words:
        return ""
    quoted = '"' + " ".join(words) + '"'
    return quoted + "*" if prefix else quoted


def _fts_expr(node: wcq.Node) -> str:
    if isinstance(node, wcq.Word):
        expr = _fts_terms(node.text, node.prefix)
        return f"title : {expr}" if node.field == "title" else expr
    if isinstance(node, wcq.Phrase):
        expr = _fts_terms(node.text)
        return f"title : {expr}" if node.field == "title" else expr
    if isinstance(node, wcq.Or):
        return "(" + " OR ".join(filter(None, map(_fts_expr, node.items))) + ")"
    if isinstance(node, wcq.And):
        pos = [_fts_expr(i) for i in node.items if not isinstance(i, wcq.Not)]
        neg = [_fts_expr(i.item) for i in node.items if isinstance(i, wcq.Not)]
        expr = "(" + " AND ".join(filter(None, pos)) + ")"
        return expr + "".join(f" NOT {n}" for n in neg if n)
    raise ValueError(f"FTS5 translation does not handle {node!r} here")


def fts_translate(node: wcq.Node) -> tuple[str, str, list]:
    """(MATCH expression, extra SQL conditions, parameters) for the bench's query shapes."""
    items = list(node.items) if isinstance(node, wcq.And) else [node]
    text = [i for i in items if isinstance(i, wcq.Word | wcq.Phrase | wcq.Or | wcq.And | wcq.Not)]
    where, params = "", []
    for item in items:
        if isinstance(item, wcq.Site):
            rhost = ".".join(reversed(item.host.split(".")))
            where += " AND (meta.rhost = ? OR (meta.rhost > ? AND meta.rhost < ?))"
            params += [rhost, rhost + ".", rhost + "/"]
        elif isinstance(item, wcq.DateRange):
            if item.low is not None:
                where += " AND meta.ts >= ?"
                params.append(item.low)
            if item.high is not None:
                where += " AND meta.ts <= ?"
                params.append(item.high)
    match = _fts_expr(wcq.And(tuple(text))) if len(text) > 1 else _fts_expr(text[0])
    return match, where, params


# --------------------------------------------------------------------------- timing and report


def run_queries(search, mix: list[tuple[str, str]], rounds: int) -> tuple[dict[str, list[float]], int]:
    """Run the mix once to warm caches, then `rounds` timed passes; times in ms by kind."""
    for _, q in mix:
        search(q)
    timings: dict[str, list[float]] = defaultdict(list)
    hits = 0
    for _ in range(rounds):
        for kind, q in mix:
            t0 = time.perf_counter()
            hits += search(q)
            timings[kind].append((time.perf_counter() - t0) * 1000)
    return timings, hits


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def report(args: argparse.Namespace, gen_s: float, model: Model, w: dict, f: dict | None) -> None:
    print(f"\ndocuments: {w['count']} (generated in {gen_s:.1f} s from {model.origin})")
    print(f"whoosh writer: procs={args.procs} limitmb={args.limitmb} multisegment={args.multisegment}")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores, load average now {load} (other work shares the cores)")
    print(f"query mix: {sum(len(v) for v in w['timings'].values())} timed queries ({args.rounds} rounds)\n")
    cols = ["Whoosh", "FTS5", "Whoosh/FTS5"] if f else ["Whoosh"]
    print(f"{'':28}" + "".join(f"{c:>14}" for c in cols))

    def row(label: str, a: float, b: float | None, fmt: str = "{:.1f}") -> None:
        cells = [fmt.format(a)]
        if b is not None:
            cells += [fmt.format(b), f"{a / b:.2f}x" if b else "-"]
        print(f"{label:28}" + "".join(f"{c:>14}" for c in cells))

    row("index build, wall (s)", w["build_s"], f and f["build_s"])
    row("index build, CPU (s)", w["cpu_s"], f and f["cpu_s"])
    row("indexing (docs/s)", w["count"] / w["build_s"], f and f["count"] / f["build_s"], "{:.0f}")
    row("index size (MB)", w["bytes"] / 1e6, f and f["bytes"] / 1e6)
    allw = [t for ts in w["timings"].values() for t in ts]
    allf = [t for ts in f["timings"].values() for t in ts] if f else None
    row("query p50 (ms)", pct(allw, 50), allf and pct(allf, 50), "{:.2f}")
    row("query p95 (ms)", pct(allw, 95), allf and pct(allf, 95), "{:.2f}")
    for kind, times in w["timings"].items():
        other = f["timings"][kind] if f else None
        row(f"  {kind} p95 (ms)", pct(times, 95), other and pct(other, 95), "{:.2f}")
    fts_hits = f", fts5 {f['hits']}" if f else ""
    print(f"\nresults returned (sum over timed queries): whoosh {w['hits']}{fts_hits}")
    if w["cold"]:
        imp, first, again = (sorted(col)[len(col) // 2] for col in zip(*w["cold"], strict=True))
        print(
            f"whoosh in a fresh process (median of {len(w['cold'])} queries of the mix): "
            f"import {imp:.0f} ms, first search {first:.1f} ms (opens the index), "
            f"the same search again {again:.1f} ms"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=10_000, help="number of documents (default 10000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="timed passes over the query mix")
    parser.add_argument("--procs", type=int, help="Whoosh writer processes (default: min(2, cores))")
    parser.add_argument("--limitmb", type=int, default=256, help="Whoosh writer memory per process (MB)")
    parser.add_argument(
        "--single-segment", dest="multisegment", action="store_false", help="merge the writers' segments"
    )
    parser.add_argument("--no-fts5", action="store_true", help="skip the SQLite FTS5 comparison")
    parser.add_argument(
        "--cold", type=int, default=6, help="queries of the mix to time in fresh processes (0: none)"
    )
    parser.add_argument("--workdir", type=Path, help="keep the indexes here (default: a temp dir, removed)")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="with --workdir: query the documents and indexes an earlier run left there instead of "
        "building them again (to iterate on query speed; build times then show as nan)",
    )
    args = parser.parse_args()
    args.procs = args.procs or max(1, min(2, os.cpu_count() or 1))
    if args.reuse and not args.workdir:
        parser.error("--reuse needs --workdir")

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="warcache-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        rng = random.Random(args.seed)
        model = corpus_model() if CORPUS.is_dir() else synthetic_model(rng)
        docs_path = workdir / "docs.jsonl"
        t0 = time.perf_counter()
        if not (args.reuse and docs_path.is_file()):
            with open(docs_path, "w", encoding="utf-8") as fh:
                for doc in generate(model, args.docs, args.seed):
                    fh.write(json.dumps(asdict(doc), ensure_ascii=False) + "\n")
        gen_s = time.perf_counter() - t0
        hosts = make_hosts(model, random.Random(args.seed))
        mix = query_mix(model, hosts, args.seed)
        print(f"generated {args.docs} documents in {gen_s:.1f} s; indexing with Whoosh…", file=sys.stderr)
        w = bench_whoosh(args, docs_path, workdir, mix)
        f = None
        if not args.no_fts5:
            print("indexing with SQLite FTS5…", file=sys.stderr)
            f = bench_fts5(args, docs_path, workdir, mix)
        report(args, gen_s, model, w, f)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
