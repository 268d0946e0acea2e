"""`warcache forget` on real captures: what goes, what stays byte for byte, revisits elsewhere
still replaying what the server sent, every index and export without the page, confirmation,
refusal while a capture runs, and a forget killed at any moment.

A small server on 127.0.0.1 serves an article whose text changes with each request, another page,
and a stylesheet, an image and a 404 favicon that both pages load. `warcache add -j 1` captures the
article, the other page, then the article again: the other page and the article's second capture
store those three payloads as revisits of the article's first capture. Then /flaky.html twice: the
first time it redirects without end (a failed capture, archived but not listed), then it works.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import pty
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import REPO, run_cli
from hostile_site import children_of, kill_all
from warc_helpers import read_collection, warcio_check
from warcio.warcwriter import WARCWriter
from werkzeug.test import Client

from warcache import dirswap
from warcache.collection import Collection
from warcache.index.cdxj import CdxjIndex
from warcache.manage.wacz import write_wacz
from warcache.replay import make_app
from warcache.search.archive import search_archive
from warcache.urls import hash_url

pytestmark = [pytest.mark.browser]

CSS = b"/* shared stylesheet */\n" + b"article { color: #2a4d69; margin: 0 auto; }\n" * 30
PNG = bytes.fromhex(  # a 1x1 PNG
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5b0000000049454e44ae426082")
FAVICON_404 = b"no favicon here\n"
FAST = ["--no-check", "-j", "1", "--no-scroll", "--idle-timeout", "1"]


def _article(n: int) -> bytes:
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Osprey survey</title>
<link rel="stylesheet" href="/style.css"></head><body><article><h1>Osprey survey</h1>
<p>The volunteers counted ospreys along the estuary again this spring, word ospreyrev{n} marks
this revision, and {n * 7} nests were found on the old channel markers.</p>
<p>The counting method stays the same from year to year so the figures can be compared.</p>
<img src="/logo.png" alt="logo" width="1" height="1"></article></body></html>""".encode()


OTHER = b"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Lighthouse keepers</title>
<link rel="stylesheet" href="/style.css"></head><body><article><h1>Lighthouse keepers</h1>
<p>The last lighthousekeeper of the northern cape kept a log of every passing ship for forty years.</p>
<img src="/logo.png" alt="logo" width="1" height="1"></article></body></html>"""


class _Server(BaseHTTPRequestHandler):
    hits = 0
    flaky = 0

    def do_GET(self):  # noqa: N802 - http.server's name
        if self.path == "/flaky.html":
            type(self).flaky += 1
        if self.path.startswith("/flaky.html") and (type(self).flaky == 1 or "?" in self.path):
            hop = int(self.path.partition("=")[2] or 0) + 1
            self.send_response(302)
            self.send_header("Location", f"/flaky.html?hop={hop}")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/flaky.html":
            self._send(200, "text/html; charset=utf-8", b"<title>Flaky</title><p>flakyword at last.</p>")
        elif self.path == "/news.html":
            type(self).hits += 1
            self._send(200, "text/html; charset=utf-8", _article(type(self).hits))
        elif self.path == "/other.html":
            self._send(200, "text/html; charset=utf-8", OTHER)
        elif self.path == "/style.css":
            self._send(200, "text/css", CSS)
        elif self.path == "/logo.png":
            self._send(200, "image/png", PNG)
        else:
            self._send(404, "text/plain", FAVICON_404)

    def _send(self, status: int, ctype: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def captured(tmp_path_factory, browser_path):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    root = tmp_path_factory.mktemp("forget-root")
    news, other, flaky = base + "/news.html", base + "/other.html", base + "/flaky.html"
    try:
        run = run_cli("add", *FAST, news, other, news, flaky, flaky, root=root)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert f"FAILED {flaky}: redirect loop" in run.stderr and f"ok 200 {flaky}" in run.stderr, run.stderr
    assert run.stderr.count("FAILED") == 1
    pages = run_cli("list", "--json", root=root).json()
    times = {p["url"]: sorted(c["timestamp"] for c in p["captures"]) for p in pages}
    assert len(times[news]) == 2 and len(times[other]) == 1 and len(times[flaky]) == 1
    return {"root": root, "base": base, "news": news, "other": other, "flaky": flaky,
            "news_times": times[news], "other_time": times[other][0]}


@pytest.fixture
def root(captured, tmp_path) -> Path:
    copy = tmp_path / "root"
    shutil.copytree(captured["root"], copy)
    return copy


def _archive(root: Path) -> Path:
    return root / "collections" / "default" / "archive"


def _files(root: Path) -> dict[str, str]:
    """Every file under the root (lock files aside) and a digest of its bytes."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.endswith(".lock")}


