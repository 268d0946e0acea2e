"""What a page can ask the browser about itself says "a reader's browser": sites withhold content
from automated or headless browsers, and what gets archived should be what a reader sees. Real
Chromium against the fixture site's bot-wall page (tests/fixture_site.py, /reader-check.html)."""

from __future__ import annotations

import json

import pytest
from fixture_site import MARKERS
from warc_helpers import read_collection

pytestmark = [pytest.mark.browser]


def test_the_page_sees_no_automation_and_shows_its_article(site, tmp_path, cli):
    run = cli("add", site.url("/reader-check.html"), root=tmp_path)
    assert run.code == 0, run.stderr
    records = read_collection(tmp_path / "collections" / "default" / "archive")
    [dom] = [r.content.decode() for r in records if r.uri.startswith("urn:warcache:dom:")]
    signals = dom.split('<p id="signals">', 1)[1].split("</p>", 1)[0]
    assert json.loads(signals) == {"webdriver": False, "headless_ua": False, "headless_brand": False}
    article = dom.split('<article id="article">', 1)[1].split("</article>", 1)[0]
    assert article == f"{MARKERS['reader']}: the article a reader sees."
    for request in (r for r in records if r.type == "request"):
        assert b"Headless" not in request.head, request.head
