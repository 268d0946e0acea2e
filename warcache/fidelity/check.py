"""The fidelity check of one capture: replay it both ways, compare, and write what was found.

What the live page showed comes from the capture itself: its full-page screenshot, its visible
text (`urn:warcache:text:`), and from its page record the console errors it had, the requests
that failed (not archived, so not held against a replay) and how far it was scrolled. At capture
time that is in memory; `warcache check` reads it back from the WARC, so a capture can be scored
again from the archive alone, for example after warcache's replay improved.

The result is a `metadata` record `urn:warcache:check:<url>` (JSON; index/checks.py says what
the page list takes from it), with WARC-Refers-To naming the capture's page record, preceded by
the screenshots of the two replays as `resource` records (JPEG, at most SHOT_WIDTH pixels wide:
they are kept to be looked at beside the live one, and the comparison is done before they are
shrunk).
"""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from PIL import Image

from warcache import __version__
from warcache.capture.records import IndexHint, sha1_digest
from warcache.collection import Collection
from warcache.errors import ArchiveError
from warcache.fidelity.compare import (
    Comparison,
    Seen,
    ShotSimilarity,
    compare,
    prepare_screenshot,
    screenshot_similarity,
)
from warcache.fidelity.observe import (
    FreshPages,
    Replayed,
    entry_url,
    original_urls,
    replay_intercept,
    replay_served,
)
from warcache.index.cdxj import cdxj_mime
from warcache.index.checks import CheckRef, apply_checks, check_ref
from warcache.pagelist import PageEntry
from warcache.warc.reader import read_record_at
from warcache.warc.writer import CHECK_SHOT_URN, CHECK_URN, PendingRecord, WrittenPage, make_record_id

MODES = ("intercept", "replay")
#: Width of the replay screenshots kept in the WARC (for the side-by-side page).
SHOT_WIDTH = 640
#: A capture scoring under this is flagged: `add` says so, `list --below` finds such captures.
FLAG_BELOW = 90


@dataclass
class Live:
    """What the page showed live (see the module docstring)."""

    url: str  # as asked for
    page_url: str  # the document captured, which the replays load
    timestamp: str
    warc: str  # where the capture's page record is
    offset: int
    record_id: str
    viewport: tuple[int, int] = (1280, 800)
    user_agent: str = ""
    scroll_steps: int = 0
    seen: Seen = field(default_factory=Seen)


def live_of(entry: PageEntry, info: dict, record_id: str, *, screenshot: bytes | None,
            text: str | None) -> Live:
    """The live side of a capture, from its page entry, its page record's JSON and record ID, and
    its screenshot and visible text."""
    live_info = info.get("live") if isinstance(info.get("live"), dict) else None
    viewport = _viewport(info.get("viewport"))
    errors = live_info.get("console_errors") if live_info else None
    failed = live_info.get("failed_requests") if live_info else None
    steps = live_info.get("scroll_steps") if live_info else None
    return Live(
        url=entry.url, page_url=entry.page_url, timestamp=entry.timestamp, warc=entry.warc,
        offset=entry.offset, record_id=record_id, viewport=viewport,
        user_agent=info.get("user_agent") if isinstance(info.get("user_agent"), str) else "",
        scroll_steps=steps if isinstance(steps, int) else OLD_SCROLL_STEPS,
        seen=Seen(screenshot=screenshot, text=text,
                  console_errors=[str(e) for e in errors] if isinstance(errors, list) else None,
                  failed=[str(u) for u in failed] if isinstance(failed, list) else []))


def live_from_archive(coll: Collection, entry: PageEntry) -> Live:
    """The live side of a capture, read from its records (ArchiveError if it has no page record:
    a page of a WARC made by another tool, which kept nothing of what the page showed)."""
    path = coll.warc_path(entry.warc)
    if entry.span("page") is None:
        raise ArchiveError("not a warcache capture: nothing of what the page showed live was kept")
    record = read_record_at(path, entry.span("page")[0])
    try:
        info = json.loads(record.raw_stream.read())
    except (ValueError, UnicodeDecodeError):
        raise ArchiveError(f"{entry.warc}: the page record at byte {entry.offset} is not JSON") from None
    record_id = record.rec_headers.get_header("WARC-Record-ID") or ""
    shot = entry.span("screenshot")
    text = entry.span("text")
    screenshot = read_record_at(path, shot[0]).raw_stream.read() if shot else None
    visible = read_record_at(path, text[0]).raw_stream.read().decode("utf-8", "replace") if text else None
    return live_of(entry, info if isinstance(info, dict) else {}, record_id, screenshot=screenshot,
                   text=visible)


