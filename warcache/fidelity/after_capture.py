"""The check after each capture: the `after_store` hook `warcache add` gives the archiver.

One replay server serves the collection for the whole run (started at the first page, in this
process); each check replays its page in fresh contexts of the run's own browser, both ways at
once, and its records are written right after the page's. What the page showed live is taken
from the capture in memory, as it is written.

Each check opens the pages of the next one ahead, in the background (observe.FreshPages: opening
a page is the slowest step of a replay), so the next capture, which mostly waits for the
network, hides that; pages opened for another browser or another viewport are closed unused.
"""

from __future__ import annotations

import asyncio
import contextlib

from warcache.capture.archiver import AfterStore, StoredPage
from warcache.collection import Collection
from warcache.fidelity.check import (
    FLAG_BELOW,
    apply_written,
    check_capture,
    check_records,
    fresh_pages_key,
    live_of,
)
from warcache.fidelity.observe import FreshPages, open_fresh_pages
from warcache.pagelist import PageEntry
from warcache.warc.writer import WrittenPage


class FidelityChecker:
    """`async` callable hook; `close()` stops its replay server."""

    def __init__(self, coll: Collection, *, flag_below: int = FLAG_BELOW) -> None:
        self.coll = coll
        self.flag_below = flag_below
        self._server = None
        self._ahead: asyncio.Task[FreshPages] | None = None  # the next check's pages, opening

    def _replay_root(self) -> str:
        if self._server is None:
            from warcache.replay import start_server

            self._server = start_server(self.coll.root, collection=self.coll.name)
        return self._server.replay_url_for(self.coll.name)

    async def __call__(self, stored: StoredPage) -> AfterStore | None:
        capture = stored.capture
        if not capture.is_page or capture.screenshot is None and capture.visible_text is None:
            return None  # a download, a PDF, a JSON file: nothing was shown to compare with
        live = live_of(stored.entry, stored.info, stored.page_record_id, screenshot=capture.screenshot,
                       text=capture.visible_text)
        retry_of = (stored.retry_of.warc, stored.retry_of.offset) if stored.retry_of else None
        pages = await self._take_ahead()
        try:
            result = await check_capture(stored.browser, self.coll, live, self._replay_root(),
                                         retry_of=retry_of, pages=pages)
        finally:
            self._open_ahead(stored.browser, fresh_pages_key(live))
        records, hints = check_records(result)
        first = stored.retry_of

        def finish(entry: PageEntry, written: WrittenPage) -> None:
            apply_written(result, written, [entry] + ([first] if first is not None else []))

        warnings = []
        if result.fidelity is not None and result.fidelity < self.flag_below:
            why = "; ".join(result.reasons()[:3])
            warnings.append(f"fidelity {result.fidelity}: a replay from the archive differs ({why}); "
                            f"`warcache show {capture.url}` says more")
        return AfterStore(records=records, hints=hints, finish=finish, fidelity=result.fidelity,
                          replay_fidelity=result.replay_fidelity, warnings=warnings)

    async def _take_ahead(self) -> FreshPages | None:
        """The pages opened ahead, if they opened (a browser replaced meanwhile may have failed them)."""
        task, self._ahead = self._ahead, None
        if task is None:
            return None
        try:
            return await task
        except Exception:  # noqa: BLE001 - the check opens its own pages instead
            return None

    def _open_ahead(self, browser, key: tuple) -> None:  # noqa: ANN001 - a Playwright Browser
        if self._ahead is not None or not browser.is_connected():
            return  # another check (parallel captures) opened them already
        task = asyncio.get_running_loop().create_task(open_fresh_pages(browser, *key))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieved: no log noise
        self._ahead = task

    def close(self) -> None:
        """Stop the replay server. (Pages opened ahead close with the run's browser.)"""
        if self._ahead is not None:
            with contextlib.suppress(RuntimeError):  # its event loop is closed already
                self._ahead.cancel()
            self._ahead = None
        if self._server is not None:
            self._server.close()
            self._server = None

    def __enter__(self) -> FidelityChecker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