def _spans(records) -> dict[str, list]:
    """The records of each capture: from after a warcinfo or page record to the next page record."""
    spans: dict[str, list] = {}
    current: list = []
    for rec in records:
        if rec.type == "warcinfo":
            current = []
            continue
        current.append(rec)
        if rec.type == "metadata" and rec.uri.startswith("urn:warcache:page:"):
            spans[rec.headers["WARC-Date"] + " " + rec.uri] = current
            current = []
    return spans


def _capture_span(records, url: str, nth: int) -> list:
    spans = [s for key, s in _spans(records).items() if key.endswith("urn:warcache:page:" + url)]
    return spans[nth]


def _forget(root: Path, *args: str):
    return run_cli("forget", "--yes", *args, root=root)


def _replay(app, path: str):
    return Client(app).get(path, base_url="http://127.0.0.1:18081", follow_redirects=True)


def test_forgetting_one_capture_removes_its_records_and_keeps_every_other_byte(captured, root):
    news, first, second = captured["news"], *captured["news_times"]
    before = read_collection(_archive(root))
    old_files = sorted(p.name for p in _archive(root).iterdir())
    span = _capture_span(before, news, 0)
    gone = {r.id for r in span}
    assert {r.type for r in span} >= {"response", "request", "resource", "metadata"}
    assert any(r.uri == "urn:warcache:screenshot:" + news for r in span)

    run = _forget(root, news, "--at", first)
    assert run.code == 0, run.stderr
    assert f"forgot 1 capture of {news}" in run.stderr and f"{len(span)} records" in run.stderr

    after = read_collection(_archive(root))
    assert {r.id for r in after} == {r.id for r in before} - gone
    changed = {r.id for r in after if r.type == "response"} - {r.id for r in before if r.type == "response"}
    assert changed  # revisits of the forgotten payloads, now responses (next test)
    by_id = {r.id: r for r in before}
    for rec in after:
        old = by_id[rec.id]
        if old.headers.get("WARC-Refers-To") in gone:
            continue  # revisits rewritten to stand in for what was forgotten (next test)
        assert (rec.headers, rec.head, rec.payload) == (old.headers, old.head, old.payload), rec.uri
    # a new file under a new name; the old one is gone (with the old directory)
    new_files = sorted(p.name for p in _archive(root).iterdir())
    assert len(new_files) == len(old_files) == 1 and new_files != old_files
    assert new_files[0] == old_files[0].replace(".warc.gz", "-f1.warc.gz")
    assert warcio_check(list(_archive(root).glob("*.warc.gz"))).returncode == 0
    assert not list((root / "collections").glob(".*.rewrite"))

    pages = run_cli("list", "--json", root=root).json()
    listed = {p["url"]: [c["timestamp"] for c in p["captures"]] for p in pages}
    assert listed[news] == [second] and listed[captured["other"]] == [captured["other_time"]]
    assert [c["timestamp"] for c in run_cli("show", "--json", news, root=root).json()] == [second]
    assert run_cli("search", "--json", "ospreyrev1", root=root).json() == []
    assert [h["timestamp"] for h in run_cli("search", "--json", "ospreyrev2", root=root).json()] == [second]
    verify = run_cli("verify", root=root)
    assert verify.code == 0, verify.stderr


