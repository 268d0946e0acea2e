"""The check opens the next check's pages ahead (issue 11's cost): those pages must be used, and
the scores they give must mean the same, faithful or not. Real browser, local sites only."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fixture_site import FixtureSite
from test_fidelity import offline_site  # noqa: F401 - the module fixture, shared

import warcache.fidelity.after_capture as after_capture
from warcache.capture.archiver import Archiver
from warcache.capture.page import CaptureOptions
from warcache.chromium import find_browser
from warcache.collection import open_collection

pytestmark = [pytest.mark.browser]


def test_the_pages_opened_ahead_are_used_and_score_as_fresh_ones(offline_site, tmp_path: Path,  # noqa: F811
                                                                 monkeypatch):
    opened = []
    real_open = after_capture.open_fresh_pages

    async def spy(browser, viewport, user_agent):  # noqa: ANN001
        pages = await real_open(browser, viewport, user_agent)
        opened.append((pages.intercept, pages.replay))
        return pages

    monkeypatch.setattr(after_capture, "open_fresh_pages", spy)
    coll = open_collection(tmp_path, "ahead", create=True)

    async def run(urls: list[str]) -> list:
        results = []
        with after_capture.FidelityChecker(coll) as checker:
            async with Archiver(coll, CaptureOptions(), find_browser(), after_store=checker) as archiver:
                for url in urls:
                    results.append(await archiver.add(url))
        return results

    with FixtureSite() as site:
        faithful, damaged, again = asyncio.run(run([site.url("/"), offline_site, site.url("/")]))
    # The first check opened its own pages; each later one used those opened by the check before
    # (the last check's, for a page that never came, may still be opening when the browser closes).
    assert len(opened) >= 2
    for (intercept, replay), url in zip(opened[:2], (offline_site, site.url("/")), strict=True):
        assert intercept.url == url and intercept.is_closed()
        assert replay.url != "about:blank" and replay.is_closed()  # the replay server's page
    assert all(r.ok for r in (faithful, damaged, again))
    assert faithful.fidelity >= 95 and faithful.replay_fidelity >= 90
    assert again.fidelity >= 95 and again.replay_fidelity >= 90
    assert damaged.fidelity < 90
    # it is flagged, naming the request the archive could not answer
    assert any("a replay from the archive differs" in w and "/reading/" in w for w in damaged.warnings), \
        damaged.warnings
