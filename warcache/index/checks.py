"""Fidelity checks in the page list: which check of a capture counts, and which capture is the page's.

A fidelity check (warcache.fidelity) is a `metadata` record `urn:warcache:check:<url>` whose JSON
names the capture it scored (`capture`: its WARC file, the offset and WARC-Record-ID of its page
record) and gives the scores (`fidelity`, by request interception; `replay_fidelity`, through the
replay server) and when it was made (`checked`). It may follow resource records holding the
screenshots of the replays (`urn:warcache:check-screenshot:<mode>:<url>`). The check made at
capture time lies right after the page's records; `warcache check` writes later ones into new WARC
files. The page list keeps, per capture, the latest check's scores and where it is; this module
derives that from the records alone, so capture, `warcache check` and a rebuild agree.

A page captured again because its first capture scored low (`add --retry-below`) has a check
that names the first capture (`retry_of`); of the two, the one whose latest check scores higher
(the later one on a tie) is marked `preferred`, the other not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from warcache.collection import Collection
from warcache.errors import ArchiveError
from warcache.pagelist import PageEntry
from warcache.warc.reader import read_record_at


@dataclass
class CheckRef:
    """One check record, as the page list needs it."""

    capture: tuple[str, int]  # the capture's (WARC file, page record offset)
    checked: str  # ISO time of the check
    warc: str  # where the check record is
    offset: int
    fidelity: int | None = None
    replay_fidelity: int | None = None
    shots: dict[str, tuple[int, int]] = field(default_factory=dict)  # mode -> (offset, length), same file
    retry_of: tuple[str, int] | None = None  # the earlier capture of a retried page

    def order(self) -> tuple[str, str, int]:
        return (self.checked, self.warc, self.offset)

    def entry_check(self) -> dict:
        """The `check` field of a page entry for this check."""
        data: dict = {"warc": self.warc, "offset": self.offset, "time": self.checked,
                      "shots": {mode: list(span) for mode, span in sorted(self.shots.items())}}
        if self.retry_of is not None:
            data["retry_of"] = list(self.retry_of)
        return data


def check_ref(info: object, *, warc: str, offset: int,
              shots: dict[str, tuple[int, int]] | None = None) -> CheckRef | None:
    """The check a record's JSON describes (None if it does not name a capture: not trusted)."""
    if not isinstance(info, dict):
        return None
    capture = _place(info.get("capture"))
    checked = info.get("checked")
    if capture is None or not isinstance(checked, str):
        return None
    return CheckRef(capture=capture, checked=checked, warc=warc, offset=offset,
                    fidelity=_score(info.get("fidelity")),
                    replay_fidelity=_score(info.get("replay_fidelity")),
                    shots=dict(shots or {}), retry_of=_place(info.get("retry_of")))


def parse_check(data: bytes, *, warc: str, offset: int,
                shots: dict[str, tuple[int, int]] | None = None) -> CheckRef | None:
    try:
        info = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    return check_ref(info, warc=warc, offset=offset, shots=shots)


def read_check(coll: Collection, entry: PageEntry) -> dict | None:
    """The JSON of the latest check of a capture (None: never checked). ArchiveError when the
    record the page list names cannot be read (`warcache index --rebuild` sets the list right)."""
    where = entry.check or {}
    warc, offset = where.get("warc"), where.get("offset")
    if not isinstance(warc, str) or not isinstance(offset, int):
        return None
    try:
        record = read_record_at(coll.warc_path(warc), offset)
        info = json.loads(record.raw_stream.read())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ArchiveError(f"{warc}: no fidelity check record at byte {offset} ({exc})") from None
    return info if isinstance(info, dict) else None


def page_capture(entries: list[PageEntry]) -> PageEntry:
    """Of the captures of one page, the one that stands for it: the newest, unless a retry's
    pair marks another preferred (the newest of those is then the page's)."""
    newest = sorted(entries, key=lambda e: e.timestamp, reverse=True)
    return next((e for e in newest if e.preferred is not False), newest[0])


def apply_checks(entries: list[PageEntry], checks: list[CheckRef]) -> bool:
    """Give each entry the latest of its checks (an entry's own, if later, stays), then mark the
    preferred capture of retried pages. True if any entry changed."""
    latest: dict[tuple[str, int], CheckRef] = {}
    for ref in checks:
        key = ref.capture
        if key not in latest or ref.order() > latest[key].order():
            latest[key] = ref
    changed = False
    for entry in entries:
        ref = latest.get((entry.warc, entry.offset))
        if ref is None:
            continue
        current = entry.check or {}
        if (str(current.get("time", "")), str(current.get("warc", "")),
                _int(current.get("offset"))) >= ref.order():
            continue  # the entry has this check, or a later one
        entry.fidelity, entry.replay_fidelity = ref.fidelity, ref.replay_fidelity
        entry.check = ref.entry_check()
        changed = True
    return mark_preferred(entries) or changed


def mark_preferred(entries: list[PageEntry]) -> bool:
    """Mark, in each pair of captures a retry links, the better one `preferred` (see the module
    docstring). True if any mark changed."""
    by_place = {(e.warc, e.offset): e for e in entries}
    changed = False
    for entry in entries:
        retry_of = retry_link(entry)
        first = by_place.get(retry_of) if retry_of else None
        if first is None:
            continue
        better = entry if (entry.fidelity or 0) >= (first.fidelity or 0) else first
        for e in (entry, first):
            want = e is better
            if e.preferred is not want:
                e.preferred = want
                changed = True
    return changed


def retry_link(entry: PageEntry) -> tuple[str, int] | None:
    """The first capture of a page that `entry` captured again (its checks name it), or None."""
    return _place((entry.check or {}).get("retry_of"))


def _place(value: object) -> tuple[str, int] | None:
    if isinstance(value, dict):
        value = [value.get("warc"), value.get("offset")]
    if (isinstance(value, list | tuple) and len(value) == 2 and isinstance(value[0], str) and value[0]
            and isinstance(value[1], int) and not isinstance(value[1], bool) and value[1] >= 0):
        return value[0], value[1]
    return None


def _score(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100 else None


def _int(value: object) -> int:
    return value if isinstance(value, int) else -1