def test_revisits_of_a_forgotten_payload_still_replay_what_the_server_sent(captured, root):
    news, other, base = captured["news"], captured["other"], captured["base"]
    first, second = captured["news_times"]
    before = read_collection(_archive(root))
    originals = {r.id: r for r in _capture_span(before, news, 0) if r.type == "response"}
    other_revisits = [r for r in _capture_span(before, other, 0) if r.type == "revisit"]
    news2_revisits = [r for r in _capture_span(before, news, 1) if r.type == "revisit"]
    assert {r.uri for r in other_revisits} >= {base + "/style.css", base + "/logo.png"}
    assert all(r.headers["WARC-Refers-To"] in originals for r in other_revisits + news2_revisits)

    app = make_app(root, ui_port=18080, replay_port=18081)  # a server running through the forget
    try:
        assert _replay(app, f"/default/{captured['other_time']}id_/{base}/style.css").data == CSS
        entries = len(app.page_entries("default"))
        run = _forget(root, news, "--at", first)
        assert run.code == 0, run.stderr
        assert "revisits in other captures now hold the payload" in run.stderr

        after = {r.id: r for r in read_collection(_archive(root))}
        sent = {base + "/style.css": CSS, base + "/logo.png": PNG, base + "/favicon.ico": FAVICON_404}
        for revisit in other_revisits:  # the earliest revisit of each payload now holds it
            now = after[revisit.id]
            original = originals[revisit.headers["WARC-Refers-To"]]
            assert now.type == "response" and now.uri == revisit.uri
            assert now.payload == original.payload and now.content == sent[revisit.uri]
            assert now.headers["WARC-Date"] == revisit.headers["WARC-Date"]
            assert now.headers["WARC-Refers-To"] == original.id  # a note of where it came from
            assert now.head == revisit.head  # what the server sent that time, so what replay shows
            assert any(r.type == "request" and r.headers.get("WARC-Concurrent-To") == revisit.id
                       for r in after.values())
        moved = {originals[r.headers["WARC-Refers-To"]].uri: r.id for r in other_revisits}
        for revisit in news2_revisits:  # later revisits point at those
            now = after[revisit.id]
            assert now.type == "revisit" and now.head == revisit.head
            assert now.headers["WARC-Refers-To"] == moved[revisit.uri]

        # the server that was running keeps serving, from the new files
        for ts in (captured["other_time"], second):
            for path, body in ((base + "/style.css", CSS), (base + "/logo.png", PNG)):
                response = _replay(app, f"/default/{ts}id_/{path}")
                assert response.status_code == 200 and response.data == body, (ts, path)
        page = _replay(app, f"/default/{first}id_/{news}")  # the forgotten time: the nearest left
        assert page.status_code == 200 and b"ospreyrev2" in page.data and b"ospreyrev1" not in page.data
        assert len(app.page_entries("default")) == entries - 1
    finally:
        app.close()
    fresh = make_app(root, ui_port=18080, replay_port=18081)
    try:
        assert _replay(fresh, f"/default/{captured['other_time']}id_/{base}/logo.png").data == PNG
    finally:
        fresh.close()


def test_forgetting_every_capture_of_a_page_takes_it_out_of_search_exports_and_replay(captured, root,
                                                                                         tmp_path):
    other = captured["other"]
    run = _forget(root, hash_url(other))  # by the md5 of its URL, as `show` takes it
    assert run.code == 0, run.stderr
    assert f"forgot 1 capture of {other}" in run.stderr
    assert "in other captures" not in run.stderr  # it held no original payload
    assert other not in {p["url"] for p in run_cli("list", "--json", root=root).json()}
    shown = run_cli("show", other, root=root)
    assert shown.code == 1 and "no capture of" in shown.stderr
    assert run_cli("search", "--json", "lighthousekeeper", root=root).json() == []
    exported = run_cli("export", "cache", str(tmp_path / "site"), root=root)
    assert exported.code == 0, exported.stderr
    assert not list((tmp_path / "site").glob(f"*/{hash_url(other)}"))
    assert list((tmp_path / "site").glob(f"*/{hash_url(captured['news'])}/index.md"))
    coll = Collection(root, "default")
    report = write_wacz(coll, tmp_path / "x.wacz")
    with zipfile.ZipFile(report.path) as zf:
        index = zf.read("indexes/index.cdxj").decode()
        pages = zf.read("pages/pages.jsonl").decode()
    assert other not in index and other not in pages and captured["news"] in pages
    with CdxjIndex(coll.indexes_dir) as cdxj:
        assert cdxj.lookup(other) == []
    app = make_app(root, ui_port=18080, replay_port=18081)
    try:
        assert _replay(app, f"/default/id_/{other}").status_code == 404
    finally:
        app.close()
    assert run_cli("verify", root=root).code == 0


