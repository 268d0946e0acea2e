"""Matching speed of the adblock-syntax libraries warcache could use for --block/--block-list.

Why: every request of every capture is checked against the lists, and real lists (EasyList,
EasyPrivacy) hold tens of thousands of rules. This script builds a synthetic list of the usual
shapes (host anchors `||host^`, path patterns, `$third-party`/type options, exceptions `@@`),
and a mix of request URLs (a few blocked, most not), then times building the matcher and
checking each URL with:

* `adblock` (Python bindings of Brave's adblock-rust), the library warcache uses;
* `adblockparser` (pure Python, regular expressions), as the baseline, when installed.

    .venv/bin/python scripts/bench_blocklist.py [--rules 20000] [--urls 5000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time


def synthetic_rules(n: int, rng: random.Random) -> list[str]:
    rules = []
    for i in range(n):
        kind = rng.random()
        host = f"ads{i}.tracker{i % 97}.example"
        if kind < 0.55:
            rules.append(f"||{host}^")
        elif kind < 0.70:
            rules.append(f"||{host}^$third-party")
        elif kind < 0.85:
            rules.append(f"/banner{i}/*$image")
        elif kind < 0.95:
            rules.append(f"/track{i}.js$script")
        else:
            rules.append(f"@@||ok{i}.example^")
    return rules


def synthetic_urls(n: int, n_rules: int, rng: random.Random) -> list[tuple[str, str, str]]:
    urls = []
    for i in range(n):
        if i % 10 == 0:  # one in ten is a tracker of the list
            j = rng.randrange(n_rules)
            urls.append((f"https://ads{j}.tracker{j % 97}.example/p.gif?x={i}", "https://news.example/a",
                         "image"))
        else:
            urls.append((f"https://cdn{i % 50}.news.example/static/{i}/app.js?v={i}", "https://news.example/a",
                         "script"))
    return urls


def bench_adblock(rules, urls) -> tuple[float, list[float], int]:
    import adblock

    start = time.perf_counter()
    filters = adblock.FilterSet()
    filters.add_filters(rules)
    engine = adblock.Engine(filters)
    build = time.perf_counter() - start
    times, blocked = [], 0
    for url, source, kind in urls:
        t = time.perf_counter()
        if engine.check_network_urls(url, source, kind).matched:
            blocked += 1
        times.append(time.perf_counter() - t)
    return build, times, blocked


def bench_adblockparser(rules, urls) -> tuple[float, list[float], int] | None:
    try:
        from adblockparser import AdblockRules
    except ImportError:
        return None
    start = time.perf_counter()
    matcher = AdblockRules(rules, supported_options=["third-party", "image", "script"],
                           skip_unsupported_rules=False)
    build = time.perf_counter() - start
    times, blocked = [], 0
    for url, _source, kind in urls:
        t = time.perf_counter()
        if matcher.should_block(url, {"third-party": True, "image": kind == "image",
                                       "script": kind == "script"}):
            blocked += 1
        times.append(time.perf_counter() - t)
    return build, times, blocked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rules", type=int, default=20000)
    parser.add_argument("--urls", type=int, default=5000)
    args = parser.parse_args()
    rng = random.Random(7)
    rules = synthetic_rules(args.rules, rng)
    urls = synthetic_urls(args.urls, args.rules, rng)
    print(f"{args.rules} rules, {args.urls} URLs (one in ten on the list)")
    print(f"{'library':<16} {'build':>9} {'p50 per URL':>12} {'p95 per URL':>12} {'blocked':>8}")
    for name, run in (("adblock", bench_adblock), ("adblockparser", bench_adblockparser)):
        out = run(rules, urls)
        if out is None:
            print(f"{name:<16} not installed")
            continue
        build, times, blocked = out
        times.sort()
        p50, p95 = statistics.median(times), times[int(len(times) * 0.95)]
        print(f"{name:<16} {build:>8.2f}s {p50 * 1e6:>10.1f}µs {p95 * 1e6:>10.1f}µs {blocked:>8}")


if __name__ == "__main__":
    main()
