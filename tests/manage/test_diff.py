"""`warcache diff` and "changed"/"unchanged" in `warcache list`, on real captures of a page whose
text changes between them.

A small server on 127.0.0.1 serves /post.html with one sentence changed from the second request
on (so its second and third captures are the same), and /static.html the same every time. The
changed sentence carries a C1 control sequence (CSI: clear the screen) and a right-to-left override:
archived text must never reach a terminal raw.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import run_cli

from warcache.manage.diff import word_diff

pytestmark = [pytest.mark.browser]

BEFORE = "The new footbridge over the canal will open in March, the council said."
HOSTILE = "\u009b2J\u202egnirts"
AFTER = f"The new footbridge over the canal opened in April after delays {HOSTILE} the council said."
KEPT = "Cyclists and walkers will share the deck, which is four metres wide and lit at night."


def _post(n: int) -> bytes:
    changing = BEFORE if n == 1 else AFTER
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Footbridge</title></head>
<body><article><h1>Footbridge news</h1><p>{changing}</p><p>{KEPT}</p>
<p>Work on the approach ramps began two years ago and cost more than planned.</p></article>
</body></html>""".encode()


STATIC = b"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Still</title></head>
<body><article><h1>Still the same</h1><p>This page says the same thing every time it is asked,
so two captures of it hold the same article text.</p></article></body></html>"""


class _Server(BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self):  # noqa: N802 - http.server's name
        if self.path == "/post.html":
            type(self).hits += 1
            self._send(200, _post(type(self).hits))
        elif self.path == "/static.html":
            self._send(200, STATIC)
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def captured(tmp_path_factory, browser_path):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    root = tmp_path_factory.mktemp("diff-root")
    post, static = base + "/post.html", base + "/static.html"
    try:  # -j 1: one capture after another, so each gets the next revision
        run = run_cli("add", "-j", "1", "--no-scroll", "--idle-timeout", "0.5",
                      post, static, post, static, post, root=root)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert run.code == 0, run.stderr
    pages = {p["url"]: p for p in run_cli("list", "--json", root=root).json()}
    return {"root": root, "post": post, "static": static, "pages": pages,
            "times": sorted(c["timestamp"] for c in pages[post]["captures"])}


def test_list_says_which_captures_changed(captured):
    post = captured["pages"][captured["post"]]["captures"]  # newest first
    assert [c["change"] for c in post] == ["unchanged", "changed", None]
    assert all(c["text_digest"].startswith("sha1:") for c in post)
    static = captured["pages"][captured["static"]]["captures"]
    assert [c["change"] for c in static] == ["unchanged", None]
    text = run_cli("list", root=captured["root"])
    assert text.code == 0
    assert "Footbridge (+2 earlier, unchanged)" in text.stdout
    assert "Still (+1 earlier, unchanged)" in text.stdout


def test_the_digest_in_the_page_list_is_the_same_after_a_rebuild(captured, tmp_path):
    import shutil

    copy = tmp_path / "root"
    shutil.copytree(captured["root"], copy)
    lines = (copy / "collections" / "default" / "indexes" / "pages.jsonl").read_text().splitlines()
    assert run_cli("index", "--rebuild", root=copy).code == 0
    rebuilt = (copy / "collections" / "default" / "indexes" / "pages.jsonl").read_text().splitlines()
    assert sorted(lines) == sorted(rebuilt)


def _words(ops, *kinds) -> list[str]:
    return " ".join(op["text"] for op in ops if op["op"] in kinds).split()


def test_diff_of_the_captures_where_the_text_changed(captured):
    root, post = captured["root"], captured["post"]
    first, second, third = captured["times"]
    latest = run_cli("diff", "--json", post, root=root)
    assert latest.code == 0, latest.stderr
    data = latest.json()
    assert (data["old"]["timestamp"], data["new"]["timestamp"]) == (second, third)
    assert data["changed"] is False and {op["op"] for op in data["ops"]} == {"equal"}

    for args in ([first], [first, third], [first[:12], second]):  # a time names the nearest capture
        run = run_cli("diff", "--json", post, *args, root=root)
        assert run.code == 0, run.stderr
        data = run.json()
        assert data["old"]["timestamp"] == first and data["changed"] is True
        ops = data["ops"]
        old_text = " ".join(_words(ops, "equal", "delete"))
        new_text = " ".join(_words(ops, "equal", "insert"))
        assert BEFORE in old_text and KEPT in old_text and "April" not in old_text
        assert " ".join(AFTER.split()) in new_text and KEPT in new_text and "March" not in new_text
        assert set(_words(ops, "delete")) == {"will", "open", "March,"}
        assert set(_words(ops, "insert")) == {"opened", "April", "after", "delays", HOSTILE}
        assert data["words_deleted"] == 3 and data["words_inserted"] == 5
    reverse = run_cli("diff", "--json", post, third, first, root=root).json()
    assert set(_words(reverse["ops"], "insert")) == {"will", "open", "March,"}


def test_diff_text_marks_changes_and_never_writes_archived_control_characters(captured):
    root, post = captured["root"], captured["post"]
    first = captured["times"][0]
    plain = run_cli("diff", post, first, root=root)
    assert plain.code == 0, plain.stderr
    assert "\u009b" not in plain.stdout and "\u202e" not in plain.stdout
    assert "\ufffd2J\ufffdgnirts" in plain.stdout
    marked = r"\[-will open-\] \{\+opened\+\} in \[-March,-\] \{\+April after delays .*\+\}"
    assert re.search(marked, plain.stdout)
    assert plain.stdout.startswith("--- ") and "\n+++ " in plain.stdout
    assert "3 words deleted, 5 inserted" in plain.stderr

    master, slave = pty.openpty()  # stdout a terminal: colour
    env = {k: v for k, v in os.environ.items() if k != "WARCACHE_ROOT"}
    proc = subprocess.Popen([sys.executable, "-m", "warcache", "--root", str(root), "diff", post, first],
                            stdout=slave, stderr=subprocess.PIPE, env=env)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    proc.wait(60)
    os.close(master)
    text = out.decode()
    assert proc.returncode == 0
    assert "\x1b[31m" in text and "[-" not in text  # red deletions
    assert "\u009b" not in text and "\u202e" not in text  # the archived sequence is neutralised
    assert "\ufffd2J\ufffdgnirts" in text


def test_diff_needs_two_captures_and_sensible_times(captured):
    root = captured["root"]
    post = captured["post"]
    static = captured["static"]
    one = run_cli("diff", static + "?other", root=root)
    assert one.code == 1 and "no capture of" in one.stderr
    same = run_cli("diff", post, captured["times"][2], root=root)
    assert same.code == 1 and "names the latest capture" in same.stderr
    bad = run_cli("diff", post, "yesterday", root=root)
    assert bad.code == 1 and "invalid timestamp 'yesterday'" in bad.stderr
    assert "Traceback" not in one.stderr + same.stderr + bad.stderr
    json.loads(run_cli("diff", "--json", static, root=root).stdout)


def test_word_diff_joins_back_into_both_texts():
    old = "One two three.\n\nFour five six seven."
    new = "One two 3.\n\nFour five six seven. Eight."
    ops = word_diff(old, new)
    assert "".join(op.text for op in ops if op.op != "insert") == old
    assert "".join(op.text for op in ops if op.op != "delete") == new
    assert [op.op for op in ops] == ["equal", "delete", "insert", "equal", "insert"]
    assert word_diff("same  words\nhere", "same words here") == [type(ops[0])("equal", "same words here")]
