"""End to end through the CLI: capture the fixture site, then find its text with `warcache search`;
rebuild the indexes from the WARCs alone; import WARCs made by other tools."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import run_cli
from fixture_site import MARKERS, RENDERED_TITLE

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def site(shared_capture):
    return shared_capture.site


@pytest.fixture(scope="module")
def archive(shared_capture):
    """The shared capture: /final.html twice in one run (two captures of one URL in one WARC
    file) and once more in collection "second". Tests that change it use a copy."""
    assert shared_capture.run.code == 0, shared_capture.run.stderr
    assert shared_capture.second.code == 0, shared_capture.second.stderr
    return shared_capture.root


def _final_captures(root, site) -> int:
    """How many captures of /final.html collection "default" can tell apart by their 14-digit time
    (the key of the page list, the full-text index and replay)."""
    pages = run_cli("list", "--json", "-c", "default", root=root).json()
    page = next(p for p in pages if p["url"] == site.url("/final.html"))
    return len({c["timestamp"] for c in page["captures"]})


def _search(root, *query, code=0):
    run = run_cli("search", "--json", *query, root=root)
    assert run.code == code, run.stderr
    return run.json() if code == 0 else run


@pytest.mark.parametrize("marker", ["article", "more3", "cross_json", "module", "echo"])
def test_text_only_javascript_scrolling_or_another_origin_put_on_the_page_is_found(archive, site, marker):
    hits = _search(archive, MARKERS[marker])
    # The app's home page, captured over http and over https in the shared run: both, and nothing else.
    assert sorted(h["url"] for h in hits) == sorted([site.url("/"), site.https_url("/")]), marker
    hit = next(h for h in hits if h["url"] == site.url("/"))
    assert hit["title"] == RENDERED_TITLE  # the title the page showed, not the raw <title>
    assert MARKERS[marker] in hit["snippet"]
    for key in ("url", "title", "timestamp", "score", "snippet", "collection", "hash_url"):
        assert key in hit
    import hashlib

    assert hit["hash_url"] == hashlib.md5(site.url("/").encode()).hexdigest()


def test_all_collections_are_searched_unless_narrowed(archive, site):
    hits = _search(archive, MARKERS["final"])
    # default: /final.html twice (see _final_captures), and /redirect, whose chain ends there;
    # second: /final.html once
    # With -j 2 the run's two captures of /final.html may begin together: the archiver starts the
    # second in another second, so they stay two captures everywhere.
    assert _final_captures(archive, site) == 2
    assert sorted(h["collection"] for h in hits) == ["default"] * 3 + ["second"]
    assert [h["collection"] for h in _search(archive, MARKERS["final"], "-c", "second")] == ["second"]


def test_query_operators(archive, site):
    assert _search(archive, f"{MARKERS['article']} site:127.0.0.1")
    assert not _search(archive, f"{MARKERS['article']} site:example.org")
    assert not _search(archive, f"{MARKERS['article']} before:2000-01-01")
    assert _search(archive, f"{MARKERS['article']} after:2000")
    assert not _search(archive, f"{MARKERS['article']} NOT {MARKERS['cross_json']}")
    assert _search(archive, f"{MARKERS['final']} OR nosuchwordanywhere")
    # /redirect is listed under the URL asked for; its chain ends at /final.html, whose title it shows
    titled = {h["url"] for h in _search(archive, "title:Final")}
    assert titled == {site.url("/final.html"), site.url("/redirect")}


def test_human_output_groups_captures_and_is_plain_when_not_a_tty(shared_capture, site, tmp_path):
    archive = shared_capture.copy(tmp_path)
    run_cli("add", site.url("/final.html"), root=archive)
    hits = _search(archive, MARKERS["final"], "-c", "default")
    final = [h for h in hits if h["url"] == site.url("/final.html")]
    assert len(final) == _final_captures(archive, site) == 3  # the shared run's two, and this one
    assert {h["url"] for h in hits} == {site.url("/final.html"), site.url("/redirect")}
    run = run_cli("search", MARKERS["final"], "-c", "default", root=archive)
    assert run.code == 0
    assert run.stdout.count(site.url("/final.html") + "\n") == 1  # one group for both captures
    assert "\x1b[" not in run.stdout


@pytest.mark.parametrize("query", ['"unclosed phrase', "(a OR b", "after:2024-13-45", "title:"])
def test_malformed_queries_are_one_line_errors(archive, query):
    run = run_cli("search", query, root=archive)
    assert run.code != 0
    assert run.stderr.startswith("Error: ") and "Traceback" not in run.stderr


def test_indexes_rebuilt_from_the_warcs_alone_match_what_capture_wrote(shared_capture, tmp_path):
    archive = shared_capture.copy(tmp_path)
    coll = archive / "collections" / "default" / "indexes"
    before_pages = sorted((coll / "pages.jsonl").read_text().splitlines())
    before_cdxj = sorted(line for f in coll.glob("*.cdxj") for line in f.read_text().splitlines())
    before_hits = _search(archive, MARKERS["article"])
    shutil.rmtree(coll)  # lose every index
    assert _search(archive, MARKERS["article"], "-c", "second") == []
    run = run_cli("index", "--rebuild", "-c", "default", root=archive)
    assert run.code == 0, run.stderr
    after_pages = sorted((coll / "pages.jsonl").read_text().splitlines())
    after_cdxj = sorted(line for f in coll.glob("*.cdxj") for line in f.read_text().splitlines())
    assert [json.loads(p) for p in after_pages] == [json.loads(p) for p in before_pages]
    assert after_cdxj == before_cdxj
    after_hits = _search(archive, MARKERS["article"])
    assert [(h["url"], h["timestamp"], h["title"]) for h in after_hits] == \
        [(h["url"], h["timestamp"], h["title"]) for h in before_hits]


def test_import_every_shared_warc(shared_dir, tmp_path):
    """Origin of the files: see ../shared/corpora/README.md (webrecorder/warcio, warcio.js, iipc)."""
    files = sorted(p for p in (shared_dir / "corpora" / "warcs").rglob("*")
                   if p.is_file() and not p.name.endswith((".md", ".txt")) and "LICENSE" not in p.name)
    assert len(files) >= 25
    for path in files:
        run = run_cli("import", "-c", "imported", str(path), root=tmp_path)
        assert "Traceback" not in run.stderr, (path, run.stderr)
        if run.code == 0:
            assert "imported 1 of 1" in run.stderr or "already in collection" in run.stderr, run.stderr
        else:
            assert run.stderr.startswith("error: ") and str(path) in run.stderr, run.stderr
    archive = tmp_path / "collections" / "imported" / "archive"
    assert len(list(archive.iterdir())) >= 20
    # a truncated file: every readable record indexed, and the file and offset named
    trunc = (shared_dir / "corpora" / "warcs" / "webarchive-commons"
             / "IAH-20080430204825-00000-blackbook-truncated.arc")
    run = run_cli("import", "-c", "other", str(trunc), root=tmp_path)
    assert run.code == 0 and "reading stopped at offset" in run.stderr and trunc.name in run.stderr
    # pages from other tools are searchable
    hits = _search(tmp_path, "Example Domain", "-c", "imported")
    assert any(h["url"].startswith("http://example.com/") for h in hits), hits


def test_import_refuses_what_is_not_a_warc(tmp_path):
    page = tmp_path / "page.html"
    page.write_text("<html><body>hello</body></html>")
    run = run_cli("import", str(page), str(tmp_path / "missing.warc"), str(tmp_path), root=tmp_path / "root")
    assert run.code == 1 and "Traceback" not in run.stderr
    assert run.stderr.count("error: ") == 3
    assert not list((tmp_path / "root" / "collections" / "default" / "archive").iterdir())
