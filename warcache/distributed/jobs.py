"""A capture job as it travels through the queue: plain JSON, every `add` option included.

Why JSON and not pickle: the broker is shared with other machines, and Celery only accepts JSON
here (`accept_content`), so a message cannot make a worker run anything but a capture.
"""

from __future__ import annotations

import json
import time
from dataclasses import MISSING, asdict, dataclass, field, fields, replace

from warcache.capture.page import CaptureOptions


def options_to_json(opts: CaptureOptions) -> dict:
    """The options as JSON data: tuples become lists, everything else already is JSON (a user
    script or a rules file travels as its content, read where the command was given). A session
    never travels: its cookies are secrets, and the broker is readable by every worker
    (`run_queued` refuses one before anything is queued)."""
    data = json.loads(json.dumps(asdict(replace(opts, session=None))))
    data.pop("session", None)
    return data


def _tuple_fields() -> set[str]:
    out = set()
    for f in fields(CaptureOptions):
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        if isinstance(default, tuple):
            out.add(f.name)
    return out


def options_from_json(data: dict) -> CaptureOptions:
    """The options of a job; keys this version does not know (a newer client) are left out."""
    known = {f.name for f in fields(CaptureOptions)} - {"session"}  # never from a job (options_to_json)
    values = {k: v for k, v in data.items() if k in known}
    for name in _tuple_fields() & set(values):
        values[name] = tuple(values[name])
    return CaptureOptions(**values)


@dataclass
class Job:
    """One URL to capture into one collection, and where its WARC file goes."""

    url: str
    collection: str
    store: str  # where the worker delivers the file (delivery.open_store)
    options: dict = field(default_factory=dict)  # options_to_json(CaptureOptions)
    payloads: str = ""  # Redis key of the collection's digest map ("" = no revisits across files)
    browser: str | None = None  # `add --browser`: that executable on the worker
    enqueued_at: float = field(default_factory=time.time)

    def to_kwargs(self) -> dict:
        return asdict(self)

    @classmethod
    def from_kwargs(cls, data: dict) -> Job:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def capture_options(self) -> CaptureOptions:
        return options_from_json(self.options)
