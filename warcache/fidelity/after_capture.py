"""The check after each capture: the `after_store` hook `warcache add` gives the archiver.

One replay server serves the collection for the whole run (started at the first page, in this
process); each check replays its page in fresh contexts of the run's own browser, both ways at
once, and its records are written right after the page's. What the page showed live is taken
from the capture in memory, as it is written.
"""

from __future__ import annotations

from warcache.capture.archiver import AfterStore, StoredPage
from warcache.collection import Collection
from warcache.fidelity.check import FLAG_BELOW, apply_written, check_capture, check_records, live_of
from warcache.pagelist import PageEntry
from warcache.warc.writer import WrittenPage


class FidelityChecker:
    """`async` callable hook; `close()` stops its replay server."""

    def __init__(self, coll: Collection, *, flag_below: int = FLAG_BELOW) -> None:
        self.coll = coll
        self.flag_below = flag_below
        self._server = None

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
        result = await check_capture(stored.browser, self.coll, live, self._replay_root(), retry_of=retry_of)
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

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def __enter__(self) -> FidelityChecker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