def test_forgetting_every_capture_takes_the_failed_attempts_too(captured, root):
    flaky = captured["flaky"]
    before = read_collection(_archive(root))
    attempts = [r for r in before if r.uri.startswith(flaky) or r.uri == "urn:warcache:page:" + flaky]
    assert len([r for r in attempts if r.type == "metadata"]) == 2  # one listed, one failed (not listed)
    assert len([r for r in attempts if r.type == "response"]) > 20  # the redirects
    run = _forget(root, flaky)
    assert run.code == 0, run.stderr
    assert "forgot 1 capture" in run.stderr
    after = read_collection(_archive(root))
    assert not [r for r in after if flaky in r.uri]
    assert len(after) < len(before) - len(attempts)  # their requests, screenshots, DOMs went too
    assert run_cli("verify", root=root).code == 0


def _write_notes(path: Path, notes: dict[str, bytes]) -> None:
    """A WARC of its own holding `urn:warcache:annotation:URL` records, the way tags and notes
    are written apart from any capture (they belong to the URL)."""
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "test"}))
        for url, body in notes.items():
            writer.write_record(writer.create_warc_record(
                "urn:warcache:annotation:" + url, "metadata", payload=io.BytesIO(body), length=len(body),
                warc_content_type="application/json"))


def test_forgetting_every_capture_takes_what_was_written_about_the_url_apart_from_them(captured, root):
    news, other = captured["news"], captured["other"]
    _write_notes(_archive(root) / "warcache-notes.warc.gz",
                 {news: b'{"note": "private note about the osprey page"}', other: b'{"tags": ["sea"]}'})
    _write_notes(_archive(root) / "warcache-notes2.warc.gz", {other: b'{"tags": ["sea", "light"]}'})
    unrelated = hashlib.sha256((_archive(root) / "warcache-notes2.warc.gz").read_bytes()).hexdigest()
    notes_of = lambda: {(r.file, r.uri): r.payload for r in read_collection(_archive(root))  # noqa: E731
                        if r.uri.startswith("urn:warcache:annotation:")}
    before = notes_of()
    assert len(before) == 3
    run = _forget(root, news, "--at", captured["news_times"][0])  # one capture: the URL's note stays
    assert run.code == 0, run.stderr
    assert notes_of() == before
    assert (_archive(root) / "warcache-notes.warc.gz").exists()  # not rewritten: linked as it was
    run = _forget(root, news)  # every capture: what was written about the URL goes too
    assert run.code == 0, run.stderr
    assert "archive/warcache-notes.warc.gz -> archive/warcache-notes-f1.warc.gz" in run.stderr
    kept = "urn:warcache:annotation:" + other
    assert notes_of() == {("warcache-notes-f1.warc.gz", kept): b'{"tags": ["sea"]}',
                          ("warcache-notes2.warc.gz", kept): b'{"tags": ["sea", "light"]}'}
    assert not [r for r in read_collection(_archive(root)) if news in r.uri]
    # a file with nothing of the page in it is kept as it was, under its name
    assert "warcache-notes2" not in run.stderr
    assert hashlib.sha256((_archive(root) / "warcache-notes2.warc.gz").read_bytes()).hexdigest() == unrelated
    assert run_cli("verify", root=root).code == 0


