"""Benchmark CDXJ lookups: binary search over mmapped segments vs. a scan and a loaded list.

Builds synthetic indexes of 10k and 1M lines (one big segment plus a few small ones, the
shape `CdxjIndex.add` leaves behind), then times `CdxjIndex.lookup(url)` for random captured
URLs and for misses, and in the same run two baselines on the same files:

* scan:   read every segment line by line, keep lines of that key (what a naive index does);
* bisect: Python `bisect` on all lines loaded into one sorted list (fast per query, but it
          must load and sort everything first; its load time is printed too).

Usage: .venv/bin/python scripts/bench_cdxj.py [--sizes 10000 1000000] [--queries 400]
Target: lookup p95 < 10 ms at 1M lines.
"""

from __future__ import annotations

import argparse
import bisect
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from warcache.index.cdxj import CdxjIndex, CdxjLine, canonical_key


def synthetic_lines(n: int, seed: int) -> list[CdxjLine]:
    """Lines for n captures over ~n/20 hosts; keys built as SURT would (checked on a sample)."""
    rng = random.Random(seed)
    hosts = max(1, n // 20)
    lines = []
    for i in range(n):
        h = rng.randrange(hosts)
        page = rng.randrange(200)
        url = f"http://site{h}.example/p/{page}"
        key = f"example,site{h})/p/{page}"
        day = f"{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}"
        ts = f"20{rng.randrange(10, 25)}{day}{rng.randrange(24):02d}0000"
        lines.append(
            CdxjLine(
                key,
                ts,
                url,
                length=1000 + i % 5000,
                offset=i * 1000,
                filename=f"cap-{i // 5000}.warc.gz",
                mime="text/html",
                status="200",
                digest="sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            )
        )
    for line in rng.sample(lines, min(50, n)):
        assert canonical_key(line.url) == line.urlkey
    return lines


def build(directory: Path, lines: list[CdxjLine]) -> CdxjIndex:
    index = CdxjIndex(directory, max_segments=10)
    big = int(len(lines) * 0.9)
    index.add(lines[:big])
    step = max(1, (len(lines) - big) // 4)
    for start in range(big, len(lines), step):
        index.add(lines[start : start + step])
    return index


def timed(fn: Callable[[str], object], probes: list[str]) -> list[float]:
    out = []
    for probe in probes:
        start = time.perf_counter()
        fn(probe)
        out.append((time.perf_counter() - start) * 1000)
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def scan_lookup(segments: list[Path]) -> Callable[[str], list[bytes]]:
    def lookup(url: str) -> list[bytes]:
        prefix = (canonical_key(url) + " ").encode()
        found = []
        for seg in segments:
            with open(seg, "rb") as fh:
                found.extend(line for line in fh if line.startswith(prefix))
        return found

    return lookup


def bisect_lookup(all_lines: list[bytes]) -> Callable[[str], list[bytes]]:
    def lookup(url: str) -> list[bytes]:
        prefix = (canonical_key(url) + " ").encode()
        i = bisect.bisect_left(all_lines, prefix)
        found = []
        while i < len(all_lines) and all_lines[i].startswith(prefix):
            found.append(all_lines[i])
            i += 1
        return found

    return lookup


def run(n: int, queries: int, scan_queries: int, seed: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-cdxj-") as tmp:
        directory = Path(tmp) / "indexes"
        t0 = time.perf_counter()
        lines = synthetic_lines(n, seed)
        t1 = time.perf_counter()
        index = build(directory, lines)
        t2 = time.perf_counter()
        segments = index.segments()
        size_mb = sum(p.stat().st_size for p in segments) / 1e6
        print(
            f"\n{n:,} lines: generated in {t1 - t0:.1f}s, written as {len(segments)} segments "
            f"({size_mb:.0f} MB) in {t2 - t1:.1f}s"
        )

        rng = random.Random(seed + 1)
        hits = [ln.url for ln in rng.sample(lines, queries)]
        misses = [f"http://nowhere{i}.example/x" for i in range(queries // 4)]
        probes = hits + misses
        rng.shuffle(probes)
        del lines

        # Every answer must agree with the scan before any number counts.
        scan = scan_lookup(segments)
        for probe in probes[: min(20, len(probes))]:
            assert sorted(str(x) for x in index.lookup(probe)) == sorted(
                str(CdxjLine.parse(raw)) for raw in set(scan(probe))
            )

        index.lookup(probes[0])  # map the files once, as a long-running replay would have
        ours = timed(index.lookup, probes)
        scan_times = timed(scan, probes[:scan_queries])

        t3 = time.perf_counter()
        loaded = sorted(set(line.rstrip(b"\n") for seg in segments for line in open(seg, "rb")))  # noqa: SIM115
        load_s = time.perf_counter() - t3
        bis = timed(bisect_lookup(loaded), probes)
        del loaded

        base = statistics.median(ours)
        rows = [
            ("CdxjIndex.lookup (mmap binary search)", ours, len(probes)),
            ("baseline: linear scan of the files", scan_times, len(scan_times)),
            (f"baseline: bisect on loaded list (+{load_s:.2f}s load)", bis, len(probes)),
        ]
        print(f"{'method':52} {'queries':>7} {'p50 ms':>9} {'p95 ms':>9} {'p50 / ours':>11}")
        for name, values, count in rows:
            p50, p95 = statistics.median(values), pct(values, 0.95)
            print(f"{name:52} {count:>7} {p50:>9.3f} {p95:>9.3f} {p50 / base:>10.1f}x")
        verdict = "OK" if pct(ours, 0.95) < 10 else "OVER TARGET"
        print(f"target p95 < 10 ms: {pct(ours, 0.95):.3f} ms -> {verdict}")
        index.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--scan-queries", type=int, default=20, help="the scan is slow: fewer probes")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    for n in args.sizes:
        run(n, min(args.queries, n), min(args.scan_queries, args.queries), args.seed)


if __name__ == "__main__":
    main()
