"""End to end through the CLI: cache every link of a Markdown post, run it again, recapture,
list/show the history, export the cached-article site and a WACZ, verify, retry, interrupt."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
import zlib

import pytest
from conftest import run_cli
from fixture_site import MARKERS
from warc_helpers import warcio_check

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def blog(site, tmp_path_factory, browser_path):
    """A post linking to fixture pages: one dead link, one duplicate, one relative link."""
    root = tmp_path_factory.mktemp("blog-root")
    post = root / "post.md"
    post.write_text(
        "# Links of the week\n\n"
        f"Read [the final page]({site.url('/final.html')}) and [this data]({site.url('/data.json')}).\n"
        f"Again: [the final page, twice]({site.url('/final.html')}#top).\n"
        "A [relative one](/notfound) and [a dead one](http://127.0.0.1:9/gone) (nothing listens there).\n"
        "Also [mail me](mailto:me@example.test) and [jump](#links).\n", encoding="utf-8")
    first = run_cli("add", "--json", "-j", "2", "--links-from", str(post),
                    "--base-url", site.url("/blog/post"), root=root)
    return {"root": root, "post": post, "first": first}


def test_every_link_is_captured_once_and_the_dead_one_is_reported(blog, site):
    run = blog["first"]
    assert run.code == 1, run.stderr  # the dead link failed
    assert "found 4 links" in run.stderr and "duplicates" in run.stderr
    results = {r["url"]: r for r in run.json()}
    assert set(results) == {site.url("/final.html"), site.url("/data.json"), site.url("/notfound"),
                            "http://127.0.0.1:9/gone"}
    assert not results["http://127.0.0.1:9/gone"]["ok"]
    assert all(r["ok"] for u, r in results.items() if u.startswith(site.origin))
    failures = (blog["root"] / "collections" / "default" / "failures.jsonl").read_text().splitlines()
    assert [json.loads(f)["url"] for f in failures] == ["http://127.0.0.1:9/gone"]


def test_a_second_run_captures_nothing_new_and_says_so(blog, site):
    run = run_cli("add", "--links-from", str(blog["post"]), "--base-url", site.url("/blog/post"),
                  root=blog["root"])
    assert run.code == 0, run.stderr
    assert "nothing new to capture" in run.stderr
    assert "3 already in collection" in run.stderr and "1 failed before" in run.stderr


def test_dry_run_and_filters(blog, site):
    run = run_cli("add", "--dry-run", "--recapture", "--exclude", "*.json", "--links-from", str(blog["post"]),
                  "--base-url", site.url("/blog/post"), root=blog["root"])
    assert run.code == 0, run.stderr
    assert run.stdout.split() == [site.url("/final.html"), site.url("/notfound"), "http://127.0.0.1:9/gone"]


def test_recapture_adds_a_second_capture_time(blog, site):
    time.sleep(1.1)  # capture times have one-second resolution
    run = run_cli("add", "--recapture", "--include", "*/final.html", "--links-from", str(blog["post"]),
                  "--base-url", site.url("/blog/post"), root=blog["root"])
    assert run.code == 0, run.stderr
    listing = json.loads(run_cli("list", "--json", root=blog["root"]).stdout)
    final = next(p for p in listing if p["url"] == site.url("/final.html"))
    assert len(final["captures"]) == 2 and len({c["timestamp"] for c in final["captures"]}) == 2
    shown = json.loads(run_cli("show", "--json", site.url("/final.html"), root=blog["root"]).stdout)
    assert len(shown) == 2 and shown[0]["timestamp"] > shown[1]["timestamp"]
    by_hash = json.loads(run_cli("show", "--json", hashlib.md5(site.url("/final.html").encode()).hexdigest(),
                                 root=blog["root"]).stdout)
    assert by_hash == shown
    assert shown[0]["headline"] == "Final page" and shown[0]["article_chars"] > 0
    human = run_cli("list", root=blog["root"])
    assert site.url("/final.html") in human.stdout and "(+1 earlier, unchanged)" in human.stdout


def test_cached_article_export_has_the_exact_format(blog, site, tmp_path):
    dest = tmp_path / "cache"
    run = run_cli("export", "cache", str(dest), root=blog["root"])
    assert run.code == 0, run.stderr
    url = site.url("/final.html")
    md5 = hashlib.md5(url.encode()).hexdigest()
    found = list(dest.glob(f"*/{md5}/index.md"))
    assert len(found) == 1
    lines = found[0].read_text(encoding="utf-8").split("\n")
    assert lines[0] == "title: Final page"
    assert lines[1] == f"url: {url}"
    assert lines[2] == f"hash_url: {md5}"
    assert MARKERS["final"] in "\n".join(lines[3:]) and "<" in "\n".join(lines[3:])
    assert (found[0].parent / "index.html").is_file() and (dest / "index.html").is_file()
    again = run_cli("export", "cache", str(dest), root=blog["root"])
    assert "0 files written" in again.stderr, again.stderr


def test_wacz_export_validates_with_py_wacz(blog, tmp_path):
    dest = tmp_path / "blog.wacz"
    run = run_cli("export", "wacz", str(dest), root=blog["root"])
    assert run.code == 0, run.stderr
    with zipfile.ZipFile(dest) as zf:
        names = zf.namelist()
    assert "datapackage.json" in names and "pages/pages.jsonl" in names and "indexes/index.cdxj" in names
    validator = os.environ.get("WARCACHE_WACZ_BIN") or shutil.which("wacz")
    if not validator or not os.path.exists(validator):
        pytest.skip("py-wacz's `wacz` is not installed (scripts/test installs it in .venv-wacz)")
    check = subprocess.run([validator, "validate", "-f", str(dest)], capture_output=True, text=True,
                           timeout=120)
    assert check.returncode == 0 and "is valid" in check.stdout, check.stdout + check.stderr


def test_verify_is_clean_then_catches_a_flipped_byte_in_a_copy(blog, tmp_path):
    run = run_cli("verify", root=blog["root"])
    assert run.code == 0, run.stderr
    # A copy of the archive with one byte flipped inside a record's payload (recompressed so the
    # gzip stays readable and only the digest can tell).
    copy = tmp_path / "copy"
    shutil.copytree(blog["root"] / "collections", copy / "collections")
    archive = copy / "collections" / "default" / "archive"
    target = sorted(archive.glob("*.warc.gz"))[0]
    from warc_helpers import read_warc

    rec = next(r for r in read_warc(target) if r.type == "response" and len(r.payload) > 100)
    raw = target.read_bytes()
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)  # the record's own gzip member
    text = d.decompress(raw[rec.offset:])
    member_len = len(raw) - rec.offset - len(d.unused_data)
    pos = text.index(rec.payload[:50]) + 10
    flipped = text[:pos] + bytes([text[pos] ^ 0x01]) + text[pos + 1:]
    target.write_bytes(raw[:rec.offset] + gzip.compress(flipped) + raw[rec.offset + member_len:])
    run = run_cli("verify", root=copy)
    assert run.code == 1 and "Traceback" not in run.stderr
    assert target.name in run.stderr and str(rec.offset) in run.stderr and "digest" in run.stderr


def test_retry_captures_failures_again(blog):
    run = run_cli("retry", root=blog["root"])
    assert run.code == 1  # still dead
    assert "FAILED http://127.0.0.1:9/gone" in run.stderr


def test_ctrl_c_stops_cleanly_and_a_rerun_picks_up_the_rest(site, tmp_path, browser_path):
    post = tmp_path / "links.txt"
    urls = [site.url("/final.html")] + [site.url(f"/slow?ms={5000 + n}") for n in range(3)]
    post.write_text("\n".join(urls) + "\n")
    cmd = [sys.executable, "-m", "warcache", "--root", str(tmp_path), "add", "--no-check",
           "--links-from", str(post), "-j", "1"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    line = ""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if " ok " in line or not line:
            break
    time.sleep(1.5)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the whole process group
    rest = proc.stderr.read()
    proc.wait(timeout=60)
    assert proc.returncode == 130, rest
    assert "Traceback" not in rest and "interrupted: 3 not captured" in rest
    archive = tmp_path / "collections" / "default" / "archive"
    assert not list(archive.glob("*.open"))
    assert warcio_check(sorted(archive.glob("*.warc.gz"))).returncode == 0
    again = run_cli("add", "--dry-run", "--links-from", str(post), root=tmp_path)
    assert again.stdout.split() == urls[1:]