def test_it_asks_first_on_a_terminal_and_needs_yes_elsewhere(captured, root):
    news = captured["news"]
    before = _files(root)
    listed = run_cli("forget", "--dry-run", news, root=root)
    assert listed.code == 0 and "would forget 2 captures" in listed.stderr
    assert listed.stderr.count("\n  ") == 2  # one line each
    refused = run_cli("forget", news, root=root)  # stdin is not a terminal
    assert refused.code == 1 and "pass --yes" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert _files(root) == before

    def on_a_terminal(answer: bytes) -> subprocess.CompletedProcess:
        master, slave = pty.openpty()
        env = {k: v for k, v in os.environ.items() if k != "WARCACHE_ROOT"}
        proc = subprocess.Popen([sys.executable, "-m", "warcache", "--root", str(root), "forget", news],
                                stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        os.close(slave)
        os.write(master, answer)
        out, err = proc.communicate(timeout=120)
        os.close(master)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out.decode(), err.decode())

    declined = on_a_terminal(b"n\n")
    assert declined.returncode == 1 and "Forget them?" in declined.stderr, declined.stderr
    assert "nothing was forgotten" in declined.stderr
    assert _files(root) == before
    accepted = on_a_terminal(b"y\n")
    assert accepted.returncode == 0, accepted.stderr
    assert f"forgot 2 captures of {news}" in accepted.stderr
    assert news not in {p["url"] for p in run_cli("list", "--json", root=root).json()}


def test_it_refuses_while_a_capture_or_another_writer_runs(captured, root):
    news = captured["news"]
    collections = root / "collections"
    before = _files(root)
    live = _archive(root) / "warcache-20990101000000000000-1-abcdef.warc.gz.open"
    with open(live, "wb") as fh:  # a capture from an older warcache, holding only its file's lock
        fcntl.flock(fh, fcntl.LOCK_EX)
        run = _forget(root, news)
        assert run.code == 1 and "a capture is writing to collection 'default' now" in run.stderr
        assert len([ln for ln in run.stderr.splitlines() if ln.startswith("Error:")]) == 1
    live.unlink()
    assert _files(root) == before
    with dirswap.writing(collections, "default"):  # what add, import and index hold while they run
        run = _forget(root, news)
        assert run.code == 1 and "in use by another warcache command" in run.stderr
    assert _files(root) == before


def test_add_waits_while_a_forget_holds_the_collection(captured, root):
    collections = root / "collections"
    url = captured["base"] + "/gone.html"
    cmd = [sys.executable, "-m", "warcache", "--root", str(root), "add", *FAST, url]
    lines: list[str] = []
    with dirswap.rewriting(collections, "default"):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
        reader.start()
        deadline = time.monotonic() + 60
        while not any("waiting for `warcache forget`" in ln for ln in lines) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert any("waiting for `warcache forget` to finish with collection 'default'" in ln for ln in lines)
        time.sleep(1)
        assert proc.poll() is None  # still waiting, before any browser or file
        assert not list(_archive(root).glob("*.open"))
    proc.wait(120)
    reader.join(10)
    err = "".join(lines)
    # the server is gone, so the capture fails: it ran, after the forget let go
    assert "FAILED" in err and "being rewritten" not in err, err


# -- killed mid-way ---------------------------------------------------------------------------------

#: Runs `warcache forget` with one step of its swap made fatal: the process dies there, as under
#: SIGKILL (os._exit: no clean-up, no finally).
INJECT = """
import os, shutil, sys
from pathlib import Path
from warcache import cli, dirswap
point = sys.argv[1]
def die(*args, **kwargs):
    os._exit(137)
if point == "built":  # everything built and checked, no journal yet
    dirswap.fsync_tree = die
elif point in ("journal", "between"):  # right after the journal / between the two renames
    real_rename = os.rename
    def rename(src, dst, *args, **kwargs):
        real_rename(src, dst, *args, **kwargs)
        if Path(dst).name == {"journal": "journal.json", "between": "old"}[point]:
            die()
    os.rename = rename
elif point == "cleanup":  # swapped, journal gone, old directory half deleted
    real_rmtree = shutil.rmtree
    def rmtree(path, *args, **kwargs):
        if str(path).endswith(".rewrite"):
            real_rmtree(Path(path) / "old" / "indexes")
            die()
        return real_rmtree(path, *args, **kwargs)
    shutil.rmtree = rmtree
cli.main(sys.argv[2:])
"""


