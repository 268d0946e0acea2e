"""A page whose text could not be indexed when it was captured: the warning names the page and the
reason, the page is archived and listed, and `warcache index` makes it searchable."""

from __future__ import annotations

import pytest
from conftest import run_cli
from hostile_site import HostileSite, article_word
from whoosh.util.filelock import FileLock

from warcache.capture import archiver
from warcache.capture.page import CaptureOptions
from warcache.capture.run import run_captures
from warcache.collection import Collection
from warcache.search.index import FullTextIndex
from warcache.warc.writer import DEFAULT_MAX_SIZE

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_page_whose_indexing_failed_is_named_and_warcache_index_makes_it_searchable(tmp_path, monkeypatch,
                                                                                    browser_path):
    coll = Collection(tmp_path, "default").create()
    fulltext = coll.indexes_dir / "fulltext"
    fulltext.mkdir(parents=True, exist_ok=True)
    # The full-text index is busy: another process holds its write lock for longer than a capture
    # waits for it (0.5 s here instead of 60, so that the test does not wait a minute).
    monkeypatch.setattr(archiver, "fulltext_index",
                        lambda c: FullTextIndex(c.indexes_dir / "fulltext", c.name, lock_timeout=0.5))
    lock = FileLock(str(fulltext / "WRITE.lock"))
    assert lock.acquire()
    with HostileSite() as site:
        urls = [site.url("/article/7"), site.url("/article/8")]
        try:
            outcome = run_captures(coll, CaptureOptions(timeout=8, idle_timeout=1, scroll=False), urls,
                                   browser_path=browser_path, max_warc_size=DEFAULT_MAX_SIZE)
        finally:
            lock.release()
    for url, result in zip(urls, outcome.results, strict=True):
        assert result.ok, result
        warnings = [w for w in result.warnings if "full-text" in w]
        assert len(warnings) == 1 and warnings[0].startswith(f"full-text indexing of {url} failed (")
        assert "is busy" in warnings[0] and warnings[0].endswith(
            "it is archived, and `warcache index` makes it searchable"), warnings[0]
    assert {e.url for e in coll.pages()} == set(urls)
    assert run_cli("search", "--json", article_word(7), root=tmp_path).json() == []

    index = run_cli("index", root=tmp_path)
    assert index.code == 0 and "2 pages searchable" in index.stderr, index.stderr
    for n, url in ((7, urls[0]), (8, urls[1])):
        assert [h["url"] for h in run_cli("search", "--json", article_word(n), root=tmp_path).json()] == [url]
    again = run_cli("index", root=tmp_path)
    assert again.code == 0 and "0 pages searchable" in again.stderr, again.stderr
