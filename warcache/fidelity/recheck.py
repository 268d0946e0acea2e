"""`warcache check`: score existing captures again, from the archive alone.

Why again: warcache's replay improves, and so may a score; and captures made before the check
existed have none. Each capture is replayed both ways and compared with what its own records say
the page showed live. Nothing archived changes: the check records go into a new WARC file of the
collection (written as `.open` and renamed when complete, like every warcache WARC), which is then
indexed; the page list takes the latest check of each capture (index/checks.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from warcache.collection import Collection, list_collections, open_collection
from warcache.errors import UsageError, WarcacheError
from warcache.fidelity.check import CheckResult, check_capture, check_records, live_from_archive
from warcache.index.checks import retry_link
from warcache.pagelist import PageEntry


@dataclass
class Checked:
    """One capture checked (or not: `error` says why)."""

    collection: str
    entry: PageEntry
    result: CheckResult | None = None
    error: str | None = None


@dataclass
class RecheckReport:
    checked: list[Checked] = field(default_factory=list)
    warcs: list[str] = field(default_factory=list)  # the files written, one per collection


def targets(root: Path, target: str | None, *, every: bool,
            collection: str | None) -> list[tuple[Collection, PageEntry]]:
    """The captures to check: every capture of a URL (or of the URL whose md5 is `target`), or with
    `every` all captures of the collection (of every collection without one)."""
    from warcache.manage.pages import find_captures

    if target is not None and every:
        raise UsageError("give a URL or HASH, or --all, not both")
    if target is not None:
        return find_captures(root, target, collection=collection)
    if not every:
        raise UsageError("give a URL or HASH to check, or --all")
    names = [collection] if collection else list_collections(root)
    found = [(coll, e) for coll in (open_collection(root, n) for n in names) for e in coll.pages()]
    if not found:
        raise UsageError("no captured pages to check")
    return found


def check_captures(captures: list[tuple[Collection, PageEntry]], *, browser_path: str | None = None,
                   on_checked: Callable[[Checked], None] | None = None) -> RecheckReport:
    """Check `captures` in one browser; returns what each scored and the WARC files written."""
    return asyncio.run(_check_all(captures, browser_path, on_checked))


async def _check_all(captures: list[tuple[Collection, PageEntry]], browser_path: str | None,
                     on_checked: Callable[[Checked], None] | None) -> RecheckReport:
    from playwright.async_api import async_playwright

    from warcache.capture.browsers import BrowserKeeper
    from warcache.chromium import find_browser

    report = RecheckReport()
    by_coll: dict[str, tuple[Collection, list[PageEntry]]] = {}
    for coll, entry in captures:
        by_coll.setdefault(coll.name, (coll, []))[1].append(entry)
    async with async_playwright() as pw:
        keeper = BrowserKeeper(pw, find_browser(browser_path))
        await keeper.start()
        try:
            for coll, entries in by_coll.values():
                await _check_collection(keeper, coll, entries, report, on_checked)
        finally:
            await keeper.close()
    return report


async def _check_collection(keeper, coll: Collection, entries: list[PageEntry],  # noqa: ANN001
                            report: RecheckReport, on_checked: Callable[[Checked], None] | None) -> None:
    from warcache.index.postprocess import add_files
    from warcache.replay import start_server
    from warcache.warc.writer import WarcFileWriter, default_warcinfo

    info = default_warcinfo(browser=f"Chromium {keeper.version}", user_agent=keeper.user_agent,
                            settings={"fidelity-check": True})
    info["isPartOf"] = coll.name
    writer = WarcFileWriter(coll.archive_dir, info=info)
    server = start_server(coll.root, collection=coll.name)
    try:
        root = server.replay_url_for(coll.name)
        for entry in entries:
            item = Checked(coll.name, entry)
            try:
                live = live_from_archive(coll, entry)
                async with keeper.lease() as lease:
                    item.result = await check_capture(lease.browser, coll, live, root,
                                                      retry_of=retry_link(entry))
                writer.write_page(check_records(item.result)[0])
            except WarcacheError as exc:
                item.error = str(exc)
            report.checked.append(item)
            if on_checked is not None:
                on_checked(item)
    finally:
        name = writer.close()
        server.close()
    if name is not None:
        report.warcs.append(name)
        add_files(coll, [coll.archive_dir / name])