def _state(root: Path) -> dict:
    """What a forget changes, in a form two roots can be compared by: the WARC files and their
    bytes, the URL index, the page list and what search finds."""
    coll = Collection(root, "default")
    with CdxjIndex(coll.indexes_dir) as index:
        lines = sorted(str(line) for line in index)
    hits = search_archive(root, "site:127.0.0.1", limit=1000)
    return {"warcs": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in coll.archive_dir.iterdir()},
            "cdxj": lines, "pages": sorted(p.to_line() for p in coll.pages()),
            "search": sorted((h.url, h.timestamp) for h in hits)}


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _phase(root: Path, before: dict) -> str:
    """Where a killed forget was: reading (nothing begun), building, swapping, or done."""
    work = dirswap.work_dir(root / "collections", "default")
    if work.exists():
        return "swap" if (work / dirswap.JOURNAL).exists() else "build"
    return "reading" if _state(root) == before else "done"


@pytest.mark.slow
def test_a_forget_killed_at_any_moment_leaves_the_collection_as_before_or_after(captured, tmp_path):
    news, first = captured["news"], captured["news_times"][0]
    args = ["forget", "--yes", news, "--at", first]
    before = _state(captured["root"])

    def fresh(name: str) -> Path:
        copy = tmp_path / name
        shutil.copytree(captured["root"], copy)
        return copy

    def start(root: Path) -> tuple[subprocess.Popen, float]:
        """Start forget; return it and the moment it has listed what it forgets (imports done)."""
        proc = subprocess.Popen([sys.executable, "-m", "warcache", "--root", str(root), *args],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        lines: list[str] = []
        threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()
        deadline = time.monotonic() + 120
        while not any(ln.startswith("forgetting") for ln in lines) and time.monotonic() < deadline:
            time.sleep(0.01)
        return proc, time.monotonic()

    whole = fresh("whole")
    proc, listed = start(whole)
    proc.wait(300)
    work_seconds = time.monotonic() - listed
    assert proc.returncode == 0
    after = _state(whole)
    assert after != before and after["warcs"] != before["warcs"]

    def check(root: Path, expected: list[dict]) -> None:
        run = run_cli("list", "--json", root=root)  # the next command finishes or undoes it
        assert run.code == 0, run.stderr
        assert not dirswap.work_dir(root / "collections", "default").exists()
        assert _state(root) in expected
        verify = run_cli("verify", root=root)
        assert verify.code == 0, verify.stderr

    phases: Counter[str] = Counter()
    fractions: list[float | None] = [0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95]
    # On a busy machine one forget may take much longer or shorter than the one measured above, so
    # kills at fractions of it can all land before or after its work: then up to five more, each
    # as soon as its work directory appears (None: its build has begun).
    extra = 5
    n = 0
    while n < len(fractions) or (phases["build"] < 3 and extra):
        if n >= len(fractions):
            fractions.append(None)
            extra -= 1
        fraction = fractions[n]
        n += 1
        root = fresh(f"kill{n}")
        work = dirswap.work_dir(root / "collections", "default")
        proc, listed = start(root)
        descendants: set[int] = set()
        until = listed + (work_seconds * fraction if fraction is not None else 300)
        while time.monotonic() < until and proc.poll() is None:
            descendants.update(children_of(proc.pid))  # the full-text index's writer processes
            if fraction is None and work.exists():
                break
            time.sleep(0.01)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(60)
        time.sleep(0.5)
        lingering = [pid for pid in descendants if _alive(pid)]
        kill_all(lingering)
        assert lingering == []  # nothing of a killed forget outlives it (nor holds its lock)
        phases[_phase(root, before) if proc.returncode == -signal.SIGKILL else "finished"] += 1
        check(root, [before, after])
    print(f"forget took {work_seconds:.2f} s after listing; kills landed: {dict(phases)}")
    assert phases["build"] >= 3  # most kills landed while it worked

    for point, expected in (("built", before), ("journal", after), ("between", after), ("cleanup", after)):
        root = fresh(point)
        died = subprocess.run([sys.executable, "-c", INJECT, point, "--root", str(root), *args],
                              capture_output=True, text=True, timeout=300, cwd=REPO)
        assert died.returncode == 137, (point, died.stderr)
        if point == "between":
            assert not (root / "collections" / "default").exists()  # the one moment it is missing
        check(root, [expected])
