#!/usr/bin/env python3
"""Kill `warcache add` at random moments, again and again, then check that nothing was lost.

Each round starts `warcache add` on a batch of small article pages (served on 127.0.0.1 by
tests/hostile_site.py, each with a word of its own and a random delay) and SIGKILLs it, with
its browser, after a random time: during start-up and recovery, mid-capture, while a page is
being written or indexed. The pages the run reported captured before it died are noted. After
the last round one more run, left alone, recovers what the killed ones left. Then:

* no `.open` file is left, and every `*.warc.gz` passes `warcio check`;
* every page reported captured is in pages.jsonl, its URL index line leads to its record
  (`read_record_at`), and a search for its word finds it;
* `warcache verify` is clean;
* the indexes equal a clean rebuild of a copy (URL index lines, page list, searchable captures).

    .venv/bin/python scripts/chaos_kill.py --kills 25            # the documented run
    .venv/bin/python scripts/chaos_kill.py --kills 3 --seed 1    # quick

tests/test_reliability_kill.py runs a few rounds of the same in the suite.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from hostile_site import HostileSite, article_word, children_of, kill_all  # noqa: E402

from warcache.collection import Collection  # noqa: E402
from warcache.index.cdxj import CdxjIndex  # noqa: E402
from warcache.index.postprocess import rebuild_collection  # noqa: E402
from warcache.search.archive import search_archive  # noqa: E402
from warcache.warc.reader import read_record_at  # noqa: E402

ADD_ARGS = ["--no-scroll", "--idle-timeout", "0.3", "--timeout", "15", "-j", "2"]


@dataclass
class ChaosReport:
    kills: int = 0
    runs: int = 0
    reported: set[str] = field(default_factory=set)  # URLs a run said it captured
    recovered_notes: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        state = "OK" if not self.problems else f"{len(self.problems)} PROBLEMS"
        return (f"{self.kills} kills survived over {self.runs} runs; {len(self.reported)} pages reported "
                f"captured, {self.recovered_notes} recoveries; {self.seconds:.0f} s: {state}")


def _warcache(root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "warcache", "--root", str(root), *args]


def run_and_kill(root: Path, urls: list[str], after: float,
                 after_pages: int = 0) -> tuple[set[str], int, bool]:
    """Start `add`, SIGKILL it and everything it started `after` seconds after it reported
    `after_pages` pages captured (if still running).

    Returns (URLs reported captured, recovery notes, whether it was killed)."""
    proc = subprocess.Popen(_warcache(root, "add", *ADD_ARGS, *urls), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    seen: set[int] = set()
    deadline = None if after_pages else time.monotonic() + after
    while proc.poll() is None and (deadline is None or time.monotonic() < deadline):
        seen.update(children_of(proc.pid))
        if deadline is None and sum(" ok " in ln for ln in lines) >= after_pages:
            deadline = time.monotonic() + after
        time.sleep(0.02)
    killed = proc.poll() is None
    if killed:
        seen.update(children_of(proc.pid))
        os.kill(proc.pid, signal.SIGKILL)
        kill_all(sorted(seen))
    proc.wait(30)
    reader.join(10)
    time.sleep(0.2)
    kill_all([p for p in seen if _alive_browser(p)])  # nothing of a killed run lives on
    reported = {ln.split(" ok ", 1)[1].split()[1].rstrip(":") for ln in lines
                if " ok " in ln and ln.startswith("[")}
    notes = sum(1 for ln in lines if ln.startswith("note: recovered"))
    return reported, notes, killed


def _alive_browser(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            text = fh.read()
    except OSError:
        return False
    return b"chrom" in text or b"playwright" in text


def snapshot(root: Path) -> dict:
    """What the indexes hold, in a form two collections can be compared by."""
    coll = Collection(root, "default")
    index = CdxjIndex(coll.indexes_dir)
    try:
        lines = sorted(str(line) for line in index)
    finally:
        index.close()
    pages = sorted(p.to_line() for p in coll.pages())
    hits = search_archive(root, "site:127.0.0.1", limit=100_000)
    return {"cdxj": lines, "pages": pages, "search": sorted((h.url, h.timestamp) for h in hits)}


def check(root: Path, report: ChaosReport, work: Path) -> None:
    coll = Collection(root, "default")
    archive = coll.archive_dir
    leftovers = sorted(p.name for p in archive.glob("*.open"))
    if leftovers:
        report.problems.append(f"left open: {leftovers}")
    files = sorted(archive.glob("*.warc.gz"))
    check_run = subprocess.run([sys.executable, "-m", "warcio.cli", "check", *map(str, files)],
                               capture_output=True, text=True)
    if check_run.returncode != 0:
        report.problems.append(f"warcio check: {check_run.stdout[-500:]} {check_run.stderr[-500:]}")
    listed = {p.url for p in coll.pages()}
    index = CdxjIndex(coll.indexes_dir)
    try:
        for url in sorted(report.reported):
            if url not in listed:
                report.problems.append(f"{url}: reported captured, not in pages.jsonl")
            lines = index.lookup(url)
            if not lines:
                report.problems.append(f"{url}: reported captured, not in the URL index")
                continue
            record = read_record_at(archive / lines[0].filename, lines[0].offset)
            if record.rec_headers.get_header("WARC-Target-URI") != url:
                report.problems.append(f"{url}: its index line leads to another record")
            n = int(urlsplit(url).path.rsplit("/", 1)[1])
            hits = search_archive(root, article_word(n))
            if url not in {h.url for h in hits}:
                report.problems.append(f"{url}: reported captured, not found by search")
    finally:
        index.close()
    verify = subprocess.run(_warcache(root, "verify"), capture_output=True, text=True)
    if verify.returncode != 0:
        report.problems.append(f"verify: {verify.stderr.strip()[-1500:]}")
    live = snapshot(root)
    copy = work / "rebuilt"
    shutil.copytree(root, copy)
    rebuild_collection(Collection(copy, "default"))
    rebuilt = snapshot(copy)
    for key in live:
        if live[key] != rebuilt[key]:
            only_live = set(live[key]) - set(rebuilt[key])
            only_rebuilt = set(rebuilt[key]) - set(live[key])
            report.problems.append(f"{key} differs from a clean rebuild: {len(only_live)} only in the live "
                                   f"indexes, {len(only_rebuilt)} only in the rebuild "
                                   f"(e.g. {sorted(only_rebuilt or only_live)[:1]})")


def chaos(work: Path, *, kills: int, seed: int, batch: int = 6, max_wait: float = 10.0,
          after_a_page: float = 0.5, log=print) -> ChaosReport:
    """Kill `kills` runs at random moments, then recover, then check; see the module docstring.

    A share `after_a_page` of the kills comes a random moment (up to 1 s) after the run reported
    a page captured: then a WARC file is open for sure, whatever the machine's speed; the others
    come at a random time up to `max_wait` seconds after the start (start-up, recovery, ...)."""
    rng = random.Random(seed)
    report = ChaosReport()
    root = work / "root"
    start = time.monotonic()
    with HostileSite() as site:
        next_n = 1
        pending: list[str] = []
        while report.kills < kills:
            while len(pending) < batch:
                pending.append(site.url(f"/article/{next_n}?ms={rng.randint(0, 400)}"))
                next_n += 1
            pages = 1 if rng.random() < after_a_page else 0
            after = rng.uniform(0.0, 1.0) if pages else rng.uniform(0.2, max_wait)
            reported, notes, killed = run_and_kill(root, pending, after, pages)
            report.runs += 1
            report.kills += killed
            report.recovered_notes += notes
            report.reported |= reported
            pending = [u for u in pending if u not in reported]
            when = f"{after:.1f} s after its first page" if pages else f"after {after:.1f} s"
            log(f"run {report.runs}: killed {when}" if killed else
                f"run {report.runs}: finished before the kill", f"({len(reported)} reported captured)")
        reported, notes, killed = run_and_kill(root, pending or [site.url("/article/0")], 600)
        report.runs += 1
        report.recovered_notes += notes
        report.reported |= reported
    check(root, report, work)
    report.seconds = time.monotonic() - start
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=25)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--batch", type=int, default=6, help="URLs per run")
    parser.add_argument("--max-wait", type=float, default=10.0, help="kill within this many seconds")
    parser.add_argument("--keep", action="store_true", help="keep the collection (its path is printed)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="warcache-chaos-"))
    print(f"seed {args.seed}, working in {work}")
    report = chaos(work, kills=args.kills, seed=args.seed, batch=args.batch, max_wait=args.max_wait)
    for problem in report.problems:
        print("PROBLEM:", problem)
    print(report.summary())
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if not report.problems else 1


if __name__ == "__main__":
    sys.exit(main())
