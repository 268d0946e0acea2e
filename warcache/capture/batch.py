"""Capturing many URLs: what to capture, several pages at once, and what failed.

`plan` turns the user's URLs and link sources into the list to capture, leaving out what the
collection already holds (unless recapturing), and adds the pages whose newest capture is older
than a given age (`--recapture-older-than`, for a cron job that keeps captures fresh).
`capture_many` runs captures in parallel browser contexts and reports each result as it lands;
when interrupted it stops starting new captures, lets the ones under way be cancelled cleanly
(their WARC records are written whole or not at all), and the caller learns what was and was not
captured. Failures go to `failures.jsonl` so that
`warcache retry` can try them again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from warcache import timestamps
from warcache.capture.archiver import Archiver, PageResult
from warcache.capture.links import LinkSource, collect_links, filter_links
from warcache.collection import Collection
from warcache.errors import UsageError
from warcache.urls import normalize_url


@dataclass
class Plan:
    to_capture: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)  # in the collection, left out
    failed_before: list[str] = field(default_factory=list)  # failed earlier: `warcache retry` takes them
    stale: list[str] = field(default_factory=list)  # captured again: their newest capture is too old
    messages: list[str] = field(default_factory=list)


def captured_urls(coll: Collection) -> set[str]:
    """URLs the collection holds a capture of (as requested, and where they ended up)."""
    done = set()
    for page in coll.pages():
        done.add(page.url)
        done.add(page.page_url)
    return done


def stale_urls(coll: Collection, older_than: float, now: str | None = None) -> list[str]:
    """The page URLs of a collection whose newest capture is more than `older_than` seconds older
    than `now` (default: now), the longest-unvisited first."""
    newest: dict[str, str] = {}
    for page in coll.pages():
        if page.timestamp > newest.get(page.url, ""):
            newest[page.url] = page.timestamp
    cutoff = timestamps.to_seconds(now or timestamps.now()) - older_than
    return [url for url, ts in sorted(newest.items(), key=lambda item: (item[1], item[0]))
            if timestamps.to_seconds(ts) < cutoff]


def plan(coll: Collection, urls: list[str], *, links_from: list[str] = (), base_url: str | None = None,
         include: list[str] = (), exclude: list[str] = (), recapture: bool = False,
         older_than: float | None = None, now: str | None = None) -> Plan:
    """What to capture. URLs given directly are captured as given, every time (an invalid one fails
    in its turn, like any other capture); with `older_than` (seconds), so are the collection's
    pages whose newest capture is older than that; links found in a source are captured only if
    the collection does not hold a recent enough capture (unless `recapture`), once each."""
    result = Plan(to_capture=list(urls))
    seen: set[str] = set()
    for url in urls:
        with contextlib.suppress(UsageError):
            seen.add(normalize_url(url))
    if older_than is not None:
        for url in stale_urls(coll, older_than, now):
            if url not in seen:
                seen.add(url)
                result.to_capture.append(url)
                result.stale.append(url)
    if links_from:
        have = set() if recapture else captured_urls(coll)
        failed = set() if recapture else {f.get("url") for f in coll.failures()}
        for source in links_from:
            found = collect_links(LinkSource.load(source, base_url=base_url))
            links = filter_links(found.links, include, exclude)
            note = f"found {len(found.links)} links in {source} ({found.format})"
            if len(links) != len(found.links):
                note += f", {len(links)} after --include/--exclude"
            skipped = found.describe_skipped()
            result.messages.append(note + (f"; {skipped}" if skipped else ""))
            for link in links:
                if link in seen:
                    continue
                seen.add(link)
                if link in have:
                    result.already.append(link)
                elif link in failed:
                    result.failed_before.append(link)
                else:
                    result.to_capture.append(link)
    return result


@dataclass
class Progress:
    """Results so far, filled in as captures land (also after an interruption)."""

    urls: list[str]
    results: dict[int, PageResult] = field(default_factory=dict)
    started: set[int] = field(default_factory=set)
    interrupted: bool = False  # Ctrl-C: what lands afterwards broken is "not captured", not "failed"

    @property
    def not_captured(self) -> list[str]:
        return [u for i, u in enumerate(self.urls) if i not in self.results]


async def capture_many(archiver: Archiver, progress: Progress, *, jobs: int,
                       on_start: Callable[[int, str], None] | None = None,
                       on_result: Callable[[int, PageResult], None] | None = None) -> None:
    """Capture `progress.urls` with `jobs` captures at a time."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(progress.urls)):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty() and not progress.interrupted:
            i = queue.get_nowait()
            progress.started.add(i)
            if on_start:
                on_start(i, progress.urls[i])
            try:
                result = await archiver.add(progress.urls[i])
            except Exception:
                if progress.interrupted:  # the browser went down with the Ctrl-C
                    return
                raise
            if progress.interrupted and not result.ok:
                return
            progress.results[i] = result
            if on_result:
                on_result(i, result)

    workers = [asyncio.ensure_future(worker()) for _ in range(max(1, min(jobs, len(progress.urls))))]
    try:
        await asyncio.gather(*workers)
    finally:
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