@dataclass
class ModeResult:
    mode: str
    comparison: Comparison
    replayed: Replayed

    def to_json(self) -> dict:
        data = self.comparison.to_json()
        data.update({"error": self.replayed.error, "seconds": round(self.replayed.seconds, 2)})
        return data


@dataclass
class CheckResult:
    """One check of one capture, before it is written."""

    live: Live
    checked: str  # ISO time
    modes: dict[str, ModeResult] = field(default_factory=dict)
    retry_of: tuple[str, int] | None = None

    @property
    def fidelity(self) -> int | None:
        mode = self.modes.get("intercept")
        return mode.comparison.score if mode else None

    @property
    def replay_fidelity(self) -> int | None:
        mode = self.modes.get("replay")
        return mode.comparison.score if mode else None

    def reasons(self, mode: str = "intercept") -> list[str]:
        result = self.modes.get(mode)
        return result.comparison.reasons if result else []

    def to_json(self) -> dict:
        data = {
            "url": self.live.url, "page_url": self.live.page_url,
            "capture": {"warc": self.live.warc, "offset": self.live.offset, "record_id": self.live.record_id,
                        "timestamp": self.live.timestamp},
            "checked": self.checked, "software": f"warcache/{__version__}",
            "fidelity": self.fidelity, "replay_fidelity": self.replay_fidelity,
            "modes": {m: r.to_json() for m, r in self.modes.items()},
            "method": "warcache.fidelity.compare: score = 100 x weighted mean of screenshot (0.4), "
                      "text (0.3), resources (0.2), console (0.1)",
        }
        if self.retry_of is not None:
            data["retry_of"] = {"warc": self.retry_of[0], "offset": self.retry_of[1]}
        return data


async def check_capture(browser, coll: Collection, live: Live, replay_root: str | None, *,  # noqa: ANN001
                        retry_of: tuple[str, int] | None = None, timeout: float = 30.0,
                        pages: FreshPages | None = None) -> CheckResult:
    """Replay the capture both ways at once (in fresh contexts of `browser`) and compare each
    replay with the live page. `replay_root` is a running replay server's root URL for the
    capture's collection (None: the interception mode only). `pages`: blank pages opened ahead
    for this capture's viewport and user agent in `browser` (`fresh_pages_key`), used up here."""
    viewport, steps = live.viewport, live.scroll_steps
    ahead = pages if pages is not None and pages.browser is browser and pages.key == fresh_pages_key(live) \
        else None
    intercept_page = replay_page = None
    if ahead is not None:
        intercept_page, replay_page, ahead.intercept, ahead.replay = ahead.intercept, ahead.replay, None, None
        if replay_root is None:
            ahead.replay = replay_page  # not used: closed below
    jobs = [replay_intercept(browser, coll, live.page_url, live.timestamp, viewport=viewport,
                             scroll_steps=steps, timeout=timeout, page=intercept_page)]
    if replay_root is not None:
        jobs.append(replay_served(browser, entry_url(replay_root, coll.name, live.timestamp, live.page_url),
                                  viewport=viewport, scroll_steps=steps, user_agent=live.user_agent or None,
                                  timeout=timeout, page=replay_page))
    if pages is not None:
        await pages.close()  # what was not used: another browser's, another viewport's
    # The pictures are compared off the event loop (Pillow lets go of the GIL), each as soon as
    # its replay is done, while the other replay still runs.
    live_cells = asyncio.create_task(asyncio.to_thread(prepare_screenshot, live.seen.screenshot))
    shots: dict[str, ShotSimilarity] = {}

    async def replayed_and_pictured(job) -> Replayed:  # noqa: ANN001 - a coroutine
        replayed = await job
        if live.seen.screenshot and replayed.seen.screenshot and replayed.error is None:
            await live_cells
            shots[replayed.mode] = await asyncio.to_thread(
                screenshot_similarity, live.seen.screenshot, replayed.seen.screenshot, viewport,
                scales=(live.seen.scale, replayed.seen.scale))
        return replayed

    try:
        replays = await asyncio.gather(*(replayed_and_pictured(job) for job in jobs))
    finally:
        await asyncio.gather(live_cells, return_exceptions=True)
    known = replays[0].requested + live.seen.failed
    result = CheckResult(live, datetime.now(UTC).isoformat(timespec="milliseconds"), retry_of=retry_of)
    for replayed in replays:
        if replayed.mode == "replay":
            replayed.seen.not_archived = original_urls(replayed.seen.not_archived, known)
        if replayed.error is not None:
            comparison = Comparison(score=0, reasons=[f"the replay did not load: {replayed.error}"],
                                    not_archived=replayed.seen.not_archived)
        else:
            comparison = compare(live.seen, replayed.seen, viewport, shot=shots.get(replayed.mode))
        result.modes[replayed.mode] = ModeResult(replayed.mode, comparison, replayed)
    return result


