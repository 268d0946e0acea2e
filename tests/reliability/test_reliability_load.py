"""The replay server under load: 50 concurrent keep-alive connections for 5 s (scripts/load_replay.py
runs the 30-second version): zero errors, every answer as an unloaded server gives it, bounded memory."""

from __future__ import annotations

import sys

import pytest
from conftest import REPO

pytestmark = [pytest.mark.browser, pytest.mark.slow]

sys.path.insert(0, str(REPO / "scripts"))
from load_replay import capture_archive, run_load  # noqa: E402


def test_fifty_connections_for_five_seconds_get_every_answer_right(tmp_path, browser_path):
    capture_archive(tmp_path, articles=4)
    report = run_load(tmp_path, connections=50, seconds=5)
    print(report.summary())
    assert report.errors == 0, report.error_samples[:5]
    assert report.requests > 200 and report.targets > 20
    assert report.percentile(99) < 5000
    assert report.peak_rss_mb < 500
