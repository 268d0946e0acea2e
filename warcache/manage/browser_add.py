"""What the replay server gets from the manage layer: the capture function behind its 'Archive a
URL' form (`replay.adding`), and `warcache diff` for its diff page.

The replay package must not import capture (layers: see pyproject.toml); `warcache replay`
builds this function here, where both are reachable, and hands it to the server.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from warcache.collection import open_collection
from warcache.errors import WarcacheError

CaptureFn = Callable[[str, str, Sequence[str], Callable[[str], None]], str]


def capture_function(root: Path, *, browser_path: str | None = None,
                     max_warc_size: int = 1 << 30) -> CaptureFn:
    """capture(collection, url, tags, progress): one page into the collection, tagged; returns
    the line `warcache add` would print, raises WarcacheError when the capture failed."""

    def capture(coll_name: str, url: str, tags: Sequence[str], progress: Callable[[str], None]) -> str:
        from warcache.capture.page import CaptureOptions
        from warcache.capture.run import RunEvents, run_captures
        from warcache.manage.annotate import annotate_url, clean_tag

        clean = [clean_tag(t) for t in tags]
        coll = open_collection(root, coll_name, create=True)
        events = RunEvents(started=lambda i, u: progress(f"capturing {u}"), note=progress)
        outcome = run_captures(coll, CaptureOptions(), [url], browser_path=browser_path, jobs=1,
                               max_warc_size=max_warc_size, events=events)
        result = outcome.results[0] if outcome.results else None
        if result is None or not result.ok:
            raise WarcacheError(f"capture failed: {result.error if result else 'interrupted'}")
        if clean:
            annotate_url(coll, result.url, add=clean)
        title = f' "{result.title[:80]}"' if result.title else ""
        return (f"captured{title}: HTTP {result.status}, {result.resources} responses "
                f"in {result.seconds:.1f} s")

    return capture


def diff_function(root: Path) -> Callable[[str, str, str, str], dict] | None:
    """differ(collection, url, ts1, ts2): `warcache diff`'s result as JSON, for the replay
    server's diff page; None while this warcache has no `warcache diff` (manage.diff)."""
    import importlib.util

    if importlib.util.find_spec("warcache.manage.diff") is None:
        return None

    def differ(coll_name: str, url: str, ts1: str, ts2: str) -> dict:
        from warcache.manage.diff import diff_captures

        return diff_captures(root, url, ts1, ts2, collection=coll_name).to_json()

    return differ
