"""Capture times are UTC everywhere, whatever the machine's time zone.

Each check runs in a fresh interpreter under several TZ values, on dates inside and outside
daylight saving time: `time.mktime` and naive datetimes would read the local zone there (the
pinned Date of a replayed page was an hour early in summer under TZ=Europe/Paris).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from warcache import timestamps
from warcache.errors import UsageError

ZONES = ["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]

# Summer in Paris (CEST, UTC+2), winter (CET, UTC+1), and the hour clocks go forward and back.
PROBE = r"""
import json, time
time.tzset()
from warcache import timestamps as t
out = {}
for ts in ["20240715120000", "20240115120000", "20240331013000", "20241027023000", "2024", "202407"]:
    out[ts] = [t.to_ms(ts), t.to_seconds(ts), t.to_iso(ts), t.display(ts, seconds=True), t.to_http_date(ts)]
out["warc"] = [t.from_warc_date("2024-07-15T12:00:00.123456Z"), t.from_warc_date("2024-07-15"),
               t.from_warc_date("2024-07-15T12:00Z")]
import datetime as d
out["dt"] = t.from_datetime(d.datetime(2024, 7, 15, 14, 0, tzinfo=d.timezone(d.timedelta(hours=2))))
out["wd"] = t.warc_date(d.datetime(2024, 7, 15, 12, 0, 0, 5, tzinfo=d.UTC))
print(json.dumps(out))
"""


def _probe(tz: str) -> dict:
    env = {**os.environ, "TZ": tz}
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def by_zone() -> dict[str, dict]:
    return {tz: _probe(tz) for tz in ZONES}


def test_every_conversion_gives_the_same_answer_in_every_time_zone(by_zone: dict[str, dict]) -> None:
    first = by_zone["UTC"]
    for tz, result in by_zone.items():
        assert result == first, f"TZ={tz} differs from UTC"


def test_the_values_are_utc_on_dst_dates(by_zone: dict[str, dict]) -> None:
    paris = by_zone["Europe/Paris"]
    # 2024-07-15 12:00:00 UTC, computed independently of the module.
    assert paris["20240715120000"][0] == 1721044800000
    assert paris["20240115120000"][0] == 1705320000000
    assert paris["20240331013000"][2] == "2024-03-31T01:30:00Z"  # not a local time in Paris: still UTC
    assert paris["20241027023000"][3] == "2024-10-27 02:30:00 UTC"  # a local time that happens twice
    assert paris["20240715120000"][4] == "Mon, 15 Jul 2024 12:00:00 GMT"
    assert paris["2024"][2] == "2024-01-01T00:00:00Z"
    assert paris["202407"][0] == 1719792000000
    assert paris["warc"] == ["20240715120000", "20240715000000", "20240715120000"]
    assert paris["dt"] == "20240715120000"
    assert paris["wd"] == "2024-07-15T12:00:00.000005Z"


def test_bad_timestamps_are_refused_the_same_way_everywhere() -> None:
    assert timestamps.from_warc_date(None) is None
    assert timestamps.from_warc_date("") is None
    assert timestamps.from_warc_date("yesterday") is None
    assert timestamps.from_warc_date("2024-13-01T00:00:00Z") is None
    assert timestamps.from_warc_date("2024-02-30") is None
    assert timestamps.from_warc_date("2024-07-15T12:00:00+02:00") is None  # WARC dates are UTC
    assert timestamps.to_ms("20241399") == 0
    assert timestamps.to_http_date("2024") is None
    assert timestamps.display("not a time") == "not a time"
    with pytest.raises(UsageError, match="no such date"):
        timestamps.parse_user_timestamp("20240230")
    with pytest.raises(UsageError, match="YYYYMMDDhhmmss"):
        timestamps.parse_user_timestamp("2024-5")
    assert timestamps.parse_user_timestamp("2024-05-17 10:20") == "202405171020"


def test_nearness_is_symmetric_and_in_seconds() -> None:
    assert timestamps.distance("20240101000010", "20240101000000") == 10
    assert timestamps.distance("20240101000000", "20240101000010") == 10
    assert timestamps.pad("2024-05") == "20240501000000"
