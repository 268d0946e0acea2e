"""Capture times, in one place and in UTC only.

A web archive names a moment with a 14-digit timestamp, `YYYYMMDDhhmmss` (pywb, CDXJ, replay
URLs), and a WARC record with an ISO 8601 `WARC-Date`. Every conversion between those, seconds,
milliseconds and the forms shown to people lives here, so that they agree with each other and
never depend on the machine's time zone: `time.mktime` and naive `datetime`s read the local
zone (an hour off in summer wherever daylight saving applies), so nothing here uses them.

Partial timestamps (`2024`, `202405`) name the start of their period, as in pywb.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime

from warcache.errors import UsageError

FORMAT = "%Y%m%d%H%M%S"
_PAD = "19700101000000"
_WARC_DATE = re.compile(
    r"^\s*(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?)?)?"
    r"\s*(?:Z|[+-]00:?00)?\s*$")


def pad(ts: str) -> str:
    """A partial timestamp (`2024`, `202403`) as a full one at the period's start; non-digits dropped."""
    digits = "".join(ch for ch in ts if ch.isdigit())[:14]
    return digits + _PAD[len(digits):]


def to_datetime(ts: str) -> datetime | None:
    """The aware UTC datetime of a (possibly partial) timestamp, or None if it names no real time."""
    try:
        return datetime.strptime(pad(ts), FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def to_seconds(ts: str) -> float:
    """Seconds since the epoch, UTC (0.0 for a timestamp that names no real time)."""
    when = to_datetime(ts)
    return when.timestamp() if when is not None else 0.0


def to_ms(ts: str) -> int:
    """Milliseconds since the epoch, UTC, as JavaScript's Date takes them (0 if invalid)."""
    when = to_datetime(ts)
    return calendar.timegm(when.timetuple()) * 1000 if when is not None else 0


def from_datetime(when: datetime) -> str:
    """The 14-digit timestamp of an aware datetime (a naive one is taken as UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime(FORMAT)


def now() -> str:
    return from_datetime(datetime.now(UTC))


def from_warc_date(value: str | None) -> str | None:
    """The 14-digit timestamp of a WARC-Date (`2024-05-17T10:20:30.123456Z`, or a shorter form
    the WARC spec allows: `2024`, `2024-05`, `2024-05-17`, `2024-05-17T10:20Z`), or None when it
    is missing or not a real UTC time. Callers skip records without a usable date."""
    match = _WARC_DATE.match(value or "")
    if not match:
        return None
    ts = "".join(part or "" for part in match.groups())
    return pad(ts) if to_datetime(ts) is not None else None


def warc_date(when: datetime) -> str:
    """WARC 1.1 date with microseconds, UTC (`2024-05-17T10:20:30.123456Z`)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_iso(ts: str) -> str:
    """RFC 3339 (`2024-05-17T10:20:30Z`) of a timestamp, partial ones at their period's start."""
    t = pad(ts)
    return f"{t[0:4]}-{t[4:6]}-{t[6:8]}T{t[8:10]}:{t[10:12]}:{t[12:14]}Z"


def to_http_date(ts: str) -> str | None:
    """The HTTP date of a full timestamp (`Fri, 17 May 2024 10:20:30 GMT`), or None if not one."""
    if len(ts) != 14 or not ts.isdigit() or (when := to_datetime(ts)) is None:
        return None
    return when.strftime("%a, %d %b %Y %H:%M:%S GMT")


def display(ts: str, *, seconds: bool = False, zone: bool = True) -> str:
    """`20240517102030` as `2024-05-17 10:20 UTC` (with `:30` if `seconds`, without ` UTC` if not
    `zone`); a timestamp that is not a real time is shown as it is."""
    when = to_datetime(ts[:14]) if len(ts) >= 12 and ts[:12].isdigit() else None
    if when is None:
        return ts
    text = when.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return text + " UTC" if zone else text


def parse_user_timestamp(text: str) -> str:
    """A capture time typed by a person: 4 to 14 digits (`2024`, `20240517`, `20240517102030`),
    with `-`, `:`, `T` or spaces allowed between the parts. Returns the digits, or raises
    UsageError: a time that is not one would otherwise quietly select another capture."""
    digits = "".join(ch for ch in text.strip() if ch not in "-:T ")
    if not (digits.isdigit() and 4 <= len(digits) <= 14 and len(digits) % 2 == 0):
        raise UsageError(f"invalid timestamp {text!r}: use YYYYMMDDhhmmss or a prefix of it "
                         "(2024, 202405, 20240517 ...)")
    if to_datetime(digits) is None:
        raise UsageError(f"invalid timestamp {text!r}: no such date and time")
    return digits


def distance(a: str, b: str) -> float:
    """Seconds between two timestamps (how captures are ranked by nearness in time)."""
    return abs(to_seconds(a) - to_seconds(b))


_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> float:
    """An age typed by a person, in seconds: a number and a unit, `s`, `m`, `h`, `d` or `w`
    (`30d`, `12h`, `2w`, `1.5d`). Raises UsageError for anything else."""
    match = _AGE.match(text or "")
    if not match or float(match.group(1)) <= 0:
        raise UsageError(f"invalid age {text!r}: use a number and a unit, s, m, h, d or w "
                         "(30d, 12h, 2w)")
    return float(match.group(1)) * _AGE_UNITS[match.group(2).lower()]
