"""An archive written by an earlier warcache still opens, searches, lists, verifies and replays.

tests/data/legacy-root was made by warcache at commit 3e6faf4 (before the code was split into
one package per layer): two captures of a small page whose second paragraph only a script put
on the page. Its full-text index names the modules of that version (warcache.fulltext_analysis,
warcache.fulltext_postings) inside its files, and its CDXJ, page list and dedup table are as
that version wrote them. Nothing here rebuilds anything: the files are used as they are.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import REPO, run_cli
from werkzeug.test import Client

from warcache.replay import make_app

LEGACY = REPO / "tests" / "data" / "legacy-root"
URL = "http://127.0.0.1:18765/"
SCRIPT_TEXT = "the storm of 1893 kept the lamp burning"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    dest = tmp_path / "root"
    shutil.copytree(LEGACY, dest)
    return dest


def test_search_finds_text_only_the_script_put_on_the_page(root: Path) -> None:
    run = run_cli("search", "--json", "storm", "1893", root=root)
    assert run.code == 0, run.stderr
    hits = run.json()
    assert {h["url"] for h in hits} == {URL}
    assert len(hits) == 2  # both captures
    assert "older, slower layout" not in run.stderr


def test_list_show_and_verify(root: Path) -> None:
    listed = run_cli("list", "--json", root=root)
    assert listed.code == 0, listed.stderr
    pages = listed.json()
    assert [p["url"] for p in pages] == [URL]
    assert len(pages[0]["captures"]) == 2
    assert pages[0]["title"] == "Legacy fixture article"
    shown = run_cli("show", "--json", URL, root=root)
    assert shown.code == 0, shown.stderr
    captures = shown.json()
    assert len(captures) == 2
    assert all(c["article_chars"] > 150 and c["screenshot"] for c in captures)
    verified = run_cli("verify", root=root)
    assert verified.code == 0, verified.stderr


def test_replay_serves_the_page_and_its_assets(root: Path) -> None:
    app = make_app(root, ui_port=18080, replay_port=18081)
    client = Client(app)
    doc = {"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate"}
    entry = client.get(f"/legacy/20261205010355/{URL}", base_url="http://legacy.localhost:18081", headers=doc)
    assert entry.status_code == 302  # on to the page's session host (see warcache/replay/origins.py)
    where = urlsplit(entry.headers["Location"])
    page = client.get(where.path, base_url=f"{where.scheme}://{where.netloc}", headers=doc)
    assert page.status_code == 200
    assert b"Lighthouses of the northern coast" in page.data
    fetch = {"Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin"}
    data = client.get(f"/legacy/20261205010355/{URL}more.json", base_url="http://legacy.localhost:18081",
                      headers=fetch)
    assert data.status_code == 200
    assert SCRIPT_TEXT.encode() in data.data
    listing = client.get("/legacy/", base_url="http://127.0.0.1:18080")
    assert listing.status_code == 200 and b"Legacy fixture article" in listing.data
    app.close()


def test_new_captures_and_indexing_add_to_it(root: Path) -> None:
    run = run_cli("index", "-c", "legacy", root=root)
    assert run.code == 0, run.stderr
    again = run_cli("search", "--json", "lighthouses", root=root)
    assert again.code == 0 and len(again.json()) == 2
