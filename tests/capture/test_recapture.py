"""`warcache add --recapture-older-than AGE`: the pages whose newest capture is older than AGE are
captured again, on their own (a cron job: `-q`, silent unless something failed, and the exit
status says so) or with other URLs and link sources."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import run_cli

from warcache.capture.batch import plan, stale_urls
from warcache.collection import open_collection
from warcache.pagelist import PageEntry

NOW = "20240601120000"


def _entry(url: str, timestamp: str) -> PageEntry:
    return PageEntry(url=url, timestamp=timestamp, warc="a.warc.gz", offset=0)


@pytest.fixture
def coll(tmp_path):
    coll = open_collection(tmp_path, "default", create=True)
    coll.append_pages([
        _entry("http://a.test/old", "20240101000000"),
        _entry("http://a.test/renewed", "20240101000000"),
        _entry("http://a.test/renewed", "20240531000000"),  # its newest capture is recent
        _entry("http://a.test/older", "20230101000000"),
        _entry("http://a.test/fresh", "20240601110000"),
    ])
    return coll


def test_pages_whose_newest_capture_is_too_old_oldest_first(coll):
    day = 86400
    assert stale_urls(coll, 30 * day, NOW) == ["http://a.test/older", "http://a.test/old"]
    assert stale_urls(coll, 0.5 * day, NOW) == ["http://a.test/older", "http://a.test/old",
                                                "http://a.test/renewed"]
    assert stale_urls(coll, 600 * day, NOW) == []


def test_plan_adds_them_once_after_the_urls_given(coll):
    todo = plan(coll, ["http://a.test/given", "http://a.test/old"], older_than=30 * 86400, now=NOW)
    assert todo.to_capture == ["http://a.test/given", "http://a.test/old", "http://a.test/older"]
    assert todo.stale == ["http://a.test/older"]
    assert plan(coll, ["http://a.test/given"], now=NOW).to_capture == ["http://a.test/given"]


class _Server(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        body = b"<!doctype html><title>Kept fresh</title><p>A page captured again by cron.</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.browser
def test_recapture_older_than_works_on_its_own(tmp_path, browser_path):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/page.html"
    root = tmp_path / "root"
    fast = ["--no-scroll", "--idle-timeout", "0.3"]
    try:
        assert run_cli("add", "-c", "blog", *fast, url, root=root).code == 0
        recent = run_cli("add", "-c", "blog", "--recapture-older-than", "1h", *fast, root=root)
        assert recent.code == 0 and "0 pages of collection 'blog' were last captured more than 1h ago" \
            in recent.stderr and "nothing new to capture" in recent.stderr
        listed = run_cli("add", "-c", "blog", "--recapture-older-than", "1s", "--dry-run", root=root)
        assert listed.code == 0 and listed.stdout.split() == [url]
        again = run_cli("add", "-c", "blog", "--recapture-older-than", "1s", *fast, root=root)
        assert again.code == 0, again.stderr
        assert f"ok 200 {url}" in again.stderr
        # in a crontab: -q prints nothing when all is well, whether there was work or not
        for age in ("30d", "1s"):
            cron = run_cli("add", "-q", "-c", "blog", "--recapture-older-than", age, *fast, root=root)
            assert (cron.code, cron.stdout, cron.stderr) == (0, "", ""), (age, cron.stderr)
    finally:
        httpd.shutdown()
        httpd.server_close()
    pages = run_cli("list", "--json", root=root).json()
    assert [len(p["captures"]) for p in pages] == [3]
    assert pages[0]["captures"][0]["change"] == "unchanged"
    # ... and says what failed, with a non-zero exit, when the site is down
    down = run_cli("add", "-q", "-c", "blog", "--recapture-older-than", "1s", *fast, root=root)
    assert down.code == 1 and down.stdout == ""
    lines = down.stderr.splitlines()
    assert lines[0].startswith(f"[1/1] FAILED {url}: connection refused"), down.stderr
    assert lines[1:] == [f"0 of 1 captured into collection 'blog' (0 B written to "
                         f"{root / 'collections' / 'blog' / 'archive'})"], down.stderr
    assert [len(p["captures"]) for p in run_cli("list", "--json", root=root).json()] == [3]
    missing = run_cli("add", "-c", "nosuch", "--recapture-older-than", "30d", root=root)
    assert missing.code == 1 and "no collection 'nosuch'" in missing.stderr
    assert not (root / "collections" / "nosuch").exists()