def fresh_pages_key(live: Live) -> tuple[tuple[int, int], str | None]:
    """What pages opened ahead must have been opened for to replay this capture (FreshPages.key)."""
    return live.viewport, live.user_agent or None


def check_records(result: CheckResult) -> tuple[list[PendingRecord], list[IndexHint | None]]:
    """The records of a check (replay screenshots, then the check record) and their index hints."""
    records: list[PendingRecord] = []
    hints: list[IndexHint | None] = []
    check_id = make_record_id()
    now = datetime.now(UTC)
    data = result.to_json()
    for mode, mode_result in result.modes.items():
        shot = mode_result.replayed.seen.screenshot
        if not shot:
            continue
        jpeg = _small_jpeg(shot)
        uri = f"{CHECK_SHOT_URN}{mode}:{result.live.url}"
        data["modes"][mode]["screenshot"] = uri
        _add(records, hints, PendingRecord("resource", uri, now, headers={"WARC-Concurrent-To": check_id},
                                           payload=io.BytesIO(jpeg), payload_length=len(jpeg),
                                           content_type="image/jpeg"))
    body = json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")
    headers = {"WARC-Refers-To": result.live.record_id} if result.live.record_id else {}
    _add(records, hints, PendingRecord("metadata", CHECK_URN + result.live.url, now, record_id=check_id,
                                       headers=headers, payload=io.BytesIO(body), payload_length=len(body),
                                       content_type="application/json"))
    return records, hints


def written_ref(result: CheckResult, written: WrittenPage) -> CheckRef:
    """The page list's view of a check just written (as a rebuild reads it back)."""
    shots = {}
    check = written.records[-1]
    for ref in written.records[:-1]:
        if ref.uri.startswith(CHECK_SHOT_URN):
            shots[ref.uri[len(CHECK_SHOT_URN):].partition(":")[0]] = (ref.offset, ref.length)
    made = check_ref(result.to_json(), warc=written.filename, offset=check.offset, shots=shots)
    assert made is not None  # a check always names its capture
    return made


def apply_written(result: CheckResult, written: WrittenPage, entries: list[PageEntry]) -> None:
    """Give the entries (the capture's, and the first capture's of a retry) what the check found."""
    apply_checks(entries, [written_ref(result, written)])


def _add(records: list[PendingRecord], hints: list[IndexHint | None], record: PendingRecord) -> None:
    """A record and its index hint, as a rebuild indexes it (digest of its payload, its type)."""
    assert record.payload is not None
    data = record.payload.getvalue()  # type: ignore[attr-defined]
    digest = sha1_digest(data)
    record.headers["WARC-Payload-Digest"] = digest
    records.append(record)
    hints.append(IndexHint(mime=cdxj_mime(record.content_type), status=None, digest=digest))


def _small_jpeg(data: bytes) -> bytes:
    """The picture as a JPEG at most SHOT_WIDTH wide (a replay's usually is already: kept as is)."""
    with Image.open(io.BytesIO(data)) as image:
        if image.format == "JPEG" and image.width <= SHOT_WIDTH:
            return data
        picture = image.convert("RGB")
    if picture.width > SHOT_WIDTH:
        picture = picture.resize((SHOT_WIDTH, max(1, round(picture.height * SHOT_WIDTH / picture.width))),
                                 Image.Resampling.LANCZOS)
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=75, optimize=True)
    return out.getvalue()


def _viewport(value: object) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in str(value).lower().split("x"))
        return width, height
    except ValueError:
        return 1280, 800


#: Scroll steps for a capture made before warcache noted its scrolling: as many as `add` allows.
OLD_SCROLL_STEPS = 50
