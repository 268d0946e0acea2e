"""The page list: one `PageEntry` per captured page, as `indexes/pages.jsonl` holds them.

The list is derived from the WARCs (a rebuild writes it anew) and says, for each capture of a
page, where its records are and what the page showed, so that listing, search results, exports
and replay never have to scan WARC files. Every module reads entries through this type, so a
field means the same thing everywhere.

The JSON form is stable: keys this version does not know (written by a newer one) are kept
in `extra` and written back unchanged, and optional keys an entry lacks (one written before
they existed) read back as None and are written back absent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

#: The page's own records in a warcache WARC, by kind.
RECORD_KINDS = ("screenshot", "dom", "text", "pdf", "media", "page")


@dataclass
class PageEntry:
    """One capture of one page.

    `offset` is where the page is found in `warc`: its page record (captures by warcache) or
    its HTML response (pages of WARCs made by other tools). `records` gives each of the page's
    own records as (offset, length); imported pages have none.
    """

    url: str
    timestamp: str  # 14 digits, UTC
    warc: str  # file name in the collection's archive/
    offset: int
    final_url: str = ""  # where the page ended up after redirects ('' means `url`)
    status: int | None = None
    title: str = ""
    mime: str = ""
    records: dict[str, tuple[int, int]] = field(default_factory=dict)
    resources: int | None = None  # responses recorded, revisits included (None: not a warcache capture)
    revisits: int | None = None
    bytes: int | None = None  # WARC bytes of the whole capture
    #: Digest of the capture's article text (extract.captured.text_digest), made where the entry is
    #: made, so `list` can tell "changed" from "unchanged" without reading WARCs. None: unknown (an
    #: entry written before it existed, or a page with no text to extract).
    text_digest: str | None = None
    #: The latest fidelity check of the capture (index/checks.py derives these from its record):
    #: the score replaying from the archive alone by request interception (`warcache open`), the
    #: score through the replay server, and where the check record is, {"warc", "offset",
    #: "time", "shots": {mode: [offset, length]}}. None: never checked.
    fidelity: int | None = None
    replay_fidelity: int | None = None
    check: dict[str, Any] | None = None
    #: Set only when the page was captured twice (`add --retry-below`): True on the capture with
    #: the better fidelity, the page's capture; False on the other.
    preferred: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # The user's labels of the page's URL (all its captures share them), from the collection's
    # annotation records (`Annotation`); filled in when the list is read, never stored in it.
    tags: tuple[str, ...] = ()
    note: str = ""

    @property
    def page_url(self) -> str:
        """The URL of the document that was captured (the final one, after redirects)."""
        return self.final_url or self.url

    def span(self, kind: str) -> tuple[int, int] | None:
        """Where the page's `screenshot`, `dom`, `pdf`, `media` or `page` record is, or None."""
        return self.records.get(kind)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = dict(self.extra)
        data.update({
            "url": self.url, "final_url": self.page_url, "status": self.status, "title": self.title,
            "mime": self.mime, "timestamp": self.timestamp, "warc": self.warc, "offset": self.offset,
            "records": {k: list(v) for k, v in self.records.items()}, "resources": self.resources,
            "revisits": self.revisits, "bytes": self.bytes,
        })
        if self.text_digest is not None:  # absent when unknown: an older entry reads back unchanged
            data["text_digest"] = self.text_digest
        for key in ("fidelity", "replay_fidelity", "check", "preferred"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data

    def to_line(self) -> str:
        return json.dumps(self.to_json(), ensure_ascii=False, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, data: object) -> PageEntry | None:
        """The entry a JSON object describes, or None if it is not a usable one (a page list is
        data: a line damaged by hand or by a crash is skipped, never trusted)."""
        if not isinstance(data, dict):
            return None
        data = dict(data)
        try:
            url, timestamp, warc = data.pop("url"), data.pop("timestamp"), data.pop("warc")
            offset = int(data.pop("offset"))
        except (KeyError, TypeError, ValueError):
            return None
        if not (isinstance(url, str) and url and isinstance(timestamp, str) and timestamp.isdigit()
                and isinstance(warc, str) and warc and offset >= 0):
            return None
        records: dict[str, tuple[int, int]] = {}
        raw = data.pop("records", None)
        if isinstance(raw, dict):
            for kind, span in raw.items():
                if (isinstance(span, list | tuple) and len(span) == 2
                        and all(isinstance(n, int) and n >= 0 for n in span)):
                    records[str(kind)] = (span[0], span[1])
        status = data.pop("status", None)
        text_digest = data.pop("text_digest", None)
        check, preferred = data.pop("check", None), data.pop("preferred", None)
        return cls(
            url=url, timestamp=timestamp, warc=warc, offset=offset,
            final_url=_text(data.pop("final_url", "")), status=status if isinstance(status, int) else None,
            title=_text(data.pop("title", "")), mime=_text(data.pop("mime", "")), records=records,
            resources=_count(data.pop("resources", None)), revisits=_count(data.pop("revisits", None)),
            bytes=_count(data.pop("bytes", None)),
            text_digest=text_digest if isinstance(text_digest, str) and text_digest else None,
            fidelity=_score(data.pop("fidelity", None)),
            replay_fidelity=_score(data.pop("replay_fidelity", None)),
            check=check if isinstance(check, dict) else None,
            preferred=preferred if isinstance(preferred, bool) else None, extra=data,
        )

    @classmethod
    def from_line(cls, line: str) -> PageEntry | None:
        try:
            return cls.from_json(json.loads(line))
        except ValueError:
            return None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _score(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100 else None


@dataclass
class Annotation:
    """The user's tags and note of one URL, as an annotation record in a WARC states them.

    Each record holds the whole state after a change (the full tag set, the note) and when it
    was made, so the latest record of a URL is its state: no record needs the ones before it,
    and a rebuild reads them in any order.
    """

    url: str
    time: str  # 14 digits, UTC: when the change was made
    tags: tuple[str, ...] = ()
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "time": self.time, "tags": list(self.tags), "note": self.note}

    def to_line(self) -> str:
        return json.dumps(self.to_json(), ensure_ascii=False, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, data: object) -> Annotation | None:
        """The annotation a JSON object describes, or None (records and lists are data)."""
        if not isinstance(data, dict):
            return None
        url, time, tags, note = data.get("url"), data.get("time"), data.get("tags"), data.get("note", "")
        if not (isinstance(url, str) and url and isinstance(time, str) and time.isdigit()
                and isinstance(tags, list) and all(isinstance(t, str) for t in tags)
                and isinstance(note, str)):
            return None
        return cls(url=url, time=time, tags=tuple(tags), note=note)


def latest_annotations(annotations: Iterable[Annotation]) -> dict[str, Annotation]:
    """The state of each URL: its latest annotation (by time; the later one read on a tie)."""
    out: dict[str, Annotation] = {}
    for a in annotations:
        known = out.get(a.url)
        if known is None or a.time >= known.time:
            out[a.url] = a
    return out
