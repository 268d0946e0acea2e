"""End to end: every capture checks itself (issue 11), with the real browser against local sites.

`warcache add` replays each page from the archive alone, by request interception and through
the replay server, and scores each replay against what the capture saw live. These tests make
the captures the score is about (the fixture site, a damaged copy of its archive, a page that
shows other text when a request fails) and read the scores back the ways a user does: add's
line and --json, list, show, the WARC's own metadata record, and after a rebuild.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import run_cli
from fixture_site import FixtureSite
from warc_helpers import read_collection
from warcio.archiveiterator import ArchiveIterator

pytestmark = [pytest.mark.browser]

CHECK = {"WARCACHE_NO_CHECK": ""}  # run_cli turns the check off for other tests: on here


def _add(root: Path, *args: str) -> list[dict]:
    run = run_cli("add", "--json", *args, root=root, env=CHECK)
    assert run.code == 0, run.stderr
    assert "Traceback" not in run.stderr
    return run.json()


def _list(root: Path, *args: str) -> list[dict]:
    run = run_cli("list", "--json", *args, root=root)
    assert run.code == 0, run.stderr
    return run.json()


def _show(root: Path, url: str) -> list[dict]:
    run = run_cli("show", "--json", url, root=root)
    assert run.code == 0, run.stderr
    return run.json()


def _archive(root: Path, coll: str = "default") -> Path:
    return root / "collections" / coll / "archive"


@pytest.fixture(scope="module")
def fixture_site():
    with FixtureSite() as site:
        yield site


@pytest.fixture(scope="module")
def faithful(fixture_site, tmp_path_factory):
    """One checked capture of the fixture site's JavaScript page (24 requests, scroll-loaded)."""
    root = tmp_path_factory.mktemp("faithful")
    url = fixture_site.url("/")
    run = run_cli("add", "--json", url, root=root, env=CHECK)
    assert run.code == 0, run.stderr
    return root, url, run


def test_a_faithful_capture_scores_at_least_95_by_interception(faithful):
    root, url, run = faithful
    [result] = run.json()
    assert result["ok"], result
    assert result["fidelity"] >= 95, run.stderr
    assert result["replay_fidelity"] is not None and result["replay_fidelity"] >= 90, run.stderr
    # add's line says it
    assert f"fidelity {result['fidelity']} (replay server {result['replay_fidelity']})" in run.stderr
    # so do list and show, from the page list and the check record
    [page] = _list(root)
    assert page["fidelity"] == result["fidelity"] and page["replay_fidelity"] == result["replay_fidelity"]
    [shown] = _show(root, url)
    assert shown["fidelity"] == result["fidelity"]
    assert set(shown["check"]["modes"]) == {"intercept", "replay"}
    assert shown["check"]["modes"]["intercept"]["not_archived"] == []
    text = run_cli("show", url, root=root).stdout
    assert f"fidelity     {result['fidelity']} by interception" in text


def test_the_check_is_a_metadata_record_right_after_the_page_it_refers_to(faithful):
    root, url, _run = faithful
    records = read_collection(_archive(root))
    page = next(r for r in records if r.uri == f"urn:warcache:page:{url}")
    after = records[records.index(page) + 1:]
    check = next(r for r in after if r.type == "metadata" and r.uri == f"urn:warcache:check:{url}")
    # only the replays' screenshots lie between the page record and its check
    between = after[:after.index(check)]
    assert all(r.type == "resource" and r.uri.startswith("urn:warcache:check-screenshot:") for r in between)
    assert {r.uri.split(":")[3] for r in between} == {"intercept", "replay"}
    assert check.headers["WARC-Refers-To"] == page.id
    info = json.loads(check.payload)
    assert info["capture"]["record_id"] == page.id and info["url"] == url
    assert info["software"].startswith("warcache/")
    for mode in ("intercept", "replay"):
        assert 0 <= info["modes"][mode]["score"] <= 100
        assert set(info["modes"][mode]["measures"]) == {"screenshot", "text", "resources", "console"}


def _copy_without(src: Path, dest: Path, url: str) -> None:
    """A new WARC file with every record of `src` except those of `url` (gzip members copied
    byte for byte); `src` is only read."""
    keep: list[tuple[int, int]] = []
    with open(src, "rb") as fh:
        it = ArchiveIterator(fh, no_record_parse=True)
        for record in it:
            uri = record.rec_headers.get_header("WARC-Target-URI") or ""
            record.raw_stream.read()
            it.read_to_end(record)
            if uri != url:
                keep.append((it.get_record_offset(), it.get_record_length()))
    data = src.read_bytes()
    with open(dest, "wb") as out:
        for offset, length in keep:
            out.write(data[offset:offset + length])


def test_a_capture_missing_a_resource_scores_lower_and_names_it(faithful, fixture_site, tmp_path):
    root, url, run = faithful
    [result] = run.json()
    missing = fixture_site.url("/api/article.json")
    originals = sorted(_archive(root).iterdir())
    before = {p.name: p.read_bytes() for p in originals}
    damaged = tmp_path / "damaged"
    _archive(damaged).mkdir(parents=True)
    for path in originals:
        _copy_without(path, _archive(damaged) / path.name, missing)
    assert all(p.read_bytes() == before[p.name] for p in originals)  # the original is untouched
    assert run_cli("index", "--rebuild", root=damaged).code == 0
    check = run_cli("check", url, root=damaged)
    assert check.code == 0, check.stderr
    [shown] = _show(damaged, url)
    assert shown["fidelity"] < result["fidelity"], check.stderr
    intercept = shown["check"]["modes"]["intercept"]
    assert missing in intercept["not_archived"]
    assert any(missing in reason for reason in intercept["reasons"]), intercept["reasons"]
    assert missing in check.stderr  # `warcache check` says why, too


class _OfflineSensitive(BaseHTTPRequestHandler):
    """A page whose script asks for a URL that differs at each load and shows other text when
    the request fails: replayed from the archive, it shows its fallback."""

    PAGE = b"""<!doctype html><html><head><title>Offline sensitive</title></head><body>
<h1>Weather station</h1><p id="out">waiting</p>
<script>
fetch("/reading/" + crypto.randomUUID()).then((r) => r.text()).then((t) => {
  document.getElementById("out").textContent = "Live reading: " + t;
}).catch(() => {
  const out = document.getElementById("out");
  out.textContent = "NO CONNECTION: the station could not be reached, showing nothing at all";
  out.style.cssText = "background:#c00;color:#fff;font-size:40px;padding:80px";
});
</script></body></html>"""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == "/":
            body, kind = self.PAGE, "text/html; charset=utf-8"
        elif self.path.startswith("/reading/"):
            body, kind = b"21.5 degrees, wind 3 m/s from the west", "text/plain"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def offline_site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OfflineSensitive)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_a_page_that_renders_differently_offline_is_flagged_and_captured_again(offline_site, tmp_path):
    run = run_cli("add", "--json", "--retry-below", "90", offline_site, root=tmp_path, env=CHECK)
    assert run.code == 0, run.stderr
    [result] = run.json()
    assert result["ok"] and result["first_fidelity"] is not None and result["first_fidelity"] < 90
    assert result["fidelity"] < 90
    assert "warning: fidelity" in run.stderr and "a replay from the archive differs" in run.stderr
    assert "captured twice" in run.stderr
    [shown, *_] = _show(tmp_path, offline_site)
    reasons = " ".join(shown["check"]["modes"]["intercept"]["reasons"])
    assert "Live reading" in reasons and "NO CONNECTION" in reasons, reasons
    assert any("/reading/" in u for u in shown["check"]["modes"]["intercept"]["not_archived"])
    # list --below finds it; both captures are kept, one of them marked as the page's
    [page] = _list(tmp_path, "--below", "90")
    assert page["url"] == offline_site and len(page["captures"]) == 2
    assert sorted(c["preferred"] for c in page["captures"]) == [False, True]
    assert _list(tmp_path, "--below", "1") == []


def test_a_rebuild_gives_the_same_scores_and_reasons(faithful, tmp_path):
    root, url, _run = faithful
    import shutil

    copy = tmp_path / "root"
    shutil.copytree(root, copy)
    before_list, before_show = _list(copy), _show(copy, url)
    shutil.rmtree(copy / "collections" / "default" / "indexes")  # the page list with the rest
    rebuild = run_cli("index", "--rebuild", root=copy)
    assert rebuild.code == 0, rebuild.stderr
    assert _list(copy) == before_list
    assert _show(copy, url) == before_show
    assert before_show[0]["check"]["modes"]["intercept"]["reasons"] is not None


def test_check_all_appends_a_new_file_and_changes_no_earlier_byte(faithful, fixture_site, tmp_path):
    root, url, _run = faithful
    import shutil

    copy = tmp_path / "root"
    shutil.copytree(root, copy)
    _add(copy, "--no-check", fixture_site.url("/final.html"))  # a capture never checked
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in _archive(copy).iterdir()}
    first = _show(copy, url)[0]["check"]["checked"]
    assert _show(copy, fixture_site.url("/final.html"))[0]["fidelity"] is None
    run = run_cli("check", "--all", root=copy)
    assert run.code == 0, run.stderr
    assert "2 of 2 captures checked" in run.stderr
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in _archive(copy).iterdir()}
    assert {k: after[k] for k in before} == before
    assert len(after) == len(before) + 1  # the checks went into a new file
    assert _show(copy, url)[0]["check"]["checked"] > first  # the latest check counts
    assert _show(copy, fixture_site.url("/final.html"))[0]["fidelity"] >= 95
